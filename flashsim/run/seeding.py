"""The random streams of ``flashsim run``: one per chunk, from the seed and where the chunk is.

A chunk starting at input entry ``e`` is simulated with :func:`chunk_rng` ``(seed, e)``,
independent of every other chunk, so the output for a given seed and step size depends on
nothing else. With work items, each input gets its own :func:`file_seed` from the run's seed and
the input's base name, so that the outputs of a file are those of the whole-file run with that
seed, whatever the number of workers, the executor or the item size.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

__all__ = ["SEED_SCHEME", "chunk_rng", "file_seed"]

SEED_SCHEME = (
    "file_seed = SeedSequence([seed, H]).generate_state(1, uint64), H = first 8 bytes of "
    "sha256(input base name), little endian; chunk at entry e: chunk_rng(file_seed, e)"
)
"""The seeding of work items, in words (recorded in the manifest)."""


def chunk_rng(seed: int, first_entry: int) -> np.random.Generator:
    """The generator of the chunk starting at ``first_entry``: independent of the other chunks."""
    return np.random.default_rng(np.random.SeedSequence([seed, first_entry]))


def file_seed(seed: int, path: str | os.PathLike[str]) -> int:
    """The seed of every chunk of the input ``path``: from ``seed`` and the file's base name.

    ``SeedSequence([seed, H(basename)]).generate_state(1, uint64)`` with ``H`` the first 8 bytes
    of the SHA-256 of the UTF-8 name (little endian). Only the base name counts, so moving the
    inputs does not change the output; two inputs with the same base name would share their
    random streams, which :func:`flashsim.run.items.plan_items` refuses.

    Example:
        >>> file_seed(1, "/data/gen_1.root") == file_seed(1, "elsewhere/gen_1.root")
        True
    """
    digest = hashlib.sha256(Path(path).name.encode()).digest()
    key = int.from_bytes(digest[:8], "little")
    return int(np.random.SeedSequence([seed, key]).generate_state(1, np.uint64)[0])

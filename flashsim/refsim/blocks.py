"""Work blocks of a reference sample: planning, seeding, running in processes, writing.

A sample is cut into blocks of :data:`BLOCK_SIZE` events. Block ``b`` uses random streams
derived from ``(seed, b)`` only (``numpy.random.SeedSequence``), with a fresh Pythia instance,
so that the output depends on the seed and the number of events, never on ``jobs``. Shared by
the CMS-like (:mod:`flashsim.refsim.cms.generate`) and the LHCb-like
(:mod:`flashsim.refsim.lhcb.generate`) detectors, which each turn a block into branches.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from flashsim.refsim.generator import MAX_PYTHIA_SEED

__all__ = [
    "BLOCK_SIZE",
    "HEPMC_RECORD",
    "Block",
    "is_gen_branch",
    "iterate_blocks",
    "plan_blocks",
    "pythia_seed",
    "write_sample",
]

#: Events per work block (one Pythia initialisation each).
BLOCK_SIZE = 500
#: Event-level branches that are generator-level (besides ``Gen*``, ``Pileup_*``, ``Generator_*``).
GEN_EVENT_BRANCHES = frozenset({"run", "luminosityBlock", "event", "genWeight"})
#: The entry of a simulated block that carries its generator record
#: (:class:`~flashsim.generators.record.GenRecord`) when the events are also written as HepMC.
HEPMC_RECORD = "__hepmc_record__"


@dataclass(frozen=True)
class Block:
    """One unit of generation work: ``n_events`` events starting at ``first_event``."""

    process: str
    seed: int
    index: int
    first_event: int
    n_events: int
    pileup: float
    pthat_min: float | None = None
    hepmc: bool = False


def plan_blocks(
    process: str,
    n_events: int,
    seed: int,
    pileup: float,
    pthat_min: float | None = None,
    block_size: int = BLOCK_SIZE,
    hepmc: bool = False,
) -> list[Block]:
    """Split ``n_events`` into :class:`Block` s of ``block_size`` events (``hepmc``: the blocks
    also return their generator record, :data:`HEPMC_RECORD`)."""
    return [
        Block(process, seed, i, start, min(block_size, n_events - start), pileup, pthat_min, hepmc)
        for i, start in enumerate(range(0, n_events, block_size))
    ]


def pythia_seed(seq: np.random.SeedSequence) -> int:
    """A Pythia seed (1 .. :data:`MAX_PYTHIA_SEED`) drawn from the random stream ``seq``."""
    return int(seq.generate_state(1)[0] % MAX_PYTHIA_SEED) + 1


def iterate_blocks(
    blocks: list[Block],
    jobs: int,
    simulate: Callable[[Block], dict[str, Any]],
) -> Iterator[tuple[Block, dict[str, Any]]]:
    """Simulate ``blocks`` with ``jobs`` processes, yielding results in block order.

    ``simulate`` (a module-level function, for the worker processes) turns a block into the
    branches to write, e.g. the CMS-like :func:`flashsim.refsim.cms.generate.simulate_block`.
    """
    if jobs <= 1 or len(blocks) <= 1:
        for block in blocks:
            yield block, simulate(block)
        return
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(blocks)), mp_context=get_context("spawn")
    ) as pool:
        yield from zip(blocks, pool.map(simulate, blocks), strict=True)


def is_gen_branch(name: str) -> bool:
    """Whether a branch or collection is generator-level (``Gen*``, ``Pileup_*``, event ids)."""
    return name in GEN_EVENT_BRANCHES or name.startswith(("Gen", "Pileup_", "Generator_"))


def write_sample(
    *,
    process: str,
    n_events: int,
    seed: int,
    jobs: int,
    output: os.PathLike | str,
    pileup_mean: float,
    detector: str,
    overwrite: bool,
    progress: bool,
    pthat_min: float | None,
    block_size: int,
    gen_only: bool,
    simulate: Callable[[Block], dict[str, Any]],
    hepmc: os.PathLike | str | None = None,
) -> dict[str, Any]:
    """Plan the blocks, simulate them with ``simulate`` and write the sample atomically
    (``hepmc``: and the generated events to that HepMC3 file, from each block's
    :data:`HEPMC_RECORD`).

    Shared by every detector's ``generate`` (the arguments are those of
    :func:`flashsim.refsim.cms.generate.generate_sample`, the pile-up mean resolved).

    Raises:
        ConfigurationError: ``n_events``, the pile-up mean or the block size out of range.
        OutputError: the output cannot be written.
    """
    from tqdm import tqdm

    import flashsim
    from flashsim.exceptions import ConfigurationError
    from flashsim.generators.hepmc_write import HepMCWriter
    from flashsim.generators.pythia import pythia_version
    from flashsim.io import NanoAODWriter, check_output_path

    if n_events <= 0:
        msg = f"the number of events must be positive, got {n_events}"
        raise ConfigurationError(msg)
    path = check_output_path(output, overwrite=overwrite)
    mu = pileup_mean
    if mu < 0:
        msg = f"the pile-up mean must be >= 0, got {mu}"
        raise ConfigurationError(msg)
    if block_size <= 0:
        msg = f"the block size must be positive, got {block_size}"
        raise ConfigurationError(msg)
    hepmc_path = None
    if hepmc is not None:
        hepmc_path = check_output_path(hepmc, overwrite=overwrite)
        if hepmc_path.resolve() == Path(path).resolve():
            msg = f"--hepmc {hepmc_path} is the sample's own output; choose another name"
            raise ConfigurationError(msg)
    blocks = plan_blocks(process, n_events, seed, mu, pthat_min, block_size, hepmc is not None)
    metadata = {
        "producer": "flashsim refsim generate",
        "flashsim_version": flashsim.__version__,
        "process": process,
        "n_events": n_events,
        "seed": seed,
        "pileup_mean": mu,
        "detector": detector,
        "block_size": block_size,
        "pthat_min": pthat_min,
        "gen_only": gen_only,
    }
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(NanoAODWriter(path, overwrite=overwrite, metadata=metadata))
        hepmc_writer = None
        if hepmc_path is not None:
            tools = [
                ("Pythia8", pythia_version(), f"process {process}, seed {seed}"),
                ("flashsim", flashsim.__version__, "flashsim refsim generate"),
            ]
            hepmc_writer = stack.enter_context(
                HepMCWriter(hepmc_path, tools=tools, overwrite=overwrite)
            )
        bar = stack.enter_context(
            tqdm(total=n_events, unit="evt", disable=not progress, desc=f"refsim {process}")
        )
        for block, chunk in iterate_blocks(blocks, jobs, simulate):
            record = chunk.pop(HEPMC_RECORD, None)
            if hepmc_writer is not None and record is not None:
                hepmc_writer.write(record)
            if gen_only:
                chunk = {k: v for k, v in chunk.items() if is_gen_branch(k)}
            writer.extend(chunk)
            bar.update(block.n_events)
    seconds = time.perf_counter() - start
    return {"n_events": n_events, "seconds": seconds, "path": str(Path(path))}

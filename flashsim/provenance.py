"""Provenance of what flashsim makes: hashes of the files it read, versions of the software.

A model bundle records, for every training and calibration file, its path, how much of it was
read and the SHA-256 of its bytes (:func:`file_record`), so that a bundle names the exact data it
was trained on; the same hash of a weight file is the bundle's checksum of it. It also records
the versions of the libraries its models depend on (:func:`software_versions`).

Example:
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     file_digest(Path(f.name))[:16]
    'e3b0c44298fc1c14'
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from flashsim import __version__

__all__ = ["file_digest", "file_record", "software_versions"]

BLOCK_SIZE = 1 << 22
"""Bytes hashed at a time (a file is never read into memory whole)."""


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (the training-data hash recorded in the bundle).

    Arguments:
        path: the file.

    Returns:
        the hexadecimal digest.
    """
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(BLOCK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


def file_record(path: Path, **counts: int) -> dict[str, Any]:
    """What a bundle records of a file it was trained on: path, counts read, SHA-256.

    Arguments:
        path: the file.
        counts: how much of it was read, e.g. ``entries=600`` or ``rows=3000``.

    Returns:
        ``{"path": ..., <counts>, "sha256": ...}``, in that order (the bundle's JSON layout).
    """
    read = {name: int(count) for name, count in counts.items()}
    return {"path": str(path), **read, "sha256": file_digest(path)}


def software_versions() -> dict[str, str]:
    """Versions of flashsim and the libraries whose behaviour a model depends on (recorded in
    the bundle, compared by ``flashsim info`` with those installed)."""
    import awkward
    import numpy
    import torch
    import uproot
    import xgboost
    import zuko

    return {
        "flashsim": __version__,
        "torch": torch.__version__,
        "zuko": zuko.__version__,
        "xgboost": xgboost.__version__,
        "numpy": numpy.__version__,
        "awkward": awkward.__version__,
        "uproot": uproot.__version__,
    }

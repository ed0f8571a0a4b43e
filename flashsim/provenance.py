"""Provenance of what flashsim makes: hashes of the files it read, versions of the software.

A model bundle records, for every training and calibration file, its path, how much of it was
read and the SHA-256 of its bytes (:func:`file_record`), so that a bundle names the exact data it
was trained on; the same hash of a weight file is the bundle's checksum of it. It also records
the versions of the libraries its models depend on (:func:`software_versions`).

``flashsim run`` records the SHA-256 of every input in each output (:func:`input_record`): hashed
once per file and process (cached by path, size and modification time), and in a background
thread (:class:`BackgroundDigest`) while the run proceeds, so that hashing (about 1 s/GB) does not
make a run slower.

Example:
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     file_digest(Path(f.name))[:16]
    'e3b0c44298fc1c14'
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from pathlib import Path
from typing import Any

from flashsim import __version__

__all__ = [
    "BackgroundDigest",
    "cached_file_digest",
    "file_digest",
    "file_record",
    "input_record",
    "software_versions",
]

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


_DIGESTS: dict[tuple[str, int, int, int], str] = {}
_DIGESTS_LOCK = threading.Lock()


def cached_file_digest(
    path: str | os.PathLike[str], stop: threading.Event | None = None
) -> str | None:
    """:func:`file_digest` of ``path``, computed once per process for a given file.

    The cache key is the absolute path, size, modification time and inode: a file rewritten in
    place is hashed again. Anything that is not a regular file (a FIFO would block the reader
    forever) has no digest: ``None``; nor has a file whose hashing was abandoned by setting
    ``stop``.
    """
    absolute = os.path.abspath(path)
    try:
        info = os.stat(absolute)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    key = (absolute, info.st_size, info.st_mtime_ns, info.st_ino)
    with _DIGESTS_LOCK:
        known = _DIGESTS.get(key)
    if known is not None:
        return known
    sha = hashlib.sha256()
    with open(absolute, "rb") as stream:
        for block in iter(lambda: stream.read(BLOCK_SIZE), b""):
            if stop is not None and stop.is_set():
                return None
            sha.update(block)
    digest = sha.hexdigest()
    with _DIGESTS_LOCK:
        _DIGESTS[key] = digest
    return digest


class BackgroundDigest:
    """The SHA-256 of a file, computed in a daemon thread while the caller works.

    ``hashlib`` releases the GIL while it hashes, so a run does not wait for it; :meth:`result`
    waits for the digest (the provenance record is written only once it is known), and
    :meth:`cancel` abandons it (a run that failed does not keep reading its input).

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile() as f:
        ...     BackgroundDigest(f.name).result()[:16]
        'e3b0c44298fc1c14'
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = path
        self._digest: str | None = None
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="flashsim-sha256", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            self._digest = cached_file_digest(self._path, self._stop)
        except BaseException as err:  # re-raised in the caller's thread by result()
            self._error = err

    def result(self) -> str | None:
        """The hexadecimal digest (``None`` if ``path`` is not a regular file).

        Raises:
            OSError: the file could not be read.
        """
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._digest

    def cancel(self) -> None:
        """Stop hashing (within one block of 4 MiB); :meth:`result` then gives ``None``."""
        self._stop.set()


def input_record(path: str | os.PathLike[str], sha256: str | None) -> dict[str, Any]:
    """What an output records of its input: the path as given, the absolute path, the size and
    the SHA-256 of its bytes.

    Example:
        >>> input_record("gen.root", "ab")["input_sha256"]
        'ab'
    """
    try:
        size: int | None = os.stat(path).st_size
    except OSError:
        size = None
    return {
        "input": os.path.abspath(path),
        "input_given": os.fspath(path),
        "input_bytes": size,
        "input_sha256": sha256,
    }


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

"""The weight files of a model bundle: plain files inside its directory, read once, verified.

A bundle is shared between people and downloaded, so its record is data that names files, and
nothing it names may reach outside the bundle or make flashsim read more than it should:

- a weight file is a *plain name* in the bundle directory (:func:`check_name`): no path
  separator, not ``.`` or ``..``, not hidden, not absolute;
- it is a regular file, not a symbolic link (checked with ``lstat`` and opened with
  ``O_NOFOLLOW``), of at most :data:`MAX_WEIGHT_FILE_BYTES`; all of them together at most
  :data:`MAX_BUNDLE_BYTES`;
- :class:`WeightFiles` checks all of that for every file first (before reading any), then reads
  each file *once*, compares the SHA-256 of the bytes in memory with the record's ``checksums``,
  and hands those same bytes to the loaders (torch from a ``BytesIO``, xgboost from a
  ``bytearray``): what is verified is what is loaded, and the model hash of
  :meth:`WeightFiles.digest` is of the bytes actually loaded.

Every failure is a :class:`~flashsim.exceptions.ModelError` naming the file and the record's key.
The checksums detect damage and accidental changes; they do not authenticate a bundle (whoever
can edit it can recompute them). A bundle is safe to load because it is data: no pickled code,
bounded sizes (:mod:`flashsim.models.limits`, :mod:`flashsim.untrusted`), confined files.

Example:
    >>> check_name("Jet.response.pt", "collections.Jet.response.file", "bundle")
    'Jet.response.pt'
    >>> check_name("../x.pt", "collections.Jet.response.file", "bundle")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    flashsim.exceptions.ModelError: bundle: collections.Jet.response.file: '../x.pt' is not a ...
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flashsim.exceptions import ModelError

__all__ = [
    "MAX_BUNDLE_BYTES",
    "MAX_WEIGHT_FILES",
    "MAX_WEIGHT_FILE_BYTES",
    "DirectoryFiles",
    "WeightFiles",
    "check_name",
    "read_weight_file",
    "weight_source",
]

MAX_WEIGHT_FILE_BYTES = 256 << 20
"""The largest weight file read (256 MiB; the default model's largest is 1.7 MB)."""
MAX_BUNDLE_BYTES = 1 << 30
"""The most bytes of weight files one bundle may have together (1 GiB)."""
MAX_WEIGHT_FILES = 4096
"""The most weight files one bundle may name."""
_LFS_POINTER = b"version https://git-lfs"
_MAX_NAME = 255


def check_name(name: object, key: str, origin: str) -> str:
    """``name`` if it is a plain file name (a weight file of the bundle), else ModelError."""
    plain = (
        isinstance(name, str)
        and 0 < len(name) <= _MAX_NAME
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
        and not name.startswith(".")
        and (os.altsep is None or os.altsep not in name)
    )
    if not plain:
        msg = (
            f"{origin}: {key}: {name!r} is not a plain file name in the bundle directory (no "
            "'/', '..' or leading '.'); the bundle is not usable"
        )
        raise ModelError(msg)
    return name  # type: ignore[return-value]


def _check_entry(path: Path, key: str, origin: str) -> int:
    """The size of the regular file ``path`` (not followed if a link), or ModelError."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        msg = f"{origin} is incomplete: missing {path.name} ({key}); restore or retrain"
        raise ModelError(msg) from None
    except OSError as err:
        msg = f"{origin}: cannot read {path.name} ({key}): {err.strerror or err}"
        raise ModelError(msg) from err
    if stat.S_ISLNK(info.st_mode):
        msg = (
            f"{origin}: {path.name} ({key}) is a symbolic link; a bundle's weight files must be "
            "regular files inside it: copy the file in place of the link"
        )
        raise ModelError(msg)
    if not stat.S_ISREG(info.st_mode):
        msg = f"{origin}: {path.name} ({key}) is not a regular file; the bundle is not usable"
        raise ModelError(msg)
    if info.st_size > MAX_WEIGHT_FILE_BYTES:
        msg = (
            f"{origin}: {path.name} ({key}) has {info.st_size} bytes, more than the "
            f"{MAX_WEIGHT_FILE_BYTES} a weight file may have; the bundle is not usable"
        )
        raise ModelError(msg)
    return info.st_size


def read_weight_file(path: Path, key: str, origin: str) -> bytes:
    """The bytes of the weight file ``path``: a regular file (a link is not followed) of at most
    :data:`MAX_WEIGHT_FILE_BYTES`, read with one open.

    Raises:
        ModelError: the file is missing, a link, not a regular file, or too large.
    """
    _check_entry(path, key, origin)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as err:
        msg = f"{origin}: cannot read {path.name} ({key}): {err.strerror or err}"
        raise ModelError(msg) from err
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_WEIGHT_FILE_BYTES:
            msg = f"{origin}: {path.name} ({key}) changed while it was read; retry"
            raise ModelError(msg)
        data = stream.read(MAX_WEIGHT_FILE_BYTES + 1)
    if len(data) > MAX_WEIGHT_FILE_BYTES:
        msg = f"{origin}: {path.name} ({key}) grew while it was read; retry"
        raise ModelError(msg)
    return data


class WeightFiles:
    """The weight files a bundle record names, checked, read once each and verified.

    Arguments:
        directory: the bundle directory.
        names: each weight file's name and the key of the record that names it
            (``collections.Jet.response.file``).
        checksums: the record's ``checksums``: the SHA-256 of every file in ``names``, and of no
            other.
        origin: how messages name the bundle (``model bundle <path>``).

    Raises:
        ModelError: a name is not plain, a file has no checksum or a checksum names no file, a
            file is missing, a link, not a regular file, or too large, or the files together
            are too large. Nothing is read yet.
    """

    def __init__(
        self,
        directory: Path,
        names: Mapping[str, str],
        checksums: Mapping[str, str],
        origin: str,
    ) -> None:
        self.directory = directory
        self.origin = origin
        self.names = dict(names)
        self.checksums = dict(checksums)
        self._data: dict[str, bytes] = {}
        if len(self.names) > MAX_WEIGHT_FILES:
            msg = f"{origin} names {len(self.names)} weight files, more than {MAX_WEIGHT_FILES}"
            raise ModelError(msg)
        for name, key in self.names.items():
            check_name(name, key, origin)
            if name not in self.checksums:
                msg = (
                    f"{origin}: checksums: no SHA-256 for {name} ({key}); every weight file "
                    "needs one: retrain, or re-seal with scripts/upgrade_bundle.py if you trust it"
                )
                raise ModelError(msg)
        extra = sorted(set(self.checksums) - set(self.names))
        if extra:
            msg = f"{origin}: checksums: {extra[0]!r} is not a weight file of the record"
            raise ModelError(msg)
        total = sum(_check_entry(directory / n, k, origin) for n, k in self.names.items())
        if total > MAX_BUNDLE_BYTES:
            msg = (
                f"{origin}: its weight files have {total} bytes together, more than the "
                f"{MAX_BUNDLE_BYTES} a bundle may have"
            )
            raise ModelError(msg)

    def read_all(self) -> None:
        """Read every file once (in name order) and check its SHA-256 against the record.

        Raises:
            ModelError: a file changed since training (or is a Git LFS pointer).
        """
        for name in sorted(self.names):
            data = read_weight_file(self.directory / name, self.names[name], self.origin)
            if hashlib.sha256(data).hexdigest() != self.checksums[name]:
                if data.startswith(_LFS_POINTER):
                    msg = (
                        f"{self.origin}: {name} is a Git LFS pointer, not the file: run "
                        "`git lfs pull` in the repository it comes from"
                    )
                else:
                    msg = (
                        f"{self.origin}: {name} changed since training (SHA-256 differs from "
                        f"checksums.{name} of the record): the file is corrupted or was "
                        "replaced; restore or retrain"
                    )
                raise ModelError(msg)
            self._data[name] = data

    def read(self, name: str) -> bytes:
        """The verified bytes of the weight file ``name`` (read by :meth:`read_all`)."""
        if name not in self._data:
            msg = f"{self.origin}: {name!r} is not a verified weight file of the record"
            raise ModelError(msg)
        return self._data[name]

    def path(self, name: str) -> Path:
        """Where ``name`` lies, for messages."""
        return self.directory / name

    def digest(self, record: bytes) -> str:
        """The model hash: SHA-256 over the record's bytes and the weight files' bytes, in name
        order, as read (:meth:`read_all` first)."""
        digest = hashlib.sha256(record)
        for name in sorted(self.names):
            digest.update(self.read(name))
        return digest.hexdigest()

    def release(self) -> None:
        """Forget the bytes read (once the models are built)."""
        self._data.clear()


class DirectoryFiles:
    """Weight files read straight from a directory, confined and bounded but not verified:
    what a stage's ``load`` uses when it is given a directory instead of a bundle's
    :class:`WeightFiles` (tests, a stage saved on its own)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def read(self, name: str) -> bytes:
        """The bytes of the file ``name`` in the directory."""
        origin = f"model directory {self.directory}"
        check_name(name, "file", origin)
        return read_weight_file(self.directory / name, "file", origin)

    def path(self, name: str) -> Path:
        """Where ``name`` lies, for messages."""
        return self.directory / name


def weight_source(source: Path | str | os.PathLike[str] | WeightFiles | DirectoryFiles) -> Any:
    """``source`` as an object with ``read(name)`` and ``path(name)``: a bundle's
    :class:`WeightFiles` as it is, a directory as :class:`DirectoryFiles`."""
    if isinstance(source, (str, os.PathLike)):
        return DirectoryFiles(Path(source))
    return source

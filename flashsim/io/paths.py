"""Checks of input and output paths that need no ROOT reader.

The command line runs them before it imports the heavy libraries (uproot, awkward, torch,
xgboost, numba take seconds to import), so a mistyped input path or an existing output is
answered at once; the library runs them again where it opens or writes the files
(:func:`flashsim.io.read.open_root_file`, :class:`flashsim.io.write.NanoAODWriter`). This module
imports nothing beyond the standard library and :mod:`flashsim.atomic`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from flashsim.atomic import check_replaceable
from flashsim.exceptions import InputError, OutputError

__all__ = [
    "ROOT_MAGIC",
    "check_input_file",
    "check_output_dir",
    "check_output_path",
    "check_readable_file",
]

ROOT_MAGIC = b"root"
"""The first bytes of every ROOT file."""


def check_readable_file(
    path: str | os.PathLike[str], what: str = "input file", expected: str = "a file"
) -> Path:
    """Check that ``path`` is a readable regular file.

    Arguments:
        path: the file.
        what: what it is, for the messages (``input file``, ``Pythia card``).
        expected: what it should be instead of a directory or a FIFO (``a ROOT file``).

    Raises:
        InputError: ``path`` does not exist, is a directory, a FIFO, a device or a socket (they
            would block a reader or read without end), or cannot be read.
    """
    file = Path(path)
    if not file.exists():
        msg = f"{what} {file} does not exist"
        raise InputError(msg)
    if file.is_dir():
        msg = f"{what} {file} is a directory, not {expected}"
        raise InputError(msg)
    try:
        if not stat.S_ISREG(file.stat().st_mode):
            msg = f"{what} {file} is not a regular file (a FIFO, device or socket); give {expected}"
            raise InputError(msg)
        with file.open("rb"):
            pass
    except OSError as err:
        msg = f"cannot read {what} {file}: {err.strerror or err}"
        raise InputError(msg) from err
    return file


def check_input_file(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` is a readable regular file that starts as a ROOT file does.

    Returns:
        ``path`` as a :class:`pathlib.Path`.

    Raises:
        InputError: ``path`` is not a readable regular file (:func:`check_readable_file`), or
            does not start with :data:`ROOT_MAGIC`.
    """
    file = check_readable_file(path, "input file", "a ROOT file")
    try:
        with file.open("rb") as stream:
            magic = stream.read(len(ROOT_MAGIC))
    except OSError as err:
        msg = f"cannot read input file {file}: {err.strerror or err}"
        raise InputError(msg) from err
    if magic != ROOT_MAGIC:
        msg = f"input file {file} is not a ROOT file (it does not start with {ROOT_MAGIC!r})"
        raise InputError(msg)
    return file


def check_output_path(path: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Check that an output file can be written, before any expensive work starts.

    Arguments:
        path: the output file.
        overwrite: whether an existing file at ``path`` may be replaced.

    Returns:
        ``path`` as a :class:`pathlib.Path`.

    Raises:
        OutputError: ``path`` exists and ``overwrite`` is false, ``path`` is a directory or
            anything else that is not a regular file (a device, a FIFO, a socket, a symbolic
            link: never replaced, even with ``overwrite``), or its parent directory does not
            exist or is not writable.
    """
    out = Path(path)
    if out.is_dir() and not out.is_symlink():
        msg = f"output {out} is a directory; give a file name such as {out / 'events.root'}"
        raise OutputError(msg)
    parent = out.parent
    if not parent.exists():
        msg = f"cannot write {out}: directory {parent} does not exist; create it first"
        raise OutputError(msg)
    if not parent.is_dir():
        msg = f"cannot write {out}: {parent} is not a directory"
        raise OutputError(msg)
    if not os.access(parent, os.W_OK | os.X_OK):
        msg = f"cannot write {out}: directory {parent} is not writable; choose another output path"
        raise OutputError(msg)
    check_replaceable(out)
    if os.path.lexists(out) and not overwrite:
        msg = f"output {out} exists; pass --overwrite to replace it"
        raise OutputError(msg)
    return out


def check_output_dir(
    outdir: str | os.PathLike[str], *, record: str, resume: bool, overwrite: bool
) -> Path:
    """Check an output directory of a run in work items before any work starts (it may not
    exist yet); ``record`` is the name of the file that marks a run in it (its manifest).

    Raises:
        OutputError: ``outdir`` is a file, its parent is missing or not writable, it holds
            ``record`` and neither ``resume`` nor ``overwrite`` is given, or ``record`` is not a
            regular file (a link, a FIFO: never read or replaced).
    """
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        msg = f"output directory {out} is a file; give a directory name ending with '/'"
        raise OutputError(msg)
    existing = out if out.is_dir() else out.parent
    if not existing.is_dir():
        msg = f"cannot create output directory {out}: {existing} does not exist; create it first"
        raise OutputError(msg)
    if not os.access(existing, os.W_OK | os.X_OK):
        msg = f"cannot write to {existing}: it is not writable; choose another output directory"
        raise OutputError(msg)
    check_replaceable(out / record)
    if (out / record).exists() and not (resume or overwrite):
        msg = (
            f"output directory {out} already holds a flashsim run ({record}); pass "
            "--resume to finish it, --overwrite to start again, or choose another directory"
        )
        raise OutputError(msg)
    return out

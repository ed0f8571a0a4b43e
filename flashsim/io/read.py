"""Reading events from ROOT files, with one-line errors for the usual ways an input is wrong.

:func:`open_events` opens a TTree (a missing, non-ROOT, corrupted or tree-less file is an
:class:`~flashsim.exceptions.InputError` saying so), and :func:`read_entries` reads a range of
its entries (a basket that cannot be decompressed is one too).
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

import uproot

from flashsim.exceptions import InputError
from flashsim.io.paths import ROOT_MAGIC, check_input_file

__all__ = ["ROOT_MAGIC", "missing_field", "open_events", "open_root_file", "read_entries"]


def open_root_file(path: Path) -> Any:
    """Open ``path`` with uproot, or raise an :class:`InputError` saying why it cannot be read
    (the checks of :func:`flashsim.io.paths.check_input_file` first)."""
    check_input_file(path)
    try:
        # Plain file reads in threads: uproot's default (fsspec) reads through an asyncio loop
        # that, stopped by SIGTERM mid-read, prints "coroutine ... was never awaited" at exit.
        return uproot.open(path, handler=uproot.MultithreadedFileSource)
    except Exception as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0].rstrip(",")
        msg = f"input file {path} is corrupted or truncated: {reason}"
        raise InputError(msg) from err


def open_events(path: str | os.PathLike[str], *, tree: str = "Events") -> Any:
    """Open the TTree ``tree`` of a ROOT file for reading.

    Returns:
        the ``uproot.TTree``; its file stays open until ``tree.file.close()``.

    Raises:
        InputError: the file is missing, is not a ROOT file or is corrupted, or has no TTree
            called ``tree`` (the message lists the trees it has).
    """
    file_path = Path(path)
    file = open_root_file(file_path)
    try:
        classname = file.classname_of(tree) if tree in file else None
        if classname != "TTree":
            trees = ", ".join(file.keys(filter_classname="TTree", cycle=False)) or "none"
            what = "no tree" if classname is None else f"a {classname}, not a TTree, as"
            msg = f"input file {file_path} has {what} {tree!r}; trees in the file: {trees}"
            raise InputError(msg)
        return file[tree]
    except InputError:
        file.close()
        raise
    except Exception as err:
        file.close()
        reason = (str(err).splitlines() or [type(err).__name__])[0].rstrip(",")
        msg = f"input file {file_path} is corrupted: cannot read tree {tree!r}: {reason}"
        raise InputError(msg) from err


def read_entries(
    tree: Any,
    branches: Collection[str] | None,
    entry_start: int = 0,
    entry_stop: int | None = None,
    *,
    library: str = "ak",
) -> Any:
    """Entries ``[entry_start, entry_stop)`` of ``branches`` (all when ``None``) of an uproot
    TTree, as ``tree.arrays`` returns them for ``library``; a basket that cannot be read or
    decompressed is an :class:`InputError`.
    """
    entry_stop = tree.num_entries if entry_stop is None else entry_stop
    try:
        return tree.arrays(
            None if branches is None else list(branches),
            entry_start=entry_start,
            entry_stop=entry_stop,
            library=library,
        )
    except (MemoryError, KeyboardInterrupt, uproot.exceptions.KeyInFileError):
        raise
    except Exception as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0].rstrip(",:")
        msg = (
            f"input {tree.file.file_path} is corrupted: cannot read entries {entry_start}-"
            f"{entry_stop - 1} of tree {tree.name!r} ({type(err).__name__}: {reason}); re-copy "
            "or regenerate it"
        )
        raise InputError(msg) from err


def missing_field(err: AttributeError) -> str | None:
    """The field name when ``err`` is awkward's "no field named 'x'", else ``None``."""
    text = str(err)
    prefix = "no field named "
    return text[len(prefix) :].strip("'\"") if text.startswith(prefix) else None

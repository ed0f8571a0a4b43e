"""Files that appear whole or not at all, and that replace only what may be replaced.

Everything flashsim writes (outputs, manifests, model bundles, checkpoints) goes first to a
temporary file created *exclusively* (``O_CREAT | O_EXCL | O_NOFOLLOW``, a random name, so no
symbolic link planted at a predictable name is followed) beside its destination, and is renamed
over the destination when complete. A destination that exists and is not a regular file (a
directory, a device such as ``/dev/null``, a FIFO, a socket, a symbolic link) is never replaced.

Temporary names are ``.<name>.tmp-<host>-<pid>-<random>``: :func:`remove_stale_temporaries`
deletes those of processes on this host that no longer run (a run killed with SIGKILL).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> d = Path(tempfile.mkdtemp())
    >>> write_atomically(d / "a.json", b"{}")
    >>> (d / "a.json").read_bytes(), sorted(p.name for p in d.iterdir())
    (b'{}', ['a.json'])
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

from flashsim.exceptions import OutputError

__all__ = [
    "check_replaceable",
    "exclusive_temporary",
    "is_temporary_of",
    "remove_stale_temporaries",
    "temporary_name",
    "write_atomically",
]

_HOST = socket.gethostname().replace("-", "_").replace("/", "_") or "host"


def temporary_name(path: Path) -> Path:
    """A fresh temporary name beside ``path``: ``.<name>.tmp-<host>-<pid>-<random>``."""
    return path.with_name(f".{path.name}.tmp-{_HOST}-{os.getpid()}-{secrets.token_hex(6)}")


def is_temporary_of(candidate: str, name: str) -> bool:
    """Whether ``candidate`` is a temporary name made by :func:`temporary_name` for ``name``."""
    return candidate.startswith(f".{name}.tmp-")


def check_replaceable(path: Path) -> None:
    """Raise :class:`OutputError` if ``path`` exists and is not a regular file.

    A directory, a device, a FIFO, a socket or a symbolic link is never replaced (``--overwrite``
    replaces files flashsim could have written, nothing else).
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as err:
        msg = f"cannot check {path}: {err.strerror or err}"
        raise OutputError(msg) from err
    if stat.S_ISREG(info.st_mode):
        return
    kind = (
        "a directory"
        if stat.S_ISDIR(info.st_mode)
        else "a symbolic link"
        if stat.S_ISLNK(info.st_mode)
        else "a device"
        if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
        else "a FIFO"
        if stat.S_ISFIFO(info.st_mode)
        else "a socket"
        if stat.S_ISSOCK(info.st_mode)
        else "not a regular file"
    )
    msg = f"{path} is {kind}; flashsim replaces only regular files: choose another name"
    raise OutputError(msg)


@contextlib.contextmanager
def exclusive_temporary(path: Path) -> Iterator[tuple[int, Path]]:
    """Create a temporary file beside ``path`` exclusively; yield ``(fd, temporary path)``.

    The file is removed if the block raises (any exception, including ``KeyboardInterrupt`` and
    ``SystemExit``); otherwise it is left for the caller to rename. The descriptor is closed on
    leaving the block.

    Raises:
        OutputError: the directory is not writable.
    """
    # Read-write: uproot writes ROOT files through a file object that must also be readable.
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    tmp = temporary_name(path)
    # One try block from before the file exists to after its descriptor is closed: an exception
    # raised by a signal handler (SIGTERM, Ctrl-C) at any point in between, even between
    # os.open returning and the next statement, removes the file. Only a failed os.open (the
    # file is then not ours) leaves the name alone.
    fd: int | None = None
    open_failed = False
    try:
        try:
            fd = os.open(tmp, flags, 0o666)
        except OSError as err:
            open_failed = True
            msg = f"cannot write {path}: {err.strerror or err}"
            raise OutputError(msg) from err
        yield fd, tmp
        with contextlib.suppress(OSError):
            os.close(fd)
        fd = None
    except BaseException:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        if not open_failed:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``: to an exclusive temporary file, then renamed over ``path``.

    Raises:
        OutputError: ``path`` exists and is not a regular file, or cannot be written.
    """
    check_replaceable(path)
    with exclusive_temporary(path) as (fd, tmp):
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        try:
            check_replaceable(path)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def remove_stale_temporaries(directory: Path, name: str | None = None) -> list[Path]:
    """Delete the temporaries in ``directory`` left by dead processes on this host (files, and
    the temporary directories of model bundles).

    Arguments:
        directory: where to look.
        name: only temporaries of this destination name (default: of any).

    Returns:
        the paths removed.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(".") or ".tmp-" not in entry.name:
            continue
        if name is not None and not is_temporary_of(entry.name, name):
            continue
        parts = entry.name.rsplit(".tmp-", 1)[1].rsplit("-", 2)
        if len(parts) != 3 or parts[0] != _HOST or not parts[1].isdigit():
            continue
        if int(parts[1]) == os.getpid() or _alive(int(parts[1])):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            elif entry.is_dir(follow_symlinks=False):  # a model bundle being written
                shutil.rmtree(entry.path)
                removed.append(Path(entry.path))
    return removed

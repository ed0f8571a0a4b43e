"""flashsim.atomic: exclusive temporaries, replacing only regular files, stale temporaries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flashsim.atomic import (
    check_replaceable,
    exclusive_temporary,
    is_temporary_of,
    remove_stale_temporaries,
    temporary_name,
    write_atomically,
)
from flashsim.exceptions import OutputError


def dead_pid() -> int:
    """The pid of a process that has exited (reaped)."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)


def test_temporary_names_are_fresh_hidden_and_recognised(tmp_path: Path) -> None:
    a, b = temporary_name(tmp_path / "x.root"), temporary_name(tmp_path / "x.root")
    assert a != b
    assert a.parent == tmp_path
    assert a.name.startswith(".x.root.tmp-")
    assert is_temporary_of(a.name, "x.root")
    assert not is_temporary_of(a.name, "y.root")


def test_write_atomically_replaces_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text("old")
    write_atomically(path, b"new")
    assert path.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory"])
def test_non_regular_files_are_never_replaced(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "outside.txt"
    target.write_text("keep")
    path = tmp_path / "out.json"
    if kind == "symlink":
        path.symlink_to(target)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    with pytest.raises(OutputError, match="flashsim replaces only regular files"):
        write_atomically(path, b"x")
    assert target.read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "outside.txt"]


def test_device_is_refused_without_writing() -> None:
    with pytest.raises(OutputError, match="is a device"):
        check_replaceable(Path(os.devnull))


def test_exclusive_temporary_removes_itself_on_error(tmp_path: Path) -> None:
    seen: list[Path] = []

    def interrupted() -> None:
        with exclusive_temporary(tmp_path / "x") as (fd, tmp):
            os.write(fd, b"partial")
            seen.append(tmp)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert seen[0].name.startswith(".x.tmp-")
    assert list(tmp_path.iterdir()) == []


class Interrupted(BaseException):
    """Stands for the exception a signal handler raises (SIGTERM -> Terminated)."""


@pytest.mark.parametrize("moment", ["after_open", "after_block"])
def test_exclusive_temporary_survives_a_signal_at_any_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moment: str
) -> None:
    """A handler's exception right after the file is created, before the caller's block, or
    while the descriptor is closed after a normal block, still removes the temporary (CI saw
    one left behind by SIGTERM)."""
    import flashsim.atomic as atomic

    real_open, real_close = os.open, os.close

    def open_then_interrupt(*args: object, **kwargs: object) -> int:
        real_open(*args, **kwargs)  # type: ignore[arg-type]
        raise Interrupted

    def close_then_interrupt(fd: int) -> None:
        real_close(fd)
        raise Interrupted

    if moment == "after_open":
        monkeypatch.setattr(atomic.os, "open", open_then_interrupt)
    with pytest.raises(Interrupted), exclusive_temporary(tmp_path / "x"):  # noqa: PT012
        if moment == "after_block":
            monkeypatch.setattr(atomic.os, "close", close_then_interrupt)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_a_failed_open_leaves_the_name_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """O_EXCL failing means the name is someone else's: it is not deleted."""
    import flashsim.atomic as atomic

    planted = tmp_path / ".x.tmp-planted"
    planted.write_bytes(b"not ours")
    monkeypatch.setattr(atomic, "temporary_name", lambda path: planted)
    with pytest.raises(OutputError, match="cannot write"):  # noqa: SIM117
        with exclusive_temporary(tmp_path / "x"):
            pass
    assert planted.read_bytes() == b"not ours"


def test_stale_temporaries_of_dead_processes_only(tmp_path: Path) -> None:
    mine = temporary_name(tmp_path / "x.root")
    mine.write_text("live: this process")
    host = mine.name.split(".tmp-", 1)[1].rsplit("-", 2)[0]
    pid = dead_pid()
    dead_file = tmp_path / f".x.root.tmp-{host}-{pid}-abcdef"
    dead_file.write_text("dead")
    dead_dir = tmp_path / f".model.tmp-{host}-{pid}-abcdef"
    dead_dir.mkdir()
    (dead_dir / "flashsim-model.json").write_text("{}")
    other_host = tmp_path / f".x.root.tmp-elsewhere-{pid}-abcdef"
    other_host.write_text("another machine's run")
    user_file = tmp_path / "notes.txt"
    user_file.write_text("not ours")
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted([dead_file, dead_dir])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [mine.name, other_host.name, "notes.txt"]
    )
    # Restricted to one destination name, others are left alone.
    dead_file.write_text("dead")
    assert remove_stale_temporaries(tmp_path, "y.root") == []
    assert remove_stale_temporaries(tmp_path, "x.root") == [dead_file]

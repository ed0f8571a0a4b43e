"""Outputs replace only what flashsim made; ``--resume`` trusts nothing; provenance is complete.

Hostile-input cases of issue 25 for the writing side of ``flashsim run``: outputs that are FIFOs,
devices, symbolic links or directories are refused, even with ``--overwrite``; temporaries are
created exclusively and those of killed runs are removed by the next run; a manifest is
schema-checked, an output counts as done only with the provenance of its item, and
``--overwrite`` deletes only flashsim's own outputs; every output records its input's absolute
path and SHA-256. The work-item runs simulate 100 events of the shipped example in two items.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_errors import assert_one_line_error
from click.testing import CliRunner

import flashsim.atomic
from flashsim.atomic import remove_stale_temporaries, temporary_name
from flashsim.cli import flashsim as flashsim_group
from flashsim.exceptions import OutputError
from flashsim.io import NanoAODWriter, check_output_path, read_provenance
from flashsim.run import MANIFEST_NAME, run_items
from flashsim.run.manifest import write_manifest

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "ttbar_gen.root"
ITEMS = ["ttbar_gen.0-50.root", "ttbar_gen.50-100.root"]
ITEM_OPTIONS = ["--max-events", "100", "--item-size", "50", "--step-size", "50", "-q"]


def invoke(*args: str) -> Any:
    """``flashsim ARGS`` in process, under a real ``flashsim`` process's warning filters."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        return CliRunner().invoke(flashsim_group, list(args))


def items_run(outdir: Path, *options: str, seed: int = 7) -> Any:
    """The 100-event, two-item run of the example into ``outdir``, on the command line."""
    return invoke("run", str(EXAMPLE), "-o", f"{outdir}/", "--seed", str(seed), *ITEM_OPTIONS,
                  *options)  # fmt: skip


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete two-item run with seed 7 (copied by the tests that change it)."""
    outdir = tmp_path_factory.mktemp("done") / "out"
    result = items_run(outdir)
    assert result.exit_code == 0, result.output
    return outdir


@pytest.fixture
def run_copy(finished_run: Path, tmp_path: Path) -> Path:
    outdir = tmp_path / "out"
    shutil.copytree(finished_run, outdir)
    return outdir


class Replace:
    """A whole new manifest document (rather than a change of the old one)."""

    def __init__(self, document: Any) -> None:
        self.document = document


def edit_manifest(outdir: Path, change: Any) -> None:
    """Apply ``change(manifest)`` to the manifest of ``outdir`` (a :class:`Replace` replaces it)."""
    path = outdir / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    changed = change(manifest)
    path.write_text(json.dumps(changed.document if isinstance(changed, Replace) else manifest))


# --- outputs that are not regular files -----------------------------------------------------


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_fifo_output_is_refused(tmp_path: Path, overwrite: list[str]) -> None:
    fifo = tmp_path / "out.root"
    os.mkfifo(fifo)
    result = invoke("run", str(EXAMPLE), "-o", str(fifo), "-q", *overwrite)
    assert_one_line_error(result, f"{fifo} is a FIFO", "replaces only regular files")
    assert fifo.is_fifo()
    assert [p.name for p in tmp_path.iterdir()] == ["out.root"]


def test_symlink_output_is_refused_and_its_target_kept(tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("precious")
    link = tmp_path / "out.root"
    link.symlink_to(target)
    result = invoke("run", str(EXAMPLE), "-o", str(link), "-q", "--overwrite")
    assert_one_line_error(result, "is a symbolic link", "replaces only regular files")
    assert link.is_symlink()
    assert target.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.root", "precious.txt"]


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda p: p.symlink_to(p.parent / "d", target_is_directory=True), "a symbolic link"),
        (lambda p: p.mkdir(), "a directory"),
    ],
)
def test_links_and_directories_are_refused(tmp_path: Path, make: Any, kind: str) -> None:
    (tmp_path / "d").mkdir()
    path = tmp_path / "out.root"
    make(path)
    with pytest.raises(OutputError, match=kind):
        check_output_path(path, overwrite=True)


@pytest.mark.skipif(not os.path.exists(os.devnull), reason="no null device")
def test_the_null_device_is_refused_before_anything_is_written() -> None:
    """Only checked: nothing here ever opens the device for writing."""
    with pytest.raises(OutputError, match=r"is a device|is not writable"):
        check_output_path(os.devnull, overwrite=True)


def test_output_replaced_by_a_fifo_while_writing_is_not_replaced(tmp_path: Path) -> None:
    """The check is repeated just before the rename."""
    path = tmp_path / "out.root"
    path.write_bytes(b"old")
    with (  # noqa: PT012
        pytest.raises(OutputError, match="is a FIFO"),
        NanoAODWriter(path, overwrite=True) as writer,
    ):
        writer.extend({"event": np.arange(3, dtype=np.uint64)})
        path.unlink()
        os.mkfifo(path)
    assert path.is_fifo()
    assert [p.name for p in tmp_path.iterdir()] == ["out.root"]


def test_fifo_input_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "gen.root"
    os.mkfifo(fifo)
    result = invoke("run", str(fifo), "-o", str(tmp_path / "out.root"), "-q")
    assert_one_line_error(result, "is not a regular file")


# --- temporaries: exclusive, and cleaned up after killed runs --------------------------------


def test_temporaries_never_follow_a_planted_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were the random part of a temporary name guessed, the link there is not followed."""
    monkeypatch.setattr(flashsim.atomic.secrets, "token_hex", lambda n: "0" * (2 * n))
    target = tmp_path / "target.txt"
    target.write_text("precious")
    for name in ("out.root", MANIFEST_NAME):
        temporary_name(tmp_path / name).symlink_to(target)
    with pytest.raises(OutputError, match="cannot write"):
        NanoAODWriter(tmp_path / "out.root").__enter__()
    with pytest.raises(OutputError, match="cannot write"):
        write_manifest(tmp_path / MANIFEST_NAME, {"items": []})
    assert target.read_text() == "precious"
    assert not (tmp_path / "out.root").exists()
    assert not (tmp_path / MANIFEST_NAME).exists()


def test_a_killed_runs_temporary_is_removed_by_the_next_run(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    script = textwrap.dedent(
        f"""
        import time
        import numpy as np
        from flashsim.io import NanoAODWriter

        with NanoAODWriter({str(tmp_path / "x.root")!r}) as writer:
            writer.extend({{"event": np.arange(10, dtype=np.uint64)}})
            print("written", flush=True)
            time.sleep(60)
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=subprocess_env
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "written"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    (stale,) = tmp_path.glob(".x.root.tmp-*")
    # A live process's temporary (this one's parent's) and another host's are kept.
    live = temporary_name(tmp_path / "y.root")
    live = live.with_name(live.name.replace(f"-{os.getpid()}-", f"-{os.getppid()}-"))
    other_host = tmp_path / f".z.root.tmp-elsewhere-{process.pid}-0123456789ab"
    for path in (live, other_host):
        path.write_bytes(b"")

    result = invoke("run", str(EXAMPLE), "-o", str(tmp_path / "new.root"), "-q",
                    "--max-events", "20")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["new.root", live.name, other_host.name]
    )
    assert remove_stale_temporaries(tmp_path) == []


def test_work_item_run_removes_stale_temporaries(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    outdir = tmp_path / "out"
    outdir.mkdir()
    name = temporary_name(outdir / ITEMS[0]).name.replace(
        f"-{os.getpid()}-", f"-{dead.stdout.strip()}-"
    )
    (outdir / name).write_bytes(b"partial")
    result = items_run(outdir)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in outdir.iterdir()) == sorted([*ITEMS, MANIFEST_NAME])


# --- resume trusts nothing ------------------------------------------------------------------


def test_resume_does_not_accept_an_output_of_another_seed(run_copy: Path, tmp_path: Path) -> None:
    other = tmp_path / "seed8"
    assert items_run(other, seed=8).exit_code == 0
    shutil.copy(other / ITEMS[0], run_copy / ITEMS[0])  # same name, events, manifest entry

    report = run_items([EXAMPLE], run_copy, seed=7, max_events=100, item_size=50, step_size=50,
                       resume=True, progress=False)  # fmt: skip

    assert (report.skipped, report.done) == (1, 1)
    assert read_provenance(run_copy / ITEMS[0])["seed"] == 7


@pytest.mark.parametrize(
    ("key", "value"),
    [("entry_start", 50), ("input", "/elsewhere/ttbar_gen.root"), ("model", {"sha256": "0"}),
     ("input_sha256", "0" * 64), ("output", "renamed.root")],
)  # fmt: skip
def test_resume_reruns_an_output_whose_provenance_is_not_the_items(
    run_copy: Path, key: str, value: Any
) -> None:
    """Rewrite the provenance of the first output: it is no longer the item's, so it reruns."""
    path = run_copy / ITEMS[0]
    record = read_provenance(path)
    record[key] = value
    forged = run_copy / "forged.root"
    with NanoAODWriter(forged, metadata=record) as writer:
        writer.extend({"event": np.arange(50, dtype=np.uint64)})
    forged.replace(path)

    report = run_items([EXAMPLE], run_copy, seed=7, max_events=100, item_size=50, step_size=50,
                       resume=True, progress=False)  # fmt: skip

    assert (report.skipped, report.done) == (1, 1)
    assert read_provenance(path)[key] != value


def test_output_outside_the_directory_is_a_malformed_manifest(run_copy: Path) -> None:
    elsewhere = run_copy.parent / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(run_copy / ITEMS[0], elsewhere / ITEMS[0])
    (run_copy / ITEMS[0]).unlink()
    edit_manifest(run_copy, lambda m: m["items"][0].update(output=f"../elsewhere/{ITEMS[0]}"))

    result = items_run(run_copy, "--resume")

    assert_one_line_error(
        result, "is malformed: items[0] output", "not the file name flashsim plans", ITEMS[0]
    )
    assert not (run_copy / ITEMS[0]).exists()
    assert (elsewhere / ITEMS[0]).exists()


DEEP: list[Any] = []
for _ in range(100):
    DEEP = [DEEP]


def _drop(key: str) -> Any:
    return lambda m: m["items"][0].pop(key) and None


def _set(key: str, value: Any) -> Any:
    return lambda m: m["items"][0].update({key: value})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_drop("entry_start"), "items[0] has no 'entry_start'"),
        (_drop("output"), "items[0] has no 'output'"),
        (_set("entry_start", "0"), 'items[0] entry_start is "0", not an entry number'),
        (_set("seed", True), "items[0] seed is true, not an integer seed"),
        (_set("status", "finished"), "items[0] status is 'finished'"),
        (_set("events_out", -1), "items[0] events_out is negative"),
        (_set("entry_stop", 10), "items[0] output"),
        (_set("output", "notes.txt"), "is not the file name flashsim plans"),
        (lambda m: m["items"].append(m["items"][0]), "items[2] repeats the item"),
        (lambda m: m["items"].__setitem__(0, []), "items[0] is list, not an object"),
        (lambda m: m.update(items={"a": 1}), "'items' is missing or not a list"),
        (lambda m: m.pop("items"), "'items' is missing or not a list"),
        (lambda m: m.update(settings=[]), "'settings' is missing or not an object"),
        (lambda m: m["settings"].pop("model"), "'settings.model.sha256' is missing"),
        (lambda m: m.update(format="1"), "not a flashsim manifest of format 1"),
        (lambda m: Replace([]), "not a flashsim manifest of format 1"),
        (lambda m: Replace({"format": 1, "x": DEEP}), "nested more than 64 levels"),
    ],
)  # fmt: skip
def test_malformed_manifest_is_one_line_exit_2(run_copy: Path, change: Any, message: str) -> None:
    edit_manifest(run_copy, change)
    stamps = {p.name: p.stat().st_mtime_ns for p in run_copy.iterdir()}
    result = items_run(run_copy, "--resume")
    assert_one_line_error(result, message, "--overwrite")
    assert {p.name: p.stat().st_mtime_ns for p in run_copy.iterdir()} == stamps


def test_manifest_that_is_not_json_or_not_a_file(run_copy: Path) -> None:
    manifest = run_copy / MANIFEST_NAME
    manifest.write_text("{not json")
    assert_one_line_error(items_run(run_copy, "--resume"), "not valid JSON")
    manifest.unlink()
    os.mkfifo(manifest)
    for option in ("--resume", "--overwrite"):
        assert_one_line_error(items_run(run_copy, option), "is a FIFO")
    assert manifest.is_fifo()


# --- overwrite deletes only flashsim's outputs ----------------------------------------------


def test_overwrite_deletes_only_flashsim_outputs(run_copy: Path) -> None:
    notes = run_copy / "notes.txt"
    notes.write_text("my notes")
    outside = run_copy.parent / "outside.root"
    shutil.copy(run_copy / ITEMS[1], outside)  # a flashsim output, but not in the directory
    old_name = "ttbar_gen.0-30.root"  # a planned name of another item size, with provenance
    shutil.copy(run_copy / ITEMS[0], run_copy / old_name)

    def list_them(manifest: dict[str, Any]) -> None:
        first = manifest["items"][0]
        manifest["items"] += [
            {**first, "output": "notes.txt", "entry_start": 500, "entry_stop": 600},
            {**first, "output": "../outside.root", "entry_start": 600, "entry_stop": 700},
            {**first, "output": old_name, "entry_start": 0, "entry_stop": 30},
        ]

    edit_manifest(run_copy, list_them)
    result = items_run(run_copy, "--overwrite", "--item-size", "100", "--step-size", "100")
    assert result.exit_code == 0, result.output
    assert notes.read_text() == "my notes"
    assert outside.exists()
    assert sorted(p.name for p in run_copy.iterdir()) == sorted(
        [MANIFEST_NAME, "notes.txt", "ttbar_gen.0-100.root"]
    )


def test_a_foreign_file_at_a_planned_name_is_not_replaced(run_copy: Path) -> None:
    (run_copy / ITEMS[0]).write_text("not flashsim's")
    result = items_run(run_copy, "--overwrite")
    assert_one_line_error(result, f"{run_copy / ITEMS[0]} exists and is not", "flashsim")
    assert (run_copy / ITEMS[0]).read_text() == "not flashsim's"


def test_unreadable_manifest_with_overwrite_starts_again(run_copy: Path) -> None:
    (run_copy / MANIFEST_NAME).write_text("[[[")
    result = items_run(run_copy, "--overwrite")
    assert result.exit_code == 0, result.output
    assert json.loads((run_copy / MANIFEST_NAME).read_text())["format"] == 1


# --- provenance -----------------------------------------------------------------------------


def test_single_file_provenance_has_absolute_paths_and_the_input_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(EXAMPLE, tmp_path / "gen.root")
    result = invoke("run", "gen.root", "-o", "out.root", "-q", "--max-events", "20")
    assert result.exit_code == 0, result.output
    record = read_provenance(tmp_path / "out.root")
    assert record["input"] == str(tmp_path / "gen.root")
    assert record["input_given"] == "gen.root"
    assert record["input_bytes"] == EXAMPLE.stat().st_size
    assert record["input_sha256"] == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    assert Path(record["model"]["path"]).is_absolute()
    assert record["output"] == "out.root"


def test_work_items_hash_each_input_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import flashsim.run.batch
    import flashsim.run.single

    calls: list[Path] = []
    digest = flashsim.run.batch.cached_file_digest

    def counted(path: Path) -> str | None:
        calls.append(path)
        return digest(path)

    def no_background_hash(path: object) -> None:
        msg = "an item hashed its input again"
        raise AssertionError(msg)

    monkeypatch.setattr(flashsim.run.batch, "cached_file_digest", counted)
    monkeypatch.setattr(flashsim.run.single, "BackgroundDigest", no_background_hash)
    report = run_items([EXAMPLE], tmp_path / "out", seed=7, max_events=100, item_size=50,
                       step_size=50, progress=False)  # fmt: skip
    assert (report.done, report.failed) == (2, [])
    assert calls == [EXAMPLE]
    expected = hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    manifest = json.loads((tmp_path / "out" / MANIFEST_NAME).read_text())
    assert {e["input_sha256"] for e in manifest["items"]} == {expected}
    for name in ITEMS:
        record = read_provenance(tmp_path / "out" / name)
        assert (record["input"], record["input_sha256"], record["output"]) == (
            str(EXAMPLE),
            expected,
            name,
        )

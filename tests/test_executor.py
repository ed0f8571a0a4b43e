"""Work items (``flashsim run`` on many files): planning, determinism, executors, resume, errors.

The inputs are the 600 refsim ttbar events of ``ttbar_file`` split into three files of 250, 200
and 150 events, simulated with the tiny model in chunks of 50 events.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import awkward as ak
import pytest
import torch
import uproot
from click.testing import CliRunner

from flashsim.cli import flashsim as flashsim_group
from flashsim.exceptions import ConfigurationError, ItemsFailedError, OutputError
from flashsim.io import NanoAODWriter, zip_collections
from flashsim.run import (
    EXECUTORS,
    MANIFEST_NAME,
    DaskExecutor,
    LocalExecutor,
    RunReport,
    SerialExecutor,
    WorkItem,
    file_seed,
    item_size_for,
    make_executor,
    plan_items,
    run_file,
    run_items,
)

pytestmark = pytest.mark.slow

STEP = 50
SIZES = {"a": 250, "b": 200, "c": 150}


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory: pytest.TempPathFactory, ttbar_file: Path) -> Path:
    """``gen_a.root``, ``gen_b.root``, ``gen_c.root``: consecutive slices of ``ttbar_file``."""
    directory = tmp_path_factory.mktemp("gen")
    with uproot.open(ttbar_file) as f:
        events = zip_collections(f["Events"].arrays())
    start = 0
    for name, size in SIZES.items():
        with NanoAODWriter(directory / f"gen_{name}.root") as writer:
            writer.extend({field: events[field][start : start + size] for field in events.fields})
        start += size
    return directory


@pytest.fixture(scope="module")
def gen_files(gen_dir: Path) -> list[Path]:
    return sorted(gen_dir.glob("gen_*.root"))


def _run(inputs: list[Path], outdir: Path, model: Path, **options) -> RunReport:
    options = {"seed": 7, "step_size": STEP, "item_size": 100, "progress": False, **options}
    return run_items(inputs, outdir, model=model, **options)


def _concatenated(outdir: Path) -> dict[str, ak.Array]:
    """Per input file name: its items' outputs, concatenated in entry order."""
    manifest = json.loads((outdir / MANIFEST_NAME).read_text())
    parts: dict[str, list] = {}
    for entry in sorted(manifest["items"], key=lambda e: (e["input"], e["entry_start"])):
        with uproot.open(outdir / entry["output"]) as f:
            parts.setdefault(Path(entry["input"]).name, []).append(f["Events"].arrays())
    return {name: ak.concatenate(arrays) for name, arrays in parts.items()}


def assert_same_events(left: dict[str, ak.Array], right: dict[str, ak.Array]) -> None:
    assert left.keys() == right.keys()
    for name in left:
        assert left[name].fields == right[name].fields
        different = [
            f for f in left[name].fields if not ak.array_equal(left[name][f], right[name][f])
        ]
        assert not different, f"{name}: {different}"


@pytest.fixture(scope="module")
def serial_run(tmp_path_factory, gen_files, tiny_model) -> Path:
    """One worker in this process, items of 100 events."""
    outdir = tmp_path_factory.mktemp("serial") / "out"
    report = _run(gen_files, outdir, tiny_model)
    assert (report.items, report.done, report.failed) == (3 + 2 + 2, 7, [])
    return outdir


class TestPlanning:
    def test_items_are_whole_steps_and_cover_each_file(self) -> None:
        items = plan_items(
            [("d/x.root", 250), ("y.root", 100)], seed=1, item_size=120, step_size=50
        )
        assert [(i.input.endswith("x.root"), i.entry_start, i.entry_stop) for i in items] == [
            (True, 0, 150),
            (True, 150, 250),
            (False, 0, 100),
        ]
        assert items[0].output == "x.0-150.root"
        assert items[0].seed == items[1].seed == file_seed(1, "x.root")
        assert items[2].seed != items[0].seed
        assert all(Path(i.input).is_absolute() for i in items)

    def test_item_size_is_rounded_up_to_a_multiple_of_the_step(self) -> None:
        assert item_size_for(100_000, 10_000) == 100_000
        assert item_size_for(120, 50) == 150
        with pytest.raises(ConfigurationError, match="--item-size 10 is below --step-size 50"):
            item_size_for(10, 50)  # never silently rounded up to one step
        with pytest.raises(ConfigurationError, match="--item-size"):
            item_size_for(0, 50)

    def test_file_seed_depends_on_the_name_and_seed_only(self) -> None:
        assert file_seed(3, "/a/gen_1.root") == file_seed(3, "b/gen_1.root")
        assert (
            len(
                {file_seed(3, "gen_1.root"), file_seed(4, "gen_1.root"), file_seed(3, "gen_2.root")}
            )
            == 3
        )
        assert 0 <= file_seed(0, "x.root") < 2**64

    def test_inputs_with_the_same_name_are_refused(self) -> None:
        with pytest.raises(ConfigurationError, match="same file name"):
            plan_items([("a/gen.root", 10), ("b/gen.root", 10)], seed=0, item_size=5, step_size=5)

    def test_an_item_is_picklable(self) -> None:
        import pickle

        item = WorkItem("/x.root", 0, 10, "x.0-10.root", 5)
        assert pickle.loads(pickle.dumps(item)) == item


class TestDeterminism:
    def test_two_workers_and_other_item_size_give_the_same_events(
        self, serial_run, gen_files, tiny_model, tmp_path
    ) -> None:
        report = _run(
            gen_files, tmp_path / "out", tiny_model, item_size=120, executor=LocalExecutor(2)
        )
        assert (report.items, report.done, report.failed) == (2 + 2 + 1, 5, [])
        assert report.input_events == report.output_events == sum(SIZES.values())
        assert_same_events(_concatenated(serial_run), _concatenated(tmp_path / "out"))

    def test_items_concatenated_equal_the_whole_file_run_with_the_file_seed(
        self, serial_run, gen_files, tiny_model, tmp_path
    ) -> None:
        from flashsim.bundle import load_bundle

        path = gen_files[0]
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            run_file(load_bundle(tiny_model), path, tmp_path / "whole.root",
                     seed=file_seed(7, path), step_size=STEP, progress=False)  # fmt: skip
        finally:
            torch.set_num_threads(previous)
        with uproot.open(tmp_path / "whole.root") as f:
            whole = f["Events"].arrays()
        assert_same_events({path.name: whole}, {path.name: _concatenated(serial_run)[path.name]})

    def test_manifest_and_provenance(self, serial_run, gen_files, tiny_model) -> None:
        from flashsim.bundle import bundle_hash
        from flashsim.io import read_provenance

        manifest = json.loads((serial_run / MANIFEST_NAME).read_text())
        assert manifest["settings"]["seed"] == 7
        assert manifest["settings"]["model"]["sha256"] == bundle_hash(tiny_model)
        items = manifest["items"]
        assert {e["status"] for e in items} == {"done"}
        assert sum(e["events_in"] for e in items) == sum(SIZES.values())
        assert {e["output"] for e in items} | {MANIFEST_NAME} == {
            p.name for p in serial_run.iterdir()
        }
        first = items[0]
        record = read_provenance(serial_run / first["output"])
        assert record["seed"] == 7
        assert record["file_seed"] == first["seed"] == file_seed(7, first["input"])
        assert (record["entry_start"], record["entry_stop"]) == (0, 100)


@pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None,
    reason="dask.distributed is not installed (pip install 'flashsim[dask]')",
)
def test_dask_local_cluster_gives_the_same_events(
    serial_run, gen_dir, tiny_model, tmp_path, subprocess_env
) -> None:
    outdir = tmp_path / "dask"
    result = subprocess.run(
        [sys.executable, "-m", "flashsim", "run", str(gen_dir / "gen_*.root"), "-o", f"{outdir}/",
         "--model", str(tiny_model), "--seed", "7", "--step-size", str(STEP), "--item-size", "200",
         "--executor", "dask", "--workers", "2"],
        capture_output=True, text=True, env=subprocess_env, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "4 of 4 items of up to 200 events run (0 already done, 0 failed): 600 events" in (
        result.stderr
    )
    assert_same_events(_concatenated(serial_run), _concatenated(outdir))


def test_resume_reruns_only_missing_and_failed_items(gen_files, tiny_model, tmp_path) -> None:
    outdir = tmp_path / "out"
    _run(gen_files, outdir, tiny_model)
    before = _concatenated(outdir)
    manifest = json.loads((outdir / MANIFEST_NAME).read_text())
    deleted, failed = manifest["items"][1], manifest["items"][4]
    (outdir / deleted["output"]).unlink()
    failed["status"] = "failed"
    (outdir / MANIFEST_NAME).write_text(json.dumps(manifest))
    stamps = {p.name: p.stat().st_mtime_ns for p in outdir.glob("*.root")}

    report = _run(gen_files, outdir, tiny_model, resume=True)

    assert (report.items, report.skipped, report.done, report.failed) == (7, 5, 2, [])
    rerun = {p.name for p in outdir.glob("*.root") if p.stat().st_mtime_ns != stamps.get(p.name)}
    assert rerun == {deleted["output"], failed["output"]}
    assert {e["status"] for e in json.loads((outdir / MANIFEST_NAME).read_text())["items"]} == {
        "done"
    }
    assert_same_events(before, _concatenated(outdir))
    again = _run(gen_files, outdir, tiny_model, resume=True)
    assert (again.skipped, again.done) == (7, 0)


def test_a_failing_item_is_recorded_and_the_others_complete(
    gen_files, tiny_model, tmp_path, monkeypatch
) -> None:
    import flashsim.run.items

    def broken(pipeline, input_path, output_path, **kwargs):
        if Path(input_path).name == "gen_b.root" and kwargs["entry_start"] == 100:
            msg = "disk on fire"
            raise OSError(msg)
        return run_file(pipeline, input_path, output_path, **kwargs)

    monkeypatch.setattr(flashsim.run.items, "run_file", broken)
    outdir = tmp_path / "out"
    result = CliRunner().invoke(
        flashsim_group,
        ["run", *map(str, gen_files), "-o", f"{outdir}/", "--model", str(tiny_model),
         "--step-size", str(STEP), "--item-size", "100", "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "1 of 7 items failed (gen_b.100-200.root: OSError: disk on fire)" in result.output
    assert "--resume" in result.output
    items = json.loads((outdir / MANIFEST_NAME).read_text())["items"]
    assert [e["status"] for e in items].count("done") == 6
    (bad,) = [e for e in items if e["status"] == "failed"]
    assert bad["output"] == "gen_b.100-200.root"
    assert bad["error"] == "OSError: disk on fire"
    assert not (outdir / "gen_b.100-200.root").exists()
    assert not list(outdir.glob(".*"))


class TestRegistry:
    def test_one_local_worker_runs_in_this_process(self) -> None:
        assert isinstance(make_executor("local", workers=1), SerialExecutor)
        assert make_executor("local", workers=3) == LocalExecutor(3)

    def test_the_command_line_offers_the_registered_executors(self) -> None:
        from flashsim.cli.run import run as run_command

        (option,) = [p for p in run_command.params if p.name == "executor_name"]
        assert tuple(option.type.choices) == tuple(EXECUTORS)


def _cli(*args: str) -> object:
    return CliRunner().invoke(flashsim_group, ["run", *args, "--quiet"])


class TestErrors:
    def test_existing_run_needs_resume_or_overwrite(self, serial_run, gen_dir, tiny_model) -> None:
        result = _cli(
            str(gen_dir / "gen_*.root"), "-o", str(serial_run), "--model", str(tiny_model)
        )
        assert result.exit_code == 2
        assert f"output directory {serial_run} already holds a flashsim run" in result.output
        assert "--resume" in result.output
        assert "--overwrite" in result.output

    def test_no_matching_files(self, tmp_path) -> None:
        result = _cli(str(tmp_path / "nothing_*.root"), "-o", f"{tmp_path}/out/")
        assert result.exit_code == 2
        assert "matches no file" in result.output
        assert not (tmp_path / "out").exists()

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--resume", "--overwrite"], "--resume and --overwrite contradict"),
            (["--scheduler", "tcp://x:8786"], "give it with --executor dask"),
        ],
    )
    def test_contradicting_options(self, gen_files, tmp_path, args, message) -> None:
        result = _cli(*map(str, gen_files), "-o", f"{tmp_path}/out/", *args)
        assert result.exit_code == 2
        assert message in result.output

    def test_item_options_need_a_directory_output(self, gen_files, tmp_path) -> None:
        result = _cli(str(gen_files[0]), "-o", str(tmp_path / "x.root"), "--workers", "2")
        assert result.exit_code == 2
        assert "--workers need a directory output" in result.output

    def test_resume_with_another_seed_is_refused(self, serial_run, gen_files, tiny_model) -> None:
        with pytest.raises(ConfigurationError, match=r"cannot resume .* seed 7 \(this run: 8\)"):
            _run(gen_files, serial_run, tiny_model, seed=8, resume=True)

    def test_outdir_that_is_a_file(self, gen_files, tiny_model, tmp_path) -> None:
        (tmp_path / "out").write_text("x")
        with pytest.raises(OutputError, match="is a file"):
            _run(gen_files, tmp_path / "out", tiny_model)

    def test_missing_dask_names_the_extra(self, monkeypatch) -> None:
        monkeypatch.setitem(sys.modules, "distributed", None)
        with pytest.raises(ConfigurationError, match=r"pip install 'flashsim\[dask\]'"):
            DaskExecutor(workers=2)

    def test_scheduler_needs_dask(self) -> None:
        with pytest.raises(ConfigurationError, match="give it with --executor dask"):
            make_executor("local", workers=2, scheduler="tcp://x:8786")

    def test_unknown_executor_lists_the_known_ones(self) -> None:
        with pytest.raises(ConfigurationError, match="unknown executor 'slurm'; use one of local"):
            make_executor("slurm")

    def test_failures_are_an_error_naming_them(self, tmp_path) -> None:
        item = WorkItem("/x.root", 0, 10, "x.0-10.root", 5)
        report = RunReport(tmp_path, tmp_path / MANIFEST_NAME, items=3, failed=[(item, "E: boom")])
        with pytest.raises(ItemsFailedError, match=r"1 of 3 items failed \(x.0-10.root: E: boom\)"):
            report.raise_for_failures()


def test_interrupted_manifest_write_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM (Terminated) while the manifest is written: the old manifest stays, no temporary."""
    from flashsim.exceptions import Terminated
    from flashsim.run import manifest

    path = tmp_path / "flashsim-manifest.json"
    manifest.write_manifest(path, {"items": []})

    def replace_then_terminate(src: Path, dst: Path) -> None:
        raise Terminated

    monkeypatch.setattr(manifest.os, "replace", replace_then_terminate)
    with pytest.raises(Terminated):
        manifest.write_manifest(path, {"items": [{"status": "done"}]})
    assert [p.name for p in tmp_path.iterdir()] == ["flashsim-manifest.json"]
    assert json.loads(path.read_text()) == {"items": []}

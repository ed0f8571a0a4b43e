"""The rough edges a new user hits on the command line (issue 26): errors answered before the
heavy imports, --item-size below --step-size, summaries that count pile-up objects, flash
outputs as inputs, --pileup, "did you mean" kept to typos, the progress bar drawn once."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uproot
from cli_errors import assert_one_line_error
from click.testing import CliRunner
from damage import read_columns, write_columns

from flashsim.cli import flashsim as flashsim_group
from flashsim.exceptions import ConfigurationError, InputError
from flashsim.io import require_branches

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "examples" / "ttbar_gen.root"
HEAVY = ("torch", "xgboost", "uproot", "awkward", "numba")
"""Modules that take seconds to import: no usage or missing-file error may wait for them."""


def invoke(*args: Any) -> Any:
    """``flashsim ARGS`` in process, under a real ``flashsim`` process's warning filters."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        return CliRunner().invoke(flashsim_group, [str(a) for a in args])


def gen_file(path: Path, edit: Any = None, events: int = 40) -> Path:
    """The first ``events`` events of the example gen file, ``edit``-ed, written to ``path``."""
    columns = read_columns(EXAMPLE, events)
    if edit is not None:
        edit(columns)
    return write_columns(path, columns)


# --- errors before the heavy imports ---------------------------------------------------------

_CHILD = """
import contextlib, io, json, sys
from flashsim.cli import main
results = []
for args in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            main(args)
            code = 0
        except SystemExit as stop:
            code = stop.code
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r} and "." not in m)
    results.append({{"args": args, "code": code, "stderr": err.getvalue(), "heavy": heavy}})
print(json.dumps(results))
"""


def test_usage_and_missing_file_errors_import_no_heavy_module(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    missing = str(tmp_path / "nope.root")
    existing = tmp_path / "exists.root"
    existing.write_bytes(b"root")  # only ever checked, never read
    not_root = tmp_path / "spec.yaml"
    not_root.write_text("name: x\n")
    report = tmp_path / "report"
    report.mkdir()
    (report / "index.html").write_text("")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "flashsim-manifest.json").write_text("{}")
    example = str(EXAMPLE)
    spec = ROOT / "pipelines" / "cms_like.yaml"
    cases = {
        "run: missing input": (["run", missing, "-o", str(tmp_path / "a.root")], "does not exist"),
        "run: existing output": (["run", example, "-o", str(existing)], "exists; pass --overwrite"),
        "run: not a ROOT file": (["run", str(not_root), "-o", str(tmp_path / "b.root")], "ROOT"),
        "run: missing output directory": (
            ["run", example, "-o", str(tmp_path / "no" / "c.root")],
            "does not exist",
        ),
        "run: missing model": (
            ["run", example, "-o", str(tmp_path / "d.root"), "--model", missing],
            "model bundle",
        ),
        "run: item size below step": (
            ["run", example, "-o", f"{tmp_path}/items/", "--item-size", "500"],
            "--step-size 500",
        ),
        "run: a run in the output directory": (
            ["run", example, "-o", f"{tmp_path}/out/"],
            "--resume",
        ),
        "run: missing one of many": (["run", example, missing, "-o", f"{tmp_path}/e/"], "nope"),
        "run: bad --pileup": (
            ["run", example, "-o", str(tmp_path / "f.root"), "--pileup", "-1"],
            "--pileup",
        ),
        "info: missing bundle": (["info", missing], "does not exist"),
        "info: not a bundle": (["info", str(tmp_path)], "not a flashsim model bundle"),
        "inspect: missing file": (["inspect", missing], "does not exist"),
        "inspect: missing model": (["inspect", example, "--model", missing], "model bundle"),
        "validate: missing flash": (
            ["validate", "--flash", missing, "--full", example, "-o", str(tmp_path / "r")],
            "does not exist",
        ),
        "validate: missing full": (
            ["validate", "--flash", example, "--full", missing, "-o", str(tmp_path / "r")],
            "does not exist",
        ),
        "validate: existing report": (
            ["validate", "--flash", example, "--full", example, "-o", str(report)],
            "already holds a report",
        ),
        "export: missing bundle": (
            ["export", missing, "--onnx", "-o", str(tmp_path / "x")],
            "model bundle",
        ),
        "train: missing data": (
            ["train", str(spec), "--data", missing, "-o", str(tmp_path / "m")],
            "does not exist",
        ),
    }  # fmt: skip
    child = _CHILD.format(heavy=set(HEAVY))
    argv = json.dumps([args for args, _ in cases.values()])
    done = subprocess.run(
        [sys.executable, "-c", child, argv],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=120,
        check=True,
    )
    results = json.loads(done.stdout)
    for (name, (_, fragment)), result in zip(cases.items(), results, strict=True):
        lines = result["stderr"].strip().splitlines()
        assert result["code"] == 2, (name, result)
        assert len(lines) == 1, (name, result)
        assert lines[0].startswith("flashsim: error: "), (name, result)
        assert fragment in lines[0], (name, lines[0])
        assert result["heavy"] == [], (name, result["heavy"])


def test_constants_kept_in_the_cli_agree_with_the_library() -> None:
    from flashsim.bundle import RECORD_NAME
    from flashsim.cli import export as export_cli
    from flashsim.cli import run as run_cli
    from flashsim.cli.common import BUNDLE_RECORD
    from flashsim.run.inputs import MAX_PILEUP
    from flashsim.run.manifest import MANIFEST_NAME

    assert BUNDLE_RECORD == RECORD_NAME
    assert run_cli._MANIFEST_NAME == MANIFEST_NAME
    assert run_cli._MAX_PILEUP == MAX_PILEUP
    bundle_export = pytest.importorskip("flashsim.export.bundle_export")
    assert export_cli._ONNX_MANIFEST == bundle_export.MANIFEST_NAME


def test_io_names_resolve_lazily() -> None:
    import flashsim.io

    for name in flashsim.io.__all__:
        assert getattr(flashsim.io, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        flashsim.io.nope  # noqa: B018


def test_progress_bars_are_plain_text(subprocess_env: dict[str, str]) -> None:
    """tqdm.auto warns in a Jupyter kernel without ipywidgets as soon as it is imported
    (the quickstart's TqdmWarning): the run code uses tqdm's text bar."""
    code = (
        "import sys, flashsim.run, flashsim.runner, flashsim.bundle; "
        "print(sorted(m for m in sys.modules if m in ('tqdm.auto', 'tqdm.autonotebook')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env,
        check=True, timeout=120,
    )  # fmt: skip
    assert done.stdout.strip() == "[]"


# --- item size ------------------------------------------------------------------------------


def test_item_size_below_the_step_is_an_error_not_rounded_up() -> None:
    from flashsim.run import item_size_for

    assert item_size_for(25_000, 10_000) == 30_000
    with pytest.raises(ConfigurationError, match=r"--item-size 500 is below --step-size 10000"):
        item_size_for(500, 10_000)


def test_item_size_equal_to_a_lower_step_runs_items_of_that_size(tmp_path: Path) -> None:
    result = invoke(
        "run", EXAMPLE, "-o", f"{tmp_path}/out/", "--item-size", "50", "--step-size", "50",
        "--max-events", "100", "--seed", "3",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 of 2 items of up to 50 events run" in result.output
    manifest = json.loads((tmp_path / "out" / "flashsim-manifest.json").read_text())
    assert [(i["entry_start"], i["entry_stop"]) for i in manifest["items"]] == [(0, 50), (50, 100)]


# --- a run with the default model: summary, progress bar, flash outputs as inputs ----------


def branches_of(path: Path) -> dict[str, Any]:
    with uproot.open(path) as file:
        tree = file["Events"]
        return {name: tree[name].array(library="np") for name in tree.keys()}  # noqa: SIM118


def assert_same_branches(a: Path, b: Path) -> None:
    left, right = branches_of(a), branches_of(b)
    assert sorted(left) == sorted(right)
    for name, values in left.items():
        flat_left = np.concatenate(values) if values.dtype == object else values
        flat_right = np.concatenate(right[name]) if right[name].dtype == object else right[name]
        assert np.array_equal(flat_left, flat_right), name


def test_summary_counts_pileup_and_the_bar_is_drawn_once(tmp_path: Path) -> None:
    gen = gen_file(tmp_path / "gen.root")
    flash = tmp_path / "flash.root"
    result = invoke("run", gen, "-o", flash, "--seed", "4")
    assert result.exit_code == 0, result.output
    assert result.output.count("100%") == 1, result.output
    summary = result.output.strip().splitlines()[-1]
    assert "Jet: " in summary, summary
    assert " gen reconstructed + " in summary, summary
    assert "pile-up/fake" in summary
    with uproot.open(flash) as file:
        record = json.loads(str(file["flashsim_provenance"]))
        pileup_jets = int(
            np.sum(np.concatenate(file["Events"]["Jet_genJetIdx"].array(library="np")) < 0)
        )
    assert record["counters"]["Jet"]["pileup"] == pileup_jets > 0
    assert f"+ {pileup_jets} pile-up/fake" in summary

    # The flash output as an input: refused, unless --overwrite-reco, which simulates its gen
    # branches again (the same events as the first run).
    again = tmp_path / "again.root"
    refused = invoke("run", flash, "-o", again, "--seed", "4", "-q")
    assert_one_line_error(refused, "is an output of flashsim run", "--overwrite-reco", str(gen))
    assert not again.exists()
    redone = invoke("run", flash, "-o", again, "--seed", "4", "-q", "--overwrite-reco")
    assert redone.exit_code == 0, redone.output
    assert_same_branches(flash, again)


def test_pileup_fills_a_missing_pileup_branch(tmp_path: Path) -> None:
    def without(columns: dict[str, Any]) -> None:
        del columns["Pileup_nTrueInt"]

    def constant(columns: dict[str, Any]) -> None:
        columns["Pileup_nTrueInt"] = np.full(len(columns["Pileup_nTrueInt"]), 30.0, np.float32)

    bare = gen_file(tmp_path / "bare.root", without)
    fixed = gen_file(tmp_path / "fixed.root", constant)

    missing = invoke("run", bare, "-o", tmp_path / "a.root", "-q")
    assert_one_line_error(missing, "'Pileup_nTrueInt'", "--pileup MU", "pile-up interactions")

    filled = invoke("run", bare, "-o", tmp_path / "a.root", "-q", "--pileup", "30", "--seed", "2")
    assert filled.exit_code == 0, filled.output
    given = invoke("run", fixed, "-o", tmp_path / "b.root", "-q", "--seed", "2")
    assert given.exit_code == 0, given.output
    assert_same_branches(tmp_path / "a.root", tmp_path / "b.root")
    with uproot.open(tmp_path / "a.root") as file:
        record = json.loads(str(file["flashsim_provenance"]))
    assert record["filled_branches"] == {"Pileup_nTrueInt": 30.0}

    twice = invoke("run", fixed, "-o", tmp_path / "c.root", "-q", "--pileup", "30")
    assert_one_line_error(twice, "has Pileup_nTrueInt already")


# --- "did you mean" -------------------------------------------------------------------------


def test_a_different_quantity_is_never_suggested(tmp_path: Path) -> None:
    def drop_hadron_flavour(columns: dict[str, Any]) -> None:
        del columns["GenJet_hadronFlavour"]

    path = gen_file(tmp_path / "g.root", drop_hadron_flavour, events=5)
    with uproot.open(path) as file, pytest.raises(InputError) as caught:
        require_branches(file["Events"], ["GenJet_hadronFlavour"])
    message = str(caught.value)
    assert "did you mean" not in message
    assert "ghost-associated B and C hadrons" in message
    assert "'GenJet_partonFlavour' is a different quantity, not a substitute" in message


def test_a_typo_is_still_suggested(tmp_path: Path) -> None:
    def misspell(columns: dict[str, Any]) -> None:
        columns["GenJet_hadronflavour"] = columns.pop("GenJet_hadronFlavour")

    path = gen_file(tmp_path / "g.root", misspell, events=5)
    with uproot.open(path) as file, pytest.raises(InputError) as caught:
        require_branches(file["Events"], ["GenJet_hadronFlavour"])
    assert "did you mean 'GenJet_hadronflavour'?" in str(caught.value)
    assert "GenJet_partonFlavour" in str(caught.value)  # named as a different quantity only
    assert "did you mean 'GenJet_partonFlavour'" not in str(caught.value)


# --- the repository -------------------------------------------------------------------------


def test_the_virtual_environment_is_git_ignored() -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    done = subprocess.run(
        ["git", "check-ignore", "-q", ".venv/"], cwd=ROOT, capture_output=True, check=False
    )
    assert done.returncode == 0, "the README creates .venv/: it must be in .gitignore"

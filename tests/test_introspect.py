"""``flashsim info`` (what a model bundle holds) and ``flashsim inspect`` (what a file holds)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
from click.testing import CliRunner, Result

from flashsim.bundle import (
    BUNDLE_FORMAT,
    RECORD_NAME,
    bundle_hash,
    default_model_path,
    load_bundle,
    read_record,
)
from flashsim.cli import flashsim as flashsim_group
from flashsim.introspect import BranchInfo, check_fit, file_info
from flashsim.io import NanoAODWriter, zip_collections
from flashsim.pipeline import Pipeline

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "ttbar_gen.root"
DEFAULT_STAGES = ["Jet", "Jet.fakes", "Muon", "Electron", "event"]


def invoke(*args: str | Path) -> Result:
    """Run ``flashsim ARGS`` in-process; stdout and stderr apart."""
    return CliRunner().invoke(flashsim_group, [str(a) for a in args])


def assert_one_line_error(result: Result, *fragments: str) -> None:
    """Exit status 2 and a single ``flashsim: error:`` line on stderr naming ``fragments``."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("flashsim: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def default_pipeline() -> Pipeline:
    return load_bundle(default_model_path())


def rewrite(source: Path, output: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """Copy the ``Events`` tree of ``source`` to ``output`` after ``edit`` changed its columns."""
    with uproot.open(source) as f:
        events = zip_collections(f["Events"].arrays())
    columns = {name: events[name] for name in events.fields}
    edit(columns)
    with NanoAODWriter(output) as writer:
        writer.extend(columns)
    return output


def rename_field(columns: dict[str, Any], collection: str, old: str, new: str) -> None:
    coll = columns[collection]
    columns[collection] = ak.zip({new if k == old else k: coll[k] for k in coll.fields})


class TestInfo:
    """``info`` shows what the bundle's record holds (read here with :func:`read_record`)."""

    def test_default_model_text(self) -> None:
        record = read_record(default_model_path())
        result = invoke("info")
        assert result.exit_code == 0, result.output
        text = result.stdout
        assert f"pipeline: {record['spec']['name']}" in text
        assert f"sha256: {bundle_hash(default_model_path())}" in text
        for file in record["training"]["files"]:
            assert f"{file['path']}: {file['entries']} entries, sha256 {file['sha256']}" in text
        assert f"torch {record['versions']['torch']}" in text
        for stage in DEFAULT_STAGES:
            assert f"\n  {stage}: " in text
        assert "3 outcomes: not reconstructed, tightId=0, tightId=1" in text
        jet = record["training"]["metrics"]["Jet.response"]
        assert f"validation_nll={jet['validation_nll']:.4g}, best_epoch={jet['best_epoch']}" in text
        assert "transform=spline" in text
        efficiency = record["training"]["metrics"]["Jet.efficiency"]
        observed, predicted = efficiency["observed_fraction_0"], efficiency["predicted_fraction_0"]
        assert f"(observed/predicted): 0: {observed:.4f}/{predicted:.4f}" in text
        assert max(len(line) for line in text.splitlines() if "sha256" not in line) <= 100

    def test_default_model_json(self) -> None:
        record = read_record(default_model_path())
        result = invoke("info", "--json")
        assert result.exit_code == 0, result.output
        info = json.loads(result.stdout)
        assert info["pipeline"] == record["spec"]["name"]
        assert info["format"] == record["format"] == BUNDLE_FORMAT
        assert info["sha256"] == bundle_hash(default_model_path())
        assert info["versions"] == record["versions"]
        assert info["training"]["events"] == record["training"]["events"]
        assert info["training"]["files"] == record["training"]["files"]
        assert "metrics" not in info["training"]  # every metric went to its stage
        stages = {s["name"]: s for s in info["stages"]}
        assert list(stages) == DEFAULT_STAGES
        jet, jet_spec = stages["Jet"], record["spec"]["collections"]["Jet"]
        assert jet["conditions"] == [c["name"] for c in jet_spec["conditions"]]
        assert jet["efficiency"]["model"] == "xgboost"
        assert jet["efficiency"]["metrics"] == record["training"]["metrics"]["Jet.efficiency"]
        assert jet["response"]["model"] == "flow"
        assert jet["response"]["config"] == jet_spec["response"]["flow"]
        assert jet["response"]["targets"] == [t["name"] for t in jet_spec["targets"]]
        assert jet["response"]["n_features"] == len(jet["response"]["targets"])
        assert jet["response"]["metrics"] == record["training"]["metrics"]["Jet.response"]
        assert stages["Jet.fakes"]["efficiency"]["role"] == "multiplicity"
        assert stages["event"]["efficiency"] is None
        assert "MET_upar" in stages["event"]["response"]["targets"]

    def test_tiny_model(self, tiny_model: Path, ttbar_file: Path) -> None:
        text = invoke("info", tiny_model)
        assert text.exit_code == 0, text.output
        digest = hashlib.sha256(ttbar_file.read_bytes()).hexdigest()
        assert f"{ttbar_file}: 600 entries, sha256 {digest}" in text.stdout
        result = invoke("info", tiny_model, "--json")
        assert result.exit_code == 0, result.output
        info = json.loads(result.stdout)
        assert info["path"] == str(tiny_model)
        assert info["sha256"] == bundle_hash(tiny_model)
        assert info["training"]["files"] == [
            {"path": str(ttbar_file), "entries": 600, "sha256": digest}
        ]
        jet = next(s for s in info["stages"] if s["name"] == "Jet")
        assert jet["response"]["config"]["hidden"] == [16, 16]
        assert jet["response"]["training"]["epochs"] == 2
        assert jet["response"]["metrics"]["epochs_run"] == 2
        assert jet["efficiency"]["params"]["n_estimators"] == 10

    def test_missing_directory(self, tmp_path: Path) -> None:
        assert_one_line_error(invoke("info", tmp_path / "nope"), "does not exist")

    def test_directory_without_record(self, tmp_path: Path) -> None:
        assert_one_line_error(invoke("info", tmp_path), "not a flashsim model bundle", RECORD_NAME)

    def test_corrupted_record(self, tmp_path: Path) -> None:
        (tmp_path / RECORD_NAME).write_text('{"format": 1, "spec"')
        assert_one_line_error(invoke("info", tmp_path), "corrupted")

    def test_incomplete_and_inconsistent_bundles(self, tiny_model: Path, tmp_path: Path) -> None:
        bundle = tmp_path / "bundle"
        shutil.copytree(tiny_model, bundle)
        (bundle / "Jet.response.pt").unlink()
        assert_one_line_error(invoke("info", bundle), "incomplete", "Jet.response.pt")
        shutil.copy(tiny_model / "Jet.response.pt", bundle)
        record = json.loads((bundle / RECORD_NAME).read_text())
        del record["collections"]["Muon"]["conditions"]
        (bundle / RECORD_NAME).write_text(json.dumps(record))
        assert_one_line_error(invoke("info", bundle), "the record changed", "restore or retrain")
        from flashsim.record import add_seal

        (bundle / RECORD_NAME).write_text(json.dumps(add_seal(record)))  # as edited on purpose
        assert_one_line_error(invoke("info", bundle), "collections.Muon.conditions: expected")


class TestInspect:
    def test_gen_file_fits(self) -> None:
        result = invoke("inspect", EXAMPLE)
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert lines[-1] == "fits model cms_like: yes"
        assert "  Events: TTree, 1000 entries, 25 branches" in lines
        assert "tree Events: 1000 events" in lines
        assert any(
            line.startswith("  collection GenJet (nGenJet, 6 fields): pt float32") for line in lines
        )
        assert "producer: flashsim refsim generate" in result.stdout
        assert "reads 15 branches and 2 counters" in result.stdout

    def test_gen_file_json(self) -> None:
        result = invoke("inspect", EXAMPLE, "--json", "--check")
        assert result.exit_code == 0, result.output
        info = json.loads(result.stdout)
        assert info["entries"] == 1000
        collections = {c["name"]: c for c in info["collections"]}
        assert set(collections) == {"GenJet", "GenPart"}
        assert collections["GenPart"]["fields"]["pdgId"] == "int32"
        assert info["event_branches"]["Pileup_nTrueInt"] == "float32"
        assert info["other_branches"] == []
        assert info["provenance"]["process"] == "ttbar"
        fit = info["fit"]
        assert fit["fits"] is True
        assert fit["missing"] == {}
        assert fit["required"]["nGenJet"] == "counter"
        assert fit["required"]["GenJet_pt"] == "jagged"
        assert fit["required"]["GenMET_pt"] == "flat"

    def test_flash_output_shows_provenance(self, flash_file: Path) -> None:
        result = invoke("inspect", flash_file)
        assert result.exit_code == 0, result.output
        assert "provenance:" in result.stdout
        assert "  seed: 1\n" in result.stdout
        assert "  counters.Jet: " in result.stdout
        assert "collection Jet (nJet, " in result.stdout
        assert result.stdout.splitlines()[-1] == "fits model cms_like: yes"
        info = file_info(flash_file)
        assert info.provenance is not None
        assert info.provenance["flashsim_version"]
        assert info.fit is not None
        assert info.fit.fits

    def test_missing_branch_is_named_with_a_suggestion(self, tmp_path: Path) -> None:
        path = rewrite(
            EXAMPLE,
            tmp_path / "renamed.root",
            lambda c: rename_field(c, "GenJet", "hadronFlavour", "hadronFlavor"),
        )
        result = invoke("inspect", path)
        assert result.exit_code == 0, result.output
        last = result.stdout.splitlines()[-1]
        assert last.startswith(
            "fits model cms_like: no (missing GenJet_hadronFlavour "
            "(did you mean 'GenJet_hadronFlavor'?; the gen jet's flavour from ghost-associated "
        )
        # another definition of the flavour is never offered as the missing one
        assert "'GenJet_partonFlavour' is a different quantity, not a substitute" in last
        assert last.count("missing") == 1
        checked = invoke("inspect", path, "--check")
        assert checked.stdout.splitlines()[-1] == last
        assert_one_line_error(checked, "does not fit model cms_like", "GenJet_hadronFlavour")

    def test_wrong_kinds_and_other_model(self, tmp_path: Path, tiny_model: Path) -> None:
        def edit(columns: dict[str, Any]) -> None:
            nested = ak.unflatten(columns.pop("Pileup_nTrueInt"), 1)
            columns["Pileup"] = ak.zip({"nTrueInt": nested})

        path = rewrite(EXAMPLE, tmp_path / "jagged_pileup.root", edit)
        result = invoke("inspect", path, "--model", tiny_model, "--json")
        assert result.exit_code == 0, result.output
        fit = json.loads(result.stdout)["fit"]
        assert fit["model_path"] == str(tiny_model)
        assert fit["fits"] is False
        assert fit["wrong_kind"] == {"Pileup_nTrueInt": "is jagged, expected one value per event"}

    def test_check_fit_kinds(self, default_pipeline: Pipeline) -> None:
        required = default_pipeline.required_branches()
        branches = [
            BranchInfo(n, "flat" if n.startswith(("GenMET", "Pileup")) else "jagged", "float32")
            for n in required
            if n != "GenPart_pdgId"
        ]
        branches += [
            BranchInfo("nGenJet", "flat", "float32"),
            BranchInfo("GenPart_pdgId", "other", "std::vector<std::string>"),
        ]
        fit = check_fit(default_pipeline, branches, 0)
        assert not fit.fits
        assert fit.missing == {"nGenPart": []}
        assert fit.wrong_kind == {
            "GenPart_pdgId": "holds std::vector<std::string>, not numbers",
            "nGenJet": "is flat float32, expected an integer counter",
        }
        assert fit.reasons[-1] == "the tree has no events"

    def test_lists_every_tree(self, tmp_path: Path) -> None:
        path = tmp_path / "two.root"
        with uproot.recreate(path) as f:
            f.mktree("Events", {"run": np.uint32, "x": np.float64})
            f["Events"].extend({"run": np.arange(3, dtype=np.uint32), "x": np.zeros(3)})
            f.mktree("Runs", {"run": np.uint32})
            f["Runs"].extend({"run": np.arange(1, dtype=np.uint32)})
            f.mkrntuple("Meta", {"a": np.zeros(2), "b": np.arange(2)})
        info = file_info(path)
        assert [(t.name, t.classname, t.entries, t.branches) for t in info.trees] == [
            ("Events", "TTree", 3, 2),
            ("Runs", "TTree", 1, 1),
            ("Meta", "ROOT::RNTuple", 2, 2),
        ]
        assert info.provenance is None
        assert info.fit is not None
        assert "missing GenJet_pt" in info.fit.reasons
        result = invoke("inspect", path, "--tree", "Runs")
        assert result.exit_code == 0, result.output
        assert "provenance: none (not written by flashsim)" in result.stdout

    @pytest.mark.parametrize(
        ("make", "fragment"),
        [
            (lambda p: p.write_text("not a ROOT file\n"), "is not a ROOT file"),
            (lambda p: None, "does not exist"),
        ],
        ids=["text", "missing"],
    )
    def test_unreadable_files(
        self, tmp_path: Path, make: Callable[[Path], None], fragment: str
    ) -> None:
        path = tmp_path / "events.root"
        make(path)
        assert_one_line_error(invoke("inspect", path), fragment)

    def test_missing_tree_lists_the_trees(self) -> None:
        assert_one_line_error(invoke("inspect", EXAMPLE, "--tree", "Nope"), "'Nope'", "Events")

    def test_broken_model(self, tmp_path: Path) -> None:
        assert_one_line_error(invoke("inspect", EXAMPLE, "--model", tmp_path), "model bundle")


def test_json_is_the_same_content(tiny_model: Path) -> None:
    """The text shows what the JSON holds: every stage, condition and target name."""
    text = invoke("info", tiny_model).stdout
    info: Mapping[str, Any] = json.loads(invoke("info", tiny_model, "--json").stdout)
    words = " ".join(text.split())  # long summaries are wrapped
    for stage in info["stages"]:
        assert f"{stage['name']}: {stage['summary']}" in words
        for name in [*stage["conditions"], *stage["response"]["targets"]]:
            assert name in text


def test_commands_are_listed_and_import_lazily(subprocess_env: dict[str, str]) -> None:
    """``flashsim --help`` stays fast: the commands import torch, uproot... only when run."""
    code = (
        "import sys; from flashsim.cli import flashsim; "
        "print(sorted(flashsim.commands)); print(sorted({'torch', 'uproot'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=60,
        check=True,
    )
    commands, heavy = result.stdout.splitlines()
    assert "'info'" in commands
    assert "'inspect'" in commands
    assert heavy == "[]"

"""``flashsim run`` on generator output (:mod:`flashsim.run.generated`): a HepMC file or a
Pythia card simulated directly gives what ``flashsim gen`` then ``flashsim run`` on its output
give with the same seed and step size, ``--keep-gen`` is ``flashsim gen``'s file, and the
options that need a gen-level ROOT file are refused with one line.

The shipped default model simulates (it reads ``Pileup_nTrueInt``, so ``--pileup`` is needed).
"""

from __future__ import annotations

import gc
import warnings
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
from cli_errors import assert_one_line_error
from click.testing import CliRunner

from flashsim.cli import flashsim as flashsim_group
from flashsim.io import read_provenance

DY_CARD = """\
! Drell-Yan to muons at 13.6 TeV
Beams:eCM = 13600.
WeakSingleBoson:ffbar2gmZ = on
23:onMode = off
23:onIfAny = 13
PhaseSpace:mHatMin = 50.
"""


def invoke(*args: Any) -> Any:
    """``flashsim ARGS`` in process, under a real ``flashsim`` process's warning filters."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        return CliRunner().invoke(flashsim_group, [str(a) for a in args])


def ok(*args: Any) -> Any:
    result = invoke(*args, "-q")
    assert result.exit_code == 0, result.output
    return result


def read_tree(path: Path) -> tuple[list[str], dict[str, ak.Array]]:
    """The branch names in file order, and every branch."""
    with uproot.open(path) as file:
        tree = file["Events"]
        return list(tree.keys()), tree.arrays(library="ak", how=dict)


def assert_same_file(a: Path, b: Path) -> list[str]:
    """The same branches, in the same order, of the same types and values (NaN equal NaN)."""
    names_a, arrays_a = read_tree(a)
    names_b, arrays_b = read_tree(b)
    assert names_a == names_b
    for name in names_a:
        x, y = arrays_a[name], arrays_b[name]
        assert str(x.type) == str(y.type), name
        if x.ndim > 1:
            assert ak.to_list(ak.num(x, axis=1)) == ak.to_list(ak.num(y, axis=1)), name
            x, y = ak.flatten(x), ak.flatten(y)
        x, y = ak.to_numpy(x), ak.to_numpy(y)
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
    return names_a


@pytest.fixture(scope="module")
def hepmc_file(ttbar_hepmc: Path) -> Path:
    return ttbar_hepmc / "events.hepmc3"


@pytest.fixture(scope="module")
def hepmc_runs(hepmc_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """In one folder: ``direct.root`` and ``keep.root`` (``flashsim run events.hepmc3
    --keep-gen``), ``gen.root`` (``flashsim gen``) and ``two_step.root`` (``flashsim run`` on it),
    all with pile-up 25, seed 3 and steps of 64 events."""
    folder = tmp_path_factory.mktemp("hepmc_runs")
    common = ("--seed", 3, "--step-size", 64)
    ok(
        "run",
        hepmc_file,
        "-o",
        folder / "direct.root",
        "--pileup",
        25,
        *common,
        "--keep-gen",
        folder / "keep.root",
    )
    ok("gen", hepmc_file, "-o", folder / "gen.root", "--pileup", 25, "--seed", 3)
    ok("run", folder / "gen.root", "-o", folder / "two_step.root", *common)
    return folder


def test_hepmc_direct_equals_gen_then_run(hepmc_runs: Path) -> None:
    names = assert_same_file(hepmc_runs / "direct.root", hepmc_runs / "two_step.root")
    # The whole output: reco, gen and bookkeeping branches, for all 200 events.
    for name in (
        "Jet_pt",
        "Muon_pt",
        "Electron_pt",
        "MET_pt",
        "GenJet_pt",
        "GenPart_pdgId",
        "Pileup_nTrueInt",
        "Pileup_nPU",
        "event",
    ):
        assert name in names
    _, arrays = read_tree(hepmc_runs / "direct.root")
    assert len(arrays["event"]) == 200
    assert ak.all(arrays["Pileup_nTrueInt"] == 25.0)
    assert ak.sum(arrays["nJet"]) > 800
    record = read_provenance(hepmc_runs / "direct.root")
    assert record["seed"] == 3
    assert record["step_size"] == 64
    assert record["pileup"] == 25.0
    assert record["input_events"] == record["output_events"] == 200
    assert record["generator_input"]["source"] == "hepmc3"
    assert (
        record["generator_input"]["input_sha256"]
        == read_provenance(hepmc_runs / "gen.root")["input_sha256"]
    )


def test_keep_gen_is_flashsim_gen_output(hepmc_runs: Path) -> None:
    names = assert_same_file(hepmc_runs / "keep.root", hepmc_runs / "gen.root")
    assert "GenPart_statusFlags" in names
    assert "Pileup_nPU" in names
    assert not any(n.startswith(("Jet_", "FlashSim_")) for n in names)
    record = read_provenance(hepmc_runs / "keep.root")
    assert record["producer"] == "flashsim run --keep-gen"
    assert record["n_events"] == 200
    assert record["pileup"] == 25.0


def test_errors(hepmc_file: Path, ttbar_hepmc: Path, tmp_path: Path) -> None:
    root_file = ttbar_hepmc / "refsim.root"
    out = tmp_path / "out.root"

    def refused(*args: Any, fragments: tuple[str, ...]) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = CliRunner().invoke(flashsim_group, ["run", *map(str, args), "-q"])
            gc.collect()
        assert_one_line_error(result, *fragments)
        assert list(tmp_path.iterdir()) == []  # no output, no temporary
        leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
        assert leaks == []  # the input file was closed

    # The default model reads the pile-up, which a HepMC file does not have.
    refused(hepmc_file, "-o", out, "-n", 5, fragments=("Pileup_nTrueInt", "--pileup"))
    use_gen = ("generator input", "flashsim gen")
    refused(
        hepmc_file,
        "-o",
        out,
        "--pileup",
        25,
        "--item-size",
        100,
        fragments=("--item-size", *use_gen),
    )
    refused(
        hepmc_file, "-o", out, "--pileup", 25, "--workers", 2, fragments=("--workers", *use_gen)
    )
    refused(
        hepmc_file, "-o", f"{tmp_path}/", "--pileup", 25, fragments=("directory output", *use_gen)
    )
    refused(
        hepmc_file, hepmc_file, "-o", out, "--pileup", 25, fragments=("several inputs", *use_gen)
    )
    refused(
        root_file, hepmc_file, "-o", out, "--pileup", 25, fragments=("several inputs", *use_gen)
    )
    refused(
        hepmc_file,
        "-o",
        out,
        "--pileup",
        25,
        "--keep-gen",
        out,
        fragments=("--keep-gen", "is the output"),
    )
    for flag in (("--skip-bad-events",), ("--keep-gen", tmp_path / "g.root")):
        refused(root_file, "-o", out, *flag, fragments=(flag[0], "not a ROOT file"))


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("pythia8mc")
    path = tmp_path_factory.mktemp("card") / "dy.cmnd"
    path.write_text(DY_CARD)
    return path


def test_pythia_card_direct_equals_gen_then_run(card: Path, tmp_path: Path) -> None:
    direct = tmp_path / "direct.root"
    ok("run", "--pythia", card, "-n", 20, "--pileup", 25, "--seed", 8, "-o", direct)
    names, arrays = read_tree(direct)
    assert len(arrays["event"]) == 20
    assert {"nMuon", "Muon_pt", "Muon_eta", "Muon_genPartIdx"} <= set(names)
    assert ak.sum(arrays["nMuon"]) >= 20  # Z -> mu mu in every event
    gen_muons = (abs(arrays["GenPart_pdgId"]) == 13) & (arrays["GenPart_status"] == 1)
    assert ak.all(ak.sum(gen_muons, axis=1) >= 2)
    record = read_provenance(direct)
    assert record["generator_input"]["source"] == "pythia"
    assert record["input_events"] == 20
    gen = tmp_path / "gen.root"
    ok("gen", "--pythia", card, "-n", 20, "--seed", 8, "--pileup", 25, "-o", gen)
    two_step = tmp_path / "two_step.root"
    ok("run", gen, "--seed", 8, "-o", two_step)
    assert assert_same_file(direct, two_step) == names

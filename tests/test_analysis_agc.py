"""The AGC ttbar lepton+jets processor (benchmarks/agc_processor.py) runs unchanged on a refsim
file and on its flash file, and the statistics of benchmarks/agc_ttbar.py."""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import uproot

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from agc_processor import (
    BRANCHES,
    CUTFLOW,
    FLAVOURS,
    OBSERVABLES,
    AGCTtbarProcessor,
    chi2_histograms,
    histogram_counts,
    poisson_yield,
    pull,
    run_processor,
)

CROSS_REFERENCE = "Missing cross-reference index"


@pytest.fixture(scope="module")
def agc_flash_file(tmp_path_factory: pytest.TempPathFactory, tiny_model, ttbar_file) -> Path:
    """The tiny model (trained on this spec, so with every NanoAOD field) applied to ttbar_file."""
    from flashsim.bundle import load_bundle
    from flashsim.run import run_file

    output = tmp_path_factory.mktemp("agc") / "flash.root"
    run_file(load_bundle(tiny_model), ttbar_file, output, seed=1, progress=False)
    return output


@pytest.fixture(scope="module")
def agc_runs(ttbar_file, agc_flash_file) -> dict[str, dict]:
    """label -> the processor's output, the warnings raised and the branches coffea read."""
    runs = {}
    for label, path in (("full", ttbar_file), ("flash", agc_flash_file)):
        log: list = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            output = run_processor(path, AGCTtbarProcessor(), access_log=log)
        runs[label] = {
            "path": path,
            "output": output,
            "warnings": [str(w.message) for w in caught],
            "read": {entry.branch for entry in log},
        }
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("label", ["full", "flash"])
def test_no_schema_warnings_about_the_fields_used(agc_runs, label):
    messages = agc_runs[label]["warnings"]
    # coffea names each cross-reference of its built-in list that the file lacks (Jet_muonIdx1,
    # Photon_jetIdx, ...): expected, as long as none is a branch the processor uses
    other = [m for m in messages if CROSS_REFERENCE not in m]
    assert not other, other
    about_used = [m for m in messages if any(b in m.split() for b in BRANCHES)]
    assert not about_used, about_used


@pytest.mark.slow
@pytest.mark.parametrize("label", ["full", "flash"])
def test_cutflow_is_consistent(agc_runs, label):
    output = agc_runs[label]["output"]
    cutflow = output["cutflow"]
    with uproot.open(agc_runs[label]["path"]) as file:
        assert cutflow["events"] == file["Events"].num_entries
    assert list(cutflow) == list(CUTFLOW)
    assert cutflow["one_lepton"] <= cutflow["events"]
    assert cutflow["4j"] <= cutflow["one_lepton"]
    assert cutflow["4j1b"] + cutflow["4j2b"] <= cutflow["4j"]
    hists = output["hists"]
    assert set(hists) == set(OBSERVABLES)
    # every selected event in exactly one bin (under- and overflow included)
    assert histogram_counts(hists["njet"]).sum() == cutflow["one_lepton"]
    assert histogram_counts(hists["nbtag"]).sum() == cutflow["one_lepton"]
    assert histogram_counts(hists["njet"])[1 + 4 :].sum() == cutflow["4j"]  # bins 4, 5, ...
    assert histogram_counts(hists["4j1b_ht"]).sum() == cutflow["4j1b"]
    assert histogram_counts(hists["4j2b_trijet_mass"]).sum() == cutflow["4j2b"]
    assert sum(output["btag_by_flavour"].values()) <= sum(output["jets_by_flavour"].values())
    assert sum(output["jets_by_flavour"].values()) <= output["jets_selected"]
    assert 0 <= output["jets_gen_matched"] <= output["jets_selected"]


@pytest.mark.slow
def test_every_branch_read_exists_in_both_files(agc_runs):
    for label, run in agc_runs.items():
        assert run["read"], label
        assert run["read"] <= set(BRANCHES), (label, run["read"] - set(BRANCHES))
    for run in agc_runs.values():
        with uproot.open(run["path"]) as file:
            keys = set(file["Events"].keys())
        missing = set(BRANCHES) - keys
        assert not missing, (run["path"], sorted(missing))


@pytest.mark.slow
def test_truth_labels_are_usable_on_the_full_file(agc_runs):
    """The flavour labels tell the b tag's job: true b jets pass it far more often than light
    ones (22 of 31 against 2 of 58 in this sample), and selected jets have a generator jet."""
    output = agc_runs["full"]["output"]
    tagged, jets = output["btag_by_flavour"], output["jets_by_flavour"]
    assert set(tagged) == set(jets) == set(FLAVOURS)
    assert min(jets[5], jets[0]) >= 20, jets  # enough jets in the one-lepton events for rates
    b_rate, light_rate = tagged[5] / jets[5], tagged[0] / jets[0]
    assert b_rate > 0.5, (tagged, jets)
    assert b_rate > 10 * light_rate, (tagged, jets)
    assert output["jets_gen_matched"] > 0.8 * output["jets_selected"]


@pytest.mark.slow
def test_benchmark_script_runs_on_both_files(agc_runs, tmp_path, capsys):
    import agc_ttbar

    out = tmp_path / "agc.json"
    full, flash = agc_runs["full"]["path"], agc_runs["flash"]["path"]
    assert agc_ttbar.main([str(full), str(flash), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "4j2b_trijet_mass" in printed
    result = json.loads(out.read_text())
    assert set(result["cutflow"]) == set(CUTFLOW)
    for step in CUTFLOW:
        row = result["cutflow"][step]
        assert row["full"] == agc_runs["full"]["output"]["cutflow"][step]
        assert row["flash"] == agc_runs["flash"]["output"]["cutflow"][step]
    assert set(result["observables"]) == set(OBSERVABLES)
    assert result["inputs"]["flash_replicas"] == 1


# ---------------------------------------------------------------------- statistics helpers


def test_chi2_of_identical_histograms_is_zero():
    counts = np.array([0, 3, 10, 40, 25, 7, 0, 1])
    for normalised in (False, True):
        res = chi2_histograms(counts, counts, normalised=normalised)
        assert res.chi2 == 0
        assert res.p == pytest.approx(1.0)
    # bins empty in both never count
    assert chi2_histograms(counts, counts).ndf == 6
    assert chi2_histograms(counts, counts, normalised=True).ndf == 5


def test_chi2_of_poisson_samples_of_one_shape_is_about_ndf_and_large_for_a_shift():
    expected = 200 * np.exp(-0.5 * ((np.arange(20) - 9.5) / 4.0) ** 2) + 2
    shifted = 200 * np.exp(-0.5 * ((np.arange(20) - 11.5) / 4.0) ** 2) + 2
    same_abs, same_shape, shift_abs, shift_shape = [], [], [], []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        a, b, c = rng.poisson(expected), rng.poisson(expected * 0.5), rng.poisson(shifted)
        same_abs.append(chi2_histograms(a, rng.poisson(expected)).chi2_ndf)
        # half the events at twice the weight: same expected yields
        same_abs.append(chi2_histograms(a, b, scale_b=2.0).chi2_ndf)
        same_shape.append(chi2_histograms(a, b, normalised=True).chi2_ndf)
        shift_abs.append(chi2_histograms(a, c))
        shift_shape.append(chi2_histograms(a, c, normalised=True))
    assert 0.8 < np.mean(same_abs) < 1.2
    assert 0.8 < np.mean(same_shape) < 1.2
    assert min(r.chi2_ndf for r in shift_abs + shift_shape) > 5
    assert max(r.p for r in shift_abs + shift_shape) < 1e-6


def test_chi2_handles_empty_histograms_and_one_sided_bins():
    empty = chi2_histograms([0, 0, 0], [0, 0, 0])
    assert empty.ndf == 0
    assert math.isnan(empty.p)
    assert math.isnan(empty.chi2_ndf)
    assert math.isnan(chi2_histograms([0, 0], [3, 4], normalised=True).p)
    # a bin with entries in only one sample: its χ² term is that count (σ² = count)
    res = chi2_histograms([4, 0], [4, 9])
    assert res.chi2 == pytest.approx(9.0)
    assert res.ndf == 2
    with pytest.raises(ValueError, match="shape"):
        chi2_histograms([1, 2], [1, 2, 3])


def test_yields_and_pulls():
    assert poisson_yield(100) == (100, 10)
    assert poisson_yield(100, 0.5) == (50, 5)
    assert poisson_yield(0) == (0, 0)
    assert pull(100, 10, 100, 10) == 0
    assert pull(120, 6, 112, 8) == pytest.approx(0.8)
    assert pull(0, 0, 0, 0) == 0
    assert pull(5, math.sqrt(5), 0, 0) == pytest.approx(math.sqrt(5))
    # pulls of two Poisson samples of one mean: mean 0, spread 1
    rng = np.random.default_rng(1)
    pulls = [pull(*poisson_yield(x), *poisson_yield(y)) for x, y in rng.poisson(400, (2000, 2))]
    assert abs(np.mean(pulls)) < 0.08
    assert np.std(pulls) == pytest.approx(1.0, abs=0.06)

"""End to end: train a tiny pipeline on refsim ttbar, run it, read the output like an analyst.

The model is tiny (two epochs), so these tests check the mechanics (layout, matching indices,
determinism, readers, errors), not fidelity; the fidelity numbers come from
``benchmarks/pipeline_fidelity.py`` on large held-out samples.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot
from readers import assert_readable_by_coffea, assert_readable_by_root

from flashsim.bundle import load_bundle
from flashsim.exceptions import InputError, OutputError
from flashsim.io import read_provenance
from flashsim.runner import REPLICA_BRANCH, SOURCE_BRANCH, run_file
from flashsim.validation.validate import validate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(tiny_model):
    return load_bundle(tiny_model)


@pytest.fixture(scope="module")
def flash_file(pipeline, ttbar_file, tmp_path_factory):
    path = tmp_path_factory.mktemp("flash") / "reco.root"
    run_file(pipeline, ttbar_file, path, seed=5, step_size=250, progress=False)
    return path


def _arrays(path) -> ak.Array:
    with uproot.open(path) as f:
        return f["Events"].arrays()


def test_output_layout(flash_file, ttbar_file):
    out = _arrays(flash_file)
    gen = _arrays(ttbar_file)
    assert len(out) == len(gen)
    np.testing.assert_array_equal(out.event, gen.event)
    np.testing.assert_array_equal(ak.flatten(out.GenJet_pt), ak.flatten(gen.GenJet_pt))
    for name in ("nJet", "Jet_pt", "Jet_genJetIdx", "Jet_btagDeepFlavB", "nMuon", "Muon_tightId"):
        assert name in out.fields
    assert "MET_pt" in out.fields
    assert "PV_npvs" in out.fields
    # Sorted by pT, above the reco threshold, genJetIdx inside GenJet or -1 (pile-up jets).
    assert ak.all(out.Jet_pt[:, :-1] >= out.Jet_pt[:, 1:])
    assert ak.all(out.Jet_pt >= 15.0)
    idx = out.Jet_genJetIdx
    assert ak.all((idx >= -1) & (idx < out.nGenJet))
    assert ak.any(idx == -1)
    assert ak.all(ak.num(out.Muon_pt) == out.nMuon)
    # Matched muons point to generated muons, with the charge of the generated particle;
    # unmatched ones (decays in flight, when the spec has muon fakes) have -1.
    matched = out.Muon_genPartIdx >= 0
    assert ak.all(out.Muon_genPartIdx >= -1)
    mu_gen = out.GenPart_pdgId[out.Muon_genPartIdx[matched]]
    assert ak.all(abs(mu_gen) == 13)
    assert ak.all(out.Muon_charge[matched] == -np.sign(mu_gen))
    assert set(np.unique(ak.flatten(out.Muon_charge))) <= {-1, 1}
    fractions = out.Jet_chHEF + out.Jet_neHEF + out.Jet_chEmEF + out.Jet_neEmEF + out.Jet_muEF
    np.testing.assert_allclose(ak.flatten(fractions), 1.0, atol=1e-5)


def test_matched_jets_follow_their_gen_jet(flash_file):
    out = _arrays(flash_file)
    matched = out.Jet_genJetIdx >= 0
    gen_pt = out.GenJet_pt[out.Jet_genJetIdx[matched]]
    ratio = ak.flatten(out.Jet_pt[matched] / gen_pt)
    assert 0.5 < np.median(ratio) < 1.5


def test_provenance(flash_file):
    record = read_provenance(flash_file)
    assert record["seed"] == 5
    assert record["input_events"] == 600
    assert record["counters"]["Jet"]["generated"] > 0


def test_readers(flash_file):
    """coffea NanoAODSchema (incl. ``Jet.matched_gen``, ``Muon.matched_gen``) and RDataFrame."""
    assert_readable_by_coffea(flash_file)
    assert_readable_by_root(flash_file)


def test_same_seed_same_output_and_other_seed_differs(pipeline, ttbar_file, flash_file, tmp_path):
    again = tmp_path / "again.root"
    other = tmp_path / "other.root"
    run_file(pipeline, ttbar_file, again, seed=5, step_size=250, progress=False)
    run_file(pipeline, ttbar_file, other, seed=6, step_size=250, progress=False)
    first, second, third = _arrays(flash_file), _arrays(again), _arrays(other)
    for name in ("Jet_pt", "Muon_pt", "MET_pt", "Jet_btagDeepFlavB"):
        assert ak.all(first[name] == second[name]), name
    assert ak.to_list(first.Jet_pt) != ak.to_list(third.Jet_pt)


def test_oversample_groups_replicas(pipeline, ttbar_file, tmp_path):
    path = tmp_path / "over.root"
    run_file(pipeline, ttbar_file, path, seed=1, oversample=3, max_events=50, progress=False)
    out = _arrays(path)
    assert len(out) == 150
    np.testing.assert_array_equal(out[SOURCE_BRANCH], np.repeat(np.arange(50), 3))
    np.testing.assert_array_equal(out[REPLICA_BRANCH], np.tile(np.arange(3), 50))
    np.testing.assert_array_equal(out.event[::3], out.event[1::3])
    # Replicas share the gen event but not the simulated response.
    assert not ak.all(out.MET_pt[::3] == out.MET_pt[1::3])


def test_replicas_equal_the_replicated_events(pipeline, ttbar_file):
    """--oversample computes the gen-side features once; the output is as if the events had
    been replicated before the simulation (same rows in the same order, same random stream)."""
    from flashsim.io import zip_collections

    with uproot.open(ttbar_file) as f:
        tree = f["Events"]
        arrays = tree.arrays(pipeline.input_branches(tree.keys()), entry_stop=80)
    replicated = zip_collections(arrays[np.repeat(np.arange(80), 4)])
    want, want_counts = pipeline.apply(replicated, np.random.default_rng(9))
    got, got_counts = pipeline.apply(zip_collections(arrays), np.random.default_rng(9), replicas=4)
    assert got_counts == want_counts
    assert set(got) == set(want)
    for name, values in want.items():
        assert ak.array_equal(got[name], values), name


def test_loaded_bundle_reproduces_in_memory_pipeline(tiny_model, ttbar_file, tmp_path):
    a, b = tmp_path / "a.root", tmp_path / "b.root"
    run_file(load_bundle(tiny_model), ttbar_file, a, seed=3, max_events=100, progress=False)
    run_file(load_bundle(tiny_model), ttbar_file, b, seed=3, max_events=100, progress=False)
    assert ak.all(_arrays(a).Jet_pt == _arrays(b).Jet_pt)


def test_fidelity_metrics_run_on_flash_output(pipeline, flash_file, ttbar_file):
    result = validate(pipeline.spec, flash_file, ttbar_file, collections=["Jet"])
    jet = result.metrics["collections"]["Jet"]
    assert 0.0 <= jet["auc"]["value"] <= 1.0
    assert set(jet["targets"]) >= {"pt", "eta", "btagDeepFlavB"}
    assert jet["efficiency"]["reco_pt"]["ndf"] > 0


def test_missing_branch_is_named(pipeline, tmp_path):
    path = tmp_path / "nogenjet.root"
    with uproot.recreate(path) as f:
        f.mktree("Events", {"run": np.int32, "GenJet_pt_": np.float32})
        f["Events"].extend({"run": np.zeros(3, np.int32), "GenJet_pt_": np.ones(3, np.float32)})
    with pytest.raises(InputError, match=r"GenJet_pt'.*did you mean 'GenJet_pt_'"):
        run_file(pipeline, path, tmp_path / "out.root", progress=False)
    assert list(tmp_path.iterdir()) == [path]


def test_existing_output_needs_overwrite(pipeline, ttbar_file, tmp_path):
    out = tmp_path / "exists.root"
    out.write_bytes(b"precious")
    with pytest.raises(OutputError, match="--overwrite"):
        run_file(pipeline, ttbar_file, out, progress=False)
    assert out.read_bytes() == b"precious"


class _NormalResponse:
    """A response stand-in: one target ~ N(context[:, 0], 1); counts the rows of each call."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def apply(self, conditions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        self.calls.append(len(conditions))
        return rng.normal(conditions[:, :1], 1.0)


def test_rejection_sampling_draws_the_truncated_distribution() -> None:
    from scipy import stats

    from flashsim.pipeline import MAX_RESAMPLING_ROUNDS, sample_above_thresholds
    from flashsim.spec import Target

    targets = [Target("pt", "value", (), select_min=1.0)]
    context = np.zeros((20_000, 1))
    context[-1] = -100.0  # never above the threshold
    response = _NormalResponse()
    fields = sample_above_thresholds(response, targets, context, {}, np.random.default_rng(2))
    pt = fields["pt"]
    assert (pt[:-1] >= 1.0).all()
    assert pt[-1] < 1.0
    truncated = stats.truncnorm(1.0, np.inf)
    assert abs(pt[:-1].mean() - truncated.mean()) < 4 * truncated.std() / np.sqrt(len(pt))
    assert stats.kstest(pt[:-1], truncated.cdf).pvalue > 1e-3
    assert len(response.calls) == MAX_RESAMPLING_ROUNDS + 1  # the hopeless row used every round
    assert response.calls[-1] >= 64  # one row left: many candidates in one call


def test_rejection_sampling_of_one_row_takes_one_call_per_round_needed() -> None:
    from flashsim.pipeline import sample_above_thresholds
    from flashsim.spec import Target

    targets = [Target("pt", "value", (), select_min=1.0)]
    response = _NormalResponse()
    # P(x > 1) = 16%: 64 candidates at once all fail with probability 1e-5
    fields = sample_above_thresholds(
        response, targets, np.zeros((1, 1)), {}, np.random.default_rng(3)
    )
    assert fields["pt"][0] >= 1.0
    assert len(response.calls) <= 2

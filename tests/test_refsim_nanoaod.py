"""NanoAOD v12 branches of the CMS-like reference simulation (issue #27): types and physics.

Uses the session's 600-event ttbar sample (``ttbar_file``, pile-up 25) and a small Drell-Yan
sample at high pile-up for the PUPPI MET.
"""

from __future__ import annotations

import warnings

import awkward as ak
import numpy as np
import pytest
import uproot

from flashsim.io import zip_collections
from flashsim.refsim.cms.params import CMSLikeParameters
from flashsim.refsim.generate import generate_sample

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

#: New branches and their NanoAOD v12 types as uproot names them.
NEW_BRANCHES = {
    "Jet_jetId": "uint8_t[]",
    "Jet_chMultiplicity": "uint8_t[]",
    "Jet_neMultiplicity": "uint8_t[]",
    "Jet_hadronFlavour": "uint8_t[]",
    "Jet_partonFlavour": "int16_t[]",
    "Jet_btagDeepFlavCvL": "float[]",
    "Jet_btagDeepFlavCvB": "float[]",
    "Jet_area": "float[]",
    "Jet_puIdDisc": "float[]",
    "Jet_puId": "uint8_t[]",
    "Muon_looseId": "bool[]",
    "Muon_mediumId": "bool[]",
    "Muon_tightId": "bool[]",
    "Muon_isGlobal": "bool[]",
    "Muon_isTracker": "bool[]",
    "Muon_isPFcand": "bool[]",
    "Muon_dxyErr": "float[]",
    "Muon_dzErr": "float[]",
    "Muon_ip3d": "float[]",
    "Muon_sip3d": "float[]",
    "Muon_miniPFRelIso_all": "float[]",
    "Muon_pfIsoId": "uint8_t[]",
    "Muon_tkRelIso": "float[]",
    "Muon_mass": "float[]",
    "Electron_dxyErr": "float[]",
    "Electron_dzErr": "float[]",
    "Electron_ip3d": "float[]",
    "Electron_sip3d": "float[]",
    "Electron_convVeto": "bool[]",
    "Electron_lostHits": "uint8_t[]",
    "Electron_miniPFRelIso_all": "float[]",
    "Electron_mvaIso": "float[]",
    "Electron_mvaIso_WP80": "bool[]",
    "Electron_mvaIso_WP90": "bool[]",
    "PuppiMET_pt": "float",
    "PuppiMET_phi": "float",
    "PV_npvsGood": "int32_t",
    "MET_sumEt": "float",
}


def _flat(x) -> np.ndarray:
    return ak.to_numpy(ak.flatten(x))


def _auc(signal: np.ndarray, background: np.ndarray) -> float:
    """Probability that a signal value exceeds a background value (ties count half)."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([signal, background]))
    n1, n0 = len(signal), len(background)
    return float((ranks[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


@pytest.fixture(scope="module")
def ev(ttbar_file):
    with uproot.open(ttbar_file) as f:
        return zip_collections(f["Events"].arrays())


@pytest.fixture(scope="module")
def dy_high_pileup(tmp_path_factory):
    path = tmp_path_factory.mktemp("refsim") / "dy_pu60.root"
    generate_sample(
        process="dy", n_events=300, seed=3, jobs=1, output=path, pileup=60, progress=False
    )
    with uproot.open(path) as f:
        return zip_collections(f["Events"].arrays())


def _prompt(ev, coll: str) -> ak.Array:
    """Leptons matched to a prompt GenPart (statusFlags bit 0)."""
    lep = ev[coll]
    matched = lep.genPartIdx >= 0
    flags = ev.GenPart.statusFlags[ak.where(matched, lep.genPartIdx, 0)]
    return matched & ((flags & 1) > 0)


def test_new_branches_have_nanoaod_types(ttbar_file):
    with uproot.open(ttbar_file) as f:
        tree = f["Events"]
        assert "Electron_tightId" not in tree
        for name, typename in NEW_BRANCHES.items():
            assert name in tree, name
            assert tree[name].typename == typename, (name, tree[name].typename)
        mass = tree["Muon_mass"].array()
        assert ak.all(mass == np.float32(0.1056584))


def test_jet_id(ev):
    jet = ev.Jet
    jet_id = _flat(jet.jetId)
    pt, eta = _flat(jet.pt), _flat(jet.eta)
    matched = _flat(jet.genJetIdx >= 0)
    assert set(np.unique(jet_id)) <= {0, 2, 6}
    central = matched & (np.abs(eta) < 2.4) & (pt > 30)
    assert central.sum() > 500
    assert ((jet_id[central] & 2) > 0).mean() > 0.9
    # the lepton veto removes jets made of a muon or an electron
    leptonic = ((_flat(jet.muEF) > 0.8) | (_flat(jet.chEmEF) > 0.8)) & (np.abs(eta) < 2.7)
    assert leptonic.sum() > 10
    assert not np.any(jet_id[leptonic] & 4)
    clean = (jet_id & 2 > 0) & ~leptonic & (np.abs(eta) < 2.7)
    assert np.all(jet_id[clean] & 4)
    # multiplicities are the constituent counts
    assert ak.all(jet.chMultiplicity + jet.neMultiplicity == jet.nConstituents)


def test_flavour_copied_from_matched_gen_jet(ev):
    jet = ev.Jet
    matched = jet.genJetIdx >= 0
    gen = ev.GenJet[jet.genJetIdx[matched]]
    assert ak.all(jet.hadronFlavour[matched] == gen.hadronFlavour)
    assert ak.all(jet.partonFlavour[matched] == gen.partonFlavour)
    assert ak.all(jet.hadronFlavour[~matched] == 0)
    assert ak.all(jet.partonFlavour[~matched] == 0)
    assert ak.sum(jet.hadronFlavour == 5) > 100


def test_charm_tagger(ev):
    jet = ev.Jet
    sel = (jet.genJetIdx >= 0) & (abs(jet.eta) < 2.4) & (jet.pt > 20)
    flav = _flat(jet.hadronFlavour[sel])
    cvl, cvb = _flat(jet.btagDeepFlavCvL[sel]), _flat(jet.btagDeepFlavCvB[sel])
    b, c, light = flav == 5, flav == 4, flav == 0
    assert c.sum() > 100
    assert np.all((cvl >= 0) & (cvl <= 1) & (cvb >= 0) & (cvb <= 1))
    assert cvl[c].mean() > cvl[light].mean() + 0.1
    assert cvb[c].mean() > cvb[b].mean() + 0.1
    assert _auc(cvl[c], cvl[light]) > 0.65
    assert _auc(cvb[c], cvb[b]) > 0.65


def test_jet_area(ev):
    area = _flat(ev.Jet.area[(abs(ev.Jet.eta) < 2.0) & (ev.Jet.pt > 30)])
    assert 0.42 < np.median(area) < 0.6  # pi R^2 = 0.50
    assert np.all(area > 0)


def test_ghosts_do_not_change_the_jets():
    from dataclasses import replace

    from flashsim.refsim.cms.jets import cluster_with_ghosts, ghost_grid

    rng = np.random.default_rng(4)
    n_events, per_event = 3, 120
    evt = np.repeat(np.arange(n_events), per_event)
    cand = {
        "evt": evt,
        "pt": rng.exponential(4.0, len(evt)),
        "eta": rng.uniform(-4.0, 4.0, len(evt)),
        "phi": rng.uniform(-np.pi, np.pi, len(evt)),
        "mass": np.zeros(len(evt)),
    }
    counts = np.full(n_events, per_event)
    p = CMSLikeParameters()
    plain, _ = cluster_with_ghosts(replace(p, jet_ghost_spacing=0.0), cand, counts, n_events)
    ghosted, n_ghosts = cluster_with_ghosts(p, cand, counts, n_events)
    assert ak.sum(ak.num(plain)) > 5
    for field in ("px", "py", "pz", "E"):
        assert ak.to_list(plain[field]) == ak.to_list(ghosted[field])
    assert ak.to_list(plain.constituents) == ak.to_list(ghosted.constituents)
    area = n_ghosts * ghost_grid(p)[2]
    assert ak.all(area > 0.2)


def test_pileup_jet_id_separates_pileup_jets(ev):
    jet = ev.Jet[(ev.Jet.pt < 50) & (abs(ev.Jet.eta) < 2.5)]
    matched = _flat(jet.genJetIdx >= 0)
    disc, pu_id = _flat(jet.puIdDisc), _flat(jet.puId)
    assert (~matched).sum() > 30
    assert _auc(disc[matched], disc[~matched]) > 0.85
    assert ((pu_id[matched] & 4) > 0).mean() > 0.85
    assert ((pu_id[~matched] & 4) > 0).mean() < 0.5
    # tight implies medium implies loose; jets above 50 GeV pass all
    assert set(np.unique(pu_id)) <= {0, 4, 6, 7}
    assert ak.all(ev.Jet.puId[ev.Jet.pt >= 50] == 7)


def test_muon_ids_and_impact_parameter(ev):
    mu = ev.Muon
    assert ak.all(~mu.mediumId | mu.looseId)
    assert ak.all(~mu.looseId | (mu.isGlobal | mu.isTracker))
    assert ak.sum(mu.tightId & ~mu.mediumId) < 0.15 * ak.sum(mu.tightId)
    prompt = _prompt(ev, "Muon") & (mu.pt > 10)
    nonprompt = ~_prompt(ev, "Muon") & (mu.pt > 10)
    assert ak.sum(prompt) > 50
    assert ak.mean(mu.looseId[prompt]) > 0.95
    assert np.median(_flat(mu.sip3d[nonprompt])) > 3 * np.median(_flat(mu.sip3d[prompt]))
    assert ak.all(mu.ip3d >= np.abs(mu.dxy) * 0.999)
    iso_id = _flat(mu.pfIsoId)
    iso = _flat(mu.pfRelIso04_all)
    assert np.all((iso_id >= 1) == (iso < 0.40))
    assert np.all((iso_id >= 4) == (iso < 0.15))
    assert np.median(_flat(mu.miniPFRelIso_all[prompt])) < np.median(
        _flat(mu.miniPFRelIso_all[nonprompt])
    )
    assert np.median(_flat(mu.tkRelIso[prompt])) < np.median(_flat(mu.tkRelIso[nonprompt]))


def test_electron_ids(ev):
    ele = ev.Electron
    assert ak.all(~ele.mvaIso_WP80 | ele.mvaIso_WP90)
    assert ak.all((ele.mvaIso >= -1) & (ele.mvaIso <= 1))
    prompt = _prompt(ev, "Electron") & (ele.pt > 20)
    nonprompt = ~_prompt(ev, "Electron") & (ele.pt > 20)
    assert ak.sum(prompt) > 60
    wp90 = ak.mean(ele.mvaIso_WP90[prompt])
    wp80 = ak.mean(ele.mvaIso_WP80[prompt])
    assert 0.8 < wp90 < 0.97, wp90
    assert 0.68 < wp80 < wp90, wp80
    assert ak.mean(ele.mvaIso_WP90[nonprompt]) < 0.3
    assert np.median(_flat(ele.sip3d[nonprompt])) > 3 * np.median(_flat(ele.sip3d[prompt]))
    # conversion veto and missing hits come from the simulated tracks: not constant
    assert 0 < ak.sum(~ele.convVeto) < ak.sum(ak.num(ele))
    assert 0 < ak.sum(ele.lostHits > 0) < ak.sum(ak.num(ele))


def test_event_level_branches(ev):
    assert ak.all(ev.PV_npvsGood <= ev.PV_npvs)
    assert ak.all(ev.PV_npvsGood >= 1)
    assert ak.all(ev.MET_sumEt > ev.MET_pt)
    assert ak.all(ev.PuppiMET_pt >= 0)


def _met_resolution(ev, name: str) -> float:
    gx, gy = ev.GenMET_pt * np.cos(ev.GenMET_phi), ev.GenMET_pt * np.sin(ev.GenMET_phi)
    dx = ev[f"{name}_pt"] * np.cos(ev[f"{name}_phi"]) - gx
    dy = ev[f"{name}_pt"] * np.sin(ev[f"{name}_phi"]) - gy
    return float(np.sqrt(np.mean(np.concatenate([ak.to_numpy(dx), ak.to_numpy(dy)]) ** 2)))


def test_puppi_met_resolution_at_high_pileup(dy_high_pileup):
    pf = _met_resolution(dy_high_pileup, "MET")
    puppi = _met_resolution(dy_high_pileup, "PuppiMET")
    assert puppi < pf, (puppi, pf)


def test_coffea_derives_jet_ids_without_jet_warnings(ttbar_file):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        events = NanoEventsFactory.from_root(
            {str(ttbar_file): "Events"}, schemaclass=NanoAODSchema, mode="eager"
        ).events()
        tight = events.Jet.isTight
        veto = events.Jet.isTightLeptonVeto
        gen_pt = events.Jet.matched_gen.pt
    # coffea warns for each cross-reference of its built-in list whose index branch we do not
    # write (Jet_muonIdx1, Electron_jetIdx, ...; see tests/readers.py): those are expected
    jet_warnings = [
        str(w.message)
        for w in caught
        if "Jet" in str(w.message) and "Missing cross-reference index" not in str(w.message)
    ]
    assert not jet_warnings, jet_warnings
    with uproot.open(ttbar_file) as f:
        jet_id = f["Events"]["Jet_jetId"].array()
        idx = f["Events"]["Jet_genJetIdx"].array()
    assert ak.to_list(tight) == ak.to_list((jet_id & 2) > 0)
    assert ak.to_list(veto) == ak.to_list((jet_id & 4) > 0)
    assert ak.to_list(ak.is_none(gen_pt, axis=1)) == ak.to_list(idx < 0)


def test_root_reads_the_new_branches(ttbar_file):
    root = pytest.importorskip("ROOT")
    frame = root.RDataFrame("Events", str(ttbar_file))
    types = {
        "Jet_jetId": "UChar_t",
        "Jet_partonFlavour": "Short_t",
        "Muon_mediumId": "Bool_t",
        "Electron_mvaIso_WP90": "Bool_t",
        "Jet_area": "Float_t",
    }
    for name, ctype in types.items():
        assert ctype in str(frame.GetColumnType(name)), (name, frame.GetColumnType(name))
    assert str(frame.GetColumnType("PV_npvsGood")) == "Int_t"
    with uproot.open(ttbar_file) as f:
        tree = f["Events"]
        n_tight = int(ak.sum((tree["Jet_jetId"].array() & 2) > 0))
        n_medium = int(ak.sum(tree["Muon_mediumId"].array()))
        sum_et = float(np.sum(tree["MET_sumEt"].array(library="np"), dtype=np.float64))
    counted = frame.Define("n_tight", "Sum((Jet_jetId & 2) > 0)").Sum("n_tight")
    medium = frame.Define("n_medium", "Sum(Muon_mediumId)").Sum("n_medium")
    assert counted.GetValue() == n_tight
    assert medium.GetValue() == n_medium
    assert frame.Sum("MET_sumEt").GetValue() == pytest.approx(sum_et, rel=1e-6)


def test_pairs_within_matches_brute_force():
    from flashsim.generators.kinematics import delta_r, pairs_within

    rng = np.random.default_rng(1)
    n, m = 400, 300
    evt, q_evt = np.sort(rng.integers(0, 4, n)), np.sort(rng.integers(0, 4, m))
    eta, q_eta = rng.uniform(-5, 5, n), rng.uniform(-5, 5, m)
    phi, q_phi = rng.uniform(-np.pi, np.pi, n), rng.uniform(-np.pi, np.pi, m)
    got = set()
    for q, s, _ in pairs_within(q_evt, q_eta, q_phi, evt, eta, phi, 0.4, chunk=50):
        got |= set(zip(q.tolist(), s.tolist(), strict=True))
    expected = {
        (i, j)
        for i in range(m)
        for j in range(n)
        if q_evt[i] == evt[j] and delta_r(q_eta[i], q_phi[i], eta[j], phi[j]) < 0.4
    }
    assert len(expected) > 100
    assert got == expected


def test_derived_fields_follow_from_the_stored_ones(ttbar_file):
    """What the flash pipeline derives (flashsim.nanoaod) reproduces the reference exactly from
    the stored (float32) fields: CvB bit for bit (a 1-ulp offset at the no-track default was a
    perfect tell), nConstituents, the leptons' ip3d and sip3d, and jetId and pfIsoId up to a
    value on a cut's float32 edge."""
    from flashsim.nanoaod import DERIVED_FIELDS, charm_vs_b, jet_id_bits, pf_iso_id

    with uproot.open(ttbar_file) as f:
        ev = f["Events"].arrays()
    names = ["btagDeepFlavB", "btagDeepFlavCvL", "btagDeepFlavCvB", "nConstituents", "jetId"]
    names += ["eta", "chMultiplicity", "neMultiplicity", "chHEF", "neHEF", "chEmEF", "neEmEF"]
    j = {k: ak.to_numpy(ak.flatten(ev[f"Jet_{k}"])) for k in [*names, "muEF"]}
    cvb = charm_vs_b(j["btagDeepFlavB"], j["btagDeepFlavCvL"]).astype(np.float32)
    np.testing.assert_array_equal(cvb, j["btagDeepFlavCvB"])
    n = j["chMultiplicity"].astype(int) + j["neMultiplicity"].astype(int)
    np.testing.assert_array_equal(np.minimum(n, 255), j["nConstituents"])
    jet_id = jet_id_bits(j["eta"], j, j["chMultiplicity"], j["neMultiplicity"])
    assert np.mean(jet_id == j["jetId"]) > 0.999
    iso = ak.to_numpy(ak.flatten(ev.Muon_pfRelIso04_all))
    assert np.mean(pf_iso_id(iso) == ak.to_numpy(ak.flatten(ev.Muon_pfIsoId))) > 0.999
    for lepton in ("Muon", "Electron"):
        keys = ["dxy", "dz", "eta", "dxyErr", "dzErr"]
        f = {k: ak.to_numpy(ak.flatten(ev[f"{lepton}_{k}"])) for k in keys}
        assert len(f["dxy"]) > 20
        assert np.all(f["dxyErr"] > 0)
        assert np.all(f["dzErr"] > 0)
        for name in ("ip3d", "sip3d"):
            stored = ak.to_numpy(ak.flatten(ev[f"{lepton}_{name}"]))
            np.testing.assert_array_equal(DERIVED_FIELDS[name][1](f), stored)

"""Physics sanity and behaviour of the reference simulation (Pythia 8 + CMS-like detector).

Samples are small (a few hundred events) and seeded; the cuts are the acceptance bars of the
reference-samples issue and can fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import awkward as ak
import numpy as np
import pytest
import uproot

from flashsim.generators.kinematics import delta_r
from flashsim.io import read_provenance, zip_collections
from flashsim.refsim.generate import generate_sample
from flashsim.refsim.sanity import (
    btag_auc,
    jet_response,
    lepton_isolation,
    matched_jets,
    muon_resolution,
)

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")


def _read(path) -> ak.Array:
    with uproot.open(path) as f:
        return zip_collections(f["Events"].arrays())


@pytest.fixture(scope="session")
def dy_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("refsim") / "dy.root"
    generate_sample(process="dy", n_events=400, seed=12, jobs=1, output=path, progress=False)
    return path


@pytest.fixture(scope="session")
def ttbar(ttbar_file):
    return _read(ttbar_file)


def test_branches_are_nanoaod(ttbar, ttbar_file):
    with uproot.open(ttbar_file) as f:
        branches = set(f["Events"].keys())
    for name in (
        "run",
        "luminosityBlock",
        "event",
        "genWeight",
        "Pileup_nTrueInt",
        "GenMET_pt",
        "GenMET_phi",
        "MET_pt",
        "MET_phi",
        "nJet",
        "Jet_btagDeepFlavB",
        "Jet_genJetIdx",
        "GenJet_hadronFlavour",
        "GenJet_partonFlavour",
        "GenPart_genPartIdxMother",
        "Muon_pfRelIso04_all",
        "Muon_tightId",
        "Muon_dxy",
        "Electron_pfRelIso04_all",
        "Electron_genPartIdx",
    ):
        assert name in branches, name
    assert len(ttbar) == 600
    assert np.array_equal(ak.to_numpy(ttbar.event), np.arange(1, 601))
    assert ak.all(ttbar.GenJet.pt > 10)
    assert ak.all(ttbar.Jet.pt > 15)
    assert ak.all(ttbar.Jet.pt[:, :-1] >= ttbar.Jet.pt[:, 1:])  # sorted by pT


def test_jet_response_and_resolution(ttbar):
    resp = jet_response(ttbar)
    assert 0.85 <= resp["median_above_50"] <= 1.1
    counts = [n for _, _, n, _ in resp["resolution"]]
    widths = [w for _, _, _, w in resp["resolution"]]
    assert min(counts) > 50
    assert widths[0] > widths[1] > widths[2], widths


def test_muon_resolution(dy_file):
    ev = _read(dy_file)
    mu = ev.Muon[ev.Muon.genPartIdx >= 0]
    assert ak.all(abs(ev.GenPart[mu.genPartIdx].pdgId) == 13)
    n, width = muon_resolution(ev)
    assert n > 100
    assert 0.01 <= width <= 0.05


def test_btag_separates_b_from_light(ttbar):
    n_b, n_light, auc = btag_auc(ttbar)
    assert n_b > 100
    assert n_light > 100
    assert auc > 0.8


def test_isolation_larger_in_jets(ttbar, dy_file):
    iso = [lepton_isolation(ev) for ev in (ttbar, _read(dy_file))]
    prompt_iso = np.concatenate([i[True] for i in iso])
    nonprompt_iso = np.concatenate([i[False] for i in iso])
    assert len(prompt_iso) > 100
    assert len(nonprompt_iso) > 20
    assert np.median(nonprompt_iso) > 3 * np.median(prompt_iso)


def test_gen_links_point_to_the_right_objects(ttbar):
    jets, gen = matched_jets(ttbar)
    assert ak.all(delta_r(jets.eta, jets.phi, gen.eta, gen.phi) < 0.2)
    # an electron from a photon conversion points to its photon (#24)
    for coll, pdgs in (("Muon", (13,)), ("Electron", (11, 22))):
        lep = ttbar[coll][ttbar[coll].genPartIdx >= 0]
        gp = ttbar.GenPart[lep.genPartIdx]
        assert np.all(np.isin(abs(ak.to_numpy(ak.flatten(gp.pdgId))), pdgs))
        assert ak.all(delta_r(lep.eta, lep.phi, gp.eta, gp.phi) < 0.2)
    mothers = ttbar.GenPart.genPartIdxMother
    assert ak.all(mothers < ak.num(ttbar.GenPart))
    assert ak.all(mothers >= -1)


def test_unmatched_reco_objects_come_from_the_simulation(ttbar):
    assert ak.sum(ttbar.Jet.genJetIdx < 0) > 0  # pile-up jets
    assert ak.sum(ttbar.Muon.genPartIdx < 0) > 0  # decays in flight, punch-through, pile-up


def test_readable_by_coffea_and_root(ttbar_file):
    import readers

    readers.assert_readable_by_coffea(ttbar_file)
    readers.assert_readable_by_root(ttbar_file)


def test_provenance(ttbar_file):
    prov = read_provenance(ttbar_file)
    assert prov["process"] == "ttbar"
    assert prov["seed"] == 11
    assert prov["n_events"] == 600


def test_same_seed_same_output_whatever_the_jobs(tmp_path):
    kw = {"process": "dy", "n_events": 20, "pileup": 3.0, "progress": False, "block_size": 10}
    generate_sample(seed=5, jobs=1, output=tmp_path / "a.root", **kw)
    generate_sample(seed=5, jobs=2, output=tmp_path / "b.root", **kw)
    generate_sample(seed=6, jobs=1, output=tmp_path / "c.root", **kw)
    a, b, c = (_read(tmp_path / f"{x}.root") for x in "abc")
    assert a.fields == b.fields
    for field in a.fields:
        assert ak.array_equal(a[field], b[field]), field
    assert not ak.array_equal(a.GenJet.pt, c.GenJet.pt)


def test_qcd_pthat_threshold(tmp_path):
    path = tmp_path / "qcd.root"
    generate_sample(
        process="qcd",
        n_events=10,
        seed=3,
        jobs=1,
        output=path,
        pileup=0.0,
        progress=False,
        pthat_min=200.0,
    )
    ev = _read(path)
    assert ak.all(ev.Generator_binvar >= 200.0)
    assert ak.all(ev.Pileup_nPU == 0)


def test_interrupted_generation_leaves_no_file(tmp_path):
    out = tmp_path / "big.root"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flashsim",
            "refsim",
            "generate",
            "--process",
            "ttbar",
            "-n",
            "100000",
            "-o",
            str(out),
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(6)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--process", "zz", "-n", "5", "-o", "x.root"], "zz"),
        (["--process", "ttbar", "-n", "0", "-o", "x.root"], "0"),
        (["--process", "ttbar", "-n", "5", "-o", "/nonexistent/dir/x.root"], "/nonexistent"),
    ],
)
def test_bad_input_gives_one_clear_line(args, needle, tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "flashsim", "refsim", "generate", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert needle in res.stderr
    assert not (tmp_path / "x.root").exists()


def test_gen_only_keeps_the_generator_branches_of_the_same_events(tmp_path):
    full, gen = tmp_path / "full.root", tmp_path / "gen.root"
    for path, gen_only in ((full, False), (gen, True)):
        generate_sample(
            process="dy",
            n_events=20,
            seed=3,
            jobs=1,
            output=path,
            progress=False,
            gen_only=gen_only,
        )
    with uproot.open(full) as f_full, uproot.open(gen) as f_gen:
        full_keys, gen_keys = set(f_full["Events"].keys()), set(f_gen["Events"].keys())
        assert gen_keys < full_keys
        assert {"nGenJet", "GenPart_pdgId", "GenMET_pt", "Pileup_nTrueInt", "event"} <= gen_keys
        assert not any(k.startswith(("Jet_", "Muon_", "MET_", "PV_", "Rho_")) for k in gen_keys)
        for key in ("GenJet_pt", "GenPart_pdgId", "event"):
            assert ak.all(f_full["Events"][key].array() == f_gen["Events"][key].array())


@pytest.mark.parametrize(
    "old",
    [
        "cms_params",
        "detector_cms",
        "jets",
        "leptons",
        "lepton_reco",
        "met",
        "pfcand",
        "reco_objects",
    ],
)
def test_deprecated_cms_modules_re_export_the_cms_package(old):
    import importlib
    import pkgutil

    import flashsim.refsim.cms as cms

    modules = [cms] + [
        importlib.import_module(f"flashsim.refsim.cms.{info.name}")
        for info in pkgutil.iter_modules(cms.__path__)
    ]
    shim = importlib.import_module(f"flashsim.refsim.{old}")
    assert shim.__doc__.startswith("Deprecated location, kept for one release")
    assert shim.__all__
    for name in shim.__all__:
        assert not name.startswith("_")
        assert any(getattr(m, name, None) is getattr(shim, name) for m in modules), name


def test_tagger_veto_takes_conversion_legs_not_prompt_pairs() -> None:
    """The b/c taggers' conversion veto (#24): two parallel opposite-charge tracks that both bend
    away from the beam line (q d0 < 0, a vertex at r > 0) are vetoed; the same pair with one
    impact parameter on the prompt side, or opening a mass above 20 MeV, is not."""
    from flashsim.refsim.cms.lepton_reco import displaced_pair_legs
    from flashsim.refsim.cms.params import CMSLikeParameters

    p = CMSLikeParameters()
    # three pairs in three events: a conversion, a prompt-like pair, a massive pair
    q = np.array([-1, 1, -1, 1, -1, 1])
    d0 = np.array([0.03, -0.02, 0.03, 0.02, 0.03, -0.02])  # cm; q d0 < 0 is outward
    phi = np.array([0.5, 0.5005, 1.0, 1.0005, 2.0, 2.04])
    trk = {
        "found": np.ones(6, bool),
        "pt": np.full(6, 3.0),
        "eta": np.full(6, 0.3),
        "phi": phi,
        "q": q,
        "d0": d0,
        "dz": np.zeros(6),
        "lost": np.zeros(6, dtype=np.int64),
        "from_pv": np.ones(6, bool),
    }
    part = {"evt": np.array([0, 0, 1, 1, 2, 2])}
    veto = displaced_pair_legs(p, part, trk)
    assert veto.tolist() == [True, True, False, False, False, False]
    # a track with a missing inner hit is not one the taggers use: nothing to veto
    trk["lost"] = np.array([1, 1, 0, 0, 0, 0])
    assert not displaced_pair_legs(p, part, trk)[:2].any()


def test_identified_conversion_legs_become_photon_candidates() -> None:
    """Particle flow (#24): two paired legs with a missing inner hit are a conversion, kept as
    tracks (their deposits explained) and flagged ``conversion``, which particle flow makes
    neutral photons of, with the tracks' momenta; a prompt track stays a charged hadron."""
    from flashsim.refsim.cms.lepton_reco import tracks_for_particle_flow
    from flashsim.refsim.cms.params import CMSLikeParameters
    from flashsim.refsim.cms.particle_flow import particle_flow
    from flashsim.refsim.cms.pfcand import CH_HAD, PHOTON

    p = CMSLikeParameters()
    n = 3
    trk = {
        "found": np.ones(n, bool),
        "pt": np.array([4.0, 2.0, 10.0]),
        "eta": np.array([0.3, 0.3, -1.0]),
        "phi": np.array([0.5, 0.5005, 2.0]),
        "q": np.array([-1, 1, 1]),
        "d0": np.array([0.01, -0.02, 0.001]),
        "sd0": np.full(n, 0.005),
        "dz": np.zeros(n),
        "lost": np.array([1, 1, 0]),
        "pixel": np.array([3, 3, 4]),
        "from_pv": np.ones(n, bool),
    }
    part = {"evt": np.zeros(n, dtype=np.int64), "pt": trk["pt"]}
    no_ele = {k: np.zeros(0, dtype=int) for k in ("index", "evt", "pt", "eta", "phi", "dz", "d0")}
    trk_pf = tracks_for_particle_flow(p, part, trk, no_ele)
    assert trk_pf["found"].all()
    assert trk_pf["conversion"].tolist() == [True, True, False]
    no_mu = {k: np.zeros(0, dtype=int) for k in ("index", "evt", "pt", "eta", "phi", "dz", "d0")}
    no_mu["pf"] = np.zeros(0, bool)
    no_cells = {k: np.zeros(0) for k in ("energy", "expected", "variance", "threshold", "eta")}
    no_cells.update({k: np.zeros(0, dtype=np.int64) for k in ("layer", "tower", "evt")})
    no_cells["used"] = np.zeros(0, bool)
    no_cells["phi"] = np.zeros(0)
    pf = particle_flow(p, part, trk_pf, no_cells, no_ele, no_mu)
    photons = pf["kind"] == PHOTON
    assert sorted(pf["pt"][photons].tolist()) == [2.0, 4.0]
    assert not pf["charged"][photons].any()
    assert pf["kind"][pf["pt"] == 10.0].tolist() == [CH_HAD]

"""Photons, photon conversions and electrons faked by jets in the reference simulation.

Small seeded samples: 300 gg -> H -> gamma gamma events (pile-up 25) for prompt photons, the
session's 600 ttbar events (``ttbar_file``) for photons from pi0 decays and for the fakes, and 500
QCD dijet events for the fake rates and jet links without prompt leptons. The
cuts are physics sanity bars (data/README.md documents the numbers) that a broken photon
reconstruction, conversion model or fake source fails.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from flashsim.io import zip_collections
from flashsim.refsim.cms.conversions import conversion_probability, convert_photons
from flashsim.refsim.cms.params import CMSLikeParameters
from flashsim.refsim.sanity import half_width, mass_peak

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

#: GenPart_statusFlags bit 0: isPrompt.
PROMPT = 1


@pytest.fixture(scope="module")
def hgg_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import built_once

    from flashsim.refsim.generate import generate_sample

    def build(path: Path) -> None:
        generate_sample(
            process="hgg", n_events=300, seed=2, jobs=1, output=path, progress=False,
            block_size=150,
        )  # fmt: skip

    return built_once(tmp_path_factory, "photons_hgg.root", build)


def _read(path: Path) -> ak.Array:
    with uproot.open(path) as f:
        return zip_collections(f["Events"].arrays())


@pytest.fixture(scope="module")
def hgg(hgg_path: Path) -> ak.Array:
    return _read(hgg_path)


@pytest.fixture(scope="module")
def ttbar(ttbar_file: Path) -> ak.Array:
    return _read(ttbar_file)


@pytest.fixture(scope="module")
def qcd(tmp_path_factory: pytest.TempPathFactory) -> ak.Array:
    """500 QCD dijet events (pT-hat > 30 GeV, pile-up 25): jets without prompt leptons."""
    from conftest import built_once

    from flashsim.refsim.generate import generate_sample

    def build(path: Path) -> None:
        generate_sample(
            process="qcd", n_events=500, seed=22, jobs=1, output=path, progress=False,
            block_size=250,
        )  # fmt: skip

    return _read(built_once(tmp_path_factory, "photons_qcd.root", build))


def _np(values: ak.Array) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.flatten(values)), dtype=np.float64)


def _gen_of(events: ak.Array, objects: ak.Array) -> tuple[ak.Array, ak.Array]:
    """The matched GenPart of each object (index 0 where none) and whether there is one."""
    matched = objects.genPartIdx >= 0
    return events.GenPart[ak.where(matched, objects.genPartIdx, 0)], matched


def _prompt_photons(events: ak.Array) -> tuple[ak.Array, ak.Array]:
    """Photons matched to a prompt generated photon, and those generated photons."""
    gen, matched = _gen_of(events, events.Photon)
    sel = matched & ((gen.statusFlags & PROMPT) == PROMPT)
    return events.Photon[sel], gen[sel]


def _pi0_photons(events: ak.Array) -> ak.Array:
    """Photons matched to a non-prompt generated photon (from a hadron decay: a pi0)."""
    gen, matched = _gen_of(events, events.Photon)
    return events.Photon[matched & ((gen.statusFlags & PROMPT) == 0)]


def _near(a: ak.Array, b: ak.Array, radius: float) -> ak.Array:
    """Per object of ``a``, whether an object of ``b`` of its event lies within ``radius``."""
    pairs = ak.cartesian({"a": a, "b": b}, nested=True)
    dphi = (pairs.a.phi - pairs.b.phi + np.pi) % (2 * np.pi) - np.pi
    return ak.any(np.hypot(pairs.a.eta - pairs.b.eta, dphi) < radius, axis=2)


def test_photon_branches_have_nanoaod_types(hgg_path, hgg) -> None:
    types = {
        "Photon_pt": "float[]",
        "Photon_eta": "float[]",
        "Photon_phi": "float[]",
        "Photon_r9": "float[]",
        "Photon_sieie": "float[]",
        "Photon_hoe": "float[]",
        "Photon_pfRelIso03_all": "float[]",
        "Photon_pfRelIso03_chg": "float[]",
        "Photon_cutBased": "uint8_t[]",
        "Photon_pixelSeed": "bool[]",
        "Photon_electronVeto": "bool[]",
        "Photon_genPartIdx": "int16_t[]",
        "Photon_jetIdx": "int16_t[]",
        "Photon_electronIdx": "int16_t[]",
        "Electron_jetIdx": "int16_t[]",
        "Electron_photonIdx": "int16_t[]",
        "nPhoton": "int32_t",
    }
    with uproot.open(hgg_path) as f:
        tree = f["Events"]
        for name, typename in types.items():
            assert tree[name].typename == typename, (name, tree[name].typename)
    ph = hgg.Photon
    assert ak.sum(ak.num(ph)) > 500
    assert ak.all(ph.pt > 10)
    assert ak.all(abs(ph.eta) < 2.5)
    assert ak.all(ph.pt[:, :-1] >= ph.pt[:, 1:])
    with uproot.open(hgg_path) as f:
        assert "Photon_mass" not in f["Events"]  # as in NanoAOD v12: coffea sets it to 0
    assert set(np.unique(_np(ph.cutBased))) <= {0, 1, 2, 3}
    # the matched generated particle is a photon, in the photon's direction
    gen, matched = _gen_of(hgg, ph)
    assert ak.all(gen.pdgId[matched] == 22)
    dphi = (ph.phi - gen.phi + np.pi) % (2 * np.pi) - np.pi
    dr = _np(np.hypot(ph.eta - gen.eta, dphi)[matched])
    assert np.mean(dr < 0.05) > 0.95


def test_prompt_photon_energy_resolution(hgg) -> None:
    ph, gen = _prompt_photons(hgg)
    gpt = _np(gen.pt)
    ratio = _np(ph.pt) / gpt
    r9 = _np(ph.r9)
    aeta = np.abs(_np(ph.eta))
    window = (gpt > 30) & (gpt < 100)
    assert window.sum() > 300
    for region in (aeta < 1.479, aeta >= 1.479):
        sel = ratio[window & region]
        assert 0.98 < np.median(sel) < 1.03
        assert 0.004 < half_width(sel) / np.median(sel) < 0.03
    # unconverted-like (high r9) barrel photons are measured better than the others
    barrel = window & (aeta < 1.479)
    high, low = ratio[barrel & (r9 > 0.94)], ratio[barrel & (r9 < 0.9)]
    assert len(low) > 20
    assert half_width(high) < half_width(low)


def test_diphoton_mass_peaks_at_the_higgs_mass(hgg) -> None:
    ph = hgg.Photon[(hgg.Photon.pt > 20) & (hgg.Photon.cutBased >= 1)]
    two = ph[ak.num(ph) >= 2][:, :2]
    a, b = two[:, 0], two[:, 1]
    mass = np.sqrt(
        np.maximum(2 * a.pt * b.pt * (np.cosh(a.eta - b.eta) - np.cos(a.phi - b.phi)), 0)
    )
    mass = np.asarray(ak.to_numpy(mass), dtype=np.float64)
    assert len(mass) > 150
    peak = mass_peak(mass, 100.0, 150.0, 2.0)
    assert abs(peak - 125.0) < 0.02 * 125.0, peak
    core = mass[np.abs(mass - peak) < 10]
    assert np.mean(np.abs(mass - peak) < 5) > 0.6
    assert half_width(core) < 3.0


def test_conversion_probability_follows_the_material(rng) -> None:
    p = CMSLikeParameters()
    n = 200_000
    eta = rng.uniform(-2.5, 2.5, n)
    pt = rng.uniform(2.0, 100.0, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    evt = np.sort(rng.integers(0, 50, n))
    part = {
        "evt": evt,
        "pdg": np.full(n, 22),
        "apdg": np.full(n, 22),
        "q": np.zeros(n, dtype=np.int32),
        "pt": pt,
        "eta": eta,
        "phi": phi,
        "p": pt * np.cosh(eta),
        "e": pt * np.cosh(eta),
        "vx": np.zeros(n),
        "vy": np.zeros(n),
        "vz": np.zeros(n),
        "pu": np.zeros(n, dtype=bool),
        "gen": np.arange(n),
        "pv_z": np.zeros(n),
    }
    out = convert_photons(p, part, rng)
    assert np.all(np.diff(out["evt"]) >= 0)  # still sorted by event
    legs = out["conv_r"] > 0
    converted = np.zeros(n, dtype=bool)
    converted[out["gen"][legs]] = True
    assert len(out["pt"]) == n + converted.sum()
    # each converted photon gives an e- and an e+ sharing its energy, in its direction
    assert np.all(np.bincount(out["gen"][legs], minlength=n)[converted] == 2)
    assert np.sum(out["q"][legs]) == 0
    assert np.all(np.abs(out["pdg"][legs]) == 11)
    energy = np.bincount(out["gen"][legs], out["e"][legs], minlength=n)
    np.testing.assert_allclose(energy[converted], part["e"][converted], rtol=1e-9)
    # inside the tracker, between the beam pipe and its outer radius
    radius = out["conv_r"][legs]
    assert np.all((radius >= p.material_r_min_m) & (radius <= p.tracker_radius_m))
    r_prod = np.hypot(out["vx"][legs], out["vy"][legs]) / 1000.0
    np.testing.assert_allclose(r_prod, radius, rtol=1e-9)
    # the converted fraction follows 1 - exp(-7/9 x/X0) in bins of |eta|, rising to |eta| = 1.5
    edges = np.array([0.0, 0.4, 0.8, 1.1, 1.35, 1.65, 2.0, 2.5])
    aeta = np.abs(eta)
    measured, expected = [], []
    for lo, hi in itertools.pairwise(edges):
        sel = (aeta >= lo) & (aeta < hi)
        frac = converted[sel].mean()
        model = conversion_probability(p, eta[sel]).mean()
        assert abs(frac - model) < 4 * np.sqrt(model * (1 - model) / sel.sum()) + 1e-3
        measured.append(frac)
        expected.append(model)
    assert measured[0] < measured[1] < measured[2] < measured[3] < measured[4]
    assert 0.2 < measured[0] < 0.35  # 0.4 X0 at eta = 0
    assert 0.6 < measured[4] < 0.8  # 1.7 X0 at |eta| = 1.5
    # the electron's share follows the Bethe-Heitler spectrum: flatter than uniform
    share = out["e"][legs & (out["q"] < 0)] / part["e"][out["gen"][legs & (out["q"] < 0)]]
    assert 0.48 < np.mean(share) < 0.52
    assert np.mean((share < 0.1) | (share > 0.9)) > 0.2  # uniform would give 0.2


def test_converted_photons_show_in_r9_and_rise_with_eta(hgg) -> None:
    p = CMSLikeParameters()
    ph, _ = _prompt_photons(hgg)
    ph = ph[ph.pt > 20]
    r9, aeta = _np(ph.r9), np.abs(_np(ph.eta))
    central, outer = aeta < 0.5, (aeta > 1.0) & (aeta < 1.44)
    assert central.sum() > 80
    assert outer.sum() > 60
    low = [np.mean(r9[sel] < 0.9) for sel in (central, outer)]
    model = [conversion_probability(p, _np(ph.eta)[sel]).mean() for sel in (central, outer)]
    assert low[1] > low[0] + 0.1, low
    # only converted photons have a low r9 (an unconverted one keeps about 95% in 3x3) ...
    for frac, prob in zip(low, model, strict=True):
        assert frac < prob + 0.05, (frac, prob)
    # ... and most conversions before the ECAL spread the pair beyond 3x3 cells
    assert low[1] > 0.3 * model[1]
    assert 0.93 < np.median(r9[central]) < 0.98


def test_photon_id_prefers_prompt_photons(hgg, ttbar) -> None:
    ph, _ = _prompt_photons(hgg)
    pi0_photons = _pi0_photons(ttbar)
    prompt = _np(ph.cutBased[ph.pt > 20])
    pi0 = _np(pi0_photons.cutBased[pi0_photons.pt > 20])
    assert len(prompt) > 400
    assert len(pi0) > 200
    eff_prompt = [np.mean(prompt >= wp) for wp in (1, 2, 3)]
    eff_pi0 = [np.mean(pi0 >= wp) for wp in (1, 2, 3)]
    assert 0.85 < eff_prompt[0] < 0.97, eff_prompt
    assert eff_prompt[0] > eff_prompt[1] > eff_prompt[2] > 0.6, eff_prompt
    assert eff_pi0[0] < 0.05, eff_pi0
    for e_prompt, e_pi0 in zip(eff_prompt, eff_pi0, strict=True):
        assert e_prompt > 10 * max(e_pi0, 1e-3)
    # photons from pi0s in jets are not isolated
    assert np.median(_np(pi0_photons.pfRelIso03_all)) > 10 * np.median(_np(ph.pfRelIso03_all))


def test_pixel_seed_and_electron_veto(hgg, ttbar) -> None:
    ph, _ = _prompt_photons(hgg)
    assert np.mean(_np(ph.pixelSeed)) < 0.15
    assert np.mean(_np(ph.electronVeto)) > 0.9
    # photons made by prompt electrons: a pixel seed and a failed electron veto
    gen = ttbar.GenPart
    electrons = gen[(abs(gen.pdgId) == 11) & ((gen.statusFlags & PROMPT) == PROMPT) & (gen.pt > 25)]
    from_electron = ttbar.Photon[_near(ttbar.Photon, electrons, 0.05) & (ttbar.Photon.pt > 20)]
    assert ak.sum(ak.num(from_electron)) > 50
    assert np.mean(_np(from_electron.pixelSeed)) > 0.9
    # the veto needs the electron's track without missing inner hit and without partner: about
    # 10% of the electron tracks are lost, 4% miss the first layer, a few have a partner
    assert np.mean(~_np(from_electron.electronVeto).astype(bool)) > 0.7
    assert np.mean(_np(from_electron.genPartIdx) == -1) > 0.9  # matched to photons only


def _clean_gen_jets(events: ak.Array) -> ak.Array:
    """Generated jets (pT > 20 GeV, |eta| < 2.5) away from prompt leptons and photons."""
    gen = events.GenPart
    prompt = gen[
        ((abs(gen.pdgId) == 11) | (abs(gen.pdgId) == 13) | (gen.pdgId == 22))
        & ((gen.statusFlags & PROMPT) == PROMPT)
        & (gen.status == 1)
        & (gen.pt > 5)
    ]
    jets = events.GenJet[(events.GenJet.pt > 20) & (abs(events.GenJet.eta) < 2.5)]
    return jets[~_near(jets, prompt, 0.4)], prompt


def _fake_rates(events: ak.Array, name: str, levels: range) -> tuple[int, list[float]]:
    """Number of clean generated jets, and per cutBased level the number of fake objects
    (pT > 10 GeV, within 0.4 of a clean jet, not from a prompt lepton or photon) per jet."""
    jets, prompt = _clean_gen_jets(events)
    obj = events[name]
    gen, matched = _gen_of(events, obj)
    if name == "Electron":  # a real electron (prompt, or from a b or c decay) is no fake
        fake = ~(matched & (abs(gen.pdgId) == 11))
    else:  # neither a prompt photon nor a photon made by a prompt electron
        fake = ~(matched & ((gen.statusFlags & PROMPT) == PROMPT))
    obj = obj[fake & (obj.pt > 10) & ~_near(obj, prompt, 0.2)]
    obj = obj[_near(obj, jets, 0.4)]
    n_jets = int(ak.sum(ak.num(jets)))
    cut = _np(obj.cutBased)
    return n_jets, [float(np.sum(cut >= level)) / n_jets for level in levels]


def test_jet_fake_rates_decrease_with_the_id(ttbar) -> None:
    n_jets, ele = _fake_rates(ttbar, "Electron", range(5))
    _, pho = _fake_rates(ttbar, "Photon", range(4))
    assert n_jets > 2500
    # any electron candidate: conversions, pi0s on a track, early showers (a few %)
    assert 0.01 < ele[0] < 0.15, ele
    # isolated, ID-passing fakes are 10-100 times rarer, and rarer with every tighter ID
    assert ele[1] < 0.005, ele
    assert ele[0] > 10 * ele[1]
    assert all(a >= b for a, b in itertools.pairwise(ele)), ele
    assert ele[4] < 1e-3, ele
    # most jets hold a pi0 photon cluster above 10 GeV; very few pass the loose photon ID
    assert 0.2 < pho[0] < 1.0, pho
    assert pho[1] < 0.005, pho
    assert all(a >= b for a, b in itertools.pairwise(pho)), pho


def test_jet_fake_rates_in_qcd(qcd) -> None:
    n_jets, ele = _fake_rates(qcd, "Electron", range(3))
    _, pho = _fake_rates(qcd, "Photon", range(2))
    assert n_jets > 500
    # data/README.md: on 3000 events 9.9e-3 electrons (any) and 0.21 photons (any) per jet,
    # 6.9e-4 loose photons; bands wide enough for the Poisson error of 500 events
    assert 2e-3 < ele[0] < 4e-2, ele
    assert ele[1] < 5e-3, ele
    assert 0.1 < pho[0] < 0.45, pho
    assert pho[1] < 1e-2, pho


def _fake_jet_links(events: ak.Array) -> dict[str, tuple[int, float, float]]:
    """For electrons without generated match from the primary vertex (|dz| < 0.2 cm) and photons
    not matched to a prompt photon: their
    number, the fraction with ``jetIdx >= 0`` and the fraction whose jet has ``genJetIdx >= 0``
    (the chain GenJet -> Jet -> fake that the flash simulation learns)."""
    out = {}
    gen, matched = _gen_of(events, events.Photon)
    prompt_photon = matched & ((gen.statusFlags & PROMPT) == PROMPT)
    # electrons from the primary vertex (CHS keeps pile-up charged candidates out of the jets)
    from_pv = (events.Electron.genPartIdx < 0) & (abs(events.Electron.dz) < 0.2)
    for name, sel in (("Electron", from_pv), ("Photon", ~prompt_photon)):
        obj = events[name][sel]
        has_jet = obj.jetIdx >= 0
        n_gen_jet = ak.sum(events.Jet.genJetIdx[obj.jetIdx[has_jet]] >= 0)
        n = int(ak.sum(ak.num(obj)))
        out[name] = (n, float(ak.sum(has_jet)) / n, float(n_gen_jet) / n)
    return out


def test_fakes_point_to_the_jet_of_their_hadrons(ttbar, qcd) -> None:
    for events in (ttbar, qcd):
        for name in ("Electron", "Photon"):
            obj = events[name]
            assert obj.jetIdx.layout.content.dtype == np.int16
            assert ak.all((obj.jetIdx >= -1) & (obj.jetIdx < ak.num(events.Jet)))
            # the jet holds the object's PF candidate: the object lies inside it
            jet = events.Jet[obj.jetIdx[obj.jetIdx >= 0]]
            inside = obj[obj.jetIdx >= 0]
            dphi = (inside.phi - jet.phi + np.pi) % (2 * np.pi) - np.pi
            assert np.mean(_np(np.hypot(inside.eta - jet.eta, dphi)) < 0.45) > 0.97, name
        links = _fake_jet_links(events)
        # electrons without generated match (hadrons, soft conversions) and photons from pi0s
        # are nearly all inside a reco jet matched to a generated jet (ttbar, seed 1: 91% and
        # 95%; data/README.md)
        n_ele, ele_jet, ele_gen_jet = links["Electron"]
        n_pho, pho_jet, pho_gen_jet = links["Photon"]
        assert n_ele > 12, links
        assert n_pho > 100, links
        assert ele_jet > 0.75, links
        assert ele_gen_jet > 0.7, links
        assert pho_jet > 0.85, links
        assert pho_gen_jet > 0.8, links


def test_electron_and_photon_cross_links(ttbar, hgg) -> None:
    for events in (ttbar, hgg):
        ele, ph = events.Electron, events.Photon
        assert ak.all((ph.electronIdx >= -1) & (ph.electronIdx < ak.num(ele)))
        assert ak.all((ele.photonIdx >= -1) & (ele.photonIdx < ak.num(ph)))
        # a photon that fails the electron veto shares its supercluster with an electron
        assert ak.all(ph.electronIdx[~ph.electronVeto] >= 0)
        # an electron's photon points back to it
        linked = ele.photonIdx >= 0
        back = ph.electronIdx[ele.photonIdx[linked]]
        assert ak.all(back == ak.local_index(ele.pt)[linked])
    # photons made by prompt electrons are linked to them
    gen = ttbar.GenPart
    electrons = gen[(abs(gen.pdgId) == 11) & ((gen.statusFlags & PROMPT) == PROMPT) & (gen.pt > 25)]
    from_electron = ttbar.Photon[_near(ttbar.Photon, electrons, 0.05) & (ttbar.Photon.pt > 20)]
    assert np.mean(_np(from_electron.electronIdx) >= 0) > 0.8


def test_conversion_electrons_point_to_their_photon(ttbar, hgg) -> None:
    for events in (ttbar, hgg):
        ele = events.Electron
        gen, matched = _gen_of(events, ele)
        assert ak.all((abs(gen.pdgId[matched]) == 11) | (gen.pdgId[matched] == 22))
    flagged, cut_based = [], []
    for events in (ttbar, hgg):
        gen, matched = _gen_of(events, events.Electron)
        conv = events.Electron[matched & (gen.pdgId == 22)]
        flagged.append(_np(~conv.convVeto | (conv.lostHits > 0)))
        cut_based.append(_np(conv.cutBased))
    flagged, cut_based = np.concatenate(flagged), np.concatenate(cut_based)
    # early conversions only (a GSF electron needs a pixel seed): a few per cent of photons
    assert len(flagged) > 20
    # conversion legs: flagged by the conversion finder or with missing inner hits, failing
    # the electron ID
    assert np.mean(flagged) > 0.7
    assert np.mean(cut_based >= 2) < 0.1
    # electrons faked by hadrons (no generated match) in ttbar jets
    assert ak.sum(ttbar.Electron.genPartIdx < 0) > 20


def test_coffea_and_root_read_photons(hgg_path, hgg) -> None:
    import readers

    readers.assert_readable_by_coffea(hgg_path)
    readers.assert_readable_by_root(hgg_path)
    events = readers.coffea_events(hgg_path)
    matched = events.Photon.matched_gen
    has = hgg.Photon.genPartIdx >= 0
    assert ak.sum(has) > 400
    assert ak.to_list(ak.fill_none(matched.pt, -1.0)[has]) == ak.to_list(
        hgg.GenPart[hgg.Photon.genPartIdx[has]].pt
    )
    assert ak.all(ak.fill_none(matched.pdgId, 22) == 22)
    # the reco cross-references: Photon -> Jet, Photon <-> Electron, Electron -> GenPart, Jet
    has_jet = hgg.Photon.jetIdx >= 0
    assert ak.sum(has_jet) > 400
    assert ak.to_list(ak.fill_none(events.Photon.matched_jet.pt, -1.0)[has_jet]) == ak.to_list(
        hgg.Jet[hgg.Photon.jetIdx[has_jet]].pt
    )
    assert ak.all(ak.is_none(events.Photon.matched_jet, axis=1) == ~has_jet)
    assert ak.all(
        ak.is_none(events.Photon.matched_electron, axis=1) == (hgg.Photon.electronIdx < 0)
    )
    assert ak.all(
        ak.is_none(events.Electron.matched_photon, axis=1) == (hgg.Electron.photonIdx < 0)
    )
    assert ak.all(ak.is_none(events.Electron.matched_jet, axis=1) == (hgg.Electron.jetIdx < 0))
    ele_gen = events.Electron.matched_gen
    assert ak.all(ak.fill_none(abs(ele_gen.pdgId), 11) != 0)
    assert ak.all(ak.is_none(ele_gen, axis=1) == (hgg.Electron.genPartIdx < 0))
    root = pytest.importorskip("ROOT")
    frame = root.RDataFrame("Events", str(hgg_path))
    assert "UChar_t" in str(frame.GetColumnType("Photon_cutBased"))
    assert "Bool_t" in str(frame.GetColumnType("Photon_electronVeto"))
    n_loose = frame.Define("n", "Sum(Photon_cutBased >= 1)").Sum("n").GetValue()
    assert n_loose == ak.sum(hgg.Photon.cutBased >= 1)
    linked = frame.Define("n", "Sum(Photon_jetIdx >= 0)").Sum("n").GetValue()
    assert linked == ak.sum(has_jet)

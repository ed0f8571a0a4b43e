"""Physics objects of the CMS-like reference detector from its particle-flow candidates.

Jets (anti-kT R=0.4 on CHS candidates, pile-up offset correction, energy fractions, an
impact-parameter b tag), lepton collections with particle-flow isolation, MET and the pile-up
density rho. Parameters: :class:`flashsim.refsim.cms_params.CMSLikeParameters`.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim.refsim.cms_params import CMSLikeParameters
from flashsim.refsim.genlevel import cluster_antikt
from flashsim.refsim.kinematics import delta_phi, jagged, nearest, pt_eta_phi, same_event_pairs

MUON_MASS = 0.1056584
ELECTRON_MASS = 0.000511
# Particle-flow candidate kinds.
CH_HAD, ELECTRON, MUON, PHOTON, NEU_HAD, HF_HAD = range(6)


def _select(arrays: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in arrays.items()}


def isolation(lep, pf, cone: float) -> np.ndarray:
    """Delta-beta corrected relative isolation from the PF candidates in a cone."""
    li, ci = same_event_pairs(pf["evt"], lep["evt"])
    dr = np.hypot(pf["eta"][ci] - lep["eta"][li], delta_phi(pf["phi"][ci], lep["phi"][li]))
    inside = (dr < cone) & (dr > 1e-3)
    ch = inside & pf["charged"][ci]
    n = len(lep["pt"])
    ch_pv = np.bincount(
        li[ch & pf["from_pv"][ci]], pf["pt"][ci][ch & pf["from_pv"][ci]], minlength=n
    )
    ch_pu = np.bincount(
        li[ch & ~pf["from_pv"][ci]], pf["pt"][ci][ch & ~pf["from_pv"][ci]], minlength=n
    )
    ne = inside & ~pf["charged"][ci]
    neutral = np.bincount(li[ne], pf["pt"][ci][ne], minlength=n)
    return (ch_pv + np.maximum(0.0, neutral - 0.5 * ch_pu)) / np.maximum(lep["pt"], 1e-3)


def build_objects(
    p: CMSLikeParameters, inp, pf, ele, mu, rng: np.random.Generator
) -> dict[str, object]:
    n_events = inp.n_events
    out: dict[str, object] = {}
    # MET from all PF candidates
    mex = -np.bincount(pf["evt"], pf["pt"] * np.cos(pf["phi"]), minlength=n_events)
    mey = -np.bincount(pf["evt"], pf["pt"] * np.sin(pf["phi"]), minlength=n_events)
    out["MET_pt"] = np.hypot(mex, mey).astype(np.float32)
    out["MET_phi"] = np.arctan2(mey, mex).astype(np.float32)
    rho = pileup_density(p, pf, n_events, np.ones(len(pf["pt"]), dtype=bool))
    out["Rho_fixedGridRhoFastjetAll"] = rho.astype(np.float32)
    npv = 1 + rng.binomial(inp.n_pileup, p.pileup_vertex_efficiency)
    out["PV_npvs"] = npv.astype(np.int32)
    out["PV_z"] = (inp.pv_z / 10.0).astype(np.float32)

    iso_e3 = isolation(ele, pf, 0.3)
    iso_e4 = isolation(ele, pf, 0.4)
    iso_m3 = isolation(mu, pf, 0.3)
    iso_m4 = isolation(mu, pf, 0.4)
    out["Electron"] = electron_collection(p, ele, iso_e3, iso_e4, n_events)
    out["Muon"] = muon_collection(mu, iso_m3, iso_m4, n_events)
    rho_neutral = pileup_density(p, pf, n_events, ~pf["charged"])
    out["Jet"] = build_jets(p, pf, n_events, rho_neutral)
    return out


def pileup_density(p: CMSLikeParameters, pf, n_events: int, mask: np.ndarray) -> np.ndarray:
    """Median pT density (GeV per unit area) of the selected candidates on an eta-phi grid."""
    n_eta = round(2 * p.rho_eta_max / p.rho_cell)
    n_phi = round(2 * np.pi / p.rho_cell)
    sel = mask & (np.abs(pf["eta"]) < p.rho_eta_max)
    ie = np.clip(
        ((pf["eta"][sel] + p.rho_eta_max) / (2 * p.rho_eta_max) * n_eta).astype(int),
        0,
        n_eta - 1,
    )
    ip = np.clip(((pf["phi"][sel] + np.pi) / (2 * np.pi) * n_phi).astype(int), 0, n_phi - 1)
    grid = np.bincount(
        (pf["evt"][sel] * n_eta + ie) * n_phi + ip,
        pf["pt"][sel],
        minlength=n_events * n_eta * n_phi,
    ).reshape(n_events, -1)
    area = (2 * p.rho_eta_max / n_eta) * (2 * np.pi / n_phi)
    return np.median(grid, axis=1) / area


def sorted_collection(
    fields: dict[str, np.ndarray], evt: np.ndarray, pt: np.ndarray, n_events: int
) -> ak.Array:
    order = np.lexsort((-pt, evt))
    counts = np.bincount(evt, minlength=n_events)
    return ak.zip({k: jagged(v[order], counts) for k, v in fields.items()})


def electron_collection(p: CMSLikeParameters, ele, iso3, iso4, n_events: int) -> ak.Array:
    barrel = np.abs(ele["eta"]) < p.barrel_eta
    cut_based = np.zeros(len(ele["pt"]), dtype=np.int32)
    for wp in range(4):
        ok = (
            (
                ele["sieie"]
                < np.where(barrel, p.electron_wp_sieie_barrel[wp], p.electron_wp_sieie_endcap[wp])
            )
            & (ele["hoe"] < p.electron_wp_hoe[wp])
            & (iso3 < p.electron_wp_iso[wp])
            & (np.abs(ele["d0"]) < p.electron_wp_dxy[wp])
        )
        cut_based = np.where(ok & (cut_based == wp), wp + 1, cut_based)
    f32 = np.float32
    fields = {
        **_lepton_fields(ele, ELECTRON_MASS, iso3, iso4),
        "sieie": ele["sieie"].astype(f32),
        "hoe": ele["hoe"].astype(f32),
        "cutBased": cut_based.astype(np.uint8),
        "tightId": cut_based >= 4,
    }
    return sorted_collection(fields, ele["evt"], ele["pt"], n_events)


def muon_collection(mu, iso3, iso4, n_events: int) -> ak.Array:
    fields = {
        **_lepton_fields(mu, MUON_MASS, iso3, iso4),
        "tightId": mu["tight"].astype(bool),
        "nStations": mu["stations"].astype(np.uint8),
        "nTrackerLayers": mu["layers"].astype(np.uint8),
    }
    return sorted_collection(fields, mu["evt"], mu["pt"], n_events)


def build_jets(p: CMSLikeParameters, pf, n_events: int, rho_neutral: np.ndarray) -> ak.Array:
    """Anti-kT CHS jets with a pile-up offset correction (neutral rho times the jet area)."""
    chs = ~pf["charged"] | pf["from_pv"]
    cand = _select(pf, chs)
    counts = np.bincount(cand["evt"], minlength=n_events)
    px = cand["pt"] * np.cos(cand["phi"])
    py = cand["pt"] * np.sin(cand["phi"])
    pz = cand["pt"] * np.sinh(cand["eta"])
    energy = np.sqrt(px**2 + py**2 + pz**2 + cand["mass"] ** 2)
    parts = ak.zip(
        {
            "px": jagged(px, counts),
            "py": jagged(py, counts),
            "pz": jagged(pz, counts),
            "E": jagged(energy, counts),
        },
        with_name="Momentum4D",
    )
    jets = cluster_antikt(parts, p.jet_radius, 0.5 * p.jet_pt_min)
    jpt, jeta, jphi = pt_eta_phi(jets.px, jets.py, jets.pz)
    offset = ak.Array(rho_neutral)[:, np.newaxis] * (np.pi * p.jet_radius**2)
    corr = np.maximum(1.0 - offset / np.maximum(jpt, 1e-3), 0.0)
    keep = (np.abs(jeta) < p.jet_eta_max) & (jpt * corr > p.jet_pt_min)
    jets, corr = jets[keep], corr[keep]
    jpt, jeta, jphi = pt_eta_phi(jets.px, jets.py, jets.pz)
    raw_factor = 1.0 - corr
    jpt = jpt * corr
    order = ak.argsort(jpt, axis=1, ascending=False)
    jets, jpt, jeta, jphi, raw_factor, corr = (
        a[order] for a in (jets, jpt, jeta, jphi, raw_factor, corr)
    )
    jmass = np.sqrt(np.maximum(jets.E**2 - jets.px**2 - jets.py**2 - jets.pz**2, 0.0)) * corr
    njet = ak.to_numpy(ak.num(jpt))
    # constituents as flat indices into ``cand``
    cand_offsets = np.concatenate([[0], np.cumsum(counts)])
    nconst = ak.num(jets.constituents, axis=2)
    const_local = ak.to_numpy(ak.flatten(jets.constituents, axis=None)).astype(np.int64)
    jet_of_const = np.repeat(np.arange(int(njet.sum())), ak.to_numpy(ak.flatten(nconst)))
    evt_of_jet = np.repeat(np.arange(n_events), njet)
    const = cand_offsets[evt_of_jet[jet_of_const]] + const_local
    n_jets = int(njet.sum())
    jet_e = ak.to_numpy(ak.flatten(jets.E))

    def frac(kinds) -> np.ndarray:
        sel = np.isin(cand["kind"][const], kinds)
        return np.bincount(jet_of_const[sel], energy[const][sel], minlength=n_jets) / jet_e

    # b tag: signed transverse impact-parameter significance of the jet's tracks
    fjphi = ak.to_numpy(ak.flatten(jphi))
    fjeta = ak.to_numpy(ak.flatten(jeta))
    trk = (
        cand["charged"][const]
        & (cand["pt"][const] > p.btag_track_pt_min)
        & (np.abs(cand["d0"][const]) < p.btag_track_dxy_max_cm)
    )
    ci, ji = const[trk], jet_of_const[trk]
    dr = np.hypot(cand["eta"][ci] - fjeta[ji], delta_phi(cand["phi"][ci], fjphi[ji]))
    ci, ji = ci[dr < p.btag_track_dr_max], ji[dr < p.btag_track_dr_max]
    # point of closest approach = d0 * n, n = (-sin(phi_trk), cos(phi_trk))
    sign = np.sign(
        -np.sin(cand["phi"][ci]) * np.cos(fjphi[ji]) + np.cos(cand["phi"][ci]) * np.sin(fjphi[ji])
    )
    sig = sign * cand["d0"][ci] / cand["sd0"][ci]
    order = np.lexsort((-sig, ji))
    ji_s, sig_s = ji[order], sig[order]
    first = np.searchsorted(ji_s, np.arange(n_jets))
    ntrk = np.bincount(ji_s, minlength=n_jets)
    x = np.zeros(n_jets)
    for rank, weight in enumerate(p.btag_weights):
        has = ntrk > rank
        s_rank = np.zeros(n_jets)
        s_rank[has] = np.clip(sig_s[first[has] + rank], -10.0, 50.0)
        x += weight * s_rank
    btag = 1.0 / (1.0 + np.exp(-(x - p.btag_offset) / p.btag_width))

    f32 = np.float32

    def jag(values: np.ndarray, dtype) -> ak.Array:
        return jagged(values.astype(dtype), njet)

    return ak.zip(
        {
            "pt": ak.values_astype(jpt, f32),
            "eta": ak.values_astype(jeta, f32),
            "phi": ak.values_astype(jphi, f32),
            "mass": ak.values_astype(jmass, f32),
            "nConstituents": ak.values_astype(np.minimum(nconst, 255), np.uint8),
            "chHEF": jag(frac([CH_HAD]), f32),
            "neHEF": jag(frac([NEU_HAD, HF_HAD]), f32),
            "chEmEF": jag(frac([ELECTRON]), f32),
            "neEmEF": jag(frac([PHOTON]), f32),
            "muEF": jag(frac([MUON]), f32),
            "btagDeepFlavB": jag(btag, f32),
            "rawFactor": ak.values_astype(raw_factor, f32),
        }
    )


def _lepton_fields(lep, mass: float, iso3: np.ndarray, iso4: np.ndarray) -> dict[str, np.ndarray]:
    """NanoAOD branches common to muons and electrons."""
    f32 = np.float32
    return {
        "pt": lep["pt"].astype(f32),
        "eta": lep["eta"].astype(f32),
        "phi": lep["phi"].astype(f32),
        "mass": np.full(len(iso3), mass, f32),
        "charge": lep["q"].astype(np.int32),
        "dxy": lep["d0"].astype(f32),
        "dz": lep["dz"].astype(f32),
        "pfRelIso03_all": iso3.astype(f32),
        "pfRelIso04_all": iso4.astype(f32),
        "genPartIdx": lep["gen"].astype(np.int16),
    }


def match_jets(jets: ak.Array, genjets: ak.Array, max_dr: float) -> ak.Array:
    """``Jet_genJetIdx``: index of the closest gen jet within ``max_dr`` (-1 when none)."""
    idx, _ = nearest(jets.eta, jets.phi, genjets.eta, genjets.phi, max_dr)
    return jagged(idx.astype(np.int16), ak.to_numpy(ak.num(jets)))

"""Muon and electron collections of the CMS-like reference detector.

Isolation from the particle-flow candidates (fixed cones and the pT-dependent mini-isolation),
tracker isolation, 3D impact parameters, the muon IDs from the simulated muon-system quantities,
and the electron cut-based ID, conversion veto and MVA-like ID score.
Parameters: :class:`flashsim.refsim.cms.params.CMSLikeParameters`.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim.generators.kinematics import delta_phi, same_event_pairs
from flashsim.nanoaod import DERIVED_FIELDS, pf_iso_id
from flashsim.refsim.cms.params import CMSLikeParameters
from flashsim.refsim.cms.pfcand import ELECTRON_MASS, MUON_MASS, Table, sorted_collection

__all__ = [
    "delta_beta_isolation",
    "electron_collection",
    "electron_mva",
    "isolation",
    "mini_isolation",
    "muon_collection",
    "pf_pt_sums",
    "tracker_isolation",
]


def pf_pt_sums(
    n: int, obj: np.ndarray, cand: np.ndarray, pf: Table, inside: np.ndarray
) -> dict[str, np.ndarray]:
    """pT sums of the PF candidates ``cand`` around the objects ``obj`` (pairs of indices,
    counted where ``inside``), for ``n`` objects: primary-vertex charged (``ch_pv``), pile-up
    charged (``ch_pu``) and neutral (``neutral``). Shared by the lepton and photon isolations."""
    charged, from_pv, pt = pf["charged"][cand], pf["from_pv"][cand], pf["pt"][cand]

    def total(mask: np.ndarray) -> np.ndarray:
        return np.bincount(obj[mask], pt[mask], minlength=n)

    return {
        "ch_pv": total(inside & charged & from_pv),
        "ch_pu": total(inside & charged & ~from_pv),
        "neutral": total(inside & ~charged),
    }


def delta_beta_isolation(sums: dict[str, np.ndarray], pt: np.ndarray) -> np.ndarray:
    """Delta-beta corrected relative isolation of :func:`pf_pt_sums`:
    (ch_pv + max(0, neutral - 1/2 ch_pu)) / pT."""
    return (sums["ch_pv"] + np.maximum(0.0, sums["neutral"] - 0.5 * sums["ch_pu"])) / np.maximum(
        pt, 1e-3
    )


def _cone_sums(lep: Table, pf: Table, cone: float | np.ndarray) -> dict[str, np.ndarray]:
    """pT sums of PF candidates around each lepton within ``cone`` (a number or per lepton)."""
    li, ci = same_event_pairs(pf["evt"], lep["evt"])
    dr = np.hypot(pf["eta"][ci] - lep["eta"][li], delta_phi(pf["phi"][ci], lep["phi"][li]))
    cone = np.broadcast_to(np.asarray(cone, dtype=float), (len(lep["pt"]),))
    inside = (dr < cone[li]) & (dr > 1e-3)
    return pf_pt_sums(len(lep["pt"]), li, ci, pf, inside)


def isolation(lep: Table, pf: Table, cone: float | np.ndarray) -> np.ndarray:
    """Delta-beta corrected relative isolation from the PF candidates in a cone.

    ``cone``: a radius or one radius per lepton (mini-isolation).
    """
    return delta_beta_isolation(_cone_sums(lep, pf, cone), lep["pt"])


def mini_isolation(lep: Table, pf: Table) -> np.ndarray:
    """``miniPFRelIso_all``: isolation in a cone 10 GeV / pT clipped to [0.05, 0.2]."""
    return isolation(lep, pf, np.clip(10.0 / np.maximum(lep["pt"], 1e-3), 0.05, 0.2))


def tracker_isolation(lep: Table, pf: Table, cone: float = 0.3) -> np.ndarray:
    """``tkRelIso``: pT of the primary-vertex tracks within ``cone`` over the lepton pT."""
    return _cone_sums(lep, pf, cone)["ch_pv"] / np.maximum(lep["pt"], 1e-3)


def _lepton_fields(
    lep: Table, mass: float, iso3: np.ndarray, iso4: np.ndarray
) -> dict[str, np.ndarray]:
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


def _common_extras(lep: Table, pf: Table) -> dict[str, np.ndarray]:
    """Impact-parameter errors, 3D impact parameters and mini-isolation of leptons."""
    f32 = np.float32
    # stored as float32 first, and ip3d/sip3d computed from the stored values with the flash
    # pipeline's own functions, so that a derived flash field is what refsim would write
    stored = {
        "dxy": lep["d0"].astype(f32),
        "dz": lep["dz"].astype(f32),
        "eta": lep["eta"].astype(f32),
        "dxyErr": lep["sd0"].astype(f32),
        "dzErr": lep["sdz"].astype(f32),
    }
    return {
        "dxyErr": stored["dxyErr"],
        "dzErr": stored["dzErr"],
        "ip3d": DERIVED_FIELDS["ip3d"][1](stored),
        "sip3d": DERIVED_FIELDS["sip3d"][1](stored),
        "miniPFRelIso_all": mini_isolation(lep, pf).astype(f32),
    }


def electron_mva(p: CMSLikeParameters, ele: Table, iso3: np.ndarray) -> np.ndarray:
    """``mvaIso``: a fixed smooth function of detector quantities, in [-1, 1].

    tanh of a linear combination of the shower-width pull (sieie against the intrinsic
    barrel/endcap width), H/E, pfRelIso03_all, |1 - p/E| and the missing inner hits, with the
    coefficients of ``electron_mva_*``; prompt isolated electrons score near 1.
    """
    barrel = np.abs(ele["eta"]) < p.barrel_eta
    mu = np.where(barrel, p.sieie_barrel[0], p.sieie_endcap[0])
    sd = np.where(barrel, p.sieie_barrel[1], p.sieie_endcap[1])
    pull = np.maximum((ele["sieie"] - mu) / sd, -2.0)
    z = (
        p.electron_mva_offset
        - p.electron_mva_sieie * pull
        - p.electron_mva_hoe * ele["hoe"]
        - p.electron_mva_iso * iso3
        - p.electron_mva_eop * np.abs(1.0 - 1.0 / np.maximum(ele["eop"], 1e-3))
        - p.electron_mva_lost * ele["lost"]
    )
    return np.tanh(z)


def _eta_region(p: CMSLikeParameters, eta: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.asarray(p.electron_mva_eta_edges), np.abs(eta), side="right")


def electron_collection(
    p: CMSLikeParameters,
    ele: Table,
    pf: Table,
    iso3: np.ndarray,
    iso4: np.ndarray,
    n_events: int,
) -> ak.Array:
    """``Electron``: kinematics, isolation, cut-based ID, conversion veto and the MVA-like ID."""
    barrel = np.abs(ele["eta"]) < p.barrel_eta
    cut_based = np.zeros(len(ele["pt"]), dtype=np.int32)
    # |1/E - 1/p| = |1 - E/p| / E, E the supercluster energy
    e_sc = np.maximum(ele["pt"] * np.cosh(ele["eta"]), 1e-3)
    einv_pinv = np.abs(1.0 - ele["eop"]) / e_sc
    for wp in range(4):
        ok = (
            (
                ele["sieie"]
                < np.where(barrel, p.electron_wp_sieie_barrel[wp], p.electron_wp_sieie_endcap[wp])
            )
            & (ele["hoe"] < p.electron_wp_hoe[wp])
            & (iso3 < p.electron_wp_iso[wp])
            & (np.abs(ele["d0"]) < p.electron_wp_dxy[wp])
            & ~ele["conv"].astype(bool)
            & (ele["lost"] <= p.electron_wp_lost_hits[wp])
            & (einv_pinv < p.electron_wp_einv_pinv[wp])
        )
        cut_based = np.where(ok & (cut_based == wp), wp + 1, cut_based)
    mva = electron_mva(p, ele, iso3)
    region = _eta_region(p, ele["eta"])
    f32 = np.float32
    fields = {
        **_lepton_fields(ele, ELECTRON_MASS, iso3, iso4),
        **_common_extras(ele, pf),
        "sieie": ele["sieie"].astype(f32),
        "hoe": ele["hoe"].astype(f32),
        "cutBased": cut_based.astype(np.uint8),
        "convVeto": ~ele["conv"].astype(bool),
        "lostHits": np.minimum(ele["lost"], 255).astype(np.uint8),
        "mvaIso": mva.astype(f32),
        "mvaIso_WP80": mva > np.asarray(p.electron_mva_wp80)[region],
        "mvaIso_WP90": mva > np.asarray(p.electron_mva_wp90)[region],
    }
    if "jet" in ele:
        fields["jetIdx"] = ele["jet"].astype(np.int16)
    return sorted_collection(fields, ele["evt"], ele["pt"], n_events)


def muon_collection(
    mu: Table, pf: Table, iso3: np.ndarray, iso4: np.ndarray, n_events: int
) -> ak.Array:
    """``Muon``: kinematics, isolation and the IDs from the simulated muon-system quantities."""
    f32 = np.float32
    fields = {
        **_lepton_fields(mu, MUON_MASS, iso3, iso4),
        **_common_extras(mu, pf),
        "looseId": mu["loose"].astype(bool),
        "mediumId": mu["medium"].astype(bool),
        "tightId": mu["tight"].astype(bool),
        "isGlobal": mu["global"].astype(bool),
        "isTracker": mu["tracker"].astype(bool),
        "isPFcand": mu["pf"].astype(bool),
        "pfIsoId": pf_iso_id(iso4),
        "tkRelIso": tracker_isolation(mu, pf).astype(f32),
        "nStations": mu["stations"].astype(np.uint8),
        "nTrackerLayers": mu["layers"].astype(np.uint8),
    }
    return sorted_collection(fields, mu["evt"], mu["pt"], n_events)

"""Photons of the CMS-like reference detector: ECAL superclusters, their shape, isolation and ID.

Every ECAL supercluster is a photon candidate, as in CMS [EGM]: prompt photons, photons from
pi0 -> gamma gamma (two photons closer than a cell or two merge into one cluster), converted
photons (their e+e- pair spread in azimuth by the field) and electrons alike; ``pixelSeed`` and
``electronVeto`` tell the electrons apart. Steps (:func:`build_photons`):

1. **Superclusters** (:func:`superclusters`): seeds are ECAL cells above ``photon_seed_et_min``
   not inside the window of a more energetic seed (the greedy rule, solved by iteration); each
   ECAL cell above threshold joins the most energetic seed whose window
   (``supercluster_deta`` x ``supercluster_dphi``) holds it. Energy: the sum of the cells;
   position: the energy-weighted cell centres. Photons: pT > ``photon_pt_min``,
   |eta| < ``photon_eta_max``.
2. **Shape** (:mod:`flashsim.refsim.cms.showers`): ``r9`` and ``sieie`` from the deposits around
   the seed cell; ``hoe`` = energy of the HCAL cell behind the supercluster position over the
   supercluster energy (CMS's single-tower H/E).
3. **Isolation** from the PF candidates within ``photon_iso_cone``, without the photon's
   footprint (PF photons and electrons inside its window; charged hadrons within
   ``photon_iso_veto_charged``, e.g. its own conversion tracks): ``pfRelIso03_chg`` = primary-vertex
   charged pT / pT, ``pfRelIso03_all`` adds the neutral pT less half the pile-up charged pT.
4. **Pixel seed**: a charged particle with pixel hits (a track or not) that, bent with the
   supercluster energy for either charge, meets the supercluster (``pixel_match_*``).
   **Electron veto** (conversion-safe): false when an electron candidate with no missing inner
   hit and no conversion partner matches the supercluster.
5. **ID** ``cutBased`` (0 fail, 1 loose, 2 medium, 3 tight): H/E, sigma_ieta_ieta (barrel /
   endcap), pfRelIso03_chg and pfRelIso03_all below ``photon_wp_*``.
6. **genPartIdx**: the particle that gave the supercluster most energy, when it is a photon (or
   an electron of its conversion) kept in ``GenPart`` (final-state photons above 10 GeV), else -1.

References: [EGM] CMS, JINST 16 (2021) P05014. Parameters:
:class:`flashsim.refsim.cms.params.CMSLikeParameters`.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim.generators.kinematics import delta_phi, pairs_within
from flashsim.refsim.cms.calorimetry import cell_keys
from flashsim.refsim.cms.geometry import BEND
from flashsim.refsim.cms.params import CMSLikeParameters
from flashsim.refsim.cms.pfcand import (
    ELECTRON,
    PHOTON,
    Table,
    select_rows,
    sorted_collection,
)
from flashsim.refsim.cms.showers import (
    crystal_matrix,
    first_claims,
    shape_deposits,
    shape_variables,
    window_pairs,
)

__all__ = [
    "build_photons",
    "cluster_owner",
    "hcal_over_ecal",
    "matches_track",
    "photon_collection",
    "photon_isolation",
    "superclusters",
    "tower_hoe",
]


def _greedy_seeds(p: CMSLikeParameters, cells: Table, seeds: np.ndarray) -> np.ndarray:
    """Which ``seeds`` (cell rows) survive: those not in the window of a kept, more energetic
    seed, processed from the most energetic down (the fixed point of that rule)."""
    qs, ss = window_pairs(
        p, cells["evt"][seeds], cells["eta"][seeds], cells["phi"][seeds], cells, seeds
    )
    pos = np.searchsorted(seeds, ss)  # seeds are sorted cell rows
    e = cells["energy"][seeds]
    higher = (e[pos] > e[qs]) | ((e[pos] == e[qs]) & (pos < qs))
    low, high = qs[higher], pos[higher]
    kept = np.ones(len(seeds), dtype=bool)
    for _ in range(len(seeds) + 1):
        dominated = np.zeros(len(seeds), dtype=bool)
        dominated[low[kept[high]]] = True
        if np.array_equal(~dominated, kept):
            break
        kept = ~dominated
    return kept


def superclusters(p: CMSLikeParameters, cells: Table) -> tuple[Table, np.ndarray]:
    """Photon superclusters from the ECAL cells (see the module).

    Returns:
        the superclusters (``evt``, ``seed`` cell row, ``energy``, ``eta``, ``phi``, ``pt``),
        sorted by event, all of them (no pT cut); and, per cell, the supercluster it belongs to
        (-1 for none).
    """
    ecal = np.flatnonzero(
        (cells["layer"] == 0)
        & (cells["energy"] > cells["threshold"])
        & (np.abs(cells["eta"]) < p.photon_eta_max + p.supercluster_deta)
    )
    et = cells["energy"][ecal] / np.cosh(cells["eta"][ecal])
    seeds = ecal[(et > p.photon_seed_et_min) & (np.abs(cells["eta"][ecal]) < p.photon_eta_max)]
    seeds = seeds[_greedy_seeds(p, cells, seeds)]
    s_eta, s_phi = cells["eta"][seeds], cells["phi"][seeds]
    q, c = window_pairs(p, cells["evt"][seeds], s_eta, s_phi, cells, ecal)
    # each cell joins the most energetic seed whose window holds it
    rank = np.empty(len(seeds), dtype=np.int64)
    rank[np.argsort(-cells["energy"][seeds], kind="stable")] = np.arange(len(seeds))
    mine = first_claims(rank[q], c)
    q, c = q[mine], c[mine]
    n = len(seeds)
    e_cell = cells["energy"][c]
    energy = np.bincount(q, e_cell, minlength=n)
    e_safe = np.maximum(energy, 1e-9)
    eta = np.bincount(q, e_cell * cells["eta"][c], minlength=n) / e_safe
    dphi = np.bincount(q, e_cell * delta_phi(cells["phi"][c], s_phi[q]), minlength=n) / e_safe
    phi = delta_phi(s_phi + dphi, 0.0)
    owner = np.full(len(cells["energy"]), -1, dtype=np.int64)
    owner[c] = q
    clusters = {
        "evt": cells["evt"][seeds],
        "seed": seeds,
        "energy": energy,
        "eta": eta,
        "phi": phi,
        "pt": energy / np.cosh(eta),
    }
    return clusters, owner


def hcal_over_ecal(
    p: CMSLikeParameters, obj: Table, cells: Table, energy: np.ndarray, cone: float
) -> np.ndarray:
    """HCAL energy within ``cone`` of each object (``evt``, ``eta``, ``phi``) over ``energy``."""
    hcal = np.flatnonzero(cells["layer"] == 1)
    total = np.zeros(len(obj["evt"]))
    for q, s, _ in pairs_within(
        obj["evt"],
        obj["eta"],
        obj["phi"],
        cells["evt"][hcal],
        cells["eta"][hcal],
        cells["phi"][hcal],
        cone,
    ):
        total += np.bincount(q, cells["energy"][hcal[s]], minlength=len(total))
    return total / np.maximum(energy, 1e-3)


def tower_hoe(p: CMSLikeParameters, obj: Table, cells: Table, energy: np.ndarray) -> np.ndarray:
    """Single-tower H/E: the energy of the HCAL cell behind each object's position (``evt``,
    ``eta``, ``phi``) over ``energy`` [EGM]."""
    layer = np.ones(len(obj["evt"]), dtype=np.int64)
    key = cell_keys(p, obj["evt"], layer, obj["eta"], obj["phi"])
    keys = cells["key"]
    if len(keys) == 0:
        return np.zeros(len(key))
    idx = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
    hcal = np.where(keys[idx] == key, cells["energy"][idx], 0.0)
    return np.maximum(hcal, 0.0) / np.maximum(energy, 1e-3)


def matches_track(
    p: CMSLikeParameters,
    sc: Table,
    trk_evt: np.ndarray,
    trk_eta: np.ndarray,
    trk_phi: np.ndarray,
    trk_q: np.ndarray | None,
    deta: float,
    dphi: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(supercluster, track) pairs where the track, bent to the ECAL with the supercluster's
    pT, meets the supercluster within ``deta`` and ``dphi``; ``trk_q`` None tries both
    charges (a pixel seed does not know its charge)."""
    k = BEND * p.b_field_t * p.ecal_radius_m
    radius = k / max(float(np.min(sc["pt"], initial=1.0)), 1.0) + dphi + deta
    qs, ts = [], []
    for q, t, _ in pairs_within(sc["evt"], sc["eta"], sc["phi"], trk_evt, trk_eta, trk_phi, radius):
        bend = k / np.maximum(sc["pt"][q], 1e-3)
        ok_eta = np.abs(trk_eta[t] - sc["eta"][q]) < deta
        charges = (-1, 1) if trk_q is None else (None,)
        ok_phi = np.zeros(len(q), dtype=bool)
        for charge in charges:
            sign = trk_q[t] if charge is None else charge
            ok_phi |= np.abs(delta_phi(sc["phi"][q], trk_phi[t] - sign * bend)) < dphi
        qs.append(q[ok_eta & ok_phi])
        ts.append(t[ok_eta & ok_phi])
    if not qs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(qs), np.concatenate(ts)


def photon_isolation(p: CMSLikeParameters, ph: Table, pf: Table) -> tuple[np.ndarray, np.ndarray]:
    """``pfRelIso03_chg`` and ``pfRelIso03_all`` of the photons ``ph`` (see the module)."""
    n = len(ph["pt"])
    ch_pv, ch_pu, neutral = np.zeros(n), np.zeros(n), np.zeros(n)
    for q, c, dr in pairs_within(
        ph["evt"], ph["eta"], ph["phi"], pf["evt"], pf["eta"], pf["phi"], p.photon_iso_cone
    ):
        kind, charged = pf["kind"][c], pf["charged"][c]
        footprint = (
            ((kind == PHOTON) | (kind == ELECTRON))
            & (np.abs(pf["eta"][c] - ph["eta"][q]) < p.supercluster_deta)
            & (np.abs(delta_phi(pf["phi"][c], ph["phi"][q])) < p.supercluster_dphi)
        )
        veto = footprint | (charged & (dr < p.photon_iso_veto_charged))
        pt = np.where(veto, 0.0, pf["pt"][c])
        from_pv = pf["from_pv"][c]
        ch_pv += np.bincount(q, pt * (charged & from_pv), minlength=n)
        ch_pu += np.bincount(q, pt * (charged & ~from_pv), minlength=n)
        neutral += np.bincount(q, pt * ~charged, minlength=n)
    pt = np.maximum(ph["pt"], 1e-3)
    return ch_pv / pt, (ch_pv + np.maximum(0.0, neutral - 0.5 * ch_pu)) / pt


def cluster_owner(
    p: CMSLikeParameters,
    part: Table,
    deposits: Table,
    cells: Table,
    cell_cluster: np.ndarray,
    n_clusters: int,
) -> np.ndarray:
    """Per supercluster, the row in ``part`` of the particle whose deposits in its cells carry
    the most energy (-1 for a cluster without deposits)."""
    ecal = np.flatnonzero(deposits["layer"] == 0)
    key = cell_keys(
        p,
        deposits["evt"][ecal],
        deposits["layer"][ecal],
        deposits["eta"][ecal],
        deposits["phi"][ecal],
    )
    cluster = cell_cluster[np.searchsorted(cells["key"], key)]
    inside = cluster >= 0
    cl, own = cluster[inside], deposits["owner"][ecal][inside]
    pair, inv = np.unique(cl * len(part["pt"]) + own, return_inverse=True)
    energy = np.bincount(inv, deposits["energy"][ecal][inside])
    pair_cluster = pair // len(part["pt"])
    order = np.lexsort((-energy, pair_cluster))
    first = order[np.r_[True, pair_cluster[order][1:] != pair_cluster[order][:-1]]]
    out = np.full(n_clusters, -1, dtype=np.int64)
    out[pair_cluster[first]] = pair[first] % len(part["pt"])
    return out


def photon_collection(p: CMSLikeParameters, ph: Table, n_events: int) -> ak.Array:
    """``Photon``: NanoAOD branches of the photons ``ph`` (:func:`build_photons`)."""
    barrel = np.abs(ph["eta"]) < p.barrel_eta
    cut_based = np.zeros(len(ph["pt"]), dtype=np.int32)
    for wp in range(3):
        sieie_max = np.where(barrel, p.photon_wp_sieie_barrel[wp], p.photon_wp_sieie_endcap[wp])
        ok = (
            (ph["hoe"] < p.photon_wp_hoe[wp])
            & (ph["sieie"] < sieie_max)
            & (ph["iso_chg"] < p.photon_wp_iso_chg[wp])
            & (ph["iso_all"] < p.photon_wp_iso_all[wp])
        )
        cut_based = np.where(ok & (cut_based == wp), wp + 1, cut_based)
    f32 = np.float32
    fields = {
        "pt": ph["pt"].astype(f32),
        "eta": ph["eta"].astype(f32),
        "phi": ph["phi"].astype(f32),
        "r9": ph["r9"].astype(f32),
        "sieie": ph["sieie"].astype(f32),
        "hoe": ph["hoe"].astype(f32),
        "pfRelIso03_all": ph["iso_all"].astype(f32),
        "pfRelIso03_chg": ph["iso_chg"].astype(f32),
        "cutBased": cut_based.astype(np.uint8),
        "pixelSeed": ph["pixel_seed"].astype(bool),
        "electronVeto": ph["electron_veto"].astype(bool),
        "genPartIdx": ph["gen"].astype(np.int16),
    }
    return sorted_collection(fields, ph["evt"], ph["pt"], n_events)


def build_photons(
    p: CMSLikeParameters,
    part: Table,
    trk: Table,
    deposits: Table,
    cells: Table,
    ele: Table,
    pf: Table,
    n_events: int,
    rng: np.random.Generator,
) -> ak.Array:
    """The ``Photon`` collection of a block (see the module for the steps)."""
    clusters, cell_cluster = superclusters(p, cells)
    owner = cluster_owner(p, part, deposits, cells, cell_cluster, len(clusters["pt"]))
    good = (clusters["pt"] > p.photon_pt_min) & (np.abs(clusters["eta"]) < p.photon_eta_max)
    ph = select_rows({**clusters, "owner": owner}, good)
    seed = ph["seed"]
    matrix = crystal_matrix(
        p, ph["evt"], cells["eta"][seed], cells["phi"][seed], shape_deposits(deposits, part), rng
    )
    ph["r9"], ph["sieie"] = shape_variables(p, matrix, ph["energy"], ph["eta"])
    ph["hoe"] = tower_hoe(p, ph, cells, ph["energy"])
    ph["iso_chg"], ph["iso_all"] = photon_isolation(p, ph, pf)
    # seeds are pixel hit pairs: any charged particle with pixel hits, found as a track or not
    tracks = np.flatnonzero(trk["pixel"] >= p.pixel_seed_hits)
    q, _ = matches_track(
        p,
        ph,
        part["evt"][tracks],
        trk["eta"][tracks],
        trk["phi"][tracks],
        None,
        p.pixel_match_deta,
        p.pixel_match_dphi,
    )
    ph["pixel_seed"] = np.bincount(q, minlength=len(ph["pt"])) > 0
    clean = (ele["lost"] == 0) & ~ele["conv"].astype(bool)
    q, _ = matches_track(
        p,
        ph,
        ele["evt"][clean],
        ele["eta"][clean],
        ele["phi"][clean],
        ele["q"][clean],
        p.electron_seed_deta,
        p.electron_seed_dphi,
    )
    ph["electron_veto"] = np.bincount(q, minlength=len(ph["pt"])) == 0
    o = np.maximum(ph["owner"], 0)
    photon_like = (part["apdg"][o] == 22) | ((part["apdg"][o] == 11) & (part["conv_r"][o] > 0))
    ph["gen"] = np.where((ph["owner"] >= 0) & photon_like, part["gen"][o], -1)
    return photon_collection(p, ph, n_events)

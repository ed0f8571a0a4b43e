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
7. **Links** as NanoAOD's: ``jetIdx``, the jet holding the most energetic PF photon or electron
   of the footprint, else any PF candidate of the window (:func:`photon_isolation`): a photon
   from a pi0 points to the jet of its hadrons, which the flash simulation follows from the
   GenJet; ``electronIdx``, the most energetic electron candidate matching the supercluster
   (:func:`electron_match`), and back ``Electron_photonIdx``.

References: [EGM] CMS, JINST 16 (2021) P05014. Parameters:
:class:`flashsim.refsim.cms.params.CMSLikeParameters`.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim.generators.kinematics import delta_phi, pairs_within
from flashsim.refsim.cms.calorimetry import cell_keys
from flashsim.refsim.cms.geometry import BEND
from flashsim.refsim.cms.leptons import delta_beta_isolation, pf_pt_sums
from flashsim.refsim.cms.params import CMSLikeParameters
from flashsim.refsim.cms.pfcand import (
    ELECTRON,
    PHOTON,
    Table,
    position_in_collection,
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
    "best_per_group",
    "build_photons",
    "cluster_owner",
    "electron_match",
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


def photon_isolation(
    p: CMSLikeParameters, ph: Table, pf: Table
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pfRelIso03_chg`` and ``pfRelIso03_all`` of the photons ``ph`` (see the module), and
    ``jetIdx``: the jet (``pf["jet"]``) holding the most energetic PF photon or electron of the
    photon's footprint; failing that (particle flow gave the cluster's energy to a hadron, e.g. a
    pi0 photon on top of a charged pion), the jet of the most energetic PF candidate inside the
    supercluster window; -1 when none is in a jet."""
    n = len(ph["pt"])
    sums = {"ch_pv": np.zeros(n), "ch_pu": np.zeros(n), "neutral": np.zeros(n)}
    win_q, win_c, win_foot = [], [], []
    for q, c, dr in pairs_within(
        ph["evt"], ph["eta"], ph["phi"], pf["evt"], pf["eta"], pf["phi"], p.photon_iso_cone
    ):
        kind, charged = pf["kind"][c], pf["charged"][c]
        window = (np.abs(pf["eta"][c] - ph["eta"][q]) < p.supercluster_deta) & (
            np.abs(delta_phi(pf["phi"][c], ph["phi"][q])) < p.supercluster_dphi
        )
        footprint = window & ((kind == PHOTON) | (kind == ELECTRON))
        veto = footprint | (charged & (dr < p.photon_iso_veto_charged))
        for key, value in pf_pt_sums(n, q, c, pf, ~veto).items():
            sums[key] += value
        win_q.append(q[window])
        win_c.append(c[window])
        win_foot.append(footprint[window])
    jet = np.full(n, -1, dtype=np.int64)
    if win_q and "jet" in pf:
        wq, wc, foot = np.concatenate(win_q), np.concatenate(win_c), np.concatenate(win_foot)
        in_jet = pf["jet"][wc] >= 0
        wq, wc, foot = wq[in_jet], wc[in_jet], foot[in_jet]
        # the footprint first, then by pT
        score = pf["pt"][wc] + np.where(foot, 1e9, 0.0)
        jet = best_per_group(wq, score, pf["jet"][wc], n)
    return sums["ch_pv"] / np.maximum(ph["pt"], 1e-3), delta_beta_isolation(sums, ph["pt"]), jet


def electron_match(p: CMSLikeParameters, ph: Table, ele: Table) -> np.ndarray:
    """Per photon, the row in ``ele`` of the most energetic electron candidate whose track,
    bent with the supercluster pT, meets the supercluster within the electron-seed windows
    (the same supercluster: ``Photon_electronIdx``), -1 for none."""
    q, e = matches_track(
        p,
        ph,
        ele["evt"],
        ele["eta"],
        ele["phi"],
        ele["q"],
        p.electron_seed_deta,
        p.electron_seed_dphi,
    )
    return best_per_group(q, ele["pt"][e], e, len(ph["pt"]))


def best_per_group(group: np.ndarray, score: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per group 0..n-1, the value of its member with the highest ``score`` (-1 for an empty
    group)."""
    out = np.full(n, -1, dtype=np.int64)
    order = np.lexsort((-score, group))
    g = group[order]
    first = np.r_[True, g[1:] != g[:-1]] if len(g) else np.zeros(0, dtype=bool)
    out[g[first]] = values[order][first]
    return out


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
        "jetIdx": ph["jet"].astype(np.int16),
        "electronIdx": ph["electron"].astype(np.int16),
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
) -> tuple[ak.Array, np.ndarray]:
    """The ``Photon`` collection of a block (see the module for the steps), and per row of
    ``ele`` its ``Electron_photonIdx`` (the most energetic photon whose ``electronIdx`` points
    to it, -1 for none). ``pf`` must have the ``jet`` column of
    :func:`flashsim.refsim.cms.reco_objects.build_objects`."""
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
    ph["iso_chg"], ph["iso_all"], ph["jet"] = photon_isolation(p, ph, pf)
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
    # cross-links with the electrons sharing the supercluster, as indices in the collections
    ele_row = electron_match(p, ph, ele)
    ele_pos = position_in_collection(ele["evt"], ele["pt"])
    ph["electron"] = np.where(ele_row >= 0, ele_pos[np.maximum(ele_row, 0)], -1)
    linked = np.flatnonzero(ele_row >= 0)
    ph_pos = position_in_collection(ph["evt"], ph["pt"])
    ele_photon = best_per_group(ele_row[linked], ph["pt"][linked], ph_pos[linked], len(ele["pt"]))
    return photon_collection(p, ph, n_events), ele_photon

"""Particle flow of the CMS-like reference detector: candidates from tracks, leptons and cells.

Electrons and PF muons become lepton candidates; the other found tracks charged hadrons, with the
charged-hadron subtraction flag (CHS) from their longitudinal impact parameter; the calorimeter
energy not explained by the tracks linked to a tower becomes photons and neutral hadrons [PF].
References and parameters: :mod:`flashsim.refsim.cms.params`.
"""

from __future__ import annotations

import numpy as np

from flashsim.refsim.cms.calorimetry import hadron_response, tower_eta, tower_event, tower_phi
from flashsim.refsim.cms.params import CMSLikeParameters
from flashsim.refsim.cms.pfcand import (
    CH_HAD,
    ELECTRON,
    ELECTRON_MASS,
    HF_HAD,
    MUON,
    MUON_MASS,
    NEU_HAD,
    PHOTON,
    Table,
    concat_tables,
    select_rows,
)

__all__ = ["PION_MASS", "neutral_candidates", "particle_flow"]

PION_MASS = 0.13957


def particle_flow(
    p: CMSLikeParameters,
    part: Table,
    trk: Table,
    cells: Table,
    ele: Table,
    mu: Table,
    pair_leg: np.ndarray | None = None,
) -> Table:
    """PF candidates: leptons, charged hadrons from tracks, photons from the tracks of
    identified conversions (``trk["conversion"]``, see
    :func:`flashsim.refsim.cms.lepton_reco.tracks_for_particle_flow`), neutrals from the
    calorimeter excess.

    Rows are sorted by event; ``lepton`` is the row of the candidate in ``ele`` or ``mu``
    (-1 for hadrons and photons). ``pair_leg`` (per particle, default none) marks the tracks
    of displaced pairs (:func:`flashsim.refsim.cms.lepton_reco.displaced_pair_legs`); their
    candidates get ``pair_leg`` true, which keeps them out of the b and c taggers.
    """
    if pair_leg is None:
        pair_leg = np.zeros(len(part["pt"]), dtype=bool)
    used_track = np.zeros(len(part["pt"]), dtype=bool)
    used_track[ele["index"]] = True
    used_track[mu["index"][mu["pf"]]] = True
    conversion = trk.get("conversion", np.zeros(len(part["pt"]), dtype=bool))
    ch = np.flatnonzero(trk["found"] & ~used_track & ~conversion)
    cv = np.flatnonzero(trk["found"] & ~used_track & conversion)
    tables = [
        {
            "evt": part["evt"][ch],
            "pt": trk["pt"][ch],
            "eta": trk["eta"][ch],
            "phi": trk["phi"][ch],
            "mass": np.full(len(ch), PION_MASS),
            "kind": np.full(len(ch), CH_HAD),
            "from_pv": trk["from_pv"][ch],
            "d0": trk["d0"][ch],
            "sd0": trk["sd0"][ch],
            "lost": trk["lost"][ch],
            "pair_leg": pair_leg[ch],
            "charged": np.ones(len(ch), bool),
            "lepton": np.full(len(ch), -1),
        },
    ]
    # conversion legs: photons with the track momentum at the vertex
    tables.append(
        {
            "evt": part["evt"][cv],
            "pt": trk["pt"][cv],
            "eta": trk["eta"][cv],
            "phi": trk["phi"][cv],
            "mass": np.zeros(len(cv)),
            "kind": np.full(len(cv), PHOTON),
            "from_pv": np.ones(len(cv), bool),
            "d0": np.zeros(len(cv)),
            "sd0": np.ones(len(cv)),
            "lost": np.zeros(len(cv), dtype=np.int64),
            "pair_leg": np.zeros(len(cv), dtype=bool),
            "charged": np.zeros(len(cv), bool),
            "lepton": np.full(len(cv), -1),
        }
    )
    pf_mu = select_rows(mu, mu["pf"])
    pf_mu["lepton"] = np.flatnonzero(mu["pf"])
    for lep, kind, mass in ((ele, ELECTRON, ELECTRON_MASS), (pf_mu, MUON, MUON_MASS)):
        n = len(lep["pt"])
        tables.append(
            {
                "evt": lep["evt"],
                "pt": lep["pt"],
                "eta": lep["eta"],
                "phi": lep["phi"],
                "mass": np.full(n, mass),
                "kind": np.full(n, kind),
                "from_pv": np.abs(lep["dz"]) < p.chs_dz_cut_cm,
                "d0": lep["d0"],
                "sd0": trk["sd0"][lep["index"]],
                "lost": trk["lost"][lep["index"]],
                "pair_leg": pair_leg[lep["index"]],
                "charged": np.ones(n, bool),
                "lepton": lep.get("lepton", np.arange(n)),
            }
        )
    tables.append(neutral_candidates(p, cells))
    pf = concat_tables(*tables)
    order = np.argsort(pf["evt"], kind="stable")
    return {k: v[order] for k, v in pf.items()}


def neutral_candidates(p: CMSLikeParameters, cells: Table) -> Table:
    """Neutral PF candidates.

    In towers without a linked track every ECAL cell above threshold is a photon and every
    HCAL (HF) cell a neutral hadron (HF hadron). In towers with linked tracks the summed
    ECAL + HCAL energy is compared with the tracks' expected calorimeter energy; a
    significant excess becomes a photon (up to the ECAL energy) and a neutral hadron.
    """
    free = ~cells["used"]
    energy = np.where(free, cells["energy"], 0.0)
    layer = cells["layer"]
    utower, tinv = np.unique(cells["tower"], return_inverse=True)
    # a cell taken by an electron supercluster takes its expectation along
    t_exp = np.bincount(tinv, np.where(free, cells["expected"], 0.0))
    t_var = np.bincount(tinv, np.where(free, cells["variance"], 0.0))
    t_ecal = np.bincount(tinv, energy * (layer == 0))
    t_hcal = np.bincount(tinv, energy * (layer != 0))
    linked_tower = t_exp > 0
    # unlinked towers: cell by cell
    cell_ok = free & ~linked_tower[tinv] & (cells["energy"] > cells["threshold"])
    c_layer = layer[cell_ok]
    c_e = cells["energy"][cell_ok]
    c_e = np.where(c_layer == 1, c_e / hadron_response(p, c_e), c_e)
    c_e = np.where(c_layer == 2, c_e / p.hf_hadron_response, c_e)
    c_kind = np.choose(c_layer, [PHOTON, NEU_HAD, HF_HAD])
    # linked towers: excess over the expectation
    excess = t_ecal + t_hcal - t_exp
    significant = linked_tower & (excess > p.pf_excess_sigma * np.sqrt(t_var))
    gamma_e = np.where(significant, np.minimum(excess, t_ecal), 0.0)
    nh_e = np.where(significant, excess - gamma_e, 0.0)
    ecal_thr = np.where(
        np.abs(tower_eta(p, utower)) < p.barrel_eta,
        p.ecal_threshold_barrel_gev,
        p.ecal_threshold_endcap_gev,
    )
    g_ok = gamma_e > ecal_thr
    h_ok = nh_e > p.hcal_threshold_gev
    t_evt, t_eta, t_phi = tower_event(utower), tower_eta(p, utower), tower_phi(p, utower)
    nh_cal = nh_e[h_ok] / hadron_response(p, nh_e[h_ok])
    evt = np.concatenate([cells["evt"][cell_ok], t_evt[g_ok], t_evt[h_ok]])
    eta = np.concatenate([cells["eta"][cell_ok], t_eta[g_ok], t_eta[h_ok]])
    phi = np.concatenate([cells["phi"][cell_ok], t_phi[g_ok], t_phi[h_ok]])
    en = np.concatenate([c_e, gamma_e[g_ok], nh_cal])
    kind = np.concatenate([c_kind, np.full(g_ok.sum(), PHOTON), np.full(h_ok.sum(), NEU_HAD)])
    n = len(en)
    return {
        "evt": evt,
        "pt": en / np.cosh(eta),
        "eta": eta,
        "phi": phi,
        "mass": np.zeros(n),
        "kind": kind,
        "from_pv": np.ones(n, bool),
        "d0": np.zeros(n),
        "sd0": np.ones(n),
        "lost": np.zeros(n, dtype=np.int64),
        "pair_leg": np.zeros(n, dtype=bool),
        "charged": np.zeros(n, bool),
        "lepton": np.full(n, -1),
    }

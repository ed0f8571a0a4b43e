"""Electron candidates seeded by hadron tracks in the CMS-like reference detector (fakes).

Electrons, including the legs of photon conversions (:mod:`flashsim.refsim.cms.conversions`),
become candidates in :func:`flashsim.refsim.cms.lepton_reco.electron_candidates`. A hadron track
becomes one the way CMS's ECAL-driven seeding lets it [EGM]: a track with pT above
``fake_seed_pt_min`` and at least ``pixel_seed_hits`` pixel hits, a supercluster in the window
around its ECAL impact (cells not taken by an electron) with pT above ``electron_pt_min`` and
H/E below ``electron_seed_hoe_max``, whose position matches the track bent with the supercluster
energy (either charge) within ``electron_seed_deta`` and ``electron_seed_dphi``. Two sources
pass: charged hadrons that shower early in the ECAL (a large ECAL share, so a small H/E and
E/p near its ECAL share) and photons -- from pi0 decays -- overlapping a track (E/p above 1). Their
``sieie`` is computed from the deposits around the seed cell (:mod:`flashsim.refsim.cms.showers`:
hadronic deposits are wider), their other ID variables as for electrons; ``gen`` is -1. Their
supercluster cells are taken (``used``), so that particle flow counts them once.

References: [EGM] CMS, JINST 16 (2021) P05014. Parameters:
:class:`flashsim.refsim.cms.params.CMSLikeParameters`.
"""

from __future__ import annotations

import numpy as np

from flashsim.generators.kinematics import delta_phi
from flashsim.refsim.cms.geometry import BEND, bent_phi, calo_radius
from flashsim.refsim.cms.lepton_reco import conversion_partner
from flashsim.refsim.cms.params import CMSLikeParameters
from flashsim.refsim.cms.pfcand import Table, select_rows
from flashsim.refsim.cms.showers import (
    crystal_matrix,
    first_claims,
    hcal_over_ecal,
    shape_deposits,
    shape_variables,
    window_pairs,
)

__all__ = ["hadron_electron_candidates"]


def hadron_electron_candidates(
    p: CMSLikeParameters,
    part: Table,
    trk: Table,
    deposits: Table,
    cells: Table,
    rng: np.random.Generator,
) -> Table:
    """Electron candidates seeded by hadron tracks (see the module), with the columns of
    :func:`flashsim.refsim.cms.lepton_reco.electron_candidates`; marks their cells ``used``."""
    apdg = part["apdg"]
    idx = np.flatnonzero(
        trk["found"]
        & (apdg != 11)
        & (apdg != 13)
        & (trk["pt"] > p.fake_seed_pt_min)
        & (np.abs(trk["eta"]) < p.electron_eta_max)
        & (trk["pixel"] >= p.pixel_seed_hits)
    )
    idx = idx[np.argsort(-trk["pt"][idx], kind="stable")]
    eta, pt, q = trk["eta"][idx], trk["pt"][idx], trk["q"][idx]
    phi_calo = bent_phi(p, trk["phi"][idx], q, pt, calo_radius(p, eta))
    evt = part["evt"][idx]
    n = len(idx)
    free_ecal = np.flatnonzero((cells["layer"] == 0) & ~cells["used"])
    cand, cell = window_pairs(p, evt, eta, phi_calo, cells, free_ecal)
    # a cell in several windows goes to the highest-pT track (the seeds are sorted)
    mine = first_claims(cand, cell)
    cand, cell = cand[mine], cell[mine]
    e_cell = cells["energy"][cell]
    e_sc = np.bincount(cand, e_cell, minlength=n)
    e_safe = np.maximum(e_sc, 1e-9)
    sc_eta = np.bincount(cand, e_cell * cells["eta"][cell], minlength=n) / e_safe
    sc_dphi = np.bincount(cand, e_cell * delta_phi(cells["phi"][cell], phi_calo[cand]), minlength=n)
    sc_phi = delta_phi(phi_calo + sc_dphi / e_safe, 0.0)
    sc_pt = e_sc / np.cosh(eta)
    hoe = hcal_over_ecal(
        p, {"evt": evt, "eta": eta, "phi": phi_calo}, cells, e_sc, p.electron_hoe_cone
    )
    bend = BEND * p.b_field_t * p.ecal_radius_m / np.maximum(sc_pt, 1e-3)
    dphi = np.minimum(
        np.abs(delta_phi(sc_phi, trk["phi"][idx] - bend)),
        np.abs(delta_phi(sc_phi, trk["phi"][idx] + bend)),
    )
    seeded = (
        (sc_pt > p.electron_pt_min)
        & (hoe < p.electron_seed_hoe_max)
        & (np.abs(sc_eta - eta) < p.electron_seed_deta)
        & (dphi < p.electron_seed_dphi)
    )
    keep = np.flatnonzero(seeded)
    # the seed cell: the most energetic cell of the window
    in_keep = np.zeros(n, dtype=bool)
    in_keep[keep] = True
    sel = in_keep[cand]
    kc, kcell = cand[sel], cell[sel]
    order = np.lexsort((-cells["energy"][kcell], kc))
    kc, kcell = kc[order], kcell[order]
    first = np.r_[True, kc[1:] != kc[:-1]] if len(kc) else np.zeros(0, dtype=bool)
    seed_cell = np.zeros(n, dtype=np.int64)
    seed_cell[kc[first]] = kcell[first]
    cells["used"][kcell] = True
    seed = seed_cell[keep]
    matrix = crystal_matrix(
        p, evt[keep], cells["eta"][seed], cells["phi"][seed], shape_deposits(deposits, part), rng
    )
    _, sieie = shape_variables(p, matrix, e_sc[keep], eta[keep])
    rows = idx[keep]
    out = {
        "index": rows,
        "pt": sc_pt[keep],
        "eta": eta[keep],
        "phi": trk["phi"][rows],
        "q": q[keep],
        "d0": trk["d0"][rows],
        "dz": trk["dz"][rows],
        "sd0": trk["sd0"][rows],
        "sdz": trk["sdz"][rows],
        "hoe": hoe[keep],
        "sieie": sieie,
        "eop": e_sc[keep] / np.maximum(pt[keep] * np.cosh(eta[keep]), 1e-3),
        "lost": trk["lost"][rows],
        "conv": conversion_partner(p, part, trk, rows),
        "evt": evt[keep],
        "gen": np.full(len(rows), -1, dtype=part["gen"].dtype),
    }
    return select_rows(out, np.arange(len(rows)))

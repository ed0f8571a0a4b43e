"""Calorimetry of the CMS-like reference detector: energy deposits, cells and towers.

Photons and electrons (with their bremsstrahlung) shower in the ECAL or the HF; hadrons in the
HCAL or the HF, some starting in the ECAL, with the non-linear hadron response. Deposits are
smeared with stochastic, noise and constant terms [ECAL, HCAL], summed in cells of finite size
that merge nearby particles [PF], and the cells grouped in towers (an HCAL cell and the ECAL cells
in front of it) for particle flow. References and parameters: :mod:`flashsim.refsim.cms.params`.
"""

from __future__ import annotations

import numpy as np

from flashsim.refsim.cms.geometry import BEND, bent_phi, calo_radius
from flashsim.refsim.cms.params import CMSLikeParameters
from flashsim.refsim.cms.pfcand import Table

__all__ = [
    "calorimeter_cells",
    "cell_keys",
    "cells_from_deposits",
    "em_resolution",
    "energy_deposits",
    "hadron_response",
    "tower_eta",
    "tower_event",
    "tower_phi",
]

#: Columns of a deposit table (:func:`energy_deposits`), in this order.
DEPOSIT_COLUMNS = ("evt", "layer", "eta", "phi", "energy", "expected", "variance", "owner")


def hadron_response(p: CMSLikeParameters, energy: np.ndarray) -> np.ndarray:
    """Mean calorimeter response to hadrons of energy ``energy`` (GeV)."""
    e = np.maximum(energy, 0.2)
    return 1.0 - p.hadron_response_r0 * e ** (-p.hadron_response_r1)


def em_resolution(p: CMSLikeParameters, energy: np.ndarray, aeta: np.ndarray) -> np.ndarray:
    """Relative ECAL energy resolution at ``energy`` (GeV) and ``|eta|``."""
    barrel = aeta < p.barrel_eta
    stoch = np.where(barrel, p.ecal_stochastic_barrel, p.ecal_stochastic_endcap)
    const = np.where(barrel, p.ecal_constant_barrel, p.ecal_constant_endcap)
    return np.hypot(stoch / np.sqrt(np.maximum(energy, 1e-3)), const)


def energy_deposits(
    p: CMSLikeParameters, part: Table, trk: Table, ecal_extra: Table, rng: np.random.Generator
) -> Table:
    """Smeared energy deposits of the visible particles, one row per particle and layer.

    ``layer`` is 0 (ECAL), 1 (HCAL) or 2 (HF); ``expected`` and ``variance`` are the particle-flow
    expectation of a track-linked hadron's calorimeter energy and its variance; ``owner`` the
    row of the depositing particle in ``part``. ``ecal_extra`` holds the ECAL deposits of the
    electrons and their bremsstrahlung photons
    (:func:`flashsim.refsim.cms.lepton_reco.electron_showers`).
    """
    aeta = np.abs(part["eta"])
    apdg = part["apdg"]
    charged = part["q"] != 0
    radius = calo_radius(p, part["eta"])
    # Loopers: charged particles too soft to reach the calorimeter surface.
    reach = ~charged | (part["pt"] > BEND * p.b_field_t * radius * 1.0)
    phi_c = np.where(charged, bent_phi(p, part["phi"], part["q"], part["pt"], radius), part["phi"])
    linked = charged & trk["found"]  # track-linked deposits (PF expectation)
    dep = []  # (evt, layer, eta, phi, energy, expected, variance, owner)
    # photons: ECAL or HF
    em = (apdg == 22) & reach
    e = part["e"][em]
    in_ecal = aeta[em] < p.ecal_eta_max
    res = np.where(
        in_ecal,
        em_resolution(p, e, aeta[em]),
        np.hypot(p.hf_stochastic / np.sqrt(np.maximum(e, 1e-3)), p.hf_constant),
    )
    e_dep = np.maximum(e * (1 + res * rng.standard_normal(len(e))), 0.0)
    dep.append(
        (
            part["evt"][em],
            np.where(in_ecal, 0, 2),
            part["eta"][em],
            phi_c[em],
            e_dep,
            np.zeros_like(e),
            np.zeros_like(e),
            np.flatnonzero(em),
        )
    )
    # electrons (and their bremsstrahlung) in the ECAL
    e = ecal_extra["energy"]
    ae = np.abs(ecal_extra["eta"])
    e_dep = np.maximum(e * (1 + em_resolution(p, e, ae) * rng.standard_normal(len(e))), 0)
    dep.append(
        (
            ecal_extra["evt"],
            np.zeros(len(e), dtype=np.int64),
            ecal_extra["eta"],
            ecal_extra["phi"],
            e_dep,
            np.zeros_like(e),
            np.zeros_like(e),
            ecal_extra["owner"],
        )
    )
    # hadrons (pi/K that decayed in flight leave no shower)
    had = (apdg != 11) & (apdg != 13) & (apdg != 22) & reach & ~part["dif"]
    idx = np.flatnonzero(had)
    is_baryon = apdg[idx] > 1000
    energy = np.where(is_baryon, np.maximum(part["e"][idx] - 0.938, 0.0), part["e"][idx])
    hf = aeta[idx] >= p.ecal_eta_max
    resp = np.where(hf, p.hf_hadron_response, hadron_response(p, energy))
    sig = np.where(
        hf,
        np.hypot(p.hf_stochastic / np.sqrt(np.maximum(energy, 1e-3)), p.hf_constant),
        np.hypot(p.hcal_stochastic / np.sqrt(np.maximum(energy, 1e-3)), p.hcal_constant),
    )
    total = np.maximum(energy * resp * (1 + sig * rng.standard_normal(len(idx))), 0.0)
    starts = (rng.random(len(idx)) < p.hadron_ecal_start_prob) & ~hf
    share = np.where(starts, rng.beta(*p.hadron_ecal_share_beta, len(idx)), 0.0)
    # a few showers are electromagnetic, nearly contained in the ECAL (charge exchange)
    em_like = starts & (rng.random(len(idx)) < p.hadron_em_shower_prob)
    share = np.where(em_like, rng.uniform(p.hadron_em_shower_share_min, 1.0, len(idx)), share)
    exp_total = np.where(linked[idx], trk["pt"][idx] * np.cosh(part["eta"][idx]), 0.0)
    exp_total = exp_total * hadron_response(p, exp_total)
    exp_var = (exp_total * sig) ** 2
    evt, eta_h, phi_h = part["evt"][idx], part["eta"][idx], phi_c[idx]
    zeros = np.zeros(len(idx))
    dep.append(
        (evt, np.zeros(len(idx), dtype=np.int64), eta_h, phi_h, total * share, zeros, zeros, idx)
    )
    # the PF expectation of a track-linked hadron sits on its HCAL/HF row
    dep.append(
        (evt, np.where(hf, 2, 1), eta_h, phi_h, total * (1 - share), exp_total, exp_var, idx)
    )
    columns = [np.concatenate([d[i] for d in dep]) for i in range(len(DEPOSIT_COLUMNS))]
    table = dict(zip(DEPOSIT_COLUMNS, columns, strict=True))
    keep = (table["energy"] > 0) | (table["expected"] > 0)
    return {k: v[keep] for k, v in table.items()}


def cell_keys(
    p: CMSLikeParameters,
    evt: np.ndarray,
    layer: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
) -> np.ndarray:
    """Key of the ECAL (layer 0), HCAL (1) or HF (2) cell at ``eta``, ``phi``: cells sort by it
    (event, layer, eta index, phi index), and :func:`cells_from_deposits` returns it as ``key``."""
    size = np.choose(layer, [p.ecal_cell, p.hcal_cell, p.hf_cell])
    nphi = np.rint(2 * np.pi / size).astype(np.int64)
    ieta = np.floor(eta / size).astype(np.int64)
    iphi = np.floor((phi + np.pi) / (2 * np.pi) * nphi).astype(np.int64) % nphi
    return ((evt.astype(np.int64) * 3 + layer) * 4096 + (ieta + 2048)) * 512 + iphi


def cells_from_deposits(p: CMSLikeParameters, dep: Table, rng: np.random.Generator) -> Table:
    """Sum deposits per ECAL/HCAL/HF cell, add the cell noise, and assign cells to towers.

    Returns one row per cell, sorted by event, with the cell centre, energy, summed PF
    expectation and variance, threshold, tower key (:func:`tower_event`, :func:`tower_eta`,
    :func:`tower_phi`), cell ``key`` (:func:`cell_keys`, sorted) and a ``used`` flag for the
    electron supercluster.
    """
    key = cell_keys(p, dep["evt"], dep["layer"], dep["eta"], dep["phi"])
    ukey, inv = np.unique(key, return_inverse=True)
    c_e = np.bincount(inv, weights=dep["energy"])
    c_exp = np.bincount(inv, weights=dep["expected"])
    c_var = np.bincount(inv, weights=dep["variance"])
    c_iphi = ukey % 512
    c_ieta = (ukey // 512) % 4096 - 2048
    c_layer = (ukey // (512 * 4096)) % 3
    c_evt = ukey // (512 * 4096 * 3)
    c_size = np.choose(c_layer, [p.ecal_cell, p.hcal_cell, p.hf_cell])
    c_nphi = np.rint(2 * np.pi / c_size)
    c_eta = (c_ieta + 0.5) * c_size
    c_phi = (c_iphi + 0.5) * 2 * np.pi / c_nphi - np.pi
    barrel = np.abs(c_eta) < p.barrel_eta
    noise = np.choose(
        c_layer,
        [
            np.where(barrel, p.ecal_noise_barrel_gev, p.ecal_noise_endcap_gev),
            p.hcal_noise_gev,
            p.hcal_noise_gev,
        ],
    )
    c_e = c_e + noise * rng.standard_normal(len(c_e))
    thr = np.choose(
        c_layer,
        [
            np.where(barrel, p.ecal_threshold_barrel_gev, p.ecal_threshold_endcap_gev),
            p.hcal_threshold_gev,
            p.hf_threshold_gev,
        ],
    )
    # PF blocks: HCAL towers, with the ECAL cells in front of them (HF cells on their own)
    t_nphi = round(2 * np.pi / p.hcal_cell)
    t_ieta = np.floor(c_eta / p.hcal_cell).astype(np.int64)
    t_iphi = np.floor((c_phi + np.pi) / (2 * np.pi) * t_nphi).astype(np.int64) % t_nphi
    tower = ((c_evt * 2 + (c_layer == 2)) * 4096 + (t_ieta + 2048)) * 512 + t_iphi
    return {
        "evt": c_evt,
        "layer": c_layer,
        "eta": c_eta,
        "phi": c_phi,
        "energy": c_e,
        "expected": c_exp,
        "variance": c_var,
        "threshold": thr,
        "tower": tower,
        "key": ukey,
        "used": np.zeros(len(c_e), dtype=bool),
    }


def calorimeter_cells(
    p: CMSLikeParameters, part: Table, trk: Table, ecal_extra: Table, rng: np.random.Generator
) -> Table:
    """Deposit energies in ECAL/HCAL/HF cells and sum them per cell (see the two steps)."""
    return cells_from_deposits(p, energy_deposits(p, part, trk, ecal_extra, rng), rng)


def tower_event(tower: np.ndarray) -> np.ndarray:
    """Event (within the block) of a tower key of :func:`cells_from_deposits`."""
    return tower // (512 * 4096 * 2)


def tower_eta(p: CMSLikeParameters, tower: np.ndarray) -> np.ndarray:
    """Pseudorapidity of the centre of a tower."""
    return ((tower // 512) % 4096 - 2048 + 0.5) * p.hcal_cell


def tower_phi(p: CMSLikeParameters, tower: np.ndarray) -> np.ndarray:
    """Azimuth of the centre of a tower."""
    nphi = round(2 * np.pi / p.hcal_cell)
    return ((tower % 512) + 0.5) * 2 * np.pi / nphi - np.pi

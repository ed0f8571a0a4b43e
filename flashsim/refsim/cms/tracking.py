"""Charged particles in the tracker volume of the CMS-like reference detector.

Decays in flight of charged pions and kaons before the calorimeter (the source of non-prompt
muons), and tracking: acceptance, efficiency, hit counting, curvature smearing with scattering
tails, impact parameters from Pythia's production vertices [TRK]. References and parameters:
:mod:`flashsim.refsim.cms.params`.
"""

from __future__ import annotations

import numpy as np

from flashsim.generators.kinematics import delta_phi
from flashsim.refsim.cms.geometry import calo_radius
from flashsim.refsim.cms.params import CMSLikeParameters
from flashsim.refsim.cms.pfcand import MUON_MASS, Table

__all__ = ["DECAYS_IN_FLIGHT", "decays_in_flight", "track_particles"]

# c*tau in m and mass in GeV of the long-lived charged mesons that can decay to muons.
DECAYS_IN_FLIGHT = {211: (7.8045, 0.13957), 321: (3.712, 0.493677)}


def decays_in_flight(
    p: CMSLikeParameters, part: Table, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Which pions and kaons of ``part`` decay before the calorimeter, and the muon's share.

    Returns:
        per particle, whether it decays in flight, and the momentum fraction its muon would
        carry (1 for the particles that are not pions or kaons).
    """
    dif = np.zeros(len(part["pt"]), dtype=bool)
    x_mu = np.ones(len(part["pt"]))
    for pid, (ctau, mass) in DECAYS_IN_FLIGHT.items():
        sel = part["apdg"] == pid
        path = calo_radius(p, part["eta"][sel]) * np.cosh(part["eta"][sel])
        decay_length = part["p"][sel] / mass * ctau
        dif[sel] = rng.random(sel.sum()) < -np.expm1(-path / decay_length)
        xmin = (MUON_MASS / mass) ** 2
        x_mu[sel] = rng.uniform(xmin, 1.0, sel.sum())
    return dif, x_mu


def track_particles(p: CMSLikeParameters, part: Table, rng: np.random.Generator) -> Table:
    """Tracks of charged particles: efficiency, hits, curvature and impact parameters.

    Arrays run over all particles; only entries with ``found`` are meaningful.
    """
    n_all = len(part["pt"])
    acc = np.flatnonzero(
        (part["q"] != 0) & (np.abs(part["eta"]) < p.track_eta_max) & (part["pt"] > p.track_pt_min)
    )
    pt, eta, phi, q = part["pt"][acc], part["eta"][acc], part["phi"][acc], part["q"][acc]
    apdg = part["apdg"][acc]
    aeta = np.abs(eta)
    frac = np.clip((aeta - 0.9) / (p.track_eta_max - 0.9), 0, 1)
    eff = (p.track_eff_barrel + (p.track_eff_endcap - p.track_eff_barrel) * frac) * (
        -np.expm1(-(pt - 0.3) / p.track_eff_turn_on_gev)
    )
    eff = np.where(apdg == 11, eff * p.track_eff_electron_factor, eff)
    eff = np.where(apdg == 13, p.track_eff_muon, eff)
    n = len(acc)
    # hit pattern: a layer inside the production radius cannot have a hit; the others are
    # hit with the layer efficiency. lostHits = missing layers before the first hit.
    radii = np.asarray(p.tracker_layer_radii_cm)
    r_prod = np.hypot(part["vx"][acc], part["vy"][acc]) / 10.0
    layer_hit = (rng.random((n, len(radii))) < p.tracker_hit_efficiency) & (
        radii[np.newaxis, :] > r_prod[:, np.newaxis]
    )
    hits = layer_hit.sum(axis=1)
    lost = np.where(hits > 0, np.argmax(layer_hit, axis=1), len(radii))
    pixel = layer_hit[:, : p.pixel_layers].sum(axis=1)
    found = (rng.random(n) < eff) & (hits >= 5)
    scale = np.sqrt(p.tracker_layers / np.maximum(hits, 1))
    scale = np.where(rng.random(n) < p.track_tail_fraction, scale * p.track_tail_scale, scale)
    e2 = (aeta / 2.5) ** 2
    res_a = p.track_res_a_barrel + p.track_res_a_slope * e2
    res_b = p.track_res_b_barrel + p.track_res_b_slope * e2
    rel = np.sqrt(res_a**2 + (res_b * pt) ** 2) * scale
    curv_reco = q / pt * (1.0 + rel * rng.standard_normal(n))
    sin_theta = 1.0 / np.cosh(eta)
    sd0 = np.hypot(p.d0_res_a_cm, p.d0_res_b_cm / (pt * np.sqrt(sin_theta))) * scale
    sdz = np.hypot(p.dz_res_a_cm, p.dz_res_b_cm / (pt * sin_theta**1.5)) * scale
    ux, uy = np.cos(phi), np.sin(phi)
    vx, vy, vz = part["vx"][acc], part["vy"][acc], part["vz"][acc]
    d0 = (vy * ux - vx * uy) / 10.0 + sd0 * rng.standard_normal(n)  # mm -> cm
    dz = ((vz - (vx * ux + vy * uy) * np.sinh(eta)) - part["pv_z"][acc]) / 10.0 + (
        sdz * rng.standard_normal(n)
    )
    ang = np.hypot(0.0003, 0.002 / pt) * scale

    def full(values: np.ndarray, fill: float = 0.0, dtype: type = np.float64) -> np.ndarray:
        out = np.full(n_all, fill, dtype=dtype)
        out[acc] = values
        return out

    return {
        "found": full(found, False, bool),
        "pt": full(1.0 / np.maximum(np.abs(curv_reco), 1e-6)),
        "q": full(np.where(curv_reco >= 0, 1, -1), 0, np.int32),
        "hits": full(hits, 0, np.int64),
        "lost": full(lost, 0, np.int64),
        "pixel": full(pixel, 0, np.int64),
        "d0": full(d0),
        "sd0": full(sd0, 1.0),
        "dz": full(dz),
        "sdz": full(sdz, 1.0),
        "eta": full(eta + ang * rng.standard_normal(n)),
        "phi": full(delta_phi(phi + ang * rng.standard_normal(n), 0.0)),
        "from_pv": full(np.abs(dz) < p.chs_dz_cut_cm, False, bool),
    }

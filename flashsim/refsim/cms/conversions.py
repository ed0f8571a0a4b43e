"""Photon conversions in the tracker material of the CMS-like reference detector.

The tracker material, x/X0(|eta|) = base + peak exp(-((|eta| - 1.5) / width)^2) radiation lengths
(0.4 X0 at eta = 0, 1.7 X0 at |eta| = 1.5 [EGM]; ``material_x0_*``), lies uniformly in radius
between the beam pipe and the point where a particle leaves the tracker (its barrel radius or its
end at ``tracker_half_length_m``). The same material makes electrons radiate
(:func:`flashsim.refsim.cms.lepton_reco.electron_showers`).

A photon converts into an e+e- pair with probability P = 1 - exp(-7/9 x/X0) (the pair-production
mean free path of a high-energy photon is 9/7 X0 [PDG]), at a depth drawn from that exponential
law. The electron takes a fraction y of the photon's energy from the Bethe-Heitler spectrum in the
complete-screening limit, dsigma/dy ~ 1 - 4/3 y (1 - y) [PDG]; both keep the photon's direction.
The pair replaces the photon among the detector's particles: the two tracks start at the
conversion point (so late conversions have missing inner hits, no pixel hits and no track at
all beyond about 60 cm), with the transverse impact parameter of a track that starts there, and
the electrons radiate in the material left and bend to the ECAL from there.

Particle flow: a tracked electron that does not become an electron candidate explains its own
ECAL deposits (its cluster and its bremsstrahlung photons, as PF links them to the track), so that
conversion tracks are not counted twice (:func:`explain_track_deposits`); the legs of identified
conversions become photon candidates with their tracks' momenta
(:func:`flashsim.refsim.cms.lepton_reco.tracks_for_particle_flow`).

References:
    [EGM] CMS, "Electron and photon reconstruction and identification with the CMS experiment
    at the CERN LHC", JINST 16 (2021) P05014 (tracker material 0.4-1.8 X0, conversions).
    [PDG] R. L. Workman et al. (Particle Data Group), PTEP 2022 (2022) 083C01, "Passage of
    particles through matter" (pair production, 7/9 X0^-1, the Bethe-Heitler pair spectrum).
"""

from __future__ import annotations

import numpy as np

from flashsim.refsim.cms.calorimetry import cell_keys
from flashsim.refsim.cms.geometry import BEND
from flashsim.refsim.cms.params import CMSLikeParameters
from flashsim.refsim.cms.pfcand import Table

__all__ = [
    "PAIR_PRODUCTION_PER_X0",
    "conversion_probability",
    "conversion_track_d0",
    "convert_photons",
    "explain_track_deposits",
    "material_before",
    "material_x0",
    "pair_energy_fraction",
]

#: Pair-production probability per radiation length of a high-energy photon [PDG].
PAIR_PRODUCTION_PER_X0 = 7.0 / 9.0


def material_x0(p: CMSLikeParameters, eta: np.ndarray) -> np.ndarray:
    """Tracker material in radiation lengths crossed by a particle from the beam line at ``eta``."""
    aeta = np.abs(eta)
    x0 = p.material_x0_base + p.material_x0_peak * np.exp(
        -(((aeta - 1.5) / p.material_x0_width) ** 2)
    )
    return np.where(aeta < p.track_eta_max, x0, p.material_x0_forward)


def material_exit_radius(p: CMSLikeParameters, eta: np.ndarray) -> np.ndarray:
    """Transverse radius (m) at which a particle from the beam line leaves the tracker."""
    return np.minimum(
        p.tracker_radius_m, p.tracker_half_length_m / np.maximum(np.abs(np.sinh(eta)), 1e-6)
    )


def material_before(p: CMSLikeParameters, eta: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Radiation lengths crossed between the beam line and transverse radius ``radius`` (m)."""
    r_min = p.material_r_min_m
    span = np.maximum(material_exit_radius(p, eta) - r_min, 1e-6)
    return material_x0(p, eta) * np.clip((radius - r_min) / span, 0.0, 1.0)


def conversion_probability(p: CMSLikeParameters, eta: np.ndarray) -> np.ndarray:
    """Probability that a photon at ``eta`` converts before leaving the tracker material."""
    return -np.expm1(-PAIR_PRODUCTION_PER_X0 * material_x0(p, eta))


def pair_energy_fraction(u: np.ndarray) -> np.ndarray:
    """The electron's energy fraction y for uniform numbers ``u``: the inverse of the
    cumulative Bethe-Heitler spectrum (y - 2/3 y^2 + 4/9 y^3) / (7/9) [PDG]."""
    y = np.linspace(0.0, 1.0, 513)
    cdf = (y - 2.0 / 3.0 * y**2 + 4.0 / 9.0 * y**3) / (7.0 / 9.0)
    return np.interp(u, cdf, y)


def convert_photons(
    p: CMSLikeParameters,
    part: Table,
    rng: np.random.Generator,
    rows: np.ndarray | None = None,
) -> Table:
    """Replace the photons of ``part`` (of its ``rows`` if given) that convert in the tracker by
    their e+e- pairs.

    Photons above ``conversion_pt_min`` inside the tracker acceptance convert with
    :func:`conversion_probability`. Every row of the returned table has ``conv_r``, the
    conversion radius in m (0 for the particles that did not come from a conversion); the pair
    keeps the photon's ``gen`` (its ``GenPart`` index) and pile-up flag. Rows keep their order
    (sorted by event if ``part`` is), the pair in the place of its photon.
    """
    if rows is None:
        rows = np.arange(len(part["pt"]))
    cand = rows[
        (part["apdg"][rows] == 22)
        & (np.abs(part["eta"][rows]) < p.track_eta_max)
        & (part["pt"][rows] > p.conversion_pt_min)
    ]
    eta = part["eta"][cand]
    x0 = material_x0(p, eta)
    u = rng.random(len(cand))
    converts = u < -np.expm1(-PAIR_PRODUCTION_PER_X0 * x0)
    conv, u, x0, eta = cand[converts], u[converts], x0[converts], eta[converts]
    # depth in X0: the exponential law below the material crossed (u < P, so depth < x0)
    depth = -np.log1p(-u) / PAIR_PRODUCTION_PER_X0
    r_min = p.material_r_min_m
    radius = r_min + (material_exit_radius(p, eta) - r_min) * depth / np.maximum(x0, 1e-9)
    y = pair_energy_fraction(rng.random(len(conv)))
    # each converting photon's row becomes two rows in its place (e-, e+): events stay sorted
    counts = np.zeros(len(part["pt"]), dtype=np.int64)
    counts[rows] = 1
    counts[conv] = 2
    take = np.repeat(np.arange(len(counts)), counts)
    out = {k: v[take] for k, v in part.items()}
    e_row = (np.cumsum(counts) - counts)[conv]
    pairs = np.stack([e_row, e_row + 1], axis=1).ravel()
    frac = np.stack([y, 1.0 - y], axis=1).ravel()
    out["pdg"][pairs] = np.tile(np.array([11, -11]), len(conv))
    out["apdg"][pairs] = 11
    out["q"][pairs] = np.tile(np.array([-1, 1]), len(conv))
    for key in ("pt", "p", "e"):
        out[key][pairs] *= frac
    r2 = np.repeat(radius, 2)
    phi2, eta2 = out["phi"][pairs], out["eta"][pairs]
    out["vx"][pairs] += 1000.0 * r2 * np.cos(phi2)
    out["vy"][pairs] += 1000.0 * r2 * np.sin(phi2)
    out["vz"][pairs] += 1000.0 * r2 * np.sinh(eta2)
    out["conv_r"] = np.zeros(len(out["pt"]))
    out["conv_r"][pairs] = r2
    return out


def conversion_track_d0(p: CMSLikeParameters, part: Table, trk: Table) -> None:
    """Add to the tracks of conversion electrons the transverse impact parameter of a helix that
    starts at the conversion radius r along the photon direction: -q r^2 / (2 R), R the radius
    of curvature (in place; the track direction stays the one at the conversion point)."""
    sel = np.flatnonzero((part["conv_r"] > 0) & trk["found"])
    r = part["conv_r"][sel]
    d0_m = -BEND * p.b_field_t * part["q"][sel] * r**2 / np.maximum(part["pt"][sel], 1e-3)
    trk["d0"][sel] += 100.0 * d0_m


def explain_track_deposits(
    p: CMSLikeParameters,
    part: Table,
    trk: Table,
    trk_pf: Table,
    ele: Table,
    deposits: Table,
    cells: Table,
) -> None:
    """Particle-flow expectations of the tracks whose calorimeter energy is not a hadron's.

    ``trk_pf``: the tracks that particle flow makes charged candidates of
    (:func:`flashsim.refsim.cms.lepton_reco.tracks_for_particle_flow`). A tracked electron
    among them that is not an electron candidate (soft or non-isolated electrons, conversion
    legs) explains its ECAL deposits: each adds its energy scaled by p(track)/E to the
    expectation of its cell, with the relative variance ``pf_electron_sigma``^2. A hadron track
    that became an electron candidate (a fake), or that particle flow set aside, takes its
    hadronic expectation back out of its HCAL cell. Updates ``cells`` in place.
    """
    owner = deposits["owner"]
    is_candidate = np.zeros(len(part["pt"]), dtype=bool)
    is_candidate[ele["index"]] = True
    set_aside = (trk["found"] & ~trk_pf["found"]) | is_candidate
    electron = part["apdg"][owner] == 11
    explain = np.flatnonzero(
        (deposits["layer"] == 0) & electron & trk_pf["found"][owner] & ~is_candidate[owner]
    )
    o = owner[explain]
    track_e = trk["pt"][o] * np.cosh(trk["eta"][o])
    expected = deposits["energy"][explain] * track_e / np.maximum(part["e"][o], 1e-6)
    fake = np.flatnonzero(set_aside[owner] & (deposits["expected"] > 0))
    rows = np.concatenate([explain, fake])
    d_exp = np.concatenate([expected, -deposits["expected"][fake]])
    d_var = np.concatenate([(expected * p.pf_electron_sigma) ** 2, -deposits["variance"][fake]])
    key = cell_keys(
        p,
        deposits["evt"][rows],
        deposits["layer"][rows],
        deposits["eta"][rows],
        deposits["phi"][rows],
    )
    idx = np.searchsorted(cells["key"], key)
    np.add.at(cells["expected"], idx, d_exp)
    np.add.at(cells["variance"], idx, d_var)
    np.maximum(cells["expected"], 0.0, out=cells["expected"])
    np.maximum(cells["variance"], 0.0, out=cells["variance"])

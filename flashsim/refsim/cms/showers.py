"""ECAL clusters of the CMS-like reference detector: supercluster windows and shower shapes.

A supercluster collects the ECAL cells within ``supercluster_deta`` x ``supercluster_dphi`` of
its centre (:func:`window_pairs`), the window of the electron candidates
(:func:`flashsim.refsim.cms.lepton_reco.electron_candidates`).

The calorimeter cells hold point-like deposits (:mod:`flashsim.refsim.cms.calorimetry`); the shape
of a cluster is computed here from the same deposits spread over the 5x5 cells around its seed
cell with a lateral profile. Per axis, an electromagnetic shower puts a fraction F(x) of its
energy below x (in cells, about one Moliere radius [ECAL]): a Gaussian core of width
``shower_core_width`` plus an exponential tail of weight ``shower_tail_fraction`` and scale
``shower_tail_width`` -- about 77% of a central photon's energy in its cell, 96% in 3x3 and 98.5%
in 5x5 [EGM]. Each deposit has its own width (a log-normal factor) and centroid (a Gaussian shift):
the shower-to-shower fluctuations. Hadronic deposits (the ECAL part of a hadron shower) are wider
by 1 + (1 - s) Exponential(``hadron_shower_broadening``), s the share of the hadron's energy in
the ECAL: broad, unless the shower is nearly contained in the ECAL (a hadron whose first
interaction made mostly pi0s, which looks electromagnetic).

From the 5x5 energies E_ij (plus the cell noise): ``r9`` = E(3x3) / E(supercluster), and
sigma_ieta_ieta = sqrt(sum w_i (ieta_i - <ieta>)^2 / sum w_i) times the cell size, with CMS's
logarithmic weights w_i = max(0, 4.7 + ln(E_i / E_5x5)) [EGM]; in the endcap the result is scaled
by ``sieie_endcap_scale`` (the endcap crystals are wider in eta than the simulated cells).

References:
    [EGM] CMS, JINST 16 (2021) P05014 (R9, sigma_ieta_ieta and their use in the photon ID).
    [ECAL] CMS, JINST 8 (2013) P09009 (crystal size about one Moliere radius, 2.2 cm).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from flashsim.generators.kinematics import delta_phi, pairs_within
from flashsim.refsim.cms.params import CMSLikeParameters
from flashsim.refsim.cms.pfcand import Table

__all__ = [
    "SHAPE_DEPOSIT_MIN_GEV",
    "crystal_matrix",
    "first_claims",
    "hcal_over_ecal",
    "profile_cdf",
    "shape_deposits",
    "shape_variables",
    "window_pairs",
]

#: Deposits below this energy (GeV) are left out of the shapes (far below every weight cut-off).
SHAPE_DEPOSIT_MIN_GEV = 0.05
#: Half-size of the crystal matrix: 5x5.
HALF = 2
#: CMS's cut-off of the logarithmic position weights.
LOG_WEIGHT_W0 = 4.7


def profile_cdf(p: CMSLikeParameters, x: np.ndarray, width: np.ndarray | float = 1.0) -> np.ndarray:
    """Fraction of a shower's energy below ``x`` cells from its axis (one axis), for a shower
    ``width`` times the nominal one."""
    t = p.shower_tail_fraction
    core = ndtr(x / (p.shower_core_width * width))
    y = x / (p.shower_tail_width * width)
    tail = np.where(y < 0, 0.5 * np.exp(np.minimum(y, 0.0)), 1.0 - 0.5 * np.exp(-np.maximum(y, 0)))
    return (1.0 - t) * core + t * tail


def window_pairs(
    p: CMSLikeParameters,
    evt: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    cells: Table,
    rows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(centre, cell) pairs of the same event whose cell (among ``cells`` rows ``rows``) lies in
    the supercluster window around the centre (``evt``, ``eta``, ``phi``); cells as rows of
    ``cells``."""
    deta, dphi = p.supercluster_deta, p.supercluster_dphi
    c_eta, c_phi = cells["eta"][rows], cells["phi"][rows]
    qs, cs = [], []
    for q, c, _ in pairs_within(
        evt, eta, phi, cells["evt"][rows], c_eta, c_phi, float(np.hypot(deta, dphi)) + 1e-6
    ):
        near = (np.abs(c_eta[c] - eta[q]) < deta) & (np.abs(delta_phi(c_phi[c], phi[q])) < dphi)
        qs.append(q[near])
        cs.append(rows[c[near]])
    if not qs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(qs), np.concatenate(cs)


def first_claims(claimant: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Mask of the (claimant, cell) pairs that keep their cell: each cell goes to its smallest
    claimant index (claimants ordered by priority, e.g. by decreasing pT)."""
    order = np.lexsort((claimant, cell))
    first = np.zeros(len(cell), dtype=bool)
    if len(cell):
        sorted_cell = cell[order]
        first[order[np.r_[True, sorted_cell[1:] != sorted_cell[:-1]]]] = True
    return first


def ecal_cell_phi(p: CMSLikeParameters) -> float:
    """Azimuthal size of an ECAL cell (the number of cells in 2 pi is rounded)."""
    return 2 * np.pi / np.rint(2 * np.pi / p.ecal_cell)


def shape_deposits(deposits: Table, part: Table) -> Table:
    """The ECAL deposits that enter the shapes, with ``hadronic``: 0 for electrons and photons,
    1 - (the hadron's share of its deposits in the ECAL) for hadrons."""
    owner = deposits["owner"]
    total = np.bincount(owner, np.maximum(deposits["energy"], 0.0), minlength=len(part["pt"]))
    sel = (deposits["layer"] == 0) & (deposits["energy"] > SHAPE_DEPOSIT_MIN_GEV)
    o = owner[sel]
    apdg = part["apdg"][o]
    share = deposits["energy"][sel] / np.maximum(total[o], 1e-9)
    hadronic = (apdg != 11) & (apdg != 22)
    return {
        "evt": deposits["evt"][sel],
        "eta": deposits["eta"][sel],
        "phi": deposits["phi"][sel],
        "energy": deposits["energy"][sel],
        "owner": o,
        "hadronic": np.where(hadronic, np.clip(1.0 - share, 0.0, 1.0), 0.0),
    }


def crystal_matrix(
    p: CMSLikeParameters,
    evt: np.ndarray,
    seed_eta: np.ndarray,
    seed_phi: np.ndarray,
    dep: Table,
    rng: np.random.Generator,
) -> np.ndarray:
    """Energies of the 5x5 cells around each seed cell centre (``seed_eta``, ``seed_phi``),
    shape (n, 5, 5) indexed [eta, phi], from the deposits ``dep`` (:func:`shape_deposits`)
    spread with the lateral profile, plus the cell noise."""
    n = len(evt)
    cell_eta, cell_phi = p.ecal_cell, ecal_cell_phi(p)
    reach = (HALF + 1.5) * cell_eta
    qi, di = [], []
    for q, s, _ in pairs_within(
        evt, seed_eta, seed_phi, dep["evt"], dep["eta"], dep["phi"], reach * np.sqrt(2)
    ):
        qi.append(q)
        di.append(s)
    qa = np.concatenate(qi) if qi else np.zeros(0, dtype=np.int64)
    da = np.concatenate(di) if di else np.zeros(0, dtype=np.int64)
    u = (dep["eta"][da] - seed_eta[qa]) / cell_eta
    v = delta_phi(dep["phi"][da], seed_phi[qa]) / cell_phi
    inside = (np.abs(u) < HALF + 1.5) & (np.abs(v) < HALF + 1.5)
    qa, da, u, v = qa[inside], da[inside], u[inside], v[inside]
    # shower-to-shower fluctuations, one draw per deposit
    used, inv = np.unique(da, return_inverse=True)
    width = np.exp(p.shower_width_spread * rng.standard_normal(len(used)))
    broad = 1.0 + dep["hadronic"][used] * rng.exponential(p.hadron_shower_broadening, len(used))
    width = (width * broad)[inv]
    shift = p.shower_position_spread * rng.standard_normal((len(used), 2))[inv]
    u, v = u + shift[:, 0], v + shift[:, 1]
    edges = np.arange(-HALF - 0.5, HALF + 1.0)  # 6 edges of 5 cells
    f_eta = np.diff(profile_cdf(p, edges[np.newaxis, :] - u[:, np.newaxis], width[:, None]))
    f_phi = np.diff(profile_cdf(p, edges[np.newaxis, :] - v[:, np.newaxis], width[:, None]))
    size = 2 * HALF + 1
    outer = (dep["energy"][da][:, None, None] * f_eta[:, :, None] * f_phi[:, None, :]).reshape(
        len(da), size * size
    )
    flat = np.repeat(qa * size * size, size * size) + np.tile(np.arange(size * size), len(da))
    matrix = np.bincount(flat, outer.ravel(), minlength=n * size * size).reshape(n, size, size)
    barrel = np.abs(seed_eta) < p.barrel_eta
    noise = np.where(barrel, p.ecal_noise_barrel_gev, p.ecal_noise_endcap_gev)
    return matrix + noise[:, None, None] * rng.standard_normal((n, size, size))


def shape_variables(
    p: CMSLikeParameters, matrix: np.ndarray, e_sc: np.ndarray, eta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``r9`` (E3x3 over the supercluster energy ``e_sc``) and sigma_ieta_ieta of the clusters
    with 5x5 energies ``matrix`` (:func:`crystal_matrix`) at pseudorapidity ``eta``."""
    e3x3 = matrix[:, HALF - 1 : HALF + 2, HALF - 1 : HALF + 2].sum(axis=(1, 2))
    e5x5 = np.maximum(matrix.sum(axis=(1, 2)), 1e-6)
    ratio = np.maximum(matrix, 1e-12) / e5x5[:, None, None]
    w = np.maximum(0.0, LOG_WEIGHT_W0 + np.log(ratio))
    w = np.where(matrix > 0, w, 0.0)
    w_sum = np.maximum(w.sum(axis=(1, 2)), 1e-12)
    ieta = np.arange(-HALF, HALF + 1, dtype=float)[None, :, None]
    mean = (w * ieta).sum(axis=(1, 2)) / w_sum
    var = (w * (ieta - mean[:, None, None]) ** 2).sum(axis=(1, 2)) / w_sum
    scale = np.where(np.abs(eta) < p.barrel_eta, 1.0, p.sieie_endcap_scale)
    sieie = np.sqrt(var) * p.ecal_cell * scale
    r9 = e3x3 / np.maximum(e_sc, 1e-3)
    return r9, sieie


def hcal_over_ecal(
    p: CMSLikeParameters, obj: Table, cells: Table, energy: np.ndarray, cone: float
) -> np.ndarray:
    """HCAL energy within ``cone`` of each object (``evt``, ``eta``, ``phi``) over ``energy``: the
    H/E of electron candidates, genuine or seeded by hadrons (cone ``electron_hoe_cone``)."""
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

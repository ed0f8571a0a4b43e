"""Event-level quantities of the CMS-like reference detector from its particle-flow candidates.

PF MET and its scalar sum, a PUPPI-like pile-up-mitigated MET, and the pile-up density rho.

PUPPI: D. Bertolini, P. Harris, M. Low, N. Tran, "Pileup per particle identification",
JHEP 10 (2014) 059, arXiv:1407.6013; CMS, "Pileup mitigation at CMS in 13 TeV data",
JINST 15 (2020) P09018 (the neutral pT thresholds).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammainc

from flashsim.generators.kinematics import pairs_within
from flashsim.refsim.cms.params import CMSLikeParameters
from flashsim.refsim.cms.pfcand import Table


def missing_et(
    pf: Table, n_events: int, weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """-(vector sum) of the (weighted) PF candidates' pT: (pt, phi) per event."""
    w = pf["pt"] if weight is None else pf["pt"] * weight
    mex = -np.bincount(pf["evt"], w * np.cos(pf["phi"]), minlength=n_events)
    mey = -np.bincount(pf["evt"], w * np.sin(pf["phi"]), minlength=n_events)
    return np.hypot(mex, mey), np.arctan2(mey, mex)


def sum_et(pf: Table, n_events: int) -> np.ndarray:
    """``MET_sumEt``: scalar sum of the PF candidates' pT."""
    return np.bincount(pf["evt"], pf["pt"], minlength=n_events)


def puppi_alpha(pf: Table, query: np.ndarray, source: np.ndarray, radius: float) -> np.ndarray:
    """alpha_i = log sum_j (pT_j / dR_ij)^2 over the ``source`` candidates j within ``radius``.

    ``query``, ``source``: indices into ``pf``. -inf where no source lies in the cone.
    """
    total = np.zeros(len(query))
    for qi, si, dr in pairs_within(
        pf["evt"][query],
        pf["eta"][query],
        pf["phi"][query],
        pf["evt"][source],
        pf["eta"][source],
        pf["phi"][source],
        radius,
    ):
        ok = dr > 1e-3  # not the particle itself
        total += np.bincount(qi[ok], (pf["pt"][source][si[ok]] / dr[ok]) ** 2, minlength=len(query))
    with np.errstate(divide="ignore"):
        return np.log(total)


def _median_rms(evt: np.ndarray, alpha: np.ndarray, n_events: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-event median of ``alpha`` and its RMS about the median (finite values only)."""
    ok = np.isfinite(alpha)
    evt, alpha = evt[ok], alpha[ok]
    order = np.lexsort((alpha, evt))
    evt, alpha = evt[order], alpha[order]
    counts = np.bincount(evt, minlength=n_events)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    has = counts >= 2
    median = np.full(n_events, np.nan)
    lo = start + (counts - 1) // 2
    hi = start + counts // 2
    median[has] = 0.5 * (alpha[lo[has]] + alpha[hi[has]])
    dev = (alpha - median[evt]) ** 2
    rms = np.sqrt(np.bincount(evt, dev, minlength=n_events) / np.maximum(counts, 1))
    return median, np.where(has, rms, np.nan)


def puppi_weights(p: CMSLikeParameters, pf: Table, n_events: int, npv: np.ndarray) -> np.ndarray:
    """PUPPI-like weight of every PF candidate.

    Charged candidates: 1 from the primary vertex, 0 from pile-up. Neutrals inside the tracker:
    alpha from the primary-vertex charged candidates around them, compared with the alpha of the
    event's pile-up charged candidates (median, RMS): w = F_chi2,1((alpha - median)^2 / RMS^2)
    when alpha > median, else 0. Outside the tracker alpha sums over all candidates and is
    compared with the event's forward neutrals. Weights below 0.01, or with w pT below
    a + b * PV_npvs, are set to 0.
    """
    charged, from_pv = pf["charged"], pf["from_pv"]
    w = np.where(charged & from_pv, 1.0, 0.0)
    central = np.abs(pf["eta"]) < p.track_eta_max
    r = p.puppi_radius
    for region in (central, ~central):
        neutral = np.flatnonzero(~charged & region)
        if region is central:
            source = np.flatnonzero(charged & from_pv)
            ref = np.flatnonzero(charged & ~from_pv)
            alpha_ref = puppi_alpha(pf, ref, source, r)
            ref_evt = pf["evt"][ref]
            a_thr, b_thr = p.puppi_ptmin_central
        else:
            source = np.flatnonzero(np.abs(pf["eta"]) > p.track_eta_max - r)
            ref, alpha_ref, ref_evt = neutral, None, pf["evt"][neutral]
            a_thr, b_thr = p.puppi_ptmin_forward
        alpha = puppi_alpha(pf, neutral, source, r)
        median, rms = _median_rms(ref_evt, alpha if alpha_ref is None else alpha_ref, n_events)
        evt = pf["evt"][neutral]
        m, s = median[evt], rms[evt]
        no_ref = ~np.isfinite(m) | ~(s > 0)
        chi2 = np.where(alpha > m, (alpha - m) ** 2 / np.where(no_ref, 1.0, s) ** 2, 0.0)
        wn = gammainc(0.5, 0.5 * np.nan_to_num(chi2, posinf=1e6))  # chi2 CDF, 1 dof
        wn = np.where(no_ref, 1.0, wn)
        wn = np.where(wn < 0.01, 0.0, wn)
        wn = np.where(wn * pf["pt"][neutral] < a_thr + b_thr * npv[evt], 0.0, wn)
        w[neutral] = wn
    return w


def pileup_density(p: CMSLikeParameters, pf: Table, n_events: int, mask: np.ndarray) -> np.ndarray:
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

"""Efficiency curves: the fraction of objects passing a selection, in bins of a variable.

:func:`binned_efficiency` measures a curve with its error (binomial, or per group of correlated
entries, or for sWeighted samples); :func:`efficiency_chi2` compares two curves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flashsim.validation.metrics.arrays import finite_sample, group_ids, sample_weights
from flashsim.validation.metrics.grouped import group_sums

__all__ = ["Efficiency", "binned_efficiency", "efficiency_chi2"]


@dataclass(frozen=True, eq=False)
class Efficiency:
    """An efficiency curve in bins of a variable (from :func:`binned_efficiency`).

    Arguments:
        edges: bin edges, ``nbins + 1``.
        passed, total: sums of weights (entries if unweighted) passing, and in all, per bin.
        efficiency: ``passed / total``; NaN in empty bins.
        error: binomial ``sqrt(e (1 - e) / n)`` (``n``: effective entries) floored at
            ``1 / (n + 2)``, near the one-sigma Wilson limit ``1 / (n + 1)`` for ``e = 0``, so
            bins with ``e`` = 0 or 1 keep a non-zero error (unweighted, only those are floored);
            NaN in empty bins.
    References:
        Wilson, JASA 22 (1927) 209.
    """

    edges: np.ndarray
    passed: np.ndarray
    total: np.ndarray
    efficiency: np.ndarray
    error: np.ndarray


def binned_efficiency(
    x: np.ndarray,
    passed: np.ndarray,
    edges: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    groups: np.ndarray | None = None,
    signed: bool = False,
) -> Efficiency:
    """Fraction of entries passing a selection, in bins of ``x`` (outside the edges: ignored).

    Arguments:
        x: 1-D finite values of the binning variable.
        passed: 1-D, whether each entry passes (boolean or 0/1).
        edges: strictly increasing finite bin edges, at least two.
        weights: optional per-entry weights; errors then use the effective entries per bin.
        groups: optional integer id per entry of the independent unit it belongs to (the gen
            event of an oversampled flash sample: its replicas are correlated). The error is
            then the ratio-estimator (cluster) variance ``sum_g (p_g - e t_g)^2 / T^2`` over
            groups ``g`` with passing and total weights ``p_g``, ``t_g`` in the bin; with one
            entry per group it equals the binomial error.
        signed: the weights may be negative (sWeights of a calibration sample): the efficiency
            is the sWeighted one, not clipped to [0, 1], and its error the ratio-estimator
            (sandwich) variance ``sum_i w_i^2 (pass_i - e)^2 / T^2`` (per group with
            ``groups``); bins whose weights sum to zero or less are NaN.
    Returns:
        An :class:`Efficiency`.
    References:
        Binomial efficiency errors; Wilson, JASA 22 (1927) 209 for the floor at ``e = 0, 1``;
        Cochran, "Sampling Techniques" (1977), ch. 6 (variance of a ratio estimator);
        Pivk & Le Diberder, NIM A 555 (2005) 356 (sPlot).
    """
    x = finite_sample(x, "x", allow_empty=True)
    ok = np.asarray(passed)
    if ok.shape != x.shape or not np.isin(ok, (0, 1)).all():
        msg = f"passed must be boolean (or 0/1) with the shape of x {x.shape}, got {ok.shape}"
        raise ValueError(msg)
    ok = ok.astype(bool)
    edges = np.asarray(edges, dtype=np.float64)
    if (
        edges.ndim != 1
        or edges.size < 2
        or not np.all(np.isfinite(edges))
        or np.any(np.diff(edges) <= 0)
    ):
        msg = "edges must be a strictly increasing, finite 1-D array of at least 2 values"
        raise ValueError(msg)
    if signed and weights is None:
        msg = "signed=True needs the weights (the sWeights of the entries)"
        raise ValueError(msg)
    w = sample_weights(weights, x.size, "weights", signed=signed)
    w = np.ones_like(x) if w is None else w
    if signed and groups is None:
        groups = np.arange(x.size)  # the sandwich error: each entry its own group
    total, n_pass, sumw2 = (np.histogram(x, edges, weights=v)[0] for v in (w, w * ok, w**2))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = n_pass / total if signed else np.clip(n_pass / total, 0.0, 1.0)
        eff = np.where(total > 0, ratio, np.nan)
        if groups is None:
            n_eff = np.where(sumw2 > 0, total**2 / sumw2, 0.0)
            err = np.where(n_eff > 0, np.sqrt(eff * (1 - eff) / n_eff), np.nan)
        else:
            bins, sums = group_sums(x, edges, group_ids(groups, x.size), np.stack([w, w * ok]))
            residual = sums[1] - np.nan_to_num(eff)[bins] * sums[0]
            var = np.bincount(bins, weights=residual**2, minlength=total.size) / total**2
            n_eff = np.where(total > 0, total**2 / np.bincount(bins, sums[0] ** 2, total.size), 0)
            err = np.where(total > 0, np.sqrt(var), np.nan)
        err = np.maximum(err, 1.0 / (n_eff + 2))
    return Efficiency(edges, n_pass, total, eff, err)


def efficiency_chi2(
    a: Efficiency,
    b: Efficiency,
    *,
    min_total: int = 10,
    extra_error: np.ndarray | None = None,
) -> tuple[float, int]:
    """``sum (e_a - e_b)^2 / (err_a^2 + err_b^2)`` over bins with ``total >= min_total`` in both.

    Arguments:
        a, b: the curves, from :func:`binned_efficiency` with identical edges.
        min_total: fewest entries (sum of weights) a bin needs in both curves to be used.
        extra_error: a further per-bin uncertainty added in quadrature to the denominator, e.g.
            the statistical error of the calibration sample a data-driven model learned the
            efficiency from (the model cannot be closer to the truth than its training sample).
    Returns:
        ``(chi2, ndf)``, ``ndf`` the number of bins used (``(0.0, 0)`` if none); for compatible
        curves ``chi2 / ndf`` is about 1.
    References:
        Pearson's chi-square test for the difference of two independent binomial proportions.
    """
    if not np.array_equal(a.edges, b.edges):
        msg = "the two efficiencies have different bin edges; bin both the same way"
        raise ValueError(msg)
    var = a.error**2 + b.error**2
    if extra_error is not None:
        extra = np.asarray(extra_error, dtype=np.float64)
        if extra.shape != var.shape:
            msg = f"extra_error needs one value per bin ({var.shape}), got {extra.shape}"
            raise ValueError(msg)
        var = var + extra**2
    use = (a.total >= min_total) & (b.total >= min_total) & np.isfinite(var) & (var > 0)
    chi2 = np.sum((a.efficiency[use] - b.efficiency[use]) ** 2 / var[use])
    return float(chi2), int(use.sum())

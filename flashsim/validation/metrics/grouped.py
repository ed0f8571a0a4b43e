"""Histograms and sample sizes of entries correlated within groups.

The replicas of one oversampled gen event, or the objects of one event, fluctuate together: the
group, not the entry, is the independent unit of the errors.
"""

from __future__ import annotations

import numpy as np

from flashsim.validation.metrics.arrays import finite_sample, group_ids

__all__ = ["group_sums", "grouped_histogram", "n_effective"]


def group_sums(
    x: np.ndarray, edges: np.ndarray, groups: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per (group, bin) pair present: its bin and the sums of each row of ``values``.

    Arguments:
        x: 1-D values binned with ``edges`` (entries outside are left out; the last bin
            includes its upper edge, as :func:`numpy.histogram`).
        edges: strictly increasing bin edges.
        groups: int64 group id per entry.
        values: ``(m, n)``: ``m`` quantities per entry to sum.
    Returns:
        ``(bins, sums)``: the bin of each (group, bin) pair and the ``(m, pairs)`` sums.
    """
    nbins = edges.size - 1
    idx = np.searchsorted(edges, x, side="right") - 1
    idx[x == edges[-1]] = nbins - 1  # the last bin includes its upper edge, as np.histogram
    inside = (idx >= 0) & (idx < nbins)
    _, first, inverse = np.unique(
        groups[inside] * nbins + idx[inside], return_index=True, return_inverse=True
    )
    sums = np.stack([np.bincount(inverse, weights=v[inside]) for v in values])
    return idx[inside][first], sums


def grouped_histogram(
    x: np.ndarray,
    edges: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of ``x`` and the variance of each bin, for entries correlated within groups.

    Entries of one group (the replicas of one oversampled gen event, or the objects of one
    event) fluctuate together, so the variance of a bin is ``sum_g (sum_{i in g} w_i)^2``, not
    ``sum_i w_i^2`` (which it equals with one entry per group).

    Arguments:
        x: 1-D finite values; entries outside ``edges`` are ignored.
        edges: strictly increasing bin edges.
        groups: optional integer id of each entry's group (default: every entry its own).
        weights: optional per-entry weights (default 1).
    Returns:
        ``(sum of weights, variance)`` per bin.
    References:
        Variance of a sum of correlated cluster totals (Cochran, "Sampling Techniques", 1977).
    """
    x = finite_sample(x, "x", allow_empty=True)
    edges = np.asarray(edges, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    if groups is None:
        return np.histogram(x, edges, weights=w)[0], np.histogram(x, edges, weights=w**2)[0]
    bins, sums = group_sums(x, edges, group_ids(groups, x.size), w[np.newaxis])
    nbins = edges.size - 1
    return (
        np.bincount(bins, weights=sums[0], minlength=nbins),
        np.bincount(bins, weights=sums[0] ** 2, minlength=nbins),
    )


def n_effective(groups: np.ndarray) -> float:
    """Effective independent entries with correlated groups: ``(sum n_g)^2 / sum n_g^2``.

    Equals the number of entries when every group has one, and the number of groups when all
    have the same size (fully correlated replicas).
    """
    _, counts = np.unique(np.asarray(groups), return_counts=True)
    if counts.size == 0:
        return 0.0
    return float(counts.sum() ** 2 / np.sum(counts.astype(np.float64) ** 2))

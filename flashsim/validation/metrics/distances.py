"""Distances between the distributions of a flash and a full-simulation sample.

1-D: the Wasserstein-1 distance (:func:`wasserstein`, judged against :func:`wasserstein_floor`,
its value under the null) and the Kolmogorov-Smirnov test (:func:`ks_test`); several
variables: the difference of the correlation matrices (:func:`correlation_difference`).
"""

from __future__ import annotations

import numpy as np
import scipy.stats

from flashsim.validation.metrics.arrays import finite_sample, sample_weights

__all__ = ["correlation_difference", "ks_test", "wasserstein", "wasserstein_floor"]


def wasserstein(
    a: np.ndarray,
    b: np.ndarray,
    weights_a: np.ndarray | None = None,
    weights_b: np.ndarray | None = None,
) -> float:
    """Wasserstein-1 distance: the area between the two empirical CDFs (a shift ``d`` gives ``d``).

    Arguments:
        a, b: non-empty, finite 1-D samples.
        weights_a, weights_b: optional per-entry weights.
    Returns:
        The distance, in the units of the variable; compare it with :func:`wasserstein_floor`.
    References:
        Wasserstein (earth mover's) distance; :func:`scipy.stats.wasserstein_distance`.
    """
    a, b = finite_sample(a, "a"), finite_sample(b, "b")
    wa = sample_weights(weights_a, a.size, "weights_a")
    wb = sample_weights(weights_b, b.size, "weights_b")
    return float(scipy.stats.wasserstein_distance(a, b, wa, wb))


def wasserstein_floor(
    a: np.ndarray, b: np.ndarray, *, n_rounds: int = 10, rng: np.random.Generator
) -> tuple[float, float]:
    """Wasserstein-1 distance expected between ``a`` and ``b`` if they had the same distribution.

    Under this null the distance is not zero but ``O(1/sqrt(n))``. Estimated by pooling ``a`` and
    ``b``, permuting and splitting into sizes ``len(a)``, ``len(b)``, ``n_rounds`` times.

    Arguments:
        a, b: non-empty, finite 1-D samples.
        n_rounds: number of permutations, at least 2.
        rng: source of the permutations.
    Returns:
        ``(mean, std)`` of the distance over the permutations.
    References:
        Wasserstein distance as in :func:`wasserstein`; permutation two-sample tests.
    """
    a, b = finite_sample(a, "a"), finite_sample(b, "b")
    if n_rounds < 2:
        msg = f"n_rounds must be at least 2 to estimate a spread, got {n_rounds}"
        raise ValueError(msg)
    # A random split of the sorted pooled sample leaves both parts sorted: their CDFs at each
    # pooled value are running counts, and W1 = sum |F_a - F_b| * gap, exactly, with no sort.
    pooled = np.sort(np.concatenate([a, b]))
    gaps = np.diff(pooled)
    below = np.arange(1, pooled.size)  # pooled values at or below each gap
    dists = np.empty(n_rounds)
    for i in range(n_rounds):
        in_a = np.zeros(pooled.size, dtype=bool)
        in_a[rng.permutation(pooled.size)[: a.size]] = True
        count_a = np.cumsum(in_a[:-1])
        dists[i] = np.sum(np.abs(count_a / a.size - (below - count_a) / b.size) * gaps)
    return float(dists.mean()), float(dists.std(ddof=1))


def ks_test(
    a: np.ndarray, b: np.ndarray, *, n_eff_a: float | None = None, n_eff_b: float | None = None
) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and its asymptotic p-value.

    Arguments:
        a, b: non-empty, finite 1-D samples.
        n_eff_a, n_eff_b: effective sizes for the p-value when entries are correlated (the
            replicas of an oversampled flash sample: see
            :func:`~flashsim.validation.metrics.grouped.n_effective`); default the sample sizes.
    Returns:
        ``(D, p)``: the largest distance between the empirical CDFs and the probability of a
        larger one under the null, from the Kolmogorov distribution with Stephens' correction.
        Discrete variables (integers, spikes) make the p-value conservative.
    References:
        Kolmogorov (1933); Smirnov (1948); Stephens, JRSS B 32 (1970) 115.
    """
    a, b = np.sort(finite_sample(a, "a")), np.sort(finite_sample(b, "b"))
    values = np.concatenate([a, b])
    d = float(
        np.max(
            np.abs(
                np.searchsorted(a, values, side="right") / a.size
                - np.searchsorted(b, values, side="right") / b.size
            )
        )
    )
    na = a.size if n_eff_a is None else n_eff_a
    nb = b.size if n_eff_b is None else n_eff_b
    en = np.sqrt(na * nb / (na + nb))
    p = float(scipy.stats.kstwobign.sf((en + 0.12 + 0.11 / en) * d))
    return d, min(max(p, 0.0), 1.0)


def correlation_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``corr(a) - corr(b)``: the difference of the Pearson correlation matrices of two samples.

    Arguments:
        a, b: ``(n, k)`` arrays with the same ``k`` columns; rows with NaN are dropped.
    Returns:
        The ``(k, k)`` difference; entries of a constant column are 0.
    """
    mats = []
    for name, x in (("a", a), ("b", b)):
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] < 3:
            msg = f"{name} must be an (n, k) array with n >= 3, got shape {arr.shape}"
            raise ValueError(msg)
        arr = arr[np.all(np.isfinite(arr), axis=1)]
        with np.errstate(divide="ignore", invalid="ignore"):
            mats.append(np.nan_to_num(np.corrcoef(arr, rowvar=False)))
    if mats[0].shape != mats[1].shape:
        msg = f"a and b must have the same columns, got {mats[0].shape} and {mats[1].shape}"
        raise ValueError(msg)
    return mats[0] - mats[1]

"""Metrics comparing a flash sample with the full (reference) simulation.

1-D distances (:func:`wasserstein`, judged against :func:`wasserstein_floor`), a classifier
two-sample test (:func:`classifier_two_sample_test`: held-out ROC AUC near 0.5 means
indistinguishable) and efficiency curves (:func:`binned_efficiency`, :func:`efficiency_chi2`).
Weights, where accepted, must be finite and non-negative, with a positive sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.stats
import xgboost

__all__ = [
    "Efficiency",
    "TwoSampleResult",
    "auc_error",
    "binned_efficiency",
    "classifier_two_sample_test",
    "correlation_difference",
    "efficiency_chi2",
    "grouped_histogram",
    "ks_test",
    "n_effective",
    "roc_auc",
    "wasserstein",
    "wasserstein_floor",
]

_MIN_ROWS = 20
_EARLY_STOPPING_FRACTION = 0.2  # of the training part, per class
_EARLY_STOPPING_ROUNDS = 20


def _sample(x: np.ndarray, name: str, *, allow_empty: bool = False) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1 or (arr.size == 0 and not allow_empty):
        msg = f"{name} must be a non-empty 1-D array, got shape {arr.shape}"
        raise ValueError(msg)
    bad = np.count_nonzero(~np.isfinite(arr))
    if bad:
        msg = f"{name} has {bad} non-finite values (NaN or inf); drop or fill them first"
        raise ValueError(msg)
    return arr


def _weights(w: np.ndarray | None, n: int, name: str, *, signed: bool = False) -> np.ndarray | None:
    if w is None:
        return None
    arr = np.asarray(w, dtype=np.float64)
    if arr.shape != (n,):
        msg = f"{name} must have shape ({n},) to match its sample, got {arr.shape}"
        raise ValueError(msg)
    if not np.all(np.isfinite(arr)) or (not signed and np.any(arr < 0)) or not arr.sum() > 0:
        sign = "" if signed else " and non-negative"
        msg = f"{name} must be finite{sign} with a positive sum"
        raise ValueError(msg)
    return arr


def _kish(w: np.ndarray) -> float:
    """Effective number of entries (sum w)^2 / sum w^2 of a weighted sample."""
    return float(w.sum() ** 2 / np.sum(w**2))


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
    a, b = _sample(a, "a"), _sample(b, "b")
    wa, wb = _weights(weights_a, a.size, "weights_a"), _weights(weights_b, b.size, "weights_b")
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
    a, b = _sample(a, "a"), _sample(b, "b")
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


def roc_auc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
    """ROC AUC: the probability that a positive outscores a negative, ties counting one half.

    Unweighted: Mann-Whitney statistic from average ranks. Weighted: sorted by score, each group
    of equal scores adds its positive weight times (negative weight below + half that tied).

    Arguments:
        scores: 1-D classifier outputs, no NaN.
        labels: 1-D, 1 (True) for positives and 0 (False) for negatives; both classes needed.
        weights: optional per-entry weights.
    Returns:
        The AUC in [0, 1].
    References:
        Hanley & McNeil, Radiology 143 (1982) 29 (AUC as the Mann-Whitney statistic).
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 1 or y.shape != s.shape or np.isnan(s).any():
        msg = f"scores (no NaN) and labels must be 1-D of equal length, got {s.shape}, {y.shape}"
        raise ValueError(msg)
    if not np.isin(y, (0, 1)).all():
        msg = "labels must be 0/1 or boolean"
        raise ValueError(msg)
    pos = y.astype(bool)
    n_pos = int(pos.sum())
    n_neg = pos.size - n_pos
    if n_pos == 0 or n_neg == 0:
        msg = f"need both classes, got {n_pos} positives and {n_neg} negatives"
        raise ValueError(msg)
    if weights is None:
        ranks = scipy.stats.rankdata(s)  # ties get their average rank
        return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    w = _weights(weights, s.size, "weights")
    values, group = np.unique(s, return_inverse=True)
    w_pos = np.bincount(group, weights=np.where(pos, w, 0.0), minlength=values.size)
    w_neg = np.bincount(group, weights=np.where(pos, 0.0, w), minlength=values.size)
    norm = w_pos.sum() * w_neg.sum()
    if not norm > 0:
        msg = "the weights of one class sum to zero"
        raise ValueError(msg)
    below = np.cumsum(w_neg) - w_neg
    return float(np.sum(w_pos * (below + 0.5 * w_neg)) / norm)


def auc_error(auc: float, n_pos: float, n_neg: float) -> float:
    """Standard error of an AUC; at 0.5 the exact null ``sqrt((n_pos+n_neg+1)/(12 n_pos n_neg))``.

    Arguments:
        auc: the measured AUC, in [0, 1].
        n_pos, n_neg: class sizes (effective sizes for weighted samples), at least 1.
    Returns:
        The standard error.
    References:
        Hanley & McNeil, "The meaning and use of the area under a ROC curve",
        Radiology 143 (1982) 29.
    """
    if not 0.0 <= auc <= 1.0:
        msg = f"auc must be in [0, 1], got {auc}"
        raise ValueError(msg)
    if n_pos < 1 or n_neg < 1:
        msg = f"n_pos and n_neg must be at least 1, got {n_pos} and {n_neg}"
        raise ValueError(msg)
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)
    return float(np.sqrt(max(var, 0.0) / (n_pos * n_neg)))


@dataclass(frozen=True)
class TwoSampleResult:
    """Outcome of :func:`classifier_two_sample_test`.

    Arguments:
        auc: ROC AUC on the held-out part; 0.5 means indistinguishable.
        error: its standard error (Hanley-McNeil, :func:`auc_error`).
        n_train, n_test: rows of both classes for training (early-stopping slice included), test.
        feature_importance: share of the total split gain per feature name, largest first
            (empty without names).
    References:
        Lopez-Paz & Oquab, arXiv:1610.06545.
    """

    auc: float
    error: float
    n_train: int
    n_test: int
    feature_importance: dict[str, float]


def _features(x: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[:, np.newaxis]
    if arr.ndim != 2 or arr.shape[0] < _MIN_ROWS:
        msg = f"{name} must be an (n, k) array with n >= {_MIN_ROWS} rows, got shape {arr.shape}"
        raise ValueError(msg)
    if np.isinf(arr).any():
        msg = f"{name} contains infinite values (NaN is allowed and treated as missing)"
        raise ValueError(msg)
    return arr


def classifier_two_sample_test(
    a: np.ndarray,
    b: np.ndarray,
    *,
    names: Sequence[str] | None = None,
    weights_a: np.ndarray | None = None,
    weights_b: np.ndarray | None = None,
    groups_a: np.ndarray | None = None,
    groups_b: np.ndarray | None = None,
    rng: np.random.Generator,
    test_fraction: float = 0.5,
    max_rows: int | None = 200_000,
    n_estimators: int = 200,
    max_depth: int = 5,
    learning_rate: float = 0.1,
    n_jobs: int = 2,
) -> TwoSampleResult:
    """Classifier two-sample test: can a BDT tell sample ``a`` (label 0) from ``b`` (label 1)?

    Both are subsampled to the smaller size (at most ``max_rows / 2`` each) and split at random
    into a training and a held-out part, by row or, with ``groups_a``/``groups_b``, by group.
    Groups matter when rows of the two samples are twins: a flash object and the full-simulation
    object of the same gen object share their gen conditions; were they split apart, the BDT
    would learn the held-out twin's gen point with the other label and score an AUC below 0.5.
    XGBoost (``hist``, early stopping on a fifth of the training part) is trained with weights
    rescaled to mean 1 per class. The held-out AUC is weighted if weights are given, its error
    then using effective class sizes. NaN counts as a missing value.

    Arguments:
        a, b: ``(n, k)`` arrays, rows are objects and columns features (1-D means ``k = 1``).
        names: the ``k`` feature names, for ``feature_importance``.
        weights_a, weights_b: optional per-row weights.
        groups_a, groups_b: optional integer group (gen event) id per row; rows of a group,
            in either sample, are all held out or all trained on.
        rng: source of the subsampling, the split and the XGBoost seed.
        test_fraction: held-out share of each class, in (0, 1).
        max_rows: cap on the rows of both classes together, or None for no cap.
        n_estimators, max_depth, learning_rate: XGBoost boosting rounds, depth and step size.
        n_jobs: XGBoost threads; 1 is faster on a machine whose cores are all busy.
    Returns:
        A :class:`TwoSampleResult`.
    References:
        Lopez-Paz & Oquab, "Revisiting classifier two-sample tests", arXiv:1610.06545;
        Friedman, "On multivariate goodness-of-fit and two-sample testing", PHYSTAT 2003;
        Hanley & McNeil, Radiology 143 (1982) 29.
    """
    xa, xb = _features(a, "a"), _features(b, "b")
    k = xa.shape[1]
    if xb.shape[1] != k:
        msg = f"a and b must have the same number of columns, got {k} and {xb.shape[1]}"
        raise ValueError(msg)
    if names is not None and len(names) != k:
        msg = f"names must give one name per column ({k}), got {len(names)}"
        raise ValueError(msg)
    if not 0.0 < test_fraction < 1.0:
        msg = f"test_fraction must be in (0, 1), got {test_fraction}"
        raise ValueError(msg)
    if max_rows is not None and max_rows < 2 * _MIN_ROWS:
        msg = f"max_rows must be at least {2 * _MIN_ROWS}, got {max_rows}"
        raise ValueError(msg)
    if n_estimators < 1:
        msg = f"n_estimators must be at least 1, got {n_estimators}"
        raise ValueError(msg)
    wa, wb = _weights(weights_a, len(xa), "weights_a"), _weights(weights_b, len(xb), "weights_b")
    if (groups_a is None) != (groups_b is None):
        msg = "give groups for both samples or for neither"
        raise ValueError(msg)
    ga = None if groups_a is None else _groups(groups_a, len(xa))
    gb = None if groups_b is None else _groups(groups_b, len(xb))
    cap = max_rows // 2 if max_rows is not None else None
    test, train = _split(len(xa), len(xb), ga, gb, test_fraction, cap, rng)
    n_test, n_train = len(test[0]), len(train[0])
    n_val = max(1, round(n_train * _EARLY_STOPPING_FRACTION))
    if n_test < 1 or n_train - n_val < 1:
        msg = f"test_fraction={test_fraction} leaves no rows to train or to test on"
        raise ValueError(msg)

    classes = []
    for label, (x, w) in enumerate(((xa, wa), (xb, wb))):
        idx = np.concatenate([test[label], train[label]])
        n = idx.size
        w_sel = np.ones(n) if w is None else w[idx]
        if not w_sel.sum() > 0:
            msg = "the weights of the subsampled rows sum to zero"
            raise ValueError(msg)
        classes.append((x[idx], np.full(n, label), w_sel / w_sel.mean()))

    def part(rows: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, y, w = (np.concatenate([c[i][rows] for c in classes]) for i in range(3))
        return x, y, w

    x_test, y_test, w_test = part(slice(0, n_test))
    x_val, y_val, w_val = part(slice(n_test, n_test + n_val))
    x_fit, y_fit, w_fit = part(slice(n_test + n_val, None))
    params = {"objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist"}
    params |= {"max_depth": max_depth, "learning_rate": learning_rate, "nthread": n_jobs}
    params["seed"] = int(rng.integers(2**31 - 1))
    booster = xgboost.train(
        params,
        xgboost.DMatrix(x_fit, label=y_fit, weight=w_fit),
        num_boost_round=n_estimators,
        evals=[(xgboost.DMatrix(x_val, label=y_val, weight=w_val), "val")],
        early_stopping_rounds=_EARLY_STOPPING_ROUNDS,
        verbose_eval=False,
    )
    best = booster[: booster.best_iteration + 1]
    scores = best.predict(xgboost.DMatrix(x_test))

    auc = roc_auc(scores, y_test, w_test)  # all-ones weights without given weights
    error = auc_error(auc, _kish(w_test[y_test == 1]), _kish(w_test[y_test == 0]))

    importance: dict[str, float] = {}
    if names is not None:
        gain = best.get_score(importance_type="total_gain")
        total = sum(gain.values()) or 1.0
        shares = {name: gain.get(f"f{i}", 0.0) / total for i, name in enumerate(names)}
        importance = dict(sorted(shares.items(), key=lambda kv: kv[1], reverse=True))
    return TwoSampleResult(auc, error, 2 * n_train, 2 * n_test, importance)


def _split(
    n_a: int,
    n_b: int,
    groups_a: np.ndarray | None,
    groups_b: np.ndarray | None,
    test_fraction: float,
    cap: int | None,
    rng: np.random.Generator,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Row indices ``(test_a, test_b), (train_a, train_b)``, equally many of each class.

    Without groups, rows are drawn at random. With groups, whole groups go to the test or the
    training part, so no group has rows on both sides.
    """
    if groups_a is None or groups_b is None:
        n = min(n_a, n_b, cap if cap is not None else n_a)
        n_test = round(n * test_fraction)
        ia, ib = rng.permutation(n_a)[:n], rng.permutation(n_b)[:n]
        return (ia[:n_test], ib[:n_test]), (ia[n_test:], ib[n_test:])
    ids = np.unique(np.concatenate([groups_a, groups_b]))
    test_ids = ids[rng.random(ids.size) < test_fraction]
    in_a, in_b = np.isin(groups_a, test_ids), np.isin(groups_b, test_ids)
    parts = []
    for mask_a, mask_b, share in ((in_a, in_b, test_fraction), (~in_a, ~in_b, 1 - test_fraction)):
        ia = rng.permutation(np.flatnonzero(mask_a))
        ib = rng.permutation(np.flatnonzero(mask_b))
        m = min(ia.size, ib.size) if cap is None else min(ia.size, ib.size, round(cap * share))
        parts.append((ia[:m], ib[:m]))
    return parts[0], parts[1]


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
    x = _sample(x, "x", allow_empty=True)
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
    w = _weights(weights, x.size, "weights", signed=signed)
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
            bins, sums = _group_sums(x, edges, _groups(groups, x.size), np.stack([w, w * ok]))
            residual = sums[1] - np.nan_to_num(eff)[bins] * sums[0]
            var = np.bincount(bins, weights=residual**2, minlength=total.size) / total**2
            n_eff = np.where(total > 0, total**2 / np.bincount(bins, sums[0] ** 2, total.size), 0)
            err = np.where(total > 0, np.sqrt(var), np.nan)
        err = np.maximum(err, 1.0 / (n_eff + 2))
    return Efficiency(edges, n_pass, total, eff, err)


def _groups(groups: np.ndarray, n: int) -> np.ndarray:
    g = np.asarray(groups)
    if g.shape != (n,) or g.dtype.kind not in "iu":
        msg = f"groups must be an integer array of shape ({n},), got {g.dtype} {g.shape}"
        raise ValueError(msg)
    return g.astype(np.int64)


def _group_sums(
    x: np.ndarray, edges: np.ndarray, groups: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per (group, bin) pair present: its bin and the sums of each row of ``values``."""
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
    x = _sample(x, "x", allow_empty=True)
    edges = np.asarray(edges, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    if groups is None:
        return np.histogram(x, edges, weights=w)[0], np.histogram(x, edges, weights=w**2)[0]
    bins, sums = _group_sums(x, edges, _groups(groups, x.size), w[np.newaxis])
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


def ks_test(
    a: np.ndarray, b: np.ndarray, *, n_eff_a: float | None = None, n_eff_b: float | None = None
) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and its asymptotic p-value.

    Arguments:
        a, b: non-empty, finite 1-D samples.
        n_eff_a, n_eff_b: effective sizes for the p-value when entries are correlated (the
            replicas of an oversampled flash sample: see :func:`n_effective`); default the
            sample sizes.
    Returns:
        ``(D, p)``: the largest distance between the empirical CDFs and the probability of a
        larger one under the null, from the Kolmogorov distribution with Stephens' correction.
        Discrete variables (integers, spikes) make the p-value conservative.
    References:
        Kolmogorov (1933); Smirnov (1948); Stephens, JRSS B 32 (1970) 115.
    """
    a, b = np.sort(_sample(a, "a")), np.sort(_sample(b, "b"))
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

"""The classifier two-sample test: can a BDT tell a flash sample from full simulation?

:func:`classifier_two_sample_test` trains XGBoost to separate the two samples and measures the
ROC AUC on a held-out part (:func:`roc_auc`, with its error :func:`auc_error`): 0.5 means
indistinguishable.

References:
    Lopez-Paz & Oquab, "Revisiting classifier two-sample tests", arXiv:1610.06545;
    Hanley & McNeil, Radiology 143 (1982) 29.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.stats
import xgboost

from flashsim.validation.metrics.arrays import group_ids, kish, sample_weights

__all__ = ["TwoSampleResult", "auc_error", "classifier_two_sample_test", "roc_auc"]

_MIN_ROWS = 20
_EARLY_STOPPING_FRACTION = 0.2  # of the training part, per class
_EARLY_STOPPING_ROUNDS = 20


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
    w = sample_weights(weights, s.size, "weights")
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
    wa = sample_weights(weights_a, len(xa), "weights_a")
    wb = sample_weights(weights_b, len(xb), "weights_b")
    if (groups_a is None) != (groups_b is None):
        msg = "give groups for both samples or for neither"
        raise ValueError(msg)
    ga = None if groups_a is None else group_ids(groups_a, len(xa))
    gb = None if groups_b is None else group_ids(groups_b, len(xb))
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
    error = auc_error(auc, kish(w_test[y_test == 1]), kish(w_test[y_test == 0]))

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

"""Closure studies of sPlot-weighted training, as the LHCb Lamarr PID models need.

Two questions, on a calibration sample whose true signal/background label is known (refsim):

1. **sPlot closure** (:func:`sweighted_histogram_chi2`): does the sWeighted histogram of a
   control variable reproduce the true-signal histogram?
2. **Training closure** (:func:`training_closure`): does a generative model trained on the
   contaminated sample with sWeights (``raw`` or ``regressed``, :mod:`flashsim.weights`) match
   the true signal as well as one trained on pure signal, while one trained without weights
   does not? Judged by a classifier two-sample test (ROC AUC) between each model's samples and
   independent true-signal rows, at the same conditions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from flashsim.models.factory import build_model, train_response_model
from flashsim.preprocessing import TablePreprocessor, build_chain
from flashsim.stages.response import ResponseStage
from flashsim.validation.metrics import classifier_two_sample_test
from flashsim.weights import resolve_weights

__all__ = ["sweighted_histogram_chi2", "train_response", "training_closure"]


def sweighted_histogram_chi2(
    values: np.ndarray, sweights: np.ndarray, is_signal: np.ndarray, edges: np.ndarray
) -> tuple[float, int]:
    """χ² between the sWeighted histogram of ``values`` and the histogram of the true signal.

    The true-signal rows are part of the weighted sample, so the two histograms are
    correlated; the variance of their difference in a bin is ``sum_i (w_i - s_i)^2`` over its
    rows (``s_i`` = 1 for true signal), which the χ² uses. Bins with no entries are skipped.

    Returns:
        ``(chi2, ndf)``; ``chi2 / ndf`` is about 1 when the sWeights close.
    """
    x = np.asarray(values, dtype=np.float64)
    d = np.asarray(sweights, dtype=np.float64) - np.asarray(is_signal, dtype=np.float64)
    diff = np.histogram(x, edges, weights=d)[0]
    var = np.histogram(x, edges, weights=d**2)[0]
    use = var > 0
    return float(np.sum(diff[use] ** 2 / var[use])), int(use.sum())


def train_response(
    kind: str,
    x: np.ndarray,
    context: np.ndarray,
    weights: np.ndarray | None,
    *,
    target_transforms: Sequence[Any],
    config: Mapping[str, Any],
    training: Mapping[str, Any],
    seed: int,
    validation_fraction: float = 0.2,
    label: str = "closure",
) -> ResponseStage:
    """Train a response stage (flow or GAN) on raw targets ``x`` given standardized ``context``."""
    rng = np.random.default_rng(seed)
    val = rng.random(len(x)) < validation_fraction
    prep = TablePreprocessor(
        [f"t{i}" for i in range(x.shape[1])], [build_chain(t) for t in target_transforms]
    )
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    x_train = prep.fit_forward(x[~val], rng, weights=None if w is None else w[~val])
    x_val = prep.forward(x[val], rng)
    torch.manual_seed(seed)
    model = build_model(kind, x.shape[1], context.shape[1], config)
    train_response_model(
        kind,
        model,
        (x_train, context[~val], None if w is None else w[~val]),
        (x_val, context[val], None if w is None else w[val]),
        training,
        seed=seed,
        device="cpu",
        checkpoint=None,
        resume=False,
        progress=False,
        label=label,
    )
    return ResponseStage(model, prep, ResponseStage.training_bounds(x_train))


def training_closure(
    conditions: np.ndarray,
    targets: np.ndarray,
    sweights: np.ndarray,
    is_signal: np.ndarray,
    test_conditions: np.ndarray,
    test_targets: np.ndarray,
    *,
    kind: str,
    target_transforms: Sequence[Any],
    config: Mapping[str, Any],
    training: Mapping[str, Any],
    strategies: Sequence[str] = ("raw", "regressed"),
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Train on pure signal, on the contaminated sample with sWeights (each strategy) and
    without weights; compare each model's samples with independent true-signal rows.

    Arguments:
        conditions, targets: the calibration rows (raw conditions are standardized here).
        sweights: their sWeights; ``is_signal``: the truth, used only for the pure-signal model
            and for nothing else.
        test_conditions, test_targets: independent true-signal rows.
        kind: ``"flow"`` or ``"gan"``; ``config``/``training``: its spec settings.
        target_transforms: the preprocessing chain of each target column.
        strategies: negative-weight strategies to try.
        seed: seeds everything.
    Returns:
        Per training variant (``pure``, ``sweights_raw``, ``sweights_regressed``,
        ``unweighted``): the classifier AUC against the true-signal test rows, its error, the
        training rows and the sum of weights.
    """
    mean = conditions.mean(axis=0)
    std = conditions.std(axis=0) + 1e-12
    c_train = ((conditions - mean) / std).astype(np.float32)
    c_test = ((test_conditions - mean) / std).astype(np.float32)
    signal = np.asarray(is_signal, dtype=bool)
    variants: dict[str, tuple[np.ndarray, np.ndarray | None]] = {
        "pure": (signal, None),
        "unweighted": (np.ones(len(signal), dtype=bool), None),
    }
    features = np.concatenate([conditions, targets], axis=1)
    for strategy in strategies:
        w = resolve_weights(features, sweights, strategy, seed=seed, what=f"closure {strategy}")
        variants[f"sweights_{strategy}"] = (np.ones(len(signal), dtype=bool), w)
    out: dict[str, dict[str, float]] = {}
    rng = np.random.default_rng(seed)
    for name, (rows, weights) in variants.items():
        stage = train_response(
            kind,
            targets[rows],
            c_train[rows],
            None if weights is None else weights[rows],
            target_transforms=target_transforms,
            config=config,
            training=training,
            seed=seed,
            label=f"{kind}:{name}",
        )
        sampled = stage.apply(c_test, rng)
        twins = np.arange(len(test_conditions))  # a sample and a test row share conditions
        result = classifier_two_sample_test(
            np.concatenate([test_conditions, sampled], axis=1),
            np.concatenate([test_conditions, test_targets], axis=1),
            groups_a=twins,
            groups_b=twins,
            rng=rng,
        )
        out[name] = {
            "auc": result.auc,
            "auc_error": result.error,
            "training_rows": int(rows.sum()),
            "sum_of_weights": float(rows.sum() if weights is None else weights[rows].sum()),
        }
    return out

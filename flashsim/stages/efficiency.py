"""Efficiency stage: an xgboost classifier P(outcome | conditions), sampled against a uniform.

Outcome 0 is "not reconstructed"; outcomes 1..K-1 are "reconstructed, in ID class k" (a single
outcome 1 when there are no classes). The classifier is a gradient-boosted decision tree
(Chen & Guestrin, arXiv:1603.02754), as the efficiency models of LHCb Lamarr
(arXiv:2303.11428) and CMS FlashSim (arXiv:2402.13684). Sampling compares one uniform number per
object with the cumulative class probabilities, so the sampled efficiencies are unbiased.

Weights may be negative (sWeights, Pivk & Le Diberder, physics/0402083). xgboost refuses negative
instance weights, so the weighted log-loss is then boosted through a custom objective: gradient
``w (p - y)`` as usual, and the Hessian ``|w| p (1 - p)``, positive everywhere. Where the trees
converge the gradient sums vanish, ``sum w (p - y) = 0`` per leaf: the sWeighted maximum-likelihood
estimate, whatever Hessian sets the step sizes. Early stopping watches the same signed-weight
log-loss on the validation rows.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from flashsim.bundle_files import weight_source
from flashsim.exceptions import ModelError
from flashsim.untrusted import gunzip

__all__ = ["MAX_MODEL_JSON_BYTES", "EfficiencyStage", "fit_efficiency"]

MAX_MODEL_JSON_BYTES = 64 << 20
"""The most bytes an xgboost model may decompress to (64 MiB; the default model's largest is
3.3 MB): a few hundred kB of gzip can otherwise expand to gigabytes."""

_TRAIN_KEYS = ("n_estimators", "early_stopping_rounds")
_EPS = 1e-12


def _probabilities(margin: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, n_classes) probabilities from xgboost's raw margins (logistic or softmax link)."""
    if n_classes == 2:
        p = 1.0 / (1.0 + np.exp(-np.asarray(margin, dtype=np.float64).reshape(-1)))
        return np.stack([1.0 - p, p], axis=1)
    z = np.asarray(margin, dtype=np.float64).reshape(-1, n_classes)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _signed_weight_objective(weights: np.ndarray, n_classes: int) -> Any:
    """xgboost objective of the log-loss with signed weights (see the module docstring)."""
    w = np.asarray(weights, dtype=np.float64)
    magnitude = np.abs(w)

    def objective(margin: np.ndarray, data: xgb.DMatrix) -> tuple[np.ndarray, np.ndarray]:
        p = _probabilities(margin, n_classes)
        onehot = np.eye(n_classes)[data.get_label().astype(np.int64)]
        grad = w[:, None] * (p - onehot)
        hess = np.maximum(magnitude[:, None] * p * (1.0 - p), _EPS)
        if n_classes == 2:
            return grad[:, 1], hess[:, 1]
        return grad, hess

    return objective


def _signed_weight_logloss(weights: np.ndarray, n_classes: int) -> Any:
    """xgboost metric: the mean log-loss with signed weights, ``-sum w log p_y / sum w``."""
    w = np.asarray(weights, dtype=np.float64)
    total = float(w.sum())

    def metric(margin: np.ndarray, data: xgb.DMatrix) -> tuple[str, float]:
        p = _probabilities(margin, n_classes)
        truth = p[np.arange(len(p)), data.get_label().astype(np.int64)]
        return "logloss", float(-(w * np.log(np.clip(truth, _EPS, 1.0))).sum() / total)

    return metric


class EfficiencyStage:
    """Sample an outcome (0 = lost, k = kept in class k) per row of a condition table.

    Arguments:
        booster: the trained xgboost booster.
        n_classes: number of outcomes (2 for a binary efficiency).
    """

    kind = "efficiency"

    def __init__(self, booster: xgb.Booster, n_classes: int) -> None:
        self.booster = booster
        self.n_classes = n_classes

    def probabilities(self, conditions: np.ndarray) -> np.ndarray:
        """(n, n_classes) outcome probabilities."""
        if len(conditions) == 0:
            return np.zeros((0, self.n_classes))
        pred = np.asarray(self.booster.inplace_predict(np.ascontiguousarray(conditions)))
        if self.n_classes == 2:
            pred = np.stack([1.0 - pred, pred], axis=1)
        return pred.reshape(len(conditions), self.n_classes)

    def apply(self, conditions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Sample one outcome per row (int64), drawing one uniform number per row from ``rng``."""
        cumulative = np.cumsum(self.probabilities(conditions), axis=1)
        u = rng.random(len(conditions))[:, None] * cumulative[:, -1:]
        return np.minimum((u >= cumulative).sum(axis=1), self.n_classes - 1).astype(np.int64)

    def save(self, path: Path) -> dict[str, Any]:
        """Write the booster as xgboost JSON (gzipped if ``path`` ends in ``.gz``).

        Returns:
            the record that :meth:`load` needs.
        """
        raw = bytes(self.booster.save_raw(raw_format="json"))
        path.write_bytes(gzip.compress(raw, mtime=0) if path.suffix == ".gz" else raw)
        return {"kind": self.kind, "file": path.name, "n_classes": self.n_classes}

    @classmethod
    def load(cls, source: Any, record: Mapping[str, Any], key: str = "") -> EfficiencyStage:
        """Load a stage written by :meth:`save`.

        Arguments:
            source: a bundle's verified weight files (:class:`flashsim.bundle_files.WeightFiles`)
                or a directory.
            record: the stage's record.
            key: where the record lies in the bundle's record, for messages.

        Raises:
            ModelError: the record is malformed, the file is not an xgboost model (or
                decompresses to more than :data:`MAX_MODEL_JSON_BYTES`), or its number of
                classes is not the record's ``n_classes``.
        """
        files = weight_source(source)
        where = f"{key}." if key else ""
        n_classes = record.get("n_classes") if isinstance(record, Mapping) else None
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
            msg = f"{where}n_classes: expected an integer >= 2, got {n_classes!r}"
            raise ModelError(msg)
        name = record.get("file")
        path = files.path(name) if isinstance(name, str) else Path(str(name))
        origin = f"efficiency model {path}"
        try:
            raw = files.read(name)
        except ModelError as err:
            msg = f"cannot load {origin}: {str(err).split(';')[0]}; retrain or restore the bundle"
            raise ModelError(msg) from err
        if path.suffix == ".gz":
            raw = gunzip(raw, MAX_MODEL_JSON_BYTES, f"cannot load {origin}", ModelError)
        try:
            model = json.loads(raw)
        except RecursionError:
            msg = f"cannot load {origin}: nested too deeply; retrain or restore the bundle"
            raise ModelError(msg) from None
        except (ValueError, UnicodeDecodeError) as err:
            msg = f"cannot load {origin}: not JSON ({err}); retrain or restore the bundle"
            raise ModelError(msg) from err
        _check_classes(model, n_classes, origin, f"{where}n_classes")
        booster = xgb.Booster()
        try:
            booster.load_model(bytearray(raw))
        except (xgb.core.XGBoostError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            msg = f"cannot load {origin}: {first}; retrain or restore the bundle"
            raise ModelError(msg) from err
        return cls(booster, n_classes)


def _check_classes(model: Any, n_classes: int, origin: str, key: str) -> None:
    """Refuse an xgboost JSON model that is not one (xgboost aborts the process on some bad
    buffers) or whose number of classes is not ``n_classes``."""
    try:
        learner = model["learner"]
        declared = int(learner["learner_model_param"]["num_class"])
        objective = str(learner["objective"]["name"])
    except (KeyError, TypeError, ValueError):
        msg = f"cannot load {origin}: not an xgboost JSON model; retrain or restore the bundle"
        raise ModelError(msg) from None
    has = 2 if declared <= 1 and objective == "binary:logistic" else declared
    expected = "binary:logistic" if n_classes == 2 else "multi:softprob"
    if has != n_classes or objective != expected:
        msg = (
            f"{origin}: {key}: the record says {n_classes} classes, the model has {has} "
            f"({objective}, expected {expected}); the bundle is inconsistent: retrain or "
            "restore it"
        )
        raise ModelError(msg)


def fit_efficiency(
    conditions: np.ndarray,
    outcome: np.ndarray,
    n_classes: int,
    params: Mapping[str, Any],
    *,
    validation: tuple[np.ndarray, np.ndarray],
    weights: np.ndarray | None = None,
    validation_weights: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[EfficiencyStage, dict[str, float]]:
    """Train an efficiency stage with early stopping on the validation log-loss.

    Arguments:
        conditions: (n, k) preprocessed conditions.
        outcome: (n,) integer outcomes in ``[0, n_classes)``.
        n_classes: number of outcomes (2 = binary).
        params: xgboost parameters from the spec (``n_estimators``, ``max_depth``,
            ``learning_rate``, ``early_stopping_rounds``, ...).
        validation: (conditions, outcome) used for early stopping and the reported metrics.
        weights: per-row weights (e.g. sWeights), with a positive sum; negative ones are
            learned through the signed-weight objective of the module docstring.
        validation_weights: per-row weights of the validation rows, likewise.

    Returns:
        the stage and metrics: validation log-loss, number of trees, and for each outcome the
        observed and predicted fraction on the validation set (a closure check).
    """
    booster_params = {k: v for k, v in params.items() if k not in _TRAIN_KEYS}
    booster_params.update(tree_method="hist", seed=seed, nthread=0)
    if n_classes == 2:
        booster_params.update(objective="binary:logistic", eval_metric="logloss")
    else:
        booster_params.update(
            objective="multi:softprob", eval_metric="mlogloss", num_class=n_classes
        )
    signed = any(w is not None and np.any(w < 0) for w in (weights, validation_weights))
    custom: dict[str, Any] = {}
    if signed:
        w_train = np.ones(len(outcome)) if weights is None else np.asarray(weights, np.float64)
        w_valid = np.ones(len(validation[1]))
        if validation_weights is not None:
            w_valid = np.asarray(validation_weights, dtype=np.float64)
        for what, w in (("training", w_train), ("validation", w_valid)):
            if not w.sum() > 0:
                msg = (
                    f"the {what} weights of the efficiency sum to {w.sum():.3g}: no signal left "
                    "to learn from (all-negative sWeights?); check the sWeight fit and the sample"
                )
                raise ModelError(msg)
        custom = {
            "obj": _signed_weight_objective(w_train, n_classes),
            "custom_metric": _signed_weight_logloss(w_valid, n_classes),
        }
        # Only the signed metric: a built-in `logloss` beside it (same name, unweighted) would
        # interleave its values into the same evals_result list.
        del booster_params["eval_metric"]
        booster_params["disable_default_eval_metric"] = 1
        if n_classes == 2:  # start from the weighted mean, as binary:logistic does unweighted
            mean = float(np.average(outcome == 1, weights=w_train))
            booster_params["base_score"] = min(max(mean, 1e-6), 1 - 1e-6)
        weights = validation_weights = None  # the objective and the metric hold them
    train = xgb.DMatrix(conditions, label=outcome, weight=weights)
    valid = xgb.DMatrix(validation[0], label=validation[1], weight=validation_weights)
    evals: dict[str, Any] = {}
    booster = xgb.train(
        booster_params,
        train,
        num_boost_round=int(params.get("n_estimators", 300)),
        evals=[(valid, "validation")],
        early_stopping_rounds=int(params.get("early_stopping_rounds", 20)),
        evals_result=evals,
        verbose_eval=False,
        **custom,
    )
    best = booster.best_iteration
    booster = booster[: best + 1]
    stage = EfficiencyStage(booster, n_classes)
    probs = stage.probabilities(validation[0])
    metric = next(iter(evals["validation"].values()))
    metrics: dict[str, float] = {"validation_logloss": float(metric[best]), "trees": best + 1}
    # With (s)weights both fractions are weighted: the model learns the weighted distribution.
    w = w_valid if signed else validation_weights
    for k in range(n_classes):
        metrics[f"observed_fraction_{k}"] = float(np.average(validation[1] == k, weights=w))
        metrics[f"predicted_fraction_{k}"] = float(np.average(probs[:, k], weights=w))
    return stage, metrics

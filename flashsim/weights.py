"""Training weights, and what to do with negative ones (sWeights).

sWeights (Pivk & Le Diberder, physics/0402083) statistically subtract the background of a
calibration sample: a weighted histogram of any variable independent of the fit variable
reproduces the signal distribution, but single weights are negative for background-like
candidates. Two strategies:

``raw``
    Train with the sWeights as they are, as LHCb's Lamarr does. Unbiased on average; losses
    may be non-convex in places and noisy where sWeights nearly cancel, and a flexible model can
    learn the noise (a region with net-negative weight has no meaning as a density).
``regressed``
    Replace each sWeight by an estimate of ``E[w | x] = P(signal | x)``, learned by regressing
    the sWeights on the features ``x`` the model sees (conditions and targets), clipped to
    ``[0, 1]`` (Borisyak & Kazeev, "Machine-learning on data with sPlot background
    subtraction", arXiv:1905.11719). The weights are non-negative and less noisy, so every
    loss behaves; the price is a bias where the regressor is poor (smooth features, finite
    statistics) and that the sPlot independence assumption must now hold for ``x`` as a whole.
    The regression is cross-fitted (each half predicted by a regressor trained on the other)
    so that no row's estimate has seen its own weight.

Every stage trains with the strategy's weights: the flows and GANs with signed weights in their
losses, the BDTs (efficiencies, isMuon, PID flags) through a signed-weight objective
(:mod:`flashsim.stages.efficiency`; xgboost itself refuses negative instance weights).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from flashsim.exceptions import InputError

__all__ = [
    "STRATEGIES",
    "balance_factors",
    "check_weights",
    "regressed_weights",
    "resolve_weights",
]

STRATEGIES = ("raw", "regressed")

_REGRESSOR = {
    "objective": "reg:squarederror",
    "max_depth": 4,
    "learning_rate": 0.1,
    "min_child_weight": 50,
    "subsample": 0.8,
    "tree_method": "hist",
}


def check_weights(weights: np.ndarray, what: str) -> np.ndarray:
    """The weights as float64, after checks that training with them can make sense.

    Raises:
        InputError: a weight is NaN or infinite, or the weights sum to zero or less (no
            signal left: all-negative sWeights, e.g. a fit that gave no signal in this sample).
    """
    w = np.asarray(weights, dtype=np.float64)
    bad = np.count_nonzero(~np.isfinite(w))
    if bad:
        msg = f"{what}: {bad} training weights are NaN or infinite; check the sWeight fit"
        raise InputError(msg)
    if w.size and not w.sum() > 0:
        msg = (
            f"{what}: the training weights sum to {w.sum():.3g} over {w.size} rows: no signal "
            "is left to train on (all-negative sWeights?); check the sWeight fit and the sample"
        )
        raise InputError(msg)
    return w


def regressed_weights(
    features: np.ndarray,
    weights: np.ndarray,
    *,
    seed: int,
    params: Mapping[str, Any] | None = None,
    rounds: int = 200,
) -> np.ndarray:
    """Non-negative estimates of ``E[w | x]``, cross-fitted on two halves (see the module doc).

    Arguments:
        features: ``(n, k)`` what the model will see for each row (NaN allowed: missing).
        weights: ``(n,)`` the sWeights.
        seed: seeds the split and the regressors.
        params: xgboost parameters replacing the defaults.
        rounds: boosting rounds of each regressor.
    Returns:
        ``(n,)`` weights in ``[0, 1]``.
    References:
        Borisyak & Kazeev, arXiv:1905.11719.
    """
    import xgboost as xgb

    x = np.asarray(features, dtype=np.float32)
    w = check_weights(weights, "regressed weights")
    if x.ndim != 2 or len(x) != len(w):
        msg = f"features must be (n, k) with n = {len(w)} rows, got shape {x.shape}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    half = rng.random(len(w)) < 0.5
    out = np.empty(len(w))
    booster_params = {**_REGRESSOR, **(params or {}), "seed": seed, "nthread": 0}
    for fit_part in (half, ~half):
        booster = xgb.train(
            booster_params, xgb.DMatrix(x[fit_part], label=w[fit_part]), num_boost_round=rounds
        )
        out[~fit_part] = booster.predict(xgb.DMatrix(x[~fit_part]))
    return np.clip(out, 0.0, 1.0)


def resolve_weights(
    features: np.ndarray, weights: np.ndarray | None, strategy: str, *, seed: int, what: str
) -> np.ndarray | None:
    """The weights to train with under ``strategy`` (``raw`` or ``regressed``)."""
    if weights is None:
        return None
    if strategy not in STRATEGIES:
        msg = f"unknown negative-weight strategy {strategy!r}; expected one of {STRATEGIES}"
        raise ValueError(msg)
    w = check_weights(weights, what)
    if strategy == "raw":
        return w
    return regressed_weights(features, w, seed=seed)


def balance_factors(
    values: np.ndarray, *, bins: int = 30, power: float = 1.0, max_factor: float = 10.0
) -> np.ndarray:
    """Per-row factors that flatten the distribution of one condition, normalised to mean 1.

    A row in a bin of ``values`` holding ``n_bin`` rows gets ``(n_max / n_bin) ** power``, at
    most ``max_factor`` (``bins`` equal bins from the smallest to the largest value; ``n_max``:
    the fullest bin). ``power = 1`` flattens up to the cap, ``0.5`` half-way in log.

    Multiplying the training weights by a function of the conditions alone leaves the optimum
    of a conditional model unchanged (a weighted likelihood of ``y`` given ``x`` is maximal at
    the true ``p(y | x)`` for any positive ``w(x)``); it only moves the finite model's
    attention: a calibration sample with 1% of its probes above 100 GeV otherwise spends 1% of
    its loss there. The price is a smaller effective sample where the weights vary.
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return np.ones(0)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.ones(len(values))
    index = np.minimum(((values - low) / (high - low) * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins).astype(np.float64)
    factors = np.minimum((counts.max() / np.maximum(counts, 1.0)) ** power, max_factor)
    out = factors[index]
    return out / out.mean()

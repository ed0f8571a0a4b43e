"""Training weights: checks and the negative-sWeight strategies (flashsim.weights)."""

from __future__ import annotations

import numpy as np
import pytest

from flashsim.exceptions import InputError
from flashsim.weights import balance_factors, check_weights, regressed_weights, resolve_weights


def _contaminated(rng: np.random.Generator, n: int = 20_000) -> tuple[np.ndarray, ...]:
    """A feature x whose signal and background distributions differ, and sWeights.

    The sWeights are the sPlot weights of the mass with the true yields and densities
    (Pivk & Le Diberder, physics/0402083): no fit, so the test isolates the strategies.
    """
    signal = rng.random(n) < 0.6
    x = np.where(signal, rng.normal(1.0, 0.5, n), rng.normal(-1.0, 0.8, n))
    mass = np.where(signal, rng.normal(0.0, 0.1, n), rng.uniform(-1, 1, n))
    fs = np.exp(-0.5 * (mass / 0.1) ** 2) / (0.1 * np.sqrt(2 * np.pi))
    fb = np.full(n, 0.5)
    ns, nb = signal.sum(), (~signal).sum()
    denominator = ns * fs + nb * fb
    v = np.linalg.inv(
        np.array(
            [
                [np.sum(fs * fs / denominator**2), np.sum(fs * fb / denominator**2)],
                [np.sum(fb * fs / denominator**2), np.sum(fb * fb / denominator**2)],
            ]
        )
    )
    sweights = (v[0, 0] * fs + v[0, 1] * fb) / denominator
    return x, sweights, signal


def test_check_weights() -> None:
    assert check_weights(np.array([1, -0.5, 2]), "w").dtype == np.float64
    with pytest.raises(InputError, match="NaN or infinite"):
        check_weights(np.array([1.0, np.nan]), "kaon")
    with pytest.raises(InputError, match=r"sum to -1\.5 over 2 rows: no signal"):
        check_weights(np.array([-1.0, -0.5]), "kaon")


def test_sweights_recover_the_signal_mean(rng: np.random.Generator) -> None:
    x, w, signal = _contaminated(rng)
    assert np.average(x, weights=w) == pytest.approx(x[signal].mean(), abs=0.03)
    assert (w < 0).mean() > 0.2  # the point of the strategies: many negative weights


def test_regressed_weights_are_probabilities_with_the_same_closure(
    rng: np.random.Generator,
) -> None:
    x, w, signal = _contaminated(rng)
    regressed = regressed_weights(x[:, None], w, seed=3)
    assert regressed.min() >= 0
    assert regressed.max() <= 1
    assert np.average(x, weights=regressed) == pytest.approx(x[signal].mean(), abs=0.05)
    # E[w | x] is P(signal | x): high where signal dominates, low where background does.
    assert regressed[x > 1.5].mean() > 0.9
    assert regressed[x < -1.5].mean() < 0.1


def test_resolve_weights(rng: np.random.Generator) -> None:
    x, w, _ = _contaminated(rng, 2000)
    assert resolve_weights(x[:, None], None, "raw", seed=0, what="t") is None
    assert np.array_equal(resolve_weights(x[:, None], w, "raw", seed=0, what="t"), w)
    assert resolve_weights(x[:, None], w, "regressed", seed=0, what="t").min() >= 0
    with pytest.raises(ValueError, match="unknown negative-weight strategy"):
        resolve_weights(x[:, None], w, "clip", seed=0, what="t")


def test_balance_factors_flatten_one_condition(rng: np.random.Generator) -> None:
    x = rng.normal(size=200_000)
    f = balance_factors(x, bins=20, power=1.0, max_factor=1e9)
    assert abs(f.mean() - 1) < 1e-12
    weighted = np.histogram(x, bins=20, weights=f)[0]
    np.testing.assert_allclose(weighted, weighted.mean(), rtol=1e-9)  # flat
    capped = balance_factors(x, bins=20, power=1.0, max_factor=5.0)
    assert capped.max() / capped.min() == pytest.approx(5.0)
    half = balance_factors(x, bins=20, power=0.5, max_factor=1e9)
    np.testing.assert_allclose(half / half.min(), np.sqrt(f / f.min()))
    # a uniform condition, a constant one and no rows need no reweighting
    np.testing.assert_allclose(balance_factors(np.arange(1000.0), bins=10), 1.0)
    np.testing.assert_array_equal(balance_factors(np.full(5, 3.0)), 1.0)
    assert len(balance_factors(np.array([]))) == 0

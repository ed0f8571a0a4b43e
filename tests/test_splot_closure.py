"""Tests of flashsim.validation.splot_closure (the full study runs in test_notebooks.py)."""

from __future__ import annotations

import numpy as np
import pytest

from flashsim.exceptions import ConfigurationError
from flashsim.validation.splot_closure import (
    CLOSURE_TRANSFORMS,
    closure_study,
    sweighted_histogram_chi2,
)


def test_sweighted_histogram_chi2_closes_with_right_weights_only() -> None:
    rng = np.random.default_rng(1)
    n = 40000
    signal = rng.random(n) < 0.6
    values = np.where(signal, rng.normal(0.0, 1.0, n), rng.uniform(-4.0, 4.0, n))
    # Sideband subtraction: half of the background in the "signal window" (+1), the other half
    # in the sideband (-1), so the weights subtract the background in every bin on average.
    window = signal | (rng.random(n) < 0.5)
    weights = np.where(window, 1.0, -1.0)
    edges = np.linspace(-4.0, 4.0, 21)
    chi2, ndf = sweighted_histogram_chi2(values, weights, signal, edges)
    assert ndf == 20
    assert chi2 / ndf < 2.0
    unweighted, _ = sweighted_histogram_chi2(values, np.ones(n), signal, edges)
    assert unweighted / ndf > 20.0


@pytest.mark.parametrize(
    "transforms",
    [[["standardize"]], CLOSURE_TRANSFORMS[:3], [*CLOSURE_TRANSFORMS, ["standardize"]]],
    ids=["one", "three", "five"],
)
def test_closure_study_needs_one_transform_chain_per_pid_column(transforms: list) -> None:
    """DLLe, DLLmu, DLLK and DLLp - DLLK: four chains, refused before any sample is made."""
    with pytest.raises(ConfigurationError, match=r"one per PID column is needed \(4: DLLe"):
        closure_study(n=1000, kinds=(), transforms=transforms)

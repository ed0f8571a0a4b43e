"""fill_replicas: cluster variances for oversampled flash output."""

from __future__ import annotations

import hist
import numpy as np
import pytest

from flashsim.oversampling import fill_replicas
from flashsim.validation.metrics import grouped_histogram


def test_matches_grouped_histogram_and_plain_fill(rng: np.random.Generator) -> None:
    x = rng.normal(size=3000)
    groups = rng.integers(0, 400, size=3000)
    w = rng.uniform(0.5, 1.5, size=3000)
    edges = np.linspace(-2, 2, 9)
    h = fill_replicas(hist.Hist.new.Variable(edges).Weight(), x, groups=groups, weight=w)
    values, variances = grouped_histogram(x, edges, groups=groups, weights=w)
    np.testing.assert_allclose(h.values(), values)
    np.testing.assert_allclose(h.variances(), variances)
    # one entry per group: the usual sum of squared weights, as hist's own fill
    plain = hist.Hist.new.Variable(edges).Weight().fill(x, weight=w)
    ours = fill_replicas(
        hist.Hist.new.Variable(edges).Weight(), x, groups=np.arange(3000), weight=w
    )
    np.testing.assert_allclose(ours.view(flow=True).value, plain.view(flow=True).value)
    np.testing.assert_allclose(ours.view(flow=True).variance, plain.view(flow=True).variance)


def test_two_dimensional_and_flow_bins(rng: np.random.Generator) -> None:
    x, y = rng.normal(size=500), rng.integers(0, 3, size=500)
    groups = np.repeat(np.arange(100), 5)
    h = hist.Hist.new.Reg(4, -1, 1).IntCategory([0, 1, 2]).Weight()
    fill_replicas(h, x, y, groups=groups)
    plain = hist.Hist.new.Reg(4, -1, 1).IntCategory([0, 1, 2]).Weight().fill(x, y)
    np.testing.assert_allclose(h.view(flow=True).value, plain.view(flow=True).value)
    assert np.all(h.view(flow=True).variance >= plain.view(flow=True).variance)


def test_variance_covers_the_spread_of_replicated_experiments() -> None:
    """K identical-truth replicas per gen event: the cluster variance matches the observed spread
    of the bin contents over independent pseudo-experiments (with a Poisson number of events,
    as the sum-of-squares variance assumes); the naive one is K times too small.
    """
    rng = np.random.default_rng(11)
    n_events, k, edges = 400, 10, np.linspace(-3, 3, 7)
    contents, cluster, naive = [], [], []
    for _ in range(300):
        n = rng.poisson(n_events)
        truth = rng.normal(size=n)  # the gen-level quantity
        x = np.repeat(truth, k) + 0.3 * rng.normal(size=n * k)  # K smeared replicas
        groups = np.repeat(np.arange(n), k)
        h = fill_replicas(hist.Hist.new.Variable(edges).Weight(), x, groups=groups)
        contents.append(h.values() / k)
        cluster.append(h.variances() / k**2)
        naive.append(hist.Hist.new.Variable(edges).Weight().fill(x).variances() / k**2)
    observed = np.var(contents, axis=0, ddof=1)
    ratio = np.mean(cluster, axis=0) / observed
    assert np.all(np.abs(ratio - 1) < 0.2), ratio
    assert np.all(np.mean(naive, axis=0) / observed < 0.4)


def test_errors() -> None:
    with pytest.raises(TypeError, match="Weight storage"):
        fill_replicas(hist.Hist.new.Reg(2, 0, 1).Double(), np.zeros(2), groups=np.zeros(2, int))
    with pytest.raises(ValueError, match="2 value arrays"):
        fill_replicas(
            hist.Hist.new.Reg(2, 0, 1).Weight(), np.zeros(2), np.zeros(2), groups=np.zeros(2, int)
        )
    with pytest.raises(ValueError, match="one length"):
        fill_replicas(hist.Hist.new.Reg(2, 0, 1).Weight(), np.zeros(3), groups=np.zeros(2, int))
    with pytest.raises(ValueError, match="integers"):
        fill_replicas(hist.Hist.new.Reg(2, 0, 1).Weight(), np.zeros(2), groups=np.zeros(2))

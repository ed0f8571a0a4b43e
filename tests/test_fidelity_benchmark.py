"""The statistics of the fidelity and analysis-closure benchmarks
(flashsim.validation.physics_checks), on synthetic samples with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from flashsim.validation.metrics import binned_efficiency, efficiency_chi2
from flashsim.validation.physics_checks import (
    equivalent_events,
    grouped_mean,
    histogram_chi2,
    histogram_distance,
    met_components,
    multiplicity_edges,
    paired_efficiency_chi2,
    quantile_edges,
    resolution_widths,
    tag_efficiency,
    working_point,
)


def _mean_chi2_ndf(make, seeds: int = 20) -> float:
    return float(np.mean([make(np.random.default_rng(s)).chi2_ndf for s in range(seeds)]))


def test_histogram_chi2_is_one_for_one_distribution_and_large_for_a_shift():
    def same(rng):
        a, b = rng.normal(size=4000), rng.normal(size=3000)
        return histogram_chi2(a, b, quantile_edges(b, 20))

    def shifted(rng):
        a, b = rng.normal(0.25, 1.0, 4000), rng.normal(size=3000)
        return histogram_chi2(a, b, quantile_edges(b, 20))

    assert 0.8 < _mean_chi2_ndf(same) < 1.25
    assert _mean_chi2_ndf(shifted) > 3
    res = histogram_chi2(np.arange(10.0), np.arange(10.0), quantile_edges(np.arange(10.0), 5))
    assert res.ndf == 4  # 5 bins, shape: one constraint
    assert res.chi2 == 0
    assert res.p_value == pytest.approx(1.0)


def test_histogram_chi2_counts_oversampled_replicas_as_one_gen_event():
    """Four identical replicas of each event are worth one event: with the groups, χ²/ndf ~ 1;
    treating the replicas as independent inflates it by 2 / (1 + 1/4) = 1.6."""

    def make(rng, grouped):
        n = 3000
        a = np.repeat(rng.poisson(3.0, n), 4).astype(float)
        b = rng.poisson(3.0, n).astype(float)
        groups = np.repeat(np.arange(n), 4) if grouped else None
        return histogram_chi2(a, b, multiplicity_edges(a, b), groups_a=groups)

    grouped = _mean_chi2_ndf(lambda rng: make(rng, True), 40)
    naive = _mean_chi2_ndf(lambda rng: make(rng, False), 40)
    assert 0.75 < grouped < 1.3
    assert naive > 1.35


def test_histogram_chi2_per_event_normalisation_sees_a_yield_difference():
    rng = np.random.default_rng(3)
    n = 20_000
    a, b = rng.exponential(50.0, n), rng.exponential(50.0, n)
    a[rng.random(n) < 0.1] = np.nan  # 10% fewer events selected, same shape
    edges = quantile_edges(b, 10)
    shape = histogram_chi2(a, b, edges)
    per_event = histogram_chi2(a, b, edges, norm_a=n, norm_b=n)
    assert shape.p_value > 1e-3
    assert per_event.p_value < 1e-6
    assert per_event.ndf == 10  # no constraint: the selections differ


def test_multiplicity_chi2_keeps_the_tail_beyond_eight():
    """A flash-like sample capped at 8 against one with a 2% tail at 10-12: the tail bins are
    counted (a capped binning would hide them)."""
    rng = np.random.default_rng(4)
    n = 5000
    flash = np.minimum(rng.poisson(2.5, n), 8)
    full = np.minimum(rng.poisson(2.5, n), 8)
    tail = rng.random(n) < 0.02
    full[tail] = rng.integers(10, 13, tail.sum())
    edges = multiplicity_edges(flash, full)
    assert edges[-1] == 12.5
    assert np.all(np.diff(edges) == 1)
    assert histogram_chi2(flash, full, edges).p_value < 1e-6
    res = histogram_chi2(flash, full, edges)
    assert np.all(res.b[-3:] > 0)  # the tail is in the comparison
    assert res.ndf == 13 - 1 - 1  # 13 bins, 9 empty in both, shape constraint


def test_working_point_and_point_masses():
    rng = np.random.default_rng(5)
    scores = rng.random(100_000)
    cut, eff = working_point(scores, 0.7)
    assert cut == pytest.approx(0.3, abs=0.01)
    assert eff == pytest.approx(0.7, abs=1e-3)
    # 60% of the scores saturate at 1: no cut keeps 55%; the closest is 60%, at 1.
    saturated = np.where(rng.random(100_000) < 0.6, 1.0, rng.random(100_000))
    cut, eff = working_point(saturated, 0.55)
    assert cut == 1.0
    assert eff == pytest.approx(0.6, abs=0.01)


def test_tag_efficiency_binomial_error_and_replicas():
    passed = np.zeros(1000, dtype=bool)
    passed[:300] = True
    eff, err = tag_efficiency(passed)
    assert eff == pytest.approx(0.3)
    assert err == pytest.approx(np.sqrt(0.3 * 0.7 / 1000))
    # Four identical replicas per jet: the error of 1000 jets, not of 4000.
    eff4, err4 = tag_efficiency(np.repeat(passed, 4), np.repeat(np.arange(1000), 4))
    assert eff4 == pytest.approx(0.3)
    assert err4 == pytest.approx(err, rel=1e-6)
    m, e = grouped_mean(np.repeat(passed.astype(float), 4), np.repeat(np.arange(1000), 4))
    assert m == pytest.approx(0.3)
    assert e == pytest.approx(np.sqrt(0.3 * 0.7 / 1000), rel=1e-6)


def test_paired_efficiency_chi2_is_calibrated_where_the_unpaired_one_is_not():
    """Objects whose efficiency is 0.98 or 0.02 (unobserved): the unpaired χ² sees the spread
    between objects as noise (χ²/ndf far below 1); the paired one is ~1, and sees a 3% drop."""

    def make(seed, drop=0.0):
        rng = np.random.default_rng(seed)
        n, k = 20_000, 3
        x = rng.random(n)
        p = np.where(rng.random(n) < 0.7, 0.98, 0.02)
        full = rng.random(n) < p
        flash = rng.random((k, n)) < (p - drop)
        return x, full, flash

    edges = np.linspace(0, 1, 11)
    paired, unpaired = [], []
    for seed in range(10):
        x, full, flash = make(seed)
        paired.append(paired_efficiency_chi2(x, full, flash.mean(axis=0), edges)["chi2_ndf"])
        ef = binned_efficiency(
            np.tile(x, 3), flash.ravel(), edges, groups=np.tile(np.arange(x.size), 3)
        )
        er = binned_efficiency(x, full, edges)
        chi2, ndf = efficiency_chi2(ef, er)
        unpaired.append(chi2 / ndf)
    assert 0.7 < np.mean(paired) < 1.35
    assert np.mean(unpaired) < 0.4
    x, full, flash = make(99, drop=0.03)
    res = paired_efficiency_chi2(x, full, flash.mean(axis=0), edges)
    assert res["chi2_ndf"] > 10
    assert res["ndf"] == 10


def test_met_components():
    gen_pt, gen_phi = np.array([40.0, 40.0]), np.array([0.3, 0.3])
    met_phi = np.array([0.3, 0.3 + np.pi / 2])
    par, perp = met_components(np.array([45.0, 40.0]), met_phi, gen_pt, gen_phi)
    assert par == pytest.approx([5.0, -40.0])
    assert perp == pytest.approx([0.0, 40.0])


def test_resolution_widths_and_their_errors():
    rng = np.random.default_rng(7)
    x = rng.normal(1.0, 2.0, 20_000)
    w = resolution_widths(x, rng=rng, n_boot=60)
    assert w["std"] == pytest.approx(2.0, abs=0.05)
    assert w["w68"] == pytest.approx(2.0, abs=0.07)
    assert w["median"] == pytest.approx(1.0, abs=0.06)
    assert 0.5 < w["std_error"] / (2.0 / np.sqrt(2 * x.size)) < 2.0
    # 5000 events with four identical replicas each: errors of 5000, twice those of 20000.
    w4 = resolution_widths(
        np.repeat(x[:5000], 4), groups=np.repeat(np.arange(5000), 4), rng=rng, n_boot=60
    )
    assert 1.4 < w4["std_error"] / w["std_error"] < 2.9


def test_equivalent_events_exact_law():
    n = np.array([250.0, 500, 1000, 2000, 4000, 8000])
    d = 1e-4 + 2.0 / n
    n_eq, extrapolated = equivalent_events(n, d, 1e-4 + 2.0 / 5000)
    assert n_eq == pytest.approx(5000, rel=1e-6)
    assert not extrapolated
    n_eq, extrapolated = equivalent_events(n, d, 1e-4 + 2.0 / 20_000)
    assert n_eq == pytest.approx(20_000, rel=1e-6)
    assert extrapolated
    assert equivalent_events(n, d, 0.5e-4) == (float("inf"), True)


def test_equivalent_events_on_sampled_histograms():
    """A sample of m events drawn from the truth distribution is worth about m events; a biased
    one of 100000 events is worth far fewer."""
    rng = np.random.default_rng(8)
    truth = rng.normal(size=400_000)
    edges = quantile_edges(truth, 20)
    truth_p = np.histogram(truth, edges)[0] / truth.size
    sizes = np.array([250, 500, 1000, 2000, 4000, 8000, 16000])
    ladder = [
        np.mean([histogram_distance(rng.normal(size=n), edges, truth_p) for _ in range(20)])
        for n in sizes
    ]
    m = 3000
    d = np.mean([histogram_distance(rng.normal(size=m), edges, truth_p) for _ in range(20)])
    n_eq, _ = equivalent_events(sizes, np.array(ladder), d)
    assert n_eq == pytest.approx(m, rel=0.25)
    biased = histogram_distance(rng.normal(0.2, 1.0, 100_000), edges, truth_p)
    n_biased, _ = equivalent_events(sizes, np.array(ladder), biased)
    assert n_biased < 5000


def test_quantile_edges_merge_point_masses_and_count_everything():
    x = np.concatenate([np.full(500, 0.042), np.linspace(0, 1, 500)])
    edges = quantile_edges(x, 20)
    assert np.all(np.diff(edges) > 0)
    assert edges[0] == -np.inf
    assert edges[-1] == np.inf
    assert np.histogram(x, edges)[0].sum() == x.size


def test_density_ratio_weights_move_one_sample_onto_the_other():
    """Reweighting B (a shifted, wider Gaussian) to A in its own space: the weighted mean and
    spread of B become A's, which an unweighted B is far from."""
    from flashsim.validation.physics_checks import density_ratio_weights

    rng = np.random.default_rng(3)
    a = rng.normal(0.0, 1.0, (20000, 1))
    b = rng.normal(0.7, 1.4, (20000, 1))
    w = density_ratio_weights(a, b, rng, n_estimators=100)
    assert w.sum() == pytest.approx(len(a))
    mean = np.average(b[:, 0], weights=w)
    std = np.sqrt(np.average((b[:, 0] - mean) ** 2, weights=w))
    assert abs(b[:, 0].mean() - 0.0) > 0.6
    assert abs(mean) < 0.06
    assert abs(std - 1.0) < 0.08

"""flashsim.validation.metrics: Wasserstein distance and floor, classifier two-sample test, ROC
AUC and its error, binned efficiencies and their chi-square."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from flashsim.validation import (
    Efficiency,
    auc_error,
    binned_efficiency,
    classifier_two_sample_test,
    correlation_difference,
    efficiency_chi2,
    grouped_histogram,
    ks_test,
    n_effective,
    roc_auc,
    wasserstein,
    wasserstein_floor,
)

NAMES = ("pt", "eta", "phi")
# One XGBoost thread: OpenMP threads crawl when other jobs keep all cores busy.
FAST = {"n_jobs": 1}


def brute_force_auc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> float:
    """AUC from all positive-negative pairs, ties counting one half."""
    num = den = 0.0
    pos, neg = labels == 1, labels == 0
    for (s_p, w_p), (s_n, w_n) in itertools.product(
        zip(scores[pos], weights[pos], strict=True), zip(scores[neg], weights[neg], strict=True)
    ):
        num += w_p * w_n * (1.0 if s_p > s_n else 0.5 if s_p == s_n else 0.0)
        den += w_p * w_n
    return num / den


def turn_on(x: np.ndarray, threshold: float) -> np.ndarray:
    """A trigger-like efficiency curve rising from 0.05 to 0.95 around ``threshold``."""
    return 0.05 + 0.9 / (1.0 + np.exp(-(x - threshold) / 3.0))


# --- Wasserstein ---------------------------------------------------------------------------------


def test_wasserstein_of_shifted_normal_is_the_shift(rng: np.random.Generator) -> None:
    a = rng.normal(0.0, 1.0, 20_000)
    b = rng.normal(0.3, 1.0, 20_000)
    assert wasserstein(a, b) == pytest.approx(0.3, abs=0.03)
    assert wasserstein(a, a + 0.7) == pytest.approx(0.7, rel=1e-9)


def test_wasserstein_weights_equal_repeated_entries(rng: np.random.Generator) -> None:
    a, b = rng.normal(size=50), rng.normal(0.5, 1.0, 60)
    wa = rng.integers(1, 4, a.size)
    expected = wasserstein(np.repeat(a, wa), b)
    assert wasserstein(a, b, weights_a=wa) == pytest.approx(expected, rel=1e-9)
    assert wasserstein(a, b, weights_a=wa) != pytest.approx(wasserstein(a, b), rel=1e-3)


def test_wasserstein_floor_is_positive_and_falls_like_one_over_sqrt_n(
    rng: np.random.Generator,
) -> None:
    small = wasserstein_floor(rng.normal(size=100), rng.normal(size=100), rng=rng)
    large = wasserstein_floor(rng.normal(size=10_000), rng.normal(size=10_000), rng=rng)
    assert min(small + large) > 0  # means and spreads
    # 100 times the entries: about 10 times smaller (sqrt(n) scaling).
    assert 5 < small[0] / large[0] < 20


def test_wasserstein_same_distribution_is_at_the_floor(rng: np.random.Generator) -> None:
    a, b = rng.exponential(2.0, 3000), rng.exponential(2.0, 2000)
    mean, std = wasserstein_floor(a, b, n_rounds=20, rng=rng)
    assert abs(wasserstein(a, b) - mean) < 4 * std
    shifted = wasserstein(a, b + 0.5)
    assert shifted > mean + 10 * std


def test_wasserstein_floor_is_reproducible() -> None:
    a, b = np.linspace(0, 1, 200), np.linspace(0.1, 1.1, 300)
    first = wasserstein_floor(a, b, rng=np.random.default_rng(7))
    assert wasserstein_floor(a, b, rng=np.random.default_rng(7)) == first


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "match"),
    [
        ([], [1.0], {}, "non-empty"),
        ([1.0, np.nan], [1.0], {}, "non-finite"),
        ([1.0, np.inf], [1.0], {}, "non-finite"),
        ([[1.0, 2.0]], [1.0], {}, "1-D"),
        ([1.0, 2.0], [1.0], {"weights_a": [1.0]}, "shape"),
        ([1.0, 2.0], [1.0], {"weights_a": [1.0, -1.0]}, "non-negative"),
        ([1.0, 2.0], [1.0], {"weights_b": [0.0]}, "positive sum"),
    ],
)
def test_wasserstein_rejects_bad_input(a: list, b: list, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        wasserstein(np.array(a), np.array(b), **kwargs)


def test_wasserstein_floor_rejects_bad_input(rng: np.random.Generator) -> None:
    with pytest.raises(ValueError, match="n_rounds"):
        wasserstein_floor(np.ones(5), np.ones(5), n_rounds=1, rng=rng)
    with pytest.raises(ValueError, match="non-finite"):
        wasserstein_floor(np.array([1.0, np.nan]), np.ones(5), rng=rng)


# --- ROC AUC -------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_roc_auc_matches_brute_force_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, 60).astype(float)  # many ties
    labels = rng.integers(0, 2, 60)
    weights = rng.uniform(0.1, 3.0, 60)
    expected = brute_force_auc(scores, labels, np.ones(60))
    assert roc_auc(scores, labels) == pytest.approx(expected, rel=1e-12)
    assert roc_auc(scores, labels.astype(bool)) == pytest.approx(expected, rel=1e-12)
    expected_w = brute_force_auc(scores, labels, weights)
    assert roc_auc(scores, labels, weights) == pytest.approx(expected_w, rel=1e-12)
    assert expected_w != pytest.approx(expected, rel=1e-6)


def test_roc_auc_integer_weights_equal_repeated_rows(rng: np.random.Generator) -> None:
    scores = rng.integers(0, 10, 200).astype(float)
    labels = rng.integers(0, 2, 200)
    weights = rng.integers(1, 5, 200)
    repeated = roc_auc(np.repeat(scores, weights), np.repeat(labels, weights))
    assert roc_auc(scores, labels, weights) == pytest.approx(repeated, rel=1e-12)


def test_roc_auc_limits() -> None:
    labels = np.array([0, 0, 0, 1, 1])
    assert roc_auc(np.array([0.1, 0.2, 0.3, 0.8, 0.9]), labels) == 1.0
    assert roc_auc(np.array([0.8, 0.9, 0.7, 0.1, 0.2]), labels) == 0.0
    assert roc_auc(np.full(5, 0.4), labels) == 0.5
    assert roc_auc(np.full(5, 0.4), labels, np.arange(1.0, 6.0)) == 0.5


@pytest.mark.parametrize(
    ("scores", "labels", "weights", "match"),
    [
        ([0.1, 0.2], [0, 1, 1], None, "equal length"),
        ([0.1, np.nan], [0, 1], None, "no NaN"),
        ([0.1, 0.2], [0, 2], None, "0/1"),
        ([0.1, 0.2], [1, 1], None, "both classes"),
        ([0.1, 0.2], [0, 1], [1.0, 0.0], "sum to zero"),
        ([0.1, 0.2], [0, 1], [1.0, -1.0], "non-negative"),
    ],
)
def test_roc_auc_rejects_bad_input(
    scores: list, labels: list, weights: list | None, match: str
) -> None:
    w = None if weights is None else np.array(weights)
    with pytest.raises(ValueError, match=match):
        roc_auc(np.array(scores), np.array(labels), w)


def test_auc_error_exact_at_one_half_and_symmetric() -> None:
    assert auc_error(0.5, 40, 60) == pytest.approx(np.sqrt(101 / (12 * 40 * 60)), rel=1e-12)
    # Hanley-McNeil is symmetric under auc -> 1 - auc with the classes swapped.
    assert auc_error(0.8, 30, 70) == pytest.approx(auc_error(0.2, 70, 30), rel=1e-12)
    assert auc_error(1.0, 50, 50) == 0.0
    assert auc_error(0.7, 1000, 1000) < auc_error(0.7, 100, 100) < auc_error(0.7, 10, 10)
    assert auc_error(0.9, 100, 100) < auc_error(0.7, 100, 100)


def test_auc_error_by_hand() -> None:
    # Hanley & McNeil eq. (1): Q1 = A / (2 - A) goes with the positives, Q2 = 2 A^2 / (1 + A).
    var = (0.8 * 0.2 + 9 * (0.8 / 1.2 - 0.64) + 39 * (1.28 / 1.8 - 0.64)) / (10 * 40)
    assert auc_error(0.8, 10, 40) == pytest.approx(np.sqrt(var), rel=1e-12)


def test_auc_error_matches_toy_spread() -> None:
    # Exponential scores, the model in which Hanley-McNeil is exact; unbalanced classes.
    rng = np.random.default_rng(11)
    labels = np.repeat([1, 0], [15, 300])
    aucs = [
        roc_auc(np.concatenate([rng.exponential(3.0, 15), rng.exponential(1.0, 300)]), labels)
        for _ in range(800)
    ]
    predicted = auc_error(float(np.mean(aucs)), 15, 300)
    assert np.std(aucs) == pytest.approx(predicted, rel=0.1)


@pytest.mark.parametrize(
    ("auc", "n_pos", "n_neg"), [(1.2, 10, 10), (-0.1, 10, 10), (0.5, 0, 10), (0.5, 10, 0)]
)
def test_auc_error_rejects_bad_input(auc: float, n_pos: int, n_neg: int) -> None:
    with pytest.raises(ValueError, match=r"auc must be|at least 1"):
        auc_error(auc, n_pos, n_neg)


# --- classifier two-sample test ------------------------------------------------------------------


def test_classifier_cannot_separate_identical_samples(rng: np.random.Generator) -> None:
    a, b = rng.normal(size=(3000, 3)), rng.normal(size=(3500, 3))
    result = classifier_two_sample_test(a, b, names=NAMES, rng=rng, **FAST)
    assert (result.n_train, result.n_test) == (3000, 3000)  # 3000 per class, half held out
    assert result.error == pytest.approx(auc_error(result.auc, 1500, 1500), rel=1e-9)
    assert abs(result.auc - 0.5) < 3 * result.error


def test_classifier_finds_a_shifted_column(rng: np.random.Generator) -> None:
    a, b = rng.normal(size=(4000, 3)), rng.normal(size=(4000, 3))
    b[:, 2] += 0.5
    result = classifier_two_sample_test(a, b, names=NAMES, rng=rng, **FAST)
    assert result.auc > 0.6
    assert result.auc > 0.5 + 5 * result.error
    assert next(iter(result.feature_importance)) == "phi"  # sorted, largest first
    assert max(result.feature_importance, key=result.feature_importance.get) == "phi"
    assert set(result.feature_importance) == set(NAMES)
    assert sum(result.feature_importance.values()) == pytest.approx(1.0)


def test_classifier_handles_nan_weights_and_caps(rng: np.random.Generator) -> None:
    a, b = rng.normal(size=(3000, 2)), rng.normal(size=(2000, 2))
    b[:, 0] += 1.0
    a[::5, 1] = np.nan  # missing values are allowed
    wa = rng.uniform(0.5, 1.5, len(a))
    result = classifier_two_sample_test(a, b, weights_a=wa, rng=rng, max_rows=1000, **FAST)
    assert result.n_train + result.n_test == 1000
    assert result.feature_importance == {}
    assert result.auc > 0.65
    assert 0 < result.error < 0.05


def test_classifier_reweighting_closes_the_gap(rng: np.random.Generator) -> None:
    a, b = rng.normal(size=(4000, 2)), rng.normal(size=(4000, 2))
    b[:, 0] += 0.5
    # The density ratio N(0, 1) / N(0.5, 1) at b's first column weights b back into a.
    weights_b = np.exp(-0.5 * b[:, 0] + 0.125)
    unweighted = classifier_two_sample_test(a, b, rng=rng, **FAST)
    weighted = classifier_two_sample_test(a, b, weights_b=weights_b, rng=rng, **FAST)
    assert unweighted.auc > 0.6
    assert abs(weighted.auc - 0.5) < 3 * weighted.error
    assert weighted.error > unweighted.error  # fewer effective entries


def test_classifier_uses_weights_in_training_and_auc(rng: np.random.Generator) -> None:
    a, b = rng.normal(size=(4000, 2)), rng.normal(size=(4000, 2))
    # Identical samples, but the weights turn b's first column into N(0.5, 1).
    weights_b = np.exp(0.5 * b[:, 0] - 0.125)
    result = classifier_two_sample_test(a, b, weights_b=weights_b, rng=rng, **FAST)
    assert result.auc > 0.57  # about 0.62; 0.5 if the weights were ignored
    # The error uses the effective size of b, here about n / exp(0.25).
    n = result.n_test // 2
    assert result.error > 1.04 * auc_error(result.auc, n, n)


def test_classifier_is_reproducible() -> None:
    a = np.random.default_rng(1).normal(size=(500, 2))
    b = np.random.default_rng(2).normal(0.3, 1.0, size=(500, 2))
    first = classifier_two_sample_test(a, b, rng=np.random.default_rng(3), n_estimators=20, **FAST)
    second = classifier_two_sample_test(a, b, rng=np.random.default_rng(3), n_estimators=20, **FAST)
    assert first == second


@pytest.mark.parametrize(
    ("shape_b", "kwargs", "match"),
    [
        ((100, 2), {}, "same number of columns"),
        ((10, 3), {}, "n >= 20"),
        ((100, 3), {"names": ["x", "y"]}, "one name per column"),
        ((100, 3), {"test_fraction": 1.0}, "test_fraction"),
        ((100, 3), {"max_rows": 10}, "max_rows"),
        ((100, 3), {"n_estimators": 0}, "n_estimators"),
        ((100, 3), {"weights_b": np.ones(99)}, "shape"),
    ],
)
def test_classifier_rejects_bad_input(
    rng: np.random.Generator, shape_b: tuple[int, int], kwargs: dict, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        classifier_two_sample_test(np.ones((100, 3)), np.ones(shape_b), rng=rng, **kwargs)


def test_classifier_rejects_infinite_values(rng: np.random.Generator) -> None:
    a = np.ones((100, 3))
    a[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        classifier_two_sample_test(a, np.ones((100, 3)), rng=rng)


# --- efficiencies --------------------------------------------------------------------------------


def test_binned_efficiency_by_hand() -> None:
    x = np.array([0.5, 0.5, 1.5, 1.5, 1.5, 1.5, 2.5, 9.0])  # 9.0 is outside the edges
    passed = np.array([True, False, True, True, True, False, False, True])
    eff = binned_efficiency(x, passed, np.array([0.0, 1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(eff.passed, [1, 3, 0, 0])
    np.testing.assert_array_equal(eff.total, [2, 4, 1, 0])
    np.testing.assert_allclose(eff.efficiency, [0.5, 0.75, 0.0, np.nan])
    expected_error = [np.sqrt(0.25 / 2), np.sqrt(0.75 * 0.25 / 4), 1 / 3, np.nan]
    np.testing.assert_allclose(eff.error, expected_error)


def test_binned_efficiency_weighted() -> None:
    x = np.array([0.5, 0.5, 0.5, 1.5])
    passed = np.array([1, 0, 1, 1])
    w = np.array([1.0, 2.0, 3.0, 2.0])
    eff = binned_efficiency(x, passed, np.array([0.0, 1.0, 2.0]), weights=w)
    np.testing.assert_allclose(eff.passed, [4.0, 2.0])
    np.testing.assert_allclose(eff.total, [6.0, 2.0])
    n_eff = 36.0 / 14.0
    np.testing.assert_allclose(eff.efficiency, [4 / 6, 1.0])
    np.testing.assert_allclose(eff.error, [np.sqrt(4 / 6 * 2 / 6 / n_eff), 1 / 3])


@pytest.mark.parametrize(
    ("x", "passed", "edges", "match"),
    [
        ([0.5, np.nan], [1, 0], [0.0, 1.0], "non-finite"),
        ([0.5, 0.6], [1], [0.0, 1.0], "passed"),
        ([0.5, 0.6], [1, 2], [0.0, 1.0], "passed"),
        ([0.5, 0.6], [1, 0], [0.0], "edges"),
        ([0.5, 0.6], [1, 0], [0.0, 1.0, 1.0], "edges"),
        ([0.5, 0.6], [1, 0], [0.0, np.inf], "edges"),
    ],
)
def test_binned_efficiency_rejects_bad_input(
    x: list, passed: list, edges: list, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        binned_efficiency(np.array(x), np.array(passed), np.array(edges))


def efficiency_sample(rng: np.random.Generator, threshold: float, n: int) -> Efficiency:
    x = rng.uniform(0.0, 60.0, n)
    return binned_efficiency(x, rng.uniform(size=n) < turn_on(x, threshold), np.linspace(0, 60, 31))


def test_efficiency_chi2_same_curve_is_about_ndf(rng: np.random.Generator) -> None:
    ratios = []
    for _ in range(5):
        a, b = efficiency_sample(rng, 25, 6000), efficiency_sample(rng, 25, 6000)
        chi2, ndf = efficiency_chi2(a, b)
        assert ndf == 30
        ratios.append(chi2 / ndf)
    assert all(r < 2 for r in ratios)
    assert 0.5 < np.mean(ratios) < 1.5


def test_efficiency_chi2_different_curves_is_large(rng: np.random.Generator) -> None:
    chi2, ndf = efficiency_chi2(efficiency_sample(rng, 25, 6000), efficiency_sample(rng, 32, 6000))
    assert chi2 > 10 * ndf


def test_efficiency_chi2_extra_error_in_quadrature(rng: np.random.Generator) -> None:
    a, b = efficiency_sample(rng, 25, 6000), efficiency_sample(rng, 27, 6000)
    chi2, ndf = efficiency_chi2(a, b)
    extra = np.full(30, 0.05)
    chi2_extra, ndf_extra = efficiency_chi2(a, b, extra_error=extra)
    expected = np.sum((a.efficiency - b.efficiency) ** 2 / (a.error**2 + b.error**2 + 0.05**2))
    assert ndf_extra == ndf == 30
    assert chi2_extra == pytest.approx(expected)
    assert chi2_extra < chi2
    with pytest.raises(ValueError, match="one value per bin"):
        efficiency_chi2(a, b, extra_error=np.ones(3))


def test_efficiency_chi2_skips_small_bins_and_checks_edges(rng: np.random.Generator) -> None:
    a = efficiency_sample(rng, 25, 600)  # 20 entries per bin on average
    _, ndf_all = efficiency_chi2(a, a, min_total=1)
    _, ndf_some = efficiency_chi2(a, a, min_total=20)
    assert ndf_all == 30
    assert 0 < ndf_some < 30
    assert efficiency_chi2(a, a)[0] == 0.0
    other = binned_efficiency(np.ones(5), np.ones(5, dtype=bool), np.linspace(0, 60, 21))
    with pytest.raises(ValueError, match="edges"):
        efficiency_chi2(a, other)


class TestGroupedHistogram:
    def test_one_entry_per_group_is_poisson(self, rng: np.random.Generator) -> None:
        x = rng.normal(size=2000)
        edges = np.linspace(-3, 3, 13)
        counts, var = grouped_histogram(x, edges, groups=np.arange(x.size))
        assert np.array_equal(counts, np.histogram(x, edges)[0])
        assert np.array_equal(var, counts)

    def test_replicas_in_one_bin_add_coherently(self, rng: np.random.Generator) -> None:
        x = rng.normal(size=500)
        edges = np.linspace(-3, 3, 7)
        counts, var = grouped_histogram(np.repeat(x, 3), edges, groups=np.repeat(np.arange(500), 3))
        single = np.histogram(x, edges)[0]
        assert np.array_equal(counts, 3 * single)
        assert np.array_equal(var, 9 * single)  # not 3 * single, as for independent entries

    def test_weights_without_groups(self) -> None:
        counts, var = grouped_histogram(np.array([0.5, 0.5, 1.5]), [0, 1, 2], weights=[2, 1, 3])
        assert counts.tolist() == [3, 3]
        assert var.tolist() == [5, 9]

    def test_n_effective(self) -> None:
        assert n_effective(np.arange(10)) == 10
        assert n_effective(np.repeat(np.arange(10), 4)) == pytest.approx(10)


class TestGroupedEfficiency:
    def test_matches_binomial_with_one_entry_per_group(self, rng: np.random.Generator) -> None:
        x, ok = rng.uniform(0, 1, 3000), rng.random(3000) < 0.7
        edges = np.linspace(0, 1, 6)
        plain = binned_efficiency(x, ok, edges)
        grouped = binned_efficiency(x, ok, edges, groups=np.arange(3000))
        assert np.allclose(plain.error, grouped.error)

    def test_replicas_do_not_shrink_the_error(self, rng: np.random.Generator) -> None:
        x, ok = rng.uniform(0, 1, 2000), rng.random(2000) < 0.6
        edges = np.linspace(0, 1, 5)
        single = binned_efficiency(x, ok, edges)
        x4, ok4, g4 = np.repeat(x, 4), np.repeat(ok, 4), np.repeat(np.arange(2000), 4)
        naive = binned_efficiency(x4, ok4, edges)
        grouped = binned_efficiency(x4, ok4, edges, groups=g4)
        assert np.allclose(grouped.efficiency, single.efficiency)
        assert np.allclose(grouped.error, single.error)
        assert np.allclose(naive.error, single.error / 2)

    def test_bad_groups(self) -> None:
        with pytest.raises(ValueError, match="groups must be an integer array"):
            binned_efficiency(np.zeros(3), np.ones(3, bool), [0, 1], groups=np.zeros(2, int))


class TestSignedEfficiency:
    """sWeighted efficiencies (negative weights allowed) with the sandwich error."""

    def test_by_hand(self) -> None:
        x = np.array([0.5, 0.5, 0.5, 0.5, 1.5, 1.5])
        passed = np.array([1, 1, 0, 1, 1, 0])
        w = np.array([1.2, -0.3, 0.9, 1.1, -0.5, 0.2])
        eff = binned_efficiency(x, passed, np.array([0.0, 1.0, 2.0]), weights=w, signed=True)
        e = (1.2 - 0.3 + 1.1) / 2.9
        sandwich = np.sqrt(
            1.2**2 * (1 - e) ** 2 + 0.3**2 * (1 - e) ** 2 + 0.9**2 * e**2 + 1.1**2 * (1 - e) ** 2
        )
        np.testing.assert_allclose(eff.efficiency[0], e)
        np.testing.assert_allclose(eff.error[0], sandwich / 2.9)
        assert np.isnan(eff.efficiency[1])  # the weights sum to -0.3
        assert np.isnan(eff.error[1])

    def test_the_error_covers_the_scatter_of_sweighted_samples(
        self, rng: np.random.Generator
    ) -> None:
        """Signal (passes with 0.8) plus background (0.3) and weights that subtract it, as
        sWeights do: the sandwich error matches the spread over independent samples, which
        the binomial error of the signal count alone underestimates."""
        values, errors = [], []
        for _ in range(200):
            n_s, n_b = 400, 600
            ok = np.concatenate([rng.random(n_s) < 0.8, rng.random(n_b) < 0.3])
            # Background rows in and out of the "signal region": weights +1 and -1.
            w = np.concatenate([np.ones(n_s), np.where(rng.random(n_b) < 0.5, 1.0, -1.0)])
            eff = binned_efficiency(np.zeros(n_s + n_b), ok, [-1.0, 1.0], weights=w, signed=True)
            values.append(eff.efficiency[0])
            errors.append(eff.error[0])
        assert np.mean(values) == pytest.approx(0.8, abs=0.01)
        assert np.std(values) == pytest.approx(np.mean(errors), rel=0.15)
        assert np.mean(errors) > 1.5 * np.sqrt(0.8 * 0.2 / 400)

    def test_needs_weights_and_refuses_negative_ones_unless_signed(self) -> None:
        x, ok = np.zeros(3), np.ones(3, dtype=bool)
        with pytest.raises(ValueError, match="signed=True needs the weights"):
            binned_efficiency(x, ok, [-1.0, 1.0], signed=True)
        with pytest.raises(ValueError, match="finite and non-negative"):
            binned_efficiency(x, ok, [-1.0, 1.0], weights=np.array([1.0, -0.5, 1.0]))
        with pytest.raises(ValueError, match="finite with a positive sum"):
            binned_efficiency(x, ok, [-1.0, 1.0], weights=-np.ones(3), signed=True)


class TestKolmogorovSmirnov:
    def test_same_and_shifted(self, rng: np.random.Generator) -> None:
        a, b = rng.normal(size=4000), rng.normal(size=4000)
        d, p = ks_test(a, b)
        assert d < 0.05
        assert p > 0.01
        d, p = ks_test(a, b + 0.2)
        assert d > 0.05
        assert p < 1e-6

    def test_effective_size_weakens_the_evidence(self, rng: np.random.Generator) -> None:
        a, b = rng.normal(size=4000), rng.normal(0.1, size=4000)
        _, p_full = ks_test(a, b)
        _, p_eff = ks_test(a, b, n_eff_a=400, n_eff_b=400)
        assert p_eff > 100 * p_full


class TestCorrelationDifference:
    def test_same_sample_is_zero(self, rng: np.random.Generator) -> None:
        x = rng.normal(size=(500, 3))
        assert np.allclose(correlation_difference(x, x), 0)

    def test_detects_a_correlation(self, rng: np.random.Generator) -> None:
        a = rng.normal(size=(5000, 2))
        b = a.copy()
        b[:, 1] = 0.8 * b[:, 0] + 0.6 * b[:, 1]
        diff = correlation_difference(b, a)
        assert diff[0, 1] == pytest.approx(0.8, abs=0.03)
        assert diff[0, 0] == pytest.approx(0.0)

    def test_column_mismatch(self, rng: np.random.Generator) -> None:
        with pytest.raises(ValueError, match="same columns"):
            correlation_difference(rng.normal(size=(10, 2)), rng.normal(size=(10, 3)))


def test_classifier_groups_keep_twins_together() -> None:
    """Flash and full objects of the same gen object must not be split between train and test.

    Both samples share the gen conditions x and differ only in independent smearing: the
    distributions are identical, the AUC must be 0.5. Split row by row, the BDT learns each
    held-out object's gen point from its twin in training, with the other label (AUC < 0.5).
    """
    rng = np.random.default_rng(5)
    x = rng.normal(size=(1000, 4))
    a = np.column_stack([x, x[:, 0] + 0.3 * rng.normal(size=1000)])
    b = np.column_stack([x, x[:, 0] + 0.3 * rng.normal(size=1000)])
    groups = np.arange(1000)
    twins = classifier_two_sample_test(a, b, rng=np.random.default_rng(1), **FAST)
    kept = classifier_two_sample_test(
        a, b, groups_a=groups, groups_b=groups, rng=np.random.default_rng(1), **FAST
    )
    assert abs(kept.auc - 0.5) < 3 * kept.error
    assert twins.auc < kept.auc
    assert kept.n_test + kept.n_train <= 2000
    with pytest.raises(ValueError, match="both samples or for neither"):
        classifier_two_sample_test(a, b, groups_a=groups, rng=rng)

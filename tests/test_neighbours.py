"""The compiled ΔR loops against a brute-force computation over every pair."""

from __future__ import annotations

import numpy as np
import pytest

from flashsim.neighbours import cone_sums, nearest_neighbours, offsets


def _events(rng: np.random.Generator, n_events: int, mean: float) -> tuple[np.ndarray, ...]:
    counts = rng.poisson(mean, n_events)
    n = int(counts.sum())
    eta = rng.uniform(-3, 3, n).astype(np.float32)
    phi = rng.uniform(-np.pi, np.pi, n).astype(np.float32)
    pt = rng.exponential(20.0, n).astype(np.float32)
    return counts, eta, phi, pt


def _delta_r(eta_a, phi_a, eta_b, phi_b) -> np.ndarray:
    dphi = (phi_a - phi_b + np.pi) % (2 * np.pi) - np.pi
    return np.sqrt((eta_a - eta_b) ** 2 + dphi**2)


def test_offsets() -> None:
    np.testing.assert_array_equal(offsets(np.array([2, 0, 3])), [0, 2, 2, 5])


@pytest.mark.parametrize("own", [False, True])
def test_nearest_neighbours_against_every_pair(own: bool) -> None:
    rng = np.random.default_rng(3)
    counts, eta, phi, _ = _events(rng, 300, 3.0)
    if own:
        o_counts, o_eta, o_phi = counts, eta, phi
        skip = np.concatenate([np.arange(c) for c in counts]).astype(np.int64)
    else:
        o_counts, o_eta, o_phi, _ = _events(rng, 300, 2.0)
        skip = None
    dr, which = nearest_neighbours(eta, phi, counts, o_eta, o_phi, o_counts, skip)
    starts, o_starts = offsets(counts), offsets(o_counts)
    for event in range(len(counts)):
        lo, hi = o_starts[event], o_starts[event + 1]
        for i in range(starts[event], starts[event + 1]):
            d = _delta_r(eta[i], phi[i], o_eta[lo:hi], o_phi[lo:hi])
            if own:
                d[i - starts[event]] = np.inf
            if len(d) == 0 or not np.isfinite(d).any():
                assert dr[i] == np.inf
                assert which[i] == -1
            else:
                assert which[i] == lo + np.argmin(d)
                assert dr[i] == d.min()  # the same float32 arithmetic


def test_nearest_neighbours_wrap_phi() -> None:
    dr, which = nearest_neighbours(
        np.array([0.0], np.float32), np.array([3.1], np.float32), np.array([1]),
        np.array([0.0, 0.0], np.float32), np.array([0.0, -3.1], np.float32), np.array([2]),
    )  # fmt: skip
    assert which[0] == 1
    np.testing.assert_allclose(dr[0], 2 * np.pi - 6.2, rtol=1e-5)


def test_cone_sums_against_every_pair() -> None:
    rng = np.random.default_rng(4)
    counts, eta, phi, _ = _events(rng, 300, 3.0)
    o_counts, o_eta, o_phi, o_pt = _events(rng, 300, 6.0)
    total = cone_sums(eta, phi, counts, o_eta, o_phi, o_pt, o_counts, 0.8)
    starts, o_starts = offsets(counts), offsets(o_counts)
    expected = np.zeros(len(eta))
    for event in range(len(counts)):
        lo, hi = o_starts[event], o_starts[event + 1]
        for i in range(starts[event], starts[event + 1]):
            inside = _delta_r(eta[i], phi[i], o_eta[lo:hi], o_phi[lo:hi]) < np.float32(0.8)
            expected[i] = o_pt[lo:hi][inside].astype(np.float64).sum()
    assert total.dtype == np.float64
    assert (total > 0).mean() > 0.2  # the cone catches something
    np.testing.assert_allclose(total, expected, rtol=1e-12)

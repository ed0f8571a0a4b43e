"""The compiled ΔR loops against a brute-force computation over every pair."""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest

from flashsim import neighbours
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


def _brute_nearest(eta, phi, counts, o_eta, o_phi, o_counts, skip):
    """The loops before the η-sorted search: every pair, first smallest ΔR wins."""
    starts, o_starts = offsets(counts), offsets(o_counts)
    dr = np.full(len(eta), np.inf, dtype=eta.dtype)
    which = np.full(len(eta), -1)
    pi = eta.dtype.type(np.pi)
    for event in range(len(counts)):
        lo, hi = o_starts[event], o_starts[event + 1]
        for i in range(starts[event], starts[event + 1]):
            with np.errstate(invalid="ignore", over="ignore"):
                dphi = (phi[i] - o_phi[lo:hi] + pi) % (pi + pi) - pi
                deta = eta[i] - o_eta[lo:hi]
                d = np.sqrt(deta * deta + dphi * dphi)
            for j in range(lo, hi):
                if j - lo != (skip[i] if skip is not None else -1) and d[j - lo] < dr[i]:
                    dr[i], which[i] = d[j - lo], j
    return dr, which


@pytest.mark.parametrize("small", [0, neighbours.SMALL_EVENT])
@pytest.mark.parametrize("seed", range(6))
def test_nearest_and_cone_exact_with_ties_and_odd_values(
    seed: int, small: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The η-sorted search (every event, with ``small`` 0) gives the loops' results bit for
    bit: coincident objects (the first wins), equal η, ±0, subnormal η differences, NaN, ±inf."""
    monkeypatch.setattr(neighbours, "SMALL_EVENT", small)
    rng = np.random.default_rng(seed)
    counts = rng.poisson(6.0, 40)
    n = int(counts.sum())
    odd = np.array([0.0, -0.0, 1e-30, -1e-30, 1e-45, 0.5, np.nan, np.inf, -np.inf], np.float32)
    eta = rng.choice(odd, n) if seed % 2 else (rng.integers(-2, 3, n) * 0.5).astype(np.float32)
    phi = (rng.integers(-3, 4, n) * 1.0).astype(np.float32)
    pt = rng.exponential(20.0, n).astype(np.float32)
    skip = np.concatenate([np.arange(c) for c in counts]).astype(np.int64)
    for own_skip in (skip, None):
        dr, which = nearest_neighbours(eta, phi, counts, eta, phi, counts, own_skip)
        expected_dr, expected_which = _brute_nearest(eta, phi, counts, eta, phi, counts, own_skip)
        np.testing.assert_array_equal(which, expected_which)
        assert dr.tobytes() == expected_dr.tobytes()
    starts = offsets(counts)
    total = cone_sums(eta, phi, counts, eta, phi, pt, counts, 1.0)
    for event in range(len(counts)):
        lo, hi = starts[event], starts[event + 1]
        for i in range(lo, hi):
            with np.errstate(invalid="ignore", over="ignore"):
                inside = _delta_r(eta[i], phi[i], eta[lo:hi], phi[lo:hi]) < np.float32(1.0)
            assert total[i] == sum(float(p) for p in pt[lo:hi][inside])


def test_nearest_of_a_million_coincident_objects_is_linear() -> None:
    """A crafted event of 10⁶ identical jets: 10¹² pairs before, one candidate per jet now."""
    n = 1_000_000
    eta, phi = np.full(n, 0.5, np.float32), np.full(n, 1.0, np.float32)
    start = time.monotonic()
    dr, which = nearest_neighbours(eta, phi, np.array([n]), eta, phi, np.array([n]), np.arange(n))
    assert time.monotonic() - start < 10
    assert (dr == 0).all()
    assert which[0] == 1
    assert (which[1:] == 0).all()


def test_compiled_loops_return_to_python_for_signals() -> None:
    """Objects all at one η (still quadratic: ~10¹⁰ pairs): a signal handler runs within a
    block (BLOCK_PAIRS pairs), not after the whole search."""
    n = 100_000
    rng = np.random.default_rng(1)
    eta = np.full(n, 0.5, np.float32)
    phi = rng.uniform(-np.pi, np.pi, n).astype(np.float32)

    class AlarmError(Exception):
        pass

    def ring(signum: int, frame: object) -> None:
        raise AlarmError

    previous = signal.signal(signal.SIGALRM, ring)
    try:
        start = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        with pytest.raises(AlarmError):
            nearest_neighbours(eta, phi, np.array([n]), eta, phi, np.array([n]), np.arange(n))
        assert time.monotonic() - start < 1.5
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

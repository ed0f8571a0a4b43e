"""Nearest neighbours and cone sums in (η, φ), event by event, as compiled loops (numba).

Isolation-like conditions (the ΔR to the nearest generated jet, the lepton pT in a cone) pair
objects with the objects of another collection in the same event. The loops work over the flat
values and the events' offsets, in the precision of the input branches (float32 in NanoAOD-style
files), so the results equal the array expressions they replace:
``dphi = (phi_a - phi_b + π) mod 2π - π``, ``ΔR = sqrt(Δη² + dphi²)``; the nearest object is the
first (lowest index) of those at the smallest ΔR, and a cone sum adds the pT of the objects inside
in index order (float64).

The searches are not quadratic in the object count: each event's searched objects are sorted by
η, each object starts at its own η (a binary search) and walks outwards, stopping in a direction
as soon as ``sqrt(Δη²)`` (computed as in ΔR, so a lower bound of the computed ΔR, and monotonic
along the sorted η) exceeds the best ΔR found (nearest) or reaches the radius (cone). Objects at
exactly the same (η, φ) are one candidate for the nearest search (only the first can win), so a
crafted event of a million identical jets costs a million steps, not 10¹². What stays quadratic
is what the answer itself needs: a cone that holds every object, or objects all at one η
(spread in φ) for the nearest search; :data:`BLOCK_PAIRS` bounds the time between two returns to
Python, where signal handlers run (SIGTERM is honoured within a block), and the per-event object
caps of ``flashsim run`` (:mod:`flashsim.caps`) bound the rest.

Reference: numba, https://numba.org.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["BLOCK_PAIRS", "SMALL_EVENT", "cone_sums", "nearest_neighbours", "offsets"]

SMALL_EVENT = 48
"""Events with at most this many objects searched are searched pair by pair, as before the
η-sorted search (sorting them costs more than it saves)."""

BLOCK_PAIRS = 1 << 22
"""Pairs a compiled call visits (about 10-30 ms) before it returns to Python, which resumes it:
signals (SIGTERM, Ctrl-C) are only handled between compiled calls."""


def offsets(counts: np.ndarray) -> np.ndarray:
    """``[0, c0, c0 + c1, ...]``: where each event's objects start in the flat arrays."""
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


@numba.njit(inline="always")
def _delta_r(
    eta_a: float, phi_a: float, eta_b: float, phi_b: float, pi: float
) -> float:  # pragma: no cover - compiled
    dphi = (phi_a - phi_b + pi) % (pi + pi) - pi
    deta = eta_a - eta_b
    return np.sqrt(deta * deta + dphi * dphi)


@numba.njit(inline="always")
def _eta_bound(eta_a: float, eta_b: float) -> float:  # pragma: no cover - compiled
    """``sqrt(Δη²)`` in the arithmetic of :func:`_delta_r`: never above its ΔR (rounding is
    monotonic), and non-decreasing as ``eta_b`` moves away from ``eta_a``."""
    deta = eta_a - eta_b
    return np.sqrt(deta * deta)


@numba.njit(cache=True)
def _nearest(
    eta: np.ndarray,
    phi: np.ndarray,
    event_of: np.ndarray,
    skip: np.ndarray,
    other_eta: np.ndarray,
    other_phi: np.ndarray,
    other_starts: np.ndarray,
    order: np.ndarray,
    sorted_eta: np.ndarray,
    group_start: np.ndarray,
    group_end: np.ndarray,
    pi: float,
    dr_min: np.ndarray,
    which: np.ndarray,
    small: int,
    i: int,
    budget: int,
) -> int:  # pragma: no cover - compiled; tested through the wrapper
    """Fill ``dr_min``/``which`` from object ``i`` on; return where it stopped (after about
    ``budget`` pairs)."""
    visited = 0
    while i < len(eta) and visited < budget:
        lo, hi = other_starts[event_of[i]], other_starts[event_of[i] + 1]
        x = eta[i]
        best = dr_min[i]
        w = -1
        if hi - lo <= small:  # every pair, in index order
            for j in range(lo, hi):
                if j - lo != skip[i]:
                    dr = _delta_r(x, phi[i], other_eta[j], other_phi[j], pi)
                    if dr < best:
                        best = dr
                        w = j
            dr_min[i] = best
            which[i] = w
            visited += hi - lo + 1
            i += 1
            continue
        pos = lo if x != x else lo + np.searchsorted(sorted_eta[lo:hi], x)
        k = pos  # upwards: a group (same η and φ) starts at pos, which has the smallest η >= x
        while k < hi:
            if _eta_bound(x, sorted_eta[k]) > best:
                break
            end = group_end[k]
            j = order[k]
            if j - lo == skip[i]:
                j = order[k + 1] if k + 1 < end else -1
            if j >= 0:
                dr = _delta_r(x, phi[i], other_eta[j], other_phi[j], pi)
                if dr < best or (dr == best and j < w):
                    best = dr
                    w = j
            visited += 1
            k = end
        k = pos - 1  # downwards: k is the last of its group
        while k >= lo:
            if _eta_bound(x, sorted_eta[k]) > best:
                break
            start = group_start[k]
            j = order[start]
            if j - lo == skip[i]:
                j = order[start + 1] if start + 1 <= k else -1
            if j >= 0:
                dr = _delta_r(x, phi[i], other_eta[j], other_phi[j], pi)
                if dr < best or (dr == best and j < w):
                    best = dr
                    w = j
            visited += 1
            k = start - 1
        dr_min[i] = best
        which[i] = w
        visited += 1
        i += 1
    return i


@numba.njit(cache=True)
def _cone(
    eta: np.ndarray,
    phi: np.ndarray,
    event_of: np.ndarray,
    other_eta: np.ndarray,
    other_phi: np.ndarray,
    other_pt: np.ndarray,
    other_starts: np.ndarray,
    order: np.ndarray,
    sorted_eta: np.ndarray,
    radius: float,
    pi: float,
    total: np.ndarray,
    inside: np.ndarray,
    small: int,
    i: int,
    budget: int,
) -> int:  # pragma: no cover - compiled; tested through the wrapper
    """Fill ``total`` from object ``i`` on (``inside``: scratch for one event's objects);
    return where it stopped (after about ``budget`` pairs)."""
    visited = 0
    while i < len(eta) and visited < budget:
        lo, hi = other_starts[event_of[i]], other_starts[event_of[i] + 1]
        x = eta[i]
        if hi - lo <= small:  # every pair, in index order
            s = 0.0
            for j in range(lo, hi):
                if _delta_r(x, phi[i], other_eta[j], other_phi[j], pi) < radius:
                    s += other_pt[j]
            total[i] = s
            visited += hi - lo + 1
            i += 1
            continue
        pos = lo if x != x else lo + np.searchsorted(sorted_eta[lo:hi], x)
        m = 0
        k = pos
        while k < hi and not _eta_bound(x, sorted_eta[k]) >= radius:
            j = order[k]
            if _delta_r(x, phi[i], other_eta[j], other_phi[j], pi) < radius:
                inside[m] = j
                m += 1
            k += 1
        visited += k - pos
        k = pos - 1
        while k >= lo and not _eta_bound(x, sorted_eta[k]) >= radius:
            j = order[k]
            if _delta_r(x, phi[i], other_eta[j], other_phi[j], pi) < radius:
                inside[m] = j
                m += 1
            k -= 1
        visited += pos - 1 - k
        for q in range(1, m):  # the sum in index order, as the pairs were summed before
            if inside[q] < inside[q - 1]:
                inside[:m].sort()
                break
        s = 0.0
        for q in range(m):
            s += other_pt[inside[q]]
        total[i] = s
        visited += 1
        i += 1
    return i


def _common(*arrays: np.ndarray) -> list[np.ndarray]:
    dtype = np.result_type(*arrays)
    return [np.ascontiguousarray(a, dtype=dtype) for a in arrays]


def _sorted_by_eta(
    eta: np.ndarray, phi: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The objects of each event above :data:`SMALL_EVENT` objects sorted by (η, φ, index)
    (NaN last): the order, the sorted η, and for each sorted position the first and
    one-past-last position of its group of objects at the same (η, φ). Smaller events are
    searched pair by pair (faster than sorting them) and keep their positions."""
    order = np.arange(len(eta))
    if counts.max(initial=0) <= SMALL_EVENT:  # typical chunks: nothing to sort
        return order, eta, order, order
    group_start, group_end = order.copy(), order + 1
    event = np.repeat(np.arange(len(counts)), counts)
    large = np.flatnonzero(counts[event] > SMALL_EVENT) if len(eta) else order
    if len(large):
        event = event[large]
        sub = large[np.lexsort((large, phi[large], eta[large], event))]
        order[large] = sub
        new = np.ones(len(sub), dtype=bool)
        new[1:] = (event[1:] != event[:-1]) | (eta[sub][1:] != eta[sub][:-1])
        new[1:] |= phi[sub][1:] != phi[sub][:-1]
        firsts = np.flatnonzero(new)
        group = np.cumsum(new) - 1
        group_start[large] = large[firsts[group]]
        group_end[large] = large[np.append(firsts[1:] - 1, len(sub) - 1)[group]] + 1
    return order, np.ascontiguousarray(eta[order]), group_start, group_end


def nearest_neighbours(
    eta: np.ndarray,
    phi: np.ndarray,
    counts: np.ndarray,
    other_eta: np.ndarray,
    other_phi: np.ndarray,
    other_counts: np.ndarray,
    skip: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """ΔR to the nearest object of another collection in the same event, and that object.

    Arguments:
        eta, phi, counts: the objects, flat, and their number per event.
        other_eta, other_phi, other_counts: the collection searched, likewise.
        skip: per object, the index within its event of an object of the other collection to
            leave out (itself, when both are the same collection), or -1.

    Returns:
        ``(dr, index)``: ``inf`` and ``-1`` for objects without a neighbour; ``index`` is flat,
        into ``other_eta``; of several objects at the same ΔR, the first.
    """
    eta, phi, other_eta, other_phi = _common(eta, phi, other_eta, other_phi)
    if skip is None:
        skip = np.full(len(eta), -1, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.int64)
    other_counts = np.asarray(other_counts, dtype=np.int64)
    order, sorted_eta, group_start, group_end = _sorted_by_eta(other_eta, other_phi, other_counts)
    event_of = np.repeat(np.arange(len(counts)), counts)
    skip = np.ascontiguousarray(skip, dtype=np.int64)
    other_starts = offsets(other_counts)
    dr_min = np.full(len(eta), np.inf, dtype=eta.dtype)
    which = np.full(len(eta), -1, dtype=np.int64)
    pi = eta.dtype.type(math.pi)
    i = 0
    while i < len(eta):  # between blocks Python runs, and with it the signal handlers
        i = _nearest(
            eta, phi, event_of, skip, other_eta, other_phi, other_starts, order,
            sorted_eta, group_start, group_end, pi, dr_min, which, SMALL_EVENT, i, BLOCK_PAIRS,
        )  # fmt: skip
    return dr_min, which


def cone_sums(
    eta: np.ndarray,
    phi: np.ndarray,
    counts: np.ndarray,
    other_eta: np.ndarray,
    other_phi: np.ndarray,
    other_pt: np.ndarray,
    other_counts: np.ndarray,
    radius: float,
) -> np.ndarray:
    """Sum of ``other_pt`` (in float64, in index order) over the other objects of the event
    within ``ΔR < radius``."""
    eta, phi, other_eta, other_phi = _common(eta, phi, other_eta, other_phi)
    counts = np.asarray(counts, dtype=np.int64)
    other_counts = np.asarray(other_counts, dtype=np.int64)
    order, sorted_eta, _, _ = _sorted_by_eta(other_eta, other_phi, other_counts)
    event_of = np.repeat(np.arange(len(counts)), counts)
    other_starts = offsets(other_counts)
    other_pt = np.ascontiguousarray(other_pt)
    total = np.zeros(len(eta))
    inside = np.empty(int(other_counts.max(initial=0)), dtype=np.int64)
    r = float(np.asarray(radius, dtype=eta.dtype))
    pi = eta.dtype.type(math.pi)
    i = 0
    while i < len(eta):  # between blocks Python runs, and with it the signal handlers
        i = _cone(
            eta, phi, event_of, other_eta, other_phi, other_pt, other_starts, order,
            sorted_eta, r, pi, total, inside, SMALL_EVENT, i, BLOCK_PAIRS,
        )  # fmt: skip
    return total

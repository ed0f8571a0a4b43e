"""Nearest neighbours and cone sums in (η, φ), event by event, as compiled loops (numba).

Isolation-like conditions (the ΔR to the nearest generated jet, the lepton pT in a cone) pair
every object with every object of another collection in the same event. With awkward arrays that
is a nested cartesian product and a dozen array passes over it: a quarter of ``flashsim run``'s
time outside the models. These loops visit each pair once, event by event, over the flat values
and the events' offsets, in the precision of the input branches (float32 in NanoAOD-style
files), so the results equal the array expressions they replace:
``dphi = (phi_a - phi_b + π) mod 2π - π``, ``ΔR = sqrt(Δη² + dphi²)``.

Reference: numba, https://numba.org.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["cone_sums", "nearest_neighbours", "offsets"]


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


@numba.njit(cache=True)
def _nearest(
    eta: np.ndarray,
    phi: np.ndarray,
    starts: np.ndarray,
    skip: np.ndarray,
    other_eta: np.ndarray,
    other_phi: np.ndarray,
    other_starts: np.ndarray,
    pi: float,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled; tested through the wrapper
    n = len(eta)
    dr_min = np.full(n, np.inf, dtype=eta.dtype)
    which = np.full(n, -1, dtype=np.int64)
    for event in range(len(starts) - 1):
        first, last = other_starts[event], other_starts[event + 1]
        for i in range(starts[event], starts[event + 1]):
            for j in range(first, last):
                if j - first == skip[i]:
                    continue
                dr = _delta_r(eta[i], phi[i], other_eta[j], other_phi[j], pi)
                if dr < dr_min[i]:
                    dr_min[i] = dr
                    which[i] = j
    return dr_min, which


@numba.njit(cache=True)
def _cone(
    eta: np.ndarray,
    phi: np.ndarray,
    starts: np.ndarray,
    other_eta: np.ndarray,
    other_phi: np.ndarray,
    other_pt: np.ndarray,
    other_starts: np.ndarray,
    radius: float,
    pi: float,
) -> np.ndarray:  # pragma: no cover - compiled; tested through the wrapper
    total = np.zeros(len(eta))
    for event in range(len(starts) - 1):
        first, last = other_starts[event], other_starts[event + 1]
        for i in range(starts[event], starts[event + 1]):
            for j in range(first, last):
                if _delta_r(eta[i], phi[i], other_eta[j], other_phi[j], pi) < radius:
                    total[i] += other_pt[j]
    return total


def _common(*arrays: np.ndarray) -> list[np.ndarray]:
    dtype = np.result_type(*arrays)
    return [np.ascontiguousarray(a, dtype=dtype) for a in arrays]


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
        into ``other_eta``.
    """
    eta, phi, other_eta, other_phi = _common(eta, phi, other_eta, other_phi)
    if skip is None:
        skip = np.full(len(eta), -1, dtype=np.int64)
    return _nearest(
        eta,
        phi,
        offsets(counts),
        np.ascontiguousarray(skip, dtype=np.int64),
        other_eta,
        other_phi,
        offsets(other_counts),
        eta.dtype.type(math.pi),
    )


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
    """Sum of ``other_pt`` (in float64) over the other objects of the event within
    ``ΔR < radius``."""
    eta, phi, other_eta, other_phi = _common(eta, phi, other_eta, other_phi)
    return _cone(
        eta,
        phi,
        offsets(counts),
        other_eta,
        other_phi,
        np.ascontiguousarray(other_pt),
        offsets(other_counts),
        float(np.asarray(radius, dtype=eta.dtype)),
        eta.dtype.type(math.pi),
    )

"""Small vectorised kinematics helpers (numpy and awkward arrays alike)."""

from __future__ import annotations

import awkward as ak
import numpy as np


def pt_eta_phi(px, py, pz):
    """Transverse momentum, pseudorapidity and azimuth of momenta ``(px, py, pz)``."""
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-9))
    return pt, np.minimum(np.maximum(eta, -20.0), 20.0), np.arctan2(py, px)


def delta_phi(phi1, phi2):
    """Azimuthal difference wrapped into [-pi, pi)."""
    return (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi


def delta_r(eta1, phi1, eta2, phi2):
    """Angular distance sqrt(d_eta^2 + d_phi^2)."""
    return np.hypot(eta1 - eta2, delta_phi(phi1, phi2))


def nearest(
    eta_a: ak.Array, phi_a: ak.Array, eta_b: ak.Array, phi_b: ak.Array, max_dr: float
) -> tuple[np.ndarray, np.ndarray]:
    """For every object of jagged collection ``a``, the index of the nearest ``b`` in its event.

    Returns flat arrays over ``a``: the local index of the nearest ``b`` (-1 when none lies
    within ``max_dr``) and the distance to it (inf when there is none).
    """
    pairs_a, pairs_b = ak.unzip(
        ak.cartesian(
            [ak.zip({"eta": eta_a, "phi": phi_a}), ak.zip({"eta": eta_b, "phi": phi_b})],
            nested=True,
        )
    )
    dr = delta_r(pairs_a.eta, pairs_a.phi, pairs_b.eta, pairs_b.phi)
    best = ak.argmin(dr, axis=2)
    best_dr = ak.min(dr, axis=2)
    idx = ak.to_numpy(ak.flatten(ak.fill_none(best, -1))).astype(np.int64)
    dist = ak.to_numpy(ak.flatten(ak.fill_none(best_dr, np.inf))).astype(np.float64)
    idx[dist > max_dr] = -1
    return idx, dist


def jagged(values: np.ndarray, counts: np.ndarray) -> ak.Array:
    """Cut a flat array into per-event lists of lengths ``counts``."""
    return ak.unflatten(values, counts)


def same_event_pairs(
    sorted_evt: np.ndarray, query_evt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """All (query, target) index pairs that share an event.

    ``sorted_evt`` is the event number of each target, sorted; ``query_evt`` that of each query.
    Returns flat arrays of query indices and target indices, one entry per pair.
    """
    lo = np.searchsorted(sorted_evt, query_evt, "left")
    counts = np.searchsorted(sorted_evt, query_evt, "right") - lo
    query = np.repeat(np.arange(len(query_evt)), counts)
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return query, np.repeat(lo, counts) + within

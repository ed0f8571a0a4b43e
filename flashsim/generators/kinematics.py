"""Small vectorised kinematics helpers (numpy and awkward arrays alike)."""

from __future__ import annotations

import awkward as ak
import numba
import numpy as np

#: A flat numpy array or a (jagged) awkward array: the helpers below accept both.
Array = np.ndarray | ak.Array


def pt_eta_phi(px: Array, py: Array, pz: Array) -> tuple[Array, Array, Array]:
    """Transverse momentum, pseudorapidity and azimuth of momenta ``(px, py, pz)``."""
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-9))
    return pt, np.minimum(np.maximum(eta, -20.0), 20.0), np.arctan2(py, px)


def delta_phi(phi1: Array | float, phi2: Array | float) -> Array:
    """Azimuthal difference wrapped into [-pi, pi)."""
    return (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi


def delta_r(eta1: Array, phi1: Array, eta2: Array, phi2: Array) -> Array:
    """Angular distance sqrt(d_eta^2 + d_phi^2)."""
    return np.hypot(eta1 - eta2, delta_phi(phi1, phi2))


def nearest(
    eta_a: ak.Array, phi_a: ak.Array, eta_b: ak.Array, phi_b: ak.Array, max_dr: float
) -> tuple[np.ndarray, np.ndarray]:
    """For every object of jagged collection ``a``, the index of the nearest ``b`` in its event.

    Returns flat arrays over ``a``: the local index of the nearest ``b`` (-1 when none lies
    within ``max_dr``) and the distance to it (inf when there is none). Ties go to the first
    ``b``. Double-precision inputs take a compiled loop over each event's pairs; others are
    broadcast with awkward (the distances in the inputs' precision either way).
    """
    flat = [ak.to_numpy(ak.flatten(x, axis=None)) for x in (eta_a, phi_a, eta_b, phi_b)]
    if all(x.dtype == np.float64 for x in flat):
        offsets_a = np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(eta_a)))])
        offsets_b = np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(eta_b)))])
        idx, dist = _nearest_pairs(offsets_a, *flat[:2], offsets_b, *flat[2:])
    else:
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


@numba.njit(cache=True, nogil=True)
def _nearest_pairs(
    offsets_a: np.ndarray,
    eta_a: np.ndarray,
    phi_a: np.ndarray,
    offsets_b: np.ndarray,
    eta_b: np.ndarray,
    phi_b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """:func:`nearest` of flat double-precision collections cut by ``offsets``: the same
    arithmetic as :func:`delta_r`, element by element."""
    idx = np.full(len(eta_a), -1, dtype=np.int64)
    dist = np.full(len(eta_a), np.inf)
    for event in range(len(offsets_a) - 1):
        b0, b1 = offsets_b[event], offsets_b[event + 1]
        for i in range(offsets_a[event], offsets_a[event + 1]):
            for j in range(b0, b1):
                dphi = (phi_a[i] - phi_b[j] + np.pi) % (2 * np.pi) - np.pi
                dr = np.hypot(eta_a[i] - eta_b[j], dphi)
                if dr < dist[i]:
                    dist[i] = dr
                    idx[i] = j - b0
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


def pairs_within(
    q_evt: np.ndarray,
    q_eta: np.ndarray,
    q_phi: np.ndarray,
    s_evt: np.ndarray,
    s_eta: np.ndarray,
    s_phi: np.ndarray,
    radius: float,
    chunk: int = 50_000,
):
    """Yield ``(query, source, dr)`` index pairs of the same event with ``dr < radius``.

    Sources are binned on an eta-phi grid of cells at least ``radius`` wide; every query looks
    at its 3x3 neighbouring cells only, ``chunk`` queries at a time, so memory stays bounded by
    the local density rather than by the squared multiplicity of an event.
    """
    eta_max = max(float(np.max(np.abs(q_eta), initial=0)), float(np.max(np.abs(s_eta), initial=0)))
    eta_max += radius
    n_eta = int(np.ceil(2 * eta_max / radius)) + 1
    n_phi = max(int(np.floor(2 * np.pi / radius)), 1)

    def cells(eta, phi):
        ie = np.floor((eta + eta_max) / radius).astype(np.int64)
        ip = np.floor((phi + np.pi) / (2 * np.pi) * n_phi).astype(np.int64) % n_phi
        return ie, ip

    # the distances only decide membership and weights: single precision halves the traffic
    q_eta, q_phi, s_eta, s_phi = (np.asarray(a, np.float32) for a in (q_eta, q_phi, s_eta, s_phi))
    s_ie, s_ip = cells(s_eta, s_phi)
    s_key = (s_evt.astype(np.int64) * (n_eta + 2) + s_ie + 1) * n_phi + s_ip
    order = np.argsort(s_key, kind="stable")
    sorted_key = s_key[order]
    q_ie, q_ip = cells(q_eta, q_phi)
    offsets = [(de, dp) for de in (-1, 0, 1) for dp in ((-1, 0, 1) if n_phi >= 3 else (0,))]
    for start in range(0, len(q_evt), chunk):
        sl = slice(start, start + chunk)
        qe, qi, qp = q_evt[sl].astype(np.int64), q_ie[sl], q_ip[sl]
        base = qe * (n_eta + 2) + qi + 1
        key = np.concatenate([(base + de) * n_phi + (qp + dp) % n_phi for de, dp in offsets])
        lo = np.searchsorted(sorted_key, key, "left")
        counts = np.searchsorted(sorted_key, key, "right") - lo
        first = np.cumsum(counts) - counts
        qa = np.repeat(np.tile(np.arange(start, start + len(qe)), len(offsets)), counts)
        sa = order[np.arange(int(counts.sum())) + np.repeat(lo - first, counts)]
        dr = np.hypot(q_eta[qa] - s_eta[sa], delta_phi(q_phi[qa], s_phi[sa]))
        near = dr < radius
        yield qa[near], sa[near], dr[near]

"""The nearest-object search of :mod:`flashsim.generators.kinematics`: the compiled loop for
double precision gives what the awkward broadcast gives, bit for bit."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from flashsim.generators.kinematics import delta_r, nearest


def collection(rng: np.random.Generator, counts: np.ndarray, dtype: type) -> tuple[ak.Array, ...]:
    n = int(counts.sum())
    eta = ak.unflatten(rng.uniform(-3, 3, n).astype(dtype), counts)
    phi = ak.unflatten(rng.uniform(-np.pi, np.pi, n).astype(dtype), counts)
    return eta, phi


def broadcast_nearest(eta_a, phi_a, eta_b, phi_b):  # type: ignore[no-untyped-def]
    """The brute-force answer, with awkward's cartesian product."""
    pa, pb = ak.unzip(
        ak.cartesian(
            [ak.zip({"eta": eta_a, "phi": phi_a}), ak.zip({"eta": eta_b, "phi": phi_b})],
            nested=True,
        )
    )
    dr = delta_r(pa.eta, pa.phi, pb.eta, pb.phi)
    idx = ak.to_numpy(ak.flatten(ak.fill_none(ak.argmin(dr, axis=2), -1)))
    dist = ak.to_numpy(ak.flatten(ak.fill_none(ak.min(dr, axis=2), np.inf))).astype(np.float64)
    return idx, dist


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nearest_equals_broadcast(dtype: type) -> None:
    rng = np.random.default_rng(3)
    counts_a = rng.integers(0, 6, 400)
    counts_b = rng.integers(0, 4, 400)  # events with no b at all
    eta_a, phi_a = collection(rng, counts_a, dtype)
    eta_b, phi_b = collection(rng, counts_b, dtype)
    idx, dist = nearest(eta_a, phi_a, eta_b, phi_b, 0.8)
    ref_idx, ref_dist = broadcast_nearest(eta_a, phi_a, eta_b, phi_b)
    np.testing.assert_array_equal(dist, ref_dist)  # bit for bit, inf where no b
    np.testing.assert_array_equal(idx, np.where(ref_dist > 0.8, -1, ref_idx))
    assert (idx == -1).sum() > 0
    assert (idx >= 0).sum() > 0
    assert len(idx) == counts_a.sum()


def test_nearest_ties_go_to_the_first() -> None:
    eta_a = ak.Array([[0.0], [1.0]])
    phi_a = ak.Array([[0.0], [3.1]])
    eta_b = ak.Array([[0.1, -0.1, 0.1], [1.0, 1.0]])
    phi_b = ak.Array([[0.0, 0.0, 0.0], [-3.1, 3.1]])
    idx, dist = nearest(eta_a, phi_a, eta_b, phi_b, 0.4)
    assert idx.tolist() == [0, 1]  # across the phi = pi seam, the second is closer
    assert dist[0] == pytest.approx(0.1)

"""Pile-up overlay: minimum-bias events from a pool, rotated and displaced, added to each event.

Shared by the CMS-like and LHCb-like reference detectors: each block generates
:data:`PILEUP_POOL` minimum-bias events once and reuses them, randomly chosen, rotated in azimuth,
mirrored in z and displaced along the beam, as the extra interactions of its events.
"""

from __future__ import annotations

import numpy as np

from flashsim.refsim.generator import ParticleTable

__all__ = ["PILEUP_POOL", "pileup_particles"]

#: Minimum-bias events generated per block and reused, randomly rotated, as pile-up.
PILEUP_POOL = 200


def pileup_particles(
    pool: ParticleTable, n_pu: np.ndarray, rng: np.random.Generator, sigma_z: float
) -> dict[str, np.ndarray]:
    """Overlay ``n_pu[i]`` randomly chosen, rotated and displaced pool events on event ``i``.

    Arguments:
        pool: the minimum-bias events.
        n_pu: number of pile-up interactions of each event.
        rng: random generator (choice, rotation, mirroring, displacement).
        sigma_z: spread (mm) of the interactions along the beam.

    Returns:
        the final-state particles of the overlaid interactions as flat arrays, ``evt`` the event
        they are added to (momenta in GeV, vertices in mm).
    """
    final = pool.status > 0
    sel = np.flatnonzero(final)
    pool_evt = pool.event_index[sel]
    counts = np.bincount(pool_evt, minlength=pool.n_events)
    starts = np.concatenate([[0], np.cumsum(counts)])
    n_inst = int(n_pu.sum())
    choice = rng.integers(0, pool.n_events, n_inst)
    owner = np.repeat(np.arange(len(n_pu)), n_pu)
    alpha = rng.uniform(-np.pi, np.pi, n_inst)
    flip = np.where(rng.random(n_inst) < 0.5, -1.0, 1.0)
    z = rng.normal(0.0, sigma_z, n_inst)
    lengths = counts[choice]
    inst = np.repeat(np.arange(n_inst), lengths)
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    idx = sel[starts[choice][inst] + within]
    ca, sa = np.cos(alpha[inst]), np.sin(alpha[inst])
    px, py = pool.px[idx], pool.py[idx]
    vx, vy = pool.vx[idx], pool.vy[idx]
    return {
        "evt": owner[inst],
        "pdg": pool.pdg[idx],
        "charge": pool.charge[idx],
        "px": ca * px - sa * py,
        "py": sa * px + ca * py,
        "pz": flip[inst] * pool.pz[idx],
        "e": pool.e[idx],
        "vx": ca * vx - sa * vy,
        "vy": sa * vx + ca * vy,
        "vz": flip[inst] * pool.vz[idx] + z[inst],
    }

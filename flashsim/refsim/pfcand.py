"""Particle-flow candidate kinds and small table helpers shared by the reco-object modules."""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim.refsim.kinematics import jagged

MUON_MASS = 0.1056584
ELECTRON_MASS = 0.000511
# Particle-flow candidate kinds.
CH_HAD, ELECTRON, MUON, PHOTON, NEU_HAD, HF_HAD = range(6)


def select_rows(arrays: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in arrays.items()}


def sorted_collection(
    fields: dict[str, np.ndarray], evt: np.ndarray, pt: np.ndarray, n_events: int
) -> ak.Array:
    """Jagged collection of flat ``fields``, sorted by event then by decreasing ``pt``."""
    order = np.lexsort((-pt, evt))
    counts = np.bincount(evt, minlength=n_events)
    return ak.zip({k: jagged(v[order], counts) for k, v in fields.items()})

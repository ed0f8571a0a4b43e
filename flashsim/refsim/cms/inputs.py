"""What enters the CMS-like reference detector: the final-state particles of a block of events."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DetectorInput"]


@dataclass
class DetectorInput:
    """Final-state particles of a block of events (hard event and pile-up), as flat arrays.

    Vertices in mm (the primary-vertex displacement already applied); ``genpart_index`` is the
    local ``GenPart`` index of the particle (-1 for pile-up or pruned particles).
    """

    n_events: int
    evt: np.ndarray
    pdg: np.ndarray
    charge: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    vx: np.ndarray
    vy: np.ndarray
    vz: np.ndarray
    is_pileup: np.ndarray
    genpart_index: np.ndarray
    pv_z: np.ndarray
    n_pileup: np.ndarray

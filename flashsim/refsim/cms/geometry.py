"""Geometry and field of the CMS-like reference detector: where a particle meets the calorimeter.

A charged particle of transverse momentum pT (GeV) in the solenoid field B (T) reaches radius R (m)
with its azimuth shifted by :data:`BEND` * B * q * R / pT. Parameters:
:class:`flashsim.refsim.cms.params.CMSLikeParameters`.
"""

from __future__ import annotations

import numpy as np

from flashsim.generators.kinematics import delta_phi
from flashsim.refsim.cms.params import CMSLikeParameters

__all__ = ["BEND", "bent_phi", "calo_radius"]

# Bending: the azimuth of a track's position at radius R shifts by K * q * R / pT (R in m).
BEND = 0.3 / 2


def calo_radius(p: CMSLikeParameters, eta: np.ndarray) -> np.ndarray:
    """Transverse radius (m) at which a particle reaches the calorimeter front face."""
    return np.minimum(p.ecal_radius_m, p.calo_endcap_z_m / np.maximum(np.abs(np.sinh(eta)), 1e-6))


def bent_phi(
    p: CMSLikeParameters, phi: np.ndarray, q: np.ndarray, pt: np.ndarray, radius: np.ndarray
) -> np.ndarray:
    """Azimuth at transverse radius ``radius`` (m) of a particle of charge ``q`` and ``pt``."""
    shift = BEND * p.b_field_t * radius * q / np.maximum(pt, 1e-3)
    return delta_phi(phi - np.clip(shift, -np.pi / 2, np.pi / 2), 0.0)

"""Deprecated location, kept for one release: use flashsim.refsim.cms.detector."""

from flashsim.refsim.cms.detector import CMSLikeDetector
from flashsim.refsim.cms.inputs import DetectorInput
from flashsim.refsim.cms.particle_flow import PION_MASS
from flashsim.refsim.cms.tracking import DECAYS_IN_FLIGHT

__all__ = ["DECAYS_IN_FLIGHT", "PION_MASS", "CMSLikeDetector", "DetectorInput"]

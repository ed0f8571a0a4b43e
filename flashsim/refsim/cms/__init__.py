"""A CMS-like reference simulation: Pythia 8 events through a particle-level detector to NanoAOD.

``generate_sample`` runs Pythia 8 events of a process through the CMS-like detector
(:mod:`.detector`, parameters in :mod:`.params`): tracking (:mod:`.tracking`), calorimetry
(:mod:`.calorimetry`), electron and muon reconstruction (:mod:`.lepton_reco`), particle flow
(:mod:`.particle_flow`), then the NanoAOD objects (:mod:`.reco_objects`: :mod:`.jets`,
:mod:`.leptons`, :mod:`.met`, :mod:`.fatjets`; photons from :mod:`.photons`, with conversions in
the material from :mod:`.conversions`). See ``data/README.md``.
"""

from __future__ import annotations

from flashsim.refsim.cms.detector import CMSLikeDetector
from flashsim.refsim.cms.generate import generate_sample, simulate_block
from flashsim.refsim.cms.inputs import DetectorInput
from flashsim.refsim.cms.params import CMSLikeParameters

__all__ = [
    "CMSLikeDetector",
    "CMSLikeParameters",
    "DetectorInput",
    "generate_sample",
    "simulate_block",
]

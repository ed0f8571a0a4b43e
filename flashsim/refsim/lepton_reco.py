"""Deprecated location, kept for one release: use flashsim.refsim.cms.lepton_reco.

The ``LeptonReconstruction`` mixin became the functions of :mod:`flashsim.refsim.cms.lepton_reco`
(:func:`electron_showers`, :func:`electron_candidates`, :func:`conversion_partner`,
:func:`muon_candidates`); ``BEND`` is in :mod:`flashsim.refsim.cms.geometry`.
"""

from flashsim.refsim.cms.geometry import BEND
from flashsim.refsim.cms.lepton_reco import (
    conversion_partner,
    electron_candidates,
    electron_showers,
    muon_candidates,
)

__all__ = [
    "BEND",
    "conversion_partner",
    "electron_candidates",
    "electron_showers",
    "muon_candidates",
]

"""Deprecated location, kept for one release: use flashsim.refsim.cms.leptons."""

from flashsim.refsim.cms.leptons import (
    electron_collection,
    electron_mva,
    isolation,
    mini_isolation,
    muon_collection,
    tracker_isolation,
)

__all__ = [
    "electron_collection",
    "electron_mva",
    "isolation",
    "mini_isolation",
    "muon_collection",
    "tracker_isolation",
]

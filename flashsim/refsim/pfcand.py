"""Deprecated location, kept for one release: use flashsim.refsim.cms.pfcand."""

from flashsim.refsim.cms.pfcand import (
    CH_HAD,
    ELECTRON,
    ELECTRON_MASS,
    HF_HAD,
    MUON,
    MUON_MASS,
    NEU_HAD,
    PHOTON,
    select_rows,
    sorted_collection,
)

__all__ = [
    "CH_HAD",
    "ELECTRON",
    "ELECTRON_MASS",
    "HF_HAD",
    "MUON",
    "MUON_MASS",
    "NEU_HAD",
    "PHOTON",
    "select_rows",
    "sorted_collection",
]

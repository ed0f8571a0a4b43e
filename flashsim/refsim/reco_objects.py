"""Deprecated location, kept for one release: use flashsim.refsim.cms.reco_objects."""

from flashsim.refsim.cms.jets import build_jets, match_jets
from flashsim.refsim.cms.leptons import electron_collection, isolation, muon_collection
from flashsim.refsim.cms.met import pileup_density
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
from flashsim.refsim.cms.reco_objects import build_objects

__all__ = [
    "CH_HAD",
    "ELECTRON",
    "ELECTRON_MASS",
    "HF_HAD",
    "MUON",
    "MUON_MASS",
    "NEU_HAD",
    "PHOTON",
    "build_jets",
    "build_objects",
    "electron_collection",
    "isolation",
    "match_jets",
    "muon_collection",
    "pileup_density",
    "select_rows",
    "sorted_collection",
]

"""The physics summary of a validation in the analyst's units (:mod:`.summary`).

Jet energy scale and resolution (:mod:`.jets`), b-tag scale factors (:mod:`.btag`), lepton
ID/isolation scale factors (:mod:`.leptons`), MET vs the hadronic recoil and pile-up jets
(:mod:`.event`), each a gated flash/full difference with its error (:mod:`.common`), and the
statistical power of the comparison (:mod:`.power`).
"""

from __future__ import annotations

from flashsim.validation.analyst.btag import DEFAULT_WORKING_POINTS
from flashsim.validation.analyst.common import DEFAULT_SIGMA, TOLERANCES, Measurement
from flashsim.validation.analyst.power import power_summary, power_warnings
from flashsim.validation.analyst.summary import physics_summary

__all__ = [
    "DEFAULT_SIGMA",
    "DEFAULT_WORKING_POINTS",
    "TOLERANCES",
    "Measurement",
    "physics_summary",
    "power_summary",
    "power_warnings",
]

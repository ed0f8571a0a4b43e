"""The parts of a validation report, one module each, built on a
:class:`~flashsim.validation.validator.Validator`.

A collection (:mod:`.collection`: matched objects; :mod:`.efficiencies`; every reconstructed
branch, :mod:`.reco`; unmatched objects, :mod:`.fakes`), the event quantities (:mod:`.event`),
the physics summaries (:mod:`.summaries`), and, when the files have the branches, the photon
ID efficiency (:mod:`.photons`) and the electrons and photons faked by jets (:mod:`.jet_fakes`;
both built on :mod:`.rates`).
"""

from __future__ import annotations

from flashsim.validation.sections.collection import collection_sections
from flashsim.validation.sections.event import event_section
from flashsim.validation.sections.summaries import physics_section

__all__ = ["collection_sections", "event_section", "physics_section"]

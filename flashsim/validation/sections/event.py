"""The report section of the event quantities (MET, rho, number of vertices).

The classifier two-sample test on the gen conditions and the targets together, and each target
(distances, histograms; gated).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flashsim.features import model_targets
from flashsim.spec import PipelineSpec
from flashsim.validation.binning import is_integer, target_label
from flashsim.validation.result import PlotGroup, Section
from flashsim.validation.validator import Validator

__all__ = ["event_section"]


def event_section(v: Validator, spec: PipelineSpec) -> tuple[dict[str, Any], Section]:
    """The metrics and the section of the event quantities (``spec`` has an event stage and
    both samples have its quantities)."""
    ef, er = v.flash.event, v.full.event
    if spec.event is None or ef is None or er is None:
        msg = "the event section needs an event stage and event quantities in both files"
        raise ValueError(msg)
    targets = model_targets(spec.event.targets)
    names = [c.name for c in spec.event.conditions]
    section = Section("Event quantities (MET, ρ, vertices)", "event")
    fg, rg = v.flash.groups[ef.event], v.full.groups[er.event]
    out: dict[str, Any] = {}
    first = v.flash.replica[ef.event] == 0
    v.two_sample(
        "event",
        np.concatenate([ef.conditions, ef.targets], axis=1)[first],
        np.concatenate([er.conditions, er.targets], axis=1),
        [f"gen_{n}" for n in names] + [t.name for t in targets],
        (fg[first], rg),
        out=out,
        section=section,
        label="classifier AUC (gen conditions + targets)",
    )
    variables = [(t.name, target_label(t), is_integer(t)) for t in targets]
    out["targets"], section.table, plots = v.variable_rows(
        "event", variables, ef.targets, er.targets, fg, rg, gated=True
    )
    section.groups.append(PlotGroup("Event-level targets", plots))
    return out, section

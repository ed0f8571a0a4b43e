"""The report section of a collection's unmatched (pile-up, fake) objects.

Their number per event and, when both files have some, the classifier two-sample test on their
properties and each property (distances, histograms; gated).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flashsim.features import model_targets
from flashsim.spec import CollectionSpec
from flashsim.validation.binning import NICE, is_integer
from flashsim.validation.result import Plot, PlotGroup, Section
from flashsim.validation.validator import Validator

__all__ = ["fakes_section"]


def fakes_section(v: Validator, spec: CollectionSpec) -> tuple[dict[str, Any], Section]:
    """The metrics and the section of the unmatched objects of collection ``spec`` (which has
    a fakes stage and unmatched objects in the flash sample)."""
    if spec.fakes is None:
        msg = f"collection {spec.name!r} has no fakes stage"
        raise ValueError(msg)
    name = spec.name
    ff, fr = v.flash.fakes[name], v.full.fakes[name]
    section = Section(f"{name}: unmatched (pile-up, fake) objects", f"{name}_fakes")
    targets = model_targets(spec.fakes.targets)
    variables = [
        (t.name, f"unmatched {name} {NICE.get(t.name, t.name)}", is_integer(t)) for t in targets
    ]
    fge, rge = v.flash.groups[ff.event], v.full.groups[fr.event]
    fg, rg = np.repeat(fge, ff.count), np.repeat(rge, fr.count)
    out: dict[str, Any] = {
        "mean_count": {"flash": float(ff.count.mean()), "full": float(fr.count.mean())}
    }
    section.summary.append(
        (
            "unmatched objects per event (flash / full)",
            f"{ff.count.mean():.3f} / {fr.count.mean():.3f}",
            None,
        )
    )
    count = v.hist(
        f"{name}/fakes/count",
        f"unmatched {name} per event",
        ff.count.astype(float),
        fr.count.astype(float),
        fge,
        rge,
        integer=True,
    )
    if min(len(ff.targets), len(fr.targets)) == 0:
        section.groups.append(PlotGroup("Multiplicity", [Plot(count.name, "hist", (count,))]))
        return out, section
    first = np.repeat(v.flash.replica[ff.event] == 0, ff.count)
    v.two_sample(
        f"{name}/fakes",
        ff.targets[first],
        fr.targets,
        [t.name for t in targets],
        (fg[first], rg),
        out=out,
        section=section,
        label="classifier AUC (properties)",
    )
    out["targets"], section.table, plots = v.variable_rows(
        f"{name}/fakes", variables, ff.targets, fr.targets, fg, rg, gated=True
    )
    section.groups.append(
        PlotGroup("Multiplicity and properties", [Plot(count.name, "hist", (count,)), *plots])
    )
    return out, section

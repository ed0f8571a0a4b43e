"""The report section of one collection: its matched objects, then the parts around them.

Matched objects (reconstructed objects with their gen object): the classifier two-sample test
on gen conditions and targets together, each target inclusive (distances, histograms), the
difference of the targets' correlation matrices against its full-vs-full floor, and the targets
in bins of the main gen conditions. Then the efficiencies (:mod:`.efficiencies`), every
reconstructed branch (:mod:`.reco`) and, with a fakes stage, the unmatched objects
(:mod:`.fakes`, a section of its own).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flashsim.exceptions import InputError
from flashsim.features import CollectionTable, model_targets
from flashsim.spec import CollectionSpec
from flashsim.validation.binning import categories, is_integer, target_label
from flashsim.validation.gate import Check
from flashsim.validation.metrics import correlation_difference
from flashsim.validation.result import Plot, PlotGroup, Section
from flashsim.validation.sections.efficiencies import efficiency_group
from flashsim.validation.sections.fakes import fakes_section
from flashsim.validation.sections.reco import reco_plots
from flashsim.validation.validator import MIN_OBJECTS, Validator

__all__ = ["collection_sections"]


def collection_sections(
    v: Validator, spec: CollectionSpec, common: list[str]
) -> tuple[dict[str, Any], list[Section]]:
    """The metrics of collection ``spec`` and its sections (its unmatched objects apart).

    Arguments:
        v: the validation.
        spec: the collection.
        common: the collection's reconstructed fields both files have.
    Raises:
        InputError: a file has no matched object, or too few objects to compare.
    """
    name = spec.name
    tf, tr = v.flash.tables[name], v.full.tables[name]
    fg_all, rg_all = v.flash.groups[tf.event], v.full.groups[tr.event]
    fm, rm = tf.label > 0, tr.label > 0
    fg, rg = fg_all[fm], rg_all[rm]
    cond_names = [c.name for c in spec.conditions]
    targets = model_targets(spec.targets)
    variables = [(t.name, target_label(t), is_integer(t)) for t in targets]
    section = Section(f"{name}: generated {spec.source.collection} → reconstructed", name)
    out: dict[str, Any] = {
        "counts": {
            "flash_generated": len(tf.label),
            "flash_reconstructed": int(fm.sum()),
            "full_generated": len(tr.label),
            "full_reconstructed": int(rm.sum()),
        }
    }
    if fm.sum() == 0 or rm.sum() == 0:
        msg = (
            f"collection {name!r}: no reconstructed {name} matched to a gen object in the "
            f"{'flash' if fm.sum() == 0 else 'full-simulation'} file; nothing to compare"
        )
        raise InputError(msg)

    # Multivariate: classifier test (one replica per gen event) and correlations.
    first = v.flash.replica[tf.event[fm]] == 0
    cf, cr = tf.conditions[fm], tr.conditions[rm]
    v.two_sample(
        name,
        np.concatenate([cf, tf.targets], axis=1)[first],
        np.concatenate([cr, tr.targets], axis=1),
        [f"gen_{c}" for c in cond_names] + [t.name for t in targets],
        (fg[first], rg),
        out=out,
        section=section,
        label="classifier AUC (gen conditions + targets)",
    )
    out["targets"], section.table, inclusive = v.variable_rows(
        name, variables, tf.targets, tr.targets, fg, rg, gated=True
    )
    if len(targets) > 1:
        names = [t.name for t in targets]
        out["correlation"], diff = _correlation(name, tf, tr, rg, names)
        check = Check("corr", name, out["correlation"]["max_abs_diff"])
        v.checks.append(check)
        section.summary.append(
            (
                "largest |Δ correlation| of targets (full vs full floor)",
                f"{check.value:.3f} ({out['correlation']['floor']:.3f})",
                check,
            )
        )
        inclusive.append(Plot(f"{name}/correlation", "correlation", (diff, names)))
    section.groups.append(PlotGroup("Targets of matched objects (inclusive)", inclusive))
    section.groups += _binned_targets(v, spec, variables, inclusive, tf, tr, fg, rg)

    out["efficiency"], eff_group = efficiency_group(v, spec, tf, tr, fg_all, rg_all, section)
    section.groups.insert(1, eff_group)

    out["reco"], plots = reco_plots(v, name, common)
    section.groups.append(
        PlotGroup(f"All reconstructed {name} (NanoAOD branches)", plots, open=False)
    )
    sections = [section]
    if spec.fakes is not None and name in v.flash.fakes:
        out["fakes"], fakes = fakes_section(v, spec)
        sections.append(fakes)
    return out, sections


def _correlation(
    name: str,
    tf: CollectionTable,
    tr: CollectionTable,
    rg: np.ndarray,
    names: list[str],
) -> tuple[dict[str, Any], np.ndarray]:
    """The difference of the targets' correlation matrices (flash - full) as metrics, with the
    floor (full in even gen events - full in odd ones), and the difference itself.

    Raises:
        InputError: a file has fewer than :data:`MIN_OBJECTS` matched objects.
    """
    fewest = min(len(tf.targets), len(tr.targets))
    if fewest < MIN_OBJECTS:
        msg = (
            f"only {fewest} reconstructed {name} objects in one of the files: too few to "
            f"compare (at least {MIN_OBJECTS}); validate on more events, or leave {name} "
            "out with --collections"
        )
        raise InputError(msg)
    diff = correlation_difference(tf.targets, tr.targets)
    half = (rg % 2) == 0
    floor = correlation_difference(tr.targets[half], tr.targets[~half])
    metrics = {
        "max_abs_diff": float(np.max(np.abs(diff))),
        "floor": float(np.max(np.abs(floor))),
        "names": names,
        "diff": diff.round(4).tolist(),
    }
    return metrics, diff


def _binned_targets(
    v: Validator,
    spec: CollectionSpec,
    variables: list[tuple[str, str, bool]],
    inclusive: list[Plot],
    tf: CollectionTable,
    tr: CollectionTable,
    fg: np.ndarray,
    rg: np.ndarray,
) -> list[PlotGroup]:
    """Histograms of the matched objects' targets in bins of the main gen conditions (pT,
    |eta|, flavour; :func:`~flashsim.validation.binning.categories`), one group per binning,
    with the edges of the inclusive histograms."""
    name = spec.name
    fm, rm = tf.label > 0, tr.label > 0
    cf, cr = tf.conditions[fm], tr.conditions[rm]
    cats = categories(spec, cr)
    groups = []
    for key in dict.fromkeys(k for k, _, _ in cats):
        group = PlotGroup(f"Targets in bins of {key}", open=False)
        chosen = [(title, sel) for k, title, sel in cats if k == key]
        for i, (tname, label, integer) in enumerate(variables):
            edges = inclusive[i].items[0].edges
            items = []
            for title, sel in chosen:
                sf, sr = sel(cf), sel(cr)
                items.append(
                    v.hist(
                        f"{name}/{tname}/{key}/{len(items)}",
                        label,
                        tf.targets[sf, i],
                        tr.targets[sr, i],
                        fg[sf],
                        rg[sr],
                        edges=edges,
                        integer=integer,
                        title=title,
                    )
                )
            group.plots.append(Plot(f"{name}/{tname}/{key}", "hist", tuple(items)))
        groups.append(group)
    return groups

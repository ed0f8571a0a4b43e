"""The report section of physics summaries: what an analysis sees of the flash sample.

Per collection the b-tagging ROC curves (b vs light, b vs c) of its b-tag score, the pT
response and resolution vs gen pT, and for large-radius jets the soft-drop mass peaks and the
boosted-tagger ROC curves (:mod:`.boosted`); then the derived quantities (leading dijet mass,
m(ℓℓ), HT, jets above 30 GeV, MET) of every event. Not gated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from flashsim.features import CollectionTable, model_targets
from flashsim.spec import CollectionSpec, PipelineSpec
from flashsim.validation.binning import DEFAULT_PT_EDGES, PT_EDGES
from flashsim.validation.physics import response_curve, tagger_roc, tagger_summary
from flashsim.validation.result import Plot, PlotGroup, Section
from flashsim.validation.sections.boosted import boosted_summary
from flashsim.validation.validator import Validator

__all__ = ["DERIVED_LABELS", "physics_section"]

DERIVED_LABELS = {
    "mjj": "leading dijet mass [GeV] (jets pT > 30 GeV)",
    "mll": "m(ℓℓ) [GeV] (leading opposite-charge same-flavour pair)",
    "HT": "HT [GeV] (jets pT > 30 GeV)",
    "nJet30": "jets with pT > 30 GeV",
    "MET_pt": "MET [GeV]",
}
"""The derived quantities compared, with their axis labels, in the order of the report."""


def physics_section(
    v: Validator, spec: PipelineSpec, names: Sequence[str]
) -> tuple[dict[str, Any], Section]:
    """The metrics and the section of the physics summaries of collections ``names``."""
    section = Section("b-tag ROC curves, pT response, derived quantities", "physics")
    out: dict[str, Any] = {}
    plots: list[Plot] = []
    for name in names:
        cs = spec.collections[name]
        tf, tr = v.flash.tables[name], v.full.tables[name]
        plots += _tagging(cs, tf, tr, out, section)
        plots += _response(v, cs, tf, tr, out)
        boosted, boosted_plots = boosted_summary(cs, tf, tr, section)
        out.update(boosted)
        plots += boosted_plots
    plots += _derived(v, out, section)
    section.groups.append(PlotGroup("b tagging, response, derived quantities", plots))
    return out, section


def _tagging(
    cs: CollectionSpec,
    tf: CollectionTable,
    tr: CollectionTable,
    out: dict[str, Any],
    section: Section,
) -> list[Plot]:
    """ROC curves of the first b-tag score target against the gen hadron flavour, if both."""
    name = cs.name
    cond = [c.name for c in cs.conditions]
    tnames = [t.name for t in model_targets(cs.targets)]
    score = next((t for t in tnames if "btag" in t.lower()), None)
    if score is None or "hadronFlavour" not in cond:
        return []
    fm, rm = tf.label > 0, tr.label > 0
    j, k = cond.index("hadronFlavour"), tnames.index(score)
    curves: dict[str, Any] = {}
    for bkg, value in (("light", 0), ("c", 4)):
        pair = []
        for t, m in ((tf, fm), (tr, rm)):
            flav = np.abs(t.conditions[m, j])
            use = (flav == 5) | (flav == value)
            pair.append(tagger_roc(t.targets[use, k], flav[use] == 5))
        curves[bkg] = tuple(pair)
        summary = tagger_summary(*pair)
        out[f"{name}/{score}/b_vs_{bkg}"] = summary
        section.summary.append(
            (
                f"{name} {score}, b vs {bkg}: ROC AUC; mistag at 70% b efficiency (flash / full)",
                f"{summary['auc_flash']:.3f} / {summary['auc_full']:.3f}; "
                f"{summary['mistag_at_0.7_flash']:.4f} / "
                f"{summary['mistag_at_0.7_full']:.4f}",
                None,
            )
        )
    return [Plot(f"physics/{name}_{score}_roc", "roc", (curves, f"{name} {score}"))]


def _response(
    v: Validator,
    cs: CollectionSpec,
    tf: CollectionTable,
    tr: CollectionTable,
    out: dict[str, Any],
) -> list[Plot]:
    """Median and resolution vs gen value of the first ratio target that is also a condition
    (the pT response), if any."""
    name = cs.name
    cond = [c.name for c in cs.conditions]
    tnames = [t.name for t in model_targets(cs.targets)]
    ratio = next((t for t in model_targets(cs.targets) if t.kind == "ratio"), None)
    if ratio is None or ratio.name not in cond:
        return []
    fm, rm = tf.label > 0, tr.label > 0
    i, k = cond.index(ratio.name), tnames.index(ratio.name)
    edges = PT_EDGES.get(name, DEFAULT_PT_EDGES)
    fg, rg = v.flash.groups[tf.event[fm]], v.full.groups[tr.event[rm]]
    cf = response_curve(tf.conditions[fm, i], tf.targets[:, k], edges, groups=fg)
    cr = response_curve(tr.conditions[rm, i], tr.targets[:, k], edges, groups=rg)
    out[f"{name}/{ratio.name}_response"] = {
        "edges": list(map(float, edges)),
        "median_flash": np.nan_to_num(cf.median).tolist(),
        "median_full": np.nan_to_num(cr.median).tolist(),
        "resolution_flash": np.nan_to_num(cf.resolution).tolist(),
        "resolution_full": np.nan_to_num(cr.resolution).tolist(),
    }
    return [Plot(f"physics/{name}_response", "response", (cf, cr, f"{name} {ratio.name}"))]


def _derived(v: Validator, out: dict[str, Any], section: Section) -> list[Plot]:
    """Distances and histograms of the :data:`DERIVED_LABELS` quantities both samples have."""
    plots = []
    derived = [k for k in DERIVED_LABELS if k in v.flash.derived and k in v.full.derived]
    for key in derived:
        f, r = v.flash.derived[key], v.full.derived[key]
        if not (np.isfinite(f).any() and np.isfinite(r).any()):
            continue
        m = v.distances(f, r, v.flash.groups, v.full.groups)
        edges = None
        if key in ("mjj", "mll", "HT", "MET_pt"):
            fin = np.concatenate([f[np.isfinite(f)], r[np.isfinite(r)]])
            hi = np.quantile(fin, 0.99)
            lo = 60.0 if key == "mll" and hi > 100 else 0.0
            edges = np.linspace(lo, 120.0 if key == "mll" and hi > 100 else hi, 41)
        h = v.hist(
            f"physics/{key}",
            DERIVED_LABELS[key],
            f,
            r,
            v.flash.groups,
            v.full.groups,
            edges=edges,
            integer=key == "nJet30",
        )
        out[key] = m
        section.table.append({"variable": key, "where": f"physics/{key}", **m})
        plots.append(Plot(f"physics/{key}", "hist", (h,)))
    return plots

"""The efficiency curves of a collection: flash against full simulation, vs gen pT and eta.

The reconstruction efficiency and, for collections with ID classes, the efficiency of the
tightest class, each vs gen pT and gen eta (a chi-square per curve, gated as ``eff_chi2``), and
the reconstruction efficiency vs gen pT per flavour (not gated).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flashsim.features import CollectionTable
from flashsim.spec import CollectionSpec
from flashsim.validation.binning import (
    DEFAULT_PT_EDGES,
    FLAVOURS,
    NARROW_ETA,
    NICE,
    PT_EDGES,
    WIDE_ETA,
)
from flashsim.validation.comparison import EfficiencyComparison, compare_efficiency
from flashsim.validation.gate import Check
from flashsim.validation.result import Plot, PlotGroup, Section
from flashsim.validation.validator import Validator

__all__ = ["efficiency_group"]


def efficiency_group(
    v: Validator,
    spec: CollectionSpec,
    tf: CollectionTable,
    tr: CollectionTable,
    fg: np.ndarray,
    rg: np.ndarray,
    section: Section,
) -> tuple[dict[str, Any], PlotGroup]:
    """The efficiency metrics and figures of collection ``spec``; adds a summary row per gated
    curve to ``section``.

    Arguments:
        v: the validation.
        spec: the collection.
        tf, tr: its flash and full tables, every gen object (reconstructed or not).
        fg, rg: the gen event of each gen object.
        section: the collection's section.
    """
    name = spec.name
    names = [c.name for c in spec.conditions]
    group = PlotGroup("Efficiencies")
    out: dict[str, Any] = {}
    curves = [("reco", "reconstruction efficiency", tf.label > 0, tr.label > 0)]
    if spec.efficiency.class_field is not None:
        top = len(spec.efficiency.class_values)
        value = spec.efficiency.class_values[-1]
        curves.append(
            (
                "id",
                f"{spec.efficiency.class_field} = {value} efficiency",
                tf.label == top,
                tr.label == top,
            )
        )
    for var, edges in (
        ("pt", PT_EDGES.get(name, DEFAULT_PT_EDGES)),
        ("eta", WIDE_ETA if name == "Jet" else NARROW_ETA),
    ):
        if var not in names:
            continue
        i = names.index(var)
        xf, xr = tf.conditions[:, i], tr.conditions[:, i]
        if var == "eta":
            edges = sorted({-e for e in edges} | set(edges))
        items = []
        for kind, ylabel, pf, pr in curves:
            comp = compare_efficiency(
                f"{name}/efficiency/{kind}/{var}",
                f"gen {NICE.get(var, var)}",
                xf,
                pf,
                xr,
                pr,
                edges,
                flash_groups=fg,
                full_groups=rg,
                ylabel=ylabel,
            )
            chi2, ndf = comp.chi2()
            out[f"{kind}_{var}"] = {
                "chi2": chi2,
                "ndf": ndf,
                "chi2_ndf": chi2 / max(ndf, 1),
                "edges": list(map(float, edges)),
                "flash": np.nan_to_num(comp.flash.efficiency).tolist(),
                "full": np.nan_to_num(comp.full.efficiency).tolist(),
            }
            check = Check("eff_chi2", f"{name}/{kind}_eff/{var}", chi2 / max(ndf, 1))
            v.checks.append(check)
            section.summary.append(
                (f"{ylabel} vs gen {var}: χ²/ndf", f"{check.value:.2f} ({ndf} bins)", check)
            )
            items.append(comp)
        group.plots.append(Plot(f"{name}/efficiency/{var}", "efficiency", tuple(items)))
    flavours = _per_flavour(spec, tf, tr, fg, rg)
    if flavours is not None:
        group.plots.append(flavours)
    return out, group


def _per_flavour(
    spec: CollectionSpec,
    tf: CollectionTable,
    tr: CollectionTable,
    fg: np.ndarray,
    rg: np.ndarray,
) -> Plot | None:
    """Reconstruction efficiency vs gen pT per class of the first flavour condition
    (:data:`~flashsim.validation.binning.FLAVOURS`) the collection has, or None."""
    name = spec.name
    names = [c.name for c in spec.conditions]
    if "pt" not in names:
        return None
    i = names.index("pt")
    fr, rr = tf.label > 0, tr.label > 0
    for cond, classes in FLAVOURS.items():
        if cond not in names:
            continue
        j = names.index(cond)
        items: list[EfficiencyComparison] = []
        for label, values in classes.items():
            sf = np.isin(np.abs(tf.conditions[:, j]), values)
            sr = np.isin(np.abs(tr.conditions[:, j]), values)
            items.append(
                compare_efficiency(
                    f"{name}/efficiency/reco/pt/{cond}_{label}",
                    "gen $p_T$",
                    tf.conditions[sf, i],
                    fr[sf],
                    tr.conditions[sr, i],
                    rr[sr],
                    PT_EDGES.get(name, DEFAULT_PT_EDGES),
                    flash_groups=fg[sf],
                    full_groups=rg[sr],
                    ylabel="reconstruction efficiency",
                    title=f"{cond} {label}",
                )
            )
        return Plot(f"{name}/efficiency/pt_{cond}", "efficiency_grid", tuple(items))
    return None

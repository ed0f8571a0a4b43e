"""Binnings and labels of a validation: gen pT and |η| edges, flavour classes, axis labels.

The categories (bins of the main gen conditions) in which
:mod:`flashsim.validation.sections.collection` compares the targets of matched objects.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from flashsim.spec import CollectionSpec, Target

__all__ = [
    "DEFAULT_PT_EDGES",
    "FLAVOURS",
    "NARROW_ETA",
    "NICE",
    "PT_EDGES",
    "WIDE_ETA",
    "categories",
    "is_integer",
    "target_label",
]

PT_EDGES = {"Jet": [15, 20, 30, 45, 60, 80, 100, 130, 170, 220, 300, 400, 600, 1000]}
"""Gen pT bin edges [GeV] of the efficiency curves and responses, per collection."""
DEFAULT_PT_EDGES = [3, 5, 7, 10, 15, 20, 25, 30, 40, 50, 70, 100, 150, 300]
"""Gen pT bin edges [GeV] of a collection not in :data:`PT_EDGES`."""
WIDE_ETA = [0.0, 1.3, 2.5, 3.0, 5.0]
"""|eta| bin edges of jets (forward calorimeters included)."""
NARROW_ETA = [0.0, 0.9, 1.5, 2.5]
"""|eta| bin edges of objects within the tracker."""
FLAVOURS = {
    "hadronFlavour": {"b": (5,), "c": (4,), "light": (0,)},
    "isPrompt": {"prompt": (1,), "non-prompt": (0,)},
}
"""Classes of a flavour condition: label to the condition's absolute values."""
NICE = {"pt": "$p_T$", "eta": "$\\eta$", "phi": "$\\phi$", "mass": "mass"}
"""Axis names of the kinematic variables."""


def target_label(t: Target) -> str:
    """The axis label of a target: what the model learns (``pT reco / gen``, ...)."""
    nice = NICE.get(t.name, t.name)
    return {
        "ratio": f"{nice} reco / gen",
        "diff": f"{nice} reco − gen",
        "dphi": "$\\Delta\\phi$(reco, gen)",
        "met_parallel": "MET along gen MET − gen MET [GeV]",
        "met_perpendicular": "MET across gen MET [GeV]",
    }.get(t.kind, nice)


def is_integer(t: Target) -> bool:
    """Whether the target holds integers (histogrammed with one bin per value)."""
    return t.dtype.startswith(("int", "uint"))


def _edges_label(lo: float, hi: float, var: str) -> str:
    if lo <= 0:
        return f"{var} < {hi:g}"
    if np.isinf(hi):
        return f"{var} > {lo:g}"
    return f"{lo:g} < {var} < {hi:g}"


def categories(
    spec: CollectionSpec, cond_r: np.ndarray
) -> list[tuple[str, str, Callable[[np.ndarray], np.ndarray]]]:
    """Bins of the main conditions: (binning key, title, row selector on a condition table)."""
    names = [c.name for c in spec.conditions]
    out: list[tuple[str, str, Callable[[np.ndarray], np.ndarray]]] = []
    if "pt" in names:
        i = names.index("pt")
        q = np.quantile(cond_r[:, i], [0.25, 0.5, 0.75]) if len(cond_r) else np.array([])
        cuts = sorted({float(f"{v:.2g}") for v in q})
        edges = [0.0, *cuts, np.inf]
        for lo, hi in itertools.pairwise(edges):
            out.append(
                (
                    "gen_pt",
                    _edges_label(lo, hi, "gen $p_T$"),
                    lambda c, i=i, lo=lo, hi=hi: (c[:, i] >= lo) & (c[:, i] < hi),
                )
            )
    if "eta" in names:
        i = names.index("eta")
        wide = len(cond_r) and np.nanmax(np.abs(cond_r[:, i])) > 2.6
        edges = WIDE_ETA if wide else NARROW_ETA
        for lo, hi in itertools.pairwise(edges):
            out.append(
                (
                    "gen_abseta",
                    _edges_label(lo, hi, "|gen $\\eta$|"),
                    lambda c, i=i, lo=lo, hi=hi: (np.abs(c[:, i]) >= lo) & (np.abs(c[:, i]) < hi),
                )
            )
    for cond, classes in FLAVOURS.items():
        if cond in names:
            i = names.index(cond)
            for label, values in classes.items():
                out.append(
                    (
                        cond,
                        f"{cond} {label}",
                        lambda c, i=i, v=values: np.isin(np.abs(c[:, i]), v),
                    )
                )
            break
    return out

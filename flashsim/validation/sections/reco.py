"""Every reconstructed object of a collection, matched or not, as NanoAOD holds it.

Each reconstructed field both files have (``Jet_pt``, ``Jet_btagDeepFlavB``, ...) and the number
of objects per event, flash against full simulation; not gated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flashsim.validation.result import Plot
from flashsim.validation.validator import Validator

__all__ = ["reco_plots"]


def reco_plots(v: Validator, name: str, common: list[str]) -> tuple[dict[str, Any], list[Plot]]:
    """The metrics and figures of the reconstructed fields ``common`` of collection ``name``
    and of its multiplicity ``n<name>``; nothing when a file has no such object."""
    rf, rr = v.flash.reco[name], v.full.reco[name]
    fg, rg = v.flash.groups[rf["_event"]], v.full.groups[rr["_event"]]
    variables = [(field, f"{name}_{field}", False) for field in common]
    if not variables or len(rf["_event"]) == 0 or len(rr["_event"]) == 0:
        return {}, []
    fv = np.stack([rf[field] for field in common], axis=1)
    rv = np.stack([rr[field] for field in common], axis=1)
    metrics, _, plots = v.variable_rows(f"{name}/reco", variables, fv, rv, fg, rg, gated=False)
    counts_f = np.bincount(rf["_event"], minlength=v.flash.n_events)
    counts_r = np.bincount(rr["_event"], minlength=v.full.n_events)
    h = v.hist(
        f"{name}/reco/n{name}",
        f"n{name}",
        counts_f.astype(float),
        counts_r.astype(float),
        v.flash.groups,
        v.full.groups,
        integer=True,
    )
    plots.insert(0, Plot(f"{name}/reco/n{name}", "hist", (h,)))
    metrics[f"n{name}"] = {
        "mean_flash": float(counts_f.mean()),
        "mean_full": float(counts_r.mean()),
    }
    return metrics, plots

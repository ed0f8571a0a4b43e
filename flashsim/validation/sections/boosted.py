"""Boosted jets in the report: soft-drop mass peaks and boosted-tagger ROC curves.

For a collection with a ``msoftdrop`` target (``FatJet``), the matched jets are put in classes
by their generated jet (the same classes for the flash and the full sample, so the comparison is
like for like): top (a b hadron, gen mass 140-210 GeV), H->bb (a b hadron, 100-140 GeV),
W/Z->qq (no b hadron, 65-105 GeV) and QCD (no b hadron, gen mass below 50 GeV or gen pT
above 10 times the mass). Per signal class the soft-drop mass peak (the most populated 5 GeV
bin, refined by the median of a window around it, a few times) and its width (half the 16-84%
range of the masses within +-40% of the peak), flash against full with bootstrap errors; per
tagger target (``particleNet*``) the ROC curve of the signal class it names against QCD. The
numbers go to ``metrics.json``; not gated (yet).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flashsim.features import CollectionTable, model_targets
from flashsim.spec import CollectionSpec
from flashsim.validation.physics import tagger_roc, tagger_summary
from flashsim.validation.result import Plot, Section

__all__ = ["BOOSTED_CLASSES", "boosted_summary", "generated_classes", "mass_peak"]

#: Classes of generated large-radius jets: (needs a b hadron, gen mass low, high) in GeV.
BOOSTED_CLASSES: dict[str, tuple[bool, float, float]] = {
    "top": (True, 140.0, 210.0),
    "Hbb": (True, 100.0, 140.0),
    "Wqq": (False, 65.0, 105.0),
}

#: Which class a tagger target is for (by a word in its name), against QCD.
_TAGGER_CLASS = {"Hbb": "Hbb", "Tvs": "top", "Wvs": "Wqq"}


def mass_peak(mass: np.ndarray, width: float = 5.0) -> tuple[float, float]:
    """Peak position and width of a mass distribution (see the module docstring)."""
    mass = mass[np.isfinite(mass) & (mass > 10)]
    if len(mass) < 20:
        return float("nan"), float("nan")
    counts, edges = np.histogram(mass, bins=np.arange(10.0, mass.max() + width, width))
    smooth = np.convolve(counts, np.ones(3) / 3, mode="same")
    k = int(np.argmax(smooth))
    peak = 0.5 * (edges[k] + edges[k + 1])
    for _ in range(5):  # mean shift: the median of a window around the current peak
        near = mass[np.abs(mass - peak) < max(3 * width, 0.1 * peak)]
        if len(near) == 0:
            break
        peak = float(np.median(near))
    core = mass[np.abs(mass - peak) < 0.4 * peak]
    lo, hi = np.percentile(core, [16, 84]) if len(core) > 5 else (np.nan, np.nan)
    return peak, float(hi - lo) / 2


def _bootstrap(mass: np.ndarray, rng: np.random.Generator, n: int = 40) -> tuple[float, float]:
    """Bootstrap standard deviations of the peak position and width."""
    draws = [mass_peak(rng.choice(mass, len(mass))) for _ in range(n)]
    arr = np.array(draws, dtype=float)
    return float(np.nanstd(arr[:, 0])), float(np.nanstd(arr[:, 1]))


def generated_classes(
    has_b: np.ndarray, gen_mass: np.ndarray, gen_pt: np.ndarray
) -> dict[str, np.ndarray]:
    """Boolean masks of the :data:`BOOSTED_CLASSES` and of QCD (see the module docstring) for
    generated jets with a b hadron or not (``has_b``), their mass and pT [GeV]."""
    b = np.asarray(has_b, dtype=bool)
    out = {
        name: (b == need_b) & (gen_mass > lo) & (gen_mass < hi)
        for name, (need_b, lo, hi) in BOOSTED_CLASSES.items()
    }
    out["QCD"] = ~b & ((gen_mass < 50.0) | (gen_pt > 10 * gen_mass))
    return out


def _classes(table: CollectionTable, cond: list[str]) -> dict[str, np.ndarray]:
    """Boolean masks (over the matched objects) of the classes and of QCD."""
    matched = table.label > 0
    flav = np.abs(table.conditions[matched, cond.index("hadronFlavour")])
    gmass = table.conditions[matched, cond.index("mass")]
    gpt = table.conditions[matched, cond.index("pt")]
    return generated_classes(flav == 5, gmass, gpt)


def boosted_summary(
    cs: CollectionSpec, tf: CollectionTable, tr: CollectionTable, section: Section
) -> tuple[dict[str, Any], list[Plot]]:
    """The metrics and plots of the module docstring for collection ``cs`` (none without a
    ``msoftdrop`` target or without ``mass`` and ``hadronFlavour`` conditions)."""
    cond = [c.name for c in cs.conditions]
    tnames = [t.name for t in model_targets(cs.targets)]
    if "msoftdrop" not in tnames or not {"mass", "hadronFlavour", "pt"} <= set(cond):
        return {}, []
    rng = np.random.default_rng(20261207)
    name = cs.name
    k_msd = tnames.index("msoftdrop")
    cls_f, cls_r = _classes(tf, cond), _classes(tr, cond)
    out: dict[str, Any] = {}
    for label in BOOSTED_CLASSES:
        mf, mr = tf.targets[cls_f[label], k_msd], tr.targets[cls_r[label], k_msd]
        if min(len(mf), len(mr)) < 50:
            continue
        (pf, wf), (pr, wr) = mass_peak(mf), mass_peak(mr)
        (epf, ewf), (epr, ewr) = _bootstrap(mf, rng), _bootstrap(mr, rng)
        entry = {
            "n_flash": len(mf),
            "n_full": len(mr),
            "peak_flash": pf,
            "peak_full": pr,
            "peak_rel_diff": pf / pr - 1,
            "peak_rel_error": float(np.hypot(epf / pr, pf * epr / pr**2)),
            "width_flash": wf,
            "width_full": wr,
            "width_rel_diff": wf / wr - 1,
            "width_rel_error": float(np.hypot(ewf / wr, wf * ewr / wr**2)),
        }
        out[f"{name}/msoftdrop_peak/{label}"] = entry
        section.summary.append(
            (
                f"{name} soft-drop mass, {label} jets: peak; width (flash / full)",
                f"{pf:.1f} / {pr:.1f} GeV ({100 * entry['peak_rel_diff']:+.1f} "
                f"± {100 * entry['peak_rel_error']:.1f}%); {wf:.1f} / {wr:.1f} GeV "
                f"({100 * entry['width_rel_diff']:+.1f} ± {100 * entry['width_rel_error']:.1f}%)",
                None,
            )
        )
    plots: list[Plot] = []
    for score in (t for t in tnames if t.startswith("particleNet")):
        label = next((c for word, c in _TAGGER_CLASS.items() if word in score), None)
        if label is None:
            continue
        k = tnames.index(score)
        pair = []
        for t, c in ((tf, cls_f), (tr, cls_r)):
            use = c[label] | c["QCD"]
            if c[label].sum() < 20 or c["QCD"].sum() < 20:
                break
            pair.append(tagger_roc(t.targets[use, k], c[label][use]))
        if len(pair) < 2:
            continue
        summary = tagger_summary(*pair)
        out[f"{name}/{score}/{label}_vs_QCD"] = summary
        section.summary.append(
            (
                f"{name} {score}, {label} vs QCD: ROC AUC (flash / full)",
                f"{summary['auc_flash']:.3f} / {summary['auc_full']:.3f}",
                None,
            )
        )
        plots.append(
            Plot(f"physics/{name}_{score}_roc", "roc", ({"QCD": tuple(pair)}, f"{name} {score}"))
        )
    return out, plots

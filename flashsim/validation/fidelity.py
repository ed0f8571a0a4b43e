"""Fidelity of a flash sample against a full-simulation sample, collection by collection.

The numbers the flash-pipeline acceptance is stated in:

* **classifier two-sample AUC** on matched objects, with the generator conditions and the
  encoded targets (pT ratio, Δη, ...) as features;
* per target, the **1D Wasserstein distance** between flash and full, divided by the distance
  between two independent full samples of the same size. The events are split in halves A and
  B by parity: the ratio is W1(flash_A, full_B) / W1(full_A, full_B), so both distances compare
  independent samples of equal size and a perfect flash simulation gives a ratio near 1;
* **efficiency** (fraction of generated objects that are reconstructed) in bins of gen pT and
  η, compared with a χ²/ndf using the binomial errors of both samples.

Both files must hold the generator-level collections and the reconstructed collections with
their match index (``Jet_genJetIdx``), as ``flashsim run`` and ``flashsim refsim`` write them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from flashsim.features import (
    CollectionTable,
    FakesTable,
    collection_table,
    concat_tables,
    fakes_table,
    model_targets,
)
from flashsim.io import open_events, zip_collections
from flashsim.spec import CollectionSpec, PipelineSpec
from flashsim.validation.metrics import (
    binned_efficiency,
    classifier_two_sample_test,
    efficiency_chi2,
    wasserstein,
)

__all__ = ["collection_fidelity", "fakes_fidelity", "pipeline_fidelity", "read_tables"]

_PT_EDGES = {"Jet": np.geomspace(10, 1000, 16)}
_DEFAULT_PT_EDGES = np.geomspace(2, 300, 14)
_ETA_EDGES = {"Jet": np.linspace(-5, 5, 21)}
_DEFAULT_ETA_EDGES = np.linspace(-2.5, 2.5, 11)


def read_tables(
    path: str | os.PathLike[str],
    specs: Sequence[CollectionSpec],
    *,
    max_events: int | None = None,
    step_size: int = 20_000,
) -> dict[str, CollectionTable]:
    """Build the training-style table of each collection from a file (gen + reco)."""
    tree = open_events(path)
    parts: dict[str, list[Any]] = {s.name: [] for s in specs}
    parts.update({f"{s.name}.fakes": [] for s in specs if s.fakes is not None})
    try:
        entries = tree.num_entries if max_events is None else min(tree.num_entries, max_events)
        for start in range(0, entries, step_size):
            stop = min(start + step_size, entries)
            events = zip_collections(tree.arrays(entry_start=start, entry_stop=stop))
            for spec in specs:
                parts[spec.name].append(collection_table(events, spec, start))
                if spec.fakes is not None:
                    parts[f"{spec.name}.fakes"].append(fakes_table(events, spec, start))
    finally:
        tree.file.close()
    return {name: concat_tables(chunks) for name, chunks in parts.items()}


def fakes_fidelity(
    spec: CollectionSpec, flash: FakesTable, full: FakesTable, *, rng: np.random.Generator
) -> dict[str, Any]:
    """Unmatched (pile-up) objects: mean multiplicity and a classifier test of their properties."""
    assert spec.fakes is not None
    names = [t.name for t in model_targets(spec.fakes.targets)]
    result = classifier_two_sample_test(flash.targets, full.targets, names=names, rng=rng)
    return {
        "mean_count": {"flash": float(flash.count.mean()), "full": float(full.count.mean())},
        "auc": {"value": result.auc, "error": result.error, "n_test": result.n_test},
    }


def collection_fidelity(
    spec: CollectionSpec,
    flash: CollectionTable,
    full: CollectionTable,
    *,
    rng: np.random.Generator,
    max_rows: int = 200_000,
) -> dict[str, Any]:
    """The acceptance metrics of one collection (see the module docstring)."""
    names_c = [f.name for f in spec.conditions]
    names_t = [t.name for t in model_targets(spec.targets)]
    out: dict[str, Any] = {}
    fm, rm = flash.label > 0, full.label > 0
    features_flash = np.concatenate([flash.conditions[fm], flash.targets], axis=1)
    features_full = np.concatenate([full.conditions[rm], full.targets], axis=1)
    result = classifier_two_sample_test(
        features_flash,
        features_full,
        names=[f"gen_{n}" for n in names_c] + names_t,
        rng=rng,
        max_rows=max_rows,
    )
    out["auc"] = {"value": result.auc, "error": result.error, "n_test": result.n_test}
    out["auc"]["top_features"] = dict(list(result.feature_importance.items())[:4])
    flash_a = (flash.event[fm] % 2) == 0
    full_a = (full.event[rm] % 2) == 0
    w1: dict[str, Any] = {}
    for i, name in enumerate(names_t):
        f_a, r_a, r_b = flash.targets[flash_a, i], full.targets[full_a, i], full.targets[~full_a, i]
        f_a, r_a, r_b = (x[np.isfinite(x)] for x in (f_a, r_a, r_b))
        flash_dist, ref_dist = wasserstein(f_a, r_b), wasserstein(r_a, r_b)
        w1[name] = {
            "flash": flash_dist,
            "reference": ref_dist,
            "ratio": flash_dist / max(ref_dist, 1e-12),
        }
    out["w1"] = w1
    out["w1_max_ratio"] = max(v["ratio"] for v in w1.values())
    out["efficiency"] = _efficiencies(spec, flash, full, names_c)
    out["counts"] = {
        "flash_generated": len(flash.label),
        "flash_reconstructed": int(fm.sum()),
        "full_generated": len(full.label),
        "full_reconstructed": int(rm.sum()),
    }
    return out


def _efficiencies(
    spec: CollectionSpec, flash: CollectionTable, full: CollectionTable, names: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for var, edges in (
        ("pt", _PT_EDGES.get(spec.name, _DEFAULT_PT_EDGES)),
        ("eta", _ETA_EDGES.get(spec.name, _DEFAULT_ETA_EDGES)),
    ):
        if var not in names:
            continue
        i = names.index(var)
        a = binned_efficiency(flash.conditions[:, i], flash.label > 0, edges)
        b = binned_efficiency(full.conditions[:, i], full.label > 0, edges)
        chi2, ndf = efficiency_chi2(a, b)
        out[var] = {
            "chi2": chi2,
            "ndf": ndf,
            "chi2_ndf": chi2 / max(ndf, 1),
            "edges": edges.tolist(),
            "flash": np.nan_to_num(a.efficiency).tolist(),
            "full": np.nan_to_num(b.efficiency).tolist(),
        }
    return out


def pipeline_fidelity(
    spec: PipelineSpec,
    flash_path: str | os.PathLike[str],
    full_path: str | os.PathLike[str],
    *,
    collections: Sequence[str] | None = None,
    max_events: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """:func:`collection_fidelity` for every (or the named) collection of ``spec``."""
    specs = [spec.collections[n] for n in (collections or list(spec.collections))]
    flash = read_tables(flash_path, specs, max_events=max_events)
    full = read_tables(full_path, specs, max_events=max_events)
    rng = np.random.default_rng(seed)
    out = {}
    for s in specs:
        out[s.name] = collection_fidelity(s, flash[s.name], full[s.name], rng=rng)
        if s.fakes is not None:
            key = f"{s.name}.fakes"
            out[s.name]["fakes"] = fakes_fidelity(s, flash[key], full[key], rng=rng)
    return out

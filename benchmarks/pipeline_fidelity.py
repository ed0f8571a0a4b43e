"""The fidelity table of the flash pipeline on held-out refsim samples (one command, issue #21).

For each full-simulation (refsim) file: simulate its generator-level events with the flash
pipeline ``--replicas`` times (one ``--oversample`` run, replicas split by ``FlashSim_replica``),
then compare flash with full, with statistical errors (the gen event is the independent unit):

* per collection (and the event-level quantities): classifier AUC (gen conditions + every reco
  field both files have) on one replica; W1 of every reco field over its statistical floor,
  per replica (median and min-max over replicas, and the worst field); reconstruction
  efficiency vs gen pT and η, χ²/ndf, unpaired (``efficiency_chi2``, as ``flashsim validate``)
  and paired (the same gen objects in both files: :func:`~flashsim.validation.physics_checks.
  paired_efficiency_chi2`, ~1 for a perfect simulation where the unpaired one is far below);
* unmatched objects (pile-up jets, ``Jet_genJetIdx == -1``; fake leptons): multiplicity per
  event χ²/ndf (one bin per count up to the largest), mean per event, AUC of their properties;
* b tagging: cuts at the full sample's 85/70/55% b-jet efficiency (jets pT > 30 GeV,
  |η| < 2.4), b efficiency, c and light mistag rates flash vs full with the pull;
* MET: χ²/ndf of MET_pt, widths along and across the generated MET (std and 68% half-width of
  MET·ĝ − GenMET and of the perpendicular component), flash/full ratios;
* exact tells (:func:`flashsim.validation.validate.branch_tells_of_files`);
* optionally (``--amplification TRUTH.root``) how many full-simulation events K flash replicas
  of N gen events are worth (Butter et al., arXiv:2008.06545).

    python benchmarks/pipeline_fidelity.py samples/ttbar_valid.root samples/dy_valid.root \
        --model models/cms_like --replicas 3 --json fidelity.json [--markdown]

Tables go to stdout (text; markdown too with ``--markdown``), progress to stderr, every number
to ``--json``: ``{"model", "settings", "files": {<file stem>: {"events", "flash_events",
"replicas", "flash_seconds", "compare_seconds", "collections": {<Jet|Muon|...|event>: {"fields",
"only_full", "only_flash", "objects_per_event", "auc", "w1": {<field>: {"median", "min", "max",
"ratios", "w1", "floor"}}, "worst_field", "efficiency": {"pt"|"eta": {..., "paired"}}}},
"unmatched": {<collection>: {"mean_per_event", "max_count", "multiplicity", "auc"}}, "btag":
{"flavour_from", "working_points": {"85"|"70"|"55": {"cut", "b"|"c"|"light": {"flash",
"flash_error", "full", "full_error", "pull"}}}}, "met": {"MET": {"pt_chi2", "flash", "full",
"ratios"}}, "tells": {"n_findings", "findings"}}}, "amplification": {"quantities": {<q>:
{"ladder", "full_first_n", "flash": {<K>: {"distance", "equivalent_full_events",
"amplification", "extrapolated"}}}}}, "seconds"}``. Mean values with errors are
``[value, error]`` pairs. Statistical tests between flash and full of the same gen events are
conservative where gen-level fluctuations are common to both (W1 floors, unpaired χ²).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.stats

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fidelity_tables import (
    FileObjects,
    btag_rates,
    btag_working_points,
    finish,
    jets_for_btag,
    num,
    pm,
    read_objects,
    render_table,
    say,
)

from flashsim.bundle import bundle_hash, default_model_path, load_bundle
from flashsim.runner import run_file
from flashsim.validation.metrics import (
    binned_efficiency,
    classifier_two_sample_test,
    efficiency_chi2,
    wasserstein,
    wasserstein_floor,
)
from flashsim.validation.physics_checks import (
    equivalent_events,
    grouped_mean,
    histogram_chi2,
    histogram_distance,
    met_components,
    multiplicity_edges,
    paired_efficiency_chi2,
    pull,
    quantile_edges,
    ratio_with_error,
    resolution_widths,
)
from flashsim.validation.validate import branch_tells_of_files

_ETA_EDGES = np.linspace(-5.0, 5.0, 21)
_MIN_ROWS = 50


class Settings:
    def __init__(self, args: argparse.Namespace) -> None:
        self.max_rows = args.max_objects
        self.threads = args.threads
        self.rng = np.random.default_rng(args.seed)
        self.floor_rounds = args.floor_rounds


# -- pieces of one comparison ---------------------------------------------------------------


def _auc(
    f: np.ndarray,
    r: np.ndarray,
    names: list[str],
    fg: np.ndarray,
    rg: np.ndarray,
    s: Settings,
) -> dict[str, Any]:
    if min(len(f), len(r)) < _MIN_ROWS:
        return {"skipped": f"too few rows ({len(f)} flash, {len(r)} full)"}
    res = classifier_two_sample_test(
        f,
        r,
        names=names,
        groups_a=fg,
        groups_b=rg,
        rng=s.rng,
        max_rows=s.max_rows,
        n_jobs=s.threads,
    )
    return {
        "value": res.auc,
        "error": res.error,
        "n_train": res.n_train,
        "n_test": res.n_test,
        "top_features": dict(list(res.feature_importance.items())[:4]),
    }


def _w1(
    flash_values: dict[str, np.ndarray],
    flash_replica: dict[str, np.ndarray],
    full_values: dict[str, np.ndarray],
    n_replicas: int,
    s: Settings,
) -> dict[str, Any]:
    """W1 over its floor per field and replica: per field the ratios, median, min and max."""
    out: dict[str, Any] = {}
    for name, r in full_values.items():
        r = r[np.isfinite(r)]
        f_all, rep = flash_values[name], flash_replica[name]
        ratios, w1s, floors = [], [], []
        for k in range(n_replicas):
            f = f_all[(rep == k) & np.isfinite(f_all)]
            if f.size == 0 or r.size == 0:
                continue
            w = wasserstein(f, r)
            floor, _ = wasserstein_floor(f, r, n_rounds=s.floor_rounds, rng=s.rng)
            ratio = w / floor if floor > 0 else (0.0 if w == 0 else float("inf"))
            ratios.append(ratio)
            w1s.append(w)
            floors.append(floor)
        if ratios:
            out[name] = {
                "median": float(np.median(ratios)),
                "min": float(np.min(ratios)),
                "max": float(np.max(ratios)),
                "ratios": ratios,
                "w1": w1s,
                "floor": floors,
            }
    return out


def _worst(w1: dict[str, Any]) -> str | None:
    return max(w1, key=lambda k: w1[k]["median"]) if w1 else None


def _efficiency(
    xf: np.ndarray,
    pf: np.ndarray,
    gf: np.ndarray,
    xr: np.ndarray,
    pr: np.ndarray,
    gr: np.ndarray,
    edges: np.ndarray,
) -> dict[str, Any]:
    ef = binned_efficiency(xf, pf, edges, groups=gf)
    er = binned_efficiency(xr, pr, edges, groups=gr)
    chi2, ndf = efficiency_chi2(ef, er)
    return {
        "chi2": chi2,
        "ndf": ndf,
        "chi2_ndf": chi2 / ndf if ndf else float("nan"),
        "p_value": float(scipy.stats.chi2.sf(chi2, ndf)) if ndf else float("nan"),
        "edges": edges.tolist(),
        "flash": ef.efficiency.tolist(),
        "flash_error": ef.error.tolist(),
        "full": er.efficiency.tolist(),
        "full_error": er.error.tolist(),
    }


def _gen_keys(file: FileObjects, gen_event: np.ndarray) -> np.ndarray:
    """Per gen object, ``(gen entry, index among the event's selected gen objects)`` as one
    integer: the same gen object has the same key in a flash and a full file."""
    rows = np.arange(gen_event.size)
    _, first = np.unique(gen_event, return_index=True)
    starts = np.zeros(int(gen_event.max(initial=-1)) + 1, dtype=np.int64)
    starts[gen_event[first]] = first
    return file.groups[gen_event] * 10_000 + (rows - starts[gen_event])


def _flash_fraction(flash: FileObjects, f: Any, full: FileObjects, r: Any) -> np.ndarray:
    """Per full gen object, the fraction of flash replicas that reconstructed it (NaN if the
    flash file lacks it)."""
    kf, kr = _gen_keys(flash, f.gen_event), _gen_keys(full, r.gen_event)
    keys, inverse = np.unique(kf, return_inverse=True)
    frac = np.bincount(inverse, weights=f.gen_reco >= 0) / np.bincount(inverse)
    pos = np.clip(np.searchsorted(keys, kr), 0, max(keys.size - 1, 0))
    found = keys.size > 0
    return (
        np.where(found & (keys[pos] == kr), frac[pos], np.nan)
        if found
        else np.full(kr.size, np.nan)
    )


def _pt_edges(gen_pt: np.ndarray, bins: int = 12) -> np.ndarray:
    x = gen_pt[np.isfinite(gen_pt)]
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
    edges[-1] = np.nextafter(edges[-1], np.inf)
    return edges


def compare_collection(
    name: str, flash: FileObjects, full: FileObjects, s: Settings
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The collection row (matched objects, all reco fields, efficiencies) and its unmatched
    block."""
    f, r = flash.collections[name], full.collections[name]
    common = sorted(set(f.fields) & set(r.fields))
    out: dict[str, Any] = {
        "fields": common,
        "only_full": sorted(set(r.fields) - set(f.fields)),
        "only_flash": sorted(set(f.fields) - set(r.fields)),
    }
    nf, nr = f.per_event(flash.n_events), r.per_event(full.n_events)
    out["objects_per_event"] = {
        "flash": grouped_mean(nf, flash.groups),
        "full": grouped_mean(nr, full.groups),
    }
    say(f"  {name}: classifier on matched objects ({len(common)} reco fields + gen conditions)")
    rows_f = (f.gen_reco >= 0) & (flash.replica[f.gen_event] == 0)
    rows_r = r.gen_reco >= 0

    def table(objs: Any, rows: np.ndarray) -> np.ndarray:
        reco = np.stack([objs.fields[c][objs.gen_reco[rows]] for c in common], axis=1)
        return np.concatenate([objs.gen_cond[rows], reco], axis=1)

    out["auc"] = _auc(
        table(f, rows_f),
        table(r, rows_r),
        [f"gen_{c}" for c in f.cond_names] + common,
        flash.groups[f.gen_event[rows_f]],
        full.groups[r.gen_event[rows_r]],
        s,
    )
    say(f"  {name}: W1 ratios over {flash.n_replicas} replicas")
    mult = f"n{name}"
    fv = {c: f.fields[c] for c in common} | {mult: nf.astype(float)}
    fr = dict.fromkeys(common, flash.replica[f.event]) | {mult: flash.replica}
    rv = {c: r.fields[c] for c in common} | {mult: nr.astype(float)}
    out["w1"] = _w1(fv, fr, rv, flash.n_replicas, s)
    out["worst_field"] = _worst(out["w1"])
    eff = {}
    fraction = _flash_fraction(flash, f, full, r)
    for var, edges in (("pt", None), ("eta", _ETA_EDGES)):
        if var not in f.cond_names:
            continue
        i = f.cond_names.index(var)
        xf, xr = f.gen_cond[:, i], r.gen_cond[:, i]
        if edges is None:
            edges = _pt_edges(xr)
        eff[var] = _efficiency(
            xf,
            f.gen_reco >= 0,
            flash.groups[f.gen_event],
            xr,
            r.gen_reco >= 0,
            full.groups[r.gen_event],
            edges,
        )
        eff[var]["paired"] = paired_efficiency_chi2(
            xr, r.gen_reco >= 0, fraction, edges, groups=full.groups[r.gen_event]
        )
    out["efficiency"] = eff

    # Unmatched objects (match index -1: pile-up jets, fake leptons).
    uf, ur = f.match < 0, r.match < 0
    cf, cr = f.per_event(flash.n_events, uf), r.per_event(full.n_events, ur)
    unmatched: dict[str, Any] = {
        "mean_per_event": {
            "flash": grouped_mean(cf, flash.groups),
            "full": grouped_mean(cr, full.groups),
        },
        "max_count": {"flash": int(cf.max(initial=0)), "full": int(cr.max(initial=0))},
    }
    chi = histogram_chi2(cf, cr, multiplicity_edges(cf, cr), groups_a=flash.groups)
    unmatched["multiplicity"] = chi.to_dict()
    say(f"  {name}: unmatched objects ({int(ur.sum())} in full)")
    first = uf & (flash.replica[f.event] == 0)
    unmatched["auc"] = _auc(
        np.stack([f.fields[c][first] for c in common], axis=1),
        np.stack([r.fields[c][ur] for c in common], axis=1),
        common,
        flash.groups[f.event[first]],
        full.groups[r.event[ur]],
        s,
    )
    return out, unmatched


def compare_event(flash: FileObjects, full: FileObjects, s: Settings) -> dict[str, Any]:
    """Event-level reco scalars (MET, ρ, vertices, ...): classifier and W1 ratios."""
    common = sorted(set(flash.event_fields) & set(full.event_fields))
    out: dict[str, Any] = {
        "fields": common,
        "only_full": sorted(set(full.event_fields) - set(flash.event_fields)),
        "only_flash": sorted(set(flash.event_fields) - set(full.event_fields)),
    }
    if not common:
        return out
    say(f"  event: classifier ({len(common)} reco fields + gen conditions)")
    gnames = [n for n in flash.event_gen_names if n in full.event_gen_names]

    with_phi = "GenMET_phi" in flash.gen_met and "GenMET_phi" in full.gen_met

    def table(file: FileObjects, rows: np.ndarray) -> np.ndarray:
        gen = [file.event_gen[:, file.event_gen_names.index(n)] for n in gnames]
        extra = [file.gen_met["GenMET_phi"]] if with_phi else []
        cols = [*gen, *extra, *(file.event_fields[c] for c in common)]
        return np.stack(cols, axis=1)[rows]

    first = flash.replica == 0
    out["auc"] = _auc(
        table(flash, first),
        table(full, np.ones(full.n_events, dtype=bool)),
        gnames + (["gen_GenMET_phi"] if with_phi else []) + common,
        flash.groups[first],
        full.groups,
        s,
    )
    out["w1"] = _w1(
        {c: flash.event_fields[c] for c in common},
        dict.fromkeys(common, flash.replica),
        {c: full.event_fields[c] for c in common},
        flash.n_replicas,
        s,
    )
    out["worst_field"] = _worst(out["w1"])
    return out


def compare_btag(flash: FileObjects, full: FileObjects) -> dict[str, Any]:
    jets = jets_for_btag(flash, full)
    if jets is None:
        return {"skipped": "no Jet_btagDeepFlavB in both files"}
    jf, jr = jets
    n_b = int(np.sum(jr.flavour == 5))
    out: dict[str, Any] = {
        "flavour_from": jr.flavour_source,
        "jets": {"flash": int(jf.score.size), "full": int(jr.score.size)},
        "b_jets_full": n_b,
    }
    if n_b < 20:
        out["skipped"] = f"only {n_b} b jets in the full sample"
        return out
    wps = {}
    for wp, (cut, achieved) in btag_working_points(jr).items():
        rf, rr = btag_rates(jf, cut), btag_rates(jr, cut)
        wps[wp] = {"cut": cut, "full_b_efficiency_at_cut": achieved}
        for label in ("b", "c", "light"):
            (ef, sf), (er, sr) = rf[label], rr[label]
            wps[wp][label] = {
                "flash": ef,
                "flash_error": sf,
                "full": er,
                "full_error": sr,
                "pull": pull(ef, sf, er, sr),
            }
    out["working_points"] = wps
    return out


def compare_met(flash: FileObjects, full: FileObjects, s: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for prefix in ("MET", "PuppiMET"):
        pt, phi = f"{prefix}_pt", f"{prefix}_phi"
        have = all(k in x.event_fields for k in (pt, phi) for x in (flash, full))
        if not have:
            continue
        m: dict[str, Any] = {}
        edges = quantile_edges(full.event_fields[pt], 20)
        m["pt_chi2"] = histogram_chi2(
            flash.event_fields[pt], full.event_fields[pt], edges, groups_a=flash.groups
        ).to_dict()
        if {"GenMET_pt", "GenMET_phi"} <= set(full.gen_met) and set(flash.gen_met) == set(
            full.gen_met
        ):
            for role, file in (("flash", flash), ("full", full)):
                par, perp = met_components(
                    file.event_fields[pt],
                    file.event_fields[phi],
                    file.gen_met["GenMET_pt"],
                    file.gen_met["GenMET_phi"],
                )
                m[role] = {
                    "parallel": resolution_widths(par, groups=file.groups, rng=s.rng),
                    "perpendicular": resolution_widths(perp, groups=file.groups, rng=s.rng),
                }
            ratios = {}
            for comp in ("parallel", "perpendicular"):
                for w in ("std", "w68"):
                    a, b = m["flash"][comp], m["full"][comp]
                    ratios[f"{comp}_{w}"] = ratio_with_error(
                        a[w], a[f"{w}_error"], b[w], b[f"{w}_error"]
                    )
                a, b = m["flash"][comp], m["full"][comp]
                ratios[f"{comp}_mean_pull"] = pull(
                    a["mean"], a["mean_error"], b["mean"], b["mean_error"]
                )
            m["ratios"] = ratios
        out[prefix] = m
    return out


def compare_file(
    pipeline: Any, path: Path, tmp: Path, args: argparse.Namespace, s: Settings
) -> dict[str, Any]:
    spec = pipeline.spec
    flash_path = tmp / f"flash_{path.name}"
    say(f"{path.name}: flash simulation, {args.replicas} replicas")
    start = time.monotonic()
    run_file(
        pipeline,
        path,
        flash_path,
        seed=args.seed,
        oversample=args.replicas,
        progress=False,
        max_events=args.max_events,
        overwrite=True,
    )
    flash_seconds = time.monotonic() - start
    start = time.monotonic()
    say(f"{path.name}: reading")
    full = read_objects(path, spec, max_events=args.max_events)
    flash = read_objects(flash_path, spec)
    result: dict[str, Any] = {
        "events": full.n_events,
        "flash_events": flash.n_events,
        "replicas": flash.n_replicas,
        "flash_seconds": flash_seconds,
        "collections": {},
        "unmatched": {},
    }
    for name in spec.collections:
        if name in flash.collections and name in full.collections:
            result["collections"][name], result["unmatched"][name] = compare_collection(
                name, flash, full, s
            )
    result["collections"]["event"] = compare_event(flash, full, s)
    say(f"{path.name}: b tagging, MET")
    result["btag"] = compare_btag(flash, full)
    result["met"] = compare_met(flash, full, s)
    if not args.no_tells:
        say(f"{path.name}: exact tells")
        tells, _ = branch_tells_of_files(
            flash_path, path, max_events=None, flash_replicas=flash.n_replicas
        )
        # The flash file holds all replicas of the first max_events full events.
        result["tells"] = {
            "n_findings": tells["n_findings"],
            "branches_compared": len(tells["branches_compared"]),
            "findings": [
                {k: t.get(k) for k in ("branch", "kind", "flash_value", "full_value")}
                for t in tells["findings"]
            ],
        }
    result["compare_seconds"] = time.monotonic() - start
    if args.keep_flash is not None:
        args.keep_flash.mkdir(parents=True, exist_ok=True)
        flash_path.replace(args.keep_flash / flash_path.name)
    else:
        flash_path.unlink()
    return result


# -- amplification --------------------------------------------------------------------------

_AMP_QUANTITIES = ("jet_response", "btag", "MET_pt")


def amplification_quantities(path: Path, max_events: int | None = None) -> dict[str, Any]:
    """Per quantity, its values and each value's event row; and the events' gen entries and
    replicas: the jet pT response Jet_pt/GenJet_pt of matched jets, btagDeepFlavB of jets with
    pT > 30 GeV and |η| < 2.4, MET_pt."""
    import awkward as ak
    import uproot

    with uproot.open(path) as f:
        tree = f["Events"]
        keys = set(tree.keys())
        names = [
            "Jet_pt",
            "Jet_eta",
            "Jet_genJetIdx",
            "Jet_btagDeepFlavB",
            "GenJet_pt",
            "MET_pt",
            "FlashSim_genEntry",
            "FlashSim_replica",
        ]
        a = tree.arrays([n for n in names if n in keys], entry_stop=max_events)
    n = len(a)
    events = np.arange(n)
    jet_ev = np.repeat(events, np.asarray(ak.num(a.Jet_pt)))
    idx = a.Jet_genJetIdx
    ok = (idx >= 0) & (idx < ak.num(a.GenJet_pt))
    gen_pt = a.GenJet_pt[ak.where(ok, idx, 0)]
    response = np.asarray(ak.flatten(a.Jet_pt / gen_pt), dtype=np.float64)
    matched = np.asarray(ak.flatten(ok), dtype=bool)
    pt, eta = np.asarray(ak.flatten(a.Jet_pt)), np.asarray(ak.flatten(a.Jet_eta))
    acc = (pt > 30) & (np.abs(eta) < 2.4)
    out = {
        "n_events": n,
        "groups": np.asarray(a.FlashSim_genEntry) if "FlashSim_genEntry" in a.fields else events,
        "replica": np.asarray(a.FlashSim_replica)
        if "FlashSim_replica" in a.fields
        else np.zeros(n, dtype=np.int64),
        "jet_response": (response[matched], jet_ev[matched]),
        "MET_pt": (np.asarray(a.MET_pt, dtype=np.float64), events),
    }
    if "Jet_btagDeepFlavB" in a.fields:
        score = np.asarray(ak.flatten(a.Jet_btagDeepFlavB), dtype=np.float64)
        out["btag"] = (score[acc], jet_ev[acc])
    return out


def _equivalent(n: np.ndarray, d: np.ndarray, target: float) -> tuple[float, bool]:
    try:
        return equivalent_events(n, d, target)
    except ValueError:  # fewer than two usable rungs
        return float("nan"), True


def _ladder(n_total: int, n_min: int) -> list[int]:
    sizes = []
    n = n_total
    while n >= n_min and len(sizes) < 10:
        sizes.append(n)
        n //= 2
    return sorted(sizes)


def amplification(
    pipeline: Any, valid: Path, truth: Path, tmp: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Distances to the truth histogram of n full events (a ladder) and of K flash replicas of
    N gen events; the full-event equivalent of each K."""
    rng = np.random.default_rng(args.seed + 7)
    say(f"amplification: reading truth {truth.name}")
    t = amplification_quantities(truth)
    v = amplification_quantities(valid)
    n_valid = v["n_events"]
    n_gen = args.amplification_events or max(n_valid // 8, 1)
    ks = [k for k in (1, 2, 4, 8) if k <= args.amplification_max_k]
    say(f"amplification: flash, {max(ks)} replicas of {n_gen} events of {valid.name}")
    flash_path = tmp / f"amplification_{valid.name}"
    run_file(
        pipeline,
        valid,
        flash_path,
        seed=args.seed + 1000,
        oversample=max(ks),
        progress=False,
        max_events=n_gen,
        overwrite=True,
    )
    fl = amplification_quantities(flash_path)
    flash_path.unlink()
    out: dict[str, Any] = {
        "truth": str(truth),
        "truth_events": t["n_events"],
        "validation": str(valid),
        "validation_events": n_valid,
        "gen_events": n_gen,
        "quantities": {},
    }
    sizes = _ladder(n_valid, max(n_gen // 8, 20))
    for q in _AMP_QUANTITIES:
        if q not in t or q not in v or q not in fl:
            continue
        edges = quantile_edges(t[q][0], args.amplification_bins)
        truth_p = np.histogram(t[q][0], edges)[0] / t[q][0].size
        values, ev = v[q]
        ladder = []
        for n in sizes:
            perm = rng.permutation(n_valid)
            reps = min(args.amplification_repeats, n_valid // n)
            ds = []
            for j in range(reps):
                chosen = np.zeros(n_valid, dtype=bool)
                chosen[perm[j * n : (j + 1) * n]] = True
                ds.append(histogram_distance(values[chosen[ev]], edges, truth_p))
            ladder.append(
                {"n": n, "distance": float(np.mean(ds)), "spread": float(np.std(ds)), "reps": reps}
            )
        ln = np.array([x["n"] for x in ladder], dtype=float)
        ld = np.array([x["distance"] for x in ladder])
        first_n = histogram_distance(values[ev < n_gen], edges, truth_p)
        fv, fe = fl[q]
        rep = fl["replica"][fe]
        per_k = {}
        for k in ks:
            d = histogram_distance(fv[rep < k], edges, truth_p)
            n_eq, extrapolated = _equivalent(ln, ld, d)
            per_k[str(k)] = {
                "distance": d,
                "equivalent_full_events": n_eq,
                "amplification": n_eq / n_gen,
                "extrapolated": extrapolated,
            }
        n_eq_full, _ = _equivalent(ln, ld, first_n)
        out["quantities"][q] = {
            "bins": int(edges.size - 1),
            "ladder": ladder,
            "full_first_n": {"distance": first_n, "equivalent_full_events": n_eq_full},
            "flash": per_k,
        }
    return out


# -- output ---------------------------------------------------------------------------------


def _ratio_text(w: dict[str, Any] | None) -> str:
    if not w:
        return "-"
    return f"{w['median']:.2f} [{w['min']:.2f}-{w['max']:.2f}]"


def _eff_text(e: dict[str, Any] | None) -> str:
    if not e:
        return "-"
    return f"{num(e['chi2_ndf'])} / {num(e['paired']['chi2_ndf'])} ({e['paired']['ndf']})"


def print_tables(results: dict[str, Any], *, markdown: bool) -> None:
    files = results["files"]
    rows = []
    for proc, res in files.items():
        for coll, m in res["collections"].items():
            auc = m.get("auc", {})
            w1 = m.get("w1", {})
            worst = m.get("worst_field")
            med = [v["median"] for v in w1.values() if np.isfinite(v["median"])]
            eff = m.get("efficiency", {})
            per = m.get("objects_per_event")
            rows.append(
                [
                    proc,
                    coll,
                    f"{per['flash'][0]:.2f} / {per['full'][0]:.2f}" if per else "-",
                    pm(auc.get("value"), auc.get("error")),
                    num(float(np.median(med))) if med else "-",
                    f"{worst} {_ratio_text(w1.get(worst))}" if worst else "-",
                    _eff_text(eff.get("pt")),
                    _eff_text(eff.get("eta")),
                ]
            )
    print("\n## Per collection (AUC: gen conditions + all common reco fields, one replica)\n")
    print(
        render_table(
            [
                "process",
                "collection",
                "objects/event flash / full",
                "AUC",
                "W1/floor median (fields)",
                "worst field: W1/floor median [min-max over replicas]",
                "eff vs gen pT χ²/ndf: unpaired / paired",
                "eff vs gen η χ²/ndf: unpaired / paired",
            ],
            rows,
            markdown=markdown,
        )
    )
    if not markdown:
        print("\nW1/floor per field (median over replicas):")
        for proc, res in files.items():
            for coll, m in res["collections"].items():
                w1 = m.get("w1", {})
                text = ", ".join(f"{k} {v['median']:.2f}" for k, v in w1.items())
                print(f"  {proc} {coll}: {text}")
                if m.get("only_full"):
                    print(f"  {proc} {coll}: not simulated: {', '.join(m['only_full'])}")

    rows = []
    for proc, res in files.items():
        for coll, u in res["unmatched"].items():
            mf, mr = u["mean_per_event"]["flash"], u["mean_per_event"]["full"]
            chi = u["multiplicity"]
            auc = u.get("auc", {})
            rows.append(
                [
                    proc,
                    coll,
                    pm(mf[0], mf[1]),
                    pm(mr[0], mr[1]),
                    f"{u['max_count']['flash']} / {u['max_count']['full']}",
                    f"{num(chi['chi2_ndf'])} ({chi['ndf']}, p {num(chi['p_value'], 3)})",
                    pm(auc.get("value"), auc.get("error")),
                ]
            )
    print("\n## Unmatched objects (Jet: pile-up jets, genJetIdx = -1; leptons: fakes)\n")
    print(
        render_table(
            [
                "process",
                "collection",
                "per event flash",
                "per event full",
                "max flash / full",
                "multiplicity χ²/ndf (ndf, p)",
                "AUC (properties)",
            ],
            rows,
            markdown=markdown,
        )
    )

    rows = []
    for proc, res in files.items():
        bt = res["btag"]
        for wp, w in bt.get("working_points", {}).items():
            row = [proc, f"{wp}% (cut {w['cut']:.4f})"]
            for label in ("b", "c", "light"):
                x = w[label]
                digits = 3 if label != "light" else 4
                row.append(
                    f"{pm(x['flash'], x['flash_error'], digits)} / "
                    f"{pm(x['full'], x['full_error'], digits)} ({num(x['pull'], 1)})"
                )
            rows.append(row)
    if rows:
        print("\n## b tagging (btagDeepFlavB ≥ cut; jets pT > 30 GeV, |η| < 2.4): flash / full"
              " (pull)\n")  # fmt: skip
        print(
            render_table(
                ["process", "WP (full b eff)", "b efficiency", "c mistag", "light mistag"],
                rows,
                markdown=markdown,
            )
        )

    rows = []
    for proc, res in files.items():
        for prefix, m in res["met"].items():
            chi = m["pt_chi2"]
            r = m.get("ratios", {})

            def rt(key: str, r: dict[str, Any] = r) -> str:
                v = r.get(key)
                return pm(v[0], v[1], 3) if v else "-"

            rows.append(
                [
                    proc,
                    prefix,
                    f"{num(chi['chi2_ndf'])} (p {num(chi['p_value'], 3)})",
                    f"{num(m['flash']['parallel']['w68'], 1)} / "
                    f"{num(m['full']['parallel']['w68'], 1)}"
                    if "flash" in m
                    else "-",
                    rt("parallel_w68"),
                    rt("parallel_std"),
                    rt("perpendicular_w68"),
                    rt("perpendicular_std"),
                    num(r.get("parallel_mean_pull"), 1),
                ]
            )
    if rows:
        print("\n## MET: MET·ĝ − GenMET (∥) and across (⊥); widths flash/full\n")
        print(
            render_table(
                [
                    "process",
                    "MET",
                    "pT χ²/ndf (p)",
                    "∥ w68 flash / full [GeV]",
                    "∥ w68 ratio",
                    "∥ std ratio",
                    "⊥ w68 ratio",
                    "⊥ std ratio",
                    "∥ mean pull",
                ],
                rows,
                markdown=markdown,
            )
        )

    rows = []
    for proc, res in files.items():
        t = res.get("tells")
        if t is None:
            continue
        which = sorted({f"{x['branch']} ({x['kind']})" for x in t["findings"]})
        rows.append([proc, str(t["n_findings"]), str(t["branches_compared"]), ", ".join(which)])
    if rows:
        print("\n## Exact tells\n")
        print(
            render_table(
                ["process", "findings", "branches compared", "where"], rows, markdown=markdown
            )
        )

    amp = results.get("amplification")
    if amp:
        rows = []
        for q, m in amp["quantities"].items():
            row = [q, f"{m['full_first_n']['equivalent_full_events']:.0f}"]
            for x in m["flash"].values():
                n_eq = x["equivalent_full_events"]
                mark = "*" if x["extrapolated"] else ""
                row.append(f"{n_eq:.0f}{mark} (×{x['amplification']:.2f})")
            rows.append(row)
        ks = list(next(iter(amp["quantities"].values()))["flash"]) if amp["quantities"] else []
        print(
            f"\n## Amplification: full events equivalent to K flash replicas of "
            f"{amp['gen_events']} gen events ({Path(amp['validation']).name}; truth "
            f"{amp['truth_events']} events; * extrapolated beyond the ladder)\n"
        )
        print(
            render_table(
                ["quantity", f"{amp['gen_events']} full events"] + [f"K = {k}" for k in ks],
                rows,
                markdown=markdown,
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="refsim files (gen + reco)")
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--replicas", type=int, default=3, help="flash replicas (at least 3)")
    parser.add_argument("--max-events", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-objects", type=int, default=50_000,
                        help="rows of both samples together per classifier test")  # fmt: skip
    parser.add_argument("--threads", type=int, default=1, help="XGBoost threads")
    parser.add_argument("--floor-rounds", type=int, default=5,
                        help="permutations per W1 floor")  # fmt: skip
    parser.add_argument("--no-tells", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="write all numbers here")
    parser.add_argument("--markdown", action="store_true", help="print markdown tables too")
    parser.add_argument("--keep-flash", type=Path, default=None,
                        help="keep the flash files in this folder")  # fmt: skip
    amp = parser.add_argument_group("amplification (arXiv:2008.06545)")
    amp.add_argument(
        "--amplification",
        type=Path,
        default=None,
        metavar="TRUTH.root",
        help="a large full-simulation file of the process of --amplification-of",
    )
    amp.add_argument(
        "--amplification-of",
        type=Path,
        default=None,
        help="the validation file it goes with (default: the first file)",
    )
    amp.add_argument(
        "--amplification-events",
        type=int,
        default=None,
        help="N gen events simulated (default: the validation file's / 8)",
    )
    amp.add_argument("--amplification-max-k", type=int, default=8)
    amp.add_argument("--amplification-bins", type=int, default=20)
    amp.add_argument("--amplification-repeats", type=int, default=8)
    args = parser.parse_args()
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    if args.replicas < 3:
        say(f"warning: {args.replicas} replicas; min-max over replicas needs at least 3")

    begin = time.monotonic()
    pipeline = load_bundle(args.model)
    model_hash = bundle_hash(args.model)[:12]
    print(f"model {args.model} ({model_hash}), {args.replicas} flash replicas, seed {args.seed}")
    s = Settings(args)
    results: dict[str, Any] = {
        "model": {"path": str(args.model), "hash": model_hash},
        "settings": {
            "replicas": args.replicas,
            "seed": args.seed,
            "max_events": args.max_events,
            "max_objects": args.max_objects,
            "floor_rounds": args.floor_rounds,
        },
        "files": {},
    }
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for path in args.files:
            key = path.stem
            results["files"][key] = compare_file(pipeline, path, tmp, args, s)
            say(f"{path.name}: done")
        if args.amplification is not None:
            valid = args.amplification_of or args.files[0]
            results["amplification"] = amplification(pipeline, valid, args.amplification, tmp, args)
    finish(results, print_tables, markdown=args.markdown, json_path=args.json, begin=begin)


if __name__ == "__main__":
    main()

"""The particle identification of a pipeline with a ``pid`` section, flash against full, per
true species: what an analyst of the LHCb-like pipeline selects on.

For the matched objects of the PID collection (:mod:`flashsim.validation.pid_sample`: the long
tracks of ``pipelines/lhcb_like.yaml``), per true species of the spec (electron, muon, pion,
kaon, proton):

* the classifier two-sample test on (gen log p, gen eta, isMuon, the DLLs), per species and for
  all species together (the species a feature), gated as ``auc``;
* each PID variable's distribution (histograms, Wasserstein distance against its floor, KS),
  gated as ``w1_ratio`` and ``ks``;
* per PID cut (``isMuon``, ``DLLK > 0``, ...; :mod:`flashsim.validation.metrics.pid`), its
  efficiency on every species vs track p and eta: the identification efficiency on the species
  it selects, the misidentification rate on the others, with binomial errors by gen event and
  a chi2/ndf per curve gated as ``eff_chi2``, and the inclusive efficiency as a flash/full
  ratio with its error (a data/MC-style scale factor) and the most significant difference
  in a bin (flash - full, its error, the bin).

A data-driven PID model cannot follow the truth more closely than its calibration sample's
statistics: with large validation samples the curves' chi2/ndf measures that limit too
(``benchmarks/lhcb_pipeline.py`` adds the calibration's errors; ``docs/lhcb.md``), so read it
with the size of the differences beside it.

Checks are placed at ``<collection>/pid`` (the all-species classifier),
``<collection>/pid/<species>`` (its classifier), ``<collection>/pid/<species>/<field>``
(distances) and ``<collection>/pid/<cut key>/<species>/<p|eta>`` (curves, e.g.
``Track/pid/DLLK_gt_0/pion/p``), so ``--fail-above 'eff_chi2[Track/pid/*]=3'`` gates them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from flashsim.spec import PipelineSpec, SpeciesSpec
from flashsim.validation.comparison import EfficiencyComparison, compare_efficiency
from flashsim.validation.gate import Check
from flashsim.validation.metrics import binned_efficiency
from flashsim.validation.metrics.pid import PidCut, default_pid_cuts, parse_pid_cut
from flashsim.validation.pid_sample import PidTable, pid_fields, read_pid_table
from flashsim.validation.result import Plot, PlotGroup, Section
from flashsim.validation.validator import MIN_OBJECTS, Validator

__all__ = ["ETA_EDGES", "P_EDGES", "pid_section"]

P_EDGES = (2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 50.0, 70.0, 100.0, 150.0, 200.0)
"""Track momentum bins [GeV] of the PID curves: the RICH thresholds (pion about 2.6 GeV, kaon
9.3, proton 17.7 in the LHCb RICH1 gas) fall in separate bins."""
ETA_EDGES = tuple(float(x) for x in np.linspace(2.0, 5.0, 13))
"""Track pseudorapidity bins of the PID curves (the LHCb acceptance)."""
_MIN_BIN = 30
"""Fewest entries a bin needs in both files for its difference to be quoted (as in
``benchmarks/lhcb_pipeline.py``; the chi-square's minimum is 10)."""
_IN_RANGE = 0.9
"""Fewest share of the full sample's values inside the default bins for them to be used."""


def _edges(values: np.ndarray, default: Sequence[float]) -> np.ndarray:
    """``default`` if it holds most of ``values``, else 12 quantile bins of them."""
    values = values[np.isfinite(values)]
    inside = (values >= default[0]) & (values < default[-1])
    if values.size == 0 or inside.mean() >= _IN_RANGE:
        return np.asarray(default, dtype=np.float64)
    edges = np.unique(np.quantile(values, np.linspace(0, 1, 13)))
    return edges if edges.size >= 2 else np.array([values.min() - 0.5, values.max() + 0.5])


def pid_section(
    v: Validator, spec: PipelineSpec, cuts: Sequence[str] | None = None
) -> tuple[dict[str, Any], Section]:
    """The PID metrics and section of a pipeline with a ``pid`` section (module docstring).

    Arguments:
        v: the validation (its files are read again, for the PID fields only).
        spec: the pipeline spec; ``spec.pid`` must be set.
        cuts: PID cuts (``"DLLK>0"``, ``"isMuon"``); default: ``isMuon`` and each DLL > 0.
    Raises:
        InputError: a file lacks the PID branches.
        ConfigurationError: a cut is not a cut on a PID field.
    """
    assert spec.pid is not None
    name = spec.pid.collection
    fields = pid_fields(spec)
    chosen = default_pid_cuts(fields) if cuts is None else [parse_pid_cut(c, fields) for c in cuts]
    tf = read_pid_table(v.flash.path, spec, max_events=v.flash.n_events, role="flash")
    tr = read_pid_table(v.full.path, spec, max_events=v.full.n_events, role="full-simulation")
    section = Section(f"{name}: particle identification per true species", f"{name}_pid")
    out: dict[str, Any] = {"fields": fields, "cuts": {c.key: c.label for c in chosen}}
    _classifier(v, f"{name}/pid", tf, tr, fields, out, section, "all species")
    p_edges, eta_edges = _edges(tr.p, P_EDGES), _edges(tr.eta, ETA_EDGES)
    species_out: dict[str, Any] = {}
    hists: dict[str, list[Any]] = {f: [] for f in fields if f != "isMuon"}
    curves: dict[tuple[str, str], list[EfficiencyComparison]] = {}
    for s in spec.pid.species:
        sf, sr = tf.select(np.isin(tf.pdg, s.pdg_id)), tr.select(np.isin(tr.pdg, s.pdg_id))
        entry: dict[str, Any] = {"counts": {"flash": len(sf.pdg), "full": len(sr.pdg)}}
        species_out[s.name] = entry
        if min(len(sf.pdg), len(sr.pdg)) < MIN_OBJECTS:
            entry["skipped"] = f"too few tracks ({len(sf.pdg)} flash, {len(sr.pdg)} full)"
            continue
        _classifier(v, f"{name}/pid/{s.name}", sf, sr, fields, entry, section, f"true {s.name}")
        entry["variables"] = _distributions(v, f"{name}/pid/{s.name}", s, sf, sr, hists, section)
        entry["cuts"] = {}
        for cut in chosen:
            entry["cuts"][cut.key] = _cut_curves(
                v, name, s, cut, sf, sr, {"p": p_edges, "eta": eta_edges}, curves, section
            )
    out["species"] = species_out
    section.groups.append(
        PlotGroup(
            "PID variables per true species",
            [Plot(f"{name}/pid/{f}", "hist", tuple(items)) for f, items in hists.items() if items],
        )
    )
    for var, what in (("p", "track momentum"), ("eta", "track pseudorapidity")):
        plots = [
            Plot(f"{name}/pid/{c.key}/{var}", "efficiency", tuple(curves[c.key, var]))
            for c in chosen
            if curves.get((c.key, var))
        ]
        group = PlotGroup(f"PID efficiency and misidentification vs {what}", plots, var == "p")
        section.groups.append(group)
    return out, section


def _features(t: PidTable, fields: list[str], with_species: bool) -> tuple[np.ndarray, list[str]]:
    """The classifier's columns: gen log p, gen eta (the conditions, equal in both files when
    flash was simulated from the full file's gen events), the species, the PID fields."""
    columns = [np.log(np.maximum(t.gen_p, 1e-6)), t.gen_eta]
    names = ["gen_log_p", "gen_eta"]
    if with_species:
        columns.append(t.pdg.astype(np.float64))
        names.append("species")
    columns += [t.values[f] for f in fields]
    return np.column_stack(columns), names + list(fields)


def _classifier(
    v: Validator,
    where: str,
    tf: PidTable,
    tr: PidTable,
    fields: list[str],
    out: dict[str, Any],
    section: Section,
    what: str,
) -> None:
    """The PID-inclusive classifier two-sample test of ``tf`` against ``tr`` (one replica per
    gen event of an oversampled flash file, rows grouped by gen event) into ``out["auc"]``."""
    first = tf.replica == 0
    all_species = what == "all species"
    xf, names = _features(tf, fields, all_species)
    xr, _ = _features(tr, fields, all_species)
    features = "gen p, η, species, " if all_species else "gen p, η, "
    v.two_sample(
        where,
        xf[first],
        xr,
        names,
        (tf.groups[first], tr.groups),
        out=out,
        section=section,
        label=f"PID classifier AUC, {what} ({features}{', '.join(fields)})",
    )


def _distributions(
    v: Validator,
    where: str,
    s: SpeciesSpec,
    sf: PidTable,
    sr: PidTable,
    hists: dict[str, list[Any]],
    section: Section,
) -> dict[str, Any]:
    """Distances (gated) and histograms of each continuous PID field of one species; the
    histograms go to ``hists`` (one figure per field, a panel per species)."""
    names = list(hists)
    variables = [(f, f, False) for f in names]
    f_values = np.column_stack([sf.values[f] for f in names])
    r_values = np.column_stack([sr.values[f] for f in names])
    metrics, rows, plots = v.variable_rows(
        where, variables, f_values, r_values, sf.groups, sr.groups, gated=True
    )
    for row in rows:
        row["variable"] = f"{s.name}: {row['variable']}"
    section.table += rows
    for f, plot in zip(names, plots, strict=True):
        comp = plot.items[0]
        comp.title = f"true {s.name}"
        hists[f].append(comp)
    return metrics


def _cut_curves(
    v: Validator,
    name: str,
    s: SpeciesSpec,
    cut: PidCut,
    sf: PidTable,
    sr: PidTable,
    edges: dict[str, np.ndarray],
    curves: dict[tuple[str, str], list[EfficiencyComparison]],
    section: Section,
) -> dict[str, Any]:
    """The efficiency of ``cut`` on species ``s`` vs p and eta (gated chi2/ndf), its inclusive
    value as a flash/full ratio, and one summary row."""
    signal = cut.signal_pdg is not None and cut.signal_pdg in s.pdg_id
    role = "efficiency" if signal else "misID rate"
    pf, pr = cut.passes(sf.values[cut.field]), cut.passes(sr.values[cut.field])
    out: dict[str, Any] = {"role": role}
    checks = []
    for var, e in edges.items():
        xf, xr = getattr(sf, var), getattr(sr, var)
        where = f"{name}/pid/{cut.key}/{s.name}/{var}"
        comp = compare_efficiency(
            where,
            "track p [GeV]" if var == "p" else "track $\\eta$",
            xf,
            pf,
            xr,
            pr,
            e,
            flash_groups=sf.groups,
            full_groups=sr.groups,
            ylabel=f"{cut.label} {role}",
            title=f"true {s.name}",
        )
        chi2, ndf = comp.chi2()
        out[var] = {
            "chi2": chi2,
            "ndf": ndf,
            "chi2_ndf": chi2 / max(ndf, 1),
            "most_significant_difference": _most_significant_difference(comp, var),
            "edges": e.tolist(),
            "flash": np.nan_to_num(comp.flash.efficiency).round(5).tolist(),
            "flash_error": np.nan_to_num(comp.flash.error).round(5).tolist(),
            "full": np.nan_to_num(comp.full.efficiency).round(5).tolist(),
            "full_error": np.nan_to_num(comp.full.error).round(5).tolist(),
        }
        check = Check("eff_chi2", where, chi2 / max(ndf, 1))
        v.checks.append(check)
        checks.append((check, ndf, var))
        curves.setdefault((cut.key, var), []).append(comp)
    out["inclusive"] = inclusive = _inclusive(sf, pf, sr, pr, edges["p"])
    worst, ndf, var = max(checks, key=lambda c: c[0].value)
    top = max(
        (out[v]["most_significant_difference"] for v in edges),
        key=lambda d: abs(d["value"]) / d["error"] if d["error"] > 0 else 0.0,
    )
    text = (
        f"flash {inclusive['flash']:.4f} ± {inclusive['flash_error']:.4f}, full "
        f"{inclusive['full']:.4f} ± {inclusive['full_error']:.4f}, flash/full "
        f"{inclusive['ratio']:.3f} ± {inclusive['ratio_error']:.3f}; most significant difference "
        f"{top['value']:+.3f} ± {top['error']:.3f} ({top['bin']}); worst χ²/ndf "
        f"{worst.value:.2f} (vs {var}, {ndf} bins)"
    )
    section.summary.append((f"{cut.label}, true {s.name} ({role})", text, worst))
    return out


def _most_significant_difference(comp: EfficiencyComparison, var: str) -> dict[str, Any]:
    """Flash - full in the bin (of at least :data:`_MIN_BIN` entries in both) where it is the
    most significant (largest difference / error), with its error and the bin; 0 and no bin if
    none has enough entries."""
    f, r = comp.flash, comp.full
    used = np.flatnonzero((f.total >= _MIN_BIN) & (r.total >= _MIN_BIN))
    if used.size == 0:
        return {"value": 0.0, "error": float("nan"), "bin": f"no bin of {_MIN_BIN} entries"}
    pull = (f.efficiency[used] - r.efficiency[used]) / np.hypot(f.error[used], r.error[used])
    i = used[np.argmax(np.abs(pull))]
    unit = " GeV" if var == "p" else ""
    return {
        "value": float(f.efficiency[i] - r.efficiency[i]),
        "error": float(np.hypot(f.error[i], r.error[i])),
        "bin": f"{var} {f.edges[i]:g}-{f.edges[i + 1]:g}{unit}",
    }


def _inclusive(
    sf: PidTable, pf: np.ndarray, sr: PidTable, pr: np.ndarray, p_edges: np.ndarray
) -> dict[str, float]:
    """The efficiency over the whole p range in both files and their ratio, with errors."""
    lo_hi = np.array([p_edges[0], p_edges[-1]])
    f = binned_efficiency(sf.p, pf, lo_hi, groups=sf.groups)
    r = binned_efficiency(sr.p, pr, lo_hi, groups=sr.groups)
    ef, er, sf_, sr_ = (float(x[0]) for x in (f.efficiency, r.efficiency, f.error, r.error))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = ef / er if er > 0 else float("nan")
        error = abs(ratio) * float(np.hypot(sf_ / ef, sr_ / er)) if ef > 0 and er > 0 else np.nan
    return {
        "flash": ef,
        "flash_error": sf_,
        "full": er,
        "full_error": sr_,
        "ratio": ratio,
        "ratio_error": float(error),
    }

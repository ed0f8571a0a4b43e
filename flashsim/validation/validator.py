"""The comparisons of a validation, one method per part of the report.

:class:`_Validator` compares a flash and a full-simulation sample (both read with
:func:`~flashsim.validation.samples.read_sample`): each collection (matched objects,
efficiencies, all reconstructed branches, unmatched objects), the event quantities and the
physics summaries, and collects the gated numbers (:class:`~flashsim.validation.gate.Check`).
:func:`~flashsim.validation.validate.validate_samples` drives it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from flashsim.exceptions import InputError
from flashsim.features import model_targets
from flashsim.spec import CollectionSpec, PipelineSpec
from flashsim.validation.binning import (
    _DEFAULT_PT_EDGES,
    _FLAVOURS,
    _NARROW_ETA,
    _NICE,
    _PT_EDGES,
    _WIDE_ETA,
    _categories,
    _integer,
    _target_label,
)
from flashsim.validation.comparison import (
    HistComparison,
    compare_efficiency,
    compare_hist,
    distance_metrics,
)
from flashsim.validation.gate import Check
from flashsim.validation.metrics import (
    classifier_two_sample_test,
    correlation_difference,
)
from flashsim.validation.physics import response_curve, tagger_roc, tagger_summary
from flashsim.validation.result import Plot, PlotGroup, Section
from flashsim.validation.samples import ValidationSample

_MIN_OBJECTS = 6
"""Fewest reconstructed objects per collection and file that a validation can compare."""


class _Validator:
    def __init__(
        self,
        flash: ValidationSample,
        full: ValidationSample,
        *,
        rng: np.random.Generator,
        max_rows: int,
        classifier: bool,
    ) -> None:
        self.flash, self.full = flash, full
        self.rng, self.max_rows, self.classifier = rng, max_rows, classifier
        self.scale = full.n_events / flash.n_events
        self.checks: list[Check] = []

    # -- shared pieces ---------------------------------------------------------------------
    def distances(
        self, f: np.ndarray, r: np.ndarray, fg: np.ndarray, rg: np.ndarray
    ) -> dict[str, float]:
        return distance_metrics(
            f,
            r,
            flash_groups=fg,
            full_groups=rg,
            rng=self.rng,
            flash_replicas=self.flash.n_replicas,
        )

    def hist(
        self,
        name: str,
        label: str,
        f: np.ndarray,
        r: np.ndarray,
        fg: np.ndarray,
        rg: np.ndarray,
        **kw: Any,
    ) -> HistComparison:
        return compare_hist(
            name, label, f, r, flash_groups=fg, full_groups=rg, scale=self.scale, **kw
        )

    def variable_rows(
        self,
        prefix: str,
        variables: Sequence[tuple[str, str, bool]],
        f_values: np.ndarray,
        r_values: np.ndarray,
        fg: np.ndarray,
        rg: np.ndarray,
        *,
        gated: bool,
    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[Plot]]:
        """Metrics, table rows and inclusive plots of columns ``variables`` (name, label, int)."""
        metrics: dict[str, Any] = {}
        rows, plots = [], []
        for i, (name, label, integer) in enumerate(variables):
            where = f"{prefix}/{name}"
            m = self.distances(f_values[:, i], r_values[:, i], fg, rg)
            h = self.hist(where, label, f_values[:, i], r_values[:, i], fg, rg, integer=integer)
            chi2, ndf = h.chi2()
            m["hist_chi2"], m["hist_ndf"] = chi2, ndf
            metrics[name] = m
            rows.append({"variable": name, "where": where, **m})
            if gated:
                self.checks += [
                    Check("w1_ratio", where, m["w1_ratio"]),
                    Check("ks", where, m["ks"]),
                ]
            plots.append(Plot(where, "hist", (h,)))
        return metrics, rows, plots

    def two_sample(
        self,
        where: str,
        f: np.ndarray,
        r: np.ndarray,
        names: list[str],
        groups: tuple[np.ndarray, np.ndarray],
        *,
        out: dict[str, Any],
        section: Section,
        label: str,
    ) -> None:
        """Classifier test into ``out["auc"]`` and a summary row; rows grouped by gen event.

        Grouping keeps a flash object and the full object of the same gen object on the same
        side of the train/test split.
        """
        if not self.classifier:
            return
        if min(len(f), len(r)) < 50:
            out["auc"] = {"skipped": f"too few rows ({len(f)} flash, {len(r)} full)"}
            return
        res = classifier_two_sample_test(
            f,
            r,
            names=names,
            groups_a=groups[0],
            groups_b=groups[1],
            rng=self.rng,
            max_rows=self.max_rows,
        )
        check = Check("auc", where, res.auc)
        self.checks.append(check)
        out["auc"] = {
            "value": res.auc,
            "error": res.error,
            "n_test": res.n_test,
            "top_features": dict(list(res.feature_importance.items())[:4]),
        }
        section.summary.append((label, f"{res.auc:.3f} ± {res.error:.3f}", check))

    # -- a collection ------------------------------------------------------------------------
    def collection(self, spec: CollectionSpec, common: list[str]) -> tuple[dict, list[Section]]:
        name = spec.name
        tf, tr = self.flash.tables[name], self.full.tables[name]
        fg_all, rg_all = self.flash.groups[tf.event], self.full.groups[tr.event]
        fm, rm = tf.label > 0, tr.label > 0
        fg, rg = fg_all[fm], rg_all[rm]
        cond_names = [c.name for c in spec.conditions]
        targets = model_targets(spec.targets)
        variables = [(t.name, _target_label(t), _integer(t)) for t in targets]
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
        first = self.flash.replica[tf.event[fm]] == 0
        cf, cr = tf.conditions[fm], tr.conditions[rm]
        self.two_sample(
            name,
            np.concatenate([cf, tf.targets], axis=1)[first],
            np.concatenate([cr, tr.targets], axis=1),
            [f"gen_{c}" for c in cond_names] + [t.name for t in targets],
            (fg[first], rg),
            out=out,
            section=section,
            label="classifier AUC (gen conditions + targets)",
        )
        out["targets"], section.table, inclusive = self.variable_rows(
            name, variables, tf.targets, tr.targets, fg, rg, gated=True
        )
        if len(targets) > 1:
            fewest = min(len(tf.targets), len(tr.targets))
            if fewest < _MIN_OBJECTS:
                msg = (
                    f"only {fewest} reconstructed {name} objects in one of the files: too few to "
                    f"compare (at least {_MIN_OBJECTS}); validate on more events, or leave {name} "
                    "out with --collections"
                )
                raise InputError(msg)
            diff = correlation_difference(tf.targets, tr.targets)
            half = (rg % 2) == 0
            floor = correlation_difference(tr.targets[half], tr.targets[~half])
            out["correlation"] = {
                "max_abs_diff": float(np.max(np.abs(diff))),
                "floor": float(np.max(np.abs(floor))),
                "names": [t.name for t in targets],
                "diff": diff.round(4).tolist(),
            }
            check = Check("corr", name, out["correlation"]["max_abs_diff"])
            self.checks.append(check)
            section.summary.append(
                (
                    "largest |Δ correlation| of targets (full vs full floor)",
                    f"{check.value:.3f} ({out['correlation']['floor']:.3f})",
                    check,
                )
            )
            inclusive.append(
                Plot(f"{name}/correlation", "correlation", (diff, [t.name for t in targets]))
            )
        section.groups.append(PlotGroup("Targets of matched objects (inclusive)", inclusive))

        # Targets in bins of the main conditions.
        cats = _categories(spec, cr)
        for key in dict.fromkeys(k for k, _, _ in cats):
            group = PlotGroup(f"Targets in bins of {key}", open=False)
            chosen = [(title, sel) for k, title, sel in cats if k == key]
            for i, (tname, label, integer) in enumerate(variables):
                edges = inclusive[i].items[0].edges
                items = []
                for title, sel in chosen:
                    sf, sr = sel(cf), sel(cr)
                    items.append(
                        self.hist(
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
            section.groups.append(group)

        # Efficiencies.
        out["efficiency"], eff_group = self.efficiencies(spec, tf, tr, fg_all, rg_all, section)
        section.groups.insert(1, eff_group)

        # All reconstructed objects, NanoAOD branches.
        out["reco"], reco_plots = self.reco_branches(name, common)
        section.groups.append(
            PlotGroup(f"All reconstructed {name} (NanoAOD branches)", reco_plots, open=False)
        )
        sections = [section]
        if spec.fakes is not None and name in self.flash.fakes:
            out["fakes"], fakes_section = self.fakes(spec)
            sections.append(fakes_section)
        return out, sections

    def efficiencies(
        self,
        spec: CollectionSpec,
        tf: Any,
        tr: Any,
        fg: np.ndarray,
        rg: np.ndarray,
        section: Section,
    ) -> tuple[dict[str, Any], PlotGroup]:
        name = spec.name
        names = [c.name for c in spec.conditions]
        group = PlotGroup("Efficiencies")
        out: dict[str, Any] = {}
        curves: list[tuple[str, str, np.ndarray, np.ndarray, str]] = []
        fr, rr = tf.label > 0, tr.label > 0
        curves.append(("reco", "reconstruction efficiency", fr, rr, ""))
        if spec.efficiency.class_field is not None:
            top = len(spec.efficiency.class_values)
            value = spec.efficiency.class_values[-1]
            curves.append(
                (
                    "id",
                    f"{spec.efficiency.class_field} = {value} efficiency",
                    tf.label == top,
                    tr.label == top,
                    "",
                )
            )
        for var, edges in (
            ("pt", _PT_EDGES.get(name, _DEFAULT_PT_EDGES)),
            ("eta", _WIDE_ETA if name == "Jet" else _NARROW_ETA),
        ):
            if var not in names:
                continue
            i = names.index(var)
            xf, xr = tf.conditions[:, i], tr.conditions[:, i]
            if var == "eta":
                edges = sorted({-e for e in edges} | set(edges))
            items = []
            for kind, ylabel, pf, pr, _ in curves:
                comp = compare_efficiency(
                    f"{name}/efficiency/{kind}/{var}",
                    f"gen {_NICE.get(var, var)}",
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
                self.checks.append(check)
                section.summary.append(
                    (f"{ylabel} vs gen {var}: χ²/ndf", f"{check.value:.2f} ({ndf} bins)", check)
                )
                items.append(comp)
            group.plots.append(Plot(f"{name}/efficiency/{var}", "efficiency", tuple(items)))
        # Reconstruction efficiency vs gen pT per flavour.
        if "pt" in names:
            i = names.index("pt")
            for cond, classes in _FLAVOURS.items():
                if cond not in names:
                    continue
                j = names.index(cond)
                items = []
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
                            _PT_EDGES.get(name, _DEFAULT_PT_EDGES),
                            flash_groups=fg[sf],
                            full_groups=rg[sr],
                            ylabel="reconstruction efficiency",
                            title=f"{cond} {label}",
                        )
                    )
                group.plots.append(
                    Plot(f"{name}/efficiency/pt_{cond}", "efficiency_grid", tuple(items))
                )
                break
        return out, group

    def reco_branches(self, name: str, common: list[str]) -> tuple[dict[str, Any], list[Plot]]:
        rf, rr = self.flash.reco[name], self.full.reco[name]
        fg, rg = self.flash.groups[rf["_event"]], self.full.groups[rr["_event"]]
        variables = [(v, f"{name}_{v}", False) for v in common]
        if not variables or len(rf["_event"]) == 0 or len(rr["_event"]) == 0:
            return {}, []
        fv = np.stack([rf[v] for v in common], axis=1)
        rv = np.stack([rr[v] for v in common], axis=1)
        metrics, _, plots = self.variable_rows(
            f"{name}/reco", variables, fv, rv, fg, rg, gated=False
        )
        counts_f = np.bincount(rf["_event"], minlength=self.flash.n_events)
        counts_r = np.bincount(rr["_event"], minlength=self.full.n_events)
        h = self.hist(
            f"{name}/reco/n{name}",
            f"n{name}",
            counts_f.astype(float),
            counts_r.astype(float),
            self.flash.groups,
            self.full.groups,
            integer=True,
        )
        plots.insert(0, Plot(f"{name}/reco/n{name}", "hist", (h,)))
        metrics[f"n{name}"] = {
            "mean_flash": float(counts_f.mean()),
            "mean_full": float(counts_r.mean()),
        }
        return metrics, plots

    def fakes(self, spec: CollectionSpec) -> tuple[dict[str, Any], Section]:
        assert spec.fakes is not None
        name = spec.name
        ff, fr = self.flash.fakes[name], self.full.fakes[name]
        section = Section(f"{name}: unmatched (pile-up, fake) objects", f"{name}_fakes")
        targets = model_targets(spec.fakes.targets)
        variables = [
            (t.name, f"unmatched {name} {_NICE.get(t.name, t.name)}", _integer(t)) for t in targets
        ]
        fge, rge = self.flash.groups[ff.event], self.full.groups[fr.event]
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
        count = self.hist(
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
        first = np.repeat(self.flash.replica[ff.event] == 0, ff.count)
        self.two_sample(
            f"{name}/fakes",
            ff.targets[first],
            fr.targets,
            [t.name for t in targets],
            (fg[first], rg),
            out=out,
            section=section,
            label="classifier AUC (properties)",
        )
        out["targets"], section.table, plots = self.variable_rows(
            f"{name}/fakes", variables, ff.targets, fr.targets, fg, rg, gated=True
        )
        section.groups.append(
            PlotGroup("Multiplicity and properties", [Plot(count.name, "hist", (count,)), *plots])
        )
        return out, section

    # -- event level -----------------------------------------------------------------------
    def event(self, spec: PipelineSpec) -> tuple[dict[str, Any], Section]:
        assert spec.event is not None
        assert self.flash.event is not None
        ef, er = self.flash.event, self.full.event
        assert er is not None
        targets = model_targets(spec.event.targets)
        names = [c.name for c in spec.event.conditions]
        section = Section("Event quantities (MET, ρ, vertices)", "event")
        fg, rg = self.flash.groups[ef.event], self.full.groups[er.event]
        out: dict[str, Any] = {}
        first = self.flash.replica[ef.event] == 0
        self.two_sample(
            "event",
            np.concatenate([ef.conditions, ef.targets], axis=1)[first],
            np.concatenate([er.conditions, er.targets], axis=1),
            [f"gen_{n}" for n in names] + [t.name for t in targets],
            (fg[first], rg),
            out=out,
            section=section,
            label="classifier AUC (gen conditions + targets)",
        )
        variables = [(t.name, _target_label(t), _integer(t)) for t in targets]
        out["targets"], section.table, plots = self.variable_rows(
            "event", variables, ef.targets, er.targets, fg, rg, gated=True
        )
        section.groups.append(PlotGroup("Event-level targets", plots))
        return out, section

    # -- physics summaries -----------------------------------------------------------------
    def physics(self, spec: PipelineSpec, names: Sequence[str]) -> tuple[dict[str, Any], Section]:
        section = Section("Physics summaries", "physics")
        out: dict[str, Any] = {}
        plots: list[Plot] = []
        for name in names:
            cs = spec.collections[name]
            cond = [c.name for c in cs.conditions]
            tnames = [t.name for t in model_targets(cs.targets)]
            tf, tr = self.flash.tables[name], self.full.tables[name]
            fm, rm = tf.label > 0, tr.label > 0
            score = next((t for t in tnames if "btag" in t.lower()), None)
            if score is not None and "hadronFlavour" in cond:
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
                            f"{name} {score}, b vs {bkg}: ROC AUC; mistag at 70% b efficiency "
                            "(flash / full)",
                            f"{summary['auc_flash']:.3f} / {summary['auc_full']:.3f}; "
                            f"{summary['mistag_at_0.7_flash']:.4f} / "
                            f"{summary['mistag_at_0.7_full']:.4f}",
                            None,
                        )
                    )
                plots.append(
                    Plot(f"physics/{name}_{score}_roc", "roc", (curves, f"{name} {score}"))
                )
            ratio = next((t for t in model_targets(cs.targets) if t.kind == "ratio"), None)
            if ratio is not None and ratio.name in cond:
                i, k = cond.index(ratio.name), tnames.index(ratio.name)
                edges = _PT_EDGES.get(name, _DEFAULT_PT_EDGES)
                fg, rg = self.flash.groups[tf.event[fm]], self.full.groups[tr.event[rm]]
                cf = response_curve(tf.conditions[fm, i], tf.targets[:, k], edges, groups=fg)
                cr = response_curve(tr.conditions[rm, i], tr.targets[:, k], edges, groups=rg)
                out[f"{name}/{ratio.name}_response"] = {
                    "edges": list(map(float, edges)),
                    "median_flash": np.nan_to_num(cf.median).tolist(),
                    "median_full": np.nan_to_num(cr.median).tolist(),
                    "resolution_flash": np.nan_to_num(cf.resolution).tolist(),
                    "resolution_full": np.nan_to_num(cr.resolution).tolist(),
                }
                plots.append(
                    Plot(f"physics/{name}_response", "response", (cf, cr, f"{name} {ratio.name}"))
                )
        labels = {
            "mjj": "leading dijet mass [GeV] (jets pT > 30 GeV)",
            "mll": "m(ℓℓ) [GeV] (leading opposite-charge same-flavour pair)",
            "HT": "HT [GeV] (jets pT > 30 GeV)",
            "nJet30": "jets with pT > 30 GeV",
            "MET_pt": "MET [GeV]",
        }
        derived = [k for k in labels if k in self.flash.derived and k in self.full.derived]
        for key in derived:
            f, r = self.flash.derived[key], self.full.derived[key]
            if not (np.isfinite(f).any() and np.isfinite(r).any()):
                continue
            m = self.distances(f, r, self.flash.groups, self.full.groups)
            edges = None
            if key in ("mjj", "mll", "HT", "MET_pt"):
                fin = np.concatenate([f[np.isfinite(f)], r[np.isfinite(r)]])
                hi = np.quantile(fin, 0.99)
                lo = 60.0 if key == "mll" and hi > 100 else 0.0
                edges = np.linspace(lo, 120.0 if key == "mll" and hi > 100 else hi, 41)
            h = self.hist(
                f"physics/{key}",
                labels[key],
                f,
                r,
                self.flash.groups,
                self.full.groups,
                edges=edges,
                integer=key == "nJet30",
            )
            out[key] = m
            section.table.append({"variable": key, "where": f"physics/{key}", **m})
            plots.append(Plot(f"physics/{key}", "hist", (h,)))
        section.groups.append(PlotGroup("b tagging, response, derived quantities", plots))
        return out, section

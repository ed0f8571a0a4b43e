"""The AGC ttbar lepton+jets analysis (benchmarks/agc_processor.py) run unchanged on a
full-simulation file and on its flash file; yields and observables compared.

    python benchmarks/agc_ttbar.py full.root flash.root [--btag-wp 0.2783] [--json out.json]

Prints, full vs flash:

* the cutflow (events, exactly one lepton, ≥ 4 jets, 4j1b, 4j2b) with Poisson errors and the
  pull (full − flash) / √(err_full² + err_flash²);
* per observable histogram (fixed bins, under- and overflow included) the χ²/ndf and p-value of
  the normalised shapes (Gagunashvili's unweighted-unweighted test) and of the absolute yields
  (Poisson errors of both samples; bins empty in both skipped);
* selected jets and b-tagged jets of the ≥ 4-jet events by ``Jet_hadronFlavour`` (b-tag rates),
  and the fraction of selected jets with a generator match (``Jet.matched_gen``).

Statistics: the two samples are treated as independent. A flash file made from the full file's
own generator events is positively correlated with it, so the errors of the differences are
overestimated and the pulls and χ² conservative. A flash file with k replicas per generated event
(``flashsim run --oversample k``) is scaled by 1/k; its replicas are correlated, so its errors
are then underestimated (by up to √k). With few events per bin the χ² p-values are approximate.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any

import uproot

from flashsim.runner import REPLICA_BRANCH

sys.path.insert(0, str(Path(__file__).resolve().parent))

from agc_processor import (
    AGC_BTAG_WP,
    CUTFLOW,
    FLAVOURS,
    OBSERVABLES,
    AGCTtbarProcessor,
    chi2_histograms,
    histogram_counts,
    poisson_yield,
    pull,
    run_processor,
)


def replicas(path: str | Path) -> int:
    """Replicas per generated event of a flash file (1 for a full file or no oversampling)."""
    with uproot.open(path) as file:
        tree = file["Events"]
        if REPLICA_BRANCH not in tree or tree.num_entries == 0:
            return 1
        return int(tree[REPLICA_BRANCH].array(library="np").max()) + 1


def analyse(path: str | Path, btag_wp: float) -> dict[str, Any]:
    with warnings.catch_warnings():
        # coffea's NanoAODSchema names every cross-reference index of its built-in list that
        # a file lacks (Jet_muonIdx1, Photon_jetIdx, ...); none of them is used here.
        warnings.filterwarnings("ignore", "Missing cross-reference index", RuntimeWarning)
        return run_processor(path, AGCTtbarProcessor(btag_wp))


def _finite(obj: Any) -> Any:
    """``obj`` with NaN floats as None (JSON null)."""
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_finite(value) for value in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def _fmt(value: float, digits: int = 1) -> str:
    return "nan" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def compare(full: dict[str, Any], flash: dict[str, Any], scale_flash: float) -> dict[str, Any]:
    """The comparison tables as plain numbers (what ``--json`` writes)."""
    cutflow = {}
    for step in CUTFLOW:
        y_full, e_full = poisson_yield(full["cutflow"][step])
        y_flash, e_flash = poisson_yield(flash["cutflow"][step], scale_flash)
        cutflow[step] = {
            "full": y_full,
            "full_err": e_full,
            "flash": y_flash,
            "flash_err": e_flash,
            "pull": pull(y_full, e_full, y_flash, e_flash),
        }
    observables = {}
    for name in OBSERVABLES:
        a = histogram_counts(full["hists"][name])
        b = histogram_counts(flash["hists"][name])
        shape = chi2_histograms(a, b, scale_b=scale_flash, normalised=True)
        yields = chi2_histograms(a, b, scale_b=scale_flash)
        observables[name] = {
            "edges": [float(x) for x in full["hists"][name].axes[0].edges],
            "full": a.tolist(),
            "flash": (b * scale_flash).tolist(),
            "shape": {"chi2": shape.chi2, "ndf": shape.ndf, "p": shape.p},
            "yield": {"chi2": yields.chi2, "ndf": yields.ndf, "p": yields.p},
        }
    flavour = {}
    for f in FLAVOURS:
        row = {}
        for label, out, scale in (("full", full, 1.0), ("flash", flash, scale_flash)):
            tagged, jets = out["btag_by_flavour"][f], out["jets_by_flavour"][f]
            row[label] = {
                "btagged": tagged * scale,
                "jets": jets * scale,
                "rate": tagged / jets if jets else math.nan,
            }
        y_full, e_full = poisson_yield(full["btag_by_flavour"][f])
        y_flash, e_flash = poisson_yield(flash["btag_by_flavour"][f], scale_flash)
        row["pull_btagged"] = pull(y_full, e_full, y_flash, e_flash)
        flavour[int(f)] = row
    matched = {
        label: {
            "jets": out["jets_selected"],
            "gen_matched": out["jets_gen_matched"],
            "fraction": out["jets_gen_matched"] / out["jets_selected"]
            if out["jets_selected"]
            else math.nan,
        }
        for label, out in (("full", full), ("flash", flash))
    }
    return {
        "cutflow": cutflow,
        "observables": observables,
        "btag_by_flavour": flavour,
        "gen_match": matched,
    }


def render(result: dict[str, Any]) -> str:
    lines = ["cutflow (events; Poisson errors)"]
    lines.append(f"  {'step':<12}{'full':>18}{'flash':>18}{'pull':>8}")
    for step, row in result["cutflow"].items():
        full = f"{_fmt(row['full'])} ± {_fmt(row['full_err'])}"
        flash = f"{_fmt(row['flash'])} ± {_fmt(row['flash_err'])}"
        lines.append(f"  {step:<12}{full:>18}{flash:>18}{_fmt(row['pull'], 2):>8}")
    lines.append("observables (under/overflow included): χ²/ndf (p)")
    lines.append(f"  {'histogram':<18}{'full':>7}{'flash':>8}{'shape':>22}{'yield':>22}")
    for name, row in result["observables"].items():
        cells = []
        for kind in ("shape", "yield"):
            c = row[kind]
            cells.append(f"{_fmt(c['chi2'])}/{c['ndf']} ({_fmt(c['p'], 3)})")
        lines.append(
            f"  {name:<18}{sum(row['full']):>7.0f}{sum(row['flash']):>8.1f}"
            f"{cells[0]:>22}{cells[1]:>22}"
        )
    lines.append("jets of the >= 4-jet events by hadronFlavour: b-tagged / selected (rate)")
    for f, row in result["btag_by_flavour"].items():
        cells = [
            f"{_fmt(row[s]['btagged'], 0)}/{_fmt(row[s]['jets'], 0)} ({_fmt(row[s]['rate'], 3)})"
            for s in ("full", "flash")
        ]
        lines.append(
            f"  flavour {f}: full {cells[0]:<20} flash {cells[1]:<20}"
            f" pull(b-tagged) {_fmt(row['pull_btagged'], 2)}"
        )
    m = result["gen_match"]
    lines.append(
        "selected jets with a gen match (Jet.matched_gen): "
        f"full {m['full']['gen_matched']}/{m['full']['jets']} ({_fmt(m['full']['fraction'], 3)}), "
        f"flash {m['flash']['gen_matched']}/{m['flash']['jets']} "
        f"({_fmt(m['flash']['fraction'], 3)})"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("full", type=Path, help="full-simulation (refsim) NanoAOD file")
    parser.add_argument("flash", type=Path, help="flash NanoAOD file (flashsim run)")
    parser.add_argument("--btag-wp", type=float, default=AGC_BTAG_WP, help="btagDeepFlavB cut")
    parser.add_argument("--json", type=Path, help="write the numbers here")
    args = parser.parse_args(argv)

    full = analyse(args.full, args.btag_wp)
    flash = analyse(args.flash, args.btag_wp)
    k = replicas(args.flash)
    result = compare(full, flash, 1.0 / k)
    result["inputs"] = {
        "full": str(args.full),
        "flash": str(args.flash),
        "flash_replicas": k,
        "btag_wp": args.btag_wp,
    }
    print(f"full: {args.full}  flash: {args.flash} (x{k} replicas, scaled 1/{k})")
    print(f"b tag: btagDeepFlavB > {args.btag_wp}")
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(_finite(result), indent=1) + "\n")
        print(f"numbers written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

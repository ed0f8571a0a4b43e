"""Acceptance numbers of the flash pipeline on held-out refsim samples (prints a table).

For each full-simulation (refsim) file: run the flash pipeline on its generator-level branches,
then compare flash with full per collection with `flashsim validate`'s metrics (classifier AUC,
W1 ratio to its statistical floor, efficiency chi2/ndf vs gen pT and eta; see
flashsim.validation.validate), without drawing figures.

    python benchmarks/pipeline_fidelity.py samples/ttbar_valid.root samples/dy_valid.root \
        samples/qcd_valid.root --model models/cms_like --json fidelity.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from flashsim.bundle import bundle_hash, default_model_path, load_bundle
from flashsim.runner import run_file
from flashsim.validation.report import jsonable
from flashsim.validation.validate import validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="refsim files (gen + reco)")
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--max-events", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="write all numbers here")
    args = parser.parse_args()

    pipeline = load_bundle(args.model)
    print(f"model {args.model} ({bundle_hash(args.model)[:12]})")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.files:
            flash_path = Path(tmp) / f"flash_{path.name}"
            start = time.monotonic()
            summary = run_file(
                pipeline,
                path,
                flash_path,
                seed=args.seed,
                progress=False,
                max_events=args.max_events,
            )
            run_seconds = time.monotonic() - start
            result = validate(
                pipeline.spec, flash_path, path, max_events=args.max_events, seed=args.seed
            )
            metrics = result.metrics["collections"]
            results[path.name] = {
                "events": summary.input_events,
                "run_seconds": run_seconds,
                **result.metrics,
            }
            print(f"\n== {path.name}: {summary.input_events} events, flash run {run_seconds:.1f} s")
            print(
                f"{'collection':<10} {'AUC':>13} {'max W1 ratio':>13} {'(target)':<16} "
                f"{'eff pT chi2/ndf':>16} {'eff eta chi2/ndf':>17}  reco flash/full"
            )
            for name, m in metrics.items():
                targets = m["targets"]
                worst = max(targets, key=lambda k: targets[k]["w1_ratio"])
                eff = m["efficiency"]
                counts = m["counts"]
                print(
                    f"{name:<10} {m['auc']['value']:.3f}±{m['auc']['error']:.3f}  "
                    f"{targets[worst]['w1_ratio']:>12.2f}  {worst:<16} "
                    f"{eff.get('reco_pt', {}).get('chi2_ndf', float('nan')):>16.2f} "
                    f"{eff.get('reco_eta', {}).get('chi2_ndf', float('nan')):>17.2f}  "
                    f"{counts['flash_reconstructed']}/{counts['full_reconstructed']}"
                )
                ratios = ", ".join(f"{k} {v['w1_ratio']:.2f}" for k, v in targets.items())
                print(f"{'':<10} W1 ratios: {ratios}")
                top = ", ".join(f"{k} {v:.2f}" for k, v in m["auc"]["top_features"].items())
                print(f"{'':<10} classifier's top features: {top}")
                if "fakes" in m:
                    fk = m["fakes"]
                    print(
                        f"{'':<10} unmatched: {fk['mean_count']['flash']:.2f} vs "
                        f"{fk['mean_count']['full']:.2f} per event, AUC {fk['auc']['value']:.3f}"
                    )
    if args.json:
        args.json.write_text(json.dumps(jsonable(results), indent=1, allow_nan=False))


if __name__ == "__main__":
    main()

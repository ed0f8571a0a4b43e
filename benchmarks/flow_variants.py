"""Sampling speed against fidelity for flow architectures of the jet response (prints a table).

For each variant of the Jet response flow (transform, structure, number of transforms, hidden
widths), train the Jet collection of the default pipeline on the same training events with the
same time budget, then measure

* the sampling rate of the response flow alone (rows/s of ``ConditionalFlow.sample``, with the
  fast inverse of ``flashsim.models.flow_sampler``, on 1 and 2 torch threads);
* the fidelity on held-out events with ``flashsim validate``'s metrics: the classifier AUC of flash
  vs full jets and the W1 ratio (distance over its statistical floor) of every jet target.

Every variant trains for the same number of epochs (early stopping may end it sooner), so
that other load on the machine changes the training time but not the comparison. Only the Jet
collection is trained (no pile-up jets, no other collections), with a smaller
efficiency BDT, so the comparison isolates the response model:

    python benchmarks/flow_variants.py samples/ttbar_train.root samples/ttbar_valid.root \
        --train-events 100000 --valid-events 20000 --json flow_variants.json
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from flashsim.bundle import default_model_path, load_bundle
from flashsim.runner import run_file
from flashsim.spec import parse_spec
from flashsim.train import read_training_data, train_pipeline
from flashsim.validation.report import jsonable
from flashsim.validation.validate import validate

#: name -> Jet response flow settings.
VARIANTS: dict[str, dict[str, Any]] = {
    "spline-coupling-6x128x2": {"transform": "spline", "transforms": 6, "hidden": [128, 128]},
    "spline-coupling-4x128x2": {"transform": "spline", "transforms": 4, "hidden": [128, 128]},
    "spline-coupling-4x64x2": {"transform": "spline", "transforms": 4, "hidden": [64, 64]},
    "spline-coupling-3x64": {"transform": "spline", "transforms": 3, "hidden": [64]},
    "affine-coupling-6x128x2": {"transform": "affine", "transforms": 6, "hidden": [128, 128]},
}


def jet_only_spec(
    base: dict[str, Any], flow: dict[str, Any], epochs: int, minutes: float
) -> dict[str, Any]:
    """The default spec reduced to the Jet collection, with the given response flow."""
    spec = copy.deepcopy(base)
    jet = spec["collections"]["Jet"]
    jet.pop("fakes", None)
    spec["collections"] = {"Jet": jet}
    spec.pop("event", None)
    jet["efficiency"] = {**jet.get("efficiency", {}), "n_estimators": 100}
    response = jet.setdefault("response", {})
    response["flow"] = {"structure": "coupling", "bins": 8, **flow}
    response["training"] = {
        **response.get("training", {}),
        "epochs": epochs,
        "max_minutes": minutes,
    }
    return spec


def sampling_rate(model: Any, rows: int, threads: int) -> float:
    """Rows per second of ``model.sample`` on standard-normal contexts (best of two)."""
    torch.set_num_threads(threads)
    context = np.random.default_rng(1).standard_normal((rows, model.n_context), dtype=np.float32)
    best = 0.0
    for rep in range(2):
        start = time.perf_counter()
        model.sample(context, np.random.default_rng(rep))
        best = max(best, rows / (time.perf_counter() - start))
    torch.set_num_threads(2)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", type=Path, help="refsim ttbar file to train on")
    parser.add_argument("valid", type=Path, help="held-out refsim ttbar file")
    parser.add_argument("--train-events", type=int, default=100_000)
    parser.add_argument("--valid-events", type=int, default=20_000)
    parser.add_argument(
        "--epochs",
        type=int,
        default=12,
        help="epochs per variant (the same for all, so that a "
        "loaded machine does not change the comparison)",
    )
    parser.add_argument("--minutes", type=float, default=30.0, help="time limit per variant")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    base = yaml.safe_load((default_model_path() / "spec.yaml").read_text())
    names = args.variants.split(",")
    first = parse_spec(jet_only_spec(base, VARIANTS[names[0]], args.epochs, args.minutes))
    start = time.monotonic()
    data = read_training_data(first, [args.train], max_events=args.train_events, progress=False)
    print(f"read {data.n_events} training events in {time.monotonic() - start:.0f} s")
    results: dict[str, Any] = {}
    print(
        f"{'variant':<26} {'rows/s 1 thr':>12} {'rows/s 2 thr':>12} {'train s':>8} "
        f"{'AUC':>13} {'max W1 ratio':>13} {'median':>7}"
    )
    for name in names:
        spec = parse_spec(jet_only_spec(base, VARIANTS[name], args.epochs, args.minutes))
        with tempfile.TemporaryDirectory() as tmp:
            start = time.monotonic()
            train_pipeline(spec, data, Path(tmp) / "model", progress=False, log=lambda _m: None)
            train_seconds = time.monotonic() - start
            pipeline = load_bundle(Path(tmp) / "model")
            model = pipeline.collections["Jet"].response.model
            rates = [sampling_rate(model, 100_000, t) for t in (1, 2)]
            flash = Path(tmp) / "flash.root"
            run_file(
                pipeline, args.valid, flash, seed=1, progress=False, max_events=args.valid_events
            )
            result = validate(
                spec, flash, args.valid, collections=["Jet"], max_events=args.valid_events, seed=1
            )
        jet = result.metrics["collections"]["Jet"]
        ratios = {k: v["w1_ratio"] for k, v in jet["targets"].items()}
        worst = max(ratios, key=lambda k: ratios[k])
        results[name] = {
            "flow": VARIANTS[name],
            "rows_per_s_1_thread": rates[0],
            "rows_per_s_2_threads": rates[1],
            "train_seconds": train_seconds,
            "auc": jet["auc"],
            "w1_ratio": ratios,
        }
        print(
            f"{name:<26} {rates[0]:>12.0f} {rates[1]:>12.0f} {train_seconds:>8.0f} "
            f"{jet['auc']['value']:.3f}±{jet['auc']['error']:.3f} {ratios[worst]:>7.2f} "
            f"({worst}) {float(np.median(list(ratios.values()))):>5.2f}",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(jsonable(results), indent=1, allow_nan=False))


if __name__ == "__main__":
    main()

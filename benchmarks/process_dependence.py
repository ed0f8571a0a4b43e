"""Does the reference detector's response depend on more than the model's gen conditions?

Issue #21 item 3. For two full-simulation (refsim) samples of different processes, per
collection of the spec:

1. **conditions**: a classifier two-sample test of process A against B on the gen conditions
   the spec uses (it is large: the processes populate the condition space differently);
2. **reweighted conditions**: B reweighted to A in condition space with the density ratio of a
   classifier trained on the conditions (cross-fitted on two halves, weights clipped); the same
   test again is a closure check of the reweighting (≈ 0.5);
3. **response**: the test on conditions + the encoded targets (and the reconstruction outcome
   for the efficiency), B reweighted. If the response depends only on the conditions, A and
   reweighted B are the same distribution and the AUC is 0.5; the feature importance says which
   targets carry the difference that the conditions miss.

    python benchmarks/process_dependence.py samples/ttbar_valid.root samples/dy_valid.root \
        [--spec pipelines/cms_like.yaml] [--max-events 20000] [--json out.json]

References: Lopez-Paz & Oquab, arXiv:1610.06545 (classifier two-sample tests); density ratios
from a probabilistic classifier, e.g. Cranmer, Pavez & Louppe, arXiv:1506.02169.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from flashsim.spec import load_spec
from flashsim.train import read_training_data
from flashsim.validation.metrics import classifier_two_sample_test
from flashsim.validation.physics_checks import density_ratio_weights

PIPELINE = Path(__file__).resolve().parents[1] / "pipelines" / "cms_like.yaml"


def compare(name: str, a: dict, b: dict, rng: np.random.Generator) -> dict:
    """The three tests of the module docstring for one collection's tables."""
    out = {"rows": [len(a["conditions"]), len(b["conditions"])]}
    out["conditions"] = _test(a["conditions"], b["conditions"], None, a["names"], rng)
    weights = density_ratio_weights(a["conditions"], b["conditions"], rng)
    n_eff = weights.sum() ** 2 / (weights**2).sum()
    out["effective_rows_b"] = float(n_eff)
    out["reweighted_conditions"] = _test(a["conditions"], b["conditions"], weights, a["names"], rng)
    both_a = np.concatenate([a["conditions"], a["response"]], axis=1)
    both_b = np.concatenate([b["conditions"], b["response"]], axis=1)
    names = [*a["names"], *a["response_names"]]
    out["response"] = _test(both_a, both_b, weights, names, rng)
    return out


def _test(a, b, weights_b, names, rng) -> dict:
    result = classifier_two_sample_test(
        a, b, names=names, weights_b=weights_b, rng=rng, max_rows=200_000
    )
    top = dict(list(result.feature_importance.items())[:6])
    return {"auc": result.auc, "error": result.error, "importance": top}


def tables(spec, path: Path, max_events: int | None) -> dict[str, dict]:
    """Per collection: the conditions and the response (reco outcome + encoded targets of the
    reconstructed objects; the efficiency's outcome for every gen object) as arrays."""
    data = read_training_data(spec, [path], max_events=max_events, progress=False)
    out = {}
    for name, table in data.collections.items():
        coll = spec.collections[name]
        cond_names = [c.name for c in coll.conditions]
        target_names = [t.name for t in coll.targets if t.kind != "uniform_phi"]
        reco = table.label > 0
        out[f"{name} efficiency"] = {
            "conditions": table.conditions,
            "names": cond_names,
            "response": table.label[:, None].astype(np.float64),
            "response_names": ["outcome"],
        }
        out[f"{name} response"] = {
            "conditions": table.conditions[reco],
            "names": cond_names,
            "response": table.targets,
            "response_names": target_names,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="full-simulation file of process A (e.g. ttbar)")
    parser.add_argument("b", type=Path, help="full-simulation file of process B (e.g. dy)")
    parser.add_argument("--spec", type=Path, default=PIPELINE)
    parser.add_argument("--max-events", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    spec = load_spec(args.spec)
    rng = np.random.default_rng(args.seed)
    print(f"reading {args.a} and {args.b} ({args.max_events} events each)", file=sys.stderr)
    ta, tb = tables(spec, args.a, args.max_events), tables(spec, args.b, args.max_events)
    results = {}
    print(f"{'':22s} {'conditions':>14s} {'reweighted':>14s} {'+ response':>14s}  what differs")
    for key in ta:
        if min(len(ta[key]["conditions"]), len(tb[key]["conditions"])) < 200:
            print(f"{key:22s} too few objects")
            continue
        r = compare(key, ta[key], tb[key], rng)
        results[key] = r
        cells = [f"{r[k]['auc']:.3f} ± {r[k]['error']:.3f}" for k in
                 ("conditions", "reweighted_conditions", "response")]  # fmt: skip
        top = ", ".join(f"{n} {v:.2f}" for n, v in list(r["response"]["importance"].items())[:4])
        print(f"{key:22s} {cells[0]:>14s} {cells[1]:>14s} {cells[2]:>14s}  {top}")
    if args.json is not None:
        args.json.write_text(json.dumps({"a": str(args.a), "b": str(args.b), **results}, indent=1))


if __name__ == "__main__":
    main()

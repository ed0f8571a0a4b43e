"""sPlot and training closure on a refsim D* -> D0(K pi) pi kaon calibration sample (prints JSON).

See flashsim.validation.splot_closure.closure_study: generates the calibration sample, fits the
mass (DCB tails from simulated signal), checks the sWeighted PID histograms against the true
signal, and trains flow and GAN PID models on pure signal, with sWeights (raw, regressed) and
without weights, comparing each with independent true-signal kaons (classifier AUC).

    python benchmarks/splot_closure.py --rows 60000 --json benchmarks/results/splot_closure.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main() -> None:
    from flashsim.validation.report import jsonable
    from flashsim.validation.splot_closure import (
        CLOSURE_TRANSFORMS,
        PIPELINE_TRANSFORMS,
        closure_study,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--test-rows", type=int, default=20_000)
    parser.add_argument("--kinds", default="flow,gan")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--preprocessing",
        choices=["pipeline", "standardize"],
        default="pipeline",
        help="DLL transforms: asinh as pipelines/lhcb_like.yaml (default), or standardize only",
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    start = time.monotonic()
    result = closure_study(
        n=args.rows,
        n_test=args.test_rows,
        kinds=tuple(k for k in args.kinds.split(",") if k),
        seed=args.seed,
        transforms=PIPELINE_TRANSFORMS if args.preprocessing == "pipeline" else CLOSURE_TRANSFORMS,
    )
    result["preprocessing"] = args.preprocessing
    result["seconds"] = time.monotonic() - start
    text = json.dumps(jsonable(result), indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()

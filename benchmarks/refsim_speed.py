"""Reference-simulation benchmark: events/s with 1 and 2 jobs, and the physics sanity numbers.

Usage: python benchmarks/refsim_speed.py [--events 1000] [--process ttbar] [--outdir DIR]

Prints a table; it is a benchmark, not a test (nothing is asserted).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import uproot

from flashsim.io import zip_collections
from flashsim.refsim.generate import generate_sample
from flashsim.refsim.sanity import btag_auc, jet_response, lepton_isolation, muon_resolution


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--process", default="ttbar")
    parser.add_argument("--outdir", type=Path, default=None)
    args = parser.parse_args()
    outdir = args.outdir or Path(tempfile.mkdtemp(prefix="refsim-bench-"))
    rates = {}
    for jobs in (1, 2):
        path = outdir / f"{args.process}_j{jobs}.root"
        start = time.perf_counter()
        generate_sample(
            process=args.process,
            n_events=args.events,
            seed=1,
            jobs=jobs,
            output=path,
            overwrite=True,
            progress=False,
        )
        rates[jobs] = args.events / (time.perf_counter() - start)
    print("| process | events | jobs=1 [evt/s] | jobs=2 [evt/s] | speed-up |")
    print(
        f"| {args.process} | {args.events} | {rates[1]:.1f} | {rates[2]:.1f} | "
        f"{rates[2] / rates[1]:.2f} |"
    )
    with uproot.open(outdir / f"{args.process}_j1.root") as f:
        events = zip_collections(f["Events"].arrays())
    resp = jet_response(events)
    print(f"jet response median (gen pT > 50 GeV): {resp['median_above_50']:.3f}")
    for lo, hi, n, width in resp["resolution"]:
        print(f"  jet resolution {lo}-{hi} GeV: {width:.3f} ({n} jets)")
    n, width = muon_resolution(events)
    print(f"muon pT resolution 20-100 GeV: {width:.4f} ({n} muons)")
    n_b, n_l, auc = btag_auc(events)
    print(f"b-tag ROC AUC (hadronFlavour 5 vs 0): {auc:.3f} ({n_b} b, {n_l} light jets)")
    iso = lepton_isolation(events)
    print(
        f"median pfRelIso04_all: prompt {np.median(iso[True]):.3f} ({len(iso[True])}), "
        f"non-prompt {np.median(iso[False]):.3f} ({len(iso[False])})"
    )


if __name__ == "__main__":
    main()

"""The gen level (``build_genlevel``) of two versions of the code, in the same benchmark run.

Each measurement is a child process that reads the first ``--events`` events of a HepMC3 file
(untimed), builds the gen level of one chunk to warm up (numba, FastJet), then times
``build_genlevel`` on the others, and checks that both versions give the same branches. The
two versions alternate ``--repeats`` times, so the noise of a shared machine falls on both.

It is a benchmark, not a test: nothing is asserted.

    git worktree add /tmp/old <commit>
    python benchmarks/genlevel_code_speed.py samples/rt_ttbar10k.hepmc3 --old /tmp/old
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import hashlib, json, sys, time
import awkward as ak
import numpy as np
from flashsim.generators.branches import gen_branches
from flashsim.generators.genlevel import build_genlevel
from flashsim.generators.hepmc_read import HepMCSource

path, events, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
records = []
for record in HepMCSource(path).records(chunk):
    records.append(record)
    if sum(r.n_events for r in records) >= events + chunk:
        break
build_genlevel(records[0])  # warm-up
digest = hashlib.sha256()
seconds = 0.0
timed = 0
for record in records[1:]:
    start = time.perf_counter()
    gen = build_genlevel(record)
    seconds += time.perf_counter() - start
    timed += record.n_events
    for name, value in sorted(gen_branches(record, gen).items()):
        flat = ak.to_numpy(ak.flatten(value, axis=None)) if isinstance(value, ak.Array) else value
        digest.update(name.encode() + np.ascontiguousarray(flat).tobytes())
print(json.dumps({"ms_per_event": 1e3 * seconds / timed, "events": timed,
                  "sha256": digest.hexdigest()}))
"""


def measure(code: Path, hepmc: Path, events: int, chunk: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code.resolve())}
    with tempfile.TemporaryDirectory() as tmp:  # not the checkout: PYTHONPATH decides the code
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(hepmc.resolve()), str(events), str(chunk)],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("hepmc", type=Path)
    parser.add_argument("--old", type=Path, required=True, help="checkout of the older code")
    parser.add_argument("--events", type=int, default=3000, help="timed events per run")
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write the lines to this file")
    args = parser.parse_args()
    new = Path(__file__).resolve().parents[1]
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for _ in range(args.repeats):
        for label, code in (("old", args.old), ("new", new)):
            runs[label].append(measure(code, args.hepmc, args.events, args.chunk))
    lines = [f"build_genlevel on {args.events} events of {args.hepmc} (chunks of {args.chunk})"]
    medians = {}
    for label, code in (("old", args.old), ("new", new)):
        ms = [r["ms_per_event"] for r in runs[label]]
        medians[label] = statistics.median(ms)
        lines.append(
            f"  {label} ({code}): median {medians[label]:.3f} ms/event, runs "
            + ", ".join(f"{m:.3f}" for m in ms)
        )
    same = {r["sha256"] for r in runs["old"]} == {r["sha256"] for r in runs["new"]}
    lines.append(f"  new / old time: {medians['new'] / medians['old']:.2f}")
    lines.append(f"  the same branches, bit for bit: {'yes' if same else 'NO'}")
    print("\n".join(lines))
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

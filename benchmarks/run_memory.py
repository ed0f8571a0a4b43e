"""`flashsim run` on a large gen file: wall time, events/s, objects/s and peak RSS (prints a table).

Runs the command line in a child process, as users run it, and reads the child's peak resident
memory from the kernel (``getrusage(RUSAGE_CHILDREN)``):

    python benchmarks/run_memory.py samples/ttbar_train.root [--model DIR] [--step-size N]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uproot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--step-size", type=int, default=10_000)
    parser.add_argument("--max-events", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "reco.root"
        cmd = [sys.executable, "-m", "flashsim", "run", str(args.input), "-o", str(out), "--quiet"]
        cmd += ["--step-size", str(args.step_size)]
        if args.model is not None:
            cmd += ["--model", str(args.model)]
        if args.max_events is not None:
            cmd += ["--max-events", str(args.max_events)]
        start = time.monotonic()
        subprocess.run(cmd, check=True)
        seconds = time.monotonic() - start
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        with uproot.open(out) as f:
            tree = f["Events"]
            events = tree.num_entries
            jets = int(tree["nJet"].array(library="np").sum())
            size_mb = out.stat().st_size / 1e6
    print(f"{'input':<28} {args.input}")
    print(f"{'events':<28} {events}")
    print(f"{'step size':<28} {args.step_size}")
    print(f"{'wall time [s]':<28} {seconds:.1f}  (including start-up and model loading)")
    print(f"{'events/s':<28} {events / seconds:.0f}")
    print(f"{'jets/s':<28} {jets / seconds:.0f}")
    print(f"{'peak RSS [MB]':<28} {peak_mb:.0f}")
    print(f"{'output size [MB]':<28} {size_mb:.1f}")


if __name__ == "__main__":
    main()

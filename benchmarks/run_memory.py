"""`flashsim run` on a large gen file: wall time, events/s, objects/s and peak RSS (prints a table).

Runs the command line in a child process, as users run it, and reads the child's peak resident
memory from the kernel (``getrusage(RUSAGE_CHILDREN)``). With ``--replicate N`` the input's
generator-level branches are first written N times over into one temporary file (N x the
events; e.g. 10 x 100k ttbar = 1M events), to check that streaming keeps memory bounded:

    python benchmarks/run_memory.py samples/ttbar_train.root [--replicate 10] [--step-size N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from run_speed import end_to_end  # benchmarks/ is the script's folder, on sys.path

from flashsim.bundle import default_model_path, load_bundle
from flashsim.io import NanoAODWriter, open_events, zip_collections


def replicate(source: Path, times: int, model: Path, output: Path, step: int = 50_000) -> int:
    """Write the gen branches the model reads, ``times`` times over; returns the event count."""
    pipeline = load_bundle(model)
    tree = open_events(source)
    branches = pipeline.input_branches(tree.keys())
    events = 0
    with NanoAODWriter(output, overwrite=True) as writer:
        for _ in range(times):
            for first in range(0, tree.num_entries, step):
                arrays = tree.arrays(branches, entry_start=first, entry_stop=first + step)
                chunk = zip_collections(arrays)
                writer.extend({name: chunk[name] for name in chunk.fields})
                events += len(arrays)
    tree.file.close()
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--step-size", type=int, default=10_000)
    parser.add_argument("--max-events", type=int, default=None)
    parser.add_argument("--replicate", type=int, default=1, help="write the input N times over")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = args.input
        if args.replicate > 1:
            source = Path(tmp) / "replicated.root"
            start = time.monotonic()
            n = replicate(args.input, args.replicate, args.model, source)
            print(
                f"wrote {n} events ({args.replicate} x {args.input.name}) in "
                f"{time.monotonic() - start:.0f} s"
            )
        result = end_to_end(source, args.model, args.max_events, Path(tmp), args.step_size)
        events, jets, seconds = result["events"], result["jets"], result["seconds"]
        peak_mb = result["peak_rss_mb"]
        size_mb = Path(result["output"]).stat().st_size / 1e6
    print(f"{'input':<28} {args.input}" + (f" x {args.replicate}" if args.replicate > 1 else ""))
    print(f"{'events':<28} {events}")
    print(f"{'step size':<28} {args.step_size}")
    print(f"{'wall time [s]':<28} {seconds:.1f}  (including start-up and model loading)")
    print(f"{'events/s':<28} {events / seconds:.0f}")
    print(f"{'jets/s':<28} {jets / seconds:.0f}")
    print(f"{'peak RSS [MB]':<28} {peak_mb:.0f}")
    print(f"{'output size [MB]':<28} {size_mb:.1f}")


if __name__ == "__main__":
    main()

"""Time `flashsim validate` on a large sample: where the time goes (prints a table).

Runs the default model on FULL's generator-level branches (unless --flash is given), then
validates flash against FULL step by step: reading both files, the comparisons (classifier tests
included), drawing the figures and writing the report.

    python benchmarks/validate_speed.py samples/ttbar_train.root --max-events 100000 -o /tmp/rep
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main() -> None:
    from flashsim.bundle import default_model_path, load_bundle
    from flashsim.runner import run_file
    from flashsim.validation.report import write_report
    from flashsim.validation.samples import read_sample
    from flashsim.validation.validate import validate_samples

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("full", type=Path, help="full-simulation (refsim) file")
    parser.add_argument("--flash", type=Path, help="flash file (default: run the default model)")
    parser.add_argument("--max-events", type=int, default=None)
    parser.add_argument("-o", "--output", type=Path, default=None, help="report directory")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="processes drawing figures")
    args = parser.parse_args()

    pipeline = load_bundle(default_model_path())
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        flash_path = args.flash
        if flash_path is None:
            flash_path = Path(tmp) / "flash.root"
            start = time.monotonic()
            run_file(
                pipeline, args.full, flash_path, seed=1, progress=False, max_events=args.max_events
            )
            times["flashsim run (not part of validate)"] = time.monotonic() - start
        start = time.monotonic()
        flash = read_sample(flash_path, pipeline.spec, max_events=args.max_events, role="flash")
        full = read_sample(args.full, pipeline.spec, max_events=args.max_events, role="full")
        times["read both files"] = time.monotonic() - start
        steps: list[tuple[str, float]] = []

        def mark(message: str) -> None:
            steps.append((message, time.monotonic()))

        start = time.monotonic()
        mark("start")
        result = validate_samples(pipeline.spec, flash, full, seed=0, progress=mark)
        mark("end")
        for (name, t0), (_, t1) in itertools.pairwise(steps[1:]):
            times[f"  {name}"] = t1 - t0
        times["comparisons (all)"] = time.monotonic() - start
        out = args.output or Path(tmp) / "report"
        start = time.monotonic()
        n_figures = sum(len(g.plots) for s in result.sections for g in s.groups)
        write_report(result, out, jobs=args.jobs)
        times[f"figures ({n_figures}) and report, {args.jobs} processes"] = time.monotonic() - start
    total = sum(v for k, v in times.items() if not k.startswith(("flashsim run", "  ")))
    print(f"flash {flash.n_events} events, full {full.n_events} events")
    for name, seconds in times.items():
        print(f"{name:<55} {seconds:8.1f} s")
    print(f"{'validate total':<55} {total:8.1f} s")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"{'peak RSS of this process':<55} {rss:8.2f} GB")


if __name__ == "__main__":
    main()

"""`flashsim run` speed: throughput, memory, where the time goes, the I/O floor, the speed-up.

Prints four tables for a generator-level (or refsim) file:

1. **End to end**: ``flashsim run`` as users run it (a child process, ``--quiet``): wall time
   including start-up and model loading, events/s, jets/s, peak resident memory.
2. **Where the time goes**: the same run in this process (twice; the faster is shown) with
   timers around the reading of each chunk, every stage of every collection (efficiency BDT,
   response sampling, fakes, event), the assembly of the output records and the writing.
   Reading and writing run in background threads while the simulation goes on, so their
   times overlap the others.
3. **I/O floor**: uproot reading the same input branches chunk by chunk and writing the same
   output branches (those of the flash output of table 1, held in memory beforehand) with the
   same writer, without any model: the limit a faster model could approach.
4. **Speed-up**: the refsim CMS-like detector on freshly generated events of the same process
   (detector only: Pythia generation, hadronisation and pile-up mixing are not counted), against
   the flash run per event.

It is a benchmark, not a test: nothing is asserted.

    python benchmarks/run_speed.py samples/ttbar_valid.root [--max-events 100000] [--json out.json]
    python benchmarks/run_speed.py samples/ttbar_valid.root --model NEW --baseline OLD

With ``--baseline``, only the end-to-end runs of the two bundles, alternated, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uproot

import flashsim.run.single as runner_module
from flashsim.bundle import default_model_path, load_bundle
from flashsim.io import NanoAODWriter, open_events


def machine() -> str:
    """A one-line description of the machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} cores, {cpu}, load average {load:.1f} at start"


def end_to_end(
    path: Path, model: Path, max_events: int | None, work: Path, step_size: int = 10_000
) -> dict[str, Any]:
    """Run the CLI in a child process; wall time and peak RSS from the kernel."""
    out = work / "flash.root"
    cmd = [sys.executable, "-m", "flashsim", "run", str(path), "-o", str(out), "--quiet"]
    cmd += ["--model", str(model), "--overwrite", "--step-size", str(step_size)]
    if max_events is not None:
        cmd += ["--max-events", str(max_events)]
    start = time.monotonic()
    subprocess.run(cmd, check=True)
    seconds = time.monotonic() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    with uproot.open(out) as f:
        tree = f["Events"]
        events = tree.num_entries
        jets = int(tree["nJet"].array(library="np").sum()) if "nJet" in tree else 0
    return {
        "events": events,
        "jets": jets,
        "seconds": seconds,
        "events_per_s": events / seconds,
        "jets_per_s": jets / seconds,
        "peak_rss_mb": peak_mb,
        "output": str(out),
    }


READ = "read (background thread, overlapped)"
WRITE = "write (background thread, overlapped)"

WARM_UP_EVENTS = 1000
"""Events of the untimed first run of :func:`breakdown` (one-off costs of the process)."""


class Timers:
    """Accumulated seconds per label."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, obj: Any, attr: str, label: str) -> None:
        """Replace ``obj.attr`` (a bound method) by a timed call."""
        method: Callable[..., Any] = getattr(obj, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start

        setattr(obj, attr, timed)


def breakdown(path: Path, model: Path, max_events: int | None, work: Path) -> dict[str, float]:
    """Run in process with timers around reading, every stage and writing.

    The pipeline first runs once on :data:`WARM_UP_EVENTS` events, untimed but reported as
    ``warm_up``: the one-off costs of a process (loading the compiled spline kernel from
    numba's cache, about 0.9 s, and the first calls of xgboost, awkward and vector) are not
    per-event costs, and would otherwise be charged to the first stage that meets them.
    """
    timers = Timers()
    pipeline = load_bundle(model)

    def run(output: str, events: int | None) -> float:
        start = time.perf_counter()
        runner_module.run_file(
            pipeline, path, work / output, progress=False, max_events=events, overwrite=True
        )
        return time.perf_counter() - start

    warm_up = run("warm_up.root", WARM_UP_EVENTS)
    for name, coll in pipeline.collections.items():
        timers.wrap(coll.efficiency, "apply", f"{name}: efficiency")
        timers.wrap(coll.response, "apply", f"{name}: response sampling")
        if coll.fakes is not None:
            timers.wrap(coll.fakes.multiplicity, "apply", f"{name}: fakes multiplicity")
            timers.wrap(coll.fakes.response, "apply", f"{name}: fakes sampling")
        for label, source in coll.sources.items():  # further generated sources (jets -> e)
            timers.wrap(source.efficiency, "apply", f"{name}: {label} efficiency")
            timers.wrap(source.response, "apply", f"{name}: {label} response sampling")
        timers.wrap(coll, "apply_collections", f"{name}: total")
    if pipeline.event is not None:
        timers.wrap(pipeline.event, "apply", "event quantities")
    if pipeline.pid is not None:
        timers.wrap(pipeline.pid, "apply", "PID")

    original_open = runner_module.open_events

    def timed_open(*args: Any, **kwargs: Any) -> Any:
        tree = original_open(*args, **kwargs)
        timers.wrap(tree, "arrays", READ)
        return tree

    original_extend = NanoAODWriter.extend

    def timed_extend(self: NanoAODWriter, chunk: Any) -> None:
        start = time.perf_counter()
        try:
            original_extend(self, chunk)
        finally:
            timers.seconds[WRITE] += time.perf_counter() - start

    runner_module.open_events = timed_open
    NanoAODWriter.extend = timed_extend  # type: ignore[method-assign]
    try:
        total = run("breakdown.root", max_events)
    finally:
        runner_module.open_events = original_open
        NanoAODWriter.extend = original_extend  # type: ignore[method-assign]
    out = dict(timers.seconds)
    for name in pipeline.collections:
        parts = [k for k in out if k.startswith(f"{name}:") and not k.endswith("total")]
        out[f"{name}: features, assembly"] = out.pop(f"{name}: total") - sum(out[k] for k in parts)
    # Reading and writing run in background threads, beside the simulation: waiting for them
    # is part of "other".
    in_main = sum(v for k, v in out.items() if k not in (READ, WRITE))
    out["other (chunking, zipping, pass-through, waiting for I/O)"] = total - in_main
    out["total"] = total
    out["warm_up"] = warm_up
    return out


def io_floor(
    path: Path, model: Path, flash: Path, max_events: int | None, step: int, work: Path
) -> float:
    """Seconds to read the run's input branches and write the flash output's branches."""
    pipeline = load_bundle(model)
    tree = open_events(path)
    branches = pipeline.input_branches(tree.keys())
    entries = tree.num_entries if max_events is None else min(tree.num_entries, max_events)
    with uproot.open(flash) as f:
        out_tree = f["Events"]
        written = out_tree.arrays(entry_stop=entries)
    from flashsim.io import zip_collections

    chunks = [zip_collections(written[a : a + step]) for a in range(0, entries, step)]
    start = time.perf_counter()
    with NanoAODWriter(work / "floor.root", overwrite=True) as writer:
        for i, first in enumerate(range(0, entries, step)):
            tree.arrays(branches, entry_start=first, entry_stop=min(first + step, entries))
            writer.extend({k: chunks[i][k] for k in chunks[i].fields})
    seconds = time.perf_counter() - start
    tree.file.close()
    return seconds


def refsim_detector(n_events: int, process: str) -> dict[str, float]:
    """ms/event of the refsim CMS-like detector (and of generation) on fresh events."""
    from flashsim.refsim import generate as gen_module
    from flashsim.refsim.detector_cms import CMSLikeDetector

    timers = Timers()
    original = CMSLikeDetector.simulate

    def timed(self: CMSLikeDetector, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            timers.seconds["detector"] += time.perf_counter() - start

    CMSLikeDetector.simulate = timed  # type: ignore[method-assign]
    try:
        block = gen_module.plan_blocks(process, n_events, seed=7, pileup=None, block_size=n_events)[
            0
        ]
        start = time.perf_counter()
        gen_module.simulate_block(block)
        total = time.perf_counter() - start
    finally:
        CMSLikeDetector.simulate = original  # type: ignore[method-assign]
    return {
        "events": n_events,
        "detector_ms_per_event": 1e3 * timers.seconds["detector"] / n_events,
        "total_ms_per_event": 1e3 * total / n_events,
    }


def compare_models(args: argparse.Namespace, rounds: int = 3) -> None:
    """End-to-end events/s of ``--model`` against ``--baseline``, alternated in one run (this
    machine's speed drifts, so only numbers from the same run compare); best of ``rounds``."""
    best: dict[str, float] = {}
    results: dict[str, Any] = {"machine": machine(), "input": str(args.input), "runs": []}
    print(f"machine: {results['machine']}")
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(rounds):
            for label, model in (("baseline", args.baseline), ("model", args.model)):
                e2e = end_to_end(args.input, model, args.max_events, Path(tmp))
                results["runs"].append({"round": round_, "which": label, **e2e})
                best[label] = max(best.get(label, 0.0), e2e["events_per_s"])
                print(
                    f"   round {round_ + 1} {label:<8} {model}: {e2e['events']} events in "
                    f"{e2e['seconds']:.1f} s = {e2e['events_per_s']:.0f} events/s"
                )
    ratio = best["model"] / best["baseline"]
    results["best_events_per_s"] = best
    results["ratio"] = ratio
    print(
        f"best: model {best['model']:.0f} events/s, baseline {best['baseline']:.0f} events/s; "
        f"ratio {ratio:.2f}"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="gen-level or refsim ROOT file")
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--max-events", type=int, default=None)
    parser.add_argument("--step-size", type=int, default=10_000, help="for the I/O floor")
    parser.add_argument("--refsim-events", type=int, default=1000)
    parser.add_argument("--process", default="ttbar")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another model bundle (e.g. the previous default) to compare end to end in the "
        "same run: the two alternate, three runs each, and the ratio of their best is printed",
    )
    args = parser.parse_args()
    if args.baseline is not None:
        compare_models(args)
        return

    results: dict[str, Any] = {"machine": machine(), "input": str(args.input)}
    print(f"machine: {results['machine']}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        e2e = end_to_end(args.input, args.model, args.max_events, work)
        results["end_to_end"] = e2e
        print("\n1. end to end (flashsim run, child process, including start-up)")
        print(f"   events            {e2e['events']}")
        print(f"   wall time         {e2e['seconds']:.1f} s")
        print(f"   events/s          {e2e['events_per_s']:.0f}")
        print(f"   jets/s            {e2e['jets_per_s']:.0f}")
        print(f"   peak RSS          {e2e['peak_rss_mb']:.0f} MB")

        # The faster of two runs: other work on the machine only ever slows a run down.
        runs = [breakdown(args.input, args.model, args.max_events, work) for _ in range(2)]
        parts = min(runs, key=lambda r: r["total"])
        results["breakdown_seconds"] = parts
        results["in_process_totals"] = [r["total"] for r in runs]
        total = parts["total"]
        both = ", ".join(f"{r['total']:.1f}" for r in runs)
        print(
            f"\n2. where the time goes (in process, {total:.1f} s, the faster of two runs "
            f"({both} s), each after a warm-up run on {WARM_UP_EVENTS} events: "
            f"{parts['warm_up']:.1f} s)"
        )
        for label, sec in sorted(parts.items(), key=lambda kv: -kv[1]):
            if label not in ("total", "warm_up"):
                print(f"   {label:<56} {sec:7.2f} s  {100 * sec / total:5.1f}%")

        floor = io_floor(
            args.input, args.model, Path(e2e["output"]), args.max_events, args.step_size, work
        )
        results["io_floor_seconds"] = floor
        print("\n3. I/O floor (read the same input branches, write the same output, no model)")
        print(
            f"   {floor:.1f} s = {e2e['events'] / floor:.0f} events/s; the run takes "
            f"{total / floor:.1f}x the floor in process, {e2e['seconds'] / floor:.1f}x end "
            "to end"
        )

    if args.refsim_events > 0:
        ref = refsim_detector(args.refsim_events, args.process)
        results["refsim"] = ref
        flash_ms = 1e3 * total / e2e["events"]
        print(f"\n4. speed-up ({args.refsim_events} fresh {args.process} events)")
        print(
            f"   refsim detector       {ref['detector_ms_per_event']:.2f} ms/event "
            f"(generation + detector {ref['total_ms_per_event']:.2f} ms/event)"
        )
        print(f"   flashsim run          {flash_ms:.3f} ms/event (in process, after the warm-up)")
        print(
            f"   speed-up              {ref['detector_ms_per_event'] / flash_ms:.0f}x "
            f"(detector only), {ref['total_ms_per_event'] / flash_ms:.0f}x (whole refsim)"
        )
        results["speedup_detector"] = ref["detector_ms_per_event"] / flash_ms
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

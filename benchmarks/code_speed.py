"""`flashsim run` speed of two versions of the code, in the same benchmark run.

Runs ``flashsim run`` (a child process, ``--quiet``, the same model, input and seed) alternately
with the code of this checkout and with an older checkout (``--old``, e.g. a ``git worktree`` of
the commit before a change), several times each, and prints the median wall time, events/s and
peak resident memory of each, their ratio, and whether the two outputs hold the same branches
with equal values. Alternating the runs spreads the noise of a shared machine over both.

It is a benchmark, not a test: nothing is asserted.

    git worktree add /tmp/old <commit>
    python benchmarks/code_speed.py INPUT.root --old /tmp/old [--repeats 5] [--json out.json]

A larger input than the shipped example (1,000 events, mostly start-up) gives a clearer answer:
``--tile N`` first writes the example's events N times into a temporary file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot


def tiled_input(source: Path, times: int, work: Path) -> Path:
    """``source``'s events written ``times`` times over (the same events, new entry numbers)."""
    from flashsim.io import NanoAODWriter, zip_collections

    with uproot.open(source) as f:
        arrays = f["Events"].arrays()
    events = zip_collections(arrays)
    out = work / f"tiled_{times}x.root"
    with NanoAODWriter(out, overwrite=True) as writer:
        for copy in range(times):
            chunk = {name: events[name] for name in events.fields}
            if "event" in chunk:
                chunk["event"] = np.asarray(chunk["event"]) + copy * len(events)
            writer.extend(chunk)
    return out


def one_run(python_path: str | None, path: Path, out: Path, args: list[str]) -> dict[str, Any]:
    """One ``flashsim run`` in a child process (with ``PYTHONPATH=python_path`` if given)."""
    env = dict(os.environ)
    if python_path is not None:
        env["PYTHONPATH"] = python_path
    cmd = [sys.executable, "-m", "flashsim", "run", str(path), "-o", str(out), "--quiet"]
    cmd += ["--overwrite", *args]
    start = time.monotonic()
    child = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.monotonic() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, cmd)
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024}


def same_branches(a: Path, b: Path) -> str:
    """``"identical"`` or the first branches whose values differ."""
    with uproot.open(a) as fa, uproot.open(b) as fb:
        ta, tb = fa["Events"], fb["Events"]
        if set(ta.keys()) != set(tb.keys()):
            return f"branches differ: {sorted(set(ta.keys()) ^ set(tb.keys()))[:5]}"
        bad = [
            k
            for k in ta.keys()  # noqa: SIM118 - iterating a TTree yields branches
            if not ak.array_equal(ta[k].array(), tb[k].array(), equal_nan=True)
        ]
    return "identical" if not bad else f"values differ: {bad[:5]}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("--old", required=True, help="checkout of the older code")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tile", type=int, default=0, help="write the input N times over first")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    parser.add_argument("run_args", nargs="*", help="more `flashsim run` options (after --)")
    options = parser.parse_args(argv)
    new_path = str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = tiled_input(options.input, options.tile, work) if options.tile else options.input
        with uproot.open(path) as f:
            events = f["Events"].num_entries
        args = ["--seed", str(options.seed), *options.run_args]
        results: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
        for repeat in range(options.repeats):
            for name, code in (("old", options.old), ("new", new_path)):
                results[name].append(one_run(code, path, work / f"{name}.root", args))
                print(
                    f"  {name} run {repeat + 1}: {results[name][-1]['seconds']:.2f} s",
                    file=sys.stderr,
                )
        outputs = same_branches(work / "old.root", work / "new.root")
    summary = {
        name: {
            "median_s": statistics.median(r["seconds"] for r in runs),
            "min_s": min(r["seconds"] for r in runs),
            "events_per_s": events / statistics.median(r["seconds"] for r in runs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "runs_s": [round(r["seconds"], 3) for r in runs],
        }
        for name, runs in results.items()
    }
    ratio = summary["old"]["median_s"] / summary["new"]["median_s"]
    print(f"input: {path.name if options.tile else path} ({events} events), seed {options.seed}")
    print(f"{'code':5} {'median s':>9} {'min s':>7} {'events/s':>9} {'peak MB':>8}  runs")
    for name, s in summary.items():
        print(
            f"{name:5} {s['median_s']:9.2f} {s['min_s']:7.2f} {s['events_per_s']:9.0f} "
            f"{s['peak_rss_mb']:8.0f}  {s['runs_s']}"
        )
    print(f"speed new/old (median): {ratio:.3f}; outputs: {outputs}")
    if options.json:
        options.json.write_text(
            json.dumps({"events": events, "ratio": ratio, "outputs": outputs, **summary}, indent=1)
        )


if __name__ == "__main__":
    main()

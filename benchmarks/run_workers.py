"""`flashsim run` on many files: events/s with 1 and 2 local workers and dask (prints a table).

Splits the first ``--files`` x ``--events-per-file`` events of a gen file into that many files
(or takes the files a quoted glob matches), then runs the command line in a child process, as
users run it, once per configuration: the whole-file mode on the same events for reference
(torch on all cores), work items with ``--workers 1`` and ``--workers 2``, and the dask local
cluster with 2 workers (if ``flashsim[dask]`` is installed). Times are wall clock, including
start-up and model loading (the items' own time, from the manifest, is shown beside); the
outputs of the work-item runs are checked to be identical::

    python benchmarks/run_workers.py samples/ttbar_valid.root --files 4 --events-per-file 5000
    python benchmarks/run_workers.py 'gen_*.root'
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import awkward as ak
import uproot

from flashsim.io import NanoAODWriter, zip_collections


def split(source: Path, directory: Path, files: int, events: int) -> list[Path]:
    """Write ``files`` files of ``events`` consecutive events of ``source``."""
    paths = []
    with uproot.open(source) as f:
        tree = f["Events"]
        if tree.num_entries < files * events:
            sys.exit(f"{source} has {tree.num_entries} events, fewer than {files} x {events}")
        for i in range(files):
            arrays = tree.arrays(entry_start=i * events, entry_stop=(i + 1) * events)
            path = directory / f"{source.stem}_{i}.root"
            with NanoAODWriter(path) as writer:
                zipped = zip_collections(arrays)
                writer.extend({name: zipped[name] for name in zipped.fields})
            paths.append(path)
    return paths


def run(args: list[str]) -> float:
    """Run ``flashsim run ARGS --quiet`` in a child process; returns the wall time."""
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "flashsim", "run", *args, "--quiet"], check=True, env=env)
    return time.monotonic() - start


def item_seconds(outdir: Path) -> float:
    """The items' own time (reading, simulating, writing), summed over items."""
    items = json.loads((outdir / "flashsim-manifest.json").read_text())["items"]
    return sum(entry["seconds"] for entry in items)


def outputs(outdir: Path) -> dict[str, ak.Array]:
    """Per input name, the outputs of its items concatenated in entry order."""
    items = json.loads((outdir / "flashsim-manifest.json").read_text())["items"]
    parts: dict[str, list[ak.Array]] = {}
    for entry in sorted(items, key=lambda e: (e["input"], e["entry_start"])):
        with uproot.open(outdir / entry["output"]) as f:
            parts.setdefault(Path(entry["input"]).name, []).append(f["Events"].arrays())
    return {name: ak.concatenate(arrays) for name, arrays in parts.items()}


def identical(left: dict[str, ak.Array], right: dict[str, ak.Array]) -> bool:
    return left.keys() == right.keys() and all(
        left[n].fields == right[n].fields
        and all(ak.array_equal(left[n][f], right[n][f]) for f in left[n].fields)
        for n in left
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="a gen file to split, or a quoted glob of gen files")
    parser.add_argument("--files", type=int, default=4, help="files to split the input into")
    parser.add_argument("--events-per-file", type=int, default=5000)
    parser.add_argument("--item-size", type=int, default=2500)
    parser.add_argument("--step-size", type=int, default=2500)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--no-dask", action="store_true", help="skip the dask configuration")
    args = parser.parse_args()
    load_before = os.getloadavg()
    common = ["--step-size", str(args.step_size)]
    if args.model is not None:
        common += ["--model", str(args.model)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if glob.has_magic(args.input):
            inputs = sorted(Path(p) for p in glob.glob(args.input))
            reference = None
        else:
            (work / "gen").mkdir()
            inputs = split(Path(args.input), work / "gen", args.files, args.events_per_file)
            reference = Path(args.input)
        events = 0
        for path in inputs:
            with uproot.open(path) as f:
                events += f["Events"].num_entries
        rows: list[tuple[str, float, float | None]] = []
        if reference is not None:
            whole = [str(reference), "-o", str(work / "whole.root"), "--max-events", str(events)]
            seconds = run([*whole, *common])
            rows.append(("whole file, 1 process (torch on all cores)", seconds, None))
        configs = [("work items, --workers 1", "w1", ["--workers", "1"])]
        configs.append(("work items, --workers 2 (local)", "w2", ["--workers", "2"]))
        if not args.no_dask and importlib.util.find_spec("distributed") is not None:
            configs.append(("work items, dask LocalCluster 2 workers", "dask", ["--workers", "2"]))
        results = {}
        for label, name, extra in configs:
            executor = ["--executor", "dask"] if name == "dask" else []
            cmd = [*map(str, inputs), "-o", f"{work / name}/", "--item-size", str(args.item_size)]
            seconds = run([*cmd, *common, *extra, *executor])
            rows.append((label, seconds, item_seconds(work / name)))
            results[name] = outputs(work / name)
        same = all(identical(results["w1"], r) for r in results.values())
    loads = [", ".join(f"{x:.2f}" for x in load) for load in (load_before, os.getloadavg())]
    print(
        f"{len(inputs)} files, {events} events; item size {args.item_size}, step {args.step_size}"
    )
    print(
        f"{os.cpu_count()} cores; load average (1, 5, 15 min) before {loads[0]}, after {loads[1]}"
    )
    base = next(seconds for label, seconds, _ in rows if label == "work items, --workers 1")
    print(
        f"{'configuration':<44} {'wall [s]':>9} {'events/s':>9} {'vs --workers 1':>15} "
        f"{'items [s]':>10}"
    )
    for label, seconds, own in rows:
        items = "-" if own is None else f"{own:.1f}"
        print(
            f"{label:<44} {seconds:>9.1f} {events / seconds:>9.0f} {base / seconds:>14.2f}x "
            f"{items:>10}"
        )
    print("items [s]: the items' own time (read, simulate, write) summed over items")
    print(f"work-item outputs identical across configurations: {same}")


if __name__ == "__main__":
    main()

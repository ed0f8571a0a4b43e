"""`flashsim gen` on a HepMC3 ASCII file: speed, where the time goes, memory, round trip.

The acceptance of issue #23: HepMC3 ASCII -> gen-level NanoAOD at >= 300 ttbar events/s on this
machine, saying what limits the rate (parsing, clustering or writing), with memory flat in the
number of events, and the round trip through ``flashsim refsim generate --hepmc`` exact. Every
measurement runs in a child process of its own, so imports and peak resident memory are those of
that measurement alone (peak RSS from ``os.wait4``):

1. **End to end**: ``flashsim gen FILE -o out.root -q [-j N]`` as users run it (start-up, the
   input's SHA-256 for the provenance and the writing included), for each ``--jobs`` value (one
   process, and the gen level in worker processes) and, with ``--old CHECKOUT``, the code of an
   older checkout: wall time and events/s, best and median of ``--repeats`` runs of each, the
   runs alternated.
2. **Where the time goes**: the same conversion in one process
   (:func:`flashsim.generators.write.write_gen_file`, after an untimed warm-up on a few events),
   with timers around the HepMC reader (``HepMCSource.records``: reading, the compiled line scan,
   pandas' table parser, putting particles in order), the gen level (``build_genlevel``, of which
   the anti-kT clustering ``cluster_antikt`` with FastJet and the flavour association) and the
   writing (``gen_branches`` + ``NanoAODWriter``), as ms/event and share; the stage with the
   largest share is what limits the rate.
3. **The HepMC3 library's reader** (``pyhepmc.open``, iterating events only) on the first
   ``--pyhepmc-events`` events, against flashsim's reader on the same events, ms/event.
4. **Memory**: peak RSS of ``flashsim gen -n N`` for N in ``--memory-events``: flat in N.
5. **Round trip**: every ``GenJet_*``, ``GenJetAK8_*``, ``GenPart_*``, ``GenMET_*``, ``genWeight``,
   ``Generator_binvar``, ``run``, ``event`` branch (and the counters) of the ``flashsim gen``
   output against the refsim file the HepMC file was written with: values that differ (must be 0)
   and the largest relative difference. ``luminosityBlock`` is not compared: refsim numbers its
   work blocks, ``flashsim gen`` writes 1.

It is a benchmark, not a test: nothing is asserted. The input of the acceptance numbers::

    flashsim refsim generate --process ttbar -n 10000 --seed 11 -j 2 \\
        -o samples/rt_ttbar10k.root --hepmc samples/rt_ttbar10k.hepmc3
    python benchmarks/gen_hepmc.py samples/rt_ttbar10k.hepmc3 samples/rt_ttbar10k.root

writes ``benchmarks/results/gen_hepmc.txt`` and ``.json`` (``--out PREFIX`` elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

#: Events of the untimed warm-up of the in-process breakdown (numba cache, FastJet, uproot).
WARM_UP_EVENTS = 100
#: Event-level branches compared in the round trip, besides the Gen* collections.
ROUND_TRIP_EVENT_BRANCHES = ("genWeight", "Generator_binvar", "run", "event")
#: Prefixes of the compared collection branches (the counters included; ``nGenJet`` also
#: matches ``nGenJetAK8``).
ROUND_TRIP_PREFIXES = ("GenJet_", "GenJetAK8_", "GenPart_", "GenMET_", "nGenJet", "nGenPart")

PARSE = "parse: HepMCSource.records"
PARSE_SCAN = "  line scan (numba)"
PARSE_TABLE = "  particle table (pandas C parser)"
PARSE_ORDER = "  topological order"
PARSE_OTHER = "  reading, arrays, mothers, checks, blocks"
GENLEVEL = "gen level: build_genlevel"
CLUSTER = "  anti-kT clustering (FastJet, cluster_antikt)"
FLAVOUR = "  flavour association (nearest)"
GENLEVEL_OTHER = "  pruning, ancestry, flags, GenMET (numpy, awkward)"
WRITE = "write: gen_branches + NanoAODWriter"
DIGEST = "wait for the input's SHA-256 (provenance)"
TOP_LEVEL = (PARSE, GENLEVEL, WRITE, DIGEST)


# -- helpers -------------------------------------------------------------------------------------


def machine() -> str:
    """A one-line description of the machine and its load."""
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


def versions() -> dict[str, str]:
    """Versions of the packages the conversion runs on."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("flashsim", "numpy", "numba", "pandas", "awkward", "uproot", "fastjet", "pyhepmc"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def run_child(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd``; its wall time and its own peak RSS (``os.wait4``, not the children's max).

    Raises:
        subprocess.CalledProcessError: the command failed.
    """
    start = time.monotonic()
    child = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    if code:
        raise subprocess.CalledProcessError(code, cmd)
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024}


def gen_command(hepmc: Path, out: Path, n_events: int | None, jobs: int = 1) -> list[str]:
    """``flashsim gen`` as a user runs it (quiet, replacing the output; ``-j`` above 1)."""
    cmd = [sys.executable, "-m", "flashsim", "gen", str(hepmc), "-o", str(out), "-q"]
    cmd.append("--overwrite")
    if n_events is not None:
        cmd += ["-n", str(n_events)]
    if jobs > 1:
        cmd += ["-j", str(jobs)]
    return cmd


def entries(path: Path) -> int:
    """Number of events in a ROOT file's ``Events`` tree."""
    import uproot

    with uproot.open(path) as f:
        return int(f["Events"].num_entries)


def child_json(kind: str, args: list[str], work: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run this script's ``--child KIND`` mode; its JSON result and its wall time and peak RSS."""
    result = work / f"{kind}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, *args]
    usage = run_child([*cmd, "--result", str(result)])
    return json.loads(result.read_text()), usage


# -- child: the in-process breakdown --------------------------------------------------------------


class Timers:
    """Accumulated seconds per label, and the patches that feed them (undone by :meth:`undo`)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, attr: str, label: str) -> None:
        """Replace ``owner.attr`` (a function, or a method of a class) by a timed call."""
        original = getattr(owner, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start

        setattr(owner, attr, timed)
        self._undo.append(lambda: setattr(owner, attr, original))

    def wrap_generator(self, owner: Any, attr: str, label: str) -> None:
        """Replace the generator method ``owner.attr`` by one that times every ``next``."""
        original = getattr(owner, attr)
        seconds = self.seconds

        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            iterator = original(*args, **kwargs)
            while True:
                start = time.perf_counter()
                try:
                    item = next(iterator)
                except StopIteration:
                    seconds[label] += time.perf_counter() - start
                    return
                seconds[label] += time.perf_counter() - start
                yield item

        setattr(owner, attr, timed)
        self._undo.append(lambda: setattr(owner, attr, original))

    def undo(self) -> None:
        """Put every patched function back."""
        while self._undo:
            self._undo.pop()()


def warm_up(hepmc: Path, work: Path) -> float:
    """Convert the first :data:`WARM_UP_EVENTS` events without ``write_gen_file`` (whose
    SHA-256 of the whole input would be cached and missing from the timed run); seconds."""
    from flashsim.generators.branches import gen_branches
    from flashsim.generators.genlevel import build_genlevel
    from flashsim.generators.hepmc_read import HepMCSource
    from flashsim.generators.record import select_events
    from flashsim.io import NanoAODWriter

    start = time.perf_counter()
    source = HepMCSource(hepmc)
    try:
        record = next(iter(source.records(WARM_UP_EVENTS)))
        record = select_events(record, 0, min(record.n_events, WARM_UP_EVENTS))
        with NanoAODWriter(work / "warm_up.root", overwrite=True) as writer:
            writer.extend(gen_branches(record, build_genlevel(record)))
    finally:
        source.close()
    return time.perf_counter() - start


def breakdown(hepmc: Path, n_events: int | None, work: Path) -> dict[str, Any]:
    """``write_gen_file`` in this process with timers around every stage."""
    import pandas as pd

    import flashsim.generators.genlevel as genlevel_module
    import flashsim.generators.hepmc_read as read_module
    import flashsim.generators.hepmc_scan as scan_module
    import flashsim.generators.write as write_module
    from flashsim.io import NanoAODWriter
    from flashsim.provenance import BackgroundDigest

    warm = warm_up(hepmc, work)
    timers = Timers()
    source_class = read_module.HepMCSource
    timers.wrap_generator(source_class, "records", PARSE)
    timers.wrap(scan_module, "scan_events", PARSE_SCAN)
    timers.wrap(pd, "read_csv", PARSE_TABLE)
    timers.wrap(read_module, "in_topological_order", PARSE_ORDER)
    timers.wrap(write_module, "build_genlevel", GENLEVEL)
    timers.wrap(genlevel_module, "cluster_antikt", CLUSTER)
    timers.wrap(genlevel_module, "nearest", FLAVOUR)
    timers.wrap(write_module, "gen_branches", WRITE)
    timers.wrap(NanoAODWriter, "extend", WRITE)
    timers.wrap(NanoAODWriter, "__exit__", WRITE)
    timers.wrap(BackgroundDigest, "result", DIGEST)
    try:
        source = read_module.HepMCSource(hepmc)
        start = time.perf_counter()
        summary = write_module.write_gen_file(
            source, work / "breakdown.root", overwrite=True, progress=False, max_events=n_events
        )
        total = time.perf_counter() - start
    finally:
        timers.undo()
    seconds = dict(timers.seconds)
    seconds[PARSE_OTHER] = seconds.get(PARSE, 0.0) - sum(
        seconds.get(label, 0.0) for label in (PARSE_SCAN, PARSE_TABLE, PARSE_ORDER)
    )
    seconds[GENLEVEL_OTHER] = seconds.get(GENLEVEL, 0.0) - sum(
        seconds.get(label, 0.0) for label in (CLUSTER, FLAVOUR)
    )
    seconds["other (provenance, chunking, progress)"] = total - sum(
        seconds.get(label, 0.0) for label in TOP_LEVEL
    )
    return {
        "events": summary["n_events"],
        "total_seconds": total,
        "warm_up_seconds": warm,
        "chunk_size": write_module.DEFAULT_CHUNK,
        "seconds": seconds,
    }


# -- child: the HepMC3 library's reader against ours ---------------------------------------------


def readers(hepmc: Path, n_events: int) -> dict[str, Any]:
    """ms/event of ``pyhepmc.open`` (iterating events only; then also turning each event into
    flashsim's arrays, as the HepMC2 path does) and of flashsim's reader on the first
    ``n_events`` events of ``hepmc``.

    flashsim's reader parses whole 16 MiB pieces of the file, so it parses a few more events than
    it returns and is counted for: its ms/event is, if anything, too high.
    """
    import pyhepmc

    from flashsim.generators.hepmc2 import event_arrays
    from flashsim.generators.hepmc_read import HepMCSource

    out: dict[str, Any] = {"events": n_events}
    for key, convert in (("pyhepmc", None), ("pyhepmc_arrays", event_arrays)):
        with pyhepmc.open(hepmc) as reader:
            start = time.perf_counter()
            read = 0
            for read, event in enumerate(reader, start=1):
                if convert is not None:
                    convert(event)
                if read >= n_events:
                    break
            out[f"{key}_seconds"] = time.perf_counter() - start
        out["pyhepmc_events"] = read
    for timed in (False, True):  # the first pass loads the compiled scan and pandas
        source = HepMCSource(hepmc)
        try:
            start = time.perf_counter()
            record = next(iter(source.records(n_events if timed else 1)))
            seconds = time.perf_counter() - start
        finally:
            source.close()
    out["flashsim_seconds"] = seconds
    out["flashsim_events"] = record.n_events
    return out


# -- round trip -----------------------------------------------------------------------------------


def round_trip(gen: Path, refsim: Path) -> dict[str, Any]:
    """Compare the gen-level branches of ``gen`` with those of ``refsim``, value by value (the
    first ``len(gen)`` events of ``refsim``; NaN equals NaN)."""
    import awkward as ak
    import uproot

    with uproot.open(gen) as fg, uproot.open(refsim) as fr:
        tg, tr = fg["Events"], fr["Events"]
        n = tg.num_entries
        names = sorted(
            k
            for k in tg.keys()  # noqa: SIM118 - iterating a TTree yields its branches
            if k.startswith(ROUND_TRIP_PREFIXES) or k in ROUND_TRIP_EVENT_BRANCHES
        )
        missing = [k for k in names if k not in tr]
        rows = []
        for name in names:
            if name in missing:
                continue
            a = tg[name].array()
            b = tr[name].array(entry_stop=n)
            flat_a = ak.to_numpy(ak.flatten(a, axis=None))
            flat_b = ak.to_numpy(ak.flatten(b, axis=None))
            row: dict[str, Any] = {"branch": name, "values": len(flat_a)}
            if a.ndim > 1 and not ak.all(ak.num(a) == ak.num(b)):
                row.update(differ=int(max(len(flat_a), len(flat_b))), structure="differs")
            else:
                x, y = flat_a.astype(np.float64), flat_b.astype(np.float64)
                same = (flat_a == flat_b) | (np.isnan(x) & np.isnan(y))
                row["differ"] = int(np.count_nonzero(~same))
                if row["differ"]:
                    d = ~same
                    rel = np.abs(x[d] - y[d]) / np.maximum(np.abs(y[d]), 1e-30)
                    row["max_rel_diff"] = float(np.nanmax(rel)) if np.any(~np.isnan(rel)) else None
            rows.append(row)
        return {
            "events": int(n),
            "refsim_events": int(tr.num_entries),
            "branches": rows,
            "missing_in_refsim": missing,
            "not_compared": ["luminosityBlock (refsim: work block + 1; flashsim gen: 1)"],
        }


# -- the report -----------------------------------------------------------------------------------


class Report:
    """Printed lines, kept for the text file."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)


def limiting_stage(parts: dict[str, Any]) -> tuple[str, dict[str, float]]:
    """What limits the rate: the share of the in-process time of parsing, clustering, the rest
    of the gen level, writing and waiting for the input's digest; and the largest of them."""
    seconds = parts["seconds"]
    total = parts["total_seconds"]
    shares = {
        "parsing": seconds.get(PARSE, 0.0) / total,
        "clustering (FastJet)": seconds.get(CLUSTER, 0.0) / total,
        "the rest of the gen level": (seconds.get(GENLEVEL, 0.0) - seconds.get(CLUSTER, 0.0))
        / total,
        "writing": seconds.get(WRITE, 0.0) / total,
        "the input's SHA-256": seconds.get(DIGEST, 0.0) / total,
    }
    return max(shares, key=lambda k: shares[k]), shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hepmc", type=Path, help="HepMC3 ASCII file (refsim generate --hepmc)")
    parser.add_argument("refsim", type=Path, nargs="?", help="the refsim ROOT file of the same run")
    parser.add_argument("--repeats", type=int, default=3, help="end-to-end runs (best, median)")
    parser.add_argument(
        "--jobs",
        type=lambda text: [int(j) for j in text.split(",")],
        default=[1, 2],
        help="the -j values of the end-to-end runs, J,J,... [default: 1,2]",
    )
    parser.add_argument(
        "--old",
        type=Path,
        help="a checkout of older code (git worktree) whose flashsim gen is also run end to end "
        "(-j 1), alternated with this checkout's",
    )
    parser.add_argument("-n", "--events", type=int, default=None, help="at most N events")
    parser.add_argument("--pyhepmc-events", type=int, default=1000)
    parser.add_argument("--memory-events", default="1000,3000,10000", help="N,N,... for -n")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "gen_hepmc",
        help="write OUT.txt and OUT.json [default: benchmarks/results/gen_hepmc]",
    )
    parser.add_argument("--child", choices=("breakdown", "readers"), help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    if args.child is not None:
        with tempfile.TemporaryDirectory() as tmp:
            if args.child == "breakdown":
                result = breakdown(args.hepmc, args.events, Path(tmp))
            else:
                result = readers(args.hepmc, args.pyhepmc_events)
        args.result.write_text(json.dumps(result))
        return

    say = Report()
    size_mb = args.hepmc.stat().st_size / 1e6
    results: dict[str, Any] = {
        "machine": machine(),
        "versions": versions(),
        "input": str(args.hepmc),
        "input_mb": size_mb,
        "refsim": str(args.refsim) if args.refsim else None,
    }
    say(f"machine: {results['machine']}")
    say(f"input:   {args.hepmc} ({size_mb:.0f} MB)")
    say("versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()))

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        out = work / "gen.root"
        common = ["--pyhepmc-events", str(args.pyhepmc_events)]
        events_opt = ["-n", str(args.events)] if args.events is not None else []

        # 1. end to end: every configuration once per round, alternated, so that the noise of a
        # shared machine spreads over all of them
        configs = [(f"-j {j}", j, None) for j in args.jobs]
        if args.old is not None:
            old_env = {**os.environ, "PYTHONPATH": str(args.old.resolve())}
            configs.append((f"-j 1, code of {args.old}", 1, old_env))
        runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in configs}
        for _ in range(args.repeats):
            for label, jobs, env in configs:
                cmd = gen_command(args.hepmc, out, args.events, jobs)
                runs[label].append(run_child(cmd, env))
        n = entries(out)
        results["end_to_end"] = {}
        say(
            f"\n1. end to end: flashsim gen FILE -o out.root -q [-j N] ({args.repeats} runs of "
            "each, alternated, each a child process; start-up included)"
        )
        say(f"   events            {n}")
        for label, _, _ in configs:
            times = [r["seconds"] for r in runs[label]]
            best, median = min(times), statistics.median(times)
            results["end_to_end"][label] = {
                "events": n,
                "runs": runs[label],
                "best_seconds": best,
                "median_seconds": median,
                "best_events_per_s": n / best,
                "median_events_per_s": n / median,
            }
            say(
                f"   {label:<28} best {n / best:5.0f} events/s ({best:.1f} s), median "
                f"{n / median:5.0f} (goal >= 300); input read {size_mb / best:.0f} MB/s; "
                f"peak RSS of the main process {max(r['peak_rss_mb'] for r in runs[label]):.0f} MB"
            )
        e2e = results["end_to_end"]

        # 2. where the time goes
        parts, usage = child_json("breakdown", [str(args.hepmc), *events_opt, *common], work)
        results["breakdown"] = {**parts, "child": usage}
        total, m = parts["total_seconds"], parts["events"]
        say(
            f"\n2. where the time goes (write_gen_file in one process, {m} events in {total:.1f} s "
            f"= {m / total:.0f} events/s; warm-up on {WARM_UP_EVENTS} events before it: "
            f"{parts['warm_up_seconds']:.1f} s; chunks of {parts['chunk_size']} events)"
        )
        say(f"   {'stage':<52} {'ms/event':>9} {'share':>7}")
        order = [
            PARSE,
            PARSE_SCAN,
            PARSE_TABLE,
            PARSE_ORDER,
            PARSE_OTHER,
            GENLEVEL,
            CLUSTER,
            FLAVOUR,
            GENLEVEL_OTHER,
            WRITE,
            DIGEST,
            "other (provenance, chunking, progress)",
        ]
        seconds = parts["seconds"]
        for label in order:
            sec = seconds.get(label, 0.0)
            say(f"   {label:<52} {1e3 * sec / m:9.3f} {100 * sec / total:6.1f}%")
        stage, shares = limiting_stage(parts)
        others = ", ".join(f"{k} {100 * v:.0f}%" for k, v in shares.items() if k != stage)
        gen_share = seconds.get(GENLEVEL, 0.0) / total
        limit = (
            f"the rate is limited by {stage} ({100 * shares[stage]:.0f}% of the time; {others}; "
            f"the gen level in all {100 * gen_share:.0f}%)"
        )
        results["limited_by"] = {"stage": stage, "shares": shares}
        say(f"   => {limit}")

        # 3. the HepMC3 library's reader
        read, _ = child_json("readers", [str(args.hepmc), *common], work)
        results["readers"] = read
        ms_py = 1e3 * read["pyhepmc_seconds"] / read["pyhepmc_events"]
        ms_py_arrays = 1e3 * read["pyhepmc_arrays_seconds"] / read["pyhepmc_events"]
        ms_ours = 1e3 * read["flashsim_seconds"] / read["flashsim_events"]
        say(f"\n3. reading the first {read['pyhepmc_events']} events (ms/event, one process)")
        say(f"   pyhepmc.open, iterating events only      {ms_py:8.3f}")
        say(f"   pyhepmc + arrays (the HepMC2 path)       {ms_py_arrays:8.3f}")
        say(
            f"   flashsim HepMCSource.records             {ms_ours:8.3f}  "
            f"({ms_py / ms_ours:.1f}x faster than pyhepmc's reader)"
        )

        # 4. memory
        counts = [int(c) for c in args.memory_events.split(",") if c.strip()]
        memory = []
        for count in counts:
            usage = run_child(gen_command(args.hepmc, work / "memory.root", count))
            memory.append({"requested": count, "events": entries(work / "memory.root"), **usage})
        results["memory"] = memory
        say("\n4. memory: peak RSS of flashsim gen -n N (child process)")
        for row in memory:
            say(
                f"   -n {row['requested']:<7} {row['events']:>7} events  "
                f"{row['peak_rss_mb']:6.0f} MB  ({row['seconds']:.1f} s)"
            )
        if len(memory) > 1:
            low, high = memory[0], memory[-1]
            say(
                f"   {high['events'] / max(low['events'], 1):.0f}x the events: "
                f"{high['peak_rss_mb'] - low['peak_rss_mb']:+.0f} MB"
            )

        # 5. round trip
        if args.refsim is not None:
            trip = round_trip(out, args.refsim)
            results["round_trip"] = trip
            rows = trip["branches"]
            values = sum(r["values"] for r in rows)
            differ = sum(r["differ"] for r in rows)
            rels = [r["max_rel_diff"] for r in rows if r.get("max_rel_diff") is not None]
            say(f"\n5. round trip: flashsim gen output vs {args.refsim} ({trip['events']} events)")
            say(f"   branches compared {len(rows)}, values compared {values}, differing {differ}")
            for row in rows:
                if row["differ"]:
                    text = f"   {row['branch']:<28} {row['differ']} of {row['values']} differ"
                    if row.get("structure"):
                        text += " (the number of objects per event differs)"
                    elif row.get("max_rel_diff") is not None:
                        text += f", largest relative difference {row['max_rel_diff']:.2e}"
                    say(text)
            if rels:
                say(f"   largest relative difference {max(rels):.2e}")
            if trip["missing_in_refsim"]:
                say(f"   not in the refsim file: {', '.join(trip['missing_in_refsim'])}")
            say(f"   not compared: {'; '.join(trip['not_compared'])}")
            if trip["events"] != trip["refsim_events"]:
                say(f"   (the first {trip['events']} of {trip['refsim_events']} refsim events)")

    rates = ", ".join(
        f"{v['best_events_per_s']:.0f} events/s with {k} (median {v['median_events_per_s']:.0f})"
        for k, v in e2e.items()
    )
    say(f"\nsummary: end to end, best of {args.repeats}: {rates}; {limit}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".txt").write_text("\n".join(say.lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out.with_suffix('.txt')} and {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()

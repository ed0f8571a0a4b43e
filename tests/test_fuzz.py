"""Fuzz: hundreds of damaged inputs through ``flashsim run``; each ends cleanly, none hangs.

A production campaign runs ``flashsim run`` unattended on thousands of files: one bad file must
give one line on stderr and exit status 2 (never a traceback, an internal error or a hang), or a
valid output; never a partial file or a temporary left behind. The inputs come from
``tests/damage.py``: the shipped example file truncated, with bytes flipped or zeroed, branches
removed, renamed or retyped, NaN, inf, huge and absurd values, empty trees, no tree, not ROOT;
and the model bundle with files missing, truncated, corrupted or incompatible.
"""

from __future__ import annotations

import collections
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml
from click.testing import CliRunner
from damage import Case, damaged_bundles, damaged_inputs

from flashsim.cli.app import flashsim
from flashsim.io import read_provenance

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "ttbar_gen.root"
TIME_BOUND_S = 60
"""A run that takes longer than this counts as a hang (a damaged 50-event file takes < 1 s)."""


class HangError(Exception):
    """A case ran past :data:`TIME_BOUND_S`."""


@contextmanager
def time_bound(seconds: int) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise HangError

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def outcome(case: Case, args: list[str], output: Path) -> tuple[str, str]:
    """Run ``flashsim run`` on one case; ``(outcome, detail)`` where a clean outcome is
    ``error`` or ``output`` and anything else names the defect."""
    start = time.monotonic()
    try:
        with time_bound(TIME_BOUND_S):
            result = CliRunner().invoke(flashsim, ["run", *args, "-o", str(output), "-q"])
    except HangError:
        return "hang", f"still running after {time.monotonic() - start:.0f} s"
    leftovers = [p.name for p in output.parent.iterdir() if p.name.startswith(".")]
    if leftovers:
        return "temporary left", ", ".join(leftovers)
    stderr = result.stderr.strip()
    if "Traceback" in result.output or (result.exception and result.exit_code not in (0, 2)):
        return "traceback", stderr or repr(result.exception)
    if result.exit_code == 2:
        lines = stderr.splitlines()
        if len(lines) != 1 or not lines[0].startswith("flashsim: error: "):
            return "unclear error", stderr
        if output.exists():
            return "output after an error", stderr
        return "error", lines[0]
    if result.exit_code != 0:
        return f"exit {result.exit_code}", stderr
    return check_output(output)


def check_output(output: Path) -> tuple[str, str]:
    """A valid output: readable, the events the provenance announces, finite simulated values."""
    try:
        record = read_provenance(output)
        with uproot.open(output) as file:
            events = file["Events"].arrays()
    except Exception as err:
        return "unreadable output", f"{type(err).__name__}: {err}"
    if len(events) != record["output_events"]:
        return "wrong event count", f"{len(events)} != {record['output_events']}"
    with uproot.open(record["input"]) as file:
        inputs = set(file["Events"].keys())
    for name in events.fields:
        values = np.asarray(ak.flatten(events[name], axis=None))
        if name not in inputs and values.dtype.kind == "f" and not np.isfinite(values).all():
            return "non-finite output", name
    return "output", f"{len(events)} events"


def run_cases(
    cases: list[Case], args: Callable[[Case], list[str]], workdir: Path
) -> collections.Counter:
    """Run every case (``args``: its command-line arguments); fail listing every defect."""
    tally: collections.Counter = collections.Counter()
    defects = []
    for i, case in enumerate(cases):
        output = workdir / f"{i:03d}" / "reco.root"
        output.parent.mkdir(parents=True)
        kind, detail = outcome(case, args(case), output)
        tally[kind] += 1
        if kind not in ("error", "output"):
            defects.append(f"{case.name}: {kind}: {detail[:300]}")
    assert not defects, "\n".join(defects)
    return tally


def test_damaged_inputs_end_cleanly(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = damaged_inputs(EXAMPLE, tmp_path / "inputs", seed=20261126)
    values = [c for c in cases if c.name.split("_")[0] in ("nan", "inf", "huge", "minus")]
    bundles = damaged_bundles(tiny_model, tmp_path / "bundles", seed=20261126)
    good = cases[0].path
    start = time.monotonic()
    tallies = {
        "inputs (default policies)": run_cases(
            cases, lambda c: [str(c.path), "--model", str(tiny_model)], tmp_path / "a"
        ),
        "value damages (--non-finite drop --out-of-domain flag)": run_cases(
            values,
            lambda c: [
                str(c.path),
                "--model",
                str(tiny_model),
                "--non-finite",
                "drop",
                "--out-of-domain",
                "flag",
            ],
            tmp_path / "b",
        ),
        "model bundles": run_cases(
            bundles, lambda c: [str(good), "--model", str(c.path)], tmp_path / "c"
        ),
    }
    total = sum(sum(t.values()) for t in tallies.values())
    with capsys.disabled():
        print(f"\nfuzz: {total} damaged runs in {time.monotonic() - start:.0f} s")
        for what, tally in tallies.items():
            print(f"  {what}: {sum(tally.values())} runs, {dict(tally)}")
    assert total >= 200
    assert tallies["inputs (default policies)"]["output"] >= 1  # the intact file at least
    assert tallies["value damages (--non-finite drop --out-of-domain flag)"]["output"] >= 1


def test_other_commands_end_cleanly(
    ttbar_file: Path,
    flash_file: Path,
    tiny_spec_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``inspect``, ``validate`` and ``train`` on damaged full-simulation files (a sample)."""
    import random

    cases = damaged_inputs(ttbar_file, tmp_path / "inputs", seed=7, max_events=300)
    picked = {
        command: [cases[0], *random.Random(7).sample(cases[1:], n)]
        for command, n in (("inspect", 40), ("validate", 15), ("train", 7))
    }
    spec = yaml.safe_load(tiny_spec_path.read_text())
    for coll in spec["collections"].values():
        coll["response"]["training"]["epochs"] = 1
    quick_spec = tmp_path / "quick.yaml"
    quick_spec.write_text(yaml.safe_dump(spec, sort_keys=False))
    commands = {
        "inspect": lambda c, out: ["inspect", str(c.path)],
        "validate": lambda c, out: [
            "validate",
            "--flash",
            str(flash_file),
            "--full",
            str(c.path),
            "-o",
            str(out),
            "--no-plots",
            "--no-classifier",
            "-q",
        ],
        "train": lambda c, out: [
            "train",
            str(quick_spec),
            "--data",
            str(c.path),
            "-o",
            str(out),
            "-q",
        ],
    }
    tally: dict[str, collections.Counter] = {}
    defects = []
    for command, args in commands.items():
        tally[command] = collections.Counter()
        for i, case in enumerate(picked[command]):
            out = tmp_path / command / f"{i:03d}"
            with time_bound(TIME_BOUND_S):
                result = CliRunner().invoke(flashsim, args(case, out))
            lines = result.stderr.strip().splitlines()
            clean = result.exit_code == 0 or (
                result.exit_code == 2
                and len(lines) == 1
                and lines[0].startswith("flashsim: error: ")
                and not out.exists()
            )
            tally[command]["output" if result.exit_code == 0 else "error"] += 1
            if not clean or "Traceback" in result.output:
                defects.append(f"{command} {case.name}: exit {result.exit_code}: {lines[-3:]}")
    with capsys.disabled():
        for command, counts in tally.items():
            print(f"\nfuzz {command}: {sum(counts.values())} damaged runs, {dict(counts)}", end="")
        print()
    assert not defects, "\n".join(defects)
    assert tally["train"]["output"] >= 1  # the intact file trains

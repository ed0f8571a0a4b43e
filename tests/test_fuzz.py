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
import warnings
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


def invoke(args: list[str]):
    """``flashsim ARGS`` in process, under the warning filters of a real ``flashsim`` process
    (pytest's ``filterwarnings = error`` would turn a printed RuntimeWarning into an error)."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        return CliRunner().invoke(flashsim, args)


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
            result = invoke(["run", *args, "-o", str(output), "-q"])
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
) -> dict[str, str]:
    """Run every case (``args``: its command-line arguments); the outcome of each case by name.
    Fails listing every defect (an outcome other than ``error`` or ``output``)."""
    outcomes, defects = {}, []
    for i, case in enumerate(cases):
        output = workdir / f"{i:03d}" / "reco.root"
        output.parent.mkdir(parents=True)
        kind, detail = outcome(case, args(case), output)
        outcomes[case.name] = kind
        if kind not in ("error", "output"):
            defects.append(f"{case.name}: {kind}: {detail[:300]}")
    assert not defects, "\n".join(defects)
    return outcomes


def report(what: str, tally: collections.Counter, capsys: pytest.CaptureFixture[str]) -> None:
    """Print one line: how many runs of ``what`` ended how (shown even when the test passes)."""
    with capsys.disabled():
        print(f"\nfuzz {what}: {sum(tally.values())} damaged runs, {dict(tally)}")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    """The damaged variants of the shipped example file (the first is the intact one)."""
    return damaged_inputs(EXAMPLE, tmp_path_factory.mktemp("inputs"), seed=20261126)


# One class per group of runs: pytest-xdist (--dist loadscope) sends each to a free worker.


class TestRunOnDamagedInputs:
    def test_default_policies(
        self, inputs: list[Case], tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
    ) -> None:
        outcomes = run_cases(inputs, lambda c: [str(c.path), "--model", str(tiny_model)], tmp_path)
        tally = collections.Counter(outcomes.values())
        report("run (default policies)", tally, capsys)
        assert len(inputs) >= 200  # hundreds of damaged files
        assert tally["output"] >= 1  # the intact file at least


class TestRunOnDamagedValues:
    def test_drop_and_flag_policies(
        self, inputs: list[Case], tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
    ) -> None:
        values = [c for c in inputs if c.name.split("_")[0] in ("nan", "inf", "huge", "minus")]
        policies = ["--non-finite", "drop", "--out-of-domain", "flag"]
        outcomes = run_cases(
            values, lambda c: [str(c.path), "--model", str(tiny_model), *policies], tmp_path
        )
        tally = collections.Counter(outcomes.values())
        report("run (--non-finite drop --out-of-domain flag)", tally, capsys)
        assert len(values) >= 20
        assert tally["output"] >= 1


class TestRunWithDamagedBundles:
    def test_bundles(
        self, inputs: list[Case], tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
    ) -> None:
        bundles = damaged_bundles(tiny_model, tmp_path / "bundles", seed=20261126)
        good = inputs[0].path
        outcomes = run_cases(
            bundles, lambda c: [str(good), "--model", str(c.path)], tmp_path / "runs"
        )
        report("run (model bundles)", collections.Counter(outcomes.values()), capsys)
        # A weight file missing, truncated or changed is always refused (its checksum); a
        # changed byte in the record or in the readable spec.yaml copy may be harmless.
        weights = [c.name for c in bundles if c.name.endswith((".pt", ".json.gz"))]
        assert len(weights) >= 3 * 5
        assert {outcomes[name] for name in weights} == {"error"}


@pytest.fixture(scope="module")
def full_sim_cases(ttbar_file: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    """The intact full-simulation file (300 events) and 40 of its damaged variants, drawn at
    random from all of them (in random order)."""
    directory = tmp_path_factory.mktemp("full")
    return damaged_inputs(ttbar_file, directory, seed=7, max_events=300, sample=40)


def other_command_cases(
    cases: list[Case], command: str, args: Callable[[Case, Path], list[str]], workdir: Path
) -> collections.Counter:
    """Run ``flashsim COMMAND`` on the intact file and some damaged ones: each ends with exit
    status 0, or 2 with one error line and no output; the tally of outcomes."""
    n = {"inspect": 40, "validate": 15, "train": 7}[command]
    picked = cases[: n + 1]
    tally: collections.Counter = collections.Counter()
    defects = []
    for i, case in enumerate(picked):
        out = workdir / f"{i:03d}"
        with time_bound(TIME_BOUND_S):
            result = invoke([command, *args(case, out)])
        lines = result.stderr.strip().splitlines()
        clean = result.exit_code == 0 or (
            result.exit_code == 2
            and len(lines) == 1
            and lines[0].startswith("flashsim: error: ")
            and not out.exists()
        )
        tally["output" if result.exit_code == 0 else "error"] += 1
        if not clean or "Traceback" in result.output:
            defects.append(f"{command} {case.name}: exit {result.exit_code}: {lines[-3:]}")
    assert not defects, "\n".join(defects)
    return tally


class TestOtherCommandsOnDamagedFiles:
    """``inspect`` and ``validate`` on damaged full-simulation files (a sample)."""

    def test_inspect(
        self, full_sim_cases: list[Case], tmp_path: Path, capsys: pytest.CaptureFixture
    ) -> None:
        tally = other_command_cases(
            full_sim_cases, "inspect", lambda c, out: [str(c.path)], tmp_path
        )
        report("inspect", tally, capsys)
        assert tally["output"] >= 1  # the intact file

    def test_validate(
        self,
        full_sim_cases: list[Case],
        flash_file: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture,
    ) -> None:
        def args(case: Case, out: Path) -> list[str]:
            files = ["--flash", str(flash_file), "--full", str(case.path), "-o", str(out)]
            return [*files, "--no-plots", "--no-classifier", "-q"]

        tally = other_command_cases(full_sim_cases, "validate", args, tmp_path)
        report("validate", tally, capsys)
        assert tally["output"] >= 1  # the intact file


class TestTrainOnDamagedFiles:
    def test_train(
        self,
        full_sim_cases: list[Case],
        tiny_spec_path: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture,
    ) -> None:
        spec = yaml.safe_load(tiny_spec_path.read_text())
        for coll in spec["collections"].values():
            coll["response"]["training"]["epochs"] = 1
        quick_spec = tmp_path / "quick.yaml"
        quick_spec.write_text(yaml.safe_dump(spec, sort_keys=False))

        def args(case: Case, out: Path) -> list[str]:
            return [str(quick_spec), "--data", str(case.path), "-o", str(out), "-q"]

        tally = other_command_cases(full_sim_cases, "train", args, tmp_path / "runs")
        report("train", tally, capsys)
        assert tally["output"] >= 1  # the intact file trains

"""Hostile inputs (issue #25): every case, run as users run it, checked against the acceptance.

Builds each hostile input of the issue in a temporary directory (gen files with one huge event,
crafted model bundles, specs with YAML bombs, planted FIFOs and symbolic links, tampered
manifests) and runs the real ``flashsim`` command on it in a child process, in a session of its
own and under a 4 GiB address-space limit (``RLIMIT_AS``: torch and xgboost run under it). It
measures the wall time, the peak RSS of the child's process tree (``/proc`` polled every 50 ms,
and the kernel's ``ru_maxrss``), the exit status, the stderr lines, tracebacks and internal
errors, what the run created, changed or removed in the directory, and, for the event of 10^6
gen jets, the time from SIGTERM to exit. A run is killed after 90 s or above 4 GB.

The acceptance: each case ends in <= 60 s with <= 1.5 GB peak RSS, exit 2 and one
``flashsim: error:`` line (where the issue allows it, a correct output instead: ``either``), no
traceback, nothing left, created or changed outside the output; SIGTERM ends the run within 2 s.
It prints one table (``--json`` also writes the results); it is a harness, nothing is asserted.

    python benchmarks/hostile_inputs.py [--only NAME ...] [--list] [--json out.json] [--keep DIR]

Crafted bundles get their checksums and record seal recomputed (an attacker can: they are no
signature), so the bound under test must refuse them, and each error line must name the reason
(``message``). Another checkout's behaviour: put it first on the path,
``PYTHONPATH=../old python benchmarks/hostile_inputs.py`` (its ``flashsim`` then runs the cases).
About 5 minutes on 2 cores (8 where runs hang until killed).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot
import yaml

from flashsim.bundle import RECORD_NAME, default_model_path, weight_files
from flashsim.io import NanoAODWriter, zip_collections

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "examples" / "ttbar_gen.root"
MAX_SECONDS, MAX_RSS_MB, KILL_AFTER, RSS_CAP = 60.0, 1500.0, 90.0, 4 << 30
SIGTERM_DELAY, SIGTERM_GRACE = 2.0, 2.0
TOOL_CACHE = re.compile(r"/tmp/torchinductor_[^/]*($|/)")  # torch's own cache in $TMPDIR
RESUME = ["--item-size", "100", "--step-size", "100", "-q"]  # + --seed (2: the runs checked)


@dataclass
class Run:
    """One ``flashsim`` invocation of a case, run in the case's directory."""

    args: list[str]
    outputs: list[str] = field(default_factory=list)  # what it may write (relative paths)
    guard: list[str] = field(default_factory=list)  # files that must stay as they are
    check: Callable[[Path], list[str]] | None = None  # problems with the output (exit 0)
    sigterm_after: float | None = None  # seconds after the start
    message: str | None = None  # regex the error line must match (the right reason)


@dataclass(frozen=True)
class Case:
    name: str
    expect: str  # "error" | "either" (error or correct output) | "output" | "sigterm"
    issue: str  # what the issue reports and expects
    build: Callable[[Shared, Path], Run]


@dataclass
class Result:
    case: str
    expect: str
    exit: int | None = None
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    stderr_lines: int = 0
    first_line: str = ""
    traceback: bool = False
    killed: str = ""
    sigterm_to_exit_s: float | None = None
    leftovers: list[str] = field(default_factory=list)
    output_problems: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    verdict: str = ""


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def gen_fields(entries: int) -> dict[str, ak.Array]:
    """The first ``entries`` events of the example gen file, collections zipped (GenJet, ...)."""
    with uproot.open(EXAMPLE) as file:
        chunk = zip_collections(file["Events"].arrays(entry_stop=entries))
    return {name: chunk[name] for name in chunk.fields}


def write_gen(path: Path, fields: dict[str, ak.Array]) -> Path:
    with NanoAODWriter(path) as writer:
        writer.extend(fields)
    return path


def one_event(n: int, values: dict[str, Any], rng: np.random.Generator | None = None) -> ak.Array:
    """One event of ``n`` objects: each field ``value`` (all equal) or ``(low, high)`` random."""
    columns = {}
    for name, (value, dtype) in values.items():
        if isinstance(value, tuple) and rng is not None:
            column = rng.uniform(*value, n).astype(dtype)
        else:
            column = np.full(n, value[0] if isinstance(value, tuple) else value, dtype)
        columns[name] = ak.unflatten(column, [n])
    return ak.zip(columns)


JET = {
    "pt": ((20.0, 200.0), np.float32), "eta": ((-4.7, 4.7), np.float32),
    "phi": ((-3.14, 3.14), np.float32), "mass": (5.0, np.float32),
    "partonFlavour": (0, np.int16), "hadronFlavour": (0, np.uint8),
}  # fmt: skip
MUON = {
    "pt": ((5.0, 100.0), np.float32), "eta": ((-2.4, 2.4), np.float32),
    "phi": ((-3.14, 3.14), np.float32), "mass": (0.1057, np.float32), "pdgId": (13, np.int32),
    "status": (1, np.int32), "statusFlags": (1, np.uint16), "genPartIdxMother": (-1, np.int16),
}  # fmt: skip


def tiny_spec() -> dict[str, Any]:
    """``pipelines/cms_like.yaml`` with tiny models (as tests/conftest.py): trains in seconds."""
    data = yaml.safe_load((ROOT / "pipelines" / "cms_like.yaml").read_text())
    data.pop("defaults", None)

    def shrink(response: dict[str, Any]) -> None:
        response["flow"] = {"transforms": 2, "hidden": [16, 16], "bins": 4}
        response["training"] = {"epochs": 2, "batch_size": 256, "learning_rate": 0.003}
        if "discrete" in response:
            response["discrete"] = {"n_estimators": 10, "max_depth": 3}

    for name in ("Muon", "Electron"):
        data["collections"][name].pop("fakes", None)
    for coll in data["collections"].values():
        shrink(coll["response"])
        coll["efficiency"] = {**coll["efficiency"], "n_estimators": 10}
        if "fakes" in coll:
            shrink(coll["fakes"]["response"])
            coll["fakes"]["multiplicity"] = {"n_estimators": 10, "max_depth": 3}
    shrink(data["event"]["response"])
    return data


class Shared:
    """Inputs several cases use, built once (lazily) under ``root/shared``."""

    def __init__(self, root: Path, exe: str) -> None:
        self.dir = root / "shared"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.exe = exe

    def flashsim(self, *args: str, cwd: Path | None = None) -> float:
        start = time.monotonic()
        subprocess.run([self.exe, *args], cwd=cwd or self.dir, check=True, capture_output=True)
        return time.monotonic() - start

    @cached_property
    def gen(self) -> Path:
        return Path(shutil.copy(EXAMPLE, self.dir / "gen.root"))

    @cached_property
    def event0(self) -> dict[str, ak.Array]:
        return gen_fields(1)

    @cached_property
    def startup(self) -> float:
        """Seconds a one-event run takes (start-up, model loading): when to send SIGTERM."""
        out = self.dir / "startup.root"
        seconds = self.flashsim("run", str(self.gen), "-o", str(out), "-q", "--max-events", "1")
        out.unlink()
        return seconds

    @cached_property
    def training_data(self) -> Path:
        """300 refsim ttbar events (gen + reco), as tests/conftest.py makes them (~15 s)."""
        out = self.dir / "train.root"
        self.flashsim("refsim", "generate", "--process", "ttbar", "-n", "300", "--seed", "11",
                      "-o", str(out), "-q")  # fmt: skip
        return out

    @cached_property
    def bomb(self) -> Path:
        """A gzip file of 1.2 MB that inflates to a 1.2 GB JSON document (deflate's limit is
        ~1030:1), written streaming, never held in memory."""
        path = self.dir / "bomb.json.gz"
        packer, block = zlib.compressobj(9, zlib.DEFLATED, 31), b"A" * (1 << 20)
        with path.open("wb") as stream:
            stream.write(packer.compress(b'{"learner": "'))
            for _ in range(1200):
                stream.write(packer.compress(block))
            stream.write(packer.compress(b'"}') + packer.flush())
        return path

    @cached_property
    def resume(self) -> Path:
        """``gen200.root`` (200 events) run into ``outA/`` (--seed 1) and ``outB/`` (--seed 2),
        two work items of 100 events each."""
        base = self.dir / "resume"
        base.mkdir()
        gen = write_gen(base / "gen200.root", gen_fields(200))
        for out, seed in (("outA/", "1"), ("outB/", "2")):
            self.flashsim("run", str(gen), "-o", out, "--seed", seed, *RESUME, cwd=base)
        return base


def copy_bundle(case: Path) -> tuple[Path, dict[str, Any]]:
    bundle = Path(shutil.copytree(default_model_path(), case / "bundle"))
    return bundle, json.loads((bundle / RECORD_NAME).read_text())


def save_record(bundle: Path, record: dict[str, Any], *, seal: bool = True) -> None:
    """Write a tampered record; with ``seal``, recompute the checksums of the weight files it
    lists and the record's own seal, as an attacker would (checksums are no signature), so that
    the bound or the rule under test, not a checksum mismatch, has to refuse it."""
    if seal and "checksums" in record:
        record["checksums"] = {n: digest(bundle / n) for n in weight_files(record)}
    (bundle / RECORD_NAME).write_text(json.dumps(sealed(record) if seal else record, indent=1))


def sealed(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with its seal (``record_sha256``) recomputed, where this flashsim has seals."""
    try:
        from flashsim.record import add_seal
    except ImportError:  # a flashsim whose records carry no seal of their own
        return record
    return add_seal(record)


def tampered(
    edit: Callable[[dict[str, Any], Path, Path], None], message: str, seal: bool = True
) -> Callable:
    """A case builder: the default bundle copied into the case, ``edit(record, bundle, case)``,
    then ``flashsim run`` on 50 events with it; the error must match ``message``."""

    def build(shared: Shared, case: Path) -> Run:
        bundle, record = copy_bundle(case)
        edit(record, bundle, case)
        save_record(bundle, record, seal=seal)
        args = ["run", str(shared.gen), "--model", "bundle", "-o", "out.root", "-q"]
        return Run([*args, "--max-events", "50"], ["out.root"], message=message)

    return build


def jet_response(record: dict[str, Any]) -> dict[str, Any]:
    return record["collections"]["Jet"]["response"]


def move_weight_outside(record: dict[str, Any], bundle: Path, case: Path, name: str) -> None:
    """Move ``Jet.response.pt`` to ``case/elsewhere/`` and name it ``name`` in the record."""
    (case / "elsewhere").mkdir()
    shutil.move(bundle / "Jet.response.pt", case / "elsewhere" / "Jet.response.pt")
    jet_response(record)["file"] = name
    record["checksums"].pop("Jet.response.pt")
    record["checksums"][name] = digest(case / "elsewhere" / "Jet.response.pt")


def symlink_weight(record: dict[str, Any], bundle: Path, case: Path) -> None:
    (case / "elsewhere").mkdir()
    shutil.move(bundle / "Jet.response.pt", case / "elsewhere" / "Jet.response.pt")
    (bundle / "Jet.response.pt").symlink_to(case / "elsewhere" / "Jet.response.pt")


def deep_record(bundle: Path, depth: int = 100_000) -> None:
    record = json.loads((bundle / RECORD_NAME).read_text())
    record["training"]["metrics"] = "@DEEP@"
    text = json.dumps(record).replace('"@DEEP@"', "[" * depth + "]" * depth)
    (bundle / RECORD_NAME).write_text(text)  # no seal: Python's json cannot write it


def output_problems(path: Path) -> list[str]:
    """Non-finite reco values; index branches outside their target (a wrapped int16 shows)."""
    if not path.is_file():
        return [f"no output {path.name}"]
    with uproot.open(path) as file:
        names = file["Events"].keys(filter_name="/^(n?Gen|Jet|Muon|Electron|MET)/")
        a = file["Events"].arrays([n for n in names if not n.startswith("Gen") or "pdgId" in n])
    problems = [
        f"{name} not finite"
        for name in a.fields
        if name.startswith(("Jet_", "Muon_", "Electron_", "MET_"))
        and np.issubdtype(np.asarray(ak.flatten(a[name], axis=None)).dtype, np.floating)
        and not np.isfinite(np.asarray(ak.flatten(a[name], axis=None))).all()
    ]
    for coll, idx, target, pdg in (
        ("Jet", "genJetIdx", "GenJet", 0),
        ("Muon", "genPartIdx", "GenPart", 13),
        ("Electron", "genPartIdx", "GenPart", 11),
    ):
        name = f"{coll}_{idx}"
        if name not in a.fields:
            continue
        index = a[name]
        if ak.any(index < -1) or ak.any(index >= a[f"n{target}"]):
            problems.append(f"{name} outside [-1, n{target}) (min {ak.min(index)})")
        elif pdg and ak.any(abs(a["GenPart_pdgId"][index[index >= 0]]) != pdg):
            problems.append(f"{name} points to particles that are not |pdgId| {pdg}")
    return problems


def reco(shared: Shared) -> Callable[[Path], list[str]]:
    return lambda case: output_problems(case / "out.root")


def exists(rel: str) -> Callable[[Shared], Callable[[Path], list[str]]]:
    return lambda shared: lambda case: [] if (case / rel).is_file() else [f"no {rel}"]


def outputs_like(reference: Path, names: list[str]) -> Callable[[Path], list[str]]:
    """Check: the directory output's files ``names`` exist and equal those of ``reference``."""

    def check(case: Path) -> list[str]:
        problems = []
        for name in names:
            mine, good = case / "out" / name, reference / name
            if not mine.is_file():
                problems.append(f"out/{name} missing")
                continue
            with uproot.open(mine) as a, uproot.open(good) as b:
                if not ak.array_equal(a["Events"]["Jet_pt"].array(), b["Events"]["Jet_pt"].array()):
                    problems.append(f"out/{name} is not --seed 2's output")
        return problems

    return check


def provenance_problems(case: Path) -> list[str]:
    out = case / "out.root"
    if not out.is_file():
        return ["no output"]
    with uproot.open(out) as file:
        record = json.loads(str(file["flashsim_provenance"]))
    values = set(re.findall(r'"((?:[^"\\]|\\.)*)"', json.dumps(record)))
    problems = []
    if digest(case / "gen.root") not in values:
        problems.append("no SHA-256 of the input")
    if str((case / "gen.root").resolve()) not in values:
        problems.append("input path not absolute")
    if not any(v.endswith("default_model") and Path(v).is_absolute() for v in values):
        problems.append("model path not absolute")
    return problems


def edit_manifest(case: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = case / "out" / "flashsim-manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest, indent=1))


def resume_case(
    edit: Callable[[Shared, Path], list[str]], overwrite: bool = False, message: str | None = None
) -> Callable:
    """A case builder: ``outB/`` copied to ``case/out``, ``edit`` it, run again with --resume
    (or --overwrite); ``edit`` returns the guarded files."""

    def build(shared: Shared, case: Path) -> Run:
        shutil.copytree(shared.resume / "outB", case / "out", symlinks=True)
        guard = edit(shared, case)
        flag = "--overwrite" if overwrite else "--resume"
        args = ["run", str(shared.resume / "gen200.root"), "-o", "out/", flag, "--seed", "2"]
        names = ["gen200.0-100.root", "gen200.100-200.root"]
        check = outputs_like(shared.resume / "outB", names)
        return Run([*args, *RESUME], ["out"], guard, check, message=message)

    return build


def foreign_output(shared: Shared, case: Path) -> list[str]:
    shutil.copy(shared.resume / "outA" / "gen200.0-100.root", case / "out" / "gen200.0-100.root")
    return []


def entry_outside(shared: Shared, case: Path) -> list[str]:
    """Item 0's output moved out of the directory, the manifest pointing at it there."""
    (case / "elsewhere").mkdir()
    shutil.move(case / "out" / "gen200.0-100.root", case / "elsewhere" / "x.root")
    edit_manifest(case, lambda m: m["items"][0].update(output="../elsewhere/x.root"))
    return ["elsewhere/x.root"]


def lists_notes(shared: Shared, case: Path) -> list[str]:
    (case / "out" / "notes.txt").write_text("my notes, not flashsim's\n")
    edit_manifest(case, lambda m: m["items"][0].update(output="notes.txt"))
    return ["out/notes.txt"]


def malformed(shared: Shared, case: Path) -> list[str]:
    edit_manifest(case, lambda m: m.update(items=[{"input": 42, "status": "done"}, "x", {}]))
    return []


def run_on(fields: Callable[[Shared], dict[str, ak.Array]], *extra: str, **kw: Any) -> Callable:
    """A case builder: ``fields`` written as ``gen.root`` in the case, ``flashsim run`` on it."""

    def build(shared: Shared, case: Path) -> Run:
        write_gen(case / "gen.root", fields(shared))
        opts = {k: (v(shared) if callable(v) else v) for k, v in kw.items()}
        return Run(["run", "gen.root", "-o", "out.root", "-q", *extra], ["out.root"], **opts)

    return build


def with_jets(
    n: int, random: bool = False, events: int = 1
) -> Callable[[Shared], dict[str, ak.Array]]:
    """Event 0 (``events`` times over) with ``n`` gen jets, equal (the issue's 39 kB file) or
    spread at random."""

    def fields(shared: Shared) -> dict[str, ak.Array]:
        rng = np.random.default_rng(25) if random else None
        data = {**shared.event0, "GenJet": one_event(n, JET, rng)}
        return {name: ak.concatenate([value] * events) for name, value in data.items()}

    return fields


def with_muons(total: int) -> Callable[[Shared], dict[str, ak.Array]]:
    """Event 0 with muons appended up to ``total`` GenParts (indices beyond int16's 32767)."""

    def fields(shared: Shared) -> dict[str, ak.Array]:
        parts = shared.event0["GenPart"]
        extra = one_event(total - len(parts[0]), MUON, np.random.default_rng(25))
        return {**shared.event0, "GenPart": ak.concatenate([parts, extra], axis=1)}

    return fields


def scaled(collection: str, fld: str, value: float) -> Callable[[Shared], dict[str, ak.Array]]:
    def fields(shared: Shared) -> dict[str, ak.Array]:
        data = gen_fields(100)
        objects = data[collection]
        data[collection] = ak.with_field(objects, objects[fld] * 0 + np.float32(value), fld)
        return data

    return fields


def train_case(text: Callable[[], str], **kw: Any) -> Callable:
    """A case builder: ``flashsim train spec.yaml`` with the spec ``text()`` into ``model/``."""

    def build(shared: Shared, case: Path) -> Run:
        (case / "spec.yaml").write_text(text())
        return Run(["train", "spec.yaml", "--data", str(shared.training_data), "-o", "model", "-q"],
                   ["model"], **kw)  # fmt: skip

    return build


def tiny_text(**changes: Any) -> str:
    return yaml.safe_dump({**tiny_spec(), **changes}, sort_keys=False)


def alias_bomb() -> str:
    """Billion laughs under ``defaults:`` (1 kB; 9^9 strings once expanded)."""
    lines = ["defaults:", '  l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"  l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    return tiny_text() + "\n".join(lines) + "\n"


def symlinked_temporaries(existing: bool) -> Callable[[Shared, Path], Run]:
    """Predictable names in the bundle directory planted as links to files outside it; with
    ``existing``, in a copy of a bundle (some of its files links too), trained over with
    --overwrite."""
    names = [f"{RECORD_NAME}.tmp", "flashsim-model.tmp", "spec.yaml", "Jet.response.pt",
             "Jet.efficiency.json.gz", "checkpoints"]  # fmt: skip

    def build(shared: Shared, case: Path) -> Run:
        if existing:
            shutil.copytree(default_model_path(), case / "model")
        else:
            (case / "model").mkdir()
        (case / "outside").mkdir()
        for name in names[:-1] if existing else names:  # no checkpoints link: train to the end
            victim = case / "outside" / f"{name}.victim"
            victim.write_text(f"precious {name}\n")
            (case / "model" / name).unlink(missing_ok=True)
            (case / "model" / name).symlink_to(victim)
        (case / "spec.yaml").write_text(tiny_text())
        args = ["train", "spec.yaml", "--data", str(shared.training_data), "-o", "model", "-q"]
        guard = [f"outside/{n}.victim" for n in (names[:-1] if existing else names)]
        check = exists(f"model/{RECORD_NAME}")(shared)
        return Run(args + ["--overwrite"] * existing, ["model"], guard, check)

    return build


def planted(kind: str) -> Callable:
    def build(shared: Shared, case: Path) -> Run:
        out = case / "out.root"
        if kind == "fifo":
            os.mkfifo(out)
            guard = []
        else:
            (case / "outside").mkdir()
            (case / "outside" / "target.root").write_text("precious\n")
            out.symlink_to(Path("outside") / "target.root")
            guard = ["outside/target.root"]
        args = ["run", str(shared.gen), "-o", "out.root", "--overwrite", "-q"]
        message = "FIFO" if kind == "fifo" else "symbolic link"
        return Run([*args, "--max-events", "20"], [], guard, message=message)

    return build


def _bomb(shared: Shared, case: Path) -> Run:
    def edit(record: dict[str, Any], bundle: Path, case: Path) -> None:
        shutil.copy(shared.bomb, bundle / "Jet.efficiency.json.gz")

    return tampered(edit, "(?i)gzip|decompress")(shared, case)


def _deep(command: str) -> Callable[[Shared, Path], Run]:
    def build(shared: Shared, case: Path) -> Run:
        bundle, _ = copy_bundle(case)
        deep_record(bundle)
        if command == "info":
            return Run(["info", "bundle"], message="(?i)nest|deep")
        args = ["run", str(shared.gen), "--model", "bundle", "-o", "out.root", "-q"]
        return Run([*args, "--max-events", "50"], ["out.root"], message="(?i)nest|deep")

    return build


SEED = "100000000000000000000000000000"


def refsim_seed(shared: Shared, case: Path) -> Run:
    args = ["refsim", "generate", "--process", "ttbar", "-n", "5", "--seed", SEED, "--gen-only"]
    return Run([*args, "-o", "out.root", "-q"], ["out.root"], check=exists("out.root")(shared))


def provenance(shared: Shared, case: Path) -> Run:
    shutil.copy(shared.gen, case / "gen.root")  # given as a relative path
    args = ["run", "gen.root", "-o", "out.root", "-q", "--max-events", "50"]
    return Run(args, ["out.root"], check=provenance_problems)


def first_mean(record: dict[str, Any]) -> None:
    record["collections"]["Jet"]["conditions"]["columns"][0]["transforms"][1]["mean"] = 4.0


def nan_bounds(record: dict[str, Any]) -> None:
    bounds = jet_response(record)["bounds"]
    jet_response(record)["bounds"] = [[float("nan")] * len(side) for side in bounds]


def flow_config(**changes: Any) -> Callable[[dict[str, Any], Path, Path], None]:
    return lambda record, bundle, case: jet_response(record)["model"]["config"].update(changes)


BRACKETS = "defaults: " + "[" * 100_000 + "]" * 100_000 + "\n"
OUTSIDE = "elsewhere/Jet.response.pt"
CASES = [
    # Objects per event, degenerate values, absurd options (flashsim run)
    Case("genjet-1e6", "error", "39 kB file, one event of 10^6 GenJets: hangs (O(N^2)) today",
         run_on(with_jets(1_000_000), message="GenJet")),
    Case("genjet-1e6-sigterm", "sigterm",
         "3 such events, --max-objects GenJet=2000000 --step-size 1, SIGTERM 2 s after start-up",
         run_on(with_jets(1_000_000, events=3), "--max-objects", "GenJet=2000000",
                "--step-size", "1", sigterm_after=lambda s: s.startup + SIGTERM_DELAY)),
    Case("genjet-20k", "error", "one event of 20k GenJets (11 s today)",
         run_on(with_jets(20_000), message="GenJet")),
    Case("genjet-40k", "error", "one event of 40k GenJets (28 s today)",
         run_on(with_jets(40_000), message="GenJet")),
    Case("genjet-40k-raised", "output", "40k spread GenJets, --max-objects GenJet=50000",
         run_on(with_jets(40_000, random=True), "--max-objects", "GenJet=50000", check=reco)),
    Case("genpart-40k", "either", "one event of 40k GenParts: Muon_genPartIdx wraps (int16)",
         run_on(with_muons(40_000), check=reco, message="GenPart")),
    Case("genpart-40k-raised", "output", "the same with --max-objects GenPart=50000",
         run_on(with_muons(40_000), "--max-objects", "GenPart=50000", check=reco)),
    Case("genjet-pt-zero", "either", "GenJet_pt = 0 everywhere: ZeroDivisionError today",
         run_on(scaled("GenJet", "pt", 0.0), check=reco)),
    Case("values-3e38-flag", "either", "GenJet_pt = 3e38 with --out-of-domain flag",
         run_on(scaled("GenJet", "pt", 3e38), "--out-of-domain", "flag", check=reco)),
    Case("oversample-1e8", "error", "--oversample 100000000: MemoryError today",
         run_on(lambda s: s.event0, "--oversample", "100000000", message="oversample")),
    Case("seed-1e29-run", "either", "flashsim run --seed 1e29",
         run_on(lambda s: gen_fields(50), "--seed", SEED, check=exists("out.root"),
                message="seed")),
    Case("seed-1e29-refsim", "either", "flashsim refsim generate --seed 1e29", refsim_seed),
    # Specs (flashsim train; info and inspect take bundles and files, not specs)
    Case("seed-1e29-train", "either", "spec seed: 1e29 (train has no --seed): XGBoostError today",
         train_case(lambda: tiny_text(seed=10**29), check=exists(f"model/{RECORD_NAME}"),
                    message="seed")),
    Case("spec-alias-bomb", "error", "billion laughs under defaults: 2.9 GB, MemoryError today",
         train_case(alias_bomb, message="(?i)alias|expand")),
    Case("spec-duplicate-key", "error", "a top-level key twice: the last wins today",
         train_case(lambda: tiny_text() + "seed: 12345\n", message="(?i)seed|duplicate")),
    Case("spec-brackets", "error", "'[' x 10^5 in a spec: RecursionError today",
         train_case(lambda: tiny_text() + BRACKETS, message="(?i)nest|deep")),
    # Outputs
    Case("overwrite-fifo", "error", "-o FIFO --overwrite: replaced by a file today",
         planted("fifo")),
    Case("overwrite-symlink", "error", "-o symlink-to-outside --overwrite", planted("link")),
    Case("train-symlinked-temporaries", "either",
         "links at predictable names in the bundle dir: their targets overwritten today",
         symlinked_temporaries(existing=False)),
    Case("train-overwrite-symlinked", "either",
         "the same in an existing bundle (some files links), trained over with --overwrite",
         symlinked_temporaries(existing=True)),
    Case("resume-foreign-output", "either", "--resume, an item from --seed 1: accepted today",
         resume_case(foreign_output)),
    Case("resume-entry-outside", "either", "manifest output ../elsewhere/x.root: done today",
         resume_case(entry_outside)),
    Case("overwrite-manifest-notes", "either", "--overwrite, manifest lists notes.txt: deleted",
         resume_case(lists_notes, overwrite=True)),
    Case("manifest-malformed", "error", "malformed manifest items: KeyError, exit 1 today",
         resume_case(malformed, message="manifest")),
    # Crafted model bundles (checksums and seal recomputed unless said)
    Case("bundle-hidden-1e8", "error", "hidden: [1e8]: 3.4 GB, internal error today",
         tampered(flow_config(hidden=[100_000_000]), "hidden")),
    Case("bundle-transforms-1e7", "error", "transforms: 1e7: grows without end today",
         tampered(flow_config(transforms=10_000_000), "transforms")),
    Case("bundle-gzip-bomb", "error", "an xgboost file a gzip bomb (1.2 MB -> 1.2 GB)", _bomb),
    Case("bundle-deep-json", "error", "record nested 10^5 deep (unsealed): RecursionError today",
         _deep("run")),
    Case("info-deep-json", "error", "flashsim info on that bundle", _deep("info")),
    Case("bundle-weight-absolute", "error", "a weight file's absolute path: loaded today",
         tampered(lambda r, b, c: move_weight_outside(r, b, c, str(c / OUTSIDE)), "file")),
    Case("bundle-weight-dotdot", "error", "a weight file ../elsewhere/...: loaded today",
         tampered(lambda r, b, c: move_weight_outside(r, b, c, f"../{OUTSIDE}"), "file")),
    Case("bundle-weight-symlink", "error", "a weight file a symlink outside: followed today",
         tampered(symlink_weight, "symbolic link")),
    Case("bundle-no-checksums", "error", "checksums deleted: verification off today",
         tampered(lambda r, b, c: r.pop("checksums"), "checksums")),
    Case("bundle-n-classes-negative", "error", "n_classes: -5: garbage with exit 0 today",
         tampered(lambda r, b, c: r["collections"]["Jet"]["efficiency"].update(n_classes=-5),
                  "n_classes")),
    Case("bundle-nan-bounds", "error", "NaN bounds: garbage with exit 0 today",
         tampered(lambda r, b, c: nan_bounds(r), "bounds")),
    Case("bundle-record-edited", "error", "record edited, not resealed: loaded today",
         tampered(lambda r, b, c: first_mean(r), "record", seal=False)),
    # Provenance
    Case("provenance", "output", "input SHA-256, absolute input and model paths", provenance),
]  # fmt: skip


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root`` (links not followed): (type, size, mtime); directories by type."""
    seen = {}
    for parent, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(parent, name)
            st = path.lstat()
            kind = stat.S_IFMT(st.st_mode)
            seen[str(path.relative_to(root))] = (
                (kind, 0, 0) if stat.S_ISDIR(st.st_mode) else (kind, st.st_size, st.st_mtime_ns)
            )
    return seen


def session_rss(session: int) -> int:
    """Resident bytes of every process of the session ``session`` (the child's tree)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session:
                total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return total


def kill_session(session: int) -> None:
    """SIGKILL the processes the child left in its session (workers of a killed run)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(session, signal.SIGKILL)


def limit_memory() -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (RSS_CAP, RSS_CAP))


def execute(exe: str, run: Run, case: Path, result: Result) -> None:
    """Run ``flashsim`` with ``run.args`` in ``case``; fills the measured fields of ``result``."""
    env = {**os.environ, "TMPDIR": str(case / "tmp")}  # made by run_case
    with tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        child = subprocess.Popen(
            [exe, *run.args],
            cwd=case,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,  # its own session: its tree is measured and killed
            preexec_fn=limit_memory,
        )
        peak, signalled = 0, None
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            now = time.monotonic() - start
            if pid:
                break
            peak = max(peak, session_rss(child.pid))
            if run.sigterm_after is not None and signalled is None and now >= run.sigterm_after:
                os.kill(child.pid, signal.SIGTERM)
                signalled = now
            late = signalled is not None and now > signalled + SIGTERM_GRACE + 8
            if now > KILL_AFTER or peak > RSS_CAP or late:
                result.killed = (
                    f"killed at {peak / 1e9:.1f} GB" if peak > RSS_CAP
                    else f"SIGKILL {now - signalled:.0f} s after SIGTERM" if late
                    else f"killed after {KILL_AFTER:.0f} s"
                )  # fmt: skip
                os.killpg(child.pid, signal.SIGKILL)
            time.sleep(0.05)
        child.returncode = os.waitstatus_to_exitcode(status)
        kill_session(child.pid)
        err.seek(0)
        lines = [line for line in err.read().splitlines() if line.strip()]
    result.seconds = now
    result.exit = child.returncode
    result.peak_rss_mb = max(peak / 1e6, usage.ru_maxrss / 1e3)
    result.stderr_lines = len(lines)
    result.first_line = next(
        (x for x in lines if x.startswith("flashsim:")), lines[0] if lines else ""
    )
    text = "\n".join(lines)
    result.traceback = "Traceback (most recent call last)" in text or "internal error" in text
    if signalled is not None:
        result.sigterm_to_exit_s = round(now - signalled, 2)


def leftovers(before: dict, after: dict, run: Run, case: str, success: bool) -> list[str]:
    """Paths created, changed or removed outside the outputs (inside them too where the run
    failed), and temporaries anywhere; ``case`` is the case directory relative to the root."""
    allowed = [f"{case}/{o.rstrip('/')}" for o in run.outputs] if success else []

    def inside(path: str) -> bool:
        return any(path == o or path.startswith(o + "/") for o in allowed)

    found = []
    for path in sorted(set(before) | set(after)):
        name = path.rsplit("/", 1)[-1]
        if path not in before:
            what = "new"
        elif path not in after:
            what = "removed"
        elif before[path] != after[path]:
            what = "changed"
        else:
            continue
        if TOOL_CACHE.search(path):
            continue
        if (".tmp" in name and what != "removed") or not inside(path):
            found.append(f"{what} {path}")
    return found


def judge(case: Case, run: Run, r: Result) -> None:
    p = r.problems
    if r.killed:
        p.append(r.killed)
    if r.seconds > MAX_SECONDS:
        p.append(f"> {MAX_SECONDS:.0f} s")
    if r.peak_rss_mb > MAX_RSS_MB:
        p.append(f"> {MAX_RSS_MB / 1e3:.1f} GB")
    if r.traceback:
        p.append("traceback/internal error")
    if r.leftovers:
        p.append(f"{len(r.leftovers)} left/changed")
    if case.expect == "sigterm":
        if r.sigterm_to_exit_s is None:
            p.append("ended before SIGTERM")
        elif r.sigterm_to_exit_s > SIGTERM_GRACE:
            p.append(f"SIGTERM to exit {r.sigterm_to_exit_s:.1f} s")
        elif r.exit not in (143, -15):
            p.append(f"exit {r.exit} after SIGTERM")
    elif r.exit == 2 and case.expect != "output":
        if r.stderr_lines != 1 or not r.first_line.startswith("flashsim: error:"):
            p.append(f"{r.stderr_lines} stderr lines")
        if run.message and not re.search(run.message, r.first_line):
            p.append(f"message lacks /{run.message}/")
    elif r.exit == 0 and case.expect != "error":
        p.extend(r.output_problems)
    elif not r.killed:
        p.append(f"exit {r.exit}")
    r.verdict = "PASS" if not p else "FAIL"


def run_case(case: Case, shared: Shared, root: Path, exe: str) -> Result:
    result = Result(case.name, case.expect)
    workdir = root / "cases" / case.name
    workdir.mkdir(parents=True)
    try:
        run = case.build(shared, workdir)
    except Exception as err:  # the harness could not build the case: say so, go on
        result.problems.append(f"harness could not build it: {type(err).__name__}: {err}")
        result.verdict = "ERROR"
        return result
    guarded = {g: (workdir / g).read_bytes() for g in run.guard}
    (workdir / "tmp").mkdir()  # the child's TMPDIR: what it leaves there is found too
    before = snapshot(root)
    execute(exe, run, workdir, result)
    after = snapshot(root)
    relative = str(workdir.relative_to(root))
    result.leftovers = leftovers(before, after, run, relative, result.exit == 0)
    for name, content in guarded.items():
        path = workdir / name
        if path.is_symlink() or not path.is_file() or path.read_bytes() != content:
            result.leftovers.append(f"guarded {name} changed or gone")
    if result.exit == 0 and run.check is not None:
        try:
            result.output_problems = run.check(workdir)
        except Exception as err:  # an unreadable output is a finding
            result.output_problems = [f"output unreadable: {type(err).__name__}: {err}"]
    judge(case, run, result)
    return result


EXPECTED = {
    "error": "exit 2, 1 line",
    "either": "exit 2, 1 line / output",
    "output": "correct output",
    "sigterm": "ends <= 2 s",
}


def table(results: list[Result]) -> str:
    rows = [("case", "expected", "got", "time s", "peak MB", "left", "verdict")]
    for r in results:
        got = f"exit {r.exit}, {r.stderr_lines} line{'s' * (r.stderr_lines != 1)}"
        if r.sigterm_to_exit_s is not None:
            got += f", SIGTERM->exit {r.sigterm_to_exit_s:.1f} s"
        verdict = r.verdict + (f": {'; '.join(r.problems)}" if r.problems else "")
        left = str(len(r.leftovers))
        rows.append((r.case, EXPECTED[r.expect], got, f"{r.seconds:.1f}", f"{r.peak_rss_mb:.0f}",
                     left, verdict))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[6]
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", metavar="NAME", help="run this case (repeat)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    parser.add_argument("--keep", type=Path, help="build the cases in DIR and keep them")
    args = parser.parse_args()
    if args.list:
        for case in CASES:
            print(f"{case.name:<30} {EXPECTED[case.expect]:<24} {case.issue}")
        return
    unknown = set(args.only or []) - {c.name for c in CASES}
    if unknown:
        parser.error(f"unknown case(s) {', '.join(sorted(unknown))}; see --list")
    cases = [c for c in CASES if not args.only or c.name in args.only]
    exe = shutil.which(
        "flashsim", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    if exe is None:
        parser.error("no flashsim command on PATH; install flashsim (pip install -e .)")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=False)
    root = args.keep or Path(tempfile.mkdtemp(prefix="flashsim-hostile-"))
    shared, results, start = Shared(root.resolve(), exe), [], time.monotonic()
    try:
        for case in cases:
            results.append(run_case(case, shared, root.resolve(), exe))
            r = results[-1]
            print(f"{r.case:<30} {r.verdict} ({r.seconds:.1f} s) {r.first_line[:110]}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(table(results))
    passed = sum(r.verdict == "PASS" for r in results)
    print(f"\n{passed} of {len(results)} pass; {time.monotonic() - start:.0f} s in all. "
          f"Messages (first line of stderr):")  # fmt: skip
    for r in results:
        print(f"  {r.case}: {r.first_line[:220]}")
        for item in r.leftovers[:4]:
            print(f"      {item}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))


if __name__ == "__main__":
    main()

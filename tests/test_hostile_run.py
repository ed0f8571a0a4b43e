"""`flashsim run` on hostile inputs: bounded in time and memory whatever the event content.

Issue #25: an event with a million objects, `--oversample 1e8`, indices past int16, degenerate
values (zero pT everywhere, 3e38), SIGTERM inside compiled loops. Each case ends with a correct
output or exit 2 and one `flashsim: error:` line, with no temporary file left.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from cli_errors import assert_one_line_error as assert_refused
from click.testing import CliRunner
from damage import read_columns, write_columns

from flashsim.cli import run as cli_run
from flashsim.cli.app import flashsim
from flashsim.domain import InputPolicy
from flashsim.exceptions import SpecError
from flashsim.run import caps
from flashsim.run.caps import MAX_OVERSAMPLE, replica_slices
from flashsim.run.model import PolicyOverrides
from flashsim.spec import load_spec

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "ttbar_gen.root"


def invoke(args: list[str]):
    """``flashsim ARGS`` in process, under the warning filters of a real ``flashsim`` process."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        return CliRunner().invoke(flashsim, [str(a) for a in args])


def assert_nothing_left(directory: Path) -> None:
    assert not [p.name for p in directory.iterdir() if ".tmp" in p.name or p.suffix == ".root"]


def with_values(path: Path, n_events: int = 5, **fields: float) -> Path:
    """The example's first events with every value of the given fields replaced."""
    columns = read_columns(EXAMPLE, n_events)
    for name, value in fields.items():
        flat = np.asarray(ak.flatten(columns[name]))
        columns[name] = ak.unflatten(np.full(len(flat), value, flat.dtype), ak.num(columns[name]))
    return write_columns(path, columns)


def with_objects(path: Path, collection: str, n: int, layout: str = "random") -> Path:
    """The example's first event with ``n`` objects in ``collection`` (``random`` in (η, φ),
    all at one point (``same``), or at one η spread in φ (``ring``))."""
    rng = np.random.default_rng(25)
    columns = read_columns(EXAMPLE, 1)
    values = {
        "eta": np.full(n, 0.5) if layout != "random" else rng.uniform(-4, 4, n),
        "phi": np.full(n, 1.0) if layout == "same" else rng.uniform(-np.pi, np.pi, n),
        "pt": rng.uniform(20, 100, n),
        "mass": np.full(n, 5.0),
        "pdgId": np.where(rng.random(n) < 0.5, 13, 211),
        "status": np.ones(n),
    }
    for name in [c for c in columns if c.startswith(collection + "_")]:
        dtype = np.asarray(ak.flatten(columns[name])).dtype
        field = name.split("_", 1)[1]
        column = values.get(field, np.zeros(n)).astype(dtype)
        columns[name] = ak.unflatten(column, [n])
    return write_columns(path, columns)


# -- object caps ------------------------------------------------------------------------------


def test_object_cap_refuses_before_simulating(tmp_path: Path) -> None:
    source = with_objects(tmp_path / "many.bin", "GenJet", 1200)
    out = tmp_path / "out"
    out.mkdir()
    start = time.monotonic()
    line = assert_refused(
        invoke(["run", source, "-o", out / "x.root", "-q"]),
        str(source),
        "entry 0",
        "1200 GenJet",
        "cap of 1000",
        "--max-objects GenJet=N",
    )
    assert time.monotonic() - start < 30, line
    assert_nothing_left(out)


def test_object_cap_raised_per_collection(tmp_path: Path) -> None:
    source = with_objects(tmp_path / "many.bin", "GenJet", 1200)
    output = tmp_path / "x.root"
    result = invoke(["run", source, "-o", output, "-q", "--max-objects", "GenJet=1500"])
    assert result.exit_code == 0, result.output
    with uproot.open(output) as file:
        assert file["Events"].num_entries == 1
        assert file["Events"]["Jet_genJetIdx"].typename == "int16_t[]"


def test_max_objects_for_every_collection(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert_refused(
        invoke(["run", EXAMPLE, "-o", out / "x.root", "-q", "--max-objects", "3"]),
        "entry 0",
        "cap of 3",
    )
    assert_nothing_left(out)


@pytest.mark.parametrize("value", ["GenJet=x", "0", "GenJet=-1", "100000000", "=5x"])
def test_max_objects_bad_values(tmp_path: Path, value: str) -> None:
    assert_refused(invoke(["run", EXAMPLE, "-o", tmp_path / "x.root", "--max-objects", value]))
    assert not (tmp_path / "x.root").exists()


def test_caps_from_spec_and_options() -> None:
    policy = InputPolicy(max_objects={"GenJet": 2000})
    assert (policy.object_cap("GenJet"), policy.object_cap("GenPart")) == (2000, 10_000)
    assert policy.object_cap("Other") == 1000
    merged = PolicyOverrides(max_objects={"GenPart": 40_000}).over(policy)
    assert merged.object_cap("GenJet") == 2000
    assert merged.index_dtype("GenPart") is np.int32
    assert merged.index_dtype("GenJet") is np.int16
    every = PolicyOverrides(out_of_domain="flag", max_objects={"*": 7}).over(policy)
    assert (every.object_cap("GenJet"), every.out_of_domain) == (7, "flag")
    assert merged.to_dict()["max_objects"] == {"GenJet": 2000, "GenPart": 40_000}
    assert "max_objects" not in InputPolicy().to_dict()
    for bad in ({"GenJet": 0}, {"GenJet": "many"}, {"GenJet": True}, 10**9):
        with pytest.raises(SpecError, match="max_objects"):
            InputPolicy(max_objects=bad)


def test_spec_inputs_max_objects(tmp_path: Path) -> None:
    import yaml

    default = Path(__file__).resolve().parents[1] / "flashsim" / "default_model" / "spec.yaml"
    spec = {**yaml.safe_load(default.read_text()), "inputs": {"max_objects": {"GenJet": 2000}}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    assert load_spec(tmp_path / "s.yaml").input_policy.object_cap("GenJet") == 2000
    for bad in ({"GenJet": -1}, "many"):
        (tmp_path / "s.yaml").write_text(yaml.safe_dump({**spec, "inputs": {"max_objects": bad}}))
        with pytest.raises(SpecError, match=r"inputs\.max_objects"):
            load_spec(tmp_path / "s.yaml")


# -- integer fields ---------------------------------------------------------------------------


@pytest.mark.slow
def test_genpart_index_never_wraps(tmp_path: Path) -> None:
    """40,000 GenParts: refused by the default cap; with the cap raised past int16, the index
    branches are Int_t and hold the true indices (before: Muon_genPartIdx = -26536)."""
    source = with_objects(tmp_path / "parts.bin", "GenPart", 40_000)
    out = tmp_path / "out"
    out.mkdir()
    assert_refused(invoke(["run", source, "-o", out / "x.root", "-q"]), "40000 GenPart")
    assert_nothing_left(out)
    output = tmp_path / "x.root"
    result = invoke(["run", source, "-o", output, "-q", "--max-objects", "GenPart=40000"])
    assert result.exit_code == 0, result.output
    with uproot.open(output) as file:
        branch = file["Events"]["Muon_genPartIdx"]
        index = np.asarray(ak.flatten(branch.array()))
    assert branch.typename == "int32_t[]"
    assert len(index) > 0
    assert index.min() >= -1
    assert index.max() > 32767


# -- oversampling -----------------------------------------------------------------------------


def test_oversample_bounded(tmp_path: Path) -> None:
    assert cli_run._MAX_OVERSAMPLE == MAX_OVERSAMPLE
    assert_refused(
        invoke(["run", EXAMPLE, "-o", tmp_path / "x.root", "--oversample", "100000000"]),
        "--oversample",
        "10000",
    )
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("n", "k", "rows"), [(7, 3, 5), (5, 40, 7), (1, 10, 3), (9, 1, 2)])
def test_replica_slices_cover_in_output_order(n: int, k: int, rows: int) -> None:
    pairs = [
        (event, first + r)
        for start, stop, first, replicas in replica_slices(n, k, rows)
        for event in range(start, stop)
        for r in range(replicas)
    ]
    assert pairs == [(e, r) for e in range(n) for r in range(k)]
    sizes = [(stop - start) * reps for start, stop, _, reps in replica_slices(n, k, rows)]
    assert max(sizes) <= max(rows, n)


def test_oversample_in_slices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk's replicas simulated a slice at a time: every event's replicas, in order, with
    the gen branches copied; the result does not depend on anything but the inputs."""
    source = write_columns(tmp_path / "few.bin", read_columns(EXAMPLE, 5))
    monkeypatch.setattr(caps, "REPLICA_ROWS", 3)  # one event, 3 then 1 replicas, per slice
    outputs = []
    for name in ("a.root", "b.root"):
        result = invoke(["run", source, "-o", tmp_path / name, "-q", "--oversample", "4"])
        assert result.exit_code == 0, result.output
        with uproot.open(tmp_path / name) as file:
            outputs.append(file["Events"].arrays(library="np"))
    out = outputs[0]
    np.testing.assert_array_equal(out["FlashSim_genEntry"], np.repeat(np.arange(5), 4))
    np.testing.assert_array_equal(out["FlashSim_replica"], np.tile(np.arange(4), 5))
    gen = read_columns(EXAMPLE, 5)
    np.testing.assert_array_equal(out["nGenJet"], np.repeat(ak.num(gen["GenJet_pt"]), 4))
    for key in out:
        assert all(np.array_equal(a, b) for a, b in zip(out[key], outputs[1][key], strict=True))


# -- degenerate values ------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["clamp", "flag", "error"])
def test_zero_pt_everywhere(tmp_path: Path, policy: str) -> None:
    """Before: ZeroDivisionError in the spline kernel (0/0 conditions reached the flows)."""
    source = with_values(tmp_path / "zero.bin", GenJet_pt=0.0)
    args = ["run", source, "-o", tmp_path / "x.root", "-q", "--out-of-domain", policy]
    assert_refused(invoke(args), "non-finite condition", "lepton_frac = nan")
    assert_nothing_left(tmp_path)


@pytest.mark.parametrize("policy", ["clamp", "flag", "error"])
def test_float32_limit_everywhere(tmp_path: Path, policy: str) -> None:
    source = with_values(tmp_path / "huge.bin", GenJet_pt=3e38)
    args = ["run", source, "-o", tmp_path / "x.root", "-q", "--out-of-domain", policy]
    assert_refused(invoke(args), "3e+38" if policy == "error" else "overflow")
    assert_nothing_left(tmp_path)


@pytest.mark.parametrize(
    "fields",
    [
        {"GenJet_pt": -50.0},
        {"GenJet_eta": 1e30},
        {"GenJet_phi": 100.0},
        {"GenPart_eta": 1e30, "GenPart_phi": -1e30},
        {"GenPart_pt": 0.0},
    ],
    ids=["negative-pt", "huge-eta", "phi-100", "huge-genpart", "genpart-zero-pt"],
)
@pytest.mark.parametrize("policy", ["clamp", "flag"])
def test_degenerate_values_run_or_refuse(tmp_path: Path, fields: dict, policy: str) -> None:
    """A correct output, or exit 2 with one line: never an internal error or a NaN written."""
    source = with_values(tmp_path / "odd.bin", **fields)
    output = tmp_path / "x.root"
    result = invoke(["run", source, "-o", output, "-q", "--out-of-domain", policy])
    if result.exit_code == 0:
        with uproot.open(output) as file:
            arrays = file["Events"].arrays()
        for name in arrays.fields:
            flat = np.asarray(ak.flatten(arrays[name], axis=None))
            if flat.dtype.kind == "f" and not name.startswith("Gen"):
                assert np.isfinite(flat).all(), name
    else:
        assert_refused(result)
        assert_nothing_left(tmp_path)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_inputs_still_handled(tmp_path: Path, value: float) -> None:
    source = with_values(tmp_path / "nan.bin", GenJet_eta=value)
    assert_refused(invoke(["run", source, "-o", tmp_path / "x.root", "-q"]), "--non-finite drop")
    result = invoke(["run", source, "-o", tmp_path / "x.root", "-q", "--non-finite", "drop"])
    assert_refused(result, "every one of the 5 events")
    assert_nothing_left(tmp_path)


# -- signals ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_sigterm_inside_a_huge_event(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    """One event of 300,000 GenJets at one η (the nearest-jet search stays quadratic there: hours
    of compiled loops), allowed by --max-objects: SIGTERM ends the run promptly, with status 143
    and no temporary file (the compiled loops return to Python between blocks of pairs)."""
    source = with_objects(tmp_path / "ring.bin", "GenJet", 300_000, layout="ring")
    out = tmp_path / "out"
    out.mkdir()
    args = ["-m", "flashsim", "run", source, "-o", out / "x.root", "-q"]
    process = subprocess.Popen(
        [sys.executable, *map(str, args), "--max-objects", "GenJet=300000"],
        env=subprocess_env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list(out.iterdir()) and time.monotonic() < deadline:  # the writer is open
        time.sleep(0.05)
    time.sleep(2.0)
    assert process.poll() is None
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    took = time.monotonic() - sent
    status = process.returncode
    assert status == 143, stderr
    assert "Traceback" not in stderr
    # ~1 s of it is the interpreter's own teardown (torch); the loop returns in milliseconds
    assert took < 3.0, took
    assert not list(out.iterdir())

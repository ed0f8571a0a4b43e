"""The physics summary of ``flashsim validate`` in the analyst's units, and its gate.

The acceptance tests of issue 26: a 2% jet energy scale shift and a 20% change of the c mistag
rate at the medium working point, injected into a flash file, fail the default gate at ~20k
ttbar events while the same file without them passes; a 300-event comparison warns that it has
no statistical power. The ~20k-event files are the 600-event refsim sample of the test session
repeated 32 times: "flash" is then a perfect copy of "full", so the injected change is the
only difference and the default gate must catch it with the statistical errors of 19,200 events.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
from click.testing import CliRunner
from damage import read_columns, write_columns

from flashsim.cli import flashsim
from flashsim.validation.analyst import physics_summary, power_summary, power_warnings
from flashsim.validation.analyst.common import TOLERANCES, Measurement, detectable
from flashsim.validation.gate import (
    DEFAULT_THRESHOLDS,
    METRICS,
    Check,
    failed_checks,
    parse_thresholds,
)

REPEATS = 32
"""Copies of the 600-event session sample in the ~20k-event files."""


def invoke(args: list[str]) -> Any:
    """``flashsim ARGS`` in process, under the warning filters of a real ``flashsim`` process."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        return CliRunner().invoke(flashsim, args)


# -- the statistics of one number --------------------------------------------------------------


def test_measurement_is_gated_beyond_its_tolerance() -> None:
    m = Measurement.compare(
        "jes", "Jet/jes/b/x", ("JES", "bin", "b"), (1.02, 0.001), (1.0, 0.001), (100, 100)
    )
    assert m.delta == pytest.approx(2.0)
    assert m.error == pytest.approx(np.hypot(0.1, 0.102), rel=1e-3)
    assert m.z == pytest.approx((2.0 - TOLERANCES["jes"]) / m.error)
    assert m.check.fails(DEFAULT_THRESHOLDS)
    small = Measurement.compare("jes", "w", ("", "", ""), (1.005, 0.001), (1.0, 0.001), (1, 1))
    assert not small.check.fails(DEFAULT_THRESHOLDS)  # significant, but inside the tolerance
    noisy = Measurement.compare("jes", "w", ("", "", ""), (1.05, 0.02), (1.0, 0.02), (1, 1))
    assert not noisy.check.fails(DEFAULT_THRESHOLDS)  # large, but not significant
    absolute = Measurement.compare(
        "met_response", "w", ("", "", ""), (0.95, 0.001), (0.90, 0.001), (1, 1), ratio=False
    )
    assert absolute.delta == pytest.approx(5.0)
    assert detectable("jes", 0.2, 3.0) == pytest.approx(1.6)
    row = m.row(DEFAULT_THRESHOLDS, 3.0)
    assert (row["difference"], row["gate"]) == ("+2.0%", "FAIL")


def test_power_warns_when_the_errors_exceed_the_tolerance() -> None:
    def jes(error: float) -> Measurement:
        return Measurement("jes", "w", "", "", "", 1, 0, 1, 0, 0.0, error)

    assert power_warnings(power_summary([jes(0.2)], None), (20_000, 20_000)) == []
    power = power_summary([jes(0.5), jes(2.0)], None)
    assert power["jes"]["detectable_best"] == pytest.approx(2.5)
    (warning,) = power_warnings(power, (300, 300))
    assert "low statistical power" in warning
    assert "JES 2.5%" in warning
    # A looser gate needs less power.
    assert power_summary([jes(0.5)], parse_thresholds("jes=1.5"))["jes"]["low_power"] is False


def test_physics_metrics_are_gateable() -> None:
    for metric in TOLERANCES:
        assert metric in METRICS
        assert any(t.metric == metric and t.value == 3.0 for t in DEFAULT_THRESHOLDS)
    gate = parse_thresholds("defaults,jes[Jet/*/b/*]=2")
    assert gate[: len(DEFAULT_THRESHOLDS)] == list(DEFAULT_THRESHOLDS)
    assert failed_checks([Check("jes", "Jet/jes/b/inclusive", 2.5)], gate)
    assert not failed_checks([Check("jes", "Jet/jes/c/inclusive", 2.5)], gate)


# -- flash files with injected differences -----------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> Any:
    from flashsim.bundle import default_model_path, load_bundle

    return load_bundle(default_model_path()).spec


@pytest.fixture(scope="module")
def columns(ttbar_file: Path) -> dict[str, Any]:
    """The session's refsim sample, repeated :data:`REPEATS` times."""
    cols = read_columns(ttbar_file, 10**9)
    return {
        k: ak.concatenate([v] * REPEATS) if isinstance(v, ak.Array) else np.tile(v, REPEATS)
        for k, v in cols.items()
    }


@pytest.fixture(scope="module")
def full_file(columns: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_columns(tmp_path_factory.mktemp("physics") / "full.root", columns)


def _summary(spec: Any, flash: Path, full: Path) -> tuple[dict[str, Any], list[Check]]:
    from flashsim.validation.samples import read_sample

    f = read_sample(flash, spec, collections=["Jet"], role="flash")
    r = read_sample(full, spec, collections=["Jet"], role="full-simulation")
    metrics, section, checks = physics_summary(spec, f, r, seed=1, n_boot=30)
    assert section.key == "physics_summary"
    assert section.table
    return metrics, checks


@pytest.fixture(scope="module")
def perfect(spec: Any, full_file: Path) -> tuple[dict[str, Any], list[Check]]:
    """The summary of a perfect flash simulation (the full file compared with itself)."""
    return _summary(spec, full_file, full_file)


def _measured(metrics: dict[str, Any], where: str) -> dict[str, Any]:
    return next(m for m in metrics["measurements"] if m["where"] == where)


def test_a_perfect_flash_simulation_passes(perfect: tuple[dict[str, Any], list[Check]]) -> None:
    metrics, checks = perfect
    assert failed_checks(checks, DEFAULT_THRESHOLDS) == []
    assert {c.metric for c in checks} >= {"jes", "jer", "btag_sf", "mistag_sf", "pileup_jets"}
    assert metrics["warnings"] == []  # ~20k events: enough power for the default tolerances
    assert metrics["power"]["jes"]["detectable_best"] < 2.0
    medium = _measured(metrics, "Jet/mistag_sf/medium/c")
    assert medium["full_b_efficiency"] == pytest.approx(0.70, abs=0.01)


def test_a_two_percent_jet_energy_scale_shift_fails(
    spec: Any, columns: dict[str, Any], full_file: Path, tmp_path: Path
) -> None:
    shifted = write_columns(
        tmp_path / "shifted.root", {**columns, "Jet_pt": columns["Jet_pt"] * 1.02}
    )
    metrics, checks = _summary(spec, shifted, full_file)
    failing = failed_checks(checks, DEFAULT_THRESHOLDS)
    assert failing
    assert {c.metric for c in failing} == {"jes"}
    inclusive = _measured(metrics, "Jet/jes/light/inclusive")
    assert inclusive["delta_percent"] == pytest.approx(2.0, abs=0.05)
    assert "Jet/jes/light/inclusive" in {c.where for c in failing}


def test_a_twenty_percent_c_mistag_change_fails(
    spec: Any,
    columns: dict[str, Any],
    full_file: Path,
    perfect: tuple[dict[str, Any], list[Check]],
    tmp_path: Path,
) -> None:
    """c jets between the loose and the medium cut are moved between the medium and the tight
    cut, as many as 20% of the c jets the medium working point tags: only the medium c mistag
    rate changes, by +20%."""
    metrics, _ = perfect
    medium = _measured(metrics, "Jet/mistag_sf/medium/c")
    loose, tight = (_measured(metrics, f"Jet/mistag_sf/{wp}/c")["cut"] for wp in ("loose", "tight"))
    n_move = round(0.2 * medium["full"] * medium["n_full"])
    idx = columns["Jet_genJetIdx"]
    safe = ak.where(idx >= 0, idx, 0)
    gen = {k: columns[f"GenJet_{k}"][safe] for k in ("pt", "eta", "hadronFlavour")}
    score = columns["Jet_btagDeepFlavB"]
    candidate = (
        (idx >= 0)
        & (gen["hadronFlavour"] == 4)
        & (gen["pt"] >= 20)
        & (abs(gen["eta"]) < 2.5)
        & (score >= loose)
        & (score < medium["cut"])
    )
    flat = ak.flatten(candidate).to_numpy()
    chosen = np.flatnonzero(flat)[:n_move]
    assert chosen.size == n_move
    values = ak.flatten(score).to_numpy().copy()
    values[chosen] = np.float32((medium["cut"] + tight) / 2)
    moved = {**columns, "Jet_btagDeepFlavB": ak.unflatten(values, ak.num(score))}
    changed, checks = _summary(spec, write_columns(tmp_path / "ctag.root", moved), full_file)
    assert _measured(changed, "Jet/mistag_sf/medium/c")["delta_percent"] == pytest.approx(20, abs=1)
    assert _measured(changed, "Jet/mistag_sf/loose/c")["delta_percent"] == pytest.approx(0)
    failing = failed_checks(checks, DEFAULT_THRESHOLDS)
    assert [c.where for c in failing] == ["Jet/mistag_sf/medium/c"]


# -- the command line --------------------------------------------------------------------------


def test_a_300_event_comparison_warns(flash_file: Path, ttbar_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = invoke(
        ["validate", "--flash", str(flash_file), "--full", str(ttbar_file), "-o", str(out),
         "--max-events", "300", "--no-classifier", "--no-plots", "-q"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "flashsim validate: warning: low statistical power: 300 flash and 300 full" in (
        result.output
    )
    metrics = json.loads((out / "metrics.json").read_text())
    summary = metrics["physics_summary"]
    assert summary["warnings"]
    assert summary["power"]["jes"]["low_power"]
    assert {m["metric"] for m in summary["measurements"]} >= {"jes", "jer", "mistag_sf"}
    assert {c["metric"] for c in metrics["checks"]} >= {"jes", "btag_sf", "mistag_sf"}


@pytest.mark.parametrize("points", ["0.7,1.5", "0.7,abc", ","])
def test_bad_working_points_are_a_usage_error(
    points: str, flash_file: Path, ttbar_file: Path, tmp_path: Path
) -> None:
    result = invoke(
        ["validate", "--flash", str(flash_file), "--full", str(ttbar_file),
         "-o", str(tmp_path / "r"), "--working-points", points]
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.output.startswith("flashsim: error: --working-points")
    assert len(result.output.strip().splitlines()) == 1

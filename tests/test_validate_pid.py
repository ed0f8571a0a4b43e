"""The PID part of ``flashsim validate`` (:mod:`flashsim.validation.sections.pid`).

One small refsim LHCb-like sample split in two (even events as "flash", odd as "full": two
independent samples of the same simulation), and the "flash" half with DLLK shifted by +5: the
section has per-species curves and a PID-inclusive classifier, and the gate passes the first
comparison and fails the second.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from flashsim.exceptions import ConfigurationError, InputError
from flashsim.validation.gate import DEFAULT_THRESHOLDS, failed_checks
from flashsim.validation.metrics.pid import default_pid_cuts, parse_pid_cut

PIPELINE = Path(__file__).resolve().parents[1] / "pipelines" / "lhcb_like.yaml"


@pytest.fixture(scope="module")
def lhcb_pair(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("pythia8mc")
    from damage import read_columns, write_columns

    from flashsim.refsim.lhcb import generate_lhcb_sample

    tmp = tmp_path_factory.mktemp("lhcb_pid")
    sample = tmp / "bbbar.root"
    generate_lhcb_sample(n_events=400, seed=5, output=sample, progress=False, block_size=200)
    columns = read_columns(sample, 400)
    even = {k: v[0::2] for k, v in columns.items()}
    odd = {k: v[1::2] for k, v in columns.items()}
    shifted = {**even, "Track_DLLK": even["Track_DLLK"] + 5.0}
    no_pid = {k: v for k, v in even.items() if k != "Track_DLLK"}
    # Each "flash" event twice, as `flashsim run --oversample 2` writes replicas.
    twice = np.repeat(np.arange(len(even["event"])), 2)
    oversampled = {k: v[twice] for k, v in even.items()}
    oversampled["FlashSim_genEntry"] = twice.astype(np.int64)
    oversampled["FlashSim_replica"] = np.tile([0, 1], len(even["event"])).astype(np.int32)
    files = {"flash": even, "full": odd, "shifted": shifted, "no_pid": no_pid}
    files["oversampled"] = oversampled
    return {name: write_columns(tmp / f"{name}.root", cols) for name, cols in files.items()}


@pytest.fixture(scope="module")
def results(lhcb_pair: dict[str, Path]) -> dict[str, Any]:
    from flashsim.spec import load_spec
    from flashsim.validation.validate import validate

    spec = load_spec(PIPELINE)
    return {
        name: validate(spec, lhcb_pair[name], lhcb_pair["full"], tells=False)
        for name in ("flash", "shifted")
    }


def _pid_checks(result: Any, metric: str) -> dict[str, float]:
    return {c.where: c.value for c in result.checks if c.metric == metric and "/pid" in c.where}


@pytest.mark.slow
def test_section_has_per_species_curves(results: dict[str, Any]) -> None:
    result = results["flash"]
    section = next(s for s in result.sections if s.key == "Track_pid")
    pid = result.metrics["pid"]
    assert set(pid["cuts"]) == {"isMuon", "DLLe_gt_0", "DLLmu_gt_0", "DLLK_gt_0", "DLLp_gt_0"}
    for species in ("pion", "kaon", "proton"):
        curves = pid["species"][species]["cuts"]
        assert set(curves) == set(pid["cuts"])
        for cut in curves.values():
            assert cut["p"]["ndf"] >= 5
            assert len(cut["p"]["flash"]) == len(cut["p"]["edges"]) - 1
            assert cut["eta"]["ndf"] >= 5
    assert pid["species"]["kaon"]["cuts"]["DLLK_gt_0"]["role"] == "efficiency"
    assert pid["species"]["pion"]["cuts"]["DLLK_gt_0"]["role"] == "misID rate"
    # The electrons and muons of 200 bb-bar events are too few for a curve (bins of >= 10)
    # but are counted.
    assert pid["species"]["muon"]["counts"]["full"] > 0
    eff = _pid_checks(result, "eff_chi2")
    for cut in pid["cuts"]:
        for var in ("p", "eta"):
            assert f"Track/pid/{cut}/kaon/{var}" in eff
    # Figures: the DLLs per species, and one efficiency figure per cut and variable.
    titles = [g.title for g in section.groups]
    assert titles[0] == "PID variables per true species"
    efficiency = [p for g in section.groups[1:] for p in g.plots]
    assert len(efficiency) == 2 * len(pid["cuts"])
    assert {p.kind for p in efficiency} == {"efficiency"}
    assert [c.title for c in efficiency[0].items][:3] == ["true electron", "true muon", "true pion"]
    # The DLL distances per species are table rows like the collection targets'.
    assert {r["variable"] for r in section.table} >= {"kaon: DLLK", "pion: DLLp"}
    assert all(np.isfinite(r["w1_ratio"]) for r in section.table)
    json.dumps(pid)  # metrics.json holds it


@pytest.mark.slow
def test_classifier_includes_the_pid_fields(results: dict[str, Any]) -> None:
    result = results["flash"]
    auc = _pid_checks(result, "auc")
    assert {"Track/pid", "Track/pid/pion", "Track/pid/kaon", "Track/pid/proton"} <= set(auc)
    assert auc["Track/pid"] < 0.6
    summary = next(s for s in result.sections if s.key == "Track_pid").summary
    label = next(label for label, _, check in summary if check and check.where == "Track/pid")
    assert "DLLK" in label
    assert "isMuon" in label
    # The all-species test's features: gen kinematics, species and every PID field.
    top = result.metrics["pid"]["auc"]["top_features"]
    assert set(top) <= {
        "gen_log_p",
        "gen_eta",
        "species",
        "isMuon",
        "DLLe",
        "DLLmu",
        "DLLK",
        "DLLp",
    }


@pytest.mark.slow
def test_gate_passes_twin_samples_and_fails_shifted_dllk(results: dict[str, Any]) -> None:
    good, bad = results["flash"], results["shifted"]
    good_eff = _pid_checks(good, "eff_chi2")
    assert good_eff["Track/pid/DLLK_gt_0/pion/p"] < 2
    assert good_eff["Track/pid/DLLK_gt_0/kaon/p"] < 2
    failed = {(c.metric, c.where) for c in failed_checks(bad.checks, DEFAULT_THRESHOLDS)}
    assert ("eff_chi2", "Track/pid/DLLK_gt_0/pion/p") in failed
    assert ("auc", "Track/pid") in failed
    assert ("w1_ratio", "Track/pid/pion/DLLK") in failed
    # The curves of the other fields fail (or pass) as they did before the shift.
    was = {(c.metric, c.where) for c in failed_checks(good.checks, DEFAULT_THRESHOLDS)}

    def others(checks: set[tuple[str, str]]) -> set[tuple[str, str]]:
        return {c for c in checks if c[0] == "eff_chi2" and "DLLK" not in c[1]}

    assert others(failed) == others(was)
    # Where the shift does not reach (DLLe, isMuon) the two comparisons agree exactly.
    bad_eff = _pid_checks(bad, "eff_chi2")
    assert bad_eff["Track/pid/DLLe_gt_0/pion/p"] == good_eff["Track/pid/DLLe_gt_0/pion/p"]


@pytest.mark.slow
def test_file_without_pid_branches_is_an_input_error(lhcb_pair: dict[str, Path]) -> None:
    from flashsim.spec import load_spec
    from flashsim.validation.pid_sample import read_pid_table

    with pytest.raises(InputError, match=r"has no branch 'Track_DLLK'.*pid section"):
        read_pid_table(lhcb_pair["no_pid"], load_spec(PIPELINE), role="flash")
    table = read_pid_table(lhcb_pair["full"], load_spec(PIPELINE), max_events=50)
    assert set(table.values) == {"isMuon", "DLLe", "DLLmu", "DLLK", "DLLp"}
    assert np.all(np.isin(table.pdg, [11, 13, 211, 321, 2212]))
    assert table.groups.max() < 50


@pytest.mark.slow
def test_cli_report_has_the_pid_section(lhcb_pair: dict[str, Path], tmp_path: Path) -> None:
    from flashsim.cli.app import flashsim

    out = tmp_path / "report"
    args = [
        "validate", "--flash", str(lhcb_pair["flash"]), "--full", str(lhcb_pair["full"]),
        "--pipeline", str(PIPELINE), "-o", str(out), "--no-plots", "--no-classifier", "-q",
    ]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        res = CliRunner().invoke(flashsim, args)
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert "particle identification per true species" in (out / "index.html").read_text()
    assert metrics["pid"]["species"]["kaon"]["cuts"]["DLLK_gt_0"]["p"]["ndf"] >= 5


def test_cut_parsing() -> None:
    fields = ["isMuon", "DLLe", "DLLmu", "DLLK", "DLLp"]
    assert [c.key for c in default_pid_cuts(fields)] == [
        "isMuon", "DLLe_gt_0", "DLLmu_gt_0", "DLLK_gt_0", "DLLp_gt_0",
    ]  # fmt: skip
    cut = parse_pid_cut(" DLLp>=-2.5 ", fields)
    assert (cut.label, cut.key, cut.signal_pdg) == ("DLLp >= -2.5", "DLLp_ge_m2p5", 2212)
    assert parse_pid_cut("DLLK<0", fields).signal_pdg is None
    assert parse_pid_cut("isMuon", fields).passes(np.array([0, 1, np.nan])).tolist() == [
        False, True, False,
    ]  # fmt: skip
    with pytest.raises(ConfigurationError, match="not a PID field"):
        parse_pid_cut("DLLX>0", fields)
    for bad in ("DLLK >", "DLLK > nan", "DLLK == 0", "DLLK > 1e999"):
        with pytest.raises(ConfigurationError, match="is not 'FIELD OP NUMBER'"):
            parse_pid_cut(bad, fields)


@pytest.mark.slow
def test_oversampled_flash_counts_gen_events(
    lhcb_pair: dict[str, Path], results: dict[str, Any]
) -> None:
    """Two identical replicas per gen event: the same curves and the same errors (the gen event
    is the independent unit), not errors smaller by sqrt(2)."""
    from flashsim.spec import load_spec
    from flashsim.validation.validate import validate

    spec = load_spec(PIPELINE)
    twice = validate(
        spec, lhcb_pair["oversampled"], lhcb_pair["full"], tells=False, classifier=False
    )
    once = results["flash"].metrics["pid"]["species"]["kaon"]["cuts"]["DLLK_gt_0"]["p"]
    curve = twice.metrics["pid"]["species"]["kaon"]["cuts"]["DLLK_gt_0"]["p"]
    assert curve["flash"] == once["flash"]
    np.testing.assert_allclose(curve["flash_error"], once["flash_error"], rtol=1e-3, atol=1e-5)
    # (The chi-square may use more bins: its 10-entry minimum counts replicas.)
    assert curve["ndf"] >= once["ndf"]


@pytest.mark.slow
def test_cli_pid_cuts_are_chosen_and_checked(lhcb_pair: dict[str, Path], tmp_path: Path) -> None:
    from flashsim.cli.app import flashsim

    def run(out: Path, *cuts: str) -> Any:
        args = [
            "validate", "--flash", str(lhcb_pair["flash"]), "--full", str(lhcb_pair["full"]),
            "--pipeline", str(PIPELINE), "-o", str(out), "--no-plots", "--no-classifier", "-q",
        ]  # fmt: skip
        for cut in cuts:
            args += ["--pid-cut", cut]
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            return CliRunner().invoke(flashsim, args)

    res = run(tmp_path / "chosen", "DLLK>5", "isMuon")
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "chosen" / "metrics.json").read_text())
    assert set(metrics["pid"]["cuts"]) == {"DLLK_gt_5", "isMuon"}
    bad = run(tmp_path / "bad", "DLLX>5")
    assert bad.exit_code == 2
    assert bad.output.strip().splitlines() == [
        line for line in bad.output.strip().splitlines() if line.startswith("flashsim: error:")
    ]
    assert "'DLLX' is not a PID field" in bad.output

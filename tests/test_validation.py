"""flashsim.validation: reading, comparisons, physics summaries, the report and the gate."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest

from flashsim.exceptions import InputError
from flashsim.validation.comparison import auto_edges, compare_hist, distance_metrics
from flashsim.validation.gate import failed_checks, parse_thresholds
from flashsim.validation.physics import response_curve, tagger_roc
from flashsim.validation.samples import check_compatible, derived_quantities, read_sample


@pytest.fixture(scope="module")
def spec() -> Any:
    from flashsim.bundle import default_model_path, load_bundle

    return load_bundle(default_model_path()).spec


class TestComparison:
    def test_auto_edges(self, rng: np.random.Generator) -> None:
        ints = rng.integers(0, 5, 1000).astype(float)
        assert auto_edges(ints).tolist() == [-0.5, 0.5, 1.5, 2.5, 3.5, 4.5]
        edges = auto_edges(rng.normal(size=1000), bins=10)
        assert edges.size == 11
        assert -4 < edges[0] < -2
        assert 2 < edges[-1] < 4

    def test_hist_scale_ratio_and_hist_objects(self, rng: np.random.Generator) -> None:
        flash, full = rng.normal(size=20_000), rng.normal(size=10_000)
        comp = compare_hist(
            "x",
            "x",
            flash,
            full,
            flash_groups=np.arange(20_000),
            full_groups=np.arange(10_000),
            scale=0.5,
            edges=np.linspace(-2, 2, 9),
        )
        assert comp.flash.sum() == pytest.approx(comp.full.sum(), rel=0.05)
        ratio, err = comp.ratio()
        assert np.all(np.abs(ratio - 1) < 5 * err)
        h_flash, h_full = comp.to_hist()
        assert h_flash.values() == pytest.approx(comp.flash)
        assert h_flash.variances() == pytest.approx(0.25 * np.histogram(flash, comp.edges)[0])
        assert h_full.sum().value == comp.full.sum()

    def test_w1_ratio_of_a_perfect_and_a_shifted_model(self, rng: np.random.Generator) -> None:
        full = rng.normal(size=20_000)
        groups = np.arange(20_000)
        kw = {"flash_groups": groups, "full_groups": groups, "rng": rng}
        good = distance_metrics(rng.normal(size=20_000), full, **kw)
        bad = distance_metrics(rng.normal(0.1, 1, size=20_000), full, **kw)
        assert 0.3 < good["w1_ratio"] < 3
        assert bad["w1_ratio"] > 5
        assert bad["ks_pvalue"] < 1e-6 < good["ks_pvalue"]

    def test_degenerate_full_distribution(self, rng: np.random.Generator) -> None:
        zeros, groups = np.zeros(1000), np.arange(1000)
        kw = {"flash_groups": groups, "full_groups": groups, "rng": rng}
        assert distance_metrics(zeros, zeros, **kw)["w1_ratio"] == 1.0
        jitter = np.where(rng.random(1000) < 0.01, 0.3, 0.0)
        assert np.isfinite(distance_metrics(jitter, zeros, **kw)["w1_ratio"])

    def test_replicas_raise_the_floor(self, rng: np.random.Generator) -> None:
        full, groups = rng.normal(size=5000), np.arange(5000)
        flash = np.repeat(rng.normal(size=5000), 4)
        flash_groups = np.repeat(groups, 4)
        kw = {"flash_groups": flash_groups, "full_groups": groups}
        naive = distance_metrics(flash, full, rng=np.random.default_rng(1), **kw)
        right = distance_metrics(flash, full, rng=np.random.default_rng(1), flash_replicas=4, **kw)
        # The floor scales as sqrt(1/n_flash + 1/n_full); half A of flash has 10000 entries
        # but 2500 independent ones, half B of full 2500.
        factor = np.sqrt((1 / 2500 + 1 / 2500) / (1 / 10_000 + 1 / 2500))
        assert right["w1_floor"] == pytest.approx(factor * naive["w1_floor"], rel=1e-9)
        assert right["ks_pvalue"] >= naive["ks_pvalue"]


class TestPhysics:
    def test_tagger_roc(self, rng: np.random.Generator) -> None:
        signal = np.r_[np.ones(1000, bool), np.zeros(3000, bool)]
        score = np.where(signal, rng.normal(2, 1, 4000), rng.normal(0, 1, 4000))
        roc = tagger_roc(score, signal)
        assert 0.9 < roc.auc < 0.95  # Phi(2 / sqrt(2)) = 0.921
        assert roc.mistag_at(0.5) == pytest.approx(0.023, abs=0.01)  # 1 - Phi(2)
        with pytest.raises(ValueError, match="both signal and background"):
            tagger_roc(score[:10], signal[:10])

    def test_response_curve(self, rng: np.random.Generator) -> None:
        x = rng.uniform(0, 2, 40_000)
        resolution = np.where(x < 1, 0.1, 0.2)
        response = rng.normal(1.0, resolution)
        curve = response_curve(x, response, [0, 1, 2], groups=np.arange(x.size))
        assert curve.median == pytest.approx([1.0, 1.0], abs=0.01)
        assert curve.resolution == pytest.approx([0.1, 0.2], rel=0.05)
        assert np.all(curve.median_error < 0.005)


def test_derived_quantities() -> None:
    def objects(pt: list, phi: list, **extra: list) -> ak.Array:
        fields = {"pt": pt, "eta": [[0.0] * len(p) for p in pt], "phi": phi, **extra}
        return ak.zip({k: ak.Array(v) for k, v in fields.items()})

    events = ak.Array(
        {
            "Jet": objects(
                [[45.0, 45.0], [50.0, 10.0]], [[0.0, np.pi], [0.0, 1.0]], mass=[[0, 0], [0, 0]]
            ),
            "Muon": objects([[45.0, 45.0], [20.0]], [[0.0, np.pi], [0.0]], charge=[[1, -1], [1]]),
            "MET_pt": [5.0, 7.0],
        }
    )
    derived = derived_quantities(events)
    assert derived["mjj"][0] == pytest.approx(90.0)
    assert np.isnan(derived["mjj"][1])  # one jet above 30 GeV
    assert derived["mll"][0] == pytest.approx(90.0)
    assert np.isnan(derived["mll"][1])
    assert derived["HT"].tolist() == [90.0, 50.0]
    assert derived["MET_pt"].tolist() == [5.0, 7.0]


class TestSamples:
    def test_read_flash_and_full(self, spec: Any, flash_file: Path, ttbar_file: Path) -> None:
        flash = read_sample(flash_file, spec)
        full = read_sample(ttbar_file, spec)
        assert flash.n_events == full.n_events == 600
        assert flash.n_replicas == 1
        assert flash.n_gen_events == 600
        assert set(flash.tables) == {"Jet", "Muon", "Electron"}
        assert flash.provenance is not None
        assert full.provenance is None or "model" not in full.provenance
        common = check_compatible(flash, full)
        assert {"pt", "eta", "btagDeepFlavB"} <= set(common["Jet"])

    def test_no_common_variables(self, spec: Any, flash_file: Path, ttbar_file: Path) -> None:
        flash = read_sample(flash_file, spec, collections=["Muon"])
        full = read_sample(ttbar_file, spec, collections=["Muon"])
        renamed = {"Muon": {f"x_{k}": v for k, v in full.reco["Muon"].items()}}
        with pytest.raises(InputError, match="no reconstructed variable in common"):
            check_compatible(flash, dataclasses.replace(full, reco=renamed))

    def test_gen_only_file_is_refused(self, spec: Any) -> None:
        gen_only = Path(__file__).resolve().parents[1] / "data" / "examples" / "ttbar_gen.root"
        with pytest.raises(InputError, match="has no branch 'nJet'"):
            read_sample(gen_only, spec, role="full-simulation")

    def test_unknown_collection(self, spec: Any, flash_file: Path) -> None:
        with pytest.raises(InputError, match="not in pipeline"):
            read_sample(flash_file, spec, collections=["Tau"])


@pytest.mark.slow
class TestValidate:
    def test_default_model_on_held_out_events(
        self, spec: Any, flash_file: Path, ttbar_file: Path
    ) -> None:
        from flashsim.validation.validate import validate

        result = validate(spec, flash_file, ttbar_file, seed=1)
        jets = result.metrics["collections"]["Jet"]
        assert 0.45 < jets["auc"]["value"] < 0.6
        assert jets["efficiency"]["reco_pt"]["ndf"] > 5
        assert set(jets["targets"]) >= {"pt", "eta", "phi", "btagDeepFlavB"}
        assert "fakes" in jets
        assert result.metrics["inputs"]["flash"]["replicas"] == 1
        places = {(c.metric, c.where) for c in result.checks}
        assert {("auc", "Jet"), ("w1_ratio", "Jet/pt"), ("auc", "event")} <= places
        assert "b_vs_light" in next(iter(result.metrics["physics"]))
        assert 0.3 < result.metrics["physics"]["Jet/btagDeepFlavB/b_vs_light"]["auc_full"] <= 1

    def test_oversampled_flash_errors(self, spec: Any, ttbar_file: Path, tmp_path: Path) -> None:
        from flashsim.bundle import default_model_path, load_bundle
        from flashsim.runner import run_file
        from flashsim.validation.validate import validate

        path = tmp_path / "over.root"
        pipeline = load_bundle(default_model_path())
        run_file(pipeline, ttbar_file, path, seed=2, oversample=3, progress=False, max_events=200)
        result = validate(spec, path, ttbar_file, collections=["Muon"])
        inputs = result.metrics["inputs"]["flash"]
        assert (inputs["events"], inputs["gen_events"], inputs["replicas"]) == (600, 200, 3)
        comp = next(c for c in result.comparisons() if c.name == "Muon/reco/nMuon")
        # Per-event muon counts of the three replicas of a gen event are strongly correlated:
        # the variance is well above the one of 600 independent events (scale 1/3 each).
        naive = comp.flash.sum() * comp.scale
        assert comp.flash_var.sum() > 1.5 * naive
        assert comp.flash.sum() == pytest.approx(comp.full.sum(), rel=0.2)
        assert comp.scale == pytest.approx(1.0)  # 600 flash events for 600 full ones


def _shifted(pipeline: Any, factor: float) -> Any:
    """The pipeline with its jet response's first target (pT reco/gen) scaled by ``factor``."""

    class Shifted:
        def __init__(self, stage: Any) -> None:
            self.stage = stage

        def apply(self, conditions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            out = self.stage.apply(conditions, rng)
            out[:, 0] *= factor
            return out

    jet = pipeline.collections["Jet"]
    pipeline.collections["Jet"] = dataclasses.replace(jet, response=Shifted(jet.response))
    return pipeline


@pytest.mark.slow
def test_gate_flags_a_broken_model_and_passes_the_good_one(
    spec: Any, flash_file: Path, ttbar_file: Path, tmp_path: Path
) -> None:
    """A 5% jet-energy-scale shift of the flow output fails the gate; the default model passes.

    With the 600 held-out events the default model's jets give AUC <= 0.54 and a pT-ratio W1
    ratio <= 2 (seeds 1-3); the shifted model gives AUC >= 0.60 and W1 ratio >= 4.8.
    """
    from flashsim.bundle import default_model_path, load_bundle
    from flashsim.runner import run_file
    from flashsim.validation.validate import validate

    broken = tmp_path / "broken.root"
    pipeline = _shifted(load_bundle(default_model_path()), 1.05)
    run_file(pipeline, ttbar_file, broken, seed=1, progress=False)
    gate = parse_thresholds("auc[Jet]=0.57,w1_ratio[Jet/pt]=3.5")
    good = validate(spec, flash_file, ttbar_file, collections=["Jet"])
    bad = validate(spec, broken, ttbar_file, collections=["Jet"])
    assert failed_checks(good.checks, gate) == []
    assert {c.where for c in failed_checks(bad.checks, gate)} == {"Jet", "Jet/pt"}


@pytest.fixture(scope="module")
def muon_report(
    spec: Any, flash_file: Path, ttbar_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Any, Path, dict[str, Any]]:
    """A report of the muons of the default model on held-out events (figures included), gated
    so that exactly one check fails: the KS statistic of the muon pT, at half its value; the
    other KS statistics at the largest one, which passes (a check fails above its threshold)."""
    from flashsim.validation.report import write_report
    from flashsim.validation.validate import validate

    result = validate(spec, flash_file, ttbar_file, collections=["Muon"], classifier=False)
    ks = {c.where: c.value for c in result.checks if c.metric == "ks" and np.isfinite(c.value)}
    gate = parse_thresholds(f"ks={max(ks.values())!r},ks[Muon/pt]={ks['Muon/pt'] / 2!r}")
    # The physics summary judges its table rows when it measures them: give it the same gate
    # (the KS statistics do not change: same seed).
    result = validate(
        spec, flash_file, ttbar_file, collections=["Muon"], classifier=False, thresholds=gate
    )
    out = tmp_path_factory.mktemp("report") / "report"
    return result, out, write_report(result, out, jobs=2, thresholds=gate)


def test_write_report(muon_report: tuple[Any, Path, dict[str, Any]]) -> None:
    import uproot

    result, out, gate = muon_report
    ks_pt = next(c for c in result.checks if (c.metric, c.where) == ("ks", "Muon/pt"))
    assert 0 < ks_pt.value < 1
    assert not gate["passed"]
    assert gate["from_gate"]
    assert gate["failures"] == [
        {"metric": "ks", "where": "Muon/pt", "value": ks_pt.value, "threshold": ks_pt.value / 2}
    ]
    page = (out / "index.html").read_text()
    assert '<span class="verdict fail">FAIL</span>' in page
    assert '<tr class="fail"><td class="l">ks</td><td class="l">Muon/pt</td>' in page
    n_ks = sum(c.metric == "ks" and np.isfinite(c.value) for c in result.checks)
    start = page.index('<h2 id="Muon">')
    muons = page[start : page.index('<details class="section"', start)]
    assert muons.count('<td class="fail">') == 1  # the KS cell of the muon pT
    assert muons.count('<td class="pass">') == n_ks - 1  # every other KS cell
    pngs = sorted((out / "plots").glob("*.png"))
    assert len(pngs) > 20
    assert page.count("data:image/png;base64,") == len(pngs)  # one page: small enough
    assert not (out / "pages").exists()
    widths = [int(w) for w in re.findall(r'<img [^>]*width="(\d+)"', page)]
    assert len(widths) == len(pngs)
    assert min(widths) >= 600  # was 336 px with unreadable labels
    assert "http://" not in page.replace("http://www.w3.org", "")
    assert "Muon_pt_gen_pt.png" in {p.name for p in pngs}
    document = json.loads((out / "metrics.json").read_text())
    muons = document["collections"]["Muon"]
    assert muons["targets"]["pt"]["ks"] == ks_pt.value
    assert document["gate"] == {k: v for k, v in gate.items() if k != "n_histograms"}
    with uproot.open(out / "histograms.root") as f:
        flash = f["Muon/pt/flash"]
        full = f["Muon/pt/full"]
        comp = next(c for c in result.comparisons() if c.name == "Muon/pt")
        assert flash.values() == pytest.approx(comp.flash)
        assert full.errors() == pytest.approx(np.sqrt(comp.full_var))
        assert "Muon/efficiency/reco/pt/flash" in f.keys(cycle=False)


def test_report_gate_passes_at_the_largest_value(
    muon_report: tuple[Any, Path, dict[str, Any]], tmp_path: Path
) -> None:
    """A threshold at the largest KS value passes (a check fails only above its threshold)."""
    from flashsim.validation.report import write_report

    result = muon_report[0]
    largest = max(c.value for c in result.checks if c.metric == "ks")
    gate = write_report(
        result, tmp_path, thresholds=parse_thresholds(f"ks={largest!r}"), plots=False
    )
    assert gate["passed"]
    assert gate["failures"] == []
    assert '<span class="verdict pass">PASS</span>' in (tmp_path / "index.html").read_text()
    assert not (tmp_path / "plots").exists()


def test_report_renders_in_headless_chromium(
    muon_report: tuple[Any, Path, dict[str, Any]], tmp_path: Path
) -> None:
    """The page loads in a real browser and its figures and pass/fail colours are drawn."""
    import subprocess
    import sys

    from matplotlib.image import imread

    script = Path(__file__).resolve().parents[1] / "scripts" / "screenshot_report.py"
    sys.path.insert(0, str(script.parent))
    try:
        from screenshot_report import find_browser
    finally:
        sys.path.remove(str(script.parent))
    if find_browser() is None:
        pytest.skip("no Chromium or Chrome on this machine (apt-get install chromium)")
    shot = tmp_path / "report.png"
    done = subprocess.run(
        [sys.executable, str(script), str(muon_report[1]), "-o", str(shot), "--height", "4000"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    pixels = (imread(shot)[..., :3] * 255).round().astype(int)
    assert pixels.shape[:2] == (4000, 1400)

    def rows(color: tuple[int, int, int], tolerance: int = 12) -> np.ndarray:
        """Per pixel row, how many pixels have ``color``."""
        return np.all(np.abs(pixels - np.array(color)) <= tolerance, axis=-1).sum(axis=1)

    red = rows((0xE4, 0x25, 0x36))  # flash histograms in the figures
    green = rows((0xD9, 0xF2, 0xD9), 3)  # passing metric cells
    assert red.sum() > 3000
    assert green.sum() > 1000
    # The summary tables come first, the figures after them.
    assert np.flatnonzero(green)[0] < np.flatnonzero(red)[0]
    # Figures at their natural size: a histogram's flash line spans many pixels of a row.
    assert red.max() > 100

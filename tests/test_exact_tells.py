"""Exact tells (flashsim.validation.tells): values, point masses and ranges only one sample has."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest

from flashsim.validation.gate import Check, failed_checks, parse_thresholds
from flashsim.validation.tells import Tell, branch_tells, find_tells, skipped_branch

BTAG_DEFAULT = np.float32(0.042087726)


def kinds(tells: list[Tell]) -> list[tuple[str, str]]:
    return [(t.branch, t.kind) for t in tells]


def realistic(rng: np.random.Generator, n_events: int) -> dict[str, np.ndarray]:
    """A NanoAOD-like sample: constants, integers, flags, point masses on continua, fractions."""
    n_jets = rng.poisson(6, n_events)
    jets = int(n_jets.sum())
    n_mu = rng.poisson(0.6, n_events)
    muons = int(n_mu.sum())
    btag = rng.beta(0.5, 3, jets).astype(np.float32)
    btag[rng.random(jets) < 0.3] = BTAG_DEFAULT
    btag[rng.random(jets) < 0.03] = 1.0
    muef = np.where(rng.random(jets) < 0.9, 0.0, rng.uniform(0, 1, jets)).astype(np.float32)
    neh = np.clip(rng.normal(0.3, 0.3, jets), 0, 1).astype(np.float32)  # spikes at 0 and 1
    return {
        "nJet": n_jets.astype(np.int32),
        "Jet_pt": (15 + rng.exponential(30, jets)).astype(np.float32),
        "Jet_eta": rng.uniform(-4.7, 4.7, jets).astype(np.float32),
        "Jet_btagDeepFlavB": btag,
        "Jet_muEF": muef,
        "Jet_neHEF": neh,
        "Jet_nConstituents": (1 + rng.poisson(15, jets)).astype(np.uint8),
        "Jet_jetId": rng.choice(np.array([0, 2, 6], np.int32), jets, p=[0.05, 0.15, 0.8]),
        "nMuon": n_mu.astype(np.int32),
        "Muon_mass": np.full(muons, 0.1056584, np.float32),
        "Muon_charge": rng.choice(np.array([-1, 1], np.int32), muons),
        "Muon_tightId": rng.random(muons) < 0.7,
        "Muon_dxy": rng.laplace(0, 0.002, muons).astype(np.float32),
        "MET_pt": rng.gamma(2, 25, n_events).astype(np.float32),
        "PV_npvs": rng.poisson(30, n_events).astype(np.int32),
    }


class TestValues:
    def test_constant_mass_differing_in_the_sixth_digit(self) -> None:
        flash = np.full(400, 0.10566, np.float32)
        full = np.full(500, 0.1056584, np.float32)
        found = branch_tells("Muon_mass", flash, full)
        assert {t.kind for t in found} == {"flash_only", "full_only"}
        only = next(t for t in found if t.kind == "flash_only")
        assert only.flash_value == pytest.approx(0.10566)
        assert only.full_value is None
        assert (only.flash_fraction, only.full_fraction) == (1.0, 0.0)
        assert only.significance > 10
        assert branch_tells("Muon_mass", full[:400], full) == []

    def test_integer_value_flash_writes_and_full_never_does(self, rng: np.random.Generator) -> None:
        full = (1 + rng.poisson(15, 5000)).astype(np.uint8)
        flash = (1 + rng.poisson(15, 5000)).astype(np.uint8)
        flash[:100] = 0  # 2% of jets with no constituent
        found = branch_tells("Jet_nConstituents", flash, full)
        assert kinds(found) == [("Jet_nConstituents", "flash_only")]
        assert found[0].flash_value == 0
        assert found[0].flash_fraction == pytest.approx(0.02)
        ids = np.array([0, 2, 6], np.int32)
        full_id = rng.choice(ids, 5000, p=[0.05, 0.15, 0.8])
        flash_id = rng.choice(np.array([0, 1, 2, 6], np.int32), 5000, p=[0.04, 0.01, 0.15, 0.8])
        found = branch_tells("Jet_jetId", flash_id, full_id)
        assert [(t.kind, t.flash_value) for t in found] == [("flash_only", 1)]
        # The reverse: a value full writes and flash never does.
        found = branch_tells("Jet_jetId", full_id, flash_id)
        assert [(t.kind, t.full_value) for t in found] == [("full_only", 1)]

    def test_flags_and_types(self, rng: np.random.Generator) -> None:
        full = rng.random(3000) < 0.7
        found = branch_tells("Muon_tightId", np.ones(3000, bool), full)
        assert [(t.kind, t.full_value) for t in found] == [("full_only", False)]
        found = branch_tells("Muon_tightId", (rng.random(3000) < 0.7).astype(np.uint8), full)
        assert [(t.kind, t.note) for t in found] == [("type", "uint8 vs bool")]

    def test_rare_values_are_not_tells(self, rng: np.random.Generator) -> None:
        """A value 5 entries of full hold and flash lacks is within statistics."""
        full = rng.poisson(30, 4000).astype(np.int32)
        flash = rng.poisson(30, 4000).astype(np.int32)
        flash[flash == np.sort(full)[-3]] = 25
        assert branch_tells("PV_npvs", flash, full) == []


class TestPointMasses:
    def test_missing_btag_default(self, rng: np.random.Generator) -> None:
        full = rng.beta(0.5, 3, 20_000).astype(np.float32)
        full[:6000] = BTAG_DEFAULT
        flash = rng.beta(0.5, 3, 20_000).astype(np.float32)
        flash[:6000] = rng.normal(BTAG_DEFAULT, 0.002, 6000)  # smeared around it
        found = branch_tells("Jet_btagDeepFlavB", flash, full)
        assert kinds(found) == [("Jet_btagDeepFlavB", "point_mass")]
        mass = found[0]
        assert mass.full_value == pytest.approx(0.042087726)
        assert mass.flash_value is None
        assert mass.full_fraction == pytest.approx(0.3)
        assert mass.full_error == pytest.approx(np.sqrt(0.3 * 0.7 / 20_000))
        assert mass.flash_fraction == 0.0
        assert mass.pull < -50
        assert mass.tell

    def test_spike_flash_has_and_full_lacks(self, rng: np.random.Generator) -> None:
        full = rng.uniform(0, 1, 10_000).astype(np.float32)
        flash = rng.uniform(0, 1, 10_000).astype(np.float32)
        flash[:200] = 0.0  # 2% of energy fractions at exactly 0
        found = branch_tells("Jet_chEmEF", flash, full)
        assert [(t.kind, t.flash_value, t.full_value) for t in found] == [("point_mass", 0.0, None)]
        assert found[0].flash_fraction == pytest.approx(0.02)

    def test_compatible_fractions_are_reported_not_told(self, rng: np.random.Generator) -> None:
        def sample() -> np.ndarray:
            x = rng.uniform(0, 1, 10_000).astype(np.float32)
            x[rng.random(10_000) < 0.2] = 0.0
            return x

        assert not any(t.tell for t in branch_tells("Jet_muEF", sample(), sample()))
        masses = find_tells({"Jet_muEF": sample()}, {"Jet_muEF": sample()}, point_masses=True)
        assert [(t.kind, t.flash_value, t.tell) for t in masses] == [("point_mass", 0.0, False)]


class TestRanges:
    def test_values_beyond_full_range(self, rng: np.random.Generator) -> None:
        full = rng.uniform(-4.7, 4.7, 10_000).astype(np.float32)
        flash = rng.uniform(-5.0, 4.7, 10_000).astype(np.float32)
        found = branch_tells("Jet_eta", flash, full)
        assert kinds(found) == [("Jet_eta", "below_range")]
        assert found[0].flash_fraction == pytest.approx(0.3 / 9.7, rel=0.15)
        assert found[0].full_value == pytest.approx(full.min())

    def test_sign_and_unit_interval_always_count(self, rng: np.random.Generator) -> None:
        full = rng.uniform(0, 1, 5000).astype(np.float32)
        flash = rng.uniform(0, 1, 5000).astype(np.float32)
        flash[:2] = [-1e-7, 1.0000001]
        found = branch_tells("Jet_neEmEF", flash, full)
        assert sorted(t.kind for t in found) == ["sign", "unit_interval"]
        assert all(t.flash_fraction == pytest.approx(1 / 5000) for t in found)


class TestNoFindingsOnOneDistribution:
    @pytest.mark.parametrize("seed", range(5))
    def test_two_samples_of_a_realistic_mixture(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        a, b = realistic(rng, 4000), realistic(rng, 2500)
        assert find_tells(a, b) == []
        assert find_tells(b, a) == []

    def test_oversampled_flash(self, rng: np.random.Generator) -> None:
        """Three replicas of each event: counts are not independent, flash_replicas says so."""
        a = realistic(rng, 1500)
        flash = {k: np.repeat(v, 3) for k, v in a.items()}
        full = realistic(rng, 1500)
        assert find_tells(flash, full, flash_replicas=3) == []

    def test_two_halves_of_a_refsim_file(self, ttbar_file: Path) -> None:
        import uproot

        halves: list[dict[str, np.ndarray]] = [{}, {}]
        with uproot.open(ttbar_file) as f:
            events = f["Events"].arrays()
        n = len(events)
        for name in events.fields:
            for half, part in zip(
                halves, (events[name][: n // 2], events[name][n // 2 :]), strict=True
            ):
                half[name] = np.asarray(ak.flatten(part, axis=None))
        compared = [k for k in halves[0] if not skipped_branch(k)]
        assert {"Muon_mass", "Jet_btagDeepFlavB", "Jet_nConstituents", "MET_pt"} <= set(compared)
        assert find_tells(halves[0], halves[1]) == []


def test_skipped_branches() -> None:
    skipped = ["GenJet_pt", "nGenPart", "Pileup_nPU", "Generator_binvar", "genWeight", "run"]
    skipped += ["event", "luminosityBlock", "FlashSim_genEntry"]
    assert all(skipped_branch(b) for b in skipped)
    assert not any(skipped_branch(b) for b in ("Jet_pt", "nJet", "MET_pt", "PV_npvs"))
    flash = {"GenJet_pt": np.ones(100), "Muon_mass": np.full(100, 0.10566, np.float32)}
    full = {"GenJet_pt": np.zeros(100), "Muon_mass": np.full(100, 0.1056584, np.float32)}
    assert {t.branch for t in find_tells(flash, full)} == {"Muon_mass"}


def _write(path: Path, branches: dict[str, Any]) -> None:
    import uproot

    with uproot.recreate(path) as f:
        f.mktree(
            "Events",
            {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in branches.items()},
        )
        f["Events"].extend(branches)


@pytest.fixture
def tell_files(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, Path]:
    """A full file and a flash file whose only tell is the muon mass's sixth digit."""

    def events(mass: float, n: int = 2000) -> dict[str, Any]:
        counts = rng.poisson(1.0, n)
        muons = int(counts.sum())
        return {
            "Muon": ak.zip(
                {
                    "pt": ak.unflatten(rng.exponential(30, muons).astype(np.float32), counts),
                    "mass": ak.unflatten(np.full(muons, mass, np.float32), counts),
                }
            ),
            "MET_pt": rng.gamma(2, 25, n).astype(np.float32),
            "GenJet": ak.zip(
                {"pt": ak.unflatten(rng.exponential(30, muons).astype(np.float32), counts)}
            ),
            "event": np.arange(n, dtype=np.uint64) + (0 if mass == 0.1056584 else 10**6),
        }

    flash, full = tmp_path / "flash.root", tmp_path / "full.root"
    _write(flash, events(0.10566))
    _write(full, events(0.1056584))
    return flash, full


def test_files_gate_and_report(tell_files: tuple[Path, Path], tmp_path: Path) -> None:
    from flashsim.validation.report import write_report
    from flashsim.validation.result import ValidationResult
    from flashsim.validation.validate import branch_tells_of_files

    flash, full = tell_files
    metrics, checks = branch_tells_of_files(flash, full)
    assert metrics["branches_compared"] == ["MET_pt", "Muon_mass", "Muon_pt", "nMuon"]
    assert metrics["n_findings"] == 2
    assert {(c.where, c.value) for c in checks} == {
        ("MET_pt", 0),
        ("Muon_mass", 2),
        ("Muon_pt", 0),
        ("nMuon", 0),
    }
    gate = parse_thresholds("tells=0")
    assert [c.where for c in failed_checks(checks, gate)] == ["Muon_mass"]
    assert failed_checks(checks, parse_thresholds("tells[Muon_pt]=0,tells[MET_*]=0")) == []
    # Only the chosen collections.
    muons, _ = branch_tells_of_files(flash, full, collections=["Muon"])
    assert muons["branches_compared"] == ["Muon_mass", "Muon_pt", "nMuon"]
    # Clean: the full file against itself.
    clean, clean_checks = branch_tells_of_files(full, full)
    assert clean["n_findings"] == 0
    assert failed_checks(clean_checks, gate) == []

    result = ValidationResult({"tells": metrics}, [], checks)
    verdict = write_report(result, tmp_path / "report", thresholds=gate, plots=False)
    assert not verdict["passed"]
    assert [f["where"] for f in verdict["failures"]] == ["Muon_mass"]
    page = (tmp_path / "report" / "index.html").read_text()
    assert '<h2 id="tells">Exact tells</h2>' in page
    assert "<td>0.10566</td>" in page
    assert "<td>0.1056584</td>" in page
    document = json.loads((tmp_path / "report" / "metrics.json").read_text())
    found = document["tells"]["findings"]
    assert {(t["branch"], t["kind"]) for t in found} == {
        ("Muon_mass", "flash_only"),
        ("Muon_mass", "full_only"),
    }
    assert {"metric": "tells", "where": "Muon_mass", "value": 2.0} in document["checks"]
    passed = write_report(
        ValidationResult({"tells": clean}, [], clean_checks),
        tmp_path / "clean",
        thresholds=gate,
        plots=False,
    )
    assert passed["passed"]


def test_gate_counts_tells() -> None:
    checks = [Check("tells", "Muon_mass", 2.0), Check("tells", "Jet_pt", 0.0)]
    assert [c.where for c in failed_checks(checks, parse_thresholds("tells=0"))] == ["Muon_mass"]
    assert failed_checks(checks, parse_thresholds("tells=2")) == []

"""The boosted-jet part of the validation report (flashsim.validation.sections.boosted):
soft-drop mass peaks per class of generated jet and the boosted taggers' ROC curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flashsim.features import CollectionTable, model_targets
from flashsim.spec import load_spec
from flashsim.validation.result import Section
from flashsim.validation.sections.boosted import boosted_summary, mass_peak

SPEC = Path(__file__).resolve().parents[1] / "pipelines" / "cms_like.yaml"


def _table(rng: np.random.Generator, cs, msd_scale: float = 1.0) -> CollectionTable:
    """Matched FatJets of three kinds: top (b, gen mass 175), H->bb (b, 125), QCD (light)."""
    cond = [c.name for c in cs.conditions]
    targets = [t.name for t in model_targets(cs.targets)]
    n = 3000
    kind = rng.integers(0, 3, n)  # 0 top, 1 H, 2 QCD
    conditions = np.zeros((n, len(cond)))
    conditions[:, cond.index("pt")] = rng.uniform(400, 800, n)
    gen_mass = np.select([kind == 0, kind == 1], [175.0, 125.0], 20.0) + rng.normal(0, 3, n)
    conditions[:, cond.index("mass")] = gen_mass
    conditions[:, cond.index("hadronFlavour")] = np.where(kind < 2, 5, 0)
    values = np.zeros((n, len(targets)))
    peak = np.select([kind == 0, kind == 1], [170.0, 120.0], 15.0)
    values[:, targets.index("msoftdrop")] = msd_scale * peak * rng.normal(1, 0.08, n)
    score_top = np.where(kind == 0, rng.beta(5, 2, n), rng.beta(2, 5, n))
    values[:, targets.index("particleNetWithMass_TvsQCD")] = score_top
    values[:, targets.index("particleNetWithMass_HbbvsQCD")] = np.where(
        kind == 1, rng.beta(5, 2, n), rng.beta(2, 5, n)
    )
    return CollectionTable(conditions, np.ones(n, dtype=np.int64), values, np.arange(n))


@pytest.fixture(scope="module")
def fatjet():
    return load_spec(SPEC).collections["FatJet"]


def test_mass_peak_finds_the_peak_and_its_width() -> None:
    rng = np.random.default_rng(1)
    mass = np.concatenate([rng.normal(172, 12, 5000), rng.uniform(10, 300, 1500)])
    peak, width = mass_peak(mass)
    assert abs(peak - 172) < 2
    assert 9 < width < 16


def test_identical_samples_agree_and_a_shifted_mass_shows(fatjet) -> None:
    full = _table(np.random.default_rng(2), fatjet)
    same = _table(np.random.default_rng(3), fatjet)
    out, plots = boosted_summary(fatjet, same, full, Section("x", "x"))
    top = out["FatJet/msoftdrop_peak/top"]
    assert abs(top["peak_rel_diff"]) < 3 * top["peak_rel_error"] + 0.005
    assert abs(out["FatJet/msoftdrop_peak/Hbb"]["peak_rel_diff"]) < 0.02
    roc = out["FatJet/particleNetWithMass_TvsQCD/top_vs_QCD"]
    assert abs(roc["auc_flash"] - roc["auc_full"]) < 0.03
    assert roc["auc_full"] > 0.75
    assert {p.name for p in plots} >= {"physics/FatJet_particleNetWithMass_TvsQCD_roc"}

    shifted = _table(np.random.default_rng(3), fatjet, msd_scale=1.05)
    out, _ = boosted_summary(fatjet, shifted, full, Section("x", "x"))
    top = out["FatJet/msoftdrop_peak/top"]
    assert 0.03 < top["peak_rel_diff"] < 0.07
    assert top["peak_rel_diff"] > 3 * top["peak_rel_error"]


def test_collections_without_soft_drop_mass_get_nothing() -> None:
    jet = load_spec(SPEC).collections["Jet"]
    empty = CollectionTable(
        np.zeros((0, len(jet.conditions))), np.zeros(0), np.zeros((0, 1)), np.zeros(0)
    )
    assert boosted_summary(jet, empty, empty, Section("x", "x")) == ({}, [])

"""flashsim.stages.mixed: discrete parts sampled by classifiers before the continuous targets.

Synthetic rows with a known truth: a two-valued category whose probability rises with the
context, and a target that sits exactly on a point mass only in category 1 (so the second
classifier must use the first code), with a continuum elsewhere.
"""

from __future__ import annotations

import numpy as np
import pytest

from flashsim.exceptions import InputError
from flashsim.preprocessing import TablePreprocessor, build_chain
from flashsim.spec import Target
from flashsim.stages.efficiency import EfficiencyStage, fit_efficiency
from flashsim.stages.mixed import (
    MixedResponseStage,
    code_columns,
    discrete_codes,
    discrete_parts,
    fill_point_masses,
    train_mixed,
)
from flashsim.stages.response import ResponseStage

SPIKE = 0.042087726
TARGETS = [
    Target(name="pt", kind="ratio", transform=("log",)),
    Target(name="tag", kind="value", transform=(), range=(0.0, 1.0), point_masses=(SPIKE, 1.0)),
    Target(name="phi", kind="uniform_phi", transform=()),
    Target(name="flag", kind="value", transform=(), dtype="bool", categories=(0.0, 1.0)),
]


class _Gaussian:
    """A stand-in generative model: N(mean of its last context column, 0.1) per target."""

    def __init__(self, n_targets: int) -> None:
        self.n_targets = n_targets

    def sample(self, context: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        centre = 0.5 + 0.0 * context[:, :1]
        return centre + 0.1 * rng.standard_normal((len(context), self.n_targets))

    def state_dict(self) -> dict:
        return {}

    def record(self) -> dict:
        return {}


def _truth(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    context = rng.standard_normal((n, 1)).astype(np.float32)
    flag = rng.random(n) < 1.0 / (1.0 + np.exp(-2.0 * context[:, 0]))
    tag = rng.uniform(0.2, 0.8, n)
    on_spike = flag & (rng.random(n) < 0.6)  # the spike only in category 1
    tag[on_spike] = SPIKE
    tag[~flag & (rng.random(n) < 0.1)] = 1.0
    pt = np.exp(0.1 * rng.standard_normal(n))
    return context, np.column_stack([pt, tag, flag.astype(float)])


def _train(rng: np.random.Generator, n: int = 20000) -> MixedResponseStage:
    context, x = _truth(rng, n)
    parts = discrete_parts(TARGETS)
    val = rng.random(n) < 0.2

    def classify(name, features, outcome, rows):
        train, valid = rows & ~val, rows & val
        stage, _ = fit_efficiency(
            features[train], outcome[train], 2,
            {"n_estimators": 60, "max_depth": 3, "learning_rate": 0.3},
            validation=(features[valid], outcome[valid]),
        )  # fmt: skip
        return stage

    def respond(continuous, flow_context):
        assert continuous.shape[1] == 2  # pt and the tag's continuum; not the category
        assert flow_context.shape[1] == 1 + 3 + 1  # context, one-hot tag code, flag code
        prep = TablePreprocessor(["pt", "tag"], [build_chain([]), build_chain([])])
        return ResponseStage(_Gaussian(2), prep)

    return train_mixed(parts, x, context, classify, respond, rng)


def test_parts_and_codes():
    parts = discrete_parts(TARGETS)
    assert [(p.name, p.column, p.n_codes) for p in parts] == [("tag", 1, 3), ("flag", 2, 2)]
    x = np.array([[1.0, SPIKE, 0.0], [1.0, 0.5, 1.0], [1.0, 1.0, 1.0], [1.0, np.float32(SPIKE), 0]])
    codes = discrete_codes(parts, x)
    assert codes.tolist() == [[1, 0], [0, 1], [2, 1], [1, 0]]  # float32 spike still on it
    assert code_columns(parts, codes).tolist()[2] == [0.0, 0.0, 1.0, 1.0]
    with pytest.raises(InputError, match="not among its categories"):
        discrete_codes(parts, np.array([[1.0, 0.5, 2.0]]))


def test_placeholders_come_from_the_continuum(rng):
    parts = discrete_parts(TARGETS)
    _, x = _truth(rng, 5000)
    codes = discrete_codes(parts, x)
    filled = fill_point_masses(parts, x, codes, rng)
    on = codes[:, 0] > 0
    assert on.sum() > 1000
    assert np.all((filled[on, 1] >= 0.2) & (filled[on, 1] <= 0.8))
    np.testing.assert_array_equal(filled[~on], x[~on])


def test_sampled_discrete_parts_follow_the_truth(rng):
    stage = _train(rng)
    context, x = _truth(rng, 40000)
    out = stage.apply(context, np.random.default_rng(3))
    assert out.shape == (40000, 3)
    flag, tag = out[:, 2], out[:, 1]
    assert set(np.unique(flag)) == {0.0, 1.0}
    # category probability follows the context
    for lo, hi in ((-3, -1), (-1, 0), (0, 1), (1, 3)):
        sel = (context[:, 0] > lo) & (context[:, 0] < hi)
        assert abs(flag[sel].mean() - x[sel, 2].mean()) < 0.03
    # the spike only in category 1 (the second classifier sees the first code) and exactly on it
    on_spike = tag == SPIKE
    assert abs(on_spike[flag == 1].mean() - 0.6) < 0.03
    assert on_spike[flag == 0].mean() < 0.01
    assert abs((tag[flag == 0] == 1.0).mean() - 0.1) < 0.02
    # the continuum is the flow's, never on a point mass
    rest = tag[(tag != SPIKE) & (tag != 1.0)]
    assert abs(rest.mean() - 0.5) < 0.01


def test_classifiers_saved_beside_the_flow_sample_the_same(tmp_path, rng):
    """The classifiers round-trip through their files (the whole stage, flow included, is
    saved and loaded with the bundles of test_pipeline.py)."""
    stage = _train(rng, 4000)
    record = stage.save(tmp_path / "Jet.response.pt")
    assert record["kind"] == "mixed"
    assert [[r["file"] for r in steps] for steps in record["classifiers"]] == [
        ["Jet.response.discrete.tag.0.json.gz", "Jet.response.discrete.tag.1.json.gz"],
        ["Jet.response.discrete.flag.0.json.gz"],
    ]
    context, _ = _truth(rng, 500)
    before = stage.apply(context, np.random.default_rng(9))
    stage.classifiers = [
        [EfficiencyStage.load(tmp_path, r) for r in steps] for steps in record["classifiers"]
    ]
    np.testing.assert_array_equal(before, stage.apply(context, np.random.default_rng(9)))

"""flashsim.stages: efficiency (xgboost), response (flow) and fakes stages; save, load, pickle."""

from __future__ import annotations

import itertools
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from flashsim.exceptions import ModelError
from flashsim.models.flow import ConditionalFlow, FlowConfig
from flashsim.preprocessing import TablePreprocessor, build_chain
from flashsim.stages import EfficiencyStage, FakesStage, ResponseStage, fit_efficiency

BDT = {"n_estimators": 60, "max_depth": 2, "learning_rate": 0.3, "early_stopping_rounds": 10}


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def softmax_probabilities(x: np.ndarray) -> np.ndarray:
    """P(outcome | x) for 3 outcomes: lost, class 1 (likelier at large x), class 2 (small x)."""
    logits = np.stack([np.zeros_like(x), 1.5 * x, -1.5 * x], axis=1)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def draw(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(len(probabilities))[:, None]
    return (u >= np.cumsum(probabilities, axis=1)).sum(axis=1)


def fit(x: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[EfficiencyStage, dict[str, Any]]:
    split = len(x) * 4 // 5
    return fit_efficiency(
        x[:split], y[:split], n_classes, BDT, validation=(x[split:], y[split:]), seed=3
    )


@pytest.fixture(scope="module")
def binary() -> tuple[EfficiencyStage, dict[str, Any], np.ndarray]:
    """A stage trained on P(reco | x) = sigmoid(2x); also its metrics and training x."""
    rng = np.random.default_rng(11)
    x = rng.normal(0.0, 1.0, (20000, 1))
    y = (rng.random(len(x)) < sigmoid(2.0 * x[:, 0])).astype(np.int64)
    stage, metrics = fit(x, y, 2)
    return stage, metrics, x[: len(x) * 4 // 5, 0]


@pytest.fixture(scope="module")
def multiclass() -> tuple[EfficiencyStage, dict[str, Any], np.ndarray]:
    rng = np.random.default_rng(12)
    x = rng.normal(0.0, 1.0, (20000, 1))
    y = draw(softmax_probabilities(x[:, 0]), rng)
    stage, metrics = fit(x, y, 3)
    return stage, metrics, x[: len(x) * 4 // 5, 0]


def tiny_flow(n_features: int, n_context: int, seed: int = 0) -> ConditionalFlow:
    torch.manual_seed(seed)
    return ConditionalFlow(n_features, n_context, FlowConfig(transforms=1, hidden=(8,)))


def fitted_targets(rng: np.random.Generator) -> TablePreprocessor:
    """Targets around 100 (standardized) and positive (log, standardized)."""
    prep = TablePreprocessor(
        ["ratio", "iso"],
        [build_chain(["standardize"]), build_chain([{"log": {"offset": 1.0}}, "standardize"])],
    )
    prep.fit_forward(np.stack([rng.normal(100.0, 2.0, 500), rng.exponential(1.0, 500)], axis=1))
    return prep


@pytest.fixture
def response(rng: np.random.Generator) -> ResponseStage:
    return ResponseStage(tiny_flow(2, 3), fitted_targets(rng))


def json_round_trip(record: dict[str, Any]) -> dict[str, Any]:
    """What a bundle does to a stage record."""
    return json.loads(json.dumps(record))


# -- efficiency --------------------------------------------------------------------------------


def test_efficiency_learns_a_sigmoid(binary) -> None:
    stage, _, x_train = binary
    x = np.random.default_rng(5).uniform(-2.0, 2.0, (40000, 1))
    outcome = stage.apply(x, np.random.default_rng(6))
    assert outcome.dtype == np.int64
    assert set(np.unique(outcome)) == {0, 1}
    edges = np.linspace(-2.0, 2.0, 9)
    for low, high in itertools.pairwise(edges):
        inside = (x[:, 0] >= low) & (x[:, 0] < high)
        truth = sigmoid(2.0 * x[inside, 0]).mean()
        n_train = np.count_nonzero((x_train >= low) & (x_train < high))
        # statistical error of the sampled efficiency and of the training set in the bin
        sigma = np.sqrt(truth * (1.0 - truth) * (1.0 / inside.sum() + 1.0 / n_train))
        assert abs(outcome[inside].mean() - truth) < 3.0 * sigma, (low, high)


def test_efficiency_metrics(binary) -> None:
    _, metrics, _ = binary
    assert 1 <= metrics["trees"] <= BDT["n_estimators"]
    assert 0.0 < metrics["validation_logloss"] < np.log(2.0)  # better than a coin
    for k in (0, 1):
        assert metrics[f"predicted_fraction_{k}"] == pytest.approx(
            metrics[f"observed_fraction_{k}"], abs=0.02
        )
    assert metrics["observed_fraction_0"] + metrics["observed_fraction_1"] == pytest.approx(1.0)


def test_efficiency_probabilities(binary) -> None:
    stage, _, _ = binary
    x = np.array([[-3.0], [0.0], [3.0]])
    probs = stage.probabilities(x)
    assert probs.shape == (3, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(probs[:, 1], sigmoid(2.0 * x[:, 0]), atol=0.05)
    assert stage.probabilities(np.zeros((0, 1))).shape == (0, 2)


def test_multiclass_efficiency(multiclass) -> None:
    stage, metrics, x_train = multiclass
    assert stage.n_classes == 3
    x = np.random.default_rng(7).normal(0.0, 1.0, (30000, 1))
    outcome = stage.apply(x, np.random.default_rng(8))
    assert set(np.unique(outcome)) == {0, 1, 2}
    probs = stage.probabilities(x)
    assert probs.shape == (30000, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    for low, high in ((-np.inf, -0.5), (-0.5, 0.5), (0.5, np.inf)):
        inside = (x[:, 0] >= low) & (x[:, 0] < high)
        n_train = np.count_nonzero((x_train >= low) & (x_train < high))
        truth = softmax_probabilities(x[inside, 0]).mean(axis=0)
        sampled = np.bincount(outcome[inside], minlength=3) / inside.sum()
        sigma = np.sqrt(truth * (1.0 - truth) * (1.0 / inside.sum() + 1.0 / n_train))
        assert np.all(np.abs(sampled - truth) < 3.0 * sigma), (low, high, sampled, truth)
    for k in range(3):
        assert metrics[f"predicted_fraction_{k}"] == pytest.approx(
            metrics[f"observed_fraction_{k}"], abs=0.02
        )


def test_efficiency_apply_is_deterministic(binary) -> None:
    stage, _, _ = binary
    x = np.linspace(-2.0, 2.0, 1000)[:, None]
    first = stage.apply(x, np.random.default_rng(1))
    np.testing.assert_array_equal(first, stage.apply(x, np.random.default_rng(1)))
    assert not np.array_equal(first, stage.apply(x, np.random.default_rng(2)))


def test_efficiency_apply_uses_exactly_the_given_rng(binary) -> None:
    stage, _, _ = binary
    x = np.linspace(-2.0, 2.0, 300)[:, None]
    global_state = np.random.get_state()  # noqa: NPY002 (must stay untouched)
    rng = np.random.default_rng(9)
    stage.apply(x, rng)
    reference = np.random.default_rng(9)
    reference.random(len(x))  # one uniform number per row, nothing else
    assert rng.bit_generator.state == reference.bit_generator.state
    assert np.array_equal(np.random.get_state()[1], global_state[1])  # noqa: NPY002
    empty = stage.apply(np.zeros((0, 1)), rng)
    assert empty.shape == (0,)
    assert empty.dtype == np.int64


def test_efficiency_apply_compares_one_uniform_with_cumulative_probabilities(multiclass) -> None:
    stage, _, _ = multiclass
    x = np.linspace(-2.0, 2.0, 50)[:, None]
    u = np.random.default_rng(4).random(50)[:, None]
    cumulative = np.cumsum(stage.probabilities(x), axis=1)
    expected = np.minimum((u >= cumulative).sum(axis=1), 2)
    np.testing.assert_array_equal(stage.apply(x, np.random.default_rng(4)), expected)


def test_efficiency_save_load(binary, tmp_path: Path) -> None:
    stage, _, _ = binary
    record = stage.save(tmp_path / "Jet.efficiency.json")
    assert record == {"kind": "efficiency", "file": "Jet.efficiency.json", "n_classes": 2}
    json.loads((tmp_path / "Jet.efficiency.json").read_text())  # plain xgboost JSON
    loaded = EfficiencyStage.load(tmp_path, json_round_trip(record))
    assert loaded.n_classes == 2
    x = np.linspace(-3.0, 3.0, 200)[:, None]
    np.testing.assert_array_equal(loaded.probabilities(x), stage.probabilities(x))
    np.testing.assert_array_equal(
        loaded.apply(x, np.random.default_rng(3)), stage.apply(x, np.random.default_rng(3))
    )


def test_multiclass_save_load(multiclass, tmp_path: Path) -> None:
    stage, _, _ = multiclass
    loaded = EfficiencyStage.load(tmp_path, stage.save(tmp_path / "mu.json"))
    assert loaded.n_classes == 3
    x = np.linspace(-3.0, 3.0, 200)[:, None]
    np.testing.assert_array_equal(loaded.probabilities(x), stage.probabilities(x))


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda p: p.write_text(p.read_text()[: len(p.read_text()) // 2]),
        lambda p: p.write_text("{}"),
        lambda p: p.write_text(""),
        lambda p: p.unlink(),
    ],
    ids=["truncated", "empty-object", "empty-file", "missing"],
)
def test_efficiency_load_corrupted(binary, tmp_path: Path, corrupt) -> None:
    stage, _, _ = binary
    path = tmp_path / "eff.json"
    record = stage.save(path)
    corrupt(path)
    with pytest.raises(ModelError) as info:
        EfficiencyStage.load(tmp_path, record)
    message = str(info.value)
    assert message.startswith(f"cannot load efficiency model {path}: ")
    assert message.endswith("; retrain or restore the bundle")
    assert "\n" not in message


def test_fit_efficiency_passes_weights() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(0.0, 1.0, (4000, 1))
    y = (rng.random(4000) < 0.5).astype(np.int64)
    # weight the reconstructed rows up: the learned efficiency follows the weights
    weights = np.where(y == 1, 3.0, 1.0)
    stage, _ = fit_efficiency(
        x[:3000], y[:3000], 2, BDT, validation=(x[3000:], y[3000:]), weights=weights[:3000]
    )
    assert stage.probabilities(x[3000:])[:, 1].mean() == pytest.approx(0.75, abs=0.05)


def _sideband_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Signal with efficiency 0.7 / 0.97 (x < 0 / x > 0) under a background with efficiency 0.2.

    The weights subtract the background as a sideband would: +1 in the signal window (all the
    signal, half the background), -1 in the sideband (the other half).
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 1))
    signal = rng.random(n) < 0.6
    y = np.where(signal, rng.random(n) < np.where(x[:, 0] > 0, 0.97, 0.7), rng.random(n) < 0.2)
    weights = np.where(signal | (rng.random(n) < 0.5), 1.0, -1.0)
    return x, y.astype(np.int64), weights, signal


# Leaves must hold enough net signal: without min_child_weight the trees fit the sWeights' noise,
# early stopping halts after 10-30 trees, and the efficiencies stay shrunk towards the mean.
SIGNED_BDT = {**BDT, "n_estimators": 300, "learning_rate": 0.1, "min_child_weight": 200}


def test_fit_efficiency_learns_from_signed_weights() -> None:
    # xgboost refuses negative weights; the signed-weight objective learns the sWeighted estimate
    # sum(w y) / sum(w), which the positive weights alone do not.
    x, y, w, _ = _sideband_sample(40000, 3)
    fit, val = slice(0, 30000), slice(30000, None)
    valid = (x[val], y[val])
    stage, metrics = fit_efficiency(
        x[fit], y[fit], 2, SIGNED_BDT, validation=valid, weights=w[fit], validation_weights=w[val]
    )
    clipped, _ = fit_efficiency(
        x[fit], y[fit], 2, SIGNED_BDT, validation=valid, weights=np.clip(w[fit], 0, None)
    )
    # the metrics weight the validation rows with their sWeights (an sWeighted closure)
    assert metrics["predicted_fraction_1"] == pytest.approx(
        metrics["observed_fraction_1"], abs=0.03
    )
    for side in (x[:, 0] < 0, x[:, 0] > 0):
        direct = np.average(y[side], weights=w[side])  # the sWeighted efficiency of this half
        assert np.average(stage.probabilities(x[side])[:, 1], weights=w[side]) == pytest.approx(
            direct, abs=0.01
        )
        assert np.average(clipped.probabilities(x[side])[:, 1], weights=w[side]) < direct - 0.05
    # The reported loss is the signed-weight log-loss of the kept trees (a built-in unweighted
    # `logloss` of the same name once interleaved with it and was reported instead).
    prob = stage.probabilities(x[val])[:, 1]
    signed = -np.sum(w[val] * np.log(np.where(y[val] == 1, prob, 1 - prob))) / w[val].sum()
    assert metrics["validation_logloss"] == pytest.approx(signed, rel=1e-4)
    assert metrics["trees"] == stage.booster.num_boosted_rounds()
    # The saved booster is an ordinary binary:logistic one: probabilities, not margins.
    assert 0 < stage.probabilities(x[:100])[:, 1].min() <= stage.probabilities(x[:100]).max() < 1


def test_fit_efficiency_signed_weights_multiclass_and_errors() -> None:
    x, y, w, signal = _sideband_sample(40000, 4)
    # three outcomes: lost (0), class 1 below x = 1, class 2 above (signal); background uniform
    y = np.where(signal, y * (1 + (x[:, 0] > 1)), np.random.default_rng(5).integers(0, 3, len(y)))
    fit, val = slice(0, 30000), slice(30000, None)
    stage, _ = fit_efficiency(
        x[fit],
        y[fit],
        3,
        BDT,
        validation=(x[val], y[val]),
        weights=w[fit],
        validation_weights=w[val],
    )
    probs = stage.probabilities(np.array([[-1.0], [0.5], [2.0]]))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(
        probs, [[0.3, 0.7, 0.0], [0.03, 0.97, 0.0], [0.03, 0.0, 0.97]], atol=0.06
    )
    with pytest.raises(ModelError, match=r"training weights .* sum to .*all-negative sWeights"):
        fit_efficiency(x[fit], y[fit], 3, BDT, validation=(x[val], y[val]), weights=-np.abs(w[fit]))


# -- response ----------------------------------------------------------------------------------


def test_response_apply(response: ResponseStage) -> None:
    conditions = np.random.default_rng(1).normal(size=(400, 3))
    out = response.apply(conditions, np.random.default_rng(2))
    assert out.shape == (400, 2)
    assert out.dtype == np.float64
    # the target preprocessing is inverted: back around 100, and positive after the log
    assert 90.0 < np.median(out[:, 0]) < 110.0
    assert np.all(out[:, 1] > -1.0)
    np.testing.assert_array_equal(out, response.apply(conditions, np.random.default_rng(2)))
    assert not np.array_equal(out, response.apply(conditions, np.random.default_rng(3)))


def test_response_apply_ignores_torch_global_state(response: ResponseStage) -> None:
    conditions = np.random.default_rng(1).normal(size=(50, 3))
    torch.manual_seed(1)
    first = response.apply(conditions, np.random.default_rng(2))
    torch.manual_seed(2)
    np.testing.assert_array_equal(first, response.apply(conditions, np.random.default_rng(2)))


def test_response_zero_rows(response: ResponseStage) -> None:
    rng = np.random.default_rng(5)
    before = rng.bit_generator.state
    out = response.apply(np.zeros((0, 3)), rng)
    assert out.shape == (0, 2)
    assert rng.bit_generator.state == before


def test_response_save_load(response: ResponseStage, tmp_path: Path) -> None:
    record = response.save(tmp_path / "Jet.response.pt")
    assert record["kind"] == "response"
    assert record["file"] == "Jet.response.pt"
    assert record["model"]["kind"] == "flow"
    assert record["model"]["n_features"] == 2
    assert record["model"]["n_context"] == 3
    assert record["model"]["config"]["hidden"] == [8]
    assert [c["name"] for c in record["targets"]["columns"]] == ["ratio", "iso"]
    torch.manual_seed(123)  # loading must not depend on (or disturb) torch's global state
    state = torch.get_rng_state()
    loaded = ResponseStage.load(tmp_path, json_round_trip(record))
    assert torch.equal(state, torch.get_rng_state())
    conditions = np.random.default_rng(1).normal(size=(300, 3))
    np.testing.assert_array_equal(
        loaded.apply(conditions, np.random.default_rng(7)),
        response.apply(conditions, np.random.default_rng(7)),
    )
    assert loaded.apply(np.zeros((0, 3)), np.random.default_rng(7)).shape == (0, 2)


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
        lambda p: p.write_bytes(b""),
        lambda p: p.unlink(),
    ],
    ids=["truncated", "empty", "missing"],
)
def test_response_load_corrupted(response: ResponseStage, tmp_path: Path, corrupt) -> None:
    path = tmp_path / "r.pt"
    record = response.save(path)
    corrupt(path)
    with pytest.raises(ModelError) as info:
        ResponseStage.load(tmp_path, record)
    assert str(info.value).startswith(f"cannot load response model {path}: ")
    assert str(info.value).endswith("; retrain or restore the bundle")


def test_response_load_wrong_shape(response: ResponseStage, tmp_path: Path) -> None:
    record = response.save(tmp_path / "r.pt")
    record["model"]["n_context"] = 4
    with pytest.raises(ModelError, match="flow weights do not fit the model record"):
        ResponseStage.load(tmp_path, record)


# -- fakes -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fakes() -> FakesStage:
    """Fake multiplicity 0..3 growing with the (single) event condition; 2 properties."""
    rng = np.random.default_rng(21)
    x = rng.uniform(-2.0, 2.0, (4000, 1))
    counts = np.minimum(rng.poisson(np.exp(x[:, 0])), 3)
    multiplicity, _ = fit(x, counts, 4)
    prep = TablePreprocessor(["pt", "eta"], [build_chain(["standardize"]) for _ in range(2)])
    prep.fit_forward(np.stack([rng.normal(20.0, 3.0, 300), rng.normal(0.0, 2.0, 300)], axis=1))
    return FakesStage(multiplicity, ResponseStage(tiny_flow(2, 1, seed=4), prep))


def test_fakes_apply(fakes: FakesStage) -> None:
    conditions = np.linspace(-2.0, 2.0, 200)[:, None]
    counts, properties = fakes.apply(conditions, np.random.default_rng(3))
    assert counts.shape == (200,)
    assert counts.dtype == np.int64
    assert counts.min() == 0
    assert counts.max() == 3
    assert counts[:100].sum() < counts[100:].sum()  # more fakes at large condition
    assert properties.shape == (counts.sum(), 2)
    assert 10.0 < np.median(properties[:, 0]) < 30.0


def test_fakes_apply_is_multiplicity_then_one_row_per_fake(fakes: FakesStage) -> None:
    conditions = np.linspace(-2.0, 2.0, 60)[:, None]
    counts, properties = fakes.apply(conditions, np.random.default_rng(8))
    rng = np.random.default_rng(8)
    expected_counts = fakes.multiplicity.apply(conditions, rng)
    expected = fakes.response.apply(np.repeat(conditions, expected_counts, axis=0), rng)
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_array_equal(properties, expected)


def test_fakes_without_any_fake(fakes: FakesStage) -> None:
    counts, properties = fakes.apply(np.zeros((0, 1)), np.random.default_rng(1))
    assert counts.shape == (0,)
    assert properties.shape == (0, 2)


# -- pickling (any executor must be able to ship the stages) -----------------------------------


def test_pickle_efficiency(binary, multiclass) -> None:
    x = np.linspace(-2.0, 2.0, 500)[:, None]
    for stage, _, _ in (binary, multiclass):
        copy = pickle.loads(pickle.dumps(stage))
        assert copy.n_classes == stage.n_classes
        np.testing.assert_array_equal(copy.probabilities(x), stage.probabilities(x))
        np.testing.assert_array_equal(
            copy.apply(x, np.random.default_rng(2)), stage.apply(x, np.random.default_rng(2))
        )


def test_pickle_response(response: ResponseStage) -> None:
    copy = pickle.loads(pickle.dumps(response))
    conditions = np.random.default_rng(1).normal(size=(200, 3))
    np.testing.assert_array_equal(
        copy.apply(conditions, np.random.default_rng(2)),
        response.apply(conditions, np.random.default_rng(2)),
    )


def test_pickle_fakes(fakes: FakesStage) -> None:
    copy = pickle.loads(pickle.dumps(fakes))
    conditions = np.linspace(-2.0, 2.0, 100)[:, None]
    got = copy.apply(conditions, np.random.default_rng(6))
    expected = fakes.apply(conditions, np.random.default_rng(6))
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


def test_fakes_multiplicity_has_its_tail_beyond_max_count(rng):
    """Counts above ``max_count`` are not a wall at it: the last class gets the training
    events' excess (Poisson(2.5) per event, classes 0..3 with "3 or more" on top)."""
    max_count = 3
    x = rng.uniform(-1, 1, (20000, 1)).astype(np.float32)
    truth = rng.poisson(2.5, len(x))
    label = np.minimum(truth, max_count)
    stage, _ = fit_efficiency(
        x[:16000], label[:16000], max_count + 1, {"n_estimators": 20, "max_depth": 2},
        validation=(x[16000:], label[16000:]),
    )  # fmt: skip
    tail = FakesStage.fit_tail(truth, max_count)
    assert tail[0] == pytest.approx(np.mean(truth[truth >= 3] == 3))
    fakes = FakesStage(stage, response=None, tail=tail)
    counts = fakes.counts(x, np.random.default_rng(1))
    assert counts.max() > max_count + 2
    for k in range(9):
        assert np.mean(counts == k) == pytest.approx(np.mean(truth == k), abs=0.01)
    # without a tail (bundles written before it) the top class stays a wall
    assert FakesStage(stage, response=None).counts(x, np.random.default_rng(1)).max() == 3
    with pytest.raises(ModelError, match="tail"):
        FakesStage(stage, response=None, tail=[-1.0])

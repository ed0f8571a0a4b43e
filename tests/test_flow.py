"""Tests of the conditional normalizing flow, its persistence and its training loop."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from flashsim.checks import ConfigReader
from flashsim.exceptions import ConfigurationError, ModelError, SpecError
from flashsim.models import (
    MODEL_KINDS,
    MODELS,
    ConditionalFlow,
    FlowConfig,
    TrainConfig,
    evaluate_loss,
    model_from_record,
    train_model,
)
from flashsim.models.factory import build_model

TINY = {"transforms": 2, "hidden": (16, 16)}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny networks run fastest (and reproducibly) on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_flow(
    n_features: int = 3, n_context: int = 2, seed: int = 0, **options: object
) -> ConditionalFlow:
    torch.manual_seed(seed)
    return ConditionalFlow(n_features, n_context, FlowConfig(**{**TINY, **options}))


def perturb(flow: ConditionalFlow, seed: int = 1) -> None:
    """Move the weights away from zuko's near-identity initialisation."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.module.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))


def gaussian_data(
    rng: np.random.Generator, n: int, slope: tuple[float, float] = (1.5, -1.0)
) -> tuple[np.ndarray, np.ndarray]:
    """x ~ N(slope * c, 0.5) in two dimensions, c ~ N(0, 1)."""
    c = rng.normal(size=(n, 1)).astype(np.float32)
    x = c * np.asarray(slope, dtype=np.float32) + 0.5 * rng.normal(size=(n, 2))
    return x.astype(np.float32), c


@pytest.mark.parametrize("transform", ["spline", "affine"])
@pytest.mark.parametrize("structure", ["coupling", "autoregressive"])
def test_flow_basics(transform: str, structure: str, tmp_path: Path) -> None:
    flow = make_flow(transform=transform, structure=structure)
    perturb(flow)
    rng = np.random.default_rng(5)
    context = rng.normal(size=(300, 2)).astype(np.float32)

    x = flow.sample(context, np.random.default_rng(1), batch_size=128)
    assert x.shape == (300, 3)
    assert x.dtype == np.float32
    assert np.isfinite(x).all()
    assert np.array_equal(x, flow.sample(context, np.random.default_rng(1)))
    assert not np.allclose(x, flow.sample(context, np.random.default_rng(2)))
    assert flow.sample(context[:0], np.random.default_rng(1)).shape == (0, 3)

    log_prob = flow.log_prob(torch.from_numpy(x), torch.from_numpy(context))
    assert log_prob.shape == (300,)
    assert torch.isfinite(log_prob).all()

    # transform(inv(z)) == z: the sample is the exact image of the base noise.
    with torch.no_grad():
        dist = flow.module(torch.from_numpy(context))
        z = torch.from_numpy(np.random.default_rng(1).standard_normal((300, 3), dtype=np.float32))
        assert torch.allclose(dist.transform(torch.from_numpy(x)), z, atol=1e-3)
        assert torch.allclose(dist.transform(dist.transform.inv(z)), z, atol=1e-3)

    # Save and load: JSON for the record, torch.save/load(weights_only=True) for the weights.
    (tmp_path / "record.json").write_text(json.dumps(flow.record()))
    torch.save(flow.state_dict(), tmp_path / "weights.pt")
    record = json.loads((tmp_path / "record.json").read_text())
    state = torch.load(tmp_path / "weights.pt", weights_only=True)
    global_rng = torch.random.get_rng_state()
    for loaded in (model_from_record(record, state), pickle.loads(pickle.dumps(flow))):
        assert isinstance(loaded, ConditionalFlow)
        assert loaded.record() == flow.record()
        assert np.array_equal(loaded.sample(context, np.random.default_rng(1)), x)
    assert torch.equal(torch.random.get_rng_state(), global_rng)


def test_record_and_weights_must_fit() -> None:
    flow = make_flow(structure="coupling")
    with pytest.raises(ModelError, match="do not fit"):
        ConditionalFlow.from_record(make_flow(n_features=4).record(), flow.state_dict())
    # Same shapes, other masks: an autoregressive record cannot take coupling weights.
    other = make_flow(structure="autoregressive").record()
    with pytest.raises(ModelError, match="another structure"):
        ConditionalFlow.from_record(other, flow.state_dict())
    with pytest.raises(ModelError, match="malformed"):
        ConditionalFlow.from_record({**flow.record(), "config": {"bins": "many"}}, {})
    with pytest.raises(ModelError, match="known kinds: flow"):
        model_from_record({"kind": "vae"}, {})
    assert MODELS["flow"].model is ConditionalFlow


def test_config_validation() -> None:
    config = FlowConfig.from_dict({"transform": "affine", "hidden": [32, 32]})
    assert config.hidden == (32, 32)
    assert FlowConfig.from_dict(config.to_dict()) == config
    with pytest.raises(SpecError, match=r"unknown key 'bin'.*did you mean 'bins'"):
        FlowConfig.from_dict({"bin": 4})
    with pytest.raises(
        SpecError,
        match=r"flow\.transform: unknown value 'rqs'; expected one of \('spline', 'affine'\)",
    ):
        FlowConfig.from_dict({"transform": "rqs"})
    with pytest.raises(SpecError, match=r"flow\.structure"):
        FlowConfig.from_dict({"structure": "coupled"})
    with pytest.raises(SpecError, match=r"flow\.hidden"):
        FlowConfig.from_dict({"hidden": [64, 0]})
    with pytest.raises(SpecError, match=r"flow\.transforms"):
        FlowConfig.from_dict({"transforms": True})

    train = TrainConfig.from_dict({"learning_rate": "1e-3", "epochs": 3})
    assert train.learning_rate == pytest.approx(1e-3)
    assert TrainConfig.from_dict(train.to_dict()) == train
    with pytest.raises(SpecError, match=r"unknown key 'epoch'.*did you mean 'epochs'"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(SpecError, match=r"training\.schedule"):
        TrainConfig.from_dict({"schedule": "step"})
    with pytest.raises(SpecError, match=r"training\.learning_rate"):
        TrainConfig.from_dict({"learning_rate": 0})
    with pytest.raises(SpecError, match=r"training\.max_minutes"):
        TrainConfig.from_dict({"max_minutes": -1})
    for ema in (1.0, -0.1, "x"):
        with pytest.raises(SpecError, match=r"training\.ema"):
            TrainConfig.from_dict({"ema": ema})
    with pytest.raises(SpecError, match="expected a mapping"):
        TrainConfig.from_dict([("epochs", 3)])  # type: ignore[arg-type]


def test_settings_errors_name_the_spec_key_path() -> None:
    """Read from a spec, a model section's errors name the file and the full key path."""
    reader = ConfigReader("a.yaml")
    where = "collections.Jet.response.flow"
    message = (
        r"^a\.yaml: collections\.Jet\.response\.flow\.hidden\[1\]: expected an integer >= 1, got 0$"
    )
    with pytest.raises(SpecError, match=message):
        FlowConfig.from_dict({"hidden": [64, 0]}, reader=reader, where=where)
    with pytest.raises(
        SpecError, match=r"^a\.yaml: collections\.Jet\.response\.flow: unknown key 'bin'"
    ):
        FlowConfig.from_dict({"bin": 4}, reader=reader, where=where)


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_registry_builds_and_parses_every_kind(kind: str) -> None:
    """Each kind is built alike from a spec's mapping or from parsed settings."""
    entry = MODELS[kind]
    assert entry.model.kind == kind
    assert entry.config is entry.model.config_class
    parsed = entry.config.from_dict({})
    torch.manual_seed(0)
    from_mapping = build_model(kind, 2, 1, {})
    torch.manual_seed(0)
    from_parsed = build_model(kind, 2, 1, parsed)
    assert from_mapping.record() == from_parsed.record()
    for key, value in from_mapping.state_dict().items():
        assert torch.equal(from_parsed.state_dict()[key], value), key
    with pytest.raises(ValueError, match="unknown response model 'vae'"):
        build_model("vae", 2, 1, {})


def test_training_learns_conditional_gaussian(capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    x, c = gaussian_data(rng, 3000)
    x_val, c_val = gaussian_data(rng, 1000)
    flow = make_flow(2, 1, transform="affine")
    before = evaluate_loss(flow, x_val, c_val)
    config = TrainConfig(epochs=15, batch_size=128, learning_rate=5e-3)
    result = train_model(flow, x, c, None, x_val, c_val, None, config, seed=0, label="jets")
    assert "jets" in capsys.readouterr().err  # the progress bar names the stage
    assert result.epochs_run == len(result.history) >= result.best_epoch >= 1
    assert result.best_val_loss == pytest.approx(evaluate_loss(flow, x_val, c_val))
    # The true conditional entropy is 2 * (0.5 log(2 pi e) + log 0.5) = 1.45.
    assert result.best_val_loss < min(before - 1.0, 1.6)
    for value in (-1.0, 1.0):
        sample = flow.sample(np.full((4000, 1), value, np.float32), np.random.default_rng(1))
        np.testing.assert_allclose(sample.mean(axis=0), [1.5 * value, -value], atol=0.15)
        np.testing.assert_allclose(sample.std(axis=0), [0.5, 0.5], atol=0.1)


def test_weights() -> None:
    rng = np.random.default_rng(1)
    x, c = gaussian_data(rng, 400)
    flow = make_flow(2, 1)
    perturb(flow)
    # Weight zero on half the rows is the loss of the other half.
    weights = np.repeat([0.0, 2.0], 200)
    np.testing.assert_allclose(
        evaluate_loss(flow, x, c, weights), evaluate_loss(flow, x[200:], c[200:]), rtol=1e-6
    )
    # Negative (sWeight-like) weights with a positive sum train fine.
    weights = np.where(np.arange(400) % 4 == 0, -0.5, 1.5)
    config = TrainConfig(epochs=2, batch_size=64)
    result = train_model(flow, x, c, weights, x, c, weights, config, seed=0, progress=False)
    assert all(np.isfinite([h["train_loss"], h["val_loss"]]).all() for h in result.history)
    with pytest.raises(ModelError, match="positive sum"):
        train_model(flow, x, c, -weights, x, c, None, config, seed=0, progress=False)


def test_early_stopping_and_bad_inputs(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x, c = gaussian_data(rng, 200)
    flow = make_flow(2, 1, transform="affine")
    # Gradients clipped to (almost) nothing: the weights stay put, the validation loss is flat.
    config = TrainConfig(epochs=20, max_grad_norm=1e-30, patience=4)
    result = train_model(flow, x, c, None, x, c, None, config, seed=0, progress=False)
    assert (result.stopped, result.best_epoch, result.epochs_run) == ("early_stopping", 1, 5)
    # The plateau schedule halves the learning rate after three epochs without improvement.
    assert [h["lr"] for h in result.history] == [1e-3] * 4 + [5e-4]
    # Early stopping is final: resuming its checkpoint trains no further.
    ckpt = tmp_path / "train.ckpt"
    flow = make_flow(2, 1, transform="affine")
    train_model(flow, x, c, None, x, c, None, config, seed=0, checkpoint=ckpt, progress=False)
    again = train_model(
        flow, x, c, None, x, c, None, config, seed=0, checkpoint=ckpt, resume=True, progress=False
    )
    assert (again.stopped, again.epochs_run, len(again.history)) == ("early_stopping", 5, 5)

    before = {k: v.clone() for k, v in flow.state_dict().items()}
    x_bad = x.copy()
    x_bad[0] = 1e30
    with pytest.raises(ModelError, match=r"non-finite.*preprocessing.*learning rate"):
        train_model(flow, x_bad, c, None, x, c, None, config, seed=0, progress=False)
    assert all(torch.equal(before[k], v) for k, v in flow.state_dict().items())
    x_bad[0] = np.nan
    with pytest.raises(ModelError, match="NaN"):
        train_model(flow, x_bad, c, None, x, c, None, config, seed=0, progress=False)


def test_weight_average_damps_a_noisy_training() -> None:
    # A learning rate far too high for the data: the last weights jump around the optimum, their
    # moving average sits closer to it.
    rng = np.random.default_rng(5)
    x, c = gaussian_data(rng, 2000)
    x_val, c_val = gaussian_data(rng, 1000)
    losses = {}
    for ema in (0.0, 0.95):
        config = TrainConfig(epochs=6, batch_size=64, learning_rate=0.05, schedule="none", ema=ema)
        flow = make_flow(2, 1, transform="affine")
        result = train_model(flow, x, c, None, x_val, c_val, None, config, seed=0, progress=False)
        # The model holds what was validated: the average, when there is one.
        assert result.best_val_loss == pytest.approx(evaluate_loss(flow, x_val, c_val))
        losses[ema] = result.best_val_loss
    assert losses[0.95] < losses[0.0] - 0.01, losses


@pytest.mark.parametrize(("schedule", "ema"), [("plateau", 0.0), ("cosine", 0.0), ("plateau", 0.9)])
def test_checkpoint_resume_matches_uninterrupted_run(
    schedule: str, ema: float, tmp_path: Path
) -> None:
    rng = np.random.default_rng(3)
    x, c = gaussian_data(rng, 300)
    x_val, c_val = gaussian_data(rng, 100)
    data = (x, c, None, x_val, c_val, None)
    # A large learning rate: the validation loss goes up and down, so the weights that a run
    # continues from are not the best ones (which it must keep as well).
    config = TrainConfig(
        epochs=6, batch_size=32, learning_rate=0.1, patience=10, schedule=schedule, ema=ema
    )

    full = make_flow(2, 1, transform="affine")
    reference = train_model(full, *data, config, seed=7, progress=False)
    assert reference.stopped == "max_epochs"

    # Interrupted by the time limit after one epoch, then by the epoch limit, then finished.
    ckpt = tmp_path / "run" / "train.ckpt"
    flow = make_flow(2, 1, transform="affine")
    short = TrainConfig(**{**config.to_dict(), "max_minutes": 1e-9})
    first = train_model(flow, *data, short, seed=7, checkpoint=ckpt, progress=False)
    assert (first.stopped, first.epochs_run) == ("time_limit", 1)
    two = TrainConfig(**{**config.to_dict(), "epochs": 2})
    flow = make_flow(2, 1, transform="affine", seed=99)  # other initial weights: all restored
    second = train_model(flow, *data, two, seed=7, checkpoint=ckpt, resume=True, progress=False)
    best_of_two = 1 + int(np.argmin([h["val_loss"] for h in reference.history[:2]]))
    assert (second.stopped, second.epochs_run, second.best_epoch) == ("max_epochs", 2, best_of_two)
    flow = make_flow(2, 1, transform="affine", seed=99)
    final = train_model(flow, *data, config, seed=7, checkpoint=ckpt, resume=True, progress=False)

    assert (final.best_epoch, final.epochs_run) == (reference.best_epoch, 6)
    losses = [(h["train_loss"], h["val_loss"], h["lr"]) for h in final.history]
    assert losses == [(h["train_loss"], h["val_loss"], h["lr"]) for h in reference.history]
    for key, value in full.state_dict().items():
        assert torch.equal(flow.state_dict()[key], value), key
    assert sorted(p.name for p in ckpt.parent.iterdir()) == ["train.ckpt"]  # no temporary left

    other = make_flow(3, 1, transform="affine")
    wide = (np.c_[x, x[:, :1]], c, None, np.c_[x_val, x_val[:, :1]], c_val, None)
    with pytest.raises(ModelError, match=r"does not fit.*delete it or drop --resume"):
        train_model(other, *wide, config, seed=7, checkpoint=ckpt, resume=True, progress=False)
    with pytest.raises(ModelError, match=r"batch_size: 32 -> 64.*drop --resume"):
        train_model(
            flow,
            *data,
            TrainConfig(**{**config.to_dict(), "batch_size": 64}),
            seed=7,
            checkpoint=ckpt,
            resume=True,
            progress=False,
        )
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot read"):
        train_model(flow, *data, config, seed=7, checkpoint=ckpt, resume=True, progress=False)


def test_device_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    x, c = gaussian_data(rng, 50)
    flow = make_flow(2, 1, transform="affine")
    config = TrainConfig(epochs=1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigurationError, match="no GPU is visible; use --device cpu"):
        train_model(flow, x, c, None, x, c, None, config, seed=0, device="cuda", progress=False)
    with pytest.raises(ConfigurationError, match="use cpu or cuda"):
        train_model(flow, x, c, None, x, c, None, config, seed=0, device="tpu", progress=False)

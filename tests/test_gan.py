"""Tests of the conditional GAN, its persistence and its adversarial training with a referee."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from flashsim.exceptions import ModelError, SpecError
from flashsim.models import MODELS, model_from_record
from flashsim.models.gan import ConditionalGAN, GANConfig
from flashsim.models.gan_training import GANTrainConfig, train_gan, weighted_auc

SLOPE = np.asarray([1.5, -1.0], dtype=np.float32)
# Settings that fit the two-dimensional toys below in a few seconds.
TOY = {"latent_dim": 2, "generator": (32, 32), "critic": (64, 64)}
TOY_TRAINING = {
    "batch_size": 64,
    "generator_lr": 1e-3,
    "critic_lr": 1e-3,
    "critic_steps": 3,
    "gp_weight": 1.0,
    "ema": 0.98,
    "referee": (32, 32),
    "referee_steps": 30,
}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny networks run fastest (and reproducibly) on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_gan(
    n_features: int = 2, n_context: int = 1, seed: int = 0, **options: object
) -> ConditionalGAN:
    torch.manual_seed(seed)
    return ConditionalGAN(n_features, n_context, GANConfig(**{**TOY, **options}))


def gaussian_data(
    rng: np.random.Generator, n: int, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """x ~ N(SLOPE * c + shift, 0.5) in two dimensions, c ~ N(0, 1)."""
    c = rng.normal(size=(n, 1)).astype(np.float32)
    x = c * SLOPE + shift + 0.5 * rng.normal(size=(n, 2))
    return x.astype(np.float32), c


def test_config_validation() -> None:
    config = GANConfig.from_dict({"loss": "bce", "generator": [16, 16], "latent_dim": 3})
    assert config.generator == (16, 16)
    assert GANConfig.from_dict(config.to_dict()) == config
    assert json.loads(json.dumps(config.to_dict())) == config.to_dict()
    with pytest.raises(SpecError, match=r"unknown key 'latent'.*did you mean 'latent_dim'"):
        GANConfig.from_dict({"latent": 4})
    with pytest.raises(
        SpecError, match=r"gan\.loss: unknown value 'wgan' \(did you mean 'wgan-gp'\?\)"
    ):
        GANConfig.from_dict({"loss": "wgan"})
    with pytest.raises(SpecError, match=r"gan\.critic"):
        GANConfig.from_dict({"critic": []})
    with pytest.raises(SpecError, match=r"gan\.generator"):
        GANConfig.from_dict({"generator": [64, 0]})
    with pytest.raises(SpecError, match=r"gan\.latent_dim"):
        GANConfig.from_dict({"latent_dim": True})
    with pytest.raises(SpecError, match=r"gan\.negative_slope"):
        GANConfig.from_dict({"negative_slope": 1.0})

    train = GANTrainConfig.from_dict({"generator_lr": "1e-3", "referee": [8], "max_minutes": 1})
    assert train.generator_lr == pytest.approx(1e-3)
    assert train.referee == (8,)
    assert GANTrainConfig.from_dict(train.to_dict()) == train
    with pytest.raises(SpecError, match=r"unknown key 'critic_step'.*did you mean 'critic_steps'"):
        GANTrainConfig.from_dict({"critic_step": 3})
    for key, value in [
        ("critic_lr", 0),
        ("gp_weight", -1),
        ("ema", 1.0),
        ("max_minutes", -1),
        ("referee_steps", 0),
        ("batch_size", 2.5),
    ]:
        with pytest.raises(SpecError, match=rf"training\.{key}"):
            GANTrainConfig.from_dict({key: value})
    assert GANTrainConfig(gp_weight=0).gp_weight == 0
    with pytest.raises(SpecError, match="expected a mapping"):
        GANTrainConfig.from_dict([("epochs", 3)])  # type: ignore[arg-type]


def test_weighted_auc() -> None:
    assert weighted_auc(np.array([2.0, 3.0]), np.array([0.0, 1.0]), np.ones(2), np.ones(2)) == 1
    assert weighted_auc(np.ones(3), np.ones(2), np.ones(3), np.ones(2)) == 0.5  # ties
    # A weight of two is a repeated row.
    real, fake = np.array([0.0, 2.0]), np.array([1.0])
    np.testing.assert_allclose(
        weighted_auc(real, fake, np.array([1.0, 2.0]), np.ones(1)),
        weighted_auc(np.array([0.0, 2.0, 2.0]), fake, np.ones(3), np.ones(1)),
    )


@pytest.mark.parametrize("n_context", [0, 2])
def test_gan_basics(n_context: int, tmp_path: Path) -> None:
    gan = make_gan(3, n_context)
    context = np.random.default_rng(5).normal(size=(300, n_context)).astype(np.float32)

    x = gan.sample(context, np.random.default_rng(1), batch_size=128)
    assert x.shape == (300, 3)
    assert x.dtype == np.float32
    assert np.isfinite(x).all()
    assert np.array_equal(x, gan.sample(context, np.random.default_rng(1)))
    assert not np.allclose(x, gan.sample(context, np.random.default_rng(2)))
    assert gan.sample(context[:0], np.random.default_rng(1)).shape == (0, 3)
    with pytest.raises(ValueError, match=rf"context must have shape \(n, {n_context}\)"):
        gan.sample(np.zeros((4, n_context + 1)), np.random.default_rng(1))
    with pytest.raises(TypeError, match=r"numpy\.random\.Generator"):
        gan.sample(context, 1)  # type: ignore[arg-type]

    # Save and load: JSON for the record, torch.save/load(weights_only=True) for the weights.
    (tmp_path / "record.json").write_text(json.dumps(gan.record()))
    torch.save(gan.state_dict(), tmp_path / "weights.pt")
    record = json.loads((tmp_path / "record.json").read_text())
    state = torch.load(tmp_path / "weights.pt", weights_only=True)
    global_rng = torch.random.get_rng_state()
    for loaded in (model_from_record(record, state), pickle.loads(pickle.dumps(gan))):
        assert isinstance(loaded, ConditionalGAN)
        assert loaded.record() == gan.record()
        assert np.array_equal(loaded.sample(context, np.random.default_rng(1)), x)
    assert torch.equal(torch.random.get_rng_state(), global_rng)
    assert gan.to("cpu") is gan
    assert gan.device == torch.device("cpu")


def test_record_and_weights_must_fit() -> None:
    gan = make_gan()
    assert MODELS["gan"].model is ConditionalGAN
    with pytest.raises(ModelError, match="do not fit"):
        ConditionalGAN.from_record(make_gan(n_features=4).record(), gan.state_dict())
    with pytest.raises(ModelError, match="malformed"):
        ConditionalGAN.from_record({**gan.record(), "config": {"latent_dim": "many"}}, {})
    with pytest.raises(ModelError, match="not a gan record"):
        ConditionalGAN.from_record({"kind": "flow"}, {})
    with pytest.raises(ModelError, match="not a mapping of tensors"):
        ConditionalGAN.from_record(gan.record(), {"a": 1})  # type: ignore[dict-item]


def test_training_learns_conditional_gaussian(capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    x, c = gaussian_data(rng, 4000)
    x_val, c_val = gaussian_data(rng, 1000)
    gan = make_gan()
    config = GANTrainConfig(epochs=24, patience=8, **TOY_TRAINING)  # type: ignore[arg-type]
    result = train_gan(gan, x, c, None, x_val, c_val, None, config, seed=0, label="jets")
    assert "jets" in capsys.readouterr().err  # the progress bar names the stage
    assert result.epochs_run == len(result.history) >= result.best_epoch >= 1
    history = result.history
    assert history[0]["referee_auc"] > 0.8  # the referee spots the untrained generator
    assert result.best_val_loss == min(h["val_loss"] for h in history) < 0.1
    for value in (-1.0, 1.0):
        sample = gan.sample(np.full((4000, 1), value, np.float32), np.random.default_rng(1))
        np.testing.assert_allclose(sample.mean(axis=0), SLOPE * value, atol=0.25)
        np.testing.assert_allclose(sample.std(axis=0), [0.5, 0.5], atol=0.1)

    # Deterministic on the CPU given the seed (and the generator's initial weights).
    again = make_gan()
    config = GANTrainConfig(epochs=2, **TOY_TRAINING)  # type: ignore[arg-type]
    first = train_gan(again, x, c, None, x_val, c_val, None, config, seed=3, progress=False)
    state = again.state_dict()
    again = make_gan()
    second = train_gan(again, x, c, None, x_val, c_val, None, config, seed=3, progress=False)
    assert first.history[-1]["referee_auc"] == second.history[-1]["referee_auc"]
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in state.items())


def test_weighted_training_subtracts_background() -> None:
    """Signal region = signal + background (weights +1); a background control sample with
    weights -1 cancels the background, so the weighted target is the signal alone."""
    rng = np.random.default_rng(4)

    def sample(n_signal: int, n_background: int) -> tuple[np.ndarray, ...]:
        signal = gaussian_data(rng, n_signal)
        background = gaussian_data(rng, n_background, shift=2.0)
        control = gaussian_data(rng, n_background, shift=2.0)
        x = np.concatenate([signal[0], background[0], control[0]])
        c = np.concatenate([signal[1], background[1], control[1]])
        weights = np.repeat([1.0, 1.0, -1.0], [n_signal, n_background, n_background])
        order = rng.permutation(len(x))
        return x[order], c[order], weights[order].astype(np.float32)

    x, c, w = sample(2000, 1000)
    x_val, c_val, w_val = sample(500, 250)
    config = GANTrainConfig(epochs=20, patience=6, **TOY_TRAINING)  # type: ignore[arg-type]
    residual_means = {}
    for name, weighted in (("weighted", True), ("unweighted", False)):
        gan = make_gan()
        train_x, train_c = (x, c) if weighted else (x[w > 0], c[w > 0])
        val_x, val_c = (x_val, c_val) if weighted else (x_val[w_val > 0], c_val[w_val > 0])
        result = train_gan(
            gan,
            train_x,
            train_c,
            w if weighted else None,
            val_x,
            val_c,
            w_val if weighted else None,
            config,
            seed=0,
            progress=False,
        )
        for h in result.history:
            assert np.isfinite([h["critic_loss"], h["referee_auc"], h["val_loss"]]).all()
        context = np.random.default_rng(7).normal(size=(4000, 1)).astype(np.float32)
        generated = gan.sample(context, np.random.default_rng(1))
        assert np.isfinite(generated).all()
        residual_means[name] = (generated - context * SLOPE).mean(axis=0)
    # The signal has residual mean 0; the unweighted fit sees a third of background (at 2).
    assert np.all(residual_means["unweighted"] > 0.4)
    assert np.all(np.abs(residual_means["weighted"]) < 0.25)


def test_bce_loss_and_negative_weights_stay_finite() -> None:
    rng = np.random.default_rng(5)
    x, c = gaussian_data(rng, 600)
    weights = np.where(np.arange(600) % 4 == 0, -1.0, 1.5).astype(np.float32)
    gan = make_gan(loss="bce")
    config = GANTrainConfig(epochs=3, batch_size=32, referee_steps=5, critic_steps=2)
    result = train_gan(gan, x, c, weights, x, c, weights, config, seed=0, progress=False)
    assert result.epochs_run == 3
    assert all(np.isfinite([h["critic_loss"], h["generator_loss"]]).all() for h in result.history)
    assert np.isfinite(gan.sample(c, np.random.default_rng(0))).all()


def test_bad_inputs_and_stopping(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x, c = gaussian_data(rng, 200)
    gan = make_gan()
    config = GANTrainConfig(epochs=3, batch_size=64, referee_steps=2)
    run = {"seed": 0, "progress": False}
    for bad in (np.nan, np.inf):
        broken = x.copy()
        broken[7, 1] = bad
        with pytest.raises(ModelError, match="training x contain NaN or infinite"):
            train_gan(gan, broken, c, None, x, c, None, config, **run)
        with pytest.raises(ModelError, match="validation context contain NaN or infinite"):
            train_gan(gan, x, c, None, x, np.where(c > 1, bad, c), None, config, **run)
    with pytest.raises(ModelError, match="positive sum"):
        train_gan(gan, x, c, -np.ones(200), x, c, None, config, **run)
    with pytest.raises(ModelError, match="referee needs validation rows"):  # bad referee half
        train_gan(gan, x, c, None, x, c, np.tile([2.0, -1.0], 100), config, **run)
    with pytest.raises(ValueError, match=r"training x must have shape \(n, 2\)"):
        train_gan(gan, x[:, :1], c, None, x, c, None, config, **run)
    with pytest.raises(TypeError, match="ConditionalGAN"):
        train_gan(object(), x, c, None, x, c, None, config, **run)  # type: ignore[arg-type]

    # An exhausted time budget stops after the first epoch, keeping its state.
    timed = GANTrainConfig(epochs=5, batch_size=64, referee_steps=2, max_minutes=1e-9)
    result = train_gan(gan, x, c, None, x, c, None, timed, **run)
    assert (result.stopped, result.epochs_run, result.best_epoch) == ("time_limit", 1, 1)

    # Resuming a checkpoint ends exactly as an uninterrupted run.
    ckpt = tmp_path / "gan.ckpt"
    whole = make_gan()
    expected = train_gan(whole, x, c, None, x, c, None, config, **run)
    part = make_gan()
    short = GANTrainConfig(epochs=1, batch_size=64, referee_steps=2)
    train_gan(part, x, c, None, x, c, None, short, checkpoint=ckpt, **run)
    part = make_gan(seed=9)  # the checkpoint, not the initial weights, decides
    resumed = train_gan(part, x, c, None, x, c, None, config, checkpoint=ckpt, resume=True, **run)
    assert [h["referee_auc"] for h in resumed.history] == [
        h["referee_auc"] for h in expected.history
    ]
    assert all(torch.equal(v, part.state_dict()[k]) for k, v in whole.state_dict().items())
    with pytest.raises(ModelError, match="other settings"):
        train_gan(part, x, c, None, x, c, None, config, checkpoint=ckpt, resume=True, seed=1)

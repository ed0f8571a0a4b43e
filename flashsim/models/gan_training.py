"""Adversarial training of a :class:`~flashsim.models.gan.ConditionalGAN`, monitored by a referee.

**Losses.** The critic D(x, c) and the generator G(z, c) are trained alternately, the generator
once every ``critic_steps`` critic steps, with the Wasserstein loss and a gradient penalty
(``"wgan-gp"``) or the non-saturating cross-entropy loss (``"bce"``) chosen by the model's
:class:`~flashsim.models.gan.GANConfig`. A fake is generated for every real row from that row's
context, and it carries the row's weight: the weighted (x, c) distributions of the real and the
generated samples then agree when G(z, c) follows the weighted p(x | c), so the critic cannot tell
them apart by the context alone.

**Weights.** Each per-row term of the critic and generator losses is multiplied by the row's
weight, and a batch is normalised by the mean weight of the *whole* training set times its size
(as :mod:`flashsim.models.training` does), not by the batch's own weight sum: weights may be
negative (sWeights) and a batch whose weights nearly cancel does not blow up. What keeps
negative weights stable: (1) the two-sided gradient penalty of WGAN-GP, computed *without*
weights on interpolates between the real and generated rows, keeps the critic 1-Lipschitz, so a
region of net negative weight cannot drive the critic to infinity; it regularises the ``"bce"``
critic too (Fedus et al.); (2) the logits of the ``"bce"`` critic and of the referee are squashed
softly into ``[-10, 10]`` (``10 tanh(l / 10)``), so their weighted cross-entropy is bounded below
even where the net weight is negative; (3) the gradients of every network are clipped to
``max_grad_norm``.

**Referee.** The adversarial losses do not measure the quality of the generator, so, as in Lamarr
(Anderlini et al.), an independent classifier, the referee, is trained alongside to tell generated
from real *validation* rows. The validation set is split in two halves (even and odd rows).
After every epoch a referee, reset to the same initial weights and batch stream each time (so that
its score moves only when the generator does; a referee warm-started across epochs keeps
learning and made epoch 1 look best), takes ``referee_steps`` weighted cross-entropy steps on the
first half (real rows against fresh fakes), then scores the
second half against fakes made with fixed noise. Its weighted AUC there (0.5: indistinguishable)
gives the validation loss ``|AUC - 0.5|``: the generator state with the lowest one is kept, and
training stops early when it has not improved for ``patience`` epochs, or when ``max_minutes``
have passed.

With a checkpoint path, the full training state is written after every epoch (atomically), and a
run started with ``resume=True`` continues from it and ends exactly as an uninterrupted run would.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from flashsim.exceptions import ModelError, SpecError
from flashsim.models.flow import _check_int, config_from_mapping
from flashsim.models.gan import ConditionalGAN, _check_float, _check_widths, mlp
from flashsim.models.training import (
    CHECKPOINT_ADVICE,
    TrainResult,
    _as_data,
    _Data,
    _resolve_device,
    _save_atomic,
    read_checkpoint,
)

__all__ = ["GANTrainConfig", "train_gan", "weighted_auc"]

# Options that may change between an interrupted run and its resumption.
_RESUMABLE_CHANGES = frozenset({"epochs", "max_minutes", "patience"})
# Logits are squashed softly into [-LOGIT_BOUND, LOGIT_BOUND] in the cross-entropy losses.
LOGIT_BOUND = 10.0
# Adam's betas for the critic and the generator, as in Gulrajani et al.
_BETAS = (0.5, 0.9)


@dataclass(frozen=True)
class GANTrainConfig:
    """How a :class:`~flashsim.models.gan.ConditionalGAN` is trained.

    Arguments:
        epochs: the maximum number of passes of the critic over the training set.
        batch_size: the number of rows per critic and generator step.
        generator_lr: the learning rate of the generator (Adam, betas 0.5 and 0.9).
        critic_lr: the learning rate of the critic (Adam, betas 0.5 and 0.9).
        critic_steps: the number of critic steps per generator step.
        gp_weight: the weight of the gradient penalty (0 disables it).
        max_grad_norm: the gradients of each network are clipped to this total norm.
        patience: stop when the referee score has not improved for this many epochs.
        max_minutes: stop (keeping the best state) once the wall time of the call exceeds this.
        referee: the widths of the hidden layers of the referee.
        referee_steps: the referee's optimisation steps per epoch (batches of ``batch_size``).
        referee_lr: the learning rate of the referee (Adam).
        ema: the decay of the exponential moving average of the generator's weights after every
            generator step; the model holds (and the referee judges) the average, which damps
            the oscillations of adversarial training. 0 keeps the last weights.

    References:
        Gulrajani et al., "Improved Training of Wasserstein GANs", arXiv:1704.00028; Kingma, Ba,
        "Adam: A Method for Stochastic Optimization", arXiv:1412.6980; Yazici et al., "The
        Unusual Effectiveness of Averaging in GAN Training", arXiv:1806.04498; Anderlini et al.,
        arXiv:2303.11428 (the referee network).
    """

    epochs: int = 100
    batch_size: int = 256
    generator_lr: float = 1e-4
    critic_lr: float = 1e-4
    critic_steps: int = 5
    gp_weight: float = 10.0
    max_grad_norm: float = 10.0
    patience: int = 10
    max_minutes: float | None = None
    referee: tuple[int, ...] = (64, 64)
    referee_steps: int = 150
    referee_lr: float = 1e-3
    ema: float = 0.999

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "critic_steps", "patience", "referee_steps"):
            _check_int("training", key, getattr(self, key), 1)
        for key in ("generator_lr", "critic_lr", "max_grad_norm", "referee_lr", "gp_weight"):
            value = _check_float("training", key, getattr(self, key), zero_ok=key == "gp_weight")
            object.__setattr__(self, key, value)
        if self.max_minutes is not None:
            minutes = _check_float("training", "max_minutes", self.max_minutes)
            object.__setattr__(self, "max_minutes", minutes)
        object.__setattr__(self, "referee", _check_widths("training", "referee", self.referee))
        ema = _check_float("training", "ema", self.ema, zero_ok=True)
        if ema >= 1:
            msg = f"training.ema: expected a number in [0, 1), got {self.ema!r}"
            raise SpecError(msg)
        object.__setattr__(self, "ema", ema)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GANTrainConfig:
        """Build a configuration from a mapping (a YAML section); :class:`SpecError` if invalid.

        Arguments:
            d: the options; missing keys take their defaults.
        """
        return config_from_mapping(cls, d, "training")

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-compatible mapping (``referee`` as a list)."""
        d = dataclasses.asdict(self)
        d["referee"] = list(self.referee)
        return d


def weighted_auc(
    real: np.ndarray, fake: np.ndarray, w_real: np.ndarray, w_fake: np.ndarray
) -> float:
    """The weighted area under the ROC curve: the probability that a real row scores above a fake.

    Ties count one half. With negative weights the result may leave ``[0, 1]``.

    Arguments:
        real, fake: the classifier scores of the real and the generated rows.
        w_real, w_fake: their weights, each with a positive sum.
    """
    scores = np.concatenate([real, fake]).astype(np.float64)
    values, inverse = np.unique(scores, return_inverse=True)
    n = len(real)
    wr = np.bincount(inverse[:n], weights=w_real, minlength=len(values))
    wf = np.bincount(inverse[n:], weights=w_fake, minlength=len(values))
    below = np.cumsum(wf) - wf
    return float(np.sum(wr * (below + 0.5 * wf)) / (wr.sum() * wf.sum()))


def _soft_bound(logits: torch.Tensor) -> torch.Tensor:
    return LOGIT_BOUND * torch.tanh(logits / LOGIT_BOUND)


def _weighted_sum(per_row: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    return per_row.sum() if weights is None else (weights * per_row).sum()


class _Nets(torch.nn.Module):
    """The critic, the referee and the trained generator whose moving average is the model's.

    The critic and the referee are initialised from ``seed`` (torch's global state untouched);
    the trained generator starts as a copy of the model's.
    """

    def __init__(self, model: ConditionalGAN, config: GANTrainConfig, seed: int) -> None:
        super().__init__()
        self.generator = copy.deepcopy(model.module)
        n_in = model.n_features + model.n_context
        slope = model.config.negative_slope
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.critic = mlp(n_in, model.config.critic, 1, slope)
            self.referee = mlp(n_in, config.referee, 1, slope)


@dataclass
class _Progress:
    """The training state besides torch's objects; saved in and restored from checkpoints."""

    epoch: int = 0
    steps: int = 0
    best_epoch: int = 0
    best_loss: float = math.inf
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    stopped: str | None = None


class _Trainer:
    """One training run: the networks, their optimisers, random streams and data."""

    def __init__(
        self,
        model: ConditionalGAN,
        train: _Data,
        val: _Data,
        config: GANTrainConfig,
        seed: int,
        device: torch.device,
    ) -> None:
        self.model, self.train, self.config, self.device = model, train, config, device
        self.wgan = model.config.loss == "wgan-gp"
        self.nets = _Nets(model, config, seed).to(device)
        self.opt_g = torch.optim.Adam(
            self.nets.generator.parameters(), lr=config.generator_lr, betas=_BETAS
        )
        self.opt_c = torch.optim.Adam(
            self.nets.critic.parameters(), lr=config.critic_lr, betas=_BETAS
        )
        self.opt_r = torch.optim.Adam(self.nets.referee.parameters(), lr=config.referee_lr)
        self.gen = torch.Generator().manual_seed(seed)
        self.ref_seed = seed + 1
        self.ref_gen = torch.Generator().manual_seed(self.ref_seed)
        # Every epoch's referee starts from these weights, so that its score changes only when
        # the generator does (a referee trained on across epochs scores later epochs worse).
        self.referee_init = copy.deepcopy(self.nets.referee.state_dict())
        self.eval_seed = seed + 2
        self.mean_weight = train.total_weight / train.x.shape[0]
        # The referee learns on the even validation rows and is scored on the odd ones.
        self.ref_fit = _subset(val, slice(0, None, 2))
        self.ref_test = _subset(val, slice(1, None, 2))
        for half, what in ((self.ref_fit, "even"), (self.ref_test, "odd")):
            if half.x.shape[0] == 0 or not half.total_weight > 0:
                msg = (
                    f"the referee needs validation rows with a positive weight sum in both halves "
                    f"(the {what} rows sum to {half.total_weight:g}); use a larger validation set"
                )
                raise ModelError(msg)

    def _noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn((n, self.model.config.latent_dim), generator=generator)
        return z.to(self.device)

    def _generate(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The output of the trained generator (the model holds its moving average)."""
        return self.nets.generator(torch.cat([z, c], dim=1))

    def _critic(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.nets.critic(torch.cat([x, c], dim=1)).squeeze(1)

    def _step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for group in optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)
        optimizer.step()

    def critic_step(self, x: torch.Tensor, c: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        """One critic step; returns the weighted sum of the per-row losses (no penalty)."""
        with torch.no_grad():
            fake = self._generate(self._noise(x.shape[0], self.gen), c)
        d_real, d_fake = self._critic(x, c), self._critic(fake, c)
        if self.wgan:  # minimising E_w[D(fake)] - E_w[D(real)] maximises the W1 estimate
            per_row = d_fake - d_real
        else:  # -log sigmoid(D(real)) - log(1 - sigmoid(D(fake)))
            per_row = torch.nn.functional.softplus(-_soft_bound(d_real))
            per_row = per_row + torch.nn.functional.softplus(_soft_bound(d_fake))
        loss_sum = _weighted_sum(per_row, w)
        loss = loss_sum / (self.mean_weight * x.shape[0])
        if self.config.gp_weight > 0:
            alpha = torch.rand((x.shape[0], 1), generator=self.gen).to(self.device)
            mixed = (alpha * x + (1 - alpha) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(self._critic(mixed, c).sum(), mixed, create_graph=True)
            penalty = ((grad.norm(dim=1) - 1) ** 2).mean()
            loss = loss + self.config.gp_weight * penalty
        self._step(self.opt_c, loss)
        return loss_sum.detach()

    def generator_step(self, c: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        """One generator step; returns the weighted sum of the per-row losses."""
        d_fake = self._critic(self._generate(self._noise(c.shape[0], self.gen), c), c)
        # WGAN: -E_w[D(fake)]; BCE: the non-saturating loss -log sigmoid(D(fake)).
        per_row = -d_fake if self.wgan else torch.nn.functional.softplus(-_soft_bound(d_fake))
        loss_sum = _weighted_sum(per_row, w)
        self._step(self.opt_g, loss_sum / (self.mean_weight * c.shape[0]))
        with torch.no_grad():
            pairs = zip(
                self.model.module.parameters(), self.nets.generator.parameters(), strict=True
            )
            for average, trained in pairs:
                if self.config.ema == 0:
                    average.copy_(trained)
                else:
                    average.lerp_(trained, 1 - self.config.ema)
        return loss_sum.detach()

    def epoch(self, state: _Progress) -> tuple[float, float]:
        """One pass of the critic over the shuffled training set.

        Returns the mean critic and generator losses seen on the way (weighted, without the
        penalty; for ``"wgan-gp"`` the critic's is minus the Wasserstein-1 estimate).
        """
        train, dev = self.train, self.device
        self.nets.critic.requires_grad_(True)
        order = torch.randperm(train.x.shape[0], generator=self.gen)
        critic_total = torch.zeros((), dtype=torch.float64, device=dev)
        gen_total = torch.zeros((), dtype=torch.float64, device=dev)
        gen_rows = 0
        for start in range(0, train.x.shape[0], self.config.batch_size):
            index = order[start : start + self.config.batch_size]
            x, c = train.x[index].to(dev), train.context[index].to(dev)
            w = None if train.weights is None else train.weights[index].to(dev)
            critic_total += self.critic_step(x, c, w).double()
            state.steps += 1
            if state.steps % self.config.critic_steps == 0:
                self.nets.critic.requires_grad_(False)
                gen_total += self.generator_step(c, w).double()
                gen_rows += index.shape[0]
                self.nets.critic.requires_grad_(True)
        critic_loss = critic_total.item() / train.total_weight
        # NaN when the epoch had no generator step (fewer batches than critic_steps).
        gen_loss = gen_total.item() / (self.mean_weight * gen_rows) if gen_rows else math.nan
        return critic_loss, gen_loss

    def _referee(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return _soft_bound(self.nets.referee(torch.cat([x, c], dim=1)).squeeze(1))

    def referee_auc(self) -> float:
        """A fresh referee trained on the even validation rows; its weighted AUC on the odd rows."""
        fit, dev, size = self.ref_fit, self.device, self.config.batch_size
        mean_weight = fit.total_weight / fit.x.shape[0]
        self.nets.referee.load_state_dict(self.referee_init)
        self.opt_r = torch.optim.Adam(self.nets.referee.parameters(), lr=self.config.referee_lr)
        self.ref_gen.manual_seed(self.ref_seed)
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        for _ in range(self.config.referee_steps):
            index = torch.randint(fit.x.shape[0], (size,), generator=self.ref_gen)
            x, c = fit.x[index].to(dev), fit.context[index].to(dev)
            with torch.no_grad():
                fake = self.model.generate(self._noise(size, self.ref_gen), c)
            logits = self._referee(torch.cat([x, fake]), torch.cat([c, c]))
            labels = torch.cat([torch.ones(size, device=dev), torch.zeros(size, device=dev)])
            per_row = bce(logits, labels, reduction="none")
            w = None if fit.weights is None else fit.weights[index].to(dev).repeat(2)
            loss = _weighted_sum(per_row, w) / (mean_weight * 2 * size)
            self._step(self.opt_r, loss)
        test = self.ref_test
        noise = torch.Generator().manual_seed(self.eval_seed)  # the same fakes every epoch
        real, fake = [], []
        with torch.inference_mode():
            for start in range(0, test.x.shape[0], 16384):
                x = test.x[start : start + 16384].to(dev)
                c = test.context[start : start + 16384].to(dev)
                generated = self.model.generate(self._noise(x.shape[0], noise), c)
                real.append(self._referee(x, c).cpu())
                fake.append(self._referee(generated, c).cpu())
        weights = np.ones(test.x.shape[0]) if test.weights is None else test.weights.numpy()
        scores = [torch.cat(s).double().numpy() for s in (real, fake)]
        if not all(np.isfinite(s).all() for s in scores):
            return math.nan
        return weighted_auc(*scores, weights, weights)

    def torch_state(self) -> dict[str, Any]:
        return {
            "model": _cpu(self.model.module),
            "nets": _cpu(self.nets),
            "optimizers": [o.state_dict() for o in (self.opt_g, self.opt_c, self.opt_r)],
            "generators": [self.gen.get_state(), self.ref_gen.get_state()],
        }

    def load_torch_state(self, ckpt: Mapping[str, Any]) -> None:
        self.model.module.load_state_dict(ckpt["model"])
        self.nets.load_state_dict(ckpt["nets"])
        for optimizer, saved in zip(
            (self.opt_g, self.opt_c, self.opt_r), ckpt["optimizers"], strict=True
        ):
            optimizer.load_state_dict(saved)
        self.gen.set_state(ckpt["generators"][0])
        self.ref_gen.set_state(ckpt["generators"][1])


def _subset(data: _Data, index: slice) -> _Data:
    weights = None if data.weights is None else data.weights[index]
    x = data.x[index]
    total = float(x.shape[0]) if weights is None else float(weights.double().sum())
    return _Data(x, data.context[index], weights, total)


def _cpu(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def _load_checkpoint(
    path: Path, trainer: _Trainer, config: GANTrainConfig, seed: int
) -> dict[str, Any]:
    advice = CHECKPOINT_ADVICE
    ckpt = read_checkpoint(path, config, seed, _RESUMABLE_CHANGES)
    if ckpt.get("record") != trainer.model.record():
        msg = f"the training checkpoint {path} does not fit this model; {advice}"
        raise ModelError(msg)
    try:
        trainer.load_torch_state(ckpt)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        msg = f"the training checkpoint {path} does not fit this model's shapes ({err}); {advice}"
        raise ModelError(msg) from err
    return ckpt


def train_gan(
    model: ConditionalGAN,
    x: np.ndarray,
    context: np.ndarray,
    weights: np.ndarray | None,
    x_val: np.ndarray,
    context_val: np.ndarray,
    weights_val: np.ndarray | None,
    config: GANTrainConfig,
    *,
    seed: int,
    device: str = "cpu",
    checkpoint: Path | None = None,
    resume: bool = False,
    progress: bool = True,
    label: str = "gan",
) -> TrainResult:
    """Train ``model`` adversarially and leave it holding the generator with the best referee score.

    The generator's initial weights are the caller's (seed torch before building it); the critic
    and the referee are initialised, and the batches, noise and interpolations drawn, from
    ``seed``, so on the CPU the same inputs give the same result.

    Arguments:
        model: the GAN; moved to ``device`` and left there.
        x, context, weights: the training set, shapes ``(n, n_features)``, ``(n, n_context)``,
            ``(n,)``; weights ``None`` for unweighted, may be negative with a positive sum.
        x_val, context_val, weights_val: the validation set, likewise; its even and odd rows must
            each have a positive weight sum.
        config: the training options.
        seed: seeds the critic, the referee and all random draws.
        device: ``"cpu"`` or ``"cuda"``; data are moved to it batch by batch.
        checkpoint: where to save the training state after every epoch, or ``None``.
        resume: continue from ``checkpoint`` when it exists (otherwise start afresh).
        progress: show a progress bar over epochs on stderr.
        label: the name of the stage shown in the progress bar.

    Returns:
        A :class:`~flashsim.models.training.TrainResult` whose ``best_val_loss`` is the referee
        score ``|AUC - 0.5|`` of the kept epoch (0: the referee cannot tell generated from real);
        its ``history`` has, per epoch, ``epoch``, ``train_loss`` (the critic's loss),
        ``critic_loss``, ``generator_loss``, ``referee_auc``, ``val_loss`` and ``seconds``.

    Raises:
        ConfigurationError: the device is unknown, or CUDA is requested without a GPU.
        ModelError: the inputs or the losses are not finite, the weights do not sum to a positive
            number, or the checkpoint does not fit.
    """
    if not isinstance(model, ConditionalGAN):
        msg = f"train_gan trains a ConditionalGAN, got {type(model).__name__}"
        raise TypeError(msg)
    dev = _resolve_device(device)
    train = _as_data(model, x, context, weights, "training")
    val = _as_data(model, x_val, context_val, weights_val, "validation")
    model.to(dev)
    trainer = _Trainer(model, train, val, config, seed, dev)
    state = _Progress(best_state=_cpu(model.module))
    if checkpoint is not None and resume and Path(checkpoint).exists():
        ckpt = _load_checkpoint(Path(checkpoint), trainer, config, seed)
        state = _Progress(**{f.name: ckpt[f.name] for f in dataclasses.fields(_Progress)})
        if state.stopped != "early_stopping":  # only early stopping is final
            state.stopped = None

    started = time.monotonic()
    bar_options = {"desc": label, "unit": "epoch", "file": sys.stderr, "dynamic_ncols": True}
    initial = min(state.epoch, config.epochs)
    with tqdm(total=config.epochs, initial=initial, disable=not progress, **bar_options) as bar:
        while state.stopped is None and state.epoch < config.epochs:
            tick = time.monotonic()
            critic_loss, gen_loss = trainer.epoch(state)
            auc = trainer.referee_auc()
            val_loss = abs(auc - 0.5)
            state.epoch += 1
            if not (math.isfinite(critic_loss) and math.isfinite(auc)) or math.isinf(gen_loss):
                msg = (
                    f"{label}: the GAN losses became non-finite in epoch {state.epoch} (critic "
                    f"{critic_loss}, generator {gen_loss}, referee AUC {auc}); check the "
                    "preprocessing (standardized inputs, no extreme values) or lower the "
                    "learning rates"
                )
                model.module.load_state_dict(state.best_state)  # not the poisoned weights
                raise ModelError(msg)
            if val_loss < state.best_loss:
                state.best_epoch, state.best_loss = state.epoch, val_loss
                state.best_state = _cpu(model.module)
            seconds = time.monotonic() - tick
            state.history.append(
                {"epoch": state.epoch, "train_loss": critic_loss, "critic_loss": critic_loss}
                | {"generator_loss": gen_loss, "referee_auc": auc, "val_loss": val_loss}
                | {"seconds": seconds}
            )
            bar.update(1)
            bar.set_postfix(critic=f"{critic_loss:.4f}", gen=f"{gen_loss:.4f}", auc=f"{auc:.3f}")
            elapsed = time.monotonic() - started
            if state.epoch - state.best_epoch >= config.patience:
                state.stopped = "early_stopping"
            elif state.epoch < config.epochs and elapsed > 60 * (config.max_minutes or math.inf):
                state.stopped = "time_limit"
            if checkpoint is not None:
                settings = {"record": model.record(), "config": config.to_dict(), "seed": seed}
                _save_atomic({**settings, **trainer.torch_state(), **vars(state)}, Path(checkpoint))

    model.module.load_state_dict(state.best_state)
    return TrainResult(
        best_epoch=state.best_epoch,
        best_val_loss=state.best_loss,
        epochs_run=state.epoch,
        history=state.history,
        stopped=state.stopped or "max_epochs",
    )

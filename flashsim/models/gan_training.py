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
(as :mod:`flashsim.models.flow_training` does), not by the batch's own weight sum: weights may be
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
have passed (the shared loop of :mod:`flashsim.models.loop`, which also writes the checkpoints).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from flashsim.exceptions import ModelError
from flashsim.models.config import GANTrainConfig
from flashsim.models.gan import ConditionalGAN, mlp
from flashsim.models.loop import (
    EpochReport,
    EpochTrainer,
    TrainingData,
    TrainResult,
    cpu_state,
    resolve_device,
    run_epochs,
    training_data,
)

__all__ = ["GANTrainConfig", "GANTrainer", "train_gan", "weighted_auc"]

LOGIT_BOUND = 10.0
"""Logits are squashed softly into ``[-LOGIT_BOUND, LOGIT_BOUND]`` in the cross-entropy losses."""
BETAS = (0.5, 0.9)
"""Adam's betas for the critic and the generator, as in Gulrajani et al."""


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


class GANTrainer(EpochTrainer):
    """One adversarial training run: the networks, their optimisers, random streams and data.

    Arguments:
        model: the GAN, already on ``device``; it holds the moving average of the generator.
        train, val: the training and validation sets (the referee's, split in halves).
        config: the training options.
        seed: seeds the critic, the referee and all random draws.
        device: where the batches are sent.
    """

    def __init__(
        self,
        model: ConditionalGAN,
        train: TrainingData,
        val: TrainingData,
        config: GANTrainConfig,
        seed: int,
        device: torch.device,
    ) -> None:
        self.model: ConditionalGAN = model
        self.train, self.config, self.device = train, config, device
        self.steps = 0  # critic steps so far; every critic_steps-th is followed by a generator step
        self.wgan = model.config.loss == "wgan-gp"
        self.nets = _Nets(model, config, seed).to(device)
        self.opt_g = torch.optim.Adam(
            self.nets.generator.parameters(), lr=config.generator_lr, betas=BETAS
        )
        self.opt_c = torch.optim.Adam(
            self.nets.critic.parameters(), lr=config.critic_lr, betas=BETAS
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
        self.ref_fit = val.subset(slice(0, None, 2))
        self.ref_test = val.subset(slice(1, None, 2))
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

    def _train_epoch(self) -> tuple[float, float]:
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
            self.steps += 1
            if self.steps % self.config.critic_steps == 0:
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

    def run_epoch(self, epoch: int) -> EpochReport:
        """One pass of the critic over the training set, judged by a fresh referee."""
        critic_loss, gen_loss = self._train_epoch()
        auc = self.referee_auc()
        problem = None
        if not (math.isfinite(critic_loss) and math.isfinite(auc)) or math.isinf(gen_loss):
            problem = (
                f"the GAN losses became non-finite in epoch {epoch} (critic {critic_loss}, "
                f"generator {gen_loss}, referee AUC {auc}); check the preprocessing "
                "(standardized inputs, no extreme values) or lower the learning rates"
            )
        val_loss = abs(auc - 0.5)
        return EpochReport(
            val_loss=val_loss,
            metrics={"train_loss": critic_loss, "critic_loss": critic_loss}
            | {"generator_loss": gen_loss, "referee_auc": auc, "val_loss": val_loss},
            postfix={"critic": f"{critic_loss:.4f}", "gen": f"{gen_loss:.4f}", "auc": f"{auc:.3f}"},
            problem=problem,
        )

    def torch_state(self) -> dict[str, Any]:
        """The networks, optimisers, random streams and the count of critic steps."""
        return {
            "model": cpu_state(self.model.module),
            "nets": cpu_state(self.nets),
            "steps": self.steps,
            "optimizers": [o.state_dict() for o in (self.opt_g, self.opt_c, self.opt_r)],
            "generators": [self.gen.get_state(), self.ref_gen.get_state()],
        }

    def load_torch_state(self, ckpt: Mapping[str, Any]) -> None:
        """Restore what :meth:`torch_state` saved."""
        self.steps = int(ckpt["steps"])
        self.model.module.load_state_dict(ckpt["model"])
        self.nets.load_state_dict(ckpt["nets"])
        for optimizer, saved in zip(
            (self.opt_g, self.opt_c, self.opt_r), ckpt["optimizers"], strict=True
        ):
            optimizer.load_state_dict(saved)
        self.gen.set_state(ckpt["generators"][0])
        self.ref_gen.set_state(ckpt["generators"][1])


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
        A :class:`~flashsim.models.loop.TrainResult` whose ``best_val_loss`` is the referee
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
    dev = resolve_device(device)
    train = training_data(model, x, context, weights, "training")
    val = training_data(model, x_val, context_val, weights_val, "validation")
    model.to(dev)
    trainer = GANTrainer(model, train, val, config, seed, dev)
    options = {"checkpoint": checkpoint, "resume": resume, "progress": progress, "label": label}
    return run_epochs(trainer, config, seed=seed, **options)

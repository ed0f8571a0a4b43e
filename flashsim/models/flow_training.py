"""Maximum-likelihood training of a :class:`~flashsim.models.flow.ConditionalFlow`.

The loss is the weighted mean negative log-likelihood ``-sum(w * log p(x | c)) / sum(w)``; the
weights may be negative (sWeights). Each step normalises its batch by the mean weight of the
*whole* training set rather than by the batch's own weight sum: the same loss on average, but a
batch whose sWeights nearly cancel cannot blow up the step. With ``ema > 0`` the model is the
exponential moving average of the trained weights (Polyak-Ruppert averaging): it is what is
validated and kept, which damps the step-to-step noise of a training that stops (at a time limit)
while the learning rate is still high.

Early stopping, checkpoints and the progress bar are the shared loop's
(:mod:`flashsim.models.loop`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from flashsim.models.config import TrainConfig
from flashsim.models.flow import ConditionalFlow
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

__all__ = ["NEGATIVE_WEIGHT_LOG_PROB_FLOOR", "TrainConfig", "evaluate_loss", "train_model"]

NEGATIVE_WEIGHT_LOG_PROB_FLOOR = -12.0
"""Smallest log-density a negatively weighted row counts with (see :func:`weighted_nll_sum`)."""


def weighted_nll_sum(
    model: ConditionalFlow, data: TrainingData, index: slice | torch.Tensor, device: torch.device
) -> torch.Tensor:
    """The weighted sum ``-sum(w log p(x | c))`` over the rows ``index`` of ``data``.

    A negative weight rewards a *low* density at its row, without bound (log p -> -inf): a
    flexible flow can run away from the negatively weighted rows. Bounding that reward (log p
    counted as at least :data:`NEGATIVE_WEIGHT_LOG_PROB_FLOOR` for those rows) keeps the loss
    bounded below; the floor lies far in the tails in standardized units, so rows the signal
    density covers are unaffected.
    """
    log_prob = model.log_prob(data.x[index].to(device), data.context[index].to(device))
    if data.weights is None:
        return -log_prob.sum()
    weights = data.weights[index].to(device)
    log_prob = torch.where(
        weights < 0, log_prob.clamp(min=NEGATIVE_WEIGHT_LOG_PROB_FLOOR), log_prob
    )
    return -(weights * log_prob).sum()


def _evaluate(
    model: ConditionalFlow, data: TrainingData, batch_size: int, device: torch.device
) -> float:
    total = torch.zeros((), dtype=torch.float64, device=device)
    with torch.inference_mode():
        for start in range(0, data.x.shape[0], batch_size):
            index = slice(start, start + batch_size)
            total += weighted_nll_sum(model, data, index, device).double()
    return total.item() / data.total_weight


def evaluate_loss(
    model: ConditionalFlow,
    x: np.ndarray,
    context: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    batch_size: int = 65536,
) -> float:
    """The weighted mean negative log-likelihood ``-sum(w log p(x | c)) / sum(w)``.

    Arguments:
        model: the flow, evaluated on its current device.
        x: the quantities, shape ``(n, n_features)``.
        context: the conditions, shape ``(n, n_context)``.
        weights: per-row weights (may be negative, with a positive sum), or ``None``.
        batch_size: the number of rows evaluated at once.
    """
    data = training_data(model, x, context, weights, "evaluation")
    return _evaluate(model, data, batch_size, model.device)


class WeightAverage:
    """The exponential moving average of a module's floating-point state (``TrainConfig.ema``).

    :meth:`update` follows each optimiser step; inside :meth:`swapped` the module holds the
    average (to validate or save it) and afterwards its trained weights again.

    Arguments:
        module: the trained module.
        decay: the decay; it ramps up as ``min(decay, (1 + t) / (10 + t))`` over the steps ``t``.
    """

    def __init__(self, module: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.steps = 0
        state = module.state_dict()
        self.keys = [k for k, v in state.items() if v.is_floating_point()]
        self.live = [state[k] for k in self.keys]  # share storage with the module
        self.average = [v.detach().clone() for v in self.live]

    def update(self) -> None:
        """Move the average towards the module's current weights."""
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        with torch.no_grad():
            torch._foreach_lerp_(self.average, self.live, 1 - decay)

    @contextlib.contextmanager
    def swapped(self) -> Iterator[None]:
        """Let the module hold the average inside the ``with`` block."""
        trained = [v.clone() for v in self.live]
        with torch.no_grad():
            torch._foreach_copy_(self.live, self.average)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_(self.live, trained)

    def state_dict(self) -> dict[str, Any]:
        """The number of steps and the average, on the CPU."""
        pairs = zip(self.keys, self.average, strict=True)
        average = {k: v.detach().to("cpu", copy=True) for k, v in pairs}
        return {"steps": self.steps, "average": average}

    def load_state_dict(self, saved: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` gave."""
        self.steps = int(saved["steps"])
        with torch.no_grad():
            for key, value in zip(self.keys, self.average, strict=True):
                value.copy_(saved["average"][key])


class FlowTrainer(EpochTrainer):
    """One maximum-likelihood training run: AdamW, a learning-rate schedule, a shuffling stream.

    Arguments:
        model: the flow, already on ``device``.
        train, val: the training and validation sets.
        config: the training options.
        seed: seeds the shuffling.
        device: where the batches are sent.
    """

    def __init__(
        self,
        model: ConditionalFlow,
        train: TrainingData,
        val: TrainingData,
        config: TrainConfig,
        seed: int,
        device: torch.device,
    ) -> None:
        self.model: ConditionalFlow = model
        self.train, self.val, self.config, self.device = train, val, config, device
        self.optimizer = torch.optim.AdamW(
            model.module.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        self.scheduler: Any = None
        if config.schedule == "plateau":
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, factor=0.5, patience=2
            )
        elif config.schedule == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                self.optimizer, T_max=config.epochs
            )
        self.generator = torch.Generator().manual_seed(seed)
        self.average = WeightAverage(model.module, config.ema) if config.ema > 0 else None

    def _held(self) -> contextlib.AbstractContextManager[None]:
        """The weights to validate and keep: the average when there is one."""
        return self.average.swapped() if self.average is not None else contextlib.nullcontext()

    def _train_epoch(self) -> float:
        """One pass over the shuffled training set; returns the weighted mean NLL on the way."""
        model, train, config, device = self.model, self.train, self.config, self.device
        mean_weight = train.total_weight / train.x.shape[0]
        model.module.train()
        order = torch.randperm(train.x.shape[0], generator=self.generator)
        total = torch.zeros((), dtype=torch.float64, device=device)
        for start in range(0, train.x.shape[0], config.batch_size):
            index = order[start : start + config.batch_size]
            nll_sum = weighted_nll_sum(model, train, index, device)
            self.optimizer.zero_grad(set_to_none=True)
            (nll_sum / (mean_weight * index.shape[0])).backward()
            torch.nn.utils.clip_grad_norm_(model.module.parameters(), config.max_grad_norm)
            self.optimizer.step()
            if self.average is not None:
                self.average.update()
            total += nll_sum.detach().double()
        model.module.eval()
        return total.item() / train.total_weight

    def run_epoch(self, epoch: int) -> EpochReport:
        """One epoch of maximum likelihood, validated; steps the learning-rate schedule."""
        lr = self.optimizer.param_groups[0]["lr"]
        train_loss = self._train_epoch()
        with self._held():
            batch_size = max(self.config.batch_size, 16384)
            val_loss = _evaluate(self.model, self.val, batch_size, self.device)
        problem = None
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            problem = (
                f"the loss became non-finite in epoch {epoch} (train {train_loss}, validation "
                f"{val_loss}); check the preprocessing (standardized inputs, no extreme values) "
                "or lower the learning rate"
            )
        elif self.config.schedule == "plateau":
            self.scheduler.step(val_loss)
        elif self.scheduler is not None:
            self.scheduler.step()
        return EpochReport(
            val_loss=val_loss,
            metrics={"train_loss": train_loss, "val_loss": val_loss, "lr": lr},
            postfix={"train": f"{train_loss:.4f}", "val": f"{val_loss:.4f}", "lr": f"{lr:.2e}"},
            problem=problem,
        )

    def snapshot(self) -> dict[str, torch.Tensor]:
        """The validated weights (the average when there is one), on the CPU."""
        with self._held():
            return cpu_state(self.model.module)

    def torch_state(self) -> dict[str, Any]:
        """The weights, optimiser, schedule, shuffling stream and average."""
        return {
            "model": cpu_state(self.model.module),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
            "generator": self.generator.get_state(),
            "average": self.average.state_dict() if self.average is not None else {},
        }

    def load_torch_state(self, ckpt: Mapping[str, Any]) -> None:
        """Restore what :meth:`torch_state` saved."""
        self.model.module.load_state_dict(ckpt["model"])
        if self.average is not None:
            self.average.load_state_dict(ckpt["average"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        self.generator.set_state(ckpt["generator"])


def train_model(
    model: ConditionalFlow,
    x: np.ndarray,
    context: np.ndarray,
    weights: np.ndarray | None,
    x_val: np.ndarray,
    context_val: np.ndarray,
    weights_val: np.ndarray | None,
    config: TrainConfig,
    *,
    seed: int,
    device: str = "cpu",
    checkpoint: Path | None = None,
    resume: bool = False,
    progress: bool = True,
    label: str = "flow",
) -> TrainResult:
    """Fit ``model`` by maximum likelihood and leave it holding its best validation state.

    The model's initial weights are the caller's (seed torch before building it); the shuffling
    uses a generator seeded with ``seed``, so on the CPU the same inputs give the same result.

    Arguments:
        model: the flow; moved to ``device`` and left there.
        x, context, weights: the training set, shapes ``(n, n_features)``, ``(n, n_context)``,
            ``(n,)``; weights ``None`` for unweighted, may be negative with a positive sum.
        x_val, context_val, weights_val: the validation set, likewise.
        config: the training options.
        seed: seeds the shuffling.
        device: ``"cpu"`` or ``"cuda"``; data are moved to it batch by batch.
        checkpoint: where to save the training state after every epoch, or ``None``.
        resume: continue from ``checkpoint`` when it exists (otherwise start afresh).
        progress: show a progress bar over epochs on stderr.
        label: the name of the stage shown in the progress bar.

    Returns:
        A :class:`~flashsim.models.loop.TrainResult` whose ``history`` has, per epoch,
        ``epoch``, ``train_loss``, ``val_loss``, ``lr`` and ``seconds``.

    Raises:
        ConfigurationError: the device is unknown, or CUDA is requested without a GPU.
        ModelError: the inputs or the loss are not finite, or the checkpoint does not fit.
    """
    dev = resolve_device(device)
    train = training_data(model, x, context, weights, "training")
    val = training_data(model, x_val, context_val, weights_val, "validation")
    model.to(dev)
    trainer = FlowTrainer(model, train, val, config, seed, dev)
    options = {"checkpoint": checkpoint, "resume": resume, "progress": progress, "label": label}
    return run_epochs(trainer, config, seed=seed, **options)

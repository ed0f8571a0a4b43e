"""The training loop every response model shares: epochs, early stopping, checkpoints, progress.

A kind of model brings an :class:`EpochTrainer`: it owns the networks, optimisers and random
streams, runs one epoch and says how good the model is afterwards (a validation loss, lower is
better). :func:`run_epochs` does the rest the same way for every kind: it keeps the state with the
lowest validation loss, stops early when that has not improved for ``patience`` epochs or when
``max_minutes`` have passed, shows a progress bar and, with a checkpoint path, writes the full
training state after every epoch (atomically) so that a run started with ``resume=True``
continues from it and ends exactly as an uninterrupted run would.

The checks of the data handed to a trainer (:func:`training_data`) and of the device
(:func:`resolve_device`) live here too, so that every kind refuses the same inputs alike.
"""

from __future__ import annotations

import abc
import dataclasses
import io
import math
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch
from tqdm import tqdm

from flashsim.atomic import write_atomically
from flashsim.exceptions import ConfigurationError, ModelError, OutputError
from flashsim.models.base import TorchModel

__all__ = [
    "CHECKPOINT_ADVICE",
    "RESUMABLE_SETTINGS",
    "EpochReport",
    "EpochTrainer",
    "LoopSettings",
    "LoopState",
    "TrainResult",
    "TrainingData",
    "cpu_state",
    "read_checkpoint",
    "resolve_device",
    "run_epochs",
    "save_checkpoint",
    "training_data",
]

CHECKPOINT_ADVICE = "delete it or drop --resume"
"""What to do about a training checkpoint that cannot be resumed."""
RESUMABLE_SETTINGS = frozenset({"epochs", "max_minutes", "patience"})
"""Training settings that may change between an interrupted run and its resumption."""


class LoopSettings(Protocol):
    """The training settings :func:`run_epochs` reads (every kind's training config has them)."""

    epochs: int
    patience: int
    max_minutes: float | None

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-compatible mapping (saved in checkpoints)."""
        ...


@dataclass
class TrainResult:
    """What a training did.

    Arguments:
        best_epoch: the (1-based) epoch whose weights the model holds now.
        best_val_loss: the validation loss of that epoch.
        epochs_run: the number of epochs completed, including those before a resumption.
        history: per epoch, ``epoch``, ``train_loss``, ``val_loss``, ``seconds`` and what the
            kind of model adds (e.g. the flow's ``lr``).
        stopped: ``"early_stopping"``, ``"max_epochs"`` or ``"time_limit"``.
    """

    best_epoch: int
    best_val_loss: float
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)
    stopped: str = "max_epochs"


class TrainingData(NamedTuple):
    """A checked training or validation set as CPU tensors.

    Arguments:
        x: the quantities, ``(n, n_features)`` float32.
        context: the conditions, ``(n, n_context)`` float32.
        weights: the per-row weights ``(n,)`` float32, or ``None`` for unweighted rows.
        total_weight: the sum of the weights (``n`` when unweighted).
    """

    x: torch.Tensor
    context: torch.Tensor
    weights: torch.Tensor | None
    total_weight: float

    def subset(self, index: slice) -> TrainingData:
        """The rows selected by ``index``, with their own total weight."""
        weights = None if self.weights is None else self.weights[index]
        x = self.x[index]
        total = float(x.shape[0]) if weights is None else float(weights.double().sum())
        return TrainingData(x, self.context[index], weights, total)


def training_data(model: TorchModel, x: Any, context: Any, weights: Any, what: str) -> TrainingData:
    """Check a data set against ``model`` and convert it to float32 tensors.

    Arguments:
        model: the model to be trained (its ``n_features`` and ``n_context``).
        x, context, weights: shapes ``(n, n_features)``, ``(n, n_context)`` and ``(n,)``;
            weights ``None`` for unweighted rows, may be negative with a positive sum.
        what: the name of the set in messages, e.g. ``"training"``.

    Raises:
        ValueError: a shape is wrong or the set is empty.
        ModelError: a value is not finite, or the weights do not sum to a positive number.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    context = np.ascontiguousarray(context, dtype=np.float32)
    n = x.shape[0] if x.ndim else 0
    if x.ndim != 2 or x.shape[1] != model.n_features:
        msg = f"{what} x must have shape (n, {model.n_features}), got {x.shape}"
        raise ValueError(msg)
    if context.shape != (n, model.n_context):
        msg = f"{what} context must have shape ({n}, {model.n_context}), got {context.shape}"
        raise ValueError(msg)
    if n == 0:
        msg = f"the {what} set is empty"
        raise ValueError(msg)
    for name, array in (("x", x), ("context", context)):
        if not np.isfinite(array).all():
            msg = f"the {what} {name} contain NaN or infinite values; check the preprocessing"
            raise ModelError(msg)
    if weights is None:
        return TrainingData(torch.from_numpy(x), torch.from_numpy(context), None, float(n))
    weights = np.ascontiguousarray(weights, dtype=np.float32)
    if weights.shape != (n,):
        msg = f"{what} weights must have shape ({n},), got {weights.shape}"
        raise ValueError(msg)
    total = float(weights.sum(dtype=np.float64))
    if not np.isfinite(weights).all() or not total > 0:
        msg = f"the {what} weights must be finite with a positive sum (sum {total:g})"
        raise ModelError(msg)
    tensors = torch.from_numpy(x), torch.from_numpy(context), torch.from_numpy(weights)
    return TrainingData(*tensors, total)


def resolve_device(device: str | torch.device) -> torch.device:
    """The torch device to train on.

    Raises:
        ConfigurationError: the device is neither CPU nor CUDA, or CUDA has no GPU.
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        msg = f"unsupported device {device!r}; use cpu or cuda"
        raise ConfigurationError(msg)
    if dev.type == "cuda" and not torch.cuda.is_available():
        msg = "CUDA requested but no GPU is visible; use --device cpu"
        raise ConfigurationError(msg)
    return dev


def cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``module``'s state dict on the CPU (unaffected by later training steps)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def save_checkpoint(payload: dict[str, Any], path: Path) -> None:
    """Write a training checkpoint atomically (a reader never sees half a file), through an
    exclusive temporary file of a random name (:func:`flashsim.atomic.write_atomically`: no
    symbolic link planted at a predictable name is followed, and none is replaced).

    Raises:
        OutputError: the file cannot be written.
    """
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, buffer.getvalue())
    except OSError as err:
        msg = f"cannot write the training checkpoint {path}: {err.strerror or err}"
        raise OutputError(msg) from err


def read_checkpoint(
    path: Path, config: LoopSettings, seed: int, resumable: frozenset[str] = RESUMABLE_SETTINGS
) -> dict[str, Any]:
    """Read a training checkpoint and check that it was made with these settings.

    Raises:
        ModelError: it cannot be read, or it used other settings than ``config`` (except the
            ``resumable`` ones) or another seed.
    """
    advice = CHECKPOINT_ADVICE
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        saved_config = ckpt["config"]
    except Exception as err:
        msg = f"cannot read the training checkpoint {path} ({err}); {advice}"
        raise ModelError(msg) from err
    changed = [
        f"{key}: {saved_config.get(key)!r} -> {value!r}"
        for key, value in config.to_dict().items()
        if key not in resumable and saved_config.get(key) != value
    ]
    if ckpt.get("seed") != seed:
        changed.append(f"seed: {ckpt.get('seed')!r} -> {seed!r}")
    if changed:
        msg = f"the training checkpoint {path} used other settings ({'; '.join(changed)}); {advice}"
        raise ModelError(msg)
    return ckpt


@dataclass
class LoopState:
    """The training state besides torch's objects; saved in and restored from checkpoints."""

    epoch: int = 0
    best_epoch: int = 0
    best_loss: float = math.inf
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    stopped: str | None = None


@dataclass
class EpochReport:
    """What one epoch gave.

    Arguments:
        val_loss: the validation loss of the state :meth:`EpochTrainer.snapshot` would keep.
        metrics: the epoch's entry in the history (without ``epoch`` and ``seconds``).
        postfix: the values shown on the progress bar.
        problem: why training cannot go on (e.g. a non-finite loss), or ``None``.
    """

    val_loss: float
    metrics: dict[str, float]
    postfix: dict[str, str]
    problem: str | None = None


class EpochTrainer(abc.ABC):
    """One training run of one kind of model, driven epoch by epoch by :func:`run_epochs`.

    Subclasses hold the model (``model``), its optimisers and random streams.
    """

    model: TorchModel

    @abc.abstractmethod
    def run_epoch(self, epoch: int) -> EpochReport:
        """Train for one epoch (1-based ``epoch``) and validate the result."""

    def snapshot(self) -> dict[str, torch.Tensor]:
        """The model state to keep should this epoch be the best (a CPU copy)."""
        return cpu_state(self.model.module)

    @abc.abstractmethod
    def torch_state(self) -> dict[str, Any]:
        """The networks, optimisers and random streams, for a checkpoint."""

    @abc.abstractmethod
    def load_torch_state(self, ckpt: Mapping[str, Any]) -> None:
        """Restore what :meth:`torch_state` saved."""


def _resume(path: Path, trainer: EpochTrainer, config: LoopSettings, seed: int) -> LoopState:
    advice = CHECKPOINT_ADVICE
    ckpt = read_checkpoint(path, config, seed)
    shapes = {k: v.shape for k, v in trainer.model.module.state_dict().items()}
    best = ckpt.get("best_state")
    best_fits = (
        isinstance(best, dict) and {k: getattr(v, "shape", None) for k, v in best.items()} == shapes
    )
    if ckpt.get("record") != trainer.model.record() or not best_fits:
        msg = f"the training checkpoint {path} does not fit this model's shapes; {advice}"
        raise ModelError(msg)
    try:
        trainer.load_torch_state(ckpt)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        msg = f"the training checkpoint {path} does not fit this model's shapes ({err}); {advice}"
        raise ModelError(msg) from err
    state = LoopState(**{f.name: ckpt[f.name] for f in dataclasses.fields(LoopState)})
    if state.stopped != "early_stopping":  # only early stopping is final
        state.stopped = None
    return state


def run_epochs(
    trainer: EpochTrainer,
    config: LoopSettings,
    *,
    seed: int,
    checkpoint: Path | None,
    resume: bool,
    progress: bool,
    label: str,
) -> TrainResult:
    """Train epoch after epoch and leave the model holding its best validation state.

    Arguments:
        trainer: the run, set up with its data and initial weights.
        config: the training settings (``epochs``, ``patience``, ``max_minutes``).
        seed: the seed the trainer was set up with (a checkpoint must have the same).
        checkpoint: where to save the training state after every epoch, or ``None``.
        resume: continue from ``checkpoint`` when it exists (otherwise start afresh).
        progress: show a progress bar over epochs on stderr.
        label: the name of the stage shown in the progress bar and in errors.

    Raises:
        ModelError: an epoch reports a problem (the model is left at its best state), or the
            checkpoint does not fit.
    """
    model = trainer.model
    state = LoopState(best_state=trainer.snapshot())
    if checkpoint is not None and resume and Path(checkpoint).exists():
        state = _resume(Path(checkpoint), trainer, config, seed)

    started = time.monotonic()
    bar_options = {"desc": label, "unit": "epoch", "file": sys.stderr, "dynamic_ncols": True}
    initial = min(state.epoch, config.epochs)
    with tqdm(total=config.epochs, initial=initial, disable=not progress, **bar_options) as bar:
        while state.stopped is None and state.epoch < config.epochs:
            tick = time.monotonic()
            report = trainer.run_epoch(state.epoch + 1)
            state.epoch += 1
            if report.problem is not None:
                model.module.load_state_dict(state.best_state)  # not the poisoned weights
                msg = f"{label}: {report.problem}"
                raise ModelError(msg)
            if report.val_loss < state.best_loss:
                state.best_epoch, state.best_loss = state.epoch, report.val_loss
                state.best_state = trainer.snapshot()
            seconds = time.monotonic() - tick
            state.history.append({"epoch": state.epoch, **report.metrics, "seconds": seconds})
            bar.update(1)
            bar.set_postfix(**report.postfix)
            elapsed = time.monotonic() - started
            if state.epoch - state.best_epoch >= config.patience:
                state.stopped = "early_stopping"
            elif state.epoch < config.epochs and elapsed > 60 * (config.max_minutes or math.inf):
                state.stopped = "time_limit"
            if checkpoint is not None:
                settings = {"record": model.record(), "config": config.to_dict(), "seed": seed}
                payload = {**settings, **trainer.torch_state(), **vars(state)}
                save_checkpoint(payload, Path(checkpoint))

    model.module.load_state_dict(state.best_state)
    return TrainResult(
        best_epoch=state.best_epoch,
        best_val_loss=state.best_loss,
        epochs_run=state.epoch,
        history=state.history,
        stopped=state.stopped or "max_epochs",
    )

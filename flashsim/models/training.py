"""Maximum-likelihood training of a :class:`~flashsim.models.flow.ConditionalFlow`.

The loss is the weighted mean negative log-likelihood ``-sum(w * log p(x | c)) / sum(w)``; the
weights may be negative (sWeights). Each step normalises its batch by the mean weight of the
*whole* training set rather than by the batch's own weight sum: the same loss on average, but a
batch whose sWeights nearly cancel cannot blow up the step. The model with the lowest validation
loss is kept; training stops early when it has not improved for ``patience`` epochs. With
``ema > 0`` the model is the exponential moving average of the trained weights (Polyak-Ruppert
averaging): it is what is validated and kept, which damps the step-to-step noise of a training
that stops (at a time limit) while the learning rate is still high.

With a checkpoint path, the full training state is written after every epoch (atomically), and a
run started with ``resume=True`` continues from it and ends exactly as an uninterrupted run would.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from flashsim.exceptions import ConfigurationError, ModelError, OutputError, SpecError
from flashsim.models.flow import ConditionalFlow, config_from_mapping

__all__ = ["TrainConfig", "TrainResult", "evaluate_loss", "train_model"]

SCHEDULES = ("plateau", "cosine", "none")
NEGATIVE_WEIGHT_LOG_PROB_FLOOR = -12.0
"""Smallest log-density a negatively weighted row counts with (see :func:`_weighted_nll_sum`)."""
# Options that may change between an interrupted run and its resumption.
_RESUMABLE_CHANGES = frozenset({"epochs", "max_minutes", "patience"})


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained.

    Arguments:
        epochs: the maximum number of passes over the training set.
        batch_size: the number of rows per optimisation step.
        learning_rate: the initial learning rate of AdamW.
        weight_decay: AdamW's decoupled weight decay.
        patience: stop when the validation loss has not improved for this many epochs.
        schedule: ``"plateau"`` halves the learning rate after 2 epochs without improvement,
            ``"cosine"`` anneals it to zero over ``epochs``, ``"none"`` keeps it constant.
        max_grad_norm: gradients are clipped to this total norm.
        max_minutes: stop (keeping the best state) once the wall time of the call exceeds this.
        ema: the decay of the exponential moving average of the weights after every step (0:
            off, the model holds the last weights). The average is validated and kept; its
            decay ramps up as ``min(ema, (1 + t) / (10 + t))`` over the first steps ``t``.

    References:
        Loshchilov, Hutter, "Decoupled Weight Decay Regularization", arXiv:1711.05101; Polyak,
        Juditsky, "Acceleration of Stochastic Approximation by Averaging", SIAM J. Control Optim.
        30 (1992) 838; Izmailov et al., "Averaging Weights Leads to Wider Optima and Better
        Generalization", arXiv:1803.05407.
    """

    epochs: int = 50
    batch_size: int = 1024
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 5
    schedule: Literal["plateau", "cosine", "none"] = "plateau"
    max_grad_norm: float = 5.0
    max_minutes: float | None = None
    ema: float = 0.0

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            msg = f"training.schedule: {self.schedule!r} is not one of {', '.join(SCHEDULES)}"
            raise SpecError(msg)
        for key, minimum in {"epochs": 1, "batch_size": 1, "patience": 1}.items():
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                msg = f"training.{key}: expected an integer >= {minimum}, got {value!r}"
                raise SpecError(msg)
        optional = ("max_minutes",) if self.max_minutes is None else ()
        for key in ("learning_rate", "weight_decay", "max_grad_norm", "max_minutes", "ema"):
            value = getattr(self, key)
            if isinstance(value, str):  # PyYAML reads 1e-3 (no dot) as a string
                with contextlib.suppress(ValueError):
                    value = float(value)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            zero_ok = key in ("weight_decay", "ema")
            if key not in optional and not (
                number and math.isfinite(value) and (value > 0 or (zero_ok and value == 0))
            ):
                msg = f"training.{key}: expected a finite number {'>=' if zero_ok else '>'} 0, "
                msg += f"got {value!r}"
                raise SpecError(msg)
            if key == "ema" and value >= 1:
                msg = f"training.ema: expected a number in [0, 1), got {value!r}"
                raise SpecError(msg)
            object.__setattr__(self, key, None if key in optional else float(value))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Build a configuration from a mapping (a YAML section); :class:`SpecError` if invalid.

        Arguments:
            d: the options; missing keys take their defaults.
        """
        return config_from_mapping(cls, d, "training")

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-compatible mapping."""
        return dataclasses.asdict(self)


@dataclass
class TrainResult:
    """What :func:`train_model` did.

    Arguments:
        best_epoch: the (1-based) epoch whose weights the model holds now.
        best_val_loss: the validation loss of that epoch.
        epochs_run: the number of epochs completed, including those before a resumption.
        history: per epoch, ``epoch``, ``train_loss``, ``val_loss``, ``lr`` and ``seconds``.
        stopped: ``"early_stopping"``, ``"max_epochs"`` or ``"time_limit"``.
    """

    best_epoch: int
    best_val_loss: float
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)
    stopped: str = "max_epochs"


class _Data(NamedTuple):
    x: torch.Tensor
    context: torch.Tensor
    weights: torch.Tensor | None
    total_weight: float


def _as_data(model: ConditionalFlow, x: Any, context: Any, weights: Any, what: str) -> _Data:
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
        return _Data(torch.from_numpy(x), torch.from_numpy(context), None, float(n))
    weights = np.ascontiguousarray(weights, dtype=np.float32)
    if weights.shape != (n,):
        msg = f"{what} weights must have shape ({n},), got {weights.shape}"
        raise ValueError(msg)
    total = float(weights.sum(dtype=np.float64))
    if not np.isfinite(weights).all() or not total > 0:
        msg = f"the {what} weights must be finite with a positive sum (sum {total:g})"
        raise ModelError(msg)
    return _Data(torch.from_numpy(x), torch.from_numpy(context), torch.from_numpy(weights), total)


def _resolve_device(device: str | torch.device) -> torch.device:
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


def _weighted_nll_sum(
    model: ConditionalFlow, data: _Data, index: slice | torch.Tensor, device: torch.device
) -> torch.Tensor:
    log_prob = model.log_prob(data.x[index].to(device), data.context[index].to(device))
    if data.weights is None:
        return -log_prob.sum()
    weights = data.weights[index].to(device)
    # A negative weight rewards a *low* density at its row, without bound (log p -> -inf): a
    # flexible flow can run away from the negatively weighted rows. Bounding that reward
    # (log p counted as at least NEGATIVE_WEIGHT_LOG_PROB_FLOOR for those rows) keeps the loss
    # bounded below; the floor lies far in the tails in standardized units, so rows the signal
    # density covers are unaffected.
    log_prob = torch.where(
        weights < 0, log_prob.clamp(min=NEGATIVE_WEIGHT_LOG_PROB_FLOOR), log_prob
    )
    return -(weights * log_prob).sum()


def _evaluate(model: ConditionalFlow, data: _Data, batch_size: int, device: torch.device) -> float:
    total = torch.zeros((), dtype=torch.float64, device=device)
    with torch.inference_mode():
        for start in range(0, data.x.shape[0], batch_size):
            index = slice(start, start + batch_size)
            total += _weighted_nll_sum(model, data, index, device).double()
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
    return _evaluate(
        model, _as_data(model, x, context, weights, "evaluation"), batch_size, model.device
    )


def _save_atomic(payload: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            msg = f"cannot write the training checkpoint {path}: {err.strerror or err}"
            raise OutputError(msg) from err
        raise


def _cpu_state(model: ConditionalFlow) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.module.state_dict().items()}


class _WeightAverage:
    """The exponential moving average of a module's floating-point state (see ``TrainConfig.ema``).

    :meth:`update` follows each optimiser step; inside :meth:`swapped` the module holds the
    average (to validate or save it) and afterwards its trained weights again.
    """

    def __init__(self, module: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.steps = 0
        state = module.state_dict()
        self.keys = [k for k, v in state.items() if v.is_floating_point()]
        self.live = [state[k] for k in self.keys]  # share storage with the module
        self.average = [v.detach().clone() for v in self.live]

    def update(self) -> None:
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        with torch.no_grad():
            torch._foreach_lerp_(self.average, self.live, 1 - decay)

    @contextlib.contextmanager
    def swapped(self) -> Any:
        trained = [v.clone() for v in self.live]
        with torch.no_grad():
            torch._foreach_copy_(self.live, self.average)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_(self.live, trained)

    def state_dict(self) -> dict[str, Any]:
        pairs = zip(self.keys, self.average, strict=True)
        average = {k: v.detach().to("cpu", copy=True) for k, v in pairs}
        return {"steps": self.steps, "average": average}

    def load_state_dict(self, saved: Mapping[str, Any]) -> None:
        self.steps = int(saved["steps"])
        with torch.no_grad():
            for key, value in zip(self.keys, self.average, strict=True):
                value.copy_(saved["average"][key])


@dataclass
class _Progress:
    """The training state besides torch's objects; saved in and restored from checkpoints."""

    epoch: int = 0
    best_epoch: int = 0
    best_loss: float = math.inf
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    stopped: str | None = None


CHECKPOINT_ADVICE = "delete it or drop --resume"


def read_checkpoint(
    path: Path, config: Any, seed: int, resumable: frozenset[str]
) -> dict[str, Any]:
    """Read a training checkpoint and check that it was made with these settings.

    Shared by the flow and GAN trainers; each then checks that it fits its model.

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


def _load_checkpoint(
    path: Path, model: ConditionalFlow, config: TrainConfig, seed: int
) -> dict[str, Any]:
    ckpt = read_checkpoint(path, config, seed, _RESUMABLE_CHANGES)
    shapes = {k: v.shape for k, v in model.module.state_dict().items()}
    fits = ckpt.get("record") == model.record() and all(
        isinstance(ckpt.get(key), dict)
        and {k: getattr(v, "shape", None) for k, v in ckpt[key].items()} == shapes
        for key in ("model", "best_state")
    )
    if not fits:
        msg = (
            f"the training checkpoint {path} does not fit this model's shapes; {CHECKPOINT_ADVICE}"
        )
        raise ModelError(msg)
    model.module.load_state_dict(ckpt["model"])
    return ckpt


def _run_epoch(
    model: ConditionalFlow,
    train: _Data,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    config: TrainConfig,
    device: torch.device,
    average: _WeightAverage | None,
) -> float:
    """One pass over the shuffled training set; returns the weighted mean NLL seen on the way."""
    mean_weight = train.total_weight / train.x.shape[0]
    model.module.train()
    order = torch.randperm(train.x.shape[0], generator=generator)
    total = torch.zeros((), dtype=torch.float64, device=device)
    for start in range(0, train.x.shape[0], config.batch_size):
        index = order[start : start + config.batch_size]
        nll_sum = _weighted_nll_sum(model, train, index, device)
        optimizer.zero_grad(set_to_none=True)
        (nll_sum / (mean_weight * index.shape[0])).backward()
        torch.nn.utils.clip_grad_norm_(model.module.parameters(), config.max_grad_norm)
        optimizer.step()
        if average is not None:
            average.update()
        total += nll_sum.detach().double()
    model.module.eval()
    return total.item() / train.total_weight


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

    Raises:
        ConfigurationError: the device is unknown, or CUDA is requested without a GPU.
        ModelError: the inputs or the loss are not finite, or the checkpoint does not fit.
    """
    dev = _resolve_device(device)
    train = _as_data(model, x, context, weights, "training")
    val = _as_data(model, x_val, context_val, weights_val, "validation")
    model.to(dev)
    optimizer = torch.optim.AdamW(
        model.module.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler: Any = None
    if config.schedule == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)
    elif config.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    generator = torch.Generator().manual_seed(seed)
    average = _WeightAverage(model.module, config.ema) if config.ema > 0 else None
    held = average.swapped if average is not None else contextlib.nullcontext
    state = _Progress(best_state=_cpu_state(model))
    if checkpoint is not None and resume and Path(checkpoint).exists():
        ckpt = _load_checkpoint(Path(checkpoint), model, config, seed)
        if average is not None:
            average.load_state_dict(ckpt["average"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        generator.set_state(ckpt["generator"])
        state = _Progress(**{f.name: ckpt[f.name] for f in dataclasses.fields(_Progress)})
        if state.stopped != "early_stopping":  # only early stopping is final
            state.stopped = None

    started = time.monotonic()
    bar_options = {"desc": label, "unit": "epoch", "file": sys.stderr, "dynamic_ncols": True}
    initial = min(state.epoch, config.epochs)
    with tqdm(total=config.epochs, initial=initial, disable=not progress, **bar_options) as bar:
        while state.stopped is None and state.epoch < config.epochs:
            tick = time.monotonic()
            lr = optimizer.param_groups[0]["lr"]
            train_loss = _run_epoch(model, train, optimizer, generator, config, dev, average)
            with held():  # validate (and keep) the average when there is one
                val_loss = _evaluate(model, val, max(config.batch_size, 16384), dev)
                improved = val_loss < state.best_loss
                if improved:
                    best_state = _cpu_state(model)
            state.epoch += 1
            if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
                msg = (
                    f"{label}: the loss became non-finite in epoch {state.epoch} (train "
                    f"{train_loss}, validation {val_loss}); check the preprocessing "
                    "(standardized inputs, no extreme values) or lower the learning rate"
                )
                model.module.load_state_dict(state.best_state)  # not the poisoned weights
                raise ModelError(msg)
            if improved:
                state.best_epoch, state.best_loss, state.best_state = (
                    state.epoch,
                    val_loss,
                    best_state,
                )
            if config.schedule == "plateau":
                scheduler.step(val_loss)
            elif scheduler is not None:
                scheduler.step()
            seconds = time.monotonic() - tick
            state.history.append(
                {"epoch": state.epoch, "train_loss": train_loss, "val_loss": val_loss}
                | {"lr": lr, "seconds": seconds}
            )
            bar.update(1)
            bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}", lr=f"{lr:.2e}")
            elapsed = time.monotonic() - started
            if state.epoch - state.best_epoch >= config.patience:
                state.stopped = "early_stopping"
            elif state.epoch < config.epochs and elapsed > 60 * (config.max_minutes or math.inf):
                state.stopped = "time_limit"
            if checkpoint is not None:
                torch_state = {
                    "model": _cpu_state(model),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else {},
                    "generator": generator.get_state(),
                    "average": average.state_dict() if average is not None else {},
                }
                settings = {"record": model.record(), "config": config.to_dict(), "seed": seed}
                _save_atomic({**settings, **torch_state, **vars(state)}, Path(checkpoint))

    model.module.load_state_dict(state.best_state)
    return TrainResult(
        best_epoch=state.best_epoch,
        best_val_loss=state.best_loss,
        epochs_run=state.epoch,
        history=state.history,
        stopped=state.stopped or "max_epochs",
    )

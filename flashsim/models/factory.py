"""Building and training a response model of any kind from its spec settings.

The stages and the trainer go through here, so that a spec can choose per stage between the
kinds of :data:`flashsim.models.registry.MODELS` (the conditional normalizing flow, the
conditional GAN) without knowing their classes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from flashsim.models.base import TorchModel
from flashsim.models.config import Settings
from flashsim.models.registry import model_kind, settings_parsers

__all__ = ["build_model", "config_parsers", "train_response_model"]


def config_parsers(kind: str) -> tuple[Callable[..., Settings], Callable[..., Settings]]:
    """The parsers (raising SpecError) of the model settings and training settings of ``kind``.

    The same as :func:`flashsim.models.registry.settings_parsers`.
    """
    return settings_parsers(kind)


def _settings(cls: type[Settings], settings: Mapping[str, Any] | Settings) -> Settings:
    return settings if isinstance(settings, cls) else cls.from_dict(settings)  # type: ignore[arg-type]


def build_model(
    kind: str, n_features: int, n_context: int, config: Mapping[str, Any] | Settings
) -> TorchModel:
    """A new, untrained model (seed torch before calling for reproducible initial weights).

    Arguments:
        kind: one of :data:`flashsim.models.registry.MODEL_KINDS`.
        n_features, n_context: the numbers of modelled and conditioning quantities.
        config: the model's settings, as a spec's mapping or already parsed.
    """
    entry = model_kind(kind)
    return entry.model(n_features, n_context, _settings(entry.config, config))  # type: ignore[call-arg]


def train_response_model(
    kind: str,
    model: Any,
    train: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    validation: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    training: Mapping[str, Any] | Settings,
    *,
    seed: int,
    device: str,
    checkpoint: Path | None,
    resume: bool,
    progress: bool,
    label: str,
) -> dict[str, Any]:
    """Train ``model`` in place; returns the metrics recorded in the bundle.

    Arguments:
        kind: the model's kind.
        model: the model, e.g. from :func:`build_model`.
        train, validation: ``(x, context, weights)`` of the training and validation sets.
        training: the training settings, as a spec's mapping or already parsed.
        seed, device, checkpoint, resume, progress, label: passed to the kind's training.
    """
    entry = model_kind(kind)
    result = entry.train(
        model,
        *train,
        *validation,
        _settings(entry.training_config, training),
        seed=seed,
        device=device,
        checkpoint=checkpoint,
        resume=resume,
        progress=progress,
        label=label,
    )
    return {
        entry.loss_name: result.best_val_loss,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stopped": result.stopped,
        "training_rows": len(train[0]),
    }

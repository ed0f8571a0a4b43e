"""Building and training a response model of any kind from its spec settings.

The stages and the trainer go through here, so that a spec can choose per stage between the
conditional normalizing flow (:mod:`flashsim.models.flow`) and the conditional GAN
(:mod:`flashsim.models.gan`) without knowing their classes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["build_model", "config_parsers", "train_response_model"]


def config_parsers(kind: str) -> tuple[Callable[[Mapping[str, Any]], Any], Callable[..., Any]]:
    """The parsers (raising SpecError) of the model settings and training settings of ``kind``."""
    if kind == "flow":
        from flashsim.models.flow import FlowConfig
        from flashsim.models.training import TrainConfig

        return FlowConfig.from_dict, TrainConfig.from_dict
    if kind == "gan":
        from flashsim.models.gan import GANConfig
        from flashsim.models.gan_training import GANTrainConfig

        return GANConfig.from_dict, GANTrainConfig.from_dict
    msg = f"unknown response model {kind!r}; expected flow or gan"
    raise ValueError(msg)


def build_model(kind: str, n_features: int, n_context: int, config: Mapping[str, Any]) -> Any:
    """A new, untrained model (seed torch before calling for reproducible initial weights)."""
    parse, _ = config_parsers(kind)
    if kind == "flow":
        from flashsim.models.flow import ConditionalFlow

        return ConditionalFlow(n_features, n_context, parse(config))
    from flashsim.models.gan import ConditionalGAN

    return ConditionalGAN(n_features, n_context, parse(config))


def train_response_model(
    kind: str,
    model: Any,
    train: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    validation: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    training: Mapping[str, Any],
    *,
    seed: int,
    device: str,
    checkpoint: Path | None,
    resume: bool,
    progress: bool,
    label: str,
) -> dict[str, Any]:
    """Train ``model`` in place; returns the metrics recorded in the bundle."""
    _, parse_training = config_parsers(kind)
    config = parse_training(training)
    if kind == "flow":
        from flashsim.models.training import train_model as fit

        loss_name = "validation_nll"
    else:
        from flashsim.models.gan_training import train_gan as fit

        loss_name = "referee_score"  # |AUC - 0.5| of the referee classifier
    result = fit(
        model,
        *train,
        *validation,
        config,
        seed=seed,
        device=device,
        checkpoint=checkpoint,
        resume=resume,
        progress=progress,
        label=label,
    )
    return {
        loss_name: result.best_val_loss,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stopped": result.stopped,
        "training_rows": len(train[0]),
    }

"""Learned detector-response models (conditional normalizing flows and GANs) and their training.

:data:`~flashsim.models.registry.MODELS` maps each kind of model to its class, settings and
training function; :mod:`~flashsim.models.loop` is the training loop they share.
"""

from __future__ import annotations

from flashsim.models.config import FlowConfig, GANConfig, GANTrainConfig, TrainConfig
from flashsim.models.flow import ConditionalFlow
from flashsim.models.flow_training import evaluate_loss, train_model
from flashsim.models.gan import ConditionalGAN
from flashsim.models.gan_training import train_gan
from flashsim.models.loop import TrainResult
from flashsim.models.registry import MODEL_KINDS, MODELS, ModelKind, model_from_record

__all__ = [
    "MODELS",
    "MODEL_KINDS",
    "ConditionalFlow",
    "ConditionalGAN",
    "FlowConfig",
    "GANConfig",
    "GANTrainConfig",
    "ModelKind",
    "TrainConfig",
    "TrainResult",
    "evaluate_loss",
    "model_from_record",
    "train_gan",
    "train_model",
]

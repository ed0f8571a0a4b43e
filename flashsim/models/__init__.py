"""Learned detector-response models: conditional normalizing flows and their training."""

from __future__ import annotations

from flashsim.models.flow import ConditionalFlow, FlowConfig
from flashsim.models.registry import MODELS, model_from_record
from flashsim.models.training import TrainConfig, TrainResult, evaluate_loss, train_model

__all__ = [
    "MODELS",
    "ConditionalFlow",
    "FlowConfig",
    "TrainConfig",
    "TrainResult",
    "evaluate_loss",
    "model_from_record",
    "train_model",
]

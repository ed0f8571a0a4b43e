"""Deprecated location, kept for one release: use flashsim.models.flow_training (the flow's
training), flashsim.models.loop (the shared training loop) and flashsim.models.config (the
training settings)."""

from __future__ import annotations

from flashsim.models.config import SCHEDULES, TrainConfig
from flashsim.models.flow_training import NEGATIVE_WEIGHT_LOG_PROB_FLOOR, evaluate_loss, train_model
from flashsim.models.loop import CHECKPOINT_ADVICE, TrainResult, read_checkpoint

__all__ = [
    "CHECKPOINT_ADVICE",
    "NEGATIVE_WEIGHT_LOG_PROB_FLOOR",
    "SCHEDULES",
    "TrainConfig",
    "TrainResult",
    "evaluate_loss",
    "read_checkpoint",
    "train_model",
]

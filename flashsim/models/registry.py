"""The model kinds a bundle can hold, and rebuilding a model from its saved record.

Every model class has a class attribute ``kind``, a ``record()`` describing it as JSON, a
``state_dict()`` of tensors, a ``sample(context, rng)`` method and a class method
``from_record(record, state_dict)``; :data:`MODELS` maps each ``kind`` to its class.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from flashsim.exceptions import ModelError
from flashsim.models.flow import ConditionalFlow
from flashsim.models.gan import ConditionalGAN

__all__ = ["MODELS", "model_from_record"]

MODELS: dict[str, type] = {
    ConditionalFlow.kind: ConditionalFlow,
    ConditionalGAN.kind: ConditionalGAN,
}
"""The model classes by ``kind``, the key stored in a record."""


def model_from_record(record: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor]) -> Any:
    """Rebuild a saved model, whatever its kind.

    Arguments:
        record: the model's ``record()``, e.g. read back from JSON.
        state_dict: the model's ``state_dict()``.

    Raises:
        ModelError: the record names no known kind, or the weights do not fit it.
    """
    kind = record.get("kind") if isinstance(record, Mapping) else None
    if kind not in MODELS:
        msg = (
            f"unknown model kind {kind!r} in the model record; known kinds: "
            f"{', '.join(sorted(MODELS))} (was the bundle written by a newer flashsim?)"
        )
        raise ModelError(msg)
    return MODELS[kind].from_record(record, state_dict)

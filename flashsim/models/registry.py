"""The kinds of response models, by name: the one place that lists them.

:data:`MODELS` maps each ``kind`` (the name a spec chooses and a bundle's model record stores) to
a :class:`ModelKind`: the model class, its settings, its training settings and its training
function. Every model class has a class attribute ``kind``, a ``record()`` describing it as JSON,
a ``state_dict()`` of tensors, a ``sample(context, rng)`` method and a class method
``from_record(record, state_dict)`` (:class:`~flashsim.models.base.TorchModel`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from flashsim.exceptions import ModelError, SpecError
from flashsim.models.base import TorchModel
from flashsim.models.config import GANTrainConfig, Settings, TrainConfig
from flashsim.models.flow import ConditionalFlow
from flashsim.models.flow_training import train_model
from flashsim.models.gan import ConditionalGAN
from flashsim.models.gan_training import train_gan
from flashsim.models.loop import TrainResult

__all__ = [
    "MODELS",
    "MODEL_KINDS",
    "ModelKind",
    "check_model_record",
    "model_from_record",
    "model_kind",
    "settings_parsers",
]


@dataclass(frozen=True)
class ModelKind:
    """One kind of response model.

    Arguments:
        model: the model class (its ``kind`` is the registry's key).
        training_config: the settings class of its ``training`` section.
        train: trains a model in place, ``train(model, x, context, weights, x_val,
            context_val, weights_val, training_config, *, seed, device, checkpoint, resume,
            progress, label)``.
        loss_name: the name of the kept validation loss in a bundle's metrics.
    """

    model: type[TorchModel]
    training_config: type[Settings]
    train: Callable[..., TrainResult]
    loss_name: str

    @property
    def config(self) -> type[Settings]:
        """The settings class of the model's own section (e.g. ``flow:``)."""
        return self.model.config_class  # type: ignore[no-any-return]


MODELS: dict[str, ModelKind] = {
    kind.model.kind: kind
    for kind in (
        ModelKind(ConditionalFlow, TrainConfig, train_model, "validation_nll"),
        # |AUC - 0.5| of the referee classifier
        ModelKind(ConditionalGAN, GANTrainConfig, train_gan, "referee_score"),
    )
}
"""The kinds of response models by ``kind``, the key stored in a record."""

MODEL_KINDS: tuple[str, ...] = tuple(MODELS)
"""The names of the model kinds a spec can choose, e.g. ``("flow", "gan")``."""


def settings_parsers(
    kind: str,
) -> tuple[Callable[..., Settings], Callable[..., Settings]]:
    """The parsers of the model settings and the training settings of ``kind``.

    Each is a :meth:`~flashsim.models.config.Settings.from_dict`: it takes the section's
    mapping and, optionally, a ``reader`` and the section's key path ``where``, and raises
    :class:`~flashsim.exceptions.SpecError` (or the reader's error) naming the bad key.

    Raises:
        ValueError: ``kind`` is not one of :data:`MODEL_KINDS`.
    """
    entry = model_kind(kind)
    return entry.config.from_dict, entry.training_config.from_dict


def model_kind(kind: str) -> ModelKind:
    """The registry entry of ``kind``.

    Raises:
        ValueError: ``kind`` is not one of :data:`MODEL_KINDS`.
    """
    if kind not in MODELS:
        msg = f"unknown response model {kind!r}; expected one of {', '.join(MODEL_KINDS)}"
        raise ValueError(msg)
    return MODELS[kind]


def check_model_record(record: Any, where: str = "model") -> None:
    """Check a model's record (its kind, sizes and settings, the size of the network they
    describe: :mod:`flashsim.models.limits`) without building anything.

    Arguments:
        record: the model's ``record()`` read back from a bundle.
        where: its key path in the bundle's record, for messages.

    Raises:
        ModelError: naming the key that is wrong.
    """
    if not isinstance(record, Mapping):
        msg = f"{where}: expected a mapping, got {type(record).__name__}"
        raise ModelError(msg)
    kind = record.get("kind")
    if kind not in MODELS:
        msg = f"{where}.kind: unknown model kind {kind!r}; known kinds: {', '.join(MODELS)}"
        raise ModelError(msg)
    sizes = {}
    for key, low in (("n_features", 1), ("n_context", 0)):
        value = record.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            msg = f"{where}.{key}: expected an integer >= {low}, got {value!r}"
            raise ModelError(msg)
        sizes[key] = value
    model = MODELS[kind].model
    try:
        config = model.config_class.from_dict(record.get("config"), where=f"{where}.config")
        model.check_size(sizes["n_features"], sizes["n_context"], config)
    except SpecError as err:
        msg = f"{where}: {err}" if str(err).startswith(kind) else str(err)
        raise ModelError(msg) from err


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
    return MODELS[kind].model.from_record(record, state_dict)

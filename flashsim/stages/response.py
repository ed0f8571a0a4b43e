"""Response stage: a conditional generative model of the (preprocessed) targets.

At run time it samples the model given the preprocessed conditions and undoes the target
preprocessing, giving the encoded targets (pT ratio, Δη, ...) that
:func:`flashsim.features.decode_targets` turns into reconstructed quantities. The model is any
object with the :class:`~flashsim.models.flow.ConditionalFlow` interface
(``sample(context, rng)``, ``record()``, ``state_dict()``).
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from flashsim.exceptions import ModelError
from flashsim.models.registry import model_from_record
from flashsim.preprocessing import TablePreprocessor

__all__ = ["ResponseStage"]


class ResponseStage:
    """Sample encoded targets given preprocessed conditions.

    Arguments:
        model: a conditional generative model (flow or GAN) with ``sample(context, rng)``.
        targets: the preprocessing of the targets, inverted after sampling.
        bounds: (low, high) per target in the preprocessed space, usually the training range
            widened a little; samples are clipped to it so that a rare extreme draw of the
            model cannot become an unphysical value (e.g. exp of a huge log pT ratio).
    """

    kind = "response"

    def __init__(
        self,
        model: Any,
        targets: TablePreprocessor,
        bounds: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.model = model
        self.targets = targets
        self.bounds = bounds

    @staticmethod
    def training_bounds(x: np.ndarray, margin: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        """The range of preprocessed training targets, widened by ``margin`` of its width."""
        low, high = np.min(x, axis=0), np.max(x, axis=0)
        pad = margin * (high - low)
        return (low - pad).astype(np.float64), (high + pad).astype(np.float64)

    def apply(self, conditions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(n, n_targets) float64 encoded targets; the randomness comes only from ``rng``."""
        if len(conditions) == 0:
            return np.zeros((0, len(self.targets.names)))
        sampled = self.model.sample(np.asarray(conditions, dtype=np.float32), rng)
        sampled = sampled.astype(np.float64)
        if self.bounds is not None:
            sampled = np.clip(sampled, self.bounds[0], self.bounds[1])
        return self.targets.inverse(sampled)

    def save(self, path: Path) -> dict[str, Any]:
        """Write the model's ``state_dict``; return the record that :meth:`load` needs."""
        torch.save(self.model.state_dict(), path)
        return {
            "kind": self.kind,
            "file": path.name,
            "model": self.model.record(),
            "targets": self.targets.to_dict(),
            "bounds": None if self.bounds is None else [b.tolist() for b in self.bounds],
        }

    @classmethod
    def load(cls, directory: Path, record: Mapping[str, Any]) -> ResponseStage:
        """Load a stage written by :meth:`save`."""
        path = directory / record["file"]
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            msg = f"cannot load response model {path}: {first}; retrain or restore the bundle"
            raise ModelError(msg) from err
        model = model_from_record(record["model"], state)
        bounds = record.get("bounds")
        if bounds is not None:
            bounds = (np.asarray(bounds[0], dtype=np.float64), np.asarray(bounds[1], np.float64))
        return cls(model, TablePreprocessor.from_dict(record["targets"]), bounds)

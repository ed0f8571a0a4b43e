"""Response stage: a conditional generative model of the (preprocessed) targets.

At run time it samples the model given the preprocessed conditions and undoes the target
preprocessing, giving the encoded targets (pT ratio, Δη, ...) that
:func:`flashsim.features.decode_targets` turns into reconstructed quantities. The model is any
object with the :class:`~flashsim.models.flow.ConditionalFlow` interface
(``sample(context, rng)``, ``record()``, ``state_dict()``).
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from flashsim.bundle_files import weight_source
from flashsim.exceptions import ModelError, SpecError
from flashsim.models.registry import check_model_record, model_from_record
from flashsim.preprocessing import TablePreprocessor

__all__ = ["MAX_ARCHIVE_ENTRIES", "ResponseStage", "check_bounds", "read_state"]

MAX_ARCHIVE_ENTRIES = 100_000
"""The most entries of a torch weight file (one per tensor and a few more)."""


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
    def load(cls, source: Any, record: Mapping[str, Any], key: str = "") -> ResponseStage:
        """Load a stage written by :meth:`save`.

        The record is checked first (the model's size, :func:`check_model_record`; the target
        preprocessing; the bounds), then the weights are read with ``weights_only`` from the
        bytes ``source`` gives (a torch zip archive whose entries are stored, not compressed).

        Arguments:
            source: a bundle's verified weight files (:class:`flashsim.bundle_files.WeightFiles`)
                or a directory.
            record: the stage's record.
            key: where the record lies in the bundle's record, for messages.

        Raises:
            ModelError: the record is malformed or the weights cannot be loaded or do not fit.
        """
        files = weight_source(source)
        where = f"{key}." if key else ""
        model_record = record.get("model")
        check_model_record(model_record, f"{where}model")
        try:
            targets = TablePreprocessor.from_dict(record["targets"])
        except (KeyError, TypeError, ValueError, SpecError) as err:
            msg = f"{where}targets: {err}"
            raise ModelError(msg) from err
        if len(targets.names) != model_record["n_features"]:
            msg = (
                f"{where}targets: {len(targets.names)} columns for a model of "
                f"{model_record['n_features']} features; the bundle is inconsistent"
            )
            raise ModelError(msg)
        bounds = check_bounds(record.get("bounds"), len(targets.names), f"{where}bounds")
        name = record.get("file")
        path = files.path(name) if isinstance(name, str) else name
        try:
            data = files.read(name)
        except ModelError as err:
            detail = str(err).split(";")[0]
            msg = f"cannot load response model {path}: {detail}; retrain or restore the bundle"
            raise ModelError(msg) from err
        state = read_state(data, f"response model {path}")
        model = model_from_record(model_record, state)
        return cls(model, targets, bounds)


def check_bounds(value: Any, n: int, where: str) -> tuple[np.ndarray, np.ndarray] | None:
    """A record's ``bounds``: ``null``, or ``[low, high]`` of ``n`` finite numbers each with
    ``low <= high`` (a constant training column has ``low == high``).

    Raises:
        ModelError: naming ``where``.
    """
    if value is None:
        return None
    try:
        low, high = (np.asarray(b, dtype=np.float64) for b in value)
    except (TypeError, ValueError) as err:
        msg = f"{where}: expected [low, high], two lists of {n} numbers ({err})"
        raise ModelError(msg) from err
    if low.shape != (n,) or high.shape != (n,):
        msg = f"{where}: expected [low, high], two lists of {n} numbers"
        raise ModelError(msg)
    if not (np.isfinite(low).all() and np.isfinite(high).all() and (low <= high).all()):
        msg = f"{where}: the bounds must be finite numbers with low <= high"
        raise ModelError(msg)
    return low, high


def read_state(data: bytes, origin: str) -> dict[str, torch.Tensor]:
    """The state dict in ``data``, the bytes of a torch weight file (``torch.save``), loaded
    with ``weights_only`` (no code runs).

    The archive is checked first: a zip whose entries are stored uncompressed, as torch writes
    them, so that reading it never produces more bytes than the file has.

    Raises:
        ModelError: not a torch weight file, a compressed entry, or unreadable.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        msg = (
            f"cannot load {origin}: not a torch weight file ({err}); retrain or restore the bundle"
        )
        raise ModelError(msg) from err
    compressed = [e.filename for e in entries if e.compress_type != zipfile.ZIP_STORED]
    if compressed or len(entries) > MAX_ARCHIVE_ENTRIES:
        what = f"a compressed entry {compressed[0]}" if compressed else "too many entries"
        msg = f"cannot load {origin}: {what}; torch writes neither: retrain or restore the bundle"
        raise ModelError(msg)
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        msg = f"cannot load {origin}: {first}; retrain or restore the bundle"
        raise ModelError(msg) from err
    return state  # type: ignore[no-any-return]

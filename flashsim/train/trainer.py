"""The stage trainer: one efficiency BDT or one response model at a time, seeded and monitored.

:class:`StageTrainer` holds what every stage of a pipeline shares during training: the
train/validation split of the events (a random fraction, fixed by the spec's seed), the stage
counter that gives each stage its own seed and checkpoint, the metrics recorded in the bundle,
and the per-event weights. The pipeline sections (:mod:`flashsim.train.pipeline`,
:mod:`flashsim.train.pid`) call it in a fixed order, so that training with a given seed is
reproducible bit for bit.

Response models are trained on :class:`ResponseRows`: the encoded targets, their context, the
event of each row, whether it is a validation row, and its weight.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from flashsim.exceptions import InputError, OutputError
from flashsim.models.factory import build_model, train_response_model
from flashsim.preprocessing import TablePreprocessor, build_chain
from flashsim.spec import Feature, PipelineSpec, ResponseSpec, Target
from flashsim.stages import EfficiencyStage, ResponseStage, fit_efficiency
from flashsim.stages.mixed import (
    DEFAULT_DISCRETE,
    ConstantStep,
    continuous_columns,
    discrete_parts,
    train_mixed,
)
from flashsim.train.data import TrainingData
from flashsim.weights import resolve_weights

__all__ = [
    "MIN_RESPONSE_ROWS",
    "Log",
    "ResponseRows",
    "StageTrainer",
    "checkpoint_directory",
    "finite_rows",
    "preprocessor",
]

Log = Callable[[str], None]
"""Where the trainer writes its one-line messages (``print``, or a quiet no-op)."""

MIN_RESPONSE_ROWS = 2
"""Fewest training (and validation) rows a response model is trained on."""


def checkpoint_directory(output: Path) -> Path:
    """``output/checkpoints``, created if needed: a real directory, never a symbolic link
    planted there (the checkpoints themselves are written exclusively and renamed,
    :func:`flashsim.models.loop.save_checkpoint`).

    Raises:
        OutputError: it is a link or not a directory, or cannot be created.
    """
    path = output / "checkpoints"
    try:
        output.mkdir(parents=True, exist_ok=True)
        path.mkdir(exist_ok=True)
    except OSError as err:
        msg = f"cannot create the checkpoint directory {path}: {err.strerror or err}"
        raise OutputError(msg) from err
    if output.is_symlink() or path.is_symlink() or not path.is_dir():
        msg = f"{path} is a symbolic link or not a directory; remove it and train again"
        raise OutputError(msg)
    return path


def preprocessor(items: Sequence[Feature | Target]) -> TablePreprocessor:
    """An unfitted preprocessor of the columns ``items`` (their names and transform chains)."""
    return TablePreprocessor([i.name for i in items], [build_chain(i.transform) for i in items])


def finite_rows(*arrays: np.ndarray) -> np.ndarray:
    """The rows where every array (one row per entry of the first axis) is finite."""
    keep = np.ones(len(arrays[0]), dtype=bool)
    for a in arrays:
        keep &= np.all(np.isfinite(a.reshape(len(a), -1)), axis=1)
    return keep


@dataclass(frozen=True)
class ResponseRows:
    """The training and validation rows of a response model.

    Attributes:
        x: ``(n, t)`` encoded targets.
        context: ``(n, c)`` preprocessed conditions the model is conditioned on.
        event: ``(n,)`` the event of each row.
        validation: ``(n,)`` True for a validation row.
        weights: ``(n,)`` per-row training weights, or None.
    """

    x: np.ndarray
    context: np.ndarray
    event: np.ndarray
    validation: np.ndarray
    weights: np.ndarray | None = None

    def select(self, keep: np.ndarray) -> ResponseRows:
        """The rows where ``keep`` is True."""
        weights = None if self.weights is None else self.weights[keep]
        return ResponseRows(
            self.x[keep], self.context[keep], self.event[keep], self.validation[keep], weights
        )

    def with_columns(self, x: np.ndarray, context: np.ndarray) -> ResponseRows:
        """The same rows with other targets and context (e.g. the continuous part)."""
        return ResponseRows(x, context, self.event, self.validation, self.weights)


class StageTrainer:
    """Trains the stages of one pipeline, numbering them for seeds and checkpoints.

    Arguments:
        spec: the pipeline spec (its seed and validation fraction).
        data: the training tables.
        output: the bundle directory (checkpoints go to ``output/checkpoints``).
        options: ``device``, ``resume`` and ``progress`` of the response models' training.
        log: where the one-line messages go.
    """

    def __init__(
        self,
        spec: PipelineSpec,
        data: TrainingData,
        output: Path,
        options: dict[str, Any],
        log: Log,
    ) -> None:
        self.spec, self.data, self.output, self.options, self.log = spec, data, output, options, log
        rng = np.random.default_rng([spec.seed, 0])
        self.is_validation = rng.random(data.n_events) < spec.validation_fraction
        self.metrics: dict[str, Any] = {}
        self.stage = 0

    def rng(self) -> np.random.Generator:
        """The random stream of the next stage (advancing the stage counter)."""
        self.stage += 1
        return np.random.default_rng([self.spec.seed, self.stage])

    def rows(
        self,
        x: np.ndarray,
        context: np.ndarray,
        event: np.ndarray,
        *,
        weights: np.ndarray | None = None,
        validation: np.ndarray | None = None,
    ) -> ResponseRows:
        """Response rows split by their event's validation flag, or by ``validation``."""
        val = self.is_validation[event] if validation is None else validation
        return ResponseRows(x, context, event, val, weights)

    def efficiency(
        self,
        label: str,
        conditions: np.ndarray,
        outcome: np.ndarray,
        event: np.ndarray,
        n_classes: int,
        params: Any,
        *,
        weights: np.ndarray | None = None,
        validation: np.ndarray | None = None,
    ) -> EfficiencyStage:
        """Train an efficiency (or any classifier) stage; rows split by event, or by
        ``validation`` if given; its metrics are recorded under ``<label>.efficiency``."""
        val = self.is_validation[event] if validation is None else validation
        self.log(f"[{label}] efficiency: {int((~val).sum())} training rows, {n_classes} outcomes")
        stage, metrics = fit_efficiency(
            conditions[~val],
            outcome[~val],
            n_classes,
            params,
            validation=(conditions[val], outcome[val]),
            weights=None if weights is None else weights[~val],
            validation_weights=None if weights is None else weights[val],
            seed=self.spec.seed + self.stage,
        )
        self.metrics[f"{label}.efficiency"] = metrics
        return stage

    def response(
        self, label: str, targets: Sequence[Target], rows: ResponseRows, response: ResponseSpec
    ) -> ResponseStage:
        """Train a response stage of ``targets`` on ``rows``.

        Targets with a discrete part (``categories``, ``point_masses``) make it a
        :class:`~flashsim.stages.mixed.MixedResponseStage`: a classifier per discrete part, then
        the flow of the continuous targets given the conditions and the codes
        (:meth:`flow_response`); without one it is the flow alone."""
        parts = discrete_parts([t for t in targets if isinstance(t, Target)])
        if not parts:
            return self.flow_response(label, targets, rows, response)
        rows = rows.select(finite_rows(rows.context))
        val, w = rows.validation, rows.weights
        modelled = [t for t in targets if t.kind != "uniform_phi"]
        params = {**DEFAULT_DISCRETE, **response.discrete}

        def classify(name: str, features: np.ndarray, outcome: np.ndarray, mask: np.ndarray) -> Any:
            seen = np.unique(outcome[mask])
            learnable = len(np.unique(outcome[mask & ~val])) == 2 and np.any(mask & val)
            if len(seen) < 2 or not learnable:
                # e.g. no pile-up jet at the b-tag's saturation: nothing to learn
                common = int(np.bincount(outcome[mask], minlength=2).argmax())
                self.log(f"[{label}] discrete step {name}: one outcome only, always {common}")
                return ConstantStep(common)
            self.stage += 1
            return self.efficiency(
                f"{label}.discrete.{name}",
                features[mask],
                outcome[mask],
                rows.event[mask],
                2,
                params,
                weights=None if w is None else w[mask],
                validation=val[mask],
            )

        def respond(continuous: np.ndarray, flow_context: np.ndarray) -> ResponseStage:
            columns = continuous_columns(parts, len(modelled))
            return self.flow_response(
                label,
                [modelled[j] for j in columns],
                rows.with_columns(continuous, flow_context),
                response,
            )

        return train_mixed(parts, rows.x, rows.context, classify, respond, self.rng())

    def flow_response(
        self, label: str, targets: Sequence[Target], rows: ResponseRows, response: ResponseSpec
    ) -> ResponseStage:
        """Train the generative model of continuous ``targets`` on the finite ``rows``; its
        metrics are recorded under ``<label>.response``.

        Raises:
            InputError: fewer than :data:`MIN_RESPONSE_ROWS` training or validation rows.
        """
        rng = self.rng()
        keep = finite_rows(rows.x, rows.context)
        if not keep.all():
            self.log(f"[{label}] response: dropped {int((~keep).sum())} rows with NaN/inf")
        rows = rows.select(keep)
        x, context, val, w = rows.x, rows.context, rows.validation, rows.weights
        if min(int(val.sum()), int((~val).sum())) < MIN_RESPONSE_ROWS:
            msg = (
                f"[{label}] {int((~val).sum())} training and {int(val.sum())} validation rows: "
                f"too few to train its response (at least {MIN_RESPONSE_ROWS} each); train on "
                "more events, or drop this section from the spec"
            )
            raise InputError(msg)
        prep = preprocessor([t for t in targets if getattr(t, "kind", "") != "uniform_phi"])
        x_train = prep.fit_forward(x[~val], rng, weights=None if w is None else w[~val])
        x_val = prep.forward(x[val], rng)
        torch.manual_seed(self.spec.seed + self.stage)
        model = build_model(response.model, x.shape[1], context.shape[1], response.config)
        self.log(
            f"[{label}] response ({response.model}): {len(x_train)} training rows, "
            f"{x.shape[1]} targets, {context.shape[1]} conditions"
            + ("" if w is None else f", weighted (sum of weights {w[~val].sum():.1f})")
        )
        checkpoints = checkpoint_directory(self.output)
        self.metrics[f"{label}.response"] = train_response_model(
            response.model,
            model,
            (x_train, context[~val], None if w is None else w[~val]),
            (x_val, context[val], None if w is None else w[val]),
            response.training,
            seed=self.spec.seed + self.stage,
            device=self.options["device"],
            checkpoint=checkpoints / f"{label}.response.ckpt",
            resume=self.options["resume"],
            progress=self.options["progress"],
            label=label,
        )
        model.to("cpu")
        return ResponseStage(model, prep, ResponseStage.training_bounds(x_train))

    def event_weights(self, event: np.ndarray, label: str, features: np.ndarray) -> Any:
        """Per-row weights from the spec's ``weight`` branch, after its negative strategy."""
        if self.data.weights is None or self.spec.weight is None:
            return None
        return resolve_weights(
            features,
            self.data.weights[event],
            self.spec.weight.negative,
            seed=self.spec.seed + self.stage,
            what=label,
        )

"""Training a pipeline: per collection efficiency, response and fakes, the event section, PID.

``flashsim train`` calls :func:`~flashsim.train.data.read_training_data` then
:func:`train_pipeline`. Every stage is trained on the events of the training split and monitored
on the validation split (a random fraction of the events, fixed by the spec's seed), so the
metrics recorded in the bundle are measured on events the stage did not learn from. The stages
are trained in a fixed order (collections in spec order, each with its fakes; the event section;
PID), which numbers their seeds.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from flashsim.bundle import check_bundle_destination, save_bundle
from flashsim.features import model_targets
from flashsim.pipeline import (
    ChildrenModel,
    CollectionModel,
    EventModel,
    Pipeline,
    response_context,
)
from flashsim.preprocessing import TablePreprocessor
from flashsim.spec import CollectionSpec, PipelineSpec
from flashsim.stages import FakesStage
from flashsim.train.data import TrainingData
from flashsim.train.pid import train_pid_model
from flashsim.train.trainer import Log, StageTrainer, finite_rows, preprocessor

__all__ = [
    "train_children",
    "train_collection",
    "train_event",
    "train_fakes",
    "train_pipeline",
    "train_source",
]


def train_collection(trainer: StageTrainer, name: str) -> CollectionModel:
    """The efficiency and response stages of collection ``name``, then its fakes stage, then
    those of each of its further ``sources``."""
    spec = trainer.spec.collections[name]
    model = train_source(trainer, spec)
    if spec.fakes is not None:
        model.fakes, model.fake_conditions = train_fakes(trainer, name)
    model.sources = {s.label or s.stage: train_source(trainer, s) for s in spec.sources}
    return model


def train_source(trainer: StageTrainer, spec: CollectionSpec) -> CollectionModel:
    """The efficiency and response stages of one source of a collection (the section itself,
    or one of its ``sources``), named by its stage (``Jet``, ``Electron.jets``)."""
    name = spec.stage
    table = trainer.data.collections[name]
    keep = finite_rows(table.conditions)
    cond = preprocessor(spec.conditions)
    conditions = np.zeros(table.conditions.shape, dtype=np.float32)
    conditions[keep] = cond.fit_forward(table.conditions[keep], trainer.rng())
    efficiency = trainer.efficiency(
        name,
        conditions[keep],
        table.label[keep],
        table.event[keep],
        spec.efficiency.n_classes,
        spec.efficiency.params,
        weights=trainer.event_weights(table.event[keep], name, conditions[keep]),
    )
    matched = (table.label > 0) & keep
    classes = spec.efficiency.class_field is not None
    context = response_context(conditions[matched], table.label[matched], classes)
    targets = table.targets[keep[table.label > 0]]
    event = table.event[matched]
    weights = trainer.event_weights(event, name, np.concatenate([context, targets], axis=1))
    rows = trainer.rows(targets, context, event, weights=weights)
    response = trainer.response(name, spec.targets, rows, spec.response)
    model = CollectionModel(spec, cond, efficiency, response)
    if spec.children is not None:
        children = table.children[keep[table.label > 0]]
        model.children = train_children(trainer, spec, (context, targets, event), children, weights)
    return model


def train_children(
    trainer: StageTrainer,
    spec: CollectionSpec,
    parent_rows: tuple[np.ndarray, np.ndarray, np.ndarray],
    children: np.ndarray,
    weights: np.ndarray | None = None,
) -> ChildrenModel:
    """The second step of a collection with ``children``: their response, conditioned on the
    parent's response context and on the parent's (encoded, preprocessed) targets.

    ``parent_rows``: the parent's response rows (context, encoded targets, event), and
    ``children`` their children's encoded targets; ``weights`` the rows' training weights.

    Rows of absent children hold NaN in those children's columns: the flow leaves them out
    (the count and the discrete parts still learn from them).
    """
    assert spec.children is not None
    context, targets, event = parent_rows
    parent = preprocessor(model_targets(spec.targets))
    finite = finite_rows(targets)
    parent_context = np.zeros((len(targets), len(parent.names)), dtype=np.float32)
    parent_context[finite] = parent.fit_forward(targets[finite], trainer.rng())
    full_context = np.concatenate([context, parent_context], axis=1).astype(np.float32)
    rows = trainer.rows(children, full_context, event, weights=weights)
    label = f"{spec.stage}.children"
    response = trainer.response(label, spec.children.hidden_targets(), rows, spec.children.response)
    return ChildrenModel(parent, response)


def train_fakes(trainer: StageTrainer, name: str) -> tuple[FakesStage, TablePreprocessor]:
    """The fakes stage of collection ``name`` (multiplicity BDT, response, tail), and the
    preprocessor of its conditions."""
    spec = trainer.spec.collections[name].fakes
    assert spec is not None
    table = trainer.data.fakes[name]
    cond = preprocessor(spec.conditions)
    conditions = cond.fit_forward(table.conditions, trainer.rng())
    count = np.minimum(table.count, spec.max_count)
    label = f"{name}.fakes"
    multiplicity = trainer.efficiency(
        label, conditions, count, table.event, spec.max_count + 1, spec.multiplicity
    )
    per_object = np.repeat(conditions, table.count, axis=0)
    event = np.repeat(table.event, table.count)
    rows = trainer.rows(table.targets, per_object, event)
    response = trainer.response(label, spec.targets, rows, spec.response)
    tail = FakesStage.fit_tail(table.count, spec.max_count)
    trainer.log(f"[{label}] multiplicity beyond {spec.max_count}: excess 0..{len(tail) - 1}")
    return FakesStage(multiplicity, response, tail), cond


def train_event(trainer: StageTrainer) -> EventModel:
    """The event-level stage (MET, rho, number of vertices)."""
    spec = trainer.spec.event
    table = trainer.data.event
    assert spec is not None
    assert table is not None
    cond = preprocessor(spec.conditions)
    conditions = cond.fit_forward(table.conditions, trainer.rng())
    rows = trainer.rows(table.targets, conditions, table.event)
    response = trainer.response("event", spec.targets, rows, spec.response)
    return EventModel(spec, cond, response)


def train_pipeline(
    spec: PipelineSpec,
    data: TrainingData,
    output: Path,
    *,
    device: str = "cpu",
    resume: bool = False,
    progress: bool = True,
    log: Log = print,
) -> Pipeline:
    """Train every stage of ``spec`` on ``data`` and write the model bundle to ``output``.

    Flows keep a checkpoint per stage under ``output/checkpoints``; with ``resume`` an
    interrupted training continues from them (BDTs are retrained: they take seconds). The
    bundle is written to a temporary directory and renamed to ``output`` when complete
    (:func:`flashsim.bundle.save_bundle`), replacing the checkpoints.

    Raises:
        InputError: a stage has too few rows, or a PID species has no calibration table.
        OutputError: ``output`` exists and is neither a bundle nor an interrupted training's
            directory (checked before any training).
    """
    check_bundle_destination(output)
    start = time.monotonic()
    options = {"device": device, "resume": resume, "progress": progress}
    trainer = StageTrainer(spec, data, output, options, log)
    collections = {name: train_collection(trainer, name) for name in spec.collections}
    event = train_event(trainer) if spec.event is not None else None
    pid = train_pid_model(trainer) if spec.pid is not None else None
    pipeline = Pipeline(spec, collections, event, pid)
    training = {
        "files": data.files,
        "calibration": {name: table.files for name, table in data.calibration.items()},
        "events": data.n_events,
        "validation_events": int(trainer.is_validation.sum()),
        "seed": spec.seed,
        "device": device,
        "seconds": round(time.monotonic() - start, 1),
        "metrics": trainer.metrics,
    }
    save_bundle(pipeline, output, training)
    shutil.rmtree(output / "checkpoints", ignore_errors=True)
    return pipeline

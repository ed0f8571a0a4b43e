"""Training a pipeline from full-simulation files: tables, split, stages, bundle.

``flashsim train`` calls :func:`read_training_data` then :func:`train_pipeline`. Every stage is
trained on the events of the training split and monitored on the validation split (a random
fraction of the events, fixed by the spec's seed), so the metrics recorded in the bundle are
measured on events the stage did not learn from.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import uproot
from tqdm.auto import tqdm

from flashsim.bundle import save_bundle
from flashsim.calibration import CalibrationTable
from flashsim.exceptions import InputError, SpecError
from flashsim.features import (
    CollectionTable,
    EventTable,
    FakesTable,
    collection_table,
    concat_tables,
    event_table,
    fakes_table,
    met_branches,
)
from flashsim.io import (
    missing_field,
    open_events,
    read_entries,
    zip_collections,
)
from flashsim.models.factory import build_model, train_response_model
from flashsim.pipeline import (
    CollectionModel,
    EventModel,
    Pipeline,
    check_full_simulation_layout,
    gen_branches,
    response_context,
)
from flashsim.preprocessing import TablePreprocessor, build_chain
from flashsim.spec import Feature, PipelineSpec, ResponseSpec, Target, pid_flags
from flashsim.stages import EfficiencyStage, FakesStage, ResponseStage, fit_efficiency
from flashsim.stages.mixed import (
    DEFAULT_DISCRETE,
    ConstantStep,
    continuous_columns,
    discrete_parts,
    train_mixed,
)
from flashsim.stages.pid import (
    PidModel,
    SpeciesModel,
    encode_pid_targets,
)
from flashsim.weights import balance_factors, resolve_weights

__all__ = ["TrainingData", "read_training_data", "train_pid", "train_pipeline"]

Log = Callable[[str], None]


@dataclass
class TrainingData:
    """Training tables of every stage, and a description of the files they came from."""

    collections: dict[str, CollectionTable]
    fakes: dict[str, FakesTable]
    event: EventTable | None
    n_events: int
    files: list[dict[str, Any]]
    weights: np.ndarray | None = None
    """Per-event training weights (the spec's ``weight`` branch), or None."""
    calibration: dict[str, CalibrationTable] = field(default_factory=dict)
    """Per PID species, its calibration table (see :func:`read_calibration`)."""


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (the training-data hash recorded in the bundle)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def training_branches(spec: PipelineSpec, available: Sequence[str]) -> list[str]:
    """The branches of a full-simulation file that training reads (of ``available``).

    Every field of the collections the spec touches (the gen sources, the reco collections and
    those the condition features read, with their counters), the event-level conditions and
    targets, and the weight column. A real NanoAOD file has about 1,500 branches (trigger bits,
    other collections); reading only these is what makes training on one practical.
    """
    names = set(available)
    needed = set(gen_branches(spec))
    collections = {c.source.collection for c in spec.collections.values()} | set(spec.collections)
    collections |= {b.partition("_")[0] for b in needed if f"n{b.partition('_')[0]}" in names}
    keep = {b for b in names if "_" in b and b.partition("_")[0] in collections}
    keep |= {f"n{c}" for c in collections} | needed
    if spec.event is not None:
        keep |= {t.name for t in spec.event.targets if t.kind == "value"}
        for t in spec.event.targets:
            if t.kind.startswith("met_"):
                keep |= set(met_branches(t))
    if spec.weight is not None:
        keep.add(spec.weight.column)
    return sorted(keep & names)


def read_training_data(
    spec: PipelineSpec,
    files: Sequence[Path],
    *,
    max_events: int | None = None,
    step_size: int = 20_000,
    progress: bool = True,
) -> TrainingData:
    """Read full-simulation files chunk by chunk and build every stage's training table.

    Raises:
        InputError: a file cannot be read or lacks a collection or branch the spec needs.
    """
    tables: dict[str, list[CollectionTable]] = {name: [] for name in spec.collections}
    fakes: dict[str, list[FakesTable]] = {
        name: [] for name, c in spec.collections.items() if c.fakes is not None
    }
    events_tables: list[EventTable] = []
    weight_parts: list[np.ndarray] = []
    described = []
    n_events = 0
    bar = tqdm(desc="reading", unit=" events", disable=not progress, leave=False)
    for path in files:
        tree = open_events(path)
        try:
            check_full_simulation_layout(tree, spec)
            branches = training_branches(spec, tree.keys())
            entries = tree.num_entries
            if max_events is not None:
                entries = min(entries, max_events - n_events)
            described.append(
                {"path": str(path), "entries": int(entries), "sha256": file_digest(path)}
            )
            for start in range(0, entries, step_size):
                stop = min(start + step_size, entries)
                events = zip_collections(read_entries(tree, branches, start, stop))
                if spec.weight is not None:
                    weight_parts.append(np.asarray(events[spec.weight.column], dtype=np.float64))
                for name, coll in spec.collections.items():
                    tables[name].append(collection_table(events, coll, n_events))
                    if coll.fakes is not None:
                        fakes[name].append(fakes_table(events, coll, n_events))
                if spec.event is not None:
                    default = next(iter(spec.collections.values())).source.collection
                    events_tables.append(
                        event_table(
                            events, spec.event.conditions, spec.event.targets, default, n_events
                        )
                    )
                n_events += stop - start
                bar.update(stop - start)
        except uproot.exceptions.KeyInFileError as err:
            msg = f"training file {path} lacks {err.key!r}; is it a full-simulation (reco) file?"
            raise InputError(msg) from err
        except (AttributeError, KeyError) as err:
            field = missing_field(err) if isinstance(err, AttributeError) else str(err)
            if field is None:
                raise
            msg = (
                f"training file {path} lacks a field {field} that the spec reads; is it a "
                "full-simulation (reco) file with the spec's collections? (`flashsim inspect` "
                "lists what it has)"
            )
            raise InputError(msg) from err
        finally:
            tree.file.close()
        if max_events is not None and n_events >= max_events:
            break
    bar.close()
    if n_events == 0:
        msg = "the training files hold no events"
        raise InputError(msg)
    return TrainingData(
        collections={k: concat_tables(v) for k, v in tables.items()},
        fakes={k: concat_tables(v) for k, v in fakes.items()},
        event=concat_tables(events_tables) if events_tables else None,
        n_events=n_events,
        files=described,
        weights=np.concatenate(weight_parts) if weight_parts else None,
    )


MIN_RESPONSE_ROWS = 2
"""Fewest training (and validation) rows a response model is trained on."""


def _preprocessor(items: Sequence[Feature | Target]) -> TablePreprocessor:
    return TablePreprocessor([i.name for i in items], [build_chain(i.transform) for i in items])


def _finite_rows(*arrays: np.ndarray) -> np.ndarray:
    keep = np.ones(len(arrays[0]), dtype=bool)
    for a in arrays:
        keep &= np.all(np.isfinite(a.reshape(len(a), -1)), axis=1)
    return keep


class _Trainer:
    """Trains the stages of one pipeline, numbering them for seeds and checkpoints."""

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
        self.stage += 1
        return np.random.default_rng([self.spec.seed, self.stage])

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
        self,
        label: str,
        targets: Sequence[Target],
        x: np.ndarray,
        context: np.ndarray,
        event: np.ndarray,
        response: ResponseSpec,
        *,
        weights: np.ndarray | None = None,
        validation: np.ndarray | None = None,
    ) -> ResponseStage:
        """Train a response stage; rows split by event (or by ``validation`` if given).

        Targets with a discrete part (``categories``, ``point_masses``) make it a
        :class:`MixedResponseStage`: a classifier per discrete part, then the flow of the
        continuous targets given the conditions and the codes."""
        parts = discrete_parts([t for t in targets if isinstance(t, Target)])
        if not parts:
            return self.flow_response(
                label, targets, x, context, event, response, weights=weights, validation=validation
            )
        keep = _finite_rows(context)
        x, context, event = x[keep], context[keep], event[keep]
        val = self.is_validation[event] if validation is None else validation[keep]
        w = None if weights is None else weights[keep]
        modelled = [t for t in targets if t.kind != "uniform_phi"]
        params = {**DEFAULT_DISCRETE, **response.discrete}

        def classify(name: str, features: np.ndarray, outcome: np.ndarray, rows: np.ndarray) -> Any:
            seen = np.unique(outcome[rows])
            learnable = len(np.unique(outcome[rows & ~val])) == 2 and np.any(rows & val)
            if len(seen) < 2 or not learnable:
                # e.g. no pile-up jet at the b-tag's saturation: nothing to learn
                common = int(np.bincount(outcome[rows], minlength=2).argmax())
                self.log(f"[{label}] discrete step {name}: one outcome only, always {common}")
                return ConstantStep(common)
            self.stage += 1
            return self.efficiency(
                f"{label}.discrete.{name}",
                features[rows],
                outcome[rows],
                event[rows],
                2,
                params,
                weights=None if w is None else w[rows],
                validation=val[rows],
            )

        def respond(continuous: np.ndarray, flow_context: np.ndarray) -> ResponseStage:
            columns = continuous_columns(parts, len(modelled))
            return self.flow_response(
                label,
                [modelled[j] for j in columns],
                continuous,
                flow_context,
                event,
                response,
                weights=w,
                validation=val,
            )

        return train_mixed(parts, x, context, classify, respond, self.rng())

    def flow_response(
        self,
        label: str,
        targets: Sequence[Target],
        x: np.ndarray,
        context: np.ndarray,
        event: np.ndarray,
        response: ResponseSpec,
        *,
        weights: np.ndarray | None = None,
        validation: np.ndarray | None = None,
    ) -> ResponseStage:
        """Train the generative model of continuous targets (see :meth:`response`)."""
        rng = self.rng()
        keep = _finite_rows(x, context)
        if not keep.all():
            self.log(f"[{label}] response: dropped {int((~keep).sum())} rows with NaN/inf")
        x, context, event = x[keep], context[keep], event[keep]
        val = self.is_validation[event] if validation is None else validation[keep]
        w = None if weights is None else weights[keep]
        if min(int(val.sum()), int((~val).sum())) < MIN_RESPONSE_ROWS:
            msg = (
                f"[{label}] {int((~val).sum())} training and {int(val.sum())} validation rows: "
                f"too few to train its response (at least {MIN_RESPONSE_ROWS} each); train on "
                "more events, or drop this section from the spec"
            )
            raise InputError(msg)
        prep = _preprocessor([t for t in targets if getattr(t, "kind", "") != "uniform_phi"])
        x_train = prep.fit_forward(x[~val], rng, weights=None if w is None else w[~val])
        x_val = prep.forward(x[val], rng)
        torch.manual_seed(self.spec.seed + self.stage)
        model = build_model(response.model, x.shape[1], context.shape[1], response.config)
        self.log(
            f"[{label}] response ({response.model}): {len(x_train)} training rows, "
            f"{x.shape[1]} targets, {context.shape[1]} conditions"
            + ("" if w is None else f", weighted (sum of weights {w[~val].sum():.1f})")
        )
        checkpoints = self.output / "checkpoints"
        checkpoints.mkdir(parents=True, exist_ok=True)
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

    def collection(self, name: str) -> CollectionModel:
        spec = self.spec.collections[name]
        table = self.data.collections[name]
        keep = _finite_rows(table.conditions)
        cond = _preprocessor(spec.conditions)
        conditions = np.zeros(table.conditions.shape, dtype=np.float32)
        conditions[keep] = cond.fit_forward(table.conditions[keep], self.rng())
        efficiency = self.efficiency(
            name,
            conditions[keep],
            table.label[keep],
            table.event[keep],
            spec.efficiency.n_classes,
            spec.efficiency.params,
            weights=self.event_weights(table.event[keep], name, conditions[keep]),
        )
        matched = (table.label > 0) & keep
        classes = spec.efficiency.class_field is not None
        context = response_context(conditions[matched], table.label[matched], classes)
        targets = table.targets[keep[table.label > 0]]
        response = self.response(
            name,
            spec.targets,
            targets,
            context,
            table.event[matched],
            spec.response,
            weights=self.event_weights(
                table.event[matched], name, np.concatenate([context, targets], axis=1)
            ),
        )
        model = CollectionModel(spec, cond, efficiency, response)
        if spec.fakes is not None:
            model.fakes, model.fake_conditions = self.fakes(name)
        return model

    def fakes(self, name: str) -> tuple[FakesStage, TablePreprocessor]:
        spec = self.spec.collections[name].fakes
        assert spec is not None
        table = self.data.fakes[name]
        cond = _preprocessor(spec.conditions)
        conditions = cond.fit_forward(table.conditions, self.rng())
        count = np.minimum(table.count, spec.max_count)
        label = f"{name}.fakes"
        multiplicity = self.efficiency(
            label, conditions, count, table.event, spec.max_count + 1, spec.multiplicity
        )
        per_object = np.repeat(conditions, table.count, axis=0)
        response = self.response(
            label,
            spec.targets,
            table.targets,
            per_object,
            np.repeat(table.event, table.count),
            spec.response,
        )
        tail = FakesStage.fit_tail(table.count, spec.max_count)
        self.log(f"[{label}] multiplicity beyond {spec.max_count}: excess 0..{len(tail) - 1}")
        return FakesStage(multiplicity, response, tail), cond

    def pid(self) -> PidModel:
        """Per species: isMuon BDT and PID response model on the (weighted) calibration rows."""
        spec = self.spec.pid
        assert spec is not None
        species: dict[str, SpeciesModel] = {}
        for sp in spec.species:
            table = self.data.calibration.get(sp.name)
            if table is None:
                msg = (
                    f"no calibration sample for PID species {sp.name!r}; pass "
                    f"--calibration {sp.name}=FILE.root (species of the spec: "
                    f"{', '.join(s.name for s in spec.species)})"
                )
                raise InputError(msg)
            label = f"pid.{sp.name}"
            n = len(table.conditions)
            rng = self.rng()
            val = rng.random(n) < spec.validation_fraction
            cond = _preprocessor(spec.conditions)
            conditions = cond.fit_forward(table.conditions, rng)
            context = conditions
            features = [conditions, table.targets]
            if table.is_muon is not None:
                context = np.column_stack([conditions, table.is_muon.astype(np.float32)])
                features.append(table.is_muon[:, None])
            weights = None
            if table.weights is not None and spec.weight is not None:
                weights = resolve_weights(
                    np.concatenate(features, axis=1),
                    table.weights,
                    spec.weight.negative,
                    seed=self.spec.seed + self.stage,
                    what=f"{label} ({spec.weight.column}, {spec.weight.negative})",
                )
                negative = int((weights < 0).sum())
                self.log(
                    f"[{label}] {n} calibration rows, weights {spec.weight.column} "
                    f"({spec.weight.negative}): sum {weights.sum():.1f}, {negative} negative"
                )
            if spec.balance is not None:
                b = spec.balance
                column = [c.name for c in spec.conditions].index(b.condition)
                factors = balance_factors(
                    conditions[:, column], bins=b.bins, power=b.power, max_factor=b.max_factor
                )
                weights = factors if weights is None else weights * factors
                effective = factors.sum() ** 2 / np.square(factors).sum() / n
                self.log(
                    f"[{label}] balanced in {b.condition}: factors {factors.min():.2f}-"
                    f"{factors.max():.2f}, effective rows {effective:.0%}"
                )
            is_muon = None
            if table.is_muon is not None:
                is_muon = self.efficiency(
                    f"{label}.isMuon",
                    conditions,
                    table.is_muon,
                    np.zeros(n, dtype=np.int64),
                    2,
                    spec.is_muon_params,
                    weights=weights,
                    validation=val,
                )
            targets, flags = encode_pid_targets(spec, table.targets, rng)
            stages: dict[str, dict[str, EfficiencyStage]] = {"point_mass": {}, "split": {}}
            for k, flag in enumerate(pid_flags(spec)):
                stages[flag.kind][flag.target.name] = self.efficiency(
                    f"{label}.{flag.name}",
                    context,
                    flags[:, k].astype(np.int64),
                    np.zeros(n, dtype=np.int64),
                    2,
                    flag.params,
                    weights=weights,
                    validation=val,
                )
                context = np.column_stack([context, flags[:, k].astype(np.float32)])
            response = self.response(
                label,
                spec.targets,
                targets,
                context,
                np.zeros(n, dtype=np.int64),
                spec.response,
                weights=weights,
                validation=val,
            )
            species[sp.name] = SpeciesModel(
                sp, cond, is_muon, response, stages["point_mass"], stages["split"]
            )
        return PidModel(spec, species)

    def event(self) -> EventModel:
        spec = self.spec.event
        table = self.data.event
        assert spec is not None
        assert table is not None
        cond = _preprocessor(spec.conditions)
        conditions = cond.fit_forward(table.conditions, self.rng())
        response = self.response(
            "event", spec.targets, table.targets, conditions, table.event, spec.response
        )
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
    interrupted training continues from them (BDTs are retrained: they take seconds).
    """
    start = time.monotonic()
    trainer = _Trainer(
        spec, data, output, {"device": device, "resume": resume, "progress": progress}, log
    )
    collections = {name: trainer.collection(name) for name in spec.collections}
    event = trainer.event() if spec.event is not None else None
    pid = trainer.pid() if spec.pid is not None else None
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


def train_pid(
    spec: PipelineSpec,
    data: TrainingData,
    output: Path,
    *,
    device: str = "cpu",
    progress: bool = True,
    log: Log = print,
) -> PidModel:
    """Train only the ``pid`` section of ``spec`` on ``data.calibration`` (no bundle written).

    For studies of the PID models alone (``benchmarks/lhcb_pid_harness.py``): the collections
    and the event section are not trained, so ``data`` needs only its calibration tables. The
    stages are numbered from the PID section, so their seeds differ from those the same
    stages get inside :func:`train_pipeline`.

    Raises:
        SpecError: the spec has no ``pid`` section.
    """
    if spec.pid is None:
        msg = f"{spec.name}: the spec has no pid section to train"
        raise SpecError(msg)
    options = {"device": device, "resume": False, "progress": progress}
    return _Trainer(spec, data, output, options, log).pid()

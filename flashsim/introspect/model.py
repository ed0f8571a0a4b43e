"""``flashsim info``: what is in a model bundle, from its JSON record alone (no weights loaded).

Its text is made by :func:`~flashsim.introspect.model_text.format_model_info` (importable from
here too).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flashsim import __version__
from flashsim.exceptions import ModelError, SpecError
from flashsim.introspect.model_text import format_model_info
from flashsim.response_record import flow_record

if TYPE_CHECKING:
    from flashsim.spec import (
        CollectionSpec,
        PidSpec,
        PipelineSpec,
        ResponseSpec,
        SpeciesSpec,
    )


__all__ = [
    "EfficiencyInfo",
    "ModelInfo",
    "ResponseInfo",
    "StageInfo",
    "format_model_info",
    "model_info",
]


@dataclass
class EfficiencyInfo:
    """An xgboost classifier of a stage: what it decides, its hyperparameters, its metrics."""

    role: str
    """``efficiency`` (reconstructed, and in which ID class), ``multiplicity`` (number of
    unmatched objects) or ``isMuon``."""
    model: str
    outcomes: list[str]
    params: dict[str, Any]
    metrics: dict[str, Any]


@dataclass
class ResponseInfo:
    """The generative model of a stage (normalizing flow or GAN)."""

    model: str
    config: dict[str, Any]
    """Architecture hyperparameters, as recorded with the weights."""
    training: dict[str, Any]
    """Training settings of the spec (epochs, batch size, learning rate, ...)."""
    n_features: int
    n_context: int
    """Inputs of the model: the stage's conditions, then the ``extra_inputs``."""
    extra_inputs: list[str]
    """Inputs after the conditions: the ID class of a multiclass efficiency, ``isMuon``."""
    targets: list[str]
    metrics: dict[str, Any]


@dataclass
class StageInfo:
    """One trained stage: a collection, its pile-up fakes, the event quantities or a PID species."""

    name: str
    """``Jet``, ``Jet.fakes``, ``event``, ``pid.kaon``: the prefix of its metrics' labels."""
    summary: str
    conditions: list[str]
    efficiency: EfficiencyInfo | None
    response: ResponseInfo
    flags: list[EfficiencyInfo] = dataclasses.field(default_factory=list)
    """Further BDTs run before the response model (PID: the point-mass and split flags)."""


@dataclass
class ModelInfo:
    """What a model bundle holds, from its record (see :func:`model_info`)."""

    path: str
    pipeline: str
    description: str
    format: int
    sha256: str
    versions: dict[str, str]
    """Software versions at training."""
    installed: dict[str, str]
    """The versions installed now, of the same packages (``not installed`` if absent)."""
    training: dict[str, Any]
    """The record's ``training`` entry (files with entries and SHA-256, events, seed, ...),
    without the metrics, which are in the stages; metrics of no known stage stay here."""
    stages: list[StageInfo]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-compatible form (``flashsim info --json``)."""
        return dataclasses.asdict(self)


def model_info(directory: str | os.PathLike[str]) -> ModelInfo:
    """Describe the model bundle in ``directory`` from its record, without loading weights.

    Raises:
        ModelError: the bundle is missing, incomplete, corrupted, from an incompatible flashsim
            version, or its record is inconsistent.
    """
    from flashsim.bundle import bundle_hash, read_record
    from flashsim.spec import parse_spec

    path = Path(directory)
    record = read_record(path)
    try:
        spec = parse_spec(record["spec"], origin=f"{path} (spec)")
        recorded = record.get("training") or {}
        metrics = dict(recorded.get("metrics") or {})
        stages = _stages(record, spec, metrics)
        training = {k: v for k, v in recorded.items() if k != "metrics"}
    except (KeyError, TypeError, ValueError, AttributeError, SpecError) as err:
        msg = f"model bundle {path} is inconsistent ({type(err).__name__}: {err}); retrain it"
        raise ModelError(msg) from err
    if metrics:
        training["metrics"] = metrics
    versions = {str(k): str(v) for k, v in (record.get("versions") or {}).items()}
    return ModelInfo(
        path=str(path),
        pipeline=spec.name,
        description=spec.description,
        format=int(record["format"]),
        sha256=bundle_hash(path),
        versions=versions,
        installed=_installed_versions(versions),
        training=training,
        stages=stages,
    )


def _installed_versions(recorded: Mapping[str, str]) -> dict[str, str]:
    """Installed versions of the recorded packages, read from package metadata (no imports)."""
    installed = {}
    for name in recorded:
        installed[name] = __version__ if name == "flashsim" else _installed_version(name)
    return installed


def _installed_version(module: str) -> str:
    """The version of the distribution providing ``module`` (``xgboost`` may be ``xgboost-cpu``)."""
    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        pass
    for dist in metadata.packages_distributions().get(module, []):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def _stages(
    record: Mapping[str, Any], spec: PipelineSpec, metrics: dict[str, Any]
) -> list[StageInfo]:
    """Every stage of the record, in pipeline order; pops the metrics each stage uses."""
    stages = []
    for name, coll in spec.collections.items():
        entry = record["collections"][name]
        stages.append(_collection_stage(name, coll, entry, metrics))
        if "fakes" in entry and coll.fakes is not None:
            stages.append(_fakes_stage(name, coll, entry["fakes"], metrics))
        if coll.children is not None and "children" in entry:
            stages.append(_children_stage(name, coll, entry["children"], metrics))
        for source in coll.sources:
            label = source.label or source.stage
            saved = entry["sources"][label]
            stages.append(_collection_stage(source.stage, source, saved, metrics))
    if spec.event is not None:
        stages.append(
            StageInfo(
                name="event",
                summary="event-level quantities",
                conditions=_column_names(record["event"]["conditions"]),
                efficiency=None,
                response=_response(
                    record["event"]["response"],
                    spec.event.response,
                    {**metrics.pop("event.response", {}), **_discrete(metrics, "event")},
                ),
            )
        )
    if spec.pid is not None:
        stages.extend(
            _pid_stage(sp, spec.pid, record["pid"][sp.name], metrics) for sp in spec.pid.species
        )
    return stages


def _collection_stage(
    name: str, coll: CollectionSpec, entry: Mapping[str, Any], metrics: dict[str, Any]
) -> StageInfo:
    """A collection's efficiency and response stages."""
    source = coll.source
    cuts = []
    if source.pdg_id is not None:
        cuts.append(f"|pdgId| in {list(source.pdg_id)}")
    if source.status is not None:
        cuts.append(f"status in {list(source.status)}")
    selection = f" ({', '.join(cuts)})" if cuts else ""
    link = f"{coll.name}_{coll.match}"
    if coll.via is not None:
        link += f" -> {coll.via.collection}_{coll.via.field}"
    eff = coll.efficiency
    if eff.class_field is not None:
        outcomes = ["not reconstructed", *(f"{eff.class_field}={v}" for v in eff.class_values)]
    else:
        outcomes = ["not reconstructed", "reconstructed"]
    return StageInfo(
        name=name,
        summary=f"{source.collection}{selection} -> {coll.name}, matched by {link}",
        conditions=_column_names(entry["conditions"]),
        efficiency=_efficiency(
            "efficiency",
            entry["efficiency"],
            outcomes,
            eff.params,
            metrics.pop(f"{name}.efficiency", {}),
        ),
        response=_response(
            entry["response"],
            coll.response,
            {**metrics.pop(f"{name}.response", {}), **_discrete(metrics, name)},
            [eff.class_field] if eff.class_field is not None else [],
        ),
    )


def _children_stage(
    name: str, coll: CollectionSpec, entry: Mapping[str, Any], metrics: dict[str, Any]
) -> StageInfo:
    """The second step of a collection with children: their number and fields."""
    children = coll.children
    assert children is not None
    label = f"{name}.children"
    return StageInfo(
        name=label,
        summary=(
            f"{name} -> {children.collection} (up to {len(children.index)} per {name}, "
            f"{name}_{'/'.join(children.index)}), given the {name}'s conditions and targets"
        ),
        conditions=_column_names(entry["context"]),
        efficiency=None,
        response=_response(
            entry["response"],
            children.response,
            {**metrics.pop(f"{label}.response", {}), **_discrete(metrics, label)},
        ),
    )


def _fakes_stage(
    name: str, coll: CollectionSpec, entry: Mapping[str, Any], metrics: dict[str, Any]
) -> StageInfo:
    """The pile-up (unmatched) objects of a collection: their multiplicity and response."""
    fakes = coll.fakes
    assert fakes is not None
    n_classes = int(entry["multiplicity"]["n_classes"])
    outcomes = [str(k) for k in range(n_classes - 1)] + [f"{n_classes - 1} or more"]
    label = f"{name}.fakes"
    return StageInfo(
        name=label,
        summary=f"unmatched {name} objects (pile-up), {name}_{coll.match} = -1",
        conditions=_column_names(entry["conditions"]),
        efficiency=_efficiency(
            "multiplicity",
            entry["multiplicity"],
            outcomes,
            fakes.multiplicity,
            metrics.pop(f"{label}.efficiency", {}),
        ),
        response=_response(
            entry["response"],
            fakes.response,
            {**metrics.pop(f"{label}.response", {}), **_discrete(metrics, label)},
        ),
    )


def _pid_stage(
    species: SpeciesSpec, pid: PidSpec, entry: Mapping[str, Any], metrics: dict[str, Any]
) -> StageInfo:
    """One PID species: the isMuon BDT (if any), the flag BDTs and the PID response model."""
    from flashsim.spec import pid_flags

    label = f"pid.{species.name}"
    efficiency = None
    if entry.get("is_muon") is not None:
        efficiency = _efficiency(
            "isMuon",
            entry["is_muon"],
            ["isMuon=0", "isMuon=1"],
            pid.is_muon_params,
            metrics.pop(f"{label}.isMuon.efficiency", {}),
        )
    flags = [
        _efficiency(
            flag.name,
            entry[flag.record_key][flag.target.name],
            flag.outcomes,
            flag.params,
            metrics.pop(f"{label}.{flag.name}.efficiency", {}),
        )
        for flag in pid_flags(pid)
        if flag.target.name in entry.get(flag.record_key, {})
    ]
    return StageInfo(
        flags=flags,
        name=label,
        summary=f"PID of {pid.collection} objects matched to |pdgId| in {list(species.pdg_id)}",
        conditions=_column_names(entry["conditions"]),
        efficiency=efficiency,
        response=_response(
            entry["response"],
            pid.response,
            metrics.pop(f"{label}.response", {}),
            (["isMuon"] if efficiency is not None else []) + [f.role for f in flags],
        ),
    )


def _efficiency(
    role: str,
    entry: Mapping[str, Any],
    outcomes: list[str],
    params: Mapping[str, Any],
    metrics: Mapping[str, Any],
) -> EfficiencyInfo:
    n_classes = int(entry["n_classes"])
    if len(outcomes) != n_classes:
        outcomes = [str(k) for k in range(n_classes)]
    return EfficiencyInfo(
        role=role, model="xgboost", outcomes=outcomes, params=dict(params), metrics=dict(metrics)
    )


def _discrete(metrics: dict[str, Any], label: str) -> dict[str, Any]:
    """Pop the metrics of a mixed stage's discrete steps (``Jet.discrete.btagDeepFlavB.0.
    efficiency``) and summarise them: the number of steps and of trees."""
    prefix = f"{label}.discrete."
    steps = [metrics.pop(k) for k in [k for k in metrics if k.startswith(prefix)]]
    if not steps:
        return {}
    trees = sum(int(m.get("trees", 0)) for m in steps if isinstance(m, Mapping))
    return {"discrete_steps": len(steps), "discrete_trees": trees}


def _response(
    entry: Mapping[str, Any],
    spec: ResponseSpec,
    metrics: Mapping[str, Any],
    extra_inputs: Sequence[str] = (),
) -> ResponseInfo:
    entry, codes = flow_record(entry)  # a mixed stage: its flow, given the sampled codes
    extra_inputs = [*extra_inputs, *(c["name"] for c in codes)]
    model = entry["model"]
    return ResponseInfo(
        model=str(model["kind"]),
        config=dict(model.get("config") or {}),
        training=dict(spec.training),
        n_features=int(model["n_features"]),
        n_context=int(model["n_context"]),
        extra_inputs=list(extra_inputs),
        targets=_column_names(entry["targets"]),
        metrics=dict(metrics),
    )


def _column_names(table: Mapping[str, Any]) -> list[str]:
    """The column names of a serialised :class:`~flashsim.preprocessing.TablePreprocessor`."""
    return [str(column["name"]) for column in table["columns"]]

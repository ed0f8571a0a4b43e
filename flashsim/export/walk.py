"""The bundle walk: every response model of a model bundle, with what its columns mean.

The collections' responses, their fakes' responses, the event response and the PID responses,
each with its context columns (the preprocessing recorded in the bundle and the spec's
definition of each condition, or the values of a column the pipeline appends), its target
columns (preprocessing and the spec's decoding) and the bounds x is clipped to.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flashsim.bundle import load_bundle, read_record
from flashsim.models.base import TorchModel
from flashsim.response_record import flow_record
from flashsim.spec import pid_flags

__all__ = ["ResponseModel", "response_models"]

_CONDITION_KEYS = ("field", "event", "flag", "feature", "params", "abs", "above", "column")
_TARGET_KEYS = (
    "kind",
    "range",
    "dtype",
    "select_min",
    "column",
    "relative_to",
    "point_mass",
    "split",
)


@dataclass(frozen=True)
class ResponseModel:
    """A response model of a bundle and what maps physical values to its inputs and outputs.

    Arguments:
        name: ``Jet.response``, ``Jet.fakes.response``, ``event.response``, ``pid.K.response``.
        model: the flow or GAN.
        context: the context columns, in order: ``name`` and ``transforms`` (the preprocessing
            as recorded in the bundle), the spec's ``definition`` of a condition, or ``values``
            and ``description`` of a column the pipeline appends (ID class, isMuon).
        targets: the columns of x, in order: ``name``, ``transforms`` and the spec's decoding.
        bounds: x is clipped to ``(low, high)`` per column before the inverse preprocessing.
        other_targets: targets of the stage that are not in x (drawn outside the model).
    """

    name: str
    model: TorchModel
    context: tuple[dict[str, Any], ...]
    targets: tuple[dict[str, Any], ...]
    bounds: list[list[float]] | None = None
    other_targets: tuple[dict[str, Any], ...] = ()


def _column_spec(thing: Any, keys: Sequence[str]) -> dict[str, Any]:
    """The attributes ``keys`` of a spec object that are set, as JSON values."""
    out: dict[str, Any] = {}
    for key in keys:
        value = getattr(thing, key, None)
        empty = isinstance(value, (tuple, Mapping)) and not any(
            v is not None for v in (value.values() if isinstance(value, Mapping) else value)
        )
        if value is None or value is False or empty:
            continue
        if isinstance(value, Mapping):
            value = dict(value)
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def _conditions(record: Mapping[str, Any], spec_conditions: Sequence[Any]) -> list[dict]:
    by_name = {c.name: c for c in spec_conditions}
    columns = []
    for column in record["columns"]:
        entry = {"name": column["name"], "transforms": column["transforms"]}
        if column["name"] in by_name:
            entry["definition"] = _column_spec(by_name[column["name"]], _CONDITION_KEYS)
        columns.append(entry)
    return columns


def _targets(
    record: Mapping[str, Any], spec_targets: Sequence[Any]
) -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    by_name = {t.name: t for t in spec_targets}
    modelled = []
    for column in record["targets"]["columns"]:
        entry = {"name": column["name"], "transforms": column["transforms"]}
        if column["name"] in by_name:
            entry.update(_column_spec(by_name[column["name"]], _TARGET_KEYS))
        modelled.append(entry)
    names = {c["name"] for c in modelled}
    other = [
        {"name": t.name, **_column_spec(t, _TARGET_KEYS)}
        for t in spec_targets
        if t.name not in names
    ]
    return tuple(modelled), tuple(other)


def _appended(name: str, values: list[int], description: str) -> dict[str, Any]:
    """A context column the pipeline appends (not preprocessed): its allowed values."""
    return {"name": name, "transforms": [], "values": values, "description": description}


def _class_column(spec: Any) -> list[dict[str, Any]]:
    """The ID-class context column a collection source's response takes, if it has classes."""
    field = spec.efficiency.class_field
    if field is None:
        return []
    values = list(spec.efficiency.class_values)
    description = (
        f"index of the sampled {field} in {values} (from the efficiency model), as a float"
    )
    return [_appended(f"{field}_class", list(range(len(values))), description)]


def response_models(directory: str | os.PathLike[str]) -> list[ResponseModel]:
    """Every response model of the bundle ``directory``, with its context and target columns.

    Raises:
        ModelError: the bundle is missing, incomplete or inconsistent.
    """
    pipeline = load_bundle(directory)
    record = read_record(directory)
    out: list[ResponseModel] = []

    def add(name: str, stage: Any, entry: Mapping[str, Any], spec: Any, extra: list) -> None:
        response, codes = flow_record(entry["response"])  # a mixed stage: its flow
        targets, other = _targets(response, spec.targets)
        out.append(
            ResponseModel(
                name=name,
                model=stage.model,
                context=(*_conditions(entry["conditions"], spec.conditions), *extra, *codes),
                targets=targets,
                bounds=response.get("bounds"),
                other_targets=other,
            )
        )

    for name, collection in pipeline.collections.items():
        entry = record["collections"][name]
        spec = collection.spec
        add(f"{name}.response", collection.response, entry, spec, _class_column(spec))
        if collection.children is not None and spec.children is not None:
            saved = entry["children"]
            parent = [
                {
                    "name": f"parent_{column['name']}",
                    "transforms": column["transforms"],
                    "description": "the parent's sampled target, encoded relative to its "
                    "generated object",
                }
                for column in saved["context"]["columns"]
            ]
            response, codes = flow_record(saved["response"])
            targets, other = _targets(response, spec.children.hidden_targets())
            out.append(
                ResponseModel(
                    name=f"{name}.children.response",
                    model=collection.children.response.model,
                    context=(
                        *_conditions(entry["conditions"], spec.conditions),
                        *_class_column(spec),
                        *parent,
                        *codes,
                    ),
                    targets=targets,
                    bounds=response.get("bounds"),
                    other_targets=other,
                )
            )
        for label, source in collection.sources.items():
            saved = entry["sources"][label]
            add(
                f"{name}.{label}.response",
                source.response,
                saved,
                source.spec,
                _class_column(source.spec),
            )
        if collection.fakes is not None and spec.fakes is not None:
            add(f"{name}.fakes.response", collection.fakes.response, entry["fakes"], spec.fakes, [])
    if pipeline.event is not None:
        add("event.response", pipeline.event.response, record["event"], pipeline.event.spec, [])
    if pipeline.pid is not None:
        pid_spec = pipeline.pid.spec
        for species, model in pipeline.pid.species.items():
            extra = []
            if model.is_muon is not None and pid_spec.is_muon is not None:
                description = "the isMuon decision sampled by the isMuon model"
                extra.append(_appended(pid_spec.is_muon.name, [0, 1], description))
            for flag in pid_flags(pid_spec):
                extra.append(_appended(flag.name, [0, 1], flag.description))
            add(f"pid.{species}.response", model.response, record["pid"][species], pid_spec, extra)
    return out

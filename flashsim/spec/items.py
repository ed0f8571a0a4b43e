"""Reading the items of a pipeline spec's sections: conditions (features), targets, ranges and
integer lists, each taking the :class:`~flashsim.spec.reader.SpecReader` that keeps the file
name for the messages, and the key path of the item, e.g. ``collections.Jet.targets[3]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import partial
from typing import Any

from flashsim.spec.reader import INT32, SpecReader
from flashsim.spec.types import FEATURE_KINDS, TARGET_KINDS, Feature, Target, met_prefix

__all__ = [
    "DTYPES",
    "EVENT_FEATURES",
    "MAX_DISCRETE_VALUES",
    "SECTION_KINDS",
    "read_event_features",
    "read_feature",
    "read_ints",
    "read_range",
    "read_targets",
]

MAX_DISCRETE_VALUES = 256
"""The most ``categories``, ``point_masses`` or ID ``classes`` values of a target: each is a
class of a classifier."""
SECTION_KINDS = {
    "collection": ("ratio", "diff", "dphi", "value"),
    "fakes": ("value", "uniform_phi"),
    "event": ("value", "met_parallel", "met_perpendicular"),
}
"""The target kinds each section takes."""
EVENT_FEATURES = ("n_source", "source_ht")
"""The computed features an event-level model may take as conditions."""
DTYPES = ("float32", "int32", "int16", "uint8", "bool")
"""The types a target or copied field may be written as."""


def read_feature(r: SpecReader, value: Any, where: str) -> Feature:
    """A condition: exactly one of ``field``, ``event``, ``flag`` or ``feature``."""
    d = r.mapping(
        value,
        where,
        ["name", "transform"],
        ["field", "event", "flag", "feature", "abs", "above"],
    )
    given = [k for k in ("field", "event", "flag", "feature") if k in d]
    if len(given) != 1:
        raise r.fail(where, "give exactly one of field, event, flag, feature")
    kwargs: dict[str, Any] = {}
    if "flag" in d:
        flag = r.mapping(d["flag"], f"{where}.flag", ["field", "bit"])
        kwargs["flag"] = (
            r.typed(flag["field"], f"{where}.flag.field", str, "a field name"),
            r.integer(flag["bit"], f"{where}.flag.bit", minimum=0, maximum=63),
        )
    elif "feature" in d:
        kind, params = _feature_kind(r, d["feature"], f"{where}.feature")
        kwargs.update(feature=kind, params=params)
    else:
        key = given[0]
        kwargs[key] = r.typed(d[key], f"{where}.{key}", str, "a branch or field name")
    return Feature(
        name=r.name(d["name"], f"{where}.name"),
        transform=r.chain(d["transform"], f"{where}.transform"),
        abs=r.boolean(d.get("abs", False), f"{where}.abs"),
        above=(None if d.get("above") is None else float(r.finite(d["above"], f"{where}.above"))),
        **kwargs,
    )


def _feature_kind(r: SpecReader, value: Any, where: str) -> tuple[str, dict[str, Any]]:
    """A computed feature, ``name`` or ``{name: {params}}``, as (kind, parameters)."""
    if isinstance(value, str):
        kind, params = value, {}
    elif isinstance(value, Mapping) and len(value) == 1:
        kind, params = next(iter(value.items()))
        if params is not None and not isinstance(params, Mapping):
            raise r.fail(f"{where}.{kind}", "expected a mapping of parameters")
        params = dict(params or {})
    else:
        raise r.fail(where, "expected a feature name or {name: {params}}")
    kind = r.choice(kind, where, list(FEATURE_KINDS))
    for key in params:
        if key not in FEATURE_KINDS[kind]:
            allowed = ", ".join(sorted(FEATURE_KINDS[kind])) or "none"
            raise r.fail(f"{where}.{kind}.{key}", f"unknown parameter; allowed: {allowed}")
        at = f"{where}.{kind}.{key}"
        if key == "collection":
            r.typed(params[key], at, str, "a collection name")
        elif key == "pdgId":
            read_ints(r, params[key], at)
        elif key == "radius":
            r.number(params[key], at, low=0.0, high=10.0, low_open=True)
    return kind, params


def _target(r: SpecReader, value: Any, where: str) -> Target:
    """A target: its kind, transform, range, dtype, acceptance and discrete part."""
    d = r.mapping(
        value,
        where,
        ["name", "kind"],
        [
            "transform",
            "range",
            "dtype",
            "select_min",
            "select_max_abs",
            "categories",
            "point_masses",
        ],
    )
    kind = r.choice(d["kind"], f"{where}.kind", TARGET_KINDS)
    categories = _discrete_values(r, d, "categories", where, kind)
    point_masses = _discrete_values(r, d, "point_masses", where, kind)
    if categories and point_masses:
        raise r.fail(where, "a target takes categories (all discrete) or point_masses, not both")
    if categories and len(categories) < 2:
        raise r.fail(f"{where}.categories", "needs at least 2 values (a single one is a constant)")
    if kind != "uniform_phi" and "transform" not in d and not categories:
        raise r.fail(where, "missing required key 'transform'")
    rng = d.get("range", [None, None])
    read_range(r, rng, f"{where}.range")
    select_min = d.get("select_min")
    if select_min is not None:
        r.finite(select_min, f"{where}.select_min")
    select_max_abs = d.get("select_max_abs")
    if select_max_abs is not None:
        r.finite(select_max_abs, f"{where}.select_max_abs")
        if not select_max_abs > 0:
            raise r.fail(f"{where}.select_max_abs", "must be positive")
    return Target(
        name=r.name(d["name"], f"{where}.name"),
        kind=kind,
        transform=r.chain(d.get("transform", []), f"{where}.transform"),
        range=(rng[0], rng[1]),
        dtype=r.choice(d.get("dtype", "float32"), f"{where}.dtype", DTYPES),
        select_min=None if select_min is None else float(select_min),
        select_max_abs=None if select_max_abs is None else float(select_max_abs),
        categories=categories,
        point_masses=point_masses,
    )


def _discrete_values(
    r: SpecReader, d: Mapping[str, Any], key: str, where: str, kind: str
) -> tuple[float, ...]:
    """A target's ``categories`` or ``point_masses``: distinct finite numbers, only on
    ``kind: value`` targets (a ratio or difference to gen has no fixed value to sit on)."""
    if key not in d:
        return ()
    if kind != "value":
        raise r.fail(f"{where}.{key}", f"only `kind: value` targets take {key}")
    value = d[key]
    if not isinstance(value, list) or not value:
        raise r.fail(f"{where}.{key}", "expected a non-empty list of numbers")
    if len(value) > MAX_DISCRETE_VALUES:
        raise r.fail(f"{where}.{key}", f"more than {MAX_DISCRETE_VALUES} values")
    numbers = tuple(
        float(r.typed(v, f"{where}.{key}[{i}]", (int, float), "a number"))
        for i, v in enumerate(value)
    )
    if not all(math.isfinite(v) for v in numbers):
        raise r.fail(f"{where}.{key}", "values must be finite")
    if len(set(numbers)) != len(numbers):
        raise r.fail(f"{where}.{key}", "values must be distinct")
    return numbers


def read_targets(r: SpecReader, value: Any, where: str, section: str) -> tuple[Target, ...]:
    """A section's targets: kinds allowed in ``section``, MET components in pairs."""
    targets = r.sequence(value, where, partial(_target, r))
    allowed = SECTION_KINDS[section]
    for i, t in enumerate(targets):
        if t.kind not in allowed:
            raise r.fail(
                f"{where}[{i}].kind", f"{t.kind!r} is not allowed here; use one of {allowed}"
            )
    pairs: dict[str, set[str]] = {}
    for t in targets:
        if t.kind in ("met_parallel", "met_perpendicular"):
            pairs.setdefault(met_prefix(t.name), set()).add(t.kind)
    for prefix, kinds in pairs.items():
        if kinds != {"met_parallel", "met_perpendicular"}:
            raise r.fail(
                where,
                f"met_parallel and met_perpendicular come together ({prefix}_...: the "
                f"{prefix}_pt/_phi pair)",
            )
    return targets


def read_event_features(r: SpecReader, value: Any, where: str) -> tuple[Feature, ...]:
    """Conditions of an event-level model: event branches or event features only."""
    features = r.sequence(value, where, partial(read_feature, r))
    for i, f in enumerate(features):
        if f.event is None and f.feature not in EVENT_FEATURES:
            raise r.fail(
                f"{where}[{i}]",
                f"event-level conditions take `event:` or `feature:` {EVENT_FEATURES}",
            )
    return features


def read_range(r: SpecReader, value: Any, where: str) -> None:
    """A ``range``: ``[low, high]``, each a finite number or null (no bound), low <= high."""
    if not (isinstance(value, list) and len(value) == 2):
        raise r.fail(where, "expected [low, high] (null for no bound)")
    for i, bound in enumerate(value):
        if bound is not None:
            r.finite(bound, f"{where}[{i}]", "a finite number or null")
    if None not in value and value[0] > value[1]:
        raise r.fail(where, f"low {value[0]} is above high {value[1]}")


def read_ints(r: SpecReader, value: Any, where: str) -> tuple[int, ...]:
    """A non-empty list of integers compared with event data (32-bit: pdgId, status, IDs)."""
    return r.int_list(value, where, minimum=INT32[0], maximum=INT32[1])

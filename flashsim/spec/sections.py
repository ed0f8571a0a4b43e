"""Reading the collection and event sections of a pipeline spec into their typed objects.

One function per part of the YAML (a collection, a condition, a target, the fakes, the event),
each taking the :class:`~flashsim.spec.reader.SpecReader` that keeps the file name for the
messages, and the key path of the part, e.g. ``collections.Jet.targets[3]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from flashsim.spec.reader import INT32, SpecReader
from flashsim.spec.types import (
    DERIVED,
    FEATURE_KINDS,
    TARGET_KINDS,
    CollectionSpec,
    CopySpec,
    EfficiencySpec,
    EventSpec,
    FakesSpec,
    Feature,
    LinkSpec,
    SourceSpec,
    Target,
    ViaSpec,
    met_prefix,
)

__all__ = ["MAX_DISCRETE_VALUES", "MAX_FAKES", "read_collection", "read_event", "read_range"]

MAX_FAKES = 100
"""The largest ``fakes.max_count``: the multiplicity classifier has ``max_count + 1`` classes."""
MAX_DISCRETE_VALUES = 256
"""The most ``categories``, ``point_masses`` or ID ``classes`` values of a target: each is a
class of a classifier."""

_SECTION_KINDS = {
    "collection": ("ratio", "diff", "dphi", "value"),
    "fakes": ("value", "uniform_phi"),
    "event": ("value", "met_parallel", "met_perpendicular"),
}
"""The target kinds each section takes."""
_EVENT_FEATURES = ("n_source", "source_ht")
"""The computed features an event-level model may take as conditions."""
_DTYPES = ("float32", "int32", "int16", "uint8", "bool")
"""The types a target or copied field may be written as."""


def read_collection(r: SpecReader, value: Any, where: str, name: str) -> CollectionSpec:
    """A ``collections.<name>`` section: the generated source, conditions, targets, and
    the models of efficiency, response and fakes."""
    if "_" in name or not name.isidentifier():
        raise r.fail(where, "a collection name is an identifier without '_' (e.g. Jet)")
    d = r.mapping(
        value,
        where,
        ["source", "target", "conditions", "targets", "efficiency", "response"],
        [
            "fakes",
            "constants",
            "charge_from_pdgId",
            "sum_to_one",
            "derived",
            "copy",
            "sources",
            "links",
        ],
    )
    tgt = r.mapping(d["target"], f"{where}.target", ["collection", "match"])
    if tgt["collection"] != name:
        raise r.fail(f"{where}.target.collection", f"must equal the key {name!r}")
    targets = _targets(r, d["targets"], f"{where}.targets", "collection")
    target_names = [t.name for t in targets]
    sum_to_one = r.names(d.get("sum_to_one", []), f"{where}.sum_to_one")
    for member in sum_to_one:
        if member not in target_names:
            raise r.fail(f"{where}.sum_to_one", f"{member!r} is not a target")
    constants = d.get("constants", {})
    if not isinstance(constants, Mapping):
        raise r.fail(f"{where}.constants", "expected a mapping of field: number")
    match = r.typed(tgt["match"], f"{where}.target.match", str, "a field name")
    efficiency = _efficiency(r, d["efficiency"], f"{where}.efficiency")
    charge = r.boolean(d.get("charge_from_pdgId", False), f"{where}.charge_from_pdgId")
    produced = [
        *target_names,
        *([efficiency.class_field] if efficiency.class_field is not None else []),
        *(["charge"] if charge else []),
    ]
    return CollectionSpec(
        name=name,
        source=_source(r, d["source"], f"{where}.source"),
        match=match,
        conditions=r.sequence(d["conditions"], f"{where}.conditions", partial(_feature, r)),
        targets=targets,
        efficiency=efficiency,
        response=r.response(d["response"], f"{where}.response"),
        fakes=_fakes(r, d["fakes"], f"{where}.fakes") if d.get("fakes") else None,
        constants={
            r.name(k, f"{where}.constants"): float(r.finite(v, f"{where}.constants.{k}"))
            for k, v in constants.items()
        },
        charge_from_pdg_id=charge,
        sum_to_one=sum_to_one,
        derived=_derived(r, d.get("derived", []), f"{where}.derived", target_names),
        copy=_copies(r, d.get("copy", []), f"{where}.copy", target_names),
        sources=_sources(r, d.get("sources"), f"{where}.sources", name, match, produced),
        links=_links(r, d.get("links", []), f"{where}.links", target_names),
    )


def _links(r: SpecReader, value: Any, where: str, targets: Sequence[str]) -> tuple[LinkSpec, ...]:
    """``links``: cross-references filled by proximity, ``{field, collection, max_dr}``."""
    if value == []:
        return ()

    def item(v: Any, at: str) -> LinkSpec:
        d = r.mapping(v, at, ["field", "collection", "max_dr"])
        field = r.name(d["field"], f"{at}.field")
        if field in targets:
            raise r.fail(f"{at}.field", f"{field!r} is a target; a field is sampled or linked")
        return LinkSpec(
            field=field,
            collection=r.typed(d["collection"], f"{at}.collection", str, "a collection name"),
            max_dr=float(r.number(d["max_dr"], f"{at}.max_dr", low=0.0, high=10.0, low_open=True)),
        )

    links = r.sequence(value, where, item)
    fields = [link.field for link in links]
    if len(set(fields)) != len(fields):
        raise r.fail(where, "each field is linked once")
    return links


def _sources(
    r: SpecReader, value: Any, where: str, name: str, match: str, produced: Sequence[str]
) -> tuple[CollectionSpec, ...]:
    """``sources``: further generated sources of the collection's objects, ``label: section``.

    Each has its own ``source``, ``match`` (``{field: jetIdx, via: {collection: Jet, field:
    genJetIdx}}``: the reco field linking to the source, directly or through another
    collection), conditions, efficiency, targets and response, and must sample every field the
    section's own objects have (``produced``), so the merged collection has no hole. The
    section's ``match`` field is -1 on these objects, theirs -1 on the others, unless a source
    shares the section's index field (``Electron_genPartIdx`` of a conversion electron points
    to its generated photon: a source of GenPart photons with ``match: {field: genPartIdx}``).
    """
    if value is None:
        return ()
    if not isinstance(value, Mapping) or not value:
        raise r.fail(where, "expected a mapping of name: source section (e.g. jets: {...})")
    sources = []
    for label, section in value.items():
        at = f"{where}.{label}"
        if not isinstance(label, str) or "_" in label or not label.isidentifier():
            raise r.fail(at, "a source name is an identifier without '_' (e.g. jets)")
        if label in ("fakes", "response", "efficiency", "conditions"):
            raise r.fail(at, f"{label!r} names a stage already; choose another source name")
        d = r.mapping(
            section,
            at,
            ["source", "match", "conditions", "targets", "efficiency", "response"],
            ["copy"],
        )
        m = r.mapping(d["match"], f"{at}.match", ["field"], ["via"])
        field = r.name(m["field"], f"{at}.match.field")
        via = None
        if m.get("via") is not None:
            v = r.mapping(m["via"], f"{at}.match.via", ["collection", "field"])
            via = ViaSpec(
                collection=r.typed(v["collection"], f"{at}.match.via.collection", str, "a name"),
                field=r.name(v["field"], f"{at}.match.via.field"),
            )
            if field == match:
                raise r.fail(
                    f"{at}.match.field",
                    f"{match!r} is the section's own index into its source; a source linked "
                    "via another collection writes its own index field (e.g. jetIdx)",
                )
        targets = _targets(r, d["targets"], f"{at}.targets", "collection")
        efficiency = _efficiency(r, d["efficiency"], f"{at}.efficiency")
        has = {t.name for t in targets} | {efficiency.class_field}
        for index in (match, field):
            if index in has:
                raise r.fail(f"{at}.targets", f"{index!r} is an index set by flashsim, not sampled")
        missing = [f for f in produced if f not in has]
        if missing:
            raise r.fail(
                f"{at}.targets",
                f"the section's own {name} objects have {missing}; sample them here too (as "
                "targets, or the ID field as efficiency classes) so every object has them",
            )
        sources.append(
            CollectionSpec(
                name=name,
                label=label,
                source=_source(r, d["source"], f"{at}.source"),
                match=field,
                via=via,
                conditions=r.sequence(d["conditions"], f"{at}.conditions", partial(_feature, r)),
                targets=targets,
                efficiency=efficiency,
                response=r.response(d["response"], f"{at}.response"),
                copy=_copies(r, d.get("copy", []), f"{at}.copy", [t.name for t in targets]),
            )
        )
    return tuple(sources)


def _copies(r: SpecReader, value: Any, where: str, targets: Sequence[str]) -> tuple[CopySpec, ...]:
    """``copy``: reco fields copied from the matched generated object (not targets)."""
    if value == []:
        return ()

    def item(v: Any, at: str) -> CopySpec:
        c = r.mapping(v, at, ["name", "field"], ["dtype"])
        name = r.name(c["name"], f"{at}.name")
        if name in targets:
            raise r.fail(f"{at}.name", f"{name!r} is a target; a field is sampled or copied")
        return CopySpec(
            name=name,
            field=r.typed(c["field"], f"{at}.field", str, "a field name"),
            dtype=r.choice(c.get("dtype", "int32"), f"{at}.dtype", _DTYPES),
        )

    return r.sequence(value, where, item)


def _derived(r: SpecReader, value: Any, where: str, targets: Sequence[str]) -> tuple[str, ...]:
    """``derived``: fields computed from the targets after sampling, each needing its targets."""
    names = r.names(value, where)
    for i, name in enumerate(names):
        r.choice(name, f"{where}[{i}]", list(DERIVED))
        missing = [n for n in DERIVED[name] if n not in targets]
        if missing:
            raise r.fail(f"{where}[{i}]", f"{name!r} needs the targets {missing}")
    return names


def _source(r: SpecReader, value: Any, where: str) -> SourceSpec:
    """``source``: the generated collection, optionally selected by |pdgId| and status."""
    d = r.mapping(value, where, ["collection"], ["pdgId", "status"])
    return SourceSpec(
        collection=r.typed(d["collection"], f"{where}.collection", str, "a name"),
        pdg_id=_ints(r, d["pdgId"], f"{where}.pdgId") if "pdgId" in d else None,
        status=_ints(r, d["status"], f"{where}.status") if "status" in d else None,
    )


def _feature(r: SpecReader, value: Any, where: str) -> Feature:
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
            _ints(r, params[key], at)
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
        dtype=r.choice(d.get("dtype", "float32"), f"{where}.dtype", _DTYPES),
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


def _efficiency(r: SpecReader, value: Any, where: str) -> EfficiencySpec:
    """``efficiency``: xgboost settings and, for a multiclass efficiency, the ID classes."""
    params = r.xgboost(value, where, ["classes"])
    classes = params.pop("classes", None)
    if classes is None:
        return EfficiencySpec(params=params)
    c = r.mapping(classes, f"{where}.classes", ["field", "values"])
    values = _ints(r, c["values"], f"{where}.classes.values")
    if len(values) > MAX_DISCRETE_VALUES:
        raise r.fail(f"{where}.classes.values", f"more than {MAX_DISCRETE_VALUES} classes")
    if len(set(values)) != len(values):
        raise r.fail(f"{where}.classes.values", "values must be distinct")
    return EfficiencySpec(
        params=params,
        class_field=r.typed(c["field"], f"{where}.classes.field", str, "a field name"),
        class_values=values,
    )


def _fakes(r: SpecReader, value: Any, where: str) -> FakesSpec:
    """``fakes``: conditions, targets, multiplicity and response of unmatched objects."""
    d = r.mapping(value, where, ["conditions", "targets", "max_count", "multiplicity", "response"])
    max_count = r.integer(d["max_count"], f"{where}.max_count", minimum=1, maximum=MAX_FAKES)
    return FakesSpec(
        conditions=_event_features(r, d["conditions"], f"{where}.conditions"),
        targets=_targets(r, d["targets"], f"{where}.targets", "fakes"),
        max_count=max_count,
        multiplicity=r.xgboost(d["multiplicity"], f"{where}.multiplicity"),
        response=r.response(d["response"], f"{where}.response"),
    )


def read_event(r: SpecReader, value: Any, where: str) -> EventSpec:
    """The ``event`` section: event-level conditions, targets and their response model."""
    d = r.mapping(value, where, ["conditions", "targets", "response"])
    return EventSpec(
        conditions=_event_features(r, d["conditions"], f"{where}.conditions"),
        targets=_targets(r, d["targets"], f"{where}.targets", "event"),
        response=r.response(d["response"], f"{where}.response"),
    )


def _targets(r: SpecReader, value: Any, where: str, section: str) -> tuple[Target, ...]:
    """A section's targets: kinds allowed in ``section``, MET components in pairs."""
    targets = r.sequence(value, where, partial(_target, r))
    allowed = _SECTION_KINDS[section]
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


def _event_features(r: SpecReader, value: Any, where: str) -> tuple[Feature, ...]:
    """Conditions of an event-level model: event branches or event features only."""
    features = r.sequence(value, where, partial(_feature, r))
    for i, f in enumerate(features):
        if f.event is None and f.feature not in _EVENT_FEATURES:
            raise r.fail(
                f"{where}[{i}]",
                f"event-level conditions take `event:` or `feature:` {_EVENT_FEATURES}",
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


def _ints(r: SpecReader, value: Any, where: str) -> tuple[int, ...]:
    """A non-empty list of integers compared with event data (32-bit: pdgId, status, IDs)."""
    return r.int_list(value, where, minimum=INT32[0], maximum=INT32[1])

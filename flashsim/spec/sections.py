"""Reading the collection and event sections of a pipeline spec into their typed objects.

One function per part of the YAML (a collection, its further sources, links and children, the
fakes, the event; the items they hold, conditions and targets, in :mod:`flashsim.spec.items`),
each taking the :class:`~flashsim.spec.reader.SpecReader` that keeps the file name for the
messages, and the key path of the part, e.g. ``collections.Jet.targets[3]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from flashsim.spec.items import (
    DTYPES,
    MAX_DISCRETE_VALUES,
    read_event_features,
    read_feature,
    read_ints,
    read_targets,
)
from flashsim.spec.reader import SpecReader
from flashsim.spec.types import (
    DERIVED,
    ChildrenSpec,
    CollectionSpec,
    CopySpec,
    EfficiencySpec,
    EventSpec,
    FakesSpec,
    LinkSpec,
    SourceSpec,
    ViaSpec,
)

__all__ = ["MAX_FAKES", "read_collection", "read_event"]

MAX_FAKES = 100
"""The largest ``fakes.max_count``: the multiplicity classifier has ``max_count + 1`` classes."""


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
            "children",
        ],
    )
    tgt = r.mapping(d["target"], f"{where}.target", ["collection", "match"])
    if tgt["collection"] != name:
        raise r.fail(f"{where}.target.collection", f"must equal the key {name!r}")
    targets = read_targets(r, d["targets"], f"{where}.targets", "collection")
    children = _children(r, d["children"], f"{where}.children") if d.get("children") else None
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
        conditions=r.sequence(d["conditions"], f"{where}.conditions", partial(read_feature, r)),
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
        children=children,
    )


def _children(r: SpecReader, value: Any, where: str) -> ChildrenSpec:
    """``children``: ``{collection, index: [subJetIdx1, subJetIdx2], targets, response}``, the
    objects of another collection each object owns (see
    :class:`~flashsim.spec.types.ChildrenSpec`)."""
    d = r.mapping(value, where, ["collection", "index", "targets", "response"])
    collection = r.typed(d["collection"], f"{where}.collection", str, "a collection name")
    if "_" in collection or not collection.isidentifier():
        raise r.fail(f"{where}.collection", "a collection name is an identifier without '_'")
    index = r.names(d["index"], f"{where}.index")
    if not index or len(index) > 8:
        raise r.fail(f"{where}.index", "expected 1 to 8 index fields (subJetIdx1, subJetIdx2)")
    targets = read_targets(r, d["targets"], f"{where}.targets", "collection")
    for i, t in enumerate(targets):
        if t.select_min is not None or t.select_max_abs is not None:
            raise r.fail(
                f"{where}.targets[{i}]", "a child's target takes no select_min/select_max_abs"
            )
    return ChildrenSpec(
        collection=collection,
        index=index,
        targets=targets,
        response=r.response(d["response"], f"{where}.response"),
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
        targets = read_targets(r, d["targets"], f"{at}.targets", "collection")
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
                conditions=r.sequence(
                    d["conditions"], f"{at}.conditions", partial(read_feature, r)
                ),
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
            dtype=r.choice(c.get("dtype", "int32"), f"{at}.dtype", DTYPES),
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
        pdg_id=read_ints(r, d["pdgId"], f"{where}.pdgId") if "pdgId" in d else None,
        status=read_ints(r, d["status"], f"{where}.status") if "status" in d else None,
    )


def _efficiency(r: SpecReader, value: Any, where: str) -> EfficiencySpec:
    """``efficiency``: xgboost settings and, for a multiclass efficiency, the ID classes."""
    params = r.xgboost(value, where, ["classes"])
    classes = params.pop("classes", None)
    if classes is None:
        return EfficiencySpec(params=params)
    c = r.mapping(classes, f"{where}.classes", ["field", "values"])
    values = read_ints(r, c["values"], f"{where}.classes.values")
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
        conditions=read_event_features(r, d["conditions"], f"{where}.conditions"),
        targets=read_targets(r, d["targets"], f"{where}.targets", "fakes"),
        max_count=max_count,
        multiplicity=r.xgboost(d["multiplicity"], f"{where}.multiplicity"),
        response=r.response(d["response"], f"{where}.response"),
    )


def read_event(r: SpecReader, value: Any, where: str) -> EventSpec:
    """The ``event`` section: event-level conditions, targets and their response model."""
    d = r.mapping(value, where, ["conditions", "targets", "response"])
    return EventSpec(
        conditions=read_event_features(r, d["conditions"], f"{where}.conditions"),
        targets=read_targets(r, d["targets"], f"{where}.targets", "event"),
        response=r.response(d["response"], f"{where}.response"),
    )

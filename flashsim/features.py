"""Condition and training tables from awkward events: selection, features, matching.

The flash pipeline works on flat tables, one row per generated object (or per event): this module
turns a chunk of NanoAOD-style events (collections zipped with :func:`flashsim.io.zip_collections`)
into those tables: the selected gen objects (:func:`select_source`), their condition features
(:func:`feature_table`), and for training their reco match and encoded targets
(:func:`collection_table`, :func:`fakes_table`, :func:`event_table`). Targets are expressed
relative to the generated object by :mod:`flashsim.targets` (as in CMS FlashSim,
arXiv:2402.13684), whose functions are importable from here too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import awkward as ak
import numpy as np

from flashsim.branches import met_branches
from flashsim.children import gather_children
from flashsim.exceptions import InputError
from flashsim.neighbours import cone_sums, nearest_neighbours
from flashsim.spec import CollectionSpec, Feature, SourceSpec, Target
from flashsim.targets import (
    cast_values,
    decode_targets,
    encode_targets,
    model_targets,
    normalise_sum,
    wrap_phi,
)

__all__ = [
    "CollectionTable",
    "EventTable",
    "FakesTable",
    "SourceObjects",
    "cast_values",
    "collection_table",
    "concat_tables",
    "decode_targets",
    "encode_targets",
    "event_table",
    "fakes_table",
    "feature_table",
    "met_branches",
    "model_targets",
    "normalise_sum",
    "reco_links",
    "select_source",
    "source_tables",
    "wrap_phi",
]

_NO_NEIGHBOUR_DR = 5.0
"""ΔR given to an object with no neighbour in the collection searched."""


@dataclass(frozen=True)
class SourceObjects:
    """The selected generated objects of a chunk, flattened.

    Attributes:
        objects: the selected objects, jagged (one list per event).
        counts: number of selected objects per event.
        index: for each selected object (flat), its index in its original collection.
        event: for each selected object (flat), its event number in the chunk.
    """

    collection: str
    objects: ak.Array
    counts: np.ndarray
    index: np.ndarray
    event: np.ndarray

    def flat(self, name: str) -> np.ndarray:
        """One field of the selected objects, flattened to float64 numpy."""
        return np.asarray(ak.flatten(self.objects[name], axis=1), dtype=np.float64)


def _collection(events: ak.Array, name: str) -> ak.Array:
    if name not in events.fields:
        have = ", ".join(f for f in events.fields if events[f].ndim > 1) or "none"
        msg = f"the input has no collection {name!r} (n{name}, {name}_*); collections: {have}"
        raise InputError(msg)
    return events[name]


def select_source(events: ak.Array, source: SourceSpec) -> SourceObjects:
    """Select the generated objects a collection is simulated from (by |pdgId| and status)."""
    coll = _collection(events, source.collection)
    mask = ak.ones_like(ak.local_index(coll), dtype=bool)
    if source.pdg_id is not None:
        mask = mask & _isin(abs(coll.pdgId), source.pdg_id)
    if source.status is not None:
        mask = mask & _isin(coll.status, source.status)
    objects = coll[mask]
    counts = np.asarray(ak.num(objects), dtype=np.int64)
    index = np.asarray(ak.flatten(ak.local_index(coll)[mask]), dtype=np.int64)
    event = np.repeat(np.arange(len(counts)), counts)
    return SourceObjects(source.collection, objects, counts, index, event)


def _isin(values: ak.Array, allowed: Sequence[int]) -> ak.Array:
    flat = np.asarray(ak.flatten(values))
    return ak.unflatten(np.isin(flat, allowed), ak.num(values))


def feature_table(
    events: ak.Array,
    features: Sequence[Feature],
    source: SourceObjects | None,
    default_collection: str,
) -> np.ndarray:
    """Compute condition features as a float64 table, one row per object (or per event).

    Arguments:
        events: the chunk, collections zipped.
        features: the spec's conditions.
        source: the selected objects, or ``None`` for event-level features (one row per event).
        default_collection: the collection that ``n_source``, ``source_ht`` and ``nearest_dr``
            refer to when the feature names none.
    """
    n_rows = len(events) if source is None else len(source.index)
    columns = [
        _feature(events, feature, source, default_collection).reshape(n_rows)
        for feature in features
    ]
    return np.stack(columns, axis=1) if columns else np.zeros((n_rows, 0))


def _feature(
    events: ak.Array, feature: Feature, source: SourceObjects | None, default: str
) -> np.ndarray:
    counts = np.ones(len(events), dtype=np.int64) if source is None else source.counts
    if feature.event is not None:
        if feature.event not in events.fields:
            msg = f"the input has no branch {feature.event!r}, needed by condition {feature.name!r}"
            raise InputError(msg)
        values = np.repeat(np.asarray(events[feature.event], dtype=np.float64), counts)
    elif feature.field is not None or feature.flag is not None:
        if source is None:
            msg = f"condition {feature.name!r}: fields and flags need a source collection"
            raise InputError(msg)
        name = feature.field if feature.field is not None else feature.flag[0]
        if name not in source.objects.fields:
            msg = f"the generated objects have no field {name!r}, needed by {feature.name!r}"
            raise InputError(msg)
        raw = np.asarray(ak.flatten(source.objects[name], axis=1))
        if feature.flag is not None:
            raw = (raw.astype(np.int64) >> feature.flag[1]) & 1
        values = raw.astype(np.float64)
    else:
        values = _computed(events, feature, source, default, counts)
    if feature.abs:
        values = np.abs(values)
    if feature.above is not None:
        values = (values > feature.above).astype(np.float64)
    return values


def _computed(
    events: ak.Array,
    feature: Feature,
    source: SourceObjects | None,
    default: str,
    counts: np.ndarray,
) -> np.ndarray:
    kind, params = feature.feature, feature.params
    other_name = params.get("collection", default)
    if kind in ("n_source", "source_ht"):
        other = _collection(events, other_name)
        per_event = ak.num(other) if kind == "n_source" else ak.sum(other.pt, axis=1)
        return np.repeat(np.asarray(per_event, dtype=np.float64), counts)
    if source is None:
        msg = f"condition {feature.name!r}: feature {kind!r} needs a source collection"
        raise InputError(msg)
    objs = source.objects
    eta, phi = _flat(objs.eta), _flat(objs.phi)
    if kind == "cone_sum":
        parts = _collection(events, "GenPart")
        keep = _isin(abs(parts.pdgId), params.get("pdgId", [11, 13])) & (parts.status == 1)
        parts = parts[keep]
        total = cone_sums(
            eta,
            phi,
            source.counts,
            _flat(parts.eta),
            _flat(parts.phi),
            _flat(parts.pt),
            np.asarray(ak.num(parts), dtype=np.int64),
            params.get("radius", 0.4),
        )
        return total / _flat(objs.pt).astype(np.float64)
    other = _collection(events, other_name)
    skip = source.index if other_name == source.collection else None
    dr, which = nearest_neighbours(
        eta,
        phi,
        source.counts,
        _flat(other.eta),
        _flat(other.phi),
        np.asarray(ak.num(other), dtype=np.int64),
        skip,
    )
    if kind == "nearest_dr":
        return np.minimum(dr.astype(np.float64), _NO_NEIGHBOUR_DR)
    nearest_pt = _flat(other.pt)[np.maximum(which, 0)].astype(np.float64)
    ratio = nearest_pt / _flat(objs.pt).astype(np.float64)
    return np.where(which < 0, 0.0, ratio)


def _flat(values: ak.Array) -> np.ndarray:
    return np.asarray(ak.flatten(values, axis=1))


# -- training tables ------------------------------------------------------------------------


TableT = TypeVar("TableT", "CollectionTable", "FakesTable", "EventTable")


def concat_tables(parts: Sequence[TableT]) -> TableT:
    """Join the tables of successive chunks (every field is concatenated along rows)."""
    fields = dataclasses.fields(parts[0])
    return type(parts[0])(
        **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields}
    )


@dataclass(frozen=True)
class CollectionTable:
    """Training rows of one collection: every selected gen object, and its match if any.

    Attributes:
        conditions: (n_gen, n_conditions) raw condition features.
        label: 0 for not reconstructed, else 1 + the index of the reco object's ID class
            (1 when the efficiency has no classes).
        targets: (n_matched, n_targets) encoded targets of the matched objects (``label > 0``).
        event: event number of each gen object (within the files read, for the split).
    """

    conditions: np.ndarray
    label: np.ndarray
    targets: np.ndarray
    event: np.ndarray
    children: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))
    """(n_matched, n_hidden) encoded targets of the matched objects' children (the count, then
    each child's fields, NaN for an absent child), or (0, 0) without ``children``."""


def _gen_values(source: SourceObjects, names: Sequence[str]) -> dict[str, np.ndarray]:
    return {name: source.flat(name) for name in names if name in source.objects.fields}


def reco_links(events: ak.Array, spec: CollectionSpec) -> np.ndarray:
    """For each reco object of ``events[spec.name]`` (flat), the index of the generated object
    in ``spec.source.collection`` it links to (within its event), or -1.

    The link is the reco object's ``match`` field (``Muon_genPartIdx``), or, for a source
    linked ``via`` another collection, that field into the other collection and its ``via``
    field from there (``Electron_jetIdx`` -> ``Jet_genJetIdx``).
    """
    reco = _collection(events, spec.name)
    if spec.match not in reco.fields:
        msg = f"the input has no branch {spec.name}_{spec.match}, needed to build training pairs"
        raise InputError(msg)
    idx = np.asarray(ak.flatten(reco[spec.match]), dtype=np.int64)
    if spec.via is None:
        return idx
    linked = _collection(events, spec.via.collection)
    if spec.via.field not in linked.fields:
        msg = (
            f"the input has no branch {spec.via.collection}_{spec.via.field}, needed to link "
            f"{spec.name} objects to {spec.source.collection} through {spec.via.collection}"
        )
        raise InputError(msg)
    counts = np.asarray(ak.num(linked), dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    reco_event = np.repeat(np.arange(len(events)), np.asarray(ak.num(reco)))
    valid = (idx >= 0) & (idx < counts[reco_event])
    through = np.asarray(ak.flatten(linked[spec.via.field]), dtype=np.int64)
    out = np.full(len(idx), -1, dtype=np.int64)
    out[valid] = through[offsets[reco_event[valid]] + idx[valid]]
    return out


def match_reco(
    events: ak.Array,
    spec: CollectionSpec,
    source: SourceObjects,
    claimed: np.ndarray | None = None,
) -> np.ndarray:
    """For each selected gen object, the flat index of its reco match in ``events[spec.name]``.

    Gen objects without a match get -1.

    A reco object matches when it links to the gen object (:func:`reco_links`: e.g. its
    ``genJetIdx`` points to it) and is not ``claimed`` (flat mask over the reco objects: those
    already matched by an earlier source of the collection); when several point to the same
    one, the first (highest pT) is kept.
    """
    reco = _collection(events, spec.name)
    gen_counts = np.asarray(ak.num(_collection(events, spec.source.collection)), dtype=np.int64)
    gen_offsets = np.concatenate([[0], np.cumsum(gen_counts)])
    position = np.full(gen_offsets[-1], -1, dtype=np.int64)
    position[gen_offsets[source.event] + source.index] = np.arange(len(source.index))
    idx = reco_links(events, spec)
    reco_event = np.repeat(np.arange(len(events)), np.asarray(ak.num(reco)))
    valid = (idx >= 0) & (idx < gen_counts[reco_event])
    if claimed is not None:
        valid &= ~claimed
    target_pos = np.full(len(idx), -1, dtype=np.int64)
    target_pos[valid] = position[gen_offsets[reco_event[valid]] + idx[valid]]
    matched = np.full(len(source.index), -1, dtype=np.int64)
    reco_index = np.flatnonzero(target_pos >= 0)
    # Reverse order so that the first reco object pointing to a gen object wins.
    matched[target_pos[reco_index[::-1]]] = reco_index[::-1]
    return matched


def source_tables(
    events: ak.Array, spec: CollectionSpec, event_offset: int = 0
) -> tuple[dict[str, CollectionTable], np.ndarray]:
    """The training rows of every source of a collection (the section, then its ``sources``),
    keyed by stage name (``Electron``, ``Electron.jets``), and the flat mask of the reco
    objects some source claimed (the others are the fakes, :func:`fakes_table`).

    A source is matched to the reco objects that the sources before it did not claim.
    """
    claimed = np.zeros(int(ak.sum(ak.num(_collection(events, spec.name)))), dtype=bool)
    tables = {}
    for source_spec in spec.all_sources():
        source = select_source(events, source_spec.source)
        matched = match_reco(events, source_spec, source, claimed)
        tables[source_spec.stage] = collection_table(
            events, source_spec, event_offset, source=source, matched=matched
        )
        claimed[matched[matched >= 0]] = True
    return tables, claimed


def collection_table(
    events: ak.Array,
    spec: CollectionSpec,
    event_offset: int = 0,
    *,
    source: SourceObjects | None = None,
    matched: np.ndarray | None = None,
) -> CollectionTable:
    """Build the efficiency and response training rows of one source of a collection from a
    reco chunk (``source`` and ``matched``: its selected gen objects and their matches, if
    already known, see :func:`source_tables`)."""
    source = select_source(events, spec.source) if source is None else source
    conditions = feature_table(events, spec.conditions, source, spec.source.collection)
    matched = match_reco(events, spec, source) if matched is None else matched
    has = matched >= 0
    reco = _collection(events, spec.name)
    reco_flat = {
        name: np.asarray(ak.flatten(reco[name]), dtype=np.float64)[matched[has]]
        for name in reco.fields
    }
    label = has.astype(np.int64)
    if spec.efficiency.class_field is not None:
        values = np.asarray(spec.efficiency.class_values)
        klass = reco_flat[spec.efficiency.class_field].astype(np.int64)
        lookup = {v: i for i, v in enumerate(values.tolist())}
        found = np.array([lookup.get(k, -1) for k in klass.tolist()], dtype=np.int64)
        if np.any(found < 0):
            bad = sorted(set(klass.tolist()) - set(values.tolist()))
            msg = (
                f"{spec.name}_{spec.efficiency.class_field} takes values {bad} not listed in the "
                f"spec's efficiency.classes.values {values.tolist()}; add them to the spec"
            )
            raise InputError(msg)
        label[has] = found + 1
    hidden = spec.children.hidden_targets() if spec.children is not None else ()
    gen = _gen_values(source, [t.gen_field for t in (*spec.targets, *hidden)])
    gen = {k: v[has] for k, v in gen.items()}
    targets = encode_targets(spec.targets, reco_flat, gen)
    if spec.children is not None:  # the children's targets: their number, their fields
        owned = gather_children(events, spec.name, spec.children)
        owned = {name: values[matched[has]] for name, values in owned.items()}
        children = encode_targets(hidden, owned, gen)
        return CollectionTable(conditions, label, targets, source.event + event_offset, children)
    return CollectionTable(conditions, label, targets, source.event + event_offset)


@dataclass(frozen=True)
class FakesTable:
    """Per-event fake (unmatched) multiplicity and the properties of each fake object."""

    conditions: np.ndarray
    count: np.ndarray
    targets: np.ndarray
    event: np.ndarray


def fakes_table(
    events: ak.Array,
    spec: CollectionSpec,
    event_offset: int = 0,
    claimed: np.ndarray | None = None,
) -> FakesTable:
    """Reco objects of ``spec`` not used as a gen match: counts and properties.

    These are the objects that no source of the collection claimed (``claimed``, from
    :func:`source_tables`; computed if not given): with no gen match (``match`` < 0), or that
    lost a shared gen match to a higher-pT object (see :func:`match_reco`); together with the
    matched objects they are every reconstructed object.
    """
    assert spec.fakes is not None
    reco = _collection(events, spec.name)
    used = source_tables(events, spec)[1] if claimed is None else claimed
    # Reco objects without a gen match, or whose gen object is matched to another one first.
    unmatched = reco[~ak.unflatten(used, ak.num(reco))]
    count = np.asarray(ak.num(unmatched), dtype=np.int64)
    conditions = feature_table(events, spec.fakes.conditions, None, spec.source.collection)
    reco_flat = {
        n: np.asarray(ak.flatten(unmatched[n]), dtype=np.float64) for n in unmatched.fields
    }
    targets = encode_targets(spec.fakes.targets, reco_flat, reco_flat)
    event = np.arange(len(events)) + event_offset
    return FakesTable(conditions, count, targets, event)


@dataclass(frozen=True)
class EventTable:
    """One row per event: event-level conditions and encoded targets."""

    conditions: np.ndarray
    targets: np.ndarray
    event: np.ndarray


def event_gen_values(events: ak.Array) -> dict[str, np.ndarray]:
    """The event-level generator quantities that event targets are relative to."""
    return {
        name: np.asarray(events[name], dtype=np.float64)
        for name in ("GenMET_pt", "GenMET_phi")
        if name in events.fields
    }


def event_table(
    events: ak.Array,
    conditions: Sequence[Feature],
    targets: Sequence[Target],
    default: str,
    event_offset: int = 0,
) -> EventTable:
    """Event-level training rows (MET relative to gen MET, rho, vertices)."""
    cond = feature_table(events, conditions, None, default)
    reco = {
        f: np.asarray(events[f], dtype=np.float64) for f in events.fields if events[f].ndim == 1
    }
    encoded = encode_targets(targets, reco, event_gen_values(events))
    return EventTable(cond, encoded, np.arange(len(events)) + event_offset)

"""The trained stages of one collection, applied to a chunk of generated events.

For each selected gen object: conditions -> efficiency (kept or not, and its ID class) ->
response (the reconstructed quantities, sampled above the reconstruction thresholds); then the
unmatched (fake) objects of each event, if the collection has a fakes stage; then the objects
below a target's cuts are dropped, and the objects of each event sorted by pT.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import awkward as ak
import numpy as np

from flashsim.branches import fake_targets, is_relative
from flashsim.children import split_children
from flashsim.domain import DomainGuard, check_transformed
from flashsim.exceptions import InputError
from flashsim.features import (
    SourceObjects,
    cast_values,
    encode_targets,
    feature_table,
    normalise_sum,
    select_source,
)
from flashsim.nanoaod import derive
from flashsim.neighbours import nearest_neighbours, offsets
from flashsim.pipeline.thresholds import has_cut, passes_cuts, sample_above_thresholds
from flashsim.preprocessing import TablePreprocessor
from flashsim.spec import CollectionSpec, LinkSpec, Target
from flashsim.stages import EfficiencyStage, FakesStage, ResponseStage

__all__ = [
    "ChildrenModel",
    "CollectionModel",
    "charge_from_pdg_id",
    "linked_index",
    "nearest_index",
    "replicate_source",
    "response_context",
]

_NEGATIVE_PARTICLES = (11, 13, 15)  # e-, mu-, tau- have positive pdgId; hadrons the opposite


def response_context(conditions: np.ndarray, outcome: np.ndarray, classes: bool) -> np.ndarray:
    """The response model's context: the conditions, plus the ID class when there are classes."""
    if not classes:
        return np.asarray(conditions, dtype=np.float32)
    klass = (outcome - 1).astype(np.float32)[:, None]
    return np.concatenate([conditions, klass], axis=1).astype(np.float32)


@dataclass
class ChildrenModel:
    """The second step of a collection with ``children`` (a FatJet's subjets): their response,
    conditioned on the parent's response context and on its sampled targets (encoded relative
    to the generated object, then preprocessed by ``context``)."""

    context: TablePreprocessor
    response: ResponseStage

    def sample(
        self,
        spec: CollectionSpec,
        context: np.ndarray,
        fields: Mapping[str, np.ndarray],
        gen: Mapping[str, np.ndarray],
        rng: np.random.Generator,
    ) -> dict[str, np.ndarray]:
        """The children's hidden targets (count, each child's fields) of sampled parents."""
        assert spec.children is not None
        parent = self.context.forward(encode_targets(spec.targets, fields, gen))
        full = np.concatenate([context, parent], axis=1).astype(np.float32)
        hidden = spec.children.hidden_targets()
        return sample_above_thresholds(self.response, hidden, full, gen, rng)


@dataclass
class CollectionModel:
    """The trained stages of one collection: of its own source, its fakes, and of each of its
    further ``sources`` (themselves :class:`CollectionModel` without fakes, keyed by label)."""

    spec: CollectionSpec
    conditions: TablePreprocessor
    efficiency: EfficiencyStage
    response: ResponseStage
    fakes: FakesStage | None = None
    fake_conditions: TablePreprocessor | None = None
    sources: dict[str, CollectionModel] = field(default_factory=dict)
    children: ChildrenModel | None = None

    def apply(
        self,
        events: ak.Array,
        rng: np.random.Generator,
        guard: DomainGuard | None = None,
        replicas: int = 1,
        index_dtype: type[np.signedinteger] = np.int16,
        done: Mapping[str, ak.Array] | None = None,
    ) -> tuple[ak.Array, dict[str, int]]:
        """Simulate the collection for a chunk; returns (jagged records sorted by pT, counters).

        The collection only: :meth:`apply_collections` also returns its ``children``.
        """
        outputs, counters = self.apply_collections(events, rng, guard, replicas, index_dtype, done)
        return outputs[self.spec.name], counters

    def apply_collections(
        self,
        events: ak.Array,
        rng: np.random.Generator,
        guard: DomainGuard | None = None,
        replicas: int = 1,
        index_dtype: type[np.signedinteger] = np.int16,
        done: Mapping[str, ak.Array] | None = None,
    ) -> tuple[dict[str, ak.Array], dict[str, int]]:
        """Simulate the collection for a chunk; returns (the collection, and its children's if
        the spec has ``children``, as jagged records by name; counters). The collection's
        objects are sorted by pT, its children in the order of their parents.

        ``guard`` applies the out-of-domain policy to the conditions (default: clamp).
        ``replicas``: simulate each event this many times (consecutive output events); the
        features are computed once and their rows repeated, in the order the replicated events
        would give them, so the output equals that of the replicated events.
        ``index_dtype``: the type of the match index into the source collection (NanoAOD's
        Short_t unless the run's object cap allows more, see
        :meth:`flashsim.domain.InputPolicy.index_dtype`).
        ``done``: the collections simulated before, for a source linked ``via`` one of them
        (its objects' index into it: ``Electron_jetIdx``, -1 when the generated jet gave no
        flash jet).

        Raises:
            InputError: an index into the source collection does not fit ``index_dtype``
                (never silently wrapped).
        """
        spec = self.spec
        n_events = len(events) * replicas
        guard = guard if guard is not None else DomainGuard("clamp", n_events)
        fields, event, generated = self._simulate(events, rng, guard, replicas, index_dtype)
        parts = [(fields, event)]
        counters = {"generated": generated, "reconstructed": len(event)}
        if self.fakes is not None and self.fake_conditions is not None and spec.fakes is not None:
            raw_fake = feature_table(events, spec.fakes.conditions, None, spec.source.collection)
            raw_fake = np.repeat(raw_fake, replicas, axis=0)
            raw_fake = guard(self.fake_conditions, raw_fake, None, f"{spec.name}.fakes")
            fake_conditions = self.fake_conditions.forward(raw_fake)
            check_transformed(
                fake_conditions, raw_fake, self.fake_conditions.names, f"{spec.name}.fakes"
            )
            counts = self.fakes.counts(fake_conditions, rng)
            fake = sample_above_thresholds(
                self.fakes.response,
                spec.fakes.targets,
                np.repeat(fake_conditions, counts, axis=0),
                {},
                rng,
            )
            fake[spec.match] = np.full(int(counts.sum()), -1, dtype=index_dtype)
            parts.append((fake, np.repeat(np.arange(n_events), counts)))
        for label, model in self.sources.items():
            fields, event, generated = model._simulate(
                events, rng, guard, replicas, index_dtype, done or {}
            )
            parts.append((fields, event))
            counters[f"{label}.generated"] = generated
            counters[f"{label}.reconstructed"] = len(event)
        indices = [s.match for s in spec.all_sources()]
        merged, event = _merge(parts, indices)
        targets = [t for s in spec.all_sources() for t in s.targets]
        merged, event = _select(merged, event, [*targets, *fake_targets(spec)], counters)
        for link in spec.links:
            merged[link.field] = _linked(merged, event, link, done or {}, index_dtype)
        for name, value in spec.constants.items():
            merged[name] = np.full(len(event), value, dtype=np.float32)
        normalise_sum(merged, spec.sum_to_one)
        derive(spec.derived, merged)
        order = _pt_order(merged, event)
        merged, event = {k: v[order] for k, v in merged.items()}, event[order]
        if spec.children is None:
            return {spec.name: _jagged(merged, event, n_events, sort=False)}, counters
        merged, children, child_event = split_children(merged, event, spec.children, index_dtype)
        counters[spec.children.collection] = len(child_event)
        return {
            spec.name: _jagged(merged, event, n_events, sort=False),
            spec.children.collection: _jagged(children, child_event, n_events, sort=False),
        }, counters

    def _simulate(
        self,
        events: ak.Array,
        rng: np.random.Generator,
        guard: DomainGuard,
        replicas: int,
        index_dtype: type[np.signedinteger],
        done: Mapping[str, ak.Array] | None = None,
    ) -> tuple[dict[str, np.ndarray], np.ndarray, int]:
        """The objects of this source (efficiency, then response): their fields, output event
        and the number of generated objects."""
        spec = self.spec
        source = select_source(events, spec.source)
        if spec.via is None:  # else the index written is into the linked collection
            into = spec.source.collection
            _check_index(source.index, index_dtype, f"{spec.name}_{spec.match}", into)
        raw = feature_table(events, spec.conditions, source, spec.source.collection)
        if replicas > 1:
            source, rows = replicate_source(source, replicas)
            raw = raw[rows]
        raw = guard(self.conditions, raw, source.event, spec.stage)
        conditions = self.conditions.forward(raw)
        check_transformed(conditions, raw, self.conditions.names, spec.stage)
        outcome = self.efficiency.apply(conditions, rng)
        keep = outcome > 0
        classes = spec.efficiency.class_field is not None
        context = response_context(conditions[keep], outcome[keep], classes)
        hidden = spec.children.hidden_targets() if spec.children is not None else ()
        relative = {t.gen_field for t in (*spec.targets, *hidden) if is_relative(t)}
        gen = {name: source.flat(name)[keep] for name in relative}
        fields = sample_above_thresholds(self.response, spec.targets, context, gen, rng)
        if self.children is not None:
            fields.update(self.children.sample(spec, context, fields, gen, rng))
        if classes:
            values = np.asarray(spec.efficiency.class_values)
            klass = values[outcome[keep] - 1]
            # a 0/1 ID flag is a Bool_t in NanoAOD (Muon_tightId), a level a UChar_t (cutBased)
            flag = set(spec.efficiency.class_values) <= {0, 1}
            fields[spec.efficiency.class_field] = klass > 0 if flag else klass.astype(np.uint8)
        event = source.event[keep]
        if spec.via is None:
            fields[spec.match] = source.index[keep].astype(index_dtype)
        else:
            linked = (done or {}).get(spec.via.collection)
            if linked is None:
                msg = (
                    f"{spec.stage} is linked through {spec.via.collection}, which was not "
                    "simulated before it; put that collection's section first in the spec"
                )
                raise InputError(msg)
            fields[spec.match] = linked_index(
                linked, spec.via.field, event, source.index[keep]
            ).astype(index_dtype)
        for copy in spec.copy:  # truth labels of the matched gen object (fakes get 0)
            fields[copy.name] = cast_values(source.flat(copy.field)[keep], copy.dtype)
        if spec.charge_from_pdg_id:
            fields["charge"] = charge_from_pdg_id(source.flat("pdgId")[keep])
        return fields, event, len(outcome)


def _linked(
    fields: Mapping[str, np.ndarray],
    event: np.ndarray,
    link: LinkSpec,
    done: Mapping[str, ak.Array],
    index_dtype: type[np.signedinteger],
) -> np.ndarray:
    """A ``links`` field: as a source set it, else the nearest object within ``max_dr``."""
    current = fields.get(link.field)
    index = np.full(len(event), -1, dtype=index_dtype) if current is None else current
    linked = done.get(link.collection)
    if linked is None:
        msg = f"{link.field} links to {link.collection}, which was not simulated before"
        raise InputError(msg)
    unset = index < 0
    near = nearest_index(linked, event[unset], fields["eta"][unset], fields["phi"][unset])
    dr, which = near
    index = index.copy()
    index[unset] = np.where(dr < link.max_dr, which, -1).astype(index.dtype)
    return index


def nearest_index(
    linked: ak.Array, event: np.ndarray, eta: np.ndarray, phi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For objects of ``event`` at (``eta``, ``phi``), the ΔR to the nearest object of
    ``linked`` (one list per event) and its index within the event (``inf``, -1 for none)."""
    order = np.argsort(event, kind="stable")
    counts = np.bincount(np.asarray(event, dtype=np.int64), minlength=len(linked))
    other_counts = np.asarray(ak.num(linked), dtype=np.int64)
    dr, which = nearest_neighbours(
        np.asarray(eta)[order],
        np.asarray(phi)[order],
        counts,
        np.asarray(ak.flatten(linked.eta)),
        np.asarray(ak.flatten(linked.phi)),
        other_counts,
    )
    local = np.where(which >= 0, which - offsets(other_counts)[np.asarray(event)[order]], -1)
    out_dr = np.full(len(event), np.inf)
    out_index = np.full(len(event), -1, dtype=np.int64)
    out_dr[order], out_index[order] = dr, local
    return out_dr, out_index


def linked_index(
    linked: ak.Array, field_name: str, event: np.ndarray, gen_index: np.ndarray
) -> np.ndarray:
    """For objects of ``event`` made from generated object ``gen_index``, the index of the
    object of ``linked`` (one list per event) whose ``field_name`` is that generated object,
    or -1 (the flash jet of a generated jet, for ``Electron_jetIdx``)."""
    counts = np.asarray(ak.num(linked), dtype=np.int64)
    points = np.asarray(ak.flatten(linked[field_name]), dtype=np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    local = np.arange(len(points)) - np.repeat(np.cumsum(counts) - counts, counts)
    width = int(max(points.max(initial=0), np.max(gen_index, initial=0))) + 1
    valid = points >= 0
    keys = owner[valid] * width + points[valid]
    order = np.argsort(keys, kind="stable")
    keys, local = keys[order], local[valid][order]
    query = np.asarray(event, dtype=np.int64) * width + np.asarray(gen_index, dtype=np.int64)
    if len(keys) == 0:
        return np.full(len(query), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[at] == query, local[at], -1)


def _check_index(index: np.ndarray, dtype: type[np.signedinteger], branch: str, into: str) -> None:
    """Refuse an index that ``dtype`` cannot hold (the object caps normally prevent it)."""
    limit = np.iinfo(dtype).max
    if len(index) and int(index.max()) > limit:
        msg = (
            f"{into} index {int(index.max())} does not fit {branch} ({np.dtype(dtype).name}, "
            f"at most {limit}); set the cap of {into} with --max-objects {into}=N (above "
            f"{np.iinfo(np.int16).max}, index branches into {into} are written as Int_t)"
        )
        raise InputError(msg)


def charge_from_pdg_id(pdg_id: np.ndarray) -> np.ndarray:
    """Electric charge of charged leptons (e, mu, tau) and of pi+-, K+-, p from their pdgId."""
    pdg = np.asarray(pdg_id)
    sign = np.sign(pdg).astype(np.int32)
    return np.where(np.isin(np.abs(pdg), _NEGATIVE_PARTICLES), -sign, sign).astype(np.int32)


def replicate_source(source: SourceObjects, replicas: int) -> tuple[SourceObjects, np.ndarray]:
    """The selected objects of each event repeated ``replicas`` times (replicas of an event
    consecutive), and for each new row the row of ``source`` it repeats."""
    n_events = len(source.counts)
    first = np.concatenate([[0], np.cumsum(source.counts)[:-1]]).astype(np.int64)
    counts = np.repeat(source.counts, replicas)
    starts = np.repeat(first, replicas)
    event = np.repeat(np.arange(n_events * replicas), counts)
    rows = np.arange(len(event)) - np.repeat(np.cumsum(counts) - counts, counts) + starts[event]
    objects = source.objects[np.repeat(np.arange(n_events), replicas)]
    expanded = SourceObjects(source.collection, objects, counts, source.index[rows], event)
    return expanded, rows


def _merge(
    parts: list[tuple[dict[str, np.ndarray], np.ndarray]], indices: Iterable[str] = ()
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The objects of every source and the fakes as one table: a field only some parts have
    is 0 in the others, or -1 for the ``indices`` (the sources' match fields: an object of one
    source has no index into another's generated collection)."""
    if len(parts) == 1:
        return parts[0]
    indices = set(indices)
    names = list(dict.fromkeys(name for fields, _ in parts for name in fields))
    merged = {}
    for name in names:
        dtype = next(f[name].dtype for f, _ in parts if name in f)
        fill = -1 if name in indices else 0
        merged[name] = np.concatenate(
            [f[name] if name in f else np.full(len(e), fill, dtype=dtype) for f, e in parts]
        )
    return merged, np.concatenate([e for _, e in parts])


def _select(
    fields: dict[str, np.ndarray],
    event: np.ndarray,
    targets: Iterable[Target],
    counters: dict[str, int],
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Drop objects outside a target's ``select_min``/``select_max_abs`` (the reco threshold
    and acceptance), counting them."""
    keep = np.ones(len(event), dtype=bool)
    for target in targets:
        if has_cut(target) and target.name in fields:
            keep &= passes_cuts(target, fields[target.name])
    counters["below_threshold"] = int((~keep).sum())
    return {k: v[keep] for k, v in fields.items()}, event[keep]


def _pt_order(fields: Mapping[str, np.ndarray], event: np.ndarray) -> np.ndarray:
    """The order that groups objects by event, by decreasing pT within an event."""
    pt = fields.get("pt", np.zeros(len(event)))
    return np.lexsort((-np.asarray(pt), event))


def _jagged(
    fields: Mapping[str, np.ndarray], event: np.ndarray, n_events: int, *, sort: bool = True
) -> ak.Array:
    """One list of objects per event, sorted by decreasing pT (or in the given order, grouped
    by event, without ``sort``)."""
    order = _pt_order(fields, event) if sort else np.arange(len(event))
    counts = np.bincount(event, minlength=n_events)
    flat = ak.zip({k: v[order] for k, v in fields.items()}, depth_limit=1)
    return ak.unflatten(flat, counts)

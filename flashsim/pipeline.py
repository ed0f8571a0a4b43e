"""A trained pipeline: per collection efficiency -> response (-> fakes), then event quantities.

The data path of ``flashsim run`` for one chunk of generated events::

    gen chunk ──select──▶ conditions ──efficiency──▶ kept objects ──response──▶ reco quantities
                                                                   └─ fakes ──▶ unmatched objects

A :class:`Pipeline` holds no state between chunks: all randomness comes from the generator passed
to :meth:`Pipeline.apply`, so it can be pickled and shipped to any executor.

Example:
    >>> from flashsim.bundle import load_bundle  # doctest: +SKIP
    >>> pipeline = load_bundle("models/cms_like")  # doctest: +SKIP
    >>> reco = pipeline.apply(events, np.random.default_rng(1))  # doctest: +SKIP
    >>> reco["Jet"].pt  # doctest: +SKIP
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from flashsim.domain import (
    OUT_OF_DOMAIN_BRANCH,
    OUT_OF_DOMAIN_COUNTER,
    DomainGuard,
    InputPolicy,
)
from flashsim.exceptions import InputError
from flashsim.features import (
    SourceObjects,
    cast_values,
    decode_targets,
    event_gen_values,
    feature_table,
    normalise_sum,
    select_source,
)
from flashsim.io import check_branch_layout
from flashsim.nanoaod import derive
from flashsim.preprocessing import TablePreprocessor
from flashsim.spec import CollectionSpec, EventSpec, Feature, PipelineSpec, Target
from flashsim.stages import EfficiencyStage, FakesStage, ResponseStage
from flashsim.stages.pid import PROBE_PREFIX, PidModel

__all__ = [
    "CollectionModel",
    "EventModel",
    "Pipeline",
    "check_finite",
    "check_full_simulation_layout",
    "gen_branches",
    "gen_event_level_branches",
    "id_flag_branches",
    "reco_branches",
    "response_context",
]

_INDEX_DTYPE = np.int16
_DEFAULT_EVENT_COLLECTION = "GenJet"


def response_context(conditions: np.ndarray, outcome: np.ndarray, classes: bool) -> np.ndarray:
    """The response model's context: the conditions, plus the ID class when there are classes."""
    if not classes:
        return np.asarray(conditions, dtype=np.float32)
    klass = (outcome - 1).astype(np.float32)[:, None]
    return np.concatenate([conditions, klass], axis=1).astype(np.float32)


@dataclass
class CollectionModel:
    """The trained stages of one collection."""

    spec: CollectionSpec
    conditions: TablePreprocessor
    efficiency: EfficiencyStage
    response: ResponseStage
    fakes: FakesStage | None = None
    fake_conditions: TablePreprocessor | None = None

    def apply(
        self,
        events: ak.Array,
        rng: np.random.Generator,
        guard: DomainGuard | None = None,
        replicas: int = 1,
    ) -> tuple[ak.Array, dict[str, int]]:
        """Simulate the collection for a chunk; returns (jagged records sorted by pT, counters).

        ``guard`` applies the out-of-domain policy to the conditions (default: clamp).
        ``replicas``: simulate each event this many times (consecutive output events); the
        features are computed once and their rows repeated, in the order the replicated events
        would give them, so the output equals that of the replicated events.
        """
        spec = self.spec
        n_events = len(events) * replicas
        guard = guard if guard is not None else DomainGuard("clamp", n_events)
        source = select_source(events, spec.source)
        raw = feature_table(events, spec.conditions, source, spec.source.collection)
        if replicas > 1:
            source, rows = replicate_source(source, replicas)
            raw = raw[rows]
        raw = guard(self.conditions, raw, source.event, spec.name)
        conditions = self.conditions.forward(raw)
        outcome = self.efficiency.apply(conditions, rng)
        keep = outcome > 0
        classes = spec.efficiency.class_field is not None
        context = response_context(conditions[keep], outcome[keep], classes)
        gen = {t.name: source.flat(t.name)[keep] for t in spec.targets if _relative(t)}
        fields = sample_above_thresholds(self.response, spec.targets, context, gen, rng)
        if classes:
            values = np.asarray(spec.efficiency.class_values)
            klass = values[outcome[keep] - 1]
            # a 0/1 ID flag is a Bool_t in NanoAOD (Muon_tightId), a level a UChar_t (cutBased)
            flag = set(spec.efficiency.class_values) <= {0, 1}
            fields[spec.efficiency.class_field] = klass > 0 if flag else klass.astype(np.uint8)
        fields[spec.match] = source.index[keep].astype(_INDEX_DTYPE)
        for copy in spec.copy:  # truth labels of the matched gen object (fakes get 0)
            fields[copy.name] = cast_values(source.flat(copy.field)[keep], copy.dtype)
        if spec.charge_from_pdg_id:
            fields["charge"] = charge_from_pdg_id(source.flat("pdgId")[keep])
        event = source.event[keep]
        parts = [(fields, event)]
        if self.fakes is not None and self.fake_conditions is not None and spec.fakes is not None:
            raw_fake = feature_table(events, spec.fakes.conditions, None, spec.source.collection)
            raw_fake = np.repeat(raw_fake, replicas, axis=0)
            raw_fake = guard(self.fake_conditions, raw_fake, None, f"{spec.name}.fakes")
            fake_conditions = self.fake_conditions.forward(raw_fake)
            counts = self.fakes.counts(fake_conditions, rng)
            fake = sample_above_thresholds(
                self.fakes.response,
                spec.fakes.targets,
                np.repeat(fake_conditions, counts, axis=0),
                {},
                rng,
            )
            fake[spec.match] = np.full(int(counts.sum()), -1, dtype=_INDEX_DTYPE)
            parts.append((fake, np.repeat(np.arange(n_events), counts)))
        merged, event = _merge(parts)
        for name, value in spec.constants.items():
            merged[name] = np.full(len(event), value, dtype=np.float32)
        counters = {"generated": len(outcome), "reconstructed": int(keep.sum())}
        merged, event = _select(merged, event, [*spec.targets, *_fake_targets(spec)], counters)
        normalise_sum(merged, spec.sum_to_one)
        derive(spec.derived, merged)
        return _jagged(merged, event, n_events), counters


_NEGATIVE_PARTICLES = (11, 13, 15)  # e-, mu-, tau- have positive pdgId; hadrons the opposite


def charge_from_pdg_id(pdg_id: np.ndarray) -> np.ndarray:
    """Electric charge of charged leptons (e, mu, tau) and of pi+-, K+-, p from their pdgId."""
    pdg = np.asarray(pdg_id)
    sign = np.sign(pdg).astype(np.int32)
    return np.where(np.isin(np.abs(pdg), _NEGATIVE_PARTICLES), -sign, sign).astype(np.int32)


MAX_RESAMPLING_ROUNDS = 20
"""Rounds of rejection sampling for objects sampled below a reconstruction threshold."""

RESAMPLING_ROWS = 128
"""Rows per rejection-sampling round worth one call of the model: when fewer objects are left
below threshold, each is drawn several times at once (at most :data:`MAX_COPIES`). A call of
the default muon flow costs about 0.8 ms however few its rows (the time of some 70 rows), and
the last rounds hold one or two objects."""

MAX_COPIES = 64
"""Most candidates drawn at once for one object in a rejection-sampling round."""


def sample_above_thresholds(
    response: ResponseStage,
    targets: Sequence[Target],
    context: np.ndarray,
    gen: Mapping[str, np.ndarray],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Sample and decode the targets, resampling the rows below a target's ``select_min``.

    The efficiency stage gives P(reconstructed above threshold), and the response model was
    trained on objects above threshold, so the right distribution is the model's truncated at the
    threshold: rows that fall below are drawn again (rejection sampling). A round draws several
    independent candidates per row left (about one over the last round's acceptance rate, and
    more when few rows are left, see :data:`RESAMPLING_ROWS`) and keeps each row's first
    candidate above threshold, which is a draw of the same truncated distribution. Rows still
    below after :data:`MAX_RESAMPLING_ROUNDS` stay, and are dropped and counted by the caller.
    """
    fields = decode_targets(targets, response.apply(context, rng), gen, rng)
    cuts = [t for t in targets if _has_cut(t)]
    if not cuts:
        return fields
    above = _above(fields, cuts)
    rate = above.mean() if len(above) else 1.0
    for _ in range(MAX_RESAMPLING_ROUNDS):
        rows = np.flatnonzero(~above)
        if len(rows) == 0:
            break
        # Enough candidates for about one acceptance per row at the last round's rate, and
        # enough rows for the call to be worth it.
        wanted = max(-(-RESAMPLING_ROWS // len(rows)), math.ceil(1.0 / max(rate, 1e-3)))
        copies = min(MAX_COPIES, wanted)
        drawn = np.repeat(rows, copies)  # a row's candidates are consecutive
        again = decode_targets(
            targets, response.apply(context[drawn], rng), {k: v[drawn] for k, v in gen.items()}, rng
        )
        accepted = _above(again, cuts).reshape(len(rows), copies)
        rate = accepted.mean()
        # The first accepted candidate of each row (or its first, still below, if none is).
        pick = np.arange(len(rows)) * copies + np.argmax(accepted, axis=1)
        for name, values in again.items():
            fields[name][rows] = values[pick]
        above[rows] = accepted.any(axis=1)
    return fields


def _has_cut(target: Target) -> bool:
    return target.select_min is not None or target.select_max_abs is not None


def _passes(target: Target, values: np.ndarray) -> np.ndarray:
    """Whether each value passes the target's reconstruction cuts (``select_min``,
    ``select_max_abs``: the acceptance, e.g. |eta| < 4.7 for jets)."""
    ok = np.ones(len(values), dtype=bool)
    if target.select_min is not None:
        ok &= values >= target.select_min
    if target.select_max_abs is not None:
        ok &= np.abs(values) <= target.select_max_abs
    return ok


def _above(fields: Mapping[str, np.ndarray], cuts: Sequence[Target]) -> np.ndarray:
    above = np.ones(len(fields[cuts[0].name]), dtype=bool)
    for target in cuts:
        above &= _passes(target, fields[target.name])
    return above


def _relative(target: Target) -> bool:
    return target.kind in ("ratio", "diff", "dphi")


def _fake_targets(spec: CollectionSpec) -> tuple[Target, ...]:
    return spec.fakes.targets if spec.fakes is not None else ()


def _merge(
    parts: list[tuple[dict[str, np.ndarray], np.ndarray]],
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    if len(parts) == 1:
        return parts[0]
    names = list(dict.fromkeys(name for fields, _ in parts for name in fields))
    merged = {}
    for name in names:
        dtype = next(f[name].dtype for f, _ in parts if name in f)
        merged[name] = np.concatenate(
            [f[name] if name in f else np.zeros(len(e), dtype=dtype) for f, e in parts]
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
        if _has_cut(target) and target.name in fields:
            keep &= _passes(target, fields[target.name])
    counters["below_threshold"] = int((~keep).sum())
    return {k: v[keep] for k, v in fields.items()}, event[keep]


def _jagged(fields: Mapping[str, np.ndarray], event: np.ndarray, n_events: int) -> ak.Array:
    pt = fields.get("pt", np.zeros(len(event)))
    order = np.lexsort((-np.asarray(pt), event))
    counts = np.bincount(event, minlength=n_events)
    flat = ak.zip({k: v[order] for k, v in fields.items()}, depth_limit=1)
    return ak.unflatten(flat, counts)


@dataclass
class EventModel:
    """The trained event-level stage (MET, rho, number of vertices)."""

    spec: EventSpec
    conditions: TablePreprocessor
    response: ResponseStage

    def apply(
        self,
        events: ak.Array,
        rng: np.random.Generator,
        guard: DomainGuard | None = None,
        replicas: int = 1,
    ) -> dict[str, np.ndarray]:
        """Event-level branches for a chunk (``guard``: the out-of-domain policy, default clamp;
        ``replicas``: as in :meth:`CollectionModel.apply`)."""
        guard = guard if guard is not None else DomainGuard("clamp", len(events) * replicas)
        raw = feature_table(events, self.spec.conditions, None, _DEFAULT_EVENT_COLLECTION)
        raw = guard(self.conditions, np.repeat(raw, replicas, axis=0), None, "event")
        encoded = self.response.apply(self.conditions.forward(raw), rng)
        gen = {k: np.repeat(v, replicas) for k, v in event_gen_values(events).items()}
        return decode_targets(self.spec.targets, encoded, gen, rng)


@dataclass
class Pipeline:
    """A trained flash-simulation pipeline (see :func:`flashsim.bundle.load_bundle`)."""

    spec: PipelineSpec
    collections: dict[str, CollectionModel]
    event: EventModel | None = None
    pid: PidModel | None = None

    def apply(
        self,
        events: ak.Array,
        rng: np.random.Generator,
        policy: InputPolicy | None = None,
        replicas: int = 1,
    ) -> tuple[dict[str, np.ndarray | ak.Array], dict[str, dict[str, int]]]:
        """Simulate a chunk of generated events (collections zipped, see ``zip_collections``).

        Arguments:
            events: the chunk's generator-level events.
            rng: the chunk's random stream.
            policy: the input policies (default: the spec's ``inputs:``); only its
                ``out_of_domain`` applies here (non-finite inputs are the caller's to remove,
                see :func:`flashsim.domain.non_finite_events`).
            replicas: simulate each event this many times (``--oversample``): the replicas of
                an event are consecutive output events. The gen-side work (selection,
                features) is done once; the output equals that of the replicated events.

        Returns:
            the reconstructed branches (collections as jagged records, event-level branches as
            arrays), ready for :meth:`flashsim.io.NanoAODWriter.extend`, and counters: per
            collection (generated, reconstructed, below threshold), and under
            ``out_of_domain`` the objects per stage whose conditions were outside the training
            domain. Under ``out_of_domain: flag`` the branches include
            :data:`~flashsim.domain.OUT_OF_DOMAIN_BRANCH`.

        Raises:
            InputError: a condition is outside the domain under ``out_of_domain: error``, or the
                models produced non-finite values (extrapolating under ``flag``).
        """
        policy = policy if policy is not None else self.spec.input_policy
        if replicas < 1:
            msg = f"replicas must be >= 1, got {replicas}"
            raise ValueError(msg)
        guard = DomainGuard(policy.out_of_domain, len(events) * replicas)
        out: dict[str, np.ndarray | ak.Array] = {}
        counters: dict[str, dict[str, int]] = {}
        for name, model in self.collections.items():
            out[name], counters[name] = model.apply(events, rng, guard, replicas)
        if self.event is not None:
            out.update(self.event.apply(events, rng, guard, replicas))
        check_finite(out, policy.out_of_domain)
        if self.pid is not None:
            if replicas > 1:
                events = events[np.repeat(np.arange(len(events)), replicas)]
            name = self.pid.spec.collection
            objects = out[name]
            source = self.spec.collections[name].source.collection
            match = self.spec.collections[name].match
            gen_pdg = events[source].pdgId[objects[match]]
            flat = {k: v for k, v in out.items() if isinstance(v, np.ndarray)}
            out[name], branches, pid_counters = self.pid.apply(
                events, objects, np.asarray(ak.flatten(gen_pdg)), rng, flat, guard
            )
            out.update(branches)
            counters[f"{name}.pid"] = pid_counters
        counters[OUT_OF_DOMAIN_COUNTER] = dict(guard.counts)
        if policy.out_of_domain == "flag":
            out[OUT_OF_DOMAIN_BRANCH] = guard.flagged.astype(np.uint8)
        return out, counters

    def required_branches(self) -> list[str]:
        """The generator-level branches the pipeline reads (without counters)."""
        return gen_branches(self.spec)

    def event_level_branches(self) -> set[str]:
        """The branches of :meth:`required_branches` that hold one number per event (the
        others are fields of a collection: one list per event, with a counter ``nX``)."""
        return gen_event_level_branches(self.spec)

    def passthrough(self, available: Iterable[str]) -> list[str]:
        """The input branches copied to the output: the spec's patterns, with their counters."""
        names = list(available)
        keep = {n for n in names for p in self.spec.passthrough if fnmatch.fnmatchcase(n, p)}
        produced = set(self.collections)
        keep = {n for n in keep if n.partition("_")[0] not in produced}
        counters = {f"n{n.partition('_')[0]}" for n in keep if "_" in n}
        return sorted(keep | (counters & set(names)))

    def input_branches(self, available: Iterable[str]) -> list[str]:
        """Every branch ``flashsim run`` reads: the needed ones, their counters and the
        pass-through branches (of those in ``available``)."""
        names = set(available)
        needed = self.required_branches()
        counters = {f"n{b.partition('_')[0]}" for b in needed} & names
        return sorted(set(needed) | set(self.passthrough(names)) | counters)


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


def gen_branches(spec: PipelineSpec) -> list[str]:
    """The generator-level branches a pipeline of ``spec`` reads (without counters)."""
    needed: set[str] = set()
    for coll_spec in spec.collections.values():
        coll = coll_spec.source.collection
        fields = {"pt", "eta", "phi"} | {t.name for t in coll_spec.targets if _relative(t)}
        fields |= {c.field for c in coll_spec.copy}
        if coll_spec.source.pdg_id is not None or coll_spec.charge_from_pdg_id:
            fields.add("pdgId")
        if coll_spec.source.status is not None:
            fields.add("status")
        conditions = list(coll_spec.conditions)
        if coll_spec.fakes is not None:
            conditions += coll_spec.fakes.conditions
        needed |= {f"{coll}_{f}" for f in fields}
        needed |= _feature_branches(conditions, coll)
    if spec.pid is not None:
        needed.add(f"{spec.collections[spec.pid.collection].source.collection}_pdgId")
        collection_fields = {f"{PROBE_PREFIX}{f}" for f in ("p", "pt", "eta", "phi")}
        occupancy = spec.pid.occupancy[0] if spec.pid.occupancy else None
        simulated = {t.name for t in spec.event.targets} if spec.event is not None else set()
        needed |= {
            c.column
            for c in spec.pid.conditions
            if c.column != occupancy
            and not c.column.startswith(PROBE_PREFIX)
            and c.column not in collection_fields
            and c.column not in simulated
        }
    if spec.event is not None:
        needed |= _feature_branches(spec.event.conditions, _DEFAULT_EVENT_COLLECTION)
        if any(t.kind.startswith("met_") for t in spec.event.targets):
            needed |= {"GenMET_pt", "GenMET_phi"}
    return sorted(needed)


def reco_branches(spec: PipelineSpec) -> list[str]:
    """The reconstructed-collection fields that training and validation read from a
    full-simulation file: each target, the match index and the ID class (jagged)."""
    names: set[str] = set()
    for name, coll_spec in spec.collections.items():
        fields = {t.name for t in coll_spec.targets} | {coll_spec.match}
        if coll_spec.fakes is not None:
            fields |= {t.name for t in coll_spec.fakes.targets if t.kind != "uniform_phi"}
        if coll_spec.efficiency.class_field is not None:
            fields.add(coll_spec.efficiency.class_field)
        names |= {f"{name}_{f}" for f in fields}
    return sorted(names)


def id_flag_branches(spec: PipelineSpec) -> list[str]:
    """The reconstructed ID-class fields (``Muon_tightId``) and ``dtype: bool`` targets
    (``Muon_looseId``): booleans in NanoAOD, allowed so."""
    flags = {
        f"{name}_{c.efficiency.class_field}"
        for name, c in spec.collections.items()
        if c.efficiency.class_field is not None
    }
    for name, c in spec.collections.items():
        flags |= {f"{name}_{t.name}" for t in [*c.targets, *_fake_targets(c)] if t.dtype == "bool"}
    return sorted(flags)


def check_full_simulation_layout(tree: Any, spec: PipelineSpec) -> None:
    """Check the types and shapes of what training and validation read from a
    full-simulation file (:func:`flashsim.io.check_branch_layout`): the gen branches of
    :func:`gen_branches` and the reco fields of :func:`reco_branches`, ID flags may be boolean.

    Raises:
        InputError: naming the branch, what it holds and what is expected.
    """
    check_branch_layout(
        tree,
        gen_branches(spec) + reco_branches(spec),
        gen_event_level_branches(spec),
        (),
        booleans=id_flag_branches(spec),
    )


def gen_event_level_branches(spec: PipelineSpec) -> set[str]:
    """The branches of :func:`gen_branches` with one number per event (the others are fields
    of a collection: one list per event, with a counter ``nX``)."""
    features: list[Feature] = []
    for coll_spec in spec.collections.values():
        features += coll_spec.conditions
        if coll_spec.fakes is not None:
            features += coll_spec.fakes.conditions
    if spec.event is not None:
        features += spec.event.conditions
    flat = {f.event for f in features if f.event is not None}
    if spec.event is not None and any(t.kind.startswith("met_") for t in spec.event.targets):
        flat |= {"GenMET_pt", "GenMET_phi"}
    if spec.pid is not None:
        flat |= {c.column for c in spec.pid.conditions} & set(gen_branches(spec))
    return flat


def check_finite(branches: Mapping[str, np.ndarray | ak.Array], out_of_domain: str) -> None:
    """Refuse to write non-finite values that the models produced (never a silent NaN).

    Raises:
        InputError: naming the branch and the count, and what to do.
    """
    for name, values in branches.items():
        array = values if isinstance(values, ak.Array) else ak.Array(np.asarray(values))
        for field_name in array.fields or [""]:
            column = array[field_name] if field_name else array
            flat = np.asarray(ak.flatten(column, axis=None))
            if flat.dtype.kind != "f":
                continue
            bad = int((~np.isfinite(flat)).sum())
            if bad:
                branch = f"{name}_{field_name}" if field_name else name
                hint = (
                    "conditions outside the training domain were passed as given "
                    "(--out-of-domain flag); use --out-of-domain clamp"
                    if out_of_domain == "flag"
                    else "the model bundle may be corrupted; retrain it or report a bug"
                )
                msg = f"the models produced {bad} non-finite value(s) for {branch}: {hint}"
                raise InputError(msg)


def _feature_branches(features: Iterable[Feature], collection: str) -> set[str]:
    needed: set[str] = set()
    for f in features:
        if f.event is not None:
            needed.add(f.event)
        elif f.field is not None:
            needed.add(f"{collection}_{f.field}")
        elif f.flag is not None:
            needed.add(f"{collection}_{f.flag[0]}")
        elif f.feature == "cone_sum":
            needed |= {f"GenPart_{x}" for x in ("pt", "eta", "phi", "pdgId", "status")}
        else:
            other = f.params.get("collection", collection)
            needed |= {f"{other}_pt", f"{other}_eta", f"{other}_phi"}
    return needed

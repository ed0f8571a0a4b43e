"""The branch contract of a pipeline spec: which branches it reads, and which it writes.

NanoAOD names a field ``f`` of collection ``X`` as the jagged branch ``X_f`` with the counter
``nX``; event-level quantities are flat branches (``Pileup_nTrueInt``, ``GenMET_pt``).

Reads
    :func:`gen_branches` (the generator-level inputs of ``flashsim run``, per collection and
    event section, without counters) and :func:`gen_event_level_branches` (those of them with one
    number per event); :func:`passthrough_branches` (copied to the output by the spec's
    ``passthrough`` patterns), :func:`input_branches` (everything ``flashsim run`` reads) and
    :func:`input_layout` (how each needed branch is laid out).
    Training and validation also read the reconstructed fields of a full-simulation file:
    :func:`reco_branches`, :func:`id_flag_branches`, :func:`training_branches`, checked by
    :func:`check_full_simulation_layout`.

Writes
    :func:`collection_fields` (per simulated object: targets, ID class, match index, copies of
    gen fields, charge, constants, derived fields, PID variables), :func:`event_branches`
    (event-level targets, PID occupancy) and :func:`output_branches` (all of them as branch
    names, with the counters and the pass-through branches).

Example:
    >>> from flashsim.bundle import default_model_path, load_bundle  # doctest: +SKIP
    >>> spec = load_bundle(default_model_path()).spec  # doctest: +SKIP
    >>> gen_branches(spec)[:3]  # doctest: +SKIP
    ['GenElectron_eta', 'GenElectron_pdgId', 'GenElectron_phi']
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from typing import Any

from flashsim.io import check_branch_layout
from flashsim.spec import CollectionSpec, Feature, PipelineSpec, Target, met_prefix

__all__ = [
    "DEFAULT_EVENT_COLLECTION",
    "PROBE_PREFIX",
    "check_full_simulation_layout",
    "collection_fields",
    "collection_of",
    "counter_branch",
    "event_branches",
    "fake_targets",
    "feature_branches",
    "gen_branches",
    "gen_event_level_branches",
    "id_flag_branches",
    "input_branches",
    "input_layout",
    "is_relative",
    "met_branches",
    "output_branches",
    "passthrough_branches",
    "reco_branches",
    "target_branches",
    "training_branches",
    "written_collections",
]

DEFAULT_EVENT_COLLECTION = "GenJet"
"""The collection that event-level features (HT, object counts) read unless they name one."""

MET_GEN_BRANCHES = ("GenMET_pt", "GenMET_phi")
"""The generator MET that ``met_parallel``/``met_perpendicular`` targets are relative to."""

SOURCE_FIELDS = ("pt", "eta", "phi")
"""The fields of every gen source object that a pipeline reads."""

PROBE_PREFIX = "probe_"
"""Calibration columns ``probe_X`` are the PID collection's field ``X`` at run time."""


# -- naming ----------------------------------------------------------------------------------


def collection_of(branch: str) -> str:
    """The collection prefix of a branch name: ``Jet_pt`` -> ``Jet`` (``run`` -> ``run``)."""
    return branch.partition("_")[0]


def counter_branch(collection: str) -> str:
    """The counter branch of a collection: ``Jet`` -> ``nJet``."""
    return f"n{collection}"


# -- targets ---------------------------------------------------------------------------------


def is_relative(target: Target) -> bool:
    """Whether a target is sampled relative to its gen object's field of the same name
    (``ratio``, ``diff``, ``dphi``), which is then read from the gen source."""
    return target.kind in ("ratio", "diff", "dphi")


def fake_targets(spec: CollectionSpec) -> tuple[Target, ...]:
    """The targets of a collection's unmatched (fake) objects; none without a fakes section."""
    return spec.fakes.targets if spec.fakes is not None else ()


def met_branches(target: Target) -> tuple[str, str]:
    """The (pt, phi) branches of a ``met_parallel``/``met_perpendicular`` target: its name's
    prefix before the last ``_`` (``MET_upar`` -> ``MET_pt``, ``MET_phi``; ``PuppiMET_uperp``
    -> ``PuppiMET_pt``, ``PuppiMET_phi``)."""
    prefix = met_prefix(target.name)
    return f"{prefix}_pt", f"{prefix}_phi"


def target_branches(targets: Iterable[Target]) -> list[str]:
    """The names the targets are written as, in order: a target's name, or for a
    ``met_parallel``/``met_perpendicular`` pair their ``pt`` and ``phi`` branches (once)."""
    names: dict[str, None] = {}
    for t in targets:
        if t.kind in ("met_parallel", "met_perpendicular"):
            names.update(dict.fromkeys(met_branches(t)))
        else:
            names[t.name] = None
    return list(names)


# -- reads -----------------------------------------------------------------------------------


def feature_branches(features: Iterable[Feature], collection: str) -> set[str]:
    """The branches condition ``features`` read, for objects of ``collection``."""
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
            needed |= {f"{other}_{x}" for x in SOURCE_FIELDS}
    return needed


def _has_met_targets(spec: PipelineSpec) -> bool:
    return spec.event is not None and any(t.kind.startswith("met_") for t in spec.event.targets)


def gen_branches(spec: PipelineSpec) -> list[str]:
    """The generator-level branches a pipeline of ``spec`` reads (without counters)."""
    needed: set[str] = set()
    for section in spec.collections.values():
        if section.fakes is not None:
            needed |= feature_branches(section.fakes.conditions, section.source.collection)
        for coll_spec in section.all_sources():
            coll = coll_spec.source.collection
            fields = set(SOURCE_FIELDS)
            fields |= {t.gen_field for t in coll_spec.targets if is_relative(t)}
            fields |= {c.field for c in coll_spec.copy}
            if coll_spec.source.pdg_id is not None or coll_spec.charge_from_pdg_id:
                fields.add("pdgId")
            if coll_spec.source.status is not None:
                fields.add("status")
            needed |= {f"{coll}_{f}" for f in fields}
            needed |= feature_branches(coll_spec.conditions, coll)
    if spec.pid is not None:
        needed.add(f"{spec.collections[spec.pid.collection].source.collection}_pdgId")
        collection_fields = {f"{PROBE_PREFIX}{f}" for f in ("p", *SOURCE_FIELDS)}
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
        needed |= feature_branches(spec.event.conditions, DEFAULT_EVENT_COLLECTION)
        if _has_met_targets(spec):
            needed |= set(MET_GEN_BRANCHES)
    return sorted(needed)


def gen_event_level_branches(spec: PipelineSpec) -> set[str]:
    """The branches of :func:`gen_branches` with one number per event (the others are fields
    of a collection: one list per event, with a counter ``nX``)."""
    features: list[Feature] = []
    for coll_spec in spec.collections.values():
        features += [c for source in coll_spec.all_sources() for c in source.conditions]
        if coll_spec.fakes is not None:
            features += coll_spec.fakes.conditions
    if spec.event is not None:
        features += spec.event.conditions
    flat = {f.event for f in features if f.event is not None}
    if _has_met_targets(spec):
        flat |= set(MET_GEN_BRANCHES)
    if spec.pid is not None:
        flat |= {c.column for c in spec.pid.conditions} & set(gen_branches(spec))
    return flat


def passthrough_branches(spec: PipelineSpec, available: Iterable[str]) -> list[str]:
    """The input branches copied to the output: those of ``available`` matching the spec's
    ``passthrough`` patterns, but no field of a collection the pipeline simulates, with the
    counters of the collections they belong to."""
    names = list(available)
    keep = {n for n in names for p in spec.passthrough if fnmatch.fnmatchcase(n, p)}
    keep = {n for n in keep if collection_of(n) not in spec.collections}
    counters = {counter_branch(collection_of(n)) for n in keep if "_" in n}
    return sorted(keep | (counters & set(names)))


def input_branches(spec: PipelineSpec, available: Iterable[str]) -> list[str]:
    """Every branch ``flashsim run`` reads: the needed ones, their counters and the
    pass-through branches (of those in ``available``)."""
    names = set(available)
    needed = gen_branches(spec)
    counters = {counter_branch(collection_of(b)) for b in needed} & names
    return sorted(set(needed) | set(passthrough_branches(spec, names)) | counters)


def input_layout(spec: PipelineSpec) -> dict[str, str]:
    """The branches ``flashsim run`` needs and how each is laid out: ``flat`` (one number per
    event, :func:`gen_event_level_branches`), ``jagged`` (a collection field) or ``counter``
    (the ``nX`` of a collection read)."""
    flat = gen_event_level_branches(spec)
    layout: dict[str, str] = {}
    for name in gen_branches(spec):
        if name in flat:
            layout[name] = "flat"
        else:
            layout[name] = "jagged"
            layout[counter_branch(collection_of(name))] = "counter"
    return layout


def reco_branches(spec: PipelineSpec) -> list[str]:
    """The reconstructed-collection fields that training and validation read from a
    full-simulation file: each target, the match index and the ID class (jagged)."""
    names: set[str] = set()
    for name, coll_spec in spec.collections.items():
        fields = {t.name for t in fake_targets(coll_spec) if t.kind != "uniform_phi"}
        for source in coll_spec.all_sources():
            fields |= {t.name for t in source.targets} | {source.match}
            if source.efficiency.class_field is not None:
                fields.add(source.efficiency.class_field)
            if source.via is not None:
                names.add(f"{source.via.collection}_{source.via.field}")
        children = coll_spec.children
        if children is not None:
            fields |= set(children.index)
            names |= {f"{children.collection}_{t.name}" for t in children.targets}
        names |= {f"{name}_{f}" for f in fields}
    return sorted(names)


def id_flag_branches(spec: PipelineSpec) -> list[str]:
    """The reconstructed ID-class fields (``Muon_tightId``) and ``dtype: bool`` targets
    (``Muon_looseId``): booleans in NanoAOD, allowed so."""
    flags = {
        f"{name}_{s.efficiency.class_field}"
        for name, c in spec.collections.items()
        for s in c.all_sources()
        if s.efficiency.class_field is not None
    }
    for name, c in spec.collections.items():
        targets = [*(t for s in c.all_sources() for t in s.targets), *fake_targets(c)]
        flags |= {f"{name}_{t.name}" for t in targets if t.dtype == "bool"}
    return sorted(flags)


def training_branches(spec: PipelineSpec, available: Sequence[str]) -> list[str]:
    """The branches of a full-simulation file that training reads (of ``available``).

    Every field of the collections the spec touches (the gen sources, the reco collections and
    those the condition features read, with their counters), the event-level conditions and
    targets, and the weight column. A real NanoAOD file has about 1,500 branches (trigger bits,
    other collections); reading only these is what makes training on one practical.
    """
    names = set(available)
    needed = set(gen_branches(spec))
    collections = {
        s.source.collection for c in spec.collections.values() for s in c.all_sources()
    } | set(written_collections(spec))
    collections |= {collection_of(b) for b in needed if counter_branch(collection_of(b)) in names}
    keep = {b for b in names if "_" in b and collection_of(b) in collections}
    keep |= {counter_branch(c) for c in collections} | needed
    if spec.event is not None:
        keep |= {t.name for t in spec.event.targets if t.kind == "value"}
        for t in spec.event.targets:
            if t.kind.startswith("met_"):
                keep |= set(met_branches(t))
    if spec.weight is not None:
        keep.add(spec.weight.column)
    return sorted(keep & names)


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


# -- writes ----------------------------------------------------------------------------------


def collection_fields(spec: PipelineSpec, name: str) -> list[str]:
    """The fields of each simulated object of collection ``name``, in the order written.

    The targets, the ID class (``efficiency.classes``), the match index (-1 for fakes), the
    copies of gen fields, ``charge`` (``charge_from_pdg_id``), then the fakes' targets not
    already there, each further source's index (``Electron_jetIdx``) and copies, the
    ``links``, the constants, the derived fields, and the PID variables when the ``pid``
    section simulates this collection.
    """
    if name not in spec.collections:  # the children of a collection (FatJet's SubJet)
        owner = next(c for c in spec.collections.values() if _children_name(c) == name)
        assert owner.children is not None
        return target_branches(owner.children.targets)
    coll = spec.collections[name]
    fields = dict.fromkeys(target_branches(coll.targets))
    if coll.efficiency.class_field is not None:
        fields[coll.efficiency.class_field] = None
    fields[coll.match] = None
    fields.update(dict.fromkeys(c.name for c in coll.copy))
    if coll.charge_from_pdg_id:
        fields["charge"] = None
    fields.update(dict.fromkeys(target_branches(fake_targets(coll))))
    for source in coll.sources:  # their targets are the section's; their index and copies
        if source.efficiency.class_field is not None:
            fields[source.efficiency.class_field] = None
        fields.update(dict.fromkeys(target_branches(source.targets)))
        fields[source.match] = None
        fields.update(dict.fromkeys(c.name for c in source.copy))
    fields.update(dict.fromkeys(link.field for link in coll.links))
    if coll.children is not None:
        fields.update(dict.fromkeys(coll.children.index))
    fields.update(dict.fromkeys(coll.constants))
    fields.update(dict.fromkeys(coll.derived))
    if spec.pid is not None and spec.pid.collection == name:
        if spec.pid.is_muon is not None:
            fields[spec.pid.is_muon.name] = None
        fields.update(dict.fromkeys(c.name for c in spec.pid.targets))
    return list(fields)


def _children_name(coll: CollectionSpec) -> str | None:
    return coll.children.collection if coll.children is not None else None


def written_collections(spec: PipelineSpec) -> list[str]:
    """The collections a pipeline writes: each section's, then its children's (``SubJet``)."""
    names = []
    for name, coll in spec.collections.items():
        names.append(name)
        if coll.children is not None:
            names.append(coll.children.collection)
    return names


def event_branches(spec: PipelineSpec) -> list[str]:
    """The event-level branches a pipeline writes: the event section's targets (MET as its
    ``pt`` and ``phi``) and the PID occupancy count."""
    names = target_branches(spec.event.targets) if spec.event is not None else []
    if spec.pid is not None and spec.pid.occupancy is not None:
        names.append(spec.pid.occupancy[0])
    return names


def output_branches(spec: PipelineSpec, available: Iterable[str] = ()) -> list[str]:
    """Every branch the pipeline writes for an input with branches ``available``: each
    simulated collection's counter and fields, the event-level branches and the pass-through
    branches. ``flashsim run`` adds its bookkeeping branches to these (the out-of-domain flag
    under ``--out-of-domain flag``, the gen entry and replica number under ``--oversample``)."""
    names = set(event_branches(spec)) | set(passthrough_branches(spec, available))
    for name in written_collections(spec):
        names.add(counter_branch(name))
        names |= {f"{name}_{f}" for f in collection_fields(spec, name)}
    return sorted(names)

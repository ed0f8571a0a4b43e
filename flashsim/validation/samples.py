"""Reading a flash and a full-simulation file into the arrays the validation compares.

Both files are read the same way: the training-style tables of every collection of the pipeline
spec (:mod:`flashsim.features`: generator conditions, whether each gen object is reconstructed,
the encoded targets of the matched ones), the unmatched (fake) objects, the event-level targets,
every reconstructed object's own branches, and derived event quantities.

Oversampled flash files (``flashsim run --oversample K``) hold K replicas of each gen event,
grouped by the ``FlashSim_genEntry`` branch. Replicas are correlated, so every statistical error
of the validation is computed with the gen event, not the output event, as the independent unit
(:attr:`ValidationSample.groups`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from flashsim.branches import check_full_simulation_layout
from flashsim.exceptions import InputError
from flashsim.features import (
    CollectionTable,
    EventTable,
    FakesTable,
    collection_table,
    concat_tables,
    event_table,
    fakes_table,
)
from flashsim.io import (
    missing_field,
    open_events,
    read_entries,
    zip_collections,
)
from flashsim.run import REPLICA_BRANCH, SOURCE_BRANCH
from flashsim.spec import PipelineSpec

__all__ = [
    "ValidationSample",
    "check_compatible",
    "common_branches",
    "numeric_branch",
    "read_branch",
    "read_sample",
]

_LEPTONS = ("Muon", "Electron")


@dataclass(eq=False)
class ValidationSample:
    """What the validation needs of one file.

    Attributes:
        path: the file.
        n_events: events read (output events: replicas count separately).
        groups: per event, the id of its gen event (``FlashSim_genEntry`` if oversampled, else
            the entry number); the independent unit of every statistical error.
        replica: per event, which replica of its gen event it is (0 if not oversampled).
        tables: per collection of the spec, its :class:`~flashsim.features.CollectionTable`
            (``event`` is the entry number in this file).
        fakes: per collection with fakes, its :class:`~flashsim.features.FakesTable`.
        event: the event-level table, if the spec has an event section.
        reco: per collection, every numeric branch of its reconstructed objects, flattened, and
            ``"_event"``: the entry number of each object.
        derived: per event, quantities computed from the reconstructed objects (leading dijet
            mass, dilepton mass, MET); NaN where undefined.
        provenance: the flashsim provenance record, if the file has one.
    """

    path: Path
    n_events: int
    groups: np.ndarray
    replica: np.ndarray
    tables: dict[str, CollectionTable]
    fakes: dict[str, FakesTable]
    event: EventTable | None
    reco: dict[str, dict[str, np.ndarray]]
    derived: dict[str, np.ndarray]
    provenance: dict[str, Any] | None = None
    branches: frozenset[str] = field(default_factory=frozenset)

    @property
    def n_replicas(self) -> int:
        """Replicas per gen event (1 unless the file is oversampled)."""
        return int(self.replica.max()) + 1 if self.replica.size else 1

    @property
    def n_gen_events(self) -> int:
        """Distinct gen events (the independent events)."""
        return int(np.unique(self.groups).size)


def _numeric(array: ak.Array) -> bool:
    layout = ak.to_layout(array)
    while hasattr(layout, "content"):
        layout = layout.content
    return hasattr(layout, "dtype") and layout.dtype.kind in "biuf"


def _pair_mass(objects: ak.Array) -> ak.Array:
    """Invariant mass of the two leading objects of each event (None with fewer than two)."""
    import vector

    vector.register_awkward()
    p4 = ak.zip(
        {"pt": objects.pt, "eta": objects.eta, "phi": objects.phi, "mass": objects.mass},
        with_name="Momentum4D",
    )
    p4 = p4[ak.argsort(p4.pt, ascending=False)]
    two = ak.pad_none(p4, 2)[:, :2]
    return (two[:, 0] + two[:, 1]).mass


def derived_quantities(events: ak.Array) -> dict[str, np.ndarray]:
    """Event quantities built from the reconstructed objects; NaN where undefined.

    * ``mjj``: mass of the two leading jets with pT > 30 GeV;
    * ``mll``: mass of the two leading same-flavour, opposite-charge leptons (muons first);
    * ``MET_pt``, ``HT`` (scalar sum of jet pT > 30 GeV) and ``nJet30``.
    """
    out: dict[str, np.ndarray] = {}
    fields = set(events.fields)

    def flat(x: ak.Array) -> np.ndarray:
        return np.asarray(ak.fill_none(x, np.nan), dtype=np.float64)

    if "Jet" in fields and {"pt", "eta", "phi", "mass"} <= set(events.Jet.fields):
        jets = events.Jet[events.Jet.pt > 30]
        out["mjj"] = flat(_pair_mass(jets))
        out["HT"] = np.asarray(ak.sum(jets.pt, axis=1), dtype=np.float64)
        out["nJet30"] = np.asarray(ak.num(jets), dtype=np.float64)
    mll = np.full(len(events), np.nan)
    for name in reversed(_LEPTONS):  # muons overwrite electrons where both form a pair
        if name not in fields or not {"pt", "eta", "phi", "charge"} <= set(events[name].fields):
            continue
        leptons = events[name]
        if "mass" not in leptons.fields:
            leptons = ak.with_field(leptons, leptons.pt * 0.0, "mass")
        leptons = leptons[ak.argsort(leptons.pt, ascending=False)]
        two = ak.pad_none(leptons, 2)[:, :2]
        opposite = ak.fill_none(two[:, 0].charge * two[:, 1].charge < 0, False)
        mass = flat(_pair_mass(leptons))
        mll = np.where(np.asarray(opposite) & np.isfinite(mass), mass, mll)
    if any(n in fields for n in _LEPTONS):
        out["mll"] = mll
    if "MET_pt" in fields:
        out["MET_pt"] = np.asarray(events.MET_pt, dtype=np.float64)
    return out


def _reco_branches(events: ak.Array, names: Sequence[str], offset: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        if name not in events.fields:
            continue
        objects = events[name]
        values = {
            f: np.asarray(ak.flatten(objects[f]), dtype=np.float64)
            for f in objects.fields
            if not f.endswith("Idx") and _numeric(objects[f])
        }
        values["_event"] = np.repeat(np.arange(len(events)) + offset, ak.num(objects))
        out[name] = values
    return out


def _concat_dicts(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not parts:
        return {}
    keys = set.intersection(*(set(p) for p in parts))
    return {k: np.concatenate([p[k] for p in parts]) for k in sorted(keys)}


def read_sample(
    path: str | os.PathLike[str],
    spec: PipelineSpec,
    *,
    collections: Sequence[str] | None = None,
    max_events: int | None = None,
    step_size: int = 20_000,
    role: str = "input",
) -> ValidationSample:
    """Read one file for the validation (see :class:`ValidationSample`).

    Arguments:
        path: a flash or full-simulation ROOT file with gen and reco branches.
        spec: the pipeline spec that says what the collections and targets are.
        collections: only these collections of the spec (default: all).
        max_events: read at most this many events.
        step_size: events per chunk read.
        role: ``"flash"`` or ``"full"``, for error messages.
    Raises:
        InputError: the file is unreadable, empty, or lacks a collection or branch the spec
            needs (the message names them).
    """
    from flashsim.io import read_provenance

    file_path = Path(path)
    names = list(collections) if collections is not None else list(spec.collections)
    unknown = [n for n in names if n not in spec.collections]
    if unknown:
        msg = f"collections {unknown} are not in pipeline {spec.name!r} ({list(spec.collections)})"
        raise InputError(msg)
    specs = [spec.collections[n] for n in names]
    tree = open_events(file_path)
    try:
        keys = frozenset(tree.keys())
        check_full_simulation_layout(tree, spec)
        entries = tree.num_entries if max_events is None else min(tree.num_entries, max_events)
        if entries == 0:
            msg = f"{role} file {file_path} has no events; nothing to validate"
            raise InputError(msg)
        for s in specs:
            for branch in (f"n{s.name}", f"n{s.source.collection}", f"{s.name}_{s.match}"):
                if branch not in keys:
                    msg = (
                        f"{role} file {file_path} has no branch {branch!r}, needed to validate "
                        f"collection {s.name!r}; pass --collections to validate only those both "
                        "files have, or check that it is a flash/full-simulation file with gen "
                        "branches"
                    )
                    raise InputError(msg)
        groups, replica = [], []
        tables: dict[str, list[CollectionTable]] = {s.name: [] for s in specs}
        fakes: dict[str, list[FakesTable]] = {s.name: [] for s in specs if s.fakes is not None}
        event_parts: list[EventTable] = []
        reco_parts: dict[str, list[dict[str, np.ndarray]]] = {s.name: [] for s in specs}
        derived_parts: list[dict[str, np.ndarray]] = []
        default = specs[0].source.collection if specs else "GenJet"
        for start in range(0, entries, step_size):
            stop = min(start + step_size, entries)
            events = zip_collections(read_entries(tree, None, start, stop))
            n = stop - start
            if SOURCE_BRANCH in keys:
                groups.append(np.asarray(events[SOURCE_BRANCH], dtype=np.int64))
                replica.append(np.asarray(events[REPLICA_BRANCH], dtype=np.int64))
            else:
                groups.append(np.arange(start, stop, dtype=np.int64))
                replica.append(np.zeros(n, dtype=np.int64))
            for s in specs:
                tables[s.name].append(collection_table(events, s, start))
                if s.fakes is not None:
                    fakes[s.name].append(fakes_table(events, s, start))
            if spec.event is not None and collections is None:
                event_parts.append(
                    event_table(events, spec.event.conditions, spec.event.targets, default, start)
                )
            for name, values in _reco_branches(events, names, start).items():
                reco_parts[name].append(values)
            derived_parts.append(derived_quantities(events))
    except KeyError as err:
        msg = f"{role} file {file_path} lacks a branch the pipeline needs: {err}"
        raise InputError(msg) from err
    except AttributeError as err:
        if (field := missing_field(err)) is None:
            raise
        msg = f"{role} file {file_path} lacks a field {field!r} that the pipeline reads"
        raise InputError(msg) from err
    except ValueError as err:  # tables of a collection with no objects at all
        msg = f"{role} file {file_path}: too few objects to validate ({err})"
        raise InputError(msg) from err
    finally:
        tree.file.close()
    try:
        provenance = read_provenance(file_path)
    except InputError:
        provenance = None
    return ValidationSample(
        path=file_path,
        n_events=entries,
        groups=np.concatenate(groups),
        replica=np.concatenate(replica),
        tables={k: concat_tables(v) for k, v in tables.items()},
        fakes={k: concat_tables(v) for k, v in fakes.items()},
        event=concat_tables(event_parts) if event_parts else None,
        reco={k: _concat_dicts(v) for k, v in reco_parts.items()},
        derived=_concat_dicts(derived_parts),
        provenance=provenance,
        branches=keys,
    )


def check_compatible(flash: ValidationSample, full: ValidationSample) -> dict[str, list[str]]:
    """The reconstructed variables both files have, per collection.

    Raises:
        InputError: a collection has no reconstructed variable in common.
    """
    common: dict[str, list[str]] = {}
    for name in flash.tables:
        a = {k for k in flash.reco.get(name, {}) if not k.startswith("_")}
        b = {k for k in full.reco.get(name, {}) if not k.startswith("_")}
        shared = sorted(a & b)
        if not shared:
            msg = (
                f"collection {name!r}: the flash file {flash.path} and the full-simulation file "
                f"{full.path} have no reconstructed variable in common (flash: {sorted(a)}, "
                f"full: {sorted(b)}); are they outputs of the same pipeline?"
            )
            raise InputError(msg)
        common[name] = shared
    return common


def common_branches(
    flash: str | os.PathLike[str], full: str | os.PathLike[str]
) -> tuple[list[str], list[str], list[str]]:
    """Branches of both files' ``Events`` trees: in both, only in flash, only in full (sorted)."""
    names = []
    for path in (flash, full):
        tree = open_events(Path(path))
        try:
            names.append(set(tree.keys()))
        finally:
            tree.file.close()
    a, b = names
    return sorted(a & b), sorted(a - b), sorted(b - a)


def read_branch(tree: Any, name: str, max_events: int | None = None) -> np.ndarray:
    """All entries of one branch of an open ``tree`` (objects of all events flattened), as
    stored (no type conversion); one branch at a time keeps memory bounded."""
    stop = tree.num_entries if max_events is None else min(tree.num_entries, max_events)
    values = read_entries(tree, [name], 0, stop)[name]
    if values.ndim > 1:
        values = ak.flatten(values, axis=None)
    return np.asarray(values)


def numeric_branch(tree: Any, name: str) -> bool:
    """Whether branch ``name`` of ``tree`` holds numbers or booleans (flat or one per object)."""
    interpretation = tree[name].interpretation
    interpretation = getattr(interpretation, "content", interpretation)
    dtype = getattr(interpretation, "from_dtype", None)
    return dtype is not None and np.dtype(dtype).kind in "biuf"

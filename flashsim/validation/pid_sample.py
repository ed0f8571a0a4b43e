"""Reading the particle identification of a flash or full-simulation file, per true species.

The PID section of a pipeline (:class:`~flashsim.spec.PidSpec`) adds ``isMuon`` and the DLLs
to every object of its collection; which species an object is comes from its gen match. A
:class:`PidTable` holds, per reconstructed object matched to a gen object of a PID species (of
the collection's first ID class when it has classes: the long tracks of the LHCb-like pipeline,
those the PID is calibrated for), its gen and reconstructed kinematics, its true species and
its PID fields, with the gen event as the independent unit of the errors (as
:mod:`flashsim.validation.samples`). :func:`read_pid_table` reads one file, only the branches
of the PID collection and its gen source.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np

from flashsim.exceptions import InputError
from flashsim.features import match_reco, select_source
from flashsim.io import missing_field, open_events, read_entries, zip_collections
from flashsim.run import REPLICA_BRANCH, SOURCE_BRANCH
from flashsim.spec import PipelineSpec

__all__ = ["PidTable", "pid_fields", "read_pid_table"]


@dataclass(frozen=True, eq=False)
class PidTable:
    """The PID of one file's objects, one row per matched object of a PID species.

    Attributes:
        pdg: ``|pdgId|`` of the object's gen match (its true species).
        gen_p, gen_eta: momentum [GeV] and pseudorapidity of the gen match.
        p, eta: the reconstructed object's momentum and pseudorapidity.
        values: per PID field (``isMuon``, ``DLLe``, ...), its value per row.
        groups: the gen event of each row (``FlashSim_genEntry`` if oversampled, else the entry).
        replica: which replica of its gen event the row's event is (0 unless oversampled).
    """

    pdg: np.ndarray
    gen_p: np.ndarray
    gen_eta: np.ndarray
    p: np.ndarray
    eta: np.ndarray
    values: dict[str, np.ndarray]
    groups: np.ndarray
    replica: np.ndarray

    def select(self, mask: np.ndarray) -> PidTable:
        """The rows where ``mask`` is true."""
        return PidTable(
            self.pdg[mask],
            self.gen_p[mask],
            self.gen_eta[mask],
            self.p[mask],
            self.eta[mask],
            {k: v[mask] for k, v in self.values.items()},
            self.groups[mask],
            self.replica[mask],
        )


def pid_fields(spec: PipelineSpec) -> list[str]:
    """The PID fields the spec's ``pid`` section writes: ``isMuon`` (if any), then its targets."""
    assert spec.pid is not None
    head = [spec.pid.is_muon.name] if spec.pid.is_muon is not None else []
    return head + [t.name for t in spec.pid.targets]


def _momentum(objects: ak.Array) -> np.ndarray:
    """Flat ``p`` of jagged objects that have it, else ``pt cosh(eta)``."""
    values = objects.p if "p" in objects.fields else objects.pt * np.cosh(objects.eta)
    return np.asarray(ak.flatten(values, axis=1), dtype=np.float64)


def read_pid_table(
    path: str | os.PathLike[str],
    spec: PipelineSpec,
    *,
    max_events: int | None = None,
    step_size: int = 20_000,
    role: str = "input",
) -> PidTable:
    """Read the :class:`PidTable` of one file.

    Arguments:
        path: a flash or full-simulation file of a pipeline with a ``pid`` section.
        spec: the pipeline spec.
        max_events: read at most this many events (the first ones).
        step_size: events per chunk read.
        role: ``"flash"`` or ``"full-simulation"``, for error messages.
    Raises:
        InputError: the file lacks a branch the PID comparison needs (the message names it).
    """
    assert spec.pid is not None
    coll = spec.collections[spec.pid.collection]
    source = coll.source.collection
    fields = pid_fields(spec)
    pdgs = np.array(sorted({p for s in spec.pid.species for p in s.pdg_id}), dtype=np.int64)
    first_class = coll.efficiency.class_values[0] if coll.efficiency.class_values else None
    file_path = Path(path)
    tree = open_events(file_path)
    parts: list[PidTable] = []
    try:
        keys = set(tree.keys())
        missing = [f"{coll.name}_{f}" for f in fields if f"{coll.name}_{f}" not in keys]
        if missing:
            msg = (
                f"{role} file {file_path} has no branch {missing[0]!r}, needed to compare the "
                f"particle identification of pipeline {spec.name!r}; is it an output of a "
                "pipeline with a pid section? (pass --pipeline with the spec it was made with)"
            )
            raise InputError(msg)
        prefixes = (f"{source}_", f"n{source}", f"{coll.name}_", f"n{coll.name}")
        names = [k for k in keys if k.startswith(prefixes)]
        names += [k for k in (SOURCE_BRANCH, REPLICA_BRANCH) if k in keys]
        entries = tree.num_entries if max_events is None else min(tree.num_entries, max_events)
        for start in range(0, entries, step_size):
            stop = min(start + step_size, entries)
            events = zip_collections(read_entries(tree, names, start, stop))
            parts.append(_chunk(events, spec, fields, pdgs, first_class, start, keys))
    except AttributeError as err:
        if (field := missing_field(err)) is None:
            raise
        msg = f"{role} file {file_path} lacks a field {field!r} that the PID comparison reads"
        raise InputError(msg) from err
    finally:
        tree.file.close()
    if not parts:
        msg = f"{role} file {file_path} has no events; nothing to validate"
        raise InputError(msg)
    return PidTable(
        *(np.concatenate([getattr(p, k) for p in parts]) for k in ("pdg", "gen_p", "gen_eta")),
        *(np.concatenate([getattr(p, k) for p in parts]) for k in ("p", "eta")),
        {f: np.concatenate([p.values[f] for p in parts]) for f in fields},
        np.concatenate([p.groups for p in parts]),
        np.concatenate([p.replica for p in parts]),
    )


def _chunk(
    events: ak.Array,
    spec: PipelineSpec,
    fields: list[str],
    pdgs: np.ndarray,
    first_class: int | None,
    start: int,
    keys: set[str],
) -> PidTable:
    """The rows of one chunk of events (entries ``start`` on)."""
    assert spec.pid is not None
    coll = spec.collections[spec.pid.collection]
    gen = select_source(events, coll.source)
    matched = match_reco(events, coll, gen)
    reco = events[coll.name]
    pdg = np.abs(gen.flat("pdgId")).astype(np.int64)
    has = (matched >= 0) & np.isin(pdg, pdgs)

    def flat(name: str) -> np.ndarray:
        """Field ``name`` of the reconstructed match of each gen object of a PID species."""
        return np.asarray(ak.flatten(reco[name]), dtype=np.float64)[matched[has]]

    keep = np.ones(int(has.sum()), dtype=bool)
    if first_class is not None and coll.efficiency.class_field is not None:
        keep = flat(coll.efficiency.class_field) == first_class
    event = gen.event[has][keep] + start
    if SOURCE_BRANCH in keys:
        groups = np.asarray(events[SOURCE_BRANCH], dtype=np.int64)[event - start]
        replica = np.asarray(events[REPLICA_BRANCH], dtype=np.int64)[event - start]
    else:
        groups, replica = event.astype(np.int64), np.zeros(len(event), dtype=np.int64)
    p_reco = _momentum(reco)[matched[has]]
    return PidTable(
        pdg[has][keep],
        _momentum(gen.objects)[has][keep],
        gen.flat("eta")[has][keep],
        p_reco[keep],
        flat("eta")[keep],
        {f: flat(f)[keep] for f in fields},
        groups,
        replica,
    )

"""The generator record every gen level is built from: particles of a block of events in HepMC
conventions (:class:`GenRecord`), whatever the generator or file they came from.

A HepMC file and a Pythia event in memory describe the same thing differently: Pythia keeps its
own status codes (positive for final-state particles), a "system" entry and mothers that may come
after their daughters (the initial-state shower is traced backwards); a HepMC file has HepMC
status codes (1 final, 2 decayed, 4 beam, generator codes 11-200 otherwise) and particles in an
order where every mother comes before its daughters. :func:`to_record` brings a Pythia
:class:`~flashsim.generators.table.ParticleTable` into the second form, exactly as a HepMC file of
it would read back (:mod:`flashsim.generators.hepmc_write`, :mod:`flashsim.generators.hepmc_read`),
so that the gen level of ``flashsim refsim generate`` and of ``flashsim gen`` on a HepMC file
come from the same code and the same numbers.

References:
    A. Buckley et al., "The HepMC3 event record library for Monte Carlo event generators",
    Comput. Phys. Commun. 260 (2021) 107310, arXiv:1912.08005 (status codes, section 3);
    C. Bierlich et al., "A comprehensive guide to the physics and usage of PYTHIA 8.3",
    SciPost Phys. Codebases 8 (2022), arXiv:2203.11601 (Pythia's status codes and
    ``Particle::statusHepMC``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flashsim.generators.table import EventBlock, ParticleTable

__all__ = [
    "GenRecord",
    "concatenate",
    "hepmc_status",
    "in_topological_order",
    "is_hadron",
    "select_events",
    "to_record",
    "topological_order",
]

#: HepMC status of a final-state (undecayed physical) particle.
FINAL = 1
#: HepMC status of a decayed physical particle.
DECAYED = 2
#: HepMC status of an incoming beam particle.
BEAM = 4


@dataclass
class GenRecord(EventBlock):
    """The generated particles of a block of events, in HepMC conventions.

    Particle ``j`` of event ``i`` sits at ``offsets[i] + j``; within an event every particle comes
    after its mother. ``status`` is the HepMC status (1 final state, 2 decayed, 4 beam, 11-200 as
    the generator chose, e.g. Pythia's 21-29 for the hard process); ``mother`` is the index within
    the event of the particle's first mother (the lowest-numbered incoming particle of its
    production vertex), -1 when it has none. Momenta and masses in GeV, positions in mm.

    Per event: ``weight`` (the nominal weight), ``event_number`` (as the generator numbered it)
    and ``binvar`` (the hard scale, e.g. Pythia's pT-hat; NaN where the input does not say).
    """

    offsets: np.ndarray
    pdg: np.ndarray
    status: np.ndarray
    mother: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    mass: np.ndarray
    weight: np.ndarray
    event_number: np.ndarray
    binvar: np.ndarray
    vx: np.ndarray | None = None
    vy: np.ndarray | None = None
    vz: np.ndarray | None = None
    vt: np.ndarray | None = None

    def global_mother(self) -> np.ndarray:
        """Index in the block's flat arrays of every particle's first mother (-1: none)."""
        evt = self.event_index
        return np.where(self.mother >= 0, self.offsets[evt] + self.mother, -1)


def is_hadron(pdg: np.ndarray) -> np.ndarray:
    """Whether PDG codes are hadrons, as Pythia's ``ParticleDataEntry::isHadron`` decides: codes
    above 100 and below 1 000 000 or from 9 000 000 to 9 899 999 (excited light mesons such as
    the f0(980)) whose last three digits are non-zero, and the K0S and K0L; not diquarks, BSM
    particles, colour-octet onium states (99xxxxx) or nuclei."""
    a = np.abs(pdg)
    in_range = ((a > 100) & (a < 1_000_000)) | ((a >= 9_000_000) & (a < 9_900_000))
    digits = (a % 10 != 0) & ((a // 10) % 10 != 0) & ((a // 100) % 10 != 0)
    return (in_range & digits) | (a == 130) | (a == 310)


def hepmc_status(pdg: np.ndarray, status: np.ndarray, mother: np.ndarray) -> np.ndarray:
    """HepMC status codes of Pythia particles, as Pythia's ``Particle::statusHepMC`` gives them.

    Final-state particles (positive Pythia status) are 1, incoming beams (-12) are 4, hadrons,
    muons and taus that decay (into anything but a copy of themselves) are 2, and other
    intermediate particles keep their Pythia code as a positive number (e.g. 21-29 for the hard
    process, 71-79 for partons entering hadronisation).

    Arguments:
        pdg, status: Pythia's codes.
        mother: index (in the same arrays) of each particle's first mother, -1 for none.
    """
    a = np.abs(pdg)
    has = mother >= 0
    copied = np.zeros(len(pdg), dtype=bool)
    copied[mother[has & (pdg == pdg[np.where(has, mother, 0)])]] = True
    decayed = (is_hadron(pdg) | (a == 13) | (a == 15)) & ~copied
    out = np.where((-status >= 11) & (-status <= 200), -status, 0)
    out = np.where(decayed & (status < 0), DECAYED, out)
    out = np.where(status == -12, BEAM, out)
    return np.where(status > 0, FINAL, out).astype(np.int32)


def topological_order(offsets: np.ndarray, mother: np.ndarray) -> np.ndarray:
    """A permutation of a block's particles that puts every mother before its daughters.

    Within each event, particles keep their order except that a mother listed after one of its
    descendants moves up to just before the earliest of them (with its own ancestors in turn
    before it): a particle's key is the smallest index among itself and its descendants, then its
    depth. An order that is already topological is kept as it is.

    Arguments:
        offsets: per-event offsets into the flat arrays.
        mother: global index of each particle's first mother, -1 for none.
    """
    n = len(mother)
    has = mother >= 0
    children = np.flatnonzero(has)
    parents = mother[children]
    if not np.any(parents > children):
        return np.arange(n)
    first = np.arange(n)
    while True:  # the smallest index among descendants, one generation per pass
        new = first.copy()
        np.minimum.at(new, parents, first[children])
        if np.array_equal(new, first):
            break
        first = new
    depth = np.zeros(n, dtype=np.int64)
    safe = np.where(has, mother, 0)
    while True:
        new = np.where(has, depth[safe] + 1, 0)
        if np.array_equal(new, depth):
            break
        depth = new
    event = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    return np.lexsort((depth, first, event))


def to_record(table: ParticleTable) -> tuple[GenRecord, np.ndarray]:
    """The :class:`GenRecord` of a Pythia :class:`~flashsim.generators.table.ParticleTable`.

    Pythia's system entries are dropped, status codes become HepMC's (:func:`hepmc_status`) and
    particles are put in topological order (:func:`topological_order`), exactly as writing the
    events as HepMC3 (:class:`flashsim.generators.hepmc_write.HepMCWriter`) and reading them back
    gives them.

    Returns:
        the record, and for each of its particles the index of the table particle it came from.
    """
    n_events = table.n_events
    system = np.zeros(len(table.pdg), dtype=bool)
    system[table.offsets[:-1]] = True
    keep = np.flatnonzero(~system)
    evt = table.event_index[keep]
    # Position of each kept particle in the record before reordering (global), per table index.
    new_index = np.full(len(table.pdg), -1, dtype=np.int64)
    new_index[keep] = np.arange(len(keep))
    m1 = table.mother1[keep]
    mother_table = np.where(m1 > 0, table.offsets[evt] + m1, 0)
    mother = np.where(m1 > 0, new_index[mother_table], -1)
    offsets = np.concatenate([[0], np.cumsum(table.counts - 1)]).astype(np.int64)
    order = topological_order(offsets, mother)
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    mother = mother[order]
    local_mother = np.where(mother >= 0, position[np.maximum(mother, 0)] - offsets[evt], -1)
    source = keep[order]
    global_mother = np.where(local_mother >= 0, offsets[evt] + local_mother, -1)

    def take(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else values[source]

    record = GenRecord(
        offsets=offsets,
        pdg=table.pdg[source].astype(np.int32),
        status=hepmc_status(table.pdg[source], table.status[source], global_mother),
        mother=local_mother.astype(np.int64),
        px=table.px[source],
        py=table.py[source],
        pz=table.pz[source],
        e=table.e[source],
        mass=table.mass[source],
        weight=table.weight.astype(np.float64),
        event_number=np.arange(n_events, dtype=np.int64),
        binvar=table.pthat.astype(np.float64),
        vx=take(table.vx),
        vy=take(table.vy),
        vz=take(table.vz),
        vt=take(table.vt),
    )
    return record, source


def concatenate(records: list[GenRecord]) -> GenRecord:
    """The events of ``records`` one after the other, as one record."""
    if len(records) == 1:
        return records[0]
    counts = np.concatenate([r.counts for r in records])
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def cat(name: str) -> np.ndarray | None:
        values = [getattr(r, name) for r in records]
        return None if any(v is None for v in values) else np.concatenate(values)

    fields = {name: cat(name) for name in GenRecord.__dataclass_fields__ if name != "offsets"}
    return GenRecord(offsets=offsets, **fields)  # type: ignore[arg-type]


def select_events(record: GenRecord, start: int, stop: int) -> GenRecord:
    """Events ``start`` to ``stop - 1`` of ``record``."""
    a, b = int(record.offsets[start]), int(record.offsets[stop])
    per_event = {"weight", "event_number", "binvar"}
    fields = {}
    for name in GenRecord.__dataclass_fields__:
        if name == "offsets":
            continue
        value = getattr(record, name)
        if value is not None:
            value = value[start:stop] if name in per_event else value[a:b]
        fields[name] = value
    return GenRecord(offsets=record.offsets[start : stop + 1] - a, **fields)


def in_topological_order(record: GenRecord) -> GenRecord:
    """``record`` with its particles reordered so that mothers come first (if needed)."""
    mother = record.global_mother()
    if not np.any(mother >= np.arange(len(mother))):
        return record
    order = topological_order(record.offsets, mother)
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    new_mother = mother[order]
    evt = record.event_index
    local = np.where(new_mother >= 0, position[np.maximum(new_mother, 0)] - record.offsets[evt], -1)
    fields = {
        name: getattr(record, name)[order]
        for name in ("pdg", "status", "px", "py", "pz", "e", "mass")
    }
    return GenRecord(
        offsets=record.offsets,
        mother=local.astype(np.int64),
        weight=record.weight,
        event_number=record.event_number,
        binvar=record.binvar,
        **fields,
    )

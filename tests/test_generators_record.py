"""The generator record in HepMC conventions (:mod:`flashsim.generators.record`): Pythia's
in-memory record into HepMC status codes and topological order (:func:`to_record`), the
permutation behind it, block slicing and joining, and which PDG codes are hadrons.

The hand-made events follow Pythia's event record (C. Bierlich et al., SciPost Phys. Codebases
8 (2022), arXiv:2203.11601, section 2.4): entry 0 a "system" entry, beams with status -12,
negative codes for particles that decayed or branched, and an initial-state shower whose
partons point back to mothers listed after them.
"""

from __future__ import annotations

import numpy as np
import pytest

from flashsim.generators.record import (
    GenRecord,
    concatenate,
    hepmc_status,
    in_topological_order,
    is_hadron,
    select_events,
    to_record,
    topological_order,
)
from flashsim.generators.table import ParticleTable

# (pdg, Pythia status, mother1) per table entry of each event; entry 0 is the system entry.
EVENT_A = [
    (90, -11, 0),  # 0 system
    (2212, -12, 0),  # 1 beam
    (2212, -12, 0),  # 2 beam
    (21, -21, 11),  # 3 incoming gluon; its mother (ISR) is listed after it
    (21, -21, 2),  # 4 incoming gluon
    (23, -22, 3),  # 5 Z
    (15, -23, 5),  # 6 tau, whose only daughter is its own copy
    (15, -51, 6),  # 7 the copy, which decays
    (16, 91, 7),  # 8 nu_tau
    (111, -91, 7),  # 9 pi0, decays
    (22, 91, 9),  # 10 photon
    (21, -41, 1),  # 11 ISR gluon: the mother of entry 3
    (211, 83, 0),  # 12 a final pion without a mother
]
EVENT_B = [
    (90, -11, 0),  # 0 system
    (2212, -12, 0),  # 1 beam
    (2212, -12, 0),  # 2 beam
    (21, -21, 1),  # 3
    (21, -21, 2),  # 4
    (5, -23, 3),  # 5 b quark of the hard process
    (511, -84, 5),  # 6 B0, decays
    (-411, 91, 6),  # 7 D-
    (13, -91, 6),  # 8 muon, decays
    (11, 91, 8),  # 9 electron
    (2101, -63, 1),  # 10 beam remnant diquark: not a hadron
]
# The record expected of EVENT_A: table entries in record order, then HepMC status and mother
# (index in the record's event) of each.
ORDER_A = [1, 2, 11, 3, 4, 5, 6, 7, 8, 9, 10, 12]
STATUS_A = [4, 4, 41, 21, 21, 22, 23, 2, 1, 2, 1, 1]
MOTHER_A = [-1, -1, 0, 2, 1, 3, 5, 6, 7, 7, 9, -1]
STATUS_B = [4, 4, 21, 21, 23, 2, 1, 2, 1, 63]
MOTHER_B = [-1, -1, 0, 1, 2, 4, 5, 5, 7, 0]


def make_table(events: list[list[tuple[int, int, int]]]) -> ParticleTable:
    """A :class:`ParticleTable` of ``events``, every particle with its own distinct momentum."""
    rows = [row for event in events for row in event]
    n = len(rows)
    k = np.arange(n, dtype=np.float64)
    return ParticleTable(
        offsets=np.concatenate([[0], np.cumsum([len(e) for e in events])]).astype(np.int64),
        pdg=np.array([r[0] for r in rows], dtype=np.int32),
        status=np.array([r[1] for r in rows], dtype=np.int32),
        mother1=np.array([r[2] for r in rows], dtype=np.int32),
        px=k + 0.25,
        py=-k,
        pz=10 * k,
        e=100 + 20 * k,
        mass=k / 8,
        vx=k / 100,
        vy=-k / 100,
        vz=k,
        charge=np.zeros(n),
        pthat=np.array([50.0, 60.0][: len(events)]),
        weight=np.array([1.0, 0.5][: len(events)]),
        vt=2 * k,
    )


@pytest.fixture
def table() -> ParticleTable:
    return make_table([EVENT_A, EVENT_B])


def assert_same_record(a: GenRecord, b: GenRecord) -> None:
    for name in GenRecord.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            assert x is None, name
            assert y is None, name
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)


def test_to_record_drops_system_reorders_and_sets_hepmc_status(table: ParticleTable) -> None:
    record, source = to_record(table)
    assert record.n_events == 2
    assert record.counts.tolist() == [12, 10]  # one system entry less per event
    assert not np.any(record.pdg == 90)
    first_b = len(EVENT_A)
    # The ISR gluon moves before the incoming gluon it radiated; nothing else moves.
    assert source.tolist() == ORDER_A + list(range(first_b + 1, first_b + len(EVENT_B)))
    a, b = record.offsets[1], record.offsets[2]
    assert record.status[:a].tolist() == STATUS_A
    assert record.mother[:a].tolist() == MOTHER_A
    assert record.status[a:b].tolist() == STATUS_B
    assert record.mother[a:b].tolist() == MOTHER_B
    # Every mother comes before its daughters, and is the table's mother of the same particle.
    local = np.arange(len(record.pdg)) - record.offsets[record.event_index]
    assert np.all(record.mother < local)
    global_mother = record.global_mother()
    has = global_mother >= 0
    table_mother = table.offsets[table.event_index[source]] + table.mother1[source]
    np.testing.assert_array_equal(source[global_mother[has]], table_mother[has])
    # Per-particle values follow their particle; per-event values are the table's.
    for name in ("pdg", "px", "py", "pz", "e", "mass", "vx", "vy", "vz", "vt"):
        np.testing.assert_array_equal(getattr(record, name), getattr(table, name)[source])
    assert record.weight.tolist() == [1.0, 0.5]
    assert record.binvar.tolist() == [50.0, 60.0]
    assert record.event_number.tolist() == [0, 1]


def test_hepmc_status_codes() -> None:
    # tau -> tau (a copy) -> nu pi0: the first tau keeps its code, the copy decays (2).
    pdg = np.array([2212, 15, 15, 16, 111, 22, 22, 13, 11, 25, 9010221, 211])
    status = np.array([-12, -23, -52, 91, -91, 91, 91, -91, 91, -62, -91, 84])
    mother = np.array([-1, 0, 1, 2, 2, 4, 4, 0, 7, 0, 0, 10])
    got = hepmc_status(pdg, status, mother)
    assert got.tolist() == [4, 23, 2, 1, 2, 1, 1, 2, 1, 62, 2, 1]
    assert got.dtype == np.int32
    # A decayed particle that is not a hadron, muon or tau keeps its generator code.
    assert hepmc_status(np.array([23]), np.array([-22]), np.array([-1])).tolist() == [22]


def test_topological_order_is_identity_on_an_ordered_block(table: ParticleTable) -> None:
    record, _ = to_record(table)
    mother = record.global_mother()
    assert np.all(mother < np.arange(len(mother)))
    np.testing.assert_array_equal(topological_order(record.offsets, mother), np.arange(len(mother)))
    # A record already in order is returned as it is.
    assert in_topological_order(record) is record


def test_in_topological_order_puts_mothers_first(table: ParticleTable) -> None:
    record, _ = to_record(table)
    # Swap the ISR gluon (record index 2) and its daughter (3) in event 0, fixing the mothers.
    swap = np.arange(len(record.pdg))
    swap[[2, 3]] = [3, 2]
    position = np.argsort(swap)
    mother = record.global_mother()[swap]
    mother = np.where(mother >= 0, position[np.maximum(mother, 0)], -1)
    local = np.where(mother >= 0, mother - record.offsets[record.event_index], -1)
    shuffled = GenRecord(
        offsets=record.offsets,
        pdg=record.pdg[swap],
        status=record.status[swap],
        mother=local,
        px=record.px[swap],
        py=record.py[swap],
        pz=record.pz[swap],
        e=record.e[swap],
        mass=record.mass[swap],
        weight=record.weight,
        event_number=record.event_number,
        binvar=record.binvar,
    )
    assert shuffled.mother[2] == 3  # the daughter now comes first
    ordered = in_topological_order(shuffled)
    for name in ("pdg", "status", "mother", "px", "py", "pz", "e", "mass"):
        np.testing.assert_array_equal(getattr(ordered, name), getattr(record, name), name)


def test_concatenate_and_select_events_round_trip(table: ParticleTable) -> None:
    record, _ = to_record(table)
    first, second = select_events(record, 0, 1), select_events(record, 1, 2)
    assert first.n_events == second.n_events == 1
    assert first.counts.tolist() == [12]
    assert second.offsets.tolist() == [0, 10]
    assert second.weight.tolist() == [0.5]
    assert second.mother.tolist() == MOTHER_B  # mothers are local to the event
    assert_same_record(concatenate([first, second]), record)
    assert_same_record(select_events(record, 0, 2), record)
    assert concatenate([record]) is record
    empty = select_events(record, 1, 1)
    assert empty.n_events == 0
    assert_same_record(concatenate([first, empty, second]), record)
    # Without positions on one of the blocks, the joined record has none.
    bare = select_events(record, 1, 2)
    bare.vx = bare.vy = bare.vz = bare.vt = None
    joined = concatenate([first, bare])
    assert joined.vx is None
    assert joined.vt is None
    np.testing.assert_array_equal(joined.pdg, record.pdg)


@pytest.mark.parametrize(
    ("pdg", "hadron"),
    [
        (211, True),  # pi+
        (-211, True),
        (511, True),  # B0
        (2212, True),  # proton
        (130, True),  # K0L
        (310, True),  # K0S
        (9010221, True),  # f0(980)
        (443, True),  # J/psi
        (2101, False),  # ud_0 diquark
        (1000022, False),  # neutralino
        (9900443, False),  # colour-octet cc-bar state
        (11, False),
        (22, False),
        (21, False),
        (1000010020, False),  # deuteron: a nucleus
    ],
)
def test_is_hadron(pdg: int, hadron: bool) -> None:
    assert is_hadron(np.array([pdg])).tolist() == [hadron]

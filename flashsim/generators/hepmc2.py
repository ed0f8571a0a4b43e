"""HepMC2 ASCII files (``IO_GenEvent``), read event by event with scikit-hep's pyhepmc.

HepMC2 files are rare today and small, so the HepMC3 library's reader (through pyhepmc) is fast
enough; the HepMC3 files of most generators go through the faster reader of
:mod:`flashsim.generators.hepmc_read`. Conventions are the same: MeV become GeV, a particle's
mother is the lowest-numbered incoming particle of its production vertex, the nominal weight is
the first, the event scale gives ``Generator_binvar``.

References:
    H. Dembinski et al., pyhepmc, https://github.com/scikit-hep/pyhepmc.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from flashsim.exceptions import InputError
from flashsim.generators.record import GenRecord, in_topological_order

__all__ = ["read_hepmc2"]

#: Events per record block.
BLOCK = 100


def read_hepmc2(
    path: str | os.PathLike[str],
    count: Callable[[], None],
    bad: Callable[[str], None],
) -> Iterator[GenRecord]:
    """The events of a HepMC2 file in blocks of :data:`BLOCK`.

    Arguments:
        path: the file (gzip, bzip2 or xz compressed too).
        count: called for every event read.
        bad: called with the reason for an event without final-state particles (raises, or
            counts it when damaged events are skipped).

    Raises:
        InputError: the file cannot be read to its end.
    """
    import pyhepmc

    block: list[dict[str, Any]] = []
    seen = 0
    with pyhepmc.open(path) as reader:
        while True:
            try:
                event = reader.read()
            except Exception as err:
                msg = f"input file {path} is damaged after event {seen}: {err}"
                raise InputError(msg) from err
            if event is None:
                break
            seen += 1
            count()
            row = event_arrays(event)
            if row is None:
                bad(f"event {event.event_number} has no final-state particle")
            else:
                block.append(row)
            if len(block) >= BLOCK:
                yield record_of(block)
                block = []
    if block:
        yield record_of(block)


def event_arrays(event: Any) -> dict[str, Any] | None:
    """Particles of a pyhepmc event as arrays (``None`` without final-state particles)."""
    import pyhepmc

    data = pyhepmc.GenEventData()
    event.write_data(data)
    parts = np.asarray(data.particles)
    if not np.any(parts["status"] == 1):
        return None
    links1, links2 = np.asarray(data.links1), np.asarray(data.links2)
    n = len(parts)
    outgoing = links1 < 0
    production = np.zeros(n + 1, dtype=np.int64)
    production[links2[outgoing]] = -links1[outgoing]
    incoming = ~outgoing
    lowest = np.full(len(np.asarray(data.vertices)) + 1, np.iinfo(np.int64).max)
    np.minimum.at(lowest, -links2[incoming], links1[incoming])
    lowest[lowest == np.iinfo(np.int64).max] = 0
    mother = np.where(production[1:] > 0, lowest[production[1:]], 0) - 1
    factor = 1e-3 if event.momentum_unit == pyhepmc.Units.MEV else 1.0
    weights = list(event.weights)
    scale = np.nan
    attributes = event.attributes
    if "event_scale" in attributes:
        try:
            scale = float(str(attributes["event_scale"]))
        except (TypeError, ValueError):
            scale = np.nan
    return {
        "pdg": parts["pid"].astype(np.int32),
        "status": parts["status"].astype(np.int32),
        "mother": mother.astype(np.int64),
        "px": parts["px"] * factor,
        "py": parts["py"] * factor,
        "pz": parts["pz"] * factor,
        "e": parts["e"] * factor,
        "mass": parts["mass"] * factor,
        "weight": float(weights[0]) if weights else 1.0,
        "event_number": int(event.event_number),
        "binvar": scale * factor,
    }


def record_of(rows: list[dict[str, Any]]) -> GenRecord:
    counts = np.array([len(r["pdg"]) for r in rows])
    record = GenRecord(
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        **{
            name: np.concatenate([r[name] for r in rows])
            for name in ("pdg", "status", "mother", "px", "py", "pz", "e", "mass")
        },
        weight=np.array([r["weight"] for r in rows], dtype=np.float64),
        event_number=np.array([r["event_number"] for r in rows], dtype=np.int64),
        binvar=np.array([r["binvar"] for r in rows], dtype=np.float64),
    )
    return in_topological_order(record)

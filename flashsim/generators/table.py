"""Generated particles as flat arrays: the :class:`ParticleTable` of a block of events.

A generator (Pythia here, :mod:`flashsim.generators.pythia`) gives one flat numpy array per
particle property plus per-event offsets, the shape the vectorised reference detector works on.
:func:`flashsim.generators.record.to_record` turns it into the HepMC-like
:class:`~flashsim.generators.record.GenRecord` that the generator level is built from.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["EventBlock", "ParticleTable", "silence_stdout"]


class EventBlock:
    """Per-event views of a block of flat particle arrays with ``offsets`` (the particles of
    event ``i`` are ``offsets[i]`` to ``offsets[i + 1] - 1``)."""

    offsets: np.ndarray

    @property
    def n_events(self) -> int:
        """Number of events in the block."""
        return len(self.offsets) - 1

    @property
    def counts(self) -> np.ndarray:
        """Number of particles per event."""
        return np.diff(self.offsets)

    @property
    def event_index(self) -> np.ndarray:
        """Event (0-based within the block) of every particle."""
        return np.repeat(np.arange(self.n_events), self.counts)


@dataclass
class ParticleTable(EventBlock):
    """The particles of a block of events as flat arrays, in Pythia's event-record conventions.

    Particle ``j`` of event ``i`` sits at ``offsets[i] + j``; entry 0 of every event is Pythia's
    "system" entry, ``mother1`` is the index of the first mother inside the same event (0 meaning
    none) and ``status`` is Pythia's (positive for final-state particles). Momenta are in GeV,
    production vertices in mm (``vt``: production time times c, mm; ``None`` when not kept).
    """

    offsets: np.ndarray
    pdg: np.ndarray
    status: np.ndarray
    mother1: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    mass: np.ndarray
    vx: np.ndarray
    vy: np.ndarray
    vz: np.ndarray
    charge: np.ndarray
    pthat: np.ndarray
    weight: np.ndarray
    vt: np.ndarray | None = None


@contextlib.contextmanager
def silence_stdout() -> Iterator[None]:
    """Silence C++ writes to stdout (Pythia and FastJet banners) for the duration."""
    try:
        fd = os.dup(1)
    except OSError:  # no stdout at all
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(fd, 1)
        os.close(fd)

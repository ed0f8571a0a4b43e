"""Pythia 8 event generation into flat particle tables.

Events are pulled out of Pythia with ``Pythia.nextBatch`` (an awkward array per batch, no Python
loop over particles) and turned into a :class:`ParticleTable`: one flat numpy array per
particle property plus per-event offsets, the shape the vectorised detector works on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import awkward as ak
import numpy as np

from flashsim.exceptions import ConfigurationError
from flashsim.refsim.processes import process_settings

#: Largest seed Pythia accepts (``Random:seed``).
MAX_PYTHIA_SEED = 900_000_000


@dataclass
class ParticleTable:
    """The particles of a block of events as flat arrays.

    Particle ``j`` of event ``i`` sits at ``offsets[i] + j``; ``mother1`` is the index of the
    first mother inside the same event (Pythia's own numbering, 0 meaning none). Momenta are in
    GeV, production vertices in mm.
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
        """Event number (0-based within the block) of every particle."""
        return np.repeat(np.arange(self.n_events), self.counts)


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


class PythiaSource:
    """A seeded Pythia 8 instance for one process.

    Arguments:
        process: a key of :data:`flashsim.refsim.processes.PROCESSES` or ``"minbias"``.
        seed: Pythia random seed, 1 to 900 000 000.
        pthat_min: pT-hat threshold in GeV for ``qcd``.
    """

    def __init__(self, process: str, seed: int, *, pthat_min: float | None = None) -> None:
        try:
            import pythia8mc
        except ImportError as err:  # pragma: no cover - depends on the environment
            msg = "the reference simulation needs Pythia 8: pip install 'flashsim[refsim]'"
            raise ConfigurationError(msg) from err
        if not 1 <= seed <= MAX_PYTHIA_SEED:
            msg = f"Pythia seed must be in 1..{MAX_PYTHIA_SEED}, got {seed}"
            raise ConfigurationError(msg)
        self.process = process
        with silence_stdout():
            self._pythia = pythia8mc.Pythia("", False)
            for line in [
                *process_settings(process, pthat_min=pthat_min),
                "Random:setSeed = on",
                f"Random:seed = {seed}",
            ]:
                if not self._pythia.readString(line):
                    msg = f"Pythia rejected the setting {line!r}"
                    raise ConfigurationError(msg)
            if not self._pythia.init():
                msg = f"Pythia failed to initialise process {process!r}"
                raise ConfigurationError(msg)
        self._charges: dict[int, float] = {}

    def generate(self, n_events: int) -> ParticleTable:
        """Generate ``n_events`` events and return their particles as a :class:`ParticleTable`."""
        with silence_stdout():
            batch = self._pythia.nextBatch(n_events)
        if len(batch) != n_events:
            msg = f"Pythia returned {len(batch)} events instead of {n_events}"
            raise RuntimeError(msg)
        return self._to_table(batch)

    def _charge_of(self, pdg: np.ndarray) -> np.ndarray:
        ids, inverse = np.unique(pdg, return_inverse=True)
        data = self._pythia.particleData
        for pid in ids.tolist():
            if pid not in self._charges:
                self._charges[pid] = data.charge(pid)
        return np.array([self._charges[pid] for pid in ids.tolist()], dtype=np.float32)[inverse]

    def _to_table(self, batch: ak.Array) -> ParticleTable:
        prt = batch.prt
        counts = ak.to_numpy(ak.num(prt))
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        flat = ak.flatten(prt)

        def col(array: ak.Array, dtype: type) -> np.ndarray:
            return ak.to_numpy(ak.fill_none(array, 0)).astype(dtype, copy=False)

        pdg = col(flat.id, np.int32)
        vprod = flat.vProd
        info = batch.info
        weights = info.weights
        weight = ak.to_numpy(ak.fill_none(ak.firsts(weights), 1.0)).astype(np.float32)
        return ParticleTable(
            offsets=offsets,
            pdg=pdg,
            status=col(flat.status, np.int32),
            mother1=col(flat.mother1, np.int32),
            px=col(flat.p.px, np.float64),
            py=col(flat.p.py, np.float64),
            pz=col(flat.p.pz, np.float64),
            e=col(flat.p.e, np.float64),
            mass=col(flat.m, np.float64),
            vx=col(vprod.px, np.float64),
            vy=col(vprod.py, np.float64),
            vz=col(vprod.pz, np.float64),
            charge=self._charge_of(pdg),
            pthat=np.sqrt(np.maximum(ak.to_numpy(info.pT2Hat), 0.0)).astype(np.float32),
            weight=weight,
        )

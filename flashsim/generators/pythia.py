"""Pythia 8 in memory: a seeded instance from a list of settings, events as flat tables.

Events are pulled out of Pythia with ``Pythia.nextBatch`` (an awkward array per batch, no Python
loop over particles) and turned into a :class:`~flashsim.generators.table.ParticleTable`. The
reference processes of ``flashsim refsim`` (:class:`flashsim.refsim.generator.PythiaSource`) and
the user's own cards of ``flashsim gen --pythia`` (:mod:`flashsim.generators.cards`) both run
through :class:`PythiaGenerator`.

References:
    C. Bierlich et al., "A comprehensive guide to the physics and usage of PYTHIA 8.3",
    SciPost Phys. Codebases 8 (2022), arXiv:2203.11601.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from importlib import metadata
from typing import Any

import awkward as ak
import numpy as np

from flashsim.exceptions import ConfigurationError
from flashsim.generators.table import ParticleTable

__all__ = ["MAX_PYTHIA_SEED", "PythiaGenerator", "capture_stdout", "pythia_version"]

#: Largest seed Pythia accepts (``Random:seed``).
MAX_PYTHIA_SEED = 900_000_000

#: Settings that keep Pythia quiet; the generator's messages are captured instead.
QUIET: tuple[str, ...] = (
    "Next:numberCount = 0",
    "Next:numberShowEvent = 0",
    "Init:showChangedSettings = off",
    "Init:showProcesses = off",
    "Init:showChangedParticleData = off",
    "Print:quiet = on",
)


def pythia_version() -> str:
    """The version of the ``pythia8mc`` package (e.g. ``8.317.2``), or ``unknown``."""
    try:
        return metadata.version("pythia8mc")
    except metadata.PackageNotFoundError:  # pragma: no cover - depends on the environment
        return "unknown"


class _Captured:
    """What a :func:`capture_stdout` block wrote to stdout (read after the block)."""

    def __init__(self) -> None:
        self.text = ""

    def messages(self, *, prefix: str = "PYTHIA") -> list[str]:
        """The lines that start with ``prefix`` (stripped), e.g. Pythia's errors and warnings."""
        return [line.strip() for line in self.text.splitlines() if line.strip().startswith(prefix)]


@contextlib.contextmanager
def capture_stdout() -> Iterator[_Captured]:
    """Capture C++ writes to stdout (Pythia's messages) for the duration; the text is in the
    yielded object's ``text`` after the block (at most 1 MiB of it)."""
    captured = _Captured()
    try:
        fd = os.dup(1)
    except OSError:  # no stdout at all
        yield captured
        return
    with tempfile.TemporaryFile() as sink:
        try:
            os.dup2(sink.fileno(), 1)
            yield captured
        finally:
            os.dup2(fd, 1)
            os.close(fd)
            sink.seek(0)
            captured.text = sink.read(1 << 20).decode("utf-8", "replace")


class PythiaGenerator:
    """A seeded Pythia 8 instance initialised from ``settings`` (``readString`` lines).

    Arguments:
        settings: Pythia settings, applied in order after :data:`QUIET` and before the seed.
        seed: Pythia random seed, 1 to :data:`MAX_PYTHIA_SEED`.
        origin: where the settings come from, for error messages (e.g. ``"card ttH.cmnd"``).

    Raises:
        ConfigurationError: Pythia 8 is not installed, the seed is out of range, Pythia rejects a
            setting (its own message is given) or fails to initialise.
    """

    def __init__(self, settings: Sequence[str], seed: int, *, origin: str = "settings") -> None:
        try:
            import pythia8mc
        except ImportError as err:  # pragma: no cover - depends on the environment
            msg = "generating events needs Pythia 8: pip install 'flashsim[refsim]'"
            raise ConfigurationError(msg) from err
        if not 1 <= seed <= MAX_PYTHIA_SEED:
            msg = f"Pythia seed must be in 1..{MAX_PYTHIA_SEED}, got {seed}"
            raise ConfigurationError(msg)
        self.origin = origin
        with capture_stdout() as out:
            self._pythia = pythia8mc.Pythia("", False)
        for line in [*QUIET, *settings, "Random:setSeed = on", f"Random:seed = {seed}"]:
            with capture_stdout() as out:
                accepted = self._pythia.readString(line)
            if not accepted:
                said = "; ".join(out.messages()) or "Pythia rejected it"
                msg = f"{origin}: Pythia rejected the setting {line.strip()!r}: {said}"
                raise ConfigurationError(msg)
        with capture_stdout() as out:
            initialised = self._pythia.init()
        if not initialised:
            said = "; ".join(m for m in out.messages() if "Error" in m or "Abort" in m)
            msg = f"{origin}: Pythia failed to initialise" + (f": {said}" if said else "")
            raise ConfigurationError(msg)
        self._charges: dict[int, float] = {}

    @property
    def pythia(self) -> Any:
        """The underlying ``pythia8mc.Pythia`` instance."""
        return self._pythia

    def generate(self, n_events: int) -> ParticleTable:
        """Generate ``n_events`` events and return their particles as a table.

        Raises:
            RuntimeError: Pythia returned a different number of events.
        """
        with capture_stdout():
            batch = self._pythia.nextBatch(n_events)
        if len(batch) != n_events:
            msg = f"Pythia returned {len(batch)} events instead of {n_events}"
            raise RuntimeError(msg)
        return self.to_table(batch)

    def charge_of(self, pdg: np.ndarray) -> np.ndarray:
        """Electric charges (units of e) of PDG codes, from Pythia's particle data."""
        ids, inverse = np.unique(pdg, return_inverse=True)
        data = self._pythia.particleData
        for pid in ids.tolist():
            if pid not in self._charges:
                self._charges[pid] = data.charge(pid)
        return np.array([self._charges[pid] for pid in ids.tolist()], dtype=np.float32)[inverse]

    def to_table(self, batch: ak.Array) -> ParticleTable:
        """The :class:`~flashsim.generators.table.ParticleTable` of a ``nextBatch`` result."""
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
            vt=col(vprod.e, np.float64),
            charge=self.charge_of(pdg),
            pthat=np.sqrt(np.maximum(ak.to_numpy(info.pT2Hat), 0.0)).astype(np.float32),
            weight=weight,
        )

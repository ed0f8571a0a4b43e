"""Writing generated events as HepMC3 ASCII (``flashsim refsim generate --hepmc``).

Each particle of a :class:`~flashsim.generators.record.GenRecord` is one ``P`` line, in the
record's (topological) order, so particle ``k`` of an event has HepMC id ``k + 1``. Every particle
with daughters gets one explicit ``V`` line (its end vertex, with the particle as its only
incoming particle and its daughters' production point as position), written just before the first
daughter: the tree of first mothers, which is what the gen level reads
(:mod:`flashsim.generators.genlevel`). Pythia's further mothers of a particle (the other partons
of a string) are not written. Momenta are in GeV, lengths in mm, numbers in the shortest form
that reads back to the same double. The event weight is the ``W`` line; the hard scale (Pythia's
pT-hat) the event attribute ``event_scale``.

References:
    A. Buckley et al., "The HepMC3 event record library for Monte Carlo event generators",
    Comput. Phys. Commun. 260 (2021) 107310, arXiv:1912.08005 (the Asciiv3 format, appendix).
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

import numpy as np

from flashsim.atomic import check_replaceable, exclusive_temporary
from flashsim.exceptions import OutputError
from flashsim.generators.record import GenRecord

__all__ = ["HEPMC3_VERSION", "HepMCWriter"]

#: The format version written in the header (that of the HepMC3 library whose format we follow).
HEPMC3_VERSION = "3.02.05"


def _escape(text: str) -> str:
    """HepMC3 ASCII escaping of a tool string (newlines become ``\\|``)."""
    return text.replace("\\", "\\\\").replace("\n", "\\|")


class HepMCWriter:
    """Write :class:`~flashsim.generators.record.GenRecord` blocks to a HepMC3 ASCII file.

    The file is written to an exclusive temporary file beside ``path`` and renamed when the
    ``with`` block ends normally; on an exception it is removed. A name ending in ``.gz`` is
    gzip-compressed.

    Arguments:
        path: the output file.
        tools: ``(name, version, description)`` of the programs that made the events (the ``T``
            lines of the run information).
        overwrite: whether an existing regular file at ``path`` may be replaced.

    Example:
        >>> import numpy as np, tempfile, pathlib
        >>> from flashsim.generators.record import GenRecord
        >>> one = GenRecord(offsets=np.array([0, 1]), pdg=np.array([22]), status=np.array([1]),
        ...     mother=np.array([-1]), px=np.array([1.0]), py=np.array([0.0]),
        ...     pz=np.array([0.0]), e=np.array([1.0]), mass=np.array([0.0]),
        ...     weight=np.array([1.0]), event_number=np.array([0]), binvar=np.array([np.nan]))
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "one.hepmc3"
        >>> with HepMCWriter(out) as writer:
        ...     writer.write(one)
        >>> out.read_text().splitlines()[2]
        'E 0 0 1'
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        tools: Sequence[tuple[str, str, str]] = (),
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        check_replaceable(self.path)
        if os.path.lexists(self.path) and not overwrite:
            msg = f"output {self.path} exists; pass --overwrite to replace it"
            raise OutputError(msg)
        self.tools = list(tools)
        self.n_events = 0
        self._stack = contextlib.ExitStack()
        self._tmp: Path | None = None
        self._stream: IO[bytes] | None = None

    def __enter__(self) -> HepMCWriter:
        fd, tmp = self._stack.enter_context(exclusive_temporary(self.path))
        raw = self._stack.enter_context(os.fdopen(os.dup(fd), "wb"))
        stream: IO[bytes] = raw
        if self.path.suffix == ".gz":
            stream = self._stack.enter_context(gzip.GzipFile(fileobj=raw, mode="wb", mtime=0))
        self._tmp = tmp
        self._stream = stream
        header = [f"HepMC::Version {HEPMC3_VERSION}", "HepMC::Asciiv3-START_EVENT_LISTING"]
        header += ["T " + _escape("\n".join(tool)) for tool in self.tools]
        self._stream.write(("\n".join(header) + "\n").encode())
        return self

    def write(self, record: GenRecord) -> None:
        """Append the events of ``record``."""
        assert self._stream is not None, "use HepMCWriter in a with block"
        lines: list[str] = []
        rep = float.__repr__
        has_pos = record.vx is not None
        for i in range(record.n_events):
            a, b = int(record.offsets[i]), int(record.offsets[i + 1])
            mother = record.mother[a:b].tolist()
            n = b - a
            # One vertex per particle with daughters, numbered by its first daughter.
            vertex_of: dict[int, int] = {}
            for m in mother:
                if m >= 0 and m not in vertex_of:
                    vertex_of[m] = -(len(vertex_of) + 1)
            lines.append(f"E {int(record.event_number[i])} {len(vertex_of)} {n}")
            lines.append("U GEV MM")
            lines.append(f"W {rep(float(record.weight[i]))}")
            scale = float(record.binvar[i])
            if math.isfinite(scale):
                lines.append(f"A 0 event_scale {rep(scale)}")
            pdg = record.pdg[a:b].tolist()
            status = record.status[a:b].tolist()
            px, py = record.px[a:b].tolist(), record.py[a:b].tolist()
            pz, e = record.pz[a:b].tolist(), record.e[a:b].tolist()
            mass = record.mass[a:b].tolist()
            if has_pos:
                pos = np.stack([record.vx[a:b], record.vy[a:b], record.vz[a:b], record.vt[a:b]], 1)
                positioned = np.any(pos != 0, axis=1).tolist()
                pos_list = pos.tolist()
            written: set[int] = set()
            for k in range(n):
                m = mother[k]
                parent = 0
                if m >= 0:
                    parent = vertex_of[m]
                    if parent not in written:
                        written.add(parent)
                        where = ""
                        if has_pos and positioned[k]:
                            where = " @ " + " ".join(rep(x) for x in pos_list[k])
                        lines.append(f"V {parent} 0 [{m + 1}]{where}")
                lines.append(
                    f"P {k + 1} {parent} {pdg[k]} {rep(px[k])} {rep(py[k])} {rep(pz[k])} "
                    f"{rep(e[k])} {rep(mass[k])} {status[k]}"
                )
        if lines:
            self._stream.write(("\n".join(lines) + "\n").encode())
        self.n_events += record.n_events

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None and self._stream is not None:
                self._stream.write(b"HepMC::Asciiv3-END_EVENT_LISTING\n\n")
        finally:
            if exc_type is None:
                self._stack.close()
                assert self._tmp is not None
                check_replaceable(self.path)
                os.replace(self._tmp, self.path)
            else:
                self._stack.__exit__(exc_type, exc, tb)

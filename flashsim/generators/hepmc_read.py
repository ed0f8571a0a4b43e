"""Reading HepMC files: HepMC3 ASCII with a fast reader of our own, HepMC2 ASCII with pyhepmc.

:class:`HepMCSource` reads a file in blocks of events as
:class:`~flashsim.generators.record.GenRecord` s, with bounded memory whatever the file's size: the
file is read 16 MiB at a time (gzip, bzip2 and xz files are decompressed as they are read, found
by their first bytes), cut at the last complete event, and each piece is parsed at once: a
compiled scan sorts its lines (:func:`flashsim.generators.hepmc_scan.scan_events`) and pandas' C
parser reads all its particle lines as one table. On ttbar events this is about 17 times faster
than the HepMC3 library's reader through pyhepmc (``benchmarks/gen_hepmc.py``), which reads
HepMC2 files here (they are rare and small).

Units come from each event's ``U`` line: MeV become GeV. A particle's mother is the
lowest-numbered incoming particle of its production vertex; particles are put in topological
order if the file has them otherwise. The nominal weight is the first of the ``W`` line; the
event attribute ``event_scale`` (HepMC2's event scale) gives ``Generator_binvar``.

Damaged input is one :class:`~flashsim.exceptions.InputError` naming the event: a file that is
not HepMC, an event cut short (a truncated file), a line that cannot be read, unknown units, an
event without final-state particles. With ``skip_bad_events`` the damaged events are counted
(:attr:`HepMCSource.skipped_events`) and left out instead; unknown units stay an error.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from flashsim.exceptions import InputError
from flashsim.generators.record import (
    GenRecord,
    concatenate,
    in_topological_order,
    select_events,
)
from flashsim.generators.source import EventSource
from flashsim.io.paths import check_readable_file
from flashsim.provenance import input_record

__all__ = ["CHUNK_BYTES", "MAX_EVENT_BYTES", "HepMCSource", "open_compressed"]

#: Bytes of (decompressed) input parsed at a time.
CHUNK_BYTES = 16 << 20
#: The largest event accepted, in bytes of text (about a million particles).
MAX_EVENT_BYTES = 256 << 20

_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}
_COLUMNS = ["id", "parent", "pid", "px", "py", "pz", "e", "m", "status"]
_MOMENTUM = {b"GEV": 1.0, b"MEV": 1e-3}
_LENGTH = {b"MM": 1.0, b"CM": 10.0}


def open_compressed(path: Path) -> tuple[IO[bytes], IO[bytes], str]:
    """Open ``path`` for reading, decompressing gzip, bzip2 or xz (found by the first bytes).

    Returns:
        ``(raw, stream, compression)``: the file itself (its position is the progress), the
        decompressed stream, and ``gzip``, ``bzip2``, ``xz`` or ``none``.
    """
    raw = path.open("rb")
    head = raw.read(6)
    raw.seek(0)
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            stream: IO[bytes]
            if kind == "gzip":
                stream = gzip.GzipFile(fileobj=raw, mode="rb")
            elif kind == "bzip2":
                stream = bz2.BZ2File(raw, "rb")
            else:
                stream = lzma.LZMAFile(raw, "rb")  # noqa: SIM115 - returned open
            return raw, stream, kind
    return raw, raw, "none"


def _ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ..., ``11th``, ..., ``21st``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _particle_table(particles: np.ndarray) -> Any:
    """The particle lines (``P`` dropped) as a pandas table of floats; a field that is not a
    number reads as NaN (its event is then damaged).

    Raises:
        ValueError: the lines cannot be split into fields (e.g. too many on a line).
    """
    import pandas as pd

    options = {"sep": " ", "header": None, "names": _COLUMNS, "engine": "c"}
    try:
        return pd.read_csv(io.BytesIO(particles.tobytes()), dtype=np.float64, **options)
    except ValueError:  # not a number somewhere: find it again, field by field
        text = pd.read_csv(io.BytesIO(particles.tobytes()), dtype=str, **options)
        return text.apply(pd.to_numeric, errors="coerce")


class HepMCSource(EventSource):
    """The events of a HepMC3 or HepMC2 ASCII file (optionally gzip, bzip2 or xz compressed).

    Arguments:
        path: the file.
        skip_bad_events: leave out (and count) damaged events instead of stopping.

    Raises:
        InputError: the file is missing, unreadable or not HepMC (checked on construction).
    """

    def __init__(self, path: str | os.PathLike[str], *, skip_bad_events: bool = False) -> None:
        self.path = check_readable_file(path, "input file", "a HepMC file")
        self.skip_bad_events = skip_bad_events
        self.skipped_events = 0
        self.expected_events = None
        self.tools: list[dict[str, str]] = []
        self._raw, self._stream, self.compression = open_compressed(self.path)
        try:
            self.format, self._pending = self._read_header()
        except BaseException:
            self.close()
            raise
        self._events_seen = 0

    # -- header ---------------------------------------------------------------------------

    def _read_header(self) -> tuple[str, bytes]:
        """Read up to the first event; return the format and the bytes read past the header."""
        try:
            head = self._stream.read(1 << 16)
        except (OSError, EOFError, lzma.LZMAError) as err:
            msg = f"input file {self.path} cannot be decompressed ({self.compression}): {err}"
            raise InputError(msg) from err
        text = head.lstrip()
        if not text:
            msg = f"input file {self.path} is empty: no HepMC header, no events"
            raise InputError(msg)
        if not text.startswith(b"HepMC::Version"):
            hint = ""
            if text.startswith(b"<LesHouchesEvents") or b"<LesHouchesEvents" in text[:512]:
                hint = "; it is an LHE file: give it with --lhe FILE to shower it with Pythia"
            elif text.startswith(b"root"):
                hint = "; it is a ROOT file: give it to flashsim run directly"
            first = text[:40].split(b"\n")[0].decode("ascii", "replace")
            msg = (
                f"input file {self.path} is not a HepMC ASCII file (it starts with {first!r}, "
                f"not 'HepMC::Version'){hint}"
            )
            raise InputError(msg)
        lines = text.split(b"\n")
        if len(lines) < 2:
            msg = f"input file {self.path} has a HepMC header but no events"
            raise InputError(msg)
        listing = lines[1].strip()
        if listing == b"HepMC::Asciiv3-START_EVENT_LISTING":
            fmt = "hepmc3"
        elif listing == b"HepMC::IO_GenEvent-START_EVENT_LISTING":
            fmt = "hepmc2"
        else:
            msg = (
                f"input file {self.path}: unsupported HepMC listing {listing[:60]!r}; flashsim "
                "reads HepMC3 ASCII (Asciiv3) and HepMC2 ASCII (IO_GenEvent)"
            )
            raise InputError(msg)
        if fmt == "hepmc3":
            for line in lines[2:]:
                if line.startswith(b"E "):
                    break
                if line.startswith(b"T "):
                    parts = line[2:].decode("utf-8", "replace").replace("\\|", "\n").split("\n")
                    self.tools.append(
                        {"name": parts[0], "version": parts[1] if len(parts) > 1 else ""}
                    )
        return fmt, head

    # -- the EventSource interface ----------------------------------------------------------

    def provenance(self) -> dict[str, Any]:
        """Source kind, the input file (path, size; SHA-256 added by the caller) and the tools
        the file names (its ``T`` lines)."""
        return {
            "source": self.format,
            "compression": self.compression,
            **input_record(self.path, None),
            "generators": self.tools,
        }

    def bytes_read(self) -> int | None:
        """Bytes of the (compressed) file read so far."""
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return None

    def size_bytes(self) -> int | None:
        """Size of the file on disk."""
        return self.path.stat().st_size

    def close(self) -> None:
        """Close the file."""
        for stream in (self._stream, self._raw):
            with contextlib.suppress(OSError, ValueError):
                stream.close()

    def records(self, block_size: int) -> Iterator[GenRecord]:
        """The events in blocks of ``block_size``."""
        parts = self._hepmc3_parts() if self.format == "hepmc3" else self._hepmc2_parts()
        pending: list[GenRecord] = []
        count = 0
        for part in parts:
            if part.n_events == 0:
                continue
            pending.append(part)
            count += part.n_events
            while count >= block_size:
                merged = concatenate(pending)
                yield select_events(merged, 0, block_size)
                rest = select_events(merged, block_size, merged.n_events)
                pending = [rest] if rest.n_events else []
                count = rest.n_events
        if count:
            yield concatenate(pending)
        if self._events_seen == 0:
            msg = f"input file {self.path} holds no events"
            raise InputError(msg)

    # -- HepMC3: our reader -------------------------------------------------------------------

    def _read(self, size: int) -> bytes:
        try:
            return self._stream.read(size)
        except (OSError, EOFError, lzma.LZMAError) as err:
            msg = (
                f"input file {self.path} is damaged: it cannot be decompressed "
                f"({self.compression}) after event {self._events_seen}: {err}"
            )
            raise InputError(msg) from err

    def _hepmc3_parts(self) -> Iterator[GenRecord]:
        buffer = self._pending
        self._pending = b""
        start = buffer.find(b"\nE ")
        # Without an event start in what the header check read (a header of 64 KiB or more, or
        # an "E" line cut there), keep all of it: the scan passes over lines before an event.
        buffer = buffer[start + 1 :] if start >= 0 else buffer
        at_end = False
        while True:
            if not at_end:
                more = self._read(CHUNK_BYTES)
                at_end = not more
                buffer += more
            if at_end and not buffer.endswith(b"\n"):
                # A file cut short ends inside a line: leave that line out, so that its event
                # reads as truncated (too few particle lines), not as an unreadable line.
                buffer = buffer[: buffer.rfind(b"\n") + 1]
            cut = len(buffer) if at_end else buffer.rfind(b"\nE ") + 1
            if cut <= 0:
                if at_end:  # nothing left to parse (a header without events)
                    return
                if len(buffer) > MAX_EVENT_BYTES:
                    msg = (
                        f"input file {self.path}: event {self._events_seen + 1} is larger than "
                        f"{MAX_EVENT_BYTES >> 20} MiB of text; flashsim reads events up to that"
                    )
                    raise InputError(msg)
                continue
            complete, buffer = buffer[:cut], buffer[cut:]
            yield self._parse(complete, last=at_end)
            if at_end:
                return

    def _bad(self, reason: str) -> None:
        """An event is damaged: raise, or count it when skipping."""
        if not self.skip_bad_events:
            msg = (
                f"input file {self.path}: {reason}; pass --skip-bad-events to leave such events out"
            )
            raise InputError(msg)
        self.skipped_events += 1

    def _parse(self, text: bytes, *, last: bool) -> GenRecord:
        import pandas as pd

        from flashsim.generators.hepmc_scan import scan_events

        buf = np.frombuffer(text, dtype=np.uint8)
        particles, events, vertices, spans, bad_line = scan_events(buf)
        first_ordinal = self._events_seen
        self._events_seen += len(events)
        if bad_line >= 0:
            line = text.split(b"\n")[bad_line][:60]
            msg = f"input file {self.path} is damaged: cannot read the line {line!r}"
            raise InputError(msg)
        n_events = len(events)
        seen = events[:, 3]
        declared = events[:, 2]
        table = None
        if len(particles):
            try:
                table = _particle_table(particles)
            except (ValueError, pd.errors.ParserError) as err:
                reason = str(err).strip().splitlines()[-1] if str(err).strip() else "unreadable"
                table = None
            else:
                reason = f"{len(table)} particle lines read of {int(seen.sum())}"
            if table is None or len(table) != seen.sum():
                msg = (
                    f"input file {self.path} is damaged: a particle line of events "
                    f"{first_ordinal + 1}-{first_ordinal + n_events} cannot be read ({reason})"
                )
                raise InputError(msg)
        values = (
            {c: table[c].to_numpy() for c in _COLUMNS}
            if table is not None
            else {c: np.zeros(0) for c in _COLUMNS}
        )
        row_event = np.repeat(np.arange(n_events), seen)
        row_start = np.concatenate([[0], np.cumsum(seen)])
        local = np.arange(len(row_event)) - row_start[row_event]
        good = seen == declared
        finite = np.ones(len(row_event), dtype=bool)
        for column in _COLUMNS:
            finite &= np.isfinite(values[column])
        for column in ("id", "parent", "pid", "status"):  # integers: in the range of int32
            finite &= np.abs(values[column]) < 2**31
        row_ok = finite & (values["id"] == local + 1)
        good &= np.bincount(row_event[~row_ok], minlength=n_events) == 0
        final = np.bincount(row_event[values["status"] == 1], minlength=n_events) > 0
        good_before_final = good.copy()
        good &= final
        for k in np.flatnonzero(~good):
            number = int(events[k, 0])
            ordinal = first_ordinal + k + 1
            if seen[k] != declared[k] and last and k == n_events - 1:
                self._bad(
                    f"the file is truncated: event {number} (the {_ordinal(ordinal)}) has "
                    f"{seen[k]} of its {declared[k]} particles"
                )
            elif not good_before_final[k]:
                what = (
                    f"{seen[k]} particle lines for {declared[k]} declared"
                    if seen[k] != declared[k]
                    else "a particle line cannot be read"
                )
                self._bad(f"event {number} (the {_ordinal(ordinal)}) is damaged: {what}")
            else:
                self._bad(f"event {number} (the {_ordinal(ordinal)}) has no final-state particle")
        units_p, _units_l, weight, scale = self._event_lines(text, spans, n_events, events)
        # Mothers: a particle id, or an explicit vertex whose lowest incoming particle it is.
        parent = np.where(finite, values["parent"], 0).astype(np.int64)
        # A vertex has a particle in or out, and a particle one vertex at each end: at most
        # 2n + 1 vertices for n particles, whatever a damaged "E" line declares.
        n_vertices = np.clip(events[:, 1], 0, 2 * seen + 1)
        voffset = np.concatenate([[0], np.cumsum(n_vertices)])
        lowest = np.zeros(int(voffset[-1]) + 1, dtype=np.int64)
        vid = -vertices[:, 1]
        ok_v = (vid >= 1) & (vid <= n_vertices[vertices[:, 0]])
        lowest[voffset[vertices[ok_v, 0]] + vid[ok_v] - 1] = vertices[ok_v, 2]
        from_vertex = parent < 0
        vindex = voffset[row_event] + (-parent) - 1
        vindex = np.where(from_vertex & (-parent <= n_vertices[row_event]), vindex, len(lowest) - 1)
        mother_id = np.where(from_vertex, lowest[vindex], parent)
        mother = np.where((mother_id >= 1) & (mother_id <= seen[row_event]), mother_id - 1, -1)
        # Keep the good events only.
        keep_rows = good[row_event]
        kept_events = np.flatnonzero(good)
        counts = seen[kept_events]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        scale_p = units_p[row_event][keep_rows]
        record = GenRecord(
            offsets=offsets,
            pdg=values["pid"][keep_rows].astype(np.int32),
            status=values["status"][keep_rows].astype(np.int32),
            mother=mother[keep_rows].astype(np.int64),
            px=values["px"][keep_rows] * scale_p,
            py=values["py"][keep_rows] * scale_p,
            pz=values["pz"][keep_rows] * scale_p,
            e=values["e"][keep_rows] * scale_p,
            mass=values["m"][keep_rows] * scale_p,
            weight=weight[kept_events],
            event_number=events[kept_events, 0].astype(np.int64),
            binvar=scale[kept_events] * units_p[kept_events],
        )
        return in_topological_order(record)

    def _event_lines(
        self, text: bytes, spans: np.ndarray, n_events: int, events: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per event: momentum unit factor, length unit factor, nominal weight, event scale."""
        units_p = np.ones(n_events)
        units_l = np.ones(n_events)
        weight = np.ones(n_events)
        scale = np.full(n_events, np.nan)
        for k, kind, a, b in spans.tolist():
            line = text[a:b]
            if kind == 85:  # U
                fields = line.split()
                if len(fields) != 3 or fields[1] not in _MOMENTUM or fields[2] not in _LENGTH:
                    msg = (
                        f"input file {self.path}: event {int(events[k, 0])} has unknown units "
                        f"{line.decode('ascii', 'replace')!r}; HepMC units are GEV or MEV and MM "
                        "or CM"
                    )
                    raise InputError(msg)
                units_p[k] = _MOMENTUM[fields[1]]
                units_l[k] = _LENGTH[fields[2]]
            elif kind == 87:  # W
                fields = line.split(maxsplit=2)
                if len(fields) > 1:
                    try:
                        weight[k] = float(fields[1])
                    except ValueError:
                        self._bad_line(events[k, 0], line)
            elif line.startswith(b"A 0 event_scale "):
                try:
                    scale[k] = float(line[16:])
                except ValueError:
                    self._bad_line(events[k, 0], line)
        return units_p, units_l, weight, scale

    def _bad_line(self, number: int, line: bytes) -> None:
        msg = f"input file {self.path} is damaged: event {number} has the line {line[:60]!r}"
        raise InputError(msg)

    def _hepmc2_parts(self) -> Iterator[GenRecord]:
        """HepMC2 files, read by pyhepmc (:func:`flashsim.generators.hepmc2.read_hepmc2`)."""
        from flashsim.generators.hepmc2 import read_hepmc2

        self.close()
        yield from read_hepmc2(self.path, self._count_event, self._bad)

    def _count_event(self) -> None:
        self._events_seen += 1

"""Les Houches event files showered by Pythia 8: :class:`LHESource` (``flashsim gen --lhe``).

Pythia reads the file itself (``Beams:frameType = 4``, ``Beams:LHEF = FILE``); plain and
gzip-compressed files are read as they are (the ``pythia8mc`` wheel reads gzip through zlib,
whatever the file's name), bzip2 and xz files are first decompressed, streamed, into a temporary
directory that :meth:`LHESource.close` removes.

Before Pythia starts, :func:`scan_lhe` reads the file once, streamed (no more than 16 MiB in
memory): it must open with ``<LesHouchesEvents``, have a readable ``<init>`` block, as many
``</event>`` as ``<event>`` tags and end with ``</LesHouchesEvents>``. So a truncated file is one
:class:`~flashsim.exceptions.InputError` before any work, and the number of events is known (for
the progress bar). The scan also finds the generators the header names, for the provenance:
LHEF 3 ``<generator name=... version=...>`` tags, or MadGraph's ``<MGVersion>``.

How Pythia reads the file: each ``Pythia::next()`` reads exactly one LHE event; at the end of the
file, or on an event it cannot read (a damaged line), ``next()`` fails and
``Info::atEndOfFile()`` is true (after a damaged event the next call reads the following event).
``Pythia.nextBatch(n, errorMode)`` of ``pythia8mc`` makes exactly ``n`` calls of ``next()``:
with ``"skip"`` it drops the failures (a short batch at the end of the file, an empty one
after it), with ``"none"`` it keeps them as ``None``, with ``"fail"`` it raises a
``RuntimeError`` on the first, and with a float factor it retries (``-1``: forever, which never
ends at the end of a file). Knowing the number of events from the scan, :class:`LHESource`
asks for no more tries than events left, in ``"none"`` mode, so that every failed try is one
LHE event that could not be read or showered, at a known place in the file.

References:
    J. Alwall et al., "A standard format for Les Houches Event Files", Comput. Phys. Commun. 176
    (2007) 300, hep-ph/0609017; J. R. Andersen et al., "Les Houches 2013: Physics at TeV
    Colliders: Standard Model Working Group Report", arXiv:1405.1067 (LHEF version 3, section
    22); C. Bierlich et al., "A comprehensive guide to the physics and usage of PYTHIA 8.3",
    SciPost Phys. Codebases 8 (2022), arXiv:2203.11601 (section 9, Les Houches input).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import awkward as ak
import numpy as np

from flashsim.exceptions import ConfigurationError, InputError
from flashsim.generators.cards import (
    CONVENTIONS,
    FLASHSIM_ORIGIN,
    check_settings,
    make_generator,
    pythia_seed,
)
from flashsim.generators.pythia import capture_stdout, pythia_version
from flashsim.generators.record import GenRecord, to_record
from flashsim.generators.source import EventSource
from flashsim.io.paths import check_readable_file
from flashsim.provenance import input_record

__all__ = ["PYTHIA_READS", "LHEScan", "LHESource", "open_lhe", "scan_lhe"]

#: Compressions Pythia reads directly; others are decompressed to a temporary file first.
PYTHIA_READS = ("none", "gzip")
#: Bytes read at a time by the scan.
SCAN_BYTES = 16 << 20
#: Where ``<LesHouchesEvents`` must appear.
HEAD_BYTES = 16 << 10
#: The largest header + ``<init>`` block accepted.
MAX_HEADER_BYTES = 64 << 20

_OPEN = re.compile(rb"<event[\s>]")
_CLOSE = b"</event>"
_END = b"</LesHouchesEvents>"
_GENERATOR = re.compile(rb"<generator\b([^>]*)>", re.IGNORECASE)
_ATTRIBUTE = re.compile(rb"""(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_MG_VERSION = re.compile(rb"<MGVersion>\s*#?\s*([^<\s]+)\s*</MGVersion>", re.IGNORECASE)


@dataclass
class LHEScan:
    """What :func:`scan_lhe` found in an LHE file."""

    compression: str
    events: int
    beams: tuple[int, int]
    energies: tuple[float, float]
    weight_strategy: int
    generators: list[dict[str, str]] = field(default_factory=list)


def open_lhe(path: Path) -> tuple[IO[bytes], IO[bytes], str]:
    """Open ``path`` for reading, decompressing gzip, bzip2 or xz (found by the first bytes).

    Returns:
        ``(raw, stream, compression)``: the file, the decompressed stream, and ``gzip``,
        ``bzip2``, ``xz`` or ``none``.
    """
    raw = path.open("rb")
    head = raw.read(6)
    raw.seek(0)
    if head.startswith(b"\x1f\x8b"):
        return raw, gzip.GzipFile(fileobj=raw, mode="rb"), "gzip"
    if head.startswith(b"BZh"):
        return raw, bz2.BZ2File(raw, "rb"), "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return raw, lzma.LZMAFile(raw, "rb"), "xz"
    return raw, raw, "none"


def _not_lhe(path: Path, head: bytes) -> InputError:
    text = head.lstrip()
    first = text[:40].split(b"\n")[0].decode("ascii", "replace")
    hint = ""
    if text.startswith(b"HepMC::Version"):
        hint = "; it is a HepMC file: give it to flashsim gen as input"
    elif text.startswith(b"root"):
        hint = "; it is a ROOT file"
    msg = f"{path} is not an LHE file (it starts with {first!r}, not '<LesHouchesEvents'){hint}"
    return InputError(msg)


def _header_generators(header: bytes) -> list[dict[str, str]]:
    """Generators named in the header and ``<init>`` block."""
    found: list[dict[str, str]] = []
    for tag in _GENERATOR.finditer(header):
        attributes = {
            m.group(1).decode("ascii", "replace").lower(): (m.group(2) or m.group(3) or b"")
            .decode("utf-8", "replace")
            .strip()
            for m in _ATTRIBUTE.finditer(tag.group(1))
        }
        if attributes.get("name"):
            found.append({"name": attributes["name"], "version": attributes.get("version", "")})
    if not any(g["name"].lower().startswith("madgraph") for g in found):
        mg = _MG_VERSION.search(header)
        if mg:
            version = mg.group(1).decode("utf-8", "replace")
            found.insert(0, {"name": "MadGraph5_aMC@NLO", "version": version})
    unique = {(g["name"], g["version"]): g for g in found}
    return list(unique.values())


def _parse_init(path: Path, block: bytes) -> tuple[tuple[int, int], tuple[float, float], int]:
    """Beams, beam energies and weight strategy of an ``<init>`` block (text after the tag)."""
    lines = [
        line.split(b"#")[0].strip()
        for line in block.split(b"\n")
        if line.strip() and not line.strip().startswith((b"<", b"#"))
    ]
    try:
        fields = lines[0].split()
        if len(fields) < 10:
            raise ValueError("fewer than 10 numbers")
        beams = (int(fields[0]), int(fields[1]))
        energies = (float(fields[2]), float(fields[3]))
        strategy, n_processes = int(fields[8]), int(fields[9])
        if n_processes < 1 or len(lines) < 1 + n_processes:
            raise ValueError(f"{n_processes} processes declared, {len(lines) - 1} given")
        for line in lines[1 : 1 + n_processes]:
            values = line.split()
            if len(values) < 4:
                raise ValueError("a process line has fewer than 4 numbers")
            for value in values[:3]:
                float(value)
            int(values[3])
    except (IndexError, ValueError) as err:
        msg = f"LHE file {path} has a damaged <init> block ({err or 'empty'}); check the file"
        raise InputError(msg) from err
    return beams, energies, strategy


def scan_lhe(path: Path) -> LHEScan:
    """Check an LHE file and count its events, reading it once (streamed).

    Raises:
        InputError: the file is not LHE, cannot be decompressed, has no readable ``<init>``
            block, holds no events, or is truncated.
    """
    raw, stream, compression = open_lhe(path)
    try:
        try:
            return _scan(path, stream, compression)
        except (OSError, EOFError, lzma.LZMAError) as err:
            msg = (
                f"LHE file {path} cannot be decompressed ({compression}): {err}; "
                "the file is damaged or truncated"
            )
            raise InputError(msg) from err
    finally:
        for handle in (stream, raw):
            handle.close()


def _scan(path: Path, stream: Any, compression: str) -> LHEScan:
    head = stream.read(HEAD_BYTES)
    start = head.find(b"<LesHouchesEvents")
    if start < 0:
        raise _not_lhe(path, head)
    header = head[start:]
    while b"</init>" not in header:
        more = stream.read(SCAN_BYTES)
        if not more or len(header) > MAX_HEADER_BYTES:
            where = "the file ends" if not more else f"the first {MAX_HEADER_BYTES >> 20} MiB"
            msg = f"LHE file {path} has no complete <init> block ({where} before </init>)"
            raise InputError(msg)
        header += more
    end_init = header.index(b"</init>")
    init_at = header.rfind(b"<init", 0, end_init)
    if init_at < 0:
        msg = f"LHE file {path} has no <init> block"
        raise InputError(msg)
    init_text = header[header.index(b">", init_at) + 1 : end_init]
    beams, energies, strategy = _parse_init(path, init_text)
    generators = _header_generators(header[:end_init])
    buffer = header[end_init:]
    opened = closed = 0
    tail = b""
    at_end = False
    while not at_end:
        more = stream.read(SCAN_BYTES)
        at_end = not more
        buffer += more
        cut = len(buffer) if at_end else buffer.rfind(b"\n") + 1
        part, buffer = buffer[:cut], buffer[cut:]
        opened += len(_OPEN.findall(part))
        closed += part.count(_CLOSE)
        if part.strip():
            tail = (tail + part)[-4096:]
    ended = tail.rstrip().endswith(_END)
    if opened != closed or not ended:
        inside = f"inside event {closed + 1}" if opened != closed else "without </LesHouchesEvents>"
        msg = (
            f"LHE file {path} is truncated: it ends {inside}, after {closed} complete events; "
            "copy or generate it again"
        )
        raise InputError(msg)
    if opened == 0:
        msg = f"LHE file {path} holds no events"
        raise InputError(msg)
    return LHEScan(compression, opened, beams, energies, strategy, generators)


class LHESource(EventSource):
    """The events of a Les Houches event file, showered and hadronised by Pythia 8.

    All events come from one Pythia instance, in the order of the file, whatever the block size;
    event numbers run from 1. The event weight is Pythia's (the LHE event weight, sign
    included, for the usual weight strategies), ``Generator_binvar`` Pythia's pT-hat.

    Arguments:
        path: the LHE file (plain, gzip, bzip2 or xz).
        n_events: at most this many events; ``None`` reads the file to its end.
        seed: the run's seed; the Pythia seed is drawn from it
            (:func:`flashsim.generators.cards.pythia_seed`).
        settings: more Pythia settings (e.g. a card's, from ``--pythia``), applied after
            :data:`flashsim.generators.cards.CONVENTIONS` and the input settings
            (``Beams:frameType = 4``, ``Beams:LHEF``), which they must not change.
        origins: where each of ``settings`` comes from (e.g. ``card X line 3``), for messages.
        skip_bad_events: leave out (and count in :attr:`skipped_events`) events that Pythia
            cannot read or shower, instead of stopping.

    Attributes:
        pythia_file: the file Pythia reads (the input, or its copy or link in a temporary
            directory removed by :meth:`close`).
        scan: what :func:`scan_lhe` found (compression, number of events, generators).

    Raises:
        InputError: the file is missing, not LHE, damaged or truncated (before any event).
        ConfigurationError: a setting Pythia rejects, settings that change the input, or Pythia
            fails to initialise.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        n_events: int | None,
        seed: int,
        settings: Sequence[str] | None = None,
        *,
        origins: Sequence[str] | None = None,
        skip_bad_events: bool = False,
    ) -> None:
        self.path = check_readable_file(path, "LHE file")
        if n_events is not None and n_events < 1:
            msg = f"the number of events must be at least 1, got {n_events}"
            raise ConfigurationError(msg)
        self.scan = scan_lhe(self.path)
        self.n_events = n_events
        self.seed = int(seed)
        self.pythia_seed = pythia_seed(self.seed)
        self.skip_bad_events = skip_bad_events
        self.skipped_events = 0
        self.expected_events = min(n_events or self.scan.events, self.scan.events)
        self.extra_settings = list(settings or [])
        if origins is None:
            origins = [f"setting {k + 1}" for k in range(len(self.extra_settings))]
        if len(origins) != len(self.extra_settings):
            msg = "origins must give one origin per setting"
            raise ValueError(msg)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        try:
            self.pythia_file = self._file_for_pythia()
            inputs = ["Beams:frameType = 4", f"Beams:LHEF = {self.pythia_file}"]
            self.settings = [*CONVENTIONS, *inputs, *self.extra_settings]
            scratch = check_settings(
                self.settings,
                [FLASHSIM_ORIGIN] * (len(CONVENTIONS) + 2) + list(origins),
            )
            word, mode = scratch.settings.word, scratch.settings.mode
            if mode("Beams:frameType") != 4 or word("Beams:LHEF") != self.pythia_file:
                msg = (
                    f"the Pythia settings for LHE file {self.path} change Beams:frameType or "
                    "Beams:LHEF, which --lhe sets: remove them from the card"
                )
                raise ConfigurationError(msg)
            self.origin = f"LHE file {self.path}"
            self._generator = make_generator(self.settings, self.pythia_seed, self.origin)
        except BaseException:
            self.close()
            raise

    def _file_for_pythia(self) -> str:
        """The path Pythia reads: the file itself, or a decompressed copy or a link to it in a
        temporary directory (for bzip2 and xz, or a path Pythia's settings cannot hold)."""
        given = str(self.path.resolve())
        plain_path = not re.search(r"[\s=!#]", given)
        if self.scan.compression in PYTHIA_READS and plain_path:
            return given
        self._tmp = tempfile.TemporaryDirectory(prefix="flashsim-lhe-")
        target = Path(self._tmp.name) / "events.lhe"
        if self.scan.compression in PYTHIA_READS:
            target.symlink_to(given)
            return str(target)
        raw, stream, _ = open_lhe(self.path)
        try:
            with target.open("wb") as out:
                shutil.copyfileobj(stream, out, SCAN_BYTES)
        except (OSError, EOFError, lzma.LZMAError) as err:
            msg = f"LHE file {self.path} cannot be decompressed to {target.parent}: {err}"
            raise InputError(msg) from err
        finally:
            stream.close()
            raw.close()
        return str(target)

    def provenance(self) -> dict[str, Any]:
        """The file (path, size; SHA-256 added by the caller), its events, the generators of the
        header followed by Pythia 8 (the shower), the settings applied and the seeds."""
        lhef = f"Beams:LHEF = {self.path.resolve()}"
        settings = [lhef if s.startswith("Beams:LHEF = ") else s for s in self.settings]
        return {
            "source": "lhe",
            "compression": self.scan.compression,
            **input_record(self.path, None),
            "lhe_events": self.scan.events,
            "lhe_beams": list(self.scan.beams),
            "lhe_beam_energies": list(self.scan.energies),
            "lhe_weight_strategy": self.scan.weight_strategy,
            "n_events": self.n_events,
            "seed": self.seed,
            "pythia_seed": self.pythia_seed,
            "settings": [*settings, "Random:setSeed = on", f"Random:seed = {self.pythia_seed}"],
            "shower": "Pythia8",
            "generators": [
                *self.scan.generators,
                {"name": "Pythia8", "version": pythia_version()},
            ],
        }

    def size_bytes(self) -> int | None:
        """Size of the file on disk."""
        return self.path.stat().st_size

    def close(self) -> None:
        """Remove the temporary directory of a decompressed copy, if any."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def records(self, block_size: int) -> Iterator[GenRecord]:
        """The events in blocks of ``block_size``, numbered from 1."""
        if block_size < 1:
            msg = f"block_size must be at least 1, got {block_size}"
            raise ValueError(msg)
        pythia = self._generator.pythia
        target = self.expected_events
        produced = 0
        read = 0
        while produced < target and read < self.scan.events:
            parts = []
            size = min(block_size, target - produced)
            got = 0
            while got < size and read < self.scan.events:
                tries = min(size - got, self.scan.events - read)
                with capture_stdout():
                    batch = pythia.nextBatch(tries, "none")
                failed = np.flatnonzero(ak.to_numpy(ak.is_none(batch)))
                for k in failed.tolist():
                    self._bad(read + k + 1)
                read += tries
                good = ak.drop_none(batch) if len(failed) else batch
                if len(good):
                    parts.append(good)
                    got += len(good)
            if not got:
                break
            events = parts[0] if len(parts) == 1 else ak.concatenate(parts)
            record = to_record(self._generator.to_table(events))[0]
            record.event_number = np.arange(produced + 1, produced + got + 1, dtype=np.int64)
            produced += got
            yield record
        if produced == 0:
            msg = f"none of the {read} events of LHE file {self.path} could be read or showered"
            raise InputError(msg)

    def _bad(self, ordinal: int) -> None:
        """LHE event ``ordinal`` (from 1) could not be read or showered: raise, or count it."""
        if not self.skip_bad_events:
            msg = (
                f"LHE file {self.path} is damaged: Pythia could not read or shower its event "
                f"{ordinal}; pass --skip-bad-events to leave such events out"
            )
            raise InputError(msg)
        self.skipped_events += 1

"""Events from the user's own Pythia 8 card: :class:`PythiaCardSource` (``flashsim gen --pythia``).

A card (``.cmnd``) is a list of Pythia settings, one per line, exactly as ``Pythia::readFile``
reads them: blank lines and comment lines (any line that does not start with a letter or digit,
e.g. ``!``, ``#`` or ``//``) are left out, and so is a comment at the end of a line (from ``!``,
or from `` #`` / `` //`` after a blank). Every other line is a setting.

What Pythia gets, in order (later settings win):

1. :data:`CONVENTIONS`, the conventions the generator level relies on, which a card may change:
   particles with a proper lifetime ``c*tau`` above 10 mm are left undecayed by Pythia, as in
   the common CMS generator settings (``Pythia8CommonSettings``): long-lived particles such as
   K0S, Lambda or the charged pions and kaons reach the detector simulation (GEANT in CMS)
   undecayed, while b and c hadrons and tau leptons decay inside Pythia, so that
   ``GenPart`` and the jet-flavour labels see their decay products and displaced vertices, as
   for ``flashsim refsim`` (:data:`flashsim.refsim.processes.COMMON`);
2. the card's lines;
3. the seed (``Random:setSeed = on``, ``Random:seed = S``), drawn from ``--seed`` with
   :func:`pythia_seed`: a ``Random:seed`` of the card is overridden by ``--seed``.

A setting Pythia does not know is reported with Pythia's own message, the card and the line
(every line is first tried on a scratch Pythia instance, :func:`check_settings`).

References:
    C. Bierlich et al., "A comprehensive guide to the physics and usage of PYTHIA 8.3",
    SciPost Phys. Codebases 8 (2022), arXiv:2203.11601 (settings files, section 2.3);
    CMS Collaboration, "Extraction and validation of a new set of CMS PYTHIA8 tunes from
    underlying-event measurements", Eur. Phys. J. C 80 (2020) 4, arXiv:1903.12179 (the CMS
    Pythia 8 settings, including ``ParticleDecays:limitTau0``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from flashsim.exceptions import ConfigurationError, InputError
from flashsim.generators.pythia import (
    MAX_PYTHIA_SEED,
    PythiaGenerator,
    capture_stdout,
    pythia_version,
)
from flashsim.generators.record import GenRecord, to_record
from flashsim.generators.source import EventSource
from flashsim.io.paths import check_readable_file
from flashsim.provenance import file_digest

__all__ = [
    "CONVENTIONS",
    "MAX_CARD_BYTES",
    "PythiaCard",
    "PythiaCardSource",
    "check_settings",
    "explain_init_failure",
    "generate_events",
    "make_generator",
    "pythia_seed",
    "read_card",
]

#: The largest card read (a card is a few hundred lines of settings).
MAX_CARD_BYTES = 1 << 20
#: Settings applied before the card's own (see the module docstring); a card may change them.
CONVENTIONS: tuple[str, ...] = (
    "ParticleDecays:limitTau0 = on",
    "ParticleDecays:tau0Max = 10",
)
#: Origin of the settings flashsim adds itself, in error messages.
FLASHSIM_ORIGIN = "flashsim's settings"

_N_EVENTS = re.compile(r"^\s*main:numberofevents(?=[\s=]|$)", re.IGNORECASE)
_TRAILING_COMMENT = re.compile(r"!|\s#|\s//")


@dataclass(frozen=True)
class PythiaCard:
    """A Pythia card read by :func:`read_card`.

    Attributes:
        path: the card (absolute).
        sha256: SHA-256 of its bytes.
        settings: its settings, comments removed, in order.
        origins: for each setting, ``card NAME line N`` (for error messages).
        has_n_events: whether the card sets ``Main:numberOfEvents``.
    """

    path: Path
    sha256: str
    settings: list[str]
    origins: list[str]
    has_n_events: bool


def strip_comment(line: str) -> str:
    """A card line without its comment and surrounding blanks (``""`` for a comment line)."""
    text = line.strip()
    if not text or not text[0].isalnum():
        return ""
    match = _TRAILING_COMMENT.search(text)
    return (text[: match.start()] if match else text).strip()


def read_card(path: str | os.PathLike[str]) -> PythiaCard:
    """Read a Pythia card (at most :data:`MAX_CARD_BYTES`).

    Raises:
        InputError: the card is missing, unreadable, too large or not text.
    """
    file = check_readable_file(path, "Pythia card")
    size = file.stat().st_size
    if size > MAX_CARD_BYTES:
        msg = (
            f"Pythia card {file} is {size} bytes; flashsim reads cards up to "
            f"{MAX_CARD_BYTES >> 20} MiB of settings: is it the right file?"
        )
        raise InputError(msg)
    data = file.read_bytes()[: MAX_CARD_BYTES + 1]
    try:
        if b"\x00" in data:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte")
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        msg = f"Pythia card {file} is not a text file of Pythia settings ({err.reason})"
        raise InputError(msg) from err
    settings: list[str] = []
    origins: list[str] = []
    has_n_events = False
    for number, line in enumerate(text.splitlines(), start=1):
        setting = strip_comment(line)
        if not setting:
            continue
        settings.append(setting)
        origins.append(f"card {file.name} line {number}")
        has_n_events |= bool(_N_EVENTS.match(setting))
    if not settings:
        msg = f"Pythia card {file} holds no settings (only comments and blank lines)"
        raise ConfigurationError(msg)
    return PythiaCard(
        path=file.resolve(),
        sha256=file_digest(file),
        settings=settings,
        origins=origins,
        has_n_events=has_n_events,
    )


def pythia_seed(seed: int) -> int:
    """The Pythia seed (1 .. :data:`MAX_PYTHIA_SEED`) of the user's ``--seed``, drawn from
    ``numpy.random.SeedSequence(seed)`` as :func:`flashsim.refsim.blocks.pythia_seed` does.

    Raises:
        ConfigurationError: the seed is negative.
    """
    if seed < 0:
        msg = f"the seed must be a non-negative integer, got {seed}"
        raise ConfigurationError(msg)
    state = np.random.SeedSequence(seed).generate_state(1)[0]
    return int(state % MAX_PYTHIA_SEED) + 1


def check_settings(settings: Sequence[str], origins: Sequence[str]) -> Any:
    """Apply ``settings`` one by one to a scratch (uninitialised) Pythia instance.

    Arguments:
        settings: ``readString`` lines.
        origins: where each line comes from, e.g. ``card ttH.cmnd line 3``.

    Returns:
        the scratch ``pythia8mc.Pythia`` with the settings applied (to read them back).

    Raises:
        ConfigurationError: Pythia rejects a line: one line with its origin and Pythia's message.
    """
    try:
        import pythia8mc
    except ImportError as err:  # pragma: no cover - depends on the environment
        msg = "generating events needs Pythia 8: pip install 'flashsim[refsim]'"
        raise ConfigurationError(msg) from err
    with capture_stdout():
        scratch = pythia8mc.Pythia("", False)
    for line, origin in zip(settings, origins, strict=True):
        with capture_stdout() as out:
            accepted = scratch.readString(line)
        if not accepted:
            said = "; ".join(m.rstrip(":") for m in out.messages()) or "unknown setting"
            msg = f"{origin}: Pythia rejected {line!r}: {said}"
            raise ConfigurationError(msg)
    return scratch


def explain_init_failure(settings: Sequence[str]) -> str:
    """Pythia's own messages on why ``settings`` do not initialise (``""`` when it gives none).

    :class:`~flashsim.generators.pythia.PythiaGenerator` keeps Pythia quiet; this initialises a
    scratch instance with its messages on, for the error message only.
    """
    import pythia8mc

    with capture_stdout():
        scratch = pythia8mc.Pythia("", False)
        for line in [*settings, "Init:showChangedSettings = off", "Init:showProcesses = off"]:
            scratch.readString(line)
    with capture_stdout() as out:
        scratch.init()
    said = [m for m in out.messages() if "Abort" in m or "Error" in m]
    return "; ".join(dict.fromkeys(said))


def generate_events(
    generator: PythiaGenerator, n_events: int, origin: str, failed: int = 0
) -> tuple[ak.Array, int]:
    """Exactly ``n_events`` events from ``generator`` (a ``nextBatch`` array).

    Events Pythia fails to generate are left out and replaced by new ones, as Pythia's own main
    programs do, up to ``Main:timesAllowErrors`` failures in the whole run (10 unless the
    settings say otherwise).

    Arguments:
        failed: failures earlier in the run.

    Returns:
        the events and the failures of the run so far.

    Raises:
        ConfigurationError: more failures than allowed.
    """
    pythia = generator.pythia
    allowed = pythia.settings.mode("Main:timesAllowErrors")
    batches = []
    got = 0
    while got < n_events:
        want = n_events - got
        with capture_stdout():
            batch = pythia.nextBatch(want, "skip")
        got += len(batch)
        if len(batch):
            batches.append(batch)
        failed += want - len(batch)
        if failed > allowed:
            msg = (
                f"{origin}: Pythia failed to generate {failed} events "
                f"(Main:timesAllowErrors = {allowed}); check the settings"
            )
            raise ConfigurationError(msg)
    return (batches[0] if len(batches) == 1 else ak.concatenate(batches)), failed


def make_generator(settings: Sequence[str], seed: int, origin: str) -> PythiaGenerator:
    """A :class:`~flashsim.generators.pythia.PythiaGenerator`, with Pythia's reason when it
    fails to initialise."""
    try:
        return PythiaGenerator(settings, seed, origin=origin)
    except ConfigurationError as err:
        if "failed to initialise" not in str(err) or ": PYTHIA" in str(err):
            raise
        reason = explain_init_failure(settings)
        if not reason:
            raise
        msg = f"{origin}: Pythia failed to initialise: {reason}"
        raise ConfigurationError(msg) from err


class PythiaCardSource(EventSource):
    """Events generated by Pythia 8 from the user's card.

    All events come from one Pythia instance, in blocks: the events do not depend on the block
    size. Event numbers run from 1; ``Generator_binvar`` is Pythia's pT-hat.

    Arguments:
        card: the card (``.cmnd``).
        n_events: how many events; ``None`` takes the card's ``Main:numberOfEvents``.
        seed: the run's seed (``--seed``); the Pythia seed is drawn from it
            (:func:`pythia_seed`) and overrides any ``Random:seed`` of the card.

    Raises:
        InputError: the card is missing, unreadable, larger than 1 MiB or not text.
        ConfigurationError: no number of events, a setting Pythia rejects (with the card's line),
            a card that reads an LHE file (use :class:`flashsim.generators.lhe.LHESource`), or
            Pythia fails to initialise.
    """

    def __init__(self, card: str | os.PathLike[str], n_events: int | None, seed: int) -> None:
        self.card = read_card(card)
        self.seed = int(seed)
        self.pythia_seed = pythia_seed(self.seed)
        self.settings = [*CONVENTIONS, *self.card.settings]
        origins = [FLASHSIM_ORIGIN] * len(CONVENTIONS) + self.card.origins
        scratch = check_settings(self.settings, origins)
        if n_events is None:
            if not self.card.has_n_events:
                msg = (
                    f"Pythia card {self.card.path} does not say how many events to generate "
                    "(Main:numberOfEvents): pass -n N"
                )
                raise ConfigurationError(msg)
            n_events = int(scratch.settings.mode("Main:numberOfEvents"))
            if n_events < 1:
                msg = f"Pythia card {self.card.path} asks for {n_events} events: pass -n N"
                raise ConfigurationError(msg)
        if n_events < 1:
            msg = f"the number of events must be at least 1, got {n_events}"
            raise ConfigurationError(msg)
        if scratch.settings.mode("Beams:frameType") in (4, 5):
            msg = (
                f"Pythia card {self.card.path} reads its events from a file "
                "(Beams:frameType = 4 or 5): give the LHE file with --lhe FILE instead"
            )
            raise ConfigurationError(msg)
        self.n_events = int(n_events)
        self.expected_events = self.n_events
        self.skipped_events = 0
        #: Events Pythia failed to generate (replaced by new ones).
        self.failed_events = 0
        self.origin = f"Pythia card {self.card.path.name}"
        self._generator = make_generator(self.settings, self.pythia_seed, self.origin)

    def applied_settings(self) -> list[str]:
        """The settings Pythia got besides flashsim's print-out ones, in order."""
        return [*self.settings, "Random:setSeed = on", f"Random:seed = {self.pythia_seed}"]

    def provenance(self) -> dict[str, Any]:
        """The card (path, SHA-256), the settings applied, the number of events and the seeds."""
        return {
            "source": "pythia",
            "card": str(self.card.path),
            "card_sha256": self.card.sha256,
            "settings": self.applied_settings(),
            "n_events": self.n_events,
            "seed": self.seed,
            "pythia_seed": self.pythia_seed,
            "generators": [{"name": "Pythia8", "version": pythia_version()}],
        }

    def records(self, block_size: int) -> Iterator[GenRecord]:
        """The events in blocks of ``block_size``, numbered from 1."""
        if block_size < 1:
            msg = f"block_size must be at least 1, got {block_size}"
            raise ValueError(msg)
        produced = 0
        while produced < self.n_events:
            size = min(block_size, self.n_events - produced)
            batch, self.failed_events = generate_events(
                self._generator, size, self.origin, self.failed_events
            )
            record = to_record(self._generator.to_table(batch))[0]
            record.event_number = np.arange(produced + 1, produced + size + 1, dtype=np.int64)
            produced += size
            yield record

"""Which :class:`~flashsim.generators.source.EventSource` reads an input: :func:`open_source`.

A HepMC3 or HepMC2 ASCII file (optionally gzip, bzip2 or xz compressed) is read by
:class:`~flashsim.generators.hepmc_read.HepMCSource`; ``pythia=CARD`` runs Pythia 8 on the user's
card (:class:`~flashsim.generators.cards.PythiaCardSource`); ``lhe=FILE`` showers a Les Houches
event file with Pythia (:class:`~flashsim.generators.lhe.LHESource`, the card's settings added).
:func:`is_generator_input` tells ``flashsim run`` whether an input is generator output rather
than a ROOT file.
"""

from __future__ import annotations

import os
from pathlib import Path

from flashsim.exceptions import ConfigurationError
from flashsim.generators.source import EventSource

__all__ = ["is_generator_input", "open_source"]


def is_generator_input(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an existing regular file that starts as generator output does: a
    HepMC header (``HepMC::Version``), an LHE file (``<LesHouchesEvents``, after an optional
    XML declaration) or a gzip, bzip2 or xz stream (compressed HepMC or LHE). Anything else,
    ROOT files and missing files included, is not (``flashsim run`` then reports it as a
    ROOT input)."""
    file = Path(path)
    try:
        if not file.is_file():
            return False
        with file.open("rb") as stream:
            head = stream.read(512)
    except OSError:
        return False
    text = head.lstrip()
    return (
        text.startswith((b"HepMC::Version", b"<LesHouchesEvents"))
        or (text.startswith(b"<?xml") and b"<LesHouchesEvents" in text)
        or head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00"))
    )


def open_source(
    path: str | os.PathLike[str] | None = None,
    *,
    pythia: str | os.PathLike[str] | None = None,
    lhe: str | os.PathLike[str] | None = None,
    n_events: int | None = None,
    seed: int = 0,
    skip_bad_events: bool = False,
) -> EventSource:
    """The event source of an input file, a Pythia card or an LHE file.

    Arguments:
        path: a HepMC file.
        pythia: a Pythia card (alone: Pythia generates; with ``lhe``: extra settings).
        lhe: an LHE file to shower with Pythia.
        n_events: events to generate (Pythia card; default its ``Main:numberOfEvents``) or at
            most to read.
        seed: Pythia's seed is derived from it.
        skip_bad_events: leave out damaged events of a HepMC file.

    Raises:
        ConfigurationError: none or more than one of ``path`` and ``pythia``/``lhe``.
        InputError: the file is missing, unreadable or not what it should be.
    """
    if path is not None and (pythia is not None or lhe is not None):
        msg = "give either an input file or --pythia/--lhe, not both"
        raise ConfigurationError(msg)
    if lhe is not None:
        from flashsim.generators.cards import read_card
        from flashsim.generators.lhe import LHESource

        card = read_card(pythia) if pythia is not None else None
        return LHESource(
            lhe,
            n_events,
            seed,
            settings=card.settings if card is not None else None,
            origins=card.origins if card is not None else None,
            skip_bad_events=skip_bad_events,
        )
    if pythia is not None:
        from flashsim.generators.cards import PythiaCardSource

        return PythiaCardSource(pythia, n_events, seed)
    if path is None:
        msg = "give an input file (HepMC), --pythia CARD or --lhe FILE"
        raise ConfigurationError(msg)
    from flashsim.generators.hepmc_read import HepMCSource

    return HepMCSource(path, skip_bad_events=skip_bad_events)

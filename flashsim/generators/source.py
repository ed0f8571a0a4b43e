"""Where generated events come from: the :class:`EventSource` interface of ``flashsim gen`` and
of ``flashsim run`` on generator output.

A source yields :class:`~flashsim.generators.record.GenRecord` blocks of a fixed number of events
(the last may be shorter) and says what it is for the provenance record: a HepMC file
(:class:`flashsim.generators.hepmc_read.HepMCSource`), a Pythia card
(:class:`flashsim.generators.cards.PythiaCardSource`) or an LHE file showered by Pythia
(:class:`flashsim.generators.lhe.LHESource`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

from flashsim.generators.record import GenRecord

__all__ = ["EventSource"]


class EventSource(ABC):
    """A stream of generated events.

    Attributes:
        expected_events: how many events the source will give, when known in advance (for the
            progress bar); ``None`` for a file read to its end.
        skipped_events: damaged events left out so far (``--skip-bad-events``).
    """

    expected_events: int | None = None
    skipped_events: int = 0

    @abstractmethod
    def records(self, block_size: int) -> Iterator[GenRecord]:
        """The events in blocks of ``block_size`` (the last block may be shorter)."""

    @abstractmethod
    def provenance(self) -> dict[str, Any]:
        """What the events are, for the output's provenance record: ``source`` (``hepmc3``,
        ``hepmc2``, ``pythia``, ``lhe``), the input file (absolute path, size, SHA-256) or card,
        and ``generators``: a list of ``{"name", "version"}`` when the input records them."""

    def bytes_read(self) -> int | None:
        """Bytes of the input file read so far (for the progress bar), or ``None``."""
        return None

    def size_bytes(self) -> int | None:
        """Size of the input file (for the progress bar), or ``None``."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the source's files (called once the events are consumed or on error)."""

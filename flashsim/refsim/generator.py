"""Pythia 8 for the reference processes: :class:`PythiaSource` of a process name.

The Pythia machinery (settings, seeding, batches to flat tables) is
:class:`flashsim.generators.pythia.PythiaGenerator`; the processes' settings are in
:mod:`flashsim.refsim.processes`.
"""

from __future__ import annotations

from flashsim.generators.pythia import MAX_PYTHIA_SEED, PythiaGenerator
from flashsim.generators.table import ParticleTable, silence_stdout
from flashsim.refsim.processes import process_settings

__all__ = ["MAX_PYTHIA_SEED", "ParticleTable", "PythiaSource", "silence_stdout"]


class PythiaSource(PythiaGenerator):
    """A seeded Pythia 8 instance for one reference process.

    Arguments:
        process: a key of :data:`flashsim.refsim.processes.PROCESSES` or ``"minbias"``.
        seed: Pythia random seed, 1 to 900 000 000.
        pthat_min: pT-hat threshold in GeV for ``qcd``.
    """

    def __init__(self, process: str, seed: int, *, pthat_min: float | None = None) -> None:
        self.process = process
        super().__init__(
            process_settings(process, pthat_min=pthat_min), seed, origin=f"process {process!r}"
        )

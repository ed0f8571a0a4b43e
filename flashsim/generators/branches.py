"""The generator-level branches of an event block, as every gen writer writes them.

:func:`gen_branches` turns a :class:`~flashsim.generators.record.GenRecord` and its
:class:`~flashsim.generators.genlevel.GenLevel` into the NanoAOD branches ``run``,
``luminosityBlock``, ``event``, ``genWeight``, ``Generator_binvar``, ``Pileup_nTrueInt`` and
``Pileup_nPU`` (when the pile-up is given), ``GenMET_*``, ``GenJet``, ``GenJetAK8`` and
``GenPart``, the same for
``flashsim refsim generate`` and ``flashsim gen``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flashsim.generators.genlevel import GenLevel
from flashsim.generators.record import GenRecord

__all__ = ["gen_branches"]


def gen_branches(
    record: GenRecord,
    gen: GenLevel,
    *,
    run: int | np.ndarray = 1,
    luminosity_block: int | np.ndarray = 1,
    event: np.ndarray | None = None,
    pileup_true: np.ndarray | None = None,
    pileup_n: np.ndarray | None = None,
) -> dict[str, Any]:
    """The gen-level branches of ``record``'s events, in NanoAOD types.

    Arguments:
        run, luminosity_block: per event, or one value for all.
        event: event numbers (default: the record's own).
        pileup_true: ``Pileup_nTrueInt`` per event (the mean number of pile-up interactions);
            with ``pileup_n`` (``Pileup_nPU``, the number drawn from it). Left out when ``None``.
    """
    n = record.n_events
    branches: dict[str, Any] = {
        "run": np.broadcast_to(np.asarray(run, dtype=np.uint32), (n,)).copy(),
        "luminosityBlock": np.broadcast_to(
            np.asarray(luminosity_block, dtype=np.uint32), (n,)
        ).copy(),
        "event": (record.event_number if event is None else event).astype(np.uint64),
        "genWeight": record.weight.astype(np.float32),
        "Generator_binvar": record.binvar.astype(np.float32),
    }
    if pileup_true is not None:
        branches["Pileup_nTrueInt"] = np.asarray(pileup_true, dtype=np.float32)
        branches["Pileup_nPU"] = np.asarray(pileup_n, dtype=np.int32)
    branches.update(gen.flat)
    branches["GenJet"] = gen.collections["GenJet"]
    branches["GenJetAK8"] = gen.collections["GenJetAK8"]
    branches["GenPart"] = gen.collections["GenPart"]
    return branches

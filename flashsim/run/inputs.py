"""What ``flashsim run`` asks of an input beyond its branches: that it is not already a flash
output, and the pile-up condition where the input has none.

Running on an output of ``flashsim run`` would replace its simulated reco branches with new
ones, silently: :func:`check_not_simulated` refuses it unless asked (``--overwrite-reco``).
A generator-level sample made without pile-up has no ``Pileup_nTrueInt``, which the CMS-like
models condition on: :func:`pileup_fill` gives every event the mean ``--pileup MU``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection
from typing import Any

from flashsim.exceptions import ConfigurationError, InputError
from flashsim.io import simulated_record

__all__ = ["MAX_PILEUP", "PILEUP_BRANCH", "check_not_simulated", "pileup_fill"]

PILEUP_BRANCH = "Pileup_nTrueInt"
"""The pile-up condition of the CMS-like pipeline: the true mean number of pile-up interactions
(NanoAOD's ``Pileup_nTrueInt``, the Poisson mean that ``Pileup_nPU`` is drawn from), which
``--pileup MU`` fills for inputs that lack it."""

MAX_PILEUP = 1000.0
"""The largest ``--pileup``: the HL-LHC's 200 with room; more is a typo."""


def check_not_simulated(tree: Any, input_path: str | os.PathLike[str]) -> None:
    """Refuse an input that ``flashsim run`` wrote (:func:`flashsim.io.simulated_record`).

    Raises:
        InputError: naming the model and the gen file it was made from, and the way out.
    """
    record = simulated_record(tree.file.root_directory, tree.keys())
    if record is None:
        return
    model = record.get("model")
    made = ""
    if isinstance(model, dict) and isinstance(model.get("sha256"), str):
        made = f" by model {model.get('pipeline', '?')} {model['sha256'][:12]}"
    source = record.get("input")
    origin = f" ({source})" if isinstance(source, str) else ""
    msg = (
        f"input {input_path} is an output of flashsim run{made}: simulating it again would "
        f"replace its reco branches; run on the generator-level file it was made from{origin}, "
        "or pass --overwrite-reco to replace them"
    )
    raise InputError(msg)


def pileup_fill(
    needed: Collection[str],
    available: Collection[str],
    pileup: float | None,
    input_path: str | os.PathLike[str],
) -> dict[str, float]:
    """The branches a run adds to every event of the input: ``{PILEUP_BRANCH: pileup}`` when
    ``pileup`` is given, else none.

    Every event gets the same value: ``Pileup_nTrueInt`` is the mean of the pile-up
    distribution, not a per-event draw (that is ``Pileup_nPU``), and a constant needs no
    random numbers, so the random streams of the run stay those of an input that has the
    branch with that value.

    Raises:
        ConfigurationError: ``pileup`` is not a finite number in ``[0, MAX_PILEUP]``, the
            pipeline does not read :data:`PILEUP_BRANCH`, or the input has it already.
    """
    if pileup is None:
        return {}
    if not (math.isfinite(pileup) and 0 <= pileup <= MAX_PILEUP):
        msg = (
            f"--pileup {pileup}: give the mean number of pile-up interactions, 0 to {MAX_PILEUP:g}"
        )
        raise ConfigurationError(msg)
    if PILEUP_BRANCH not in needed:
        reads = ", ".join(sorted(b for b in needed if b.startswith("Pileup_"))) or "none"
        msg = (
            f"--pileup: the model's pipeline does not read {PILEUP_BRANCH} (its pile-up "
            f"branches: {reads}); leave --pileup out"
        )
        raise ConfigurationError(msg)
    if PILEUP_BRANCH in available:
        msg = (
            f"--pileup: input {input_path} has {PILEUP_BRANCH} already (the pile-up of each "
            "event); leave --pileup out, it is for inputs without pile-up information"
        )
        raise ConfigurationError(msg)
    return {PILEUP_BRANCH: float(pileup)}

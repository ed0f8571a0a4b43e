"""Sampling above the reconstruction thresholds: the response truncated at a target's cuts.

The efficiency stage gives P(reconstructed above threshold), and the response model was trained
on objects above threshold, so the right distribution of the targets is the model's truncated at
the threshold (``select_min``) and the acceptance (``select_max_abs``) of each target.
:func:`sample_above_thresholds` draws from it by rejection sampling.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from flashsim.features import decode_targets
from flashsim.spec import Target
from flashsim.stages import ResponseStage

__all__ = [
    "MAX_COPIES",
    "MAX_RESAMPLING_ROUNDS",
    "RESAMPLING_ROWS",
    "has_cut",
    "passes_cuts",
    "sample_above_thresholds",
]

MAX_RESAMPLING_ROUNDS = 20
"""Rounds of rejection sampling for objects sampled below a reconstruction threshold."""

RESAMPLING_ROWS = 128
"""Rows per rejection-sampling round worth one call of the model: when fewer objects are left
below threshold, each is drawn several times at once (at most :data:`MAX_COPIES`). A call of
the default muon flow costs about 0.8 ms however few its rows (the time of some 70 rows), and
the last rounds hold one or two objects."""

MAX_COPIES = 64
"""Most candidates drawn at once for one object in a rejection-sampling round."""


def sample_above_thresholds(
    response: ResponseStage,
    targets: Sequence[Target],
    context: np.ndarray,
    gen: Mapping[str, np.ndarray],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Sample and decode the targets, resampling the rows below a target's ``select_min``.

    The efficiency stage gives P(reconstructed above threshold), and the response model was
    trained on objects above threshold, so the right distribution is the model's truncated at the
    threshold: rows that fall below are drawn again (rejection sampling). A round draws several
    independent candidates per row left (about one over the last round's acceptance rate, and
    more when few rows are left, see :data:`RESAMPLING_ROWS`) and keeps each row's first
    candidate above threshold, which is a draw of the same truncated distribution. Rows still
    below after :data:`MAX_RESAMPLING_ROUNDS` stay, and are dropped and counted by the caller.
    """
    fields = decode_targets(targets, response.apply(context, rng), gen, rng)
    cuts = [t for t in targets if has_cut(t)]
    if not cuts:
        return fields
    above = _above(fields, cuts)
    rate = above.mean() if len(above) else 1.0
    for _ in range(MAX_RESAMPLING_ROUNDS):
        rows = np.flatnonzero(~above)
        if len(rows) == 0:
            break
        # Enough candidates for about one acceptance per row at the last round's rate, and
        # enough rows for the call to be worth it.
        wanted = max(-(-RESAMPLING_ROWS // len(rows)), math.ceil(1.0 / max(rate, 1e-3)))
        copies = min(MAX_COPIES, wanted)
        drawn = np.repeat(rows, copies)  # a row's candidates are consecutive
        again = decode_targets(
            targets, response.apply(context[drawn], rng), {k: v[drawn] for k, v in gen.items()}, rng
        )
        accepted = _above(again, cuts).reshape(len(rows), copies)
        rate = accepted.mean()
        # The first accepted candidate of each row (or its first, still below, if none is).
        pick = np.arange(len(rows)) * copies + np.argmax(accepted, axis=1)
        for name, values in again.items():
            fields[name][rows] = values[pick]
        above[rows] = accepted.any(axis=1)
    return fields


def has_cut(target: Target) -> bool:
    """Whether the target has a reconstruction threshold or acceptance."""
    return target.select_min is not None or target.select_max_abs is not None


def passes_cuts(target: Target, values: np.ndarray) -> np.ndarray:
    """Whether each value passes the target's reconstruction cuts (``select_min``,
    ``select_max_abs``: the acceptance, e.g. |eta| < 4.7 for jets)."""
    ok = np.ones(len(values), dtype=bool)
    if target.select_min is not None:
        ok &= values >= target.select_min
    if target.select_max_abs is not None:
        ok &= np.abs(values) <= target.select_max_abs
    return ok


def _above(fields: Mapping[str, np.ndarray], cuts: Sequence[Target]) -> np.ndarray:
    above = np.ones(len(fields[cuts[0].name]), dtype=bool)
    for target in cuts:
        above &= passes_cuts(target, fields[target.name])
    return above

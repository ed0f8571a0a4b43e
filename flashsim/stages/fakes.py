"""Fake (unmatched) objects: a per-event multiplicity, then the properties of each object.

Reconstructed jets without a generated match come mostly from pile-up. Their number per event is
sampled from a multiclass xgboost model of P(n | event conditions), whose last class is
"``max_count`` or more"; an event in that class gets ``max_count`` plus an excess drawn from the
distribution of the excess in the training events of that class (the ``tail``), so the
multiplicity has its tail beyond ``max_count`` instead of a wall at it. Their properties come from
a conditional flow given the same event conditions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from flashsim.exceptions import ModelError
from flashsim.stages.efficiency import EfficiencyStage

__all__ = ["FakesStage"]


class FakesStage:
    """Sample how many fake objects each event has, and their encoded properties.

    Arguments:
        multiplicity: outcome k = k fake objects in the event.
        response: properties of one fake object given its event's conditions.
    """

    kind = "fakes"

    def __init__(
        self,
        multiplicity: EfficiencyStage,
        response: Any,
        tail: Sequence[float] | None = None,
    ) -> None:
        self.multiplicity = multiplicity
        self.response = response
        self.tail = None if tail is None else np.asarray(tail, dtype=np.float64)
        if self.tail is not None and not (
            self.tail.ndim == 1
            and len(self.tail) > 0
            and np.all(np.isfinite(self.tail))
            and np.all(self.tail >= 0)
            and self.tail.sum() > 0
        ):
            msg = "the fakes' multiplicity tail must be a non-empty list of probabilities"
            raise ModelError(msg)

    @staticmethod
    def fit_tail(count: np.ndarray, max_count: int) -> list[float]:
        """The distribution of ``count - max_count`` over the events with ``count >= max_count``
        (``[1.0]``, no excess, when there are none)."""
        excess = np.asarray(count, dtype=np.int64)[np.asarray(count) >= max_count] - max_count
        if excess.size == 0:
            return [1.0]
        return (np.bincount(excess) / excess.size).tolist()

    def counts(self, conditions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The number of fake objects per event (row of ``conditions``)."""
        counts = self.multiplicity.apply(conditions, rng)
        if self.tail is not None and len(self.tail) > 1:
            top = np.flatnonzero(counts == self.multiplicity.n_classes - 1)
            cumulative = np.cumsum(self.tail)
            u = rng.random(len(top)) * cumulative[-1]
            counts[top] += np.minimum(
                np.searchsorted(cumulative, u, side="right"), len(self.tail) - 1
            )
        return counts

    def apply(
        self, conditions: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (count per event, (sum of counts, n_targets) encoded properties)."""
        counts = self.counts(conditions, rng)
        per_object = np.repeat(conditions, counts, axis=0)
        return counts, self.response.apply(per_object, rng)

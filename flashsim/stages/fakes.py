"""Fake (unmatched) objects: a per-event multiplicity, then the properties of each object.

Reconstructed jets without a generated match come mostly from pile-up. Their number per event is
sampled from a multiclass xgboost model of P(n | event conditions) (counts above ``max_count``
are folded into the last class), and their properties from a conditional flow given the same
event conditions.
"""

from __future__ import annotations

import numpy as np

from flashsim.stages.efficiency import EfficiencyStage
from flashsim.stages.response import ResponseStage

__all__ = ["FakesStage"]


class FakesStage:
    """Sample how many fake objects each event has, and their encoded properties.

    Arguments:
        multiplicity: outcome k = k fake objects in the event.
        response: properties of one fake object given its event's conditions.
    """

    kind = "fakes"

    def __init__(self, multiplicity: EfficiencyStage, response: ResponseStage) -> None:
        self.multiplicity = multiplicity
        self.response = response

    def apply(
        self, conditions: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (count per event, (sum of counts, n_targets) encoded properties)."""
        counts = self.multiplicity.apply(conditions, rng)
        per_object = np.repeat(conditions, counts, axis=0)
        return counts, self.response.apply(per_object, rng)

"""The trained event-level stage (MET, rho, number of vertices), applied to a chunk."""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from flashsim.branches import DEFAULT_EVENT_COLLECTION
from flashsim.domain import DomainGuard, check_transformed
from flashsim.features import decode_targets, event_gen_values, feature_table
from flashsim.preprocessing import TablePreprocessor
from flashsim.spec import EventSpec
from flashsim.stages import ResponseStage

__all__ = ["EventModel"]


@dataclass
class EventModel:
    """The trained event-level stage (MET, rho, number of vertices)."""

    spec: EventSpec
    conditions: TablePreprocessor
    response: ResponseStage

    def apply(
        self,
        events: ak.Array,
        rng: np.random.Generator,
        guard: DomainGuard | None = None,
        replicas: int = 1,
    ) -> dict[str, np.ndarray]:
        """Event-level branches for a chunk (``guard``: the out-of-domain policy, default clamp;
        ``replicas``: as in :meth:`~flashsim.pipeline.CollectionModel.apply`)."""
        guard = guard if guard is not None else DomainGuard("clamp", len(events) * replicas)
        raw = feature_table(events, self.spec.conditions, None, DEFAULT_EVENT_COLLECTION)
        raw = guard(self.conditions, np.repeat(raw, replicas, axis=0), None, "event")
        conditions = self.conditions.forward(raw)
        check_transformed(conditions, raw, self.conditions.names, "event")
        encoded = self.response.apply(conditions, rng)
        gen = {k: np.repeat(v, replicas) for k, v in event_gen_values(events).items()}
        return decode_targets(self.spec.targets, encoded, gen, rng)

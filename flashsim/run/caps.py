"""The size bounds of ``flashsim run`` that the command line sets: object caps and oversampling.

An input, or an option, sets how much a run computes and holds in memory; these bounds keep both
finite whatever the event content:

- per-event object caps (:meth:`flashsim.domain.InputPolicy.object_cap`), from the spec's
  ``inputs.max_objects`` and ``flashsim run --max-objects``
  (:class:`flashsim.run.model.PolicyOverrides`);
- :data:`MAX_OVERSAMPLE`, the largest ``--oversample``;
- :data:`REPLICA_ROWS`, the most simulated events (input events times replicas) per call of
  the models: a chunk's replicas are simulated in slices of at most that many events
  (:func:`replica_slices`), so ``--oversample`` does not multiply the memory of a chunk.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["MAX_OVERSAMPLE", "REPLICA_ROWS", "replica_slices"]

MAX_OVERSAMPLE = 10_000
"""The largest ``--oversample``: 10⁴ replicas of every event is already far beyond what a
statistical use of oversampling (a few to a few hundred) needs."""

REPLICA_ROWS = 100_000
"""Simulated events (input events x replicas) per call of the models. A chunk of the default
10,000 events with up to 10 replicas is one call, as before slicing existed; above, the chunk's
events are simulated a slice at a time (all replicas of consecutive events, or, for a single
event with more replicas than this, consecutive replicas of it), each slice written before the
next is simulated, with the chunk's random stream continuing from slice to slice."""


def replica_slices(
    n_events: int, replicas: int, rows: int | None = None
) -> Iterator[tuple[int, int, int, int]]:
    """The slices of a chunk's simulation, in output order: ``(first event, stop, first
    replica, replicas)``.

    Each slice simulates events ``[first, stop)``, replicas ``first replica, ...`` of each, and
    holds at most ``max(rows, n_events)`` simulated events (``rows``: default
    :data:`REPLICA_ROWS`): a chunk is never cut without oversampling, and a chunk that fits is
    one slice.

    >>> list(replica_slices(4, 3, rows=12))
    [(0, 4, 0, 3)]
    >>> list(replica_slices(4, 3, rows=6))
    [(0, 2, 0, 3), (2, 4, 0, 3)]
    >>> list(replica_slices(2, 5, rows=2))
    [(0, 1, 0, 2), (0, 1, 2, 2), (0, 1, 4, 1), (1, 2, 0, 2), (1, 2, 2, 2), (1, 2, 4, 1)]
    """
    rows = max(REPLICA_ROWS if rows is None else rows, n_events, 1)
    if n_events * replicas <= rows:
        yield 0, n_events, 0, replicas
        return
    per_slice = rows // replicas
    if per_slice >= 1:
        for first in range(0, n_events, per_slice):
            yield first, min(first + per_slice, n_events), 0, replicas
        return
    for event in range(n_events):
        for done in range(0, replicas, rows):
            yield event, event + 1, done, min(rows, replicas - done)

"""Simulating one chunk of gen-level events, whatever they were read from.

:func:`finite_events` checks a chunk's object counts and non-finite values against the run's
input policy, and :func:`simulate_chunk` simulates it (in slices with ``--oversample``) into the
branches to write; :class:`RunSummary` adds up what a run did. Shared by runs on a ROOT file
(:mod:`flashsim.run.single`) and on generator output converted in memory
(:mod:`flashsim.run.generated`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import awkward as ak
import numpy as np

from flashsim.domain import InputPolicy, check_object_counts, non_finite_events
from flashsim.exceptions import InputError
from flashsim.io import zip_collections
from flashsim.pipeline import Pipeline
from flashsim.run.caps import replica_slices
from flashsim.run.seeding import chunk_rng

__all__ = [
    "PILEUP_COUNTER",
    "REPLICA_BRANCH",
    "SOURCE_BRANCH",
    "RunSummary",
    "finite_events",
    "simulate_chunk",
]

REPLICA_BRANCH = "FlashSim_replica"
"""With ``--oversample K``: which of the K replicas of its gen event an output event is."""

SOURCE_BRANCH = "FlashSim_genEntry"
"""With ``--oversample K``: the input entry an output event was simulated from (groups replicas)."""

PILEUP_COUNTER = "pileup"
"""The counter (per collection, in the summary and the provenance's ``counters``) of objects
written without a generated match: pile-up jets and fake leptons (match index -1)."""


@dataclass
class RunSummary:
    """What a run did: events in and out, objects per collection, time, and the events left out
    for non-finite inputs (``non_finite: drop``)."""

    input_events: int = 0
    output_events: int = 0
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0
    dropped_events: int = 0


def finite_events(
    arrays: ak.Array,
    needed: list[str],
    first: int,
    policy: InputPolicy,
    input_path: str | os.PathLike[str],
) -> tuple[ak.Array, np.ndarray]:
    """The chunk's events without NaN/inf in the ``needed`` branches, and their entries.

    First of all, the number of objects per event of every collection the models read is
    checked against the policy's caps (:func:`~flashsim.domain.check_object_counts`): nothing
    else looks at an event too large to simulate in bounded time and memory.

    Raises:
        InputError: an event has more objects of a collection than its cap, or there are such
            events and the policy is ``non_finite: error``.
    """
    entry = np.arange(first, first + len(arrays))
    counts: dict[str, np.ndarray] = {}
    for branch in needed:
        if arrays[branch].ndim > 1:  # a field of a collection (its longest, if they differ)
            per_event = np.asarray(ak.num(arrays[branch], axis=1))
            collection = branch.partition("_")[0]
            counts[collection] = np.maximum(counts.get(collection, per_event), per_event)
    check_object_counts(counts, policy, entry, str(input_path))
    bad, branch = non_finite_events({b: arrays[b] for b in needed}, len(arrays))
    if not bad.any():
        return arrays, entry
    if policy.non_finite == "error":
        msg = (
            f"input {input_path} has NaN or inf in branch {branch!r} (entry "
            f"{first + int(np.flatnonzero(bad)[0])}, {int(bad.sum())} event(s) in entries "
            f"{first}-{first + len(arrays) - 1}); fix the file, or run with --non-finite drop "
            "to leave such events out"
        )
        raise InputError(msg)
    return arrays[~bad], entry[~bad]


def simulate_chunk(
    pipeline: Pipeline,
    arrays: ak.Array,
    passthrough: list[str],
    seed: int,
    first: int,
    entry: np.ndarray,
    oversample: int,
    policy: InputPolicy,
    summary: RunSummary,
) -> Iterator[dict[str, Any]]:
    """The simulated events of one chunk, as the branches to write, a slice at a time.

    With ``oversample``, the chunk's events are simulated in slices of at most
    :data:`~flashsim.run.caps.REPLICA_ROWS` simulated events (or the chunk's events, if more)
    (:func:`~flashsim.run.caps.replica_slices`), each yielded (and written) before the next is
    simulated, so the memory of a chunk does not grow with ``--oversample``. The random stream
    of the chunk (:func:`~flashsim.run.seeding.chunk_rng`) continues from slice to slice; a
    chunk that fits is one slice, simulated as a whole.
    """
    n = len(arrays)
    try:
        events = zip_collections(arrays)
    except ValueError as err:
        msg = (
            f"the collections of entries {first}-{first + n - 1} are inconsistent (fields of one "
            f"collection differ in length from its counter: {err}); the input file is damaged"
        )
        raise InputError(msg) from err
    rng = chunk_rng(seed, first)
    kept = set(passthrough)
    for start, stop, first_replica, replicas in replica_slices(n, oversample):
        part = events if (start, stop) == (0, n) else events[start:stop]
        # Absurd but finite inputs (a pT of 1e30, a zero pT) make numpy warn in the features;
        # what matters is checked explicitly: the conditions (finite, and against the training
        # domain) and the simulated values for NaN/inf (Pipeline.apply raises on either).
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            try:
                reco, counters = pipeline.apply(part, rng, policy, replicas=replicas)
            except InputError as err:
                msg = f"entries {entry[start]}-{entry[stop - 1]}: {err}"
                raise InputError(msg) from err
        for name, count in pileup_counts(pipeline, reco).items():
            counters[name] = {**counters[name], PILEUP_COUNTER: count}
        for name, values in counters.items():
            total = summary.counters.setdefault(name, {})
            for key, value in values.items():
                total[key] = total.get(key, 0) + value
        source = np.repeat(np.arange(stop - start), replicas)
        chunk: dict[str, Any] = {}
        for name in part.fields:
            column = part[name]
            if name in kept:
                chunk[name] = column if oversample == 1 else column[source]
            elif column.ndim > 1 and any(b.startswith(name + "_") for b in kept):
                fields = [f for f in column.fields if f"{name}_{f}" in kept]
                chunk[name] = column[fields] if oversample == 1 else column[fields][source]
        if oversample > 1:
            chunk[SOURCE_BRANCH] = entry[start:stop][source].astype(np.int64)
            numbers = np.arange(first_replica, first_replica + replicas, dtype=np.int32)
            chunk[REPLICA_BRANCH] = np.tile(numbers, stop - start)
        chunk.update(reco)
        yield chunk


def pileup_counts(pipeline: Pipeline, reco: dict[str, Any]) -> dict[str, int]:
    """The objects without a generated match (pile-up jets, fake leptons) written per
    collection that has a fakes stage: those whose match index is -1, and the index of each
    further source too (an electron made from a generated jet is not one)."""
    counts = {}
    for name, model in pipeline.collections.items():
        if model.fakes is not None and name in reco:
            unmatched = reco[name][model.spec.match] < 0
            for source in model.spec.sources:
                unmatched = unmatched & (reco[name][source.match] < 0)
            counts[name] = int(ak.sum(unmatched))
    return counts

"""A trained pipeline applied to a chunk: every collection, the event quantities, then PID.

A :class:`Pipeline` holds no state between chunks: all randomness comes from the generator passed
to :meth:`Pipeline.apply`, so it can be pickled and shipped to any executor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import awkward as ak
import numpy as np

from flashsim.branches import (
    gen_branches,
    gen_event_level_branches,
    input_branches,
    passthrough_branches,
)
from flashsim.domain import (
    OUT_OF_DOMAIN_BRANCH,
    OUT_OF_DOMAIN_COUNTER,
    DomainGuard,
    InputPolicy,
)
from flashsim.exceptions import InputError
from flashsim.pipeline.collection import CollectionModel
from flashsim.pipeline.event import EventModel
from flashsim.spec import PipelineSpec
from flashsim.stages.pid import PidModel

__all__ = ["Pipeline", "check_finite"]


@dataclass
class Pipeline:
    """A trained flash-simulation pipeline (see :func:`flashsim.bundle.load_bundle`)."""

    spec: PipelineSpec
    collections: dict[str, CollectionModel]
    event: EventModel | None = None
    pid: PidModel | None = None

    def apply(
        self,
        events: ak.Array,
        rng: np.random.Generator,
        policy: InputPolicy | None = None,
        replicas: int = 1,
    ) -> tuple[dict[str, np.ndarray | ak.Array], dict[str, dict[str, int]]]:
        """Simulate a chunk of generated events (collections zipped, see ``zip_collections``).

        Arguments:
            events: the chunk's generator-level events.
            rng: the chunk's random stream.
            policy: the input policies (default: the spec's ``inputs:``); only its
                ``out_of_domain`` applies here (non-finite inputs are the caller's to remove,
                see :func:`flashsim.domain.non_finite_events`).
            replicas: simulate each event this many times (``--oversample``): the replicas of
                an event are consecutive output events. The gen-side work (selection,
                features) is done once; the output equals that of the replicated events.

        Returns:
            the reconstructed branches (collections as jagged records, event-level branches as
            arrays), ready for :meth:`flashsim.io.NanoAODWriter.extend`, and counters: per
            collection (generated, reconstructed, below threshold), and under
            ``out_of_domain`` the objects per stage whose conditions were outside the training
            domain. Under ``out_of_domain: flag`` the branches include
            :data:`~flashsim.domain.OUT_OF_DOMAIN_BRANCH`.

        Raises:
            InputError: a condition is outside the domain under ``out_of_domain: error``, or the
                models produced non-finite values (extrapolating under ``flag``).
        """
        policy = policy if policy is not None else self.spec.input_policy
        if replicas < 1:
            msg = f"replicas must be >= 1, got {replicas}"
            raise ValueError(msg)
        guard = DomainGuard(policy.out_of_domain, len(events) * replicas)
        out: dict[str, np.ndarray | ak.Array] = {}
        counters: dict[str, dict[str, int]] = {}
        for name, model in self.collections.items():
            index = policy.index_dtype(model.spec.source.collection)
            done = {k: v for k, v in out.items() if isinstance(v, ak.Array)}
            made, counters[name] = model.apply_collections(
                events, rng, guard, replicas, index, done
            )
            out.update(made)
        if self.event is not None:
            out.update(self.event.apply(events, rng, guard, replicas))
        check_finite(out, policy.out_of_domain, sum(guard.counts.values()))
        if self.pid is not None:
            if replicas > 1:
                events = events[np.repeat(np.arange(len(events)), replicas)]
            name = self.pid.spec.collection
            objects = out[name]
            source = self.spec.collections[name].source.collection
            match = self.spec.collections[name].match
            gen_pdg = events[source].pdgId[objects[match]]
            flat = {k: v for k, v in out.items() if isinstance(v, np.ndarray)}
            out[name], branches, pid_counters = self.pid.apply(
                events, objects, np.asarray(ak.flatten(gen_pdg)), rng, flat, guard
            )
            out.update(branches)
            counters[f"{name}.pid"] = pid_counters
        counters[OUT_OF_DOMAIN_COUNTER] = dict(guard.counts)
        if policy.out_of_domain == "flag":
            out[OUT_OF_DOMAIN_BRANCH] = guard.flagged.astype(np.uint8)
        return out, counters

    def required_branches(self) -> list[str]:
        """The generator-level branches the pipeline reads (without counters;
        :func:`flashsim.branches.gen_branches`)."""
        return gen_branches(self.spec)

    def event_level_branches(self) -> set[str]:
        """The branches of :meth:`required_branches` that hold one number per event (the
        others are fields of a collection: one list per event, with a counter ``nX``)."""
        return gen_event_level_branches(self.spec)

    def passthrough(self, available: Iterable[str]) -> list[str]:
        """The input branches copied to the output: the spec's patterns, with their counters
        (:func:`flashsim.branches.passthrough_branches`)."""
        return passthrough_branches(self.spec, available)

    def input_branches(self, available: Iterable[str]) -> list[str]:
        """Every branch ``flashsim run`` reads: the needed ones, their counters and the
        pass-through branches (of those in ``available``)."""
        return input_branches(self.spec, available)


def check_finite(
    branches: Mapping[str, np.ndarray | ak.Array], out_of_domain: str, outside: int = 0
) -> None:
    """Refuse to write non-finite values that the models produced (never a silent NaN).

    Arguments:
        out_of_domain: the run's policy, and ``outside`` the number of objects whose
            conditions were outside the training domain: with some, the cause is the input
            (a quantity relative to a huge generated value overflows float32), not the model.

    Raises:
        InputError: naming the branch and the count, and what to do.
    """
    for name, values in branches.items():
        array = values if isinstance(values, ak.Array) else ak.Array(np.asarray(values))
        for field_name in array.fields or [""]:
            column = array[field_name] if field_name else array
            flat = np.asarray(ak.flatten(column, axis=None))
            if flat.dtype.kind != "f":
                continue
            bad = int((~np.isfinite(flat)).sum())
            if bad:
                branch = f"{name}_{field_name}" if field_name else name
                hint = (
                    "conditions outside the training domain were passed as given "
                    "(--out-of-domain flag); use --out-of-domain clamp"
                    if out_of_domain == "flag"
                    else f"{outside} object(s) had conditions outside the training domain; "
                    "values far beyond it (a generated pT near float32's limit) make the "
                    "simulated ones overflow; check the input file"
                    if outside
                    else "the model bundle may be corrupted; retrain it or report a bug"
                )
                msg = f"the models produced {bad} non-finite value(s) for {branch}: {hint}"
                raise InputError(msg)

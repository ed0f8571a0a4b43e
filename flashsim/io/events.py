"""NanoAOD events as awkward records: flat branches grouped into collections.

The pipeline reads events whose collections are jagged records (``events.Jet.pt``), made from
the flat NanoAOD branches (``Jet_pt`` with its counter ``nJet``) by :func:`zip_collections`, or
from coffea NanoEvents by :func:`from_nanoevents`; both give the same records.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import awkward as ak

from flashsim.exceptions import InputError

__all__ = ["from_nanoevents", "zip_collections"]


def from_nanoevents(events: Any, branches: Collection[str]) -> ak.Array:
    """The gen-level events :meth:`flashsim.pipeline.Pipeline.apply` takes, from coffea NanoEvents.

    Inside a coffea processor the events come as NanoEvents (``events.GenJet.pt``,
    ``events.Pileup.nTrueInt``); the pipeline reads NanoAOD branch names (``GenJet_pt``,
    ``Pileup_nTrueInt``) grouped by :func:`zip_collections`. This picks ``branches`` (e.g.
    ``pipeline.required_branches()``) out of the NanoEvents, without coffea's behaviours::

        gen = from_nanoevents(events, pipeline.required_branches())
        reco, counters = pipeline.apply(gen, np.random.default_rng(seed))

    The result equals ``zip_collections`` of the same branches read with uproot, so the output
    for a given generator is the same as ``flashsim run``'s.

    Raises:
        InputError: a branch is not in the events (named, with the fields that are).
    """
    fields = set(events.fields)
    collections: dict[str, dict[str, ak.Array]] = {}
    flat: dict[str, ak.Array] = {}
    for name in sorted(branches):
        prefix, _, inner = name.partition("_")
        if inner and prefix in fields and inner in events[prefix].fields:
            value = ak.without_parameters(events[prefix][inner])
        elif name in fields:
            value = ak.without_parameters(events[name])
        else:
            available = ", ".join(sorted(fields))
            msg = f"the events have no {name!r} (fields: {available}); is this the gen-level input?"
            raise InputError(msg)
        if value.ndim > 1:
            collections.setdefault(prefix, {})[inner] = value
        else:
            flat[name] = value
    return _zip_events(flat, collections)


def zip_collections(arrays: ak.Array) -> ak.Array:
    """Group flat NanoAOD branches into collections: ``Jet_pt`` -> ``events.Jet.pt``.

    Every ``X_*`` branch whose collection has a counter ``nX`` becomes a field of the jagged
    record ``X``; the counters are dropped and other branches (``run``, ``MET_pt``) stay flat.
    """
    fields = set(arrays.fields)
    collections: dict[str, dict[str, ak.Array]] = {}
    flat: dict[str, ak.Array] = {}
    for name in arrays.fields:
        prefix, _, inner = name.partition("_")
        if inner and f"n{prefix}" in fields and arrays[name].ndim > 1:
            collections.setdefault(prefix, {})[inner] = arrays[name]
        elif not (name.startswith("n") and any(f.startswith(name[1:] + "_") for f in fields)):
            flat[name] = arrays[name]
    return _zip_events(flat, collections)


def _zip_events(
    flat: dict[str, ak.Array], collections: Mapping[str, Mapping[str, ak.Array]]
) -> ak.Array:
    """One record per event: the flat branches, and each collection's fields zipped."""
    for prefix, members in collections.items():
        flat[prefix] = ak.zip(dict(members))
    return ak.zip(flat, depth_limit=1)

"""Shared pieces of benchmarks/pipeline_fidelity.py and benchmarks/analysis_closure.py.

Reading a flash or full-simulation file into flat per-object arrays (every numeric reco field
of each collection of the spec, the generator conditions of the selected gen objects and
their matches, the event-level reco scalars), b-jet flavour and working points, text and
markdown tables, and progress lines on stderr.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from flashsim.features import feature_table, match_reco, select_source
from flashsim.io import open_events, read_entries, zip_collections
from flashsim.runner import REPLICA_BRANCH, SOURCE_BRANCH
from flashsim.spec import PipelineSpec
from flashsim.validation.physics_checks import tag_efficiency, working_point
from flashsim.validation.report import jsonable
from flashsim.validation.tells import skipped_branch

_START = time.monotonic()

BTAG = "btagDeepFlavB"
BTAG_PT, BTAG_ETA = 30.0, 2.4


def say(message: str) -> None:
    """A progress line on stderr, with the seconds since the start."""
    print(f"[{time.monotonic() - _START:7.1f} s] {message}", file=sys.stderr, flush=True)


@dataclass(eq=False)
class CollectionObjects:
    """One collection of one file, flattened.

    Attributes:
        fields: every numeric reco field (not the ``*Idx`` indices), one entry per object.
        event: each reco object's row in the file.
        match: each reco object's match index (``Jet_genJetIdx``; -1: unmatched, pile-up).
        gen_pt: pT of the gen object the match index points to (NaN if none).
        gen_flavour: ``hadronFlavour`` of that gen object where the source has one (0 if none).
        cond_names, gen_cond: the spec's conditions of every selected gen object.
        gen_event: each selected gen object's row; gen_reco: flat index of its reco match or -1.
    """

    fields: dict[str, np.ndarray]
    event: np.ndarray
    match: np.ndarray
    gen_pt: np.ndarray
    gen_flavour: np.ndarray
    cond_names: list[str]
    gen_cond: np.ndarray
    gen_event: np.ndarray
    gen_reco: np.ndarray

    def per_event(self, n_events: int, mask: np.ndarray | None = None) -> np.ndarray:
        """Objects (those in ``mask``) per event."""
        ev = self.event if mask is None else self.event[mask]
        return np.bincount(ev, minlength=n_events)


@dataclass(eq=False)
class FileObjects:
    """What the benchmarks compare of one file (see :func:`read_objects`)."""

    path: Path
    n_events: int
    groups: np.ndarray
    replica: np.ndarray
    collections: dict[str, CollectionObjects]
    event_fields: dict[str, np.ndarray]
    event_gen_names: list[str]
    event_gen: np.ndarray
    gen_met: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_replicas(self) -> int:
        return int(self.replica.max()) + 1 if self.replica.size else 1


def _numeric(array: ak.Array) -> bool:
    layout = ak.to_layout(array)
    while hasattr(layout, "content"):
        layout = layout.content
    return hasattr(layout, "dtype") and layout.dtype.kind in "biuf"


def _flat(x: ak.Array) -> np.ndarray:
    return np.asarray(ak.flatten(x), dtype=np.float64)


def _gen_of_match(
    events: ak.Array, name: str, source: str, match: str, gen_field: str, missing: float
) -> np.ndarray:
    """Per reco object, ``gen_field`` of the gen object its match index points to."""
    reco, gen = events[name], events[source]
    idx = np.asarray(ak.flatten(reco[match]), dtype=np.int64)
    ev = np.repeat(np.arange(len(events)), np.asarray(ak.num(reco)))
    counts = np.asarray(ak.num(gen), dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    out = np.full(idx.size, missing)
    if gen_field not in gen.fields:
        return out
    values = _flat(gen[gen_field])
    ok = (idx >= 0) & (idx < counts[ev])
    out[ok] = values[offsets[ev[ok]] + idx[ok]]
    return out


def read_objects(
    path: Path, spec: PipelineSpec, *, max_events: int | None = None, step: int = 20_000
) -> FileObjects:
    """Read one flash or full-simulation file for the comparisons (chunks of ``step`` events)."""
    tree = open_events(path)
    try:
        keys = set(tree.keys())
        n = tree.num_entries if max_events is None else min(tree.num_entries, max_events)
        parts: dict[str, list[dict[str, Any]]] = {name: [] for name in spec.collections}
        groups, replica, event_parts, gen_parts = [], [], [], []
        offsets = dict.fromkeys(spec.collections, 0)
        for start in range(0, n, step):
            stop = min(start + step, n)
            events = zip_collections(read_entries(tree, None, start, stop))
            if SOURCE_BRANCH in keys:
                groups.append(np.asarray(events[SOURCE_BRANCH], dtype=np.int64))
                replica.append(np.asarray(events[REPLICA_BRANCH], dtype=np.int64))
            else:
                groups.append(np.arange(start, stop, dtype=np.int64))
                replica.append(np.zeros(stop - start, dtype=np.int64))
            for name, cs in spec.collections.items():
                if name not in events.fields:
                    continue
                reco = events[name]
                source = select_source(events, cs.source)
                matched = match_reco(events, cs, source)
                src = cs.source.collection
                parts[name].append(
                    {
                        "fields": {
                            f: _flat(reco[f])
                            for f in reco.fields
                            if not f.endswith("Idx") and _numeric(reco[f])
                        },
                        "event": np.repeat(np.arange(start, stop), np.asarray(ak.num(reco))),
                        "match": _flat(reco[cs.match]).astype(np.int64),
                        "gen_pt": _gen_of_match(events, name, src, cs.match, "pt", np.nan),
                        "gen_flavour": _gen_of_match(
                            events, name, src, cs.match, "hadronFlavour", 0.0
                        ),
                        "gen_cond": feature_table(events, cs.conditions, source, src),
                        "gen_event": source.event + start,
                        "gen_reco": np.where(matched >= 0, matched + offsets[name], -1),
                    }
                )
                offsets[name] += int(ak.sum(ak.num(reco)))
            event_parts.append(
                {
                    f: np.asarray(events[f], dtype=np.float64)
                    for f in events.fields
                    if events[f].ndim == 1 and _numeric(events[f]) and not skipped_branch(f)
                }
            )
            gen = {}
            if spec.event is not None:
                default = next(iter(spec.collections.values())).source.collection
                table = feature_table(events, spec.event.conditions, None, default)
                gen = {f"gen_{c.name}": table[:, i] for i, c in enumerate(spec.event.conditions)}
            for f in ("GenMET_pt", "GenMET_phi"):
                if f in events.fields:
                    gen[f] = np.asarray(events[f], dtype=np.float64)
            gen_parts.append(gen)
    finally:
        tree.file.close()

    def cat(dicts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        common = set.intersection(*(set(d) for d in dicts)) if dicts else set()
        return {k: np.concatenate([d[k] for d in dicts]) for k in sorted(common)}

    collections = {}
    for name, chunks in parts.items():
        if not chunks:
            continue
        cs = spec.collections[name]
        collections[name] = CollectionObjects(
            fields=cat([c["fields"] for c in chunks]),
            event=np.concatenate([c["event"] for c in chunks]),
            match=np.concatenate([c["match"] for c in chunks]),
            gen_pt=np.concatenate([c["gen_pt"] for c in chunks]),
            gen_flavour=np.concatenate([c["gen_flavour"] for c in chunks]),
            cond_names=[c.name for c in cs.conditions],
            gen_cond=np.concatenate([c["gen_cond"] for c in chunks]),
            gen_event=np.concatenate([c["gen_event"] for c in chunks]),
            gen_reco=np.concatenate([c["gen_reco"] for c in chunks]),
        )
    gen = cat(gen_parts)
    gen_met = {k: gen.pop(k) for k in ("GenMET_pt", "GenMET_phi") if k in gen}
    names = sorted(gen)
    return FileObjects(
        path=Path(path),
        n_events=n,
        groups=np.concatenate(groups),
        replica=np.concatenate(replica),
        collections=collections,
        event_fields=cat(event_parts),
        event_gen_names=names,
        event_gen=np.stack([gen[k] for k in names], axis=1) if names else np.zeros((n, 0)),
        gen_met=gen_met,
    )


# -- b tagging ------------------------------------------------------------------------------


@dataclass(eq=False)
class TaggedJets:
    """Jets in the b-tagging acceptance: score, flavour (5 b, 4 c, else light), gen event."""

    score: np.ndarray
    flavour: np.ndarray
    event: np.ndarray
    flavour_source: str


def tagged_jets(
    pt: np.ndarray,
    eta: np.ndarray,
    score: np.ndarray,
    flavour: np.ndarray,
    event: np.ndarray,
    flavour_source: str,
) -> TaggedJets:
    """The jets with pT > 30 GeV and |η| < 2.4."""
    sel = (pt > BTAG_PT) & (np.abs(eta) < BTAG_ETA) & np.isfinite(score)
    return TaggedJets(score[sel], np.abs(flavour[sel]).astype(int), event[sel], flavour_source)


def jets_for_btag(
    flash: FileObjects, full: FileObjects, name: str = "Jet"
) -> tuple[TaggedJets, TaggedJets] | None:
    """The tagged jets of both files, flavour from ``Jet_hadronFlavour`` if both files have it,
    else from the matched GenJet's ``hadronFlavour`` (0, light, for unmatched jets) in both."""
    if name not in flash.collections or name not in full.collections:
        return None
    f, r = flash.collections[name], full.collections[name]
    if BTAG not in f.fields or BTAG not in r.fields:
        return None
    both = "hadronFlavour" in f.fields and "hadronFlavour" in r.fields
    out = []
    for objs, file in ((f, flash), (r, full)):
        flav = objs.fields["hadronFlavour"] if both else objs.gen_flavour
        out.append(
            tagged_jets(
                objs.fields["pt"],
                objs.fields["eta"],
                objs.fields[BTAG],
                flav,
                file.groups[objs.event],
                f"{name}_hadronFlavour" if both else f"GenJet_hadronFlavour of {name}_genJetIdx",
            )
        )
    return out[0], out[1]


def btag_rates(jets: TaggedJets, cut: float) -> dict[str, tuple[float, float]]:
    """b efficiency, c and light mistag rates of ``score >= cut`` with binomial errors."""
    out = {}
    for label, sel in (
        ("b", jets.flavour == 5),
        ("c", jets.flavour == 4),
        ("light", (jets.flavour != 5) & (jets.flavour != 4)),
    ):
        out[label] = tag_efficiency(jets.score[sel] >= cut, jets.event[sel])
    return out


def btag_working_points(
    full: TaggedJets, efficiencies: Sequence[float] = (0.85, 0.70, 0.55)
) -> dict[str, tuple[float, float]]:
    """Per target b efficiency (``"70"``), the cut on the full sample's b jets and the
    efficiency it achieves there."""
    b = full.score[full.flavour == 5]
    return {f"{round(100 * e)}": working_point(b, e) for e in efficiencies}


# -- tables ---------------------------------------------------------------------------------


def pm(value: float, error: float, digits: int = 3) -> str:
    """``value ± error``, or ``-`` for a missing value."""
    if value is None or not np.isfinite(value):
        return "-"
    if error is None or not np.isfinite(error):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} ± {error:.{digits}f}"


def num(value: float | None, digits: int = 2) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, markdown: bool) -> str:
    """A table, aligned text or GitHub markdown."""
    rows = [[str(c) for c in r] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]  # fmt: skip
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def finish(
    results: dict[str, Any],
    print_tables: Callable[..., None],
    *,
    markdown: bool,
    json_path: Path | None,
    begin: float,
) -> None:
    """The end of a benchmark run: the tables (and their markdown with ``markdown``), the total
    time and every number as JSON at ``json_path``."""
    results["seconds"] = time.monotonic() - begin
    print_tables(results, markdown=False)
    if markdown:
        print("\n\n# Markdown\n")
        print_tables(results, markdown=True)
    print(f"\ntotal {results['seconds']:.0f} s")
    if json_path:
        json_path.write_text(json.dumps(jsonable(results), indent=1, allow_nan=False))
        say(f"wrote {json_path}")

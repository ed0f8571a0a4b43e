"""Training data: the tables every stage is trained on, read from full-simulation files.

:func:`read_training_data` reads the files chunk by chunk (only the branches of
:func:`flashsim.branches.training_branches`) and builds, per collection, its efficiency and
response rows, its unmatched (fake) objects, and the event-level rows
(:mod:`flashsim.features`). PID calibration tables (:mod:`flashsim.train.calibration`) are
added to :attr:`TrainingData.calibration` by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import uproot
from tqdm.auto import tqdm

from flashsim.branches import check_full_simulation_layout, training_branches
from flashsim.exceptions import InputError
from flashsim.features import (
    CollectionTable,
    EventTable,
    FakesTable,
    concat_tables,
    event_table,
    fakes_table,
    source_tables,
)
from flashsim.io import missing_field, open_events, read_entries, zip_collections
from flashsim.provenance import file_record
from flashsim.spec import PipelineSpec
from flashsim.train.calibration import CalibrationTable

__all__ = ["TrainingData", "read_training_data"]


@dataclass
class TrainingData:
    """Training tables of every stage, and a description of the files they came from."""

    collections: dict[str, CollectionTable]
    """Per source of a collection (its stage name: ``Jet``, ``Electron.jets``), its rows."""
    fakes: dict[str, FakesTable]
    event: EventTable | None
    n_events: int
    files: list[dict[str, Any]]
    weights: np.ndarray | None = None
    """Per-event training weights (the spec's ``weight`` branch), or None."""
    calibration: dict[str, CalibrationTable] = field(default_factory=dict)
    """Per PID species, its calibration table (see
    :func:`~flashsim.train.calibration.read_calibration`)."""


def read_training_data(
    spec: PipelineSpec,
    files: Sequence[Path],
    *,
    max_events: int | None = None,
    step_size: int = 20_000,
    progress: bool = True,
) -> TrainingData:
    """Read full-simulation files chunk by chunk and build every stage's training table.

    Arguments:
        spec: the pipeline spec (its collections, event section and weight column).
        files: the full-simulation ROOT files, read in order.
        max_events: read at most this many events in all.
        step_size: events per chunk read.
        progress: show a progress bar.

    Raises:
        InputError: a file cannot be read or lacks a collection or branch the spec needs.
    """
    tables: dict[str, list[CollectionTable]] = {
        source.stage: [] for c in spec.collections.values() for source in c.all_sources()
    }
    fakes: dict[str, list[FakesTable]] = {
        name: [] for name, c in spec.collections.items() if c.fakes is not None
    }
    events_tables: list[EventTable] = []
    weight_parts: list[np.ndarray] = []
    described = []
    n_events = 0
    bar = tqdm(desc="reading", unit=" events", disable=not progress, leave=False)
    for path in files:
        tree = open_events(path)
        try:
            check_full_simulation_layout(tree, spec)
            branches = training_branches(spec, tree.keys())
            entries = tree.num_entries
            if max_events is not None:
                entries = min(entries, max_events - n_events)
            described.append(file_record(path, entries=entries))
            for start in range(0, entries, step_size):
                stop = min(start + step_size, entries)
                events = zip_collections(read_entries(tree, branches, start, stop))
                if spec.weight is not None:
                    weight_parts.append(np.asarray(events[spec.weight.column], dtype=np.float64))
                for name, coll in spec.collections.items():
                    chunk, claimed = source_tables(events, coll, n_events)
                    for stage, table in chunk.items():
                        tables[stage].append(table)
                    if coll.fakes is not None:
                        fakes[name].append(fakes_table(events, coll, n_events, claimed))
                if spec.event is not None:
                    default = next(iter(spec.collections.values())).source.collection
                    events_tables.append(
                        event_table(
                            events, spec.event.conditions, spec.event.targets, default, n_events
                        )
                    )
                n_events += stop - start
                bar.update(stop - start)
        except uproot.exceptions.KeyInFileError as err:
            msg = f"training file {path} lacks {err.key!r}; is it a full-simulation (reco) file?"
            raise InputError(msg) from err
        except (AttributeError, KeyError) as err:
            name = missing_field(err) if isinstance(err, AttributeError) else str(err)
            if name is None:
                raise
            msg = (
                f"training file {path} lacks a field {name} that the spec reads; is it a "
                "full-simulation (reco) file with the spec's collections? (`flashsim inspect` "
                "lists what it has)"
            )
            raise InputError(msg) from err
        finally:
            tree.file.close()
        if max_events is not None and n_events >= max_events:
            break
    bar.close()
    if n_events == 0:
        msg = "the training files hold no events"
        raise InputError(msg)
    return TrainingData(
        collections={k: concat_tables(v) for k, v in tables.items()},
        fakes={k: concat_tables(v) for k, v in fakes.items()},
        event=concat_tables(events_tables) if events_tables else None,
        n_events=n_events,
        files=described,
        weights=np.concatenate(weight_parts) if weight_parts else None,
    )

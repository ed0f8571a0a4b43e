"""Calibration samples for PID training: flat tables of probe tracks, optionally sWeighted.

A calibration file (``flashsim refsim calibration``, then ``flashsim sweights``) holds one row
per probe track: its kinematics (``probe_p``, ``probe_eta``, ...), the event occupancy, the PID
variables and, after the fit, an ``sweight`` branch. :func:`read_calibration` reads the columns
one species of a :class:`~flashsim.spec.PidSpec` needs; :func:`read_calibrations` those of every
species given files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flashsim.exceptions import InputError
from flashsim.io import open_events, read_entries, require_branches
from flashsim.provenance import file_record
from flashsim.spec import PidSpec, SpeciesSpec

__all__ = ["CalibrationTable", "read_calibration", "read_calibrations"]


@dataclass
class CalibrationTable:
    """The PID training rows of one species.

    Attributes:
        conditions: ``(n, k)`` raw conditions (the spec's PID condition columns).
        targets: ``(n, t)`` raw PID variables.
        is_muon: ``(n,)`` 0/1 muon-system decision, or None if the spec has no isMuon stage.
        weights: ``(n,)`` per-row (s)weights, or None.
        files: the files read, with their row counts.
    """

    conditions: np.ndarray
    targets: np.ndarray
    is_muon: np.ndarray | None
    weights: np.ndarray | None
    files: list[dict[str, Any]]


def read_calibration(
    spec: PidSpec,
    species: SpeciesSpec,
    files: Sequence[Path],
    *,
    max_rows: int | None = None,
) -> CalibrationTable:
    """Read the calibration rows of ``species`` (its ``select``, if any) from ``files``.

    Arguments:
        spec: the spec's PID section (its condition, target, isMuon and weight columns).
        species: the species whose rows to read.
        files: its calibration files, read in order.
        max_rows: read at most this many rows in all.

    Raises:
        InputError: a file is unreadable, lacks a column the spec names (close names are
            suggested), or no row is left.
    """
    columns = [c.column for c in (*spec.conditions, *spec.targets)]
    if spec.is_muon is not None:
        columns.append(spec.is_muon.column)
    if spec.weight is not None:
        columns.append(spec.weight.column)
    if species.select is not None:
        columns.append(species.select[0])
    columns = list(dict.fromkeys(columns))
    parts: dict[str, list[np.ndarray]] = {c: [] for c in columns}
    described = []
    rows = 0
    for path in files:
        tree = open_events(path)
        try:
            try:
                require_branches(tree, columns)
            except InputError as err:
                msg = f"calibration sample for {species.name!r}: {err}"
                raise InputError(msg) from err
            arrays = read_entries(tree, columns, library="np")
        finally:
            tree.file.close()
        keep = np.ones(len(arrays[columns[0]]), dtype=bool)
        if species.select is not None:
            keep = np.isin(np.abs(arrays[species.select[0]]), species.select[1])
        if max_rows is not None:
            keep &= np.cumsum(keep) + rows <= max_rows
        for c in columns:
            parts[c].append(np.asarray(arrays[c])[keep])
        described.append(file_record(path, rows=int(keep.sum())))
        rows += int(keep.sum())
    if rows == 0:
        what = "" if species.select is None else f" with {species.select[0]} in {species.select[1]}"
        msg = f"the calibration sample for {species.name!r} has no rows{what}"
        raise InputError(msg)
    data = {c: np.concatenate(v).astype(np.float64) for c, v in parts.items()}
    return CalibrationTable(
        conditions=np.column_stack([data[c.column] for c in spec.conditions]),
        targets=np.column_stack([data[c.column] for c in spec.targets]),
        is_muon=None if spec.is_muon is None else data[spec.is_muon.column].astype(np.int64),
        weights=None if spec.weight is None else data[spec.weight.column],
        files=described,
    )


def read_calibrations(
    spec: PidSpec,
    files: Mapping[str, Sequence[Path]],
    *,
    log: Callable[[str], None] | None = None,
) -> dict[str, CalibrationTable]:
    """The calibration tables of the species that have files, in the spec's species order.

    Arguments:
        spec: the spec's PID section.
        files: per species name, its calibration files (``flashsim train --calibration``).
        log: told the rows read of each species.

    Raises:
        InputError: as :func:`read_calibration`.
    """
    tables = {}
    for species in spec.species:
        paths = files.get(species.name, [])
        if paths:
            tables[species.name] = read_calibration(spec, species, paths)
            if log is not None:
                rows = len(tables[species.name].conditions)
                log(f"calibration {species.name}: {rows} rows from {len(paths)} file(s)")
    return tables

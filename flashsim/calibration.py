"""Calibration samples for PID training: flat tables of probe tracks, optionally sWeighted.

A calibration file (``flashsim refsim calibration``, then ``flashsim sweights``) holds one row
per probe track: its kinematics (``probe_p``, ``probe_eta``, ...), the event occupancy, the PID
variables and, after the fit, an ``sweight`` branch. :func:`read_calibration` reads the columns
one species of a :class:`~flashsim.spec.PidSpec` needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flashsim.exceptions import InputError
from flashsim.io import open_events, read_entries, require_branches
from flashsim.spec import PidSpec, SpeciesSpec

__all__ = ["CalibrationTable", "read_calibration"]


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

    Raises:
        InputError: a file is unreadable, lacks a column the spec names (close names are
            suggested), or no row is left.
    """
    from flashsim.trainer import file_digest

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
        described.append({"path": str(path), "rows": int(keep.sum()), "sha256": file_digest(path)})
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

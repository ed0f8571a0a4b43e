"""Particle-flow candidate kinds of the CMS-like reference detector, and its flat tables.

The detector passes its particles, tracks, cells and candidates between steps as tables: dicts of
equally long numpy arrays (:data:`Table`). This module holds the PF candidate kinds, the lepton
masses, and the few helpers that select, join and sort such tables.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim.generators.kinematics import jagged

__all__ = [
    "CH_HAD",
    "ELECTRON",
    "ELECTRON_MASS",
    "HF_HAD",
    "MUON",
    "MUON_MASS",
    "NEU_HAD",
    "PHOTON",
    "Table",
    "concat_tables",
    "position_in_collection",
    "select_rows",
    "sorted_collection",
]

#: A flat table: column name -> one numpy array per column, all of the same length.
Table = dict[str, np.ndarray]

MUON_MASS = 0.1056584
ELECTRON_MASS = 0.000511
# Particle-flow candidate kinds.
CH_HAD, ELECTRON, MUON, PHOTON, NEU_HAD, HF_HAD = range(6)


def select_rows(arrays: Table, mask: np.ndarray) -> Table:
    """The rows of ``arrays`` selected by ``mask`` (a boolean mask or indices)."""
    return {k: v[mask] for k, v in arrays.items()}


def concat_tables(*tables: Table) -> Table:
    """Rows of ``tables`` one after the other (the columns of the first table)."""
    keys = tables[0].keys()
    return {k: np.concatenate([t[k] for t in tables]) for k in keys}


def sorted_collection(
    fields: dict[str, np.ndarray], evt: np.ndarray, pt: np.ndarray, n_events: int
) -> ak.Array:
    """Jagged collection of flat ``fields``, sorted by event then by decreasing ``pt``."""
    order = np.lexsort((-pt, evt))
    counts = np.bincount(evt, minlength=n_events)
    return ak.zip({k: jagged(v[order], counts) for k, v in fields.items()})


def position_in_collection(evt: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """Per row, its index within its event in the collection that :func:`sorted_collection`
    makes of it (sorted by event, then by decreasing ``pt``): the value of a NanoAOD index
    branch (``Electron_jetIdx`` etc.) that points to this row."""
    order = np.lexsort((-pt, evt))
    sorted_evt = evt[order]
    n = len(evt)
    start = np.searchsorted(sorted_evt, sorted_evt, side="left")
    out = np.empty(n, dtype=np.int64)
    out[order] = np.arange(n) - start
    return out

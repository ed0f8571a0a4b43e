"""The provenance record of a flashsim output: a JSON string stored beside its TTree.

:class:`~flashsim.io.write.NanoAODWriter` stores it under :data:`PROVENANCE_KEY`;
:func:`read_provenance` reads it back; :func:`simulated_record` tells whether an open file is
an output of ``flashsim run`` (it holds simulated reco branches).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flashsim.exceptions import InputError
from flashsim.io.read import open_root_file
from flashsim.untrusted import load_json

__all__ = ["PROVENANCE_KEY", "SIMULATED_PREFIX", "read_provenance", "simulated_record"]

PROVENANCE_KEY = "flashsim_provenance"
"""Name of the JSON string (TObjString) that records how a file was made."""

SIMULATED_PREFIX = "FlashSim_"
"""The prefix of the branches only ``flashsim run`` writes (``FlashSim_genEntry``, ...)."""


def read_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the metadata that :class:`~flashsim.io.write.NanoAODWriter` stored in ``path``.

    The record is read as untrusted JSON (size and nesting bounded,
    :func:`flashsim.untrusted.load_json`): ``--resume`` reads it from files it did not write.

    Raises:
        InputError: the file cannot be read, or holds no ``flashsim_provenance`` record, or the
            record is not a JSON object.
    """
    file = open_root_file(Path(path))
    with file:
        if PROVENANCE_KEY not in file:
            msg = f"{path} has no {PROVENANCE_KEY} record; was it written by flashsim?"
            raise InputError(msg)
        try:
            text = str(file[PROVENANCE_KEY])
        except Exception as err:
            msg = f"{path}: the {PROVENANCE_KEY} record cannot be read ({type(err).__name__})"
            raise InputError(msg) from err
    record = load_json(text, f"{path}: the {PROVENANCE_KEY} record", InputError)
    if not isinstance(record, dict):
        msg = f"{path}: the {PROVENANCE_KEY} record is not a JSON object"
        raise InputError(msg)
    return record


def simulated_record(file: Any, branches: Iterable[str] = ()) -> dict[str, Any] | None:
    """The provenance record of the open uproot ``file`` (its root directory,
    ``tree.file.root_directory``) if ``flashsim run`` wrote it, else ``None``.

    A file is an output of ``flashsim run`` when its record names the model that simulated it
    (``model``; the reference simulation's records name a ``producer`` instead) or when its
    tree has ``FlashSim_*`` branches (``branches``: the tree's branch names); a record that
    cannot be read counts as none (``{}`` is returned when only the branches tell).
    """
    record: Any = None
    if PROVENANCE_KEY in file:
        try:
            record = load_json(str(file[PROVENANCE_KEY]), PROVENANCE_KEY, InputError)
        except Exception:  # a damaged record: the branches may still tell
            record = None
    if isinstance(record, dict) and "model" in record:
        return record
    if any(name.startswith(SIMULATED_PREFIX) for name in branches):
        return {}
    return None

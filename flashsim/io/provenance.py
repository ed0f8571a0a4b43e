"""The provenance record of a flashsim output: a JSON string stored beside its TTree.

:class:`~flashsim.io.write.NanoAODWriter` stores it under :data:`PROVENANCE_KEY`;
:func:`read_provenance` reads it back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flashsim.exceptions import InputError
from flashsim.io.read import open_root_file
from flashsim.untrusted import load_json

__all__ = ["PROVENANCE_KEY", "read_provenance"]

PROVENANCE_KEY = "flashsim_provenance"
"""Name of the JSON string (TObjString) that records how a file was made."""


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

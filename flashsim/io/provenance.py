"""The provenance record of a flashsim output: a JSON string stored beside its TTree.

:class:`~flashsim.io.write.NanoAODWriter` stores it under :data:`PROVENANCE_KEY`;
:func:`read_provenance` reads it back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from flashsim.exceptions import InputError
from flashsim.io.read import open_root_file

__all__ = ["PROVENANCE_KEY", "read_provenance"]

PROVENANCE_KEY = "flashsim_provenance"
"""Name of the JSON string (TObjString) that records how a file was made."""


def read_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the metadata that :class:`~flashsim.io.write.NanoAODWriter` stored in ``path``.

    Raises:
        InputError: the file cannot be read, or holds no ``flashsim_provenance`` record.
    """
    file = open_root_file(Path(path))
    with file:
        if PROVENANCE_KEY not in file:
            msg = f"{path} has no {PROVENANCE_KEY} record; was it written by flashsim?"
            raise InputError(msg)
        text = str(file[PROVENANCE_KEY])
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        msg = f"{path}: the {PROVENANCE_KEY} record is not valid JSON ({err})"
        raise InputError(msg) from err

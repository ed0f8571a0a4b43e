"""Reading events from ROOT files and writing NanoAOD-style TTrees, atomically.

- :mod:`~flashsim.io.read`: :func:`open_events` and :func:`read_entries`, whose errors are
  one-line :class:`~flashsim.exceptions.InputError` messages.
- :mod:`~flashsim.io.paths`: :func:`check_input_file`, :func:`check_output_path` and
  :func:`check_output_dir`, the checks of paths that need no ROOT reader.
- :mod:`~flashsim.io.layout`: :func:`require_branches` and :func:`check_branch_layout`, the
  checks that an input has the branches a job reads, of the right kind.
- :mod:`~flashsim.io.known_branches`: what the NanoAOD branches flashsim reads mean and where
  they come from (:func:`describe_branch`), for the messages about a missing one.
- :mod:`~flashsim.io.events`: :func:`zip_collections` and :func:`from_nanoevents`, flat NanoAOD
  branches grouped into collections.
- :mod:`~flashsim.io.write`: :class:`NanoAODWriter`, atomic writing of NanoAOD-style TTrees.
- :mod:`~flashsim.io.provenance`: :func:`read_provenance`, the record of how a file was made.

The names are imported on first use (:pep:`562`): the command line imports
:mod:`flashsim.io.paths` to check its arguments before uproot and awkward, which take seconds
to import, are loaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below, as documentation tools and type checkers see them
    from flashsim.io.events import from_nanoevents, zip_collections
    from flashsim.io.known_branches import describe_branch
    from flashsim.io.layout import (
        check_branch_layout,
        close_names,
        missing_branch_hint,
        require_branches,
    )
    from flashsim.io.paths import check_input_file, check_output_dir, check_output_path
    from flashsim.io.provenance import PROVENANCE_KEY, read_provenance, simulated_record
    from flashsim.io.read import missing_field, open_events, read_entries
    from flashsim.io.write import DEFAULT_COMPRESSION, NanoAODWriter

_MODULES = {
    "from_nanoevents": "events",
    "zip_collections": "events",
    "describe_branch": "known_branches",
    "check_branch_layout": "layout",
    "close_names": "layout",
    "missing_branch_hint": "layout",
    "require_branches": "layout",
    "check_input_file": "paths",
    "check_output_dir": "paths",
    "check_output_path": "paths",
    "PROVENANCE_KEY": "provenance",
    "read_provenance": "provenance",
    "simulated_record": "provenance",
    "missing_field": "read",
    "open_events": "read",
    "read_entries": "read",
    "DEFAULT_COMPRESSION": "write",
    "NanoAODWriter": "write",
}
"""Where each name of the package lives (``flashsim.io.<module>``)."""

__all__ = [
    "DEFAULT_COMPRESSION",
    "PROVENANCE_KEY",
    "NanoAODWriter",
    "check_branch_layout",
    "check_input_file",
    "check_output_dir",
    "check_output_path",
    "close_names",
    "describe_branch",
    "from_nanoevents",
    "missing_branch_hint",
    "missing_field",
    "open_events",
    "read_entries",
    "read_provenance",
    "require_branches",
    "simulated_record",
    "zip_collections",
]


def __getattr__(name: str) -> Any:
    """Import the module of ``name`` on first use (:pep:`562`)."""
    module = _MODULES.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULES})

"""Reading events from ROOT files and writing NanoAOD-style TTrees, atomically.

- :mod:`~flashsim.io.read`: :func:`open_events` and :func:`read_entries`, whose errors are
  one-line :class:`~flashsim.exceptions.InputError` messages.
- :mod:`~flashsim.io.layout`: :func:`require_branches` and :func:`check_branch_layout`, the
  checks that an input has the branches a job reads, of the right kind.
- :mod:`~flashsim.io.events`: :func:`zip_collections` and :func:`from_nanoevents`, flat NanoAOD
  branches grouped into collections.
- :mod:`~flashsim.io.write`: :class:`NanoAODWriter`, atomic writing of NanoAOD-style TTrees, and
  :func:`check_output_path`.
- :mod:`~flashsim.io.provenance`: :func:`read_provenance`, the record of how a file was made.
"""

from flashsim.io.events import from_nanoevents, zip_collections
from flashsim.io.layout import check_branch_layout, close_names, require_branches
from flashsim.io.provenance import PROVENANCE_KEY, read_provenance
from flashsim.io.read import missing_field, open_events, read_entries
from flashsim.io.write import DEFAULT_COMPRESSION, NanoAODWriter, check_output_path

__all__ = [
    "DEFAULT_COMPRESSION",
    "PROVENANCE_KEY",
    "NanoAODWriter",
    "check_branch_layout",
    "check_output_path",
    "close_names",
    "from_nanoevents",
    "missing_field",
    "open_events",
    "read_entries",
    "read_provenance",
    "require_branches",
    "zip_collections",
]

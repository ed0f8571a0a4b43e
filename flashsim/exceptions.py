"""The errors flashsim raises for problems a user can fix.

Every error here carries a one-line message that says what is wrong and what to do; the command line
prints it as ``flashsim: error: <message>`` without a traceback (``--debug`` shows one). Programming
errors (wrong types or shapes passed by calling code) stay ordinary Python exceptions.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from typing import Any

__all__ = [
    "ConfigurationError",
    "ExportCheckError",
    "ExportError",
    "FitError",
    "FlashsimError",
    "InputError",
    "ItemsFailedError",
    "ModelError",
    "OutputError",
    "SpecError",
    "Terminated",
]


class FlashsimError(Exception):
    """Base class of every user-facing flashsim error; catch this to catch them all."""


class InputError(FlashsimError):
    """An input file cannot be used.

    Raised when the file is missing, is not a ROOT file or is corrupted, lacks the requested tree,
    or lacks branches that the job needs.
    """


class ItemsFailedError(FlashsimError):
    """Some work items of a ``flashsim run`` with a directory output failed.

    The others are written and listed as done in the manifest; the message names the failed
    items and their errors, and ``--resume`` reruns only those.
    """


class OutputError(FlashsimError):
    """An output file cannot be written.

    Raised before any expensive work when the output exists and overwriting was not asked for, or
    its directory is missing or not writable; and while writing when the disk fills up or the
    file system refuses a write.
    """


class SpecError(FlashsimError):
    """A pipeline specification (YAML) is invalid: unknown key, wrong type, unsupported version."""


class ModelError(FlashsimError):
    """A trained model bundle is missing, corrupt, or incompatible with this flashsim version."""


class ConfigurationError(FlashsimError):
    """An option has a value that cannot work (bad combination, out of range, unknown name)."""


class FitError(FlashsimError):
    """A fit did not converge, gave an invalid minimum, or gave an unusable result.

    Raised by :func:`flashsim.sweights.fit_mass` when MIGRAD fails, the covariance matrix is not
    positive definite, or a fitted yield is zero; the message says what to try (other shapes, a
    different range, other initial values).
    """


class ExportError(FlashsimError):
    """A model cannot be exported to ONNX, or the libraries to do it are missing."""


class ExportCheckError(ExportError):
    """ONNX Runtime's output differs from torch's beyond the tolerance.

    ``results`` holds every model's :class:`flashsim.export.CheckResult`.
    """

    def __init__(self, message: str, results: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.results = list(results)


class Terminated(SystemExit):
    """Raised in the main thread when the process receives SIGTERM.

    A :class:`SystemExit` (and so not an :class:`Exception`): ``except Exception`` blocks let it
    through, ``finally`` blocks and context managers run, and an uncaught one ends the process
    with status 143 (128 + SIGTERM), as the default SIGTERM action would.
    See :func:`flashsim.cli.signals.install_termination_handler`.
    """

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)

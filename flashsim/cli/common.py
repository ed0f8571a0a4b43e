"""What several commands share: options, the command line for provenance, input globs, and
the checks of paths made before the heavy imports.

The option factories keep each command's own help text (``docs/cli.md`` is generated from
them) while the name, type and default of an option are written once.

Commands check their options, input files and outputs before they import the library's heavy
parts (torch, xgboost, uproot, awkward, numba: seconds of imports), so that a mistyped path or
an existing output is answered at once: :func:`expand_inputs` (inputs exist),
:func:`check_model_dir` (a model bundle directory), and :mod:`flashsim.io.paths` (ROOT inputs,
output files and directories), which imports neither.
"""

from __future__ import annotations

import glob
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = [
    "BUNDLE_RECORD",
    "MAX_COUNT",
    "MAX_JOBS",
    "MAX_SEED",
    "FiniteFloat",
    "check_model_dir",
    "check_report_paths",
    "command_line",
    "expand_inputs",
    "jobs_option",
    "max_events_option",
    "model_option",
    "output_option",
    "overwrite_option",
    "quiet_option",
    "seed_option",
]

F = TypeVar("F", bound=Callable[..., Any])

MAX_SEED = 2**32 - 1
"""The largest seed of every command: xgboost, torch and numpy all take 0 ... 2**32 - 1 (a
pipeline spec's ``seed:`` has the same range)."""
MAX_JOBS = 256
"""The most worker processes a command starts (``-j``): more is a typo, not a machine."""
MAX_COUNT = 10**9
"""The most events or rows a command generates (``-n``): each is planned before any is made."""
BUNDLE_RECORD = "flashsim-model.json"
"""The record of a model bundle (:data:`flashsim.bundle.RECORD_NAME`, kept here so that a
missing bundle is reported before the library is imported; tests/test_cli_rough_edges.py checks
that they agree)."""


class FiniteFloat(click.FloatRange):
    """A float option within a range that is also finite: ``nan`` is refused (click's
    ``FloatRange`` lets NaN through, as every comparison with it is false), and so are
    ``inf`` and ``-inf``. Takes ``FloatRange``'s arguments (``min``, ``max``, ``min_open``).

    Example:
        >>> FiniteFloat(0.0).convert("nan", None, None)
        Traceback (most recent call last):
        ...
        click.exceptions.BadParameter: 'nan' is not a finite number.
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """``value`` as a float in the range, or a usage error (exit 2)."""
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def overwrite_option(text: str = "Replace the output if it exists.") -> Callable[[F], F]:
    """``--overwrite``: a flag."""
    return click.option("--overwrite", is_flag=True, help=text)


def quiet_option(text: str = "No progress bar and no summary.") -> Callable[[F], F]:
    """``-q``, ``--quiet``: a flag."""
    return click.option("-q", "--quiet", is_flag=True, help=text)


def jobs_option(text: str = "Processes.") -> Callable[[F], F]:
    """``-j``, ``--jobs``: a number of processes, 1 to :data:`MAX_JOBS` (default 1)."""
    return click.option(
        "-j",
        "--jobs",
        default=1,
        show_default=True,
        type=click.IntRange(min=1, max=MAX_JOBS),
        help=text,
    )


def seed_option(
    *,
    default: int = 0,
    maximum: int = MAX_SEED,
    text: str = "Random seed.",
) -> Callable[[F], F]:
    """``--seed``: a non-negative integer, at most ``maximum`` (:data:`MAX_SEED` unless a
    command's generator takes less)."""
    return click.option(
        "--seed",
        default=default,
        show_default=True,
        type=click.IntRange(min=0, max=maximum),
        help=text,
    )


def model_option(
    text: str = "Model bundle directory (default: the model shipped with flashsim).",
) -> Callable[[F], F]:
    """``--model``: a model bundle directory, ``None`` when not given."""
    return click.option("--model", type=click.Path(path_type=Path), help=text)


def max_events_option(text: str) -> Callable[[F], F]:
    """``--max-events``: a positive integer, ``None`` when not given."""
    return click.option("--max-events", type=click.IntRange(min=1), help=text)


def output_option(text: str) -> Callable[[F], F]:
    """``-o``, ``--output``: a required path."""
    return click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help=text)


def command_line() -> str:
    """The command line of this process (``flashsim run ...``), for provenance records."""
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])


def expand_inputs(patterns: tuple[str, ...], what: str) -> list[Path]:
    """Expand shell-style globs; each pattern must match at least one file, and a name that is
    not a glob must exist.

    Raises:
        InputError: a pattern matches no file, or a file does not exist (named, with ``what``
            it is).
    """
    from flashsim.exceptions import InputError

    files: list[Path] = []
    for pattern in patterns:
        magic = glob.has_magic(pattern) and not Path(pattern).exists()
        matches = sorted(glob.glob(pattern)) if magic else [pattern]
        if not matches:
            msg = f"{what} pattern {pattern!r} matches no file"
            raise InputError(msg)
        if not magic and not Path(pattern).exists():
            msg = f"{what} file {pattern} does not exist"
            raise InputError(msg)
        files += [Path(m) for m in matches]
    return files


def check_model_dir(model: Path | None) -> None:
    """Check that ``model`` (when given) is a directory holding a bundle record, as
    :func:`flashsim.bundle.read_record` does first, before the library is imported.

    Raises:
        ModelError: ``model`` is not a directory, or has no :data:`BUNDLE_RECORD`.
    """
    from flashsim.exceptions import ModelError

    if model is None:
        return
    if not model.is_dir():
        msg = f"model bundle {model} does not exist or is not a directory; see `flashsim train`"
        raise ModelError(msg)
    record = model / BUNDLE_RECORD
    if record.is_symlink() or not record.is_file():
        msg = f"{model} is not a flashsim model bundle: it has no {BUNDLE_RECORD}"
        raise ModelError(msg)


def check_report_paths(
    flash: Path, full: Path, pipeline: Path | None, output: Path, *, overwrite: bool
) -> None:
    """``flashsim validate``'s files and report directory, checked before anything is imported
    or read: both samples are ROOT files, ``--pipeline`` exists, and the report directory is
    a directory without a report (unless ``overwrite``).

    Raises:
        InputError: a sample is missing or not a ROOT file.
        SpecError: ``pipeline`` does not exist.
        OutputError: ``output`` is a file, or holds a report and ``overwrite`` is false.
    """
    from flashsim.exceptions import OutputError, SpecError
    from flashsim.io.paths import check_input_file

    check_input_file(flash)
    check_input_file(full)
    if pipeline is not None and not pipeline.exists():
        msg = (
            f"--pipeline {pipeline} does not exist; give a pipeline spec (YAML) or a model "
            "bundle directory"
        )
        raise SpecError(msg)
    if output.exists() and not output.is_dir():
        msg = f"report directory {output} exists and is not a directory"
        raise OutputError(msg)
    if (output / "index.html").exists() and not overwrite:
        msg = f"{output} already holds a report; pass --overwrite to replace it"
        raise OutputError(msg)

"""What several commands share: options, the command line for provenance, input globs.

The option factories keep each command's own help text (``docs/cli.md`` is generated from
them) while the name, type and default of an option are written once.
"""

from __future__ import annotations

import glob
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = [
    "command_line",
    "expand_inputs",
    "max_events_option",
    "model_option",
    "output_option",
    "overwrite_option",
    "quiet_option",
    "seed_option",
]

F = TypeVar("F", bound=Callable[..., Any])


def overwrite_option(text: str = "Replace the output if it exists.") -> Callable[[F], F]:
    """``--overwrite``: a flag."""
    return click.option("--overwrite", is_flag=True, help=text)


def quiet_option(text: str = "No progress bar and no summary.") -> Callable[[F], F]:
    """``-q``, ``--quiet``: a flag."""
    return click.option("-q", "--quiet", is_flag=True, help=text)


def seed_option(
    *,
    default: int = 0,
    maximum: int | None = None,
    text: str = "Random seed.",
) -> Callable[[F], F]:
    """``--seed``: a non-negative integer, at most ``maximum``."""
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
    """Expand shell-style globs; each pattern must match at least one file.

    Raises:
        InputError: a pattern matches no file (named, with ``what`` it is).
    """
    from flashsim.exceptions import InputError

    files: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            msg = f"{what} pattern {pattern!r} matches no file"
            raise InputError(msg)
        files += [Path(m) for m in matches]
    return files

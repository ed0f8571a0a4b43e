"""The top-level ``flashsim`` group and the error policy of every command.

Errors a user can fix (:class:`~flashsim.exceptions.FlashsimError`, and a command's bad or
missing option) print one line ``flashsim: error: <message>`` and exit with status 2, the status
click uses for usage errors.
Anything else is a bug: one line ``flashsim: internal error: ...`` and status 1. ``--debug`` shows
the full traceback instead. Ctrl-C exits with 130 and SIGTERM with 143, after open outputs have
removed their temporary files.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from flashsim import __version__
from flashsim.cli.export import export
from flashsim.cli.gen import gen
from flashsim.cli.info import info, inspect_file
from flashsim.cli.refsim import refsim
from flashsim.cli.run import run
from flashsim.cli.signals import install_termination_handler
from flashsim.cli.sweights import sweights
from flashsim.cli.train import train
from flashsim.cli.validate import validate
from flashsim.exceptions import FlashsimError, Terminated

__all__ = ["flashsim", "main"]

_EXIT_USER_ERROR = 2
_EXIT_INTERNAL_ERROR = 1
_EXIT_INTERRUPTED = 130


class _FlashsimGroup(click.Group):
    """A click group that turns exceptions from commands into one-line messages."""

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug"))
        try:
            return super().invoke(ctx)
        except click.exceptions.UsageError as err:
            # A command's bad option (an absurd --seed, a missing --output): one line, as every
            # other error, with where to read about the options.
            where = err.ctx.command_path if err.ctx is not None else "flashsim"
            click.echo(
                f"flashsim: error: {err.format_message().rstrip('.')} (see '{where} --help')",
                err=True,
            )
            ctx.exit(_EXIT_USER_ERROR)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except FlashsimError as err:
            if debug:
                raise
            click.echo(f"flashsim: error: {err}", err=True)
            ctx.exit(_EXIT_USER_ERROR)
        except KeyboardInterrupt:
            if debug:
                raise
            click.echo("flashsim: interrupted", err=True)
            ctx.exit(_EXIT_INTERRUPTED)
        except Terminated:
            click.echo("flashsim: terminated (SIGTERM)", err=True)
            raise
        except Exception as err:
            if debug:
                raise
            click.echo(
                f"flashsim: internal error: {type(err).__name__}: {err} "
                "(rerun with --debug for the traceback)",
                err=True,
            )
            ctx.exit(_EXIT_INTERNAL_ERROR)


@click.group(cls=_FlashsimGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show the full traceback when an error occurs.")
@click.version_option(__version__, "--version", prog_name="flashsim")
def flashsim(debug: bool) -> None:
    """Flash simulation for high-energy physics."""


flashsim.add_command(refsim)
flashsim.add_command(gen)
flashsim.add_command(train)
flashsim.add_command(run)
flashsim.add_command(validate)
flashsim.add_command(sweights)
flashsim.add_command(export)
flashsim.add_command(info)
flashsim.add_command(inspect_file)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``flashsim`` command line with ``argv`` (default: ``sys.argv[1:]``); exits."""
    # xgboost and torch share libgomp; actively waiting idle threads of one slow the other down
    # badly when cores are few. Must be set before either library is imported (commands import
    # them lazily).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        with install_termination_handler():
            flashsim.main(args=None if argv is None else list(argv), prog_name="flashsim")
    except Terminated as stop:
        # The stack has unwound (outputs removed their temporaries, executors shut down):
        # end now rather than spend a second or more in the interpreter's shutdown (torch's
        # and numba's exit handlers), so a batch system's SIGTERM is honoured promptly.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(stop.code if isinstance(stop.code, int) else 143)

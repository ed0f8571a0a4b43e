"""``flashsim sweights``: fit a mass distribution, add signal sWeights to a flat TTree.

The workflow is :func:`flashsim.sweights.workflow.add_sweights`; this module parses the options,
prints progress and the summary.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import click

from flashsim.cli.common import (
    FiniteFloat,
    command_line,
    output_option,
    overwrite_option,
    quiet_option,
)

__all__ = ["sweights"]


def _parse_assignments(values: Sequence[str], option: str) -> dict[str, float]:
    """``("mu=1865.0", ...)`` to ``{"mu": 1865.0}``.

    Raises:
        ConfigurationError: an entry is not NAME=VALUE with a number as VALUE.
    """
    from flashsim.exceptions import ConfigurationError

    assigned = {}
    for item in values:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError(item)
            assigned[name.strip()] = float(value)
            if not math.isfinite(assigned[name.strip()]):
                raise ValueError(item)
        except ValueError as err:
            msg = f"{option} expects NAME=VALUE (a finite number) such as mu=1865.0, got {item!r}"
            raise ConfigurationError(msg) from err
    return assigned


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "--fit-var", required=True, help="Branch to fit: the discriminating variable, e.g. a mass."
)
@click.option(
    "--signal",
    type=click.Choice(["gauss", "dcb"]),
    default="gauss",
    show_default=True,
    help="Signal shape: Gaussian or double-sided Crystal Ball.",
)
@click.option(
    "--background",
    type=click.Choice(["exp", "poly1", "threshold"]),
    default="exp",
    show_default=True,
    help="Background shape: exponential, first-order polynomial, or a threshold shape "
    "(m - m0)^a exp(-(m - m0)/c) (fix m0 with --fix threshold=M0).",
)
@click.option(
    "--range",
    "fit_range",
    required=True,
    nargs=2,
    type=FiniteFloat(),
    metavar="LO HI",
    help="Fit range; rows outside it are dropped.",
)
@output_option("Output ROOT file; X.fit.png and X.fit.json are written beside X.root.")
@click.option("--tree", default="Events", show_default=True, help="TTree of INPUT (and OUTPUT).")
@click.option(
    "--controls",
    help="Comma-separated branches to check for independence of the fit variable "
    "(default: every other numeric branch except true_*).",
)
@click.option(
    "--initial",
    multiple=True,
    metavar="NAME=VALUE",
    help="Starting value of a fit parameter (n_signal, n_background, mu, sigma, slope, c1, "
    "beta_left, m_left, beta_right, m_right); repeatable.",
)
@click.option(
    "--fix",
    multiple=True,
    metavar="NAME=VALUE",
    help="Hold a fit parameter at a value, e.g. DCB tails from simulation; repeatable.",
)
@click.option(
    "--tails-from",
    type=click.Path(path_type=Path),
    metavar="SIGNAL.root",
    help="Simulated signal only (same --tree and --fit-var): fit the dcb signal to it alone "
    "and hold its tails (beta_left, m_left, beta_right, m_right) at the result; --fix wins.",
)
@overwrite_option("Replace OUTPUT and its .fit files if they exist.")
@quiet_option("No progress messages and no summary (warnings are still printed).")
def sweights(
    input_path: Path,
    fit_var: str,
    signal: str,
    background: str,
    fit_range: tuple[float, float],
    output: Path,
    tree: str,
    controls: str | None,
    initial: tuple[str, ...],
    fix: tuple[str, ...],
    tails_from: Path | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Fit the distribution of --fit-var in INPUT and add signal sWeights (sPlot).

    Fits signal + background to the rows of the flat TTree INPUT inside --range (an extended
    unbinned maximum-likelihood fit) and writes those rows, every branch, plus the branch
    `sweight` (the signal sWeight, float64) to OUTPUT; beside it X.fit.png (the fit and its
    pulls) and X.fit.json (yields, parameters, fit status, warnings, counts). Warns on stderr
    about control variables that depend on --fit-var within signal or background, which the
    sPlot method assumes they do not. Progress messages go to stderr.

    A dcb signal is fitted in stages (a Gaussian first, then the DCB seeded from it); its tails
    are barely constrained under a large background: fix them from simulated signal with
    --tails-from (what analyses do), as a tail the data do not constrain is otherwise held
    where the fit left it, with a warning.
    """
    from flashsim.sweights.workflow import add_sweights

    started = time.monotonic()

    def log(line: str) -> None:
        if not quiet:
            click.echo(f"flashsim sweights [{time.monotonic() - started:5.0f} s]: {line}", err=True)

    result = add_sweights(
        input_path,
        output,
        fit_var=fit_var,
        fit_range=fit_range,
        signal=signal,
        background=background,
        tree=tree,
        controls=[name.strip() for name in controls.split(",") if name.strip()]
        if controls
        else None,
        initial=_parse_assignments(initial, "--initial"),
        fixed=_parse_assignments(fix, "--fix"),
        tails_from=tails_from,
        overwrite=overwrite,
        command=command_line(),
        log=log,
    )
    for warning in result.warnings:
        click.echo(f"flashsim: warning: {warning}", err=True)
    if not quiet:
        counts = result.summary["counts"]
        lo, hi = fit_range
        (n_sig, e_sig), (n_bkg, e_bkg) = result.fit.yields.values()
        click.echo(
            f"{counts['output']} of {counts['input']} rows in {fit_var} {lo:g}..{hi:g} "
            f"({counts['outside_range']} dropped) -> {result.output}"
        )
        click.echo(f"signal yield:     {n_sig:.1f} ± {e_sig:.1f}")
        click.echo(f"background yield: {n_bkg:.1f} ± {e_bkg:.1f}")
        click.echo(f"fit figure {result.figure}, summary {result.summary_path}")

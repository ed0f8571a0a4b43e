"""``flashsim sweights``: fit a mass distribution, add signal sWeights to a flat TTree."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import click

__all__ = ["side_paths", "sweights"]

WEIGHT_BRANCH = "sweight"
"""The name of the branch with the signal sWeights in the output."""


def side_paths(output: Path) -> tuple[Path, Path]:
    """The fit figure and the JSON summary written beside ``output``: ``X.fit.png``, ``X.fit.json``.

    ``calib_sw.root`` gives ``calib_sw.fit.png`` and ``calib_sw.fit.json``.
    """
    return output.with_name(output.stem + ".fit.png"), output.with_name(output.stem + ".fit.json")


def _parse_initial(values: Sequence[str], option: str = "--initial") -> dict[str, float]:
    from flashsim.exceptions import ConfigurationError

    initial = {}
    for item in values:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError(item)
            initial[name.strip()] = float(value)
        except ValueError as err:
            msg = f"{option} expects NAME=VALUE such as mu=1865.0, got {item!r}"
            raise ConfigurationError(msg) from err
    return initial


def _write_atomically(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` for a temporary file beside ``path``, then rename it to ``path``."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _say_if_slow(log: Callable[[str], None], line: str, after: float = 1.0) -> Iterator[None]:
    """Call ``log(line)`` if the block is still running after ``after`` seconds.

    A long fit says what it is doing; a quick one, or one that fails at once, prints nothing
    (so an error stays one line).
    """
    timer = threading.Timer(after, log, args=(line,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _read_flat_tree(path: Path, tree_name: str, needed: Sequence[str]) -> dict[str, Any]:
    """Every branch of a flat TTree as 1-D numpy arrays; checks that ``needed`` branches exist."""
    import numpy as np

    from flashsim.exceptions import InputError
    from flashsim.io import open_events, read_entries, require_branches

    tree = open_events(path, tree=tree_name)
    try:
        require_branches(tree, needed)
        arrays = read_entries(tree, None, library="np")
    finally:
        tree.file.close()
    for name, column in arrays.items():
        if column.ndim != 1 or column.dtype.kind not in "biuf":
            msg = (
                f"branch {name!r} of {path}:{tree_name} is not one number per entry "
                f"({column.dtype}); flashsim sweights needs a flat tree, one candidate per entry"
            )
            raise InputError(msg)
    return {name: np.asarray(column) for name, column in arrays.items()}


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
    type=float,
    metavar="LO HI",
    help="Fit range; rows outside it are dropped.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Output ROOT file; X.fit.png and X.fit.json are written beside X.root.",
)
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
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT and its .fit files if they exist.")
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="No progress messages and no summary (warnings are still printed).",
)
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
    """
    import numpy as np

    from flashsim import __version__
    from flashsim.exceptions import ConfigurationError, InputError
    from flashsim.io import NanoAODWriter, check_output_path
    from flashsim.sweights import check_independence, fit_mass, plot_fit
    from flashsim.sweights import sweights as signal_weights

    started = time.monotonic()

    def log(line: str) -> None:
        if not quiet:
            click.echo(f"flashsim sweights [{time.monotonic() - started:5.0f} s]: {line}", err=True)

    out = check_output_path(output, overwrite=overwrite)
    figure_path, summary_path = side_paths(out)
    for path in (figure_path, summary_path):
        check_output_path(path, overwrite=overwrite)
    start = _parse_initial(initial)
    held = _parse_initial(fix, option="--fix")
    lo, hi = fit_range
    if not lo < hi:
        msg = f"--range needs LO < HI, got {lo:g} {hi:g}"
        raise ConfigurationError(msg)
    control_names = (
        [name.strip() for name in controls.split(",") if name.strip()] if controls else None
    )

    arrays = _read_flat_tree(input_path, tree, [fit_var, *(control_names or [])])
    if WEIGHT_BRANCH in arrays:
        msg = (
            f"input {input_path} already has a branch {WEIGHT_BRANCH!r}; "
            "remove or rename it before computing new sWeights"
        )
        raise InputError(msg)
    mass = arrays[fit_var].astype(np.float64)
    n_input = mass.size
    if n_bad := int(np.count_nonzero(~np.isfinite(mass))):
        msg = (
            f"branch {fit_var!r} of {input_path} has {n_bad} non-finite value(s) (NaN or inf) "
            f"in {n_input} rows; remove those rows first"
        )
        raise InputError(msg)
    keep = (mass >= lo) & (mass <= hi)
    n_kept = int(np.count_nonzero(keep))
    if n_kept == 0:
        span = f"{mass.min():g}..{mass.max():g}" if n_input else "nothing (the tree is empty)"
        msg = (
            f"no rows of {input_path} have {fit_var} in the range {lo:g}..{hi:g} (the values "
            f"span {span}); choose a --range that covers the peak"
        )
        raise InputError(msg)

    fitting = (
        f"fitting {n_kept} of {n_input} rows in {fit_var} {lo:g}..{hi:g} "
        f"({signal} signal + {background} background)..."
    )
    fit_start = time.monotonic()
    with _say_if_slow(log, fitting):
        fit = fit_mass(
            mass[keep], signal=signal, background=background, range=(lo, hi), initial=start,
            fixed=held,
        )  # fmt: skip
    log(
        f"fit of {n_kept} rows converged after {fit.status.get('nfcn')} likelihood evaluations "
        f"({time.monotonic() - fit_start:.1f} s)"
    )
    weights = signal_weights(fit, mass[keep])
    if control_names is None:
        control_names = [n for n in arrays if n != fit_var and not n.startswith("true_")]
    log(f"sWeights computed; checking {len(control_names)} control variable(s) for independence")
    warnings = check_independence(
        mass[keep], {name: arrays[name][keep] for name in control_names}, weights
    )

    summary = {
        "flashsim_version": __version__,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "input": str(input_path),
        "output": str(out),
        "tree": tree,
        "fit_variable": fit_var,
        "counts": {"input": n_input, "outside_range": n_input - n_kept, "output": n_kept},
        "fit": fit.to_dict(),
        "sum_of_sweights": float(weights.sum()),
        "controls": control_names,
        "independence_warnings": warnings,
    }
    log(f"writing {out}, {figure_path.name} and {summary_path.name}")
    columns = {name: column[keep] for name, column in arrays.items()}
    columns[WEIGHT_BRANCH] = weights
    with NanoAODWriter(out, tree=tree, overwrite=overwrite, metadata=summary) as writer:
        writer.extend(columns)
    _write_atomically(figure_path, lambda tmp: plot_fit(fit, mass[keep], tmp, label=fit_var))
    _write_atomically(
        summary_path, lambda tmp: tmp.write_text(json.dumps(summary, indent=2) + "\n")
    )

    for warning in warnings:
        click.echo(f"flashsim: warning: {warning}", err=True)
    if not quiet:
        (n_sig, e_sig), (n_bkg, e_bkg) = fit.yields.values()
        click.echo(
            f"{n_kept} of {n_input} rows in {fit_var} {lo:g}..{hi:g} "
            f"({n_input - n_kept} dropped) -> {out}"
        )
        click.echo(f"signal yield:     {n_sig:.1f} ± {e_sig:.1f}")
        click.echo(f"background yield: {n_bkg:.1f} ± {e_bkg:.1f}")
        click.echo(f"fit figure {figure_path}, summary {summary_path}")

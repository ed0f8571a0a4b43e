"""The sWeights workflow of ``flashsim sweights``: fit a flat TTree, write it with sWeights.

:func:`add_sweights` reads the rows of a flat TTree, fits the distribution of the discriminating
variable inside a range (:func:`~flashsim.sweights.fit.fit_mass`), computes the signal sWeights
(:func:`~flashsim.sweights.splot.sweights`), checks the control variables for independence
(:func:`~flashsim.sweights.independence.check_independence`) and writes the rows in the range
with the branch :data:`WEIGHT_BRANCH`, the fit figure and a JSON summary
(:func:`side_paths`), each atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flashsim import __version__
from flashsim.atomic import check_replaceable, exclusive_temporary, write_atomically
from flashsim.exceptions import ConfigurationError, InputError
from flashsim.io import (
    NanoAODWriter,
    check_input_file,
    check_output_path,
    open_events,
    read_entries,
    require_branches,
)
from flashsim.sweights.fit import MassFit, fit_mass
from flashsim.sweights.independence import check_independence
from flashsim.sweights.plot import plot_fit
from flashsim.sweights.splot import sweights
from flashsim.sweights.tails import TailFit, fit_tails

__all__ = ["WEIGHT_BRANCH", "SweightsResult", "add_sweights", "read_flat_tree", "side_paths"]

WEIGHT_BRANCH = "sweight"
"""The name of the branch with the signal sWeights in the output."""


def side_paths(output: Path) -> tuple[Path, Path]:
    """The fit figure and the JSON summary written beside ``output``: ``X.fit.png``, ``X.fit.json``.

    ``calib_sw.root`` gives ``calib_sw.fit.png`` and ``calib_sw.fit.json``.
    """
    return output.with_name(output.stem + ".fit.png"), output.with_name(output.stem + ".fit.json")


@dataclass(frozen=True)
class SweightsResult:
    """What :func:`add_sweights` wrote.

    Arguments:
        output: the ROOT file with the sWeights.
        figure: the fit figure beside it.
        summary_path: the JSON summary beside it.
        summary: the summary (also stored as the output's provenance record).
        fit: the fit.
        warnings: the fit warnings (shape parameters the data do not constrain) and the
            independence warnings (control variables that depend on the fit variable within
            signal or background).
    """

    output: Path
    figure: Path
    summary_path: Path
    summary: dict[str, Any]
    fit: MassFit
    warnings: list[str]


def _write_atomically(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` for a temporary file beside ``path``, then rename it to ``path``.

    The temporary is created exclusively (:func:`flashsim.atomic.exclusive_temporary`: a
    random name, no link followed) and removed if anything fails; only a regular file at
    ``path`` is replaced (:func:`flashsim.atomic.check_replaceable`).
    """
    check_replaceable(path)
    with exclusive_temporary(path) as (_, tmp):
        write(tmp)
        check_replaceable(path)
        os.replace(tmp, path)


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


def read_flat_tree(path: Path, tree_name: str, needed: Sequence[str]) -> dict[str, np.ndarray]:
    """Every branch of a flat TTree as 1-D numpy arrays; checks that ``needed`` branches exist.

    Raises:
        InputError: the file or tree cannot be read, a ``needed`` branch is missing, or a
            branch does not hold one number per entry.
    """
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


def _rows_in_range(
    arrays: Mapping[str, np.ndarray], input_path: Path, fit_var: str, lo: float, hi: float
) -> tuple[np.ndarray, np.ndarray]:
    """The fit variable as float64 and the mask of its rows inside ``[lo, hi]``.

    Raises:
        InputError: the input already has sWeights, the fit variable has NaN or inf, or no row
            is inside the range.
    """
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
    if not keep.any():
        span = f"{mass.min():g}..{mass.max():g}" if n_input else "nothing (the tree is empty)"
        msg = (
            f"no rows of {input_path} have {fit_var} in the range {lo:g}..{hi:g} (the values "
            f"span {span}); choose a --range that covers the peak"
        )
        raise InputError(msg)
    return mass, keep


def _read_column(path: Path, tree_name: str, name: str) -> np.ndarray:
    """The branch ``name`` of ``path:tree_name`` as float64 (for ``--tails-from``).

    Raises:
        InputError: the file or tree cannot be read, the branch is missing, is not one number
            per entry, or has NaN or inf.
    """
    events = open_events(path, tree=tree_name)
    try:
        require_branches(events, [name])
        column = np.asarray(read_entries(events, [name], library="np")[name])
    finally:
        events.file.close()
    if column.ndim != 1 or column.dtype.kind not in "biuf":
        msg = f"branch {name!r} of {path}:{tree_name} is not one number per entry ({column.dtype})"
        raise InputError(msg)
    if n_bad := int(np.count_nonzero(~np.isfinite(column))):
        msg = f"branch {name!r} of {path} has {n_bad} non-finite value(s); remove those rows"
        raise InputError(msg)
    return column.astype(np.float64)


def _fit_warnings(fit: MassFit, tails_from: Path | None) -> list[str]:
    """Warnings about shape parameters the data did not constrain.

    A tail parameter held by the staged fit (``status["pinned"]``) or one that ended at a limit
    of its interval: the valley of the likelihood goes on beyond it, so the HESSE errors of the
    yields do not include its uncertainty and may be too small.
    """
    advice = (
        "fix the tails from simulated signal with --tails-from SIGNAL.root"
        if tails_from is None
        else "check the simulated signal sample"
    )
    found = []
    if pinned := fit.status.get("pinned"):
        held = ", ".join(f"{name}={value:.4g}" for name, value in pinned.items())
        found.append(
            f"the data do not constrain {held}: held there to make the fit converge; the "
            f"yields' errors leave out its uncertainty; {advice}"
        )
    elif fit.status.get("has_parameters_at_limit"):
        found.append(
            "a fit parameter ended at a limit of its interval (see the parameters in the "
            f"summary); the yields' errors may be too small; {advice}"
        )
    return found


def add_sweights(
    input_path: Path,
    output: Path,
    *,
    fit_var: str,
    fit_range: tuple[float, float],
    signal: str = "gauss",
    background: str = "exp",
    tree: str = "Events",
    controls: Sequence[str] | None = None,
    initial: Mapping[str, float] | None = None,
    fixed: Mapping[str, float] | None = None,
    tails_from: Path | None = None,
    overwrite: bool = False,
    command: str | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> SweightsResult:
    """Fit ``fit_var`` in the flat TTree ``input_path`` and write its rows with signal sWeights.

    Arguments:
        input_path: the flat TTree's file, one candidate per entry.
        output: the output ROOT file; the fit figure and the JSON summary are written beside it
            (:func:`side_paths`).
        fit_var: the branch to fit: the discriminating variable, e.g. a mass.
        fit_range: ``(lo, hi)``; rows outside it are dropped.
        signal: the signal shape (:data:`~flashsim.sweights.shapes.SIGNAL_SHAPES`).
        background: the background shape (:data:`~flashsim.sweights.shapes.BACKGROUND_SHAPES`).
        tree: the TTree of the input and of the output.
        controls: the branches to check for independence of ``fit_var`` (default: every other
            numeric branch except ``true_*``).
        initial: starting values of fit parameters.
        fixed: fit parameters held at a value (they win over ``tails_from``).
        tails_from: a file of simulated signal only (same tree and ``fit_var``): the signal
            shape is fitted to it alone (:func:`~flashsim.sweights.tails.fit_tails`) and its
            tail parameters are held at the result in the fit to ``input_path``.
        overwrite: replace the output and its side files if they exist.
        command: the command line, for the summary.
        log: called with a line of progress at each step.

    Raises:
        OutputError: an output exists (without ``overwrite``) or cannot be written.
        ConfigurationError: ``fit_range`` is empty, or ``tails_from`` with a signal shape
            without tails.
        InputError: the input (or ``tails_from``) cannot be read or has no row to fit (see
            :func:`read_flat_tree`).
        FitError: the fit (or the fit to ``tails_from``) fails.
    """
    out = check_output_path(output, overwrite=overwrite)
    figure_path, summary_path = side_paths(out)
    for path in (figure_path, summary_path):
        check_output_path(path, overwrite=overwrite)
    lo, hi = fit_range
    if not lo < hi:
        msg = f"--range needs LO < HI, got {lo:g} {hi:g}"
        raise ConfigurationError(msg)
    control_names = list(controls) if controls else None
    if tails_from is not None:
        if signal != "dcb":
            msg = f"--tails-from fixes the tails of a dcb signal; a {signal} signal has none"
            raise ConfigurationError(msg)
        check_input_file(tails_from)  # before the input is read

    arrays = read_flat_tree(input_path, tree, [fit_var, *(control_names or [])])
    mass, keep = _rows_in_range(arrays, input_path, fit_var, lo, hi)
    n_input, n_kept = mass.size, int(np.count_nonzero(keep))
    tails: TailFit | None = None
    if tails_from is not None:
        simulated = _read_column(tails_from, tree, fit_var)
        log(f"fitting the {signal} tails to {simulated.size} rows of simulated signal...")
        tails = fit_tails(simulated, range=(lo, hi), signal=signal)
        fixed = tails.tails | dict(fixed or {})

    fitting = (
        f"fitting {n_kept} of {n_input} rows in {fit_var} {lo:g}..{hi:g} "
        f"({signal} signal + {background} background)..."
    )
    fit_start = time.monotonic()
    with _say_if_slow(log, fitting):
        fit = fit_mass(
            mass[keep], signal=signal, background=background, range=(lo, hi), initial=initial,
            fixed=fixed,
        )  # fmt: skip
    log(
        f"fit of {n_kept} rows converged after {fit.status.get('nfcn')} likelihood evaluations "
        f"in {len(fit.status['stages'])} stage(s) ({time.monotonic() - fit_start:.1f} s)"
    )
    fit_warnings = _fit_warnings(fit, tails_from)
    weights = sweights(fit, mass[keep])
    if control_names is None:
        control_names = [n for n in arrays if n != fit_var and not n.startswith("true_")]
    log(f"sWeights computed; checking {len(control_names)} control variable(s) for independence")
    warnings = check_independence(
        mass[keep], {name: arrays[name][keep] for name in control_names}, weights
    )

    summary = {
        "flashsim_version": __version__,
        "command": command,
        "input": str(input_path),
        "output": str(out),
        "tree": tree,
        "fit_variable": fit_var,
        "counts": {"input": n_input, "outside_range": n_input - n_kept, "output": n_kept},
        "fit": fit.to_dict(),
        "tails_from": None if tails is None else {"path": str(tails_from), **tails.to_dict()},
        "fit_warnings": fit_warnings,
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
    write_atomically(summary_path, (json.dumps(summary, indent=2) + "\n").encode())
    return SweightsResult(out, figure_path, summary_path, summary, fit, [*fit_warnings, *warnings])

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
    check_output_path,
    open_events,
    read_entries,
    require_branches,
)
from flashsim.sweights.fit import MassFit, fit_mass
from flashsim.sweights.independence import check_independence
from flashsim.sweights.plot import plot_fit
from flashsim.sweights.splot import sweights

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
        warnings: the independence warnings (control variables that depend on the fit
            variable within signal or background).
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
        fixed: fit parameters held at a value.
        overwrite: replace the output and its side files if they exist.
        command: the command line, for the summary.
        log: called with a line of progress at each step.

    Raises:
        OutputError: an output exists (without ``overwrite``) or cannot be written.
        ConfigurationError: ``fit_range`` is empty.
        InputError: the input cannot be read or has no row to fit (see :func:`read_flat_tree`).
        FitError: the fit fails.
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

    arrays = read_flat_tree(input_path, tree, [fit_var, *(control_names or [])])
    mass, keep = _rows_in_range(arrays, input_path, fit_var, lo, hi)
    n_input, n_kept = mass.size, int(np.count_nonzero(keep))

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
        f"({time.monotonic() - fit_start:.1f} s)"
    )
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
    return SweightsResult(out, figure_path, summary_path, summary, fit, warnings)

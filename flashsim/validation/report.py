"""Writing a validation: ``index.html``, the PNGs, ``metrics.json`` and ``histograms.root``.

* ``index.html`` is a self-contained page (plots inline as base64 PNG, no external files or
  scripts): what was compared, the verdicts, the physics summary, then every section with its
  metrics tables (each gated number green or red) and figures, laid out by
  :mod:`flashsim.validation.report_html`. A page larger than ``max_page_bytes`` (the 200
  figures of a full validation) is split: the index keeps the summary and the verdicts, and
  each collection gets its own self-contained page ``pages/<collection>.html``;
* ``plots/*.png`` are the same figures as files (:mod:`flashsim.validation.plots`);
* ``metrics.json`` holds every number, the checks and the gate's verdict;
* ``histograms.root`` holds every histogram as TH1D (flash scaled to the full-simulation event
  count, and full), in directories named like the plots: ``Jet/pt/flash``, ``Jet/pt/full``;
  efficiency curves are TH1D whose contents are the efficiencies and errors their errors.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from flashsim import __version__
from flashsim.atomic import check_replaceable, exclusive_temporary, write_atomically
from flashsim.exceptions import OutputError
from flashsim.validation.gate import DEFAULT_THRESHOLDS, Threshold, failed_checks
from flashsim.validation.plots import save
from flashsim.validation.report_html import Facts, render
from flashsim.validation.report_tables import png_size
from flashsim.validation.result import Plot, ValidationResult

__all__ = ["MAX_PAGE_BYTES", "jsonable", "write_report"]

MAX_PAGE_BYTES = 3_000_000
"""A report page larger than this is split into an index and one page per collection: a
browser opens a 3 MB page (about 150 inline figures) in a second, an 8 MB one slowly."""


def _file_name(plot: Plot) -> str:
    return plot.name.replace("/", "_").replace(" ", "_") + ".png"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def jsonable(value: Any) -> Any:
    """``value`` for ``json.dumps(..., allow_nan=False)``: non-finite floats become None (JSON
    has no NaN), numpy scalars and arrays Python numbers and lists."""
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _write_root(result: ValidationResult, path: Path) -> int:
    """Write the histograms to ``path`` atomically: through an exclusively created temporary
    file (:func:`flashsim.atomic.exclusive_temporary`), renamed over a regular file only."""
    import uproot

    n = 0
    check_replaceable(path)
    with exclusive_temporary(path) as (fd, tmp):
        with os.fdopen(os.dup(fd), "r+b") as stream, uproot.recreate(stream) as f:
            for comp in result.comparisons():
                flash, full = comp.to_hist()
                f[f"{comp.name}/flash"] = flash
                f[f"{comp.name}/full"] = full
                n += 2
        check_replaceable(path)
        os.replace(tmp, path)
    return n


def _draw(figures: Sequence[Plot], paths: Mapping[str, str], jobs: int, show: bool) -> None:
    """Draw ``figures`` into their ``paths`` with ``jobs`` processes (a progress bar if
    ``show``)."""
    bar = tqdm(total=len(figures), desc="figures", unit=" figures", disable=not show)
    if jobs > 1 and len(figures) > 1:
        # spawn: forking a process that runs torch and xgboost threads may deadlock.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            for _ in pool.map(save, figures, [paths[p.name] for p in figures], chunksize=8):
                bar.update()
    else:
        for plot in figures:
            save(plot, paths[plot.name])
            bar.update()
    bar.close()


def _write_pages(out: Path, pages: Mapping[str, str]) -> None:
    """Write ``pages`` (path relative to ``out``: HTML) atomically, and remove the pages of an
    earlier split report in ``out/pages/`` that this one does not have (so that no stale page
    outlives an ``--overwrite``)."""
    folder = out / "pages"
    try:
        if any(name.startswith("pages/") for name in pages):
            folder.mkdir(exist_ok=True)
        for name, text in pages.items():
            write_atomically(out / name, text.encode())
        if folder.is_dir() and not folder.is_symlink():
            for old in folder.glob("*.html"):
                if f"pages/{old.name}" not in pages and old.is_file():
                    old.unlink()
            if not any(folder.iterdir()):
                folder.rmdir()
    except OSError as err:
        msg = f"cannot write the report pages in {out}: {err.strerror}"
        raise OutputError(msg) from err


def write_report(
    result: ValidationResult,
    out_dir: str | os.PathLike[str],
    *,
    thresholds: Sequence[Threshold] | None = None,
    title: str = "flashsim validation",
    jobs: int = 1,
    plots: bool = True,
    progress: Callable[[str], None] | None = None,
    max_page_bytes: int = MAX_PAGE_BYTES,
) -> dict[str, Any]:
    """Write the report of ``result`` into ``out_dir`` (created; existing files are replaced).

    Arguments:
        result: from :func:`~flashsim.validation.validate.validate`.
        out_dir: the report directory.
        thresholds: the gate (``--fail-above``); the report is coloured with it, or with
            :data:`~flashsim.validation.gate.DEFAULT_THRESHOLDS` when None.
        title: page title.
        jobs: processes drawing the figures.
        plots: draw the figures; without, the page has the tables only and ``plots/`` is not
            written (fast, for gates in workflows).
        progress: called with a short message at each step; given, a progress bar over the
            figures is shown on stderr too (``None``: silent).
        max_page_bytes: split the report into an index and one page per collection when one
            page would be larger (:data:`MAX_PAGE_BYTES`).
    Returns:
        The gate record also stored in ``metrics.json``: thresholds, whether they came from a
        gate, the failing checks, and ``passed``.
    Raises:
        OutputError: the directory cannot be created or written.
    """
    start = time.monotonic()
    say = progress or (lambda _msg: None)
    out = Path(out_dir)
    plots_dir = out / "plots"
    try:
        out.mkdir(parents=True, exist_ok=True)
        if plots:
            plots_dir.mkdir(exist_ok=True)
    except OSError as err:
        msg = f"cannot create the report directory {out}: {err.strerror}"
        raise OutputError(msg) from err
    gated = thresholds is not None
    limits = list(thresholds) if thresholds is not None else list(DEFAULT_THRESHOLDS)
    figures = [p for s in result.sections for g in s.groups for p in g.plots] if plots else []
    paths = {p.name: str(plots_dir / _file_name(p)) for p in figures}
    if figures:
        say(f"drawing {len(figures)} figures")
    _draw(figures, paths, jobs, show=progress is not None and bool(figures))
    images = {}
    for name, path in paths.items():
        data = Path(path).read_bytes()
        images[name] = (base64.b64encode(data).decode("ascii"), png_size(data))
    failures = failed_checks(result.checks, limits)
    gate = {
        "thresholds": [str(t) for t in limits],
        "from_gate": gated,
        "passed": not failures,
        "failures": [
            {"metric": c.metric, "where": c.where, "value": c.value, "threshold": c.limit(limits)}
            for c in failures
        ],
    }
    document = {
        "flashsim_version": __version__,
        **result.metrics,
        "checks": [{"metric": c.metric, "where": c.where, "value": c.value} for c in result.checks],
        "gate": gate,
    }
    say("writing metrics.json, histograms.root, index.html")
    write_atomically(
        out / "metrics.json",
        json.dumps(jsonable(document), indent=1, default=_json_default, allow_nan=False).encode(),
    )
    gate["n_histograms"] = _write_root(result, out / "histograms.root")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    facts = Facts(now, __version__, time.monotonic() - start)
    args = {"gated": gated, "images": images, "title": title, "facts": facts}
    pages = render(result, limits, split=False, **args)
    if len(pages["index.html"].encode()) > max_page_bytes:
        pages = render(result, limits, split=True, **args)
    _write_pages(out, pages)
    return gate

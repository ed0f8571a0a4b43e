"""Drawing the validation figures with matplotlib and mplhep (one function per plot kind).

Every figure compares flash (coloured) with full simulation (black points), and histograms and
efficiencies carry a ratio panel flash / full whose error bars combine both samples' errors.
:func:`draw` dispatches on :attr:`Plot.kind <flashsim.validation.result.Plot>`.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from flashsim.atomic import write_atomically

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from flashsim.validation.result import Plot

__all__ = ["DPI", "MAX_COLUMNS", "MAX_WIDTH", "PALETTE", "PANEL", "columns", "draw", "png", "save"]

FLASH_COLOR = "#e42536"
FULL_COLOR = "black"

DPI = 100
"""Pixels per inch of the PNGs: a panel of :data:`PANEL` is 640 x 480 px, shown at its natural
size in the report, where a 13 pt label is 18 px high (the page's text is 16 px)."""
PANEL = (6.4, 4.8)
"""Size of one panel (inches): a histogram with its ratio panel, an efficiency curve."""
PALETTE = 64
"""Colours of the PNGs (see :func:`png`)."""
MAX_COLUMNS = 3
"""Panels side by side at most; more (the bins of a binned histogram) wrap into rows."""
MAX_WIDTH = 13.8
"""Width of a figure at most (inches; 1,380 px): three panels side by side are narrowed to fit,
so that no figure is shrunk by the browser on a laptop screen (and its labels with it)."""
_MARGIN = {"left": 1.0, "right": 0.2, "bottom": 0.65, "top": 0.4, "gap": 0.15}
"""Margins of a panel grid in inches (``gap``: added between rows of panels): fixed, because a
tight bounding box would draw every figure twice."""

_STYLE_OVERRIDES = {
    "font.size": 13,
    "axes.labelsize": 13,
    "axes.titlesize": 13,
    "legend.fontsize": 11,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "xtick.major.size": 6,
    "ytick.major.size": 6,
    "xtick.minor.size": 3,
    "ytick.minor.size": 3,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    # Minor ticks cost a third of the drawing time of a figure; hundreds are drawn.
    "xtick.minor.visible": False,
    "ytick.minor.visible": False,
}


@contextlib.contextmanager
def _style() -> Iterator[None]:
    """The mplhep ROOT style, for the figures made inside only (the user's style is kept)."""
    import matplotlib.style
    import mplhep

    with matplotlib.style.context([mplhep.style.ROOT, _STYLE_OVERRIDES]):
        yield


def _figure(**subplots: Any) -> tuple[Figure, Any]:
    """A figure and its axes, without pyplot: no global figure registry, no backend switch."""
    from matplotlib.figure import Figure

    figsize = subplots.pop("figsize")
    fig = Figure(figsize=figsize, dpi=DPI)
    return fig, fig.subplots(**subplots)


def columns(n: int) -> int:
    """Panels per row for ``n`` panels: all in one row up to :data:`MAX_COLUMNS`, else rows as
    even as possible (4 panels: 2 x 2, 5: 3 + 2).

    >>> [columns(n) for n in range(1, 8)]
    [1, 2, 3, 2, 3, 3, 3]
    """
    rows = math.ceil(n / MAX_COLUMNS)
    return math.ceil(n / rows)


def _grid(n: int) -> tuple[Figure, np.ndarray]:
    """A figure of ``n`` panels, each a main axis above a ratio axis (3 : 1) sharing its x
    axis, in rows of :func:`columns`; returns the figure and the axes as a 2 x ``n`` array
    (main axes in row 0, ratio axes in row 1)."""
    from matplotlib.figure import Figure

    ncols = columns(n)
    nrows = math.ceil(n / ncols)
    m = _MARGIN
    panel = min(PANEL[0], MAX_WIDTH / ncols)
    width = panel * ncols
    height = PANEL[1] * nrows + m["gap"] * (nrows - 1)
    fig = Figure(figsize=(width, height), dpi=DPI)
    # Rows: main, ratio, spacer, main, ratio, ...; the spacer holds the x label and the next
    # title, so hspace can stay small between a main axis and its ratio axis.
    inner = PANEL[1] - m["bottom"] - m["top"]
    ratios = []
    for r in range(nrows):
        ratios += [0.75 * inner, 0.25 * inner]
        if r < nrows - 1:
            ratios.append(m["gap"] + m["bottom"] + m["top"])
    grid = fig.add_gridspec(
        len(ratios),
        ncols,
        height_ratios=ratios,
        hspace=0.04,
        wspace=(m["left"] + m["right"]) / (panel - m["left"] - m["right"]),
        left=m["left"] / width,
        right=1 - m["right"] / width,
        bottom=m["bottom"] / height,
        top=1 - m["top"] / height,
    )
    axes = np.empty((2, n), dtype=object)
    for i in range(n):
        row, col = 3 * (i // ncols), i % ncols
        top = fig.add_subplot(grid[row, col])
        bottom = fig.add_subplot(grid[row + 1, col], sharex=top)
        top.tick_params(labelbottom=False)
        axes[0, i], axes[1, i] = top, bottom
    return fig, axes


def _log_x(ax: Axes) -> None:
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _ratio_axis(ax: Axes, edges: np.ndarray, ratio: np.ndarray, err: np.ndarray) -> None:
    centers = 0.5 * (edges[1:] + edges[:-1])
    ok = np.isfinite(ratio)
    ax.errorbar(centers[ok], ratio[ok], yerr=err[ok], fmt="o", ms=4, color=FLASH_COLOR, lw=1.2)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_ylim(0.5, 1.5)
    ax.set_yticks([0.75, 1.0, 1.25])
    ax.set_ylabel("flash / full")


def _prune_bottom(ax: Axes) -> None:
    """No tick label at the bottom of a linear main axis: it would touch the ratio axis's."""
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(nbins="auto", prune="lower"))


def _hist_panel(top: Axes, bottom: Axes, comp: Any, *, legend: bool, log: bool) -> None:
    import mplhep

    edges = comp.edges
    mplhep.histplot(
        comp.flash,
        edges,
        yerr=np.sqrt(comp.flash_var),
        ax=top,
        color=FLASH_COLOR,
        label="flash (scaled to full events)",
        histtype="step",
        lw=1.6,
    )
    mplhep.histplot(
        comp.full,
        edges,
        yerr=np.sqrt(comp.full_var),
        ax=top,
        color=FULL_COLOR,
        label="full sim",
        histtype="errorbar",
        markersize=4,
    )
    top.set_ylabel("entries")
    if comp.title:
        top.set_title(comp.title)
    if legend:
        top.legend(loc="best")
    if log:
        top.set_yscale("log")
    else:
        _prune_bottom(top)
    ratio, err = comp.ratio()
    _ratio_axis(bottom, edges, ratio, err)
    bottom.set_xlabel(comp.label)
    bottom.set_xlim(edges[0], edges[-1])


def _hists(items: tuple[Any, ...]) -> Figure:
    fig, axes = _grid(len(items))
    log = any(_wants_log(np.concatenate([c.flash, c.full])) for c in items)
    for i, comp in enumerate(items):
        _hist_panel(axes[0, i], axes[1, i], comp, legend=i == 0, log=log)
    return fig


def _wants_log(values: np.ndarray) -> bool:
    """A log scale when the filled bins span more than a factor 300."""
    positive = values[values > 0]
    return positive.size > 0 and positive.min() < positive.max() / 300


def _efficiencies(items: tuple[Any, ...], *, unit_range: bool = True) -> Figure:
    """Curves of fractions (efficiencies; on 0-1 with ``unit_range``, else from 0 up to the
    largest value: rates of fakes) with a flash / full ratio panel."""
    fig, axes = _grid(len(items))
    for i, comp in enumerate(items):
        top, bottom = axes[0, i], axes[1, i]
        for eff, color, label, fmt in (
            (comp.flash, FLASH_COLOR, "flash", "s"),
            (comp.full, FULL_COLOR, "full sim", "o"),
        ):
            centers = 0.5 * (eff.edges[1:] + eff.edges[:-1])
            half = 0.5 * np.diff(eff.edges)
            ok = np.isfinite(eff.efficiency)
            top.errorbar(
                centers[ok],
                eff.efficiency[ok],
                xerr=half[ok],
                yerr=eff.error[ok],
                fmt=fmt,
                ms=4.5,
                color=color,
                label=label,
                lw=1.2,
            )
        top.set_ylabel(comp.ylabel)
        if unit_range:
            top.set_ylim(0, 1.1)
            top.set_yticks([0.2, 0.4, 0.6, 0.8, 1.0])
        else:
            top.set_ylim(bottom=0)
        if comp.title:
            top.set_title(comp.title)
        if i == 0:
            top.legend(loc="lower right")
        with np.errstate(divide="ignore", invalid="ignore"):
            r = comp.flash.efficiency / comp.full.efficiency
            err = r * np.sqrt(
                (comp.flash.error / comp.flash.efficiency) ** 2
                + (comp.full.error / comp.full.efficiency) ** 2
            )
        _ratio_axis(bottom, comp.flash.edges, r, err)
        bottom.set_xlabel(comp.label)
        if comp.label.endswith("$p_T$"):
            _log_x(bottom)
        bottom.set_xlim(comp.flash.edges[0], comp.flash.edges[-1])
    return fig


def _roc(items: tuple[Any, ...]) -> Figure:
    curves, title = items
    fig, ax = _figure(figsize=PANEL)
    styles = {"light": "-", "c": "--"}
    for bkg, (flash, full) in curves.items():
        ax.plot(
            flash.signal_eff,
            flash.background_eff,
            styles.get(bkg, ":"),
            color=FLASH_COLOR,
            label=f"flash, b vs {bkg} (AUC {flash.auc:.3f})",
        )
        ax.plot(
            full.signal_eff,
            full.background_eff,
            styles.get(bkg, ":"),
            color=FULL_COLOR,
            label=f"full, b vs {bkg} (AUC {full.auc:.3f})",
        )
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_ylim(1e-3, 1.05)
    ax.set_xlabel("b-jet efficiency")
    ax.set_ylabel("mistag rate")
    ax.set_title(title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def _response(items: tuple[Any, ...]) -> Figure:
    flash, full, title = items
    fig, axes = _figure(nrows=1, ncols=2, figsize=(2 * PANEL[0], PANEL[1]))
    centers = np.sqrt(flash.edges[1:] * flash.edges[:-1])
    for ax, key, label in (
        (axes[0], "median", "median response reco/gen"),
        (axes[1], "resolution", "resolution (q84 − q16)/2"),
    ):
        for curve, color, name, fmt in (
            (flash, FLASH_COLOR, "flash", "s"),
            (full, FULL_COLOR, "full sim", "o"),
        ):
            y, e = getattr(curve, key), getattr(curve, f"{key}_error")
            ok = np.isfinite(y)
            ax.errorbar(centers[ok], y[ok], yerr=e[ok], fmt=fmt, ms=4.5, color=color, label=name)
        _log_x(ax)
        ax.set_xlabel("gen $p_T$ [GeV]")
        ax.set_ylabel(label)
        ax.set_title(title)
        ax.legend(loc="best")
    fig.tight_layout()
    return fig


def _correlation(items: tuple[Any, ...]) -> Figure:
    diff, names = items
    n = len(names)
    fig, ax = _figure(figsize=(2.0 + 0.6 * n, 1.4 + 0.6 * n))
    image = ax.imshow(diff, cmap="RdBu_r", vmin=-0.2, vmax=0.2)
    ax.set_xticks(range(n), names, rotation=90)
    ax.set_yticks(range(n), names)
    ax.minorticks_off()
    for i in range(n):
        for j in range(n):
            if abs(diff[i, j]) >= 0.02:
                ax.text(j, i, f"{diff[i, j]:.2f}", ha="center", va="center", fontsize=9)
    ax.set_title("corr(flash) − corr(full)")
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


_KINDS = {
    "hist": _hists,
    "efficiency": _efficiencies,
    "efficiency_grid": _efficiencies,
    "rate": partial(_efficiencies, unit_range=False),
    "roc": _roc,
    "response": _response,
    "correlation": _correlation,
}


def draw(plot: Plot) -> Figure:
    """The matplotlib figure of a :class:`~flashsim.validation.result.Plot`.

    The figure is made without pyplot, so it does not change the backend or the style of the
    calling program; in a notebook show it with ``display(fig)``.
    """
    try:
        function = _KINDS[plot.kind]
    except KeyError:
        msg = f"unknown plot kind {plot.kind!r}; known: {sorted(_KINDS)}"
        raise ValueError(msg) from None
    with _style():
        return function(plot.items)


def png(fig: Figure, *, colors: int = PALETTE) -> bytes:
    """``fig`` as PNG bytes with a palette of ``colors`` colours (None: full RGBA).

    A figure has a few line colours and their anti-aliased edges, so a 64-colour palette
    (Pillow's fast octree quantizer, no dithering) looks the same and makes the files, and the
    report pages that hold them inline, three times smaller than matplotlib's RGBA PNGs.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba())
    image = image.convert("RGB")
    if colors is not None:
        image = image.quantize(colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def save(plot: Plot, path: str | os.PathLike[str]) -> str:
    """Draw ``plot`` into a PNG file at ``path`` (written atomically); returns ``path``."""
    fig = draw(plot)
    with _style():
        data = png(fig)
    write_atomically(Path(path), data)
    return str(path)

"""Drawing the validation figures with matplotlib and mplhep (one function per plot kind).

Every figure compares flash (coloured) with full simulation (black points), and histograms and
efficiencies carry a ratio panel flash / full whose error bars combine both samples' errors.
:func:`draw` dispatches on :attr:`Plot.kind <flashsim.validation.result.Plot>`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from flashsim.validation.result import Plot

__all__ = ["draw", "save"]

FLASH_COLOR = "#e42536"
FULL_COLOR = "black"
_PANEL = (4.2, 4.2)


_STYLE_OVERRIDES = {
    "font.size": 10,
    "axes.labelsize": 10,
    "axes.titlesize": 10,
    "legend.fontsize": 8,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "figure.dpi": 80,
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
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(**subplots)


def _grid(n: int) -> tuple[Figure, np.ndarray]:
    width, height = _PANEL[0] * n, _PANEL[1]
    # Fixed margins in inches: a tight bounding box would draw every figure twice.
    fig, axes = _figure(
        nrows=2,
        ncols=n,
        figsize=(width, height),
        gridspec_kw={
            "height_ratios": [3, 1],
            "hspace": 0.05,
            "wspace": 0.9 / _PANEL[0] * n / max(n, 1) * 1.0,
            "left": 0.75 / width,
            "right": 1 - 0.15 / width,
            "bottom": 0.5 / height,
            "top": 1 - 0.3 / height,
        },
        sharex="col",
        squeeze=False,
    )
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
    ax.errorbar(centers[ok], ratio[ok], yerr=err[ok], fmt="o", ms=2.5, color=FLASH_COLOR, lw=1)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_ylim(0.5, 1.5)
    ax.set_ylabel("flash / full")


def _hist_panel(top: Axes, bottom: Axes, comp: Any, *, legend: bool, log: bool) -> None:
    import mplhep

    edges = comp.edges
    mplhep.histplot(
        comp.flash,
        edges,
        yerr=np.sqrt(comp.flash_var),
        ax=top,
        color=FLASH_COLOR,
        label="flash",
        histtype="step",
        lw=1.3,
    )
    mplhep.histplot(
        comp.full,
        edges,
        yerr=np.sqrt(comp.full_var),
        ax=top,
        color=FULL_COLOR,
        label="full sim",
        histtype="errorbar",
        markersize=2.5,
    )
    top.set_ylabel("entries (flash normalised to full events)" if legend else "entries")
    if comp.title:
        top.set_title(comp.title)
    if legend:
        top.legend(loc="best")
    if log:
        top.set_yscale("log")
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


def _efficiencies(items: tuple[Any, ...]) -> Figure:
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
                ms=3,
                color=color,
                label=label,
                lw=1,
            )
        top.set_ylabel(comp.ylabel)
        top.set_ylim(0, 1.1)
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
    fig, ax = _figure(figsize=_PANEL)
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
    fig, axes = _figure(nrows=1, ncols=2, figsize=(2 * _PANEL[0], _PANEL[1]))
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
            ax.errorbar(centers[ok], y[ok], yerr=e[ok], fmt=fmt, ms=3, color=color, label=name)
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
    fig, ax = _figure(figsize=(1.2 + 0.45 * n, 0.8 + 0.45 * n))
    image = ax.imshow(diff, cmap="RdBu_r", vmin=-0.2, vmax=0.2)
    ax.set_xticks(range(n), names, rotation=90)
    ax.set_yticks(range(n), names)
    ax.minorticks_off()
    for i in range(n):
        for j in range(n):
            if abs(diff[i, j]) >= 0.02:
                ax.text(j, i, f"{diff[i, j]:.2f}", ha="center", va="center", fontsize=6)
    ax.set_title("corr(flash) − corr(full)")
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


_KINDS = {
    "hist": _hists,
    "efficiency": _efficiencies,
    "efficiency_grid": _efficiencies,
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


def save(plot: Plot, path: str) -> str:
    """Draw ``plot`` into a PNG file at ``path``; returns ``path``."""
    fig = draw(plot)
    with _style():
        fig.savefig(path)
    return path

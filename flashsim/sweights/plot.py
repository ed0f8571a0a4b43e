"""The figure of a mass fit: data, fitted components and pulls: :func:`plot_fit`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from flashsim.sweights.fit import MassFit

__all__ = ["plot_fit"]


def plot_fit(
    fit: MassFit,
    mass: np.ndarray,
    path: str | os.PathLike[str],
    *,
    bins: int = 50,
    label: str = "mass",
) -> Path:
    """Draw the fit into a PNG file: data, total, signal, background and a pull panel.

    The pulls are ``(n - nu) / sqrt(nu)`` per bin, with ``nu`` the fitted number of events in the
    bin (the density integrated over it). Drawn in the mplhep LHCb style without pyplot.

    Arguments:
        fit: the fit of ``mass``.
        mass: the fitted values (those outside ``fit.range`` are not drawn).
        path: the PNG file to write.
        bins: the number of bins.
        label: the x-axis label.

    Returns:
        ``path`` as a :class:`pathlib.Path`.
    """
    import matplotlib.style
    import mplhep
    from matplotlib.figure import Figure

    lo, hi = fit.range
    values = np.asarray(mass, dtype=float).ravel()
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    centers = 0.5 * (edges[1:] + edges[:-1])
    width = edges[1] - edges[0]
    n_sig, n_bkg = fit.values["n_signal"], fit.values["n_background"]
    expected = n_sig * np.diff(fit.signal_cdf(edges)) + n_bkg * np.diff(fit.background_cdf(edges))
    pulls = (counts - expected) / np.sqrt(np.maximum(expected, 1e-12))
    grid = np.linspace(lo, hi, 400)
    signal = n_sig * fit.signal_pdf(grid) * width
    background = n_bkg * fit.background_pdf(grid) * width

    style = {
        "font.size": 11,
        "axes.labelsize": 12,
        "legend.fontsize": 10,
        "xtick.labelsize": 11,
        "ytick.labelsize": 11,
        "figure.dpi": 100,
    }
    with matplotlib.style.context([mplhep.style.LHCb2, style]):
        fig = Figure(figsize=(6.4, 6.0))
        top, bottom = fig.subplots(
            2,
            1,
            sharex=True,
            gridspec_kw={
                "height_ratios": [3, 1],
                "hspace": 0.05,
                "left": 0.15,
                "right": 0.96,
                "bottom": 0.11,
                "top": 0.96,
            },
        )
        top.errorbar(
            centers, counts, yerr=np.sqrt(counts), fmt="o", ms=3, color="black", lw=1, label="data"
        )
        top.plot(grid, signal + background, color="#1f4e9c", lw=1.8, label="total")
        top.plot(grid, signal, color="#e42536", lw=1.4, ls="--", label="signal")
        top.plot(grid, background, color="#2a9d3a", lw=1.4, ls=":", label="background")
        (s, se), (b, be) = fit.yields.values()
        top.text(
            0.03,
            0.95,
            f"$N_s = {s:.0f} \\pm {se:.0f}$\n$N_b = {b:.0f} \\pm {be:.0f}$",
            transform=top.transAxes,
            va="top",
            fontsize=10,
        )
        top.set_ylabel(f"events / {width:.3g}")
        peak = max(float(np.max(counts + np.sqrt(counts))), float(np.max(signal + background)))
        top.set_ylim(0, 1.25 * peak)
        top.legend(loc="upper right")
        bottom.bar(centers, pulls, width=width, color="grey", edgecolor="none")
        for level in (-2, 0, 2):
            bottom.axhline(level, color="black" if level == 0 else "grey", lw=0.8, ls="--")
        bottom.set_ylim(-5, 5)
        bottom.set_yticks([-3, 0, 3])
        bottom.set_ylabel("pull")
        bottom.set_xlabel(label)
        bottom.set_xlim(lo, hi)
        out = Path(path)
        fig.savefig(out, format="png")
    return out

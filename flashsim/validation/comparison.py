"""Flash-vs-full comparisons of one variable: histograms with errors, and their metrics.

A :class:`HistComparison` holds the two histograms of one variable (flash scaled to the number
of full-simulation events, so yields per event compare), each with its bin variances computed
with the gen event as the independent unit (:func:`~flashsim.validation.metrics.grouped_histogram`),
and converts to :mod:`hist` objects. :func:`distance_metrics` gives the 1-D Wasserstein distance
against its split-sample floor and the Kolmogorov-Smirnov test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import hist
import numpy as np

from flashsim.validation.metrics import (
    Efficiency,
    binned_efficiency,
    efficiency_chi2,
    grouped_histogram,
    ks_test,
    wasserstein,
    wasserstein_floor,
)

__all__ = [
    "EfficiencyComparison",
    "HistComparison",
    "auto_edges",
    "compare_efficiency",
    "compare_hist",
    "distance_metrics",
]

_MAX_INTEGER_BINS = 60


def auto_edges(
    *samples: np.ndarray, bins: int = 40, integer: bool = False, quantile: float = 0.002
) -> np.ndarray:
    """Bin edges covering the bulk of all samples: the ``quantile`` to ``1 - quantile`` range.

    Integer variables with a small range get one bin per value.
    """
    values = np.concatenate([np.asarray(s, dtype=np.float64) for s in samples])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return np.linspace(0.0, 1.0, bins + 1)
    lo, hi = np.quantile(values, [quantile, 1 - quantile])
    if integer or np.all(values == np.round(values)):
        lo, hi = np.floor(lo), np.ceil(hi)
        if hi - lo + 1 <= _MAX_INTEGER_BINS:
            return np.arange(lo, hi + 2) - 0.5
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, bins + 1)


@dataclass(eq=False)
class HistComparison:
    """Histograms of one variable in the flash and the full sample.

    Attributes:
        name: path-like identifier (``Jet/pt`` or ``Jet/pt/genpt_30_50``), unique in a report.
        label: axis label.
        edges: bin edges.
        flash, full: sum of weights per bin (flash scaled by ``scale``).
        flash_var, full_var: their variances, from the gen event as the independent unit.
        scale: the factor applied to the flash sample (full events / flash events).
        title: what the panel shows (a bin of a condition), or empty.
    """

    name: str
    label: str
    edges: np.ndarray
    flash: np.ndarray
    flash_var: np.ndarray
    full: np.ndarray
    full_var: np.ndarray
    scale: float = 1.0
    title: str = ""

    def ratio(self) -> tuple[np.ndarray, np.ndarray]:
        """Flash / full per bin and its error (both samples' errors); NaN where full is 0."""
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(self.full > 0, self.flash / self.full, np.nan)
            err = r * np.sqrt(
                np.where(self.flash > 0, self.flash_var / self.flash**2, 0.0)
                + self.full_var / self.full**2
            )
        return r, err

    def chi2(self) -> tuple[float, int]:
        """``sum (flash - full)^2 / (var_flash + var_full)`` over filled bins, and their count."""
        var = self.flash_var + self.full_var
        use = var > 0
        return float(np.sum((self.flash[use] - self.full[use]) ** 2 / var[use])), int(use.sum())

    def to_hist(self) -> tuple[hist.Hist, hist.Hist]:
        """The two histograms as :class:`hist.Hist` (weighted storage: values and variances)."""
        out = []
        for values, variances in ((self.flash, self.flash_var), (self.full, self.full_var)):
            h = hist.Hist(
                hist.axis.Variable(self.edges, name="x", label=self.label),
                storage=hist.storage.Weight(),
            )
            h.view()["value"] = values
            h.view()["variance"] = variances
            out.append(h)
        return out[0], out[1]


def compare_hist(
    name: str,
    label: str,
    flash: np.ndarray,
    full: np.ndarray,
    *,
    flash_groups: np.ndarray,
    full_groups: np.ndarray,
    scale: float,
    edges: np.ndarray | None = None,
    integer: bool = False,
    title: str = "",
) -> HistComparison:
    """Histogram one variable of both samples (NaN entries dropped) on common edges."""
    f_ok, r_ok = np.isfinite(flash), np.isfinite(full)
    flash, full = flash[f_ok], full[r_ok]
    if edges is None:
        edges = auto_edges(flash, full, integer=integer)
    f, fv = grouped_histogram(flash, edges, groups=flash_groups[f_ok])
    r, rv = grouped_histogram(full, edges, groups=full_groups[r_ok])
    return HistComparison(name, label, edges, f * scale, fv * scale**2, r, rv, scale, title)


def distance_metrics(
    flash: np.ndarray,
    full: np.ndarray,
    *,
    flash_groups: np.ndarray,
    full_groups: np.ndarray,
    rng: np.random.Generator,
    flash_replicas: int = 1,
    rounds: int = 8,
    max_entries: int = 200_000,
) -> dict[str, float]:
    """Wasserstein-1 distance with its floor, and the Kolmogorov-Smirnov test, of one variable.

    The events are split by the parity of their gen-event id into halves A and B, so that
    ``w1 = W1(flash_A, full_B)`` compares independent samples even when flash was simulated from
    the full sample's own gen events. ``w1_floor`` is the distance expected if flash and full had
    the same distribution: the mean W1 over random re-splits of the pooled ``flash_A`` and
    ``full_B`` into the same sizes (a permutation floor,
    :func:`~flashsim.validation.metrics.wasserstein_floor`), so ``w1_ratio = w1 / w1_floor`` is
    about 1 for a perfect flash simulation, whatever the sample sizes, and stays finite when the
    full distribution is a single value. ``w1_split = W1(full_A, full_B)`` is the full-vs-full
    distance, for reference. With ``flash_replicas`` K > 1 (an oversampled flash file) the floor
    and the KS p-value use the effective flash size ``n / K``: the K replicas of a gen object
    are correlated (they share its gen values), not K independent entries.

    Returns:
        ``w1``, ``w1_floor``, ``w1_floor_std``, ``w1_ratio``, ``w1_split``, ``ks``,
        ``ks_pvalue``, ``n_flash``, ``n_full`` (NaN for the distances when a half is empty).
    """
    f_ok, r_ok = np.isfinite(flash), np.isfinite(full)
    flash, full = flash[f_ok], full[r_ok]
    fg, rg = flash_groups[f_ok], full_groups[r_ok]
    out = {"n_flash": float(flash.size), "n_full": float(full.size)}
    f_a, r_a = flash[fg % 2 == 0], full[rg % 2 == 0]
    r_b = full[rg % 2 == 1]
    if min(f_a.size, r_a.size, r_b.size) < 2:
        keys = ("w1", "w1_floor", "w1_floor_std", "w1_ratio", "w1_split", "ks", "ks_pvalue")
        return out | dict.fromkeys(keys, np.nan)
    w1 = wasserstein(f_a, r_b)
    # The permutation floor on at most max_entries of each (its precision needs no more).
    f_p = f_a if f_a.size <= max_entries else rng.choice(f_a, max_entries, replace=False)
    r_p = r_b if r_b.size <= max_entries else rng.choice(r_b, max_entries, replace=False)
    floor, floor_std = wasserstein_floor(f_p, r_p, n_rounds=rounds, rng=rng)
    # The floor scales as sqrt(1/n_flash + 1/n_full): from the subsample to the real sizes, and
    # to the effective flash size (K replicas of a gen object are not K independent entries).
    factor = np.sqrt((flash_replicas / f_a.size + 1 / r_b.size) / (1 / f_p.size + 1 / r_p.size))
    floor, floor_std = floor * factor, floor_std * factor
    ks, p = ks_test(flash, full, n_eff_a=flash.size / flash_replicas)
    return out | {
        "w1": w1,
        "w1_floor": floor,
        "w1_floor_std": floor_std,
        "w1_ratio": w1 / floor if floor > 0 else (1.0 if w1 == 0 else np.inf),
        "w1_split": wasserstein(r_a, r_b),
        "ks": ks,
        "ks_pvalue": p,
    }


@dataclass(eq=False)
class EfficiencyComparison:
    """Efficiency curves (a selection's passing fraction) of flash and full in bins of ``x``."""

    name: str
    label: str
    ylabel: str
    flash: Efficiency
    full: Efficiency
    title: str = ""

    def chi2(self) -> tuple[float, int]:
        """:func:`~flashsim.validation.metrics.efficiency_chi2` of the two curves."""
        return efficiency_chi2(self.flash, self.full)

    def to_hist(self) -> tuple[hist.Hist, hist.Hist]:
        """The efficiencies as :class:`hist.Hist` (value: efficiency, variance: error²)."""
        out = []
        for eff in (self.flash, self.full):
            h = hist.Hist(
                hist.axis.Variable(eff.edges, name="x", label=self.label),
                storage=hist.storage.Weight(),
            )
            h.view()["value"] = np.nan_to_num(eff.efficiency)
            h.view()["variance"] = np.nan_to_num(eff.error) ** 2
            out.append(h)
        return out[0], out[1]


def compare_efficiency(
    name: str,
    label: str,
    x_flash: np.ndarray,
    passed_flash: np.ndarray,
    x_full: np.ndarray,
    passed_full: np.ndarray,
    edges: Sequence[float] | np.ndarray,
    *,
    flash_groups: np.ndarray,
    full_groups: np.ndarray,
    ylabel: str = "efficiency",
    title: str = "",
) -> EfficiencyComparison:
    """Efficiency vs ``x`` in both samples with errors from the gen event as independent unit."""
    e = np.asarray(edges, dtype=np.float64)
    f_ok, r_ok = np.isfinite(x_flash), np.isfinite(x_full)
    a = binned_efficiency(x_flash[f_ok], passed_flash[f_ok], e, groups=flash_groups[f_ok])
    b = binned_efficiency(x_full[r_ok], passed_full[r_ok], e, groups=full_groups[r_ok])
    return EfficiencyComparison(name, label, ylabel, a, b, title)

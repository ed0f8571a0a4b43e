"""Shared parts of the photon-efficiency (:mod:`.photons`) and jet-fake (:mod:`.jet_fakes`)
sections: reading NanoAOD branches of a sample, a rate of counts per object with its error, the
χ² of two such curves and their metrics, and the note on branches only one file has.

Both sections compare flash and full with their own statistical errors, taken as independent:

``chi2 = sum_i (r_flash,i - r_full,i)^2 / (s_flash,i^2 + s_full,i^2)``

over the bins ``i`` with entries (passing objects, fakes) in either sample and a non-empty
denominator in both (where a rate is defined in both); ``ndf`` is the number of such bins.
Bins empty in both samples carry no information and are left out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import awkward as ak
import numpy as np

from flashsim.io import open_events, read_entries
from flashsim.validation.comparison import EfficiencyComparison
from flashsim.validation.metrics import Efficiency
from flashsim.validation.metrics.arrays import group_ids
from flashsim.validation.metrics.grouped import group_sums
from flashsim.validation.samples import ValidationSample

__all__ = [
    "counting_rate",
    "curve_metrics",
    "flat_index",
    "missing_note",
    "rate_chi2",
    "read_branches",
]


def read_branches(sample: ValidationSample, names: Collection[str]) -> dict[str, ak.Array]:
    """The branches ``names`` that ``sample``'s file has, over the events the validation read
    (the first :attr:`~flashsim.validation.samples.ValidationSample.n_events`)."""
    wanted = sorted(n for n in names if n in sample.branches)
    if not wanted:
        return {}
    tree = open_events(sample.path)
    try:
        arrays = read_entries(tree, wanted, 0, sample.n_events)
        return {n: arrays[n] for n in wanted}
    finally:
        tree.file.close()


def missing_note(
    what: str, needed: Sequence[str], flash: ValidationSample, full: ValidationSample
) -> str | None:
    """A one-line note when a file lacks some of the branches ``needed`` for ``what`` (None
    when both have them all)."""
    parts = []
    for role, sample in (("flash", flash), ("full-simulation", full)):
        lacking = [b for b in needed if b not in sample.branches]
        if lacking:
            parts.append(f"the {role} file has no {', '.join(lacking)}")
    if not parts:
        return None
    return f"{what} not compared: {'; '.join(parts)}"


def counting_rate(
    x: np.ndarray, counts: np.ndarray, edges: Sequence[float] | np.ndarray, *, groups: np.ndarray
) -> Efficiency:
    """Objects counted per entry, in bins of ``x``: ``sum(counts) / entries`` per bin.

    A rate that may exceed one (two fakes from one jet), as an
    :class:`~flashsim.validation.metrics.Efficiency` (``passed``: the counts, ``total``: the
    entries). Its error is the ratio-estimator (cluster) variance
    ``sum_g (c_g - r n_g)^2 / N^2`` over the groups ``g`` (gen events: the entries of one event,
    and the replicas of an oversampled one, are correlated) with counts ``c_g`` and entries
    ``n_g`` in the bin: the binomial error for one entry per group and counts 0 or 1, the
    Poisson error ``sqrt(C) / N`` for small rates. Floored at ``1 / (n_eff + 2)`` like
    :func:`~flashsim.validation.metrics.binned_efficiency`, so a bin without counts keeps an
    error near the one-sigma upper limit.

    References:
        Cochran, "Sampling Techniques" (1977), ch. 6 (variance of a ratio estimator).
    """
    x = np.asarray(x, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    e = np.asarray(edges, dtype=np.float64)
    total = np.histogram(x, e)[0].astype(np.float64)
    passed = np.histogram(x, e, weights=c)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(total > 0, passed / total, np.nan)
        bins, sums = group_sums(x, e, group_ids(groups, x.size), np.stack([np.ones_like(x), c]))
        residual = sums[1] - np.nan_to_num(rate)[bins] * sums[0]
        var = np.bincount(bins, weights=residual**2, minlength=total.size) / total**2
        n_eff = np.where(
            total > 0, total**2 / np.bincount(bins, sums[0] ** 2, minlength=total.size), 0.0
        )
        err = np.where(total > 0, np.maximum(np.sqrt(var), 1.0 / (n_eff + 2)), np.nan)
    return Efficiency(e, passed, total, rate, err)


def rate_chi2(a: Efficiency, b: Efficiency) -> tuple[float, int]:
    """χ² and ndf of two curves with identical edges (see the module docstring)."""
    if not np.array_equal(a.edges, b.edges):
        msg = "the two curves have different bin edges; bin both the same way"
        raise ValueError(msg)
    var = a.error**2 + b.error**2
    use = (a.total > 0) & (b.total > 0) & ((a.passed > 0) | (b.passed > 0))
    use &= np.isfinite(var) & (var > 0)
    chi2 = np.sum((a.efficiency[use] - b.efficiency[use]) ** 2 / var[use])
    return float(chi2), int(use.sum())


def curve_metrics(comp: EfficiencyComparison) -> dict[str, Any]:
    """The ``metrics.json`` entry of a flash-vs-full curve: χ², ndf, ``chi2_ndf`` (χ²/max(ndf,
    1), as the efficiency curves of :mod:`.efficiencies`), edges, values and errors, counts."""
    chi2, ndf = rate_chi2(comp.flash, comp.full)

    def values(a: np.ndarray) -> list[float]:
        return np.nan_to_num(a).tolist()

    return {
        "chi2": chi2,
        "ndf": ndf,
        "chi2_ndf": chi2 / max(ndf, 1),
        "edges": list(map(float, comp.flash.edges)),
        "flash": values(comp.flash.efficiency),
        "flash_error": values(comp.flash.error),
        "full": values(comp.full.efficiency),
        "full_error": values(comp.full.error),
        "passed_flash": values(comp.flash.passed),
        "passed_full": values(comp.full.passed),
        "total_flash": values(comp.flash.total),
        "total_full": values(comp.full.total),
    }


def flat_index(index: ak.Array, n_target: ak.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flattened positions of per-event indices into a collection.

    Arguments:
        index: jagged indices into the target collection (``Photon_genPartIdx``), -1 for none.
        n_target: the target collection's size per event (``nGenPart``).
    Returns:
        ``(position, valid, event)`` per object of ``index`` (flattened): its target's position
        in the flattened target collection (0 where not valid), whether its index lies in
        ``[0, n_target)``, and its event.
    """
    n = np.asarray(n_target, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(n)[:-1]]) if n.size else n
    per_event = np.asarray(ak.num(index), dtype=np.int64)
    event = np.repeat(np.arange(per_event.size), per_event)
    idx = np.asarray(ak.flatten(index), dtype=np.int64)
    valid = (idx >= 0) & (idx < n[event])
    return np.where(valid, offsets[event] + idx, 0), valid, event

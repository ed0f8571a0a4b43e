"""Small statistics for physics-level flash-vs-full checks (the fidelity and closure benchmarks).

Two-sample histogram χ² with correlated entries (:func:`histogram_chi2`; oversampled flash
replicas of one gen event are one independent unit), integer multiplicity binning
(:func:`multiplicity_edges`), tagger working points and tag efficiencies with binomial errors
(:func:`working_point`, :func:`tag_efficiency`), pulls and ratios with errors, widths of a
resolution with bootstrap errors (:func:`resolution_widths`), the MET components along and
across the generated MET (:func:`met_components`), and the pieces of an amplification study
(Butter et al., "GANplifying event samples", arXiv:2008.06545): the distance of a normalised
histogram to a truth histogram (:func:`histogram_distance`) and the number of full-simulation
events a flash sample is worth (:func:`equivalent_events`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.stats
import xgboost

from flashsim.validation.metrics import binned_efficiency, grouped_histogram

__all__ = [
    "Chi2Result",
    "density_ratio_weights",
    "distance_law",
    "equivalent_events",
    "grouped_mean",
    "histogram_chi2",
    "histogram_distance",
    "met_components",
    "multiplicity_edges",
    "paired_efficiency_chi2",
    "pull",
    "quantile_edges",
    "ratio_with_error",
    "resolution_widths",
    "tag_efficiency",
    "working_point",
]

_MIN_FOR_DESIGN_EFFECT = 5
"""Fewest entries in a bin for its own design effect (variance / entries); else the sample's."""


@dataclass(frozen=True, eq=False)
class Chi2Result:
    """A two-sample histogram comparison (from :func:`histogram_chi2`).

    Attributes:
        chi2, ndf, p_value: the statistic, its degrees of freedom and ``P(χ²_ndf > chi2)``.
        edges: the bin edges.
        a, b: the normalised histograms (entries per unit of ``norm``: per event, or shape).
        a_error, b_error: their errors, with the groups as independent units.
    """

    chi2: float
    ndf: int
    p_value: float
    edges: np.ndarray
    a: np.ndarray
    b: np.ndarray
    a_error: np.ndarray
    b_error: np.ndarray

    @property
    def chi2_ndf(self) -> float:
        """``chi2 / ndf`` (NaN without degrees of freedom)."""
        return self.chi2 / self.ndf if self.ndf > 0 else float("nan")

    def to_dict(self) -> dict[str, object]:
        return {
            "chi2": self.chi2,
            "ndf": self.ndf,
            "chi2_ndf": self.chi2_ndf,
            "p_value": self.p_value,
            "edges": self.edges.tolist(),
            "a": self.a.tolist(),
            "b": self.b.tolist(),
            "a_error": self.a_error.tolist(),
            "b_error": self.b_error.tolist(),
        }


def quantile_edges(values: np.ndarray, bins: int = 20, *, overflow: bool = True) -> np.ndarray:
    """Edges at ``bins`` equal-probability quantiles of ``values`` (duplicates, from point
    masses, merged); with ``overflow`` the outer edges are ±inf, so every entry is counted."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        msg = "quantile_edges needs at least one finite value"
        raise ValueError(msg)
    edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, bins + 1)))
    if edges.size < 2:
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    if overflow:
        edges[0], edges[-1] = -np.inf, np.inf
    return edges


def multiplicity_edges(*counts: np.ndarray) -> np.ndarray:
    """One bin per integer from 0 to the largest count of any sample (no tail is capped)."""
    top = max((int(np.max(c)) for c in counts if np.size(c)), default=0)
    return np.arange(0, top + 2) - 0.5


def _hist(
    x: np.ndarray, edges: np.ndarray, groups: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    keep = np.isfinite(x)
    g = None if groups is None else np.asarray(groups)[keep]
    return grouped_histogram(x[keep], edges, groups=g)


def _design_effect(counts: np.ndarray, var: np.ndarray) -> np.ndarray:
    """Variance over entries per bin (1 for independent entries); sparse bins get the sample's."""
    total = counts.sum()
    overall = var.sum() / total if total > 0 else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        own = var / counts
    return np.where(counts >= _MIN_FOR_DESIGN_EFFECT, own, max(overall, 1.0))


def histogram_chi2(
    a: np.ndarray,
    b: np.ndarray,
    edges: np.ndarray,
    *,
    groups_a: np.ndarray | None = None,
    groups_b: np.ndarray | None = None,
    norm_a: float | None = None,
    norm_b: float | None = None,
) -> Chi2Result:
    """Pearson χ² between the histograms of two independent samples, entries possibly correlated.

    Each histogram is divided by its normalisation (``norm_a``, ``norm_b``: e.g. the number of
    events, so that yields per event are compared; default: the entries inside ``edges``, a
    shape comparison). Per bin, under the hypothesis of one common rate ``λ`` (pooled from
    both samples), the variance of the difference is ``λ (D_a / N_a + D_b / N_b)``, where the
    design effect ``D`` is the bin's variance over its entries with the groups as independent
    units (:func:`~flashsim.validation.metrics.grouped_histogram`; 1 for independent entries;
    bins with fewer than 5 entries take the whole sample's). Bins empty in both are skipped;
    ``ndf`` is the number of bins used, less one when both histograms sum to their
    normalisation (a shape comparison, or one entry per event with every event counted).

    Flash and full simulation of the same gen events are not independent: their common
    generator-level fluctuations cancel in the difference, so this χ² is conservative there
    (below ``ndf`` on average for a perfect flash simulation).

    Arguments:
        a, b: 1-D values (non-finite ones are dropped).
        edges: increasing bin edges (may be ±inf: under- and overflow).
        groups_a, groups_b: integer id of each entry's independent unit (the gen event of an
            oversampled flash sample, the event of a per-object variable), or None.
        norm_a, norm_b: normalisations; give both or neither.
    Returns:
        A :class:`Chi2Result`; ``chi2 / ndf`` is about 1 for two samples of one distribution.
    References:
        Pearson's two-sample χ² test for histograms (e.g. Gagunashvili, NIM A 614 (2010) 287);
        Kish design effect of cluster samples (Cochran, "Sampling Techniques", 1977).
    """
    edges = np.asarray(edges, dtype=np.float64)
    if (norm_a is None) != (norm_b is None):
        msg = "give both normalisations or neither"
        raise ValueError(msg)
    ca, va = _hist(a, edges, groups_a)
    cb, vb = _hist(b, edges, groups_b)
    shape = norm_a is None
    na = float(ca.sum()) if norm_a is None else float(norm_a)
    nb = float(cb.sum()) if norm_b is None else float(norm_b)
    if not (na > 0 and nb > 0):
        nan = np.full(edges.size - 1, np.nan)
        return Chi2Result(float("nan"), 0, float("nan"), edges, nan, nan, nan, nan)
    ha, hb = ca / na, cb / nb
    da, db = _design_effect(ca, va), _design_effect(cb, vb)
    rate = (ca + cb) / (na + nb)
    var = rate * (da / na + db / nb)
    use = var > 0
    chi2 = float(np.sum((ha[use] - hb[use]) ** 2 / var[use]))
    # Both histograms sum to their normalisation (a shape, or one entry per event with every
    # event counted): one constraint.
    constrained = shape or (ca.sum() == na and cb.sum() == nb)
    ndf = int(use.sum()) - (1 if constrained else 0)
    p = float(scipy.stats.chi2.sf(chi2, ndf)) if ndf > 0 else float("nan")
    return Chi2Result(chi2, ndf, p, edges, ha, hb, np.sqrt(va) / na, np.sqrt(vb) / nb)


def paired_efficiency_chi2(
    x: np.ndarray,
    passed_full: np.ndarray,
    passed_flash: np.ndarray,
    edges: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    min_total: int = 10,
) -> dict[str, object]:
    """χ² of the efficiency difference flash − full on the same gen objects (a paired test).

    Flash and full simulation reconstruct (or not) the very same gen objects, so the two
    efficiencies of a bin share the spread of the true efficiency over the objects in it; the
    independent-sample χ² (:func:`~flashsim.validation.metrics.efficiency_chi2`) then
    overstates the error, most where the efficiency is near 0 or 1 object by object (an
    acceptance edge), and gives χ²/ndf far below 1. Here each gen object contributes
    ``d = (fraction of its flash replicas reconstructed) − (reconstructed in full)``; per bin the
    mean of ``d`` over its variance, with the groups (gen events) as independent units, which
    is about χ²(ndf) when flash has the full efficiency object by object.

    Arguments:
        x: gen variable of each gen object (its bin).
        passed_full: whether full simulation reconstructed it (0/1).
        passed_flash: the fraction of its flash replicas that reconstructed it, in [0, 1].
        edges: bin edges.
        groups: integer gen event of each object (default: each its own).
        min_total: fewest objects a bin needs; bins where every ``d`` is 0 carry no test.
    Returns:
        ``chi2``, ``ndf``, ``chi2_ndf``, ``p_value``, per bin ``difference``, ``error``, ``n``.
    """
    xv = np.asarray(x, dtype=np.float64)
    d = np.asarray(passed_flash, dtype=np.float64) - np.asarray(passed_full, dtype=np.float64)
    keep = np.isfinite(xv) & np.isfinite(d)
    g = np.arange(xv.size) if groups is None else np.asarray(groups, dtype=np.int64)
    xv, d, g = xv[keep], d[keep], g[keep]
    edges = np.asarray(edges, dtype=np.float64)
    nb = edges.size - 1
    idx = np.searchsorted(edges, xv, side="right") - 1
    inside = (idx >= 0) & (idx < nb)
    idx, d, g = idx[inside], d[inside], g[inside]
    n = np.bincount(idx, minlength=nb).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.bincount(idx, weights=d, minlength=nb) / n
        resid = d - np.nan_to_num(mean)[idx]
        _, inverse = np.unique(g.astype(np.int64) * nb + idx, return_inverse=True)
        cluster = np.bincount(inverse, weights=resid)
        cluster_bin = np.zeros(cluster.size, dtype=np.int64)
        cluster_bin[inverse] = idx
        var = np.bincount(cluster_bin, weights=cluster**2, minlength=nb) / n**2
    use = (n >= min_total) & (var > 0)
    chi2 = float(np.sum(mean[use] ** 2 / var[use]))
    ndf = int(use.sum())
    return {
        "chi2": chi2,
        "ndf": ndf,
        "chi2_ndf": chi2 / ndf if ndf else float("nan"),
        "p_value": float(scipy.stats.chi2.sf(chi2, ndf)) if ndf else float("nan"),
        "difference": mean.tolist(),
        "error": np.sqrt(var).tolist(),
        "n": n.tolist(),
    }


def working_point(scores: np.ndarray, efficiency: float) -> tuple[float, float]:
    """The cut ``score >= cut`` whose efficiency on ``scores`` is closest to ``efficiency``.

    Scores with point masses (a default value, saturation at 1) cannot reach every efficiency:
    the cut is then the point-mass value that comes closest, and the efficiency it gives is
    returned with it.

    Returns:
        ``(cut, achieved efficiency)``.
    """
    s = np.sort(np.asarray(scores, dtype=np.float64))
    s = s[np.isfinite(s)]
    if s.size == 0 or not 0.0 <= efficiency <= 1.0:
        msg = f"need scores and an efficiency in [0, 1], got {s.size} scores and {efficiency}"
        raise ValueError(msg)
    values = np.unique(s)
    passing = (s.size - np.searchsorted(s, values, side="left")) / s.size
    best = int(np.argmin(np.abs(passing - efficiency)))
    return float(values[best]), float(passing[best])


def tag_efficiency(passed: np.ndarray, groups: np.ndarray | None = None) -> tuple[float, float]:
    """Fraction passing and its binomial error (with ``groups``: the cluster error, the gen
    event of an oversampled flash sample being the independent unit; floored as
    :func:`~flashsim.validation.metrics.binned_efficiency`). NaN for no entries."""
    ok = np.asarray(passed, dtype=bool)
    if ok.size == 0:
        return float("nan"), float("nan")
    g = None if groups is None else np.asarray(groups, dtype=np.int64)
    eff = binned_efficiency(np.zeros(ok.size), ok, np.array([-1.0, 1.0]), groups=g)
    return float(eff.efficiency[0]), float(eff.error[0])


def grouped_mean(values: np.ndarray, groups: np.ndarray | None = None) -> tuple[float, float]:
    """Mean of ``values`` and its error, the groups (gen events of oversampled flash replicas)
    as independent units: the ratio-estimator variance ``sum_g (s_g - m n_g)^2 / N^2``, which
    is ``std / sqrt(N)`` (with ``N`` in the denominator of the std) for one entry per group."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return float("nan"), float("nan")
    mean = float(x.mean())
    if groups is None:
        return mean, float(x.std() / np.sqrt(x.size))
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    sums = np.bincount(inverse, weights=x)
    counts = np.bincount(inverse).astype(np.float64)
    return mean, float(np.sqrt(np.sum((sums - mean * counts) ** 2)) / x.size)


def pull(a: float, a_error: float, b: float, b_error: float) -> float:
    """``(a - b) / sqrt(a_error² + b_error²)`` (NaN without an error)."""
    err = float(np.hypot(a_error, b_error))
    return (a - b) / err if err > 0 else float("nan")


def ratio_with_error(a: float, a_error: float, b: float, b_error: float) -> tuple[float, float]:
    """``a / b`` and its error for independent ``a`` and ``b`` (relative errors in quadrature)."""
    if b == 0:
        return float("nan"), float("nan")
    r = a / b
    rel = np.hypot(a_error / a if a != 0 else 0.0, b_error / b)
    return float(r), float(abs(r) * rel)


def met_components(
    met_pt: np.ndarray, met_phi: np.ndarray, gen_pt: np.ndarray, gen_phi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The MET along the generated MET minus the generated MET, ``MET·ĝ − GenMET``, and the
    MET across it, ``|MET| sin(φ − φ_gen)``."""
    dphi = np.asarray(met_phi, dtype=np.float64) - np.asarray(gen_phi, dtype=np.float64)
    met = np.asarray(met_pt, dtype=np.float64)
    return met * np.cos(dphi) - np.asarray(gen_pt, dtype=np.float64), met * np.sin(dphi)


def _weighted_quantiles(sorted_x: np.ndarray, w: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantiles ``q`` of sorted values with weights (entries at their mid cumulative weight)."""
    keep = w > 0
    sorted_x, w = sorted_x[keep], w[keep]
    cum = np.cumsum(w)
    return np.interp(q * cum[-1], cum - 0.5 * w, sorted_x)


def resolution_widths(
    values: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    rng: np.random.Generator,
    n_boot: int = 100,
) -> dict[str, float]:
    """Mean, median, standard deviation and 68% half-width ``(q84 − q16) / 2`` of ``values``,
    with errors from a Poisson bootstrap over the groups (each group, e.g. a gen event with all
    its flash replicas, gets one Poisson(1) weight per resample).

    Returns:
        ``mean``, ``median``, ``std``, ``w68`` and their ``*_error``; ``n`` entries and
        ``n_groups``.
    References:
        Efron & Tibshirani, "An Introduction to the Bootstrap" (1993); Hanley & MacGibbon,
        Comput. Methods Programs Biomed. 83 (2006) 57 (Poisson bootstrap).
    """
    names = ("mean", "median", "std", "w68")
    x = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(x)
    x = x[keep]
    g = np.arange(x.size) if groups is None else np.asarray(groups)[keep]
    if x.size < 3:
        nan = float("nan")
        return (
            dict.fromkeys(names, nan)
            | {f"{k}_error": nan for k in names}
            | {
                "n": int(x.size),
                "n_groups": 0,
            }
        )
    order = np.argsort(x, kind="stable")
    xs = x[order]
    _, inverse = np.unique(g[order], return_inverse=True)
    n_groups = int(inverse.max()) + 1
    q = np.array([0.16, 0.5, 0.84])

    def stats(w: np.ndarray) -> tuple[float, float, float, float]:
        total = w.sum()
        mean = float(np.sum(w * xs) / total)
        std = float(np.sqrt(np.sum(w * (xs - mean) ** 2) / total))
        lo, med, hi = _weighted_quantiles(xs, w, q)
        return mean, float(med), std, float((hi - lo) / 2)

    central = stats(np.ones(xs.size))
    boots = []
    for _ in range(n_boot):
        w = rng.poisson(1.0, n_groups).astype(np.float64)[inverse]
        if w.sum() > 0:
            boots.append(stats(w))
    err = np.std(np.array(boots), axis=0, ddof=1)
    out = dict(zip(names, central, strict=True))
    out |= {f"{k}_error": float(e) for k, e in zip(names, err, strict=True)}
    return out | {"n": int(x.size), "n_groups": n_groups}


def histogram_distance(values: np.ndarray, edges: np.ndarray, truth: np.ndarray) -> float:
    """Sum over bins of the squared difference between the normalised histogram of ``values``
    and the normalised ``truth`` histogram (same ``edges``); the quadratic distance of
    Butter et al., arXiv:2008.06545."""
    counts = np.histogram(np.asarray(values, dtype=np.float64), edges)[0].astype(np.float64)
    total = counts.sum()
    if total <= 0:
        return float("nan")
    return float(np.sum((counts / total - np.asarray(truth, dtype=np.float64)) ** 2))


def distance_law(n: np.ndarray, distance: np.ndarray) -> tuple[float, float]:
    """Fit ``distance(n) = c0 + c1 / n`` (``c0, c1 >= 0``) to the distances of samples of ``n``
    events, with relative residuals: ``c1 / n`` is the statistical distance of ``n`` events,
    ``c0`` what remains with infinitely many (the truth sample's own fluctuation)."""
    n = np.asarray(n, dtype=np.float64)
    d = np.asarray(distance, dtype=np.float64)
    ok = np.isfinite(d) & (d > 0) & (n > 0)
    if ok.sum() < 2:
        msg = "distance_law needs at least two finite, positive distances"
        raise ValueError(msg)
    n, d = n[ok], d[ok]
    design = np.stack([1.0 / d, 1.0 / (n * d)], axis=1)  # each row divided by its distance
    (c0, c1), _ = scipy.optimize.nnls(design, np.ones(d.size))
    return float(c0), float(c1)


def equivalent_events(n: np.ndarray, distance: np.ndarray, target: float) -> tuple[float, bool]:
    """How many full-simulation events give a histogram as close to the truth as ``target``.

    ``n`` and ``distance`` are the ladder: sample sizes and their (mean) distances to the truth
    (:func:`histogram_distance`). The answer solves ``target = c0 + c1 / n`` with the fitted
    law (:func:`distance_law`), which interpolates the noisy ladder; ``inf`` if ``target`` is
    at or below ``c0`` (closer than any finite sample is expected to be).

    Returns:
        ``(n_equivalent, extrapolated)``: ``extrapolated`` if it lies outside the ladder.
    References:
        Butter, Diefenbacher, Kasieczka, Nachman & Plehn, "GANplifying event samples",
        SciPost Phys. 10 (2021) 139, arXiv:2008.06545.
    """
    c0, c1 = distance_law(n, distance)
    if not np.isfinite(target) or target <= c0 or c1 <= 0:
        return float("inf"), True
    n_eq = c1 / (target - c0)
    n_arr = np.asarray(n, dtype=np.float64)
    return float(n_eq), bool(n_eq < n_arr.min() or n_eq > n_arr.max())


def density_ratio_weights(
    a: np.ndarray,
    b: np.ndarray,
    rng: np.random.Generator,
    *,
    n_estimators: int = 200,
    max_weight: float = 20.0,
) -> np.ndarray:
    """Weights for the rows of ``b`` that make its distribution that of ``a``: p_a(x)/p_b(x)
    from a classifier's odds, cross-fitted (each half of ``b`` is weighted by a model trained on
    the other halves of ``a`` and ``b``), clipped at ``max_weight`` times the mean and
    normalised to sum to ``len(a)``."""
    fold_a = rng.random(len(a)) < 0.5
    fold_b = rng.random(len(b)) < 0.5
    weights = np.ones(len(b))
    params = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 5,
              "learning_rate": 0.1, "nthread": 2, "seed": int(rng.integers(2**31 - 1))}  # fmt: skip
    for fold in (False, True):
        xa, xb = a[fold_a != fold], b[fold_b != fold]
        x = np.concatenate([xa, xb]).astype(np.float32)
        y = np.concatenate([np.zeros(len(xa)), np.ones(len(xb))])
        w = np.concatenate([np.full(len(xa), 0.5 / len(xa)), np.full(len(xb), 0.5 / len(xb))])
        booster = xgboost.train(
            params, xgboost.DMatrix(x, label=y, weight=w * len(y)), n_estimators
        )
        s = np.clip(
            booster.predict(xgboost.DMatrix(b[fold_b == fold].astype(np.float32))), 1e-6, 1 - 1e-6
        )
        weights[fold_b == fold] = (1 - s) / s  # balanced classes: the odds are p_a / p_b
    weights = np.minimum(weights, max_weight * weights.mean())
    return weights * len(a) / weights.sum()

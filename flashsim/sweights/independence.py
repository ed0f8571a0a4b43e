"""The test of the sPlot assumption that controls are independent of the mass in a component."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import stats

__all__ = ["check_independence"]


def check_independence(
    mass: np.ndarray,
    controls: Mapping[str, np.ndarray],
    weights: np.ndarray,
    *,
    p_value: float = 1e-3,
    min_shift: float = 0.05,
) -> list[str]:
    """Warn about control variables that depend on the mass inside a component.

    sPlot gives a control variable ``y`` the distribution of the signal only if, inside each
    component, ``y`` is independent of the mass ``m``. Then the mean of ``y`` at a given mass is
    ``E[y | m] = P(s | m) mu_s + (1 - P(s | m)) mu_b`` with constant component means, and since
    the signal sWeight of a two-component fit is an affine function of ``P(s | m)``, ``E[y | m]``
    lies in the span of ``{1, w(m)}``. The test regresses ``y`` by least squares on
    ``{1, w, m, w m, m², w m²}``: inside a component, identified by its purest sWeight (the
    largest weight for the signal, the smallest for the background), the mean of ``y`` varies
    with ``m`` as ``a m + b m²`` with ``a`` and ``b`` linear in the fitted coefficients. A warning
    is given for a component when ``(a, b) = 0`` is rejected by a two-degree-of-freedom Wald test
    (heteroscedasticity-consistent covariance, H. White, Econometrica 48 (1980) 817) at
    ``p_value``, and the implied change of its mean across the central 90 % of the masses is at
    least ``min_shift`` standard deviations of ``y`` (so that tiny but significant dependences
    in huge samples stay quiet). Changes of shape at a fixed mean are not detected.

    Arguments:
        mass: the fit variable of the weighted events.
        controls: control variables by name, each with one value per event; non-finite values
            are left out of that variable's test.
        weights: the signal sWeights of the events (:func:`sweights`).
        p_value: the significance threshold of each test.
        min_shift: the smallest change of a component mean, in standard deviations, worth a
            warning.

    Returns:
        one message per control variable and component that fails, naming both.
    """
    m = np.asarray(mass, dtype=float).ravel()
    w = np.asarray(weights, dtype=float).ravel()
    if m.shape != w.shape:
        msg = f"mass and weights differ in length: {m.size} and {w.size}"
        raise ValueError(msg)
    warnings = []
    for name, column in controls.items():
        y = np.asarray(column, dtype=float).ravel()
        if y.shape != m.shape:
            msg = f"control {name!r} has {y.size} values for {m.size} events"
            raise ValueError(msg)
        ok = np.isfinite(y) & np.isfinite(m) & np.isfinite(w)
        for component, (shift, p) in _dependence(m[ok], y[ok], w[ok]).items():
            if p < p_value and shift >= min_shift:
                p_text = f"p = {p:.1e}" if p >= 1e-16 else "p < 1e-16"
                warnings.append(
                    f"control variable {name!r} depends on the fit variable in the {component} "
                    f"component: its {component}-weighted mean changes by {shift:.2f} standard "
                    f"deviations across its mass region ({p_text}); sPlot assumes "
                    "independence, so its sWeighted distribution may be biased"
                )
    return warnings


def _dependence(m: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict[str, tuple[float, float]]:
    """``{component: (shift in standard deviations, p-value)}`` of :func:`check_independence`."""
    y_std = float(np.std(y))
    if m.size < 20 or y_std == 0.0 or np.ptp(w) == 0.0 or np.ptp(m) == 0.0:
        return {}
    t = (m - m.mean()) / m.std()
    design = np.column_stack([np.ones_like(t), w, t, w * t, t * t, w * t * t])
    xtx_inv = np.linalg.pinv(design.T @ design)
    coef = xtx_inv @ (design.T @ y)
    resid = y - design @ coef
    meat = design.T @ (design * (resid * resid)[:, None])
    cov = xtx_inv @ meat @ xtx_inv
    result = {}
    for component, w_pure, w_comp in (
        ("signal", float(w.max()), w),
        ("background", float(w.min()), 1.0 - w),
    ):
        grid = _weighted_quantiles(t, np.maximum(w_comp, 0.0), np.linspace(0.05, 0.95, 19))
        lin = np.zeros((2, 6))
        lin[0, 2], lin[0, 3] = 1.0, w_pure
        lin[1, 4], lin[1, 5] = 1.0, w_pure
        ab = lin @ coef
        ab_cov = lin @ cov @ lin.T
        chi2 = float(ab @ np.linalg.pinv(ab_cov) @ ab)
        profile = ab[0] * grid + ab[1] * grid * grid
        result[component] = (float(np.ptp(profile)) / y_std, float(stats.chi2.sf(chi2, 2)))
    return result


def _weighted_quantiles(x: np.ndarray, weights: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantiles ``q`` of ``x`` weighted by non-negative ``weights`` (linear interpolation)."""
    order = np.argsort(x)
    cum = np.cumsum(weights[order])
    if cum[-1] <= 0:
        return np.quantile(x, q)
    return np.interp(q * cum[-1], cum, x[order])

"""The signal and background shapes of the mass fit, normalised on the fit range."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

__all__ = ["BACKGROUND_SHAPES", "SIGNAL_SHAPES", "Shape"]

_SQRT_HALF_PI = math.sqrt(0.5 * math.pi)


@dataclass(frozen=True)
class Shape:
    """A family of densities normalised on ``[lo, hi]``.

    ``pdf(x, lo, hi, *p)`` and ``cdf(x, lo, hi, *p)`` take the shape parameters ``p`` in the
    order of ``names``; ``guess(x, lo, hi)`` gives starting values, ``limits(lo, hi)`` the
    parameter limits and ``steps(lo, hi)`` the initial step sizes for MIGRAD.
    """

    names: tuple[str, ...]
    pdf: Callable[..., np.ndarray]
    cdf: Callable[..., np.ndarray]
    guess: Callable[[np.ndarray, float, float], dict[str, float]]
    limits: Callable[[float, float], dict[str, tuple[float | None, float | None]]]
    steps: Callable[[float, float], dict[str, float]]


def _gauss_pdf(x: Any, lo: float, hi: float, mu: float, sigma: float) -> np.ndarray:
    z = (np.asarray(x, dtype=float) - mu) / sigma
    norm = special.ndtr((hi - mu) / sigma) - special.ndtr((lo - mu) / sigma)
    return np.exp(-0.5 * z * z) / (math.sqrt(2.0 * math.pi) * sigma * norm)


def _gauss_cdf(x: Any, lo: float, hi: float, mu: float, sigma: float) -> np.ndarray:
    low = special.ndtr((lo - mu) / sigma)
    norm = special.ndtr((hi - mu) / sigma) - low
    return (special.ndtr((np.asarray(x, dtype=float) - mu) / sigma) - low) / norm


def _dcb_core(z: np.ndarray, bl: float, ml: float, br: float, mr: float) -> np.ndarray:
    """The unnormalised double-sided Crystal Ball in ``z = (x - mu) / sigma``.

    A Gaussian core for ``-bl <= z <= br`` and power-law tails ``(B - |z|)^-m`` beyond, joined
    continuously with a continuous derivative (J. E. Gaiser, SLAC-R-255 (1982), appendix F,
    with a tail on each side). Computed in logarithms so that large ``m`` do not overflow.
    """
    t_left = np.maximum(ml / bl - bl - z, ml / bl)
    t_right = np.maximum(mr / br - br + z, mr / br)
    left = np.exp(-0.5 * bl * bl + ml * (math.log(ml / bl) - np.log(t_left)))
    right = np.exp(-0.5 * br * br + mr * (math.log(mr / br) - np.log(t_right)))
    core = np.exp(-0.5 * np.minimum(z * z, 1e4))
    return np.where(z < -bl, left, np.where(z > br, right, core))


def _dcb_primitive(z: np.ndarray, bl: float, ml: float, br: float, mr: float) -> np.ndarray:
    """The integral of :func:`_dcb_core` from minus infinity to ``z`` (needs ``ml, mr > 1``)."""
    t_left = np.maximum(ml / bl - bl - z, ml / bl)
    t_right = np.maximum(mr / br - br + z, mr / br)
    f = _dcb_core(z, bl, ml, br, mr)
    left_total = ml / bl / (ml - 1.0) * math.exp(-0.5 * bl * bl)
    core_total = _SQRT_HALF_PI * (math.erf(br / math.sqrt(2.0)) + math.erf(bl / math.sqrt(2.0)))
    right_edge = mr / br / (mr - 1.0) * math.exp(-0.5 * br * br)
    left = t_left / (ml - 1.0) * f
    core = left_total + _SQRT_HALF_PI * (
        special.erf(z / math.sqrt(2.0)) + math.erf(bl / math.sqrt(2.0))
    )
    right = left_total + core_total + right_edge - t_right / (mr - 1.0) * f
    return np.where(z < -bl, left, np.where(z > br, right, core))


def _dcb_pdf(
    x: Any,
    lo: float,
    hi: float,
    mu: float,
    sigma: float,
    bl: float,
    ml: float,
    br: float,
    mr: float,
) -> np.ndarray:
    z = (np.asarray(x, dtype=float) - mu) / sigma
    ends = _dcb_primitive(np.array([(lo - mu) / sigma, (hi - mu) / sigma]), bl, ml, br, mr)
    return _dcb_core(z, bl, ml, br, mr) / (sigma * (ends[1] - ends[0]))


def _dcb_cdf(
    x: Any,
    lo: float,
    hi: float,
    mu: float,
    sigma: float,
    bl: float,
    ml: float,
    br: float,
    mr: float,
) -> np.ndarray:
    z = (np.asarray(x, dtype=float) - mu) / sigma
    ends = _dcb_primitive(np.array([(lo - mu) / sigma, (hi - mu) / sigma]), bl, ml, br, mr)
    return (_dcb_primitive(z, bl, ml, br, mr) - ends[0]) / (ends[1] - ends[0])


def _exp_pdf(x: Any, lo: float, hi: float, slope: float) -> np.ndarray:
    shifted = np.asarray(x, dtype=float) - lo
    width = hi - lo
    if abs(slope * width) < 1e-9:
        return np.full_like(shifted, 1.0 / width)
    if slope > 0:
        return slope * np.exp(slope * (shifted - width)) / -math.expm1(-slope * width)
    return -slope * np.exp(slope * shifted) / -math.expm1(slope * width)


def _exp_cdf(x: Any, lo: float, hi: float, slope: float) -> np.ndarray:
    shifted = np.asarray(x, dtype=float) - lo
    width = hi - lo
    if abs(slope * width) < 1e-9:
        return shifted / width
    if slope > 0:
        return (np.exp(slope * (shifted - width)) - math.exp(-slope * width)) / -math.expm1(
            -slope * width
        )
    return np.expm1(slope * shifted) / math.expm1(slope * width)


def _poly1_pdf(x: Any, lo: float, hi: float, c1: float) -> np.ndarray:
    t = 2.0 * (np.asarray(x, dtype=float) - lo) / (hi - lo) - 1.0
    return (1.0 + c1 * t) / (hi - lo)


def _poly1_cdf(x: Any, lo: float, hi: float, c1: float) -> np.ndarray:
    t = 2.0 * (np.asarray(x, dtype=float) - lo) / (hi - lo) - 1.0
    return 0.5 * ((t + 1.0) + 0.5 * c1 * (t * t - 1.0))


def _threshold_mass(a: float, u_from: Any, u_to: Any) -> Any:
    """The Gamma(a + 1) probability between ``u_from`` and ``u_to``, from the lower incomplete
    gamma function below the mode and the upper one above it (no cancellation of two values
    near 1 far above the threshold)."""
    if np.min(u_from) > a + 1.0:
        return special.gammaincc(a + 1.0, u_from) - special.gammaincc(a + 1.0, u_to)
    return special.gammainc(a + 1.0, u_to) - special.gammainc(a + 1.0, u_from)


def _threshold_pdf(x: Any, lo: float, hi: float, m0: float, a: float, c: float) -> np.ndarray:
    u = np.maximum(np.asarray(x, dtype=float) - m0, 1e-300) / c
    mass = float(_threshold_mass(a, max(lo - m0, 0.0) / c, max(hi - m0, 0.0) / c))
    log_norm = math.log(c) + special.gammaln(a + 1.0) + math.log(max(mass, 1e-300))
    return np.exp(a * np.log(u) - u - log_norm)


def _threshold_cdf(x: Any, lo: float, hi: float, m0: float, a: float, c: float) -> np.ndarray:
    u_lo, u_hi = max(lo - m0, 0.0) / c, max(hi - m0, 0.0) / c
    u = np.maximum(np.asarray(x, dtype=float) - m0, 0.0) / c
    return _threshold_mass(a, u_lo, u) / max(float(_threshold_mass(a, u_lo, u_hi)), 1e-300)


def _threshold_guess(x: np.ndarray, lo: float, hi: float) -> dict[str, float]:
    return {"threshold": lo - 0.25 * (hi - lo), "power": 0.5, "scale": 0.5 * (hi - lo)}


def _peak_guess(x: np.ndarray, lo: float, hi: float) -> dict[str, float]:
    """Starting values for a peak: the mode of a smoothed histogram and its half width."""
    counts, edges = np.histogram(x, bins=40, range=(lo, hi))
    smooth = np.convolve(counts, np.ones(3) / 3.0, mode="same")
    peak = int(np.argmax(smooth[1:-1])) + 1
    mu = 0.5 * (edges[peak] + edges[peak + 1])
    base = min(smooth[1], smooth[-2])
    half = base + 0.5 * (smooth[peak] - base)
    left = peak
    while left > 0 and smooth[left] > half:
        left -= 1
    right = peak
    while right < len(smooth) - 1 and smooth[right] > half:
        right += 1
    width = edges[1] - edges[0]
    sigma = max((right - left) * width / 2.355, width)
    return {"mu": float(mu), "sigma": float(min(sigma, (hi - lo) / 6.0))}


def _sideband_counts(x: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """Events in the lowest and highest tenth of the range (at least one each)."""
    tenth = 0.1 * (hi - lo)
    return max(np.count_nonzero(x < lo + tenth), 1), max(np.count_nonzero(x > hi - tenth), 1)


def _exp_guess(x: np.ndarray, lo: float, hi: float) -> dict[str, float]:
    low, high = _sideband_counts(x, lo, hi)
    return {"slope": float(math.log(high / low) / (0.9 * (hi - lo)))}


def _poly1_guess(x: np.ndarray, lo: float, hi: float) -> dict[str, float]:
    low, high = _sideband_counts(x, lo, hi)
    return {"c1": float(np.clip((high - low) / (high + low), -0.9, 0.9))}


def _dcb_guess(x: np.ndarray, lo: float, hi: float) -> dict[str, float]:
    return {
        **_peak_guess(x, lo, hi),
        "beta_left": 1.5,
        "m_left": 3.0,
        "beta_right": 1.5,
        "m_right": 3.0,
    }


def _peak_limits(lo: float, hi: float) -> dict[str, tuple[float | None, float | None]]:
    return {"mu": (lo, hi), "sigma": (1e-4 * (hi - lo), hi - lo)}


def _dcb_limits(lo: float, hi: float) -> dict[str, tuple[float | None, float | None]]:
    tails = {"beta_left": (0.2, 8.0), "m_left": (1.05, 80.0)}
    tails |= {"beta_right": (0.2, 8.0), "m_right": (1.05, 80.0)}
    return _peak_limits(lo, hi) | tails


def _peak_steps(lo: float, hi: float) -> dict[str, float]:
    return {"mu": 0.01 * (hi - lo), "sigma": 0.005 * (hi - lo)}


SIGNAL_SHAPES: dict[str, Shape] = {
    "gauss": Shape(
        names=("mu", "sigma"),
        pdf=_gauss_pdf,
        cdf=_gauss_cdf,
        guess=_peak_guess,
        limits=_peak_limits,
        steps=_peak_steps,
    ),
    "dcb": Shape(
        names=("mu", "sigma", "beta_left", "m_left", "beta_right", "m_right"),
        pdf=_dcb_pdf,
        cdf=_dcb_cdf,
        guess=_dcb_guess,
        limits=_dcb_limits,
        steps=lambda lo, hi: (
            _peak_steps(lo, hi)
            | {"beta_left": 0.1, "m_left": 0.5, "beta_right": 0.1, "m_right": 0.5}
        ),
    ),
}
"""Signal shapes by name: ``gauss`` (``mu``, ``sigma``) and ``dcb``, the double-sided Crystal
Ball (``mu``, ``sigma``, and per side the Gaussian-to-power-law transition ``beta`` in units of
``sigma`` and the power ``m`` > 1). Both are truncated to and normalised on the fit range."""

BACKGROUND_SHAPES: dict[str, Shape] = {
    "exp": Shape(
        names=("slope",),
        pdf=_exp_pdf,
        cdf=_exp_cdf,
        guess=_exp_guess,
        limits=lambda lo, hi: {"slope": (-50.0 / (hi - lo), 50.0 / (hi - lo))},
        steps=lambda lo, hi: {"slope": 0.1 / (hi - lo)},
    ),
    "poly1": Shape(
        names=("c1",),
        pdf=_poly1_pdf,
        cdf=_poly1_cdf,
        guess=_poly1_guess,
        limits=lambda lo, hi: {"c1": (-1.0, 1.0)},
        steps=lambda lo, hi: {"c1": 0.05},
    ),
    "threshold": Shape(
        names=("threshold", "power", "scale"),
        pdf=_threshold_pdf,
        cdf=_threshold_cdf,
        guess=_threshold_guess,
        limits=lambda lo, hi: {
            "threshold": (lo - 10.0 * (hi - lo), lo - 1e-6 * (hi - lo)),
            "power": (0.0, 10.0),
            "scale": (1e-3 * (hi - lo), 100.0 * (hi - lo)),
        },
        steps=lambda lo, hi: {
            "threshold": 0.01 * (hi - lo),
            "power": 0.05,
            "scale": 0.05 * (hi - lo),
        },
    ),
}
"""Background shapes by name: ``exp``, ``exp(slope * m)`` (``slope`` per unit of ``m``);
``poly1``, ``1 + c1 * t`` with ``t`` running from -1 to 1 over the range (``|c1| <= 1`` keeps it
positive); and ``threshold``, ``(m - threshold) ** power * exp(-(m - threshold) / scale)``, the
combinatorial background of a two-body mass near its kinematic threshold (a Lambda -> p pi
candidate above m_p + m_pi = 1077.84 MeV; LHCb's D0-mass-difference background has this form):
fix ``threshold`` at the known value (``fixed={"threshold": ...}``, ``--fix threshold=...``),
which a fit range above it barely constrains. All are normalised on the fit range."""

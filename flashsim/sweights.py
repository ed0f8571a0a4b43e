"""sPlot: signal weights from an extended maximum-likelihood fit of a mass distribution.

A calibration sample (for example D*-tagged kaons and pions for a Lamarr-style LHCb-like
pipeline) mixes signal and background. Fitting the distribution of a discriminating variable
``m`` (a mass) with a signal and a background component gives per-event weights ``w_s(m)`` with
which any control variable ``y`` that is independent of ``m`` within each component has the
distribution of the signal alone: the sPlot technique of M. Pivk and F. R. Le Diberder,
Nucl. Instrum. Meth. A 555 (2005) 356, arXiv:physics/0402083. The weights are computed by the
`sweights <https://sweights.readthedocs.io>`_ package (variant B, "summation", of H. Dembinski,
M. Kenzie, C. Langenbruch and M. Schmelling, Nucl. Instrum. Meth. A 1040 (2022) 167270,
arXiv:2112.04574); the fit is an extended unbinned maximum-likelihood fit with iminuit.

- :func:`fit_mass` fits signal + background, all shapes normalised on the fit range:
  signal ``"gauss"`` (Gaussian) or ``"dcb"`` (double-sided Crystal Ball), background ``"exp"``
  (exponential) or ``"poly1"`` (straight line).
- :func:`sweights` returns the signal sWeight of each event.
- :func:`check_independence` warns when a control variable depends on ``m`` inside a component,
  which breaks the sPlot assumption.
- :func:`plot_fit` draws the data, the fitted components and the pulls.

Example:
    >>> fit = fit_mass(mass, signal="gauss", background="exp", range=(1840.0, 1890.0))
    >>> w = sweights(fit, mass)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special, stats

from flashsim.exceptions import ConfigurationError, FitError, InputError

__all__ = [
    "BACKGROUND_SHAPES",
    "SIGNAL_SHAPES",
    "MassFit",
    "check_independence",
    "fit_mass",
    "plot_fit",
    "sweights",
]

_SQRT_HALF_PI = math.sqrt(0.5 * math.pi)
_MIN_EVENTS = 10
# A fitted yield below half an event is zero: there is nothing to weight.
_ZERO_YIELD = 0.5


# --- shapes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shape:
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


SIGNAL_SHAPES: dict[str, _Shape] = {
    "gauss": _Shape(
        names=("mu", "sigma"),
        pdf=_gauss_pdf,
        cdf=_gauss_cdf,
        guess=_peak_guess,
        limits=_peak_limits,
        steps=_peak_steps,
    ),
    "dcb": _Shape(
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

BACKGROUND_SHAPES: dict[str, _Shape] = {
    "exp": _Shape(
        names=("slope",),
        pdf=_exp_pdf,
        cdf=_exp_cdf,
        guess=_exp_guess,
        limits=lambda lo, hi: {"slope": (-50.0 / (hi - lo), 50.0 / (hi - lo))},
        steps=lambda lo, hi: {"slope": 0.1 / (hi - lo)},
    ),
    "poly1": _Shape(
        names=("c1",),
        pdf=_poly1_pdf,
        cdf=_poly1_cdf,
        guess=_poly1_guess,
        limits=lambda lo, hi: {"c1": (-1.0, 1.0)},
        steps=lambda lo, hi: {"c1": 0.05},
    ),
}
"""Background shapes by name: ``exp``, ``exp(slope * m)`` (``slope`` per unit of ``m``), and
``poly1``, ``1 + c1 * t`` with ``t`` running from -1 to 1 over the range (``|c1| <= 1`` keeps it
positive). Both are normalised on the fit range."""

_YIELDS = ("n_signal", "n_background")


# --- the fit --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MassFit:
    """The result of :func:`fit_mass`.

    Attributes:
        signal: the signal shape name (a key of :data:`SIGNAL_SHAPES`).
        background: the background shape name (a key of :data:`BACKGROUND_SHAPES`).
        range: the fit range ``(lo, hi)``; the shapes are normalised on it.
        n_events: the number of events inside the range that were fitted.
        values: every parameter by name: ``n_signal``, ``n_background`` (the yields), then the
            shape parameters (:attr:`signal_parameters`, :attr:`background_parameters`).
        errors: the HESSE errors of ``values``.
        covariance: the covariance matrix of ``values``, in the order of ``values``.
        status: MIGRAD/HESSE diagnostics: ``valid`` (a valid minimum with a positive-definite
            covariance), ``is_valid``, ``has_accurate_covar``, ``has_posdef_covar``,
            ``hesse_failed``, ``is_above_max_edm``, ``has_reached_call_limit``,
            ``has_parameters_at_limit``, ``edm``, ``fval`` (the minimised negative log-likelihood),
            ``nfcn`` (function calls).
    """

    signal: str
    background: str
    range: tuple[float, float]
    n_events: int
    values: dict[str, float]
    errors: dict[str, float]
    covariance: np.ndarray = field(repr=False)
    status: dict[str, Any]

    @property
    def valid(self) -> bool:
        """Whether MIGRAD found a valid minimum and HESSE a positive-definite covariance."""
        return bool(self.status["valid"])

    @property
    def yields(self) -> dict[str, tuple[float, float]]:
        """``{"signal": (value, error), "background": (value, error)}``."""
        return {
            "signal": (self.values["n_signal"], self.errors["n_signal"]),
            "background": (self.values["n_background"], self.errors["n_background"]),
        }

    @property
    def signal_parameters(self) -> dict[str, tuple[float, float]]:
        """The signal shape parameters as ``{name: (value, error)}``."""
        return {n: (self.values[n], self.errors[n]) for n in SIGNAL_SHAPES[self.signal].names}

    @property
    def background_parameters(self) -> dict[str, tuple[float, float]]:
        """The background shape parameters as ``{name: (value, error)}``."""
        names = BACKGROUND_SHAPES[self.background].names
        return {n: (self.values[n], self.errors[n]) for n in names}

    def _params(self, shape: _Shape) -> list[float]:
        return [self.values[name] for name in shape.names]

    def signal_pdf(self, x: Any) -> np.ndarray:
        """The fitted signal density at ``x``, normalised on :attr:`range`."""
        shape = SIGNAL_SHAPES[self.signal]
        return shape.pdf(x, *self.range, *self._params(shape))

    def background_pdf(self, x: Any) -> np.ndarray:
        """The fitted background density at ``x``, normalised on :attr:`range`."""
        shape = BACKGROUND_SHAPES[self.background]
        return shape.pdf(x, *self.range, *self._params(shape))

    def signal_cdf(self, x: Any) -> np.ndarray:
        """The fitted signal distribution function, 0 at the range's low and 1 at its high end."""
        shape = SIGNAL_SHAPES[self.signal]
        return shape.cdf(x, *self.range, *self._params(shape))

    def background_cdf(self, x: Any) -> np.ndarray:
        """The fitted background distribution function (see :meth:`signal_cdf`)."""
        shape = BACKGROUND_SHAPES[self.background]
        return shape.cdf(x, *self.range, *self._params(shape))

    def density(self, x: Any) -> np.ndarray:
        """The fitted event density ``n_signal * signal_pdf + n_background * background_pdf``."""
        return self.values["n_signal"] * self.signal_pdf(x) + self.values[
            "n_background"
        ] * self.background_pdf(x)

    def check(self) -> None:
        """Raise :class:`~flashsim.exceptions.FitError` unless the fit is usable for sWeights.

        Usable means: a valid minimum, a positive-definite covariance, and both yields above
        half an event.
        """
        advice = "try other shapes (--signal/--background), a different --range, or initial values"
        st = self.status
        if not st["is_valid"]:
            reasons = [
                text
                for flag, text in (
                    ("is_above_max_edm", f"EDM {st['edm']:.2g} above its goal"),
                    ("has_reached_call_limit", f"call limit reached after {st['nfcn']} calls"),
                )
                if st[flag]
            ]
            why = "; ".join(reasons) or "MIGRAD reports an invalid minimum"
            msg = f"the mass fit did not converge ({why}); {advice}"
            raise FitError(msg)
        if st["hesse_failed"] or not st["has_posdef_covar"]:
            msg = (
                "the mass fit gave an invalid minimum: its covariance matrix is not positive "
                f"definite (some parameter is not constrained by the data); {advice}"
            )
            raise FitError(msg)
        for component, (value, error) in self.yields.items():
            if value < _ZERO_YIELD:
                msg = (
                    f"the fitted {component} yield is zero ({value:.3g} ± {error:.3g}): the fit "
                    f"found no {component} in {self.range[0]:g}..{self.range[1]:g}; {advice}"
                )
                raise FitError(msg)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary: shapes, range, yields, parameters and status."""
        return {
            "signal": self.signal,
            "background": self.background,
            "range": list(self.range),
            "n_events": self.n_events,
            "yields": {k: {"value": v, "error": e} for k, (v, e) in self.yields.items()},
            "parameters": {
                name: {"value": self.values[name], "error": self.errors[name]}
                for name in self.values
                if name not in _YIELDS
            },
            "status": dict(self.status),
        }


def _check_range(range: tuple[float, float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in range)
    except (TypeError, ValueError) as err:
        msg = f"the fit range must be two numbers (lo, hi), got {range!r}"
        raise ConfigurationError(msg) from err
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        msg = f"the fit range needs finite lo < hi, got {lo:g}..{hi:g}"
        raise ConfigurationError(msg)
    return lo, hi


def _shape(kind: str, shapes: Mapping[str, _Shape], what: str) -> _Shape:
    if kind not in shapes:
        msg = f"unknown {what} shape {kind!r}; choose one of {', '.join(map(repr, shapes))}"
        raise ConfigurationError(msg)
    return shapes[kind]


def fit_mass(
    mass: np.ndarray,
    *,
    signal: str = "gauss",
    background: str = "exp",
    range: tuple[float, float],
    initial: Mapping[str, float] | None = None,
    fixed: Mapping[str, float] | None = None,
    check: bool = True,
) -> MassFit:
    """Fit signal + background to the values of ``mass`` inside ``range``.

    An extended unbinned maximum-likelihood fit (iminuit's MIGRAD, then HESSE for the errors)
    of ``n_signal * S(m) + n_background * B(m)``, with ``S`` and ``B`` normalised on ``range``;
    values outside the range are ignored. The yields are limited to be non-negative.

    Arguments:
        mass: the discriminating variable, one value per event; must be finite.
        signal: a key of :data:`SIGNAL_SHAPES`: ``"gauss"`` or ``"dcb"``.
        background: a key of :data:`BACKGROUND_SHAPES`: ``"exp"`` or ``"poly1"``.
        range: the fit range ``(lo, hi)``.
        initial: starting values by parameter name (``n_signal``, ``n_background``, ``mu``,
            ``sigma``, ...), replacing the guesses from the data (the mode of the histogram and
            its width, the sideband slope, a 50/50 split of the yields).
        fixed: parameters held at these values, e.g. the DCB tails (``beta_left``, ``m_left``,
            ``beta_right``, ``m_right``) from a fit to simulated signal, as is usual when the
            data do not constrain them.
        check: raise :class:`~flashsim.exceptions.FitError` for an unusable fit (see
            :meth:`MassFit.check`); with ``False`` such a fit is returned for inspection.

    Returns:
        the :class:`MassFit`.

    Raises:
        InputError: ``mass`` has non-finite values, or fewer than 10 values in the range.
        ConfigurationError: an unknown shape or initial-value name, an initial value outside its
            parameter's limits, or an invalid range.
        FitError: (with ``check``) the fit did not converge, gave an invalid minimum, or a zero
            yield.
    """
    from iminuit import Minuit
    from iminuit.cost import ExtendedUnbinnedNLL

    lo, hi = _check_range(range)
    sig = _shape(signal, SIGNAL_SHAPES, "signal")
    bkg = _shape(background, BACKGROUND_SHAPES, "background")
    values = np.asarray(mass, dtype=float).ravel()
    if n_bad := int(np.count_nonzero(~np.isfinite(values))):
        msg = (
            f"the fit variable has {n_bad} non-finite value(s) (NaN or inf) of {values.size}; "
            "remove those rows first"
        )
        raise InputError(msg)
    x = values[(values >= lo) & (values <= hi)]
    if x.size < _MIN_EVENTS:
        msg = (
            f"only {x.size} of {values.size} value(s) lie in the fit range {lo:g}..{hi:g}; "
            f"a fit needs at least {_MIN_EVENTS}: widen the range or check the variable's units"
        )
        raise InputError(msg)

    names = (*_YIELDS, *sig.names, *bkg.names)
    start = {"n_signal": 0.5 * x.size, "n_background": 0.5 * x.size}
    start |= sig.guess(x, lo, hi) | bkg.guess(x, lo, hi)
    if initial:
        if unknown := sorted(set(initial) - set(names)):
            msg = (
                f"unknown initial value(s) {', '.join(map(repr, unknown))} for a {signal} + "
                f"{background} fit; its parameters are {', '.join(names)}"
            )
            raise ConfigurationError(msg)
        start |= {name: float(v) for name, v in initial.items()}
    if fixed:
        if unknown := sorted(set(fixed) - set(names)):
            msg = (
                f"unknown fixed parameter(s) {', '.join(map(repr, unknown))} for a {signal} + "
                f"{background} fit; its parameters are {', '.join(names)}"
            )
            raise ConfigurationError(msg)
        start |= {name: float(v) for name, v in fixed.items()}
    n_sig = len(sig.names)

    def model(m: np.ndarray, *p: float) -> tuple[float, np.ndarray]:
        sp, bp = p[2 : 2 + n_sig], p[2 + n_sig :]
        return p[0] + p[1], p[0] * sig.pdf(m, lo, hi, *sp) + p[1] * bkg.pdf(m, lo, hi, *bp)

    cost = ExtendedUnbinnedNLL(x, model, name=names)
    minuit = Minuit(cost, *(start[name] for name in names))
    limits = {"n_signal": (0.0, None), "n_background": (0.0, None)}
    limits |= sig.limits(lo, hi) | bkg.limits(lo, hi)
    steps = {"n_signal": 0.1 * math.sqrt(x.size) + 1.0, "n_background": 0.1 * math.sqrt(x.size)}
    steps |= sig.steps(lo, hi) | bkg.steps(lo, hi)
    for name in names:
        low, high = limits[name]
        if (low is not None and start[name] < low) or (high is not None and start[name] > high):
            msg = (
                f"initial value {name}={start[name]:g} is outside its allowed interval "
                f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]; "
                "choose a value inside it"
            )
            raise ConfigurationError(msg)
        minuit.limits[name] = limits[name]
        minuit.errors[name] = steps[name]
        minuit.fixed[name] = bool(fixed) and name in fixed
    # Trial points far from the minimum can under- or overflow the exponentials; MIGRAD handles
    # the resulting zeros and infinities.
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        minuit.migrad()
        if minuit.fmin.is_valid:
            minuit.hesse()
    fmin = minuit.fmin
    status = {
        "valid": bool(fmin.is_valid and fmin.has_posdef_covar and not fmin.hesse_failed),
        "is_valid": bool(fmin.is_valid),
        "has_accurate_covar": bool(fmin.has_accurate_covar),
        "has_posdef_covar": bool(fmin.has_posdef_covar),
        "hesse_failed": bool(fmin.hesse_failed),
        "is_above_max_edm": bool(fmin.is_above_max_edm),
        "has_reached_call_limit": bool(fmin.has_reached_call_limit),
        "has_parameters_at_limit": bool(fmin.has_parameters_at_limit),
        "edm": float(fmin.edm),
        "fval": float(fmin.fval),
        "nfcn": int(fmin.nfcn),
    }
    covariance = (
        np.array(minuit.covariance, dtype=float)
        if minuit.covariance is not None
        else np.full((len(names), len(names)), np.nan)
    )
    result = MassFit(
        signal=signal,
        background=background,
        range=(lo, hi),
        n_events=int(x.size),
        values={name: float(minuit.values[name]) for name in names},
        errors={name: float(minuit.errors[name]) for name in names},
        covariance=covariance,
        status=status,
    )
    if check:
        result.check()
    return result


# --- weights --------------------------------------------------------------------------------


def sweights(fit: MassFit, mass: np.ndarray) -> np.ndarray:
    """The signal sWeight of each value of ``mass``, from the fitted shapes and yields.

    Computed by :class:`sweights.SWeight` with ``method="summation"`` (variant B of
    arXiv:2112.04574: the W matrix is summed over the events, so the weights sum to the fitted
    signal yield). The background weight of an event is ``1 - w``.

    Arguments:
        fit: a fit of the same ``mass`` values (the events inside its range).
        mass: values inside ``fit.range``.

    Returns:
        the float64 signal weights, one per value (negative weights are normal).

    Raises:
        FitError: the fit is not usable (see :meth:`MassFit.check`).
        InputError: ``mass`` has non-finite values or values outside the fit range.
    """
    from sweights import SWeight

    fit.check()
    values = np.asarray(mass, dtype=float).ravel()
    lo, hi = fit.range
    outside = ~((values >= lo) & (values <= hi))
    if n_out := int(np.count_nonzero(outside)):
        msg = (
            f"{n_out} of {values.size} mass value(s) are outside the fit range {lo:g}..{hi:g} "
            "(or not finite); keep only the rows inside the range"
        )
        raise InputError(msg)
    weighter = SWeight(
        values,
        pdfs=[fit.signal_pdf, fit.background_pdf],
        yields=[fit.values["n_signal"], fit.values["n_background"]],
        discvarranges=((lo, hi),),
        method="summation",
        compnames=("signal", "background"),
        checks=False,
    )
    return np.asarray(weighter.get_weight(0, values), dtype=np.float64)


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


# --- figure ---------------------------------------------------------------------------------


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

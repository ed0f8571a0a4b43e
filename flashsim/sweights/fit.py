"""The extended unbinned maximum-likelihood fit of signal + background: :func:`fit_mass`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flashsim.exceptions import ConfigurationError, FitError, InputError
from flashsim.sweights.shapes import BACKGROUND_SHAPES, SIGNAL_SHAPES, Shape
from flashsim.sweights.staged import minimise

__all__ = ["MassFit", "fit_mass"]

_MIN_EVENTS = 10
# A fitted yield below half an event is zero: there is nothing to weight.
_ZERO_YIELD = 0.5
_YIELDS = ("n_signal", "n_background")


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

    def _params(self, shape: Shape) -> list[float]:
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


def _shape(kind: str, shapes: Mapping[str, Shape], what: str) -> Shape:
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
    staged: bool = True,
    check: bool = True,
) -> MassFit:
    """Fit signal + background to the values of ``mass`` inside ``range``.

    An extended unbinned maximum-likelihood fit (iminuit's MIGRAD, then HESSE for the errors)
    of ``n_signal * S(m) + n_background * B(m)``, with ``S`` and ``B`` normalised on ``range``;
    values outside the range are ignored. The yields are limited to be non-negative. A ``dcb``
    signal is fitted in stages (:func:`flashsim.sweights.staged.minimise`): a Gaussian first,
    binned, then the DCB with its tails held, then released, then unbinned; a tail parameter
    that the data do not constrain is held at its limit (``status["pinned"]``).

    Arguments:
        mass: the discriminating variable, one value per event; must be finite.
        signal: a key of :data:`SIGNAL_SHAPES`: ``"gauss"`` or ``"dcb"``.
        background: a key of :data:`BACKGROUND_SHAPES`: ``"exp"``, ``"poly1"`` or
            ``"threshold"`` (fix its ``threshold`` parameter).
        range: the fit range ``(lo, hi)``.
        initial: starting values by parameter name (``n_signal``, ``n_background``, ``mu``,
            ``sigma``, ...), replacing the guesses from the data (the mode of the histogram and
            its width, the sideband slope, a 50/50 split of the yields).
        fixed: parameters held at these values, e.g. the DCB tails (``beta_left``, ``m_left``,
            ``beta_right``, ``m_right``) from a fit to simulated signal, as is usual when the
            data do not constrain them.
        staged: fit in stages (see above); ``False`` runs one MIGRAD from the guesses, which
            for a ``dcb`` signal fails more often (kept to compare).
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
    minuit, stages = minimise(
        x, lo, hi, signal, bkg, start=start, limits=limits, steps=steps, fixed=dict(fixed or {}),
        staged=staged,
    )  # fmt: skip
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
        "nfcn": int(stages["nfcn"]),
        "stages": stages["stages"],
        "pinned": stages["pinned"],
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

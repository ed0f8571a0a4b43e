"""Staged minimisation of the mass fit's likelihood: :func:`minimise`.

A double-sided Crystal Ball started from generic guesses on 60k rows of a calibration sample
failed to converge on about half of the refsim channels and seeds (MIGRAD's EDM above its goal,
or HESSE's covariance not positive definite) although the same model describes the data: its
four tail parameters are nearly degenerate with each other, with the width and with the
background, and MIGRAD wanders along those valleys from a poor start. Fitting in stages, each
seeded from the one before, reaches the minimum from nearby:

1. ``gauss`` signal + the background, binned (100 bins or so; a binned fit costs a few hundred
   evaluations of the distribution functions at the bin edges, not of the density at every row):
   the yields, the peak position and width, the background parameters.
2. the requested signal with its tail parameters held at their starting values, binned.
3. the same with the tails released, binned.
4. the unbinned extended fit of every free parameter from there, MIGRAD with strategy 1, then
   (if it is not valid) again with strategy 2, which computes the second derivatives exactly.
5. if it is still not valid, each free tail parameter that ran to a limit of its interval (the
   data do not constrain it: the valley goes on beyond the limit) is held at that limit, or if
   none did, the tail parameter with the largest error for its interval is held at its value,
   and the fit repeated, until it is valid or every tail is held; such parameters are reported
   (``pinned``), so that the caller can say so. Fixing the tails from simulated signal
   (``flashsim sweights --tails-from``) avoids this.

A signal shape without tails (``gauss``) is fitted as in flashsim 0.1, in one unbinned MIGRAD
on the raw likelihood (a second MIGRAD with strategy 2, or the offset below, found a spike of 4
to 13 events 1e-3 to 1e-2 of the range wide in flat noise, which the tests expect to be
rejected); a ``dcb`` with every tail fixed (``--tails-from``) skips stages 1 to 3 and 5.

For a ``dcb``, every stage minimises the likelihood minus its value at the stage's start, with
Minuit's ``precision`` set to the sum's rounding noise: Minuit treats changes below about 3e-8
of the function's value as noise, and a likelihood of -9e6 (500k rows) hid the change over one error
from HESSE (yield errors 2.0 instead of 400; pulls of -240). The binned stages only ever give
starting values: the result is always the unbinned fit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from flashsim.sweights.shapes import SIGNAL_SHAPES, Shape

__all__ = ["TAIL_PARAMETERS", "minimise"]

TAIL_PARAMETERS = ("beta_left", "m_left", "beta_right", "m_right")
"""The tail parameters of the double-sided Crystal Ball (``dcb``)."""

_YIELDS = ("n_signal", "n_background")
# A parameter within this fraction of its interval's width from a limit is "at the limit".
_AT_LIMIT = 1e-3
_EPSILON = float(np.finfo(float).eps)
Limits = Mapping[str, tuple[float | None, float | None]]


def _at_limit(value: float, limits: tuple[float | None, float | None]) -> float | None:
    """The limit that ``value`` lies at, or ``None``."""
    low, high = limits
    if low is None or high is None:
        return None
    tolerance = _AT_LIMIT * (high - low)
    if value - low < tolerance:
        return low
    if high - value < tolerance:
        return high
    return None


class _Shifted:
    """``cost(*p) - offset``: the same minimum, the same errors, a value near zero."""

    def __init__(self, cost: Callable[..., float], offset: float) -> None:
        self.cost, self.offset = cost, offset

    def __call__(self, *p: float) -> float:
        return self.cost(*p) - self.offset


class _Fitter:
    """Builds and runs one Minuit fit of ``n_signal * S + n_background * B`` on ``[lo, hi]``."""

    def __init__(
        self,
        x: np.ndarray,
        lo: float,
        hi: float,
        limits: Limits,
        steps: Mapping[str, float],
        offset: bool = True,
    ) -> None:
        self.x, self.lo, self.hi, self.offset = x, lo, hi, offset
        self.limits, self.steps = limits, steps
        self.nfcn = 0
        n_bins = int(np.clip(x.size // 25, 20, 200))
        self.counts, self.edges = np.histogram(x, bins=n_bins, range=(lo, hi))

    def run(
        self,
        sig: Shape,
        bkg: Shape,
        start: Mapping[str, float],
        fixed: set[str],
        *,
        binned: bool,
        strategy: int = 1,
    ) -> Any:
        """MIGRAD from ``start`` with ``fixed`` held; returns the Minuit object."""
        from iminuit import Minuit
        from iminuit.cost import ExtendedBinnedNLL, ExtendedUnbinnedNLL

        lo, hi, n_sig = self.lo, self.hi, len(sig.names)
        names = (*_YIELDS, *sig.names, *bkg.names)

        def density(m: np.ndarray, *p: float) -> tuple[float, np.ndarray]:
            sp, bp = p[2 : 2 + n_sig], p[2 + n_sig :]
            return p[0] + p[1], p[0] * sig.pdf(m, lo, hi, *sp) + p[1] * bkg.pdf(m, lo, hi, *bp)

        def cumulative(edges: np.ndarray, *p: float) -> np.ndarray:
            sp, bp = p[2 : 2 + n_sig], p[2 + n_sig :]
            return p[0] * sig.cdf(edges, lo, hi, *sp) + p[1] * bkg.cdf(edges, lo, hi, *bp)

        cost: Callable[..., float]
        if binned:
            cost = ExtendedBinnedNLL(self.counts, self.edges, cumulative, name=names)
        else:
            cost = ExtendedUnbinnedNLL(self.x, density, name=names)
        values = [start[name] for name in names]
        if self.offset:
            # Minuit takes changes of the function below about 3e-8 of its value for rounding
            # noise: at -9e6 (500k rows) that is 2, four times the change over one error, and
            # HESSE gave the yields errors of 2.0 instead of 400. Subtracting the value at the
            # start keeps the function near zero, where its derivatives are resolved.
            with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
                at_start = float(cost(*values))
            offset = at_start if math.isfinite(at_start) else 0.0
            minuit = Minuit(_Shifted(cost, offset), *values, name=names)
            minuit.errordef = cost.errordef
            # The rounding noise of the shifted sum is that of the sum, about 1e-16 of its
            # value; Minuit takes it as `precision` times the (now small) value. With the
            # default precision MIGRAD chased noise (a 200k-row signal-only fit did not
            # converge); with 1e-16 per term added up (x sqrt(rows)) its gradients were too
            # coarse to reach the EDM goal on two of fifteen 500k-row fits.
            noise = _EPSILON * abs(offset)
            minuit.precision = min(max(noise / cost.errordef, _EPSILON), 1e-6)
        else:
            minuit = Minuit(cost, *values)
        minuit.strategy = strategy
        for name in names:
            minuit.limits[name] = self.limits[name]
            minuit.errors[name] = self.steps[name]
            minuit.fixed[name] = name in fixed
        # Trial points far from the minimum can under- or overflow the exponentials; MIGRAD
        # handles the resulting zeros and infinities.
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            minuit.migrad()
        self.nfcn += minuit.fmin.nfcn
        return minuit

    def hesse(self, minuit: Any) -> None:
        """HESSE on a valid minimum."""
        if not minuit.fmin.is_valid:
            return
        before = minuit.fmin.nfcn
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            minuit.hesse()
        self.nfcn += minuit.fmin.nfcn - before


def _unconstrained(minuit: Any, free: list[str], limits: Limits) -> dict[str, float]:
    """The free tail parameters to hold, with their values: those at a limit of their interval,
    else the one whose error is the largest fraction of its interval (the data constrain it
    least), at its fitted value."""
    at = {t: _at_limit(minuit.values[t], limits[t]) for t in free}
    if held := {t: v for t, v in at.items() if v is not None}:
        return held
    if not free:
        return {}

    def spread(name: str) -> float:
        low, high = limits[name]
        width = (high - low) if low is not None and high is not None else 1.0
        return float(minuit.errors[name]) / width

    loosest = max(free, key=spread)
    return {loosest: float(minuit.values[loosest])}


def _usable(minuit: Any) -> bool:
    fmin = minuit.fmin
    return bool(fmin.is_valid and fmin.has_posdef_covar and not fmin.hesse_failed)


def minimise(
    x: np.ndarray,
    lo: float,
    hi: float,
    signal: str,
    bkg: Shape,
    *,
    start: Mapping[str, float],
    limits: Limits,
    steps: Mapping[str, float],
    fixed: Mapping[str, float],
    staged: bool = True,
) -> tuple[Any, dict[str, Any]]:
    """Minimise the extended unbinned negative log-likelihood, in stages (see the module).

    Arguments:
        x: the values inside ``[lo, hi]``.
        lo, hi: the fit range.
        signal: the signal shape's name in :data:`~flashsim.sweights.shapes.SIGNAL_SHAPES`.
        bkg: the background shape.
        start: a starting value for every parameter (yields, then the shapes' parameters).
        limits, steps: every parameter's interval and initial step.
        fixed: parameters held at these values (their ``start`` is replaced by them).
        staged: fit a ``dcb`` in stages, the likelihood offset by its value at the start;
            with ``False`` (and for ``gauss``), one MIGRAD from ``start`` then HESSE on the raw
            likelihood (the fit of flashsim 0.1).

    Returns:
        the final Minuit object (HESSE run if its minimum is valid) and a dict with ``stages``
        (the names of the stages run), ``nfcn`` (likelihood evaluations in all stages) and
        ``pinned`` (tail parameters held at a limit in stage 5, by name).
    """
    sig = SIGNAL_SHAPES[signal]
    has_tails = any(t in sig.names for t in TAIL_PARAMETERS)
    fitter = _Fitter(x, lo, hi, limits, steps, offset=staged and has_tails)
    values = dict(start) | dict(fixed)
    held = set(fixed)
    stages: list[str] = []
    tails = [t for t in TAIL_PARAMETERS if t in sig.names and t not in held]
    if staged and tails:
        gauss = SIGNAL_SHAPES["gauss"]
        first = fitter.run(gauss, bkg, values, held, binned=True)
        values |= {n: first.values[n] for n in first.parameters if n not in held}
        stages.append("binned gauss")
        second = fitter.run(sig, bkg, values, held | set(tails), binned=True)
        values |= {n: second.values[n] for n in second.parameters}
        stages.append(f"binned {signal}, tails held")
        third = fitter.run(sig, bkg, values, held, binned=True)
        if third.fmin.is_valid:
            values |= {n: third.values[n] for n in third.parameters}
        stages.append(f"binned {signal}")
    minuit = fitter.run(sig, bkg, values, held, binned=False)
    stages.append("unbinned")
    fitter.hesse(minuit)
    pinned: dict[str, float] = {}
    if staged and has_tails and not _usable(minuit):
        values = {n: minuit.values[n] for n in minuit.parameters}
        minuit = fitter.run(sig, bkg, values, held, binned=False, strategy=2)
        stages.append("unbinned, strategy 2")
        fitter.hesse(minuit)
        for _ in tails:
            if _usable(minuit):
                break
            newly = _unconstrained(minuit, [t for t in tails if t not in pinned], limits)
            if not newly:
                break
            pinned |= newly
            values = {n: minuit.values[n] for n in minuit.parameters} | newly
            minuit = fitter.run(sig, bkg, values, held | set(pinned), binned=False, strategy=2)
            stages.append(f"unbinned, {', '.join(sorted(newly))} held")
            fitter.hesse(minuit)
    return minuit, {"stages": stages, "nfcn": fitter.nfcn, "pinned": pinned}

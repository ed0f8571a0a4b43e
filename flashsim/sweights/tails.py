"""The signal shape's tails from simulated signal: :func:`fit_tails` (``--tails-from``).

The power-law tails of a double-sided Crystal Ball are nearly degenerate with the background
under the peak: left free on a 60k-row calibration sample with 40% background, they make a
one-step fit fail on 7 of 15 refsim samples, and the staged fit's yield errors two to seven times
those with fixed tails (``benchmarks/results/sweights_convergence_60k.txt``; on J/psi -> ee the
right tail's power runs anywhere from 1 to 80). Analyses therefore fit the tails to simulated
signal, where nothing else competes for them, and hold them fixed in the fit to data; so does
the LHCb-like benchmark (``benchmarks/lhcb_pipeline.py``). :func:`fit_tails` is that first fit,
on a signal-only sample (refsim: ``flashsim refsim calibration --background-fraction 0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from flashsim.exceptions import FitError
from flashsim.sweights.fit import fit_mass
from flashsim.sweights.staged import TAIL_PARAMETERS

__all__ = ["TailFit", "fit_tails"]


@dataclass(frozen=True)
class TailFit:
    """The result of :func:`fit_tails`.

    Attributes:
        signal: the signal shape fitted (``"dcb"``).
        range: the fit range.
        n_events: the number of simulated signal values in the range.
        values: the fitted shape parameters by name (``mu``, ``sigma`` and the tails).
        errors: their HESSE errors.
        status: the fit status (as :attr:`flashsim.sweights.fit.MassFit.status`).
    """

    signal: str
    range: tuple[float, float]
    n_events: int
    values: dict[str, float]
    errors: dict[str, float]
    status: dict[str, Any]

    @property
    def tails(self) -> dict[str, float]:
        """The tail parameters, to hold fixed in the fit to data (``fit_mass(fixed=...)``)."""
        return {name: self.values[name] for name in TAIL_PARAMETERS if name in self.values}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary."""
        return {
            "signal": self.signal,
            "range": list(self.range),
            "n_events": self.n_events,
            "parameters": {
                name: {"value": value, "error": self.errors[name]}
                for name, value in self.values.items()
            },
            "valid": bool(self.status["valid"]),
            "pinned": dict(self.status.get("pinned", {})),
        }


def fit_tails(mass: np.ndarray, *, range: tuple[float, float], signal: str = "dcb") -> TailFit:
    """Fit the signal shape alone to simulated signal ``mass`` values inside ``range``.

    The staged fit of :func:`~flashsim.sweights.fit.fit_mass` with the background yield held at
    zero. A tail that even the simulated signal does not constrain is held at its limit
    (reported in ``status["pinned"]``): as a value to fix, that is as good as any.

    Arguments:
        mass: the simulated signal's values of the fit variable.
        range: the fit range of the fit to data.
        signal: the signal shape (a shape with tails: ``"dcb"``).

    Returns:
        the :class:`TailFit`; its :attr:`~TailFit.tails` go into ``fit_mass(fixed=...)``.

    Raises:
        InputError: non-finite values, or fewer than 10 values in the range.
        FitError: the signal-only fit did not converge.
    """
    fit = fit_mass(
        mass,
        signal=signal,
        background="exp",
        range=range,
        fixed={"n_background": 0.0, "slope": 0.0},
        check=False,
    )
    status = fit.status
    if not status["is_valid"]:
        msg = (
            f"the {signal} fit to the simulated signal ({fit.n_events} values in "
            f"{fit.range[0]:g}..{fit.range[1]:g}) did not converge (EDM {status['edm']:.2g}); "
            "check that the sample is signal only and the range covers its peak"
        )
        raise FitError(msg)
    names = [n for n in fit.values if n not in ("n_signal", "n_background", "slope")]
    return TailFit(
        signal=signal,
        range=fit.range,
        n_events=fit.n_events,
        values={n: fit.values[n] for n in names},
        errors={n: fit.errors[n] for n in names},
        status=dict(status),
    )

"""The signal sWeights of the fitted events (sPlot): :func:`sweights`."""

from __future__ import annotations

import numpy as np

from flashsim.exceptions import InputError
from flashsim.sweights.fit import MassFit

__all__ = ["sweights"]


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

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

- :mod:`~flashsim.sweights.shapes`: the signal and background shapes, all normalised on the fit
  range: signal ``"gauss"`` (Gaussian) or ``"dcb"`` (double-sided Crystal Ball), background
  ``"exp"`` (exponential), ``"poly1"`` (straight line) or ``"threshold"`` (a two-body
  threshold shape) (:data:`SIGNAL_SHAPES`,
  :data:`BACKGROUND_SHAPES`).
- :mod:`~flashsim.sweights.fit`: :func:`fit_mass` fits signal + background and returns a
  :class:`MassFit`; a ``dcb`` signal in stages (:mod:`~flashsim.sweights.staged`: a Gaussian
  first, then the DCB seeded from it).
- :mod:`~flashsim.sweights.tails`: :func:`fit_tails` fits the signal shape to simulated signal
  alone, for the tails to hold fixed in the fit to data (``flashsim sweights --tails-from``).
- :mod:`~flashsim.sweights.splot`: :func:`sweights` returns the signal sWeight of each event.
- :mod:`~flashsim.sweights.independence`: :func:`check_independence` warns when a control
  variable depends on ``m`` inside a component, which breaks the sPlot assumption.
- :mod:`~flashsim.sweights.plot`: :func:`plot_fit` draws the data, the fitted components and
  the pulls.
- :mod:`~flashsim.sweights.workflow`: :func:`add_sweights` fits a flat TTree and writes its rows
  with the signal sWeights, the fit figure and a summary (``flashsim sweights``).

Example:
    >>> fit = fit_mass(  # doctest: +SKIP
    ...     mass, signal="gauss", background="exp", range=(1840.0, 1890.0)
    ... )
    >>> w = sweights(fit, mass)  # doctest: +SKIP
"""

from flashsim.sweights.fit import MassFit, fit_mass
from flashsim.sweights.independence import check_independence
from flashsim.sweights.plot import plot_fit
from flashsim.sweights.shapes import BACKGROUND_SHAPES, SIGNAL_SHAPES
from flashsim.sweights.splot import sweights
from flashsim.sweights.tails import TailFit, fit_tails
from flashsim.sweights.workflow import WEIGHT_BRANCH, SweightsResult, add_sweights, side_paths

__all__ = [
    "BACKGROUND_SHAPES",
    "SIGNAL_SHAPES",
    "WEIGHT_BRANCH",
    "MassFit",
    "SweightsResult",
    "TailFit",
    "add_sweights",
    "check_independence",
    "fit_mass",
    "fit_tails",
    "plot_fit",
    "side_paths",
    "sweights",
]

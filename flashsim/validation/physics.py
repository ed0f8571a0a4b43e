"""Physics summaries of a flash-vs-full comparison: b-tagging ROC curves and jet response.

These are the plots an analyst checks first (as in the CMS FlashSim paper, arXiv:2402.13684):
how well b jets are separated from light jets by the tagger score, and the scale (median) and
resolution (half the 16-84% interquantile range) of the pT response reco/gen vs gen pT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from flashsim.validation.metrics import n_effective, roc_auc

__all__ = ["ResponseCurve", "RocCurve", "response_curve", "tagger_roc"]

_WORKING_POINTS = (0.5, 0.7, 0.9)  # b-jet efficiencies at which the light mistag is quoted


@dataclass(eq=False)
class RocCurve:
    """Signal efficiency vs background efficiency of a tagger score."""

    signal_eff: np.ndarray
    background_eff: np.ndarray
    auc: float
    n_signal: int
    n_background: int

    def mistag_at(self, signal_eff: float) -> float:
        """Background efficiency at the score cut that keeps ``signal_eff`` of the signal."""
        order = np.argsort(self.signal_eff)
        return float(np.interp(signal_eff, self.signal_eff[order], self.background_eff[order]))


def tagger_roc(score: np.ndarray, is_signal: np.ndarray, *, points: int = 200) -> RocCurve:
    """ROC curve of a tagger: efficiencies of the cut ``score > t`` for signal and background.

    Cuts are at ``points`` quantiles of the signal scores, so the curve is resolved where the
    signal is. Requires both classes.
    """
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(is_signal, dtype=bool)
    ok = np.isfinite(s)
    s, y = s[ok], y[ok]
    if y.all() or not y.any():
        msg = "a ROC curve needs both signal and background entries"
        raise ValueError(msg)
    cuts = np.unique(np.quantile(s[y], np.linspace(0, 1, points)))
    sig, bkg = np.sort(s[y]), np.sort(s[~y])
    sig_eff = 1 - np.searchsorted(sig, cuts, side="right") / sig.size
    bkg_eff = 1 - np.searchsorted(bkg, cuts, side="right") / bkg.size
    # From "keep everything"; no artificial (0, 0) end: a score that saturates (many entries at
    # its maximum) cannot reach a lower signal efficiency, and the curve must say so.
    sig_eff = np.concatenate([[1.0], sig_eff])
    bkg_eff = np.concatenate([[1.0], bkg_eff])
    return RocCurve(sig_eff, bkg_eff, roc_auc(s, y), int(y.sum()), int((~y).sum()))


def tagger_summary(flash: RocCurve, full: RocCurve) -> dict[str, float]:
    """AUCs and the background efficiency at fixed signal efficiencies, flash and full."""
    out = {"auc_flash": flash.auc, "auc_full": full.auc}
    for wp in _WORKING_POINTS:
        out[f"mistag_at_{wp:g}_flash"] = flash.mistag_at(wp)
        out[f"mistag_at_{wp:g}_full"] = full.mistag_at(wp)
    return out


@dataclass(eq=False)
class ResponseCurve:
    """Median and resolution of a response (reco/gen) in bins of a gen variable."""

    edges: np.ndarray
    median: np.ndarray
    median_error: np.ndarray
    resolution: np.ndarray
    resolution_error: np.ndarray


def response_curve(
    x: np.ndarray, response: np.ndarray, edges: Sequence[float], *, groups: np.ndarray
) -> ResponseCurve:
    """Scale and resolution of ``response`` in bins of ``x``.

    Scale: the median; resolution: ``(q84 - q16) / 2``, robust against the tails. Errors are
    the large-sample ones for a Gaussian core, ``1.253 sigma / sqrt(n)`` for the median and
    ``sigma / sqrt(2 n)`` for the width, with ``n`` the effective number of independent gen
    events in the bin (:func:`~flashsim.validation.metrics.n_effective`).
    """
    e = np.asarray(edges, dtype=np.float64)
    nb = e.size - 1
    idx = np.searchsorted(e, x, side="right") - 1
    arrays = [np.full(nb, np.nan) for _ in range(4)]
    median, median_err, res, res_err = arrays
    for i in range(nb):
        sel = (idx == i) & np.isfinite(response)
        if sel.sum() < 10:
            continue
        q16, q50, q84 = np.quantile(response[sel], [0.16, 0.5, 0.84])
        n = max(n_effective(groups[sel]), 1.0)
        sigma = (q84 - q16) / 2
        median[i], res[i] = q50, sigma
        median_err[i], res_err[i] = 1.2533 * sigma / np.sqrt(n), sigma / np.sqrt(2 * n)
    return ResponseCurve(e, median, median_err, res, res_err)

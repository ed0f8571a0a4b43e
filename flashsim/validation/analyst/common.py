"""What every number of the physics summary is: a flash/full difference, its error, its gate.

Each quantity of the summary (:mod:`flashsim.validation.analyst`) is measured on flash and on
full simulation with a statistical error, and compared as a difference ``Δ`` (a ratio minus
one in %, or an absolute difference) with the error ``sigma`` of the two independent measurements
combined. It is gated as an equivalence test: the check's value is

    z = (|Δ| − tolerance) / sigma,

how many standard errors the difference lies beyond the tolerance of its quantity
(:data:`TOLERANCES`). The default gate (:data:`~flashsim.validation.gate.DEFAULT_THRESHOLDS`)
fails at ``z > 3``: the difference is larger than the tolerance, and significantly so. A
perfect flash simulation passes at any sample size (a tolerance plus 3 sigma is never exceeded by
chance but about once in a thousand checks), and a real difference fails once the sample is
large enough to see it: the smallest difference a check can detect is
``tolerance + z_max · sigma`` (:func:`detectable`), which the statistical-power line reports.

Flash and full simulation of the same gen events share their gen-level fluctuations; the
errors treat them as independent, which is conservative.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flashsim.validation.gate import Check, Threshold

__all__ = [
    "DEFAULT_SIGMA",
    "TOLERANCES",
    "Measurement",
    "detectable",
    "gate_text",
    "sigma_limit",
]

TOLERANCES: Mapping[str, float] = {
    "jes": 1.0,
    "jer": 10.0,
    "btag_sf": 5.0,
    "mistag_sf": 10.0,
    "lepton_sf": 2.0,
    "met_response": 2.0,
    "met_resolution": 10.0,
    "pileup_jets": 10.0,
}
"""Largest acceptable flash-vs-full difference of each gated quantity, in % (the unit of its Δ).

* ``jes``: median jet pT response (reco/gen), flash/full − 1: 1% (jet energy scale
  uncertainties of LHC analyses are 1-3%);
* ``jer``: 16-84% half-width of the response, flash/full − 1: 10% (jet energy resolution
  data/simulation scale factors differ from 1 by 5-20%);
* ``btag_sf``: b-tag efficiency at a working point, flash/full − 1: 5%;
* ``mistag_sf``: c and light mistag rates, flash/full − 1: 10% (data/simulation mistag
  scale factors are known to 5-20%);
* ``lepton_sf``: lepton ID and isolation efficiencies, flash/full − 1: 2%;
* ``met_response``: MET response along the hadronic recoil, flash − full: 2% (absolute);
* ``met_resolution``: MET resolution along and across the recoil, flash/full − 1: 10%;
* ``pileup_jets``: mean number of pile-up (unmatched) jets per event, flash/full − 1: 10%.
"""

DEFAULT_SIGMA = 3.0
"""Default gate: a difference fails when it exceeds its tolerance by more than this many sigma."""


def sigma_limit(metric: str, thresholds: Sequence[Threshold] | None) -> float:
    """The strictest z threshold on ``metric`` at any place (default :data:`DEFAULT_SIGMA`)."""
    limits = [t.value for t in thresholds or () if t.metric == metric]
    return min(limits) if limits else DEFAULT_SIGMA


def detectable(metric: str, sigma: float, z_max: float) -> float:
    """The smallest difference (in the unit of Δ) that check ``metric`` with error ``sigma``
    fails on at ``z > z_max``: ``tolerance + z_max · sigma``."""
    return TOLERANCES[metric] + z_max * sigma


def gate_text(check: Check, thresholds: Sequence[Threshold]) -> str:
    """``PASS``, ``FAIL`` or ``-`` (not judged) of one check."""
    verdict = check.fails(thresholds)
    return "-" if verdict is None else ("FAIL" if verdict else "PASS")


@dataclass
class Measurement:
    """One quantity measured on flash and full simulation and their difference.

    Attributes:
        metric: the gate metric (a key of :data:`TOLERANCES`).
        where: the check's place (``Jet/jes/b/pt30-50/eta0-1.3``).
        quantity, bin, flavour: what the report's table says it is.
        flash, flash_error, full, full_error: the two measurements.
        delta, error: the difference in % (``ratio`` or absolute ``× 100``) and its error.
        n_flash, n_full: entries measured (objects, events).
        extra: more numbers for ``metrics.json``.
    """

    metric: str
    where: str
    quantity: str
    bin: str
    flavour: str
    flash: float
    flash_error: float
    full: float
    full_error: float
    delta: float = float("nan")
    error: float = float("nan")
    n_flash: int = 0
    n_full: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def compare(
        cls,
        metric: str,
        where: str,
        labels: tuple[str, str, str],
        flash: tuple[float, float],
        full: tuple[float, float],
        counts: tuple[int, int],
        *,
        ratio: bool = True,
    ) -> Measurement:
        """Δ = flash/full − 1 (``ratio``) or flash − full, in %, with the errors combined."""
        (f, fe), (r, re_) = flash, full
        if ratio:
            ok = np.isfinite(f) and np.isfinite(r) and r != 0 and f != 0
            delta = (f / r - 1) * 100 if ok else float("nan")
            error = abs(f / r) * float(np.hypot(fe / f, re_ / r)) * 100 if ok else float("nan")
        else:
            delta, error = (f - r) * 100, float(np.hypot(fe, re_)) * 100
        return cls(metric, where, *labels, f, fe, r, re_, delta, error, *counts)

    @property
    def z(self) -> float:
        """``(|Δ| − tolerance) / sigma``: NaN without a finite, positive error."""
        if not (np.isfinite(self.delta) and np.isfinite(self.error) and self.error > 0):
            return float("nan")
        return (abs(self.delta) - TOLERANCES[self.metric]) / self.error

    @property
    def check(self) -> Check:
        """The gated number: :attr:`z` of :attr:`metric` at :attr:`where`."""
        return Check(self.metric, self.where, self.z)

    def to_dict(self) -> dict[str, Any]:
        """The numbers, for ``metrics.json``."""
        return {
            "metric": self.metric,
            "where": self.where,
            "quantity": self.quantity,
            "bin": self.bin,
            "flavour": self.flavour,
            "flash": self.flash,
            "flash_error": self.flash_error,
            "full": self.full,
            "full_error": self.full_error,
            "delta_percent": self.delta,
            "error_percent": self.error,
            "tolerance_percent": TOLERANCES[self.metric],
            "z": self.z,
            "n_flash": self.n_flash,
            "n_full": self.n_full,
            **self.extra,
        }

    def row(self, thresholds: Sequence[Threshold], z_max: float) -> dict[str, Any]:
        """The report's table row (short strings; the same keys for every row)."""
        finite = np.isfinite(self.delta)
        return {
            "quantity": self.quantity,
            "bin": self.bin,
            "flavour": self.flavour,
            "flash": _short(self.flash, self.flash_error),
            "full": _short(self.full, self.full_error),
            "difference": f"{self.delta:+.1f}%" if finite else "n/a",
            "error": f"{self.error:.1f}%" if np.isfinite(self.error) else "n/a",
            "tolerance": f"{TOLERANCES[self.metric]:g}%",
            "detectable": (
                f"{detectable(self.metric, self.error, z_max):.1f}%"
                if np.isfinite(self.error)
                else "n/a"
            ),
            "z": round(self.z, 2) if np.isfinite(self.z) else "n/a",
            "gate": gate_text(self.check, thresholds),
            "where": self.where,
        }


def _short(value: float, error: float) -> str:
    """``value ± error`` with 3 significant digits of the error's scale."""
    if not np.isfinite(value):
        return "n/a"
    if not np.isfinite(error) or error <= 0:
        return f"{value:.4g}"
    digits = max(0, 2 - int(np.floor(np.log10(error))))
    return f"{value:.{digits}f} ± {error:.{digits}f}"

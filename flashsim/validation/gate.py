"""Pass/fail thresholds on validation metrics: the report's colours and the ``--fail-above`` gate.

Every gated number of a validation is a :class:`Check` (a metric, where it was measured, its
value). A :class:`Threshold` is the largest acceptable value of a metric, for all checks or
for those whose place matches a pattern (``w1_ratio[Jet/pt]=2``); a check fails when its value
exceeds a threshold that applies to it. Metrics:

* ``auc``: classifier two-sample ROC AUC of a collection (0.5: indistinguishable);
* ``w1_ratio``: Wasserstein-1 distance of a target divided by its statistical (permutation)
  floor (~1: as close as two samples of one distribution);
* ``eff_chi2``: chi2/ndf between the flash and full efficiency curves;
* ``ks``: Kolmogorov-Smirnov statistic of a target (the largest CDF difference);
* ``corr``: the largest absolute difference between the flash and full correlation matrices
  of a collection's targets;
* ``tells``: the number of exact tells of a branch (:mod:`flashsim.validation.tells`: values,
  point masses or ranges flash writes and full simulation never does, or the reverse), one
  check per branch both files have, placed at the branch name (``Muon_mass``, ``nJet``);
  ``tells=0`` fails on any.

The physics summary (:mod:`flashsim.validation.analyst`) adds one metric per quantity in the
analyst's units, each the flash-vs-full difference's excess over its tolerance in standard
errors, ``z = (|Δ| − tolerance) / sigma`` (tolerances in
:data:`flashsim.validation.analyst.common.TOLERANCES`; default gate ``z > 3``): ``jes``,
``jer`` (jet energy scale and resolution per pT × |η| bin and flavour, places like
``Jet/jes/b/pt30-50/eta0-1.3``), ``btag_sf``, ``mistag_sf`` (``Jet/mistag_sf/medium/c``),
``lepton_sf`` (``Muon/lepton_sf/id/pt20-35``), ``met_response``, ``met_resolution``
(``MET/met_resolution/perp/u25-50``) and ``pileup_jets``; and ``pileup_chi2``, the χ²/ndf of
the pile-up jet multiplicity (no default threshold).
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from flashsim.exceptions import ConfigurationError

__all__ = [
    "DEFAULT_THRESHOLDS",
    "METRICS",
    "Check",
    "Threshold",
    "failed_checks",
    "parse_thresholds",
    "unmatched_thresholds",
]

METRICS: Mapping[str, str] = {
    "auc": "classifier two-sample ROC AUC",
    "w1_ratio": "Wasserstein-1 distance / its statistical floor",
    "eff_chi2": "efficiency-curve chi2/ndf",
    "ks": "Kolmogorov-Smirnov statistic",
    "corr": "largest |difference| of correlation coefficients",
    "tells": "exact tells of a branch (values, point masses, ranges full never writes)",
    "jes": "jet energy scale flash/full - 1: sigmas beyond its tolerance",
    "jer": "jet energy resolution flash/full - 1: sigmas beyond its tolerance",
    "btag_sf": "b-tag efficiency scale factor flash/full: sigmas beyond its tolerance",
    "mistag_sf": "c/light mistag scale factor flash/full: sigmas beyond its tolerance",
    "lepton_sf": "lepton ID/isolation scale factor flash/full: sigmas beyond its tolerance",
    "met_response": "MET response along the recoil, flash - full: sigmas beyond its tolerance",
    "met_resolution": "MET resolution flash/full - 1: sigmas beyond its tolerance",
    "pileup_jets": "pile-up jets per event flash/full - 1: sigmas beyond its tolerance",
    "pileup_chi2": "chi2/ndf of the pile-up jet multiplicity",
}
"""The gateable metrics and what they are."""


@dataclass(frozen=True)
class Threshold:
    """The largest acceptable value of ``metric`` at the checks whose ``where`` matches ``scope``.

    ``scope`` is a shell-style pattern (:mod:`fnmatch`; ``*`` also matches ``/``): ``*`` for all,
    ``Jet`` for the jet classifier test, ``Jet/pt`` for one target, ``Muon/*`` for all muon ones.
    """

    metric: str
    value: float
    scope: str = "*"

    def applies(self, check: Check) -> bool:
        """Whether this threshold judges ``check``."""
        return check.metric == self.metric and fnmatch.fnmatchcase(check.where, self.scope)

    def __str__(self) -> str:
        scope = "" if self.scope == "*" else f"[{self.scope}]"
        return f"{self.metric}{scope}={self.value:g}"


DEFAULT_THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("auc", 0.6),
    Threshold("w1_ratio", 3.0),
    Threshold("eff_chi2", 2.0),
    Threshold("tells", 0.0),
    *(
        Threshold(m, 3.0)
        for m in (
            "jes",
            "jer",
            "btag_sf",
            "mistag_sf",
            "lepton_sf",
            "met_response",
            "met_resolution",
            "pileup_jets",
        )
    ),
)
"""The flash-pipeline acceptance bars; used to colour a report when no gate is given. The
physics summary's metrics fail 3 sigma beyond their tolerances."""


@dataclass(frozen=True)
class Check:
    """One gated number: ``metric`` measured at ``where`` (``Jet``, ``Jet/pt``, ...)."""

    metric: str
    where: str
    value: float

    def fails(self, thresholds: Sequence[Threshold]) -> bool | None:
        """Whether the value exceeds a threshold that applies; None if none applies or NaN."""
        limits = [t.value for t in thresholds if t.applies(self)]
        if not limits or math.isnan(self.value):
            return None
        return self.value > min(limits)

    def limit(self, thresholds: Sequence[Threshold]) -> float | None:
        """The strictest threshold that applies, or None."""
        limits = [t.value for t in thresholds if t.applies(self)]
        return min(limits) if limits else None


_ENTRY = re.compile(r"^(?P<metric>[a-z0-9_]+)(\[(?P<scope>[^\]]+)\])?$")


def parse_thresholds(text: str) -> list[Threshold]:
    """Parse ``"auc=0.6,w1_ratio=3,w1_ratio[Jet/pt]=2"`` into :class:`Threshold` objects;
    the entry ``defaults`` stands for :data:`DEFAULT_THRESHOLDS` (``defaults,auc=0.55``).

    Raises:
        ConfigurationError: an entry is not ``metric=number`` or ``metric[scope]=number``, or
            names an unknown metric.
    """
    out: list[Threshold] = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        if entry == "defaults":
            out += DEFAULT_THRESHOLDS
            continue
        name, sep, value = entry.rpartition("=")
        match = _ENTRY.match(name.strip())
        if not sep or match is None:
            msg = (
                f"--fail-above entry {entry!r} is not metric=value or metric[scope]=value "
                "(e.g. auc=0.6,w1_ratio=3,w1_ratio[Jet/pt]=2)"
            )
            raise ConfigurationError(msg)
        metric = match["metric"]
        if metric not in METRICS:
            known = ", ".join(f"{k} ({v})" for k, v in METRICS.items())
            msg = f"--fail-above: unknown metric {metric!r}; known metrics: {known}"
            raise ConfigurationError(msg)
        try:
            limit = float(value)
        except ValueError:
            msg = f"--fail-above: the threshold of {metric!r} must be a number, got {value!r}"
            raise ConfigurationError(msg) from None
        if not math.isfinite(limit):
            msg = f"--fail-above: the threshold of {metric!r} must be finite, got {value!r}"
            raise ConfigurationError(msg)
        out.append(Threshold(metric, limit, (match["scope"] or "*").strip()))
    if not out:
        msg = "--fail-above needs at least one metric=value (e.g. auc=0.6,w1_ratio=3)"
        raise ConfigurationError(msg)
    return out


def failed_checks(checks: Iterable[Check], thresholds: Sequence[Threshold]) -> list[Check]:
    """The checks whose value exceeds a threshold that applies to them."""
    return [c for c in checks if c.fails(thresholds)]


def unmatched_thresholds(
    thresholds: Sequence[Threshold], checks: Sequence[Check]
) -> list[Threshold]:
    """Thresholds that judge no check (a misspelt scope, or a metric that was not computed)."""
    return [t for t in thresholds if not any(t.applies(c) for c in checks)]

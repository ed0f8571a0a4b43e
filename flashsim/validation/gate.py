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
)
"""The flash-pipeline acceptance bars; used to colour a report when no gate is given."""


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
    """Parse ``"auc=0.6,w1_ratio=3,w1_ratio[Jet/pt]=2"`` into :class:`Threshold` objects.

    Raises:
        ConfigurationError: an entry is not ``metric=number`` or ``metric[scope]=number``, or
            names an unknown metric.
    """
    out: list[Threshold] = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
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

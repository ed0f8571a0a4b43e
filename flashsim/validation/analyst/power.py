"""Statistical power of the physics summary: what difference each gated quantity can detect.

A check of the summary fails when its difference exceeds the quantity's tolerance by more than
``z_max`` standard errors (:mod:`flashsim.validation.analyst.common`), so the smallest
difference it can detect is ``tolerance + z_max · sigma``. Per metric the power line quotes that
of its best-measured place (the smallest sigma) and the median over its places. When even the best
place cannot detect twice the tolerance (``z_max · sigma > tolerance``), the samples are too small
for the thresholds asked: a PASS then says little, and the summary warns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from flashsim.validation.analyst.common import TOLERANCES, Measurement, detectable, sigma_limit
from flashsim.validation.gate import Threshold

__all__ = ["LABELS", "power_summary", "power_warnings"]

LABELS = {
    "jes": "JES",
    "jer": "JER",
    "btag_sf": "b-tag SF",
    "mistag_sf": "mistag SF",
    "lepton_sf": "lepton ID/iso SF",
    "met_response": "MET response",
    "met_resolution": "MET resolution",
    "pileup_jets": "pile-up jets",
}
"""Short names of the gated quantities."""


def power_summary(
    measurements: Sequence[Measurement], thresholds: Sequence[Threshold] | None
) -> dict[str, dict[str, Any]]:
    """Per metric: ``z_max``, ``tolerance``, the best and median detectable difference (in %),
    its place, and ``low_power`` (the best place cannot detect twice the tolerance)."""
    out: dict[str, dict[str, Any]] = {}
    for metric in TOLERANCES:
        errors = [
            (m.error, m.where)
            for m in measurements
            if m.metric == metric and np.isfinite(m.error) and m.error > 0
        ]
        if not errors:
            continue
        z_max = sigma_limit(metric, thresholds)
        best, where = min(errors)
        median = float(np.median([e for e, _ in errors]))
        out[metric] = {
            "z_max": z_max,
            "tolerance": TOLERANCES[metric],
            "detectable_best": detectable(metric, best, z_max),
            "detectable_median": detectable(metric, median, z_max),
            "best_place": where,
            "places": len(errors),
            "low_power": bool(z_max * best > TOLERANCES[metric]),
        }
    return out


def power_warnings(power: dict[str, dict[str, Any]], n_events: tuple[int, int]) -> list[str]:
    """One warning per metric whose samples are too small for its threshold (empty if none)."""
    low = [m for m, p in power.items() if p["low_power"]]
    if not low:
        return []
    parts = ", ".join(
        f"{LABELS[m]} {power[m]['detectable_best']:.3g}% (tolerance {power[m]['tolerance']:g}%)"
        for m in low
    )
    return [
        f"low statistical power: {n_events[0]} flash and {n_events[1]} full events cannot "
        f"detect a difference of twice the tolerance; the smallest detectable differences are "
        f"{parts}; a PASS of these checks says little: validate on more events"
    ]

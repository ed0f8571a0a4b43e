"""b-tagging at working points defined on full simulation, as flash/full scale factors.

A working point is the cut on the b-tag score that keeps a given fraction of the b jets of the
FULL simulation (loose, medium, tight: 85, 70, 55% by default), measured on matched jets with
gen pT > 20 GeV and |η| < 2.5, the tracker's acceptance. At the same cut, the b-tag
efficiency and the c and light mistag rates are measured on flash and on full simulation with
binomial errors (the gen event the independent unit:
:func:`~flashsim.validation.physics_checks.tag_efficiency`), and compared as data/MC-style
scale factors ``SF = flash / full``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flashsim.validation.analyst.common import Measurement
from flashsim.validation.analyst.jets import FLAVOURS, JetInputs
from flashsim.validation.physics_checks import tag_efficiency, working_point

__all__ = ["DEFAULT_WORKING_POINTS", "btag_scale_factors", "wp_name"]

DEFAULT_WORKING_POINTS = (0.85, 0.70, 0.55)
"""b-jet efficiencies (on full simulation) of the loose, medium and tight working points."""

_MIN_B_JETS = 20
"""Fewest b jets of the full simulation to define a working point on."""


def wp_name(efficiency: float, efficiencies: Sequence[float]) -> str:
    """``loose``/``medium``/``tight`` for the three default efficiencies, else ``eff70``."""
    if tuple(efficiencies) == DEFAULT_WORKING_POINTS:
        return ("loose", "medium", "tight")[DEFAULT_WORKING_POINTS.index(efficiency)]
    return f"eff{efficiency * 100:g}"


def _score_name(scores: dict[str, np.ndarray]) -> str | None:
    """The b-tag score: ``btagDeepFlavB`` if there, else the first ``btag*B`` target."""
    if "btagDeepFlavB" in scores:
        return "btagDeepFlavB"
    return next((n for n in scores if n.endswith("B")), None)


def btag_scale_factors(
    name: str,
    flash: JetInputs,
    full: JetInputs,
    *,
    efficiencies: Sequence[float] = DEFAULT_WORKING_POINTS,
) -> list[Measurement]:
    """b-tag efficiency and mistag scale factors at each working point (module docstring).

    Empty when the collection has no b-tag score or no hadron flavour, or too few b jets.
    """
    score = _score_name(full.scores)
    if score is None or score not in flash.scores or flash.flavour is None:
        return []
    assert full.flavour is not None
    acc = [(s.pt >= 20) & (s.abs_eta < 2.5) for s in (flash, full)]
    b_full = full.scores[score][acc[1] & np.isin(full.flavour, FLAVOURS["b"])]
    if b_full.size < _MIN_B_JETS:
        return []
    out: list[Measurement] = []
    for eff in efficiencies:
        cut, achieved = working_point(b_full, eff)
        wp = wp_name(eff, efficiencies)
        for flav, codes in FLAVOURS.items():
            values, counts = [], []
            for s, a in zip((flash, full), acc, strict=True):
                sel = a & np.isin(s.flavour, codes)
                values.append(tag_efficiency(s.scores[score][sel] >= cut, s.groups[sel]))
                counts.append(int(sel.sum()))
            metric = "btag_sf" if flav == "b" else "mistag_sf"
            what = "b-tag efficiency" if flav == "b" else f"{flav} mistag rate"
            m = Measurement.compare(
                metric,
                f"{name}/{metric}/{wp}/{flav}",
                (
                    f"{what} SF (flash/full) at {wp} WP",
                    f"{score} >= {cut:.4g} (full b eff {achieved:.1%})",
                    flav,
                ),
                values[0],
                values[1],
                (counts[0], counts[1]),
            )
            m.extra = {"working_point": wp, "cut": cut, "full_b_efficiency": achieved}
            out.append(m)
    return out

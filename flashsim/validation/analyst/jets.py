"""Jet energy scale and resolution, flash vs full, per gen pT × |η| bin and per flavour.

The response of a matched jet is reco pT / gen pT. Per bin of the gen jet's pT and |η| and per
hadron flavour of the gen jet (b, c, light), the scale is the median response and the
resolution the 16-84% half-width ``(q84 − q16) / 2`` (robust against the tails), both with
Poisson-bootstrap errors over the gen events
(:func:`~flashsim.validation.physics_checks.resolution_widths`). The summary compares them as
``JES = median_flash / median_full − 1`` and ``JER = width_flash / width_full − 1``, in %, in
every bin and inclusively per flavour (all pT, |η| < 2.5).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flashsim.features import CollectionTable, model_targets
from flashsim.spec import CollectionSpec
from flashsim.validation.analyst.common import Measurement
from flashsim.validation.physics_checks import resolution_widths
from flashsim.validation.samples import ValidationSample

__all__ = ["ETA_EDGES", "FLAVOURS", "MIN_JETS", "PT_EDGES", "jet_inputs", "jet_scale"]

PT_EDGES = (20.0, 30.0, 50.0, 100.0, 200.0, np.inf)
"""Gen jet pT bins [GeV] of the JES and JER."""
ETA_EDGES = (0.0, 1.3, 2.5, 4.7)
"""Gen jet |η| bins: barrel, endcap within the tracker, beyond it."""
FLAVOURS = {"b": (5,), "c": (4,), "light": (0, 1, 2, 3)}
"""Hadron flavours of the gen jet (light: anything else)."""
MIN_JETS = 50
"""Fewest jets of each sample in a bin for a JES/JER measurement (quantile errors of fewer
are unreliable)."""


class JetInputs:
    """The matched jets of one sample: gen pT, |η|, hadron flavour, response, b-tag scores."""

    def __init__(
        self, sample: ValidationSample, cs: CollectionSpec, table: CollectionTable
    ) -> None:
        cond = [c.name for c in cs.conditions]
        targets = [t.name for t in model_targets(cs.targets)]
        matched = table.label > 0
        c = table.conditions[matched]
        self.pt = c[:, cond.index("pt")]
        eta = cond.index("abs_eta") if "abs_eta" in cond else cond.index("eta")
        self.abs_eta = np.abs(c[:, eta])
        self.flavour = (
            np.abs(c[:, cond.index("hadronFlavour")]).astype(np.int64)
            if "hadronFlavour" in cond
            else None
        )
        self.response = table.targets[:, targets.index("pt")]
        self.scores = {
            n: table.targets[:, i] for i, n in enumerate(targets) if n.startswith("btag")
        }
        self.groups = sample.groups[table.event[matched]]


def jet_inputs(sample: ValidationSample, cs: CollectionSpec) -> JetInputs | None:
    """The matched jets of collection ``cs`` of ``sample``, or None when the spec lacks what
    the summary needs (a ``pt`` ratio target, ``pt`` and ``eta`` conditions)."""
    cond = {c.name for c in cs.conditions}
    ratio = {t.name for t in model_targets(cs.targets) if t.kind == "ratio"}
    if "pt" not in ratio or "pt" not in cond or not cond & {"eta", "abs_eta"}:
        return None
    return JetInputs(sample, cs, sample.tables[cs.name])


def _bin_label(lo: float, hi: float, elo: float, ehi: float) -> tuple[str, str]:
    pt = f"pT>{lo:g}" if not np.isfinite(hi) else f"{lo:g}<pT<{hi:g}"
    eta = f"|eta|<{ehi:g}" if elo == 0 else f"{elo:g}<|eta|<{ehi:g}"
    key = f"pt{lo:g}-{hi:g}/eta{elo:g}-{ehi:g}"
    return f"{pt}, {eta}", key


def jet_scale(
    name: str,
    flash: JetInputs,
    full: JetInputs,
    *,
    rng: np.random.Generator,
    n_boot: int = 100,
) -> list[Measurement]:
    """JES and JER measurements of collection ``name`` (see the module docstring).

    Bins with fewer than :data:`MIN_JETS` jets in either sample are left out.
    """
    out: list[Measurement] = []
    flavours: Sequence[tuple[str, tuple[int, ...] | None]] = (
        list(FLAVOURS.items()) if flash.flavour is not None else [("all", None)]
    )
    cells = [
        (PT_EDGES[i], PT_EDGES[i + 1], ETA_EDGES[j], ETA_EDGES[j + 1])
        for j in range(len(ETA_EDGES) - 1)
        for i in range(len(PT_EDGES) - 1)
    ]
    cells.append((PT_EDGES[0], np.inf, 0.0, 2.5))  # inclusive, within the tracker
    for flav, codes in flavours:
        for lo, hi, elo, ehi in cells:
            sel = []
            for s in (flash, full):
                m = (s.pt >= lo) & (s.pt < hi) & (s.abs_eta >= elo) & (s.abs_eta < ehi)
                if codes is not None and s.flavour is not None:
                    m &= np.isin(s.flavour, codes)
                sel.append(m)
            nf, nr = int(sel[0].sum()), int(sel[1].sum())
            if min(nf, nr) < MIN_JETS:
                continue
            wf = resolution_widths(
                flash.response[sel[0]], groups=flash.groups[sel[0]], rng=rng, n_boot=n_boot
            )
            wr = resolution_widths(
                full.response[sel[1]], groups=full.groups[sel[1]], rng=rng, n_boot=n_boot
            )
            label, key = _bin_label(lo, hi, elo, ehi)
            if (lo, hi, elo, ehi) == cells[-1]:
                label, key = f"pT>{lo:g}, |eta|<2.5 (inclusive)", "inclusive"
            for metric, stat, what in (
                ("jes", "median", "JES: median pT response, flash/full − 1"),
                ("jer", "w68", "JER: response 16-84% half-width, flash/full − 1"),
            ):
                out.append(
                    Measurement.compare(
                        metric,
                        f"{name}/{metric}/{flav}/{key}",
                        (what, label, flav),
                        (wf[stat], wf[f"{stat}_error"]),
                        (wr[stat], wr[f"{stat}_error"]),
                        (nf, nr),
                    )
                )
    return out

"""Lepton identification and isolation efficiencies, flash/full, vs pT and |η|.

On the gen-matched prompt leptons of a lepton collection (one simulated from gen particles
with |pdgId| 11 or 13; prompt where the spec has an ``isPrompt`` condition), the ID efficiency
is the fraction in the top ID class of its efficiency stage (``Muon_tightId`` = 1,
``Electron_cutBased`` = 4, tight) and the isolation efficiency the fraction of those that are
isolated (:data:`ISOLATION`: the relative PF isolation below the usual tight cut). Both in bins
of gen pT (|η| < 2.5) and of gen |η| (pT > 20 GeV), and inclusively (pT > 20 GeV), with
binomial errors; compared as scale factors ``flash / full``. A collection without ID classes or
isolation target is skipped for that part.
"""

from __future__ import annotations

import itertools

import numpy as np

from flashsim.features import model_targets
from flashsim.spec import CollectionSpec
from flashsim.validation.analyst.common import Measurement
from flashsim.validation.physics_checks import tag_efficiency
from flashsim.validation.samples import ValidationSample

__all__ = ["ETA_EDGES", "ISOLATION", "PT_EDGES", "is_lepton", "lepton_scale_factors"]

ISOLATION = {"Muon": ("pfRelIso04_all", 0.15), "Electron": ("pfRelIso03_all", 0.10)}
"""Isolation variable and cut (isolated below it) per collection; others use the first of these
variables they have, with its cut."""
PT_EDGES = (10.0, 20.0, 35.0, 50.0, 100.0, np.inf)
"""Gen pT bins [GeV]."""
ETA_EDGES = (0.0, 0.9, 1.5, 2.5)
"""Gen |η| bins."""
_MIN_LEPTONS = 30
"""Fewest leptons of each sample in a bin."""


def is_lepton(cs: CollectionSpec) -> bool:
    """Whether the collection is simulated from gen electrons or muons."""
    ids = cs.source.pdg_id
    return ids is not None and bool(ids) and set(map(abs, ids)) <= {11, 13}


class _Leptons:
    def __init__(self, sample: ValidationSample, cs: CollectionSpec) -> None:
        table = sample.tables[cs.name]
        cond = [c.name for c in cs.conditions]
        targets = [t.name for t in model_targets(cs.targets)]
        keep = table.label > 0
        if "isPrompt" in cond:
            keep &= table.conditions[:, cond.index("isPrompt")] > 0.5
        c = table.conditions[keep]
        self.pt = c[:, cond.index("pt")]
        eta = cond.index("abs_eta") if "abs_eta" in cond else cond.index("eta")
        self.abs_eta = np.abs(c[:, eta])
        n_classes = len(cs.efficiency.class_values or ())
        self.id = table.label[keep] == n_classes if n_classes > 1 else None
        self.groups = sample.groups[table.event[keep]]
        iso = ISOLATION.get(cs.name)
        if iso is None or iso[0] not in targets:
            iso = next((v for v in ISOLATION.values() if v[0] in targets), None)
        self.iso_name = None if iso is None else f"{iso[0]} < {iso[1]:g}"
        self.iso = None
        if iso is not None:
            # targets hold the matched objects in the table's order: the same selection
            rows = keep[table.label > 0]
            self.iso = table.targets[rows, targets.index(iso[0])] < iso[1]


def _bins() -> list[tuple[str, str, float, float, float, float]]:
    out = []
    for lo, hi in itertools.pairwise(PT_EDGES):
        text = f"pT>{lo:g}" if not np.isfinite(hi) else f"{lo:g}<pT<{hi:g}"
        out.append((f"{text}, |eta|<2.5", f"pt{lo:g}-{hi:g}", lo, hi, 0.0, 2.5))
    for lo, hi in itertools.pairwise(ETA_EDGES):
        out.append((f"pT>20, {lo:g}<|eta|<{hi:g}", f"eta{lo:g}-{hi:g}", 20.0, np.inf, lo, hi))
    out.append(("pT>20, |eta|<2.5 (inclusive)", "inclusive", 20.0, np.inf, 0.0, 2.5))
    return out


def lepton_scale_factors(
    flash: ValidationSample, full: ValidationSample, cs: CollectionSpec
) -> list[Measurement]:
    """ID and isolation efficiency scale factors of lepton collection ``cs`` (module docs)."""
    cond = {c.name for c in cs.conditions}
    if "pt" not in cond or not cond & {"eta", "abs_eta"}:
        return []
    f, r = _Leptons(flash, cs), _Leptons(full, cs)
    out: list[Measurement] = []
    for label, key, lo, hi, elo, ehi in _bins():
        sel = [(s.pt >= lo) & (s.pt < hi) & (s.abs_eta >= elo) & (s.abs_eta < ehi) for s in (f, r)]
        parts = []
        if f.id is not None and r.id is not None:
            parts.append(("id", "ID efficiency (top ID class)", f.id, r.id, sel))
        if f.iso is not None and r.iso is not None:
            base = sel if f.id is None or r.id is None else [sel[0] & f.id, sel[1] & r.id]
            parts.append(("iso", f"isolation efficiency ({f.iso_name})", f.iso, r.iso, base))
        for kind, what, pf, pr, use in parts:
            nf, nr = int(use[0].sum()), int(use[1].sum())
            if min(nf, nr) < _MIN_LEPTONS:
                continue
            out.append(
                Measurement.compare(
                    "lepton_sf",
                    f"{cs.name}/lepton_sf/{kind}/{key}",
                    (f"{cs.name} {what} SF (flash/full)", label, "prompt"),
                    tag_efficiency(pf[use[0]], f.groups[use[0]]),
                    tag_efficiency(pr[use[1]], r.groups[use[1]]),
                    (nf, nr),
                )
            )
    return out

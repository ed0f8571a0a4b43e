"""Photon identification efficiency in the report: flash against full simulation.

For the prompt generated photons (``GenPart`` with ``pdgId`` 22, ``status`` 1 and the
``isPrompt`` bit 0 of ``statusFlags`` set, as :mod:`flashsim.validation.analyst.event` selects
prompt leptons), the fraction reconstructed as a ``Photon`` (``Photon_genPartIdx`` pointing to
it) with ``cutBased`` at or above each working point (``reco``: any, ``loose`` 1, ``medium``
2, ``tight`` 3; of several photons pointing to one gen photon, the best), vs gen pT (gen
|η| < 2.5) and vs gen |η| (gen pT > :data:`ETA_CURVE_MIN_PT`). Binomial errors with the gen
event as the independent unit (:func:`~flashsim.validation.metrics.binned_efficiency`); per
curve the χ²/ndf of :mod:`.rates` (bins with passing photons in either sample; acceptance
target χ²/ndf <= 2). The numbers go to ``metrics.json`` as ``Photon/id_eff_pt/<wp>`` and
``Photon/id_eff_abseta/<wp>``; not gated (yet).

Only when a file has a ``Photon`` collection; when one file lacks a branch this needs, the
section says so in a note instead.

References:
    CMS Collaboration, "Electron and photon reconstruction and identification with the CMS
    experiment at the CERN LHC", JINST 16 (2021) P05014 (cut-based photon ID working points).
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

from flashsim.generators.genlevel import FLAG_IS_PROMPT
from flashsim.validation.binning import DEFAULT_PT_EDGES, NARROW_ETA, PT_EDGES
from flashsim.validation.comparison import compare_efficiency
from flashsim.validation.result import Plot, PlotGroup, Section
from flashsim.validation.samples import ValidationSample
from flashsim.validation.sections.rates import (
    curve_metrics,
    flat_index,
    missing_note,
    read_branches,
)

__all__ = [
    "ETA_CURVE_MIN_PT",
    "PHOTON_BRANCHES",
    "PHOTON_WORKING_POINTS",
    "gen_photons",
    "photon_section",
]

PHOTON_WORKING_POINTS = {"reco": 0, "loose": 1, "medium": 2, "tight": 3}
"""The efficiency curves: name to the lowest ``Photon_cutBased`` that passes."""
ETA_CURVE_MIN_PT = 20.0
"""Gen pT [GeV] above which photons enter the efficiency vs |η| (above the turn-on)."""
MAX_ABS_ETA = 2.5
"""Gen |η| below which photons enter the efficiency vs pT (the tracker and ECAL acceptance)."""
PHOTON_BRANCHES = (
    "Photon_cutBased",
    "Photon_genPartIdx",
    "GenPart_pdgId",
    "GenPart_status",
    "GenPart_statusFlags",
    "GenPart_pt",
    "GenPart_eta",
)
"""The branches the section reads from each file."""


def gen_photons(ev: dict[str, ak.Array]) -> dict[str, np.ndarray | int]:
    """The prompt generated photons of events ``ev`` (the :data:`PHOTON_BRANCHES`).

    Returns:
        ``pt``, ``eta``, ``best`` (the highest ``cutBased`` of the photons pointing to each,
        -1 for none), ``event`` (its event) per gen photon, and ``bad_index``: photons whose
        ``genPartIdx`` lies beyond the event's ``GenPart`` (ignored).
    """
    n_gen = np.asarray(ak.num(ev["GenPart_pdgId"]), dtype=np.int64)

    def flat(name: str) -> np.ndarray:
        return np.asarray(ak.flatten(ev[name]))

    flags = flat("GenPart_statusFlags").astype(np.int64)
    prompt = (
        (flat("GenPart_pdgId") == 22)
        & (flat("GenPart_status") == 1)
        & (((flags >> FLAG_IS_PROMPT) & 1) == 1)
    )
    pos, valid, _ = flat_index(ev["Photon_genPartIdx"], n_gen)
    index = flat("Photon_genPartIdx").astype(np.int64)
    cut = flat("Photon_cutBased").astype(np.int64)
    best = np.full(int(n_gen.sum()), -1, dtype=np.int64)
    np.maximum.at(best, pos[valid], cut[valid])
    event = np.repeat(np.arange(n_gen.size), n_gen)
    return {
        "pt": flat("GenPart_pt").astype(np.float64)[prompt],
        "eta": flat("GenPart_eta").astype(np.float64)[prompt],
        "best": best[prompt],
        "event": event[prompt],
        "bad_index": int(np.sum((index >= 0) & ~valid)),
    }


def _has_photons(sample: ValidationSample) -> bool:
    return "nPhoton" in sample.branches or any(b.startswith("Photon_") for b in sample.branches)


def photon_section(
    flash: ValidationSample, full: ValidationSample
) -> tuple[dict[str, Any], Section] | None:
    """The metrics and the section of the module docstring; None when neither file has a
    ``Photon`` collection."""
    if not (_has_photons(flash) or _has_photons(full)):
        return None
    section = Section("Photons: identification efficiency", "Photon_id")
    note = missing_note("Photon ID efficiency", PHOTON_BRANCHES, flash, full)
    if note is not None:
        section.summary.append(("note", note, None))
        return {"notes": [note]}, section
    gf, gr = (gen_photons(read_branches(s, PHOTON_BRANCHES)) for s in (flash, full))
    out: dict[str, Any] = {
        "n_gen_photons": {"flash": int(gf["pt"].size), "full": int(gr["pt"].size)}
    }
    notes = [
        f"{n} {role} photons point beyond GenPart (genPartIdx); left out"
        for role, g in (("flash", gf), ("full-simulation", gr))
        if (n := g["bad_index"])
    ]
    if min(gf["pt"].size, gr["pt"].size) == 0:
        notes.append("no prompt generated photons (GenPart pdgId 22, status 1, isPrompt)")
    section.summary.append(
        (
            "prompt generated photons (flash / full)",
            f"{gf['pt'].size} / {gr['pt'].size}",
            None,
        )
    )
    group = PlotGroup("ID efficiency vs gen pT and |η|")
    groups = (flash.groups[gf["event"]], full.groups[gr["event"]])
    curves = (
        ("pt", "gen photon $p_T$", PT_EDGES.get("Photon", DEFAULT_PT_EDGES)),
        ("abseta", "gen photon |$\\eta$|", NARROW_ETA),
    )
    for var, label, edges in curves:
        xs, sels = [], []
        for g in (gf, gr):
            xs.append(g["pt"] if var == "pt" else np.abs(g["eta"]))
            sel = np.abs(g["eta"]) < MAX_ABS_ETA if var == "pt" else g["pt"] > ETA_CURVE_MIN_PT
            sels.append(sel)
        items = []
        for wp, lowest in PHOTON_WORKING_POINTS.items():
            where = f"Photon/id_eff_{var}/{wp}"
            comp = compare_efficiency(
                where,
                label,
                xs[0][sels[0]],
                gf["best"][sels[0]] >= lowest,
                xs[1][sels[1]],
                gr["best"][sels[1]] >= lowest,
                edges,
                flash_groups=groups[0][sels[0]],
                full_groups=groups[1][sels[1]],
                ylabel=f"efficiency, cutBased ≥ {lowest}",
                title=f"{wp} ({'reconstructed' if lowest == 0 else f'cutBased ≥ {lowest}'})",
            )
            m = curve_metrics(comp)
            out[where] = m
            section.summary.append(
                (
                    f"photon {wp} efficiency vs gen {'pT' if var == 'pt' else '|η|'}: χ²/ndf",
                    f"{m['chi2_ndf']:.2f} ({m['ndf']} bins)",
                    None,
                )
            )
            items.append(comp)
        group.plots.append(Plot(f"Photon/id_eff_{var}", "efficiency", tuple(items)))
    section.groups.append(group)
    if notes:
        out["notes"] = notes
        section.summary += [("note", n, None) for n in notes]
    return out, section

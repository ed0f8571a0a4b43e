"""MET along and across the hadronic recoil, and the pile-up jet multiplicity, flash vs full.

MET: the generated hadronic recoil is ``u_gen = −(GenMET + Σ prompt gen e, μ)`` (GenMET is
the sum of the neutrinos: what is left is everything visible but the prompt leptons, i.e. the
hadronic activity; in Z → ℓℓ it is minus the boson's pT). With the leptons taken at their
generated momenta, the reconstructed recoil is ``u = u_gen − (MET − GenMET)``: its component
along ``û_gen`` is ``u∥`` and across it ``u⊥``. Per bin of ``|u_gen|``, the response is the
median of ``u∥ / |u_gen|`` (compared as flash − full) and the resolutions the 16-84%
half-widths of ``u∥`` and ``u⊥`` [GeV] (compared as flash/full − 1), with Poisson-bootstrap
errors (:func:`~flashsim.validation.physics_checks.resolution_widths`).

Pile-up jets: reconstructed jets without a gen-jet match (``Jet_genJetIdx < 0``; jets above the
threshold the file was written with); their mean
number per event as flash/full − 1 (gated) and a χ² of the multiplicity distribution
(:func:`~flashsim.validation.physics_checks.histogram_chi2`, reported).
"""

from __future__ import annotations

import itertools
from typing import Any

import awkward as ak
import numpy as np

from flashsim.io import open_events, read_entries
from flashsim.validation.analyst.common import Measurement
from flashsim.validation.physics_checks import (
    grouped_mean,
    histogram_chi2,
    multiplicity_edges,
    resolution_widths,
)
from flashsim.validation.samples import ValidationSample

__all__ = ["RECOIL_EDGES", "event_inputs", "met_recoil", "pileup_jets"]

RECOIL_EDGES = (10.0, 25.0, 50.0, 100.0, 200.0, np.inf)
"""Bins of the generated hadronic recoil |u_gen| [GeV]."""
_MIN_EVENTS = 50
"""Fewest events of each sample in a recoil bin."""
_MET = ("MET_pt", "MET_phi", "GenMET_pt", "GenMET_phi")
_GEN = ("GenPart_pt", "GenPart_phi", "GenPart_pdgId", "GenPart_status", "GenPart_statusFlags")


def event_inputs(
    sample: ValidationSample, *, met: bool, jets: tuple[str, str] | None
) -> dict[str, Any]:
    """The branches the MET (with ``met``) and pile-up summaries (``jets``: the jet collection
    and its gen-match field) need, those the file has, per event."""
    wanted = [*_MET, *_GEN] if met else []
    if jets is not None:
        wanted.append(f"{jets[0]}_{jets[1]}")
    names = [b for b in wanted if b in sample.branches]
    if not names:
        return {}
    tree = open_events(sample.path)
    try:
        arrays = read_entries(tree, names, 0, sample.n_events)
        return {n: arrays[n] for n in names}
    finally:
        tree.file.close()


def _recoil(ev: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``|u_gen|``, ``u∥`` and ``u⊥`` per event (see the module docstring), or None."""
    if not all(b in ev for b in (*_MET, *_GEN)):
        return None
    gmet, gphi = (np.asarray(ev[b], dtype=np.float64) for b in ("GenMET_pt", "GenMET_phi"))
    met, mphi = (np.asarray(ev[b], dtype=np.float64) for b in ("MET_pt", "MET_phi"))
    lep = (
        (ev["GenPart_status"] == 1)
        & ((abs(ev["GenPart_pdgId"]) == 11) | (abs(ev["GenPart_pdgId"]) == 13))
        & ((ev["GenPart_statusFlags"] & 1) == 1)
    )
    pt, phi = ev["GenPart_pt"][lep], ev["GenPart_phi"][lep]
    lx = np.asarray(ak.sum(pt * np.cos(phi), axis=1), dtype=np.float64)
    ly = np.asarray(ak.sum(pt * np.sin(phi), axis=1), dtype=np.float64)
    ux, uy = -(gmet * np.cos(gphi) + lx), -(gmet * np.sin(gphi) + ly)
    u = np.hypot(ux, uy)
    with np.errstate(invalid="ignore", divide="ignore"):
        ex, ey = ux / u, uy / u
    dx, dy = met * np.cos(mphi) - gmet * np.cos(gphi), met * np.sin(mphi) - gmet * np.sin(gphi)
    return u, u - (dx * ex + dy * ey), -(dx * ey - dy * ex)


def met_recoil(
    flash: ValidationSample,
    full: ValidationSample,
    ev_flash: dict[str, Any],
    ev_full: dict[str, Any],
    *,
    rng: np.random.Generator,
    n_boot: int = 100,
) -> list[Measurement]:
    """MET response and resolutions vs the generated hadronic recoil (module docstring)."""
    rf, rr = _recoil(ev_flash), _recoil(ev_full)
    if rf is None or rr is None:
        return []
    out: list[Measurement] = []
    for lo, hi in itertools.pairwise(RECOIL_EDGES):
        sel = [(r[0] >= lo) & (r[0] < hi) for r in (rf, rr)]
        nf, nr = int(sel[0].sum()), int(sel[1].sum())
        if min(nf, nr) < _MIN_EVENTS:
            continue
        label = f"|u_gen|>{lo:g} GeV" if not np.isfinite(hi) else f"{lo:g}<|u_gen|<{hi:g} GeV"
        key = f"u{lo:g}-{hi:g}"
        parts = (
            ("met_response", "median", 1, "MET response: median u∥/|u_gen|, flash − full", "par"),
            ("met_resolution", "w68", 1, "MET resolution sigma(u∥) [GeV], flash/full − 1", "par"),
            ("met_resolution", "w68", 2, "MET resolution sigma(u⊥) [GeV], flash/full − 1", "perp"),
        )
        for metric, stat, col, what, comp in parts:
            w = []
            for r, s, sample in ((rf, sel[0], flash), (rr, sel[1], full)):
                values = r[col][s] / r[0][s] if metric == "met_response" else r[col][s]
                w.append(resolution_widths(values, groups=sample.groups[s], rng=rng, n_boot=n_boot))
            out.append(
                Measurement.compare(
                    metric,
                    f"MET/{metric}/{comp}/{key}",
                    (what, label, "-"),
                    (w[0][stat], w[0][f"{stat}_error"]),
                    (w[1][stat], w[1][f"{stat}_error"]),
                    (nf, nr),
                    ratio=metric != "met_response",
                )
            )
    return out


def pileup_jets(
    flash: ValidationSample,
    full: ValidationSample,
    ev_flash: dict[str, Any],
    ev_full: dict[str, Any],
    jets: tuple[str, str],
) -> tuple[list[Measurement], dict[str, Any]]:
    """Mean pile-up jets per event (gated) and the χ² of their multiplicity (reported);
    ``jets``: the jet collection and its gen-match field."""
    branch = f"{jets[0]}_{jets[1]}"
    if not all(branch in ev for ev in (ev_flash, ev_full)):
        return [], {}
    counts = [np.asarray(ak.sum(ev[branch] < 0, axis=1)) for ev in (ev_flash, ev_full)]
    chi2 = histogram_chi2(
        counts[0],
        counts[1],
        multiplicity_edges(*counts),
        groups_a=flash.groups,
        groups_b=full.groups,
    )
    m = Measurement.compare(
        "pileup_jets",
        f"{jets[0]}/pileup_jets/mean",
        ("pile-up jets per event (no gen match), flash/full − 1", "all events", "-"),
        grouped_mean(counts[0], flash.groups),
        grouped_mean(counts[1], full.groups),
        (flash.n_events, full.n_events),
    )
    m.extra = {"chi2": chi2.chi2, "ndf": chi2.ndf, "p_value": chi2.p_value}
    return [m], {
        "chi2": chi2.chi2,
        "ndf": chi2.ndf,
        "chi2_ndf": chi2.chi2_ndf,
        "p_value": chi2.p_value,
    }

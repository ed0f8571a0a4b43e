"""Electrons and photons faked by jets in the report: fake rates per generated jet, flash vs full.

A fake is an ``Electron`` or ``Photon`` without a generated particle (``genPartIdx`` < 0; for
electrons also one whose ``genPartIdx`` points to a ``GenPart`` that is not an electron, e.g. a
photon that converted) that points to a reconstructed jet (``jetIdx`` >= 0) which has a
generated jet (``Jet_genJetIdx`` >= 0): the fake is attributed to that ``GenJet``. The fake rate
in a bin of ``GenJet`` pT, inclusive and per ``GenJet_hadronFlavour`` (b 5, c 4, light 0), and
per flavour, is the number of fakes over the number of ``GenJet`` with pT >
:data:`GENJET_MIN_PT` GeV and |η| < :data:`GENJET_MAX_ABS_ETA` in the bin (fakes of jets outside
are not counted). Only NanoAOD fields are used, so the definition is the same for flash and full
simulation. Errors: :func:`~.rates.counting_rate` (binomial/Poisson, gen event as the
independent unit), per sample; χ²/ndf as in :mod:`.rates` (bins with fakes in either sample;
acceptance target χ²/ndf <= 2 on ttbar and QCD). The numbers go to ``metrics.json`` as
``<Electron|Photon>/fake_rate_pt/<all|b|c|light>`` and ``<...>/fake_rate_flavour``; not
gated (yet).

Only for the collections whose ``jetIdx`` a file has; when one file lacks a branch this needs,
the section says so in a note instead of comparing.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

from flashsim.validation.binning import FLAVOURS, PT_EDGES
from flashsim.validation.comparison import EfficiencyComparison
from flashsim.validation.result import Plot, PlotGroup, Section
from flashsim.validation.samples import ValidationSample
from flashsim.validation.sections.rates import (
    counting_rate,
    curve_metrics,
    flat_index,
    missing_note,
    read_branches,
)

__all__ = [
    "FAKE_COLLECTIONS",
    "FAKE_PT_EDGES",
    "GENJET_MAX_ABS_ETA",
    "GENJET_MIN_PT",
    "fake_branches",
    "fakes_per_genjet",
    "jet_fakes_section",
]

FAKE_COLLECTIONS = ("Electron", "Photon")
"""The collections whose objects faked by jets are compared."""
GENJET_MIN_PT = 20.0
"""Lowest GenJet pT [GeV] of the denominator."""
GENJET_MAX_ABS_ETA = 2.5
"""Largest GenJet |η| of the denominator."""
FAKE_PT_EDGES = [e for e in PT_EDGES["Jet"] if e >= GENJET_MIN_PT]
"""GenJet pT bin edges [GeV] of the fake rates (the jet efficiency binning above 20 GeV)."""
_FLAVOURS = FLAVOURS["hadronFlavour"]
_GENJET = ("GenJet_pt", "GenJet_eta")


def fake_branches(name: str) -> list[str]:
    """The branches the fake rate of collection ``name`` needs (the flavour is optional)."""
    out = [f"{name}_jetIdx", f"{name}_genPartIdx", "Jet_genJetIdx", *_GENJET]
    return [*out, "GenPart_pdgId"] if name == "Electron" else out


def fakes_per_genjet(ev: dict[str, ak.Array], name: str) -> tuple[np.ndarray, int]:
    """Fakes of collection ``name`` attributed to each GenJet (flattened), and the number of
    objects whose ``jetIdx``, ``genPartIdx`` or jet's ``genJetIdx`` points beyond its
    collection (left out)."""
    n_genjet = np.asarray(ak.num(ev["GenJet_pt"]), dtype=np.int64)
    n_jet = np.asarray(ak.num(ev["Jet_genJetIdx"]), dtype=np.int64)
    gen_index = np.asarray(ak.flatten(ev[f"{name}_genPartIdx"]), dtype=np.int64)
    fake = gen_index < 0
    bad = 0
    if name == "Electron":
        n_part = np.asarray(ak.num(ev["GenPart_pdgId"]), dtype=np.int64)
        pos, valid, _ = flat_index(ev[f"{name}_genPartIdx"], n_part)
        pdg = np.asarray(ak.flatten(ev["GenPart_pdgId"]), dtype=np.int64)
        fake |= valid & (np.abs(pdg[pos]) != 11)
        bad += int(np.sum((gen_index >= 0) & ~valid))
    jet_pos, jet_ok, event = flat_index(ev[f"{name}_jetIdx"], n_jet)
    jet_index = np.asarray(ak.flatten(ev[f"{name}_jetIdx"]), dtype=np.int64)
    bad += int(np.sum((jet_index >= 0) & ~jet_ok))
    genjet_index = np.asarray(ak.flatten(ev["Jet_genJetIdx"]), dtype=np.int64)
    g = np.where(jet_ok, genjet_index[jet_pos] if genjet_index.size else -1, -1)
    g_ok = (g >= 0) & (g < n_genjet[event])
    bad += int(np.sum(jet_ok & (g >= n_genjet[event])))
    offsets = np.concatenate([[0], np.cumsum(n_genjet)[:-1]]) if n_genjet.size else n_genjet
    use = fake & jet_ok & g_ok
    counts = np.bincount(offsets[event[use]] + g[use], minlength=int(n_genjet.sum()))
    return counts, bad


def _rates(
    ev: dict[str, ak.Array], name: str, groups: np.ndarray, flavour: bool
) -> tuple[dict[str, Any], int]:
    """Per accepted GenJet: pT, flavour class (None without), fakes and gen-event group."""
    counts, bad = fakes_per_genjet(ev, name)
    n_genjet = np.asarray(ak.num(ev["GenJet_pt"]), dtype=np.int64)
    pt = np.asarray(ak.flatten(ev["GenJet_pt"]), dtype=np.float64)
    eta = np.asarray(ak.flatten(ev["GenJet_eta"]), dtype=np.float64)
    acc = (pt > GENJET_MIN_PT) & (np.abs(eta) < GENJET_MAX_ABS_ETA)
    event = np.repeat(np.arange(n_genjet.size), n_genjet)
    out: dict[str, Any] = {
        "pt": pt[acc],
        "counts": counts[acc],
        "groups": groups[event[acc]],
        "outside": int(counts[~acc].sum()),
        "flavour": None,
    }
    if flavour:
        flav = np.abs(np.asarray(ak.flatten(ev["GenJet_hadronFlavour"]), dtype=np.int64))[acc]
        cls = np.full(flav.size, -1, dtype=np.int64)
        for k, values in enumerate(_FLAVOURS.values()):
            cls[np.isin(flav, values)] = k
        out["flavour"] = cls
    return out, bad


def _compare(
    name: str, where: str, label: str, rf: dict[str, Any], rr: dict[str, Any], **kw: Any
) -> EfficiencyComparison:
    """The fake-rate curves of both samples: ``x`` (a key of the per-GenJet dicts), ``edges``,
    ``select`` (a key of :data:`_FLAVOURS` or None) and ``title``."""
    curves = []
    for r in (rf, rr):
        x = r[kw["x"]].astype(np.float64)
        sel = np.ones(x.size, dtype=bool)
        if kw.get("select") is not None:
            sel = r["flavour"] == list(_FLAVOURS).index(kw["select"])
        curves.append(counting_rate(x[sel], r["counts"][sel], kw["edges"], groups=r["groups"][sel]))
    return EfficiencyComparison(
        where, label, f"{name} fakes per GenJet", curves[0], curves[1], kw.get("title", "")
    )


def _collection(
    name: str,
    evs: tuple[dict[str, ak.Array], dict[str, ak.Array]],
    samples: tuple[ValidationSample, ValidationSample],
    flavour: bool,
    section: Section,
) -> tuple[dict[str, Any], PlotGroup]:
    """Metrics, summary rows and plots of the fakes of one collection."""
    (rf, bad_f), (rr, bad_r) = (
        _rates(ev, name, s.groups, flavour) for ev, s in zip(evs, samples, strict=True)
    )
    out: dict[str, Any] = {
        f"{name}/fake_rate": {
            role: {
                "fakes": int(r["counts"].sum()),
                "genjets": int(r["counts"].size),
                "fakes_outside_acceptance": r["outside"],
                "bad_index": bad,
            }
            for role, r, bad in (("flash", rf, bad_f), ("full", rr, bad_r))
        }
    }
    total = _compare(name, f"{name}/fake_rate", "", rf, rr, x="pt", edges=[0.0, np.inf])
    if total.flash.total[0] > 0 and total.full.total[0] > 0:
        out[f"{name}/fake_rate"] |= {
            "rate_flash": float(total.flash.efficiency[0]),
            "rate_flash_error": float(total.flash.error[0]),
            "rate_full": float(total.full.efficiency[0]),
            "rate_full_error": float(total.full.error[0]),
        }
        section.summary.append(
            (
                f"{name} fakes per GenJet (pT > {GENJET_MIN_PT:g} GeV, |η| < "
                f"{GENJET_MAX_ABS_ETA:g}), flash / full",
                f"{total.flash.efficiency[0]:.4g} ± {total.flash.error[0]:.2g} / "
                f"{total.full.efficiency[0]:.4g} ± {total.full.error[0]:.2g}",
                None,
            )
        )
    group = PlotGroup(f"{name} fake rates")
    label = "GenJet $p_T$"
    curves: list[tuple[str, str, EfficiencyComparison]] = [
        ("pT", "pt", _compare(name, f"{name}/fake_rate_pt/all", label, rf, rr, x="pt",
                              edges=FAKE_PT_EDGES, title="all flavours")),
    ]  # fmt: skip
    if flavour:
        curves += [
            (f"pT ({cls} jets)", "pt_flavour",
             _compare(name, f"{name}/fake_rate_pt/{cls}", label, rf, rr, x="pt",
                      edges=FAKE_PT_EDGES, select=cls, title=f"{cls} jets"))
            for cls in _FLAVOURS
        ]  # fmt: skip
        axis = "GenJet flavour: " + ", ".join(f"{k} {c}" for k, c in enumerate(_FLAVOURS))
        edges = np.arange(len(_FLAVOURS) + 1) - 0.5
        curves.append(
            ("flavour", "flavour", _compare(
                name, f"{name}/fake_rate_flavour", axis, rf, rr, x="flavour", edges=edges))
        )  # fmt: skip
    plots: dict[str, list[EfficiencyComparison]] = {}
    for what, plot, comp in curves:
        m = curve_metrics(comp)
        out[comp.name] = m
        section.summary.append(
            (
                f"{name} fake rate vs GenJet {what}: χ²/ndf",
                f"{m['chi2_ndf']:.2f} ({m['ndf']} bins)",
                None,
            )
        )
        plots.setdefault(plot, []).append(comp)
    group.plots += [
        Plot(f"{name}/fake_rate_{plot}", "rate", tuple(items)) for plot, items in plots.items()
    ]
    return out, group


def jet_fakes_section(
    flash: ValidationSample, full: ValidationSample
) -> tuple[dict[str, Any], Section] | None:
    """The metrics and the section of the module docstring; None when neither file has the
    ``jetIdx`` of an electron or photon collection."""
    names = [n for n in FAKE_COLLECTIONS if any(f"{n}_jetIdx" in s.branches for s in (flash, full))]
    if not names:
        return None
    section = Section("Electrons and photons faked by jets", "jet_fakes")
    out: dict[str, Any] = {}
    notes: list[str] = []
    flavour_branch = ["GenJet_hadronFlavour"]
    flavour = all(flavour_branch[0] in s.branches for s in (flash, full))
    if not flavour and any(flavour_branch[0] in s.branches for s in (flash, full)):
        notes.append(
            str(missing_note("fake rates per GenJet flavour", flavour_branch, flash, full))
        )
    for name in names:
        needed = fake_branches(name)
        note = missing_note(f"{name} fake rates", needed, flash, full)
        if note is not None:
            notes.append(note)
            continue
        wanted = needed + flavour_branch if flavour else needed
        evs = (read_branches(flash, wanted), read_branches(full, wanted))
        metrics, group = _collection(name, evs, (flash, full), flavour, section)
        out |= metrics
        section.groups.append(group)
        for role in ("flash", "full"):
            m = metrics[f"{name}/fake_rate"][role]
            if m["bad_index"]:
                notes.append(
                    f"{m['bad_index']} {role} {name} objects point beyond their target "
                    "collection (jetIdx, genPartIdx or the jet's genJetIdx); left out"
                )
    if notes:
        out["notes"] = notes
        section.summary += [("note", n, None) for n in notes]
    return out, section

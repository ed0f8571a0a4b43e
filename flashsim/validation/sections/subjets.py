"""Soft-drop subjets in the report: the two prongs of each large-radius jet, flash vs full.

NanoAOD writes the soft-drop subjets of a ``FatJet`` as the collection ``SubJet``, indexed by
``FatJet_subJetIdx1`` and ``FatJet_subJetIdx2`` (-1 when the groomed jet has fewer than two
subjets; coffea's ``FatJet.subjets``). Per fat jet with two subjets (indices in range) this
compares, flash against full:

- ``z``: the momentum balance ``min(pT1, pT2) / (pT1 + pT2)`` (the soft-drop condition cuts it
  at ``z_cut`` = 0.1 with β = 0, Larkoski et al., arXiv:1402.2657);
- ``dr``: the angular separation ΔR of the two subjets;
- ``btag_max``, ``btag_min``: the larger and the smaller subjet ``btagDeepB``;
- ``btag_harder``: the ``btagDeepB`` of the subjet with the larger pT (a b tag given to the
  wrong prong, the hard W prong of a top jet instead of its b prong, leaves ``btag_max`` and
  ``btag_min`` unchanged, not this);
- ``mass_ratio``: the invariant mass of the subjet pair over ``FatJet_msoftdrop`` (1 when the
  subjets hold the groomed jet's constituents; fat jets with ``msoftdrop`` <= 0 left out);

each with its mean and error (the gen event as the independent unit,
:func:`~flashsim.validation.physics_checks.grouped_mean`), the Kolmogorov-Smirnov distance and
p-value (:func:`~flashsim.validation.metrics.ks_test`, the effective flash size for an
oversampled file) and a histogram; and ``fewer_than_two``: the fraction of fat jets with fewer
than two subjets, with its binomial error by gen event. When both files have the generated
large-radius jets (``FatJet_genJetAK8Idx``, ``GenJetAK8_pt``, ``GenJetAK8_mass`` and
``GenJetAK8_hadronFlavour`` or ``GenJetAK8_nBHadrons``), the same per generated-jet class of
:mod:`.boosted` (top, Hbb, Wqq, QCD). Only NanoAOD fields are used, so the definition is the
same for flash and full simulation.

``metrics.json``: ``subjets``, entries ``SubJet/<variable>`` and ``SubJet/<variable>/<class>``
(``n_flash``, ``n_full``, ``mean_flash``, ``mean_flash_error``, ``mean_full``,
``mean_full_error``, ``mean_pull``, ``ks``, ``ks_pvalue``) and ``SubJet/fewer_than_two[/<class>]``
(``fraction_flash``, ``fraction_flash_error``, ``fraction_full``, ``fraction_full_error``,
``pull``, ``n_flash``, ``n_full``); not gated. Absent when neither file has ``SubJet`` and
``FatJet_subJetIdx1/2``; when only one has them, a note says which branches the other lacks.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

from flashsim.generators.kinematics import delta_r
from flashsim.validation.comparison import compare_efficiency, compare_hist
from flashsim.validation.metrics import ks_test
from flashsim.validation.physics_checks import grouped_mean, pull, tag_efficiency
from flashsim.validation.result import Plot, PlotGroup, Section
from flashsim.validation.samples import ValidationSample
from flashsim.validation.sections.boosted import BOOSTED_CLASSES, generated_classes
from flashsim.validation.sections.rates import flat_index, missing_note, read_branches

__all__ = [
    "MIN_ENTRIES",
    "SUBJET_BRANCHES",
    "SUBJET_VARIABLES",
    "subjet_quantities",
    "subjets_section",
]

SUBJET_BRANCHES = (
    "FatJet_subJetIdx1",
    "FatJet_subJetIdx2",
    "FatJet_msoftdrop",
    *(f"SubJet_{f}" for f in ("pt", "eta", "phi", "mass", "btagDeepB")),
)
"""The branches the comparison needs in both files."""
SUBJET_VARIABLES: dict[str, tuple[str, tuple[float, float] | None]] = {
    "z": ("subjet $p_T$ balance $z = \\min(p_{T1}, p_{T2}) / (p_{T1} + p_{T2})$", (0.0, 0.5)),
    "dr": ("$\\Delta R$(subjet 1, subjet 2)", None),
    "btag_max": ("larger subjet btagDeepB", None),
    "btag_min": ("smaller subjet btagDeepB", None),
    "btag_harder": ("btagDeepB of the harder subjet", None),
    "mass_ratio": ("$m$(subjet 1 + subjet 2) / $m_{SD}$", None),
}
"""Per-pair variables: axis label and fixed histogram range (None: from the data)."""
MIN_ENTRIES = 20
"""Fat jets (with two subjets) in both files at least for a class to be compared."""
_CLASS_BRANCHES = ("FatJet_genJetAK8Idx", "GenJetAK8_pt", "GenJetAK8_mass")
_B_BRANCHES = ("GenJetAK8_hadronFlavour", "GenJetAK8_nBHadrons")


def _pair_mass(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Invariant mass of two massive objects (arrays of shape ``(2, n)``) [GeV]."""
    px, py = pt * np.cos(phi), pt * np.sin(phi)
    pz = pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    m2 = e.sum(0) ** 2 - px.sum(0) ** 2 - py.sum(0) ** 2 - pz.sum(0) ** 2
    return np.sqrt(np.maximum(m2, 0.0))


def subjet_quantities(ev: dict[str, ak.Array]) -> dict[str, Any]:
    """Per fat jet (flattened): its event, whether it has two subjets (``two``), the variables
    of :data:`SUBJET_VARIABLES` (NaN without two subjets) and the number of fat jets whose
    subjet index points beyond ``SubJet`` (``bad``; left out of everything)."""
    n_sub = ak.num(ev["SubJet_pt"])
    (p1, ok1, event), (p2, ok2, _) = (flat_index(ev[f"FatJet_subJetIdx{k}"], n_sub) for k in (1, 2))
    i1, i2 = (np.asarray(ak.flatten(ev[f"FatJet_subJetIdx{k}"]), np.int64) for k in (1, 2))
    bad = ((i1 >= 0) & ~ok1) | ((i2 >= 0) & ~ok2)
    two = ok1 & ok2
    f = {
        n: np.asarray(ak.flatten(ev[f"SubJet_{n}"]), dtype=np.float64)
        for n in ("pt", "eta", "phi", "mass", "btagDeepB")
    }
    sel = np.stack([p1, p2])[:, two]
    pt, eta, phi, mass, btag = (f[n][sel] for n in ("pt", "eta", "phi", "mass", "btagDeepB"))
    msd = np.asarray(ak.flatten(ev["FatJet_msoftdrop"]), dtype=np.float64)[two]
    with np.errstate(divide="ignore", invalid="ignore"):
        pair = {
            "z": pt.min(0) / pt.sum(0),
            "dr": delta_r(eta[0], phi[0], eta[1], phi[1]),
            "btag_max": btag.max(0),
            "btag_min": btag.min(0),
            "btag_harder": np.where(pt[0] >= pt[1], btag[0], btag[1]),
            "mass_ratio": np.where(msd > 0, _pair_mass(pt, eta, phi, mass) / msd, np.nan),
        }
    out: dict[str, Any] = {"event": event, "two": two, "bad": bad}
    for name, values in pair.items():
        full = np.full(two.size, np.nan)
        full[two] = values
        out[name] = full
    return out


def _classes(ev: dict[str, ak.Array], b_branch: str) -> dict[str, np.ndarray]:
    """Per fat jet: masks of the generated-jet classes of :mod:`.boosted` (False unmatched)."""
    pos, ok, _ = flat_index(ev["FatJet_genJetAK8Idx"], ak.num(ev["GenJetAK8_pt"]))
    gen = {
        n: np.asarray(ak.flatten(ev[n]), dtype=np.float64) for n in (*_CLASS_BRANCHES[1:], b_branch)
    }
    if not gen["GenJetAK8_pt"].size:
        return {c: np.zeros(pos.size, dtype=bool) for c in (*BOOSTED_CLASSES, "QCD")}
    b = np.abs(gen[b_branch][pos]) == 5 if b_branch.endswith("Flavour") else gen[b_branch][pos] > 0
    cls = generated_classes(b, gen["GenJetAK8_mass"][pos], gen["GenJetAK8_pt"][pos])
    return {c: mask & ok for c, mask in cls.items()}


def _distribution(
    a: np.ndarray, ga: np.ndarray, b: np.ndarray, gb: np.ndarray, k: int
) -> dict[str, float]:
    """Means with errors and KS of one variable (``k``: flash replicas per gen event)."""
    fa, fb = np.isfinite(a), np.isfinite(b)
    (ma, ea), (mb, eb) = grouped_mean(a[fa], ga[fa]), grouped_mean(b[fb], gb[fb])
    ks, p = (
        ks_test(a[fa], b[fb], n_eff_a=fa.sum() / k) if min(fa.sum(), fb.sum()) else (np.nan,) * 2
    )
    return {
        "n_flash": int(fa.sum()),
        "n_full": int(fb.sum()),
        "mean_flash": ma,
        "mean_flash_error": ea,
        "mean_full": mb,
        "mean_full_error": eb,
        "mean_pull": pull(ma, ea, mb, eb),
        "ks": float(ks),
        "ks_pvalue": float(p),
    }


def _fraction(
    fewer: tuple[np.ndarray, np.ndarray], groups: tuple[np.ndarray, np.ndarray]
) -> dict[str, float]:
    """The fraction of fat jets with fewer than two subjets in both samples."""
    (ff, ef), (fr, er) = (tag_efficiency(m, g) for m, g in zip(fewer, groups, strict=True))
    return {
        "fraction_flash": ff,
        "fraction_flash_error": ef,
        "fraction_full": fr,
        "fraction_full_error": er,
        "pull": pull(ff, ef, fr, er),
        "n_flash": int(fewer[0].size),
        "n_full": int(fewer[1].size),
    }


def _compare(
    qs: tuple[dict[str, Any], dict[str, Any]],
    samples: tuple[ValidationSample, ValidationSample],
    masks: tuple[np.ndarray, np.ndarray],
    label: str,
) -> tuple[dict[str, Any], list[Any]]:
    """Metrics and histograms of every variable for the fat jets in ``masks`` (a class)."""
    suffix = "" if label == "all" else f"/{label}"
    groups = tuple(s.groups[q["event"]] for q, s in zip(qs, samples, strict=True))
    scale = samples[1].n_events / max(samples[0].n_events, 1)
    use = tuple(m & ~q["bad"] for m, q in zip(masks, qs, strict=True))
    out = {
        f"SubJet/fewer_than_two{suffix}": _fraction(
            tuple(~q["two"][u] for q, u in zip(qs, use, strict=True)),
            tuple(g[u] for g, u in zip(groups, use, strict=True)),
        )
    }
    hists = []
    for var, (axis, span) in SUBJET_VARIABLES.items():
        (a, ga), (b, gb) = ((q[var][u], g[u]) for q, g, u in zip(qs, groups, use, strict=True))
        out[f"SubJet/{var}{suffix}"] = _distribution(a, ga, b, gb, samples[0].n_replicas)
        edges = None if span is None else np.linspace(*span, 26)
        hists.append(
            compare_hist(
                f"subjets/{var}{suffix.replace('/', '_')}",
                axis,
                a,
                b,
                flash_groups=ga,
                full_groups=gb,
                scale=scale,
                edges=edges,
                title="" if label == "all" else f"{label} jets",
            )
        )
    return out, hists


def _rows(out: dict[str, Any], label: str, section: Section) -> None:
    """Summary rows: per variable (inclusive) or one row of KS distances (a class)."""
    suffix = "" if label == "all" else f"/{label}"
    f = out[f"SubJet/fewer_than_two{suffix}"]
    where = "" if label == "all" else f", {label} jets"
    section.summary.append(
        (
            f"fat jets with < 2 subjets{where}: fraction flash / full",
            f"{f['fraction_flash']:.4g} ± {f['fraction_flash_error']:.2g} / "
            f"{f['fraction_full']:.4g} ± {f['fraction_full_error']:.2g}",
            None,
        )
    )
    if label != "all":
        ks = " / ".join(f"{out[f'SubJet/{v}{suffix}']['ks']:.3f}" for v in SUBJET_VARIABLES)
        section.summary.append(
            (f"SubJet pairs{where}: KS {' / '.join(SUBJET_VARIABLES)}", ks, None)
        )
        return
    for var in SUBJET_VARIABLES:
        m = out[f"SubJet/{var}"]
        section.summary.append(
            (
                f"SubJet pairs: {var} mean flash / full; KS",
                f"{m['mean_flash']:.4g} ± {m['mean_flash_error']:.2g} / "
                f"{m['mean_full']:.4g} ± {m['mean_full_error']:.2g}; {m['ks']:.3f}",
                None,
            )
        )


def subjets_section(
    flash: ValidationSample, full: ValidationSample
) -> tuple[dict[str, Any], Section] | None:
    """The metrics and the section of the module docstring; None when neither file has
    ``SubJet`` and ``FatJet_subJetIdx1/2``."""
    marks = ("SubJet_pt", "FatJet_subJetIdx1", "FatJet_subJetIdx2")
    if not any(all(b in s.branches for b in marks) for s in (flash, full)):
        return None
    section = Section("Soft-drop subjets", "subjets")
    out: dict[str, Any] = {}
    note = missing_note("SubJet pairs", SUBJET_BRANCHES, flash, full)
    if note is not None:
        out["notes"] = [note]
        section.summary.append(("note", note, None))
        return out, section
    b_branch = next((b for b in _B_BRANCHES if all(b in s.branches for s in (flash, full))), None)
    classes = b_branch is not None and all(
        b in s.branches for b in _CLASS_BRANCHES for s in (flash, full)
    )
    wanted = [*SUBJET_BRANCHES, *((*_CLASS_BRANCHES, b_branch) if classes else ())]
    evs = (read_branches(flash, wanted), read_branches(full, wanted))
    qs = tuple(subjet_quantities(ev) for ev in evs)
    samples = (flash, full)
    metrics, hists = _compare(qs, samples, tuple(np.ones(q["two"].size, bool) for q in qs), "all")
    out |= metrics
    _rows(out, "all", section)
    section.groups.append(PlotGroup("SubJet pairs", [Plot("subjets/pairs", "hist", tuple(hists))]))
    if classes:
        cls = tuple(_classes(ev, str(b_branch)) for ev in evs)
        labels = [
            c
            for c in (*BOOSTED_CLASSES, "QCD")
            if min(int((m[c] & q["two"]).sum()) for m, q in zip(cls, qs, strict=True))
            >= MIN_ENTRIES
        ]
        for label in labels:
            metrics, hists = _compare(qs, samples, (cls[0][label], cls[1][label]), label)
            out |= metrics
            _rows(out, label, section)
            section.groups.append(
                PlotGroup(
                    f"SubJet pairs, {label} jets",
                    [Plot(f"subjets/pairs_{label}", "hist", tuple(hists))],
                    open=False,
                )
            )
        if labels:
            codes = [np.select([c[k] for k in labels], list(range(len(labels))), -1) for c in cls]
            ok = [(x >= 0) & ~q["bad"] for x, q in zip(codes, qs, strict=True)]
            axis = "generated jet class: " + ", ".join(f"{k} {c}" for k, c in enumerate(labels))
            comp = compare_efficiency(
                "subjets/fewer_than_two_class",
                axis,
                codes[0][ok[0]].astype(float),
                ~qs[0]["two"][ok[0]],
                codes[1][ok[1]].astype(float),
                ~qs[1]["two"][ok[1]],
                np.arange(len(labels) + 1) - 0.5,
                flash_groups=flash.groups[qs[0]["event"]][ok[0]],
                full_groups=full.groups[qs[1]["event"]][ok[1]],
                ylabel="fraction with < 2 subjets",
            )
            section.groups[0].plots.append(Plot(comp.name, "rate", (comp,)))
    notes = [
        f"{int(q['bad'].sum())} {role} fat jets have a subjet index beyond SubJet; left out"
        for role, q in zip(("flash", "full"), qs, strict=True)
        if q["bad"].any()
    ]
    if notes:
        out["notes"] = notes
        section.summary += [("note", n, None) for n in notes]
    return out, section

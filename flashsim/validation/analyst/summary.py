"""The physics summary of a validation: the first section of the report, in analyst's units.

Jet energy scale and resolution per pT × |η| bin and flavour (:mod:`.jets`), b-tag and mistag
scale factors at working points defined on full simulation (:mod:`.btag`), lepton ID and
isolation scale factors (:mod:`.leptons`), MET response and resolution vs the hadronic recoil
and pile-up jets (:mod:`.event`), each flash vs full with its statistical error and a gate
check (:mod:`.common`), and the statistical power of each (:mod:`.power`). Parts the pipeline
or the files lack are skipped and listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from flashsim.spec import PipelineSpec
from flashsim.validation.analyst.btag import DEFAULT_WORKING_POINTS, btag_scale_factors
from flashsim.validation.analyst.common import DEFAULT_SIGMA, TOLERANCES, Measurement
from flashsim.validation.analyst.event import event_inputs, met_recoil, pileup_jets
from flashsim.validation.analyst.jets import jet_inputs, jet_scale
from flashsim.validation.analyst.leptons import is_lepton, lepton_scale_factors
from flashsim.validation.analyst.power import LABELS, power_summary, power_warnings
from flashsim.validation.gate import DEFAULT_THRESHOLDS, Check, Threshold
from flashsim.validation.result import Section
from flashsim.validation.samples import ValidationSample

__all__ = ["physics_summary"]

_SEED_SALT = 0x5053
"""Mixed into the validation seed: the summary's bootstrap has its own random stream, so it
changes none of the other numbers of a report."""


def physics_summary(
    spec: PipelineSpec,
    flash: ValidationSample,
    full: ValidationSample,
    *,
    seed: int = 0,
    working_points: Sequence[float] = DEFAULT_WORKING_POINTS,
    thresholds: Sequence[Threshold] | None = None,
    n_boot: int = 100,
) -> tuple[dict[str, Any], Section, list[Check]]:
    """Measure the physics summary (module docstring) of two samples.

    Arguments:
        spec: the pipeline spec (which collections are jets and leptons, their fields).
        flash, full: the samples (:func:`~flashsim.validation.samples.read_sample`).
        seed: seed of the bootstrap errors.
        working_points: b-jet efficiencies on full simulation defining the b-tag working points.
        thresholds: the gate, for the table's PASS/FAIL and the power line (default: the
            default thresholds).
        n_boot: bootstrap resamples per JES/JER/MET number.
    Returns:
        ``metrics.json``'s ``physics_summary`` entry, the report section, the checks.
    """
    rng = np.random.default_rng((seed, _SEED_SALT))
    limits = list(thresholds) if thresholds is not None else list(DEFAULT_THRESHOLDS)
    found: list[Measurement] = []
    skipped: list[str] = []
    jets: tuple[str, str] | None = None
    for name in flash.tables:
        cs = spec.collections[name]
        if cs.source.collection == "GenJet":
            jets = jets or (name, cs.match)
            jf, jr = jet_inputs(flash, cs), jet_inputs(full, cs)
            if jf is None or jr is None:
                skipped.append(f"{name}: JES/JER need a pt ratio target and pt, eta conditions")
                continue
            found += jet_scale(name, jf, jr, rng=rng, n_boot=n_boot)
            btag = btag_scale_factors(name, jf, jr, efficiencies=working_points)
            if not btag:
                skipped.append(f"{name}: b tagging needs a btag*B score, hadronFlavour, b jets")
            found += btag
        elif is_lepton(cs):
            found += lepton_scale_factors(flash, full, cs)
    # MET with the event quantities (not when only some collections are validated).
    met_wanted = flash.event is not None and full.event is not None
    ev_flash = event_inputs(flash, met=met_wanted, jets=jets)
    ev_full = event_inputs(full, met=met_wanted, jets=jets)
    if met_wanted:
        met = met_recoil(flash, full, ev_flash, ev_full, rng=rng, n_boot=n_boot)
        if not met:
            skipped.append("MET: needs MET_pt/phi, GenMET_pt/phi and GenPart in both files")
        found += met
    chi2: dict[str, Any] = {}
    if jets is not None:
        pileup, chi2 = pileup_jets(flash, full, ev_flash, ev_full, jets)
        if not pileup:
            skipped.append(f"pile-up jets: need {jets[0]}_{jets[1]} in both files")
        found += pileup
    checks = [m.check for m in found]
    if chi2 and jets is not None:
        where = f"{jets[0]}/pileup_jets/multiplicity"
        checks.append(Check("pileup_chi2", where, chi2["chi2_ndf"]))
    power = power_summary(found, thresholds)
    warnings = power_warnings(power, (flash.n_events, full.n_events))
    metrics = {
        "tolerances_percent": dict(TOLERANCES),
        "default_sigma": DEFAULT_SIGMA,
        "working_points": list(working_points),
        "measurements": [m.to_dict() for m in found],
        "pileup_multiplicity_chi2": chi2,
        "power": power,
        "warnings": warnings,
        "skipped": skipped,
    }
    section = Section("Physics summary (flash vs full, analyst's units)", "physics_summary")
    section.table = [
        m.row(limits, power.get(m.metric, {}).get("z_max", DEFAULT_SIGMA)) for m in found
    ]
    section.summary = _summary_lines(found, power, warnings, skipped, checks, limits)
    return metrics, section, checks


def _summary_lines(
    found: list[Measurement],
    power: dict[str, dict[str, Any]],
    warnings: list[str],
    skipped: list[str],
    checks: list[Check],
    limits: list[Threshold],
) -> list[tuple[str, str, Check | None]]:
    """Per metric its largest deviation (with its check); then power, warnings, skips."""
    lines: list[tuple[str, str, Check | None]] = [("WARNING", w, None) for w in warnings]
    for metric, label in LABELS.items():
        mine = [m for m in found if m.metric == metric and np.isfinite(m.z)]
        if not mine:
            continue
        worst = max(mine, key=lambda m: m.z)
        n_fail = sum(bool(m.check.fails(limits)) for m in mine)
        lines.append(
            (
                f"{label}: largest deviation (tolerance {TOLERANCES[metric]:g}%)",
                f"{worst.delta:+.2f}% ± {worst.error:.2f}% at {worst.where} "
                f"({worst.z:+.1f} sigma beyond tolerance); {n_fail} of {len(mine)} places fail",
                worst.check,
            )
        )
    chi2 = next((c for c in checks if c.metric == "pileup_chi2"), None)
    if chi2 is not None:
        lines.append(("pile-up jet multiplicity χ²/ndf", f"{chi2.value:.2f}", chi2))
    if power:
        text = "; ".join(
            f"{LABELS[m]} {p['detectable_best']:.2g}% (median place {p['detectable_median']:.2g}%)"
            for m, p in power.items()
        )
        lines.append(("statistical power: smallest detectable difference", text, None))
    lines += [("skipped", s, None) for s in skipped]
    return lines

"""Flash vs full simulation, every number and plot of a validation (``flashsim validate``).

:func:`validate` reads both files (:mod:`flashsim.validation.samples`) and compares, for every
collection of the pipeline spec:

* each target (pT ratio, Δη, b tag, ...) of the matched objects: histograms with ratio panels,
  inclusive and in bins of gen pT, |η| and flavour; 1-D Wasserstein distance against its
  split-sample floor and Kolmogorov-Smirnov test;
* all targets together: classifier two-sample test (ROC AUC with its error, Lopez-Paz & Oquab,
  arXiv:1610.06545) and the difference of the correlation matrices;
* efficiency curves vs gen pT and η, per flavour and per ID class, with binomial errors;
* every reconstructed branch of all objects (matched or not) as NanoAOD holds it;
* unmatched (pile-up) objects, event-level targets (MET, ρ, vertices);
* physics summaries: b-tag ROC curves (b vs light, b vs c), pT response and resolution vs gen
  pT, and derived quantities (leading dijet mass, m(ℓℓ), HT, MET);
* exact tells (:mod:`flashsim.validation.tells`) in every reconstructed branch both files have:
  values, point masses and ranges flash writes and full simulation never does, or the reverse;
* first in the report, the physics summary in the analyst's units
  (:mod:`flashsim.validation.analyst`): jet energy scale and resolution, b-tag and mistag,
  lepton ID and isolation scale factors, MET vs the hadronic recoil, pile-up jets, each with
  its error and gate check, and the statistical power of the comparison.

Statistical errors use the gen event as the independent unit, so oversampled flash files
(``--oversample K``: K correlated replicas per gen event) get correct errors, and the
classifier test uses one replica per gen event. The result is rendered by
:mod:`flashsim.validation.report`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from flashsim.io import open_events
from flashsim.spec import PipelineSpec
from flashsim.validation.analyst import DEFAULT_WORKING_POINTS, physics_summary
from flashsim.validation.gate import Check, Threshold
from flashsim.validation.result import Section, ValidationResult
from flashsim.validation.samples import (
    ValidationSample,
    check_compatible,
    common_branches,
    numeric_branch,
    read_branch,
    read_sample,
)
from flashsim.validation.sections import collection_sections, event_section, physics_section
from flashsim.validation.sections.jet_fakes import jet_fakes_section
from flashsim.validation.sections.photons import photon_section
from flashsim.validation.sections.subjets import subjets_section
from flashsim.validation.tells import find_tells, skipped_branch
from flashsim.validation.validator import Validator

__all__ = ["ValidationResult", "branch_tells_of_files", "validate", "validate_samples"]


def validate_samples(
    spec: PipelineSpec,
    flash: ValidationSample,
    full: ValidationSample,
    *,
    seed: int = 0,
    max_rows: int = 200_000,
    classifier: bool = True,
    progress: Callable[[str], None] | None = None,
    working_points: Sequence[float] = DEFAULT_WORKING_POINTS,
    thresholds: Sequence[Threshold] | None = None,
    pid_cuts: Sequence[str] | None = None,
) -> ValidationResult:
    """Compare two samples already read with :func:`~.samples.read_sample`; ``working_points``,
    ``thresholds`` and ``pid_cuts`` as :func:`validate`."""
    say = progress or (lambda _msg: None)
    common = check_compatible(flash, full)
    v = Validator(
        flash, full, rng=np.random.default_rng(seed), max_rows=max_rows, classifier=classifier
    )
    metrics: dict[str, Any] = {"collections": {}}
    sections: list[Section] = []
    for name in flash.tables:
        say(f"comparing {name}")
        out, secs = collection_sections(v, spec.collections[name], common[name])
        metrics["collections"][name] = out
        sections += secs
    if spec.event is not None and flash.event is not None and full.event is not None:
        say("comparing event quantities")
        metrics["event"], sec = event_section(v, spec)
        sections.append(sec)
    say("physics summaries")
    metrics["physics"], sec = physics_section(v, spec, list(flash.tables))
    sections.append(sec)
    if spec.pid is not None and spec.pid.collection in flash.tables:
        from flashsim.validation.sections.pid import pid_section

        say("comparing particle identification per true species")
        metrics["pid"], sec = pid_section(v, spec, pid_cuts)
        sections.append(sec)
    for key, build in (
        ("photons", photon_section),
        ("jet_fakes", jet_fakes_section),
        ("subjets", subjets_section),
    ):
        found = build(flash, full)  # None when the files have no photons / jetIdx / SubJet
        if found is not None:
            say(f"comparing {key.replace('_', ' ')}")
            metrics[key], sec = found
            sections.append(sec)
    say("physics summary in the analyst's units")
    metrics["physics_summary"], sec, checks = physics_summary(
        spec, flash, full, seed=seed, working_points=working_points, thresholds=thresholds
    )
    return ValidationResult(metrics, [sec, *sections], checks + v.checks)


def _in_collections(branch: str, collections: Sequence[str] | None) -> bool:
    if collections is None:
        return True
    prefix = branch.partition("_")[0]
    return prefix in collections or (branch.startswith("n") and branch[1:] in collections)


def branch_tells_of_files(
    flash_path: str | os.PathLike[str],
    full_path: str | os.PathLike[str],
    *,
    collections: Sequence[str] | None = None,
    max_events: int | None = None,
    flash_replicas: int = 1,
) -> tuple[dict[str, Any], list[Check]]:
    """Exact tells (:func:`~flashsim.validation.tells.find_tells`) of every numeric branch the
    two files have in common, read one branch at a time; with ``collections``, only their
    branches (``Jet_*``, ``nJet``). Generator-level and bookkeeping branches are skipped.

    Returns:
        The ``tells`` metrics (findings, every point mass with its fractions whether a tell or
        not, branches compared, branches only one file has) and one ``tells`` check per
        compared branch: its number of findings.
    """
    both, only_flash, only_full = common_branches(flash_path, full_path)
    f_tree, r_tree = open_events(flash_path), open_events(full_path)
    try:
        names = [
            b
            for b in both
            if not skipped_branch(b)
            and _in_collections(b, collections)
            and numeric_branch(f_tree, b)
            and numeric_branch(r_tree, b)
        ]
        findings = find_tells(
            (
                (b, read_branch(f_tree, b, max_events), read_branch(r_tree, b, max_events))
                for b in names
            ),
            flash_replicas=flash_replicas,
            point_masses=True,
        )
    finally:
        f_tree.file.close()
        r_tree.file.close()
    counts = dict.fromkeys(names, 0)
    for t in findings:
        counts[t.branch] += t.tell
    checks = [Check("tells", b, float(n)) for b, n in counts.items()]
    shown = [b for b in (*only_flash, *only_full) if not skipped_branch(b)]
    metrics = {
        "n_findings": sum(t.tell for t in findings),
        "branches_compared": names,
        "only_flash": [b for b in only_flash if b in shown and _in_collections(b, collections)],
        "only_full": [b for b in only_full if b in shown and _in_collections(b, collections)],
        "findings": [t.to_dict() for t in findings if t.tell],
        "point_masses": [t.to_dict() for t in findings if t.kind == "point_mass"],
    }
    return metrics, checks


def validate(
    spec: PipelineSpec,
    flash_path: str | os.PathLike[str],
    full_path: str | os.PathLike[str],
    *,
    collections: Sequence[str] | None = None,
    max_events: int | None = None,
    seed: int = 0,
    max_rows: int = 200_000,
    classifier: bool = True,
    tells: bool = True,
    progress: Callable[[str], None] | None = None,
    working_points: Sequence[float] = DEFAULT_WORKING_POINTS,
    thresholds: Sequence[Threshold] | None = None,
    pid_cuts: Sequence[str] | None = None,
) -> ValidationResult:
    """Read a flash and a full-simulation file and compare them (see the module docstring).

    Arguments:
        spec: the pipeline spec (collections, conditions and targets to compare).
        flash_path, full_path: the two files; both need the generator-level branches too.
        collections: only these collections (default: all of the spec).
        max_events: read at most this many events of each file.
        seed: seed of the classifier tests' subsampling and splits.
        max_rows: rows (both samples together) at most per classifier test.
        classifier: run the classifier two-sample tests (the slowest part).
        tells: look for exact tells in every common branch (``metrics["tells"]``, checks
            ``tells``).
        progress: called with a short message at each step.
        working_points: b-jet efficiencies (on full simulation) of the b-tag working points of
            the physics summary (default loose, medium, tight: 0.85, 0.70, 0.55).
        thresholds: the gate, for the physics summary's PASS/FAIL column and its statistical
            power line (default: :data:`~flashsim.validation.gate.DEFAULT_THRESHOLDS`); give
            :func:`~flashsim.validation.report.write_report` the same.
        pid_cuts: for a pipeline with a PID section, the cuts whose efficiency and
            misidentification curves are compared (``"DLLK>0"``, ``"isMuon"``; default: isMuon
            and every DLL > 0, :func:`~flashsim.validation.metrics.pid.default_pid_cuts`).

    Raises:
        InputError: a file is unreadable or empty, or the files cannot be compared.
    """
    say = progress or (lambda _msg: None)
    start = time.monotonic()
    say(f"reading {flash_path}")
    flash = read_sample(
        flash_path, spec, collections=collections, max_events=max_events, role="flash"
    )
    say(f"reading {full_path}")
    full = read_sample(
        full_path, spec, collections=collections, max_events=max_events, role="full-simulation"
    )
    result = validate_samples(
        spec,
        flash,
        full,
        seed=seed,
        max_rows=max_rows,
        classifier=classifier,
        progress=progress,
        working_points=working_points,
        thresholds=thresholds,
        pid_cuts=pid_cuts,
    )
    if tells:
        say("looking for exact tells in every common branch")
        result.metrics["tells"], checks = branch_tells_of_files(
            flash_path,
            full_path,
            collections=collections,
            max_events=max_events,
            flash_replicas=flash.n_replicas,
        )
        result.checks += checks
    result.metrics["inputs"] = {
        role: {
            "path": str(s.path),
            "events": s.n_events,
            "gen_events": s.n_gen_events,
            "replicas": s.n_replicas,
            "provenance": s.provenance,
        }
        for role, s in (("flash", flash), ("full", full))
    }
    result.metrics["seed"] = seed
    result.metrics["seconds"] = round(time.monotonic() - start, 2)
    return result

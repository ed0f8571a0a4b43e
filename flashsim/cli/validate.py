"""``flashsim validate``: compare a flash file with a full-simulation file, write a report."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from flashsim.cli.common import MAX_JOBS, MAX_SEED

__all__ = ["EXIT_GATE_FAILED", "validate"]

EXIT_GATE_FAILED = 3
"""Exit status when ``--fail-above`` thresholds are exceeded (2 is a usage or input error)."""


@click.command()
@click.option(
    "--flash",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Flash file (from `flashsim run`).",
)
@click.option(
    "--full",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Full-simulation file of the same gen events or the same process.",
)
@click.option(
    "--pipeline",
    type=click.Path(path_type=Path),
    help="Pipeline spec (YAML) or model bundle; default: the flash file's model.",
)
@click.option(
    "-o", "--output", required=True, type=click.Path(path_type=Path), help="Report directory."
)
@click.option(
    "--fail-above",
    metavar="METRIC=VALUE,...",
    help="Gate: exit with status 3 if a metric exceeds its threshold "
    "(auc, w1_ratio, eff_chi2, ks, corr, tells; and the physics summary's jes, jer, btag_sf, "
    "mistag_sf, lepton_sf, met_response, met_resolution, pileup_jets in sigmas beyond their "
    "tolerance, pileup_chi2), e.g. auc=0.6,w1_ratio=3,tells=0; 'defaults' stands for the "
    "default bars; metric[PATTERN]=value limits one to places like Jet/pt or Muon/* "
    "(tells: branch names such as Muon_mass or Jet_*).",
)
@click.option("--collections", help="Comma-separated collections to validate (default: all).")
@click.option(
    "--working-points",
    metavar="EFF,...",
    default="0.85,0.70,0.55",
    show_default=True,
    help="b-jet efficiencies (on the full simulation) of the b-tag working points of the "
    "physics summary (loose, medium, tight).",
)
@click.option(
    "--pid-cut",
    "pid_cuts",
    multiple=True,
    metavar="CUT",
    help="Pipelines with a PID section: a cut whose efficiency and misidentification curves "
    "are compared per true species, e.g. 'DLLK>5' or 'isMuon' (repeatable; default: isMuon and "
    "every DLL > 0).",
)
@click.option(
    "--max-events",
    type=click.IntRange(min=1),
    help="Read at most this many events (entries) of each file.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0, max=MAX_SEED),
    default=0,
    show_default=True,
    help="Seed of the classifier tests' subsampling and splits (the report is reproducible).",
)
@click.option(
    "--no-classifier", is_flag=True, help="Skip the classifier two-sample tests (fastest)."
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1, max=MAX_JOBS),
    default=min(2, os.cpu_count() or 1),
    show_default=True,
    help="Processes drawing the figures.",
)
@click.option(
    "--no-plots", is_flag=True, help="Tables, metrics.json and histograms.root only (fast)."
)
@click.option("--overwrite", is_flag=True, help="Replace an existing report in OUTPUT.")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages.")
def validate(
    flash: Path,
    full: Path,
    pipeline: Path | None,
    output: Path,
    fail_above: str | None,
    collections: str | None,
    working_points: str,
    pid_cuts: tuple[str, ...],
    max_events: int | None,
    seed: int,
    no_classifier: bool,
    jobs: int,
    no_plots: bool,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Compare a flash file with full simulation: plots, metrics and an HTML report.

    Writes OUTPUT/index.html (split into OUTPUT/pages/<collection>.html when over 3 MB),
    OUTPUT/plots/*.png, OUTPUT/metrics.json and OUTPUT/histograms.root. Every branch both
    files have is also searched for exact tells: values, point masses and ranges one file
    writes and the other never does (tells=0 gates on them). With --fail-above, exits with
    status 3 when a metric exceeds its threshold, so it can gate a workflow.
    """
    from flashsim.cli.common import check_report_paths

    # Files and the report directory before the heavy imports (and before the flash file is
    # read): a mistyped path or an existing report is answered at once.
    check_report_paths(flash, full, pipeline, output, overwrite=overwrite)
    efficiencies = _working_points(working_points)
    from flashsim.exceptions import ConfigurationError
    from flashsim.validation.gate import parse_thresholds, unmatched_thresholds
    from flashsim.validation.report import write_report
    from flashsim.validation.spec_source import resolve_spec
    from flashsim.validation.summary import summary_lines
    from flashsim.validation.validate import validate as run_validation

    thresholds = parse_thresholds(fail_above) if fail_above is not None else None

    start = time.monotonic()

    def log(line: str) -> None:
        if not quiet:
            click.echo(f"flashsim validate [{time.monotonic() - start:5.0f} s]: {line}", err=True)

    spec, origin = resolve_spec(pipeline, flash)
    log(f"pipeline {spec.name!r} from {origin}")
    names = [c.strip() for c in collections.split(",") if c.strip()] if collections else None
    result = run_validation(
        spec,
        flash,
        full,
        collections=names,
        max_events=max_events,
        seed=seed,
        classifier=not no_classifier,
        progress=log,
        working_points=efficiencies,
        thresholds=thresholds,
        pid_cuts=list(pid_cuts) or None,
    )
    if thresholds is not None:
        unused = unmatched_thresholds(thresholds, result.checks)
        if unused:
            places = sorted({c.where for c in result.checks})
            msg = (
                f"--fail-above: {', '.join(map(str, unused))} judges no measured number; "
                f"scopes are patterns over places such as {', '.join(places[:6])}, ... "
                "(all of them in metrics.json under 'checks' of a run without the gate)"
            )
            raise ConfigurationError(msg)
    gate = write_report(
        result,
        output,
        thresholds=thresholds,
        jobs=jobs,
        plots=not no_plots,
        progress=None if quiet else log,
    )
    for line in summary_lines(result, gate, gated=thresholds is not None, output=output):
        log(line)
    # Printed even with --quiet: a verdict without statistical power is no verdict.
    for warning in result.metrics["physics_summary"]["warnings"]:
        click.echo(f"flashsim validate: warning: {warning}", err=True)
    if thresholds is not None and gate["failures"]:
        click.get_current_context().exit(EXIT_GATE_FAILED)


def _working_points(text: str) -> tuple[float, ...]:
    """``"0.85,0.70,0.55"`` as b-jet efficiencies, each in (0, 1).

    Raises:
        ConfigurationError: an entry is not a number in (0, 1), or none is given.
    """
    from flashsim.exceptions import ConfigurationError

    out = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        try:
            value = float(entry)
        except ValueError:
            value = float("nan")
        if not 0.0 < value < 1.0:
            msg = (
                f"--working-points: {entry!r} is not a b-jet efficiency between 0 and 1 "
                "(e.g. --working-points 0.85,0.70,0.55)"
            )
            raise ConfigurationError(msg)
        out.append(value)
    if not out:
        msg = "--working-points needs at least one b-jet efficiency (e.g. 0.85,0.70,0.55)"
        raise ConfigurationError(msg)
    return tuple(out)

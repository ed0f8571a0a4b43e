"""``flashsim validate``: compare a flash file with a full-simulation file, write a report."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click

__all__ = ["EXIT_GATE_FAILED", "resolve_spec", "validate"]

EXIT_GATE_FAILED = 3
"""Exit status when ``--fail-above`` thresholds are exceeded (2 is a usage or input error)."""


def resolve_spec(pipeline: Path | None, flash: Path) -> tuple[Any, str]:
    """The pipeline spec to validate with, and where it came from.

    ``pipeline`` may be a YAML spec or a model bundle directory. Without it: the model recorded
    in the flash file's provenance if that bundle exists here, else the shipped default model.
    """
    from flashsim.bundle import RECORD_NAME, default_model_path, read_record
    from flashsim.exceptions import InputError
    from flashsim.io import read_provenance
    from flashsim.spec import load_spec, parse_spec

    def from_bundle(path: Path) -> Any:
        record = read_record(path)
        return parse_spec(record["spec"], origin=f"{path / RECORD_NAME} (spec)")

    if pipeline is not None:
        if pipeline.is_dir():
            return from_bundle(pipeline), f"model bundle {pipeline}"
        return load_spec(pipeline), str(pipeline)
    try:
        model = read_provenance(flash).get("model") or {}
    except InputError:
        model = {}
    recorded = Path(str(model.get("path", "")))
    if model.get("path") and (recorded / RECORD_NAME).exists():
        return from_bundle(recorded), f"model bundle {recorded} (from the flash file's provenance)"
    default = default_model_path()
    return from_bundle(default), f"the default model {default}"


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
    "(auc, w1_ratio, eff_chi2, ks, corr, tells), e.g. auc=0.6,w1_ratio=3,tells=0; "
    "metric[PATTERN]=value limits one to places like Jet/pt or Muon/* "
    "(tells: branch names such as Muon_mass or Jet_*).",
)
@click.option("--collections", help="Comma-separated collections to validate (default: all).")
@click.option(
    "--max-events",
    type=click.IntRange(min=1),
    help="Read at most this many events (entries) of each file.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
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
    type=click.IntRange(min=1),
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
    max_events: int | None,
    seed: int,
    no_classifier: bool,
    jobs: int,
    no_plots: bool,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Compare a flash file with full simulation: plots, metrics and an HTML report.

    Writes OUTPUT/index.html (one self-contained page), OUTPUT/plots/*.png, OUTPUT/metrics.json
    and OUTPUT/histograms.root. Every branch both files have is also searched for exact tells:
    values, point masses and ranges one file writes and the other never does (tells=0 gates
    on them). With --fail-above, exits with status 3 when a metric exceeds its threshold, so it
    can gate a workflow.
    """
    from flashsim.exceptions import ConfigurationError, OutputError
    from flashsim.validation.gate import parse_thresholds, unmatched_thresholds
    from flashsim.validation.report import write_report
    from flashsim.validation.validate import validate as run_validation

    thresholds = parse_thresholds(fail_above) if fail_above is not None else None
    if output.exists() and not output.is_dir():
        msg = f"report directory {output} exists and is not a directory"
        raise OutputError(msg)
    if (output / "index.html").exists() and not overwrite:
        msg = f"{output} already holds a report; pass --overwrite to replace it"
        raise OutputError(msg)

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
    for name, m in result.metrics["collections"].items():
        auc = m.get("auc", {})
        auc_text = f"AUC {auc['value']:.3f} ± {auc['error']:.3f}, " if "value" in auc else ""
        worst = max(m["targets"].items(), key=lambda kv: kv[1]["w1_ratio"])
        log(f"{name}: {auc_text}largest W1 ratio {worst[1]['w1_ratio']:.2f} ({worst[0]})")
    tells = result.metrics.get("tells")
    if tells is not None:
        log(
            f"exact tells: {tells['n_findings']} in {len(tells['branches_compared'])} branches"
            + "".join(
                f"\n  {t['branch']}: {t['kind']} ({t['note']})" for t in tells["findings"][:10]
            )
        )
    failures = gate["failures"]
    verdict = "FAIL" if failures else "PASS"
    source = "gate" if thresholds is not None else "default thresholds"
    limits = ", ".join(gate["thresholds"])
    log(f"{verdict} ({source} {limits}): {len(failures)} failing checks; report in {output}")
    if failures:
        for f in failures[:10]:
            log(f"  {f['metric']} {f['value']:.3g} > {f['threshold']:g} at {f['where']}")
        if len(failures) > 10:
            log(f"  ... and {len(failures) - 10} more (metrics.json)")
    if thresholds is not None and failures:
        click.get_current_context().exit(EXIT_GATE_FAILED)

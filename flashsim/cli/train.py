"""``flashsim train``: train a pipeline spec on full-simulation files into a model bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from flashsim.cli.common import (
    BUNDLE_RECORD,
    expand_inputs,
    max_events_option,
    output_option,
    overwrite_option,
    quiet_option,
)

__all__ = ["train"]


def parse_calibration(entries: tuple[str, ...], spec: Any) -> dict[str, list[Path]]:
    """``("kaon=a.root", ...)`` to ``{"kaon": [Path("a.root")]}``, checked against the spec."""
    from flashsim.exceptions import ConfigurationError

    species = [s.name for s in spec.pid.species] if spec.pid is not None else []
    out: dict[str, list[Path]] = {}
    for entry in entries:
        name, sep, pattern = entry.partition("=")
        if not sep or not name or not pattern:
            msg = f"--calibration {entry!r} is not SPECIES=FILE (e.g. kaon=calib_kaon.root)"
            raise ConfigurationError(msg)
        if name not in species:
            known = ", ".join(species) or "none: the spec has no pid section"
            msg = f"--calibration: {name!r} is not a PID species of the spec ({known})"
            raise ConfigurationError(msg)
        out.setdefault(name, []).extend(expand_inputs((pattern,), f"--calibration {name}"))
    return out


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--data",
    "data",
    required=True,
    multiple=True,
    help="Full-simulation ROOT file or glob (quote it); repeat for more.",
)
@output_option("Model bundle directory.")
@click.option(
    "--calibration",
    "calibration",
    multiple=True,
    metavar="SPECIES=FILE",
    help="Calibration sample (sWeighted) of a PID species of the spec, e.g. kaon=calib_k.root; "
    "repeat per species (FILE may be a quoted glob).",
)
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    type=click.Choice(["cpu", "cuda"]),
    help="Where the flows are trained.",
)
@click.option(
    "--resume", is_flag=True, help="Continue an interrupted training from its checkpoints."
)
@overwrite_option("Replace an existing bundle in OUTPUT.")
@max_events_option("Use at most this many events.")
@quiet_option("No progress bars or stage messages.")
def train(
    spec_path: Path,
    data: tuple[str, ...],
    calibration: tuple[str, ...],
    output: Path,
    device: str,
    resume: bool,
    overwrite: bool,
    max_events: int | None,
    quiet: bool,
) -> None:
    """Train the pipeline SPEC (e.g. pipelines/cms_like.yaml) on full-simulation files.

    Writes a model bundle (weights, preprocessing, a JSON record with versions, data hash, seeds
    and validation metrics) to OUTPUT, for `flashsim run --model OUTPUT`.
    """
    from flashsim.exceptions import OutputError

    # The files, the output and the spec first, before the heavy imports (validating a spec
    # imports the model code): a mistyped path, an existing bundle or a bad spec is refused
    # at once.
    files = expand_inputs(data, "--data")
    if (output / BUNDLE_RECORD).exists() and not (overwrite or resume):
        msg = f"{output} already holds a model bundle; pass --overwrite to replace it"
        raise OutputError(msg)
    from flashsim.spec import load_spec

    spec = load_spec(spec_path)
    calibration_files = parse_calibration(calibration, spec)

    from flashsim.bundle import check_bundle_destination
    from flashsim.train import read_calibrations, read_training_data, train_pipeline

    # Before any data is read: anything that is not a bundle directory (a file, a link, a
    # directory of other files) is never replaced.
    check_bundle_destination(output)

    def log(line: str) -> None:
        if not quiet:
            click.echo(line, err=True)

    log(f"reading {len(files)} file(s) for pipeline {spec.name!r}")
    tables = read_training_data(spec, files, max_events=max_events, progress=not quiet)
    log(f"{tables.n_events} events read")
    if spec.pid is not None:
        tables.calibration.update(read_calibrations(spec.pid, calibration_files, log=log))
    train_pipeline(spec, tables, output, device=device, resume=resume, progress=not quiet, log=log)
    log(f"model bundle written to {output}")

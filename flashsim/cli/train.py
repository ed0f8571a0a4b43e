"""``flashsim train``: train a pipeline spec on full-simulation files into a model bundle."""

from __future__ import annotations

import glob
from pathlib import Path

import click

__all__ = ["train"]


def expand_inputs(patterns: tuple[str, ...], what: str) -> list[Path]:
    """Expand shell-style globs; each pattern must match at least one file."""
    from flashsim.exceptions import InputError

    files: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            msg = f"{what} pattern {pattern!r} matches no file"
            raise InputError(msg)
        files += [Path(m) for m in matches]
    return files


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--data",
    "data",
    required=True,
    multiple=True,
    help="Full-simulation ROOT file or glob (quote it); repeat for more.",
)
@click.option(
    "-o", "--output", required=True, type=click.Path(path_type=Path), help="Model bundle directory."
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
@click.option("--overwrite", is_flag=True, help="Replace an existing bundle in OUTPUT.")
@click.option("--max-events", type=click.IntRange(min=1), help="Use at most this many events.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or stage messages.")
def train(
    spec_path: Path,
    data: tuple[str, ...],
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
    from flashsim.bundle import RECORD_NAME
    from flashsim.exceptions import OutputError
    from flashsim.spec import load_spec
    from flashsim.trainer import read_training_data, train_pipeline

    spec = load_spec(spec_path)
    files = expand_inputs(data, "--data")
    if (output / RECORD_NAME).exists() and not (overwrite or resume):
        msg = f"{output} already holds a model bundle; pass --overwrite to replace it"
        raise OutputError(msg)
    if output.exists() and not output.is_dir():
        msg = f"output {output} exists and is not a directory"
        raise OutputError(msg)

    def log(line: str) -> None:
        if not quiet:
            click.echo(line, err=True)

    log(f"reading {len(files)} file(s) for pipeline {spec.name!r}")
    tables = read_training_data(spec, files, max_events=max_events, progress=not quiet)
    log(f"{tables.n_events} events read")
    train_pipeline(spec, tables, output, device=device, resume=resume, progress=not quiet, log=log)
    log(f"model bundle written to {output}")

"""``flashsim refsim``: make reference samples with Pythia 8 and a parametrised detector."""

from __future__ import annotations

from pathlib import Path

import click

from flashsim.refsim.processes import PROCESSES

__all__ = ["refsim"]

_MAX_SEED = 900_000_000  # Pythia's Random:seed accepts 0 ... 900 000 000


@click.group()
def refsim() -> None:
    """Reference simulation: generator-level and reconstructed events in one NanoAOD file."""


@refsim.command()
@click.option(
    "--process",
    required=True,
    type=click.Choice(sorted(PROCESSES)),
    help="Physics process to generate.",
)
@click.option(
    "-n", "--n-events", required=True, type=click.IntRange(min=1), help="Number of events."
)
@click.option(
    "--seed",
    default=1,
    show_default=True,
    type=click.IntRange(0, _MAX_SEED),
    help="Random seed.",
)
@click.option(
    "-j", "--jobs", default=1, show_default=True, type=click.IntRange(min=1), help="Processes."
)
@click.option(
    "--pileup",
    type=click.FloatRange(min=0),
    default=None,
    help="Mean number of pile-up interactions [default: the detector's].",
)
@click.option(
    "--pthat-min",
    type=click.FloatRange(min=0),
    default=None,
    help="pT-hat threshold in GeV of the qcd process [default: 30].",
)
@click.option(
    "--detector",
    type=click.Choice(["cms_like"]),
    default="cms_like",
    show_default=True,
    help="Detector model.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Output ROOT file.",
)
@click.option("--overwrite", is_flag=True, help="Replace the output if it exists.")
@click.option(
    "--gen-only",
    is_flag=True,
    help="Write only generator-level branches (an input for `flashsim run`).",
)
@click.option("--quiet", is_flag=True, help="No progress bar and no summary.")
def generate(
    process: str,
    n_events: int,
    seed: int,
    jobs: int,
    pileup: float | None,
    pthat_min: float | None,
    detector: str,
    output: Path,
    overwrite: bool,
    gen_only: bool,
    quiet: bool,
) -> None:
    """Generate events of one process and write them as NanoAOD."""
    from flashsim.io import check_output_path

    check_output_path(output, overwrite=overwrite)

    from flashsim.refsim.generate import generate_sample

    summary = generate_sample(
        process=process,
        n_events=n_events,
        seed=seed,
        jobs=jobs,
        output=output,
        pileup=pileup,
        pthat_min=pthat_min,
        detector=detector,
        overwrite=overwrite,
        progress=not quiet,
        gen_only=gen_only,
    )
    if not quiet:
        click.echo(
            f"wrote {summary['n_events']} {process} events to {summary['path']} "
            f"in {summary['seconds']:.1f} s"
        )

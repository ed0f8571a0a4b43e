"""``flashsim run``: apply a trained pipeline to a generator-level ROOT file."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["run"]


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", required=True, type=click.Path(path_type=Path), help="Output ROOT file."
)
@click.option(
    "--model",
    type=click.Path(path_type=Path),
    help="Model bundle directory (default: the model shipped with flashsim).",
)
@click.option(
    "--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Random seed."
)
@click.option(
    "--oversample",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Simulate each gen event K times (replicas grouped by FlashSim_genEntry).",
)
@click.option(
    "--step-size",
    default=10_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Input events per chunk (bounds memory; part of what fixes the random stream).",
)
@click.option("--max-events", type=click.IntRange(min=1), help="Simulate only the first N events.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def run(
    input_path: Path,
    output: Path,
    model: Path | None,
    seed: int,
    oversample: int,
    step_size: int,
    max_events: int | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Simulate the reconstructed events of the generator-level file INPUT.

    Writes a NanoAOD-style TTree `Events` to OUTPUT: the reconstructed collections (nJet,
    Jet_pt, ..., Jet_genJetIdx into GenJet), event quantities (MET_pt, ...), the input's gen
    branches, and the provenance (flashsim version, model hash, seed, command).
    """
    from flashsim.bundle import bundle_hash, default_model_path, load_bundle
    from flashsim.io import check_output_path
    from flashsim.runner import run_file

    check_output_path(output, overwrite=overwrite)
    model_dir = model if model is not None else default_model_path()
    pipeline = load_bundle(model_dir)
    provenance = {
        "model": {
            "path": str(model_dir),
            "sha256": bundle_hash(model_dir),
            "pipeline": pipeline.spec.name,
        }
    }
    summary = run_file(
        pipeline,
        input_path,
        output,
        seed=seed,
        oversample=oversample,
        step_size=step_size,
        overwrite=overwrite,
        progress=not quiet,
        max_events=max_events,
        provenance=provenance,
    )
    if not quiet:
        rate = summary.input_events / max(summary.seconds, 1e-9)
        objects = ", ".join(
            f"{name}: {c.get('reconstructed', 0)}/{c.get('generated', 0)}"
            for name, c in summary.counters.items()
        )
        click.echo(
            f"{summary.input_events} events -> {output} ({summary.output_events} written) in "
            f"{summary.seconds:.1f} s ({rate:.0f} events/s); reconstructed/generated {objects}",
            err=True,
        )

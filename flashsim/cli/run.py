"""``flashsim run``: apply a trained pipeline to generator-level ROOT files.

One input and a file output: the whole file into one output (:func:`flashsim.runner.run_file`).
Several inputs or quoted globs, or a directory output (``-o out/``): work items, run by a process
pool or dask, with a manifest (:func:`flashsim.executor.run_items`).
"""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from flashsim.domain import InputPolicy

__all__ = ["run"]

_ITEM_OPTIONS = {
    "workers": "--workers",
    "executor_name": "--executor",
    "scheduler": "--scheduler",
    "resume": "--resume",
    "item_size": "--item-size",
}
"""The options of work-item mode (several inputs or a directory output), by parameter name."""


@dataclass(frozen=True)
class _Options:
    """The options of both modes."""

    model: Path | None
    seed: int
    oversample: int
    step_size: int
    max_events: int | None
    overwrite: bool
    quiet: bool
    non_finite: str | None
    out_of_domain: str | None

    def policy(self, spec: Callable[[], InputPolicy]) -> InputPolicy | None:
        """The input policies: the options given, the model spec's (``spec()``, called only
        when an option is given) for the others; ``None`` when no option is given."""
        if self.non_finite is None and self.out_of_domain is None:
            return None
        from flashsim.domain import InputPolicy

        base = spec()
        return InputPolicy(
            self.non_finite or base.non_finite, self.out_of_domain or base.out_of_domain
        )


@dataclass(frozen=True)
class _ItemOptions:
    """The options of the work-item mode."""

    workers: int
    executor_name: str
    scheduler: str | None
    resume: bool
    item_size: int


@click.command()
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    required=True,
    help="Output ROOT file, or a directory (ending with '/', or existing) for one file per item.",
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
@click.option(
    "--max-events",
    type=click.IntRange(min=1),
    help="Simulate only the first N events (of each input, with a directory output).",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace OUTPUT if it exists (a directory: delete the outputs its manifest lists).",
)
@click.option(
    "-j",
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes (directory output); each uses one thread.",
)
@click.option(
    "--executor",
    "executor_name",
    default="local",
    show_default=True,
    type=click.Choice(["local", "dask"]),
    help="Where work items run: a local process pool, or dask.distributed (flashsim[dask]).",
)
@click.option(
    "--scheduler", help="Address of a running dask scheduler (tcp://host:8786); with dask only."
)
@click.option(
    "--resume", is_flag=True, help="Directory output: skip the items a previous run completed."
)
@click.option(
    "--item-size",
    default=100_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Input events per work item (rounded up to a multiple of --step-size).",
)
@click.option(
    "--non-finite",
    type=click.Choice(["error", "drop"]),
    help="Events with NaN/inf in a branch the models read: stop, or leave them out and count "
    "them (default: the model spec's inputs.non_finite, else error).",
)
@click.option(
    "--out-of-domain",
    type=click.Choice(["clamp", "flag", "error"]),
    help="Conditions outside the training range: clamp them, pass them and set "
    "FlashSim_outOfDomain, or stop (default: the model spec's inputs.out_of_domain, else "
    "clamp). Counted in the provenance either way.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def run(
    inputs: tuple[str, ...],
    output: str,
    model: Path | None,
    seed: int,
    oversample: int,
    step_size: int,
    max_events: int | None,
    overwrite: bool,
    workers: int,
    executor_name: str,
    scheduler: str | None,
    resume: bool,
    item_size: int,
    non_finite: str | None,
    out_of_domain: str | None,
    quiet: bool,
) -> None:
    """Simulate the reconstructed events of the generator-level files INPUT...

    Writes a NanoAOD-style TTree `Events` to OUTPUT: the reconstructed collections (nJet,
    Jet_pt, ..., Jet_genJetIdx into GenJet), event quantities (MET_pt, ...), the input's gen
    branches, and the provenance (flashsim version, model hash, seed, command).

    With several inputs, quoted globs ('gen_*.root') or a directory OUTPUT ('out/'), each input
    is split into work items of --item-size events, each written to its own file
    OUTPUT/<input name>.<first>-<last>.root and listed in OUTPUT/flashsim-manifest.json. The
    output does not depend on --workers, --executor or --item-size: every input's seed comes
    from --seed and the input's file name.
    """
    ctx = click.get_current_context()
    common = _Options(
        model, seed, oversample, step_size, max_events, overwrite, quiet, non_finite, out_of_domain
    )
    many = (
        len(inputs) > 1
        or any(glob.has_magic(p) and not Path(p).exists() for p in inputs)
        or output.endswith(("/", os.sep))
        or Path(output).is_dir()
    )
    if not many:
        given = [
            flag
            for name, flag in _ITEM_OPTIONS.items()
            if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT
        ]
        if given:
            from flashsim.exceptions import ConfigurationError

            msg = f"{', '.join(given)} need a directory output: end -o with '/' (-o {output}/)"
            raise ConfigurationError(msg)
        _run_one(Path(inputs[0]), Path(output), common)
        return
    _run_many(
        inputs,
        Path(output),
        common,
        _ItemOptions(workers, executor_name, scheduler, resume, item_size),
    )


def _run_one(input_path: Path, output: Path, o: _Options) -> None:
    from flashsim.bundle import bundle_hash, default_model_path, load_bundle
    from flashsim.io import check_output_path
    from flashsim.runner import run_file

    check_output_path(output, overwrite=o.overwrite)
    model_dir = o.model if o.model is not None else default_model_path()
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
        seed=o.seed,
        oversample=o.oversample,
        step_size=o.step_size,
        overwrite=o.overwrite,
        progress=not o.quiet,
        max_events=o.max_events,
        provenance=provenance,
        policy=o.policy(lambda: pipeline.spec.input_policy),
    )
    if not o.quiet:
        rate = summary.input_events / max(summary.seconds, 1e-9)
        objects = ", ".join(
            f"{name}: {c['reconstructed']}/{c['generated']}"
            for name, c in summary.counters.items()
            if "generated" in c
        )
        click.echo(
            f"{summary.input_events} events -> {output} ({summary.output_events} written) in "
            f"{summary.seconds:.1f} s ({rate:.0f} events/s); reconstructed/generated {objects}"
            f"{_caveats(summary.counters, summary.dropped_events)}",
            err=True,
        )


def _spec_policy(model_dir: Path) -> InputPolicy:
    """The ``inputs:`` policies of the spec in a model bundle's record."""
    from flashsim.bundle import read_record
    from flashsim.spec import parse_spec

    return parse_spec(read_record(model_dir)["spec"]).input_policy


def _caveats(counters: dict[str, dict[str, int]], dropped: int) -> str:
    """The summary's notes on dropped events and conditions outside the training domain."""
    from flashsim.domain import OUT_OF_DOMAIN_COUNTER

    notes = []
    if dropped:
        notes.append(f"{dropped} event(s) with NaN/inf inputs left out")
    outside = {k: v for k, v in counters.get(OUT_OF_DOMAIN_COUNTER, {}).items() if v}
    if outside:
        listed = ", ".join(f"{k}: {v}" for k, v in outside.items())
        notes.append(f"objects outside the training domain: {listed}")
    return "".join(f"\n  note: {n}" for n in notes)


def _run_many(inputs: tuple[str, ...], outdir: Path, o: _Options, items: _ItemOptions) -> None:
    from flashsim.bundle import default_model_path
    from flashsim.cli.train import expand_inputs
    from flashsim.exceptions import ConfigurationError
    from flashsim.executor import (
        DaskExecutor,
        Executor,
        LocalExecutor,
        SerialExecutor,
        check_outdir,
        run_items,
    )

    check_outdir(outdir, resume=items.resume, overwrite=o.overwrite)
    files = expand_inputs(inputs, "input")
    if items.scheduler is not None and items.executor_name != "dask":
        msg = "--scheduler is the address of a dask scheduler: give it with --executor dask"
        raise ConfigurationError(msg)
    executor: Executor
    if items.executor_name == "dask":
        executor = DaskExecutor(workers=items.workers, scheduler=items.scheduler)
    elif items.workers > 1:
        executor = LocalExecutor(items.workers)
    else:
        executor = SerialExecutor()
    model_dir = o.model if o.model is not None else default_model_path()
    report = run_items(
        files,
        outdir,
        model=model_dir,
        seed=o.seed,
        oversample=o.oversample,
        step_size=o.step_size,
        item_size=items.item_size,
        max_events=o.max_events,
        executor=executor,
        resume=items.resume,
        overwrite=o.overwrite,
        progress=not o.quiet,
        provenance={"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])},
        policy=o.policy(lambda: _spec_policy(model_dir)),
    )
    if not o.quiet:
        rate = report.input_events / max(report.seconds, 1e-9)
        plural = "s" if items.workers > 1 else ""
        where = (
            f"dask at {items.scheduler}"
            if items.scheduler
            else f"{items.workers} {items.executor_name} worker{plural}"
        )
        click.echo(
            f"{report.done} of {report.items} items run ({report.skipped} already done, "
            f"{len(report.failed)} failed): {report.input_events} events -> {outdir}/ "
            f"({report.output_events} written) in {report.seconds:.1f} s ({rate:.0f} events/s, "
            f"{where})",
            err=True,
        )
    report.raise_for_failures()

"""``flashsim run``: apply a trained pipeline to generator-level ROOT files.

One input and a file output: the whole file into one output
(:func:`flashsim.run.single.simulate_file`). Several inputs or quoted globs, or a directory output
(``-o out/``): work items, run by a process pool or dask, with a manifest
(:func:`flashsim.run.batch.run_items`).
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

import click

from flashsim.cli.common import (
    FiniteFloat,
    check_model_dir,
    command_line,
    expand_inputs,
    model_option,
    overwrite_option,
    quiet_option,
    seed_option,
)
from flashsim.cli.gen import generator_options

__all__ = ["object_counts", "run"]

_ITEM_OPTIONS = {
    "workers": "--workers",
    "executor_name": "--executor",
    "scheduler": "--scheduler",
    "resume": "--resume",
    "item_size": "--item-size",
}
"""The options of work-item mode (several inputs or a directory output), by parameter name."""

_MAX_OVERSAMPLE = 10_000
"""The largest --oversample (:data:`flashsim.run.caps.MAX_OVERSAMPLE`, kept here so that
``flashsim --help`` does not import the library; tests/test_hostile_run.py checks that they
agree)."""

_MAX_PILEUP = 1000.0
"""The largest --pileup (:data:`flashsim.run.inputs.MAX_PILEUP`; tests/test_cli_rough_edges.py
checks that they agree)."""

_MANIFEST_NAME = "flashsim-manifest.json"
"""The manifest of a directory output (:data:`flashsim.run.manifest.MANIFEST_NAME`, kept here
so that an existing run is reported before the library is imported; tests/test_cli_rough_edges.py
checks that they agree)."""

_EXECUTOR_NAMES = ("local", "dask")
"""The keys of :data:`flashsim.run.executors.EXECUTORS` (kept here so that ``flashsim --help``
does not import the library; tests/test_cli.py checks that they agree)."""


@click.command()
@click.argument("inputs", metavar="INPUT...", nargs=-1)
@click.option(
    "-o",
    "--output",
    required=True,
    help="Output ROOT file, or a directory (ending with '/', or existing) for one file per item.",
)
@model_option()
@seed_option()
@click.option(
    "--oversample",
    default=1,
    show_default=True,
    type=click.IntRange(min=1, max=_MAX_OVERSAMPLE),
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
    "-n",
    "--max-events",
    type=click.IntRange(min=1),
    help="Simulate only the first N events (of each input, with a directory output); with "
    "--pythia, the number of events to generate.",
)
@overwrite_option(
    "Replace OUTPUT if it is a regular file (a directory: delete the outputs its manifest "
    "lists that flashsim made)."
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
    type=click.Choice(_EXECUTOR_NAMES),
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
    help="Input events per work item, rounded up to a multiple of --step-size; below "
    "--step-size is an error (lower --step-size too: the step fixes the random stream).",
)
@click.option(
    "--pileup",
    "pileup",
    type=FiniteFloat(0.0, _MAX_PILEUP),
    metavar="MU",
    help="For inputs without Pileup_nTrueInt (samples made without pile-up information): the "
    "mean number of pile-up interactions every event gets (recorded in the provenance).",
)
@click.option(
    "--overwrite-reco",
    is_flag=True,
    help="Accept an input that is itself an output of flashsim run: its reco branches are "
    "replaced by newly simulated ones (refused without this flag).",
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
@click.option(
    "--max-objects",
    "max_objects",
    multiple=True,
    metavar="[COLLECTION=]N",
    callback=lambda ctx, param, value: _object_caps(value),
    help="Most objects per event of a collection the models read (default 1000, GenPart "
    "10000, or the spec's inputs.max_objects); N alone sets every collection. Repeatable.",
)
@generator_options
@click.option(
    "--keep-gen",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Generator input (HepMC, --pythia, --lhe): also write its gen level to FILE, as "
    "flashsim gen would.",
)
@quiet_option("No progress bar or summary.")
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
    max_objects: dict[str, int],
    pileup: float | None,
    overwrite_reco: bool,
    pythia: Path | None,
    lhe: Path | None,
    skip_bad_events: bool,
    keep_gen: Path | None,
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

    An input that is itself an output of flashsim run is refused (its reco branches would be
    replaced) unless --overwrite-reco is given. An input without Pileup_nTrueInt needs
    --pileup MU: every event then gets the mean MU.

    Generator output goes in directly: a HepMC file (INPUT), a Pythia card (--pythia CARD
    -n N) or an LHE file (--lhe FILE) is converted to the gen level in memory, as flashsim gen
    does, and simulated; --keep-gen FILE writes that gen level too.
    """
    from flashsim.exceptions import ConfigurationError

    ctx = click.get_current_context()
    if pythia is not None or lhe is not None or any(_is_generator_input(path) for path in inputs):
        _run_generated(ctx, inputs, output, model, seed, pythia, lhe, skip_bad_events, keep_gen)
        return
    if not inputs:
        msg = "give an input file (gen-level ROOT or HepMC), --pythia CARD or --lhe FILE"
        raise click.UsageError(msg)
    for flag, given in (("--skip-bad-events", skip_bad_events), ("--keep-gen", keep_gen)):
        if given:
            msg = f"{flag} is for generator input (HepMC, --pythia, --lhe), not a ROOT file"
            raise ConfigurationError(msg)
    many = (
        len(inputs) > 1
        or any(glob.has_magic(p) and not Path(p).exists() for p in inputs)
        or output.endswith(("/", os.sep))
        or Path(output).is_dir()
    )
    given = [
        flag
        for name, flag in _ITEM_OPTIONS.items()
        if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT
    ]
    if given and not many:
        msg = f"{', '.join(given)} need a directory output: end -o with '/' (-o {output}/)"
        raise ConfigurationError(msg)
    files = _check_paths(inputs, output, model, many=many, overwrite=overwrite, resume=resume)
    if many and item_size < step_size:
        msg = (
            f"--item-size {item_size} is below --step-size {step_size}: an item holds whole chunks "
            f"of --step-size events (the step fixes the random stream); for items of {item_size} "
            f"events give --step-size {item_size} (or a divisor of it) too, which changes the "
            "simulated events, or a larger --item-size"
        )
        raise click.BadParameter(msg, param_hint="'--item-size'")
    from flashsim.run import PolicyOverrides, simulate_file

    common: dict[str, Any] = {
        "model": model,
        "seed": seed,
        "oversample": oversample,
        "step_size": step_size,
        "max_events": max_events,
        "overwrite": overwrite,
        "progress": not quiet,
        "policy": PolicyOverrides(non_finite, out_of_domain, max_objects),
        "command": command_line(),
        "pileup": pileup,
        "overwrite_reco": overwrite_reco,
    }
    if many:
        _run_many(files, Path(output), common, workers, executor_name, scheduler, resume, item_size)
        return
    summary = simulate_file(inputs[0], Path(output), **common)
    if not quiet:
        rate = summary.input_events / max(summary.seconds, 1e-9)
        click.echo(
            f"{summary.input_events} events -> {output} ({summary.output_events} written) in "
            f"{summary.seconds:.1f} s ({rate:.0f} events/s); {object_counts(summary.counters)}"
            f"{_caveats(summary.counters, summary.dropped_events)}",
            err=True,
        )


def _is_generator_input(path: str) -> bool:
    """Whether INPUT is generator output (an existing file that is not ROOT)."""
    from flashsim.generators.open import is_generator_input

    return is_generator_input(path)


def _run_generated(
    ctx: click.Context,
    inputs: tuple[str, ...],
    output: str,
    model: Path | None,
    seed: int,
    pythia: Path | None,
    lhe: Path | None,
    skip_bad_events: bool,
    keep_gen: Path | None,
) -> None:
    """``flashsim run`` on generator output: one stream into one output file."""
    from flashsim.exceptions import ConfigurationError
    from flashsim.io.paths import check_output_path

    params = ctx.params
    refused = [
        flag
        for name, flag in {**_ITEM_OPTIONS, "overwrite_reco": "--overwrite-reco"}.items()
        if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT
    ]
    if len(inputs) > 1 or output.endswith(("/", os.sep)) or Path(output).is_dir() or refused:
        what = ", ".join(refused) or "several inputs or a directory output"
        msg = (
            f"{what}: generator input runs as one stream into one output file; to split it "
            "into work items, write its gen level first with flashsim gen"
        )
        raise ConfigurationError(msg)
    check_output_path(output, overwrite=params["overwrite"])
    check_model_dir(model)
    from flashsim.generators.open import open_source
    from flashsim.run import PolicyOverrides
    from flashsim.run.generated import simulate_generated

    path = Path(inputs[0]) if inputs else None
    max_events = params["max_events"]
    source = open_source(
        path,
        pythia=pythia,
        lhe=lhe,
        n_events=max_events,
        seed=seed,
        skip_bad_events=skip_bad_events,
    )
    try:  # closed here too: an error before the run starts (--keep-gen, --model) leaves it open
        summary = simulate_generated(
            source,
            Path(output),
            model=model,
            seed=seed,
            oversample=params["oversample"],
            step_size=params["step_size"],
            max_events=max_events,
            overwrite=params["overwrite"],
            progress=not params["quiet"],
            policy=PolicyOverrides(
                params["non_finite"], params["out_of_domain"], params["max_objects"]
            ),
            command=command_line(),
            pileup=params["pileup"],
            keep_gen=keep_gen,
        )
    finally:
        source.close()
    if source.skipped_events:
        click.echo(f"flashsim run: {source.skipped_events} damaged event(s) skipped", err=True)
    if not params["quiet"]:
        rate = summary.input_events / max(summary.seconds, 1e-9)
        click.echo(
            f"{summary.input_events} generated events -> {output} ({summary.output_events} "
            f"written) in {summary.seconds:.1f} s ({rate:.0f} events/s); "
            f"{object_counts(summary.counters)}"
            f"{_caveats(summary.counters, summary.dropped_events)}",
            err=True,
        )


def object_counts(counters: dict[str, dict[str, int]]) -> str:
    """The summary's objects per collection: gen objects reconstructed, and the objects
    written without a gen match (pile-up jets, fake leptons), which are part of the output too.

    Example:
        >>> object_counts({"Jet": {"generated": 8140, "reconstructed": 5999, "pileup": 2417}})
        'Jet: 5999 of 8140 gen reconstructed + 2417 pile-up/fake'
    """
    parts = []
    for name, c in counters.items():
        if "generated" not in c:
            continue
        extra = f" + {c['pileup']} pile-up/fake" if c.get("pileup") else ""
        parts.append(f"{name}: {c['reconstructed']} of {c['generated']} gen reconstructed{extra}")
    return ", ".join(parts)


def _check_paths(
    inputs: tuple[str, ...],
    output: str,
    model: Path | None,
    *,
    many: bool,
    overwrite: bool,
    resume: bool,
) -> list[Path]:
    """The input files, after the checks that need no library import: they exist and are ROOT
    files, the output can be written (an existing one needs --overwrite; a directory output
    holding a run needs --resume or --overwrite), and --model is a bundle directory."""
    from flashsim.exceptions import ConfigurationError
    from flashsim.io.paths import check_input_file, check_output_dir, check_output_path

    if many:
        if resume and overwrite:
            msg = "--resume and --overwrite contradict each other: give one"
            raise ConfigurationError(msg)
        check_output_dir(output, record=_MANIFEST_NAME, resume=resume, overwrite=overwrite)
        files = expand_inputs(inputs, "input")
    else:
        files = [Path(inputs[0])]
        check_output_path(output, overwrite=overwrite)
        if files[0].resolve() == Path(output).resolve():
            msg = f"the output {output} is the input file; choose another output name"
            raise ConfigurationError(msg)
    for file in files:
        check_input_file(file)
    check_model_dir(model)
    return files


def _object_caps(values: tuple[str, ...]) -> dict[str, int]:
    """``--max-objects`` values (``N`` for every collection, ``NAME=N`` for one) as a mapping
    (the key ``*`` for every collection); the range is checked by the library's policy."""
    caps: dict[str, int] = {}
    for value in values:
        name, _, number = value.rpartition("=")
        try:
            caps[name.strip() or "*"] = int(number)
        except ValueError:
            msg = f"{value!r}: give N (every collection) or COLLECTION=N, e.g. GenPart=20000"
            raise click.BadParameter(msg) from None
        if caps[name.strip() or "*"] < 1:
            msg = f"{value!r}: a cap must be at least 1"
            raise click.BadParameter(msg)
    return caps


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


def _run_many(
    files: list[Path],
    outdir: Path,
    common: dict[str, Any],
    workers: int,
    executor_name: str,
    scheduler: str | None,
    resume: bool,
    item_size: int,
) -> None:
    """Work-item mode: ``files`` into one file per item in ``outdir``, with a manifest."""
    from flashsim.run import check_outdir, make_executor, run_items

    check_outdir(outdir, resume=resume, overwrite=common["overwrite"])
    executor = make_executor(executor_name, workers=workers, scheduler=scheduler)
    report = run_items(
        files, outdir, item_size=item_size, executor=executor, resume=resume, **common
    )
    if common["progress"]:
        rate = report.input_events / max(report.seconds, 1e-9)
        plural = "s" if workers > 1 else ""
        where = f"dask at {scheduler}" if scheduler else f"{workers} {executor_name} worker{plural}"
        click.echo(
            f"{report.done} of {report.items} items of up to {report.item_size} events run "
            f"({report.skipped} already done, "
            f"{len(report.failed)} failed): {report.input_events} events -> {outdir}/ "
            f"({report.output_events} written) in {report.seconds:.1f} s ({rate:.0f} events/s, "
            f"{where})",
            err=True,
        )
    report.raise_for_failures()

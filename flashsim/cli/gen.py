"""``flashsim gen``: generator output (HepMC, a Pythia card, an LHE file) into a gen-level file.

Parses the options and calls :func:`flashsim.generators.write.write_gen_file` on the source that
:func:`flashsim.generators.open.open_source` picks.
"""

from __future__ import annotations

from pathlib import Path

import click

from flashsim.cli.common import (
    FiniteFloat,
    command_line,
    jobs_option,
    output_option,
    overwrite_option,
    quiet_option,
    seed_option,
)

#: Kept here, not imported from flashsim.generators (numpy, awkward), for a light start-up.
_MAX_PILEUP = 1000.0


def generator_options(func):  # type: ignore[no-untyped-def]
    """The options that say where generated events come from (``flashsim gen`` and
    ``flashsim run``): ``--pythia``, ``--lhe``, ``--skip-bad-events``."""
    func = click.option(
        "--skip-bad-events",
        is_flag=True,
        help="HepMC input: leave out damaged events (cut short, unreadable, no final-state "
        "particle) and count them, instead of stopping at the first.",
    )(func)
    func = click.option(
        "--lhe",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help="Shower the Les Houches events of FILE (.lhe or .lhe.gz, e.g. from MadGraph) with "
        "Pythia 8; --pythia CARD adds settings.",
    )(func)
    return click.option(
        "--pythia",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="CARD",
        help="Generate events with Pythia 8 from the settings of CARD (a .cmnd file).",
    )(func)


@click.command()
@click.argument("input_file", metavar="[INPUT]", required=False, type=click.Path(path_type=Path))
@output_option("Output ROOT file (gen-level NanoAOD, tree Events).")
@generator_options
@click.option(
    "-n",
    "--events",
    "n_events",
    type=click.IntRange(min=1),
    help="Events to generate (--pythia; default: the card's Main:numberOfEvents), or at most "
    "to read from INPUT or --lhe.",
)
@seed_option(text="Seed of Pythia (--pythia, --lhe) and of the Pileup_nPU draws.")
@click.option(
    "--pileup",
    type=FiniteFloat(0.0, _MAX_PILEUP),
    metavar="MU",
    help="Give every event Pileup_nTrueInt = MU and a Poisson-drawn Pileup_nPU (recorded); "
    "without it the file has no pile-up branches (flashsim run then needs --pileup).",
)
@jobs_option(
    "Processes that build the gen level (jets, pruning, flavour) while one reads the input; "
    "the output is the same for any number."
)
@overwrite_option()
@quiet_option()
def gen(
    input_file: Path | None,
    output: Path,
    pythia: Path | None,
    lhe: Path | None,
    skip_bad_events: bool,
    n_events: int | None,
    seed: int,
    pileup: float | None,
    jobs: int,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Write the generator level of INPUT (HepMC3 or HepMC2 ASCII, also .gz/.bz2/.xz), of
    Pythia 8 events from a card (--pythia), or of an LHE file showered by Pythia (--lhe).

    The output has the branches of refsim's gen level and is an input of flashsim run: GenJet
    (anti-kT R=0.4, hadron and parton flavour), GenPart (pruned, statusFlags), GenMET (the
    invisible particles), genWeight, run/luminosityBlock/event, and with --pileup the pile-up
    branches.
    """
    from flashsim.generators.open import open_source
    from flashsim.generators.write import write_gen_file
    from flashsim.io import check_output_path

    check_output_path(output, overwrite=overwrite)
    if input_file is not None and input_file.resolve() == output.resolve():
        msg = f"the output {output} is the input file; choose another output name"
        raise click.BadParameter(msg, param_hint="'-o'")
    source = open_source(
        input_file,
        pythia=pythia,
        lhe=lhe,
        n_events=n_events,
        seed=seed,
        skip_bad_events=skip_bad_events,
    )
    max_events = n_events if input_file is not None else None
    summary = write_gen_file(
        source,
        output,
        overwrite=overwrite,
        progress=not quiet,
        pileup=pileup,
        seed=seed,
        max_events=max_events,
        command=command_line(),
        jobs=jobs,
    )
    skipped = summary["skipped_events"]
    if skipped:
        click.echo(f"flashsim gen: {skipped} damaged event(s) skipped", err=True)
    if not quiet:
        rate = summary["n_events"] / max(summary["seconds"], 1e-9)
        click.echo(
            f"wrote {summary['n_events']} events to {summary['path']} in "
            f"{summary['seconds']:.1f} s ({rate:.0f} events/s)",
            err=True,
        )

"""``flashsim refsim``: make reference samples with Pythia 8 and a parametrised detector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from flashsim.cli.common import (
    MAX_COUNT,
    FiniteFloat,
    jobs_option,
    output_option,
    overwrite_option,
    quiet_option,
    seed_option,
)
from flashsim.refsim.processes import PROCESSES, SQRT_S

__all__ = ["refsim"]

_MAX_SEED = 900_000_000  # Pythia's Random:seed accepts 0 ... 900 000 000
_MAX_PILEUP = 1000.0  # mean pile-up interactions; the HL-LHC expects 200
# Kept here, not imported from flashsim.refsim.lhcb (scipy, awkward), to keep the start-up of the
# command line light; tests/test_refsim_lhcb.py checks them against the library.
_LHCB_PROCESSES = ("bbbar",)
_CALIBRATION_CHANNELS = ("dstar", "lambda", "jpsi", "jpsi_ee")
_CALIBRATION_PROBES = ("K", "pi", "p", "mu", "e")


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
    "-n",
    "--n-events",
    required=True,
    type=click.IntRange(min=1, max=MAX_COUNT),
    help="Number of events.",
)
@seed_option(default=1, maximum=_MAX_SEED)
@jobs_option()
@click.option(
    "--pileup",
    type=FiniteFloat(0.0, _MAX_PILEUP),
    default=None,
    help="Mean number of pile-up interactions [default: the detector's, 25 cms_like, 4 lhcb_like].",
)
@click.option(
    "--pthat-min",
    type=FiniteFloat(0.0, SQRT_S / 2),
    default=None,
    help="pT-hat threshold in GeV of the qcd process [default: 30] or of bbbar [default: 3].",
)
@click.option(
    "--detector",
    type=click.Choice(["cms_like", "lhcb_like"]),
    default="cms_like",
    show_default=True,
    help="Detector model (lhcb_like simulates the bbbar process).",
)
@output_option("Output ROOT file.")
@overwrite_option()
@click.option(
    "--gen-only",
    is_flag=True,
    help="Write only generator-level branches (an input for `flashsim run`).",
)
@click.option(
    "--hepmc",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Also write the generated events (without pile-up) as HepMC3 ASCII to FILE "
    "(.gz: compressed); `flashsim gen FILE` gives back the same gen level (cms_like only).",
)
@quiet_option()
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
    hepmc: Path | None,
    quiet: bool,
) -> None:
    """Generate events of one process and write them as NanoAOD."""
    from flashsim.exceptions import ConfigurationError
    from flashsim.io import check_output_path

    if (detector == "lhcb_like") != (process in _LHCB_PROCESSES):
        if detector == "lhcb_like":
            msg = (
                f"the lhcb_like detector simulates bbbar events, not {process}: use --process bbbar"
            )
        else:
            msg = (
                f"the {process} process is made for the LHCb-like detector: "
                "add --detector lhcb_like"
            )
        raise ConfigurationError(msg)
    check_output_path(output, overwrite=overwrite)
    if hepmc is not None:
        if detector == "lhcb_like":
            msg = "--hepmc is for the cms_like detector; leave it out with --detector lhcb_like"
            raise ConfigurationError(msg)
        check_output_path(hepmc, overwrite=overwrite)

    if detector == "lhcb_like":
        from flashsim.refsim.lhcb.generate import generate_lhcb_sample as generate

        extra: dict[str, Any] = {}
    else:
        from flashsim.refsim.generate import generate_sample as generate

        extra = {"detector": detector, "hepmc": hepmc}
    summary = generate(
        process=process,
        n_events=n_events,
        seed=seed,
        jobs=jobs,
        output=output,
        pileup=pileup,
        pthat_min=pthat_min,
        overwrite=overwrite,
        progress=not quiet,
        gen_only=gen_only,
        **extra,
    )
    if not quiet:
        click.echo(
            f"wrote {summary['n_events']} {process} events to {summary['path']} "
            f"in {summary['seconds']:.1f} s"
        )


@refsim.command()
@click.option(
    "--channel",
    required=True,
    type=click.Choice(_CALIBRATION_CHANNELS),
    help="Calibration channel: dstar (D*+ -> D0(K pi) pi), lambda (Lambda -> p pi), jpsi (mu mu), "
    "jpsi_ee (e e).",
)
@click.option(
    "-n",
    "--n-rows",
    required=True,
    type=click.IntRange(min=1, max=MAX_COUNT),
    help="Number of probe tracks.",
)
@click.option(
    "--background-fraction",
    default=0.4,
    show_default=True,
    type=FiniteFloat(0.0, 1.0),
    help="Expected fraction of combinatorial-background rows.",
)
@click.option(
    "--probe",
    type=click.Choice(_CALIBRATION_PROBES),
    default=None,
    help="Signal probe: K or pi (dstar), p or pi (lambda), mu (jpsi), e (jpsi_ee) "
    "[default: K, p, mu, e].",
)
@seed_option(default=1, maximum=_MAX_SEED)
@output_option("Output ROOT file (flat tree Events, one row per probe).")
@overwrite_option()
@quiet_option()
def calibration(
    channel: str,
    n_rows: int,
    background_fraction: float,
    probe: str | None,
    seed: int,
    output: Path,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Make an LHCb-like PID calibration sample (mass to fit, probe kinematics and PID)."""
    from flashsim.refsim.lhcb.calibration import generate_calibration

    summary = generate_calibration(
        channel=channel,
        n=n_rows,
        output=output,
        background_fraction=background_fraction,
        seed=seed,
        probe=probe,
        overwrite=overwrite,
        progress=not quiet,
    )
    if not quiet:
        click.echo(
            f"wrote {summary['n']} {channel} calibration rows ({summary['probe']} probes) to "
            f"{summary['path']} in {summary['seconds']:.1f} s"
        )

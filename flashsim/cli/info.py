"""``flashsim info`` and ``flashsim inspect``: what is in a model bundle, and in an input file.

The logic and the text live in :mod:`flashsim.introspect`; these commands only choose between
text and ``--json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from flashsim.cli.common import check_model_dir

__all__ = ["info", "inspect_file"]


@click.command()
@click.argument("model_dir", required=False, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def info(model_dir: Path | None, as_json: bool) -> None:
    """Describe the model bundle MODEL_DIR (default: the model shipped with flashsim).

    Prints the pipeline, the bundle's SHA-256 (the model id in outputs' provenance), the
    software versions and the training data recorded at training, and per stage the
    efficiency BDT, the response model (flow or GAN) with its hyperparameters, the condition
    and target names and the validation metrics. Loads no weights.
    """
    check_model_dir(model_dir)  # before the library (and torch) is imported
    from flashsim.bundle import default_model_path
    from flashsim.introspect import format_model_info, model_info

    described = model_info(model_dir if model_dir is not None else default_model_path())
    click.echo(
        json.dumps(described.to_dict(), indent=2) if as_json else format_model_info(described)
    )


@click.command("inspect")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--model",
    type=click.Path(path_type=Path),
    help="Model bundle to check the file against (default: the model shipped with flashsim).",
)
@click.option("--tree", default="Events", show_default=True, help="The TTree to describe.")
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
@click.option(
    "--check", is_flag=True, help="Exit with status 2 when the file does not fit the model."
)
def inspect_file(file: Path, model: Path | None, tree: str, as_json: bool, check: bool) -> None:
    """Describe the ROOT file FILE and whether `flashsim run` can simulate it.

    Lists the file's trees, the NanoAOD collections (counter nX and jagged X_* fields, with
    their types) and event-level branches of the tree, and the flashsim provenance if any; then
    checks the branches the model's pipeline reads (missing ones with close names, wrong
    types, no events). The text ends with `fits model <name>: yes` or `no (<reasons>)`.
    """
    from flashsim.io.paths import check_input_file

    # Before the library (and torch) is imported: a mistyped path is answered at once.
    check_input_file(file)
    check_model_dir(model)
    from flashsim.exceptions import InputError
    from flashsim.introspect import file_info, format_file_info

    described = file_info(file, tree=tree, model=model)
    click.echo(
        json.dumps(described.to_dict(), indent=2) if as_json else format_file_info(described)
    )
    fit = described.fit
    if check and fit is not None and not fit.fits:
        msg = (
            f"{file} does not fit model {fit.model}: {'; '.join(fit.reasons)}; add the branches "
            "or choose the matching --model"
        )
        raise InputError(msg)

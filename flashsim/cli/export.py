"""``flashsim export``: write a bundle's response models in a deployable format (ONNX)."""

from __future__ import annotations

from pathlib import Path

import click

from flashsim.cli.common import FiniteFloat, check_model_dir

__all__ = ["export"]

_ONNX_MANIFEST = "onnx-manifest.json"
"""The manifest of an export (:data:`flashsim.export.MANIFEST_NAME`, kept here so that an
existing export is reported before torch is imported; tests/test_cli_rough_edges.py checks
that they agree)."""


@click.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--onnx", "onnx_format", is_flag=True, help="Export to ONNX (the only format).")
@click.option(
    "-o", "--output", required=True, type=click.Path(path_type=Path), help="Output directory."
)
@click.option(
    "--opset",
    type=click.IntRange(min=12),
    help="ONNX opset version (default: torch's; spline flows need 12 or more).",
)
@click.option(
    "--rtol",
    default=1e-4,
    show_default=True,
    type=FiniteFloat(0.0, 1.0, min_open=True),
    help="Check tolerance on max |ort - torch| / max(|torch|, 1), widened to 10x torch's own "
    "float32 rounding for steep flows.",
)
@click.option(
    "--precision",
    default="float32",
    show_default=True,
    type=click.Choice(["float32", "float64"]),
    help="float32 samples as flashsim run does; float64 reproduces torch in double precision "
    "exactly (no float32 rounding in the spline inverses); ONNX Runtime runs it about 1.7x "
    "slower.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing export in OUTPUT.")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages (the table still prints).")
def export(
    model_dir: Path,
    onnx_format: bool,
    output: Path,
    opset: int | None,
    rtol: float,
    precision: str,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Export the response models of MODEL_DIR (flows, GANs) to ONNX, checked against torch.

    Writes OUTPUT/<model>.onnx (inputs `context` and `noise`, output `x`, in the models'
    preprocessed space) and OUTPUT/onnx-manifest.json (inputs, preprocessing, check results).
    Each export is compared with torch on fixed noise; a failing comparison exits with status 2.
    Needs the export extra: pip install 'flashsim[export]'.
    """
    if not onnx_format:
        msg = "choose the format: --onnx (the only one so far)"
        raise click.UsageError(msg)
    _check_paths(model_dir, output, overwrite=overwrite)
    from flashsim.export import ExportCheckError, export_bundle, format_table

    highest = _highest_opset()
    if opset is not None and highest is not None and opset > highest:
        msg = f"--opset {opset}: this torch exports opsets 12 to {highest}"
        raise click.BadParameter(msg, param_hint="'--opset'")

    def log(line: str) -> None:
        if not quiet:
            click.echo(f"flashsim export: {line}", err=True)

    try:
        results = export_bundle(
            model_dir,
            output,
            opset=opset,
            rtol=rtol,
            overwrite=overwrite,
            progress=log,
            precision=precision,
        )
    except ExportCheckError as err:
        if err.results:
            click.echo(format_table(err.results))
        raise
    click.echo(format_table(results))
    log(f"{len(results)} models and onnx-manifest.json written to {output}")


def _check_paths(model_dir: Path, output: Path, *, overwrite: bool) -> None:
    """The checks of the bundle and the output that need no import of torch (the library
    makes them again)."""
    from flashsim.exceptions import OutputError

    check_model_dir(model_dir)
    if output.exists() and not output.is_dir():
        msg = f"{output} exists and is not a directory"
        raise OutputError(msg)
    if (output / _ONNX_MANIFEST).exists() and not overwrite:
        msg = f"{output} already holds an ONNX export; pass --overwrite to replace it"
        raise OutputError(msg)


def _highest_opset() -> int | None:
    """The highest ONNX opset the installed torch exports (None if it does not say)."""
    import torch.onnx

    return getattr(getattr(torch.onnx, "_constants", None), "ONNX_MAX_OPSET", None)

"""Export a whole model bundle: every response model to ONNX, each checked, and the manifest.

:func:`export_bundle` writes ``<name>.onnx`` per response model (``Jet.response.onnx`` next to
the bundle's ``Jet.response.pt``; :mod:`.walk` finds them, :mod:`.graph` writes them,
:mod:`.check` compares each with torch) and ``onnx-manifest.json``: per model its file, inputs
and outputs, the context columns and targets with their preprocessing and the check results;
enough to run the models from C++ with ONNX Runtime. What stays outside the graph is written in
the manifest: the preprocessing of the conditions, the clipping of x to ``bounds``, the inverse
target preprocessing and the decoding relative to the generated object.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from flashsim import __version__
from flashsim.atomic import check_replaceable, temporary_name, write_atomically
from flashsim.bundle import bundle_hash
from flashsim.exceptions import ExportCheckError, ExportError, OutputError
from flashsim.export.check import (
    CHECK_ROWS,
    DEFAULT_RTOL,
    CheckResult,
    check_onnx,
    failure_message,
)
from flashsim.export.graph import BATCH_AXIS, export_onnx, onnxruntime_module
from flashsim.export.walk import ResponseModel, response_models

__all__ = ["MANIFEST_FORMAT", "MANIFEST_NAME", "export_bundle"]

MANIFEST_NAME = "onnx-manifest.json"
"""The manifest's file name in the export directory."""
MANIFEST_FORMAT = 1
"""The layout version of :data:`MANIFEST_NAME`."""

_USAGE = (
    "x = model(context, noise), noise ~ N(0, 1) (in the inputs' dtype). context: each column's "
    "physical value (its 'definition' in the bundle's spec) through its 'transforms' in order "
    "(log, standardize, ...; see flashsim.preprocessing), then the appended columns ('values'). x: "
    "clip column j to [bounds[0][j], bounds[1][j]], undo its 'transforms' in reverse order, then "
    "decode by 'kind' (ratio: times the generated value; diff: plus it; dphi: plus it, wrapped "
    "to [-pi, pi]; value: as is; point_mass (PID): that value where the context column "
    "NAME_atPointMass is 1; relative_to (PID): plus that target), clip to 'range'. Objects "
    "below 'select_min' are sampled again. 'other_targets' are not modelled (uniform_phi: drawn "
    "uniformly in [-pi, pi])."
)


def export_bundle(
    directory: str | os.PathLike[str],
    output: Path,
    *,
    opset: int | None = None,
    rtol: float = DEFAULT_RTOL,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
    precision: str = "float32",
) -> list[CheckResult]:
    """Export every response model of a bundle to ``output``, check each, write the manifest.

    The manifest is written also when a check fails (with ``"passed": false``).

    Arguments:
        directory: the model bundle.
        output: the directory to write (created if needed).
        opset: the ONNX opset (default: torch's).
        rtol: the check's tolerance (:func:`~flashsim.export.check.check_onnx`).
        overwrite: replace an existing export in ``output``.
        progress: called with a line per exported model.
        precision: ``float32`` or ``float64`` (:func:`~flashsim.export.graph.export_onnx`).

    Raises:
        ModelError: the bundle is missing or unusable.
        OutputError: ``output`` holds an export already (without ``overwrite``) or is a file.
        ExportError: a model cannot be exported.
        ExportCheckError: a check failed; all results are in its ``results``.
    """
    ort = onnxruntime_module()
    import onnx

    if output.exists() and not output.is_dir():
        msg = f"{output} exists and is not a directory"
        raise OutputError(msg)
    if (output / MANIFEST_NAME).exists() and not overwrite:
        msg = f"{output} already holds an ONNX export; pass --overwrite to replace it"
        raise OutputError(msg)
    entries = response_models(directory)
    output.mkdir(parents=True, exist_ok=True)
    models: dict[str, Any] = {}
    results: list[CheckResult] = []
    for entry in entries:
        path = output / f"{entry.name}.onnx"
        # Written under a fresh random name and renamed: a link planted at the final name is
        # replaced, never followed.
        check_replaceable(path)
        tmp = temporary_name(path)
        try:
            export_onnx(entry.model, tmp, opset=opset, precision=precision)
            onnx_model = onnx.load(str(tmp))
            try:
                onnx.checker.check_model(onnx_model)
            except onnx.checker.ValidationError as err:
                msg = f"{path} is not a valid ONNX model: {str(err).strip().splitlines()[0]}"
                raise ExportError(msg) from err
            check_replaceable(path)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        version = next(o.version for o in onnx_model.opset_import if o.domain in ("", "ai.onnx"))
        result = check_onnx(
            entry.model,
            path,
            rtol=rtol,
            context=_check_context(entry, CHECK_ROWS, 0),
            name=entry.name,
            raise_on_failure=False,
            precision=precision,
        )
        results.append(result)
        models[entry.name] = _manifest_entry(entry, version, result, precision)
        if progress is not None:
            progress(f"{path.name}: max relative difference {result.max_rel_diff:.2g}")
    manifest = {
        "format": MANIFEST_FORMAT,
        "flashsim": __version__,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "exporter": "torch.onnx.export(dynamo=False)",
        "precision": precision,
        "bundle": str(Path(directory).resolve()),
        "bundle_hash": bundle_hash(directory),
        "usage": _USAGE,
        "models": models,
    }
    write_atomically(output / MANIFEST_NAME, json.dumps(manifest, indent=1).encode())
    failed = [r for r in results if not r.passed]
    if failed:
        raise ExportCheckError(failure_message(failed), results)
    return results


def _check_context(entry: ResponseModel, rows: int, seed: int) -> np.ndarray:
    """Standard normal for preprocessed columns, the allowed values for appended ones."""
    rng = np.random.default_rng(seed + 1)
    context = rng.standard_normal((rows, entry.model.n_context), dtype=np.float32)
    for j, column in enumerate(entry.context[: entry.model.n_context]):
        if "values" in column:
            context[:, j] = rng.choice(np.asarray(column["values"], dtype=np.float32), rows)
    return context


def _manifest_entry(
    entry: ResponseModel, opset: int, result: CheckResult, precision: str
) -> dict[str, Any]:
    model = entry.model
    inputs = [{"name": "noise", "dtype": precision, "shape": [BATCH_AXIS, model.noise_dim]}]
    if model.n_context:
        inputs.insert(
            0, {"name": "context", "dtype": precision, "shape": [BATCH_AXIS, model.n_context]}
        )
    inputs[-1]["distribution"] = "independent standard normal"
    return {
        "file": f"{entry.name}.onnx",
        "kind": model.kind,
        "config": model.config.to_dict(),
        "opset": opset,
        "inputs": inputs,
        "outputs": [{"name": "x", "dtype": precision, "shape": [BATCH_AXIS, model.n_features]}],
        "context": list(entry.context),
        "targets": list(entry.targets),
        "bounds": entry.bounds,
        "other_targets": list(entry.other_targets),
        "check": result.to_dict(),
    }

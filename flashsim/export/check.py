"""The numerical check of an ONNX export: ONNX Runtime against torch on the same inputs.

:func:`check_onnx` feeds fixed noise and contexts to the torch model and to ONNX Runtime and
compares ``max |ort - torch| / max(|torch|, 1)`` with a tolerance. A spline flow inverted in
float32 is steep where the learned density is low, so float32 rounding alone moves torch's own
output by up to about 1e-4 there (measured on the default model's Jet response: its float32 and
float64 outputs differ by 4e-5 to 2e-4 in the same 2000 rows, ONNX Runtime and torch by as
much). The tolerance is therefore ``rtol`` or :data:`ROUNDOFF_ALLOWANCE` times that float32
floor (torch float32 against torch float64 on the same rows), whichever is larger; pass
``roundoff=0`` for ``rtol`` alone. A wrong graph or weight differs by orders of magnitude more.

References:
    ONNX Runtime, https://onnxruntime.ai/docs/.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from flashsim.exceptions import ExportCheckError
from flashsim.export.graph import in_precision, input_names, onnxruntime_module
from flashsim.models.base import TorchModel

__all__ = [
    "CHECK_ROWS",
    "DEFAULT_RTOL",
    "ROUNDOFF_ALLOWANCE",
    "CheckResult",
    "check_onnx",
    "failure_message",
    "format_table",
]

DEFAULT_RTOL = 1e-4
"""The check's tolerance for well-conditioned models."""
CHECK_ROWS = 2000
"""The rows compared by default."""
ROUNDOFF_ALLOWANCE = 10.0
"""The tolerance is at least this many times torch's own float32 rounding error (see above)."""


@dataclass(frozen=True)
class CheckResult:
    """The comparison of an exported model with torch (see :func:`check_onnx`)."""

    name: str
    inputs: str
    rows: int
    max_rel_diff: float
    max_abs_diff: float
    float32_floor: float | None
    rtol: float
    tolerance: float
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-compatible mapping."""
        return asdict(self)


def _check_inputs(
    model: TorchModel, rows: int, seed: int, context: np.ndarray | None, precision: str
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((rows, model.noise_dim), dtype=np.float32).astype(precision)
    if context is None:
        context = rng.standard_normal((rows, model.n_context), dtype=np.float32)
    context = np.ascontiguousarray(context, dtype=precision)
    if context.shape != (rows, model.n_context):
        msg = f"context must have shape ({rows}, {model.n_context}), got {context.shape}"
        raise ValueError(msg)
    return context, noise


def _float32_floor(
    model: TorchModel, context: np.ndarray, noise: np.ndarray, x32: np.ndarray
) -> float | None:
    """max |x32 - x64| / max(|x64|, 1): torch's own float32 rounding on these rows."""
    try:
        double = copy.deepcopy(model)
        double.module.double()
        with torch.no_grad():
            x64 = double._map_noise(
                torch.from_numpy(noise).double(), torch.from_numpy(context).double()
            ).numpy()
    except (RuntimeError, TypeError, ValueError):
        return None  # a model that cannot run in float64: rtol alone
    return float(np.max(np.abs(x32 - x64) / np.maximum(np.abs(x64), 1), initial=0.0))


def check_onnx(
    model: TorchModel,
    path: Path,
    *,
    rtol: float = DEFAULT_RTOL,
    rows: int = CHECK_ROWS,
    seed: int = 0,
    context: np.ndarray | None = None,
    roundoff: float = ROUNDOFF_ALLOWANCE,
    name: str | None = None,
    raise_on_failure: bool = True,
    precision: str = "float32",
) -> CheckResult:
    """Compare the ONNX file ``path`` with ``model`` on fixed noise and contexts.

    Runs ONNX Runtime (CPU, one thread) on ``rows`` rows at once and on one row alone, torch's
    ``_map_noise`` on the same rows, and requires ``max |ort - torch| / max(|torch|, 1)`` to be at
    most ``max(rtol, roundoff * floor)``, where ``floor`` is the same quantity for torch in float32
    against torch in float64 (module docstring).

    Arguments:
        model: the torch model the file was exported from.
        path: the ``.onnx`` file.
        rtol: the tolerance for well-conditioned models.
        rows: the number of rows compared.
        seed: seeds the noise and the default contexts.
        context: ``(rows, n_context)`` contexts (default: standard normal, the scale of
            standardized conditions).
        roundoff: the multiple of the float32 floor allowed (0: ``rtol`` alone).
        name: the model's name in the result and messages (default: the file's stem).
        raise_on_failure: raise :class:`ExportCheckError` when the check fails.
        precision: the export's precision; with ``float64`` torch runs in float64 too and the
            tolerance is ``rtol`` alone (no float32 rounding to allow for).

    Raises:
        ExportCheckError: the outputs differ beyond the tolerance (``raise_on_failure``).
        ExportError: onnxruntime is missing.
    """
    ort = onnxruntime_module()
    name = name if name is not None else Path(path).stem
    context, noise = _check_inputs(model, rows, seed, context, precision)
    if precision == "float64":
        model, roundoff = in_precision(model, precision), 0.0
    with torch.no_grad():
        expected = model._map_noise(torch.from_numpy(noise), torch.from_numpy(context)).numpy()
    feeds = {"context": context, "noise": noise}
    names = input_names(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        (got,) = session.run(["x"], {k: feeds[k] for k in names})
        (got_one,) = session.run(["x"], {k: feeds[k][:1] for k in names})
    except Exception as err:  # onnxruntime's errors share no base class but Exception
        msg = f"ONNX Runtime cannot run {path} ({name}): {type(err).__name__}: {err}"
        raise ExportCheckError(msg) from err
    if got.shape != expected.shape or got_one.shape != expected[:1].shape:
        msg = f"{name}: ONNX output has shape {got.shape}, torch {expected.shape}"
        raise ExportCheckError(msg)
    got, reference = np.concatenate([got, got_one]), np.concatenate([expected, expected[:1]])
    diff = np.abs(got.astype(np.float64) - reference)
    rel = float(np.max(diff / np.maximum(np.abs(reference), 1), initial=0.0))
    floor = _float32_floor(model, context, noise, expected) if roundoff > 0 else None
    tolerance = max(rtol, roundoff * floor) if floor is not None else rtol
    result = CheckResult(
        name=name,
        inputs=", ".join(f"{k}[{feeds[k].shape[1]}]" for k in names),
        rows=rows,
        max_rel_diff=rel,
        max_abs_diff=float(np.max(diff, initial=0.0)),
        float32_floor=floor,
        rtol=rtol,
        tolerance=tolerance,
        passed=bool(rel <= tolerance),  # NaN fails
    )
    if raise_on_failure and not result.passed:
        raise ExportCheckError(failure_message([result]), [result])
    return result


def failure_message(failed: Sequence[CheckResult]) -> str:
    """The one-line error for failed checks, naming each model with its difference."""
    worst = ", ".join(f"{r.name} {r.max_rel_diff:.3g} > {r.tolerance:.3g}" for r in failed)
    return (
        f"ONNX export check failed: ONNX Runtime differs from torch ({worst}, max relative "
        "difference); the export is wrong: report it with the model bundle"
    )


def format_table(results: Sequence[CheckResult]) -> str:
    """The check results as a small text table (model, inputs, max relative difference, pass)."""
    rows = [("model", "inputs", "max rel diff", "tolerance", "pass")]
    rows += [
        (
            r.name,
            r.inputs,
            f"{r.max_rel_diff:.2e}",
            f"{r.tolerance:.1e}",
            "yes" if r.passed else "NO",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )

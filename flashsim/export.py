"""Export the response models of a model bundle to ONNX, and check each export against torch.

Every response model (the collections' responses, their fakes' responses, the event response, the
PID responses) samples by mapping standard-normal noise and its context to x, the targets in the
model's preprocessed (standardized) space (:meth:`flashsim.models.base.TorchModel._map_noise`).
:func:`export_bundle` writes that map as ``<name>.onnx`` (``Jet.response.onnx`` next to the
bundle's ``Jet.response.pt``), with inputs ``context`` (float32, ``(n, n_context)``; absent when
the model has no context) and ``noise`` (float32, ``(n, noise_dim)``), output ``x`` (float32,
``(n, n_features)``) and a dynamic batch axis, plus ``onnx-manifest.json``: per model its file,
inputs and outputs, the context columns and targets with their preprocessing and the check
results; enough to run the models from C++ with ONNX Runtime. What stays outside the graph is
written in the manifest: the preprocessing of the conditions, the clipping of x to ``bounds``,
the inverse target preprocessing and the decoding relative to the generated object.

The check (:func:`check_onnx`, always run after the export) feeds fixed noise and contexts to the
torch model and to ONNX Runtime and compares ``max |ort - torch| / max(|torch|, 1)`` with a
tolerance. A spline flow inverted in float32 is steep where the learned density is low, so
float32 rounding alone moves torch's own output by up to about 1e-4 there (measured on the
default model's Jet response: its float32 and float64 outputs differ by 4e-5 to 2e-4 in the same
2000 rows, ONNX Runtime and torch by as much). The tolerance is therefore ``rtol`` or
:data:`ROUNDOFF_ALLOWANCE` times that float32 floor (torch float32 against torch float64 on the
same rows), whichever is larger; pass ``roundoff=0`` for ``rtol`` alone. A wrong graph or weight
differs by orders of magnitude more.

Exporter: ``torch.onnx.export(..., dynamo=False)``, the TorchScript tracer (torch 2.13). It runs
``_map_noise`` eagerly with the real weights and records the tensor operations, so it exports
zuko's own inverse, flashsim's :class:`~flashsim.models.flow_sampler.FlowSampler` and the GAN
alike, whatever they build lazily in Python, in about a second. ``dynamo=True`` (``torch.export``)
failed on every flow: the sampler is built lazily inside ``_map_noise`` and reads a buffer's value
(``int(order.max())``), a data-dependent guard that ``torch.export`` refuses; it succeeded only with
the model's weights hidden from the exported module and the sampler's cache filled beforehand
(depending on how that cache is keyed), took 10 to 20 times longer (16 s against 0.7 s for a tiny
spline flow) and needs ``onnxscript``. Tracing freezes Python control flow that depends on the
batch size; the check therefore runs batch sizes other than the traced one (2000 rows and 1 row
against 16). The TorchScript exporter is deprecated since torch 2.9; should it go, export through
the same wrapper with ``dynamo=True``, holding the model outside the module's parameters.

Needs the ``export`` extra (``pip install 'flashsim[export]'``: onnx, onnxruntime).

References:
    ONNX, https://onnx.ai/onnx/intro/; ONNX Runtime, https://onnxruntime.ai/docs/;
    ``torch.onnx``, https://pytorch.org/docs/stable/onnx.html.

Example:
    >>> from flashsim.bundle import default_model_path  # doctest: +SKIP
    >>> results = export_bundle(default_model_path(), Path("onnx"))  # doctest: +SKIP
    >>> print(format_table(results))  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from flashsim import __version__
from flashsim.exceptions import ExportCheckError, ExportError, OutputError
from flashsim.models.base import TorchModel
from flashsim.response_record import flow_record
from flashsim.spec import pid_flags

__all__ = [
    "CHECK_ROWS",
    "DEFAULT_RTOL",
    "MANIFEST_NAME",
    "ROUNDOFF_ALLOWANCE",
    "CheckResult",
    "ExportCheckError",
    "ExportError",
    "ResponseModel",
    "check_onnx",
    "export_bundle",
    "export_onnx",
    "format_table",
    "response_models",
]

MANIFEST_NAME = "onnx-manifest.json"
MANIFEST_FORMAT = 1
"""The layout version of :data:`MANIFEST_NAME`."""

DEFAULT_RTOL = 1e-4
CHECK_ROWS = 2000
ROUNDOFF_ALLOWANCE = 10.0
"""The tolerance is at least this many times torch's own float32 rounding error (see above)."""

_TRACE_ROWS = 16
_BATCH = "batch"
_EXTRA_HINT = "install the export extra: pip install 'flashsim[export]'"


@dataclass(frozen=True)
class ResponseModel:
    """A response model of a bundle and what maps physical values to its inputs and outputs.

    Arguments:
        name: ``Jet.response``, ``Jet.fakes.response``, ``event.response``, ``pid.K.response``.
        model: the flow or GAN.
        context: the context columns, in order: ``name`` and ``transforms`` (the preprocessing
            as recorded in the bundle), the spec's ``definition`` of a condition, or ``values``
            and ``description`` of a column the pipeline appends (ID class, isMuon).
        targets: the columns of x, in order: ``name``, ``transforms`` and the spec's decoding.
        bounds: x is clipped to ``(low, high)`` per column before the inverse preprocessing.
        other_targets: targets of the stage that are not in x (drawn outside the model).
    """

    name: str
    model: TorchModel
    context: tuple[dict[str, Any], ...]
    targets: tuple[dict[str, Any], ...]
    bounds: list[list[float]] | None = None
    other_targets: tuple[dict[str, Any], ...] = ()


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


class _NoiseToX(torch.nn.Module):
    """``forward(context, noise) = model._map_noise(noise, context)``; ``forward(noise)`` without
    context. The model's module is a submodule, so the tracer sees its weights as parameters."""

    def __init__(self, model: TorchModel) -> None:
        super().__init__()
        self.inner = model.module
        self.__dict__["model"] = model

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        model: TorchModel = self.__dict__["model"]
        if model.n_context == 0:
            (noise,) = inputs
            return model._map_noise(noise, noise.new_zeros((noise.shape[0], 0)))
        context, noise = inputs
        return model._map_noise(noise, context)


def _input_names(model: TorchModel) -> list[str]:
    return ["noise"] if model.n_context == 0 else ["context", "noise"]


def _onnxruntime() -> Any:
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError as err:
        msg = f"ONNX export needs onnx and onnxruntime ({err.name} is missing); {_EXTRA_HINT}"
        raise ExportError(msg) from err
    return onnxruntime


def export_onnx(
    model: TorchModel, path: Path, *, opset: int | None = None, precision: str = "float32"
) -> None:
    """Write ``model``'s noise-to-x map as an ONNX file (inputs ``context``, ``noise``; output
    ``x``; dynamic batch axis). The model must be on the CPU.

    Arguments:
        model: a flow or GAN.
        path: the ``.onnx`` file to write.
        opset: the ONNX opset (default: torch's).
        precision: ``float32`` (as ``flashsim run`` samples) or ``float64`` (weights, inputs
            and arithmetic in double precision: no float32 rounding in the spline inverses).

    Raises:
        ExportError: torch cannot export the model, or onnx is missing.
    """
    _onnxruntime()
    model = _in_precision(model, precision)
    dtype = _TORCH_DTYPES[precision]
    names = _input_names(model)
    generator = torch.Generator().manual_seed(0)
    example = {
        "context": torch.randn(_TRACE_ROWS, model.n_context, generator=generator, dtype=dtype),
        "noise": torch.randn(_TRACE_ROWS, model.noise_dim, generator=generator, dtype=dtype),
    }
    args = tuple(example[name] for name in names)
    wrapper = _NoiseToX(model).eval()
    with torch.no_grad():
        try:
            wrapper(*args)  # whatever the model builds lazily is built here, outside the trace
            with warnings.catch_warnings():
                # The tracer warns about every shape read in Python and that it is deprecated;
                # the check runs other batch sizes than the traced one instead.
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    wrapper,
                    args,
                    str(path),
                    input_names=names,
                    output_names=["x"],
                    dynamic_axes={name: {0: _BATCH} for name in [*names, "x"]},
                    opset_version=opset,
                    dynamo=False,
                )
        except Exception as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            msg = f"torch cannot export {model!r} to ONNX: {type(err).__name__}: {first}"
            raise ExportError(msg) from err


PRECISIONS = ("float32", "float64")
"""The floating-point precisions an export can have."""

_TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _in_precision(model: TorchModel, precision: str) -> TorchModel:
    """``model`` itself for float32; a float64 copy for float64."""
    if precision not in PRECISIONS:
        msg = f"precision {precision!r}: use one of {', '.join(PRECISIONS)}"
        raise ExportError(msg)
    if precision == "float32":
        return model
    double = copy.deepcopy(model)
    double.module.double()
    _replace_leaky_relu(double.module)
    return double


class _LeakyReLU(torch.nn.Module):
    """``LeakyReLU`` written as ``where(x > 0, x, slope * x)``: ONNX Runtime's CPU provider has
    no double-precision LeakyRelu kernel, but has Where and Mul."""

    def __init__(self, slope: float) -> None:
        super().__init__()
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 0, x, x * self.slope)


def _replace_leaky_relu(module: torch.nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, torch.nn.LeakyReLU):
            setattr(module, name, _LeakyReLU(child.negative_slope))
        else:
            _replace_leaky_relu(child)


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
    ort = _onnxruntime()
    name = name if name is not None else Path(path).stem
    context, noise = _check_inputs(model, rows, seed, context, precision)
    if precision == "float64":
        model, roundoff = _in_precision(model, precision), 0.0
    with torch.no_grad():
        expected = model._map_noise(torch.from_numpy(noise), torch.from_numpy(context)).numpy()
    feeds = {"context": context, "noise": noise}
    names = _input_names(model)
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
        raise ExportCheckError(_failure_message([result]), [result])
    return result


def _failure_message(failed: Sequence[CheckResult]) -> str:
    worst = ", ".join(f"{r.name} {r.max_rel_diff:.3g} > {r.tolerance:.3g}" for r in failed)
    return (
        f"ONNX export check failed: ONNX Runtime differs from torch ({worst}, max relative "
        "difference); the export is wrong: report it with the model bundle"
    )


def _column_spec(thing: Any, keys: Sequence[str]) -> dict[str, Any]:
    """The attributes ``keys`` of a spec object that are set, as JSON values."""
    out: dict[str, Any] = {}
    for key in keys:
        value = getattr(thing, key, None)
        empty = isinstance(value, (tuple, Mapping)) and not any(
            v is not None for v in (value.values() if isinstance(value, Mapping) else value)
        )
        if value is None or value is False or empty:
            continue
        if isinstance(value, Mapping):
            value = dict(value)
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def _conditions(record: Mapping[str, Any], spec_conditions: Sequence[Any]) -> list[dict]:
    by_name = {c.name: c for c in spec_conditions}
    keys = ("field", "event", "flag", "feature", "params", "abs", "above", "column")
    columns = []
    for column in record["columns"]:
        entry = {"name": column["name"], "transforms": column["transforms"]}
        if column["name"] in by_name:
            entry["definition"] = _column_spec(by_name[column["name"]], keys)
        columns.append(entry)
    return columns


def _targets(
    record: Mapping[str, Any], spec_targets: Sequence[Any]
) -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    by_name = {t.name: t for t in spec_targets}
    keys = ("kind", "range", "dtype", "select_min", "column", "relative_to", "point_mass", "split")
    modelled = []
    for column in record["targets"]["columns"]:
        entry = {"name": column["name"], "transforms": column["transforms"]}
        if column["name"] in by_name:
            entry.update(_column_spec(by_name[column["name"]], keys))
        modelled.append(entry)
    names = {c["name"] for c in modelled}
    other = [{"name": t.name, **_column_spec(t, keys)} for t in spec_targets if t.name not in names]
    return tuple(modelled), tuple(other)


def response_models(directory: str | os.PathLike[str]) -> list[ResponseModel]:
    """Every response model of the bundle ``directory``, with its context and target columns.

    Raises:
        ModelError: the bundle is missing, incomplete or inconsistent.
    """
    from flashsim.bundle import load_bundle, read_record

    pipeline = load_bundle(directory)
    record = read_record(directory)
    out: list[ResponseModel] = []

    def add(name: str, stage: Any, entry: Mapping[str, Any], spec: Any, extra: list) -> None:
        response, codes = flow_record(entry["response"])  # a mixed stage: its flow
        targets, other = _targets(response, spec.targets)
        out.append(
            ResponseModel(
                name=name,
                model=stage.model,
                context=(*_conditions(entry["conditions"], spec.conditions), *extra, *codes),
                targets=targets,
                bounds=response.get("bounds"),
                other_targets=other,
            )
        )

    for name, collection in pipeline.collections.items():
        entry = record["collections"][name]
        spec = collection.spec
        extra = []
        if spec.efficiency.class_field is not None:
            values = list(spec.efficiency.class_values)
            extra.append(
                {
                    "name": f"{spec.efficiency.class_field}_class",
                    "transforms": [],
                    "values": list(range(len(values))),
                    "description": f"index of the sampled {spec.efficiency.class_field} in "
                    f"{values} (from the efficiency model), as a float",
                }
            )
        add(f"{name}.response", collection.response, entry, spec, extra)
        if collection.fakes is not None and spec.fakes is not None:
            add(f"{name}.fakes.response", collection.fakes.response, entry["fakes"], spec.fakes, [])
    if pipeline.event is not None:
        add("event.response", pipeline.event.response, record["event"], pipeline.event.spec, [])
    if pipeline.pid is not None:
        pid_spec = pipeline.pid.spec
        for species, model in pipeline.pid.species.items():
            extra = []
            if model.is_muon is not None and pid_spec.is_muon is not None:
                extra.append(
                    {
                        "name": pid_spec.is_muon.name,
                        "transforms": [],
                        "values": [0, 1],
                        "description": "the isMuon decision sampled by the isMuon model",
                    }
                )
            for flag in pid_flags(pid_spec):
                extra.append(
                    {
                        "name": flag.name,
                        "transforms": [],
                        "values": [0, 1],
                        "description": flag.description,
                    }
                )
            add(f"pid.{species}.response", model.response, record["pid"][species], pid_spec, extra)
    return out


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
    inputs = [{"name": "noise", "dtype": precision, "shape": [_BATCH, model.noise_dim]}]
    if model.n_context:
        inputs.insert(
            0, {"name": "context", "dtype": precision, "shape": [_BATCH, model.n_context]}
        )
    inputs[-1]["distribution"] = "independent standard normal"
    return {
        "file": f"{entry.name}.onnx",
        "kind": model.kind,
        "config": model.config.to_dict(),
        "opset": opset,
        "inputs": inputs,
        "outputs": [{"name": "x", "dtype": precision, "shape": [_BATCH, model.n_features]}],
        "context": list(entry.context),
        "targets": list(entry.targets),
        "bounds": entry.bounds,
        "other_targets": list(entry.other_targets),
        "check": result.to_dict(),
    }


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
        rtol: the check's tolerance (:func:`check_onnx`).
        overwrite: replace an existing export in ``output``.
        progress: called with a line per exported model.
        precision: ``float32`` or ``float64`` (:func:`export_onnx`).

    Raises:
        ModelError: the bundle is missing or unusable.
        OutputError: ``output`` holds an export already (without ``overwrite``) or is a file.
        ExportError: a model cannot be exported.
        ExportCheckError: a check failed; all results are in its ``results``.
    """
    from flashsim.bundle import bundle_hash

    ort = _onnxruntime()
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
        export_onnx(entry.model, path, opset=opset, precision=precision)
        onnx_model = onnx.load(str(path))
        try:
            onnx.checker.check_model(onnx_model)
        except onnx.checker.ValidationError as err:
            msg = f"{path} is not a valid ONNX model: {str(err).strip().splitlines()[0]}"
            raise ExportError(msg) from err
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
    path = output / MANIFEST_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, path)
    failed = [r for r in results if not r.passed]
    if failed:
        raise ExportCheckError(_failure_message(failed), results)
    return results


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

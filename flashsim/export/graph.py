"""A response model's noise-to-x map written as an ONNX graph.

Every response model samples by mapping standard-normal noise and its context to x, the targets
in the model's preprocessed space (:meth:`flashsim.models.base.TorchModel._map_noise`).
:func:`export_onnx` writes that map with inputs ``context`` (absent when the model has no
context) and ``noise``, output ``x`` and a dynamic batch axis, in float32 (as ``flashsim run``
samples) or float64.

Exporter: ``torch.onnx.export(..., dynamo=False)``, the TorchScript tracer. It runs
``_map_noise`` eagerly with the real weights and records the tensor operations, so it exports
zuko's own inverse, flashsim's :class:`~flashsim.models.flow_sampler.FlowSampler` and the GAN
alike, whatever they build lazily in Python (why not ``dynamo=True``: :mod:`flashsim.export`).
Tracing freezes Python control flow that depends on the batch size; the check
(:mod:`flashsim.export.check`) therefore runs batch sizes other than the traced one.

Needs the ``export`` extra (``pip install 'flashsim[export]'``: onnx, onnxruntime).

References:
    ONNX, https://onnx.ai/onnx/intro/; ``torch.onnx``, https://pytorch.org/docs/stable/onnx.html.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import torch

from flashsim.exceptions import ExportError
from flashsim.models.base import TorchModel

__all__ = [
    "BATCH_AXIS",
    "PRECISIONS",
    "TORCH_DTYPES",
    "export_onnx",
    "in_precision",
    "input_names",
    "onnxruntime_module",
]

PRECISIONS = ("float32", "float64")
"""The floating-point precisions an export can have."""

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}
"""The torch dtype of each of :data:`PRECISIONS`."""

BATCH_AXIS = "batch"
"""The name of the dynamic first axis of every input and output."""

_TRACE_ROWS = 16
_EXTRA_HINT = "install the export extra: pip install 'flashsim[export]'"


def onnxruntime_module() -> Any:
    """The ``onnxruntime`` module, once ``onnx`` and ``onnxruntime`` are both importable.

    Raises:
        ExportError: one of them is missing, naming the extra to install.
    """
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError as err:
        msg = f"ONNX export needs onnx and onnxruntime ({err.name} is missing); {_EXTRA_HINT}"
        raise ExportError(msg) from err
    return onnxruntime


def input_names(model: TorchModel) -> list[str]:
    """The graph's inputs, in order: ``noise`` alone without context, else ``context, noise``."""
    return ["noise"] if model.n_context == 0 else ["context", "noise"]


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
    onnxruntime_module()
    model = in_precision(model, precision)
    dtype = TORCH_DTYPES[precision]
    names = input_names(model)
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
                    dynamic_axes={name: {0: BATCH_AXIS} for name in [*names, "x"]},
                    opset_version=opset,
                    dynamo=False,
                )
        except Exception as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            msg = f"torch cannot export {model!r} to ONNX: {type(err).__name__}: {first}"
            raise ExportError(msg) from err


def in_precision(model: TorchModel, precision: str) -> TorchModel:
    """``model`` itself for float32; a float64 copy for float64.

    Raises:
        ExportError: ``precision`` is not one of :data:`PRECISIONS`.
    """
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

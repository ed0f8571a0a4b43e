"""Export the response models of a model bundle to ONNX, and check each export against torch.

Every response model (the collections' responses, their fakes' responses, the event response,
the PID responses) samples by mapping standard-normal noise and its context to x, the targets in
the model's preprocessed (standardized) space (:meth:`flashsim.models.base.TorchModel._map_noise`).
:func:`export_bundle` (:mod:`.bundle_export`) writes that map as ``<name>.onnx`` for every
response model of a bundle (found by :func:`response_models`, :mod:`.walk`), with inputs
``context`` (float32, ``(n, n_context)``; absent when the model has no context) and ``noise``
(float32, ``(n, noise_dim)``), output ``x`` (float32, ``(n, n_features)``) and a dynamic batch
axis (:func:`export_onnx`, :mod:`.graph`), plus ``onnx-manifest.json``: per model its file,
inputs and outputs, the context columns and targets with their preprocessing and the check
results; enough to run the models from C++ with ONNX Runtime. The check (:func:`check_onnx`,
:mod:`.check`, always run after the export) compares ONNX Runtime with torch on fixed noise
and contexts, within a tolerance that allows for torch's own float32 rounding.

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

from flashsim.exceptions import ExportCheckError, ExportError
from flashsim.export.bundle_export import MANIFEST_FORMAT, MANIFEST_NAME, export_bundle
from flashsim.export.check import (
    CHECK_ROWS,
    DEFAULT_RTOL,
    ROUNDOFF_ALLOWANCE,
    CheckResult,
    check_onnx,
    format_table,
)
from flashsim.export.graph import PRECISIONS, export_onnx
from flashsim.export.walk import ResponseModel, response_models

__all__ = [
    "CHECK_ROWS",
    "DEFAULT_RTOL",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "PRECISIONS",
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

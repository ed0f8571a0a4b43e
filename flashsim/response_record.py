"""What a response stage's bundle record says about its generative model, read without loading it.

A plain response stage's record is its model's; a mixed stage (:mod:`flashsim.stages.mixed`)
nests the flow's record under ``response`` and lists its discrete parts, whose sampled codes the
flow takes as extra context columns. ``flashsim info`` and the ONNX export read records this way
without importing torch or xgboost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MIXED_KIND", "code_column_names", "flow_record"]

MIXED_KIND = "mixed"
"""The ``kind`` of a mixed discrete/continuous response stage's record."""


def code_column_names(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The context columns a mixed stage appends to its flow's conditions, in order: one column
    per two-code part (the code), one-hot columns for a part with more codes."""
    columns = []
    for part in record.get("parts", []):
        name, values = str(part["name"]), [float(v) for v in part["values"]]
        categories = bool(part["categories"])
        n_codes = len(values) + (0 if categories else 1)
        what = "value" if categories else "point mass (0: the continuum)"
        if n_codes == 2:
            columns.append(
                {
                    "name": f"{name}_code",
                    "transforms": [],
                    "values": [0, 1],
                    "description": f"the sampled {what} code of {name} {values}",
                }
            )
            continue
        for code in range(n_codes):
            columns.append(
                {
                    "name": f"{name}_code{code}",
                    "transforms": [],
                    "values": [0, 1],
                    "description": f"1 if the sampled {what} code of {name} {values} is {code}",
                }
            )
    return columns


def flow_record(record: Mapping[str, Any]) -> tuple[Mapping[str, Any], list[dict[str, Any]]]:
    """The record of a response stage's generative model, and the context columns a mixed stage
    appends to its conditions (none for a plain response stage)."""
    if record.get("kind") == MIXED_KIND:
        return record["response"], code_column_names(record)
    return record, []

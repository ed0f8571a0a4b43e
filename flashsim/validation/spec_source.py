"""Which pipeline spec a validation compares with: given, recorded in the flash file, or default.

The spec names the collections, conditions and targets to compare. ``flashsim validate`` takes
it from a YAML spec or a model bundle given with ``--pipeline``; else from the model bundle
that the flash file's provenance records, if that bundle exists here; else from the model
shipped with flashsim.
"""

from __future__ import annotations

from pathlib import Path

from flashsim.bundle import RECORD_NAME, default_model_path, read_record
from flashsim.exceptions import InputError
from flashsim.io import read_provenance
from flashsim.spec import PipelineSpec, load_spec, parse_spec

__all__ = ["resolve_spec"]


def _from_bundle(path: Path) -> PipelineSpec:
    record = read_record(path)
    return parse_spec(record.get("spec"), origin=f"{path / RECORD_NAME} (spec)")


def resolve_spec(pipeline: Path | None, flash: Path) -> tuple[PipelineSpec, str]:
    """The pipeline spec to validate with, and where it came from (for the log).

    Arguments:
        pipeline: a YAML spec or a model bundle directory, or None.
        flash: the flash file, whose provenance may name its model bundle.
    Raises:
        SpecError: the spec is invalid.
        ModelError: the bundle is missing or unreadable.
    """
    if pipeline is not None:
        if pipeline.is_dir():
            return _from_bundle(pipeline), f"model bundle {pipeline}"
        return load_spec(pipeline), str(pipeline)
    try:
        model = read_provenance(flash).get("model") or {}
    except InputError:
        model = {}
    recorded = Path(str(model.get("path", "")))
    if model.get("path") and (recorded / RECORD_NAME).exists():
        return _from_bundle(recorded), f"model bundle {recorded} (from the flash file's provenance)"
    default = default_model_path()
    return _from_bundle(default), f"the default model {default}"

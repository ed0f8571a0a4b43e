"""The model of a run: a bundle loaded once per process, its provenance record, its policies.

Both ways of running (one file, :func:`flashsim.run.single.simulate_file`; work items,
:func:`flashsim.run.batch.run_items`) describe the model in the outputs' provenance with the
same :func:`model_record`, and resolve the input policies the same way
(:func:`resolve_policy`): those chosen for the run, else the spec's ``inputs:`` section.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flashsim.atomic import remove_stale_temporaries
from flashsim.bundle import bundle_hash, default_model_path, load_bundle, loaded_hash
from flashsim.domain import InputPolicy
from flashsim.io import check_output_path
from flashsim.pipeline import Pipeline

__all__ = [
    "PolicyOverrides",
    "cached_pipeline",
    "model_dir",
    "model_record",
    "prepare_run",
    "resolve_policy",
]

_PIPELINES: dict[str, Pipeline] = {}
_PIPELINES_LOCK = threading.Lock()


def model_dir(model: str | os.PathLike[str] | None) -> Path:
    """The bundle directory ``model``, or the model shipped with flashsim when ``None``."""
    return Path(model) if model is not None else default_model_path()


def cached_pipeline(model: str) -> Pipeline:
    """The pipeline of the bundle ``model``, loaded once per process (workers keep it)."""
    with _PIPELINES_LOCK:
        if model not in _PIPELINES:
            _PIPELINES[model] = load_bundle(model)
        return _PIPELINES[model]


def prepare_run(
    output_path: str | os.PathLike[str], model: str | os.PathLike[str] | None, overwrite: bool
) -> tuple[Pipeline, dict[str, Any]]:
    """What a run does before it reads its input: check the output (before the model is
    loaded), remove temporaries of killed runs beside it
    (:func:`flashsim.atomic.remove_stale_temporaries`), load the bundle (default: the shipped
    model) and make its provenance entry (``{"model": model_record(...)}``).

    Raises:
        OutputError: the output exists (without ``overwrite``) or cannot be written.
        ModelError: the bundle cannot be loaded.
    """
    output = check_output_path(output_path, overwrite=overwrite)
    remove_stale_temporaries(output.parent)
    directory = model_dir(model).absolute()
    pipeline = load_bundle(directory)
    return pipeline, {"model": model_record(directory, pipeline)}


def model_record(path: str | os.PathLike[str], pipeline: Pipeline) -> dict[str, str]:
    """The provenance of a model bundle: its ``path``, the SHA-256 of its files
    (:func:`flashsim.bundle.bundle_hash`) and the name of its pipeline.

    The hash is of the bytes ``pipeline`` was built from (:func:`flashsim.bundle.loaded_hash`),
    not of a second read of the files, which may have changed since; only a pipeline not loaded
    by :func:`flashsim.bundle.load_bundle` in this process has its bundle read again.
    """
    digest = loaded_hash(pipeline) or bundle_hash(path)
    return {"path": str(path), "sha256": digest, "pipeline": pipeline.spec.name}


@dataclass(frozen=True)
class PolicyOverrides:
    """Input policies chosen for one run (``flashsim run --non-finite drop --max-objects
    GenPart=20000``); ``None`` (or no caps) keeps the spec's.

    Arguments:
        non_finite: ``"error"`` or ``"drop"`` (see :class:`flashsim.domain.InputPolicy`).
        out_of_domain: ``"clamp"``, ``"flag"`` or ``"error"``.
        max_objects: per-event object caps per collection (``{"GenPart": 20000}``; the key
            ``"*"`` for every collection, as ``--max-objects N``); they replace the spec's as
            :meth:`~flashsim.domain.InputPolicy.with_caps` says.
    """

    non_finite: str | None = None
    out_of_domain: str | None = None
    max_objects: Any = ()

    def over(self, spec: InputPolicy) -> InputPolicy:
        """The policies of ``spec`` with those given here replacing them.

        >>> spec = InputPolicy(max_objects={"GenJet": 2000})
        >>> PolicyOverrides(max_objects={"GenPart": 20000}).over(spec).to_dict()["max_objects"]
        {'GenJet': 2000, 'GenPart': 20000}
        """
        policy = InputPolicy(
            self.non_finite or spec.non_finite,
            self.out_of_domain or spec.out_of_domain,
            spec.max_objects,
        )
        return policy.with_caps(self.max_objects)


def resolve_policy(policy: InputPolicy | PolicyOverrides | None, spec: InputPolicy) -> InputPolicy:
    """The input policies of a run: ``policy``, or ``spec``'s where ``policy`` leaves them.

    Raises:
        SpecError: an override names no known policy.
    """
    if policy is None:
        return spec
    if isinstance(policy, PolicyOverrides):
        return policy.over(spec)
    return policy

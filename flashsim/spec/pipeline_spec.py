"""A whole pipeline spec: its format version, its typed object, and reading it from YAML.

:func:`load_spec` reads a file and :func:`parse_spec` already-parsed data into a
:class:`PipelineSpec`; every problem is one :class:`~flashsim.exceptions.SpecError` naming the
file and the key path, e.g. ``cms_like.yaml: collections.Jet.targets[3].kind: ...``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flashsim.domain import NON_FINITE_POLICIES, OUT_OF_DOMAIN_POLICIES, InputPolicy
from flashsim.exceptions import SpecError
from flashsim.spec.pid import PidSpec, read_pid
from flashsim.spec.reader import SpecReader
from flashsim.spec.sections import read_collection, read_event
from flashsim.spec.types import CollectionSpec, EventSpec, WeightSpec

__all__ = ["SPEC_VERSION", "PipelineSpec", "load_spec", "parse_spec"]

SPEC_VERSION = 1
"""The spec format version this flashsim reads."""


@dataclass(frozen=True)
class PipelineSpec:
    """A validated pipeline; ``raw`` is the YAML content, kept to be saved with trained models."""

    version: int
    name: str
    description: str
    seed: int
    validation_fraction: float
    passthrough: tuple[str, ...]
    collections: Mapping[str, CollectionSpec]
    event: EventSpec | None
    raw: Mapping[str, Any]
    origin: str = "<spec>"
    pid: PidSpec | None = None
    weight: WeightSpec | None = None
    inputs: InputPolicy | None = None

    @property
    def input_policy(self) -> InputPolicy:
        """The ``inputs:`` policies (:class:`flashsim.domain.InputPolicy`; defaults if absent)."""
        return self.inputs if self.inputs is not None else InputPolicy()


def load_spec(path: str | os.PathLike[str]) -> PipelineSpec:
    """Read and validate a pipeline YAML file.

    Raises:
        SpecError: the file is missing, is not valid YAML, or does not follow the spec format;
            the message names the file and the offending key.
    """
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as err:
        msg = f"cannot read pipeline spec {p}: {err.strerror or err}"
        raise SpecError(msg) from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        msg = f"{p}: not valid YAML: {where}{problem}"
        raise SpecError(msg) from err
    return parse_spec(data, origin=str(p))


def parse_spec(data: Any, origin: str = "<spec>") -> PipelineSpec:
    """Validate an already-parsed spec (a mapping as read from YAML); see :func:`load_spec`."""
    return _pipeline(SpecReader(origin), data)


def _pipeline(r: SpecReader, data: Any) -> PipelineSpec:
    """The top level of a spec: version, name, settings and every section."""
    d = r.mapping(
        data,
        "top level",
        ["version", "name", "collections"],
        [
            "description",
            "seed",
            "validation_fraction",
            "passthrough",
            "defaults",
            "event",
            "pid",
            "weight",
            "inputs",
        ],
    )
    version = r.typed(d["version"], "version", int, "an integer")
    if version != SPEC_VERSION:
        raise r.fail(
            "version",
            f"spec version {version} is not supported by this flashsim "
            f"(it reads version {SPEC_VERSION}); update flashsim or the spec",
        )
    fraction = r.typed(
        d.get("validation_fraction", 0.2), "validation_fraction", (int, float), "a number"
    )
    if not 0.0 < fraction < 1.0:
        raise r.fail("validation_fraction", f"must lie in (0, 1), got {fraction}")
    passthrough = d.get("passthrough", [])
    if not isinstance(passthrough, list) or not all(isinstance(p, str) for p in passthrough):
        raise r.fail("passthrough", "expected a list of branch names or glob patterns")
    colls = d["collections"]
    if not isinstance(colls, Mapping) or not colls:
        raise r.fail("collections", "expected a non-empty mapping of collection specs")
    return PipelineSpec(
        version=version,
        name=r.typed(d["name"], "name", str, "a string"),
        description=str(d.get("description", "")),
        seed=r.non_negative(d.get("seed", 0), "seed"),
        validation_fraction=float(fraction),
        passthrough=tuple(passthrough),
        collections={
            name: read_collection(r, spec, f"collections.{name}", name)
            for name, spec in colls.items()
        },
        event=read_event(r, d["event"], "event") if d.get("event") is not None else None,
        raw=copy.deepcopy(dict(d)),
        origin=r.origin,
        pid=read_pid(r, d["pid"], "pid", colls) if d.get("pid") is not None else None,
        weight=r.weight(d["weight"], "weight") if d.get("weight") is not None else None,
        inputs=_inputs(r, d["inputs"], "inputs") if d.get("inputs") is not None else None,
    )


def _inputs(r: SpecReader, value: Any, where: str) -> InputPolicy:
    """``inputs``: the policies for non-finite and out-of-domain inputs."""
    d = r.mapping(value, where, [], ["non_finite", "out_of_domain"])
    for key, choices in (
        ("non_finite", NON_FINITE_POLICIES),
        ("out_of_domain", OUT_OF_DOMAIN_POLICIES),
    ):
        if key in d and d[key] not in choices:
            raise r.fail(f"{where}.{key}", f"{d[key]!r}: use one of {', '.join(choices)}")
    return InputPolicy(**d)

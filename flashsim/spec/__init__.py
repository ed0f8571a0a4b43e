"""Pipeline specifications: load a YAML file, validate it, and give typed objects.

This package is the only place that knows the shape of the YAML (see ``pipelines/README.md`` for
the reference): :mod:`~flashsim.spec.types` holds the typed objects of the collection and event
sections, :mod:`~flashsim.spec.pid` the PID section, :mod:`~flashsim.spec.pipeline_spec` the whole
spec and its loading, :mod:`~flashsim.spec.sections` and :mod:`~flashsim.spec.reader` the reading.
Every problem is reported as one :class:`~flashsim.exceptions.SpecError` naming the file and the
key path, e.g. ``cms_like.yaml: collections.Jet.targets[3].kind: ...``.
"""

from __future__ import annotations

from flashsim.spec.pid import (
    BalanceSpec,
    Column,
    PidFlag,
    PidSpec,
    SpeciesSpec,
    pid_flags,
    point_mass_flag,
    split_flag,
)
from flashsim.spec.pipeline_spec import SPEC_VERSION, PipelineSpec, load_spec, parse_spec
from flashsim.spec.types import (
    DERIVED,
    FEATURE_KINDS,
    NEGATIVE_WEIGHTS,
    TARGET_KINDS,
    ChildrenSpec,
    CollectionSpec,
    CopySpec,
    EfficiencySpec,
    EventSpec,
    FakesSpec,
    Feature,
    LinkSpec,
    ResponseSpec,
    SourceSpec,
    Target,
    ViaSpec,
    WeightSpec,
    met_prefix,
)

__all__ = [
    "DERIVED",
    "FEATURE_KINDS",
    "NEGATIVE_WEIGHTS",
    "SPEC_VERSION",
    "TARGET_KINDS",
    "BalanceSpec",
    "ChildrenSpec",
    "CollectionSpec",
    "Column",
    "CopySpec",
    "EfficiencySpec",
    "EventSpec",
    "FakesSpec",
    "Feature",
    "LinkSpec",
    "PidFlag",
    "PidSpec",
    "PipelineSpec",
    "ResponseSpec",
    "SourceSpec",
    "SpeciesSpec",
    "Target",
    "ViaSpec",
    "WeightSpec",
    "load_spec",
    "met_prefix",
    "parse_spec",
    "pid_flags",
    "point_mass_flag",
    "split_flag",
]

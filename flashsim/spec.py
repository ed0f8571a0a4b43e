"""Pipeline specifications: load a YAML file, validate it, and give typed objects.

This module is the only place that knows the shape of the YAML (see ``pipelines/README.md`` for
the reference). Every problem is reported as one :class:`~flashsim.exceptions.SpecError` naming
the file and the key path, e.g. ``cms_like.yaml: collections.Jet.targets[3].kind: ...``.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flashsim.domain import NON_FINITE_POLICIES, OUT_OF_DOMAIN_POLICIES, InputPolicy
from flashsim.exceptions import SpecError
from flashsim.nanoaod import DERIVED_FIELDS
from flashsim.preprocessing import build_chain

__all__ = [
    "FEATURE_KINDS",
    "SPEC_VERSION",
    "TARGET_KINDS",
    "CollectionSpec",
    "Column",
    "EfficiencySpec",
    "EventSpec",
    "FakesSpec",
    "Feature",
    "PidFlag",
    "PidSpec",
    "PipelineSpec",
    "ResponseSpec",
    "SourceSpec",
    "SpeciesSpec",
    "Target",
    "WeightSpec",
    "load_spec",
    "parse_spec",
    "pid_flags",
    "point_mass_flag",
    "split_flag",
]

SPEC_VERSION = 1
"""The spec format version this flashsim reads."""

FEATURE_KINDS: dict[str, frozenset[str]] = {
    "nearest_dr": frozenset({"collection"}),
    "nearest_pt_ratio": frozenset({"collection"}),
    "cone_sum": frozenset({"pdgId", "radius"}),
    "n_source": frozenset({"collection"}),
    "source_ht": frozenset({"collection"}),
}
"""Computed condition features (see :mod:`flashsim.features`) and the parameters each takes."""

TARGET_KINDS = (
    "ratio",
    "diff",
    "dphi",
    "value",
    "uniform_phi",
    "met_parallel",
    "met_perpendicular",
)
"""How a target is expressed relative to its generated object (see :mod:`flashsim.features`)."""

_SECTION_KINDS = {
    "collection": ("ratio", "diff", "dphi", "value"),
    "fakes": ("value", "uniform_phi"),
    "event": ("value", "met_parallel", "met_perpendicular"),
}
_EVENT_FEATURES = ("n_source", "source_ht")
_XGBOOST_KEYS = (
    "n_estimators",
    "early_stopping_rounds",
    "max_depth",
    "learning_rate",
    "min_child_weight",
    "subsample",
    "colsample_bytree",
    "reg_lambda",
    "reg_alpha",
    "gamma",
    "max_bin",
)
_DTYPES = ("float32", "int32", "int16", "uint8", "bool")
_MODELS = ("flow", "gan")
NEGATIVE_WEIGHTS = ("raw", "regressed")
"""Strategies for negative (s)weights in training: see :mod:`flashsim.weights`."""
DERIVED = {name: needs for name, (needs, _) in DERIVED_FIELDS.items()}
"""Fields a collection may derive from its targets after sampling, and what each needs
(:data:`flashsim.nanoaod.DERIVED_FIELDS`)."""


def met_prefix(target: str) -> str:
    """The MET a ``met_parallel``/``met_perpendicular`` target belongs to: its name before the
    last ``_`` (``PuppiMET_upar`` -> ``PuppiMET``, written as ``PuppiMET_pt``/``_phi``)."""
    return target.rsplit("_", 1)[0] if "_" in target else "MET"


def point_mass_flag(target: str) -> str:
    """The name of a PID target's point-mass flag (its BDT's label and file name, a condition
    of the response model): ``DLLK`` -> ``DLLK_atPointMass``."""
    return f"{target}_atPointMass"


def split_flag(target: str) -> str:
    """The name of a PID target's split flag (1: above its ``split`` value), as
    :func:`point_mass_flag`: ``DLLK`` -> ``DLLK_aboveSplit``."""
    return f"{target}_aboveSplit"


@dataclass(frozen=True)
class Feature:
    """One condition: a gen-object field, an event branch, a status-flag bit or a computed feature.

    Exactly one of ``field``, ``event``, ``flag`` (``(field, bit)``) or ``feature`` (kind name
    with ``params``) is set. ``abs`` takes the absolute value; ``above`` turns the value into a
    0/1 indicator of ``value > above`` (detector regions: ``|eta| > 2.5`` is outside the tracker).
    ``transform`` is the preprocessing chain as written in the spec.
    """

    name: str
    transform: tuple[Any, ...]
    field: str | None = None
    event: str | None = None
    flag: tuple[str, int] | None = None
    feature: str | None = None
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    abs: bool = False
    above: float | None = None


@dataclass(frozen=True)
class Target:
    """One reconstructed quantity, its encoding relative to gen (``kind``) and preprocessing."""

    name: str
    kind: str
    transform: tuple[Any, ...]
    range: tuple[float | None, float | None] = (None, None)
    dtype: str = "float32"
    select_min: float | None = None
    select_max_abs: float | None = None
    """The acceptance: objects with ``|value|`` above it are not reconstructed (resampled like
    ``select_min``, e.g. jets at |eta| > 4.7), so no value piles up on a clipped bound."""
    categories: tuple[float, ...] = ()
    """A discrete field (ID flag, working-point bits, small counts): the values it takes, sampled
    as a category by a classifier before the continuous targets (:mod:`flashsim.stages.mixed`)."""
    point_masses: tuple[float, ...] = ()
    """Values taken exactly by a fraction of the objects inside a continuous range (the b-tag
    score's default, energy fractions at 0): which one, or the continuum, is sampled first as a
    category, and the continuum by the flow given it (:mod:`flashsim.stages.mixed`)."""

    @property
    def discrete(self) -> bool:
        """Whether the target has a discrete part (categories or point masses)."""
        return bool(self.categories or self.point_masses)


@dataclass(frozen=True)
class SourceSpec:
    """The generated objects: a collection, optionally selected by |pdgId| and status."""

    collection: str
    pdg_id: tuple[int, ...] | None = None
    status: tuple[int, ...] | None = None


@dataclass(frozen=True)
class EfficiencySpec:
    """xgboost hyperparameters, and the ID classes when the efficiency is multiclass."""

    params: Mapping[str, Any]
    class_field: str | None = None
    class_values: tuple[int, ...] = ()

    @property
    def n_classes(self) -> int:
        """Number of outcomes: not reconstructed, then one per class value (or just 'reco')."""
        return 1 + max(1, len(self.class_values))


@dataclass(frozen=True)
class ResponseSpec:
    """The generative model of a stage: kind, architecture and training settings."""

    model: str
    config: Mapping[str, Any]
    training: Mapping[str, Any]
    discrete: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """xgboost settings of the classifiers of the targets' discrete parts (``categories``,
    ``point_masses``); defaults: :data:`flashsim.stages.mixed.DEFAULT_DISCRETE`."""


@dataclass(frozen=True)
class FakesSpec:
    """Reconstructed objects without a generated match: multiplicity and properties."""

    conditions: tuple[Feature, ...]
    targets: tuple[Target, ...]
    max_count: int
    multiplicity: Mapping[str, Any]
    response: ResponseSpec


@dataclass(frozen=True)
class CopySpec:
    """A reco field copied from a field of the matched generated object."""

    name: str
    field: str
    dtype: str = "int32"


@dataclass(frozen=True)
class CollectionSpec:
    """Everything about one reconstructed collection (``Jet``, ``Muon``, ...)."""

    name: str
    source: SourceSpec
    match: str
    conditions: tuple[Feature, ...]
    targets: tuple[Target, ...]
    efficiency: EfficiencySpec
    response: ResponseSpec
    fakes: FakesSpec | None = None
    constants: Mapping[str, float] = dataclasses.field(default_factory=dict)
    charge_from_pdg_id: bool = False
    sum_to_one: tuple[str, ...] = ()
    derived: tuple[str, ...] = ()
    copy: tuple[CopySpec, ...] = ()
    """Truth labels copied from the matched generated object (``Jet_hadronFlavour``), never
    sampled; unmatched (fake) objects get 0."""


@dataclass(frozen=True)
class WeightSpec:
    """Per-row training weights: a branch (e.g. sWeights) and the negative-weight strategy."""

    column: str
    negative: str = "raw"


@dataclass(frozen=True)
class BalanceSpec:
    """Reweighting of the PID training rows in one condition (see :func:`flashsim.weights.
    balance_factors`): a row's weight is multiplied by ``(n_max / n_bin) ** power``, at most
    ``max_factor``, where ``n_bin`` counts the rows in its bin of the condition (``bins`` equal
    bins of the condition after its transforms) and ``n_max`` those of the fullest bin."""

    condition: str
    power: float = 1.0
    max_factor: float = 10.0
    bins: int = 30


@dataclass(frozen=True)
class Column:
    """A column of a flat (calibration) table with its preprocessing chain."""

    name: str
    column: str
    transform: tuple[Any, ...]
    range: tuple[float | None, float | None] = (None, None)
    relative_to: str | None = None
    """For a PID target: modelled as the difference to this earlier target (by name)."""
    point_mass: float | None = None
    """For a PID target: a value taken exactly by a fraction of the rows (e.g. DLLK = 0 when no
    Cherenkov light is seen for any hypothesis), sampled as a 0/1 flag by a BDT before the
    response model (:func:`flashsim.stages.pid.encode_pid_targets`)."""
    point_mass_params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """xgboost settings of that flag's BDT."""
    split: float | None = None
    """For a PID target: a BDT samples the side of this value (a 0/1 flag, after the point-mass
    flags) and the response model the distance to it, so the fraction above it (the efficiency
    of a cut such as DLLK > 0) is a classifier's, not the tail of a density."""
    split_params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """xgboost settings of the split flag's BDT."""


@dataclass(frozen=True)
class SpeciesSpec:
    """One particle species of a PID section: which |pdgId| and which calibration rows."""

    name: str
    pdg_id: tuple[int, ...]
    select: tuple[str, tuple[int, ...]] | None = None


@dataclass(frozen=True)
class PidSpec:
    """Particle identification, Lamarr-style, trained on (sWeighted) calibration samples.

    For every object of ``collection`` (already simulated), the species is the ``|pdgId|`` of
    its gen match; per species an optional binary BDT samples ``is_muon`` and a response model
    samples the PID ``targets`` given the ``conditions`` (and ``is_muon``). Conditions and
    targets are calibration-table columns; at run time a column ``probe_X`` is the object's
    field ``X`` and the ``occupancy`` column is the per-event count of the collection's objects
    whose ``occupancy_field`` is in ``occupancy_values`` (written as an event branch).
    """

    collection: str
    conditions: tuple[Column, ...]
    targets: tuple[Column, ...]
    species: tuple[SpeciesSpec, ...]
    response: ResponseSpec
    is_muon: Column | None
    is_muon_params: Mapping[str, Any]
    weight: WeightSpec | None
    occupancy: tuple[str, str, tuple[int, ...]] | None
    validation_fraction: float = 0.2
    balance: BalanceSpec | None = None
    """Condition-only reweighting of the training rows: it moves the models' attention along
    the calibration's spectrum (e.g. to the few fast probes) without changing what they learn,
    a distribution or an efficiency given the conditions."""


@dataclass(frozen=True)
class PidFlag:
    """A 0/1 flag a BDT samples before the response model, which takes it as a condition:
    ``point_mass`` (the target takes its point-mass value) or ``split`` (the target lies above
    its split value)."""

    target: Column
    kind: str

    @property
    def name(self) -> str:
        """Its BDT's label and file name, and its context column: ``DLLK_atPointMass``."""
        t = self.target.name
        return point_mass_flag(t) if self.kind == "point_mass" else split_flag(t)

    @property
    def record_key(self) -> str:
        """Where the bundle record lists these flags' BDTs (by target name)."""
        return "point_masses" if self.kind == "point_mass" else "splits"

    @property
    def params(self) -> Mapping[str, Any]:
        """The xgboost settings of its BDT."""
        t = self.target
        return t.point_mass_params if self.kind == "point_mass" else t.split_params

    @property
    def outcomes(self) -> list[str]:
        """What flag 0 and flag 1 mean."""
        t = self.target
        what = t.name if t.relative_to is None else f"{t.name} - {t.relative_to}"
        if self.kind == "point_mass":
            return [f"{what} continuous", f"{what} = {t.point_mass:g}"]
        return [f"{what} <= {t.split:g}", f"{what} > {t.split:g}"]

    @property
    def description(self) -> str:
        """What the flag does, for exported model descriptions."""
        t = self.target.name
        if self.kind == "point_mass":
            return (
                f"1: {t} takes its point_mass value (sampled by its BDT, which sees the columns "
                f"before it); the model's sample of {t} is then replaced by that value"
            )
        return (
            f"1: {t} lies above its split value (sampled by its BDT, which sees the columns "
            f"before it); the model samples the distance |{t} - split|, put on the flag's side"
        )


def pid_flags(spec: PidSpec) -> list[PidFlag]:
    """Every flag, in the order their BDTs run: the point masses, then the splits (spec order)."""
    return [PidFlag(t, "point_mass") for t in spec.targets if t.point_mass is not None] + [
        PidFlag(t, "split") for t in spec.targets if t.split is not None
    ]


@dataclass(frozen=True)
class EventSpec:
    """Event-level reconstructed quantities (MET, rho, vertices)."""

    conditions: tuple[Feature, ...]
    targets: tuple[Target, ...]
    response: ResponseSpec


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
    return _Parser(origin).pipeline(data)


class _Parser:
    """Walks the YAML tree keeping the key path, so errors can name it."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, where: str, what: str) -> SpecError:
        return SpecError(f"{self.origin}: {where}: {what}")

    def mapping(
        self,
        value: Any,
        where: str,
        required: Sequence[str],
        optional: Sequence[str] = (),
    ) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}")
        allowed = [*required, *optional]
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, 1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.fail(
                    f"{where}.{key}", f"unknown key{hint}; allowed: {', '.join(allowed)}"
                )
        for key in required:
            if key not in value:
                raise self.fail(where, f"missing required key {key!r}")
        return dict(value)

    def typed(self, value: Any, where: str, types: type | tuple[type, ...], what: str) -> Any:
        if isinstance(value, bool) and bool not in (
            types if isinstance(types, tuple) else (types,)
        ):
            raise self.fail(where, f"expected {what}, got a boolean")
        if not isinstance(value, types):
            raise self.fail(where, f"expected {what}, got {value!r}")
        return value

    def non_negative(self, value: Any, where: str) -> int:
        value = self.typed(value, where, int, "an integer")
        if value < 0:
            raise self.fail(where, f"must be >= 0, got {value}")
        return value

    def boolean(self, value: Any, where: str) -> bool:
        return bool(self.typed(value, where, bool, "a boolean (true or false)"))

    def names(self, value: Any, where: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, "expected a list of names")
        return tuple(value)

    def xgboost(self, value: Any, where: str, extra: Sequence[str] = ()) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, "expected a mapping of xgboost parameters")
        return self.mapping(value, where, [], [*_XGBOOST_KEYS, *extra])

    def choice(self, value: Any, where: str, choices: Sequence[str]) -> str:
        if value not in choices:
            close = difflib.get_close_matches(str(value), list(choices), 1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.fail(where, f"unknown value {value!r}{hint}; expected one of {choices}")
        return str(value)

    def int_list(self, value: Any, where: str) -> tuple[int, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(where, "expected a non-empty list of integers")
        return tuple(self.typed(v, f"{where}[{i}]", int, "an integer") for i, v in enumerate(value))

    def sequence(self, value: Any, where: str, item: Callable[[Any, str], Any]) -> tuple[Any, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(where, "expected a non-empty list")
        items = tuple(item(v, f"{where}[{i}]") for i, v in enumerate(value))
        names = [getattr(x, "name", None) for x in items]
        for name in names:
            if name is not None and names.count(name) > 1:
                raise self.fail(where, f"name {name!r} appears more than once")
        return items

    def chain(self, value: Any, where: str) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise self.fail(where, "expected a list of transforms, e.g. [log, standardize]")
        try:
            build_chain(value)
        except SpecError as err:
            raise self.fail(where, str(err)) from err
        return tuple(copy.deepcopy(value))

    # -- the spec's parts ------------------------------------------------------------------

    def pipeline(self, data: Any) -> PipelineSpec:
        d = self.mapping(
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
        version = self.typed(d["version"], "version", int, "an integer")
        if version != SPEC_VERSION:
            raise self.fail(
                "version",
                f"spec version {version} is not supported by this flashsim "
                f"(it reads version {SPEC_VERSION}); update flashsim or the spec",
            )
        fraction = self.typed(
            d.get("validation_fraction", 0.2), "validation_fraction", (int, float), "a number"
        )
        if not 0.0 < fraction < 1.0:
            raise self.fail("validation_fraction", f"must lie in (0, 1), got {fraction}")
        passthrough = d.get("passthrough", [])
        if not isinstance(passthrough, list) or not all(isinstance(p, str) for p in passthrough):
            raise self.fail("passthrough", "expected a list of branch names or glob patterns")
        colls = d["collections"]
        if not isinstance(colls, Mapping) or not colls:
            raise self.fail("collections", "expected a non-empty mapping of collection specs")
        return PipelineSpec(
            version=version,
            name=self.typed(d["name"], "name", str, "a string"),
            description=str(d.get("description", "")),
            seed=self.non_negative(d.get("seed", 0), "seed"),
            validation_fraction=float(fraction),
            passthrough=tuple(passthrough),
            collections={
                name: self.collection(spec, f"collections.{name}", name)
                for name, spec in colls.items()
            },
            event=self.event(d["event"], "event") if d.get("event") is not None else None,
            raw=copy.deepcopy(dict(d)),
            origin=self.origin,
            pid=self.pid(d["pid"], "pid", colls) if d.get("pid") is not None else None,
            weight=self.weight(d["weight"], "weight") if d.get("weight") is not None else None,
            inputs=self.inputs(d["inputs"], "inputs") if d.get("inputs") is not None else None,
        )

    def inputs(self, value: Any, where: str) -> InputPolicy:
        d = self.mapping(value, where, [], ["non_finite", "out_of_domain"])
        for key, choices in (
            ("non_finite", NON_FINITE_POLICIES),
            ("out_of_domain", OUT_OF_DOMAIN_POLICIES),
        ):
            if key in d and d[key] not in choices:
                raise self.fail(f"{where}.{key}", f"{d[key]!r}: use one of {', '.join(choices)}")
        return InputPolicy(**d)

    def weight(self, value: Any, where: str) -> WeightSpec:
        if isinstance(value, str):
            return WeightSpec(column=value)
        d = self.mapping(value, where, ["column"], ["negative"])
        return WeightSpec(
            column=self.typed(d["column"], f"{where}.column", str, "a branch name"),
            negative=self.choice(d.get("negative", "raw"), f"{where}.negative", NEGATIVE_WEIGHTS),
        )

    def balance(self, value: Any, where: str, conditions: Sequence[Column]) -> BalanceSpec:
        d = self.mapping(value, where, ["condition"], ["power", "max_factor", "bins"])
        names = [c.name for c in conditions]
        condition = self.typed(d["condition"], f"{where}.condition", str, "a condition name")
        if condition not in names:
            raise self.fail(f"{where}.condition", f"{condition!r} is not one of {names}")
        power = float(self.typed(d.get("power", 1.0), f"{where}.power", (int, float), "a number"))
        max_factor = float(
            self.typed(d.get("max_factor", 10.0), f"{where}.max_factor", (int, float), "a number")
        )
        bins = self.typed(d.get("bins", 30), f"{where}.bins", int, "an integer")
        if not 0.0 < power <= 1.0:
            raise self.fail(f"{where}.power", f"must lie in (0, 1], got {power}")
        if max_factor < 1.0:
            raise self.fail(f"{where}.max_factor", f"must be at least 1, got {max_factor}")
        if bins < 2:
            raise self.fail(f"{where}.bins", f"must be at least 2, got {bins}")
        return BalanceSpec(condition, power, max_factor, bins)

    def column(self, value: Any, where: str) -> Column:
        d = self.mapping(
            value,
            where,
            ["name", "column"],
            ["transform", "range", "relative_to", "point_mass", "split"],
        )
        rng = d.get("range", [None, None])
        if not (isinstance(rng, list) and len(rng) == 2):
            raise self.fail(f"{where}.range", "expected [low, high] (null for no bound)")
        relative = d.get("relative_to")
        point_mass, params = self.flag_value(d.get("point_mass"), f"{where}.point_mass")
        split, split_params = self.flag_value(d.get("split"), f"{where}.split")
        return Column(
            name=self.typed(d["name"], f"{where}.name", str, "a string"),
            column=self.typed(d["column"], f"{where}.column", str, "a branch name"),
            transform=self.chain(d.get("transform", []), f"{where}.transform"),
            range=(rng[0], rng[1]),
            relative_to=None
            if relative is None
            else self.typed(relative, f"{where}.relative_to", str, "a target name"),
            point_mass=point_mass,
            point_mass_params=params,
            split=split,
            split_params=split_params,
        )

    def flag_value(self, value: Any, where: str) -> tuple[float | None, dict[str, Any]]:
        """A PID target's ``point_mass``/``split``: ``V`` or ``{value: V, efficiency: {...}}``,
        as (V or None, its BDT's xgboost settings)."""
        params: dict[str, Any] = {}
        if isinstance(value, Mapping):
            m = self.mapping(value, where, ["value"], ["efficiency"])
            value = m["value"]
            params = self.xgboost(m.get("efficiency", {}), f"{where}.efficiency")
        if value is None:
            return None, params
        what = "a number, or {value: V, efficiency: {xgboost settings}}"
        return float(self.typed(value, where, (int, float), what)), params

    def pid(self, value: Any, where: str, collections: Mapping[str, Any]) -> PidSpec:
        d = self.mapping(
            value,
            where,
            ["collection", "conditions", "targets", "species", "response"],
            ["is_muon", "weight", "occupancy", "validation_fraction", "balance"],
        )
        collection = self.typed(d["collection"], f"{where}.collection", str, "a name")
        if collection not in collections:
            raise self.fail(
                f"{where}.collection", f"{collection!r} is not one of the spec's collections"
            )
        species_map = d["species"]
        if not isinstance(species_map, Mapping) or not species_map:
            raise self.fail(f"{where}.species", "expected a mapping name: {pdgId: [...]}")
        species = []
        seen: set[int] = set()
        for name, entry in species_map.items():
            at = f"{where}.species.{name}"
            s = self.mapping(entry, at, ["pdgId"], ["select"])
            ids = self.int_list(s["pdgId"], f"{at}.pdgId")
            if seen & set(ids):
                raise self.fail(f"{at}.pdgId", f"{sorted(seen & set(ids))} in two species")
            seen |= set(ids)
            select = None
            if "select" in s:
                sel = self.mapping(s["select"], f"{at}.select", ["column", "values"])
                select = (
                    self.typed(sel["column"], f"{at}.select.column", str, "a branch name"),
                    self.int_list(sel["values"], f"{at}.select.values"),
                )
            species.append(SpeciesSpec(str(name), ids, select))
        is_muon, params = None, {}
        if d.get("is_muon") is not None:
            m = self.mapping(d["is_muon"], f"{where}.is_muon", ["column"], ["efficiency"])
            is_muon = Column(
                "isMuon",
                self.typed(m["column"], f"{where}.is_muon.column", str, "a branch name"),
                (),
            )
            params = self.xgboost(m.get("efficiency", {}), f"{where}.is_muon.efficiency")
        occupancy = None
        if d.get("occupancy") is not None:
            o = self.mapping(d["occupancy"], f"{where}.occupancy", ["column", "field", "values"])
            occupancy = (
                self.typed(o["column"], f"{where}.occupancy.column", str, "a branch name"),
                self.typed(o["field"], f"{where}.occupancy.field", str, "a field name"),
                self.int_list(o["values"], f"{where}.occupancy.values"),
            )
        fraction = self.typed(
            d.get("validation_fraction", 0.2), f"{where}.validation_fraction", float, "a number"
        )
        if not 0.0 < fraction < 1.0:
            raise self.fail(f"{where}.validation_fraction", f"must lie in (0, 1), got {fraction}")
        targets = self.sequence(d["targets"], f"{where}.targets", self.column)
        for i, t in enumerate(targets):
            earlier = [x.name for x in targets[:i]]
            if t.relative_to is not None and t.relative_to not in earlier:
                raise self.fail(
                    f"{where}.targets[{i}].relative_to",
                    f"{t.relative_to!r} is not an earlier target (earlier: {earlier})",
                )
        conditions = self.sequence(d["conditions"], f"{where}.conditions", self.column)
        for i, c in enumerate(conditions):
            for key in ("relative_to", "point_mass", "split"):
                if getattr(c, key) is not None:
                    raise self.fail(f"{where}.conditions[{i}].{key}", "applies to targets only")
        balance = None
        if d.get("balance") is not None:
            balance = self.balance(d["balance"], f"{where}.balance", conditions)
        return PidSpec(
            balance=balance,
            collection=collection,
            conditions=conditions,
            targets=targets,
            species=tuple(species),
            response=self.response(d["response"], f"{where}.response"),
            is_muon=is_muon,
            is_muon_params=params,
            weight=self.weight(d["weight"], f"{where}.weight") if d.get("weight") else None,
            occupancy=occupancy,
            validation_fraction=fraction,
        )

    def collection(self, value: Any, where: str, name: str) -> CollectionSpec:
        if "_" in name or not name.isidentifier():
            raise self.fail(where, "a collection name is an identifier without '_' (e.g. Jet)")
        d = self.mapping(
            value,
            where,
            ["source", "target", "conditions", "targets", "efficiency", "response"],
            ["fakes", "constants", "charge_from_pdgId", "sum_to_one", "derived", "copy"],
        )
        tgt = self.mapping(d["target"], f"{where}.target", ["collection", "match"])
        if tgt["collection"] != name:
            raise self.fail(f"{where}.target.collection", f"must equal the key {name!r}")
        targets = self.targets(d["targets"], f"{where}.targets", "collection")
        target_names = [t.name for t in targets]
        sum_to_one = self.names(d.get("sum_to_one", []), f"{where}.sum_to_one")
        for member in sum_to_one:
            if member not in target_names:
                raise self.fail(f"{where}.sum_to_one", f"{member!r} is not a target")
        constants = d.get("constants", {})
        if not isinstance(constants, Mapping):
            raise self.fail(f"{where}.constants", "expected a mapping of field: number")
        return CollectionSpec(
            name=name,
            source=self.source(d["source"], f"{where}.source"),
            match=self.typed(tgt["match"], f"{where}.target.match", str, "a field name"),
            conditions=self.sequence(d["conditions"], f"{where}.conditions", self.feature),
            targets=targets,
            efficiency=self.efficiency(d["efficiency"], f"{where}.efficiency"),
            response=self.response(d["response"], f"{where}.response"),
            fakes=self.fakes(d["fakes"], f"{where}.fakes") if d.get("fakes") else None,
            constants={
                k: float(self.typed(v, f"{where}.constants.{k}", (int, float), "a number"))
                for k, v in constants.items()
            },
            charge_from_pdg_id=self.boolean(
                d.get("charge_from_pdgId", False), f"{where}.charge_from_pdgId"
            ),
            sum_to_one=sum_to_one,
            derived=self.derived(d.get("derived", []), f"{where}.derived", target_names),
            copy=self.copies(d.get("copy", []), f"{where}.copy", target_names),
        )

    def copies(self, value: Any, where: str, targets: Sequence[str]) -> tuple[CopySpec, ...]:
        if value == []:
            return ()

        def item(v: Any, at: str) -> CopySpec:
            c = self.mapping(v, at, ["name", "field"], ["dtype"])
            name = self.typed(c["name"], f"{at}.name", str, "a field name")
            if name in targets:
                raise self.fail(f"{at}.name", f"{name!r} is a target; a field is sampled or copied")
            return CopySpec(
                name=name,
                field=self.typed(c["field"], f"{at}.field", str, "a field name"),
                dtype=self.choice(c.get("dtype", "int32"), f"{at}.dtype", _DTYPES),
            )

        return self.sequence(value, where, item)

    def derived(self, value: Any, where: str, targets: Sequence[str]) -> tuple[str, ...]:
        names = self.names(value, where)
        for i, name in enumerate(names):
            self.choice(name, f"{where}[{i}]", list(DERIVED))
            missing = [n for n in DERIVED[name] if n not in targets]
            if missing:
                raise self.fail(f"{where}[{i}]", f"{name!r} needs the targets {missing}")
        return names

    def source(self, value: Any, where: str) -> SourceSpec:
        d = self.mapping(value, where, ["collection"], ["pdgId", "status"])
        return SourceSpec(
            collection=self.typed(d["collection"], f"{where}.collection", str, "a name"),
            pdg_id=self.int_list(d["pdgId"], f"{where}.pdgId") if "pdgId" in d else None,
            status=self.int_list(d["status"], f"{where}.status") if "status" in d else None,
        )

    def feature(self, value: Any, where: str) -> Feature:
        d = self.mapping(
            value,
            where,
            ["name", "transform"],
            ["field", "event", "flag", "feature", "abs", "above"],
        )
        given = [k for k in ("field", "event", "flag", "feature") if k in d]
        if len(given) != 1:
            raise self.fail(where, "give exactly one of field, event, flag, feature")
        kwargs: dict[str, Any] = {}
        if "flag" in d:
            flag = self.mapping(d["flag"], f"{where}.flag", ["field", "bit"])
            kwargs["flag"] = (
                str(flag["field"]),
                self.typed(flag["bit"], f"{where}.flag.bit", int, "an integer"),
            )
        elif "feature" in d:
            kind, params = self.feature_kind(d["feature"], f"{where}.feature")
            kwargs.update(feature=kind, params=params)
        else:
            key = given[0]
            kwargs[key] = self.typed(d[key], f"{where}.{key}", str, "a branch or field name")
        return Feature(
            name=self.typed(d["name"], f"{where}.name", str, "a string"),
            transform=self.chain(d["transform"], f"{where}.transform"),
            abs=self.boolean(d.get("abs", False), f"{where}.abs"),
            above=(
                None
                if d.get("above") is None
                else float(self.typed(d["above"], f"{where}.above", (int, float), "a number"))
            ),
            **kwargs,
        )

    def feature_kind(self, value: Any, where: str) -> tuple[str, dict[str, Any]]:
        if isinstance(value, str):
            kind, params = value, {}
        elif isinstance(value, Mapping) and len(value) == 1:
            kind, params = next(iter(value.items()))
            if params is not None and not isinstance(params, Mapping):
                raise self.fail(f"{where}.{kind}", "expected a mapping of parameters")
            params = dict(params or {})
        else:
            raise self.fail(where, "expected a feature name or {name: {params}}")
        kind = self.choice(kind, where, list(FEATURE_KINDS))
        for key in params:
            if key not in FEATURE_KINDS[kind]:
                allowed = ", ".join(sorted(FEATURE_KINDS[kind])) or "none"
                raise self.fail(f"{where}.{kind}.{key}", f"unknown parameter; allowed: {allowed}")
        return kind, params

    def target(self, value: Any, where: str) -> Target:
        d = self.mapping(
            value,
            where,
            ["name", "kind"],
            [
                "transform",
                "range",
                "dtype",
                "select_min",
                "select_max_abs",
                "categories",
                "point_masses",
            ],
        )
        kind = self.choice(d["kind"], f"{where}.kind", TARGET_KINDS)
        categories = self.discrete_values(d, "categories", where, kind)
        point_masses = self.discrete_values(d, "point_masses", where, kind)
        if categories and point_masses:
            raise self.fail(
                where, "a target takes categories (all discrete) or point_masses, not both"
            )
        if categories and len(categories) < 2:
            raise self.fail(
                f"{where}.categories", "needs at least 2 values (a single one is a constant)"
            )
        if kind != "uniform_phi" and "transform" not in d and not categories:
            raise self.fail(where, "missing required key 'transform'")
        rng = d.get("range", [None, None])
        if not (isinstance(rng, list) and len(rng) == 2):
            raise self.fail(f"{where}.range", "expected [low, high] (null for no bound)")
        for i, bound in enumerate(rng):
            if bound is not None:
                self.typed(bound, f"{where}.range[{i}]", (int, float), "a number or null")
        if None not in rng and rng[0] > rng[1]:
            raise self.fail(f"{where}.range", f"low {rng[0]} is above high {rng[1]}")
        select_min = d.get("select_min")
        if select_min is not None:
            self.typed(select_min, f"{where}.select_min", (int, float), "a number")
        select_max_abs = d.get("select_max_abs")
        if select_max_abs is not None:
            self.typed(select_max_abs, f"{where}.select_max_abs", (int, float), "a number")
            if not select_max_abs > 0:
                raise self.fail(f"{where}.select_max_abs", "must be positive")
        return Target(
            name=self.typed(d["name"], f"{where}.name", str, "a string"),
            kind=kind,
            transform=self.chain(d.get("transform", []), f"{where}.transform"),
            range=(rng[0], rng[1]),
            dtype=self.choice(d.get("dtype", "float32"), f"{where}.dtype", _DTYPES),
            select_min=None if select_min is None else float(select_min),
            select_max_abs=None if select_max_abs is None else float(select_max_abs),
            categories=categories,
            point_masses=point_masses,
        )

    def discrete_values(
        self, d: Mapping[str, Any], key: str, where: str, kind: str
    ) -> tuple[float, ...]:
        """A target's ``categories`` or ``point_masses``: distinct finite numbers, only on
        ``kind: value`` targets (a ratio or difference to gen has no fixed value to sit on)."""
        if key not in d:
            return ()
        if kind != "value":
            raise self.fail(f"{where}.{key}", f"only `kind: value` targets take {key}")
        value = d[key]
        if not isinstance(value, list) or not value:
            raise self.fail(f"{where}.{key}", "expected a non-empty list of numbers")
        numbers = tuple(
            float(self.typed(v, f"{where}.{key}[{i}]", (int, float), "a number"))
            for i, v in enumerate(value)
        )
        if not all(math.isfinite(v) for v in numbers):
            raise self.fail(f"{where}.{key}", "values must be finite")
        if len(set(numbers)) != len(numbers):
            raise self.fail(f"{where}.{key}", "values must be distinct")
        return numbers

    def efficiency(self, value: Any, where: str) -> EfficiencySpec:
        params = self.xgboost(value, where, ["classes"])
        classes = params.pop("classes", None)
        if classes is None:
            return EfficiencySpec(params=params)
        c = self.mapping(classes, f"{where}.classes", ["field", "values"])
        values = self.int_list(c["values"], f"{where}.classes.values")
        if len(set(values)) != len(values):
            raise self.fail(f"{where}.classes.values", "values must be distinct")
        return EfficiencySpec(
            params=params,
            class_field=self.typed(c["field"], f"{where}.classes.field", str, "a field name"),
            class_values=values,
        )

    def response(self, value: Any, where: str) -> ResponseSpec:
        from flashsim.models.factory import config_parsers

        d = self.mapping(value, where, ["model"], [*_MODELS, "training", "discrete"])
        model = self.choice(d["model"], f"{where}.model", _MODELS)
        other = [m for m in _MODELS if m != model and m in d]
        if other:
            raise self.fail(f"{where}.{other[0]}", f"settings of another model than {model!r}")
        config = d.get(model, {})
        parse_config, parse_training = config_parsers(model)
        for key, parse in ((model, parse_config), ("training", parse_training)):
            try:
                parse(d.get(key, {}))
            except SpecError as err:
                raise self.fail(where, str(err)) from err
        discrete = self.xgboost(d.get("discrete", {}), f"{where}.discrete")
        return ResponseSpec(
            model=model,
            config=dict(config),
            training=dict(d.get("training", {})),
            discrete=discrete,
        )

    def fakes(self, value: Any, where: str) -> FakesSpec:
        d = self.mapping(
            value, where, ["conditions", "targets", "max_count", "multiplicity", "response"]
        )
        max_count = self.typed(d["max_count"], f"{where}.max_count", int, "an integer")
        if max_count < 1:
            raise self.fail(f"{where}.max_count", "must be at least 1")
        return FakesSpec(
            conditions=self.event_features(d["conditions"], f"{where}.conditions"),
            targets=self.targets(d["targets"], f"{where}.targets", "fakes"),
            max_count=max_count,
            multiplicity=self.xgboost(d["multiplicity"], f"{where}.multiplicity"),
            response=self.response(d["response"], f"{where}.response"),
        )

    def event(self, value: Any, where: str) -> EventSpec:
        d = self.mapping(value, where, ["conditions", "targets", "response"])
        return EventSpec(
            conditions=self.event_features(d["conditions"], f"{where}.conditions"),
            targets=self.targets(d["targets"], f"{where}.targets", "event"),
            response=self.response(d["response"], f"{where}.response"),
        )

    def targets(self, value: Any, where: str, section: str) -> tuple[Target, ...]:
        targets = self.sequence(value, where, self.target)
        allowed = _SECTION_KINDS[section]
        for i, t in enumerate(targets):
            if t.kind not in allowed:
                raise self.fail(
                    f"{where}[{i}].kind", f"{t.kind!r} is not allowed here; use one of {allowed}"
                )
        pairs: dict[str, set[str]] = {}
        for t in targets:
            if t.kind in ("met_parallel", "met_perpendicular"):
                pairs.setdefault(met_prefix(t.name), set()).add(t.kind)
        for prefix, kinds in pairs.items():
            if kinds != {"met_parallel", "met_perpendicular"}:
                raise self.fail(
                    where,
                    f"met_parallel and met_perpendicular come together ({prefix}_...: the "
                    f"{prefix}_pt/_phi pair)",
                )
        return targets

    def event_features(self, value: Any, where: str) -> tuple[Feature, ...]:
        features = self.sequence(value, where, self.feature)
        for i, f in enumerate(features):
            if f.event is None and f.feature not in _EVENT_FEATURES:
                raise self.fail(
                    f"{where}[{i}]",
                    f"event-level conditions take `event:` or `feature:` {_EVENT_FEATURES}",
                )
        return features

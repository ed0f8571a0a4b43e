"""The PID section of a pipeline spec: particle identification trained on calibration samples.

Its typed objects (:class:`PidSpec`, its columns, species and flags) and the reading of the
``pid:`` YAML section into them. As in LHCb Lamarr (Anderlini et al., arXiv:2303.11428), the
PID of each simulated object is sampled per species from models trained on calibration tables.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from flashsim.spec.items import read_range
from flashsim.spec.reader import INT32, SpecReader
from flashsim.spec.types import ResponseSpec, WeightSpec

__all__ = [
    "BalanceSpec",
    "Column",
    "PidFlag",
    "PidSpec",
    "SpeciesSpec",
    "pid_flags",
    "point_mass_flag",
    "read_pid",
    "split_flag",
]


def point_mass_flag(target: str) -> str:
    """The name of a PID target's point-mass flag (its BDT's label and file name, a condition
    of the response model): ``DLLK`` -> ``DLLK_atPointMass``."""
    return f"{target}_atPointMass"


def split_flag(target: str) -> str:
    """The name of a PID target's split flag (1: above its ``split`` value), as
    :func:`point_mass_flag`: ``DLLK`` -> ``DLLK_aboveSplit``."""
    return f"{target}_aboveSplit"


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


# -- reading the pid: section ------------------------------------------------------------


def read_pid(r: SpecReader, value: Any, where: str, collections: Mapping[str, Any]) -> PidSpec:
    """The ``pid`` section: species, conditions, targets and models of the PID of one
    simulated ``collection`` (one of ``collections``)."""
    d = r.mapping(
        value,
        where,
        ["collection", "conditions", "targets", "species", "response"],
        ["is_muon", "weight", "occupancy", "validation_fraction", "balance"],
    )
    collection = r.typed(d["collection"], f"{where}.collection", str, "a name")
    if collection not in collections:
        raise r.fail(f"{where}.collection", f"{collection!r} is not one of the spec's collections")
    species = _species(r, d["species"], f"{where}.species")
    is_muon, params = None, {}
    if d.get("is_muon") is not None:
        m = r.mapping(d["is_muon"], f"{where}.is_muon", ["column"], ["efficiency"])
        is_muon = Column(
            "isMuon",
            r.typed(m["column"], f"{where}.is_muon.column", str, "a branch name"),
            (),
        )
        params = r.xgboost(m.get("efficiency", {}), f"{where}.is_muon.efficiency")
    occupancy = None
    if d.get("occupancy") is not None:
        o = r.mapping(d["occupancy"], f"{where}.occupancy", ["column", "field", "values"])
        occupancy = (
            r.typed(o["column"], f"{where}.occupancy.column", str, "a branch name"),
            r.typed(o["field"], f"{where}.occupancy.field", str, "a field name"),
            r.int_list(
                o["values"], f"{where}.occupancy.values", minimum=INT32[0], maximum=INT32[1]
            ),
        )
    fraction = r.typed(
        d.get("validation_fraction", 0.2), f"{where}.validation_fraction", (int, float), "a number"
    )
    if not 0.0 < fraction < 1.0:
        raise r.fail(f"{where}.validation_fraction", f"must lie in (0, 1), got {fraction}")
    targets = r.sequence(d["targets"], f"{where}.targets", partial(_column, r))
    for i, t in enumerate(targets):
        earlier = [x.name for x in targets[:i]]
        if t.relative_to is not None and t.relative_to not in earlier:
            raise r.fail(
                f"{where}.targets[{i}].relative_to",
                f"{t.relative_to!r} is not an earlier target (earlier: {earlier})",
            )
    conditions = r.sequence(d["conditions"], f"{where}.conditions", partial(_column, r))
    for i, c in enumerate(conditions):
        for key in ("relative_to", "point_mass", "split"):
            if getattr(c, key) is not None:
                raise r.fail(f"{where}.conditions[{i}].{key}", "applies to targets only")
    balance = None
    if d.get("balance") is not None:
        balance = _balance(r, d["balance"], f"{where}.balance", conditions)
    return PidSpec(
        balance=balance,
        collection=collection,
        conditions=conditions,
        targets=targets,
        species=species,
        response=r.response(d["response"], f"{where}.response"),
        is_muon=is_muon,
        is_muon_params=params,
        weight=r.weight(d["weight"], f"{where}.weight") if d.get("weight") else None,
        occupancy=occupancy,
        validation_fraction=fraction,
    )


def _species(r: SpecReader, value: Any, where: str) -> tuple[SpeciesSpec, ...]:
    """``pid.species``: per name, its |pdgId| values (in no other species) and optionally the
    calibration rows that are of this species (``select``)."""
    if not isinstance(value, Mapping) or not value:
        raise r.fail(where, "expected a mapping name: {pdgId: [...]}")
    species = []
    seen: set[int] = set()
    for name, entry in value.items():
        at = f"{where}.{name}"
        r.name(name, at)
        s = r.mapping(entry, at, ["pdgId"], ["select"])
        ids = r.int_list(s["pdgId"], f"{at}.pdgId", minimum=INT32[0], maximum=INT32[1])
        if seen & set(ids):
            raise r.fail(f"{at}.pdgId", f"{sorted(seen & set(ids))} in two species")
        seen |= set(ids)
        select = None
        if "select" in s:
            sel = r.mapping(s["select"], f"{at}.select", ["column", "values"])
            select = (
                r.typed(sel["column"], f"{at}.select.column", str, "a branch name"),
                r.int_list(
                    sel["values"], f"{at}.select.values", minimum=INT32[0], maximum=INT32[1]
                ),
            )
        species.append(SpeciesSpec(str(name), ids, select))
    return tuple(species)


def _column(r: SpecReader, value: Any, where: str) -> Column:
    """A PID condition or target: a calibration-table column and its preprocessing."""
    d = r.mapping(
        value,
        where,
        ["name", "column"],
        ["transform", "range", "relative_to", "point_mass", "split"],
    )
    rng = d.get("range", [None, None])
    read_range(r, rng, f"{where}.range")
    relative = d.get("relative_to")
    point_mass, params = _flag_value(r, d.get("point_mass"), f"{where}.point_mass")
    split, split_params = _flag_value(r, d.get("split"), f"{where}.split")
    return Column(
        name=r.name(d["name"], f"{where}.name"),
        column=r.typed(d["column"], f"{where}.column", str, "a branch name"),
        transform=r.chain(d.get("transform", []), f"{where}.transform"),
        range=(rng[0], rng[1]),
        relative_to=None
        if relative is None
        else r.typed(relative, f"{where}.relative_to", str, "a target name"),
        point_mass=point_mass,
        point_mass_params=params,
        split=split,
        split_params=split_params,
    )


def _flag_value(r: SpecReader, value: Any, where: str) -> tuple[float | None, dict[str, Any]]:
    """A PID target's ``point_mass``/``split``: ``V`` or ``{value: V, efficiency: {...}}``,
    as (V or None, its BDT's xgboost settings)."""
    params: dict[str, Any] = {}
    if isinstance(value, Mapping):
        m = r.mapping(value, where, ["value"], ["efficiency"])
        value = m["value"]
        params = r.xgboost(m.get("efficiency", {}), f"{where}.efficiency")
    if value is None:
        return None, params
    what = "a number, or {value: V, efficiency: {xgboost settings}}"
    return float(r.finite(value, where, what)), params


def _balance(r: SpecReader, value: Any, where: str, conditions: Sequence[Column]) -> BalanceSpec:
    """``pid.balance``: reweighting of the training rows in one of the conditions."""
    d = r.mapping(value, where, ["condition"], ["power", "max_factor", "bins"])
    names = [c.name for c in conditions]
    condition = r.typed(d["condition"], f"{where}.condition", str, "a condition name")
    if condition not in names:
        raise r.fail(f"{where}.condition", f"{condition!r} is not one of {names}")
    power = r.number(d.get("power", 1.0), f"{where}.power", low=0.0, high=1.0, low_open=True)
    max_factor = r.number(d.get("max_factor", 10.0), f"{where}.max_factor", low=1.0, high=1e6)
    bins = r.integer(d.get("bins", 30), f"{where}.bins", minimum=2, maximum=10_000)
    return BalanceSpec(condition, power, max_factor, bins)

"""The typed objects a pipeline spec is made of: conditions, targets, collections, the event.

Every class here is a frozen dataclass, built by the spec parser (:mod:`flashsim.spec.sections`)
from the YAML; the constants list the kinds a spec may name (see ``pipelines/README.md``). The PID
section's objects are in :mod:`flashsim.spec.pid`, the whole spec in
:mod:`flashsim.spec.pipeline_spec`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flashsim.nanoaod import DERIVED_FIELDS

__all__ = [
    "DERIVED",
    "FEATURE_KINDS",
    "NEGATIVE_WEIGHTS",
    "TARGET_KINDS",
    "ChildrenSpec",
    "CollectionSpec",
    "CopySpec",
    "EfficiencySpec",
    "EventSpec",
    "FakesSpec",
    "Feature",
    "LinkSpec",
    "ResponseSpec",
    "SourceSpec",
    "Target",
    "ViaSpec",
    "WeightSpec",
    "met_prefix",
]

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

NEGATIVE_WEIGHTS = ("raw", "regressed")
"""Strategies for negative (s)weights in training: see :mod:`flashsim.weights`."""
DERIVED = {name: needs for name, (needs, _) in DERIVED_FIELDS.items()}
"""Fields a collection may derive from its targets after sampling, and what each needs
(:data:`flashsim.nanoaod.DERIVED_FIELDS`)."""


def met_prefix(target: str) -> str:
    """The MET a ``met_parallel``/``met_perpendicular`` target belongs to: its name before the
    last ``_`` (``PuppiMET_upar`` -> ``PuppiMET``, written as ``PuppiMET_pt``/``_phi``)."""
    return target.rsplit("_", 1)[0] if "_" in target else "MET"


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
    relative_to: str | None = None
    """The generated field a ``ratio``/``diff``/``dphi`` target is relative to, when it is not
    the target's own name (a child's ``SubJet1_pt`` relative to the parent's generated ``pt``)."""

    @property
    def gen_field(self) -> str:
        """The generated field a relative target is expressed against."""
        return self.relative_to or self.name

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
class ViaSpec:
    """A link to the generated source through another reconstructed collection: the reco
    object's ``match`` field indexes ``collection``, whose ``field`` indexes the source
    (``Electron_jetIdx`` -> ``Jet_genJetIdx`` -> ``GenJet``)."""

    collection: str
    field: str


@dataclass(frozen=True)
class ChildrenSpec:
    """Objects of another reconstructed collection that each object owns: a FatJet's soft-drop
    subjets (``SubJet``, indexed by ``FatJet_subJetIdx1``/``2``).

    A second step after the parent's response: its own response model samples the number of
    children (:attr:`count`, a category 0..len(index)) and ``targets`` for each child k
    (:meth:`hidden_targets`: ``SubJet1_pt``, relative to the parent's generated object),
    conditioned on the parent's conditions and on the parent's sampled targets; the children
    are then written as the collection ``collection``, in parent order, and the parent's
    ``index`` fields point to them (-1 beyond the count).
    """

    collection: str
    index: tuple[str, ...]
    targets: tuple[Target, ...]
    response: ResponseSpec

    @property
    def count(self) -> str:
        """The name of the hidden target holding the number of children of an object."""
        return f"n{self.collection}"

    def target_name(self, k: int, field: str) -> str:
        """The hidden target of field ``field`` of child ``k`` (from 0): ``SubJet1_pt``."""
        return f"{self.collection}{k + 1}_{field}"

    def hidden(self) -> list[str]:
        """Every hidden target name: the count, then each child's fields."""
        return [t.name for t in self.hidden_targets()]

    def hidden_targets(self) -> tuple[Target, ...]:
        """The targets of the children's response: the number of children (a category), and
        each child's targets, relative to the parent's generated object for the relative
        kinds."""
        count = Target(
            name=self.count,
            kind="value",
            transform=(),
            dtype="uint8",
            categories=tuple(float(k) for k in range(len(self.index) + 1)),
        )
        hidden = [count]
        for k in range(len(self.index)):
            for t in self.targets:
                relative = t.kind in ("ratio", "diff", "dphi")
                hidden.append(
                    dataclasses.replace(
                        t,
                        name=self.target_name(k, t.name),
                        relative_to=t.name if relative else None,
                    )
                )
        return tuple(hidden)


@dataclass(frozen=True)
class LinkSpec:
    """A cross-reference filled after sampling: for every object whose ``field`` no source set
    (-1), the nearest object of ``collection`` (an earlier section) within ``max_dr`` in (η, φ),
    or -1 (``Electron_jetIdx`` of a prompt electron: the jet that holds it)."""

    field: str
    collection: str
    max_dr: float


@dataclass(frozen=True)
class CollectionSpec:
    """Everything about one reconstructed collection (``Jet``, ``Muon``, ...).

    A collection's objects may come from several generated sources: the section's own
    ``source`` (matched through ``match``), and each of ``sources`` (e.g. electrons faked by
    generated jets), itself a :class:`CollectionSpec` of the same reconstructed collection
    (``name``) with a ``label``, trained on the reco objects that no earlier source claimed.
    The ``fakes`` stage takes the objects no source claimed.
    """

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
    sources: tuple[CollectionSpec, ...] = ()
    """Further generated sources of the same reconstructed objects (see the class docstring)."""
    label: str | None = None
    """For one of a collection's ``sources``: its name (``jets``); None for the section itself."""
    via: ViaSpec | None = None
    """For a source linked through another collection: that link (``match`` is then the reco
    field that indexes ``via.collection``)."""
    links: tuple[LinkSpec, ...] = ()
    """Cross-references to earlier collections filled by proximity after sampling."""
    children: ChildrenSpec | None = None
    """Objects of another collection owned by each object, sampled after it."""

    @property
    def stage(self) -> str:
        """The name of this source's stages: ``Electron``, or ``Electron.jets`` for a source."""
        return self.name if self.label is None else f"{self.name}.{self.label}"

    def all_sources(self) -> tuple[CollectionSpec, ...]:
        """The section itself, then its further sources, in the order they claim reco objects."""
        return (self, *self.sources)


@dataclass(frozen=True)
class WeightSpec:
    """Per-row training weights: a branch (e.g. sWeights) and the negative-weight strategy."""

    column: str
    negative: str = "raw"


@dataclass(frozen=True)
class EventSpec:
    """Event-level reconstructed quantities (MET, rho, vertices)."""

    conditions: tuple[Feature, ...]
    targets: tuple[Target, ...]
    response: ResponseSpec

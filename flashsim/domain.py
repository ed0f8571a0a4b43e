"""What a model may be applied to: input policies for non-finite values and the training domain.

A flash-simulation model is only as good as its training data: a normalizing flow or a BDT asked
about a jet of 10 TeV when it saw jets up to 2 TeV extrapolates, and a NaN in a condition
propagates to every quantity sampled from it. flashsim therefore records, at training time, the
range (min, max) of every condition column (:class:`Domain`) and applies two policies at run time
(:class:`InputPolicy`, set in the spec's ``inputs:`` section or with ``flashsim run
--non-finite/--out-of-domain``):

``non_finite``
    ``error`` (default): an event with NaN or inf in a branch the pipeline reads stops the run
    with the branch and entry. ``drop``: such events are left out of the output, and their count
    is written to the output's provenance (``dropped_events``) and the run's summary.
``out_of_domain``
    ``clamp`` (default): condition values outside the training range are clamped to it before the
    models see them (the model's answer at the edge of what it knows). ``flag``: the models see
    the values as given (extrapolation) and each event with such a value gets
    ``FlashSim_outOfDomain = 1``. ``error``: stop with the column, the value and the range.
    In every case the objects outside are counted per stage (``out_of_domain`` in the counters).
``max_objects``
    The most objects per event of each collection the models read (:data:`DEFAULT_MAX_OBJECTS`,
    :data:`DEFAULT_MAX_OBJECTS_BY_COLLECTION`; far above physics): an event with more stops the
    run with the file, the entry, the collection and its count, before any model or neighbour
    search sees it, so a crafted event cannot pin a CPU or exhaust memory. Raised per collection
    in the spec (``max_objects: {GenJet: 2000}``) or with ``flashsim run --max-objects``. The
    index branches into a collection (``Jet_genJetIdx``) are Short_t as in NanoAOD while its cap
    is at most :data:`INT16_INDEX_LIMIT`, Int_t above, so an index never wraps.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from flashsim.exceptions import InputError, SpecError

__all__ = [
    "DEFAULT_MAX_OBJECTS",
    "DEFAULT_MAX_OBJECTS_BY_COLLECTION",
    "EVERY_COLLECTION",
    "INT16_INDEX_LIMIT",
    "MAX_OBJECTS_LIMIT",
    "NON_FINITE_POLICIES",
    "OUT_OF_DOMAIN_BRANCH",
    "OUT_OF_DOMAIN_COUNTER",
    "OUT_OF_DOMAIN_POLICIES",
    "Domain",
    "DomainGuard",
    "InputPolicy",
    "check_object_counts",
    "check_transformed",
    "non_finite_events",
]

NON_FINITE_POLICIES = ("error", "drop")
"""What to do with an event with NaN or inf in a branch the pipeline reads."""

OUT_OF_DOMAIN_POLICIES = ("clamp", "flag", "error")
"""What to do with a condition value outside the range seen in training."""

OUT_OF_DOMAIN_COUNTER = "out_of_domain"
"""Key of the run counters that holds, per stage, the objects outside the training domain."""

OUT_OF_DOMAIN_BRANCH = "FlashSim_outOfDomain"
"""With ``out_of_domain: flag``: 1 for events where a stage saw a condition outside its domain."""


DEFAULT_MAX_OBJECTS = 1_000
"""Objects per event of a collection the models read, unless raised (a busy tt̄ event has some
20 generated jets)."""

DEFAULT_MAX_OBJECTS_BY_COLLECTION = {"GenPart": 10_000}
"""Collections with another default cap (a pruned NanoAOD GenPart holds some 100-300 particles
per event)."""

MAX_OBJECTS_LIMIT = 10_000_000
"""The largest cap that can be set (an event of that many objects needs gigabytes)."""

INT16_INDEX_LIMIT = int(np.iinfo(np.int16).max)
"""Index branches into a collection (``Jet_genJetIdx``) are Short_t while the collection's cap is
at most this, Int_t above."""

EVERY_COLLECTION = "*"
"""The ``max_objects`` key of a cap for every collection (``--max-objects N``)."""


def _object_caps(value: Any) -> tuple[tuple[str, int], ...]:
    """``max_objects`` as sorted ``(collection, cap)`` pairs: from a mapping, or an int for
    every collection."""
    if value is None:
        return ()
    if isinstance(value, tuple) and all(isinstance(p, tuple) for p in value):
        value = dict(value)
    if not isinstance(value, Mapping):
        value = {EVERY_COLLECTION: value}
    caps = []
    for name, cap in value.items():
        label = "every collection" if name == EVERY_COLLECTION else name
        if not isinstance(name, str) or not name:
            msg = f"max_objects: {name!r} is not a collection name"
            raise SpecError(msg)
        if isinstance(cap, bool) or not isinstance(cap, (int, np.integer)):
            msg = f"max_objects of {label}: {cap!r} is not an integer"
            raise SpecError(msg)
        if not 1 <= cap <= MAX_OBJECTS_LIMIT:
            msg = f"max_objects of {label}: {cap} is outside [1, {MAX_OBJECTS_LIMIT}]"
            raise SpecError(msg)
        caps.append((name, int(cap)))
    return tuple(sorted(caps))


@dataclass(frozen=True)
class InputPolicy:
    """How ``flashsim run`` treats non-finite inputs, conditions outside the training domain and
    events with too many objects (``max_objects``: a mapping collection -> cap, the key
    :data:`EVERY_COLLECTION` for every collection, or one int for every collection)."""

    non_finite: str = "error"
    out_of_domain: str = "clamp"
    max_objects: Any = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_objects", _object_caps(self.max_objects))
        if self.non_finite not in NON_FINITE_POLICIES:
            msg = f"non_finite policy {self.non_finite!r}: use one of {NON_FINITE_POLICIES}"
            raise SpecError(msg)
        if self.out_of_domain not in OUT_OF_DOMAIN_POLICIES:
            msg = (
                f"out_of_domain policy {self.out_of_domain!r}: use one of {OUT_OF_DOMAIN_POLICIES}"
            )
            raise SpecError(msg)

    def to_dict(self) -> dict[str, Any]:
        """``{"non_finite": ..., "out_of_domain": ...}`` (the spec's ``inputs:`` section), with
        ``max_objects`` where caps were set."""
        record: dict[str, Any] = {
            "non_finite": self.non_finite,
            "out_of_domain": self.out_of_domain,
        }
        if self.max_objects:
            record["max_objects"] = dict(self.max_objects)
        return record

    def object_cap(self, collection: str) -> int:
        """The most objects of ``collection`` an event may hold.

        >>> InputPolicy(max_objects={"GenJet": 2000}).object_cap("GenJet")
        2000
        >>> InputPolicy().object_cap("GenPart"), InputPolicy(max_objects=50).object_cap("GenPart")
        (10000, 50)
        """
        caps = dict(self.max_objects)
        if collection in caps:
            return caps[collection]
        if EVERY_COLLECTION in caps:
            return caps[EVERY_COLLECTION]
        return DEFAULT_MAX_OBJECTS_BY_COLLECTION.get(collection, DEFAULT_MAX_OBJECTS)

    def index_dtype(self, collection: str) -> type[np.signedinteger]:
        """The type of index branches into ``collection``: ``int16`` (NanoAOD's) unless its cap
        allows more objects than int16 can number."""
        return np.int16 if self.object_cap(collection) <= INT16_INDEX_LIMIT else np.int32

    def with_caps(self, max_objects: Any) -> InputPolicy:
        """These policies with the caps ``max_objects`` replacing this policy's (a cap for
        every collection replaces all of them; a collection's replaces its own)."""
        given = dict(_object_caps(max_objects))
        base = {} if EVERY_COLLECTION in given else dict(self.max_objects)
        return InputPolicy(self.non_finite, self.out_of_domain, {**base, **given})


@dataclass(frozen=True)
class Domain:
    """The range of each condition column in the training data (finite values only).

    Arguments:
        names: the column names, in table order.
        low: the smallest training value of each column.
        high: the largest training value of each column.
    """

    names: tuple[str, ...]
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def fit(cls, names: Sequence[str], table: np.ndarray) -> Domain:
        """The domain of ``table`` (rows = objects, columns = ``names``); NaN and inf ignored."""
        arr = np.asarray(table, dtype=np.float64)
        finite = np.where(np.isfinite(arr), arr, np.nan)
        with warnings.catch_warnings():  # a column never finite: 'All-NaN slice', no limits
            warnings.simplefilter("ignore", RuntimeWarning)
            low = np.nanmin(finite, axis=0) if len(arr) else np.full(arr.shape[1], np.nan)
            high = np.nanmax(finite, axis=0) if len(arr) else np.full(arr.shape[1], np.nan)
        return cls(tuple(names), low, high)

    def outside(self, table: np.ndarray) -> np.ndarray:
        """Per row: whether any column lies outside its range (columns never seen: no limit)."""
        arr = np.asarray(table, dtype=np.float64)
        low = np.where(np.isnan(self.low), -np.inf, self.low)
        high = np.where(np.isnan(self.high), np.inf, self.high)
        return np.any((arr < low) | (arr > high), axis=1)

    def clamp(self, table: np.ndarray) -> np.ndarray:
        """``table`` with every column clipped into its range (a new float64 array)."""
        arr = np.asarray(table, dtype=np.float64)
        low = np.where(np.isnan(self.low), -np.inf, self.low)
        high = np.where(np.isnan(self.high), np.inf, self.high)
        return np.clip(arr, low, high)

    def apply(self, table: np.ndarray, policy: str, where: str) -> tuple[np.ndarray, np.ndarray]:
        """Apply an ``out_of_domain`` policy to a table of raw condition values.

        Returns:
            the table the models should see (clamped under ``clamp``), and the rows that were
            outside the domain.

        Raises:
            InputError: a row is outside and the policy is ``error`` (naming the first column,
                its value and its range).
        """
        outside = self.outside(table)
        if not outside.any():
            return table, outside
        if policy == "error":
            raise InputError(self._describe(table, outside, where))
        if policy == "clamp":
            return self.clamp(table), outside
        return table, outside

    def _describe(self, table: np.ndarray, outside: np.ndarray, where: str) -> str:
        arr = np.asarray(table, dtype=np.float64)
        row = int(np.flatnonzero(outside)[0])
        col = int(np.flatnonzero((arr[row] < self.low) | (arr[row] > self.high))[0])
        return (
            f"{int(outside.sum())} object(s) of {where} have conditions outside the training "
            f"domain, e.g. {self.names[col]} = {arr[row, col]:.6g} (trained on "
            f"[{self.low[col]:.6g}, {self.high[col]:.6g}]); run with --out-of-domain clamp "
            "(or flag) to simulate them anyway"
        )

    def to_dict(self) -> dict[str, Any]:
        """``{"low": [...], "high": [...]}`` (``null`` for a column never seen finite)."""
        return {"low": _json_floats(self.low), "high": _json_floats(self.high)}

    @classmethod
    def from_dict(cls, names: Sequence[str], record: Mapping[str, Any]) -> Domain:
        """Rebuild a domain written by :meth:`to_dict`, for the columns ``names``.

        Raises:
            SpecError: the record is malformed or does not have one entry per column.
        """
        try:
            low = np.array([np.nan if v is None else float(v) for v in record["low"]])
            high = np.array([np.nan if v is None else float(v) for v in record["high"]])
        except (KeyError, TypeError, ValueError) as err:
            msg = f"malformed domain record: {err!r}"
            raise SpecError(msg) from err
        if len(low) != len(names) or len(high) != len(names):
            msg = f"domain record has {len(low)}/{len(high)} limits for {len(names)} columns"
            raise SpecError(msg)
        return cls(tuple(names), low, high)


def non_finite_events(columns: Mapping[str, Any], n_events: int) -> tuple[np.ndarray, str | None]:
    """Which events have a NaN or inf in any of ``columns`` (flat or jagged awkward arrays).

    Returns:
        a boolean mask over events, and the name of the first branch with a non-finite value
        (``None`` when all are finite).
    """
    import awkward as ak

    bad = np.zeros(n_events, dtype=bool)
    first: str | None = None
    for name, values in columns.items():
        array = ak.Array(values)
        content = ak.flatten(array, axis=None) if array.ndim > 1 else array
        flat = np.asarray(content)
        if flat.dtype.kind != "f" or np.isfinite(flat).all():
            continue
        per_object = ~np.isfinite(array)
        hit = np.asarray(ak.any(per_object, axis=-1)) if array.ndim > 1 else np.asarray(per_object)
        bad |= hit
        first = first or name
    return bad, first


def check_object_counts(
    counts: Mapping[str, np.ndarray], policy: InputPolicy, entry: np.ndarray, source: str
) -> None:
    """Refuse a chunk with an event above a collection's cap (:meth:`InputPolicy.object_cap`).

    Arguments:
        counts: per collection, its number of objects in each event of the chunk.
        entry: the input entry of each event.
        source: the input file, for the message.

    Raises:
        InputError: naming the file, the first such entry, the collection, its count and the
            option that raises the cap.
    """
    for name, per_event in counts.items():
        cap = policy.object_cap(name)
        over = np.flatnonzero(np.asarray(per_event) > cap)
        if len(over):
            row = int(over[0])
            more = f" ({len(over)} such events in this chunk)" if len(over) > 1 else ""
            msg = (
                f"input {source}, entry {int(entry[row])}: {int(per_event[row])} {name} objects "
                f"in one event, more than the cap of {cap}{more}; if the file is genuine, raise "
                f"the cap with --max-objects {name}=N (or inputs.max_objects in the spec)"
            )
            raise InputError(msg)


def check_transformed(
    conditions: np.ndarray, raw: np.ndarray, names: Sequence[str], where: str
) -> None:
    """Refuse preprocessed conditions that are NaN or inf although the raw ones are finite: a
    value outside the domain of a transform (the log of a negative pT), passed as given under
    ``out_of_domain: flag``.

    Raises:
        InputError: naming the stage, the condition and its raw value.
    """
    finite = np.isfinite(conditions)
    if finite.all():
        return
    row, col = (int(i[0]) for i in np.nonzero(~finite))
    msg = (
        f"{int((~finite.all(axis=1)).sum())} object(s) of {where} have a condition that its "
        f"transform cannot take, e.g. {names[col]} = {raw[row, col]:.6g}; run with "
        "--out-of-domain clamp (or error), or check the input file"
    )
    raise InputError(msg)


def _non_finite_conditions(
    preprocessor: object,
    table: np.ndarray,
    finite: np.ndarray,
    event: np.ndarray | None,
    where: str,
) -> str:
    """The message for conditions that are NaN or inf (see :meth:`DomainGuard.__call__`)."""
    row, col = (int(i[0]) for i in np.nonzero(~finite))
    names = getattr(preprocessor, "names", None)
    name = names[col] if names is not None and col < len(names) else f"column {col}"
    which = row if event is None else int(np.asarray(event)[row])
    return (
        f"{int((~finite.all(axis=1)).sum())} object(s) of {where} have a non-finite condition, "
        f"e.g. {name} = {table[row, col]} (event {which} of the chunk), computed from "
        "degenerate input values (a zero pT in a ratio, values so large that a sum "
        "overflows); check the input file"
    )


def _json_floats(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in values]


class _Guarded(Protocol):
    def guard(
        self, table: np.ndarray, policy: str, where: str
    ) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass
class DomainGuard:
    """Applies the ``out_of_domain`` policy to one chunk's condition tables.

    Every stage passes its raw condition table through the guard before its preprocessing; the
    guard counts the rows outside the domain per stage (:attr:`counts`) and, per event, whether
    any stage saw one (:attr:`flagged`, the ``FlashSim_outOfDomain`` branch under ``flag``).

    Arguments:
        policy: ``clamp``, ``flag`` or ``error`` (:data:`OUT_OF_DOMAIN_POLICIES`).
        n_events: the number of events in the chunk.
    """

    policy: str
    n_events: int
    counts: dict[str, int] = field(default_factory=dict)
    flagged: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.flagged = np.zeros(self.n_events, dtype=bool)

    def __call__(
        self, preprocessor: _Guarded, table: np.ndarray, event: np.ndarray | None, where: str
    ) -> np.ndarray:
        """The table the stage ``where`` should preprocess.

        Arguments:
            preprocessor: the stage's fitted condition preprocessor (holds the domain).
            table: raw condition values, one row per object (or per event).
            event: the event of each row (``None``: one row per event).
            where: the stage's name, for counts and messages (``Jet``, ``Jet.fakes``, ...).

        Raises:
            InputError: a condition is NaN or inf. The input's branches are finite by then
                (:func:`non_finite_events`), so the condition was computed from degenerate
                values: a ratio to a zero pT, a sum that overflows. No policy makes sense of
                it (clamping NaN gives NaN, which the models turn into garbage).
            InputError: a condition is outside the domain under ``error``.
        """
        finite = np.isfinite(table)
        if not finite.all():
            raise InputError(_non_finite_conditions(preprocessor, table, finite, event, where))
        guarded, outside = preprocessor.guard(table, self.policy, where)
        self.counts[where] = self.counts.get(where, 0) + int(outside.sum())
        if outside.any():
            rows = np.flatnonzero(outside)
            self.flagged[rows if event is None else np.asarray(event)[rows]] = True
        return guarded

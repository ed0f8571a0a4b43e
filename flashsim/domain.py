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
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from flashsim.exceptions import InputError, SpecError

__all__ = [
    "NON_FINITE_POLICIES",
    "OUT_OF_DOMAIN_BRANCH",
    "OUT_OF_DOMAIN_COUNTER",
    "OUT_OF_DOMAIN_POLICIES",
    "Domain",
    "DomainGuard",
    "InputPolicy",
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


@dataclass(frozen=True)
class InputPolicy:
    """How ``flashsim run`` treats non-finite inputs and conditions outside the training domain."""

    non_finite: str = "error"
    out_of_domain: str = "clamp"

    def __post_init__(self) -> None:
        if self.non_finite not in NON_FINITE_POLICIES:
            msg = f"non_finite policy {self.non_finite!r}: use one of {NON_FINITE_POLICIES}"
            raise SpecError(msg)
        if self.out_of_domain not in OUT_OF_DOMAIN_POLICIES:
            msg = (
                f"out_of_domain policy {self.out_of_domain!r}: use one of {OUT_OF_DOMAIN_POLICIES}"
            )
            raise SpecError(msg)

    def to_dict(self) -> dict[str, str]:
        """``{"non_finite": ..., "out_of_domain": ...}`` (the spec's ``inputs:`` section)."""
        return {"non_finite": self.non_finite, "out_of_domain": self.out_of_domain}


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
        """
        guarded, outside = preprocessor.guard(table, self.policy, where)
        self.counts[where] = self.counts.get(where, 0) + int(outside.sum())
        if outside.any():
            rows = np.flatnonzero(outside)
            self.flagged[rows if event is None else np.asarray(event)[rows]] = True
        return guarded

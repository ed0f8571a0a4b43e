"""The contract of a column transform, and the registry of transform kinds by name.

A :class:`Transform` is an elementwise, invertible map of one column, possibly fitted on data,
that serialises to plain JSON. Every kind registers itself in :data:`TRANSFORMS` under its
``kind`` (:func:`register`); :func:`transform_class` and :func:`make_transform` turn a name and
parameters from a spec or a saved record into a transform, refusing unknown ones with a
did-you-mean hint. The kinds themselves are in :mod:`flashsim.preprocessing.transforms`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from flashsim.checks import closest
from flashsim.exceptions import SpecError

__all__ = [
    "TRANSFORMS",
    "Transform",
    "as_column",
    "check_number",
    "make_transform",
    "register",
    "transform_class",
]


def as_column(x: Any) -> np.ndarray:
    """``x`` as a 1-D float64 array (a transform works on one column); ValueError otherwise."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        msg = f"a transform works on one column (1-D array); got shape {arr.shape}"
        raise ValueError(msg)
    return arr


def check_number(kind: str, name: str, value: Any, *, optional: bool = False) -> float | None:
    """The parameter ``name`` of a ``kind`` transform as a finite float (None allowed if
    ``optional``); :class:`~flashsim.exceptions.SpecError` naming both otherwise."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        msg = f"transform {kind!r}: parameter {name!r} must be a number, got {value!r}"
        raise SpecError(msg)
    if not math.isfinite(value):
        msg = f"transform {kind!r}: parameter {name!r} must be finite, got {value!r}"
        raise SpecError(msg)
    return float(value)


def _suggest(name: str, choices: Sequence[str]) -> str:
    """``"did you mean 'x'? "`` for the closest choice, or ``""``."""
    close = closest(name, choices)
    return f"did you mean {close!r}? " if close is not None else ""


class Transform:
    """An elementwise, invertible map of one column, possibly fitted on data.

    Subclasses take their parameters as keyword-only ``__init__`` arguments (validated there,
    raising :class:`~flashsim.exceptions.SpecError`) and list fitted attributes in ``state``.
    """

    kind: ClassVar[str]
    state: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def param_names(cls) -> list[str]:
        """The parameters a spec may give, in declaration order."""
        return list(inspect.signature(cls.__init__).parameters)[1:]

    def fit(self, x: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Fit the transform on a column; the default has nothing to fit.

        Arguments:
            x: the column (1-D, float64).
            weights: per-entry weights (may be negative, e.g. sWeights), or None.
        """

    def forward(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Map data to the training space; ``rng`` feeds random smearing (None: deterministic)."""
        raise NotImplementedError

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """Map values from the training space back to data."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"kind": ..., **params, **fitted_state}`` with plain JSON values."""
        names = [*self.param_names(), *self.state]
        return {"kind": self.kind, **{name: getattr(self, name) for name in names}}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Transform:
        """Rebuild a transform written by :meth:`to_dict`.

        Arguments:
            record: the mapping; its ``kind`` picks the class.

        Returns:
            The transform, fitted state included.

        Raises:
            SpecError: the kind is unknown or a parameter is unknown or invalid.
        """
        record = dict(record)
        kind = record.pop("kind", None)
        target = transform_class(kind)
        if cls is not Transform and target is not cls:
            msg = f"record of kind {kind!r} cannot make a {cls.kind!r} transform"
            raise SpecError(msg)
        state = {name: record.pop(name) for name in target.state if name in record}
        transform = make_transform(target, record)
        for name, value in state.items():
            setattr(transform, name, check_number(target.kind, name, value, optional=True))
        transform.check_state()
        return transform

    def check_state(self) -> None:
        """Hook: refuse a fitted state read back from a record that the transform cannot use
        (a zero standard deviation); raise :class:`~flashsim.exceptions.SpecError`."""


TRANSFORMS: dict[str, type[Transform]] = {}
"""Every transform class, by its ``kind``."""


def register(cls: type[Transform]) -> type[Transform]:
    """Class decorator: list a transform class in :data:`TRANSFORMS` under its ``kind``."""
    TRANSFORMS[cls.kind] = cls
    return cls


def transform_class(kind: Any) -> type[Transform]:
    """The transform class named ``kind``; SpecError with a did-you-mean hint if unknown."""
    if not isinstance(kind, str) or kind not in TRANSFORMS:
        hint = _suggest(kind, list(TRANSFORMS)) if isinstance(kind, str) else ""
        msg = f"unknown transform {kind!r}; {hint}valid kinds: {', '.join(sorted(TRANSFORMS))}"
        raise SpecError(msg)
    return TRANSFORMS[kind]


def make_transform(cls: type[Transform], params: Mapping[str, Any]) -> Transform:
    """A ``cls`` transform with the spec parameters ``params``.

    Raises:
        SpecError: a parameter is unknown (with a did-you-mean hint), missing or invalid.
    """
    valid = cls.param_names()
    for name in params:
        if name not in valid:
            listed = ", ".join(valid) or "none"
            msg = (
                f"transform {cls.kind!r}: unknown parameter {name!r}; "
                f"{_suggest(str(name), valid)}valid parameters: {listed}"
            )
            raise SpecError(msg)
    signature = inspect.signature(cls.__init__).parameters
    empty = inspect.Parameter.empty
    missing = [n for n in valid if signature[n].default is empty and n not in params]
    if missing:
        msg = f"transform {cls.kind!r}: missing required parameter(s) {', '.join(missing)}"
        raise SpecError(msg)
    return cls(**params)

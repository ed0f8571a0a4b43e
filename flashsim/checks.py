"""Declarative checks of configuration read from YAML or JSON, naming the key path on failure.

A :class:`ConfigReader` walks a nested mapping (a pipeline spec, a model's settings) and checks
each value where it is read: ``reader.mapping(value, "collections.Jet", required, optional)``,
``reader.integer(value, "flow.transforms", minimum=1)``. A bad value raises the reader's error
type (:class:`~flashsim.exceptions.SpecError` unless told otherwise) with one line naming the
origin, the key path and what was expected, e.g.
``cms_like.yaml: collections.Jet.targets[3].kind: unknown value 'vale' (did you mean 'value'?)``;
misspelt keys and values get a did-you-mean suggestion. :meth:`ConfigReader.dataclass_from`
turns a mapping of options into a dataclass, refusing unknown keys.

Example:
    >>> reader = ConfigReader("a.yaml")
    >>> reader.mapping({"seed": 1}, "top level", ["seed"], ["name"])
    {'seed': 1}
    >>> reader.choice("flwo", "model", ("flow", "gan"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    flashsim.exceptions.SpecError: a.yaml: model: unknown value 'flwo' (did you mean 'flow'?)...
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from flashsim.exceptions import FlashsimError, SpecError

__all__ = ["ConfigReader", "closest", "did_you_mean"]

_T = TypeVar("_T")


def closest(name: str, choices: Sequence[str]) -> str | None:
    """The choice most like ``name`` (a likely misspelling of it), or None if none is close.

    Example:
        >>> closest("standardise", ["log", "standardize"])
        'standardize'
    """
    close = difflib.get_close_matches(name, list(choices), n=1)
    return close[0] if close else None


def did_you_mean(name: str, choices: Sequence[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest choice, or ``""``: a hint to append to a
    message about an unknown name.

    Example:
        >>> did_you_mean("bin", ["bins", "hidden"])
        " (did you mean 'bins'?)"
    """
    match = closest(name, choices)
    return f" (did you mean {match!r}?)" if match is not None else ""


class ConfigReader:
    """Checks values read from a nested configuration, raising errors that name the key path.

    Every method takes the value and ``where``, its key path (``collections.Jet.targets[3]``),
    returns the value checked (and possibly converted) or raises ``error`` with the message
    ``"<origin>: <where>: <what is wrong>"``.

    Arguments:
        origin: where the configuration comes from (a file name), the messages' prefix; None
            for none.
        error: the exception class raised, e.g. :class:`~flashsim.exceptions.SpecError` for a
            pipeline spec or :class:`~flashsim.exceptions.ConfigurationError` for options.
    """

    def __init__(self, origin: str | None = None, error: type[FlashsimError] = SpecError) -> None:
        self.origin = origin
        self.error = error

    def fail(self, where: str, what: str) -> FlashsimError:
        """The error to raise for the value at ``where``: ``raise reader.fail(where, what)``."""
        parts = [p for p in (self.origin, where, what) if p]
        return self.error(": ".join(parts))

    def mapping(
        self,
        value: Any,
        where: str,
        required: Sequence[str] = (),
        optional: Sequence[str] = (),
    ) -> dict[str, Any]:
        """A mapping with all ``required`` keys and no others than ``optional`` ones.

        An unknown key is named with its path (``where.key``), a did-you-mean hint and the
        allowed keys.
        """
        if not isinstance(value, Mapping):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}")
        allowed = [*required, *optional]
        for key in value:
            if key not in allowed:
                hint = did_you_mean(str(key), allowed)
                raise self.fail(
                    f"{where}.{key}", f"unknown key{hint}; allowed: {', '.join(allowed)}"
                )
        for key in required:
            if key not in value:
                raise self.fail(where, f"missing required key {key!r}")
        return dict(value)

    def dataclass_from(self, cls: type[_T], value: Any, where: str) -> _T:
        """The dataclass ``cls`` built from a mapping of options; missing keys take defaults.

        The values are checked by ``cls`` itself (its ``__post_init__``); here an unknown key
        is refused with a did-you-mean hint and the valid keys.

        Arguments:
            cls: a dataclass whose fields are the options.
            value: the mapping, as read from YAML or JSON.
            where: the section's key path, e.g. ``flow``.
        """
        if not isinstance(value, Mapping):
            raise self.fail(where, f"expected a mapping of options, got {type(value).__name__}")
        valid = [f.name for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
        for key in value:
            if key not in valid:
                hint = did_you_mean(str(key), valid)
                raise self.fail(where, f"unknown key {key!r}{hint}; valid keys: {', '.join(valid)}")
        return cls(**value)

    def typed(self, value: Any, where: str, types: type | tuple[type, ...], what: str) -> Any:
        """``value`` if it is an instance of ``types``, described as ``what`` otherwise
        (``"a number"``); a boolean passes only where ``bool`` is one of the types."""
        if isinstance(value, bool) and bool not in (
            types if isinstance(types, tuple) else (types,)
        ):
            raise self.fail(where, f"expected {what}, got a boolean")
        if not isinstance(value, types):
            raise self.fail(where, f"expected {what}, got {_short(value)}")
        return value

    def boolean(self, value: Any, where: str) -> bool:
        """``true`` or ``false``."""
        return bool(self.typed(value, where, bool, "a boolean (true or false)"))

    def non_negative(self, value: Any, where: str) -> int:
        """An integer >= 0 (a seed, a count)."""
        value = self.typed(value, where, int, "an integer")
        if value < 0:
            raise self.fail(where, f"must be >= 0, got {value}")
        return value

    def integer(
        self, value: Any, where: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        """An integer (not a boolean), at least ``minimum`` and at most ``maximum`` if given.

        Example:
            >>> ConfigReader().integer(0, "flow.transforms", minimum=1)
            Traceback (most recent call last):
            ...
            flashsim.exceptions.SpecError: flow.transforms: expected an integer >= 1, got 0
        """
        if minimum is not None and maximum is not None:
            what = f"an integer in [{minimum}, {maximum}]"
        elif maximum is not None:
            what = f"an integer <= {maximum}"
        else:
            what = "an integer" if minimum is None else f"an integer >= {minimum}"
        value = self.typed(value, where, int, what)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self.fail(where, f"expected {what}, got {_short(value)}")
        return value

    def number(
        self,
        value: Any,
        where: str,
        *,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
        high_open: bool = False,
    ) -> float:
        """A finite number within the bounds given, as a float.

        A string holding a number is read as one: PyYAML reads ``1e-3`` (no dot) as a string.

        Arguments:
            value: the value to check.
            where: its key path.
            low, high: the bounds (None: unbounded on that side).
            low_open, high_open: whether the bound itself is excluded.
        """
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = ok and math.isfinite(value)
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value < high if high_open else value <= high
        if not ok:
            raise self.fail(
                where, f"expected {_interval(low, high, low_open, high_open)}, got {_short(value)}"
            )
        return float(value)

    def choice(self, value: Any, where: str, choices: Sequence[str]) -> str:
        """One of ``choices``; an unknown value gets a did-you-mean hint and the choices."""
        if value not in choices:
            hint = did_you_mean(str(value), list(choices))
            raise self.fail(where, f"unknown value {value!r}{hint}; expected one of {choices}")
        return str(value)

    def names(self, value: Any, where: str) -> tuple[str, ...]:
        """A list of strings (possibly empty)."""
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, "expected a list of names")
        return tuple(value)

    def int_list(
        self,
        value: Any,
        where: str,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
        what: str = "integers",
    ) -> tuple[int, ...]:
        """A non-empty list of integers (``what`` names them: ``"layer widths"``), each at
        least ``minimum`` and at most ``maximum`` if given; an item is named by its index,
        ``where[i]``."""
        if not isinstance(value, (list, tuple)) or not value:
            raise self.fail(where, f"expected a non-empty list of {what}")
        return tuple(
            self.integer(v, f"{where}[{i}]", minimum=minimum, maximum=maximum)
            for i, v in enumerate(value)
        )

    def sequence(self, value: Any, where: str, item: Callable[[Any, str], _T]) -> tuple[_T, ...]:
        """A non-empty list, each entry read by ``item(entry, "where[i]")``; the entries'
        ``name`` attributes, where they have one, must not repeat."""
        if not isinstance(value, list) or not value:
            raise self.fail(where, "expected a non-empty list")
        items = tuple(item(v, f"{where}[{i}]") for i, v in enumerate(value))
        names = [getattr(x, "name", None) for x in items]
        for name in names:
            if name is not None and names.count(name) > 1:
                raise self.fail(where, f"name {name!r} appears more than once")
        return items


def _short(value: Any) -> str:
    """``repr(value)``, cut to 40 characters (a hostile value may be a 4,000-digit integer)."""
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    """How :meth:`ConfigReader.number` describes what it expects: ``a finite number > 0``,
    ``a number in [0, 1)``."""
    if low is not None and high is not None:
        return f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"a finite number {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"a finite number {'<' if high_open else '<='} {high:g}"
    return "a finite number"

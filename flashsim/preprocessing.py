"""Invertible, fitted, serialisable column transforms for conditions and targets.

Normalizing flows and BDTs learn best on smooth, unbounded, standardised inputs; physics columns
are bounded (isolation >= 0, b-tag score in [0, 1]), discrete (counts, charges) or have point
masses (isolation exactly 0). As in CMS FlashSim (arXiv:2402.13684) and LHCb Lamarr, each column
gets a :class:`Chain` of transforms that is fitted on training data, applied forward before
training, and inverted on generated samples. A :class:`TablePreprocessor` holds one chain per
named column. Everything serialises to plain JSON through ``to_dict``/``from_dict``.

Chains are written in pipeline specs as lists such as ``["log", "standardize"]`` or
``[{"spike": {"value": 0, "width": 0.01}}, {"logit": {"low": -0.01, "high": 1}}]``;
:func:`build_chain` turns one into a :class:`Chain`. Non-finite inputs propagate as NaN/inf.
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from flashsim.domain import Domain
from flashsim.exceptions import SpecError

__all__ = ["TRANSFORMS", "Chain", "TablePreprocessor", "Transform", "build_chain"]

_TINY = 1e-12


def _column(x: Any) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        msg = f"a transform works on one column (1-D array); got shape {arr.shape}"
        raise ValueError(msg)
    return arr


def _number(kind: str, name: str, value: Any, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        msg = f"transform {kind!r}: parameter {name!r} must be a number, got {value!r}"
        raise SpecError(msg)
    if not math.isfinite(value):
        msg = f"transform {kind!r}: parameter {name!r} must be finite, got {value!r}"
        raise SpecError(msg)
    return float(value)


def _bounds(kind: str, low: Any, high: Any) -> tuple[float | None, float | None]:
    lo, hi = _number(kind, "low", low, optional=True), _number(kind, "high", high, optional=True)
    if lo is not None and hi is not None and lo > hi:
        msg = f"transform {kind!r}: low ({low}) must not exceed high ({high})"
        raise SpecError(msg)
    return lo, hi


def _clip(x: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    out = x.copy()
    if low is not None:
        np.maximum(out, low, out=out)
    if high is not None:
        np.minimum(out, high, out=out)
    return out


def _suggest(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


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
        target = _lookup(kind)
        if cls is not Transform and target is not cls:
            msg = f"record of kind {kind!r} cannot make a {cls.kind!r} transform"
            raise SpecError(msg)
        state = {name: record.pop(name) for name in target.state if name in record}
        transform = _make(target, record)
        for name, value in state.items():
            setattr(transform, name, _number(target.kind, name, value, optional=True))
        return transform


TRANSFORMS: dict[str, type[Transform]] = {}
"""Every transform class, by its ``kind``."""


def _register(cls: type[Transform]) -> type[Transform]:
    TRANSFORMS[cls.kind] = cls
    return cls


def _lookup(kind: Any) -> type[Transform]:
    if not isinstance(kind, str) or kind not in TRANSFORMS:
        hint = _suggest(kind, list(TRANSFORMS)) if isinstance(kind, str) else ""
        msg = f"unknown transform {kind!r}; {hint}valid kinds: {', '.join(sorted(TRANSFORMS))}"
        raise SpecError(msg)
    return TRANSFORMS[kind]


def _make(cls: type[Transform], params: Mapping[str, Any]) -> Transform:
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


@_register
class Log(Transform):
    """``y = log(x + offset)``; ``x + offset`` is first clipped to at least 1e-12 to stay finite."""

    kind = "log"

    def __init__(self, *, offset: float = 0.0) -> None:
        self.offset = _number(self.kind, "offset", offset)

    def forward(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return np.log(np.maximum(_column(x) + self.offset, _TINY))

    def inverse(self, y: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.exp(_column(y)) - self.offset


@_register
class Asinh(Transform):
    """``y = asinh((x - loc) / scale)``: linear within about ``scale`` of ``loc``, logarithmic
    beyond, on both signs.

    For quantities whose spread changes by orders of magnitude with the conditions: RICH DLLs
    span about -140..70 for slow tracks and a few units around 0 for fast ones, which after a
    plain standardisation is a peak a few hundredths of the global spread wide, too narrow for a
    spline flow to place; after ``asinh`` with ``scale`` about that few units it is a fraction
    of the spread.
    """

    kind = "asinh"

    def __init__(self, *, scale: float, loc: float = 0.0) -> None:
        self.scale = _number(self.kind, "scale", scale)
        self.loc = _number(self.kind, "loc", loc)
        if not self.scale > 0:
            msg = f"transform 'asinh': scale must be positive, got {scale}"
            raise SpecError(msg)

    def forward(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return np.arcsinh((_column(x) - self.loc) / self.scale)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return self.loc + self.scale * np.sinh(_column(y))


@_register
class Logit(Transform):
    """Logit of ``(x - low) / (high - low)`` clipped to ``[eps, 1 - eps]``; inverse in range."""

    kind = "logit"

    def __init__(self, *, low: float = 0.0, high: float = 1.0, eps: float = 1e-6) -> None:
        self.low = _number(self.kind, "low", low)
        self.high = _number(self.kind, "high", high)
        self.eps = _number(self.kind, "eps", eps)
        if not self.low < self.high:
            msg = f"transform 'logit': low ({low}) must be below high ({high})"
            raise SpecError(msg)
        if not 0 < self.eps < 0.5:
            msg = f"transform 'logit': eps must lie in (0, 0.5), got {eps}"
            raise SpecError(msg)

    def forward(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        u = np.clip((_column(x) - self.low) / (self.high - self.low), self.eps, 1 - self.eps)
        return np.log(u) - np.log1p(-u)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        y = _column(y)
        e = np.exp(-np.abs(y))  # never overflows: a numerically stable sigmoid
        s = np.where(y >= 0, 1 / (1 + e), e / (1 + e))
        return np.clip(self.low + (self.high - self.low) * s, self.low, self.high)


@_register
class Standardize(Transform):
    """``(x - mean) / std`` with mean and std fitted (weighted if weights are given).

    Non-finite entries are ignored when fitting. With weights whose sum is not positive, or that
    give a negative variance, the unweighted value is used. A constant column gets ``std = 1``.
    """

    kind = "standardize"
    state = ("mean", "std")

    def __init__(self) -> None:
        self.mean: float | None = None
        self.std: float | None = None

    def fit(self, x: np.ndarray, weights: np.ndarray | None = None) -> None:
        x = _column(x)
        ok = np.isfinite(x)
        x = x[ok]
        if x.size == 0:
            msg = "cannot fit 'standardize': the column has no finite entries"
            raise ValueError(msg)
        mean, var = float(np.mean(x)), float(np.var(x))
        if weights is not None:
            w = _column(weights)[ok]
            total = float(np.sum(w))
            if total > 0:
                w_mean = float(np.sum(w * x)) / total
                w_var = float(np.sum(w * (x - w_mean) ** 2)) / total
                mean, var = w_mean, (w_var if w_var >= 0 else var)
        std = math.sqrt(var)
        self.mean, self.std = mean, (std if std > _TINY else 1.0)

    def _fitted(self) -> tuple[float, float]:
        if self.mean is None or self.std is None:
            msg = "'standardize' transform used before it was fitted"
            raise RuntimeError(msg)
        return self.mean, self.std

    def forward(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        mean, std = self._fitted()
        return (_column(x) - mean) / std

    def inverse(self, y: np.ndarray) -> np.ndarray:
        mean, std = self._fitted()
        return _column(y) * std + mean


@_register
class Dequantize(Transform):
    """Integer column -> continuous: ``x + u`` with ``u ~ U[0, 1)`` (0.5 without rng).

    The inverse floors and clips to ``[low, high]``; a bound that is None is taken from the
    data's minimum/maximum by :meth:`fit` (state ``fit_low``/``fit_high``). With ``step``, the
    column holds multiples of ``step`` (a jet's active area: ghosts times the ghost area), which
    are divided by it first and multiplied back by the inverse, so the values stay on the grid
    (``low``/``high`` count steps).
    """

    kind = "dequantize"
    state = ("fit_low", "fit_high")

    def __init__(
        self, *, low: float | None = None, high: float | None = None, step: float = 1.0
    ) -> None:
        self.low, self.high = _bounds(self.kind, low, high)
        for name, value in (("low", self.low), ("high", self.high)):
            if value is not None and value != math.floor(value):
                msg = f"transform 'dequantize': {name} must be an integer, got {value}"
                raise SpecError(msg)
        self.step = _number(self.kind, "step", step)
        if not self.step > 0:
            msg = f"transform 'dequantize': step must be positive, got {step}"
            raise SpecError(msg)
        self.fit_low: float | None = None
        self.fit_high: float | None = None

    def _counts(self, x: np.ndarray) -> np.ndarray:
        if self.step == 1.0:
            return x
        n = np.rint(x / self.step)
        # float32 storage: a multiple of the step is within a few float32 ulps of it
        return np.where(np.abs(x - n * self.step) <= 1e-5 * np.maximum(np.abs(x), 1), n, x)

    def fit(self, x: np.ndarray, weights: np.ndarray | None = None) -> None:
        x = self._counts(_column(x))
        x = x[np.isfinite(x)]
        bad = x[x != np.floor(x)]
        if bad.size:
            what = "integer values" if self.step == 1.0 else f"multiples of {self.step}"
            msg = f"'dequantize' expects {what}; found {bad[0] * self.step!r}"
            raise ValueError(msg)
        if x.size:
            self.fit_low, self.fit_high = float(x.min()), float(x.max())

    def forward(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        x = np.floor(self._counts(_column(x)))
        u = np.full(x.shape, 0.5) if rng is None else rng.random(x.shape)
        return np.minimum(x + u, np.nextafter(x + 1, x))  # stays below x + 1 despite rounding

    def inverse(self, y: np.ndarray) -> np.ndarray:
        low = self.low if self.low is not None else self.fit_low
        high = self.high if self.high is not None else self.fit_high
        counts = _clip(np.floor(_column(y)), low, high)
        return counts if self.step == 1.0 else counts * self.step


@_register
class Spike(Transform):
    """Spread a point mass at ``value`` over a block of ``width`` beside it (``side``).

    Entries equal to ``value`` (within ``tolerance``) move to ``value ∓ width * u``,
    ``u ~ U(0, 1]`` (0.5 without rng), and entries beyond ``value`` on that ``side`` shift by
    ``width`` to make room, so the spike may also sit inside the distribution (e.g. the default
    b-tag score of jets without tracks). The inverse maps the block back to ``value`` and undoes
    the shift; at a physical boundary (nothing beyond ``value``) it is the identity elsewhere.
    """

    kind = "spike"

    def __init__(
        self, *, value: float, width: float, side: str = "below", tolerance: float = 1e-6
    ) -> None:
        self.value = _number(self.kind, "value", value)
        self.width = _number(self.kind, "width", width)
        self.tolerance = _number(self.kind, "tolerance", tolerance)
        if not self.width > 0:
            msg = f"transform 'spike': width must be positive, got {width}"
            raise SpecError(msg)
        if not self.tolerance >= 0:
            msg = f"transform 'spike': tolerance must be >= 0, got {tolerance}"
            raise SpecError(msg)
        if side not in ("below", "above"):
            msg = f"transform 'spike': side must be 'below' or 'above', got {side!r}"
            raise SpecError(msg)
        self.side = side

    def _sign(self) -> float:
        return -1.0 if self.side == "below" else 1.0

    def forward(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        out = _column(x).copy()
        hit = np.abs(out - self.value) <= self.tolerance * max(1.0, abs(self.value))
        sign = self._sign()
        beyond = ~hit & (sign * (out - self.value) > 0)
        out[beyond] += sign * self.width
        n = int(np.count_nonzero(hit))
        u = np.full(n, 0.5) if rng is None else 1.0 - rng.random(n)
        out[hit] = self.value + sign * self.width * u
        return out

    def inverse(self, y: np.ndarray) -> np.ndarray:
        out = _column(y).copy()
        sign = self._sign()
        distance = sign * (out - self.value)
        out[distance > self.width] -= sign * self.width
        out[(distance > 0) & (distance <= self.width)] = self.value
        return out


class _InverseOnly(Transform):
    """Identity forward; acts only at run time, on generated values."""

    def forward(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return _column(x).copy()


@_register
class Clip(_InverseOnly):
    """Identity forward; the inverse clips to ``[low, high]`` (None: unbounded)."""

    kind = "clip"

    def __init__(self, *, low: float | None = None, high: float | None = None) -> None:
        self.low, self.high = _bounds(self.kind, low, high)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        return _clip(_column(y), self.low, self.high)


@_register
class Wrap(_InverseOnly):
    """Identity forward; the inverse wraps angles into ``[-period/2, period/2)``."""

    kind = "wrap"

    def __init__(self, *, period: float = 2 * math.pi) -> None:
        self.period = _number(self.kind, "period", period)
        if not self.period > 0:
            msg = f"transform 'wrap': period must be positive, got {period}"
            raise SpecError(msg)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        y, half = _column(y), self.period / 2
        wrapped = np.mod(y + half, self.period) - half
        wrapped = np.where(wrapped >= half, wrapped - self.period, wrapped)  # rounding at the edge
        return np.where((y >= -half) & (y < half), y, wrapped)  # in-range values stay exact


class Chain:
    """The ordered transforms of one column.

    Arguments:
        transforms: applied first to last by :meth:`forward`, last to first by :meth:`inverse`.
    """

    def __init__(self, transforms: Sequence[Transform] = ()) -> None:
        self.transforms: list[Transform] = list(transforms)

    def fit_forward(
        self,
        x: np.ndarray,
        rng: np.random.Generator | None = None,
        weights: np.ndarray | None = None,
    ) -> np.ndarray:
        """Fit each transform on the output of the previous one; return the final output."""
        x = _column(x)
        for transform in self.transforms:
            transform.fit(x, weights)
            x = transform.forward(x, rng)
        return x

    def forward(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Apply the (fitted) transforms in order."""
        x = _column(x)
        for transform in self.transforms:
            x = transform.forward(x, rng)
        return x

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """Apply the inverses in reverse order."""
        y = _column(y)
        for transform in reversed(self.transforms):
            y = transform.inverse(y)
        return y

    def to_dict(self) -> list[dict[str, Any]]:
        """Return one :meth:`Transform.to_dict` record per transform."""
        return [transform.to_dict() for transform in self.transforms]

    @classmethod
    def from_dict(cls, records: Sequence[Mapping[str, Any]]) -> Chain:
        """Rebuild a chain written by :meth:`to_dict`.

        Raises:
            SpecError: a record is invalid.
        """
        return cls([Transform.from_dict(record) for record in records])


def build_chain(spec: Sequence[str | Mapping[str, Any]]) -> Chain:
    """Build an unfitted chain from a spec such as ``["log", {"logit": {"low": 0}}]``.

    Arguments:
        spec: entries that are a kind name, or a one-key mapping ``{kind: {param: value}}``.

    Returns:
        The chain.

    Raises:
        SpecError: the spec is not a list, an entry is malformed, a kind or parameter is unknown,
            or a parameter value is invalid.
    """
    if isinstance(spec, (str, Mapping)) or not isinstance(spec, Sequence):
        msg = f"a transform chain must be a list, got {spec!r}"
        raise SpecError(msg)
    transforms = []
    for entry in spec:
        if isinstance(entry, str):
            kind, params = entry, {}
        elif isinstance(entry, Mapping) and len(entry) == 1:
            kind, params = next(iter(entry.items()))
            params = {} if params is None else params
            if not isinstance(params, Mapping):
                msg = f"transform {kind!r}: parameters must be a mapping, got {params!r}"
                raise SpecError(msg)
        else:
            msg = f"a transform is a name or a one-key mapping {{kind: {{...}}}}, got {entry!r}"
            raise SpecError(msg)
        transforms.append(_make(_lookup(kind), params))
    return Chain(transforms)


class TablePreprocessor:
    """Named columns -> one :class:`Chain` each, on 2-D arrays ``(n, k)`` in a fixed order.

    Arguments:
        names: the column names, in table order.
        chains: one chain per name.

    Raises:
        ValueError: the lengths differ or a name repeats.
    """

    def __init__(self, names: Sequence[str], chains: Sequence[Chain]) -> None:
        self.names: list[str] = list(names)
        self.chains: list[Chain] = list(chains)
        self.domain: Domain | None = None
        if len(self.names) != len(self.chains):
            msg = f"got {len(self.names)} column names but {len(self.chains)} chains"
            raise ValueError(msg)
        if len(set(self.names)) != len(self.names):
            msg = f"column names repeat: {self.names}"
            raise ValueError(msg)

    def _table(self, table: np.ndarray) -> np.ndarray:
        arr = np.asarray(table, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != len(self.names):
            msg = (
                f"expected a table of shape (n, {len(self.names)}) with columns "
                f"{', '.join(self.names)}; got shape {arr.shape}"
            )
            raise ValueError(msg)
        return arr

    def _apply(self, table: np.ndarray, fn: Any, dtype: type) -> np.ndarray:
        arr = self._table(table)
        out = np.empty(arr.shape, dtype=dtype)
        with np.errstate(over="ignore"):  # float32 cast of huge values gives inf
            for j, chain in enumerate(self.chains):
                out[:, j] = fn(chain, arr[:, j])
        return out

    def fit_forward(
        self,
        table: np.ndarray,
        rng: np.random.Generator | None = None,
        weights: np.ndarray | None = None,
    ) -> np.ndarray:
        """Fit every chain on its column and return the transformed table (float32).

        Also records the table's range as :attr:`domain` (:class:`flashsim.domain.Domain`).
        """
        if weights is not None and len(weights) != len(table):
            msg = f"got {len(weights)} weights for {len(table)} rows"
            raise ValueError(msg)
        self.domain = Domain.fit(self.names, self._table(table))
        return self._apply(table, lambda c, x: c.fit_forward(x, rng, weights), np.float32)

    def forward(self, table: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Transform a table with the fitted chains (float32 output)."""
        return self._apply(table, lambda c, x: c.forward(x, rng), np.float32)

    def inverse(self, table: np.ndarray) -> np.ndarray:
        """Map a table from the training space back to data (float64 output)."""
        return self._apply(table, lambda c, y: c.inverse(y), np.float64)

    def guard(self, table: np.ndarray, policy: str, where: str) -> tuple[np.ndarray, np.ndarray]:
        """Apply an ``out_of_domain`` policy (:meth:`flashsim.domain.Domain.apply`) to raw
        values; without a recorded domain (models from before it was recorded) a no-op.

        Returns:
            the table for :meth:`forward`, and the rows that were outside the domain.
        """
        if self.domain is None:
            return table, np.zeros(len(table), dtype=bool)
        return self.domain.apply(table, policy, where)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"columns": [{"name": ..., "transforms": [...]}, ...], "domain": ...}``."""
        pairs = zip(self.names, self.chains, strict=True)
        record: dict[str, Any] = {
            "columns": [{"name": n, "transforms": c.to_dict()} for n, c in pairs]
        }
        if self.domain is not None:
            record["domain"] = self.domain.to_dict()
        return record

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> TablePreprocessor:
        """Rebuild a preprocessor written by :meth:`to_dict`.

        Raises:
            SpecError: the record is malformed.
        """
        try:
            columns = [(c["name"], Chain.from_dict(c["transforms"])) for c in record["columns"]]
        except (KeyError, TypeError) as err:
            msg = f"malformed preprocessor record: {err!r}"
            raise SpecError(msg) from err
        table = cls([name for name, _ in columns], [chain for _, chain in columns])
        if record.get("domain") is not None:
            table.domain = Domain.from_dict(table.names, record["domain"])
        return table

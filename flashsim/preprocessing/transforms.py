"""The column transform kinds a spec may name: log, asinh, logit, standardize, dequantize,
spike, clip and wrap.

Each is a :class:`~flashsim.preprocessing.base.Transform` registered under its ``kind`` in
:data:`~flashsim.preprocessing.base.TRANSFORMS`, taking its spec parameters as keyword-only
``__init__`` arguments (checked there, raising :class:`~flashsim.exceptions.SpecError`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from flashsim.exceptions import SpecError
from flashsim.preprocessing.base import Transform, as_column, check_number, register

__all__ = ["Asinh", "Clip", "Dequantize", "Log", "Logit", "Spike", "Standardize", "Wrap"]

_TINY = 1e-12
"""The smallest argument :class:`Log` takes and the smallest std :class:`Standardize` keeps."""


def _bounds(kind: str, low: Any, high: Any) -> tuple[float | None, float | None]:
    """Optional ``low`` and ``high`` parameters, checked, ``low`` not above ``high``."""
    lo, hi = (
        check_number(kind, "low", low, optional=True),
        check_number(kind, "high", high, optional=True),
    )
    if lo is not None and hi is not None and lo > hi:
        msg = f"transform {kind!r}: low ({low}) must not exceed high ({high})"
        raise SpecError(msg)
    return lo, hi


def _clip(x: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    """A copy of ``x`` clipped to ``[low, high]`` (None: unbounded)."""
    out = x.copy()
    if low is not None:
        np.maximum(out, low, out=out)
    if high is not None:
        np.minimum(out, high, out=out)
    return out


@register
class Log(Transform):
    """``y = log(x + offset)``; ``x + offset`` is first clipped to at least 1e-12 to stay finite."""

    kind = "log"

    def __init__(self, *, offset: float = 0.0) -> None:
        self.offset = check_number(self.kind, "offset", offset)

    def forward(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return np.log(np.maximum(as_column(x) + self.offset, _TINY))

    def inverse(self, y: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.exp(as_column(y)) - self.offset


@register
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
        self.scale = check_number(self.kind, "scale", scale)
        self.loc = check_number(self.kind, "loc", loc)
        if not self.scale > 0:
            msg = f"transform 'asinh': scale must be positive, got {scale}"
            raise SpecError(msg)

    def forward(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return np.arcsinh((as_column(x) - self.loc) / self.scale)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return self.loc + self.scale * np.sinh(as_column(y))


@register
class Logit(Transform):
    """Logit of ``(x - low) / (high - low)`` clipped to ``[eps, 1 - eps]``; inverse in range."""

    kind = "logit"

    def __init__(self, *, low: float = 0.0, high: float = 1.0, eps: float = 1e-6) -> None:
        self.low = check_number(self.kind, "low", low)
        self.high = check_number(self.kind, "high", high)
        self.eps = check_number(self.kind, "eps", eps)
        if not self.low < self.high:
            msg = f"transform 'logit': low ({low}) must be below high ({high})"
            raise SpecError(msg)
        if not 0 < self.eps < 0.5:
            msg = f"transform 'logit': eps must lie in (0, 0.5), got {eps}"
            raise SpecError(msg)

    def forward(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        u = np.clip((as_column(x) - self.low) / (self.high - self.low), self.eps, 1 - self.eps)
        return np.log(u) - np.log1p(-u)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        y = as_column(y)
        e = np.exp(-np.abs(y))  # never overflows: a numerically stable sigmoid
        s = np.where(y >= 0, 1 / (1 + e), e / (1 + e))
        return np.clip(self.low + (self.high - self.low) * s, self.low, self.high)


@register
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
        x = as_column(x)
        ok = np.isfinite(x)
        x = x[ok]
        if x.size == 0:
            msg = "cannot fit 'standardize': the column has no finite entries"
            raise ValueError(msg)
        mean, var = float(np.mean(x)), float(np.var(x))
        if weights is not None:
            w = as_column(weights)[ok]
            total = float(np.sum(w))
            if total > 0:
                w_mean = float(np.sum(w * x)) / total
                w_var = float(np.sum(w * (x - w_mean) ** 2)) / total
                mean, var = w_mean, (w_var if w_var >= 0 else var)
        std = math.sqrt(var)
        self.mean, self.std = mean, (std if std > _TINY else 1.0)

    def check_state(self) -> None:
        """A recorded ``std`` must be positive (``fit`` never makes another)."""
        if self.std is not None and not self.std > 0:
            msg = f"transform 'standardize': std must be positive, got {self.std}"
            raise SpecError(msg)

    def _fitted(self) -> tuple[float, float]:
        if self.mean is None or self.std is None:
            msg = "'standardize' transform used before it was fitted"
            raise RuntimeError(msg)
        return self.mean, self.std

    def forward(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        mean, std = self._fitted()
        return (as_column(x) - mean) / std

    def inverse(self, y: np.ndarray) -> np.ndarray:
        mean, std = self._fitted()
        return as_column(y) * std + mean


@register
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
        self.step = check_number(self.kind, "step", step)
        if not self.step > 0:
            msg = f"transform 'dequantize': step must be positive, got {step}"
            raise SpecError(msg)
        self.fit_low: float | None = None
        self.fit_high: float | None = None

    def check_state(self) -> None:
        """Recorded ``fit_low`` and ``fit_high`` must be integers in order."""
        low, high = self.fit_low, self.fit_high
        for name, value in (("fit_low", low), ("fit_high", high)):
            if value is not None and value != math.floor(value):
                msg = f"transform 'dequantize': {name} must be an integer, got {value}"
                raise SpecError(msg)
        if low is not None and high is not None and low > high:
            msg = f"transform 'dequantize': fit_low ({low}) must not exceed fit_high ({high})"
            raise SpecError(msg)

    def _counts(self, x: np.ndarray) -> np.ndarray:
        if self.step == 1.0:
            return x
        n = np.rint(x / self.step)
        # float32 storage: a multiple of the step is within a few float32 ulps of it
        return np.where(np.abs(x - n * self.step) <= 1e-5 * np.maximum(np.abs(x), 1), n, x)

    def fit(self, x: np.ndarray, weights: np.ndarray | None = None) -> None:
        x = self._counts(as_column(x))
        x = x[np.isfinite(x)]
        bad = x[x != np.floor(x)]
        if bad.size:
            what = "integer values" if self.step == 1.0 else f"multiples of {self.step}"
            msg = f"'dequantize' expects {what}; found {bad[0] * self.step!r}"
            raise ValueError(msg)
        if x.size:
            self.fit_low, self.fit_high = float(x.min()), float(x.max())

    def forward(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        x = np.floor(self._counts(as_column(x)))
        u = np.full(x.shape, 0.5) if rng is None else rng.random(x.shape)
        return np.minimum(x + u, np.nextafter(x + 1, x))  # stays below x + 1 despite rounding

    def inverse(self, y: np.ndarray) -> np.ndarray:
        low = self.low if self.low is not None else self.fit_low
        high = self.high if self.high is not None else self.fit_high
        counts = _clip(np.floor(as_column(y)), low, high)
        return counts if self.step == 1.0 else counts * self.step


@register
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
        self.value = check_number(self.kind, "value", value)
        self.width = check_number(self.kind, "width", width)
        self.tolerance = check_number(self.kind, "tolerance", tolerance)
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
        out = as_column(x).copy()
        hit = np.abs(out - self.value) <= self.tolerance * max(1.0, abs(self.value))
        sign = self._sign()
        beyond = ~hit & (sign * (out - self.value) > 0)
        out[beyond] += sign * self.width
        n = int(np.count_nonzero(hit))
        u = np.full(n, 0.5) if rng is None else 1.0 - rng.random(n)
        out[hit] = self.value + sign * self.width * u
        return out

    def inverse(self, y: np.ndarray) -> np.ndarray:
        out = as_column(y).copy()
        sign = self._sign()
        distance = sign * (out - self.value)
        out[distance > self.width] -= sign * self.width
        out[(distance > 0) & (distance <= self.width)] = self.value
        return out


class _InverseOnly(Transform):
    """Identity forward; acts only at run time, on generated values."""

    def forward(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return as_column(x).copy()


@register
class Clip(_InverseOnly):
    """Identity forward; the inverse clips to ``[low, high]`` (None: unbounded)."""

    kind = "clip"

    def __init__(self, *, low: float | None = None, high: float | None = None) -> None:
        self.low, self.high = _bounds(self.kind, low, high)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        return _clip(as_column(y), self.low, self.high)


@register
class Wrap(_InverseOnly):
    """Identity forward; the inverse wraps angles into ``[-period/2, period/2)``."""

    kind = "wrap"

    def __init__(self, *, period: float = 2 * math.pi) -> None:
        self.period = check_number(self.kind, "period", period)
        if not self.period > 0:
            msg = f"transform 'wrap': period must be positive, got {period}"
            raise SpecError(msg)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        y, half = as_column(y), self.period / 2
        wrapped = np.mod(y + half, self.period) - half
        wrapped = np.where(wrapped >= half, wrapped - self.period, wrapped)  # rounding at the edge
        return np.where((y >= -half) & (y < half), y, wrapped)  # in-range values stay exact

"""The preprocessing of a table: one fitted transform chain per named column.

A :class:`TablePreprocessor` maps the conditions or targets of a model, a 2-D array in a fixed
column order, to the training space and back, records the range of its training data
(:class:`~flashsim.domain.Domain`) and serialises to plain JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from flashsim.domain import Domain
from flashsim.exceptions import SpecError
from flashsim.preprocessing.chain import Chain

__all__ = ["TablePreprocessor"]


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
        if not isinstance(record, Mapping) or not isinstance(record.get("columns"), list):
            msg = "malformed preprocessor record: expected a mapping with a list of columns"
            raise SpecError(msg)
        columns = []
        for i, c in enumerate(record["columns"]):
            if not (
                isinstance(c, Mapping)
                and isinstance(c.get("name"), str)
                and isinstance(c.get("transforms"), list)
                and all(isinstance(t, Mapping) for t in c["transforms"])
            ):
                msg = f"malformed preprocessor record: column {i} is not {{name, transforms}}"
                raise SpecError(msg)
            try:
                columns.append((c["name"], Chain.from_dict(c["transforms"])))
            except SpecError as err:
                msg = f"column {c['name']!r}: {err}"
                raise SpecError(msg) from err
        names = [name for name, _ in columns]
        if len(set(names)) != len(names):
            msg = f"malformed preprocessor record: column names repeat: {names}"
            raise SpecError(msg)
        table = cls(names, [chain for _, chain in columns])
        if record.get("domain") is not None:
            domain = Domain.from_dict(table.names, record["domain"])
            with np.errstate(invalid="ignore"):
                crossed = np.flatnonzero(domain.low > domain.high)
            if crossed.size or np.isinf(domain.low).any() or np.isinf(domain.high).any():
                what = names[crossed[0]] if crossed.size else "a column"
                msg = f"domain of {what!r}: limits must be finite with low <= high (or null)"
                raise SpecError(msg)
            table.domain = domain
        return table

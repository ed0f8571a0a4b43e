"""A chain of column transforms, and building one from its spec.

Chains are written in pipeline specs as lists such as ``["log", "standardize"]`` or
``[{"spike": {"value": 0, "width": 0.01}}, {"logit": {"low": -0.01, "high": 1}}]``;
:func:`build_chain` turns one into a :class:`Chain`, fitted on training data, applied forward
before training and inverted on generated samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from flashsim.exceptions import SpecError
from flashsim.preprocessing.base import Transform, as_column, make_transform, transform_class

__all__ = ["Chain", "build_chain"]


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
        x = as_column(x)
        for transform in self.transforms:
            transform.fit(x, weights)
            x = transform.forward(x, rng)
        return x

    def forward(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Apply the (fitted) transforms in order."""
        x = as_column(x)
        for transform in self.transforms:
            x = transform.forward(x, rng)
        return x

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """Apply the inverses in reverse order."""
        y = as_column(y)
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
        transforms.append(make_transform(transform_class(kind), params))
    return Chain(transforms)

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

The package: :mod:`~flashsim.preprocessing.base` (the transform contract and the registry of
kinds), :mod:`~flashsim.preprocessing.transforms` (the kinds), :mod:`~flashsim.preprocessing.chain`
and :mod:`~flashsim.preprocessing.table`.

Example:
    >>> import numpy as np
    >>> chain = build_chain(["log", "standardize"])
    >>> y = chain.fit_forward(np.array([1.0, 10.0, 100.0]))
    >>> chain.inverse(y).round(6).tolist()
    [1.0, 10.0, 100.0]
"""

from __future__ import annotations

from flashsim.preprocessing.base import TRANSFORMS, Transform
from flashsim.preprocessing.chain import Chain, build_chain
from flashsim.preprocessing.table import TablePreprocessor
from flashsim.preprocessing.transforms import (
    Asinh,
    Clip,
    Dequantize,
    Log,
    Logit,
    Spike,
    Standardize,
    Wrap,
)

__all__ = [
    "TRANSFORMS",
    "Asinh",
    "Chain",
    "Clip",
    "Dequantize",
    "Log",
    "Logit",
    "Spike",
    "Standardize",
    "TablePreprocessor",
    "Transform",
    "Wrap",
    "build_chain",
]

"""Histograms of oversampled flash output, with the right statistical errors.

``flashsim run --oversample K`` simulates every generated event K times; the K replicas of one
event share their generator-level truth and so fluctuate together. Filling a histogram as if the
``K * N`` replicas were independent underestimates its errors by up to sqrt(K). The correct
variance of a bin treats each gen event as one independent unit (a cluster of entries):

    Var(bin) = sum over gen events g of (sum of the weights of g's entries in the bin)^2,

which reduces to the usual sum of squared weights when every event has one entry. Output files
of oversampled runs carry the gen event's entry number in ``FlashSim_genEntry``
(:data:`flashsim.run.SOURCE_BRANCH`); pass it (or any per-entry event id) as ``groups``.

References:
    Cochran, "Sampling Techniques" (1977), ch. 9 (cluster sampling); Vaselli et al.,
    "End-to-end simulation of particle physics events with flow matching and generator
    oversampling", arXiv:2402.13684 (CMS FlashSim's oversampling and its uncertainties).
"""

from __future__ import annotations

from typing import Any

import hist
import numpy as np

__all__ = ["fill_replicas"]


def fill_replicas(
    h: hist.Hist,
    *values: Any,
    groups: Any,
    weight: Any | None = None,
) -> hist.Hist:
    """Fill ``h`` with correlated entries: values summed per bin, variances per gen event.

    Arguments:
        h: a ``hist.Hist`` with ``Weight`` storage (``hist.storage.Weight()``), any number of
            axes; filled in place and returned.
        values: one array per axis, of the same length (flat: flatten jagged collections with
            ``ak.flatten`` and broadcast ``groups`` to them first).
        groups: integer id of each entry's independent unit, e.g. ``FlashSim_genEntry``.
        weight: optional per-entry weights.

    Returns:
        ``h``, whose ``variances()`` are the cluster variances described in the module docstring.

    Raises:
        TypeError: ``h`` does not have ``Weight`` storage.
        ValueError: the number of value arrays differs from the number of axes, or the lengths
            of ``values``, ``groups`` and ``weight`` differ.

    Example:
        >>> import hist, numpy as np
        >>> h = hist.Hist.new.Reg(2, 0, 2).Weight()
        >>> _ = fill_replicas(h, np.array([0.5, 0.5, 1.5]), groups=np.array([7, 7, 8]))
        >>> h.values().tolist(), h.variances().tolist()
        ([2.0, 1.0], [4.0, 1.0])
    """
    if h.storage_type is not hist.storage.Weight:
        msg = (
            "fill_replicas needs a histogram with Weight storage (hist.Hist.new...Weight()), "
            f"got {h.storage_type.__name__}"
        )
        raise TypeError(msg)
    if len(values) != h.ndim:
        msg = f"fill_replicas: {len(values)} value arrays for a {h.ndim}-dimensional histogram"
        raise ValueError(msg)
    columns = [np.asarray(v) for v in values]
    n = columns[0].shape[0] if columns else 0
    group = np.asarray(groups)
    w = np.ones(n) if weight is None else np.asarray(weight, dtype=np.float64)
    if any(c.shape != (n,) for c in columns) or group.shape != (n,) or w.shape != (n,):
        shapes = [c.shape for c in columns] + [group.shape, w.shape]
        msg = f"fill_replicas: values, groups and weight must be 1-D of one length, got {shapes}"
        raise ValueError(msg)
    if group.dtype.kind not in "iu":
        msg = f"fill_replicas: groups must be integers (gen event ids), got {group.dtype}"
        raise ValueError(msg)
    view = h.view(flow=True)
    shape = view.shape
    index = []
    inside = np.ones(n, dtype=bool)
    for axis, column, extent in zip(h.axes, columns, shape, strict=True):
        idx = np.asarray(axis.index(column), dtype=np.int64) + int(axis.traits.underflow)
        inside &= (idx >= 0) & (idx < extent)
        index.append(idx)
    flat = np.ravel_multi_index([i[inside] for i in index], shape)
    key, inverse = np.unique(
        np.stack([group[inside].astype(np.int64), flat]),
        axis=1,
        return_inverse=True,
    )
    sums = np.bincount(inverse.ravel(), weights=w[inside], minlength=key.shape[1])
    cells = key[1]
    size = int(np.prod(shape))
    value = np.bincount(cells, weights=sums, minlength=size).reshape(shape)
    variance = np.bincount(cells, weights=sums**2, minlength=size).reshape(shape)
    view.value += value
    view.variance += variance
    return h

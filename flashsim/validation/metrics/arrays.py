"""The arrays the validation metrics accept: finite 1-D samples, per-entry weights, group ids.

Each check returns the array in the dtype the metrics compute with, or raises :class:`ValueError`
saying what is wrong. Weights, where accepted, must be finite and non-negative (or of any sign
for sWeights), with a positive sum.
"""

from __future__ import annotations

import numpy as np

__all__ = ["finite_sample", "group_ids", "kish", "sample_weights"]


def finite_sample(x: np.ndarray, name: str, *, allow_empty: bool = False) -> np.ndarray:
    """``x`` as a float64 1-D array with no NaN or inf.

    Arguments:
        x: the sample.
        name: its name in the error message.
        allow_empty: accept an empty array.
    Raises:
        ValueError: ``x`` is not 1-D, is empty (without ``allow_empty``) or is not finite.
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1 or (arr.size == 0 and not allow_empty):
        msg = f"{name} must be a non-empty 1-D array, got shape {arr.shape}"
        raise ValueError(msg)
    bad = np.count_nonzero(~np.isfinite(arr))
    if bad:
        msg = f"{name} has {bad} non-finite values (NaN or inf); drop or fill them first"
        raise ValueError(msg)
    return arr


def sample_weights(
    w: np.ndarray | None, n: int, name: str, *, signed: bool = False
) -> np.ndarray | None:
    """Per-entry weights of a sample of ``n`` entries as float64, or None without weights.

    Arguments:
        w: the weights, or None.
        n: the number of entries of the sample.
        name: their name in the error message.
        signed: accept negative weights (sWeights).
    Raises:
        ValueError: the shape is not ``(n,)``, a weight is not finite or negative (unless
            ``signed``), or the sum is not positive.
    """
    if w is None:
        return None
    arr = np.asarray(w, dtype=np.float64)
    if arr.shape != (n,):
        msg = f"{name} must have shape ({n},) to match its sample, got {arr.shape}"
        raise ValueError(msg)
    if not np.all(np.isfinite(arr)) or (not signed and np.any(arr < 0)) or not arr.sum() > 0:
        sign = "" if signed else " and non-negative"
        msg = f"{name} must be finite{sign} with a positive sum"
        raise ValueError(msg)
    return arr


def kish(w: np.ndarray) -> float:
    """Effective number of entries (sum w)^2 / sum w^2 of a weighted sample.

    References:
        Kish, "Survey Sampling" (1965).
    """
    return float(w.sum() ** 2 / np.sum(w**2))


def group_ids(groups: np.ndarray, n: int) -> np.ndarray:
    """The integer group id of each of ``n`` entries, as int64.

    Raises:
        ValueError: ``groups`` is not an integer array of shape ``(n,)``.
    """
    g = np.asarray(groups)
    if g.shape != (n,) or g.dtype.kind not in "iu":
        msg = f"groups must be an integer array of shape ({n},), got {g.dtype} {g.shape}"
        raise ValueError(msg)
    return g.astype(np.int64)

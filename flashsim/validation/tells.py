"""Exact tells: values a flash file writes that full simulation never does, and the reverse.

A flash branch must take exactly the values full simulation can take: the same constants
(``Muon_mass`` 0.1056584, not 0.10566), the same integer and flag values, the same point masses
(the b-tag score's default for jets without displaced tracks, energy fractions at exactly 0) and
the same ranges. A classifier separates two samples perfectly on any such difference, whatever
the fidelity of the smooth part of the distributions.

:func:`find_tells` compares every branch the two files have in common, one branch at a time
(:func:`branch_tells`), and returns a :class:`Tell` per finding. What is checked depends on the
branch:

* **type**: the two files store the branch with different types (``bool`` vs ``uint8``);
* **discrete branches** (integers, booleans, and floats that take few distinct, well-populated
  values in either file, e.g. a constant mass): each value one file writes and the other never
  does (``flash_only`` / ``full_only``);
* **continuous branches**: **point masses** (an exact value holding at least ``min_fraction`` of
  the entries and ``min_count`` entries in either file) whose fraction in one file is far below
  (under half) the other's (``point_mass``); flash entries **outside full's range** beyond what
  statistics allow (``above_range`` / ``below_range``); and, whatever the statistics, negative
  flash values where full has none (``sign``) and flash values above 1 where full lies in [0, 1]
  (``unit_interval``).

Every statistical decision is an exact conditional test, so two independent samples of one
distribution give no finding (except with probability ~1e-7 per test): given that a value holds
``k`` entries of both files together, the flash count is binomial with probability
``q = n_flash / (n_flash + n_full)``; the probability that the ``j`` largest pooled entries all
come from flash is ``prod(n_flash - i) / prod(n_flash + n_full - i)``. p-values are Bonferroni
corrected over the values tested in a branch and reported as a one-sided Gaussian significance
(``significance`` ≥ ``z_threshold``, 5 by default). Oversampled flash files (K correlated
replicas of each gen event) count ``1/K`` of their entries as independent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats
from scipy.special import logsumexp

__all__ = ["KINDS", "Tell", "branch_tells", "find_tells", "skipped_branch"]

KINDS: Mapping[str, str] = {
    "type": "stored with a different type",
    "flash_only": "a value flash writes and full never does",
    "full_only": "a value full writes and flash never does",
    "point_mass": "an exact value holding a fraction of the entries far below the other's",
    "above_range": "flash entries above full's maximum, more than statistics allow",
    "below_range": "flash entries below full's minimum, more than statistics allow",
    "sign": "negative flash values where full has none",
    "unit_interval": "flash values above 1 where full lies in [0, 1]",
}
"""The kinds of :class:`Tell` and what they mean."""

_SKIPPED_PREFIXES = ("Gen", "nGen", "Pileup_", "Generator_", "FlashSim_", "LHE", "nLHE", "PSWeight")
_SKIPPED_NAMES = frozenset({"genWeight", "run", "luminosityBlock", "event"})


def skipped_branch(name: str) -> bool:
    """Whether ``name`` is generator-level or bookkeeping (copied by flash from its input)."""
    return name in _SKIPPED_NAMES or name.startswith(_SKIPPED_PREFIXES)


@dataclass(frozen=True)
class Tell:
    """One finding of :func:`find_tells`.

    Attributes:
        branch: the branch (``Muon_mass``).
        kind: one of :data:`KINDS`.
        flash_value, full_value: the value concerned in each file (None where the file never
            writes it); for ranges the flash and full extremes.
        flash_fraction, full_fraction: fraction of each file's entries on the value (or outside
            the range).
        flash_error, full_error: their binomial errors.
        pull: difference of the fractions over its pooled binomial error.
        significance: one-sided Gaussian equivalent of the exact test's p-value, Bonferroni
            corrected (``inf`` for the unconditional ``type``, ``sign``, ``unit_interval``).
        note: a short description for the report.
        tell: whether it is a tell; False for a point mass whose fractions agree (reported for
            information by ``find_tells(..., point_masses=True)``).
    """

    branch: str
    kind: str
    flash_value: float | None
    full_value: float | None
    flash_fraction: float
    full_fraction: float
    flash_error: float
    full_error: float
    pull: float
    significance: float
    note: str = ""
    tell: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly fields."""
        return asdict(self)


def _common_dtype(a: np.dtype, b: np.dtype) -> np.dtype:
    """Type to compare values in: the narrower float of two floats (float32 values rounded the
    same way), else numpy's promotion."""
    if a.kind == "f" and b.kind == "f":
        return a if a.itemsize <= b.itemsize else b
    return np.result_type(a, b)


def _z(log_p: float) -> float:
    """One-sided Gaussian significance of a (natural) log p-value."""
    if log_p >= 0:
        return 0.0
    if math.isinf(log_p):
        return math.inf
    if log_p < -700:  # beyond float64: asymptotic inverse of the Gaussian tail
        return math.sqrt(-2 * log_p - math.log(-4 * math.pi * log_p))
    return max(0.0, float(stats.norm.isf(math.exp(log_p))))


def _binomial_log_p(k_flash: float, k_full: float, q: float) -> float:
    """Two-sided log p-value that ``k_flash`` of ``k_flash + k_full`` entries fall in flash."""
    k, j = round(float(k_flash + k_full)), round(float(k_flash))
    if k == 0:
        return 0.0
    # Sums of the 2000 largest terms of each tail: exact where scipy's tails underflow.
    lower = np.arange(max(0, j - 2000), j + 1)
    upper = np.arange(j, min(k, j + 2000) + 1)
    tails = [float(logsumexp(stats.binom.logpmf(t, k, q))) for t in (lower, upper)]
    return min(0.0, math.log(2) + min(tails))


def _fraction(k: float, n: float) -> tuple[float, float]:
    f = float(k / n) if n > 0 else math.nan
    return f, math.sqrt(f * (1 - f) / n) if n > 0 else math.nan


def _pull(k_f: float, n_f: float, k_r: float, n_r: float) -> float:
    pooled = (k_f + k_r) / (n_f + n_r)
    sigma = math.sqrt(pooled * (1 - pooled) * (1 / n_f + 1 / n_r))
    diff = float(k_f / n_f - k_r / n_r)
    return diff / sigma if sigma > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))


def _tail_log_p(j: float, n_f: float, n_r: float) -> float:
    """log P(the ``j`` most extreme pooled entries all come from flash) under one distribution."""
    j = round(float(j))
    if j <= 0:
        return 0.0
    i = np.arange(min(j, int(n_f)), dtype=np.float64)
    if i.size < j:
        return -math.inf
    return float(np.sum(np.log(n_f - i) - np.log(n_f + n_r - i)))


def _is_discrete(counts: np.ndarray, max_values: int, per_value: int) -> bool:
    """Whether the value counts ``counts`` (> 0) are few and each well populated on average."""
    return counts.size <= max_values and counts.sum() >= per_value * counts.size


def branch_tells(
    name: str,
    flash: np.ndarray,
    full: np.ndarray,
    *,
    flash_replicas: int = 1,
    z_threshold: float = 5.0,
    min_fraction: float = 0.001,
    min_count: int = 10,
    max_discrete: int = 32,
    max_per_kind: int = 10,
) -> list[Tell]:
    """The tells of one branch (see the module docstring), and its point masses that are no
    tell (``tell`` False: their fractions, for information).

    Arguments:
        name: the branch name (for the findings).
        flash, full: all entries of the branch in each file (flattened objects), as stored.
        flash_replicas: replicas per gen event of an oversampled flash file.
        z_threshold: significance (Gaussian sigmas, one-sided) a statistical finding needs.
        min_fraction, min_count: an exact value is a point mass if it holds at least this
            fraction and this many entries of either file (chance coincidences of float
            values stay below ``min_count``).
        max_discrete: a float branch is discrete if one file has at most this many distinct
            values, each with 10 entries or more on average.
        max_per_kind: at most this many findings per kind (the most populated values).
    """
    out: list[Tell] = []
    flash, full = np.asarray(flash).ravel(), np.asarray(full).ravel()
    if flash.size == 0 or full.size == 0:
        return out
    if flash.dtype != full.dtype:
        out.append(
            Tell(
                name,
                "type",
                None,
                None,
                *(math.nan,) * 5,
                math.inf,
                f"{flash.dtype} vs {full.dtype}",
            )
        )
    dtype = _common_dtype(flash.dtype, full.dtype)
    flash, full = flash.astype(dtype, copy=False), full.astype(dtype, copy=False)
    # Effective (independent) sizes: replicas of one gen event are correlated.
    scale = 1.0 / max(flash_replicas, 1)
    n_f, n_r = flash.size * scale, float(full.size)
    q = n_f / (n_f + n_r)
    pooled = np.concatenate([flash, full])
    values, inverse = np.unique(pooled, return_inverse=True)
    inverse = inverse.ravel()
    k_flash = np.bincount(inverse[: flash.size], minlength=values.size) * scale
    k_full = np.bincount(inverse[flash.size :], minlength=values.size).astype(np.float64)
    floating = dtype.kind == "f"

    def value_tell(kind: str, i: int, log_p: float, note: str, tell: bool = True) -> Tell:
        ff, ef = _fraction(k_flash[i], n_f)
        fr, er = _fraction(k_full[i], n_r)
        v = values[i].item()
        return Tell(
            name,
            kind,
            None if k_flash[i] == 0 else v,
            None if k_full[i] == 0 else v,
            ff,
            fr,
            ef,
            er,
            _pull(k_flash[i], n_f, k_full[i], n_r),
            _z(log_p),
            note,
            tell,
        )

    def significant(indices: np.ndarray, tested: int, kind: str, note: str) -> list[Tell]:
        """Findings at the values ``indices`` whose exact test passes, Bonferroni over
        ``tested`` values, the most populated first."""
        found = []
        for i in indices[np.argsort(-(k_flash[indices] + k_full[indices]), kind="stable")]:
            log_p = _binomial_log_p(k_flash[i], k_full[i], q) + math.log(max(tested, 1))
            if _z(log_p) >= z_threshold:
                found.append(value_tell(kind, int(i), log_p, note))
        return found[:max_per_kind]

    discrete = not floating or any(
        _is_discrete(c[c > 0], max_discrete, 10) for c in (k_flash / scale, k_full)
    )
    if discrete:
        tested = values.size
        only_f = np.flatnonzero((k_flash > 0) & (k_full == 0))
        only_r = np.flatnonzero((k_full > 0) & (k_flash == 0))
        out += significant(only_f, tested, "flash_only", "only flash writes it")
        out += significant(only_r, tested, "full_only", "only full writes it")
        return out

    # Continuous: point masses.
    frac_f, frac_r = k_flash / n_f, k_full / n_r
    spikes = np.flatnonzero(
        ((frac_f >= min_fraction) & (k_flash >= min_count))
        | ((frac_r >= min_fraction) & (k_full >= min_count))
    )
    spikes = spikes[np.argsort(-(k_flash[spikes] + k_full[spikes]), kind="stable")]
    shown = 0
    for i in spikes:
        log_p = _binomial_log_p(k_flash[i], k_full[i], q) + math.log(spikes.size)
        far = min(frac_f[i], frac_r[i]) < 0.5 * max(frac_f[i], frac_r[i])
        tell = bool(far and _z(log_p) >= z_threshold)
        if tell or shown < 2 * max_per_kind:
            shown += not tell
            note = (
                "fraction below half the other's"
                if tell
                else "fractions differ by less than a factor 2"
                if _z(log_p) >= z_threshold
                else f"difference below {z_threshold:g} sigma"
            )
            out.append(value_tell("point_mass", int(i), log_p, note, tell))
    # Ranges, without the flash point masses already told.
    told = [t.flash_value for t in out if t.tell and t.flash_value is not None]
    finite_f, finite_r = flash[np.isfinite(flash)], full[np.isfinite(full)]
    finite_f = finite_f[~np.isin(finite_f, np.asarray(told, dtype=dtype))] if told else finite_f
    if finite_f.size == 0 or finite_r.size == 0:
        return out
    r_min, r_max = float(finite_r.min()), float(finite_r.max())
    f_min, f_max = float(finite_f.min()), float(finite_f.max())
    sure = full.size >= 100

    def range_tell(kind: str, count: float, f_value: float, r_value: float, z: float, note: str):
        ff, ef = _fraction(count, n_f)
        return Tell(
            name, kind, f_value, r_value, ff, 0.0, ef, 0.0, _pull(count, n_f, 0, n_r), z, note
        )

    negative = np.count_nonzero(finite_f < 0) * scale
    if sure and r_min >= 0 and negative > 0:
        out.append(range_tell("sign", negative, f_min, r_min, math.inf, "negative values"))
    above_one = np.count_nonzero(finite_f > 1) * scale
    if sure and r_min >= 0 and 0.9 <= r_max <= 1 and above_one > 0:
        out.append(range_tell("unit_interval", above_one, f_max, r_max, math.inf, "values > 1"))
    flagged = {t.kind for t in out if t.tell}
    for kind, count, f_value, r_value, skip in (
        ("above_range", np.count_nonzero(finite_f > r_max) * scale, f_max, r_max, "unit_interval"),
        ("below_range", np.count_nonzero(finite_f < r_min) * scale, f_min, r_min, "sign"),
    ):
        log_p = _tail_log_p(count, n_f, n_r) + math.log(2)
        if skip not in flagged and count > 0 and _z(log_p) >= z_threshold:
            out.append(range_tell(kind, count, f_value, r_value, _z(log_p), "outside full's range"))
    return out


def find_tells(
    flash: Mapping[str, np.ndarray] | Iterable[tuple[str, np.ndarray, np.ndarray]],
    full: Mapping[str, np.ndarray] | None = None,
    *,
    point_masses: bool = False,
    **options: Any,
) -> list[Tell]:
    """The tells of every branch the two samples have in common.

    Arguments:
        flash: branch name -> flattened entries of the flash file; or, with ``full`` None,
            ``(name, flash_entries, full_entries)`` triples (read one branch at a time).
        full: branch name -> flattened entries of the full-simulation file.
        point_masses: also return the point masses that are no tell (``tell`` False).
        options: passed to :func:`branch_tells`.
    Returns:
        The findings, branch by branch in the order given; generator-level and bookkeeping
        branches (:func:`skipped_branch`) are not compared.
    """
    if full is not None:
        assert isinstance(flash, Mapping)
        triples: Iterable[tuple[str, np.ndarray, np.ndarray]] = (
            (k, flash[k], full[k]) for k in flash if k in full
        )
    else:
        triples = flash  # type: ignore[assignment]
    out: list[Tell] = []
    for name, f, r in triples:
        if not skipped_branch(name):
            found = branch_tells(name, f, r, **options)
            out += [t for t in found if point_masses or t.tell]
    return out

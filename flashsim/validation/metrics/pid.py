"""PID selections: a cut on one PID field (``DLLK > 0``, ``isMuon``) and whom it is meant for.

A :class:`PidCut` is what an analyst applies to select a species; its efficiency on that
species is the identification efficiency, on the others the misidentification rate.
:func:`parse_pid_cut` reads one from text; :func:`default_pid_cuts` gives those of a PID
section: ``isMuon`` and each DLL above 0.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from flashsim.exceptions import ConfigurationError

__all__ = ["PidCut", "default_pid_cuts", "parse_pid_cut"]

SIGNAL_PDG = {"e": 11, "mu": 13, "pi": 211, "K": 321, "p": 2212}
"""The ``|pdgId|`` a likelihood difference ``DLL<x>`` (x versus pion) is meant to select."""

_OPERATORS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_NAMES = {">": "gt", ">=": "ge", "<": "lt", "<=": "le"}
_CUT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:(>=|<=|>|<)\s*([-+0-9.eE]+))?\s*$")


@dataclass(frozen=True)
class PidCut:
    """``field op value``, or, without ``op``, ``field != 0`` (a flag such as ``isMuon``).

    Example:
        >>> cut = parse_pid_cut("DLLK > 0", ["isMuon", "DLLK"])
        >>> cut.label, cut.key, cut.signal_pdg
        ('DLLK > 0', 'DLLK_gt_0', 321)
        >>> cut.passes(np.array([-1.0, 0.0, 2.5])).tolist()
        [False, False, True]
    """

    field: str
    op: str | None = None
    value: float = 0.0

    @property
    def label(self) -> str:
        """As an analyst writes it: ``DLLK > 0``, ``isMuon``."""
        return self.field if self.op is None else f"{self.field} {self.op} {self.value:g}"

    @property
    def key(self) -> str:
        """A name fit for files and gate scopes: ``DLLK_gt_0``, ``DLLp_gt_m5``, ``isMuon``."""
        if self.op is None:
            return self.field
        value = f"{self.value:g}".replace("-", "m").replace(".", "p").replace("+", "")
        return f"{self.field}_{_NAMES[self.op]}_{value}"

    @property
    def signal_pdg(self) -> int | None:
        """The ``|pdgId|`` this cut selects (``DLLK`` kaons, ``isMuon`` muons), or None."""
        if self.field == "isMuon":
            return 13
        if self.field.startswith("DLL") and (self.op is None or self.op.startswith(">")):
            return SIGNAL_PDG.get(self.field[3:])
        return None

    def passes(self, values: np.ndarray) -> np.ndarray:
        """Whether each value passes (NaN never does)."""
        x = np.asarray(values, dtype=np.float64)
        if self.op is None:
            return np.isfinite(x) & (x != 0)
        return np.asarray(_OPERATORS[self.op](x, self.value))


def parse_pid_cut(text: str, fields: Sequence[str]) -> PidCut:
    """Read ``"DLLK>0"``, ``"DLLp >= 5"`` or ``"isMuon"`` (a flag: passes when not 0).

    Arguments:
        text: the cut.
        fields: the PID fields it may name.
    Raises:
        ConfigurationError: the text is not a cut, or names a field that is not a PID field.
    """
    match = _CUT.match(text)
    value = 0.0
    if match is not None and match[3] is not None:
        try:
            value = float(match[3])
        except ValueError:
            match = None
    if match is None or not np.isfinite(value):
        msg = (
            f"PID cut {text!r} is not 'FIELD OP NUMBER' (OP one of > >= < <=) or a flag name, "
            "e.g. 'DLLK>0' or 'isMuon'"
        )
        raise ConfigurationError(msg)
    if match[1] not in fields:
        msg = f"PID cut {text!r}: {match[1]!r} is not a PID field of the pipeline ({list(fields)})"
        raise ConfigurationError(msg)
    return PidCut(match[1], match[2], value)


def default_pid_cuts(fields: Sequence[str]) -> list[PidCut]:
    """``isMuon`` (a flag) and ``DLL<x> > 0`` for each likelihood difference in ``fields``.

    Example:
        >>> [c.label for c in default_pid_cuts(["isMuon", "DLLe", "DLLK"])]
        ['isMuon', 'DLLe > 0', 'DLLK > 0']
    """
    return [
        PidCut(f) if f == "isMuon" else PidCut(f, ">", 0.0)
        for f in fields
        if f == "isMuon" or f.startswith("DLL")
    ]

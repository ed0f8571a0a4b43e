"""The outcome of a validation: its numbers, its gated checks and the figures of the report.

:func:`~flashsim.validation.validate.validate` fills a :class:`ValidationResult`;
:mod:`flashsim.validation.report` writes it and :mod:`flashsim.validation.plots` draws its
figures (:class:`Plot`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flashsim.validation.comparison import EfficiencyComparison, HistComparison
from flashsim.validation.gate import Check

__all__ = ["Plot", "PlotGroup", "Section", "ValidationResult"]


@dataclass(frozen=True)
class Plot:
    """One figure to draw: ``kind`` says how, ``items`` what (see :mod:`.report`)."""

    name: str
    kind: str
    items: tuple[Any, ...]
    caption: str = ""


@dataclass
class PlotGroup:
    """Figures shown together, collapsed in the report unless ``open``."""

    title: str
    plots: list[Plot] = field(default_factory=list)
    open: bool = True


@dataclass
class Section:
    """One part of the report: a collection, its fakes, the event quantities, physics."""

    title: str
    key: str
    summary: list[tuple[str, str, Check | None]] = field(default_factory=list)
    table: list[dict[str, Any]] = field(default_factory=list)
    groups: list[PlotGroup] = field(default_factory=list)


@dataclass
class ValidationResult:
    """Everything :func:`validate` measured.

    Attributes:
        metrics: JSON-serialisable numbers (written as ``metrics.json``).
        sections: what the report shows, in order.
        checks: every gated number (:class:`~flashsim.validation.gate.Check`).
    """

    metrics: dict[str, Any]
    sections: list[Section]
    checks: list[Check]

    def comparisons(self) -> list[HistComparison | EfficiencyComparison]:
        """Every histogram and efficiency comparison, for the ROOT file."""
        out: list[Any] = []
        for section in self.sections:
            for group in section.groups:
                for plot in group.plots:
                    out += [
                        i
                        for i in plot.items
                        if isinstance(i, HistComparison | EfficiencyComparison)
                    ]
        return out

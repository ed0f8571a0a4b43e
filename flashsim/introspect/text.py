"""Text formatting shared by ``flashsim info`` and ``flashsim inspect`` (wrapped lists, numbers)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

WIDTH = 100
INDENT = "  "


def wrap(head: str, items: Sequence[str]) -> list[str]:
    """``head`` followed by comma-separated items, wrapped at the line width between items."""
    indent = " " * (len(head) - len(head.lstrip()) + 4)
    lines: list[str] = []
    line, empty = head, True
    for i, item in enumerate(items):
        token = item if i == len(items) - 1 else item + ","
        if not empty and len(line) + 1 + len(token) > WIDTH:
            lines.append(line)
            line, empty = indent + token, False
        else:
            line, empty = f"{line} {token}", False
    return [*lines, line]


def wrap_text(head: str, text: str) -> list[str]:
    """``head`` followed by ``text``, wrapped between words."""
    indent = " " * (len(head) - len(head.lstrip()) + 4)
    return textwrap.wrap(
        f"{head} {text}", WIDTH, subsequent_indent=indent, break_long_words=False
    ) or [head]


def pairs(mapping: Mapping[str, Any]) -> list[str]:
    """``key=value`` for each item, values rendered by :func:`compact`."""
    return [f"{k}={compact(v)}" for k, v in mapping.items()]


def number(value: Any) -> str:
    """A float to 4 significant digits; anything else as ``str``."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def compact(value: Any) -> str:
    """A short rendering: floats to 4 significant digits, containers as compact JSON."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return number(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(rounded(value), separators=(", ", ": "))
    return str(value)


def rounded(value: Any) -> Any:
    """``value`` with every float in it rounded to 4 significant digits (for JSON rendering)."""
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    return value


def size(n_bytes: int) -> str:
    """A file size in B, kB, MB or GB (powers of 1000)."""
    value = float(n_bytes)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n_bytes} B"


def plural(n: int, one: str, many: str) -> str:
    """``"1 file"``, ``"2 files"``."""
    return f"{n} {one if n == 1 else many}"

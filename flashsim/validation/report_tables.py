"""The HTML pieces of a validation report: tables, the exact tells and the figures.

:mod:`flashsim.validation.report_html` puts them on pages. Every gated number is a table cell
coloured green (``class="pass"``) or red (``class="fail"``) against the thresholds; a section's
table is drawn with the distance columns when its rows are distances (W1, KS of
:meth:`~flashsim.validation.validator.Validator.variable_rows`) and generically otherwise (the
columns are the rows' keys, a ``PASS``/``FAIL`` cell coloured), so any section renders.
"""

from __future__ import annotations

import html
import math
import re
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from flashsim.validation.gate import Check, Threshold
from flashsim.validation.result import Plot, Section

__all__ = [
    "LONG_TABLE",
    "cell",
    "figure_html",
    "fmt",
    "png_size",
    "section_body",
    "tells_html",
]

LONG_TABLE = 30
"""Rows of a generic table shown at once; a longer one is collapsed, its failing rows shown."""


def cell(check: Check | None, text: str, thresholds: Sequence[Threshold]) -> str:
    """A ``<td>`` with ``text``, coloured by ``check`` against ``thresholds`` (none: plain)."""
    state = None if check is None else check.fails(thresholds)
    cls = "" if state is None else (' class="fail"' if state else ' class="pass"')
    return f"<td{cls}>{html.escape(text)}</td>"


def fmt(x: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits; ``—`` for a missing or non-finite one."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:.{digits}g}"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height in pixels of PNG ``data`` (from its header chunk)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return 0, 0
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def figure_html(plot: Plot, data: str, size: tuple[int, int]) -> str:
    """One figure: the PNG inline (base64 ``data``) at its natural ``size``, and its caption
    (:attr:`Plot.caption <flashsim.validation.result.Plot.caption>`, else its name)."""
    alt = html.escape(plot.caption or plot.name)
    width, height = size
    dims = f' width="{width}" height="{height}"' if width else ""
    name = html.escape(plot.name)
    caption = html.escape(plot.caption) if plot.caption else f"<code>{name}</code>"
    return (
        f'<figure><img alt="{alt}" title="{name}"{dims} '
        f'src="data:image/png;base64,{data}"><figcaption>{caption}</figcaption></figure>'
    )


def _summary_table(section: Section, thresholds: Sequence[Threshold]) -> str:
    out = ['<table class="summary"><tr><th class="l">quantity</th><th>value</th></tr>']
    for label, text, check in section.summary:
        warn = ' class="warn"' if label.lower().startswith("warning") else ""
        out.append(
            f'<tr{warn}><td class="l">{html.escape(label)}</td>{cell(check, text, thresholds)}</tr>'
        )
    out.append("</table>")
    return "\n".join(out)


def _distance_table(
    rows: Sequence[Mapping[str, Any]],
    thresholds: Sequence[Threshold],
    checks: Mapping[tuple[str, str], Check],
) -> str:
    """The table of distance rows (W1 against its floor, KS, histogram χ², entries)."""
    out = [
        '<table><tr><th class="l">variable</th><th>W1</th><th>W1 floor</th>'
        "<th>W1 / floor</th><th>KS D</th><th>KS p</th><th>hist χ²/ndf</th>"
        "<th>entries flash / full</th></tr>"
    ]
    for row in rows:
        where = row["where"]
        ndf = row.get("hist_ndf", 0)
        chi2 = row["hist_chi2"] / ndf if ndf else float("nan")
        out.append(
            f'<tr><td class="l">{html.escape(row["variable"])}</td>'
            f"<td>{fmt(row.get('w1'))}</td><td>{fmt(row.get('w1_floor'))}</td>"
            + cell(checks.get(("w1_ratio", where)), fmt(row.get("w1_ratio")), thresholds)
            + cell(checks.get(("ks", where)), fmt(row.get("ks")), thresholds)
            + f"<td>{fmt(row.get('ks_pvalue'), 2)}</td><td>{fmt(chi2)}</td>"
            f"<td>{int(row['n_flash'])} / {int(row['n_full'])}</td></tr>"
        )
    out.append("</table>")
    return "\n".join(out)


def _generic_cell(key: str, value: Any) -> str:
    if value in ("PASS", "FAIL"):
        return f'<td class="{value.lower()}">{value}</td>'
    if isinstance(value, float):
        return f"<td>{fmt(value, 4)}</td>"
    text = html.escape("" if value is None else str(value))
    if key == "where":
        return f'<td class="l"><code>{text}</code></td>'
    # Text left, numbers (and numbers with units or errors, "+1.2%", "0.97 ± 0.02") right.
    number = not isinstance(value, str) or _NUMBER.match(value) or value in ("n/a", "—")
    return f"<td>{text}</td>" if number else f'<td class="l">{text}</td>'


_NUMBER = re.compile(r"^[+\-−]?\d")


def _rows_table(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in columns)
    body = [
        "<tr>" + "".join(_generic_cell(c, row.get(c)) for c in columns) + "</tr>" for row in rows
    ]
    return "\n".join([f'<table class="rows"><tr>{head}</tr>', *body, "</table>"])


def _generic_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Any rows (dicts) as a table, columns in the order of the keys; a table longer than
    :data:`LONG_TABLE` rows is collapsed behind its failing rows."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    if len(rows) <= LONG_TABLE:
        return _rows_table(columns, rows)
    failing = [r for r in rows if "FAIL" in r.values()]
    out = []
    if failing:
        out += [
            f'<p class="fail-note">{len(failing)} of {len(rows)} rows fail:</p>',
            _rows_table(columns, failing),
        ]
    out += [
        f"<details><summary>All {len(rows)} rows ({len(failing)} fail)</summary>",
        _rows_table(columns, rows),
        "</details>",
    ]
    return "\n".join(out)


def section_body(
    section: Section,
    thresholds: Sequence[Threshold],
    images: Mapping[str, tuple[str, tuple[int, int]]],
    checks: Mapping[tuple[str, str], Check],
) -> str:
    """A section's summary table, its table and its figure groups (each a ``<details>``,
    open when :attr:`PlotGroup.open <flashsim.validation.result.PlotGroup.open>`).

    Arguments:
        section: the section.
        thresholds: the colours' thresholds.
        images: per plot name its base64 PNG and its size (plots not drawn are left out).
        checks: every check by ``(metric, where)``.
    """
    out = []
    if section.summary:
        out.append(_summary_table(section, thresholds))
    if section.table:
        if all("w1_ratio" in row and "where" in row for row in section.table):
            out.append(_distance_table(section.table, thresholds, checks))
        else:
            out.append(_generic_table(section.table))
    for group in section.groups:
        drawn = [p for p in group.plots if p.name in images]
        if not drawn:
            continue
        state = " open" if group.open else ""
        out.append(
            f"<details{state}><summary>{html.escape(group.title)} "
            f'<span class="count">({len(drawn)} figures)</span></summary><div class="plots">'
        )
        out += [figure_html(p, *images[p.name]) for p in drawn]
        out.append("</div></details>")
    return "\n".join(out)


def _value(x: Any) -> str:
    return "never" if x is None else f"{x:.7g}" if isinstance(x, float) else str(x)


def _fraction(f: Any, err: Any) -> str:
    if f is None or (isinstance(f, float) and not math.isfinite(f)):
        return "—"
    return f"{f:.4g} ± {err:.2g}" if err else f"{f:.4g}"


def tells_html(tells: Mapping[str, Any], thresholds: Sequence[Threshold]) -> str:
    """The exact-tells part (:mod:`flashsim.validation.tells`): collapsible, open when there
    are findings."""
    findings = tells.get("findings", [])
    n = len(tells.get("branches_compared", []))
    limit = next((t for t in thresholds if t.metric == "tells"), None)
    cls = "" if limit is None else (' class="fail"' if findings else ' class="pass"')
    out = [
        f'<details class="section"{" open" if findings else ""}>'
        '<summary><h2 id="tells">Exact tells</h2></summary>',
        f"<p{cls}>{len(findings)} findings in {n} branches both files have (values, point "
        "masses and ranges one sample writes and the other never does; generator-level and "
        "bookkeeping branches skipped).</p>",
    ]
    header = (
        '<table><tr><th class="l">branch</th><th class="l">tell</th><th>flash value</th>'
        "<th>flash fraction</th><th>full value</th><th>full fraction</th><th>pull</th>"
        "<th>significance (sigma)</th></tr>"
    )

    def rows(items: Sequence[Mapping[str, Any]]) -> list[str]:
        return [
            f'<tr><td class="l">{html.escape(t["branch"])}</td>'
            f'<td class="l">{html.escape(t["kind"])}: {html.escape(t["note"])}</td>'
            f"<td>{_value(t['flash_value'])}</td>"
            f"<td>{_fraction(t['flash_fraction'], t['flash_error'])}</td>"
            f"<td>{_value(t['full_value'])}</td>"
            f"<td>{_fraction(t['full_fraction'], t['full_error'])}</td>"
            f"<td>{fmt(t['pull'])}</td><td>{fmt(t['significance'])}</td></tr>"
            for t in items
        ]

    if findings:
        out += [header, *rows(findings), "</table>"]
    masses = tells.get("point_masses", [])
    if masses:
        out += [
            f"<details><summary>All point masses ({len(masses)}: exact values holding a "
            "fraction of a branch's entries)</summary>",
            header,
            *rows(masses),
            "</table></details>",
        ]
    for role in ("flash", "full"):
        only = tells.get(f"only_{role}", [])
        if only:
            out.append(
                f'<p class="note">Branches only the {role} file has (not compared): '
                + html.escape(", ".join(only))
                + "</p>"
            )
    out.append("</details>")
    return "\n".join(out)

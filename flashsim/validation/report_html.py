"""The pages of a validation report: what was compared, the verdicts, then the sections.

:func:`render` lays a :class:`~flashsim.validation.result.ValidationResult` out as HTML pages,
each self-contained (figures inline as base64 PNG, no scripts, nothing fetched):

1. a header saying in words what was compared (the files, their events, the flash model and
   its pipeline, the seeds, the date, the flashsim version and how long it took);
2. the verdict against the gate and the failing checks;
3. the physics summary (the section ``physics_summary``, when the validation made one);
4. the verdict of every other section (its checks judged and failing), linked to it;
5. the exact tells, then the sections themselves, each collapsible (``<details>``).

On one page (``index.html``), or, when that page would be too large to open comfortably, on
an index (parts 1-5 without the sections) and one page per collection under ``pages/`` (a
collection's unmatched objects on its page).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flashsim.validation.gate import METRICS, Check, Threshold, failed_checks
from flashsim.validation.report_tables import section_body, tells_html
from flashsim.validation.result import Section, ValidationResult

__all__ = ["SUMMARY_KEY", "Facts", "page_sections", "render"]

SUMMARY_KEY = "physics_summary"
"""Key of the section shown first, on the index, whether the report is split or not."""

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1500px;
padding:0 1.5em 3em;color:#222;line-height:1.4}
h1{margin-bottom:.3em}h2{display:inline;font-size:1.35em}
details.section{border-top:2px solid #ddd;margin-top:1.6em;padding-top:.4em}
details.section>summary{list-style-position:outside}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}
table.facts th{text-align:left;vertical-align:top;white-space:nowrap}
table.facts td{text-align:left}
table.rows th{text-align:left}
table.summary{max-width:100%}table.summary td{text-align:left}table.summary td.l{width:18em}
.pass{background:#d9f2d9}.fail{background:#f8d0d0;font-weight:600}.warn{background:#fff1c2}
.verdict{display:inline-block;padding:.3em .8em;border-radius:.3em;font-weight:700}
.verdict.pass{color:#155d15}.verdict.fail{color:#8a1010}
details{margin:.8em 0}summary{cursor:pointer;font-weight:600;font-size:1.05em}
.count{font-weight:400;color:#666}
.plots{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
figure{margin:0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}
.note{color:#555;font-size:.9em}code{background:#f4f4f4;padding:0 .2em}
nav a{margin-right:1em}
"""


@dataclass(frozen=True)
class Facts:
    """What the header says besides the inputs: when, with which version, how long.

    Attributes:
        date: when the report was written (``2025-12-07 08:44 UTC``).
        version: the flashsim version.
        report_seconds: drawing the figures and writing the report.
    """

    date: str
    version: str
    report_seconds: float


def _text(value: Any, limit: int = 300) -> str:
    """``value`` (from a file's provenance: untrusted) as escaped text of bounded length."""
    text = str(value)
    return html.escape(text if len(text) <= limit else text[: limit - 1] + "…")


def _code(value: Any) -> str:
    return f"<code>{_text(value)}</code>"


def _flash_model(prov: Mapping[str, Any]) -> str:
    model = prov.get("model")
    if not isinstance(model, Mapping):
        return "no model recorded in its provenance (not written by <code>flashsim run</code>)"
    parts = [f"model {_code(str(model.get('sha256', '?'))[:12])}"]
    if model.get("pipeline"):
        parts.append(f"pipeline <b>{_text(model['pipeline'])}</b>")
    if model.get("path"):
        parts.append(f"bundle {_code(model['path'])}")
    return ", ".join(parts)


def _input_row(role: str, info: Mapping[str, Any]) -> str:
    text = f"{_code(info.get('path'))}: {_text(info.get('events'))} events"
    if info.get("replicas", 1) > 1:
        text += (
            f" ({_text(info.get('gen_events'))} gen events × {_text(info['replicas'])} replicas)"
        )
    prov = info.get("provenance")
    prov = prov if isinstance(prov, Mapping) else {}
    if role == "flash":
        text += f"; simulated by flashsim {_text(prov.get('flashsim_version', '?'))} with "
        text += _flash_model(prov)
        if prov.get("input"):
            text += f", from {_code(prov['input'])}"
    elif prov:
        known = ("producer", "process", "detector", "pileup_mean", "flashsim_version")
        said = [f"{k.replace('_', ' ')} {_text(prov[k])}" for k in known if prov.get(k) is not None]
        text += "; " + (", ".join(said) if said else "provenance recorded")
    else:
        text += "; no provenance recorded"
    name = "Flash simulation" if role == "flash" else "compared with full simulation"
    return f"<tr><th>{name}</th><td>{text}</td></tr>"


def header_html(metrics: Mapping[str, Any], facts: Facts) -> str:
    """The table saying what was compared (see the module docstring)."""
    inputs = metrics.get("inputs", {})
    rows = [_input_row(role, inputs[role]) for role in ("flash", "full") if role in inputs]
    seeds = []
    for role, label in (("flash", "flash run"), ("full", "full simulation")):
        prov = inputs.get(role, {}).get("provenance")
        if isinstance(prov, Mapping) and prov.get("seed") is not None:
            seeds.append(f"{label} {_text(prov['seed'])}")
    seed = metrics.get("seed")
    seeds.append(
        f"validation {_text(seed)} (classifier splits, bootstrap errors)"
        if seed is not None
        else "validation: not recorded"
    )
    rows.append(f"<tr><th>Seeds</th><td>{'; '.join(seeds)}</td></tr>")
    compare = float(metrics.get("seconds", 0.0))
    total = compare + facts.report_seconds
    rows.append(
        f"<tr><th>Validated</th><td>{_text(facts.date)} with flashsim {_text(facts.version)} "
        f"in {total:.0f} s (comparisons {compare:.0f} s, figures and report "
        f"{facts.report_seconds:.0f} s)</td></tr>"
    )
    return '<table class="facts">' + "".join(rows) + "</table>"


def _safe(key: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", key).strip("_") or "section"
    return name + "_" if name == "index" else name


def page_sections(sections: Sequence[Section]) -> dict[str, list[Section]]:
    """The pages of a split report: per page (``pages/<key>.html``) its sections; a section
    whose key extends an earlier one's (``Jet_fakes`` after ``Jet``) joins that page. The
    physics summary stays on the index and is left out."""
    pages: dict[str, list[Section]] = {}
    owner: dict[str, str] = {}
    for section in sections:
        if section.key == SUMMARY_KEY:
            continue
        parent = next((k for k in owner if section.key.startswith(k + "_")), None)
        page = owner[parent] if parent is not None else f"pages/{_safe(section.key)}.html"
        while parent is None and page in pages:
            page = page.removesuffix(".html") + "_.html"
        owner[section.key] = page
        pages.setdefault(page, []).append(section)
    return pages


def _section_checks(section: Section, by_where: Mapping[str, list[Check]]) -> list[Check]:
    """The checks a section shows: those of its summary and those at its table rows' places
    (one per metric and place: a summary line may hold a copy of a table row's check)."""
    found = {(c.metric, c.where): c for _, _, c in section.summary if c is not None}
    for row in section.table:
        for c in by_where.get(str(row.get("where")), []):
            found.setdefault((c.metric, c.where), c)
    return list(found.values())


def _verdict_cells(checks: Sequence[Check], thresholds: Sequence[Threshold]) -> str:
    judged = [c for c in checks if c.fails(thresholds) is not None]
    failing = sorted(failed_checks(checks, thresholds), key=lambda c: (c.metric, c.where))
    if not judged:
        return '<td>—</td><td class="l">not gated</td><td class="l"></td>'
    shown = ", ".join(f"{c.metric} {c.where} = {c.value:.3g}" for c in failing[:3])
    more = f", and {len(failing) - 3} more" if len(failing) > 3 else ""
    verdict = "FAIL" if failing else "PASS"
    return (
        f"<td>{len(failing)} of {len(judged)}</td>"
        f'<td class="l {verdict.lower()}">{verdict}</td>'
        f'<td class="l">{html.escape(shown + more)}</td>'
    )


def verdicts_html(
    result: ValidationResult,
    thresholds: Sequence[Threshold],
    links: Mapping[str, str],
    *,
    whole: bool = True,
) -> str:
    """Per section: checks failing of those judged, the verdict, the first failing places,
    linked (``links``: key to URL); ``whole``: also the exact tells and the checks no section
    shows (the index; a collection's page has its sections only)."""
    by_where: dict[str, list[Check]] = {}
    for c in result.checks:
        by_where.setdefault(c.where, []).append(c)
    seen: set[tuple[str, str]] = set()
    rows = []
    for section in result.sections:
        mine = _section_checks(section, by_where)
        seen.update((c.metric, c.where) for c in mine)
        link = f'<a href="{html.escape(links[section.key])}">{html.escape(section.title)}</a>'
        rows.append(f'<tr><td class="l">{link}</td>{_verdict_cells(mine, thresholds)}</tr>')
    tells = [c for c in result.checks if c.metric == "tells"]
    seen.update((c.metric, c.where) for c in tells)
    if whole and "tells" in result.metrics:
        rows.append(
            f'<tr><td class="l"><a href="#tells">Exact tells</a></td>'
            f"{_verdict_cells(tells, thresholds)}</tr>"
        )
    rest = [c for c in result.checks if (c.metric, c.where) not in seen]
    if whole and rest:
        rows.append(f'<tr><td class="l">other checks</td>{_verdict_cells(rest, thresholds)}</tr>')
    if not rows:
        return ""
    return (
        '<h2 id="verdicts">Verdict per part</h2><table><tr><th class="l">part</th>'
        '<th>checks failing</th><th class="l">verdict</th><th class="l">failing</th></tr>'
        + "\n".join(rows)
        + "</table>"
    )


def _verdict_html(result: ValidationResult, thresholds: Sequence[Threshold], gated: bool) -> str:
    failures = failed_checks(result.checks, thresholds)
    verdict = "fail" if failures else "pass"
    what = "gate (--fail-above)" if gated else "default acceptance thresholds"
    limits = ", ".join(str(t) for t in thresholds)
    judged = sum(c.fails(thresholds) is not None for c in result.checks)
    parts = [
        f'<p><span class="verdict {verdict}">{verdict.upper()}</span> against the {what}: '
        f"{len(failures)} of {judged} checks fail.</p>"
        f'<details><summary class="note">Thresholds</summary><p class="note">'
        f"{html.escape(limits)}</p></details>"
    ]
    if failures:
        parts.append(
            f"<details{' open' if len(failures) <= 10 else ''}><summary>Failing checks "
            f'({len(failures)})</summary><table><tr><th class="l">metric</th>'
            '<th class="l">where</th><th>value</th><th>threshold</th></tr>'
        )
        for c in sorted(failures, key=lambda c: (c.metric, -c.value)):
            parts.append(
                f'<tr class="fail"><td class="l">{c.metric}</td>'
                f'<td class="l">{html.escape(c.where)}</td>'
                f"<td>{c.value:.3g}</td><td>{c.limit(thresholds):g}</td></tr>"
            )
        parts.append("</table></details>")
    return "\n".join(parts)


def _section_html(
    section: Section,
    thresholds: Sequence[Threshold],
    images: Mapping[str, tuple[str, tuple[int, int]]],
    checks: Mapping[tuple[str, str], Check],
) -> str:
    return (
        f'<details class="section" open><summary><h2 id="{html.escape(section.key)}">'
        f"{html.escape(section.title)}</h2></summary>\n"
        + section_body(section, thresholds, images, checks)
        + "\n</details>"
    )


_ABOUT = (
    "<li>Flash histograms are scaled to the number of full-simulation events; ratio panels "
    "show flash / full with both samples' errors. Errors use the gen event as the independent "
    "unit, so replicas of an oversampled flash file are not counted as independent.</li>"
    "<li><b>Physics summary</b>: each quantity (jet energy scale and resolution, b-tag and "
    "mistag, lepton efficiencies, MET, pile-up jets) measured on both samples; the gated "
    "number is how many standard errors the flash-vs-full difference lies beyond its "
    "tolerance.</li>"
    "<li><b>W1 / floor</b>: Wasserstein-1 distance between flash (events with even gen-event "
    "id) and full (odd), divided by its statistical floor, the mean distance between random "
    "re-splits of the two pooled (permutation test): about 1 for a perfect flash simulation "
    "whatever the sample sizes.</li>"
    "<li><b>KS</b>: Kolmogorov-Smirnov statistic and p-value (effective sizes; discrete "
    "variables make it conservative).</li>"
    "<li><b>Classifier AUC</b>: a BDT trained to tell flash from full objects (gen conditions "
    "and targets), ROC AUC on a held-out half of the gen events; 0.5 means "
    "indistinguishable (Lopez-Paz &amp; Oquab, arXiv:1610.06545).</li>"
    "<li><b>Exact tells</b>: per branch, values one sample writes and the other never does, "
    "exact values holding a fraction of the entries (point masses) far below the other "
    "sample's, and flash entries outside full's range, each with an exact conditional test "
    "(5 sigma, Bonferroni corrected).</li>"
    "<li><b>Efficiency χ²/ndf</b>: flash vs full efficiency curves, binomial (cluster) "
    "errors of both.</li>"
)


def _about_html() -> str:
    metrics = "; ".join(f"<code>{k}</code>: {html.escape(v)}" for k, v in METRICS.items())
    return (
        '<details class="section"><summary><h2 id="about">How to read this report</h2>'
        f'</summary><ul class="note">{_ABOUT}<li>Metrics: {metrics}.</li></ul></details>'
    )


def _page(title: str, body: Sequence[str]) -> str:
    return "\n".join(
        [
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
            *body,
            "</body></html>",
        ]
    )


def render(
    result: ValidationResult,
    thresholds: Sequence[Threshold],
    *,
    gated: bool,
    images: Mapping[str, tuple[str, tuple[int, int]]],
    title: str,
    facts: Facts,
    split: bool,
) -> dict[str, str]:
    """The report's pages, by path relative to the report directory: ``index.html`` and,
    when ``split``, ``pages/<key>.html`` (see the module docstring).

    Arguments:
        result: the validation.
        thresholds: the colours' and verdicts' thresholds.
        gated: whether they are the gate's (else the default acceptance bars).
        images: per plot name its base64 PNG and its size in pixels.
        title: the index page's title.
        facts: the date, version and time of the report.
        split: one page per collection.
    """
    checks = {(c.metric, c.where): c for c in result.checks}
    head = header_html(result.metrics, facts)
    summary = [s for s in result.sections if s.key == SUMMARY_KEY]
    rest = [s for s in result.sections if s.key != SUMMARY_KEY]
    pages = page_sections(rest) if split else {}
    links = {s.key: f"{page}#{s.key}" for page, ss in pages.items() for s in ss}
    links.update({s.key: f"#{s.key}" for s in result.sections if s.key not in links})
    index = [
        f"<h1>{html.escape(title)}</h1>",
        head,
        _verdict_html(result, thresholds, gated),
        *(_section_html(s, thresholds, images, checks) for s in summary),
        verdicts_html(result, thresholds, links),
    ]
    if "tells" in result.metrics:
        index.append(tells_html(result.metrics["tells"], thresholds))
    if not split:
        nav = "".join(
            f'<a href="#{html.escape(s.key)}">{html.escape(s.key.replace("_", " "))}</a>'
            for s in rest
        )
        index.append(f"<nav>{nav}</nav>")
        index += [_section_html(s, thresholds, images, checks) for s in rest]
    index.append(_about_html())
    out = {"index.html": _page(title, index)}
    for page, sections in pages.items():
        name = ", ".join(s.title for s in sections)
        sub = ValidationResult(result.metrics, sections, result.checks)
        body = [
            f"<h1>{html.escape(name)}</h1>",
            '<p><a href="../index.html">← back to the summary and the verdicts</a></p>',
            head,
            verdicts_html(sub, thresholds, {s.key: f"#{s.key}" for s in sections}, whole=False),
            *(_section_html(s, thresholds, images, checks) for s in sections),
        ]
        out[page] = _page(f"{title}: {name}", body)
    return out

"""Writing a validation: ``index.html``, the PNGs, ``metrics.json`` and ``histograms.root``.

* ``index.html`` is one self-contained page (plots inline as base64 PNG, no external files or
  scripts) with the metrics tables, each gated number coloured green (pass) or red (fail);
* ``plots/*.png`` are the same figures as files;
* ``metrics.json`` holds every number, the checks and the gate's verdict;
* ``histograms.root`` holds every histogram as TH1D (flash scaled to the full-simulation event
  count, and full), in directories named like the plots: ``Jet/pt/flash``, ``Jet/pt/full``;
  efficiency curves are TH1D whose contents are the efficiencies and errors their errors.
"""

from __future__ import annotations

import base64
import html
import json
import math
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from flashsim import __version__
from flashsim.atomic import check_replaceable, exclusive_temporary, write_atomically
from flashsim.exceptions import OutputError
from flashsim.validation.gate import DEFAULT_THRESHOLDS, METRICS, Check, Threshold, failed_checks
from flashsim.validation.plots import save
from flashsim.validation.result import Plot, Section, ValidationResult

__all__ = ["jsonable", "write_report"]


def _file_name(plot: Plot) -> str:
    return plot.name.replace("/", "_").replace(" ", "_") + ".png"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def jsonable(value: Any) -> Any:
    """``value`` for ``json.dumps(..., allow_nan=False)``: non-finite floats become None (JSON
    has no NaN), numpy scalars and arrays Python numbers and lists."""
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _write_root(result: ValidationResult, path: Path) -> int:
    """Write the histograms to ``path`` atomically: through an exclusively created temporary
    file (:func:`flashsim.atomic.exclusive_temporary`), renamed over a regular file only."""
    import uproot

    n = 0
    check_replaceable(path)
    with exclusive_temporary(path) as (fd, tmp):
        with os.fdopen(os.dup(fd), "r+b") as stream, uproot.recreate(stream) as f:
            for comp in result.comparisons():
                flash, full = comp.to_hist()
                f[f"{comp.name}/flash"] = flash
                f[f"{comp.name}/full"] = full
                n += 2
        check_replaceable(path)
        os.replace(tmp, path)
    return n


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1500px;
padding:0 1.5em 3em;color:#222}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}
.pass{background:#d9f2d9}.fail{background:#f8d0d0;font-weight:600}
.verdict{display:inline-block;padding:.3em .8em;border-radius:.3em;font-weight:700}
.verdict.pass{color:#155d15}.verdict.fail{color:#8a1010}
details{margin:.8em 0}summary{cursor:pointer;font-weight:600;font-size:1.05em}
.plots{display:flex;flex-wrap:wrap;gap:.5em;align-items:flex-start}
.plots img{max-width:100%;border:1px solid #eee}
.note{color:#555;font-size:.9em}code{background:#f4f4f4;padding:0 .2em}
nav a{margin-right:1em}
"""


def _cell(check: Check | None, text: str, thresholds: Sequence[Threshold]) -> str:
    state = None if check is None else check.fails(thresholds)
    cls = "" if state is None else (' class="fail"' if state else ' class="pass"')
    return f"<td{cls}>{html.escape(text)}</td>"


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:.{digits}g}"


def _section_html(
    section: Section,
    thresholds: Sequence[Threshold],
    images: Mapping[str, str],
    checks: Mapping[tuple[str, str], Check],
) -> str:
    out = [f'<h2 id="{html.escape(section.key)}">{html.escape(section.title)}</h2>']
    if section.summary:
        out.append('<table><tr><th class="l">metric</th><th>value</th></tr>')
        for label, text, check in section.summary:
            out.append(
                f'<tr><td class="l">{html.escape(label)}</td>{_cell(check, text, thresholds)}</tr>'
            )
        out.append("</table>")
    if section.table:
        out.append(
            '<table><tr><th class="l">variable</th><th>W1</th><th>W1 floor</th>'
            "<th>W1 / floor</th><th>KS D</th><th>KS p</th><th>hist χ²/ndf</th>"
            "<th>entries flash / full</th></tr>"
        )
        for row in section.table:
            where = row["where"]
            ndf = row.get("hist_ndf", 0)
            chi2 = row["hist_chi2"] / ndf if ndf else float("nan")
            out.append(
                f'<tr><td class="l">{html.escape(row["variable"])}</td>'
                f"<td>{_fmt(row.get('w1'))}</td><td>{_fmt(row.get('w1_floor'))}</td>"
                + _cell(checks.get(("w1_ratio", where)), _fmt(row.get("w1_ratio")), thresholds)
                + _cell(checks.get(("ks", where)), _fmt(row.get("ks")), thresholds)
                + f"<td>{_fmt(row.get('ks_pvalue'), 2)}</td><td>{_fmt(chi2)}</td>"
                f"<td>{int(row['n_flash'])} / {int(row['n_full'])}</td></tr>"
            )
        out.append("</table>")
    for group in section.groups:
        if not any(p.name in images for p in group.plots):
            continue
        state = " open" if group.open else ""
        out.append(
            f'<details{state}><summary>{html.escape(group.title)}</summary><div class="plots">'
        )
        for plot in group.plots:
            data = images.get(plot.name)
            if data is None:
                continue
            alt = html.escape(plot.name)
            out.append(f'<img alt="{alt}" title="{alt}" src="data:image/png;base64,{data}">')
        out.append("</div></details>")
    return "\n".join(out)


def _value(x: Any) -> str:
    return "never" if x is None else f"{x:.7g}" if isinstance(x, float) else str(x)


def _fraction(f: Any, err: Any) -> str:
    if f is None or (isinstance(f, float) and not math.isfinite(f)):
        return "—"
    return f"{f:.4g} ± {err:.2g}" if err else f"{f:.4g}"


def _tells_html(tells: Mapping[str, Any], thresholds: Sequence[Threshold]) -> str:
    """The exact-tells table (:mod:`flashsim.validation.tells`), near the top of the page."""
    findings = tells.get("findings", [])
    n = len(tells.get("branches_compared", []))
    limit = next((t for t in thresholds if t.metric == "tells"), None)
    cls = "" if limit is None else (' class="fail"' if findings else ' class="pass"')
    out = [
        '<h2 id="tells">Exact tells</h2>',
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
            f"<td>{_fmt(t['pull'])}</td><td>{_fmt(t['significance'])}</td></tr>"
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
    return "\n".join(out)


def _describe_input(role: str, info: Mapping[str, Any]) -> str:
    text = f"{role}: <code>{html.escape(str(info['path']))}</code>, {info['events']} events"
    if info.get("replicas", 1) > 1:
        text += f" ({info['gen_events']} gen events × {info['replicas']} replicas)"
    prov = info.get("provenance") or {}
    model = prov.get("model") if isinstance(prov, dict) else None
    if isinstance(model, dict):
        text += (
            f"; flashsim {html.escape(str(prov.get('flashsim_version')))}, model "
            f"<code>{html.escape(str(model.get('sha256', ''))[:12])}</code>, "
            f"seed {prov.get('seed')}"
        )
    return text


def _html(
    result: ValidationResult,
    thresholds: Sequence[Threshold],
    gated: bool,
    images: Mapping[str, str],
    title: str,
) -> str:
    checks = {(c.metric, c.where): c for c in result.checks}
    failures = failed_checks(result.checks, thresholds)
    verdict = "fail" if failures else "pass"
    what = "gate (--fail-above)" if gated else "default acceptance thresholds"
    limits = ", ".join(str(t) for t in thresholds)
    inputs = result.metrics.get("inputs", {})
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">flashsim {__version__}, {result.metrics.get("seconds", 0):.0f} s. '
        + "<br>".join(_describe_input(r, inputs[r]) for r in ("flash", "full") if r in inputs)
        + "</p>",
        f'<p><span class="verdict {verdict}">{verdict.upper()}</span> against the {what}: '
        f"{html.escape(limits)} — {len(failures)} of "
        f"{sum(c.fails(thresholds) is not None for c in result.checks)} checks fail.</p>",
    ]
    if failures:
        parts.append(
            '<details><summary>Failing checks</summary><table><tr><th class="l">metric</th>'
            '<th class="l">where</th><th>value</th><th>threshold</th></tr>'
        )
        for c in sorted(failures, key=lambda c: (c.metric, -c.value)):
            parts.append(
                f'<tr class="fail"><td class="l">{c.metric}</td>'
                f'<td class="l">{html.escape(c.where)}</td>'
                f"<td>{c.value:.3g}</td><td>{c.limit(thresholds):g}</td></tr>"
            )
        parts.append("</table></details>")
    if "tells" in result.metrics:
        parts.append(_tells_html(result.metrics["tells"], thresholds))
    parts.append(
        "<nav>"
        + "".join(
            f'<a href="#{html.escape(s.key)}">{html.escape(s.key.replace("_", " "))}</a>'
            for s in result.sections
        )
        + "</nav>"
    )
    parts += [_section_html(s, thresholds, images, checks) for s in result.sections]
    parts.append(
        '<h2 id="about">How to read this report</h2><ul class="note">'
        "<li>Flash histograms are scaled to the number of full-simulation events; ratio panels "
        "show flash / full with both samples' errors. Errors use the gen event as the independent "
        "unit, so replicas of an oversampled flash file are not counted as independent.</li>"
        "<li><b>W1 / floor</b>: Wasserstein-1 distance between flash (events with even gen-event "
        "id) and full (odd), divided by its statistical floor, the mean distance between random "
        "re-splits of the two pooled (permutation test): about 1 for a perfect flash simulation "
        "whatever the sample sizes. Gen-event parity keeps the two sides independent when flash "
        "was simulated from the full sample's own gen events.</li>"
        "<li><b>KS</b>: Kolmogorov-Smirnov statistic and p-value (effective sizes; discrete "
        "variables make it conservative).</li>"
        "<li><b>Classifier AUC</b>: a BDT trained to tell flash from full objects (gen conditions "
        "and targets), ROC AUC on a held-out half of the gen events; 0.5 means "
        "indistinguishable (Lopez-Paz &amp; Oquab, arXiv:1610.06545). One replica per gen event "
        "is used.</li>"
        "<li><b>Exact tells</b>: per branch, values one sample writes and the other never does "
        "(integers, flags, constants), exact values holding a fraction of the entries (point "
        "masses) far below the other sample's, and flash entries outside full's range, each "
        "with an exact conditional test (significance of 5 sigma or more, Bonferroni "
        "corrected), so two samples of one distribution show none; negative values where full "
        "has none and values above 1 where full lies in [0, 1] always count.</li>"
        "<li><b>Efficiency χ²/ndf</b>: flash vs full efficiency curves, binomial (cluster) "
        "errors of both.</li>"
        "<li>Metrics: "
        + "; ".join(f"<code>{k}</code>: {html.escape(v)}" for k, v in METRICS.items())
        + ".</li></ul></body></html>"
    )
    return "\n".join(parts)


def write_report(
    result: ValidationResult,
    out_dir: str | os.PathLike[str],
    *,
    thresholds: Sequence[Threshold] | None = None,
    title: str = "flashsim validation",
    jobs: int = 1,
    plots: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write the report of ``result`` into ``out_dir`` (created; existing files are replaced).

    Arguments:
        result: from :func:`~flashsim.validation.validate.validate`.
        out_dir: the report directory.
        thresholds: the gate (``--fail-above``); the report is coloured with it, or with
            :data:`~flashsim.validation.gate.DEFAULT_THRESHOLDS` when None.
        title: page title.
        jobs: processes drawing the figures.
        plots: draw the figures; without, the page has the tables only and ``plots/`` is not
            written (fast, for gates in workflows).
        progress: called with a short message at each step; given, a progress bar over the
            figures is shown on stderr too (``None``: silent).
    Returns:
        The gate record also stored in ``metrics.json``: thresholds, whether they came from a
        gate, the failing checks, and ``passed``.
    Raises:
        OutputError: the directory cannot be created or written.
    """
    say = progress or (lambda _msg: None)
    out = Path(out_dir)
    plots_dir = out / "plots"
    try:
        out.mkdir(parents=True, exist_ok=True)
        if plots:
            plots_dir.mkdir(exist_ok=True)
    except OSError as err:
        msg = f"cannot create the report directory {out}: {err.strerror}"
        raise OutputError(msg) from err
    gated = thresholds is not None
    limits = list(thresholds) if thresholds is not None else list(DEFAULT_THRESHOLDS)
    figures = [p for s in result.sections for g in s.groups for p in g.plots] if plots else []
    paths = {p.name: str(plots_dir / _file_name(p)) for p in figures}
    if figures:
        say(f"drawing {len(figures)} figures")
    bar = tqdm(
        total=len(figures), desc="figures", unit=" figures", disable=progress is None or not figures
    )
    if jobs > 1 and len(figures) > 1:
        # spawn: forking a process that runs torch and xgboost threads may deadlock.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            for _ in pool.map(save, figures, [paths[p.name] for p in figures], chunksize=8):
                bar.update()
    else:
        for plot in figures:
            save(plot, paths[plot.name])
            bar.update()
    bar.close()
    images = {
        name: base64.b64encode(Path(p).read_bytes()).decode("ascii") for name, p in paths.items()
    }
    failures = failed_checks(result.checks, limits)
    gate = {
        "thresholds": [str(t) for t in limits],
        "from_gate": gated,
        "passed": not failures,
        "failures": [
            {"metric": c.metric, "where": c.where, "value": c.value, "threshold": c.limit(limits)}
            for c in failures
        ],
    }
    document = {
        "flashsim_version": __version__,
        **result.metrics,
        "checks": [{"metric": c.metric, "where": c.where, "value": c.value} for c in result.checks],
        "gate": gate,
    }
    say("writing metrics.json, histograms.root, index.html")
    write_atomically(
        out / "metrics.json",
        json.dumps(jsonable(document), indent=1, default=_json_default, allow_nan=False).encode(),
    )
    gate["n_histograms"] = _write_root(result, out / "histograms.root")
    write_atomically(out / "index.html", _html(result, limits, gated, images, title).encode())
    return gate

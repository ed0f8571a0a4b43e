"""The validation report's layout: header, summary first, collapsible sections, split pages.

A small hand-made :class:`ValidationResult` (a physics summary, three sections, five figures)
keeps these tests at about a second; ``tests/test_validation.py`` writes the report of a real
validation and renders it in headless Chromium.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flashsim import __version__
from flashsim.validation.comparison import compare_hist
from flashsim.validation.gate import Check, parse_thresholds
from flashsim.validation.plots import PANEL, columns
from flashsim.validation.report import write_report
from flashsim.validation.report_tables import LONG_TABLE, png_size
from flashsim.validation.result import Plot, PlotGroup, Section, ValidationResult

SHA = "0123456789abcdef" * 4


def _hist(name: str, rng: np.random.Generator, shift: float = 0.0, title: str = "") -> Any:
    flash, full = rng.normal(shift, 1, 400), rng.normal(0, 1, 400)
    return compare_hist(
        name,
        "x",
        flash,
        full,
        flash_groups=np.arange(400),
        full_groups=np.arange(400),
        scale=1.0,
        title=title,
    )


def _result(rng: np.random.Generator, *, pipeline: str = "cms_like") -> ValidationResult:
    """A physics summary (two gated rows, one failing), Jet with a binned figure of four
    panels in a collapsed group, Jet_fakes and Muon; every figure a histogram."""
    checks = [
        Check("jes", "Jet/jes/b/pt30-50", 0.5),
        Check("jes", "Jet/jes/light/pt30-50", 4.0),
        Check("w1_ratio", "Jet/pt", 1.2),
        Check("ks", "Jet/pt", 0.04),
        Check("w1_ratio", "Muon/pt", 1.1),
    ]
    summary = Section("Physics summary (flash vs full, analyst's units)", "physics_summary")
    summary.summary = [
        ("WARNING", "low statistical power", None),
        # A copy of the failing row's check, as the physics summary makes them.
        ("JES: largest deviation", "+3.10% ± 0.50%", Check("jes", "Jet/jes/light/pt30-50", 4.0)),
    ]
    summary.table = [
        {"quantity": "JES", "bin": "pt30-50", "flavour": f, "z": z, "gate": g, "where": c.where}
        for f, z, g, c in (("b", 0.5, "PASS", checks[0]), ("light", 4.0, "FAIL", checks[1]))
    ]
    distance = {"w1": 0.1, "w1_floor": 0.09, "ks": 0.04, "ks_pvalue": 0.5}
    counts = {"hist_chi2": 30.0, "hist_ndf": 30, "n_flash": 400, "n_full": 400}
    jet = Section("Jet: generated GenJet → reconstructed", "Jet")
    jet.table = [{"variable": "pt", "where": "Jet/pt", "w1_ratio": 1.2, **distance, **counts}]
    binned = tuple(_hist(f"Jet/pt/gen_pt/{i}", rng, title=f"bin {i}") for i in range(4))
    jet.groups = [
        PlotGroup("Targets of matched objects (inclusive)", [_plot("Jet/pt", rng, 0.05)]),
        PlotGroup("Targets in bins of gen_pt", [Plot("Jet/pt/gen_pt", "hist", binned)], False),
    ]
    fakes = Section("Jet: unmatched (pile-up, fake) objects", "Jet_fakes")
    fakes.groups = [PlotGroup("Multiplicity", [_plot("Jet/fakes/count", rng)])]
    muon = Section("Muon: generated GenPart → reconstructed", "Muon")
    muon.table = [{"variable": "pt", "where": "Muon/pt", "w1_ratio": 1.1, **distance, **counts}]
    muon.groups = [PlotGroup("Targets", [_plot("Muon/pt", rng), _plot("Muon/eta", rng)])]
    model = {"sha256": SHA, "pipeline": pipeline, "path": "models/default"}
    inputs = {
        "flash": {
            "path": "/data/reco_flash.root",
            "events": 1234,
            "gen_events": 1234,
            "replicas": 1,
            "provenance": {"flashsim_version": "0.1.0", "model": model, "seed": 7},
        },
        "full": {
            "path": "/data/fullsim.root",
            "events": 1300,
            "gen_events": 1300,
            "replicas": 1,
            "provenance": {"producer": "flashsim refsim generate", "process": "ttbar", "seed": 11},
        },
    }
    metrics = {"inputs": inputs, "seconds": 12.3, "seed": 5}
    return ValidationResult(metrics, [summary, jet, fakes, muon], checks)


def _plot(name: str, rng: np.random.Generator, shift: float = 0.0) -> Plot:
    return Plot(name, "hist", (_hist(name, rng, shift),))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[ValidationResult, Path, str]:
    result = _result(np.random.default_rng(3))
    out = tmp_path_factory.mktemp("report") / "report"
    write_report(result, out, thresholds=parse_thresholds("jes=3,w1_ratio=3"))
    return result, out, (out / "index.html").read_text(encoding="utf-8")


def test_header_says_what_was_compared(report: tuple[ValidationResult, Path, str]) -> None:
    page = report[2]
    facts = page[page.index('<table class="facts">') : page.index("</table>")]
    for text in (
        "<code>/data/reco_flash.root</code>: 1234 events",
        "<code>/data/fullsim.root</code>: 1300 events",
        f"model <code>{SHA[:12]}</code>",
        "pipeline <b>cms_like</b>",
        "flash run 7; full simulation 11; validation 5",
        "process ttbar",
        f"with flashsim {__version__} in ",
        "(comparisons 12 s, figures and report ",
    ):
        assert text in facts, text
    assert re.search(r"<th>Validated</th><td>\d{4}-\d\d-\d\d \d\d:\d\d UTC", facts)


def test_summary_and_verdicts_come_before_the_first_figure(
    report: tuple[ValidationResult, Path, str],
) -> None:
    page = report[2]
    order = [
        page.index('<table class="facts">'),
        page.index('<span class="verdict fail">FAIL</span>'),
        page.index('<h2 id="physics_summary">'),
        page.index('<h2 id="verdicts">'),
        page.index("<img "),
    ]
    assert order == sorted(order)
    verdicts = page[order[3] : page.index("</table>", order[3])]
    # One row per section, linked to it, with its checks: Jet fails none, the summary one.
    assert '<a href="#Jet">' in verdicts
    assert "<td>1 of 2</td>" in verdicts  # the physics summary's two JES rows, once each
    assert '<td class="l fail">FAIL</td>' in verdicts
    assert "jes Jet/jes/light/pt30-50 = 4" in verdicts


def test_sections_and_groups_are_collapsible(report: tuple[ValidationResult, Path, str]) -> None:
    result, _, page = report
    for section in result.sections:
        assert f'<details class="section" open><summary><h2 id="{section.key}">' in page, (
            section.key
        )
    # Groups: open unless PlotGroup.open is False (the binned figures).
    assert "<details open><summary>Targets of matched objects (inclusive)" in page
    assert "<details><summary>Targets in bins of gen_pt" in page
    assert '<details class="section"><summary><h2 id="about">' in page  # collapsed


def test_figures_are_large_enough_to_read(report: tuple[ValidationResult, Path, str]) -> None:
    _, out, page = report
    widths = [int(w) for w in re.findall(r'<img [^>]*width="(\d+)"', page)]
    assert len(widths) == page.count("<img ") == 5
    assert min(widths) >= 600
    for png in (out / "plots").glob("*.png"):
        width, height = png_size(png.read_bytes())
        assert width >= 600, png.name
        assert height >= 400, png.name
    # Four bins: two rows of two full-size panels, not four squeezed into one row.
    four = png_size((out / "plots" / "Jet_pt_gen_pt.png").read_bytes())
    assert four[0] == pytest.approx(2 * PANEL[0] * 100, abs=2)
    assert four[1] > 2 * PANEL[1] * 100
    assert [columns(n) for n in (1, 3, 4, 6)] == [1, 3, 2, 3]


def test_large_report_is_split_into_pages(tmp_path: Path) -> None:
    result = _result(np.random.default_rng(4))
    out = tmp_path / "report"
    write_report(result, out, max_page_bytes=1)
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "<img " not in index
    assert '<h2 id="physics_summary">' in index  # the summary stays on the index
    for link in ("pages/Jet.html#Jet", "pages/Jet.html#Jet_fakes", "pages/Muon.html#Muon"):
        assert f'href="{link}"' in index
    assert sorted(p.name for p in (out / "pages").iterdir()) == ["Jet.html", "Muon.html"]
    jet = (out / "pages" / "Jet.html").read_text(encoding="utf-8")
    assert '<h2 id="Jet">' in jet
    assert '<h2 id="Jet_fakes">' in jet
    assert jet.count("<img ") == 3
    assert "Muon" not in jet.split("</table>", 1)[1]
    assert '<a href="../index.html">' in jet
    assert "<code>/data/reco_flash.root</code>" in jet  # every page says what was compared
    assert not list(out.rglob(".*"))  # no temporary left
    # Written again as one page: the pages of the split report go.
    write_report(result, out, max_page_bytes=10**9)
    assert not (out / "pages").exists()
    assert (out / "index.html").read_text(encoding="utf-8").count("<img ") == 5


def test_provenance_text_is_escaped(tmp_path: Path) -> None:
    """A file's provenance is untrusted: its strings are text, never markup."""
    result = _result(np.random.default_rng(5), pipeline="<script>alert(1)</script>")
    write_report(result, tmp_path, plots=False)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "pipeline <b>&lt;script&gt;alert(1)&lt;/script&gt;</b>" in page


def test_long_table_shows_its_failing_rows(tmp_path: Path) -> None:
    result = _result(np.random.default_rng(6))
    rows = [{"quantity": "JES", "bin": f"b{i}", "gate": "PASS"} for i in range(LONG_TABLE + 10)]
    rows[3]["gate"] = rows[17]["gate"] = "FAIL"
    result.sections[0].table = rows
    write_report(result, tmp_path, plots=False, thresholds=parse_thresholds("jes=3"))
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    summary = page[page.index('<h2 id="physics_summary">') : page.index('<h2 id="verdicts">')]
    assert "2 of 40 rows fail:" in summary
    assert "<details><summary>All 40 rows (2 fail)</summary>" in summary
    assert summary.count('<td class="fail">FAIL</td>') == 2 + 2  # the failing rows twice

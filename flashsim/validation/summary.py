"""The few lines ``flashsim validate`` prints once the report is written.

Per collection its classifier AUC and largest Wasserstein ratio, the exact tells found, the
verdict against the thresholds and the first failing checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flashsim.validation.result import ValidationResult

__all__ = ["summary_lines"]

_SHOWN = 10
"""Most tells and failing checks listed; the rest are in metrics.json."""


def summary_lines(
    result: ValidationResult, gate: Mapping[str, Any], *, gated: bool, output: Path
) -> list[str]:
    """The summary of a validation, one message per element (a message may span lines).

    Arguments:
        result: what the validation measured.
        gate: the verdict :func:`~flashsim.validation.report.write_report` returned.
        gated: thresholds were given (``--fail-above``), not the default ones.
        output: the report directory.
    """
    lines = []
    for name, m in result.metrics["collections"].items():
        auc = m.get("auc", {})
        auc_text = f"AUC {auc['value']:.3f} ± {auc['error']:.3f}, " if "value" in auc else ""
        worst = max(m["targets"].items(), key=lambda kv: kv[1]["w1_ratio"])
        lines.append(f"{name}: {auc_text}largest W1 ratio {worst[1]['w1_ratio']:.2f} ({worst[0]})")
    tells = result.metrics.get("tells")
    if tells is not None:
        lines.append(
            f"exact tells: {tells['n_findings']} in {len(tells['branches_compared'])} branches"
            + "".join(
                f"\n  {t['branch']}: {t['kind']} ({t['note']})" for t in tells["findings"][:_SHOWN]
            )
        )
    failures = gate["failures"]
    verdict = "FAIL" if failures else "PASS"
    source = "gate" if gated else "default thresholds"
    limits = ", ".join(gate["thresholds"])
    lines.append(
        f"{verdict} ({source} {limits}): {len(failures)} failing checks; report in {output}"
    )
    lines += [
        f"  {f['metric']} {f['value']:.3g} > {f['threshold']:g} at {f['where']}"
        for f in failures[:_SHOWN]
    ]
    if len(failures) > _SHOWN:
        lines.append(f"  ... and {len(failures) - _SHOWN} more (metrics.json)")
    return lines

"""The text of ``flashsim info``: a model bundle's :class:`~flashsim.introspect.model.ModelInfo`
as indented lines (pipeline, versions, training data, and per stage its models and metrics)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flashsim.introspect.text import INDENT, compact, number, pairs, plural, wrap, wrap_text

if TYPE_CHECKING:
    from flashsim.introspect.model import ModelInfo, StageInfo

__all__ = ["format_model_info"]


def format_model_info(info: ModelInfo) -> str:
    """The text of ``flashsim info``."""
    lines = [
        f"model bundle: {info.path}",
        f"pipeline: {info.pipeline}",
        *wrap_text("description:", info.description),
        f"bundle format: {info.format}",
        f"sha256: {info.sha256}",
        *wrap(
            "versions at training:",
            [_version(k, v, info.installed.get(k)) for k, v in info.versions.items()],
        ),
        *_format_training(info.training),
        "stages:",
    ]
    for stage in info.stages:
        lines.extend(_format_stage(stage))
    return "\n".join(lines)


def _version(name: str, recorded: str, installed: str | None) -> str:
    if installed is None or installed == recorded:
        return f"{name} {recorded}"
    return f"{name} {recorded} (installed: {installed})"


def _format_training(training: Mapping[str, Any]) -> list[str]:
    """The training data (files, events, hashes) and the other recorded training facts."""
    if not training:
        return ["training: not recorded"]
    lines = ["training:"]
    files = training.get("files") or []
    lines.append(f"{INDENT}data: {plural(len(files), 'file', 'files')}")
    lines.extend(f"{INDENT * 2}{_describe_file(f)}" for f in files)
    for species, cal_files in (training.get("calibration") or {}).items():
        lines.extend(f"{INDENT * 2}calibration {species}: {_describe_file(f)}" for f in cal_files)
    facts = []
    if "events" in training:
        facts.append(f"{training['events']} events")
    if "validation_events" in training:
        facts.append(f"{training['validation_events']} of them for validation")
    for key in ("seed", "device"):
        if key in training:
            facts.append(f"{key} {training[key]}")
    if "seconds" in training:
        facts.append(f"{training['seconds']} s")
    if facts:
        lines.append(f"{INDENT}{', '.join(facts)}")
    known = {"files", "calibration", "events", "validation_events", "seed", "device", "seconds"}
    for key, value in training.items():
        if key not in known:
            lines.extend(wrap_text(f"{INDENT}{key}:", compact(value)))
    return lines


def _describe_file(entry: Any) -> str:
    """One training or calibration file: path, entries (or rows), SHA-256."""
    if not isinstance(entry, Mapping):
        return f"{entry} (no entries or sha256 recorded)"
    count = entry.get("entries", entry.get("rows"))
    unit = "entries" if "entries" in entry else "rows"
    digest = entry.get("sha256")
    parts = [f"{count} {unit}" if count is not None else "entries not recorded"]
    parts.append(f"sha256 {digest}" if digest else "sha256 not recorded")
    return f"{entry.get('path', '?')}: {', '.join(parts)}"


def _format_stage(stage: StageInfo) -> list[str]:
    """A stage: conditions, then the efficiency BDT and the response model, each with its
    hyperparameters and validation metrics."""
    pad, sub = INDENT * 2, INDENT * 3
    lines = wrap_text(f"{INDENT}{stage.name}:", stage.summary)
    lines += wrap(f"{pad}conditions ({len(stage.conditions)}):", stage.conditions)
    if stage.efficiency is not None:
        eff = stage.efficiency
        lines += wrap(f"{pad}{eff.role}: {eff.model}, {len(eff.outcomes)} outcomes:", eff.outcomes)
        lines += wrap(f"{sub}parameters:", pairs(eff.params))
        lines += _format_metrics(f"{sub}metrics:", eff.metrics)
    for flag in stage.flags:
        lines += wrap(f"{pad}{flag.role}: {flag.model}, outcomes:", flag.outcomes)
        lines += wrap(f"{sub}parameters:", pairs(flag.params) or ["xgboost defaults"])
        lines += _format_metrics(f"{sub}metrics:", flag.metrics)
    resp = stage.response
    inputs = plural(resp.n_context, "input", "inputs")
    if resp.extra_inputs:
        n_conditions = resp.n_context - len(resp.extra_inputs)
        inputs += f" ({n_conditions} conditions + {', '.join(resp.extra_inputs)})"
    targets = plural(resp.n_features, "target", "targets")
    lines.append(f"{pad}response: {resp.model}, {targets}, {inputs}")
    lines += wrap(f"{sub}architecture:", pairs(resp.config))
    if resp.training:
        lines += wrap(f"{sub}training:", pairs(resp.training))
    lines += wrap(f"{sub}targets ({len(resp.targets)}):", resp.targets)
    lines += _format_metrics(f"{sub}metrics:", resp.metrics)
    return lines


def _format_metrics(head: str, metrics: Mapping[str, Any]) -> list[str]:
    """``key=value`` items; the per-outcome observed/predicted fractions on a line of their own."""
    items = []
    fractions = []
    for key, value in metrics.items():
        if key.startswith("observed_fraction_"):
            k = key.removeprefix("observed_fraction_")
            predicted = metrics.get(f"predicted_fraction_{k}")
            fractions.append(f"{k}: {number(value)}/{number(predicted)}")
        elif not key.startswith("predicted_fraction_"):
            items.append(f"{key}={compact(value)}")
    if not metrics:
        return [f"{head} not recorded"]
    lines = wrap(head, items) if items else []
    if fractions:
        pad = " " * (len(head) - len(head.lstrip()))
        lines += wrap(f"{pad}outcome fractions (observed/predicted):", fractions)
    return lines

"""The manifest of a run in work items: ``flashsim-manifest.json`` in the output directory.

It records the run's settings and every item with its status (``pending``, ``done``,
``failed``), events and error; :func:`flashsim.run.batch.run_items` rewrites it atomically
(:func:`write_manifest`) as items finish, so that an interrupted run can be finished with
``resume=True``: :func:`merge_previous` keeps the complete items of a previous run made with the
same settings and model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flashsim.exceptions import ConfigurationError, InputError, OutputError
from flashsim.io import open_events

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "SETTINGS_COMPARED_ON_RESUME",
    "item_key",
    "merge_previous",
    "output_events",
    "read_manifest",
    "remove_outputs",
    "write_manifest",
]

MANIFEST_NAME = "flashsim-manifest.json"
"""The manifest's file name in the output directory."""

MANIFEST_FORMAT = 1
"""The manifest layout version this flashsim writes and reads."""

SETTINGS_COMPARED_ON_RESUME = (
    "seed",
    "oversample",
    "step_size",
    "item_size",
    "max_events",
    "inputs",
)
"""The settings a resumed run must share with the run it resumes (besides the model)."""


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest at ``path``.

    Raises:
        OutputError: it cannot be read, or is not a manifest of format :data:`MANIFEST_FORMAT`.
    """
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        msg = f"manifest {path} is unreadable ({err}); pass --overwrite to start the run again"
        raise OutputError(msg) from err
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        msg = (
            f"manifest {path} is not a flashsim manifest of format {MANIFEST_FORMAT}; pass "
            "--overwrite to start the run again"
        )
        raise OutputError(msg)
    return manifest


def write_manifest(path: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``manifest`` to ``path`` atomically (a temporary file renamed over it)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(manifest, indent=1))
        os.replace(tmp, path)
    except BaseException:  # e.g. SIGTERM (Terminated) mid-write: leave no temporary behind
        tmp.unlink(missing_ok=True)
        raise


def output_events(path: Path) -> int | None:
    """The number of events in an output file, or None if it cannot be read."""
    try:
        tree = open_events(path)
    except InputError:
        return None
    try:
        return int(tree.num_entries)
    finally:
        tree.file.close()


def item_key(entry: Mapping[str, Any]) -> tuple[str, int, int]:
    """What identifies an item of the manifest: ``(input, entry_start, entry_stop)``."""
    return entry["input"], entry["entry_start"], entry["entry_stop"]


def merge_previous(
    previous: dict[str, Any], settings: dict[str, Any], entries: list[dict[str, Any]], out: Path
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Reuse the complete items of ``previous``; returns (entries to keep, entries to run)."""
    before = previous.get("settings", {})
    changed = [
        f"{name} {before.get(name)!r} (this run: {settings[name]!r})"
        for name in SETTINGS_COMPARED_ON_RESUME
        if before.get(name) != settings[name]
    ]
    if (before.get("model") or {}).get("sha256") != settings["model"]["sha256"]:
        changed.append("another model")
    if changed:
        msg = (
            f"cannot resume {out}: it was made with {', '.join(changed)}; rerun with the same "
            "options to resume, or pass --overwrite to start again"
        )
        raise ConfigurationError(msg)
    old = {item_key(e): e for e in previous.get("items", [])}
    planned = {item_key(e) for e in entries}
    inputs = {e["input"] for e in entries}
    moved = sorted({k[0] for k in old if k[0] in inputs and k not in planned})
    if moved:
        msg = (
            f"cannot resume {out}: the number of events of {', '.join(moved)} changed since the "
            "manifest was written; pass --overwrite to start again"
        )
        raise ConfigurationError(msg)
    keep = [e for k, e in old.items() if k[0] not in inputs]
    to_run = []
    for entry in entries:
        done = old.get(item_key(entry))
        if (
            done is not None
            and done.get("status") == "done"
            and output_events(out / done["output"]) == done.get("events_out")
        ):
            keep.append(done)
        else:
            to_run.append(entry)
    return keep, to_run


def remove_outputs(out: Path, manifest: Mapping[str, Any]) -> None:
    """Delete the outputs a previous manifest lists (only plain names inside ``out``)."""
    for entry in manifest.get("items", []):
        name = str(entry.get("output", ""))
        if name and Path(name).name == name:
            (out / name).unlink(missing_ok=True)

"""The manifest of a run in work items: ``flashsim-manifest.json`` in the output directory.

It records the run's settings and every item with its status (``pending``, ``done``,
``failed``), events and error; :func:`flashsim.run.batch.run_items` rewrites it atomically
(:func:`write_manifest`) as items finish, so that an interrupted run can be finished with
``resume=True``: :func:`merge_previous` keeps the complete items of a previous run made with the
same settings and model.

A manifest is a file anyone can edit, so nothing in it is trusted: :func:`read_manifest` bounds
its size and nesting and checks its schema (:func:`check_manifest`: every key, type and range,
and every output a plain file name, the one flashsim plans for the item); an item counts as done
only if its output carries flashsim's provenance record with the seed, model, entry range, input
(and its SHA-256) and name of the item (:func:`output_problem`); and ``--overwrite`` deletes only
such outputs (:func:`remove_outputs`), never another file a manifest lists.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flashsim.atomic import write_atomically
from flashsim.exceptions import ConfigurationError, InputError, OutputError
from flashsim.io import open_events, read_provenance
from flashsim.run.items import output_name
from flashsim.untrusted import load_json

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "MAX_MANIFEST_BYTES",
    "SETTINGS_COMPARED_ON_RESUME",
    "check_manifest",
    "is_flashsim_output",
    "item_key",
    "item_problem",
    "load_manifest",
    "merge_previous",
    "output_problem",
    "read_manifest",
    "remove_outputs",
    "write_manifest",
]

MANIFEST_NAME = "flashsim-manifest.json"
"""The manifest's file name in the output directory."""

MANIFEST_FORMAT = 1
"""The manifest layout version this flashsim writes and reads."""

MAX_MANIFEST_BYTES = 256 << 20
"""The largest manifest read (256 MiB: about a million items)."""

SETTINGS_COMPARED_ON_RESUME = (
    "seed",
    "oversample",
    "step_size",
    "item_size",
    "max_events",
    "inputs",
)
"""The settings a resumed run must share with the run it resumes (besides the model)."""

_STATUSES = ("pending", "done", "failed")

# Item key -> (accepted types, description); bool is refused where an int is expected.
_ITEM_SCHEMA: dict[str, tuple[tuple[type, ...], str]] = {
    "input": ((str,), "a path"),
    "entry_start": ((int,), "an entry number"),
    "entry_stop": ((int,), "an entry number"),
    "output": ((str,), "a file name"),
    "seed": ((int,), "an integer seed"),
    "status": ((str,), f"one of {', '.join(_STATUSES)}"),
    "events_in": ((int, type(None)), "a count or null"),
    "events_out": ((int, type(None)), "a count or null"),
    "seconds": ((int, float, type(None)), "a number or null"),
    "error": ((str, type(None)), "a message or null"),
}
_OPTIONAL_ITEM_SCHEMA: dict[str, tuple[tuple[type, ...], str]] = {
    "model_sha256": ((str,), "a SHA-256"),
    "input_sha256": ((str, type(None)), "a SHA-256 or null"),
}


def _malformed(path: Path, problem: str) -> OutputError:
    msg = (
        f"manifest {path} is malformed: {problem}; pass --overwrite to start the run again "
        "(or restore the manifest flashsim wrote)"
    )
    return OutputError(msg)


def load_manifest(path: Path) -> dict[str, Any]:
    """The manifest at ``path`` as a JSON object of format :data:`MANIFEST_FORMAT`, read within
    bounds (a regular file, at most :data:`MAX_MANIFEST_BYTES`, nesting bounded); its items are
    not checked (see :func:`check_manifest`).

    Raises:
        OutputError: it is not a regular file, is too large, or is not such a JSON object.
    """
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode):
            msg = f"manifest {path} is not a regular file; remove it or choose another directory"
            raise OutputError(msg)
        if info.st_size > MAX_MANIFEST_BYTES:
            raise _malformed(path, f"{info.st_size} bytes, more than {MAX_MANIFEST_BYTES}")
        with open(path, "rb") as stream:
            data = stream.read(MAX_MANIFEST_BYTES + 1)
    except OSError as err:
        reason = err.strerror or err
        msg = f"manifest {path} is unreadable ({reason}); pass --overwrite to start again"
        raise OutputError(msg) from err
    try:
        manifest = load_json(data, f"manifest {path}", OutputError, max_bytes=MAX_MANIFEST_BYTES)
    except OutputError as err:
        msg = f"{err}; pass --overwrite to start the run again"
        raise OutputError(msg) from err
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        msg = (
            f"manifest {path} is not a flashsim manifest of format {MANIFEST_FORMAT}; pass "
            "--overwrite to start the run again"
        )
        raise OutputError(msg)
    return manifest


def item_problem(item: Any) -> str | None:
    """What is wrong with one item of a manifest (``None``: nothing)."""
    if not isinstance(item, dict):
        return f"is {type(item).__name__}, not an object"
    for key, (types, what) in {**_ITEM_SCHEMA, **_OPTIONAL_ITEM_SCHEMA}.items():
        if key not in item:
            if key in _ITEM_SCHEMA:
                return f"has no {key!r}"
            continue
        value = item[key]
        if isinstance(value, bool) or not isinstance(value, types):
            return f"{key} is {json.dumps(value)[:60]}, not {what}"
    if item["status"] not in _STATUSES:
        return f"status is {item['status']!r}, not one of {', '.join(_STATUSES)}"
    start, stop = item["entry_start"], item["entry_stop"]
    if not 0 <= start <= stop or not 0 <= item["seed"] < 2**64:
        return f"the entry range [{start}, {stop}) or the seed {item['seed']} is invalid"
    for key in ("events_in", "events_out", "seconds"):
        if item[key] is not None and item[key] < 0:
            return f"{key} is negative"
    if not item["input"] or "\0" in item["input"]:
        return "input is not a path"
    planned = output_name(item["input"], start, stop)
    if item["output"] != planned:
        return (
            f"output {json.dumps(item['output'])[:80]} is not the file name flashsim plans for "
            f"this item ({planned!r})"
        )
    return None


def check_manifest(manifest: Mapping[str, Any], path: Path) -> None:
    """Check the schema of a manifest read by :func:`load_manifest`.

    Raises:
        OutputError: a key is missing or has the wrong type or range, or an item's output is not
            the plain file name flashsim plans for it (e.g. ``../elsewhere/x.root``).
    """
    settings = manifest.get("settings")
    if not isinstance(settings, dict):
        raise _malformed(path, "'settings' is missing or not an object")
    model = settings.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("sha256"), str):
        raise _malformed(path, "'settings.model.sha256' is missing or not a string")
    items = manifest.get("items")
    if not isinstance(items, list):
        raise _malformed(path, "'items' is missing or not a list")
    seen: set[tuple[str, int, int]] = set()
    for index, item in enumerate(items):
        problem = item_problem(item)
        if problem is not None:
            raise _malformed(path, f"items[{index}] {problem}")
        if item_key(item) in seen:
            raise _malformed(path, f"items[{index}] repeats the item of {item['output']}")
        seen.add(item_key(item))


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest at ``path``, read within bounds and schema-checked.

    Raises:
        OutputError: it cannot be read, is not a manifest of format :data:`MANIFEST_FORMAT`, or
            is malformed (:func:`check_manifest`).
    """
    manifest = load_manifest(path)
    check_manifest(manifest, path)
    return manifest


def write_manifest(path: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``manifest`` to ``path`` atomically (:func:`flashsim.atomic.write_atomically`: an
    exclusively created temporary file renamed over it; only a regular file is replaced)."""
    write_atomically(path, json.dumps(manifest, indent=1).encode())


def item_key(entry: Mapping[str, Any]) -> tuple[str, int, int]:
    """What identifies an item of the manifest: ``(input, entry_start, entry_stop)``."""
    return entry["input"], entry["entry_start"], entry["entry_stop"]


def _is_regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def is_flashsim_output(path: Path) -> bool:
    """Whether ``path`` is a regular file (not a link) with a flashsim provenance record."""
    if not _is_regular_file(path):
        return False
    try:
        read_provenance(path)
    except InputError:
        return False
    return True


def _events(path: Path) -> int | None:
    """The number of events in an output file, or None if it cannot be read."""
    try:
        tree = open_events(path)
    except InputError:
        return None
    try:
        return int(tree.num_entries)
    finally:
        tree.file.close()


def output_problem(
    out: Path, done: Mapping[str, Any], planned: Mapping[str, Any], settings: Mapping[str, Any]
) -> str | None:
    """Why the output of a manifest item marked done is not the output of the ``planned`` item
    (``None``: it is, and need not be simulated again).

    The output must be a regular file holding the events the manifest records, and its
    provenance must name the run's seed and model, the item's file seed, entry range and input
    (with the input's SHA-256 when both are known) and the planned file name.
    """
    path = out / planned["output"]
    if done["output"] != planned["output"] or not _is_regular_file(path):
        return "missing"
    try:
        record = read_provenance(path)
    except InputError:
        return "no flashsim provenance"
    model = record.get("model")
    expected = {
        "seed": settings["seed"],
        "file_seed": planned["seed"],
        "entry_start": planned["entry_start"],
        "entry_stop": planned["entry_stop"],
        "input": planned["input"],
        "output": planned["output"],
    }
    wrong = [key for key, value in expected.items() if record.get(key) != value]
    if not isinstance(model, dict) or model.get("sha256") != settings["model"]["sha256"]:
        wrong.append("model")
    known = (record.get("input_sha256"), planned.get("input_sha256"))
    if None not in known and known[0] != known[1]:
        wrong.append("input_sha256")
    if wrong:
        return f"made with another {', '.join(wrong)}"
    if _events(path) != done.get("events_out"):
        return "holds another number of events"
    return None


def merge_previous(
    previous: dict[str, Any], settings: dict[str, Any], entries: list[dict[str, Any]], out: Path
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Reuse the complete items of ``previous``; returns (entries to keep, entries to run).

    ``previous`` must have passed :func:`check_manifest`. An item is kept only if its output
    passes :func:`output_problem`; the others run again.
    """
    before = previous["settings"]
    changed = [
        f"{name} {before.get(name)!r} (this run: {settings[name]!r})"
        for name in SETTINGS_COMPARED_ON_RESUME
        if before.get(name) != settings[name]
    ]
    if before["model"]["sha256"] != settings["model"]["sha256"]:
        changed.append("another model")
    if changed:
        msg = (
            f"cannot resume {out}: it was made with {', '.join(changed)}; rerun with the same "
            "options to resume, or pass --overwrite to start again"
        )
        raise ConfigurationError(msg)
    old = {item_key(e): e for e in previous["items"]}
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
            and done["status"] == "done"
            and output_problem(out, done, entry, settings) is None
        ):
            keep.append({**done, "input_sha256": entry.get("input_sha256")})
        else:
            to_run.append(entry)
    return keep, to_run


def remove_outputs(out: Path, manifest: Mapping[str, Any]) -> list[Path]:
    """Delete the outputs a previous manifest lists that flashsim made (``--overwrite``).

    Only an item that passes the schema check, whose output has the name flashsim plans for it
    and is a regular file carrying flashsim provenance, is deleted: never another file a
    manifest lists (``notes.txt``, ``../elsewhere/x.root``).

    Returns:
        the files deleted.
    """
    removed = []
    items = manifest.get("items")
    for item in items if isinstance(items, list) else []:
        if item_problem(item) is not None:
            continue
        path = out / item["output"]
        if is_flashsim_output(path):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed

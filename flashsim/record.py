"""The JSON record of a model bundle: its seal, and its schema checked before anything is built.

A bundle's record (``flashsim-model.json``) says what to build and which weight files to read, so
it is checked as a whole before any weight is read:

- **bounded**: at most :data:`MAX_RECORD_BYTES`, nested at most
  :data:`~flashsim.untrusted.MAX_DEPTH` deep (:func:`flashsim.untrusted.load_json`);
- **sealed**: the key ``record_sha256`` holds the SHA-256 of the record's *canonical* JSON
  without that key (:func:`canonical_json`: keys sorted, no spaces, ASCII), so an edited or
  damaged record is refused, and a record without the key is refused too: deleting the seal (or
  the ``checksums``) does not turn verification off. :func:`add_seal` adds it (training,
  ``scripts/upgrade_bundle.py``);
- **schema-checked** (:func:`check_record`): the spec parses; every stage record has the keys
  and types its loader needs; class counts are >= 2 and those the spec implies; bounds and
  preprocessing parameters are finite, with ``low <= high``; every model's size is within
  :mod:`flashsim.models.limits`; weight files are plain names (:mod:`flashsim.bundle_files`)
  named once each. The result lists each weight file with the key that names it.

Every failure is a :class:`~flashsim.exceptions.ModelError` naming the record file and the key
path (``collections.Jet.response.bounds``).

The seal detects damage and edits; it is not a signature (whoever edits a record can reseal it).
What makes a bundle from elsewhere safe to load is that it is data: no pickled code (weights are
read with ``weights_only``), every size bounded, every file confined to the bundle directory.

Example:
    >>> record = add_seal({"format": 1, "checksums": {}})
    >>> check_seal(record, "flashsim-model.json")
    >>> record["format"] = 2
    >>> check_seal(record, "flashsim-model.json")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    flashsim.exceptions.ModelError: flashsim-model.json: the record changed since it was written ...
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from flashsim.bundle_files import check_name
from flashsim.exceptions import ModelError, SpecError
from flashsim.models.registry import check_model_record
from flashsim.preprocessing import TablePreprocessor
from flashsim.response_record import MIXED_KIND
from flashsim.spec import PipelineSpec, parse_spec
from flashsim.stages.response import check_bounds

__all__ = [
    "MAX_CLASSES",
    "MAX_RECORD_BYTES",
    "RECORD_SEAL",
    "add_seal",
    "canonical_json",
    "check_record",
    "check_seal",
]

RECORD_SEAL = "record_sha256"
"""The record's key holding the SHA-256 of the rest of the record (:func:`canonical_json`)."""
MAX_RECORD_BYTES = 16 << 20
"""The largest record read (16 MiB; the default model's is 56 kB)."""
MAX_CLASSES = 1024
"""The most outcomes of a classifier (ID classes, fake multiplicities)."""


def canonical_json(record: Mapping[str, Any]) -> bytes:
    """The record without :data:`RECORD_SEAL` as canonical JSON (sorted keys, no spaces, ASCII):
    the same bytes for the same parsed record, however it was indented."""
    rest = {k: v for k, v in record.items() if k != RECORD_SEAL}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return text.encode("ascii")


def add_seal(record: dict[str, Any]) -> dict[str, Any]:
    """Add (or replace) the record's seal, computed on the record as JSON will read it back.

    Returns:
        ``record``, changed in place.
    """
    parsed = json.loads(json.dumps({k: v for k, v in record.items() if k != RECORD_SEAL}))
    record[RECORD_SEAL] = hashlib.sha256(canonical_json(parsed)).hexdigest()
    return record


def check_seal(record: Mapping[str, Any], origin: str) -> None:
    """Raise ModelError unless ``record`` carries its seal and the seal matches."""
    seal = record.get(RECORD_SEAL)
    if seal is None:
        msg = (
            f"{origin}: {RECORD_SEAL}: missing, so the record cannot be verified (a bundle "
            "from before records were sealed, or the key was deleted): retrain it, or if you "
            "trust it seal it with `python scripts/upgrade_bundle.py --seal BUNDLE`"
        )
        raise ModelError(msg)
    if seal != hashlib.sha256(canonical_json(record)).hexdigest():
        msg = (
            f"{origin}: the record changed since it was written (its SHA-256 differs from "
            f"{RECORD_SEAL}): it is corrupted or was edited; restore or retrain the bundle"
        )
        raise ModelError(msg)


class _Walker:
    """Checks a record's stage records and collects the weight files they name."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.files: dict[str, str] = {}

    def fail(self, key: str, what: str) -> ModelError:
        return ModelError(f"{self.origin}: {key}: {what}")

    def mapping(self, value: Any, key: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, f"expected a mapping, got {type(value).__name__}")
        return value

    def file(self, record: Mapping[str, Any], key: str) -> None:
        name = check_name(record.get("file"), f"{key}.file", self.origin)
        if name in self.files:
            raise self.fail(f"{key}.file", f"{name!r} is already named by {self.files[name]}")
        self.files[name] = f"{key}.file"

    def classifier(self, value: Any, key: str, n_classes: int | None = None) -> None:
        record = self.mapping(value, key)
        if record.get("kind") != "efficiency":
            raise self.fail(f"{key}.kind", f"expected 'efficiency', got {record.get('kind')!r}")
        count = record.get("n_classes")
        if isinstance(count, bool) or not isinstance(count, int) or not 2 <= count <= MAX_CLASSES:
            raise self.fail(f"{key}.n_classes", f"expected an integer in [2, {MAX_CLASSES}]")
        if n_classes is not None and count != n_classes:
            raise self.fail(f"{key}.n_classes", f"{count}, but the spec implies {n_classes}")
        self.file(record, key)

    def preprocessor(self, value: Any, key: str) -> int:
        try:
            return len(TablePreprocessor.from_dict(self.mapping(value, key)).names)
        except (SpecError, ValueError, TypeError, KeyError) as err:
            raise self.fail(key, str(err)) from err

    def response(self, value: Any, key: str, mixed: bool = True) -> None:
        record = self.mapping(value, key)
        if mixed and record.get("kind") == MIXED_KIND:
            self.mixed(record, key)
            return
        check_model_record(record.get("model"), f"{self.origin}: {key}.model")
        n_features = record["model"]["n_features"]
        if self.preprocessor(record.get("targets"), f"{key}.targets") != n_features:
            raise self.fail(f"{key}.targets", f"expected {n_features} columns (n_features)")
        try:
            check_bounds(record.get("bounds"), n_features, f"{self.origin}: {key}.bounds")
        except ModelError as err:
            raise ModelError(str(err)) from None
        self.file(record, key)

    def mixed(self, record: Mapping[str, Any], key: str) -> None:
        parts, steps = record.get("parts"), record.get("classifiers")
        if not isinstance(parts, list) or not isinstance(steps, list) or len(parts) != len(steps):
            raise self.fail(key, "expected lists 'parts' and 'classifiers' of the same length")
        n_targets = record.get("n_targets")
        if isinstance(n_targets, bool) or not isinstance(n_targets, int) or n_targets < 1:
            raise self.fail(f"{key}.n_targets", f"expected an integer >= 1, got {n_targets!r}")
        for i, (part, part_steps) in enumerate(zip(parts, steps, strict=True)):
            self.part(part, f"{key}.parts[{i}]", n_targets)
            where = f"{key}.classifiers[{i}]"
            codes = len(part["values"]) + (0 if part["categories"] else 1)
            if not isinstance(part_steps, list) or len(part_steps) != codes - 1:
                raise self.fail(where, f"expected a list of {codes - 1} classifiers")
            for j, step in enumerate(part_steps):
                if isinstance(step, Mapping) and step.get("kind") == "constant":
                    if step.get("outcome") not in (0, 1) or isinstance(step.get("outcome"), bool):
                        raise self.fail(f"{where}[{j}].outcome", "expected 0 or 1")
                    continue
                self.classifier(step, f"{where}[{j}]", 2)
        self.response(record.get("response"), f"{key}.response", mixed=False)

    def part(self, value: Any, key: str, n_targets: int) -> None:
        part = self.mapping(value, key)
        column, values = part.get("column"), part.get("values")
        if isinstance(column, bool) or not isinstance(column, int) or not 0 <= column < n_targets:
            raise self.fail(f"{key}.column", f"expected an integer in [0, {n_targets})")
        if (
            not isinstance(values, list)
            or not 0 < len(values) < MAX_CLASSES
            or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
        ):
            raise self.fail(f"{key}.values", "expected a non-empty list of finite numbers")
        if not isinstance(part.get("categories"), bool) or not isinstance(part.get("name"), str):
            raise self.fail(key, "expected a boolean 'categories' and a string 'name'")

    def check(self, record: Mapping[str, Any], spec: PipelineSpec) -> None:
        collections = self.mapping(record.get("collections"), "collections")
        for name, coll in spec.collections.items():
            key = f"collections.{name}"
            entry = self.mapping(collections.get(name), key)
            self.preprocessor(entry.get("conditions"), f"{key}.conditions")
            self.classifier(entry.get("efficiency"), f"{key}.efficiency", coll.efficiency.n_classes)
            self.response(entry.get("response"), f"{key}.response")
            if "fakes" in entry:
                fakes = self.mapping(entry["fakes"], f"{key}.fakes")
                expected = None if coll.fakes is None else coll.fakes.max_count + 1
                self.preprocessor(fakes.get("conditions"), f"{key}.fakes.conditions")
                self.classifier(fakes.get("multiplicity"), f"{key}.fakes.multiplicity", expected)
                self.response(fakes.get("response"), f"{key}.fakes.response")
            if coll.children is not None:
                children = self.mapping(entry.get("children"), f"{key}.children")
                self.preprocessor(children.get("context"), f"{key}.children.context")
                self.response(children.get("response"), f"{key}.children.response")
            if coll.sources:
                sources = self.mapping(entry.get("sources"), f"{key}.sources")
                for source in coll.sources:
                    at = f"{key}.sources.{source.label}"
                    saved = self.mapping(sources.get(source.label), at)
                    self.preprocessor(saved.get("conditions"), f"{at}.conditions")
                    n_classes = source.efficiency.n_classes
                    self.classifier(saved.get("efficiency"), f"{at}.efficiency", n_classes)
                    self.response(saved.get("response"), f"{at}.response")
        if spec.event is not None:
            event = self.mapping(record.get("event"), "event")
            self.preprocessor(event.get("conditions"), "event.conditions")
            self.response(event.get("response"), "event.response")
        if spec.pid is not None:
            pid = self.mapping(record.get("pid"), "pid")
            for sp in spec.pid.species:
                key = f"pid.{sp.name}"
                entry = self.mapping(pid.get(sp.name), key)
                self.preprocessor(entry.get("conditions"), f"{key}.conditions")
                if entry.get("is_muon") is not None:
                    self.classifier(entry["is_muon"], f"{key}.is_muon", 2)
                for group in ("point_masses", "splits"):
                    stages = self.mapping(entry.get(group, {}), f"{key}.{group}")
                    for target, stage in stages.items():
                        self.classifier(stage, f"{key}.{group}.{target}", 2)
                self.response(entry.get("response"), f"{key}.response", mixed=False)


def check_record(
    record: Any, origin: str, parse: Callable[..., PipelineSpec] = parse_spec
) -> tuple[PipelineSpec, dict[str, str]]:
    """Check a (sealed) record's schema before anything is built or read.

    Arguments:
        record: the parsed record.
        origin: how messages name it (``model bundle <path>: flashsim-model.json``).
        parse: the spec parser.

    Returns:
        the spec, and each weight file's name with the key that names it.

    Raises:
        ModelError: naming ``origin`` and the key.
    """
    walker = _Walker(origin)
    record = walker.mapping(record, "the record")
    if record.get("checksums") is None:
        raise walker.fail(
            "checksums",
            "missing, so the weight files cannot be verified (verification cannot be turned "
            "off): restore the bundle, or retrain it",
        )
    checksums = walker.mapping(record.get("checksums"), "checksums")
    for name, digest in checksums.items():
        if not isinstance(digest, str) or len(digest) != 64:
            raise walker.fail(f"checksums.{name}", "expected a SHA-256 (64 hexadecimal digits)")
    try:
        spec = parse(walker.mapping(record.get("spec"), "spec"), origin=f"{origin} (spec)")
    except SpecError as err:
        raise ModelError(str(err)) from err
    walker.check(record, spec)
    return spec, walker.files

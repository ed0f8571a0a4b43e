"""A whole pipeline spec: its format version, its typed object, and reading it from YAML.

:func:`load_spec` reads a file and :func:`parse_spec` already-parsed data into a
:class:`PipelineSpec`; every problem is one :class:`~flashsim.exceptions.SpecError` naming the
file and the key path, e.g. ``cms_like.yaml: collections.Jet.targets[3].kind: ...``.
"""

from __future__ import annotations

import copy
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flashsim.domain import NON_FINITE_POLICIES, OUT_OF_DOMAIN_POLICIES, InputPolicy
from flashsim.exceptions import SpecError
from flashsim.spec.data import MAX_SPEC_CHARS, check_spec_data
from flashsim.spec.pid import PidSpec, read_pid
from flashsim.spec.reader import SpecReader
from flashsim.spec.sections import read_collection, read_event
from flashsim.spec.types import CollectionSpec, EventSpec, WeightSpec
from flashsim.untrusted import MAX_YAML_BYTES, load_yaml

__all__ = ["MAX_SEED", "SPEC_VERSION", "PipelineSpec", "load_spec", "parse_spec", "read_spec_text"]

SPEC_VERSION = 1
"""The spec format version this flashsim reads."""

MAX_SEED = 2**32 - 1
"""The largest training seed (``seed:``): xgboost, torch and numpy all take 0 ... 2**32 - 1."""

MAX_NAME_CHARS = 200
"""The longest pipeline ``name``."""


@dataclass(frozen=True)
class PipelineSpec:
    """A validated pipeline; ``raw`` is the YAML content, kept to be saved with trained models."""

    version: int
    name: str
    description: str
    seed: int
    validation_fraction: float
    passthrough: tuple[str, ...]
    collections: Mapping[str, CollectionSpec]
    event: EventSpec | None
    raw: Mapping[str, Any]
    origin: str = "<spec>"
    pid: PidSpec | None = None
    weight: WeightSpec | None = None
    inputs: InputPolicy | None = None

    @property
    def input_policy(self) -> InputPolicy:
        """The ``inputs:`` policies (:class:`flashsim.domain.InputPolicy`; defaults if absent)."""
        return self.inputs if self.inputs is not None else InputPolicy()


def load_spec(path: str | os.PathLike[str]) -> PipelineSpec:
    """Read and validate a pipeline YAML file.

    The file is checked before it is read (a regular file of at most
    :data:`~flashsim.untrusted.MAX_YAML_BYTES`, so a directory, a FIFO or a huge file is
    refused without reading it) and parsed by :func:`flashsim.untrusted.load_yaml`: anchors
    and aliases are allowed, but the document they expand to is bounded, duplicate keys and
    deep nesting are refused.

    Raises:
        SpecError: the file is missing, not a regular file, too large, not UTF-8, not valid
            YAML, or does not follow the spec format; the message names the file and the
            offending key.
    """
    p = Path(path)
    return parse_spec(load_yaml(read_spec_text(p), str(p), SpecError), origin=str(p))


def read_spec_text(path: Path) -> str:
    """The text of the spec file ``path``, read only once its size and kind are known.

    Raises:
        SpecError: missing or unreadable, not a regular file, longer than
            :data:`~flashsim.untrusted.MAX_YAML_BYTES` or not UTF-8 text.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as stream:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                msg = f"pipeline spec {path} is not a regular file; give a YAML file"
                raise SpecError(msg)
            if info.st_size > MAX_YAML_BYTES:
                msg = (
                    f"pipeline spec {path} has {info.st_size} bytes, more than the "
                    f"{MAX_YAML_BYTES} a spec may have"
                )
                raise SpecError(msg)
            data = stream.read(MAX_YAML_BYTES + 1)
    except OSError as err:
        msg = f"cannot read pipeline spec {path}: {err.strerror or err}"
        raise SpecError(msg) from err
    if len(data) > MAX_YAML_BYTES:  # grew while being read
        msg = f"pipeline spec {path} has more than the {MAX_YAML_BYTES} bytes a spec may have"
        raise SpecError(msg)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        msg = f"pipeline spec {path} is not UTF-8 text (byte {err.start}); give a YAML file"
        raise SpecError(msg) from None


def parse_spec(data: Any, origin: str = "<spec>") -> PipelineSpec:
    """Validate an already-parsed spec (a mapping as read from YAML); see :func:`load_spec`.

    The whole document is first checked to be plain, bounded data
    (:func:`~flashsim.spec.data.check_spec_data`), then every section is read.
    """
    if data is None:
        msg = f"{origin}: the spec is empty; it is a mapping with version, name and collections"
        raise SpecError(msg)
    check_spec_data(data, origin)
    return _pipeline(SpecReader(origin), data)


def _pipeline(r: SpecReader, data: Any) -> PipelineSpec:
    """The top level of a spec: version, name, settings and every section."""
    d = r.mapping(
        data,
        "top level",
        ["version", "name", "collections"],
        [
            "description",
            "seed",
            "validation_fraction",
            "passthrough",
            "defaults",
            "event",
            "pid",
            "weight",
            "inputs",
        ],
    )
    version = r.typed(d["version"], "version", int, "an integer")
    if version != SPEC_VERSION:
        raise r.fail(
            "version",
            f"spec version {version} is not supported by this flashsim "
            f"(it reads version {SPEC_VERSION}); update flashsim or the spec",
        )
    fraction = r.typed(
        d.get("validation_fraction", 0.2), "validation_fraction", (int, float), "a number"
    )
    if not 0.0 < fraction < 1.0:
        raise r.fail("validation_fraction", f"must lie in (0, 1), got {fraction}")
    passthrough = d.get("passthrough", [])
    if not isinstance(passthrough, list) or not all(isinstance(p, str) for p in passthrough):
        raise r.fail("passthrough", "expected a list of branch names or glob patterns")
    colls = d["collections"]
    if not isinstance(colls, Mapping) or not colls:
        raise r.fail("collections", "expected a non-empty mapping of collection specs")
    _defaults(r, d.get("defaults"), "defaults")
    seed = r.non_negative(d.get("seed", 0), "seed")
    if seed > MAX_SEED:
        raise r.fail("seed", f"must be at most {MAX_SEED} (2**32 - 1), got {seed}")
    collections = {
        name: read_collection(r, spec, f"collections.{name}", name) for name, spec in colls.items()
    }
    _check_links(r, collections)
    return PipelineSpec(
        version=version,
        name=_text(r, d["name"], "name", MAX_NAME_CHARS),
        description=_text(
            r,
            "" if d.get("description") is None else d["description"],
            "description",
            MAX_SPEC_CHARS,
            empty=True,
        ),
        seed=seed,
        validation_fraction=float(fraction),
        passthrough=tuple(passthrough),
        collections=collections,
        event=read_event(r, d["event"], "event") if d.get("event") is not None else None,
        raw=copy.deepcopy(dict(d)),
        origin=r.origin,
        pid=read_pid(r, d["pid"], "pid", colls) if d.get("pid") is not None else None,
        weight=r.weight(d["weight"], "weight") if d.get("weight") is not None else None,
        inputs=_inputs(r, d["inputs"], "inputs") if d.get("inputs") is not None else None,
    )


def _check_links(r: SpecReader, collections: Mapping[str, CollectionSpec]) -> None:
    """A source linked ``via`` another collection needs that collection simulated before it
    (an earlier section), matched to the same generated collection by the ``via`` field; a
    ``links`` entry needs its collection simulated before too."""
    order = list(collections)
    for name, coll in collections.items():
        for i, link in enumerate(coll.links):
            earlier = link.collection in collections and order.index(link.collection) < order.index(
                name
            )
            if not earlier:
                raise r.fail(
                    f"collections.{name}.links[{i}].collection",
                    f"{link.collection!r} must be a collection section before {name!r}",
                )
        for source in coll.sources:
            via = source.via
            if via is None:
                continue
            where = f"collections.{name}.sources.{source.label}.match.via"
            if via.collection not in collections or order.index(via.collection) >= order.index(
                name
            ):
                raise r.fail(
                    f"{where}.collection",
                    f"{via.collection!r} must be a collection section before {name!r}",
                )
            linked = collections[via.collection]
            if (via.field, linked.source.collection) != (linked.match, source.source.collection):
                raise r.fail(
                    f"{where}.field",
                    f"{via.collection}_{via.field} must be the match of section "
                    f"{via.collection!r} into {source.source.collection} (it is "
                    f"{via.collection}_{linked.match} into {linked.source.collection})",
                )


def _inputs(r: SpecReader, value: Any, where: str) -> InputPolicy:
    """``inputs``: the policies for non-finite and out-of-domain inputs, and the per-event
    object caps (``max_objects``: ``{GenJet: 2000}``, or one number for every collection)."""
    d = r.mapping(value, where, [], ["non_finite", "out_of_domain", "max_objects"])
    for key, choices in (
        ("non_finite", NON_FINITE_POLICIES),
        ("out_of_domain", OUT_OF_DOMAIN_POLICIES),
    ):
        if key in d and d[key] not in choices:
            raise r.fail(f"{where}.{key}", f"{d[key]!r}: use one of {', '.join(choices)}")
    caps = d.get("max_objects")
    if caps is not None and not isinstance(caps, (int, Mapping)):
        raise r.fail(f"{where}.max_objects", "expected a mapping collection: count, or a count")
    try:
        return InputPolicy(**d)
    except SpecError as err:
        raise r.fail(f"{where}.max_objects", str(err)) from None


def _defaults(r: SpecReader, value: Any, where: str) -> None:
    """``defaults``: where shared settings are anchored (``&flow``) for the sections to alias.

    Never read by flashsim itself, but saved with the spec into every bundle: a mapping with
    string keys (or absent), whose values are any plain data, bounded with the whole spec
    (:func:`~flashsim.spec.data.check_spec_data`)."""
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise r.fail(where, f"expected a mapping name: settings, got {type(value).__name__}")


def _text(r: SpecReader, value: Any, where: str, longest: int, *, empty: bool = False) -> str:
    """A string of at most ``longest`` characters (not empty unless ``empty``)."""
    text = r.typed(value, where, str, "a string")
    if not (text or empty):
        raise r.fail(where, "must not be empty")
    if len(text) > longest:
        raise r.fail(where, f"{len(text)} characters, more than the {longest} allowed")
    return text

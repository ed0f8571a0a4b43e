"""Model bundles: a trained pipeline saved as weights plus one JSON record, and loaded back.

A bundle is a directory::

    flashsim-model.json      format, versions, the spec, preprocessing, stage records, training,
                             checksums (SHA-256 of every weight file), record_sha256 (its seal)
    spec.yaml                the pipeline spec it was trained from (for reading; the JSON is used)
    Jet.efficiency.json.gz   xgboost model (JSON, gzipped)
    Jet.response.pt          torch state_dict of the response model
    ...

Nothing is pickled: weights are ``state_dict`` tensors (read with ``weights_only``) and xgboost
JSON, and every hyperparameter is in the record, so a bundle can be inspected, diffed and loaded
safely. Bundles are shared, so loading one treats it as untrusted data, in this order:

1. the record is read bounded (:data:`flashsim.record.MAX_RECORD_BYTES`, nesting depth), its seal
   ``record_sha256`` checked (a record without one is refused), its schema checked
   (:func:`flashsim.record.check_record`: types, ranges, class counts, finite bounds, model sizes
   within :mod:`flashsim.models.limits`);
2. every weight file it names is checked to be a plain name of a regular file inside the
   directory, not a link, of bounded size, with a checksum in ``checksums``
   (:class:`flashsim.bundle_files.WeightFiles`) -- nothing is read before all of this passes;
3. each weight file is read once, its SHA-256 checked from the bytes in memory, and the models
   are built from those bytes; the model hash of the outputs' provenance (:func:`loaded_hash`)
   is of the bytes actually loaded.

A failure is a :class:`~flashsim.exceptions.ModelError` naming the file and the record's key.
:func:`save_bundle` writes a bundle to a temporary directory beside the destination and renames
it into place, so an interrupted training leaves nothing that looks like a bundle.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import weakref
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from flashsim import __version__
from flashsim.atomic import remove_stale_temporaries, temporary_name, write_atomically
from flashsim.bundle_files import WeightFiles
from flashsim.exceptions import ModelError, OutputError
from flashsim.pipeline import ChildrenModel, CollectionModel, EventModel, Pipeline
from flashsim.preprocessing import TablePreprocessor
from flashsim.provenance import file_digest, software_versions
from flashsim.record import MAX_RECORD_BYTES, add_seal, check_record, check_seal
from flashsim.spec import PipelineSpec, point_mass_flag, split_flag
from flashsim.stages import EfficiencyStage, FakesStage, ResponseStage
from flashsim.stages.mixed import load_response
from flashsim.stages.pid import PidModel, SpeciesModel, point_mass_targets, split_targets
from flashsim.untrusted import load_json

__all__ = [
    "BUNDLE_FORMAT",
    "RECORD_NAME",
    "bundle_hash",
    "check_bundle_destination",
    "default_model_path",
    "file_checksums",
    "load_bundle",
    "loaded_hash",
    "read_record",
    "save_bundle",
    "seal_record",
    "weight_files",
]

BUNDLE_FORMAT = 1
"""The bundle layout version this flashsim writes and reads."""

RECORD_NAME = "flashsim-model.json"
_CHECKPOINTS = "checkpoints"
_HASHES: dict[int, str] = {}


def default_model_path() -> Path:
    """The model bundle shipped inside the package (trained on refsim ``ttbar``)."""
    return Path(str(resources.files("flashsim") / "default_model"))


def check_bundle_destination(directory: Path) -> None:
    """Raise :class:`OutputError` unless ``directory`` may receive a bundle: it does not exist,
    or it is a directory (not a link) holding a bundle (its record), or nothing but an
    interrupted training's ``checkpoints``. Any other directory is never replaced."""
    try:
        info = os.lstat(directory)
    except FileNotFoundError:
        return
    except OSError as err:
        msg = f"cannot check the bundle directory {directory}: {err.strerror or err}"
        raise OutputError(msg) from err
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a directory"
        msg = f"output {directory} exists and is {what}; choose another bundle directory"
        raise OutputError(msg)
    entries = set(os.listdir(directory))
    record = directory / RECORD_NAME
    if RECORD_NAME in entries and not record.is_symlink() and record.is_file():
        return
    if entries <= {_CHECKPOINTS}:
        return
    msg = (
        f"output {directory} exists and is not a flashsim model bundle (it has no {RECORD_NAME}); "
        "flashsim replaces only a bundle: choose another directory, or an empty one"
    )
    raise OutputError(msg)


def _write_stages(pipeline: Pipeline, directory: Path, training: dict[str, Any]) -> dict[str, Any]:
    """Write every stage's weights to ``directory``; return the record (unsealed)."""
    collections: dict[str, Any] = {}
    for name, model in pipeline.collections.items():
        entry: dict[str, Any] = {
            "conditions": model.conditions.to_dict(),
            "efficiency": model.efficiency.save(directory / f"{name}.efficiency.json.gz"),
            "response": model.response.save(directory / f"{name}.response.pt"),
        }
        if model.fakes is not None and model.fake_conditions is not None:
            entry["fakes"] = {
                "conditions": model.fake_conditions.to_dict(),
                "multiplicity": model.fakes.multiplicity.save(
                    directory / f"{name}.fakes.multiplicity.json.gz"
                ),
                "response": model.fakes.response.save(directory / f"{name}.fakes.response.pt"),
            }
            if model.fakes.tail is not None:
                entry["fakes"]["tail"] = model.fakes.tail.tolist()
        if model.children is not None:
            entry["children"] = {
                "context": model.children.context.to_dict(),
                "response": model.children.response.save(
                    directory / f"{name}.children.response.pt"
                ),
            }
        if model.sources:
            entry["sources"] = {
                label: {
                    "conditions": source.conditions.to_dict(),
                    "efficiency": source.efficiency.save(
                        directory / f"{name}.{label}.efficiency.json.gz"
                    ),
                    "response": source.response.save(directory / f"{name}.{label}.response.pt"),
                }
                for label, source in model.sources.items()
            }
        collections[name] = entry
    record: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "versions": software_versions(),
        "spec": dict(pipeline.spec.raw),
        "collections": collections,
        "training": training,
    }
    if pipeline.pid is not None:
        record["pid"] = {
            name: {
                "conditions": model.conditions.to_dict(),
                "is_muon": None
                if model.is_muon is None
                else model.is_muon.save(directory / f"pid.{name}.isMuon.json.gz"),
                "point_masses": {
                    t: s.save(directory / f"pid.{name}.{point_mass_flag(t)}.json.gz")
                    for t, s in model.point_masses.items()
                },
                "splits": {
                    t: s.save(directory / f"pid.{name}.{split_flag(t)}.json.gz")
                    for t, s in model.splits.items()
                },
                "response": model.response.save(directory / f"pid.{name}.response.pt"),
            }
            for name, model in pipeline.pid.species.items()
        }
    if pipeline.event is not None:
        record["event"] = {
            "conditions": pipeline.event.conditions.to_dict(),
            "response": pipeline.event.response.save(directory / "event.response.pt"),
        }
    return record


def save_bundle(pipeline: Pipeline, directory: Path, training: dict[str, Any]) -> Path:
    """Write ``pipeline`` as a bundle to ``directory``; returns the record's path.

    The bundle is written to a new temporary directory beside ``directory`` (an exclusive,
    random name) and renamed into place when complete, so a failed or interrupted save leaves
    no partial bundle; an existing ``directory`` is replaced only if it holds a bundle
    (:func:`check_bundle_destination`).

    Arguments:
        pipeline: the trained pipeline.
        directory: the bundle directory.
        training: what to record about training (data files and hash, seeds, metrics, timing).

    Raises:
        OutputError: ``directory`` is not a bundle, or cannot be written.
    """
    directory = Path(directory)
    check_bundle_destination(directory)
    tmp = temporary_name(directory)
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(directory.parent, directory.name)
        os.mkdir(tmp)
    except OSError as err:
        msg = f"cannot write the bundle {directory}: {err.strerror or err}"
        raise OutputError(msg) from err
    try:
        record = _write_stages(pipeline, tmp, training)
        spec_text = yaml.safe_dump(dict(pipeline.spec.raw), sort_keys=False)
        (tmp / "spec.yaml").write_text(spec_text, encoding="utf-8")
        record["checksums"] = file_checksums(tmp, weight_files(record))
        text = json.dumps(add_seal(record), indent=1, sort_keys=False)
        (tmp / RECORD_NAME).write_text(text, encoding="utf-8")
        _rename_into_place(tmp, directory)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError):
            msg = f"cannot write the bundle {directory}: {err.strerror or err}"
            raise OutputError(msg) from err
        raise
    return directory / RECORD_NAME


def _rename_into_place(tmp: Path, directory: Path) -> None:
    """Rename the complete bundle ``tmp`` to ``directory``, replacing a bundle there."""
    check_bundle_destination(directory)
    if not os.path.lexists(directory):
        os.rename(tmp, directory)
        return
    old = temporary_name(directory)
    os.rename(directory, old)
    try:
        os.rename(tmp, directory)
    except BaseException:
        os.rename(old, directory)
        raise
    shutil.rmtree(old, ignore_errors=True)


def file_checksums(directory: Path, names: list[str]) -> dict[str, str]:
    """SHA-256 of each weight file ``names`` in ``directory`` (recorded; checked on load)."""
    return {name: file_digest(directory / name) for name in names}


def seal_record(directory: str | os.PathLike[str]) -> None:
    """Seal the record of the bundle ``directory`` as it is now (``record_sha256``,
    :func:`flashsim.record.add_seal`), for a record edited on purpose
    (``scripts/upgrade_bundle.py``); the weight files' checksums are not changed."""
    path = Path(directory) / RECORD_NAME
    record, _ = _parse_record(path)
    write_atomically(path, json.dumps(add_seal(record), indent=1).encode("utf-8"))


def _parse_record(record_path: Path) -> tuple[dict[str, Any], bytes]:
    """The record's JSON and its bytes, bounded in size and depth; ModelError if unusable."""
    try:
        fd = os.open(record_path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as stream:
            data = stream.read(MAX_RECORD_BYTES + 1)
    except OSError as err:
        msg = f"model record {record_path} is unreadable ({err.strerror or err}); retrain the model"
        raise ModelError(msg) from err
    origin = f"model record {record_path} is unreadable or corrupted"
    try:
        record = load_json(data, origin, ModelError, max_bytes=MAX_RECORD_BYTES)
    except ModelError as err:
        msg = f"{err}; restore or retrain the bundle"
        raise ModelError(msg) from err
    if not isinstance(record, dict):
        msg = f"model record {record_path} is unreadable or corrupted (not a JSON object); retrain"
        raise ModelError(msg)
    return record, data


@dataclass
class _Opened:
    """A bundle whose record passed every check, its weight files not read yet."""

    path: Path
    record: dict[str, Any]
    data: bytes
    spec: PipelineSpec
    files: WeightFiles


def _open(directory: str | os.PathLike[str]) -> _Opened:
    """Steps 1 and 2 of the module docstring: nothing of the weights is read."""
    path = Path(directory)
    record_path = path / RECORD_NAME
    if not path.is_dir():
        msg = f"model bundle {path} does not exist or is not a directory; see `flashsim train`"
        raise ModelError(msg)
    if record_path.is_symlink() or not record_path.is_file():
        msg = f"{path} is not a flashsim model bundle: it has no {RECORD_NAME}"
        raise ModelError(msg)
    record, data = _parse_record(record_path)
    fmt = record.get("format")
    made_by = (record.get("versions") or {}).get("flashsim", "?")
    if fmt != BUNDLE_FORMAT:
        msg = (
            f"model bundle {path} has format {fmt!r} (made by flashsim {made_by}), but this "
            f"flashsim {__version__} reads format {BUNDLE_FORMAT}; retrain it with "
            f"`flashsim train` or use flashsim {made_by}"
        )
        raise ModelError(msg)
    origin = f"model bundle {path}: {RECORD_NAME}"
    check_seal(record, origin)
    spec, names = check_record(record, origin)
    files = WeightFiles(path, names, record["checksums"], f"model bundle {path}")
    return _Opened(path, record, data, spec, files)


def read_record(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a bundle's JSON record: bounded, sealed, schema-checked, its weight files
    present, plain, regular and checksummed (steps 1 and 2 of the module docstring; the weight
    files themselves are not read).

    Raises:
        ModelError: naming the file and the key.
    """
    return _open(directory).record


def weight_files(record: dict[str, Any]) -> list[str]:
    """The weight files a bundle record names (BDT JSON, flow/GAN state dicts), in order."""
    files: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "file" in node and isinstance(node["file"], str):
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(record.get("collections", {}))
    walk(record.get("event", {}))
    walk(record.get("pid", {}))
    return files


def bundle_hash(directory: str | os.PathLike[str]) -> str:
    """SHA-256 over the record and the weight files (in name order), each read once and
    verified: the model id stored in output provenance.

    For a pipeline loaded with :func:`load_bundle`, :func:`loaded_hash` gives the same value
    from the bytes that were loaded, without reading the files again.
    """
    opened = _open(directory)
    opened.files.read_all()
    return opened.files.digest(opened.data)


def loaded_hash(pipeline: Pipeline) -> str | None:
    """The :func:`bundle_hash` of the bytes ``pipeline`` was built from by :func:`load_bundle`
    in this process (None for a pipeline made otherwise)."""
    return _HASHES.get(id(pipeline))


def load_bundle(directory: str | os.PathLike[str]) -> Pipeline:
    """Load a trained pipeline from a bundle directory (the steps of the module docstring).

    Raises:
        ModelError: the bundle is missing, incomplete, corrupted, inconsistent, from an
            incompatible flashsim version, or not confined to its directory; the message names
            the file and the record's key.
    """
    opened = _open(directory)
    opened.files.read_all()
    digest = opened.files.digest(opened.data)
    try:
        pipeline = _build(opened)
    except (KeyError, TypeError, ValueError) as err:
        what = f"{type(err).__name__}: {err}"
        msg = f"model bundle {opened.path} is inconsistent ({what}); retrain it"
        raise ModelError(msg) from err
    finally:
        opened.files.release()
    _HASHES[id(pipeline)] = digest
    weakref.finalize(pipeline, _HASHES.pop, id(pipeline), None)
    return pipeline


def _build(opened: _Opened) -> Pipeline:
    """The pipeline of a checked bundle, from the weight files' verified bytes."""
    path, record, spec, files = opened.path, opened.record, opened.spec, opened.files
    collections = {}
    for name, coll_spec in spec.collections.items():
        key = f"collections.{name}"
        entry = record["collections"][name]
        fakes = fake_conditions = None
        if "fakes" in entry:
            fakes = FakesStage(
                EfficiencyStage.load(files, entry["fakes"]["multiplicity"], f"{key}.fakes"),
                load_response(files, entry["fakes"]["response"], f"{key}.fakes.response"),
                entry["fakes"].get("tail"),  # bundles before the tail have none
            )
            fake_conditions = TablePreprocessor.from_dict(entry["fakes"]["conditions"])
        sources = {}
        for source in coll_spec.sources:
            label = source.label or source.stage
            at, saved = f"{key}.sources.{label}", entry["sources"][label]
            sources[label] = CollectionModel(
                spec=source,
                conditions=TablePreprocessor.from_dict(saved["conditions"]),
                efficiency=EfficiencyStage.load(files, saved["efficiency"], f"{at}.efficiency"),
                response=load_response(files, saved["response"], f"{at}.response"),
            )
        children = None
        if coll_spec.children is not None:
            children = ChildrenModel(
                context=TablePreprocessor.from_dict(entry["children"]["context"]),
                response=load_response(
                    files, entry["children"]["response"], f"{key}.children.response"
                ),
            )
        collections[name] = CollectionModel(
            spec=coll_spec,
            conditions=TablePreprocessor.from_dict(entry["conditions"]),
            efficiency=EfficiencyStage.load(files, entry["efficiency"], f"{key}.efficiency"),
            response=load_response(files, entry["response"], f"{key}.response"),
            fakes=fakes,
            fake_conditions=fake_conditions,
            sources=sources,
            children=children,
        )
    event = None
    if spec.event is not None:
        event = EventModel(
            spec=spec.event,
            conditions=TablePreprocessor.from_dict(record["event"]["conditions"]),
            response=load_response(files, record["event"]["response"], "event.response"),
        )
    pid = None
    if spec.pid is not None:
        species = {}
        for sp in spec.pid.species:
            key = f"pid.{sp.name}"
            entry = record["pid"][sp.name]
            species[sp.name] = SpeciesModel(
                spec=sp,
                conditions=TablePreprocessor.from_dict(entry["conditions"]),
                is_muon=None
                if entry["is_muon"] is None
                else EfficiencyStage.load(files, entry["is_muon"], f"{key}.is_muon"),
                response=ResponseStage.load(files, entry["response"], f"{key}.response"),
                point_masses={
                    target: EfficiencyStage.load(files, stage, f"{key}.point_masses.{target}")
                    for target, stage in entry.get("point_masses", {}).items()
                },
                splits={
                    target: EfficiencyStage.load(files, stage, f"{key}.splits.{target}")
                    for target, stage in entry.get("splits", {}).items()
                },
            )
            for kind, have, targets in (
                ("point-mass", species[sp.name].point_masses, point_mass_targets(spec.pid)),
                ("split", species[sp.name].splits, split_targets(spec.pid)),
            ):
                expected = [t.name for t in targets]
                if list(have) != expected:
                    msg = (
                        f"model bundle {path}: PID species {sp.name!r} has {kind} BDTs "
                        f"for {list(have)}, its spec asks for {expected}; retrain it"
                    )
                    raise ModelError(msg)
        pid = PidModel(spec.pid, species)
    return Pipeline(spec=spec, collections=collections, event=event, pid=pid)

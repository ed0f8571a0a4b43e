"""Model bundles: a trained pipeline saved as weights plus one JSON record, and loaded back.

A bundle is a directory::

    flashsim-model.json      format, versions, the spec, preprocessing, stage records, training
    spec.yaml                the pipeline spec it was trained from (for reading; the JSON is used)
    Jet.efficiency.json.gz   xgboost model (JSON, gzipped)
    Jet.response.pt          torch state_dict of the response model
    ...

Nothing is pickled: weights are ``state_dict`` tensors and xgboost JSON, and every
hyperparameter is in the record, so a bundle can be inspected, diffed and loaded safely.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from flashsim import __version__
from flashsim.exceptions import ModelError, SpecError
from flashsim.pipeline import CollectionModel, EventModel, Pipeline
from flashsim.preprocessing import TablePreprocessor
from flashsim.provenance import file_digest, software_versions
from flashsim.spec import parse_spec, point_mass_flag, split_flag
from flashsim.stages import EfficiencyStage, FakesStage, ResponseStage
from flashsim.stages.mixed import load_response
from flashsim.stages.pid import PidModel, SpeciesModel, point_mass_targets, split_targets

__all__ = [
    "BUNDLE_FORMAT",
    "RECORD_NAME",
    "bundle_hash",
    "default_model_path",
    "file_checksums",
    "load_bundle",
    "read_record",
    "save_bundle",
    "weight_files",
]

BUNDLE_FORMAT = 1
"""The bundle layout version this flashsim writes and reads."""

RECORD_NAME = "flashsim-model.json"
_LFS_POINTER = b"version https://git-lfs"


def default_model_path() -> Path:
    """The model bundle shipped inside the package (trained on refsim ``ttbar``)."""
    return Path(str(resources.files("flashsim") / "default_model"))


def save_bundle(pipeline: Pipeline, directory: Path, training: dict[str, Any]) -> Path:
    """Write ``pipeline`` to ``directory`` (created if needed); returns the record's path.

    Arguments:
        pipeline: the trained pipeline.
        directory: the bundle directory; existing bundle files in it are replaced.
        training: what to record about training (data files and hash, seeds, metrics, timing).
    """
    directory.mkdir(parents=True, exist_ok=True)
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
    (directory / "spec.yaml").write_text(yaml.safe_dump(dict(pipeline.spec.raw), sort_keys=False))
    record["checksums"] = file_checksums(directory, weight_files(record))
    path = directory / RECORD_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=False))
    os.replace(tmp, path)
    return path


def _is_lfs_pointer(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(len(_LFS_POINTER)) == _LFS_POINTER


def file_checksums(directory: Path, names: list[str]) -> dict[str, str]:
    """SHA-256 of each weight file ``names`` in ``directory`` (recorded; checked on load)."""
    return {name: file_digest(directory / name) for name in names}


def read_record(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a bundle's JSON record (format version, presence of the files)."""
    path = Path(directory)
    record_path = path / RECORD_NAME
    if not path.is_dir():
        msg = f"model bundle {path} does not exist or is not a directory; see `flashsim train`"
        raise ModelError(msg)
    if not record_path.is_file():
        msg = f"{path} is not a flashsim model bundle: it has no {RECORD_NAME}"
        raise ModelError(msg)
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        msg = f"model record {record_path} is unreadable or corrupted ({err}); retrain the model"
        raise ModelError(msg) from err
    fmt = record.get("format") if isinstance(record, dict) else None
    made_by = (
        (record.get("versions") or {}).get("flashsim", "?") if isinstance(record, dict) else "?"
    )
    if fmt != BUNDLE_FORMAT:
        msg = (
            f"model bundle {path} has format {fmt!r} (made by flashsim {made_by}), but this "
            f"flashsim {__version__} reads format {BUNDLE_FORMAT}; retrain it with "
            f"`flashsim train` or use flashsim {made_by}"
        )
        raise ModelError(msg)
    missing = [f for f in weight_files(record) if not (path / f).is_file()]
    if missing:
        msg = f"model bundle {path} is incomplete: missing {', '.join(missing)}; restore or retrain"
        raise ModelError(msg)
    checksums = record.get("checksums") or {}
    changed = [
        name
        for name, digest in file_checksums(path, sorted(checksums)).items()
        if digest != checksums[name]
    ]
    pointers = [name for name in changed if _is_lfs_pointer(path / name)]
    if pointers:
        msg = (
            f"model bundle {path}: {', '.join(pointers)} is a Git LFS pointer, not the file: run "
            "`git lfs pull` in the repository it comes from"
        )
        raise ModelError(msg)
    if changed:
        msg = (
            f"model bundle {path}: {', '.join(changed)} changed since training (SHA-256 differs "
            "from the record): the file is corrupted or was replaced; restore or retrain"
        )
        raise ModelError(msg)
    return record


def weight_files(record: dict[str, Any]) -> list[str]:
    """The weight files a bundle record names (BDT JSON, flow/GAN state dicts), in order."""
    files: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "file" in node and isinstance(node["file"], str):
                files.append(node["file"])
            for value in node.values():
                walk(value)

    walk(record.get("collections", {}))
    walk(record.get("event", {}))
    walk(record.get("pid", {}))
    return files


def bundle_hash(directory: str | os.PathLike[str]) -> str:
    """SHA-256 over the record and weight files: the model id stored in output provenance."""
    path = Path(directory)
    record = read_record(path)
    digest = hashlib.sha256((path / RECORD_NAME).read_bytes())
    for name in sorted(weight_files(record)):
        digest.update((path / name).read_bytes())
    return digest.hexdigest()


def load_bundle(directory: str | os.PathLike[str]) -> Pipeline:
    """Load a trained pipeline from a bundle directory.

    Raises:
        ModelError: the bundle is missing, incomplete, corrupted, or from an incompatible
            flashsim version.
    """
    path = Path(directory)
    record = read_record(path)
    try:
        spec = parse_spec(record["spec"], origin=f"{path / RECORD_NAME} (spec)")
        collections = {}
        for name, coll_spec in spec.collections.items():
            entry = record["collections"][name]
            fakes = fake_conditions = None
            if "fakes" in entry:
                fakes = FakesStage(
                    EfficiencyStage.load(path, entry["fakes"]["multiplicity"]),
                    load_response(path, entry["fakes"]["response"]),
                    entry["fakes"].get("tail"),  # bundles before the tail have none
                )
                fake_conditions = TablePreprocessor.from_dict(entry["fakes"]["conditions"])
            collections[name] = CollectionModel(
                spec=coll_spec,
                conditions=TablePreprocessor.from_dict(entry["conditions"]),
                efficiency=EfficiencyStage.load(path, entry["efficiency"]),
                response=load_response(path, entry["response"]),
                fakes=fakes,
                fake_conditions=fake_conditions,
            )
        event = None
        if spec.event is not None:
            event = EventModel(
                spec=spec.event,
                conditions=TablePreprocessor.from_dict(record["event"]["conditions"]),
                response=load_response(path, record["event"]["response"]),
            )
        pid = None
        if spec.pid is not None:
            species = {}
            for sp in spec.pid.species:
                entry = record["pid"][sp.name]
                species[sp.name] = SpeciesModel(
                    spec=sp,
                    conditions=TablePreprocessor.from_dict(entry["conditions"]),
                    is_muon=None
                    if entry["is_muon"] is None
                    else EfficiencyStage.load(path, entry["is_muon"]),
                    response=ResponseStage.load(path, entry["response"]),
                    point_masses={
                        target: EfficiencyStage.load(path, stage)
                        for target, stage in entry.get("point_masses", {}).items()
                    },
                    splits={
                        target: EfficiencyStage.load(path, stage)
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
    except (KeyError, TypeError, ValueError, SpecError) as err:
        msg = f"model bundle {path} is inconsistent ({type(err).__name__}: {err}); retrain it"
        raise ModelError(msg) from err
    return Pipeline(spec=spec, collections=collections, event=event, pid=pid)

"""flashsim.bundle: a tiny trained pipeline saved, read back, hashed, and broken in every way."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import yaml
from readers import make_nanoaod_chunk

import flashsim
from flashsim.bundle import BUNDLE_FORMAT, RECORD_NAME, bundle_hash, load_bundle, read_record
from flashsim.exceptions import ModelError
from flashsim.io import NanoAODWriter, open_events, zip_collections
from flashsim.pipeline import Pipeline
from flashsim.record import add_seal
from flashsim.spec import PipelineSpec, parse_spec
from flashsim.train import read_training_data, train_pipeline

N_EVENTS = 300


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, computed here independently of flashsim."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tiny_spec_dict() -> dict[str, Any]:
    """One collection, Jet from GenJet: two conditions, two targets, tiny models, no fakes."""
    return {
        "version": 1,
        "name": "tiny_jets",
        "seed": 17,
        "validation_fraction": 0.25,
        "passthrough": ["run", "event", "Gen*"],
        "collections": {
            "Jet": {
                "source": {"collection": "GenJet"},
                "target": {"collection": "Jet", "match": "genJetIdx"},
                "conditions": [
                    {"name": "pt", "field": "pt", "transform": ["log", "standardize"]},
                    {"name": "eta", "field": "eta", "transform": ["standardize"]},
                ],
                "targets": [
                    {"name": "pt", "kind": "ratio", "transform": ["log", "standardize"]},
                    {"name": "eta", "kind": "diff", "transform": ["standardize"]},
                ],
                "efficiency": {"n_estimators": 5, "max_depth": 2},
                "response": {
                    "model": "flow",
                    "flow": {"transforms": 1, "hidden": [8]},
                    "training": {"epochs": 1, "batch_size": 64},
                },
            }
        },
    }


@pytest.fixture(scope="module")
def spec() -> PipelineSpec:
    return parse_spec(tiny_spec_dict(), origin="tiny_jets.yaml")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny full-simulation-like file: GenJet, Jet with genJetIdx, leptons, MET."""
    path = tmp_path_factory.mktemp("sample") / "sample.root"
    with NanoAODWriter(path) as writer:
        writer.extend(make_nanoaod_chunk(np.random.default_rng(3), N_EVENTS))
    return path


@pytest.fixture(scope="module")
def trained(
    spec: PipelineSpec, sample: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Pipeline, Path]:
    """The in-memory pipeline and the bundle directory that train_pipeline wrote."""
    output = tmp_path_factory.mktemp("models") / "tiny"
    data = read_training_data(spec, [sample], progress=False)
    pipeline = train_pipeline(spec, data, output, progress=False, log=lambda line: None)
    return pipeline, output


@pytest.fixture(scope="module")
def events(sample: Path) -> ak.Array:
    tree = open_events(sample)
    try:
        return zip_collections(tree.arrays())
    finally:
        tree.file.close()


@pytest.fixture
def bundle(trained: tuple[Pipeline, Path], tmp_path: Path) -> Path:
    """A private copy of the bundle, for a test to modify."""
    return Path(shutil.copytree(trained[1], tmp_path / "bundle"))


def edit_record(bundle: Path, edit) -> None:
    """Edit the record and reseal it (as scripts/upgrade_bundle.py --seal would), so that the
    check under test, not the seal, refuses it."""
    path = bundle / RECORD_NAME
    record = json.loads(path.read_text())
    edit(record)
    path.write_text(json.dumps(add_seal(record)))


def model_error(bundle: Path) -> str:
    with pytest.raises(ModelError) as info:
        load_bundle(bundle)
    message = str(info.value)
    assert "\n" not in message
    return message


# -- the record --------------------------------------------------------------------------------


def test_bundle_layout(trained: tuple[Pipeline, Path]) -> None:
    _, path = trained
    names = sorted(p.name for p in path.iterdir())
    assert names == ["Jet.efficiency.json.gz", "Jet.response.pt", RECORD_NAME, "spec.yaml"]
    assert yaml.safe_load((path / "spec.yaml").read_text()) == tiny_spec_dict()


def test_read_record(trained: tuple[Pipeline, Path], sample: Path) -> None:
    _, path = trained
    record = read_record(path)
    assert record["format"] == BUNDLE_FORMAT
    assert record["versions"]["flashsim"] == flashsim.__version__
    assert set(record["versions"]) >= {"torch", "zuko", "xgboost", "numpy", "awkward"}
    assert record["spec"] == tiny_spec_dict()
    jet = record["collections"]["Jet"]
    assert jet["efficiency"] == {
        "kind": "efficiency",
        "file": "Jet.efficiency.json.gz",
        "n_classes": 2,
    }
    assert jet["response"]["file"] == "Jet.response.pt"
    assert jet["response"]["model"]["n_features"] == 2
    assert jet["response"]["model"]["n_context"] == 2
    assert [c["name"] for c in jet["conditions"]["columns"]] == ["pt", "eta"]
    assert "fakes" not in jet
    assert "event" not in record
    training = record["training"]
    assert training["events"] == N_EVENTS
    assert training["seed"] == 17
    assert 0 < training["validation_events"] < N_EVENTS
    assert training["files"] == [
        {"path": str(sample), "entries": N_EVENTS, "sha256": sha256_of(sample)}
    ]
    assert {"Jet.efficiency", "Jet.response"} <= set(training["metrics"])
    weights = ("Jet.efficiency.json.gz", "Jet.response.pt")
    assert record["checksums"] == {name: sha256_of(path / name) for name in weights}
    assert read_record(str(path)) == record  # str paths work too


# -- loading -----------------------------------------------------------------------------------


def assert_same_output(first, second) -> None:
    out_a, counters_a = first
    out_b, counters_b = second
    assert counters_a == counters_b
    assert set(out_a) == set(out_b) == {"Jet"}
    assert out_a["Jet"].fields == out_b["Jet"].fields
    for field in out_a["Jet"].fields:
        a, b = out_a["Jet"][field], out_b["Jet"][field]
        assert ak.to_list(ak.num(a)) == ak.to_list(ak.num(b)), field
        np.testing.assert_array_equal(ak.flatten(a), ak.flatten(b), err_msg=field)
        assert ak.flatten(a).layout.dtype == ak.flatten(b).layout.dtype, field


def test_loaded_bundle_reproduces_the_in_memory_pipeline(
    trained: tuple[Pipeline, Path], events: ak.Array
) -> None:
    pipeline, path = trained
    loaded = load_bundle(path)
    assert isinstance(loaded, Pipeline)
    assert loaded.spec.collections == pipeline.spec.collections
    expected = pipeline.apply(events, np.random.default_rng(5))
    assert_same_output(loaded.apply(events, np.random.default_rng(5)), expected)
    out, counters = expected
    assert out["Jet"].fields == ["pt", "eta", "genJetIdx"]
    assert len(out["Jet"]) == N_EVENTS
    assert counters["Jet"]["generated"] == int(ak.sum(ak.num(events.GenJet)))
    assert 0 < counters["Jet"]["reconstructed"] < counters["Jet"]["generated"]
    # other random numbers, other output
    other, _ = loaded.apply(events, np.random.default_rng(6))
    assert not np.array_equal(ak.flatten(other["Jet"].pt), ak.flatten(out["Jet"].pt))


def test_loaded_pipeline_pickles(trained: tuple[Pipeline, Path], events: ak.Array) -> None:
    loaded = load_bundle(trained[1])
    copy = pickle.loads(pickle.dumps(loaded))
    assert_same_output(
        copy.apply(events, np.random.default_rng(8)), loaded.apply(events, np.random.default_rng(8))
    )


# -- hash --------------------------------------------------------------------------------------


def test_bundle_hash_is_stable(trained: tuple[Pipeline, Path], bundle: Path) -> None:
    digest = bundle_hash(trained[1])
    files = [RECORD_NAME, "Jet.efficiency.json.gz", "Jet.response.pt"]  # weights in name order
    contents = b"".join((trained[1] / name).read_bytes() for name in files)
    assert digest == hashlib.sha256(contents).hexdigest()
    assert bundle_hash(trained[1]) == digest
    assert bundle_hash(bundle) == digest  # a copy elsewhere is the same model


def test_bundle_hash_changes_with_the_record(bundle: Path) -> None:
    before = bundle_hash(bundle)
    path = bundle / RECORD_NAME
    path.write_bytes(path.read_bytes() + b" ")
    assert bundle_hash(bundle) != before


@pytest.mark.parametrize("name", ["Jet.response.pt", "Jet.efficiency.json.gz"])
def test_a_changed_weight_file_is_refused(bundle: Path, name: str) -> None:
    """One flipped byte in the weights would silently change the model: the checksums catch it."""
    bundle_hash(bundle)
    path = bundle / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=f"{name} changed since training"):
        bundle_hash(bundle)
    with pytest.raises(ModelError, match="changed since training"):
        load_bundle(bundle)


def test_bundle_hash_of_a_missing_bundle(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        bundle_hash(tmp_path / "nope")


# -- errors ------------------------------------------------------------------------------------


def test_missing_directory(tmp_path: Path) -> None:
    message = model_error(tmp_path / "models" / "absent")
    assert f"model bundle {tmp_path / 'models' / 'absent'} does not exist" in message
    assert "flashsim train" in message


def test_a_file_is_not_a_bundle(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text("{}")
    assert "is not a directory" in model_error(path)


def test_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "something.txt").write_text("hello")
    message = model_error(tmp_path)
    assert f"{tmp_path} is not a flashsim model bundle: it has no {RECORD_NAME}" in message


def test_format_version_mismatch(bundle: Path) -> None:
    def newer(record: dict[str, Any]) -> None:
        record["format"] = BUNDLE_FORMAT + 1
        record["versions"]["flashsim"] = "9.9.9"

    edit_record(bundle, newer)
    message = model_error(bundle)
    assert f"has format {BUNDLE_FORMAT + 1} (made by flashsim 9.9.9)" in message
    assert f"this flashsim {flashsim.__version__} reads format {BUNDLE_FORMAT}" in message
    assert "use flashsim 9.9.9" in message


def test_record_without_format(bundle: Path) -> None:
    edit_record(bundle, lambda record: record.pop("format"))
    assert "has format None" in model_error(bundle)


@pytest.mark.parametrize("name", ["Jet.response.pt", "Jet.efficiency.json.gz"])
def test_missing_weight_file(bundle: Path, name: str) -> None:
    (bundle / name).unlink()
    message = model_error(bundle)
    assert f"model bundle {bundle} is incomplete: missing {name}" in message
    assert "restore or retrain" in message


def test_truncated_response_weights(bundle: Path) -> None:
    path = bundle / "Jet.response.pt"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    rechecksum(bundle)  # checksums recomputed: the loader's own check
    message = model_error(bundle)
    assert message.startswith(f"cannot load response model {path}: ")
    assert message.endswith("retrain or restore the bundle")


def test_empty_response_weights(bundle: Path) -> None:
    (bundle / "Jet.response.pt").write_bytes(b"")
    rechecksum(bundle)  # checksums recomputed: the loader's own check
    assert "cannot load response model" in model_error(bundle)


def test_corrupted_efficiency_model(bundle: Path) -> None:
    path = bundle / "Jet.efficiency.json.gz"
    path.write_bytes(path.read_bytes()[:100])
    rechecksum(bundle)  # checksums recomputed: the loader's own check
    message = model_error(bundle)
    assert message.startswith(f"cannot load efficiency model {path}: ")


def test_corrupted_record(bundle: Path) -> None:
    path = bundle / RECORD_NAME
    path.write_text(path.read_text()[:200])
    message = model_error(bundle)
    assert f"model record {path} is unreadable or corrupted" in message
    assert "retrain" in message


def test_record_with_an_invalid_spec(bundle: Path) -> None:
    edit_record(bundle, lambda record: record["spec"].__setitem__("version", 7))
    message = model_error(bundle)
    assert message.startswith(f"model bundle {bundle}: {RECORD_NAME} (spec): version: ")
    assert "spec version 7 is not supported" in message


def test_record_missing_a_collection(bundle: Path) -> None:
    edit_record(bundle, lambda record: record["collections"].pop("Jet"))
    assert f"{RECORD_NAME}: collections.Jet: expected a mapping" in model_error(bundle)


def test_weights_that_do_not_fit_the_record(bundle: Path) -> None:
    edit_record(
        bundle, lambda r: r["collections"]["Jet"]["response"]["model"].__setitem__("n_context", 3)
    )
    assert "flow weights do not fit the model record" in model_error(bundle)


def rechecksum(bundle: Path) -> None:
    """Record the weight files' checksums as they are now (and reseal the record)."""
    edit_record(
        bundle,
        lambda record: record.__setitem__(
            "checksums", {name: sha256_of(bundle / name) for name in record["checksums"]}
        ),
    )


def test_git_lfs_pointer_is_named_as_such(bundle: Path) -> None:
    (bundle / "Jet.response.pt").write_bytes(GIT_LFS_POINTER)
    assert "Jet.response.pt is a Git LFS pointer, not the file: run `git lfs pull`" in model_error(
        bundle
    )


GIT_LFS_POINTER = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    b"size 12345\n"
)


def test_git_lfs_pointer_instead_of_efficiency_model(bundle: Path) -> None:
    (bundle / "Jet.efficiency.json.gz").write_bytes(GIT_LFS_POINTER)
    rechecksum(bundle)  # checksums recomputed: the loader's own check
    assert "cannot load efficiency model" in model_error(bundle)


def test_git_lfs_pointer_instead_of_response_weights(bundle: Path) -> None:
    (bundle / "Jet.response.pt").write_bytes(GIT_LFS_POINTER)
    rechecksum(bundle)  # checksums recomputed: the loader's own check
    assert "cannot load response model" in model_error(bundle)

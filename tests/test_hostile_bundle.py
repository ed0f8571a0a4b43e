"""Hostile model bundles (issue #25): confined to their directory, sealed, schema-checked and
bounded before anything is allocated; a failure is one ModelError line naming the file and the
key (exit 2), raised before any weight file is read. Also: the model hash is of the bytes
loaded, and a bundle is written whole or not at all, replacing only a bundle.

Every case tampers with a private copy of the tiny trained bundle (``tiny_model``) and reseals
the record as an attacker would (checksums are no signature), so that the rule under test, not
a checksum, has to refuse it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from flashsim import bundle_files
from flashsim.bundle import RECORD_NAME, bundle_hash, load_bundle, read_record, save_bundle
from flashsim.cli import flashsim
from flashsim.exceptions import ModelError, OutputError, SpecError
from flashsim.models.loop import save_checkpoint
from flashsim.record import RECORD_SEAL, add_seal
from flashsim.run.model import model_record
from flashsim.spec import parse_spec

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "ttbar_gen.root"
RESPONSE = "collections.Jet.response"


@pytest.fixture
def bundle(tiny_model: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny bundle."""
    return Path(shutil.copytree(tiny_model, tmp_path / "bundle"))


@pytest.fixture
def no_weight_read(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Records every weight file read (none may be, for a refused bundle)."""
    reads: list[Path] = []
    original = bundle_files.read_weight_file

    def spy(path: Path, key: str, origin: str) -> bytes:
        reads.append(path)
        return original(path, key, origin)

    monkeypatch.setattr(bundle_files, "read_weight_file", spy)
    return reads


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tamper(bundle: Path, edit: Callable[[dict[str, Any]], Any], *, checksums: bool = True) -> None:
    """Edit the record; recompute the checksums of the files it names (where they exist) and
    reseal it, as someone crafting a bundle would."""
    path = bundle / RECORD_NAME
    record = json.loads(path.read_text())
    edit(record)
    if checksums and isinstance(record.get("checksums"), dict):
        record["checksums"] = {
            name: digest(bundle / name) for name in record["checksums"] if (bundle / name).is_file()
        }
    path.write_text(json.dumps(add_seal(record), indent=1))


def refused(bundle: Path, reads: list[Path] | None = None) -> str:
    """The one-line ModelError of loading ``bundle`` (no weight file read, if ``reads``)."""
    with pytest.raises(ModelError) as info:
        load_bundle(bundle)
    message = str(info.value)
    assert "\n" not in message
    assert str(bundle) in message
    if reads is not None:
        assert reads == []
    return message


def response(record: dict[str, Any]) -> dict[str, Any]:
    """The Jet response's flow record (inside a mixed stage if it is one)."""
    entry = record["collections"]["Jet"]["response"]
    return entry["response"] if entry.get("kind") == "mixed" else entry


def flow_key(record: dict[str, Any]) -> str:
    kind = record["collections"]["Jet"]["response"].get("kind")
    return f"{RESPONSE}.response" if kind == "mixed" else RESPONSE


# -- confined to the directory ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["../outside.pt", "/etc/passwd", "sub/Jet.response.pt", ".."])
def test_a_weight_path_outside_the_bundle_is_refused(
    bundle: Path, no_weight_read: list[Path], name: str
) -> None:
    shutil.copy(bundle / response(read_record(bundle))["file"], bundle.parent / "outside.pt")
    record = json.loads((bundle / RECORD_NAME).read_text())
    key = flow_key(record)

    def point_outside(record: dict[str, Any]) -> None:
        old = response(record)["file"]
        response(record)["file"] = name
        record["checksums"].pop(old)
        record["checksums"][name] = "0" * 64

    tamper(bundle, point_outside, checksums=False)
    message = refused(bundle, no_weight_read)
    assert f"{key}.file: {name!r} is not a plain file name in the bundle directory" in message


def test_a_symbolic_link_in_the_bundle_is_refused(bundle: Path, no_weight_read: list[Path]) -> None:
    name = response(read_record(bundle))["file"]
    outside = bundle.parent / "elsewhere.pt"
    shutil.move(bundle / name, outside)
    (bundle / name).symlink_to(outside)  # same bytes: the checksum would match
    message = refused(bundle, no_weight_read)
    assert f"{name} ({flow_key(read_record_unchecked(bundle))}.file) is a symbolic link" in message


def test_a_symbolic_link_as_the_record_is_refused(bundle: Path, tmp_path: Path) -> None:
    shutil.move(bundle / RECORD_NAME, tmp_path / "record.json")
    (bundle / RECORD_NAME).symlink_to(tmp_path / "record.json")
    assert "has no flashsim-model.json" in refused(bundle)


def test_a_weight_file_that_is_not_a_regular_file_is_refused(
    bundle: Path, no_weight_read: list[Path]
) -> None:
    name = response(read_record(bundle))["file"]
    (bundle / name).unlink()
    os.mkfifo(bundle / name)
    assert f"{name} ({flow_key(read_record_unchecked(bundle))}.file) is not a regular file" in (
        refused(bundle, no_weight_read)
    )


def read_record_unchecked(bundle: Path) -> dict[str, Any]:
    return json.loads((bundle / RECORD_NAME).read_text())


# -- checksums and the record's seal -----------------------------------------------------------


def test_a_missing_checksums_key_is_refused(bundle: Path, no_weight_read: list[Path]) -> None:
    tamper(bundle, lambda record: record.pop("checksums"))
    assert f"{RECORD_NAME}: checksums: missing" in refused(bundle, no_weight_read)


def test_a_missing_checksum_entry_is_refused(bundle: Path, no_weight_read: list[Path]) -> None:
    name = response(read_record(bundle))["file"]
    tamper(bundle, lambda record: record["checksums"].pop(name))
    assert f"checksums: no SHA-256 for {name}" in refused(bundle, no_weight_read)


def test_a_checksum_of_an_unknown_file_is_refused(bundle: Path, no_weight_read: list[Path]) -> None:
    (bundle / "extra.pt").write_bytes(b"x")
    tamper(bundle, lambda record: record["checksums"].__setitem__("extra.pt", "0" * 64))
    assert "checksums: 'extra.pt' is not a weight file of the record" in refused(
        bundle, no_weight_read
    )


def test_a_changed_record_is_refused(bundle: Path, no_weight_read: list[Path]) -> None:
    path = bundle / RECORD_NAME
    record = json.loads(path.read_text())
    record["collections"]["Jet"]["efficiency"]["n_classes"] = 3
    path.write_text(json.dumps(record))  # not resealed
    message = refused(bundle, no_weight_read)
    assert f"{RECORD_NAME}: the record changed since it was written" in message


def test_a_record_without_its_seal_is_refused(bundle: Path, no_weight_read: list[Path]) -> None:
    path = bundle / RECORD_NAME
    record = json.loads(path.read_text())
    del record[RECORD_SEAL]
    path.write_text(json.dumps(record))
    assert f"{RECORD_SEAL}: missing" in refused(bundle, no_weight_read)


def test_a_changed_weight_file_is_refused_and_named(bundle: Path) -> None:
    name = response(read_record(bundle))["file"]
    data = bytearray((bundle / name).read_bytes())
    data[-100] ^= 1
    (bundle / name).write_bytes(bytes(data))
    assert f"{name} changed since training (SHA-256 differs from checksums.{name}" in refused(
        bundle
    )


# -- bombs -------------------------------------------------------------------------------------


def test_a_gzip_bomb_as_an_xgboost_model_is_refused(bundle: Path) -> None:
    name = read_record(bundle)["collections"]["Jet"]["efficiency"]["file"]
    (bundle / name).write_bytes(gzip.compress(b" " * (65 << 20), compresslevel=1))
    tamper(bundle, lambda record: None)
    assert "decompresses to more than" in refused(bundle)


def test_a_deeply_nested_record_is_refused(bundle: Path) -> None:
    (bundle / RECORD_NAME).write_text("[" * 100_000 + "]" * 100_000)
    assert "nested more than" in refused(bundle)


def test_a_huge_record_is_refused(bundle: Path) -> None:
    (bundle / RECORD_NAME).write_bytes(b" " * ((16 << 20) + 1))
    assert "bytes, more than the" in refused(bundle)


def test_a_huge_weight_file_is_refused_before_it_is_read(
    bundle: Path, no_weight_read: list[Path]
) -> None:
    name = response(read_record(bundle))["file"]
    with (bundle / name).open("r+b") as stream:  # sparse: no disk used
        stream.truncate(bundle_files.MAX_WEIGHT_FILE_BYTES + 1)
    assert "more than the 268435456 a weight file may have" in refused(bundle, no_weight_read)


@pytest.mark.parametrize(
    ("edit", "key", "what"),
    [
        (lambda c: c.__setitem__("hidden", [100_000_000]), "config.hidden[0]", "<= 4096"),
        (lambda c: c.__setitem__("hidden", [1e8]), "config.hidden[0]", "expected an integer"),
        (lambda c: c.__setitem__("hidden", [8] * 1000), "config.hidden", "at most 16"),
        (lambda c: c.__setitem__("transforms", 10_000_000), "config.transforms", "<= 64"),
        (lambda c: c.__setitem__("bins", 10**9), "config.bins", "<= 128"),
        (
            lambda c: c.update(hidden=[4096] * 16, transforms=64),
            "config.hidden",
            "more than the 50,000,000",
        ),
    ],
)
def test_a_model_too_large_is_refused_before_it_is_built(
    bundle: Path, no_weight_read: list[Path], edit: Callable, key: str, what: str
) -> None:
    record = read_record_unchecked(bundle)
    tamper(bundle, lambda r: edit(response(r)["model"]["config"]))
    message = refused(bundle, no_weight_read)
    assert f"{flow_key(record)}.model.{key}: " in message
    assert what in message


def test_too_many_features_are_refused(bundle: Path, no_weight_read: list[Path]) -> None:
    tamper(bundle, lambda r: response(r)["model"].__setitem__("n_context", 10**7))
    assert "a model takes at most 1024 of each" in refused(bundle, no_weight_read)


def test_a_spec_with_a_model_too_large_is_refused(tiny_spec_path: Path) -> None:
    """``flashsim train`` parses its spec with the same settings parsers as a record."""
    import yaml

    spec = yaml.safe_load(tiny_spec_path.read_text())
    spec["collections"]["Jet"]["response"]["flow"]["hidden"] = [100_000_000]
    with pytest.raises(SpecError, match=r"collections\.Jet\.response.*<= 4096"):
        parse_spec(spec, origin="hostile.yaml")


# -- the schema --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda r: r["collections"]["Jet"]["efficiency"].__setitem__("n_classes", -5),
            "collections.Jet.efficiency.n_classes: expected an integer in [2, 1024]",
        ),
        (
            lambda r: r["collections"]["Jet"]["efficiency"].__setitem__("n_classes", 3),
            "collections.Jet.efficiency.n_classes: 3, but the spec implies 2",
        ),
        (
            lambda r: response(r).__setitem__(
                "bounds", [[float("nan")] * len(response(r)["bounds"][0]), response(r)["bounds"][1]]
            ),
            ".bounds: the bounds must be finite numbers with low <= high",
        ),
        (
            lambda r: response(r).__setitem__("bounds", response(r)["bounds"][::-1]),
            ".bounds: the bounds must be finite numbers with low <= high",
        ),
        (lambda r: response(r).__setitem__("bounds", [[0.0], [1.0]]), ".bounds: expected [low,"),
        (
            lambda r: r["collections"]["Jet"]["conditions"]["columns"][0]["transforms"][-1].update(
                std=float("nan")
            ),
            "collections.Jet.conditions: column 'pt': transform 'standardize': parameter 'std' "
            "must be finite",
        ),
        (
            lambda r: r["collections"]["Jet"]["conditions"]["columns"][0]["transforms"][-1].update(
                std=0.0
            ),
            "std must be positive",
        ),
        (
            lambda r: r["collections"]["Jet"]["conditions"]["domain"]["low"].__setitem__(0, 1e30),
            "collections.Jet.conditions: domain of 'pt': limits must be finite with low <= high",
        ),
        (lambda r: r.__setitem__("collections", []), "collections: expected a mapping"),
        (lambda r: response(r).__setitem__("file", 7), ".file: 7 is not a plain file name"),
    ],
)
def test_a_record_outside_its_schema_is_refused(
    bundle: Path, no_weight_read: list[Path], edit: Callable, expected: str
) -> None:
    tamper(bundle, edit)
    assert expected in refused(bundle, no_weight_read)


def test_a_booster_with_other_classes_than_the_record_is_refused(bundle: Path) -> None:
    record = read_record(bundle)
    jet = record["collections"]["Jet"]
    multi = jet["fakes"]["multiplicity"]["file"]
    tamper(bundle, lambda r: r["collections"]["Jet"]["efficiency"].__setitem__("file", multi))
    tamper(bundle, lambda r: r["collections"]["Jet"]["fakes"]["multiplicity"].__setitem__(
        "file", jet["efficiency"]["file"]))  # fmt: skip
    message = refused(bundle)
    assert "the record says" in message
    assert "classes, the model has" in message


def test_the_command_line_gives_one_line_and_exit_2(bundle: Path, tmp_path: Path) -> None:
    tamper(bundle, lambda r: r["collections"]["Jet"]["efficiency"].__setitem__("n_classes", -5))
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        result = CliRunner().invoke(
            flashsim, ["run", str(EXAMPLE), "--model", str(bundle), "-o", str(tmp_path / "o.root")]
        )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("flashsim: error: model bundle ")
    assert "collections.Jet.efficiency.n_classes" in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "o.root").exists()


# -- the model hash ----------------------------------------------------------------------------


def test_the_model_hash_is_of_the_bytes_loaded(bundle: Path) -> None:
    before = bundle_hash(bundle)
    pipeline = load_bundle(bundle)
    name = response(read_record(bundle))["file"]
    (bundle / name).write_bytes(b"replaced after loading")
    assert model_record(bundle, pipeline)["sha256"] == before  # no second read
    with pytest.raises(ModelError, match="changed since training"):
        bundle_hash(bundle)


# -- saving ------------------------------------------------------------------------------------


def test_save_replaces_a_bundle_whole(bundle: Path, tmp_path: Path) -> None:
    pipeline = load_bundle(bundle)
    target = tmp_path / "out"
    save_bundle(pipeline, target, {"note": "first"})
    (target / "stale.pt").write_bytes(b"left from before")
    save_bundle(pipeline, target, {"note": "second"})
    assert read_record(target)["training"] == {"note": "second"}
    assert not (target / "stale.pt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "out"]  # no temporaries


def test_save_refuses_a_directory_that_is_not_a_bundle(bundle: Path, tmp_path: Path) -> None:
    pipeline = load_bundle(bundle)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="is not a flashsim model bundle"):
        save_bundle(pipeline, tmp_path / "notes", {})
    assert sorted(p.name for p in (tmp_path / "notes").iterdir()) == ["notes.txt"]
    (tmp_path / "link").symlink_to(bundle)
    with pytest.raises(OutputError, match="is a symbolic link"):
        save_bundle(pipeline, tmp_path / "link", {})


def test_an_interrupted_save_leaves_nothing(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = load_bundle(bundle)

    def fail(self: Any, path: Path) -> dict[str, Any]:
        raise KeyboardInterrupt

    monkeypatch.setattr(type(pipeline.collections["Jet"].efficiency), "save", fail)
    with pytest.raises(KeyboardInterrupt):
        save_bundle(pipeline, tmp_path / "out", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_a_checkpoint_never_follows_a_planted_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "Jet.response.ckpt").symlink_to(victim)
    with pytest.raises(OutputError, match="is a symbolic link"):
        save_checkpoint({"epoch": 1}, tmp_path / "Jet.response.ckpt")
    assert victim.read_text() == "precious"
    save_checkpoint({"epoch": 1}, tmp_path / "other.ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "Jet.response.ckpt",
        "other.ckpt",
        "victim.txt",
    ]

"""Hostile specs and command-line options: each is refused at once, as one line and exit 2.

Specs are shared between people; production runs flashsim unattended. A spec that is an alias
bomb ("billion laughs"), nests ``[`` a hundred thousand times, repeats a key, is binary garbage,
a directory, a FIFO or a 2 GB file, or holds NaN, huge numbers and wrong types anywhere, must
end in one ``flashsim: error:`` line naming the file and the key, before anything big is built;
so must an absurd option (a seed of 10**29, a million workers, a NaN pile-up). The fuzz at the
end mutates the shipped specs (fixed seed, parse only) and asserts that an invalid one raises
:class:`~flashsim.exceptions.SpecError` and never another exception.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import os
import random
import resource
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_errors import assert_one_line_error
from click.testing import CliRunner

from flashsim.cli.app import flashsim
from flashsim.exceptions import SpecError
from flashsim.spec import load_spec, parse_spec
from flashsim.spec.data import MAX_SPEC_CHARS
from flashsim.untrusted import MAX_YAML_BYTES

ROOT = Path(__file__).resolve().parents[1]
SPECS = [ROOT / "pipelines" / "cms_like.yaml", ROOT / "pipelines" / "lhcb_like.yaml"]
EXAMPLE = ROOT / "data" / "examples" / "ttbar_gen.root"
DEFAULT_MODEL = ROOT / "flashsim" / "default_model"


def invoke(args: list[str]) -> Any:
    """``flashsim ARGS`` in process, under the warning filters of a real ``flashsim`` process."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        return CliRunner().invoke(flashsim, [str(a) for a in args])


def shipped(index: int = 0) -> dict[str, Any]:
    """A shipped spec, parsed."""
    return yaml.safe_load(SPECS[index].read_text())


def billion_laughs() -> str:
    """The shipped CMS-like spec with a 10**9-node alias bomb (~400 bytes) under ``defaults:``."""
    lines = ['  lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        alias = ", ".join([f"*lol{i - 1}"] * 9)
        lines.append(f"  lol{i}: &lol{i} [{alias}]")
    text = SPECS[0].read_text()
    return text.replace("defaults:\n", "defaults:\n" + "\n".join(lines) + "\n", 1)


# -- loading: the shipped specs, bombs, garbage -----------------------------------------------


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_shipped_specs_load_as_before(path: Path) -> None:
    """Anchors, aliases and ``<<:`` merge keys still load exactly as PyYAML's safe loader."""
    spec = load_spec(path)
    expected = yaml.safe_load(path.read_text())
    assert json.dumps(dict(spec.raw), sort_keys=True) == json.dumps(expected, sort_keys=True)


def test_billion_laughs_refused_by_train(tmp_path: Path) -> None:
    """The bomb under ``defaults:`` is refused when the spec is read: nothing is trained,
    no bundle is started, in well under a second and without building the expansion."""
    spec = tmp_path / "bomb.yaml"
    spec.write_text(billion_laughs())
    out = tmp_path / "bundle"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    result = invoke(["train", spec, "--data", EXAMPLE, "-o", out, "-q"])
    assert time.monotonic() - start < 10
    assert_one_line_error(result, "bomb.yaml", "aliases")
    assert not out.exists()
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 200_000  # the expansion would be gigabytes


def test_billion_laughs_refused_by_validate(tmp_path: Path) -> None:
    """``flashsim validate --pipeline SPEC`` reads specs the same way."""
    spec = tmp_path / "bomb.yaml"
    spec.write_text(billion_laughs())
    result = invoke(
        [
            "validate",
            "--flash",
            EXAMPLE,
            "--full",
            EXAMPLE,
            "--pipeline",
            spec,
            "-o",
            tmp_path / "r",
        ]
    )
    assert_one_line_error(result, "bomb.yaml", "aliases")
    assert not (tmp_path / "r").exists()


def test_long_string_aliased_is_bounded() -> None:
    """Few nodes but a long string used many times: the expanded characters are bounded too
    (the raw spec is saved into the bundle's JSON record)."""
    text = shipped_text = SPECS[0].read_text()
    big = "x" * 100_000
    text = shipped_text.replace(
        "defaults:\n", f"defaults:\n  s: &s {big}\n  t: [{', '.join(['*s'] * 50)}]\n", 1
    )
    with pytest.raises(SpecError, match="expands to more than"):
        parse_spec(yaml.safe_load(text), "s.yaml")
    assert 50 * len(big) > MAX_SPEC_CHARS


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        ("version: 1\nname: x\ncollections: " + "[" * 100_000, ["nested too deeply"]),
        ("version: 1\nname: x\ncollections: " + "{a: " * 100_000, ["nested too deeply"]),
        ("version: 1\nname: a\nname: b\ncollections: {}\n", ["duplicate key 'name'", "line 3"]),
        ("", ["the spec is empty"]),
        ("- 1\n- 2\n", ["top level", "expected a mapping"]),
        ("just a string", ["top level", "expected a mapping"]),
        ("version: 1\nname: x\ncollections: {}\n1: 2\n", ["key 1 is not a string"]),
        ("version: 1\nname: 2024-01-01\ncollections: {}\n", ["name", "a date"]),
        ("version: 1\nname: x\nseed: " + "9" * 5000 + "\n", ["4300 digits"]),
        ("version: 1\nname: x\nseed: 100000000000000000000000000000\n", ["seed", "64 bits"]),
        ("version: 1\nname: x\ndefaults: !!binary aGVsbG8=\ncollections: {}\n", ["binary"]),
        ("version: 1\nname: x\ndefaults: !!set {a, b}\ncollections: {}\n", ["a set"]),
        ("a: !!python/object/apply:os.system [echo hi]\n", ["python/object"]),
        ("a: [unclosed\n", ["not valid YAML"]),
        ("x: \x00\n", ["not valid YAML"]),
    ],
    ids=[
        "brackets",
        "braces",
        "duplicate",
        "empty",
        "list",
        "scalar",
        "int-key",
        "date",
        "huge-int-literal",
        "seed-1e29",
        "binary",
        "set",
        "python-tag",
        "unclosed",
        "nul",
    ],
)
def test_malformed_spec_text(tmp_path: Path, content: str, needles: list[str]) -> None:
    """Each malformed document is one SpecError naming the problem (and the train command's
    one-line exit 2)."""
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message
    result = invoke(["train", path, "--data", EXAMPLE, "-o", tmp_path / "b", "-q"])
    assert_one_line_error(result, "bad.yaml")
    assert not (tmp_path / "b").exists()


def test_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.yaml"
    path.write_bytes(bytes(range(256)) * 8)
    result = invoke(["train", path, "--data", EXAMPLE, "-o", tmp_path / "b", "-q"])
    assert_one_line_error(result, "garbage.yaml", "not UTF-8")


def test_directory_as_spec(tmp_path: Path) -> None:
    """Refused by the option's own check (train) and by the loader (any other reader)."""
    result = invoke(["train", tmp_path, "--data", EXAMPLE, "-o", tmp_path / "b", "-q"])
    assert_one_line_error(result, "is a directory")
    with pytest.raises(SpecError, match="directory"):
        load_spec(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_as_spec_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(SpecError, match="not a regular file"):
        load_spec(fifo)
    assert time.monotonic() - start < 5


def test_huge_file_is_not_read(tmp_path: Path) -> None:
    """A 2 GB (sparse) spec is refused from its size, without reading it."""
    path = tmp_path / "big.yaml"
    with path.open("wb") as f:
        f.truncate(2 << 30)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(SpecError, match=f"more than the {MAX_YAML_BYTES}"):
        load_spec(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000


def test_missing_spec(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read pipeline spec"):
        load_spec(tmp_path / "nope.yaml")


# -- sections: every one validated, defaults included -----------------------------------------


def _set(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``data`` with the dotted ``path`` (``[i]`` list items as ``.i``) set."""
    out = copy.deepcopy(data)
    keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
    node = out
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return out


NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(
    ("index", "path", "value", "needle"),
    [
        (0, "defaults", [1, 2], "defaults: expected a mapping"),
        (0, "defaults", "text", "defaults: expected a mapping"),
        (0, "description", {"a": 1}, "description: expected a string"),
        (0, "name", "", "name: must not be empty"),
        (0, "name", "x" * 1000, "name: 1000 characters"),
        (0, "seed", 2**32, "seed: must be at most"),
        (0, "seed", -1, "seed: must be >= 0"),
        (0, "validation_fraction", NAN, "validation_fraction"),
        (0, "collections.Jet.efficiency.n_estimators", 10**18, "n_estimators"),
        (0, "collections.Jet.efficiency.n_estimators", "many", "n_estimators"),
        (0, "collections.Jet.efficiency.max_depth", 0, "max_depth"),
        (0, "collections.Jet.efficiency.learning_rate", NAN, "learning_rate"),
        (0, "collections.Jet.efficiency.learning_rate", INF, "learning_rate"),
        (0, "collections.Jet.efficiency.early_stopping_rounds", -1, "early_stopping_rounds"),
        (0, "collections.Jet.response.discrete.max_bin", 10**9, "discrete.max_bin"),
        (0, "collections.Jet.fakes.max_count", 10**9, "fakes.max_count"),
        (0, "collections.Jet.fakes.multiplicity", {"subsample": 0}, "multiplicity.subsample"),
        (0, "collections.Jet.targets.0.range", [NAN, 1], "targets[0].range[0]"),
        (0, "collections.Jet.targets.0.range", [0, INF], "targets[0].range[1]"),
        (0, "collections.Jet.targets.0.select_min", NAN, "select_min"),
        (0, "collections.Jet.targets.0.name", "../../etc", "is not a name"),
        (0, "collections.Jet.targets.0.name", 5, "targets[0].name"),
        (0, "collections.Jet.conditions.0.name", "a/b", "is not a name"),
        (0, "collections.Jet.source.pdgId", [2**40], "source.pdgId[0]"),
        (0, "collections.Muon.constants.mass", NAN, "constants.mass"),
        (0, "collections.Muon.conditions.4.flag.bit", 10**18, "flag.bit"),
        (0, "collections.Muon.conditions.4.flag.field", [1], "flag.field"),
        (
            0,
            "collections.Muon.conditions.6.feature",
            {"nearest_dr": {"collection": 3}},
            "collection",
        ),
        (0, "collections.Jet.conditions.9.feature.cone_sum.radius", NAN, "radius"),
        (0, "collections.Jet.conditions.9.feature.cone_sum.pdgId", "e", "pdgId"),
        (0, "collections.Muon.efficiency.classes.values", [1, 2**40], "classes.values[1]"),
        (0, "collections", [], "collections: expected a non-empty mapping"),
        (0, "event", [1], "event: expected a mapping"),
        (1, "pid.species", {"../x": {"pdgId": [321]}}, "is not a name"),
        (1, "pid.targets.0.range", [None, NAN], "range[1]"),
        (1, "pid.targets.0.range", ["a", None], "range[0]"),
        (1, "pid.balance", {"condition": "p", "bins": 10**12}, "balance.bins"),
        (1, "pid.balance", {"condition": "p", "max_factor": NAN}, "balance.max_factor"),
        (1, "pid.is_muon.efficiency.n_estimators", 10**12, "is_muon.efficiency.n_estimators"),
        (0, "collections.Jet.response.training.epochs", 10**18, "training.epochs"),
        (0, "collections.Jet.response.training.batch_size", 10**18, "training.batch_size"),
        (0, "collections.Jet.response.training.patience", 10**18, "training.patience"),
        (0, "collections.Jet.response.training.max_minutes", 1e18, "training.max_minutes"),
        (0, "collections.Jet.response.training.learning_rate", 1e18, "training.learning_rate"),
        (0, "collections.Jet.response.training.ema", 1.0, "training.ema"),
    ],
)
def test_section_values_refused(index: int, path: str, value: Any, needle: str) -> None:
    """A bad value anywhere is one SpecError naming the key path."""
    data = _set(shipped(index), path, value)
    with pytest.raises(SpecError) as err:
        parse_spec(data, "s.yaml")
    assert needle in str(err.value), str(err.value)
    assert str(err.value).startswith("s.yaml: ")


def test_defaults_may_hold_any_plain_data() -> None:
    """``defaults`` is where anchors live: any plain data under string keys, or nothing."""
    data = shipped()
    data["defaults"]["extra"] = {"a": [1, 2.5, None, True, "x"], "b": {"c": {}}}
    parse_spec(data, "s.yaml")
    parse_spec(_set(shipped(), "defaults", None), "s.yaml")
    with pytest.raises(SpecError, match=r"defaults\.when: a date"):
        parse_spec(_set(shipped(), "defaults", {"when": datetime.date(2024, 1, 1)}), "s.yaml")


def test_raw_stays_bounded_and_json() -> None:
    """``PipelineSpec.raw`` (saved into the bundle record) is JSON data of bounded size."""
    spec = load_spec(SPECS[0])
    assert len(json.dumps(dict(spec.raw))) < MAX_SPEC_CHARS


def test_every_model_section_goes_through_the_model_parsers(monkeypatch: Any) -> None:
    """Each response section (collections, their fakes, children and further sources, event,
    pid) is checked by the settings parsers of its model kind
    (:func:`flashsim.models.registry.settings_parsers`)."""
    import flashsim.models.registry as registry

    seen: list[Any] = []
    original = registry.settings_parsers

    def spy(kind: str) -> Any:
        config, training = original(kind)

        def wrap(parse: Any) -> Any:
            def checked(value: Any, *args: Any, **kwargs: Any) -> Any:
                seen.append(value)
                return parse(value, *args, **kwargs)

            return checked

        return wrap(config), wrap(training)

    monkeypatch.setattr(registry, "settings_parsers", spy)
    for index in (0, 1):
        data = shipped(index)
        responses = [c["response"] for c in data["collections"].values()]
        responses += [c["fakes"]["response"] for c in data["collections"].values() if "fakes" in c]
        for c in data["collections"].values():  # a FatJet's subjets, electrons from jets
            responses += [c["children"]["response"]] if "children" in c else []
            responses += [s["response"] for s in c.get("sources", {}).values()]
        responses += [data[s]["response"] for s in ("event", "pid") if s in data]
        seen.clear()
        parse_spec(data, "s.yaml")
        assert len(seen) == 2 * len(responses)


# -- command-line options ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", EXAMPLE, "-o", "x.root", "--seed", str(10**29)], "--seed"),
        (["validate", "--flash", "a", "--full", "b", "-o", "r", "--seed", str(2**32)], "--seed"),
        (["validate", "--flash", "a", "--full", "b", "-o", "r", "-j", "100000"], "--jobs"),
        (["refsim", "generate", "--process", "ttbar", "-n", str(10**13), "-o", "g.root"], "-n"),
        (["refsim", "generate", "--process", "ttbar", "-n", "5", "-j", "9999", "-o", "g"], "-j"),
        (
            ["refsim", "generate", "--process", "ttbar", "-n", "5", "--pileup", "nan", "-o", "g"],
            "nan",
        ),
        (
            ["refsim", "generate", "--process", "ttbar", "-n", "5", "--pileup", "1e9", "-o", "g"],
            "pileup",
        ),
        (
            ["refsim", "generate", "--process", "qcd", "-n", "5", "--pthat-min", "1e9", "-o", "g"],
            "pthat",
        ),
        (
            [
                "refsim",
                "generate",
                "--process",
                "ttbar",
                "-n",
                "5",
                "--seed",
                "900000001",
                "-o",
                "g",
            ],
            "--seed",
        ),
        (["refsim", "calibration", "--channel", "jpsi", "-n", str(10**12), "-o", "c"], "--n-rows"),
        (
            [
                "refsim",
                "calibration",
                "--channel",
                "jpsi",
                "-n",
                "5",
                "--background-fraction",
                "nan",
                "-o",
                "c",
            ],
            "nan",
        ),
        (
            ["sweights", "x.root", "--fit-var", "m", "--range", "nan", "1", "-o", "s.root"],
            "--range",
        ),
        (
            ["sweights", "x.root", "--fit-var", "m", "--range", "0", "inf", "-o", "s.root"],
            "--range",
        ),
        (
            [
                "sweights",
                "x.root",
                "--fit-var",
                "m",
                "--range",
                "0",
                "1",
                "--fix",
                "mu=nan",
                "-o",
                "s",
            ],
            "--fix",
        ),
        (["export", "m", "--onnx", "-o", "e", "--rtol", "nan"], "--rtol"),
        # A real bundle: a missing one is reported first (before the heavy imports).
        (["export", str(DEFAULT_MODEL), "--onnx", "-o", "e", "--opset", "9999"], "--opset"),
        (["train", "s.yaml", "--data", "d.root", "-o", "b", "--max-events", "0"], "--max-events"),
    ],
    ids=lambda a: " ".join(map(str, a[:2])) if isinstance(a, list) else a,
)
def test_absurd_options_refused_at_once(
    tmp_path: Path, monkeypatch: Any, args: list[str], needle: str
) -> None:
    """One line, exit 2, before any work (nothing is written)."""
    monkeypatch.chdir(tmp_path)
    start = time.monotonic()
    result = invoke(args)
    assert time.monotonic() - start < 30
    assert_one_line_error(result, needle)
    assert list(tmp_path.iterdir()) == []


# -- fuzz: mutated specs, parse only ----------------------------------------------------------

_VALUES: list[Any] = [
    None,
    True,
    -1,
    0,
    10**30,
    -(10**30),
    1.5,
    NAN,
    INF,
    -INF,
    1e308,
    "",
    "x",
    "nan",
    "1e9",
    "../x",
    [],
    [1],
    ["a"],
    {},
    {"a": 1},
    [[[]]],
    {"x": {"y": 1}},
    2**40,
    -5,
    datetime.date(2020, 1, 1),
    b"\x00",
]


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*path, i))
    return found


def test_fuzz_mutated_specs_raise_spec_error_only() -> None:
    """Hundreds of mutations of the shipped specs (a value replaced by a hostile one, a key
    deleted, an unknown or non-string key added): every one parses or raises SpecError with
    one line; none raises anything else. Parse only, ~2 s."""
    rng = random.Random(25)
    bases = [shipped(0), shipped(1)]
    outcomes = {"parsed": 0, "refused": 0}
    messages: list[str] = []
    for _ in range(400):
        data = copy.deepcopy(rng.choice(bases))
        for _ in range(rng.choice((1, 1, 2))):
            path = rng.choice(_paths(data))
            parent = data
            for key in path[:-1]:
                parent = parent[key]
            roll = rng.random()
            if roll < 0.8:
                parent[path[-1]] = copy.deepcopy(rng.choice(_VALUES))
            elif roll < 0.9:
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[rng.choice((1, "zz", None, 2.5))] = 1
        try:
            parse_spec(data, "fuzz.yaml")
            outcomes["parsed"] += 1
        except SpecError as err:
            messages.append(str(err))
            outcomes["refused"] += 1
    assert outcomes["refused"] > 300, outcomes
    assert all("\n" not in m and m.startswith("fuzz.yaml: ") for m in messages)
    print(outcomes, file=sys.stderr)

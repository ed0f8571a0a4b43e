"""flashsim.untrusted: YAML, JSON and gzip read within bounds."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest

from flashsim.exceptions import ModelError, SpecError
from flashsim.untrusted import (
    MAX_DEPTH,
    MAX_YAML_NODES,
    check_depth,
    gunzip,
    load_json,
    load_yaml,
)


def laughs(levels: int, width: int = 9) -> str:
    """A "billion laughs" document: each anchor refers ``width`` times to the one before."""
    lines = ["defaults:", "  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        refs = ", ".join([f"*l{i - 1}"] * width)
        lines.append(f"  l{i}: &l{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_anchors_merge_keys_and_aliases_are_expanded() -> None:
    text = "base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\nlist: &l [1, 2]\nagain: *l\n"
    assert load_yaml(text, "s.yaml", SpecError) == {
        "base": {"x": 1, "y": 2},
        "use": {"x": 1, "y": 3},
        "list": [1, 2],
        "again": [1, 2],
    }


def test_alias_bomb_is_refused_before_expansion() -> None:
    assert MAX_YAML_NODES < 9**9
    with pytest.raises(SpecError, match=f"more than {MAX_YAML_NODES} nodes"):
        load_yaml(laughs(9), "bomb.yaml", SpecError)
    # A small sharing is fine.
    assert len(load_yaml(laughs(3), "ok.yaml", SpecError)["defaults"]["l2"]) == 9


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a: 1\nb: 2\na: 3\n", r"line 3, column 1: duplicate key 'a' \(first on line 1\)"),
        ("[" * 100_000, "nested too deeply"),
        ("a: &a [*a]\n", "nested more than"),
        ("a: [1, 2\n", "not valid YAML: line"),
        ("a: " + "9" * 5000 + "\n", "not a usable document"),
        ("x" * (2 << 20), "more than the"),
    ],
)
def test_bad_yaml_is_one_error_of_the_callers_class(text: str, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        load_yaml(text, "s.yaml", SpecError)


def test_json_bounds() -> None:
    assert load_json(b'{"a": [1, 2]}', "r.json", ModelError) == {"a": [1, 2]}
    with pytest.raises(ModelError, match="levels deep"):
        load_json("[" * 200_000 + "]" * 200_000, "r.json", ModelError)
    with pytest.raises(ModelError, match="levels deep"):
        load_json(json.dumps(nested(MAX_DEPTH + 1)), "r.json", ModelError)
    load_json(json.dumps(nested(MAX_DEPTH - 1)), "r.json", ModelError)
    with pytest.raises(ModelError, match="more than the 10 accepted"):
        load_json(b"[" + b"1," * 10 + b"1]", "r.json", ModelError, max_bytes=10)
    with pytest.raises(ModelError, match="not valid JSON"):
        load_json(b"\xff{", "r.json", ModelError)


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_check_depth_counts_mappings_and_lists() -> None:
    check_depth({"a": [{"b": 1}]}, "x", ValueError, limit=3)
    with pytest.raises(ValueError, match="nested more than 2"):
        check_depth({"a": [{"b": 1}]}, "x", ValueError, limit=2)


def test_gunzip_caps_the_output_without_inflating_a_bomb() -> None:
    assert gunzip(gzip.compress(b"abc" * 10), 30, "x.gz", ModelError) == b"abc" * 10
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = b"".join(compressor.compress(b"\0" * (1 << 20)) for _ in range(64)) + compressor.flush()
    assert len(bomb) < 100_000
    with pytest.raises(ModelError, match="decompresses to more than 1000000 bytes"):
        gunzip(bomb, 1_000_000, "bomb.gz", ModelError)
    with pytest.raises(ModelError, match="truncated"):
        gunzip(gzip.compress(b"abc" * 1000)[:-20], 10_000, "cut.gz", ModelError)
    with pytest.raises(ModelError, match="not gzip"):
        gunzip(b"plain text", 100, "x.gz", ModelError)

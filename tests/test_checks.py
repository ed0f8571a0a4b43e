"""flashsim.checks: one error per bad value, naming origin and key path, with did-you-mean hints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from flashsim.checks import ConfigReader, closest, did_you_mean
from flashsim.exceptions import ConfigurationError, SpecError


def message(call: Any, error: type[Exception] = SpecError) -> str:
    with pytest.raises(error) as info:
        call()
    return str(info.value)


def test_errors_name_origin_and_key_path_in_the_readers_error_type() -> None:
    spec = ConfigReader("a.yaml")
    assert str(spec.fail("collections.Jet", "bad")) == "a.yaml: collections.Jet: bad"
    options = ConfigReader(error=ConfigurationError)
    text = message(lambda: options.integer(0, "workers", minimum=1), ConfigurationError)
    assert text == "workers: expected an integer >= 1, got 0"


def test_mapping_names_the_unknown_key_with_a_suggestion_and_the_missing_one() -> None:
    r = ConfigReader("a.yaml")
    text = message(lambda: r.mapping({"colections": {}}, "top level", ["collections"], ["seed"]))
    assert text == (
        "a.yaml: top level.colections: unknown key (did you mean 'collections'?); "
        "allowed: collections, seed"
    )
    text = message(lambda: r.mapping({"seed": 1}, "top level", ["collections"], ["seed"]))
    assert text == "a.yaml: top level: missing required key 'collections'"
    assert message(lambda: r.mapping([], "x")) == "a.yaml: x: expected a mapping, got list"


def test_choice_suggests_the_closest_value() -> None:
    r = ConfigReader()
    text = message(lambda: r.choice("flwo", "response.model", ("flow", "gan")))
    assert text == (
        "response.model: unknown value 'flwo' (did you mean 'flow'?); "
        "expected one of ('flow', 'gan')"
    )
    assert closest("zzz", ["flow", "gan"]) is None
    assert did_you_mean("zzz", ["flow", "gan"]) == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "x: expected an integer >= 1, got a boolean"),
        (1.5, "x: expected an integer >= 1, got 1.5"),
        (0, "x: expected an integer >= 1, got 0"),
    ],
)
def test_integer_refuses_booleans_floats_and_small_values(value: Any, expected: str) -> None:
    assert message(lambda: ConfigReader().integer(value, "x", minimum=1)) == expected


def test_number_reads_yaml_exponent_strings_and_describes_its_interval() -> None:
    r = ConfigReader()
    assert r.number("1e-3", "lr", low=0, low_open=True) == 1e-3
    expected = {
        "lr: expected a finite number > 0, got 0": lambda: r.number(0, "lr", low=0, low_open=True),
        "ema: expected a number in [0, 1), got 1.0": lambda: r.number(
            1.0, "ema", low=0, high=1, high_open=True
        ),
        "x: expected a finite number, got nan": lambda: r.number(float("nan"), "x"),
        "x: expected a finite number, got 'fast'": lambda: r.number("fast", "x"),
    }
    for text, call in expected.items():
        assert message(call) == text


def test_lists_name_the_bad_item_by_index() -> None:
    r = ConfigReader()
    assert r.int_list([64, 64], "flow.hidden", minimum=1) == (64, 64)
    text = message(lambda: r.int_list([64, 0], "flow.hidden", minimum=1))
    assert text == "flow.hidden[1]: expected an integer >= 1, got 0"
    text = message(lambda: r.int_list([], "flow.hidden", what="layer widths"))
    assert text == "flow.hidden: expected a non-empty list of layer widths"


def test_sequence_refuses_repeated_names() -> None:
    @dataclass
    class Named:
        name: str

    r = ConfigReader()
    items = r.sequence(["a", "b"], "targets", lambda v, at: Named(v))
    assert [x.name for x in items] == ["a", "b"]
    text = message(lambda: r.sequence(["a", "a"], "targets", lambda v, at: Named(v)))
    assert text == "targets: name 'a' appears more than once"


def test_dataclass_from_takes_defaults_and_refuses_unknown_options() -> None:
    @dataclass(frozen=True)
    class Options:
        bins: int = 8
        hidden: int = 64

    r = ConfigReader()
    assert r.dataclass_from(Options, {"bins": 4}, "flow") == Options(bins=4)
    text = message(lambda: r.dataclass_from(Options, {"bin": 4}, "flow"))
    assert text == "flow: unknown key 'bin' (did you mean 'bins'?); valid keys: bins, hidden"
    text = message(lambda: r.dataclass_from(Options, 3, "flow"))
    assert text == "flow: expected a mapping of options, got int"

"""What a spec document may contain at all, before its sections are read: plain, bounded data.

A spec is shared between people and saved, as parsed, into every bundle trained from it
(:attr:`~flashsim.spec.PipelineSpec.raw`, written to the bundle's JSON record). So the whole
document, ``defaults`` and ``description`` included, must be data JSON can hold (mappings with
string keys, lists, strings, numbers, booleans, null: no YAML dates, sets or binary), and its
size *with every alias expanded* is bounded (:data:`MAX_SPEC_CHARS`): a few aliases of a long
string otherwise describe gigabytes that only appear when the bundle is saved.

Example:
    >>> check_spec_data({"defaults": {"a": [1, 2.5, None]}}, "s.yaml")
    >>> import datetime
    >>> check_spec_data({"defaults": {"when": datetime.date(2024, 1, 1)}}, "s.yaml")
    Traceback (most recent call last):
    ...
    flashsim.exceptions.SpecError: s.yaml: defaults.when: a date is not spec data (quote it)
"""

from __future__ import annotations

from typing import Any

from flashsim.exceptions import SpecError
from flashsim.untrusted import MAX_DEPTH, MAX_YAML_NODES

__all__ = ["MAX_SPEC_CHARS", "check_spec_data"]

MAX_SPEC_CHARS = 1 << 20
"""The largest a spec may be once its aliases are expanded, in characters of its JSON form
(1 MiB; the shipped CMS-like spec is ~22 kB)."""

_NAMES = {
    "date": "a date",
    "datetime": "a timestamp",
    "bytes": "binary data",
    "set": "a set",
    "tuple": "a pair",
}


def check_spec_data(data: Any, origin: str) -> None:
    """Refuse a spec document that is not plain data, nests too deeply or is too large.

    Every node is visited as often as it is used (an alias expands), counting the characters
    its JSON form takes; the walk stops as soon as a bound is passed, so it costs at most
    :data:`~flashsim.untrusted.MAX_YAML_NODES` steps whatever the document.

    Arguments:
        data: the parsed document (from YAML or from a bundle's JSON record).
        origin: the spec's file name, the messages' prefix.

    Raises:
        SpecError: a key that is not a string, a value JSON cannot hold (naming its key path),
            nesting deeper than :data:`~flashsim.untrusted.MAX_DEPTH`, more than
            :data:`~flashsim.untrusted.MAX_YAML_NODES` nodes or :data:`MAX_SPEC_CHARS`
            characters once expanded.
    """
    chars = 0
    nodes = 0
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        nodes += 1
        if nodes > MAX_YAML_NODES or chars > MAX_SPEC_CHARS:
            msg = (
                f"{origin}: the spec expands to more than {MAX_SPEC_CHARS} characters or "
                f"{MAX_YAML_NODES} values (through its aliases, *name?); write it out smaller"
            )
            raise SpecError(msg)
        if isinstance(value, dict | list) and depth >= MAX_DEPTH:
            msg = f"{origin}: {where or 'top level'}: nested more than {MAX_DEPTH} levels deep"
            raise SpecError(msg)
        if isinstance(value, dict):
            chars += 2
            for key, item in value.items():
                at = f"{where}.{key}" if where else str(key)
                if not isinstance(key, str):
                    msg = (
                        f"{origin}: {at}: the key {key!r} is not a string; spec keys are "
                        "names (quote it)"
                    )
                    raise SpecError(msg)
                chars += len(key) + 4
                stack.append((item, at, depth + 1))
        elif isinstance(value, list):
            chars += 2
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str):
            chars += len(value) + 3
        elif value is None or isinstance(value, bool | int | float):
            if isinstance(value, int) and value.bit_length() > 64:
                msg = f"{origin}: {where or 'top level'}: an integer of more than 64 bits"
                raise SpecError(msg)
            chars += 24
        else:
            what = _NAMES.get(type(value).__name__, f"a {type(value).__name__}")
            msg = f"{origin}: {where or 'top level'}: {what} is not spec data (quote it)"
            raise SpecError(msg)

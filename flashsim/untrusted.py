"""Reading data that someone else made (specs, model records, manifests, weights), with bounds.

Specs and model bundles are shared between people and downloaded; production runs read them
unattended. A few bytes of YAML, JSON or gzip can describe gigabytes (a YAML "billion laughs"
alias bomb, a gzip bomb, ``[`` nested a hundred thousand times), so every reader here bounds what
it builds *before* building it, and turns every problem into the caller's own exception class
(:class:`~flashsim.exceptions.SpecError`, :class:`~flashsim.exceptions.ModelError`, ...) with one
line naming the source:

- :func:`load_yaml`: YAML with anchors and aliases allowed (the shipped specs share settings with
  them) but the *expanded* document bounded (:data:`MAX_YAML_NODES` nodes), duplicate keys
  refused, nesting bounded (:data:`MAX_DEPTH`);
- :func:`load_json`: JSON with its size and nesting bounded;
- :func:`gunzip`: gzip with the decompressed size bounded.

Example:
    >>> from flashsim.exceptions import SpecError
    >>> load_yaml("a: &x [1, 2]\\nb: *x\\n", "spec.yaml", SpecError)
    {'a': [1, 2], 'b': [1, 2]}
    >>> load_yaml("a: 1\\na: 2\\n", "spec.yaml", SpecError)
    Traceback (most recent call last):
    ...
    flashsim.exceptions.SpecError: spec.yaml: line 2, column 1: duplicate key 'a' (first on line 1)
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import yaml

__all__ = [
    "MAX_DEPTH",
    "MAX_JSON_BYTES",
    "MAX_YAML_BYTES",
    "MAX_YAML_NODES",
    "check_depth",
    "gunzip",
    "load_json",
    "load_yaml",
]

MAX_DEPTH = 64
"""The deepest nesting of lists and mappings accepted in a spec, record or manifest (the shipped
specs nest 6 deep)."""

MAX_YAML_BYTES = 1 << 20
"""The largest spec file read (1 MiB; the shipped specs are ~15 kB)."""

MAX_YAML_NODES = 200_000
"""The most nodes a YAML document may have once its aliases are expanded (the shipped CMS-like
spec has ~4,000): a few bytes of nested aliases can otherwise describe gigabytes."""

MAX_JSON_BYTES = 64 << 20
"""The largest JSON document read (64 MiB; a model record is ~100 kB, an xgboost model a few MB)."""


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing duplicate keys (PyYAML keeps the last one silently)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: SafeLoader reports it
            break
        if first is not None:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first on line {first.start_mark.line + 1})",
                mark,
            )
        seen[key] = key_node
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """The number of nodes of ``root`` with every alias expanded, without expanding any; stops
    counting past ``limit``. Shared (aliased) nodes are counted once per use, from a memo."""
    sizes: dict[int, int] = {}
    # Iterative post-order walk: a deep document must not exhaust Python's stack.
    stack: list[tuple[yaml.Node, bool, int]] = [(root, False, 0)]
    while stack:
        node, children_done, depth = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = 1
            continue
        children: list[yaml.Node] = (
            [n for pair in node.value for n in pair]
            if isinstance(node, yaml.MappingNode)
            else list(node.value)
        )
        if children_done:
            sizes[key] = min(limit + 1, 1 + sum(sizes.get(id(c), 0) for c in children))
            continue
        if depth >= MAX_DEPTH:
            msg = f"nested more than {MAX_DEPTH} levels deep"
            raise _TooBigError(msg)
        stack.append((node, True, depth))
        stack.extend((c, False, depth + 1) for c in children if id(c) not in sizes)
    return sizes[id(root)]


class _TooBigError(ValueError):
    pass


def load_yaml(text: str, origin: str, error: type[Exception]) -> Any:
    """Parse a YAML document (safe loader) within bounds.

    Arguments:
        text: the document.
        origin: where it comes from (a file name), for messages.
        error: the exception class raised, e.g. :class:`~flashsim.exceptions.SpecError`.

    Raises:
        error: the text is longer than :data:`MAX_YAML_BYTES`, is not valid YAML, has a
            duplicate key, nests deeper than :data:`MAX_DEPTH`, or expands (through aliases) to
            more than :data:`MAX_YAML_NODES` nodes.
    """
    if len(text) > MAX_YAML_BYTES:
        msg = f"{origin}: {len(text)} characters, more than the {MAX_YAML_BYTES} a spec may have"
        raise error(msg)
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            size = _expanded_size(node, MAX_YAML_NODES)
            if size > MAX_YAML_NODES:
                msg = (
                    f"{origin}: the document expands to more than {MAX_YAML_NODES} nodes "
                    "through its aliases (*name); write the settings out or share fewer of them"
                )
                raise error(msg)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        msg = f"{origin}: not valid YAML: {where}{problem}"
        if "duplicate key" in str(problem):
            msg = f"{origin}: {where}{problem}"
        raise error(msg) from err
    except (_TooBigError, RecursionError) as err:
        what = str(err) if isinstance(err, _TooBigError) else f"nested too deeply ({MAX_DEPTH} max)"
        msg = f"{origin}: not a usable document: {what}"
        raise error(msg) from None
    except ValueError as err:  # e.g. an integer of more than 4,300 digits
        msg = f"{origin}: not a usable document: {str(err).split(';')[0]}"
        raise error(msg) from None


def check_depth(value: Any, origin: str, error: type[Exception], limit: int = MAX_DEPTH) -> None:
    """Raise ``error`` if ``value`` (parsed JSON/YAML) nests lists or mappings deeper than
    ``limit``."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= limit:
                msg = f"{origin}: nested more than {limit} levels deep; the file is not usable"
                raise error(msg)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, depth + 1) for c in children)


def load_json(
    data: str | bytes,
    origin: str,
    error: type[Exception],
    *,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """Parse a JSON document within bounds (size, then nesting).

    Raises:
        error: longer than ``max_bytes``, not JSON (or not UTF-8), or nested deeper than
            ``max_depth``.
    """
    if len(data) > max_bytes:
        msg = f"{origin}: {len(data)} bytes, more than the {max_bytes} accepted"
        raise error(msg)
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        msg = f"{origin}: not valid JSON ({err})"
        raise error(msg) from err
    except RecursionError:
        msg = f"{origin}: nested more than {max_depth} levels deep; the file is not usable"
        raise error(msg) from None
    except ValueError as err:  # e.g. an integer of more than 4,300 digits
        msg = f"{origin}: not valid JSON ({str(err).split(';')[0]})"
        raise error(msg) from None
    check_depth(value, origin, error, max_depth)
    return value


def gunzip(raw: bytes, limit: int, origin: str, error: type[Exception]) -> bytes:
    """Decompress gzip data, refusing to produce more than ``limit`` bytes.

    Raises:
        error: the data is not gzip, is truncated, or decompresses to more than ``limit`` bytes.

    Example:
        >>> import gzip
        >>> gunzip(gzip.compress(b"abc"), 10, "x.gz", ValueError)
        b'abc'
    """
    stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = stream.decompress(raw, limit + 1)
    except zlib.error as err:
        msg = f"{origin}: not gzip data ({err})"
        raise error(msg) from err
    if len(out) > limit:
        msg = f"{origin}: decompresses to more than {limit} bytes (a gzip bomb?); not loaded"
        raise error(msg)
    if not stream.eof:
        msg = f"{origin}: the gzip data is truncated"
        raise error(msg)
    return out

"""Damaged inputs for the fuzz tests: every way a production gen file or model bundle goes bad.

:func:`damaged_inputs` writes, from one good generator-level file, a list of :class:`Case`: files
truncated at random offsets, with bytes flipped or zeroed, with branches removed, renamed or
retyped (jagged where flat is expected and back, integers, booleans), with NaN, infinities, huge,
negative or absurd values, empty trees, no tree, not ROOT at all. :func:`damaged_bundles` does the
same to a model bundle (missing, truncated, corrupted or incompatible files). Everything is
derived from a seed, so a failing case can be rebuilt from its name.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

__all__ = ["Case", "damaged_bundles", "damaged_inputs", "read_columns", "write_columns"]

Columns = dict[str, Any]
"""Branch name -> flat numpy array or jagged awkward array (one entry per event)."""


@dataclass(frozen=True)
class Case:
    """One damaged input: its name (what was done) and its path (a file or a bundle directory)."""

    name: str
    path: Path


def read_columns(path: Path, max_events: int) -> Columns:
    """The branches of ``path``'s tree ``Events`` (first ``max_events``), counters left out."""
    with uproot.open(path) as file:
        arrays = file["Events"].arrays(entry_stop=max_events)
    names = set(arrays.fields)
    return {
        name: arrays[name]
        for name in arrays.fields
        if not (name.startswith("n") and any(n.startswith(name[1:] + "_") for n in names))
    }


def write_columns(path: Path, columns: Columns, tree: str = "Events") -> Path:
    """Write ``columns`` as a NanoAOD TTree: jagged ``X_*`` branches share a counter ``nX``."""
    groups: dict[str, dict[str, Any]] = {}
    flat: dict[str, Any] = {}
    for name, values in columns.items():
        prefix, _, inner = name.partition("_")
        if isinstance(values, ak.Array) and values.ndim > 1:
            if inner:
                groups.setdefault(prefix, {})[inner] = values
            else:
                flat[name] = values
        else:
            flat[name] = np.asarray(values)
    data: dict[str, Any] = dict(flat)
    for prefix, fields in groups.items():
        counts = {tuple(ak.num(v).to_list()) for v in fields.values()}
        if len(counts) == 1:
            data[prefix] = ak.zip(fields)
        else:  # fields of different lengths: separate counters, as a broken producer might write
            for inner, values in fields.items():
                data[f"{prefix}{inner}"] = ak.zip({"v": values})
    with uproot.recreate(path) as file:
        branch_types = {
            k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in data.items()
        }
        file.mktree(tree, branch_types)
        if len(next(iter(data.values()))):
            file[tree].extend(data)
    return path


def _like(values: Any, fill: Callable[[np.ndarray], np.ndarray]) -> Any:
    """``values`` (flat or jagged) with its flat content replaced by ``fill(content)``."""
    if isinstance(values, ak.Array) and values.ndim > 1:
        content = np.asarray(ak.flatten(values))
        return ak.unflatten(fill(content.copy()), ak.num(values))
    return fill(np.asarray(values).copy())


def _value_damages(rng: np.random.Generator) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    def at_random(value: float, fraction: float = 0.05) -> Callable[[np.ndarray], np.ndarray]:
        def fill(x: np.ndarray) -> np.ndarray:
            if x.size:
                rows = rng.random(x.size) < fraction
                rows[rng.integers(x.size)] = True
                x = x.astype(np.float32) if x.dtype.kind != "f" else x
                x[rows] = value
            return x

        return fill

    return {
        "nan": at_random(np.nan),
        "all_nan": at_random(np.nan, 1.0),
        "inf": at_random(np.inf),
        "minus_inf": at_random(-np.inf),
        "huge": at_random(1e30),
        "huge_negative": at_random(-1e30),
        "tiny": at_random(1e-30),
        "zero": at_random(0.0, 0.5),
        "negative": lambda x: -np.abs(x.astype(np.float32)),
        "constant": lambda x: np.full_like(x, 7),
    }


def damaged_inputs(
    good: Path, directory: Path, *, seed: int, max_events: int = 50, sample: int | None = None
) -> list[Case]:
    """Write the damaged variants of the generator-level file ``good`` into ``directory``.

    Arguments:
        good: a generator-level file with tree ``Events``.
        seed: fixes the random offsets, bytes and values, and the sample.
        max_events: events of ``good`` that the variants keep (small files, fast runs).
        sample: write only this many variants, drawn at random (with ``seed``), beside the
            intact file; None writes them all.
    Returns:
        The intact file first, then the damaged variants.
    """
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    columns = read_columns(good, max_events)
    base = write_columns(directory / "base.root", columns)
    raw = base.read_bytes()
    cases: list[Case] = [Case("intact", base)]
    pending: dict[Path, tuple[bytes | Columns, str]] = {}

    def add(name: str, data: bytes | Columns, tree: str = "Events") -> None:
        path = directory / f"{len(cases):03d}_{name}.root"
        pending[path] = (data, tree)
        cases.append(Case(name, path))

    # The bytes: truncated, flipped, zeroed, shuffled.
    for offset in sorted(rng.integers(1, len(raw), 20)):
        add(f"truncated_at_{offset}", raw[:offset])
    for i in range(25):
        data = bytearray(raw)
        positions = rng.integers(0, len(raw), rng.integers(1, 9))
        for p in positions:
            data[p] ^= int(rng.integers(1, 256))
        add(f"flipped_{i}_{len(positions)}_bytes", bytes(data))
    for _ in range(10):
        data = bytearray(raw)
        start = int(rng.integers(0, len(raw) - 64))
        stop = min(len(raw), start + int(rng.integers(64, 4096)))
        data[start:stop] = bytes(stop - start)
        add(f"zeroed_{start}_{stop}", bytes(data))
    add("empty_file", b"")
    add("text_file", b"run,event,GenJet_pt\n1,2,3.0\n")
    add("random_bytes", rng.bytes(4096))
    add("root_magic_then_garbage", b"root" + rng.bytes(4096))
    add("header_only", raw[:100])

    # The branches: removed, renamed, retyped.
    for name in sorted(columns):
        kept = {k: v for k, v in columns.items() if k != name}
        add(f"removed_{name}", kept)
        renamed = {(k.lower() if k == name else k): v for k, v in columns.items()}
        if name.lower() != name:
            add(f"renamed_{name}_to_{name.lower()}", renamed)
        values = columns[name]
        jagged = isinstance(values, ak.Array) and values.ndim > 1
        retyped = dict(columns)
        if jagged:
            firsts = ak.fill_none(ak.firsts(values), 0)
            retyped[name] = np.asarray(firsts)
            add(f"flat_{name}", retyped)
        else:
            retyped[name] = ak.unflatten(np.asarray(values), np.ones(len(values), dtype=np.int64))
            add(f"jagged_{name}", retyped)
        as_int = dict(columns)
        as_int[name] = _like(values, lambda x: np.nan_to_num(x).astype(np.int32))
        add(f"int32_{name}", as_int)
        as_bool = dict(columns)
        as_bool[name] = _like(values, lambda x: x != 0)
        add(f"bool_{name}", as_bool)

    # The values: NaN, infinities, huge, tiny, negative, constant.
    floats = [
        n
        for n, v in sorted(columns.items())
        if np.asarray(ak.flatten(v) if isinstance(v, ak.Array) and v.ndim > 1 else v).dtype.kind
        == "f"
    ]
    damages = _value_damages(rng)
    for kind, fill in damages.items():
        for name in rng.choice(floats, size=min(4, len(floats)), replace=False):
            add(f"{kind}_{name}", {**columns, str(name): _like(columns[str(name)], fill)})
    for kind in ("nan", "huge", "inf"):
        add(f"{kind}_everywhere", {k: _like(v, damages[kind]) for k, v in columns.items()})

    # The structure: empty, other trees, mismatched counters, crowded events.
    add("empty_tree", {k: v[:0] for k, v in columns.items()})
    add("other_tree_name", columns, tree="events")
    only_one = {k: v[:1] for k, v in columns.items()}
    add("one_event", only_one)
    crowded = dict(columns)
    for name, values in columns.items():
        if name.startswith("GenJet_"):
            many = np.resize(np.asarray(ak.flatten(values)), 3000)
            crowded[name] = ak.concatenate([ak.Array([many]), values[1:]])
    add("crowded_first_event", crowded)
    with uproot.recreate(directory / "rntuple.root") as file:
        file["Events"] = {k: np.asarray(v) for k, v in columns.items() if v.ndim == 1}
    cases.append(Case("rntuple_instead_of_ttree", directory / "rntuple.root"))
    with uproot.recreate(directory / "histogram.root") as file:
        file["Events"] = np.histogram(rng.normal(size=100))
    cases.append(Case("histogram_named_events", directory / "histogram.root"))
    if sample is not None:
        picked = rng.choice(np.arange(1, len(cases)), size=sample, replace=False)
        cases = [cases[0], *(cases[i] for i in picked)]  # in random order
    for case in cases:
        if case.path in pending:
            data, tree = pending[case.path]
            if isinstance(data, bytes):
                case.path.write_bytes(data)
            else:
                write_columns(case.path, data, tree)
    return cases


def damaged_bundles(good: Path, directory: Path, *, seed: int) -> list[Case]:
    """Copies of the model bundle ``good`` with one file missing, truncated, corrupted or
    replaced by an incompatible version."""
    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    files = sorted(p.name for p in good.iterdir() if p.is_file())

    def copy(name: str) -> Path:
        path = directory / f"{len(cases):03d}_{name}"
        shutil.copytree(good, path)
        cases.append(Case(name, path))
        return path

    for file in files:
        (copy(f"missing_{file}") / file).unlink()
        path = copy(f"truncated_{file}") / file
        data = path.read_bytes()
        path.write_bytes(data[: int(rng.integers(0, len(data)))])
        path = copy(f"flipped_{file}") / file
        data = bytearray(path.read_bytes())
        for p in rng.integers(0, len(data), 16):
            data[p] ^= int(rng.integers(1, 256))
        path.write_bytes(bytes(data))
    record_name = "flashsim-model.json"
    record = json.loads((good / record_name).read_text())
    for key, value in (("format", 99), ("spec", {"version": 99}), ("collections", {})):
        (copy(f"record_{key}_{value!r}"[:60]) / record_name).write_text(
            json.dumps({**record, key: value})
        )
    gz = [f for f in files if f.endswith(".json.gz")]
    if gz:
        path = copy(f"not_a_booster_{gz[0]}") / gz[0]
        path.write_bytes(gzip.compress(b'{"learner": 1}'))
    return cases

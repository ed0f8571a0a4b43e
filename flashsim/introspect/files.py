"""``flashsim inspect``: what is in a ROOT file, and whether it holds what a pipeline reads."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flashsim.exceptions import InputError
from flashsim.introspect.text import INDENT, compact, plural, size, wrap, wrap_text

if TYPE_CHECKING:
    from flashsim.pipeline import Pipeline


__all__ = [
    "BranchInfo",
    "CollectionInfo",
    "FileInfo",
    "FitInfo",
    "TreeSummary",
    "check_fit",
    "expected_layout",
    "file_info",
    "format_file_info",
]


@dataclass
class TreeSummary:
    """A TTree or RNTuple of a file."""

    name: str
    classname: str
    entries: int | None
    branches: int | None
    """Branches (TTree) or top-level fields (RNTuple); None where uproot cannot read them."""


@dataclass
class BranchInfo:
    """One branch of a TTree and how flashsim can read it."""

    name: str
    kind: str
    """``flat`` (one number per event), ``jagged`` (a list of numbers per event) or ``other``
    (strings, objects, fixed-size arrays: flashsim reads none of them)."""
    dtype: str
    """The numpy dtype of the numbers, or the ROOT type name for ``other``."""


@dataclass
class CollectionInfo:
    """A NanoAOD collection: the counter ``nX`` and the jagged ``X_<field>`` branches."""

    name: str
    counter: str
    fields: dict[str, str]
    """Field name -> dtype, of the jagged numeric ``X_*`` branches."""


@dataclass
class FitInfo:
    """Whether a tree holds what a pipeline reads (see :func:`check_fit`)."""

    model: str
    """The pipeline's name."""
    model_path: str
    required: dict[str, str]
    """The branches the pipeline reads -> how: ``flat``, ``jagged`` or ``counter``."""
    missing: dict[str, list[str]]
    """Missing branch -> close existing names (suggestions)."""
    wrong_kind: dict[str, str]
    """Branch -> what is wrong with its type."""
    n_events: int
    fits: bool
    reasons: list[str]


@dataclass
class FileInfo:
    """What a ROOT file holds (see :func:`file_info`)."""

    path: str
    size: int
    trees: list[TreeSummary]
    tree: str
    entries: int
    collections: list[CollectionInfo]
    event_branches: dict[str, str]
    """Flat numeric branches that are not counters: name -> dtype."""
    other_branches: list[BranchInfo]
    """Branches that are neither: non-numeric, fixed-size arrays, jagged without a counter,
    flat where the collection's other fields are jagged."""
    provenance: dict[str, Any] | None
    provenance_error: str | None
    fit: FitInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-compatible form (``flashsim inspect --json``)."""
        return dataclasses.asdict(self)


def file_info(
    path: str | os.PathLike[str],
    *,
    tree: str = "Events",
    model: str | os.PathLike[str] | None = None,
) -> FileInfo:
    """Describe a ROOT file, its tree ``tree``, and whether that tree fits a model's pipeline.

    Arguments:
        path: the ROOT file.
        tree: the TTree to describe and check.
        model: the model bundle whose pipeline the tree is checked against (default: the
            shipped model).

    Raises:
        InputError: the file is missing, not a ROOT file, corrupted, or has no TTree ``tree``.
        ModelError: the model bundle cannot be loaded.
    """
    from flashsim.io import PROVENANCE_KEY, open_events

    # The file first, with uproot alone: a file that cannot be described is reported before
    # the model code (torch, xgboost) is imported.
    file_path = Path(path)
    events = open_events(file_path, tree=tree)
    try:
        directory = events.file.root_directory
        trees = _tree_summaries(directory)
        branches = [_classify(branch) for branch in events.branches]
        entries = int(events.num_entries)
        has_provenance = PROVENANCE_KEY in directory
    finally:
        events.file.close()
    provenance, provenance_error = _provenance(file_path) if has_provenance else (None, None)
    collections, flat, other = _group_branches(branches)
    info = FileInfo(
        path=str(file_path),
        size=file_path.stat().st_size,
        trees=trees,
        tree=tree,
        entries=entries,
        collections=collections,
        event_branches=flat,
        other_branches=other,
        provenance=provenance,
        provenance_error=provenance_error,
    )
    from flashsim.bundle import default_model_path, load_bundle

    model_dir = Path(model) if model is not None else default_model_path()
    info.fit = check_fit(load_bundle(model_dir), branches, entries, model_path=str(model_dir))
    return info


def _tree_summaries(directory: Any) -> list[TreeSummary]:
    """Every TTree and RNTuple in the file, subdirectories included."""
    summaries = []
    for name, classname in directory.iterclassnames(recursive=True, cycle=False):
        if classname != "TTree" and "RNTuple" not in classname:
            continue
        try:
            obj = directory[name]
            entries, branches = int(obj.num_entries), len(obj.keys())
        except Exception:  # an RNTuple layout this uproot does not read: list it anyway
            entries = branches = None
        summaries.append(TreeSummary(name, classname, entries, branches))
    return summaries


def _provenance(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The provenance record, or the reason it cannot be read."""
    from flashsim.io import read_provenance

    try:
        record = read_provenance(path)
    except InputError as err:
        return None, str(err)
    if not isinstance(record, dict):
        return None, f"the provenance record is a JSON {type(record).__name__}, not an object"
    return record, None


def _classify(branch: Any) -> BranchInfo:
    """A branch's kind (flat, jagged, other) and dtype, from its uproot interpretation."""
    import uproot

    interp = branch.interpretation
    if isinstance(interp, uproot.AsDtype):
        dtype = interp.to_dtype
        if dtype.shape == () and dtype.kind in "biuf":
            return BranchInfo(branch.name, "flat", dtype.name)
    elif isinstance(interp, uproot.AsJagged) and isinstance(interp.content, uproot.AsDtype):
        dtype = interp.content.to_dtype
        if dtype.shape == () and dtype.kind in "biuf":
            return BranchInfo(branch.name, "jagged", dtype.name)
    return BranchInfo(branch.name, "other", str(branch.typename or type(interp).__name__))


def _group_branches(
    branches: Sequence[BranchInfo],
) -> tuple[list[CollectionInfo], dict[str, str], list[BranchInfo]]:
    """Split branches into NanoAOD collections, event-level branches and the rest.

    As :func:`flashsim.io.zip_collections` does: ``X_f`` belongs to collection ``X`` when the
    tree has a counter ``nX``.
    """
    names = {b.name for b in branches}
    counters = {f"n{b.name.partition('_')[0]}" for b in branches if "_" in b.name} & names
    collections: dict[str, CollectionInfo] = {}
    flat: dict[str, str] = {}
    other: list[BranchInfo] = []
    for b in branches:
        prefix, _, inner = b.name.partition("_")
        if inner and f"n{prefix}" in counters:
            coll = collections.setdefault(prefix, CollectionInfo(prefix, f"n{prefix}", {}))
            if b.kind == "jagged":
                coll.fields[inner] = b.dtype
                continue
        elif b.name in counters:
            if b.kind == "flat":
                continue  # shown with its collection
        elif b.kind == "flat":
            flat[b.name] = b.dtype
            continue
        other.append(b)
    return list(collections.values()), flat, other


def check_fit(
    pipeline: Pipeline, branches: Sequence[BranchInfo], n_events: int, *, model_path: str = ""
) -> FitInfo:
    """Check that a tree's branches hold what ``pipeline`` reads, as ``flashsim run`` needs.

    Every branch of :meth:`~flashsim.pipeline.Pipeline.required_branches` must exist, jagged
    numbers for collection fields and one number per event for event-level branches; each
    collection read needs its integer counter ``nX``; and the tree must have events.

    Arguments:
        pipeline: a :class:`~flashsim.pipeline.Pipeline`.
        branches: the tree's branches (see :func:`file_info`).
        n_events: the tree's number of entries.
        model_path: the bundle the pipeline comes from, for the report.
    """
    from flashsim.io import close_names, missing_branch_hint
    from flashsim.io.layout import DESCRIBED_MISSING

    expected = expected_layout(pipeline)
    found = {b.name: b for b in branches}
    missing = {name: close_names(name, found) for name in sorted(expected) if name not in found}
    wrong = {}
    for name, kind in sorted(expected.items()):
        branch = found.get(name)
        if branch is not None and (problem := _kind_problem(branch, kind)):
            wrong[name] = problem
    describe = len(missing) <= DESCRIBED_MISSING
    reasons = [
        _describe_missing(name, missing_branch_hint(name, found, describe=describe))
        for name in missing
    ]
    reasons += [f"{name} {problem}" for name, problem in wrong.items()]
    if n_events == 0:
        reasons.append("the tree has no events")
    return FitInfo(
        model=pipeline.spec.name,
        model_path=model_path,
        required=dict(sorted(expected.items())),
        missing=missing,
        wrong_kind=wrong,
        n_events=n_events,
        fits=not reasons,
        reasons=reasons,
    )


def expected_layout(pipeline: Pipeline) -> dict[str, str]:
    """The branches a pipeline reads and how: ``jagged``, ``flat`` or ``counter``.

    Event-level branches are :meth:`~flashsim.pipeline.Pipeline.event_level_branches`; every
    other required branch is a collection field, whose collection needs its counter
    (:func:`flashsim.branches.input_layout`). The same rules as ``flashsim run``
    (:func:`flashsim.io.check_branch_layout`): numbers, not booleans.
    """
    from flashsim.branches import input_layout

    return input_layout(pipeline.spec)


def _kind_problem(branch: BranchInfo, expected: str) -> str | None:
    """What is wrong with a branch of the expected kind, or None."""
    if branch.kind == "other" or branch.dtype == "bool":
        return f"holds {branch.dtype}, not numbers"
    if expected == "counter":
        if branch.kind != "flat" or branch.dtype[0] not in "iu":
            return f"is {branch.kind} {branch.dtype}, expected an integer counter"
        return None
    if branch.kind != expected:
        want = (
            "a list per event (collection field)" if expected == "jagged" else "one value per event"
        )
        return f"is {branch.kind}, expected {want}"
    return None


def _describe_missing(name: str, hint: str) -> str:
    return f"missing {name} ({hint})" if hint else f"missing {name}"


def format_file_info(info: FileInfo) -> str:
    """The text of ``flashsim inspect``; its last line says whether the file fits the model."""
    lines = [f"file: {info.path} ({size(info.size)})", "trees:"]
    for t in info.trees:
        counts = (
            "unreadable" if t.entries is None else f"{t.entries} entries, {t.branches} branches"
        )
        lines.append(f"{INDENT}{t.name}: {t.classname}, {counts}")
    lines.append(f"tree {info.tree}: {info.entries} events")
    for coll in info.collections:
        head = f"{INDENT}collection {coll.name} ({coll.counter}, {len(coll.fields)} fields):"
        lines += wrap(head, [f"{k} {v}" for k, v in coll.fields.items()])
    lines += wrap(
        f"{INDENT}event-level branches ({len(info.event_branches)}):",
        [f"{k} {v}" for k, v in info.event_branches.items()],
    )
    if info.other_branches:
        lines += wrap(
            f"{INDENT}other branches ({len(info.other_branches)}):",
            [f"{b.name} {b.kind} {b.dtype}" for b in info.other_branches],
        )
    lines += _format_provenance(info)
    if info.fit is not None:
        lines += _format_fit(info.fit)
    return "\n".join(lines)


def _format_provenance(info: FileInfo) -> list[str]:
    if info.provenance_error is not None:
        return [f"provenance: unreadable ({info.provenance_error})"]
    if info.provenance is None:
        return ["provenance: none (not written by flashsim)"]
    lines = ["provenance:"]
    for key, value in sorted(_flatten(info.provenance).items()):
        lines += wrap_text(f"{INDENT}{key}:", compact(value))
    return lines


def _flatten(record: Mapping[str, Any], prefix: str = "", depth: int = 2) -> dict[str, Any]:
    """Nested mappings as dotted keys, ``depth`` levels deep."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and depth > 1:
            out.update(_flatten(value, f"{name}.", depth - 1))
        else:
            out[name] = value
    return out


def _format_fit(fit: FitInfo) -> list[str]:
    counters = sum(1 for kind in fit.required.values() if kind == "counter")
    branches = len(fit.required) - counters
    lines = [
        f"model {fit.model} ({fit.model_path}): reads {plural(branches, 'branch', 'branches')} "
        f"and {plural(counters, 'counter', 'counters')}"
    ]
    if fit.fits:
        lines.append(f"fits model {fit.model}: yes")
    else:
        lines.append(f"fits model {fit.model}: no ({'; '.join(fit.reasons)})")
    return lines

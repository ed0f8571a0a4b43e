"""What is in a model bundle, and what is in an input file: ``flashsim info`` and ``inspect``.

:func:`model_info` describes a bundle from its JSON record alone (no weights are loaded): the
pipeline, the bundle's SHA-256, the software versions and training data recorded at training,
and per stage (collection, pile-up fakes, event, PID species) the efficiency BDT, the response
model, the condition and target names and the validation metrics.

:func:`file_info` describes a ROOT file: its trees, the NanoAOD collections (counter ``nX`` and
jagged ``X_*`` fields) and event-level branches of one tree, the flashsim provenance record if
there is one, and whether the tree holds what a pipeline reads (:func:`check_fit`).

Both return dataclasses whose ``to_dict()`` is the ``--json`` output; :func:`format_model_info`
and :func:`format_file_info` give the text.

Example:
    >>> from flashsim.bundle import default_model_path  # doctest: +SKIP
    >>> print(format_model_info(model_info(default_model_path())))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flashsim import __version__
from flashsim.exceptions import InputError, ModelError, SpecError

if TYPE_CHECKING:
    from flashsim.pipeline import Pipeline
    from flashsim.spec import (
        CollectionSpec,
        PidSpec,
        PipelineSpec,
        ResponseSpec,
        SpeciesSpec,
    )

__all__ = [
    "BranchInfo",
    "CollectionInfo",
    "EfficiencyInfo",
    "FileInfo",
    "FitInfo",
    "ModelInfo",
    "ResponseInfo",
    "StageInfo",
    "TreeSummary",
    "check_fit",
    "expected_layout",
    "file_info",
    "format_file_info",
    "format_model_info",
    "model_info",
]

_WIDTH = 100
_INDENT = "  "


# --------------------------------------------------------------------------------------------
# Model bundles
# --------------------------------------------------------------------------------------------


@dataclass
class EfficiencyInfo:
    """An xgboost classifier of a stage: what it decides, its hyperparameters, its metrics."""

    role: str
    """``efficiency`` (reconstructed, and in which ID class), ``multiplicity`` (number of
    unmatched objects) or ``isMuon``."""
    model: str
    outcomes: list[str]
    params: dict[str, Any]
    metrics: dict[str, Any]


@dataclass
class ResponseInfo:
    """The generative model of a stage (normalizing flow or GAN)."""

    model: str
    config: dict[str, Any]
    """Architecture hyperparameters, as recorded with the weights."""
    training: dict[str, Any]
    """Training settings of the spec (epochs, batch size, learning rate, ...)."""
    n_features: int
    n_context: int
    """Inputs of the model: the stage's conditions, then the ``extra_inputs``."""
    extra_inputs: list[str]
    """Inputs after the conditions: the ID class of a multiclass efficiency, ``isMuon``."""
    targets: list[str]
    metrics: dict[str, Any]


@dataclass
class StageInfo:
    """One trained stage: a collection, its pile-up fakes, the event quantities or a PID species."""

    name: str
    """``Jet``, ``Jet.fakes``, ``event``, ``pid.kaon``: the prefix of its metrics' labels."""
    summary: str
    conditions: list[str]
    efficiency: EfficiencyInfo | None
    response: ResponseInfo


@dataclass
class ModelInfo:
    """What a model bundle holds, from its record (see :func:`model_info`)."""

    path: str
    pipeline: str
    description: str
    format: int
    sha256: str
    versions: dict[str, str]
    """Software versions at training."""
    installed: dict[str, str]
    """The versions installed now, of the same packages (``not installed`` if absent)."""
    training: dict[str, Any]
    """The record's ``training`` entry (files with entries and SHA-256, events, seed, ...),
    without the metrics, which are in the stages; metrics of no known stage stay here."""
    stages: list[StageInfo]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-compatible form (``flashsim info --json``)."""
        return dataclasses.asdict(self)


def model_info(directory: str | os.PathLike[str]) -> ModelInfo:
    """Describe the model bundle in ``directory`` from its record, without loading weights.

    Raises:
        ModelError: the bundle is missing, incomplete, corrupted, from an incompatible flashsim
            version, or its record is inconsistent.
    """
    from flashsim.bundle import bundle_hash, read_record
    from flashsim.spec import parse_spec

    path = Path(directory)
    record = read_record(path)
    try:
        spec = parse_spec(record["spec"], origin=f"{path} (spec)")
        recorded = record.get("training") or {}
        metrics = dict(recorded.get("metrics") or {})
        stages = _stages(record, spec, metrics)
        training = {k: v for k, v in recorded.items() if k != "metrics"}
    except (KeyError, TypeError, ValueError, AttributeError, SpecError) as err:
        msg = f"model bundle {path} is inconsistent ({type(err).__name__}: {err}); retrain it"
        raise ModelError(msg) from err
    if metrics:
        training["metrics"] = metrics
    versions = {str(k): str(v) for k, v in (record.get("versions") or {}).items()}
    return ModelInfo(
        path=str(path),
        pipeline=spec.name,
        description=spec.description,
        format=int(record["format"]),
        sha256=bundle_hash(path),
        versions=versions,
        installed=_installed_versions(versions),
        training=training,
        stages=stages,
    )


def _installed_versions(recorded: Mapping[str, str]) -> dict[str, str]:
    """Installed versions of the recorded packages, read from package metadata (no imports)."""
    installed = {}
    for name in recorded:
        installed[name] = __version__ if name == "flashsim" else _installed_version(name)
    return installed


def _installed_version(module: str) -> str:
    """The version of the distribution providing ``module`` (``xgboost`` may be ``xgboost-cpu``)."""
    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        pass
    for dist in metadata.packages_distributions().get(module, []):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def _stages(
    record: Mapping[str, Any], spec: PipelineSpec, metrics: dict[str, Any]
) -> list[StageInfo]:
    """Every stage of the record, in pipeline order; pops the metrics each stage uses."""
    stages = []
    for name, coll in spec.collections.items():
        entry = record["collections"][name]
        stages.append(_collection_stage(name, coll, entry, metrics))
        if "fakes" in entry and coll.fakes is not None:
            stages.append(_fakes_stage(name, coll, entry["fakes"], metrics))
    if spec.event is not None:
        stages.append(
            StageInfo(
                name="event",
                summary="event-level quantities",
                conditions=_column_names(record["event"]["conditions"]),
                efficiency=None,
                response=_response(
                    record["event"]["response"],
                    spec.event.response,
                    metrics.pop("event.response", {}),
                ),
            )
        )
    if spec.pid is not None:
        stages.extend(
            _pid_stage(sp, spec.pid, record["pid"][sp.name], metrics) for sp in spec.pid.species
        )
    return stages


def _collection_stage(
    name: str, coll: CollectionSpec, entry: Mapping[str, Any], metrics: dict[str, Any]
) -> StageInfo:
    """A collection's efficiency and response stages."""
    source = coll.source
    cuts = []
    if source.pdg_id is not None:
        cuts.append(f"|pdgId| in {list(source.pdg_id)}")
    if source.status is not None:
        cuts.append(f"status in {list(source.status)}")
    selection = f" ({', '.join(cuts)})" if cuts else ""
    eff = coll.efficiency
    if eff.class_field is not None:
        outcomes = ["not reconstructed", *(f"{eff.class_field}={v}" for v in eff.class_values)]
    else:
        outcomes = ["not reconstructed", "reconstructed"]
    return StageInfo(
        name=name,
        summary=f"{source.collection}{selection} -> {name}, matched by {name}_{coll.match}",
        conditions=_column_names(entry["conditions"]),
        efficiency=_efficiency(
            "efficiency",
            entry["efficiency"],
            outcomes,
            eff.params,
            metrics.pop(f"{name}.efficiency", {}),
        ),
        response=_response(
            entry["response"],
            coll.response,
            metrics.pop(f"{name}.response", {}),
            [eff.class_field] if eff.class_field is not None else [],
        ),
    )


def _fakes_stage(
    name: str, coll: CollectionSpec, entry: Mapping[str, Any], metrics: dict[str, Any]
) -> StageInfo:
    """The pile-up (unmatched) objects of a collection: their multiplicity and response."""
    fakes = coll.fakes
    assert fakes is not None
    n_classes = int(entry["multiplicity"]["n_classes"])
    outcomes = [str(k) for k in range(n_classes - 1)] + [f"{n_classes - 1} or more"]
    label = f"{name}.fakes"
    return StageInfo(
        name=label,
        summary=f"unmatched {name} objects (pile-up), {name}_{coll.match} = -1",
        conditions=_column_names(entry["conditions"]),
        efficiency=_efficiency(
            "multiplicity",
            entry["multiplicity"],
            outcomes,
            fakes.multiplicity,
            metrics.pop(f"{label}.efficiency", {}),
        ),
        response=_response(entry["response"], fakes.response, metrics.pop(f"{label}.response", {})),
    )


def _pid_stage(
    species: SpeciesSpec, pid: PidSpec, entry: Mapping[str, Any], metrics: dict[str, Any]
) -> StageInfo:
    """One PID species: the isMuon BDT (if any) and the PID response model."""
    label = f"pid.{species.name}"
    efficiency = None
    if entry.get("is_muon") is not None:
        efficiency = _efficiency(
            "isMuon",
            entry["is_muon"],
            ["isMuon=0", "isMuon=1"],
            pid.is_muon_params,
            metrics.pop(f"{label}.isMuon.efficiency", {}),
        )
    return StageInfo(
        name=label,
        summary=f"PID of {pid.collection} objects matched to |pdgId| in {list(species.pdg_id)}",
        conditions=_column_names(entry["conditions"]),
        efficiency=efficiency,
        response=_response(
            entry["response"],
            pid.response,
            metrics.pop(f"{label}.response", {}),
            ["isMuon"] if efficiency is not None else [],
        ),
    )


def _efficiency(
    role: str,
    entry: Mapping[str, Any],
    outcomes: list[str],
    params: Mapping[str, Any],
    metrics: Mapping[str, Any],
) -> EfficiencyInfo:
    n_classes = int(entry["n_classes"])
    if len(outcomes) != n_classes:
        outcomes = [str(k) for k in range(n_classes)]
    return EfficiencyInfo(
        role=role, model="xgboost", outcomes=outcomes, params=dict(params), metrics=dict(metrics)
    )


def _response(
    entry: Mapping[str, Any],
    spec: ResponseSpec,
    metrics: Mapping[str, Any],
    extra_inputs: Sequence[str] = (),
) -> ResponseInfo:
    model = entry["model"]
    return ResponseInfo(
        model=str(model["kind"]),
        config=dict(model.get("config") or {}),
        training=dict(spec.training),
        n_features=int(model["n_features"]),
        n_context=int(model["n_context"]),
        extra_inputs=list(extra_inputs),
        targets=_column_names(entry["targets"]),
        metrics=dict(metrics),
    )


def _column_names(table: Mapping[str, Any]) -> list[str]:
    """The column names of a serialised :class:`~flashsim.preprocessing.TablePreprocessor`."""
    return [str(column["name"]) for column in table["columns"]]


def format_model_info(info: ModelInfo) -> str:
    """The text of ``flashsim info``."""
    lines = [
        f"model bundle: {info.path}",
        f"pipeline: {info.pipeline}",
        *_wrap_text("description:", info.description),
        f"bundle format: {info.format}",
        f"sha256: {info.sha256}",
        *_wrap(
            "versions at training:",
            [_version(k, v, info.installed.get(k)) for k, v in info.versions.items()],
        ),
        *_format_training(info.training),
        "stages:",
    ]
    for stage in info.stages:
        lines.extend(_format_stage(stage))
    return "\n".join(lines)


def _version(name: str, recorded: str, installed: str | None) -> str:
    if installed is None or installed == recorded:
        return f"{name} {recorded}"
    return f"{name} {recorded} (installed: {installed})"


def _format_training(training: Mapping[str, Any]) -> list[str]:
    """The training data (files, events, hashes) and the other recorded training facts."""
    if not training:
        return ["training: not recorded"]
    lines = ["training:"]
    files = training.get("files") or []
    lines.append(f"{_INDENT}data: {_plural(len(files), 'file', 'files')}")
    lines.extend(f"{_INDENT * 2}{_describe_file(f)}" for f in files)
    for species, cal_files in (training.get("calibration") or {}).items():
        lines.extend(f"{_INDENT * 2}calibration {species}: {_describe_file(f)}" for f in cal_files)
    facts = []
    if "events" in training:
        facts.append(f"{training['events']} events")
    if "validation_events" in training:
        facts.append(f"{training['validation_events']} of them for validation")
    for key in ("seed", "device"):
        if key in training:
            facts.append(f"{key} {training[key]}")
    if "seconds" in training:
        facts.append(f"{training['seconds']} s")
    if facts:
        lines.append(f"{_INDENT}{', '.join(facts)}")
    known = {"files", "calibration", "events", "validation_events", "seed", "device", "seconds"}
    for key, value in training.items():
        if key not in known:
            lines.append(f"{_INDENT}{key}: {_compact(value)}")
    return lines


def _describe_file(entry: Any) -> str:
    """One training or calibration file: path, entries (or rows), SHA-256."""
    if not isinstance(entry, Mapping):
        return f"{entry} (no entries or sha256 recorded)"
    count = entry.get("entries", entry.get("rows"))
    unit = "entries" if "entries" in entry else "rows"
    digest = entry.get("sha256")
    parts = [f"{count} {unit}" if count is not None else "entries not recorded"]
    parts.append(f"sha256 {digest}" if digest else "sha256 not recorded")
    return f"{entry.get('path', '?')}: {', '.join(parts)}"


def _format_stage(stage: StageInfo) -> list[str]:
    """A stage: conditions, then the efficiency BDT and the response model, each with its
    hyperparameters and validation metrics."""
    pad, sub = _INDENT * 2, _INDENT * 3
    lines = _wrap_text(f"{_INDENT}{stage.name}:", stage.summary)
    lines += _wrap(f"{pad}conditions ({len(stage.conditions)}):", stage.conditions)
    if stage.efficiency is not None:
        eff = stage.efficiency
        lines += _wrap(f"{pad}{eff.role}: {eff.model}, {len(eff.outcomes)} outcomes:", eff.outcomes)
        lines += _wrap(f"{sub}parameters:", _pairs(eff.params))
        lines += _format_metrics(f"{sub}metrics:", eff.metrics)
    resp = stage.response
    inputs = _plural(resp.n_context, "input", "inputs")
    if resp.extra_inputs:
        n_conditions = resp.n_context - len(resp.extra_inputs)
        inputs += f" ({n_conditions} conditions + {', '.join(resp.extra_inputs)})"
    targets = _plural(resp.n_features, "target", "targets")
    lines.append(f"{pad}response: {resp.model}, {targets}, {inputs}")
    lines += _wrap(f"{sub}architecture:", _pairs(resp.config))
    if resp.training:
        lines += _wrap(f"{sub}training:", _pairs(resp.training))
    lines += _wrap(f"{sub}targets ({len(resp.targets)}):", resp.targets)
    lines += _format_metrics(f"{sub}metrics:", resp.metrics)
    return lines


def _format_metrics(head: str, metrics: Mapping[str, Any]) -> list[str]:
    """``key=value`` items; the per-outcome observed/predicted fractions on a line of their own."""
    items = []
    fractions = []
    for key, value in metrics.items():
        if key.startswith("observed_fraction_"):
            k = key.removeprefix("observed_fraction_")
            predicted = metrics.get(f"predicted_fraction_{k}")
            fractions.append(f"{k}: {_number(value)}/{_number(predicted)}")
        elif not key.startswith("predicted_fraction_"):
            items.append(f"{key}={_compact(value)}")
    if not metrics:
        return [f"{head} not recorded"]
    lines = _wrap(head, items) if items else []
    if fractions:
        pad = " " * (len(head) - len(head.lstrip()))
        lines += _wrap(f"{pad}outcome fractions (observed/predicted):", fractions)
    return lines


# --------------------------------------------------------------------------------------------
# Input files
# --------------------------------------------------------------------------------------------


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
    from flashsim.bundle import default_model_path, load_bundle
    from flashsim.io import PROVENANCE_KEY, open_events

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
    expected = expected_layout(pipeline)
    found = {b.name: b for b in branches}
    missing = {name: _close_names(name, found) for name in sorted(expected) if name not in found}
    wrong = {}
    for name, kind in sorted(expected.items()):
        branch = found.get(name)
        if branch is not None and (problem := _kind_problem(branch, kind)):
            wrong[name] = problem
    reasons = [_describe_missing(name, close) for name, close in missing.items()]
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
    other required branch is a collection field, whose collection needs its counter. The same
    rules as ``flashsim run`` (:func:`flashsim.io.check_branch_layout`): numbers, not booleans.
    """
    flat = pipeline.event_level_branches()
    layout: dict[str, str] = {}
    for name in pipeline.required_branches():
        if name in flat:
            layout[name] = "flat"
        else:
            layout[name] = "jagged"
            layout[f"n{name.partition('_')[0]}"] = "counter"
    return layout


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


def _close_names(name: str, available: Iterable[str]) -> list[str]:
    """Existing names close to ``name``, as in :func:`flashsim.io.require_branches`."""
    by_lower = {n.lower(): n for n in sorted(available)}
    return [by_lower[c] for c in difflib.get_close_matches(name.lower(), by_lower, 3, 0.8)]


def _describe_missing(name: str, close: Sequence[str]) -> str:
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return f"missing {name}{hint}"


def format_file_info(info: FileInfo) -> str:
    """The text of ``flashsim inspect``; its last line says whether the file fits the model."""
    lines = [f"file: {info.path} ({_size(info.size)})", "trees:"]
    for t in info.trees:
        counts = (
            "unreadable" if t.entries is None else f"{t.entries} entries, {t.branches} branches"
        )
        lines.append(f"{_INDENT}{t.name}: {t.classname}, {counts}")
    lines.append(f"tree {info.tree}: {info.entries} events")
    for coll in info.collections:
        head = f"{_INDENT}collection {coll.name} ({coll.counter}, {len(coll.fields)} fields):"
        lines += _wrap(head, [f"{k} {v}" for k, v in coll.fields.items()])
    lines += _wrap(
        f"{_INDENT}event-level branches ({len(info.event_branches)}):",
        [f"{k} {v}" for k, v in info.event_branches.items()],
    )
    if info.other_branches:
        lines += _wrap(
            f"{_INDENT}other branches ({len(info.other_branches)}):",
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
        lines += _wrap_text(f"{_INDENT}{key}:", _compact(value))
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
        f"model {fit.model} ({fit.model_path}): reads {_plural(branches, 'branch', 'branches')} "
        f"and {_plural(counters, 'counter', 'counters')}"
    ]
    if fit.fits:
        lines.append(f"fits model {fit.model}: yes")
    else:
        lines.append(f"fits model {fit.model}: no ({'; '.join(fit.reasons)})")
    return lines


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# --------------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------------


def _wrap(head: str, items: Sequence[str]) -> list[str]:
    """``head`` followed by comma-separated items, wrapped at the line width between items."""
    indent = " " * (len(head) - len(head.lstrip()) + 4)
    lines: list[str] = []
    line, empty = head, True
    for i, item in enumerate(items):
        token = item if i == len(items) - 1 else item + ","
        if not empty and len(line) + 1 + len(token) > _WIDTH:
            lines.append(line)
            line, empty = indent + token, False
        else:
            line, empty = f"{line} {token}", False
    return [*lines, line]


def _wrap_text(head: str, text: str) -> list[str]:
    """``head`` followed by ``text``, wrapped between words."""
    indent = " " * (len(head) - len(head.lstrip()) + 4)
    return textwrap.wrap(
        f"{head} {text}", _WIDTH, subsequent_indent=indent, break_long_words=False
    ) or [head]


def _pairs(mapping: Mapping[str, Any]) -> list[str]:
    return [f"{k}={_compact(v)}" for k, v in mapping.items()]


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _compact(value: Any) -> str:
    """A short rendering: floats to 4 significant digits, containers as compact JSON."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(_rounded(value), separators=(", ", ": "))
    return str(value)


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def _size(n_bytes: int) -> str:
    size = float(n_bytes)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n_bytes} B"

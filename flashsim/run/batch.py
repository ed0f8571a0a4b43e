"""Many files, many cores, many machines: ``flashsim run`` split into work items.

:func:`run_items` plans the work items of its inputs (:mod:`flashsim.run.items`), runs them with
an executor (:mod:`flashsim.run.executors`) and records them in the manifest
(:mod:`flashsim.run.manifest`)::

    inputs ──plan_items──▶ work items ──executor(items, SimulateItem)──▶ outputs + manifest

Each output is written under a temporary name and renamed when complete
(:class:`flashsim.io.NanoAODWriter`), and the outputs of a file, concatenated, are those of the
whole-file run with the file's seed (:mod:`flashsim.run.seeding`). Temporaries left by killed runs
(dead processes of this host) are removed when a run starts; each input is hashed once, by the
planner, for the outputs' provenance; ``--resume`` and ``--overwrite`` trust neither the manifest
nor the files in the directory (:mod:`flashsim.run.manifest`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flashsim import __version__
from flashsim.atomic import remove_stale_temporaries
from flashsim.domain import InputPolicy
from flashsim.exceptions import ConfigurationError, InputError, ItemsFailedError, OutputError
from flashsim.io import check_output_dir, open_events, require_branches
from flashsim.pipeline import Pipeline
from flashsim.provenance import cached_file_digest
from flashsim.run.executors import Executor, SerialExecutor
from flashsim.run.inputs import check_not_simulated, pileup_fill
from flashsim.run.items import ItemResult, SimulateItem, WorkItem, item_size_for, plan_items
from flashsim.run.manifest import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    is_flashsim_output,
    item_key,
    load_manifest,
    merge_previous,
    read_manifest,
    remove_outputs,
    write_manifest,
)
from flashsim.run.model import (
    PolicyOverrides,
    cached_pipeline,
    model_dir,
    model_record,
    resolve_policy,
)
from flashsim.run.progress import progress_bar
from flashsim.run.seeding import SEED_SCHEME

__all__ = ["RunReport", "check_outdir", "run_items"]


@dataclass
class RunReport:
    """What :func:`run_items` did."""

    outdir: Path
    manifest: Path
    items: int = 0
    skipped: int = 0
    done: int = 0
    failed: list[tuple[WorkItem, str]] = field(default_factory=list)
    input_events: int = 0
    output_events: int = 0
    seconds: float = 0.0
    item_size: int = 0
    """Input events per item (the last item of an input may have fewer)."""

    def raise_for_failures(self) -> None:
        """Raise an :class:`~flashsim.exceptions.ItemsFailedError` naming the failed items."""
        if not self.failed:
            return
        shown = "; ".join(f"{item.output}: {error}" for item, error in self.failed[:3])
        more = f"; and {len(self.failed) - 3} more" if len(self.failed) > 3 else ""
        msg = (
            f"{len(self.failed)} of {self.items} items failed ({shown}{more}); see "
            f"{self.manifest}, fix the cause and rerun with --resume to redo only those"
        )
        raise ItemsFailedError(msg)


def check_outdir(outdir: str | os.PathLike[str], *, resume: bool, overwrite: bool) -> Path:
    """Check an output directory before any work starts (it may not exist yet).

    Raises:
        ConfigurationError: both ``resume`` and ``overwrite``.
        OutputError: ``outdir`` is a file, its parent is missing or not writable, it holds
            a manifest and neither ``resume`` nor ``overwrite`` is given, or its manifest is not
            a regular file (a link, a FIFO: never read or replaced).
    """
    if resume and overwrite:
        msg = "--resume and --overwrite contradict each other: give one"
        raise ConfigurationError(msg)
    return check_output_dir(outdir, record=MANIFEST_NAME, resume=resume, overwrite=overwrite)


def _entries(
    pipeline: Pipeline,
    path: Path,
    max_events: int | None,
    *,
    pileup: float | None = None,
    overwrite_reco: bool = False,
) -> int:
    """The number of entries of ``path`` to simulate, after checking that it is no flash output
    (unless ``overwrite_reco``) and has the branches it needs (those ``pileup`` fills aside)."""
    tree = open_events(path)
    try:
        needed = pipeline.required_branches()
        if not overwrite_reco:
            check_not_simulated(tree, path)
        filled = pileup_fill(needed, tree.keys(), pileup, path)
        require_branches(tree, [name for name in needed if name not in filled])
        entries = tree.num_entries
    finally:
        tree.file.close()
    if entries == 0:
        msg = f"input {path} has no events in tree 'Events'; remove it from the inputs"
        raise InputError(msg)
    return entries if max_events is None else min(entries, max_events)


def _input_paths(inputs: Sequence[str | os.PathLike[str]], out: Path) -> list[Path]:
    """The distinct absolute inputs, none of them inside the output directory ``out``."""
    paths = list(dict.fromkeys(Path(p).absolute() for p in inputs))
    if not paths:
        msg = "no input files given"
        raise InputError(msg)
    for path in paths:
        if path.parent == out.absolute():
            msg = f"input {path} is inside the output directory {out}; write elsewhere"
            raise ConfigurationError(msg)
    return paths


def _digests(paths: Sequence[Path]) -> dict[str, str | None]:
    """The SHA-256 of every input, by absolute path: hashed once per run (and per process,
    :func:`flashsim.provenance.cached_file_digest`), a few files at a time."""
    if not paths:
        return {}
    try:
        with ThreadPoolExecutor(max_workers=min(4, len(paths))) as pool:
            digests = list(pool.map(cached_file_digest, paths))
    except OSError as err:
        msg = f"cannot read input file {err.filename} to hash it: {err.strerror or err}"
        raise InputError(msg) from err
    return {str(path): digest for path, digest in zip(paths, digests, strict=True)}


def _previous_manifest(path: Path, *, resume: bool) -> dict[str, Any] | None:
    """The previous run's manifest: checked strictly for ``--resume``; for ``--overwrite``, one
    that cannot be read is ignored (it is replaced, and none of the files it lists deleted)."""
    if not path.exists():
        return None
    if resume:
        return read_manifest(path)
    try:
        return load_manifest(path)
    except OutputError:
        return None


def _items_to_run(
    out: Path,
    settings: dict[str, Any],
    entries: list[dict[str, Any]],
    *,
    resume: bool,
    overwrite: bool,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(manifest entries kept from a previous run, entries to run).

    The outputs of a previous run that is not resumed are deleted (only those flashsim made,
    :func:`~flashsim.run.manifest.remove_outputs`), and temporary files of dead processes.

    Raises:
        OutputError: a file at an item's planned name is not a flashsim output (it would be
            replaced), or exists without ``resume`` or ``overwrite``; the manifest is malformed
            (``resume``).
    """
    previous = _previous_manifest(out / MANIFEST_NAME, resume=resume)
    keep: list[dict[str, Any]] = []
    to_run = entries
    if previous is not None and resume:
        keep, to_run = merge_previous(previous, settings, entries, out)
    elif previous is not None:
        remove_outputs(out, previous)
    elif not overwrite:
        clash = [e["output"] for e in entries if os.path.lexists(out / e["output"])]
        if clash:
            msg = (
                f"{out / clash[0]} exists and {out} has no {MANIFEST_NAME}; pass --overwrite "
                "to replace it or choose another output directory"
            )
            raise OutputError(msg)
    for entry in to_run:
        path = out / entry["output"]
        if os.path.lexists(path) and not is_flashsim_output(path):
            msg = (
                f"{path} exists and is not a regular file written by flashsim (no "
                f"flashsim_provenance record); flashsim replaces only its own outputs: move it "
                "away or choose another output directory"
            )
            raise OutputError(msg)
    out.mkdir(exist_ok=True)
    remove_stale_temporaries(out)
    return keep, to_run


def run_items(
    inputs: Sequence[str | os.PathLike[str]],
    outdir: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    seed: int = 0,
    oversample: int = 1,
    step_size: int = 10_000,
    item_size: int = 100_000,
    max_events: int | None = None,
    executor: Executor | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    provenance: Mapping[str, Any] | None = None,
    policy: InputPolicy | PolicyOverrides | None = None,
    command: str | None = None,
    pileup: float | None = None,
    overwrite_reco: bool = False,
) -> RunReport:
    """Simulate ``inputs`` into one output file per work item in ``outdir``, with a manifest.

    Arguments:
        inputs: gen-level ROOT files (no two with the same base name).
        outdir: the output directory, created if missing (its parent must exist).
        model: the model bundle directory (default: the model shipped with flashsim).
        seed: the run's seed; each input's items use its :func:`~flashsim.run.seeding.file_seed`.
        oversample: simulate each gen event this many times.
        step_size: input events per chunk.
        item_size: input events per work item, rounded up to a multiple of ``step_size``
            (:func:`~flashsim.run.items.item_size_for`; less than ``step_size`` is an error).
        max_events: simulate only the first N events of each input.
        executor: where items run (default: :class:`~flashsim.run.executors.SerialExecutor`).
        resume: skip the items the manifest lists as done whose output is the item's: a regular
            file with the planned name, the events the manifest records and a provenance record
            of the item (seed, model, entry range, input and its SHA-256); requires a
            well-formed manifest and the same settings and model as the run that wrote it.
        overwrite: start again: delete the outputs listed by an existing manifest that flashsim
            made (planned names, with flashsim provenance), and nothing else.
        progress: show a progress bar over input events.
        provenance: extra entries for each output's provenance record.
        policy: non-finite and out-of-domain input policies (default: the spec's).
        command: the command line that started the run, for the manifest and each output's
            provenance record.
        pileup: ``Pileup_nTrueInt`` of every event of inputs that lack it
            (:func:`~flashsim.run.inputs.pileup_fill`).
        overwrite_reco: simulate outputs of ``flashsim run`` again, replacing their reco
            branches (:func:`~flashsim.run.inputs.check_not_simulated`).

    Returns:
        a :class:`RunReport`; failed items are in the manifest and in ``report.failed``
        (:meth:`RunReport.raise_for_failures` turns them into an error).

    Raises:
        InputError: an input is missing, unreadable, empty, lacks a needed branch, or is an
            output of ``flashsim run`` (without ``overwrite_reco``).
        OutputError: ``outdir`` cannot be written, or holds a run and neither ``resume`` nor
            ``overwrite`` is given.
        ConfigurationError: bad sizes, inputs with the same name, or ``resume`` with other
            settings than the run being resumed.
        ModelError: the model bundle cannot be loaded.
    """
    start_time = time.monotonic()
    out = check_outdir(outdir, resume=resume, overwrite=overwrite)
    if oversample < 1:
        msg = f"--oversample must be >= 1 (got {oversample})"
        raise ConfigurationError(msg)
    size = item_size_for(item_size, step_size)
    model_path = str(model_dir(model).absolute())
    pipeline = cached_pipeline(model_path)
    policy = resolve_policy(policy, pipeline.spec.input_policy)
    paths = _input_paths(inputs, out)
    files = [
        (p, _entries(pipeline, p, max_events, pileup=pileup, overwrite_reco=overwrite_reco))
        for p in paths
    ]
    items = plan_items(
        files, seed=seed, item_size=size, step_size=step_size, digests=_digests(paths)
    )
    record = model_record(model_path, pipeline)
    settings = {
        "seed": seed,
        "oversample": oversample,
        "step_size": step_size,
        "item_size": size,
        "max_events": max_events,
        **({"pileup": pileup} if pileup is not None else {}),
        "inputs": policy.to_dict(),
        "model": record,
    }
    entries = [
        {
            **asdict(item),
            "model_sha256": record["sha256"],
            "status": "pending",
            "events_in": None,
            "events_out": None,
            "seconds": None,
            "error": None,
        }
        for item in items
    ]
    keep, to_run = _items_to_run(out, settings, entries, resume=resume, overwrite=overwrite)
    manifest = {
        "format": MANIFEST_FORMAT,
        "flashsim_version": __version__,
        "command": command,
        "seed_scheme": SEED_SCHEME,
        "settings": settings,
        "items": sorted([*keep, *to_run], key=item_key),
    }
    manifest_path = out / MANIFEST_NAME
    write_manifest(manifest_path, manifest)
    report = RunReport(
        out, manifest_path, items=len(entries), skipped=len(entries) - len(to_run), item_size=size
    )
    function = SimulateItem(
        model=model_path,
        outdir=str(out.absolute()),
        oversample=oversample,
        step_size=step_size,
        provenance={**(provenance or {}), "seed": seed, "model": record},
        policy=policy,
        command=command,
        pileup=pileup,
        overwrite_reco=overwrite_reco,
    )
    by_key = {item_key(e): e for e in to_run}
    run = executor if executor is not None else SerialExecutor()
    total = sum(e["entry_stop"] - e["entry_start"] for e in to_run)
    bar = progress_bar(total, enabled=progress)
    try:
        for item, outcome in run([WorkItem(**_item_fields(e)) for e in to_run], function):
            entry = by_key[(item.input, item.entry_start, item.entry_stop)]
            if isinstance(outcome, ItemResult):
                entry.update(
                    status="done",
                    events_in=outcome.events_in,
                    events_out=outcome.events_out,
                    seconds=outcome.seconds,
                    error=None,
                )
                report.done += 1
                report.input_events += outcome.events_in
                report.output_events += outcome.events_out
            else:
                error = f"{type(outcome).__name__}: {outcome}"
                entry.update(status="failed", error=error)
                report.failed.append((item, error))
                bar.set_postfix(failed=len(report.failed))
            bar.update(item.events)
            write_manifest(manifest_path, manifest)
    finally:
        bar.close()
        write_manifest(manifest_path, manifest)
    report.seconds = round(time.monotonic() - start_time, 2)
    return report


def _item_fields(entry: Mapping[str, Any]) -> dict[str, Any]:
    fields = {
        name: entry[name] for name in ("input", "entry_start", "entry_stop", "output", "seed")
    }
    return {**fields, "input_sha256": entry.get("input_sha256")}

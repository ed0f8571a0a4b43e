"""Many files, many cores, many machines: ``flashsim run`` split into work items.

A *work item* is a range of entries of one input file, ``[entry_start, entry_stop)``, simulated
into its own output file ``<input stem>.<start>-<stop>.root`` in the output directory (written
under a temporary name and renamed when complete, see :class:`flashsim.io.NanoAODWriter`)::

    inputs ──plan_items──▶ work items ──executor(items, SimulateItem)──▶ outputs + manifest

Items start at multiples of the step size, so an item holds whole chunks of the whole-file run.

Determinism: each input gets a *file seed* from the run's seed and the file's base name,
``SeedSequence([seed, H(basename)]).generate_state(1, uint64)`` with ``H`` the first 8 bytes of
the SHA-256 of the UTF-8 name (little endian), see :func:`file_seed`; inside an item, the chunk
starting at input entry ``e`` uses ``chunk_rng(file_seed, e)`` exactly as
:func:`flashsim.runner.run_file` does. So the outputs of a file, concatenated, are those of
``run_file(input, seed=file_seed)`` whatever the number of workers, the executor, the item
size or the order in which items finish, provided torch runs on one thread: every item does
(the last bits of torch's floating-point results depend on its thread count).

Executors share one call, ``executor(items, function)``, yielding ``(item, result or exception)``
as items finish: :class:`SerialExecutor` (in this process), :class:`LocalExecutor` (a process
pool) and :class:`DaskExecutor` (``dask.distributed``, a local cluster or a scheduler's address;
install ``flashsim[dask]``). The manifest ``flashsim-manifest.json`` in the output directory
lists the items with their status; :func:`run_items` rewrites it atomically as items finish, so
an interrupted run can be finished with ``resume=True``.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import multiprocessing
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from flashsim import __version__
from flashsim.domain import InputPolicy
from flashsim.exceptions import (
    ConfigurationError,
    InputError,
    ItemsFailedError,
    OutputError,
)
from flashsim.io import open_events, require_branches
from flashsim.pipeline import Pipeline
from flashsim.runner import run_file

__all__ = [
    "EXECUTORS",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "DaskExecutor",
    "Executor",
    "ItemResult",
    "LocalExecutor",
    "RunReport",
    "SerialExecutor",
    "SimulateItem",
    "WorkItem",
    "check_outdir",
    "file_seed",
    "item_size_for",
    "plan_items",
    "run_items",
]

MANIFEST_NAME = "flashsim-manifest.json"
MANIFEST_FORMAT = 1
"""The manifest layout version this flashsim writes and reads."""

EXECUTORS = ("local", "dask")
"""The names ``--executor`` accepts."""

_SETTINGS_COMPARED_ON_RESUME = (
    "seed",
    "oversample",
    "step_size",
    "item_size",
    "max_events",
    "inputs",
)


def file_seed(seed: int, path: str | os.PathLike[str]) -> int:
    """The seed of every chunk of the input ``path``: from ``seed`` and the file's base name.

    Only the base name counts, so moving the inputs does not change the output; two inputs with
    the same base name would share their random streams, which :func:`plan_items` refuses.

    Example:
        >>> file_seed(1, "/data/gen_1.root") == file_seed(1, "elsewhere/gen_1.root")
        True
    """
    digest = hashlib.sha256(Path(path).name.encode()).digest()
    key = int.from_bytes(digest[:8], "little")
    return int(np.random.SeedSequence([seed, key]).generate_state(1, np.uint64)[0])


def item_size_for(item_size: int, step_size: int) -> int:
    """``item_size`` rounded up to a multiple of ``step_size`` (at least one step)."""
    if item_size < 1 or step_size < 1:
        msg = f"--item-size and --step-size must be >= 1 (got {item_size} and {step_size})"
        raise ConfigurationError(msg)
    return -(-item_size // step_size) * step_size


@dataclass(frozen=True)
class WorkItem:
    """Entries ``[entry_start, entry_stop)`` of ``input``, simulated with ``seed`` to ``output``.

    ``input`` is an absolute path; ``output`` is a file name in the output directory; ``seed``
    is the input's :func:`file_seed`.
    """

    input: str
    entry_start: int
    entry_stop: int
    output: str
    seed: int

    @property
    def events(self) -> int:
        """The number of input events of the item."""
        return self.entry_stop - self.entry_start


def plan_items(
    files: Sequence[tuple[str | os.PathLike[str], int]],
    *,
    seed: int,
    item_size: int,
    step_size: int,
) -> list[WorkItem]:
    """Split input files into work items.

    Arguments:
        files: ``(path, number of entries to simulate)`` per input.
        seed: the run's seed (each item gets its file's :func:`file_seed`).
        item_size: input events per item, rounded up to a multiple of ``step_size``.
        step_size: input events per chunk.

    Raises:
        ConfigurationError: two inputs have the same base name, or a size is not positive.

    Example:
        >>> [(i.entry_start, i.entry_stop) for i in plan_items(
        ...     [("a.root", 250)], seed=0, item_size=100, step_size=50)]
        [(0, 100), (100, 200), (200, 250)]
    """
    size = item_size_for(item_size, step_size)
    seen: dict[str, str] = {}
    items: list[WorkItem] = []
    for path, entries in files:
        absolute = str(Path(path).absolute())
        name = Path(path).name
        if name in seen and seen[name] != absolute:
            msg = (
                f"inputs {seen[name]} and {absolute} have the same file name, from which output "
                "names and random seeds are made; rename one or run them separately"
            )
            raise ConfigurationError(msg)
        if name in seen:
            continue
        seen[name] = absolute
        stem = Path(name).stem
        seed_of_file = file_seed(seed, name)
        for start in range(0, entries, size):
            stop = min(start + size, entries)
            items.append(
                WorkItem(absolute, start, stop, f"{stem}.{start}-{stop}.root", seed_of_file)
            )
    return items


@dataclass(frozen=True)
class ItemResult:
    """What simulating one item did."""

    events_in: int
    events_out: int
    seconds: float
    counters: dict[str, dict[str, int]] = field(default_factory=dict)


_PIPELINES: dict[str, Pipeline] = {}
_PIPELINES_LOCK = threading.Lock()


def _pipeline(model: str) -> Pipeline:
    """The pipeline of the bundle ``model``, loaded once per process (workers keep it)."""
    from flashsim.bundle import load_bundle

    with _PIPELINES_LOCK:
        if model not in _PIPELINES:
            _PIPELINES[model] = load_bundle(model)
        return _PIPELINES[model]


def _single_threaded_boosters(pipeline: Pipeline) -> None:
    """Make every efficiency BDT of ``pipeline`` predict on one thread.

    Work items run single-threaded (torch too) and N workers share the cores: all-core xgboost
    predictions would oversubscribe them. Its predictions do not depend on the thread count.
    """
    stages = []
    for collection in pipeline.collections.values():
        stages.append(collection.efficiency)
        if collection.fakes is not None:
            stages.append(collection.fakes.multiplicity)
    if pipeline.pid is not None:
        stages += [m.is_muon for m in pipeline.pid.species.values() if m.is_muon is not None]
    for stage in stages:
        stage.booster.set_param({"nthread": 1})


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class SimulateItem:
    """The work-item function: simulate one :class:`WorkItem` into ``outdir`` (picklable).

    Every executor calls the same instance; the pipeline is loaded from ``model`` once per
    process. Torch runs on one thread so that the output does not depend on where an item runs,
    and reading and writing stay in the item's thread: an item keeps to one core, and a machine
    runs as many workers as it has cores.

    Arguments:
        model: the model bundle directory (absolute: workers may run elsewhere).
        outdir: the output directory.
        oversample: simulate each gen event this many times.
        step_size: input events per chunk.
        provenance: extra entries for each output's provenance record.
        policy: the input policies (default: the spec's).
    """

    model: str
    outdir: str
    oversample: int = 1
    step_size: int = 10_000
    provenance: Mapping[str, Any] = field(default_factory=dict)
    policy: InputPolicy | None = None

    def warm_up(self) -> None:
        """Load the pipeline and use one torch thread: a worker process's initializer."""
        import torch

        torch.set_num_threads(1)
        _pipeline(self.model)

    def __call__(self, item: WorkItem) -> ItemResult:
        """Simulate ``item``; an existing output of the same name is replaced."""
        pipeline = _pipeline(self.model)
        _single_threaded_boosters(pipeline)
        provenance = {
            **self.provenance,
            "file_seed": item.seed,
            "entry_start": item.entry_start,
            "entry_stop": item.entry_stop,
        }
        with _one_torch_thread():
            summary = run_file(
                pipeline,
                item.input,
                Path(self.outdir) / item.output,
                seed=item.seed,
                oversample=self.oversample,
                step_size=self.step_size,
                overwrite=True,
                progress=False,
                provenance=provenance,
                entry_start=item.entry_start,
                entry_stop=item.entry_stop,
                policy=self.policy,
                background_io=False,  # one core per item: no reading or writing beside it
            )
        return ItemResult(
            summary.input_events, summary.output_events, summary.seconds, summary.counters
        )


Outcome = tuple[WorkItem, ItemResult | Exception]


class Executor(Protocol):
    """Runs ``function`` on every item, yielding ``(item, result or exception)`` as they finish."""

    def __call__(
        self, items: Sequence[WorkItem], function: Callable[[WorkItem], ItemResult]
    ) -> Iterator[Outcome]: ...


class SerialExecutor:
    """One item after the other, in this process."""

    def __call__(
        self, items: Sequence[WorkItem], function: Callable[[WorkItem], ItemResult]
    ) -> Iterator[Outcome]:
        for item in items:
            try:
                outcome: ItemResult | Exception = function(item)
            except Exception as err:
                outcome = err
            yield item, outcome


@dataclass(frozen=True)
class LocalExecutor:
    """A pool of ``workers`` processes on this machine (spawned, so safe with torch).

    Each worker runs ``function.warm_up()`` once if the function has it (loading the model).
    """

    workers: int

    def __call__(
        self, items: Sequence[WorkItem], function: Callable[[WorkItem], ItemResult]
    ) -> Iterator[Outcome]:
        if not items:
            return
        pool = ProcessPoolExecutor(
            max_workers=min(self.workers, len(items)),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=getattr(function, "warm_up", None),
        )
        futures = {pool.submit(function, item): item for item in items}
        try:
            yield from _outcomes(futures, as_completed(futures))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _outcomes(futures: Mapping[Any, WorkItem], completed: Iterator[Any]) -> Iterator[Outcome]:
    """(item, result or the exception it raised) for futures as they complete."""
    for future in completed:
        try:
            outcome: ItemResult | Exception = future.result()
        except Exception as err:
            outcome = err
        yield futures[future], outcome


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as err:
        msg = (
            "--executor dask needs dask.distributed, which is not installed; install it with "
            "pip install 'flashsim[dask]'"
        )
        raise ConfigurationError(msg) from err
    return distributed


@dataclass(frozen=True)
class DaskExecutor:
    """``dask.distributed``: the scheduler at ``scheduler``, or a local cluster of ``workers``.

    The local cluster has one single-threaded worker process per worker. With a scheduler, the
    workers must see the inputs, the model and the output directory at the same paths as this
    process (a shared file system).
    """

    workers: int = 1
    scheduler: str | None = None

    def __post_init__(self) -> None:
        _import_distributed()

    def __call__(
        self, items: Sequence[WorkItem], function: Callable[[WorkItem], ItemResult]
    ) -> Iterator[Outcome]:
        distributed = _import_distributed()
        if not items:
            return
        with contextlib.ExitStack() as stack:
            if self.scheduler is not None:
                try:
                    client = stack.enter_context(distributed.Client(self.scheduler))
                except (OSError, TimeoutError, ValueError) as err:
                    msg = (
                        f"cannot connect to the dask scheduler at {self.scheduler!r} ({err}); "
                        "check the address (e.g. tcp://host:8786) and that the scheduler runs"
                    )
                    raise ConfigurationError(msg) from err
            else:
                cluster = stack.enter_context(
                    distributed.LocalCluster(
                        n_workers=min(self.workers, len(items)),
                        threads_per_worker=1,
                        processes=True,
                        # A free port: the default 8787 may be taken by another cluster.
                        dashboard_address=":0",
                        # Workers that hold torch and xgboost may take seconds to exit and are
                        # then killed, with warnings; failed items are reported from futures.
                        silence_logs=logging.CRITICAL,
                    )
                )
                client = stack.enter_context(distributed.Client(cluster))
            token = secrets.token_hex(4)
            futures = {
                client.submit(function, item, key=f"flashsim-{item.output}-{token}", pure=False): (
                    item
                )
                for item in items
            }
            try:
                yield from _outcomes(futures, distributed.as_completed(list(futures)))
            finally:
                client.cancel(list(futures))


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


def _entries(pipeline: Pipeline, path: Path, max_events: int | None) -> int:
    """The number of entries of ``path`` to simulate, after checking the branches it needs."""
    tree = open_events(path)
    try:
        require_branches(tree, pipeline.required_branches())
        entries = tree.num_entries
    finally:
        tree.file.close()
    if entries == 0:
        msg = f"input {path} has no events in tree 'Events'; remove it from the inputs"
        raise InputError(msg)
    return entries if max_events is None else min(entries, max_events)


def check_outdir(outdir: str | os.PathLike[str], *, resume: bool, overwrite: bool) -> Path:
    """Check an output directory before any work starts (it may not exist yet).

    Raises:
        ConfigurationError: both ``resume`` and ``overwrite``.
        OutputError: ``outdir`` is a file, its parent is missing or not writable, or it holds
            a manifest and neither ``resume`` nor ``overwrite`` is given.
    """
    out = Path(outdir)
    if resume and overwrite:
        msg = "--resume and --overwrite contradict each other: give one"
        raise ConfigurationError(msg)
    if out.exists() and not out.is_dir():
        msg = f"output directory {out} is a file; give a directory name ending with '/'"
        raise OutputError(msg)
    existing = out if out.is_dir() else out.parent
    if not existing.is_dir():
        msg = f"cannot create output directory {out}: {existing} does not exist; create it first"
        raise OutputError(msg)
    if not os.access(existing, os.W_OK | os.X_OK):
        msg = f"cannot write to {existing}: it is not writable; choose another output directory"
        raise OutputError(msg)
    if (out / MANIFEST_NAME).exists() and not (resume or overwrite):
        msg = (
            f"output directory {out} already holds a flashsim run ({MANIFEST_NAME}); pass "
            "--resume to finish it, --overwrite to start again, or choose another directory"
        )
        raise OutputError(msg)
    return out


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        msg = f"manifest {path} is unreadable ({err}); pass --overwrite to start the run again"
        raise OutputError(msg) from err
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        msg = (
            f"manifest {path} is not a flashsim manifest of format {MANIFEST_FORMAT}; pass "
            "--overwrite to start the run again"
        )
        raise OutputError(msg)
    return manifest


def _write_manifest(path: Path, manifest: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(manifest, indent=1))
        os.replace(tmp, path)
    except BaseException:  # e.g. SIGTERM (Terminated) mid-write: leave no temporary behind
        tmp.unlink(missing_ok=True)
        raise


def _output_events(path: Path) -> int | None:
    """The number of events in an output file, or None if it cannot be read."""
    try:
        tree = open_events(path)
    except InputError:
        return None
    try:
        return int(tree.num_entries)
    finally:
        tree.file.close()


def _key(entry: Mapping[str, Any]) -> tuple[str, int, int]:
    return entry["input"], entry["entry_start"], entry["entry_stop"]


def _merge_previous(
    previous: dict[str, Any], settings: dict[str, Any], entries: list[dict[str, Any]], out: Path
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Reuse the complete items of ``previous``; returns (entries to keep, entries to run)."""
    before = previous.get("settings", {})
    changed = [
        f"{name} {before.get(name)!r} (this run: {settings[name]!r})"
        for name in _SETTINGS_COMPARED_ON_RESUME
        if before.get(name) != settings[name]
    ]
    if (before.get("model") or {}).get("sha256") != settings["model"]["sha256"]:
        changed.append("another model")
    if changed:
        msg = (
            f"cannot resume {out}: it was made with {', '.join(changed)}; rerun with the same "
            "options to resume, or pass --overwrite to start again"
        )
        raise ConfigurationError(msg)
    old = {_key(e): e for e in previous.get("items", [])}
    planned = {_key(e) for e in entries}
    inputs = {e["input"] for e in entries}
    moved = sorted({k[0] for k in old if k[0] in inputs and k not in planned})
    if moved:
        msg = (
            f"cannot resume {out}: the number of events of {', '.join(moved)} changed since the "
            "manifest was written; pass --overwrite to start again"
        )
        raise ConfigurationError(msg)
    keep = [e for k, e in old.items() if k[0] not in inputs]
    to_run = []
    for entry in entries:
        done = old.get(_key(entry))
        if (
            done is not None
            and done.get("status") == "done"
            and _output_events(out / done["output"]) == done.get("events_out")
        ):
            keep.append(done)
        else:
            to_run.append(entry)
    return keep, to_run


def _remove_outputs(out: Path, manifest: Mapping[str, Any]) -> None:
    """Delete the outputs a previous manifest lists (only plain names inside ``out``)."""
    for entry in manifest.get("items", []):
        name = str(entry.get("output", ""))
        if name and Path(name).name == name:
            (out / name).unlink(missing_ok=True)


def run_items(
    inputs: Sequence[str | os.PathLike[str]],
    outdir: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str],
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
    policy: InputPolicy | None = None,
) -> RunReport:
    """Simulate ``inputs`` into one output file per work item in ``outdir``, with a manifest.

    Arguments:
        inputs: gen-level ROOT files (no two with the same base name).
        outdir: the output directory, created if missing (its parent must exist).
        model: the model bundle directory.
        seed: the run's seed; see the module docstring for how items derive theirs.
        oversample: simulate each gen event this many times.
        step_size: input events per chunk.
        item_size: input events per work item, rounded up to a multiple of ``step_size``.
        max_events: simulate only the first N events of each input.
        executor: where items run (default: :class:`SerialExecutor`).
        resume: skip the items the manifest lists as done whose output holds the events it
            records; requires the same settings and model as the run that wrote it.
        overwrite: start again: delete the outputs listed by an existing manifest.
        progress: show a progress bar over input events.
        provenance: extra entries for each output's provenance record and the manifest
            (such as the command line).
        policy: non-finite and out-of-domain input policies (default: the spec's).

    Returns:
        a :class:`RunReport`; failed items are in the manifest and in ``report.failed``
        (:meth:`RunReport.raise_for_failures` turns them into an error).

    Raises:
        InputError: an input is missing, unreadable, empty, or lacks a needed branch.
        OutputError: ``outdir`` cannot be written, or holds a run and neither ``resume`` nor
            ``overwrite`` is given.
        ConfigurationError: bad sizes, inputs with the same name, or ``resume`` with other
            settings than the run being resumed.
        ModelError: the model bundle cannot be loaded.
    """
    from flashsim.bundle import bundle_hash

    start_time = time.monotonic()
    out = check_outdir(outdir, resume=resume, overwrite=overwrite)
    if oversample < 1:
        msg = f"--oversample must be >= 1 (got {oversample})"
        raise ConfigurationError(msg)
    size = item_size_for(item_size, step_size)
    model_dir = str(Path(model).absolute())
    pipeline = _pipeline(model_dir)
    policy = policy if policy is not None else pipeline.spec.input_policy
    paths = list(dict.fromkeys(Path(p).absolute() for p in inputs))
    if not paths:
        msg = "no input files given"
        raise InputError(msg)
    for path in paths:
        if path.parent == out.absolute():
            msg = f"input {path} is inside the output directory {out}; write elsewhere"
            raise ConfigurationError(msg)
    files = [(p, _entries(pipeline, p, max_events)) for p in paths]
    items = plan_items(files, seed=seed, item_size=size, step_size=step_size)
    model_record = {"path": model_dir, "sha256": bundle_hash(model_dir)}
    model_record["pipeline"] = pipeline.spec.name
    settings = {
        "seed": seed,
        "oversample": oversample,
        "step_size": step_size,
        "item_size": size,
        "max_events": max_events,
        "inputs": policy.to_dict(),
        "model": model_record,
    }
    entries = [
        {
            **asdict(item),
            "model_sha256": model_record["sha256"],
            "status": "pending",
            "events_in": None,
            "events_out": None,
            "seconds": None,
            "error": None,
        }
        for item in items
    ]
    manifest_path = out / MANIFEST_NAME
    keep: list[dict[str, Any]] = []
    to_run = entries
    if manifest_path.exists():
        previous = _read_manifest(manifest_path)
        if resume:
            keep, to_run = _merge_previous(previous, settings, entries, out)
        else:
            _remove_outputs(out, previous)
    elif not overwrite:
        clash = [e["output"] for e in entries if (out / e["output"]).exists()]
        if clash:
            msg = (
                f"{out / clash[0]} exists and {out} has no {MANIFEST_NAME}; pass --overwrite "
                "to replace it or choose another output directory"
            )
            raise OutputError(msg)
    out.mkdir(exist_ok=True)
    for entry in to_run:
        for leftover in out.glob(f".{glob.escape(entry['output'])}.tmp-*"):
            leftover.unlink(missing_ok=True)
    manifest = {
        "format": MANIFEST_FORMAT,
        "flashsim_version": __version__,
        "command": (provenance or {}).get("command", " ".join(sys.argv)),
        "seed_scheme": (
            "file_seed = SeedSequence([seed, H]).generate_state(1, uint64), H = first 8 bytes of "
            "sha256(input base name), little endian; chunk at entry e: chunk_rng(file_seed, e)"
        ),
        "settings": settings,
        "items": sorted([*keep, *to_run], key=_key),
    }
    _write_manifest(manifest_path, manifest)
    report = RunReport(out, manifest_path, items=len(entries), skipped=len(entries) - len(to_run))
    function = SimulateItem(
        model=model_dir,
        outdir=str(out.absolute()),
        oversample=oversample,
        step_size=step_size,
        provenance={**(provenance or {}), "seed": seed, "model": model_record},
        policy=policy,
    )
    by_key = {_key(e): e for e in to_run}
    run = executor if executor is not None else SerialExecutor()
    total = sum(e["entry_stop"] - e["entry_start"] for e in to_run)
    bar = tqdm(total=total, desc="flashsim run", unit=" events", disable=not progress)
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
            _write_manifest(manifest_path, manifest)
    finally:
        bar.close()
        _write_manifest(manifest_path, manifest)
    report.seconds = round(time.monotonic() - start_time, 2)
    return report


def _item_fields(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {name: entry[name] for name in ("input", "entry_start", "entry_stop", "output", "seed")}

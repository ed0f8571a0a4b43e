"""Work items: a range of entries of one input, simulated into its own output file.

A *work item* is ``[entry_start, entry_stop)`` of one input file, simulated into the file
``<input stem>.<start>-<stop>.root`` of the output directory (:func:`output_name`: the only names
``--resume`` accepts and ``--overwrite`` deletes). :func:`plan_items` splits inputs
into items that start at multiples of the step size, so an item holds whole chunks of the
whole-file run, and gives every item its input's :func:`~flashsim.run.seeding.file_seed`.
:class:`SimulateItem` is the function every executor calls on an item: the concatenated outputs
of a file are those of :func:`~flashsim.run.single.run_file` with the file seed, whatever the
number of workers, the executor, the item size or the order in which items finish, provided
torch runs on one thread, as every item does (the last bits of torch's floating-point results
depend on its thread count).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flashsim.domain import InputPolicy
from flashsim.exceptions import ConfigurationError
from flashsim.pipeline import Pipeline
from flashsim.run.model import cached_pipeline
from flashsim.run.seeding import file_seed
from flashsim.run.single import run_file

__all__ = ["ItemResult", "SimulateItem", "WorkItem", "item_size_for", "output_name", "plan_items"]


def item_size_for(item_size: int, step_size: int) -> int:
    """``item_size`` rounded up to a multiple of ``step_size``.

    An item holds whole chunks of ``step_size`` events, because a chunk's random stream comes
    from the entry it starts at (:func:`~flashsim.run.seeding.chunk_rng`): items that start at
    multiples of the step give the events of the whole-file run, whatever the item size. An
    item size below the step is therefore an error, never rounded up to one step (that would
    run fewer, larger items than asked), and never a smaller step (that would change the
    events): the message says to lower ``--step-size`` too.

    Raises:
        ConfigurationError: a size is not positive, or ``item_size < step_size``.

    Example:
        >>> item_size_for(25_000, 10_000)
        30000
    """
    if item_size < 1 or step_size < 1:
        msg = f"--item-size and --step-size must be >= 1 (got {item_size} and {step_size})"
        raise ConfigurationError(msg)
    if item_size < step_size:
        msg = (
            f"--item-size {item_size} is below --step-size {step_size}: an item holds whole "
            f"chunks of --step-size events (the step fixes the random stream); for items of "
            f"{item_size} events give --step-size {item_size} (or a divisor of it) too, which "
            "changes the simulated events, or a larger --item-size"
        )
        raise ConfigurationError(msg)
    return -(-item_size // step_size) * step_size


def output_name(input_path: str | os.PathLike[str], entry_start: int, entry_stop: int) -> str:
    """The output file name of the item ``[entry_start, entry_stop)`` of ``input_path``.

    Example:
        >>> output_name("/data/gen_1.root", 0, 100)
        'gen_1.0-100.root'
    """
    return f"{Path(input_path).stem}.{entry_start}-{entry_stop}.root"


@dataclass(frozen=True)
class WorkItem:
    """Entries ``[entry_start, entry_stop)`` of ``input``, simulated with ``seed`` to ``output``.

    ``input`` is an absolute path; ``output`` is a file name in the output directory
    (:func:`output_name`); ``seed`` is the input's :func:`~flashsim.run.seeding.file_seed`;
    ``input_sha256`` is the SHA-256 of the input, hashed once by the planner for the outputs'
    provenance (``None``: each item hashes it).
    """

    input: str
    entry_start: int
    entry_stop: int
    output: str
    seed: int
    input_sha256: str | None = None

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
    digests: Mapping[str, str | None] | None = None,
) -> list[WorkItem]:
    """Split input files into work items.

    Arguments:
        files: ``(path, number of entries to simulate)`` per input.
        seed: the run's seed (each item gets its file's :func:`~flashsim.run.seeding.file_seed`).
        item_size: input events per item, rounded up to a multiple of ``step_size``.
        step_size: input events per chunk.
        digests: the SHA-256 of each input by absolute path, given to its items.

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
        seed_of_file = file_seed(seed, name)
        digest = (digests or {}).get(absolute)
        for start in range(0, entries, size):
            stop = min(start + size, entries)
            output = output_name(name, start, stop)
            items.append(WorkItem(absolute, start, stop, output, seed_of_file, digest))
    return items


@dataclass(frozen=True)
class ItemResult:
    """What simulating one item did."""

    events_in: int
    events_out: int
    seconds: float
    counters: dict[str, dict[str, int]] = field(default_factory=dict)


def _single_threaded_boosters(pipeline: Pipeline) -> None:
    """Make every efficiency BDT of ``pipeline`` predict on one thread.

    Work items run single-threaded (torch too) and N workers share the cores: all-core xgboost
    predictions would oversubscribe them. Its predictions do not depend on the thread count.
    """
    stages = []
    for collection in pipeline.collections.values():
        stages.append(collection.efficiency)
        stages += [source.efficiency for source in collection.sources.values()]
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
        command: the command line that started the run, for each output's provenance record.
        pileup: ``Pileup_nTrueInt`` of every event of inputs that lack it.
        overwrite_reco: simulate outputs of ``flashsim run`` again (checked by the planner).
    """

    model: str
    outdir: str
    oversample: int = 1
    step_size: int = 10_000
    provenance: Mapping[str, Any] = field(default_factory=dict)
    policy: InputPolicy | None = None
    command: str | None = None
    pileup: float | None = None
    overwrite_reco: bool = False

    def warm_up(self) -> None:
        """Load the pipeline and use one torch thread: a worker process's initializer."""
        import torch

        torch.set_num_threads(1)
        cached_pipeline(self.model)

    def __call__(self, item: WorkItem) -> ItemResult:
        """Simulate ``item``; an existing output of the same name is replaced."""
        pipeline = cached_pipeline(self.model)
        _single_threaded_boosters(pipeline)
        provenance = {
            **self.provenance,
            "file_seed": item.seed,
            "entry_start": item.entry_start,
            "entry_stop": item.entry_stop,
            "output": item.output,
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
                command=self.command,
                input_sha256=item.input_sha256,
                pileup=self.pileup,
                overwrite_reco=self.overwrite_reco,
            )
        return ItemResult(
            summary.input_events, summary.output_events, summary.seconds, summary.counters
        )

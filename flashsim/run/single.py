"""Apply a trained pipeline to a generator-level file, chunk by chunk (``flashsim run``).

Each chunk of ``step_size`` input events is read (only the branches needed or passed through),
simulated with a generator seeded from ``(seed, first entry of the chunk)``
(:func:`~flashsim.run.seeding.chunk_rng`), and appended to the output TTree, so memory stays
bounded whatever the input size and the output for a given seed and step size does not depend on
anything else.

A run may cover only the entries ``[entry_start, entry_stop)`` of its input: chunks then start at
``entry_start, entry_start + step_size, ...``, so a range that starts at a multiple of
``step_size`` gives exactly the events of the whole-file run (the work items of
:mod:`flashsim.run.items`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from flashsim import __version__
from flashsim.domain import InputPolicy
from flashsim.exceptions import ConfigurationError, InputError
from flashsim.io import (
    NanoAODWriter,
    check_branch_layout,
    check_output_path,
    open_events,
    require_branches,
)
from flashsim.pipeline import Pipeline
from flashsim.provenance import BackgroundDigest, input_record
from flashsim.run.chunks import (
    PILEUP_COUNTER,
    REPLICA_BRANCH,
    SOURCE_BRANCH,
    RunSummary,
    finite_events,
    simulate_chunk,
)
from flashsim.run.inputs import check_not_simulated, pileup_fill
from flashsim.run.model import PolicyOverrides, prepare_run, resolve_policy
from flashsim.run.overlap import OverlappedIO
from flashsim.run.progress import progress_bar

__all__ = [
    "PILEUP_COUNTER",
    "REPLICA_BRANCH",
    "SOURCE_BRANCH",
    "RunSummary",
    "run_file",
    "simulate_file",
]


def simulate_file(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    policy: InputPolicy | PolicyOverrides | None = None,
    command: str | None = None,
    **options: Any,
) -> RunSummary:
    """Simulate ``input_path`` into ``output_path`` with the model bundle ``model``.

    Loads the bundle (default: the model shipped with flashsim), records it in the output's
    provenance (:func:`~flashsim.run.model.model_record`, by absolute path) and calls
    :func:`run_file`. Temporary files left in the output's directory by killed runs (dead
    processes of this host) are removed first (:func:`flashsim.atomic.remove_stale_temporaries`).

    Arguments:
        model: the model bundle directory.
        policy: the input policies (default: the spec's).
        command: the command line that started the run, for the provenance record.
        options: the other keyword arguments of :func:`run_file` (``seed``, ``oversample``,
            ``step_size``, ``overwrite``, ``progress``, ``max_events``, ...).

    Raises:
        OutputError: the output exists (without ``overwrite``) or cannot be written; checked
            before the model is loaded.
        ModelError: the model bundle cannot be loaded.
        InputError, ConfigurationError: as :func:`run_file`.
    """
    pipeline, model_provenance = prepare_run(output_path, model, options.get("overwrite", False))
    return run_file(
        pipeline,
        input_path,
        output_path,
        provenance=model_provenance,
        policy=policy,
        command=command,
        **options,
    )


def run_file(
    pipeline: Pipeline,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    seed: int = 0,
    oversample: int = 1,
    step_size: int = 10_000,
    overwrite: bool = False,
    progress: bool = True,
    max_events: int | None = None,
    provenance: dict[str, Any] | None = None,
    entry_start: int = 0,
    entry_stop: int | None = None,
    policy: InputPolicy | PolicyOverrides | None = None,
    background_io: bool = True,
    command: str | None = None,
    input_sha256: str | None = None,
    pileup: float | None = None,
    overwrite_reco: bool = False,
) -> RunSummary:
    """Simulate every event of ``input_path`` and write the NanoAOD-style ``output_path``.

    The provenance record names the input by absolute path (and as given) with its size and
    SHA-256, hashed in a background thread while the events are simulated
    (:class:`flashsim.provenance.BackgroundDigest`) unless ``input_sha256`` gives it.

    Arguments:
        pipeline: the trained pipeline (:func:`flashsim.bundle.load_bundle`).
        seed: the run's seed; the same seed, input, model and step size give the same output.
        oversample: simulate each gen event this many times (replicas are consecutive and
            carry :data:`REPLICA_BRANCH` and :data:`SOURCE_BRANCH`).
        step_size: input events per chunk.
        max_events: simulate at most this many events (from ``entry_start``).
        provenance: extra JSON-serialisable entries for the output's provenance record
            (they replace the default ones of the same name).
        entry_start: the first input entry to simulate.
        entry_stop: one past the last input entry to simulate (default: the end of the file).
        policy: what to do with non-finite inputs and conditions outside the training domain
            (:class:`flashsim.domain.InputPolicy`, or :class:`~flashsim.run.model.PolicyOverrides`
            of some of them; default: the spec's ``inputs:`` section).
        background_io: read the next chunk and write the previous one in background threads
            while a chunk is simulated (the output is the same either way); work items, which
            each keep to one core, read and write in line.
        command: the command line that started the run, for the provenance record.
        input_sha256: the input's SHA-256 when known (work items: hashed once by the planner).
        pileup: for an input without ``Pileup_nTrueInt``: the value it gets in every event
            (:func:`~flashsim.run.inputs.pileup_fill`), recorded in the provenance.
        overwrite_reco: simulate an output of ``flashsim run`` again, replacing its reco
            branches (:func:`~flashsim.run.inputs.check_not_simulated`).

    Raises:
        InputError: the input is missing, unreadable or corrupted, lacks a needed branch or
            has one of the wrong type, is an output of ``flashsim run`` (without
            ``overwrite_reco``), has NaN/inf under ``non_finite: error`` or conditions
            outside the training domain under ``out_of_domain: error``.
        OutputError: the output exists (without ``overwrite``) or cannot be written.
        ConfigurationError: ``oversample`` or ``step_size`` is not positive, or the entry
            range is invalid (negative start, or stop before start), or ``pileup`` is given
            for an input that has ``Pileup_nTrueInt`` or a pipeline that does not read it.
    """
    if oversample < 1 or step_size < 1:
        msg = f"--oversample and --step-size must be >= 1 (got {oversample} and {step_size})"
        raise ConfigurationError(msg)
    if entry_start < 0 or (entry_stop is not None and entry_stop < entry_start):
        msg = f"the entry range [{entry_start}, {entry_stop}) is invalid; give 0 <= start <= stop"
        raise ConfigurationError(msg)
    output = check_output_path(output_path, overwrite=overwrite)
    if Path(input_path).resolve() == output.resolve():
        msg = f"the output {output} is the input file; choose another output name"
        raise ConfigurationError(msg)
    policy = resolve_policy(policy, pipeline.spec.input_policy)
    start_time = time.monotonic()
    tree = open_events(input_path)
    digest = BackgroundDigest(input_path) if input_sha256 is None else None
    summary = RunSummary()
    try:
        needed = pipeline.required_branches()
        available = tree.keys()
        if not overwrite_reco:
            check_not_simulated(tree, input_path)
        filled = pileup_fill(needed, available, pileup, input_path)
        require_branches(tree, [name for name in needed if name not in filled])
        available = [*available, *filled]
        passthrough = pipeline.passthrough(available)
        branches = [b for b in pipeline.input_branches(available) if b not in filled]
        check_branch_layout(tree, needed, pipeline.event_level_branches(), passthrough)
        entries = tree.num_entries if entry_stop is None else min(tree.num_entries, entry_stop)
        if max_events is not None:
            entries = min(entries, entry_start + max_events)
        if entries <= entry_start:
            where = f"from entry {entry_start} on " if entry_start else ""
            msg = (
                f"input {input_path} has no events {where}in tree {tree.name!r}; "
                "nothing to simulate"
            )
            raise InputError(msg)
        record = {
            "flashsim_version": __version__,
            "command": command,
            **input_record(input_path, input_sha256),
            "output": output.name,
            "seed": seed,
            "oversample": oversample,
            "step_size": step_size,
            "inputs": policy.to_dict(),
            **({"filled_branches": filled} if filled else {}),
            **({"overwrite_reco": True} if overwrite_reco else {}),
            **(provenance or {}),
        }
        bar = progress_bar(entries - entry_start, enabled=progress)
        ranges = [(a, min(a + step_size, entries)) for a in range(entry_start, entries, step_size)]
        with (
            NanoAODWriter(output, overwrite=overwrite, metadata=record) as writer,
            OverlappedIO(writer, background=background_io) as io,
        ):
            for (first, stop), arrays in io.read(tree, branches, ranges):
                for name, value in filled.items():
                    arrays = ak.with_field(arrays, np.full(len(arrays), value, np.float32), name)
                arrays, entry = finite_events(arrays, needed, first, policy, input_path)
                summary.dropped_events += (stop - first) - len(arrays)
                if len(arrays):
                    for chunk in simulate_chunk(
                        pipeline,
                        arrays,
                        passthrough,
                        seed,
                        first,
                        entry,
                        oversample,
                        policy,
                        summary,
                    ):
                        io.write(chunk)
                summary.input_events += stop - first
                bar.update(stop - first)
            io.flush()
            if writer.n_events == 0:
                msg = (
                    f"every one of the {summary.input_events} events of {input_path} that were "
                    "read has NaN or inf in a branch the models read; nothing to write"
                )
                raise InputError(msg)
            summary.output_events = writer.n_events
            summary.seconds = round(time.monotonic() - start_time, 2)
            record.update(
                input_events=summary.input_events,
                output_events=summary.output_events,
                counters=summary.counters,
                seconds=summary.seconds,
                dropped_events={"non_finite": summary.dropped_events},
            )
            if digest is not None:
                record["input_sha256"] = _digest_of(digest, input_path)
            writer.set_metadata(record)
        bar.close()
    finally:
        if digest is not None:
            digest.cancel()
        tree.file.close()
    return summary


def _digest_of(digest: BackgroundDigest, input_path: str | os.PathLike[str]) -> str | None:
    """The input's SHA-256 from ``digest``; a read error is the input's fault (InputError)."""
    try:
        return digest.result()
    except OSError as err:
        msg = f"cannot read input file {input_path} to hash it: {err.strerror or err}"
        raise InputError(msg) from err

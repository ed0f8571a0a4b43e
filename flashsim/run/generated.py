"""``flashsim run`` on generator output: HepMC files, Pythia cards and LHE files, converted to
the gen level in memory and simulated chunk by chunk, without a gen-level file in between.

Each chunk of ``step_size`` events is converted exactly as ``flashsim gen`` converts it
(:func:`flashsim.generators.write.gen_chunks`), laid out as the branches of the gen-level file
(:func:`flat_branches`), and simulated with the random stream of the same entries
(:func:`flashsim.run.chunks.simulate_chunk`). So ``flashsim run events.hepmc3`` gives the same
output as ``flashsim gen events.hepmc3`` followed by ``flashsim run gen.root`` with the same seed
and step size (``tests/test_run_generated.py``). ``keep_gen`` also writes that gen-level file.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import awkward as ak
import numpy as np

from flashsim import __version__
from flashsim.domain import InputPolicy
from flashsim.exceptions import ConfigurationError, InputError
from flashsim.generators.source import EventSource
from flashsim.generators.write import check_pileup, gen_chunks, gen_provenance
from flashsim.io import NanoAODWriter, check_output_path
from flashsim.pipeline import Pipeline
from flashsim.provenance import BackgroundDigest
from flashsim.run.chunks import RunSummary, finite_events, simulate_chunk
from flashsim.run.inputs import PILEUP_BRANCH
from flashsim.run.model import PolicyOverrides, prepare_run, resolve_policy
from flashsim.run.progress import progress_bar

__all__ = ["flat_branches", "prefetched", "run_generated", "simulate_generated"]


def flat_branches(chunk: dict[str, Any]) -> ak.Array:
    """A chunk of gen-level branches as a file of it reads back: event-level branches as they
    are, each collection as its counter ``nX`` (int32) and one branch ``X_field`` per field."""
    columns: dict[str, Any] = {}
    for name, value in chunk.items():
        if isinstance(value, ak.Array) and value.ndim > 1:
            columns[f"n{name}"] = ak.values_astype(ak.num(value, axis=1), np.int32)
            for field in value.fields:
                columns[f"{name}_{field}"] = value[field]
        else:
            columns[name] = value
    return ak.zip(columns, depth_limit=1)


def prefetched(chunks: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The items of ``chunks``, the next one made in a background thread while the caller
    works on the current one (the conversion releases the GIL in FastJet, pandas and numpy;
    the simulation in torch). Order and values are those of ``chunks``."""
    with ThreadPoolExecutor(1, thread_name_prefix="flashsim-gen") as pool:
        ahead = pool.submit(next, chunks, None)
        while True:
            chunk = ahead.result()
            if chunk is None:
                return
            ahead = pool.submit(next, chunks, None)
            yield chunk


def simulate_generated(
    source: EventSource,
    output_path: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    policy: InputPolicy | PolicyOverrides | None = None,
    command: str | None = None,
    **options: Any,
) -> RunSummary:
    """Simulate the events of ``source`` into ``output_path`` with the model bundle ``model``
    (default: the shipped model); the other options are those of :func:`run_generated`.

    Raises:
        OutputError: an output exists (without ``overwrite``) or cannot be written.
        ModelError: the model bundle cannot be loaded.
        InputError, ConfigurationError: as :func:`run_generated`.
    """
    pipeline, model_provenance = prepare_run(output_path, model, options.get("overwrite", False))
    return run_generated(
        pipeline,
        source,
        output_path,
        provenance=model_provenance,
        policy=policy,
        command=command,
        **options,
    )


def run_generated(
    pipeline: Pipeline,
    source: EventSource,
    output_path: str | os.PathLike[str],
    *,
    seed: int = 0,
    oversample: int = 1,
    step_size: int = 10_000,
    overwrite: bool = False,
    progress: bool = True,
    max_events: int | None = None,
    provenance: dict[str, Any] | None = None,
    policy: InputPolicy | PolicyOverrides | None = None,
    command: str | None = None,
    pileup: float | None = None,
    keep_gen: str | os.PathLike[str] | None = None,
) -> RunSummary:
    """Simulate every event of ``source`` and write the NanoAOD-style ``output_path``.

    Arguments:
        pipeline: the trained pipeline.
        source: the generated events.
        seed, oversample, step_size, max_events, policy, command: as
            :func:`flashsim.run.single.run_file`.
        provenance: extra entries for the output's provenance record.
        pileup: the mean number of pile-up interactions of every event (``Pileup_nTrueInt``,
            with ``Pileup_nPU`` drawn from it, as ``flashsim gen --pileup``).
        keep_gen: also write the gen-level file (as ``flashsim gen`` would) here.

    Raises:
        InputError: the source is damaged or empty, or the model reads a branch the gen level
            does not have (``Pileup_nTrueInt`` without ``pileup``).
        OutputError: an output exists (without ``overwrite``) or cannot be written.
        ConfigurationError: bad ``oversample``, ``step_size`` or ``pileup``, or ``keep_gen`` is
            the output.
    """
    if oversample < 1 or step_size < 1:
        msg = f"--oversample and --step-size must be >= 1 (got {oversample} and {step_size})"
        raise ConfigurationError(msg)
    check_pileup(pileup)
    output = check_output_path(output_path, overwrite=overwrite)
    gen_path = None
    if keep_gen is not None:
        gen_path = check_output_path(keep_gen, overwrite=overwrite)
        if gen_path.resolve() == output.resolve():
            msg = f"--keep-gen {gen_path} is the output; choose another name"
            raise ConfigurationError(msg)
    policy = resolve_policy(policy, pipeline.spec.input_policy)
    start_time = time.monotonic()
    summary = RunSummary()
    described = source.provenance()
    name = str(described.get("input") or described.get("card") or "the generated events")
    record = {
        "flashsim_version": __version__,
        "command": command,
        "generator_input": described,
        "output": output.name,
        "seed": seed,
        "oversample": oversample,
        "step_size": step_size,
        "inputs": policy.to_dict(),
        "pileup": pileup,
        **(provenance or {}),
    }
    gen_record = gen_provenance(
        source,
        producer="flashsim run --keep-gen",
        command=command,
        pileup=pileup,
        seed=seed,
        described=described,
    )
    input_file = described.get("input")
    digest = BackgroundDigest(input_file) if isinstance(input_file, str) else None
    needed = pipeline.required_branches()
    total = source.expected_events
    if max_events is not None and total is not None:
        total = min(total, max_events)
    bar = progress_bar(total, enabled=progress)
    try:
        with contextlib.ExitStack() as stack:
            writer = stack.enter_context(
                NanoAODWriter(output, overwrite=overwrite, metadata=record)
            )
            gen_writer = None
            if gen_path is not None:
                gen_writer = stack.enter_context(
                    NanoAODWriter(gen_path, overwrite=overwrite, metadata=gen_record)
                )
            first = 0
            branches: list[str] = []
            passthrough: list[str] = []
            chunks = gen_chunks(source, step_size, pileup=pileup, seed=seed, max_events=max_events)
            for chunk in prefetched(chunks):
                if gen_writer is not None:
                    gen_writer.extend(chunk)
                arrays = flat_branches(chunk)
                if first == 0:
                    available = list(arrays.fields)
                    _check_needed(needed, available, name)
                    passthrough = pipeline.passthrough(available)
                    branches = pipeline.input_branches(available)
                arrays = arrays[branches]
                n = len(arrays)
                arrays, entry = finite_events(arrays, needed, first, policy, name)
                summary.dropped_events += n - len(arrays)
                if len(arrays):
                    for out in simulate_chunk(
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
                        writer.extend(out)
                first += n
                summary.input_events += n
                bar.update(n)
            if writer.n_events == 0:
                msg = (
                    f"none of the {summary.input_events} events of {name} could be simulated "
                    "(NaN or inf in a branch the models read); nothing to write"
                )
                raise InputError(msg)
            summary.output_events = writer.n_events
            summary.seconds = round(time.monotonic() - start_time, 2)
            sha = digest.result() if digest is not None else None
            record.update(
                input_events=summary.input_events,
                output_events=summary.output_events,
                skipped_events=source.skipped_events,
                counters=summary.counters,
                seconds=summary.seconds,
                dropped_events={"non_finite": summary.dropped_events},
            )
            if sha is not None:
                described["input_sha256"] = sha
                gen_record["input_sha256"] = sha
            writer.set_metadata(record)
            if gen_writer is not None:
                gen_record.update(n_events=summary.input_events)
                gen_writer.set_metadata(gen_record)
        bar.close()
    finally:
        if digest is not None:
            digest.cancel()
        source.close()
    return summary


def _check_needed(needed: list[str], available: list[str], name: str) -> None:
    """Refuse a gen level without a branch the models read (the pile-up, say how to add it).

    Raises:
        InputError: naming the missing branches.
    """
    missing = [b for b in needed if b not in available]
    if not missing:
        return
    hint = ""
    if PILEUP_BRANCH in missing:
        hint = "; the model conditions on the pile-up: pass --pileup MU (e.g. --pileup 25)"
    msg = f"the gen level of {name} lacks {', '.join(missing)}, which the model reads{hint}"
    raise InputError(msg)

"""``flashsim gen``: generated events into a generator-level NanoAOD file.

:func:`gen_chunks` turns an :class:`~flashsim.generators.source.EventSource` into chunks of
gen-level branches (:func:`flashsim.generators.branches.gen_branches`), the same chunks that
``flashsim run`` simulates when it reads generator output directly; :func:`write_gen_file` writes
them as the TTree ``Events``, with a progress bar and a provenance record.

Pile-up: ``pileup=MU`` gives every event ``Pileup_nTrueInt = MU`` (the mean, as ``flashsim run
--pileup``) and ``Pileup_nPU`` drawn from a Poisson distribution of mean MU, with one random stream
for the whole file (seeded by ``seed``), so the draws do not depend on the chunk size.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from flashsim import __version__
from flashsim.exceptions import ConfigurationError, InputError
from flashsim.generators.branches import gen_branches
from flashsim.generators.genlevel import build_genlevel
from flashsim.generators.record import GenRecord, select_events
from flashsim.generators.source import EventSource
from flashsim.generators.workers import ordered_map

__all__ = [
    "DEFAULT_CHUNK",
    "MAX_PILEUP",
    "check_jobs",
    "check_pileup",
    "chunk_branches",
    "gen_chunks",
    "gen_provenance",
    "warm_up_worker",
    "write_gen_file",
]

#: Events per chunk written by ``flashsim gen``.
DEFAULT_CHUNK = 1000
#: The largest ``--pileup``.
MAX_PILEUP = 1000.0
#: The random stream of the pile-up draws (mixed with the seed).
_PILEUP_STREAM = 0x50494C45


def check_pileup(pileup: float | None) -> None:
    """Refuse a pile-up mean that is not a finite number in ``[0, MAX_PILEUP]``.

    Raises:
        ConfigurationError: saying what to give.
    """
    if pileup is not None and not (math.isfinite(pileup) and 0 <= pileup <= MAX_PILEUP):
        msg = (
            f"--pileup {pileup}: give the mean number of pile-up interactions, 0 to {MAX_PILEUP:g}"
        )
        raise ConfigurationError(msg)


def check_jobs(jobs: int) -> None:
    """Refuse fewer than one process for the gen level.

    Raises:
        ConfigurationError: ``jobs`` < 1.
    """
    if jobs < 1:
        msg = f"the number of processes must be at least 1, got {jobs}"
        raise ConfigurationError(msg)


def gen_provenance(
    source: EventSource,
    *,
    producer: str,
    command: str | None,
    pileup: float | None,
    seed: int,
    described: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance record of a gen-level file: producer, flashsim version, command, the
    source's own record (``described``, default ``source.provenance()``), pile-up and seed."""
    return {
        "producer": producer,
        "flashsim_version": __version__,
        "command": command,
        **(source.provenance() if described is None else described),
        "pileup": pileup,
        "seed": seed,
    }


def gen_chunks(
    source: EventSource,
    chunk_size: int,
    *,
    pileup: float | None = None,
    seed: int = 0,
    max_events: int | None = None,
    jobs: int = 1,
) -> Iterator[dict[str, Any]]:
    """The gen-level branches of ``source``'s events, ``chunk_size`` events at a time.

    Arguments:
        source: where the events come from.
        chunk_size: events per chunk (the last may be shorter).
        pileup: the mean number of pile-up interactions (``Pileup_nTrueInt``, with
            ``Pileup_nPU`` drawn from it); no pile-up branches when ``None``.
        seed: the seed of the ``Pileup_nPU`` draws.
        max_events: stop after this many events.
        jobs: processes that build the gen level (:func:`chunk_branches`) while this one reads
            the source (:func:`flashsim.generators.workers.ordered_map`); the chunks are the
            same, in the same order, for any ``jobs``.
    """
    check_pileup(pileup)
    check_jobs(jobs)
    rng = np.random.default_rng(np.random.SeedSequence([seed, _PILEUP_STREAM]))

    def blocks() -> Iterator[tuple[GenRecord, np.ndarray | None, np.ndarray | None]]:
        done = 0
        for record in source.records(chunk_size):
            if max_events is not None and done + record.n_events > max_events:
                record = select_events(record, 0, max_events - done)
            n = record.n_events
            if n == 0:
                break
            true_int = n_pu = None
            if pileup is not None:
                true_int = np.full(n, pileup)
                n_pu = rng.poisson(pileup, n)
            yield record, true_int, n_pu
            done += n
            if max_events is not None and done >= max_events:
                break

    yield from ordered_map(chunk_branches, blocks(), jobs, warm_up=warm_up_worker)


def warm_up_worker() -> None:
    """A worker's start (``jobs`` > 1): FastJet and the compiled ancestry walks, loaded before
    the first chunk arrives."""
    import fastjet  # noqa: F401 - imported for its start-up cost

    from flashsim.generators.ancestry import descends_from, first_copy, nearest_kept_ancestor

    mother, flag = np.array([-1, 0]), np.array([True, False])
    nearest_kept_ancestor(mother, flag)
    first_copy(mother, np.array([1, 1]))
    descends_from(mother, flag)


def chunk_branches(
    record: GenRecord, pileup_true: np.ndarray | None, pileup_n: np.ndarray | None
) -> dict[str, Any]:
    """The gen-level branches of one chunk (:func:`~flashsim.generators.genlevel.build_genlevel`
    and :func:`~flashsim.generators.branches.gen_branches`), with its pile-up draws."""
    gen = build_genlevel(record)
    return gen_branches(record, gen, pileup_true=pileup_true, pileup_n=pileup_n)


def write_gen_file(
    source: EventSource,
    output: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    progress: bool = True,
    chunk_size: int = DEFAULT_CHUNK,
    pileup: float | None = None,
    seed: int = 0,
    max_events: int | None = None,
    command: str | None = None,
    jobs: int = 1,
) -> dict[str, Any]:
    """Write ``source``'s events as a generator-level NanoAOD file (``flashsim gen``).

    The output is written atomically (:class:`flashsim.io.NanoAODWriter`); its provenance names
    the source (file, SHA-256, the generators the file records, or the Pythia card), the
    pile-up and seed, and the events written and skipped. ``jobs`` processes build the gen
    level while this one reads and writes (:func:`gen_chunks`); the file is the same for any
    ``jobs``.

    Returns:
        a summary: ``n_events``, ``skipped_events``, ``seconds``, ``path``.

    Raises:
        InputError: the source's input is damaged or holds no events.
        OutputError: the output exists (without ``overwrite``) or cannot be written.
        ConfigurationError: a bad pile-up mean, chunk size or number of processes.
    """
    from tqdm import tqdm

    from flashsim.io import NanoAODWriter, check_output_path
    from flashsim.provenance import BackgroundDigest

    if chunk_size < 1:
        msg = f"the chunk size must be positive, got {chunk_size}"
        raise ConfigurationError(msg)
    check_jobs(jobs)
    check_pileup(pileup)
    path = check_output_path(output, overwrite=overwrite)
    record = gen_provenance(
        source, producer="flashsim gen", command=command, pileup=pileup, seed=seed
    )
    input_path = record.get("input")
    digest = BackgroundDigest(input_path) if isinstance(input_path, str) else None
    start = time.perf_counter()
    expected = source.expected_events
    if max_events is not None and expected is not None:
        expected = min(expected, max_events)
    by_bytes = expected is None and source.size_bytes() is not None
    total = source.size_bytes() if by_bytes else expected
    bar = tqdm(
        total=total,
        unit="B" if by_bytes else "evt",
        unit_scale=by_bytes,
        disable=not progress,
        desc="flashsim gen",
    )
    n_events = 0
    try:
        with NanoAODWriter(path, overwrite=overwrite, metadata=record) as writer:
            for chunk in gen_chunks(
                source, chunk_size, pileup=pileup, seed=seed, max_events=max_events, jobs=jobs
            ):
                writer.extend(chunk)
                n = len(chunk["event"])
                n_events += n
                if by_bytes:
                    bar.update((source.bytes_read() or 0) - bar.n)
                else:
                    bar.update(n)
            if n_events == 0:
                msg = f"{record.get('input', 'the source')} gave no events; nothing to write"
                raise InputError(msg)
            record.update(
                n_events=n_events,
                skipped_events=source.skipped_events,
                seconds=round(time.perf_counter() - start, 2),
            )
            if digest is not None:
                record["input_sha256"] = digest.result()
            writer.set_metadata(record)
    finally:
        bar.close()
        if digest is not None:
            digest.cancel()
        source.close()
    return {
        "n_events": n_events,
        "skipped_events": source.skipped_events,
        "seconds": time.perf_counter() - start,
        "path": str(Path(path)),
    }

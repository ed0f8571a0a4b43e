"""Executors: where work items run, all behind one call.

An executor is called as ``executor(items, function)`` and yields ``(item, result or
exception)`` as items finish: :class:`SerialExecutor` (in this process), :class:`LocalExecutor`
(a process pool) and :class:`DaskExecutor` (``dask.distributed``, a local cluster or a
scheduler's address; install ``flashsim[dask]``). :data:`EXECUTORS` maps the names
``flashsim run --executor`` accepts to the classes, and :func:`make_executor` builds one from
the command-line options.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Protocol

from flashsim.exceptions import ConfigurationError
from flashsim.run.items import ItemResult, WorkItem

__all__ = [
    "EXECUTORS",
    "DaskExecutor",
    "Executor",
    "LocalExecutor",
    "Outcome",
    "SerialExecutor",
    "make_executor",
]

Outcome = tuple[WorkItem, ItemResult | Exception]
"""An item and what running it gave: its result, or the exception it raised."""


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

    @classmethod
    def from_options(cls, *, workers: int, scheduler: str | None) -> Executor:
        """``workers`` processes; one worker runs the items in this process instead.

        Raises:
            ConfigurationError: a dask ``scheduler`` is given.
        """
        if scheduler is not None:
            msg = "--scheduler is the address of a dask scheduler: give it with --executor dask"
            raise ConfigurationError(msg)
        return cls(workers) if workers > 1 else SerialExecutor()

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

    @classmethod
    def from_options(cls, *, workers: int, scheduler: str | None) -> Executor:
        """The scheduler at ``scheduler``, or a local cluster of ``workers``."""
        return cls(workers=workers, scheduler=scheduler)

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


EXECUTORS: dict[str, type[LocalExecutor | DaskExecutor]] = {
    "local": LocalExecutor,
    "dask": DaskExecutor,
}
"""The executors by the name ``--executor`` takes."""


def make_executor(name: str, *, workers: int = 1, scheduler: str | None = None) -> Executor:
    """The executor ``EXECUTORS[name]`` for ``workers`` workers (or a dask ``scheduler``).

    One local worker is a :class:`SerialExecutor`: the items run in this process.

    Raises:
        ConfigurationError: ``name`` is not in :data:`EXECUTORS`, a ``scheduler`` is given
            without dask, or dask is not installed.
    """
    if name not in EXECUTORS:
        msg = f"unknown executor {name!r}; use one of {', '.join(EXECUTORS)}"
        raise ConfigurationError(msg)
    return EXECUTORS[name].from_options(workers=workers, scheduler=scheduler)

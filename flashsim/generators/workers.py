"""A stream of work done in worker processes and handed back in order (``flashsim gen -j``).

``flashsim gen`` reads its input in one process (a HepMC file is one stream) and builds the gen
level of each block of events (jets, pruning, flavour) in ``jobs`` worker processes.
:func:`ordered_map` keeps at most ``jobs + 1`` blocks in flight, so memory stays bounded
whatever the input's size, and yields the results in the order of the blocks, so the output does
not depend on ``jobs``.

The workers are spawned (not forked: safe with the threads of numba, torch and the background
reader). They leave Ctrl-C to the main process. When the stream ends early (an error, SIGTERM
raised in the main process by :mod:`flashsim.cli.signals`) the workers are terminated, not waited
for; and each worker watches the main process, ending within :data:`WATCH_SECONDS` of its
death (a SIGKILL), so no orphan keeps computing or waits forever on a pipe nobody reads.

>>> list(ordered_map(pow, [(2, 3), (3, 2)], jobs=1))
[8, 9]
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from flashsim.exceptions import ConfigurationError

__all__ = ["WATCH_SECONDS", "ordered_map", "watch_parent"]

R = TypeVar("R")

#: How often a worker checks that the process that started it is still there (seconds).
WATCH_SECONDS = 0.5


def watch_parent(parent: int, warm_up: Callable[[], object] | None = None) -> None:
    """A worker's start: ignore Ctrl-C (the main process handles it), end this process once
    ``parent`` is no longer its parent (it ended; the worker was handed to another process),
    and call ``warm_up`` (imports, compiled code) if given."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="flashsim-watch-parent", daemon=True).start()
    if warm_up is not None:
        warm_up()


def _started() -> None:
    """Nothing: submitted once per worker, so that every worker starts at once."""


def ordered_map(
    function: Callable[..., R],
    arguments: Iterable[tuple[Any, ...]],
    jobs: int,
    warm_up: Callable[[], object] | None = None,
) -> Iterator[R]:
    """``function(*args)`` for each ``args`` of ``arguments``, in order, in ``jobs`` processes.

    ``arguments`` is consumed lazily: at most ``jobs + 1`` calls are in flight. With
    ``jobs <= 1`` everything runs in this process. ``function`` must be a module-level function
    (it is pickled by name) and its arguments and result picklable. An exception raised by a
    call is raised here when its result is due; closing the iterator early cancels the calls not
    started. A worker that dies (killed, out of memory) raises
    :class:`~flashsim.exceptions.ConfigurationError` here.

    The workers start at once, and each calls ``warm_up`` (a module-level function) first: they
    load what ``function`` needs while this process prepares the first arguments.
    """
    if jobs <= 1:
        for args in arguments:
            yield function(*args)
        return
    before = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=watch_parent,
        initargs=(os.getpid(), warm_up),
    )
    for _ in range(jobs):  # a worker starts on each submission while none is idle
        pool.submit(_started)
    pending: deque[Future[R]] = deque()
    items = iter(arguments)
    try:
        for args in items:
            pending.append(pool.submit(function, *args))
            if len(pending) > jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    except BrokenProcessPool as err:
        msg = (
            f"a worker process (of {jobs}) ended abruptly: killed, or out of memory; run with "
            "fewer processes (-j), and from Python call it under if __name__ == '__main__':"
        )
        raise ConfigurationError(msg) from err
    finally:
        for future in pending:
            future.cancel()
        if pending:  # an early end (an error, SIGTERM): do not wait for the blocks being built
            for process in set(multiprocessing.active_children()) - before:
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)

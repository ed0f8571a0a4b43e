"""Reading and writing in background threads, overlapped with the simulation of a chunk."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import awkward as ak

from flashsim.io import NanoAODWriter, read_entries

__all__ = ["OverlappedIO"]


class OverlappedIO:
    """Reading and writing in background threads, overlapped with the simulation.

    While chunk ``k`` is simulated, chunk ``k + 1`` is read and chunk ``k - 1`` written (one
    thread each; decompression and compression release the GIL), so a run holds at most three
    chunks. Chunks are read, and written, in order, and an error of either thread is raised in
    the caller at the next :meth:`read` step, :meth:`write` or :meth:`flush`; on exit the
    threads finish what they started, before the file is closed. With ``background=False``
    both happen in the caller's thread, in the same order.

    Arguments:
        writer: the open writer that chunks are appended to.
        background: read and write in background threads.
    """

    def __init__(self, writer: NanoAODWriter, *, background: bool = True) -> None:
        self._writer = writer
        self._background = background
        self._reader_pool = ThreadPoolExecutor(1, thread_name_prefix="flashsim-read")
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="flashsim-write")
        self._pending: Future[None] | None = None

    def __enter__(self) -> OverlappedIO:
        return self

    def __exit__(self, *exc: object) -> None:
        self._reader_pool.shutdown(wait=True, cancel_futures=True)
        self._writer_pool.shutdown(wait=True)

    def read(
        self, tree: Any, branches: list[str], ranges: list[tuple[int, int]]
    ) -> Iterator[tuple[tuple[int, int], ak.Array]]:
        """Each range's arrays, in order, the next one read while the caller works."""
        if not self._background:
            for entries in ranges:
                yield entries, read_entries(tree, branches, *entries)
            return
        if not ranges:
            return
        ahead = self._reader_pool.submit(read_entries, tree, branches, *ranges[0])
        for k, entries in enumerate(ranges):
            arrays = ahead.result()
            if k + 1 < len(ranges):
                ahead = self._reader_pool.submit(read_entries, tree, branches, *ranges[k + 1])
            yield entries, arrays

    def write(self, chunk: dict[str, Any]) -> None:
        """Append ``chunk`` to the output after the previous chunk's write has finished."""
        self.flush()
        if not self._background:
            self._writer.extend(chunk)
            return
        self._pending = self._writer_pool.submit(self._writer.extend, chunk)

    def flush(self) -> None:
        """Wait for the last write (raising its error, if any)."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

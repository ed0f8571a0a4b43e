"""SIGTERM as an exception: a process-level concern of the command line.

A batch system stops a job with SIGTERM. :func:`install_termination_handler` turns it into
:class:`~flashsim.exceptions.Terminated`, which unwinds the stack like any exception, so the
library's ``with`` blocks (:class:`~flashsim.io.write.NanoAODWriter`) remove their temporary
files before the process ends with status 143.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from flashsim.exceptions import Terminated

__all__ = ["install_termination_handler"]


@contextlib.contextmanager
def install_termination_handler() -> Iterator[None]:
    """Within the block, turn SIGTERM into a :class:`~flashsim.exceptions.Terminated` exception.

    The exception unwinds the stack, so ``with NanoAODWriter(...)`` blocks delete their temporary
    files before the process ends (status 143). A second SIGTERM while unwinding is ignored so
    that the cleanup can finish. The previous handler is restored on exit. Outside the main
    thread (where Python cannot install signal handlers) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise_terminated(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated

    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)

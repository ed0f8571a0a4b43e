"""The progress bar of ``flashsim run``: events simulated, on stderr, drawn once at the end.

tqdm draws a bar when an update reaches the total and again when it is closed (with the
overall rate); on a terminal the second drawing overwrites the first, but a log file, a batch
job's output or a notebook cell shows the 100% line twice. :class:`ProgressBar` leaves the last
drawing to :meth:`~tqdm.std.tqdm.close`. It is tqdm's plain text bar (``tqdm.std``), not
``tqdm.auto``: in a Jupyter kernel without ipywidgets the latter warns (``TqdmWarning: IProgress
not found``) as soon as it is imported.
"""

from __future__ import annotations

from typing import Any

from tqdm import tqdm

__all__ = ["ProgressBar", "progress_bar"]


class ProgressBar(tqdm):  # type: ignore[misc]
    """A tqdm bar whose update that reaches the total does not draw: :meth:`close` draws the
    final line, once.

    Example:
        >>> import io
        >>> stream = io.StringIO()
        >>> bar = ProgressBar(total=4, file=stream, mininterval=0)
        >>> for step in (2, 2):
        ...     _ = bar.update(step)
        >>> bar.close()
        >>> stream.getvalue().count("100%")
        1
    """

    def update(self, n: float = 1) -> bool | None:
        """Add ``n`` to the count; draw unless the total is reached (:meth:`close` will)."""
        if self.total is not None and self.n + n >= self.total and not self.disable:
            self.n += n
            return None
        return super().update(n)


def progress_bar(total: int, *, enabled: bool, **options: Any) -> ProgressBar:
    """The bar of a run over ``total`` input events (nothing is drawn unless ``enabled``)."""
    return ProgressBar(
        total=total, desc="flashsim run", unit=" events", disable=not enabled, **options
    )

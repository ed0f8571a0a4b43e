"""The compiled line scanner of the HepMC3 ASCII reader (numba).

:func:`scan_events` walks a buffer of complete events once and sorts its lines by kind: the
particle lines are copied (without their ``P``) into one buffer that pandas' C parser reads as a
table, the vertex lines are reduced to (vertex id, lowest incoming particle id), and the other
event lines (``U``, ``W``, ``A``) are returned as spans for Python to read. Everything per particle
stays out of Python, which is what makes reading faster than the HepMC3 library's own parser
(:mod:`flashsim.generators.hepmc_read` says how much).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["scan_events"]

_NL = 10
_SPACE = 32


@numba.njit(cache=True, nogil=True)
def _parse_int(buf: np.ndarray, i: int, end: int) -> tuple[int, int, bool]:  # pragma: no cover
    """The integer starting at ``buf[i]`` (after spaces): (value, index after it, found)."""
    while i < end and buf[i] == _SPACE:
        i += 1
    sign = 1
    if i < end and buf[i] == 45:  # '-'
        sign = -1
        i += 1
    start = i
    value = 0
    while i < end and 48 <= buf[i] <= 57:
        value = value * 10 + (buf[i] - 48)
        i += 1
    return sign * value, i, i > start


@numba.njit(cache=True, nogil=True)
def scan_events(buf: np.ndarray) -> tuple:  # pragma: no cover - compiled
    """Sort the lines of ``buf`` (complete events, uint8) by kind.

    Returns:
        ``particles``: the bytes of the ``P`` lines without their first two characters, one per
        line; ``events``: per ``E`` line (number, vertices, particles, particle lines seen,
        line start); ``vertices``: per ``V`` line (event, vertex id, lowest incoming id or 0);
        ``spans``: per other line of an event (event, kind byte, start, end); ``bad``: the index
        of the first line that could not be read (-1 if none).
    """
    n = len(buf)
    n_lines = 1
    for k in range(n):
        if buf[k] == _NL:
            n_lines += 1
    particles = np.empty(n, dtype=np.uint8)
    events = np.zeros((n_lines, 5), dtype=np.int64)
    vertices = np.zeros((n_lines, 3), dtype=np.int64)
    spans = np.zeros((n_lines, 4), dtype=np.int64)
    n_p = 0
    n_e = 0
    n_v = 0
    n_s = 0
    bad = -1
    line = 0
    i = 0
    while i < n:
        end = i
        while end < n and buf[end] != _NL:
            end += 1
        if end > i:
            kind = buf[i]
            if kind == 80 and n_e > 0:  # 'P'
                length = end - i - 2
                if length > 0:
                    particles[n_p : n_p + length] = buf[i + 2 : end]
                    n_p += length
                particles[n_p] = _NL
                n_p += 1
                events[n_e - 1, 3] += 1
            elif kind == 86 and n_e > 0:  # 'V'
                vid, j, ok = _parse_int(buf, i + 1, end)
                while j < end and buf[j] != 91:  # '['
                    j += 1
                lowest = 0
                j += 1
                while j < end and buf[j] != 93:  # ']'
                    pid, j, found = _parse_int(buf, j, end)
                    if not found:
                        break
                    if pid > 0 and (lowest == 0 or pid < lowest):
                        lowest = pid
                    if j < end and buf[j] == 44:  # ','
                        j += 1
                if not ok and bad < 0:
                    bad = line
                vertices[n_v, 0] = n_e - 1
                vertices[n_v, 1] = vid
                vertices[n_v, 2] = lowest
                n_v += 1
            elif kind == 69:  # 'E'
                number, j, ok1 = _parse_int(buf, i + 1, end)
                nv, j, ok2 = _parse_int(buf, j, end)
                np_, j, ok3 = _parse_int(buf, j, end)
                if not (ok1 and ok2 and ok3) and bad < 0:
                    bad = line
                events[n_e, 0] = number
                events[n_e, 1] = nv
                events[n_e, 2] = np_
                events[n_e, 4] = i
                n_e += 1
            elif n_e > 0 and (kind == 85 or kind == 87 or kind == 65):  # 'U', 'W', 'A'
                spans[n_s, 0] = n_e - 1
                spans[n_s, 1] = kind
                spans[n_s, 2] = i
                spans[n_s, 3] = end
                n_s += 1
        line += 1
        i = end + 1
    return particles[:n_p], events[:n_e], vertices[:n_v], spans[:n_s], bad

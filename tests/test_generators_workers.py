"""Work in worker processes, handed back in order (:mod:`flashsim.generators.workers`)."""

from __future__ import annotations

import operator
import os
from collections.abc import Iterator

import pytest

from flashsim.exceptions import ConfigurationError
from flashsim.generators.workers import ordered_map


def test_in_order_in_other_processes() -> None:
    pulled: list[int] = []

    def arguments() -> Iterator[tuple[int]]:
        for i in range(12):
            pulled.append(i)
            yield (i,)

    results = ordered_map(abs, ((-i,) for i in range(12)), jobs=2)
    assert list(results) == list(range(12))
    # consumed lazily: at most jobs + 1 calls in flight when the first result is handed back
    assert list(ordered_map(abs, [], jobs=2)) == []
    lazy = ordered_map(abs, arguments(), jobs=2)
    assert next(lazy) == 0
    assert len(pulled) <= 3
    assert list(lazy) == list(range(1, 12))
    assert len(pulled) == 12


def test_runs_elsewhere_with_jobs() -> None:
    pids = set(ordered_map(os.getpid, [()] * 4, jobs=2))
    assert os.getpid() not in pids
    assert set(ordered_map(os.getpid, [()] * 4, jobs=1)) == {os.getpid()}


def test_an_error_is_raised_when_its_result_is_due() -> None:
    results = ordered_map(operator.truediv, [(1, 1), (1, 0), (1, 2), (1, 4)], jobs=2)
    assert next(results) == 1.0
    with pytest.raises(ZeroDivisionError):
        next(results)


def test_a_worker_that_dies_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match=r"ended abruptly.*fewer processes"):
        list(ordered_map(os._exit, [(3,), (3,)], jobs=2))

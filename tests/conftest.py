"""Shared fixtures; also makes ``tests/readers.py`` importable as ``readers``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def rng() -> np.random.Generator:
    """A generator with a fixed seed, new for every test."""
    return np.random.default_rng(20240611)


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """The environment for a child Python that must import this checkout of flashsim."""
    import flashsim

    root = str(Path(flashsim.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root if not path else root + os.pathsep + path}

"""A :class:`~flashsim.validation.samples.ValidationSample` that holds only a file's path, its
event count and branch names: what the validation sections that read raw NanoAOD branches
(photons, jet fakes, subjets) need, without building the spec's tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import uproot

from flashsim.validation.samples import ValidationSample


def sample_of(path: Path, max_events: int | None = None) -> ValidationSample:
    """The sample of ``path`` (its first ``max_events`` events)."""
    with uproot.open(path) as f:
        tree = f["Events"]
        n, keys = tree.num_entries, frozenset(tree.keys())
    n = n if max_events is None else min(n, max_events)
    return ValidationSample(
        path=path,
        n_events=n,
        groups=np.arange(n),
        replica=np.zeros(n, dtype=np.int64),
        tables={},
        fakes={},
        event=None,
        reco={},
        derived={},
        branches=keys,
    )

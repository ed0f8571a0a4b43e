"""Raw NanoAOD-like files for the validation sections that read branches directly (photons, jet
fakes, subjets): :func:`write_events` writes them, :func:`sample_of` gives the
:class:`~flashsim.validation.samples.ValidationSample` those sections take (a path, its event
count and branch names, without the spec's tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
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


def validate_files(
    tmp_path: Path, flash: Path, full: Path, spec_text: str, *options: str
) -> tuple[dict[str, Any], str]:
    """``flashsim validate --no-plots --no-classifier`` of two files with the pipeline
    ``spec_text`` (and ``options``); asserts it succeeds, returns ``metrics.json`` and the
    report's HTML."""
    import json

    from click.testing import CliRunner

    from flashsim.cli import flashsim as flashsim_group

    spec = tmp_path / "mini.yaml"
    spec.write_text(spec_text)
    out = tmp_path / "report"
    args = ["validate", "--flash", str(flash), "--full", str(full), "-o", str(out)]
    args += ["--pipeline", str(spec), "--no-plots", "--no-classifier", *options]
    result = CliRunner().invoke(flashsim_group, args)
    assert result.exit_code == 0, result.output
    return json.loads((out / "metrics.json").read_text()), (out / "index.html").read_text()


def read_events(path: Path, **options: Any) -> ak.Array:
    """Every branch (or those ``options`` of ``TTree.arrays`` select) of the ``Events`` tree,
    the file closed (an open one left to the garbage collector warns in a later test)."""
    with uproot.open(path) as f:
        return f["Events"].arrays(**options)


def write_events(path: Path, events: dict[str, Any], drop: tuple[str, ...] = ()) -> Path:
    """``events`` (collection name -> jagged records) as a NanoAOD-like ``Events`` tree (``nX``,
    ``X_field``), without the branches in ``drop`` (a collection name drops all of it); written
    in two chunks (``mktree`` + ``extend``)."""
    columns = {}
    for name, objects in events.items():
        fields = [f for f in objects.fields if f"{name}_{f}" not in drop and name not in drop]
        if fields:
            columns[name] = ak.zip({f: objects[f] for f in fields})
    with uproot.recreate(path) as f:
        tree = f.mktree("Events", {k: v.type.content for k, v in columns.items()})
        half = len(next(iter(columns.values()))) // 2
        for part in (slice(0, half), slice(half, None)):
            tree.extend({k: v[part] for k, v in columns.items()})
    return path

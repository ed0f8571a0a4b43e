"""Files written by NanoAODWriter read correctly in coffea (NanoAODSchema) and ROOT (RDataFrame)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from readers import assert_readable_by_coffea, assert_readable_by_root, make_nanoaod_chunk

from flashsim.io import NanoAODWriter


@pytest.fixture
def nanoaod_file(tmp_path: Path, rng: np.random.Generator) -> Path:
    path = tmp_path / "nano.root"
    with NanoAODWriter(path, metadata={"test": True}) as writer:
        writer.extend(make_nanoaod_chunk(rng, 40))
        writer.extend(make_nanoaod_chunk(rng, 0, first_event=40))
        writer.extend(make_nanoaod_chunk(rng, 25, first_event=40))
    return path


def test_fixture_has_matched_and_unmatched_objects(nanoaod_file: Path) -> None:
    import uproot

    with uproot.open(nanoaod_file) as file:
        index = file["Events"]["Jet_genJetIdx"].array(library="np")
    flat = np.concatenate(index)
    assert (flat == -1).any()
    assert (flat >= 0).any()


def test_readable_by_coffea(nanoaod_file: Path) -> None:
    assert_readable_by_coffea(nanoaod_file)


def test_readable_by_root(nanoaod_file: Path) -> None:
    assert_readable_by_root(nanoaod_file)

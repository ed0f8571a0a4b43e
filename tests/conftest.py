"""Shared fixtures; also makes ``tests/readers.py`` importable as ``readers``."""

from __future__ import annotations

import os
import sys

# xgboost and torch share libgomp; with its default (active) waiting, their idle threads spin and
# slow each other down by orders of magnitude on a 2-core machine. Set before either is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"


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


@pytest.fixture(scope="session")
def ttbar_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 refsim ttbar events (gen + reco), generated once per test session."""
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    from flashsim.refsim.generate import generate_sample

    path = tmp_path_factory.mktemp("refsim") / "ttbar.root"
    generate_sample(
        process="ttbar", n_events=600, seed=11, jobs=2, output=path, progress=False, block_size=300
    )
    return path


def tiny_spec_dict() -> dict[str, Any]:
    """``pipelines/cms_like.yaml`` with tiny models and two epochs: for tests only."""
    data = yaml.safe_load((PIPELINES / "cms_like.yaml").read_text())
    data.pop("defaults", None)

    def shrink(response: dict[str, Any]) -> None:
        response["flow"] = {"transforms": 2, "hidden": [16, 16], "bins": 4}
        response["training"] = {"epochs": 2, "batch_size": 256, "learning_rate": 0.003}
        if "discrete" in response:
            response["discrete"] = {"n_estimators": 10, "max_depth": 3}

    for name in ("Muon", "Electron"):  # a few fake leptons per thousand events: not in 300
        data["collections"][name].pop("fakes", None)
    for coll in data["collections"].values():
        shrink(coll["response"])
        coll["efficiency"] = {**coll["efficiency"], "n_estimators": 10}
        if "fakes" in coll:
            shrink(coll["fakes"]["response"])
            coll["fakes"]["multiplicity"] = {"n_estimators": 10, "max_depth": 3}
    shrink(data["event"]["response"])
    return data


@pytest.fixture(scope="session")
def tiny_spec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny version of the CMS-like spec, written to a temporary YAML file."""
    path = tmp_path_factory.mktemp("spec") / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_spec_dict(), sort_keys=False))
    return path


@pytest.fixture(scope="session")
def tiny_model(
    tmp_path_factory: pytest.TempPathFactory, tiny_spec_path: Path, ttbar_file: Path
) -> Path:
    """A tiny model bundle trained on :func:`ttbar_file` (seconds)."""
    from flashsim.spec import load_spec
    from flashsim.trainer import read_training_data, train_pipeline

    spec = load_spec(tiny_spec_path)
    output = tmp_path_factory.mktemp("models") / "tiny"
    data = read_training_data(spec, [ttbar_file], progress=False)
    train_pipeline(spec, data, output, progress=False, log=lambda line: None)
    return output


@pytest.fixture(scope="session")
def flash_file(tmp_path_factory: pytest.TempPathFactory, ttbar_file: Path) -> Path:
    """The shipped default model applied to :func:`ttbar_file` (held out from its training)."""
    from flashsim.bundle import default_model_path, load_bundle
    from flashsim.runner import run_file

    output = tmp_path_factory.mktemp("flash") / "flash.root"
    run_file(load_bundle(default_model_path()), ttbar_file, output, seed=1, progress=False)
    return output

"""Shared fixtures, built once for all pytest-xdist workers; the order in which the workers take
the tests; also makes ``tests/readers.py`` importable as ``readers``."""

from __future__ import annotations

import os
import sys

# xgboost and torch share libgomp; with its default (active) waiting, their idle threads spin and
# slow each other down by orders of magnitude on a 2-core machine. Set before either is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from filelock import FileLock

sys.path.insert(0, str(Path(__file__).parent))

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"


def built_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """``name`` in a folder that every pytest-xdist worker of this run shares, built only once.

    Each worker has its own session, so a plain session fixture would generate or train the same
    thing on every worker. The first worker to ask builds it (``build(path)``) under a file lock;
    the others wait for it and reuse it. Without xdist the folder is the session's own.
    """
    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, parent of every worker's
    shared = root / "shared"
    shared.mkdir(exist_ok=True)
    path, done = shared / name, shared / f"{name}.done"
    with FileLock(shared / f"{name}.lock"):
        if not done.exists():
            if path.is_dir():
                shutil.rmtree(path)  # a build that failed half-way
            path.unlink(missing_ok=True)
            build(path)
            done.touch()
    return path


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
    """600 refsim ttbar events (gen + reco), generated once per test run."""
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    from flashsim.refsim.generate import generate_sample

    def build(path: Path) -> None:
        generate_sample(
            process="ttbar", n_events=600, seed=11, jobs=2, output=path, progress=False,
            block_size=300,
        )  # fmt: skip

    return built_once(tmp_path_factory, "ttbar.root", build)


@pytest.fixture(scope="session")
def ttbar_hepmc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 refsim ttbar events without pile-up, generated once per test run: a folder with the
    sample (``refsim.root``) and its generated events as HepMC3 (``events.hepmc3``)."""
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    from flashsim.refsim.generate import generate_sample

    def build(path: Path) -> None:
        path.mkdir()
        generate_sample(
            process="ttbar", n_events=200, seed=7, jobs=1, output=path / "refsim.root",
            pileup=0.0, progress=False, hepmc=path / "events.hepmc3",
        )  # fmt: skip

    return built_once(tmp_path_factory, "ttbar_hepmc", build)


def tiny_spec_dict() -> dict[str, Any]:
    """``pipelines/cms_like.yaml`` with tiny models and two epochs: for tests only."""
    data = yaml.safe_load((PIPELINES / "cms_like.yaml").read_text())
    data.pop("defaults", None)
    # The large-radius jets need boosted samples (tests/test_refsim_boosted.py) and inputs with
    # GenJetAK8, which the synthetic chunks of tests/readers.py do not have.
    data["collections"].pop("FatJet", None)

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
    from flashsim.train import read_training_data, train_pipeline

    def build(output: Path) -> None:
        spec = load_spec(tiny_spec_path)
        data = read_training_data(spec, [ttbar_file], progress=False)
        train_pipeline(spec, data, output, progress=False, log=lambda line: None)

    return built_once(tmp_path_factory, "tiny", build)


@pytest.fixture(scope="session")
def flash_file(tmp_path_factory: pytest.TempPathFactory, ttbar_file: Path) -> Path:
    """The shipped default model applied to :func:`ttbar_file` (held out from its training)."""
    from flashsim.bundle import default_model_path, load_bundle
    from flashsim.run import run_file

    def build(output: Path) -> None:
        run_file(load_bundle(default_model_path()), ttbar_file, output, seed=1, progress=False)

    return built_once(tmp_path_factory, "flash.root", build)


def xdist_scope(item: pytest.Item) -> str:
    """The unit pytest-xdist's ``--dist loadscope`` sends to one worker: a test class, or the
    module for functions (its node id up to the last ``::``)."""
    return item.nodeid.rsplit("::", 1)[0]


SHARED_BUILDS = frozenset({"ttbar_file", "tiny_model", "flash_file", "ttbar_hepmc"})
"""The session fixtures that :func:`built_once` builds for all workers together."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the scopes for the workers: slow ones first, the rest after, each kept in its order.

    With ``--no-loadscope-reorder`` the workers take scopes in this order: the long ones start
    at once and the many short ones fill the end, instead of one long scope running alone last.
    Among the slow scopes, those that need none of :data:`SHARED_BUILDS` come first: one worker
    runs them while the other builds the shared sample and model, so neither waits.
    """
    slow = {xdist_scope(item) for item in items if item.get_closest_marker("slow")}
    shared = {xdist_scope(item) for item in items if SHARED_BUILDS & set(item.fixturenames)}
    items.sort(key=lambda item: (xdist_scope(item) not in slow, xdist_scope(item) in shared))

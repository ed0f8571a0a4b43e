"""flashsim.train: the train/validation split, row checks, and reproducible training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from flashsim.bundle import RECORD_NAME
from flashsim.exceptions import InputError
from flashsim.spec import load_spec
from flashsim.train import TrainingData, read_training_data, train_pipeline
from flashsim.train.trainer import StageTrainer

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"


def trainer(tmp_path: Path, n_events: int = 2000) -> StageTrainer:
    spec = load_spec(PIPELINES / "cms_like.yaml")
    data = TrainingData({}, {}, None, n_events=n_events, files=[])
    options = {"device": "cpu", "resume": False, "progress": False}
    return StageTrainer(spec, data, tmp_path, options, lambda _line: None)


def test_rows_are_split_by_event(tmp_path: Path) -> None:
    stages = trainer(tmp_path)
    event = np.repeat(np.arange(2000), 3)  # three objects per event
    rows = stages.rows(np.zeros((6000, 1)), np.zeros((6000, 2)), event)
    per_event = rows.validation.reshape(2000, 3)
    assert (per_event == per_event[:, :1]).all()  # an event's objects are on one side
    fraction = per_event[:, 0].mean()
    assert abs(fraction - stages.spec.validation_fraction) < 0.05
    given = np.arange(6000) % 2 == 0
    assert (stages.rows(rows.x, rows.context, event, validation=given).validation == given).all()


def test_too_few_rows_name_the_stage(tmp_path: Path) -> None:
    stages = trainer(tmp_path, n_events=3)
    spec = stages.spec.collections["Jet"]
    x = np.ones((3, len(spec.targets)))
    x[0, 0] = np.nan  # dropped as non-finite: two rows are left
    rows = stages.rows(x, np.zeros((3, 2)), np.arange(3))
    with pytest.raises(InputError, match=r"\[Jet\] .*too few to train its response"):
        stages.flow_response("Jet", spec.targets, rows, spec.response)


def test_training_with_a_seed_is_reproducible(
    tiny_model: Path, tiny_spec_path: Path, ttbar_file: Path, tmp_path: Path
) -> None:
    """The same spec (seed) and data give the same weights and metrics, bit for bit."""
    spec = load_spec(tiny_spec_path)
    data = read_training_data(spec, [ttbar_file], progress=False)
    train_pipeline(spec, data, tmp_path / "again", progress=False, log=lambda _line: None)
    first = json.loads((tiny_model / RECORD_NAME).read_text())
    again = json.loads((tmp_path / "again" / RECORD_NAME).read_text())
    assert again["checksums"] == first["checksums"]
    assert again["training"]["metrics"] == first["training"]["metrics"]
    assert again["collections"] == first["collections"]

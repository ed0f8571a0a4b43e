"""PID training: per species, the isMuon BDT, the flag BDTs and the PID response model.

Each species of the spec's ``pid`` section is trained on its calibration sample
(:mod:`flashsim.train.calibration`), weighted by its sWeights (after the spec's strategy for
negative weights) and optionally re-balanced in one condition, as in Lamarr (arXiv:2303.11428).
The rows are split into training and validation at random, by the spec's PID validation fraction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from flashsim.exceptions import InputError, SpecError
from flashsim.spec import PipelineSpec, SpeciesSpec, pid_flags
from flashsim.stages import EfficiencyStage
from flashsim.stages.pid import PidModel, SpeciesModel, encode_pid_targets
from flashsim.train.calibration import CalibrationTable
from flashsim.train.data import TrainingData
from flashsim.train.trainer import Log, StageTrainer, preprocessor
from flashsim.weights import balance_factors, resolve_weights

__all__ = ["train_pid", "train_pid_model"]


def train_pid_model(trainer: StageTrainer) -> PidModel:
    """Per species: isMuon BDT and PID response model on the (weighted) calibration rows.

    Raises:
        InputError: a species has no calibration table, or its weights leave nothing to train.
    """
    spec = trainer.spec.pid
    assert spec is not None
    species: dict[str, SpeciesModel] = {}
    for sp in spec.species:
        table = trainer.data.calibration.get(sp.name)
        if table is None:
            msg = (
                f"no calibration sample for PID species {sp.name!r}; pass "
                f"--calibration {sp.name}=FILE.root (species of the spec: "
                f"{', '.join(s.name for s in spec.species)})"
            )
            raise InputError(msg)
        species[sp.name] = _train_species(trainer, sp, table)
    return PidModel(spec, species)


def _train_species(trainer: StageTrainer, sp: SpeciesSpec, table: CalibrationTable) -> SpeciesModel:
    """The models of one species, trained on its calibration ``table``."""
    spec = trainer.spec.pid
    assert spec is not None
    label = f"pid.{sp.name}"
    n = len(table.conditions)
    rng = trainer.rng()
    val = rng.random(n) < spec.validation_fraction
    cond = preprocessor(spec.conditions)
    conditions = cond.fit_forward(table.conditions, rng)
    context = conditions
    features = [conditions, table.targets]
    if table.is_muon is not None:
        context = np.column_stack([conditions, table.is_muon.astype(np.float32)])
        features.append(table.is_muon[:, None])
    weights = None
    if table.weights is not None and spec.weight is not None:
        weights = resolve_weights(
            np.concatenate(features, axis=1),
            table.weights,
            spec.weight.negative,
            seed=trainer.spec.seed + trainer.stage,
            what=f"{label} ({spec.weight.column}, {spec.weight.negative})",
        )
        negative = int((weights < 0).sum())
        trainer.log(
            f"[{label}] {n} calibration rows, weights {spec.weight.column} "
            f"({spec.weight.negative}): sum {weights.sum():.1f}, {negative} negative"
        )
    if spec.balance is not None:
        b = spec.balance
        column = [c.name for c in spec.conditions].index(b.condition)
        factors = balance_factors(
            conditions[:, column], bins=b.bins, power=b.power, max_factor=b.max_factor
        )
        weights = factors if weights is None else weights * factors
        effective = factors.sum() ** 2 / np.square(factors).sum() / n
        trainer.log(
            f"[{label}] balanced in {b.condition}: factors {factors.min():.2f}-"
            f"{factors.max():.2f}, effective rows {effective:.0%}"
        )
    no_event = np.zeros(n, dtype=np.int64)
    is_muon = None
    if table.is_muon is not None:
        is_muon = trainer.efficiency(
            f"{label}.isMuon",
            conditions,
            table.is_muon,
            no_event,
            2,
            spec.is_muon_params,
            weights=weights,
            validation=val,
        )
    targets, flags = encode_pid_targets(spec, table.targets, rng)
    stages: dict[str, dict[str, EfficiencyStage]] = {"point_mass": {}, "split": {}}
    for k, flag in enumerate(pid_flags(spec)):
        stages[flag.kind][flag.target.name] = trainer.efficiency(
            f"{label}.{flag.name}",
            context,
            flags[:, k].astype(np.int64),
            no_event,
            2,
            flag.params,
            weights=weights,
            validation=val,
        )
        context = np.column_stack([context, flags[:, k].astype(np.float32)])
    rows = trainer.rows(targets, context, no_event, weights=weights, validation=val)
    response = trainer.response(label, spec.targets, rows, spec.response)
    return SpeciesModel(sp, cond, is_muon, response, stages["point_mass"], stages["split"])


def train_pid(
    spec: PipelineSpec,
    data: TrainingData,
    output: Path,
    *,
    device: str = "cpu",
    progress: bool = True,
    log: Log = print,
) -> PidModel:
    """Train only the ``pid`` section of ``spec`` on ``data.calibration`` (no bundle written).

    For studies of the PID models alone (``benchmarks/lhcb_pid_harness.py``): the collections
    and the event section are not trained, so ``data`` needs only its calibration tables. The
    stages are numbered from the PID section, so their seeds differ from those the same
    stages get inside :func:`~flashsim.train.pipeline.train_pipeline`.

    Raises:
        SpecError: the spec has no ``pid`` section.
    """
    if spec.pid is None:
        msg = f"{spec.name}: the spec has no pid section to train"
        raise SpecError(msg)
    options = {"device": device, "resume": False, "progress": progress}
    return train_pid_model(StageTrainer(spec, data, output, options, log))

"""Particle identification stage, Lamarr-style: per species, isMuon then the PID variables.

For every object of the PID collection (already simulated by its collection stage), the
species is the ``|pdgId|`` of its gen match. Per species, a binary BDT samples ``isMuon`` (the
muon-system decision) and a response model (flow or GAN) samples the PID variables (RICH-like
DLLs) given the track's reconstructed kinematics, the event occupancy and ``isMuon``, as in LHCb
Lamarr (Anderlini et al., arXiv:2303.11428), where these models are trained on sWeighted
calibration samples (:mod:`flashsim.weights`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import awkward as ak
import numpy as np

from flashsim.branches import PROBE_PREFIX
from flashsim.domain import DomainGuard
from flashsim.exceptions import InputError
from flashsim.preprocessing import TablePreprocessor
from flashsim.spec import Column, PidSpec, SpeciesSpec
from flashsim.stages.efficiency import EfficiencyStage
from flashsim.stages.response import ResponseStage

__all__ = [
    "PROBE_PREFIX",
    "PidModel",
    "SpeciesModel",
    "condition_columns",
    "decode_pid_targets",
    "encode_pid_targets",
    "point_mass_targets",
    "split_targets",
]

POINT_MASS_TOLERANCE = 1e-6
"""A value within this (relative to max(1, |value|)) of a target's ``point_mass`` is on it."""


def point_mass_targets(spec: PidSpec) -> list[Column]:
    """The targets with a ``point_mass``, in spec order: one flag BDT each."""
    return [t for t in spec.targets if t.point_mass is not None]


def split_targets(spec: PidSpec) -> list[Column]:
    """The targets with a ``split``, in spec order: one flag BDT each, after the point masses."""
    return [t for t in spec.targets if t.split is not None]


def encode_pid_targets(
    spec: PidSpec, raw: np.ndarray, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Raw PID columns to the modelled ones, and the point-mass flags.

    A ``relative_to`` target becomes a difference. E.g. below the kaon Cherenkov threshold a
    RICH cannot tell a kaon from a proton and DLLp = DLLK exactly: as DLLp - DLLK that is a
    point mass at 0, where the degenerate line DLLp = DLLK a generative model would only blur.

    A point mass inside a continuum (DLLK = 0 exactly for tracks that give no Cherenkov light
    for any hypothesis, beside the continuum around 0 of fast kaons and pions) is a 0/1 flag
    per row (one column per :func:`point_mass_targets`), which a BDT samples and the response
    model takes as a condition, as it takes ``isMuon``. The response model never sees the point
    mass: on the flagged rows the value is Gaussian noise with the mean and spread of the other
    rows (``rng``; their mean without one), which decoding replaces by the point mass. Two
    single-column alternatives failed on the LHCb-like pipeline: a ``spike`` block at 0 cuts a
    gap into the continuum, which the flow smeared over (15-30% of the kaons above 70 GeV got
    DLLK = 0), and a dequantized flag among the flow's targets leaked the noise into the
    unflagged rows (a tail to DLLK = -60 for 15% of 3-10 GeV kaons).

    A target with a ``split`` value V has a second flag, "above V" (0 on the point mass), sampled
    by a BDT after the point-mass flags; the response model learns the distance ``|x - V|``
    given it, and decoding puts the value on the flag's side of V. The fraction above V then is
    a classifier's estimate, as isMuon's: near the pion Cherenkov threshold (2.6-2.8 GeV) a
    pion with no detected photon has DLLK equal to its expected photon yield, a small positive
    value that moves with p; a flow smeared that moving peak across 0 and gave half the
    reference's DLLK > 0 efficiency there (0.19 vs 0.39).

    Returns:
        the modelled targets ``(n, len(spec.targets))`` and the flags ``(n, n_point_masses +
        n_splits)`` (uint8): the point-mass flags, then the split flags, each in spec order.
    """
    raw = np.asarray(raw, dtype=np.float64)
    out = raw.copy()
    names = [t.name for t in spec.targets]
    for j, t in enumerate(spec.targets):
        if t.relative_to is not None:
            out[:, j] = raw[:, j] - raw[:, names.index(t.relative_to)]
    masses, splits = point_mass_targets(spec), split_targets(spec)
    flags = np.zeros((len(raw), len(masses) + len(splits)), dtype=np.uint8)
    on_mass = {}
    for k, t in enumerate(masses):
        j = names.index(t.name)
        assert t.point_mass is not None
        tolerance = POINT_MASS_TOLERANCE * max(1.0, abs(t.point_mass))
        on_mass[t.name] = flags[:, k] = np.abs(out[:, j] - t.point_mass) <= tolerance
    for k, t in enumerate(splits):
        j = names.index(t.name)
        above = out[:, j] > t.split
        if t.name in on_mass:
            above &= ~on_mass[t.name]
        flags[:, len(masses) + k] = above
        out[:, j] = np.abs(out[:, j] - t.split)
    for t in masses:
        j, on = names.index(t.name), on_mass[t.name]
        rest = out[~on & np.isfinite(out[:, j]), j]
        empty = (t.point_mass if t.split is None else 0.0, 1.0)
        mean, std = (float(rest.mean()), float(rest.std())) if rest.size else empty
        n = int(on.sum())
        noise = np.zeros(n) if rng is None else rng.standard_normal(n)
        out[on, j] = mean + (std if std > 0 else 1.0) * noise
    return out, flags


def decode_pid_targets(
    spec: PidSpec, encoded: np.ndarray, flags: np.ndarray | None = None
) -> np.ndarray:
    """Inverse of :func:`encode_pid_targets`: split targets go to their flag's side of the
    split value, flagged rows take the point mass, differences are added back (targets are
    relative to earlier ones only)."""
    out = np.array(encoded, dtype=np.float64, copy=True)
    names = [t.name for t in spec.targets]
    if flags is not None:
        masses = point_mass_targets(spec)
        for k, t in enumerate(split_targets(spec)):
            j = names.index(t.name)
            side = np.where(np.asarray(flags[:, len(masses) + k]) > 0, 1.0, -1.0)
            out[:, j] = t.split + side * np.abs(out[:, j])
        for k, t in enumerate(masses):
            out[np.asarray(flags[:, k]) > 0, names.index(t.name)] = t.point_mass
    for j, t in enumerate(spec.targets):
        if t.relative_to is not None:
            out[:, j] = out[:, j] + out[:, names.index(t.relative_to)]
    return out


@dataclass
class SpeciesModel:
    """The trained PID models of one species: isMuon BDT, point-mass then split flag BDTs (by
    target name, in spec order; each also sees the flags before it), response model."""

    spec: SpeciesSpec
    conditions: TablePreprocessor
    is_muon: EfficiencyStage | None
    response: ResponseStage
    point_masses: dict[str, EfficiencyStage] = field(default_factory=dict)
    splits: dict[str, EfficiencyStage] = field(default_factory=dict)

    def apply(
        self,
        conditions: np.ndarray,
        rng: np.random.Generator,
        guard: DomainGuard | None = None,
        event: np.ndarray | None = None,
    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """``(isMuon or None, modelled PID variables, point-mass then split flags)`` for raw
        condition rows of this species (:func:`decode_pid_targets` turns the last two into the
        PID variables).

        ``guard`` applies the out-of-domain policy (default: clamp, each row its own event);
        ``event`` is each row's event in the guard's chunk (``None``: the rows are events).
        """
        guard = guard if guard is not None else DomainGuard("clamp", len(conditions))
        conditions = guard(self.conditions, conditions, event, f"pid.{self.spec.name}")
        c = self.conditions.forward(conditions)
        is_muon = None
        if self.is_muon is not None:
            is_muon = self.is_muon.apply(c, rng).astype(np.uint8)
            c = np.column_stack([c, is_muon.astype(np.float32)])
        stages = [*self.point_masses.values(), *self.splits.values()]
        flags = np.zeros((len(c), len(stages)), dtype=np.uint8)
        for k, stage in enumerate(stages):
            flags[:, k] = stage.apply(c, rng)
            c = np.column_stack([c, flags[:, k].astype(np.float32)])
        return is_muon, self.response.apply(c, rng), flags


def condition_columns(
    spec: PidSpec,
    objects: ak.Array,
    events: ak.Array,
    occupancy: np.ndarray | None,
    event_branches: Mapping[str, np.ndarray] | None = None,
) -> np.ndarray:
    """The raw condition table, one row per object, from the run-time objects and events.

    A column is, in this order: the occupancy column; ``probe_X``, the object's field ``X``; an
    event-level branch the pipeline has just simulated (``event_branches``, e.g. the event
    section's ``Event_nTracks``); a branch of the input events.
    """
    simulated = event_branches or {}
    counts = np.asarray(ak.num(objects))
    columns = []
    for c in spec.conditions:
        if spec.occupancy is not None and c.column == spec.occupancy[0]:
            assert occupancy is not None
            columns.append(np.repeat(occupancy, counts).astype(np.float64))
        elif c.column.startswith(PROBE_PREFIX):
            field = c.column[len(PROBE_PREFIX) :]
            if field not in objects.fields:
                msg = (
                    f"PID condition {c.name!r} reads {spec.collection}_{field}, which the "
                    f"{spec.collection} stage does not produce (it makes {objects.fields})"
                )
                raise InputError(msg)
            columns.append(np.asarray(ak.flatten(objects[field]), dtype=np.float64))
        elif c.column in simulated:
            columns.append(np.repeat(np.asarray(simulated[c.column], dtype=np.float64), counts))
        elif c.column in events.fields:
            columns.append(np.repeat(np.asarray(events[c.column], dtype=np.float64), counts))
        else:
            msg = (
                f"PID condition {c.name!r} reads column {c.column!r}: neither "
                f"{PROBE_PREFIX}<field of {spec.collection}>, the occupancy column, nor an "
                "event branch of the input"
            )
            raise InputError(msg)
    return np.column_stack(columns) if columns else np.zeros((int(counts.sum()), 0))


@dataclass
class PidModel:
    """Every species' PID models, applied to a simulated collection."""

    spec: PidSpec
    species: dict[str, SpeciesModel]

    def occupancy(self, objects: ak.Array) -> np.ndarray | None:
        """Per event, the number of objects counted by the spec's occupancy definition."""
        if self.spec.occupancy is None:
            return None
        _, field, values = self.spec.occupancy
        flags = np.isin(np.asarray(ak.flatten(objects[field])), values)
        event = np.repeat(np.arange(len(objects)), np.asarray(ak.num(objects)))
        return np.bincount(event[flags], minlength=len(objects)).astype(np.int32)

    def apply(
        self,
        events: ak.Array,
        objects: ak.Array,
        species_pdg: np.ndarray,
        rng: np.random.Generator,
        event_branches: Mapping[str, np.ndarray] | None = None,
        guard: DomainGuard | None = None,
    ) -> tuple[ak.Array, dict[str, np.ndarray], dict[str, int]]:
        """Add the PID fields to ``objects`` (jagged, one chunk).

        Arguments:
            events: the input chunk (for event-level condition branches).
            objects: the simulated collection, jagged per event.
            species_pdg: flat ``pdgId`` of each object's gen match.
            rng: the chunk's random stream.
            event_branches: event-level branches simulated so far (conditions may read them).
            guard: the out-of-domain policy for the conditions (default: clamp).
        Returns:
            the objects with the PID fields, the event branches (occupancy), and counters (how
            many objects of each species, and without a PID species).
        """
        occupancy = self.occupancy(objects)
        table = condition_columns(self.spec, objects, events, occupancy, event_branches)
        n = len(table)
        targets = np.full((n, len(self.spec.targets)), np.nan, dtype=np.float32)
        is_muon = np.zeros(n, dtype=np.uint8)
        done = np.zeros(n, dtype=bool)
        counters: dict[str, int] = {}
        pdg = np.abs(np.asarray(species_pdg))
        guard = guard if guard is not None else DomainGuard("clamp", len(objects))
        event = np.repeat(np.arange(len(objects)), np.asarray(ak.num(objects)))
        for name, model in self.species.items():
            rows = np.flatnonzero(np.isin(pdg, model.spec.pdg_id))
            counters[name] = len(rows)
            if len(rows) == 0:
                continue
            muon, values, flags = model.apply(table[rows], rng, guard, event[rows])
            if muon is not None:
                is_muon[rows] = muon
            targets[rows] = decode_pid_targets(self.spec, values, flags)
            done[rows] = True
        counters["no_species"] = int((~done).sum())
        for j, column in enumerate(self.spec.targets):
            low, high = column.range
            if low is not None or high is not None:
                targets[:, j] = np.clip(targets[:, j], low, high)
        counts = ak.num(objects)
        fields: Mapping[str, Any] = {
            c.name: ak.unflatten(targets[:, j], counts) for j, c in enumerate(self.spec.targets)
        }
        out = objects
        if self.spec.is_muon is not None:
            out = ak.with_field(out, ak.unflatten(is_muon, counts), self.spec.is_muon.name)
        for name, values in fields.items():
            out = ak.with_field(out, values, name)
        branches = {} if occupancy is None else {self.spec.occupancy[0]: occupancy}
        return out, branches, counters

"""Mixed discrete/continuous targets: the discrete part first, by classifiers, then the flow.

Many reconstructed quantities are not continuous: ID flags and working-point bits take a few
values (``Muon_looseId``, ``Electron_lostHits``), and continuous ones take some values exactly
(the b-tag score of a jet without a displaced track, an energy fraction at 0 when the jet has no
candidate of that kind). A normalizing flow has a continuous density: smeared into it and snapped
back, such a spike leaks into its neighbourhood and a classifier tells the flash objects apart
(CMS FlashSim, arXiv:2402.13684, section 4, models the b-tag's default values this way for the
same reason).

:class:`MixedResponseStage` therefore samples, per object and in spec order, one **code** per
target with a discrete part: for a target with ``categories`` the index of its value; for one
with ``point_masses`` 0 for the continuum or k for the k-th point mass. Each code comes from a
gradient-boosted classifier (:class:`flashsim.stages.efficiency.EfficiencyStage`) that sees the
conditions and the codes before it, so the joint distribution of the discrete parts is the
product of conditionals (an autoregressive factorisation, as the PID flags of
:mod:`flashsim.stages.pid`). The continuous targets are then sampled by the flow given the
conditions *and* the codes. On point-mass rows the flow's column is a placeholder (during training
a random draw from the column's continuum, independent of everything, so it carries no
information and costs the flow little), and the point mass replaces it exactly.

The stage has the :class:`flashsim.stages.response.ResponseStage` contract: ``apply(context,
rng)`` returns every modelled target, encoded (``kind: value`` targets as values).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flashsim.exceptions import InputError, ModelError
from flashsim.response_record import MIXED_KIND
from flashsim.spec import Target
from flashsim.stages.efficiency import EfficiencyStage
from flashsim.stages.response import ResponseStage

__all__ = [
    "DEFAULT_DISCRETE",
    "ConstantStep",
    "DiscretePart",
    "MixedResponseStage",
    "code_columns",
    "discrete_codes",
    "discrete_parts",
    "fill_point_masses",
    "load_response",
    "sample_sequential",
    "train_mixed",
]

DEFAULT_DISCRETE: dict[str, Any] = {
    "n_estimators": 200,
    "max_depth": 5,
    "learning_rate": 0.15,
    "early_stopping_rounds": 15,
}
"""xgboost settings of the discrete-part classifiers when the spec's ``discrete`` gives none."""


@dataclass(frozen=True)
class DiscretePart:
    """The discrete part of one modelled target.

    Arguments:
        column: the target's column among the modelled targets.
        name: the target's name.
        values: its categories, or its point masses.
        categories: ``True`` if the target is wholly discrete (code k = ``values[k]``); ``False``
            for point masses (code 0 = continuum, code k = ``values[k - 1]``).
    """

    column: int
    name: str
    values: tuple[float, ...]
    categories: bool

    @property
    def n_codes(self) -> int:
        """Number of codes the classifier chooses from."""
        return len(self.values) + (0 if self.categories else 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "name": self.name,
            "values": list(self.values),
            "categories": self.categories,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DiscretePart:
        return cls(
            int(d["column"]), str(d["name"]), tuple(map(float, d["values"])), bool(d["categories"])
        )


def discrete_parts(targets: Sequence[Target]) -> list[DiscretePart]:
    """The discrete parts of the modelled targets (``uniform_phi`` is not modelled), in order."""
    modelled = [t for t in targets if t.kind != "uniform_phi"]
    return [
        DiscretePart(j, t.name, t.categories or t.point_masses, bool(t.categories))
        for j, t in enumerate(modelled)
        if t.discrete
    ]


def _on(values: np.ndarray, point: float) -> np.ndarray:
    """Equal in float32, the type NanoAOD stores (the b-tag score saturates on the float32
    values just below 1, a few ulps apart)."""
    return np.asarray(values, dtype=np.float32) == np.float32(point)


def discrete_codes(parts: Sequence[DiscretePart], x: np.ndarray) -> np.ndarray:
    """(n, len(parts)) int64 codes of the encoded targets ``x`` (training rows).

    Raises:
        InputError: a categorical target holds a value that is not one of its categories (the
            spec's list is incomplete for these files).
    """
    codes = np.zeros((len(x), len(parts)), dtype=np.int64)
    for k, part in enumerate(parts):
        column = x[:, part.column]
        if part.categories:
            found = np.zeros(len(x), dtype=bool)
            for i, value in enumerate(part.values):
                on = _on(column, value)
                codes[on, k] = i
                found |= on
            finite = np.isfinite(column)
            if not found[finite].all():
                extra = np.unique(column[finite & ~found])[:5]
                msg = (
                    f"target {part.name!r} takes the value(s) {', '.join(f'{v:g}' for v in extra)} "
                    f"that are not among its categories {list(part.values)}; add them to "
                    "`categories` in the spec"
                )
                raise InputError(msg)
        else:
            for i, value in enumerate(part.values):
                codes[_on(column, value), k] = i + 1
    return codes


def code_columns(parts: Sequence[DiscretePart], codes: np.ndarray) -> np.ndarray:
    """The codes as context columns of the flow: one column (the code) for a two-way part,
    one-hot columns for a part with more codes (their order means nothing)."""
    columns = []
    for k, part in enumerate(parts):
        if part.n_codes == 2:
            columns.append(codes[:, k : k + 1].astype(np.float32))
        else:
            columns.append(np.eye(part.n_codes, dtype=np.float32)[codes[:, k]])
    if not columns:
        return np.zeros((len(codes), 0), dtype=np.float32)
    return np.concatenate(columns, axis=1)


def continuous_columns(parts: Sequence[DiscretePart], n_targets: int) -> list[int]:
    """The columns the flow samples: every modelled target but the categorical ones."""
    categorical = {p.column for p in parts if p.categories}
    return [j for j in range(n_targets) if j not in categorical]


def fill_point_masses(
    parts: Sequence[DiscretePart], x: np.ndarray, codes: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A copy of ``x`` whose point-mass entries are random draws from the same column's continuum
    (independent of the row), the placeholder the flow learns there (see the module docstring).
    A column with no continuum at all gets 0."""
    out = np.array(x, dtype=np.float64, copy=True)
    for k, part in enumerate(parts):
        if part.categories:
            continue
        on = codes[:, k] > 0
        rest = out[~on & np.isfinite(out[:, part.column]), part.column]
        out[on, part.column] = rng.choice(rest, int(on.sum())) if rest.size else 0.0
    return out


class ConstantStep:
    """A step of :func:`sample_sequential` whose training rows all had one outcome (e.g. no
    pile-up jet at the b-tag's saturation value): it always gives that outcome."""

    kind = "constant"

    def __init__(self, outcome: int) -> None:
        self.outcome = int(outcome)

    def apply(self, conditions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The outcome for every row (no random number is drawn)."""
        return np.full(len(conditions), self.outcome, dtype=np.int64)

    def save(self, path: Path) -> dict[str, Any]:
        """Nothing to write beside the record."""
        return {"kind": self.kind, "outcome": self.outcome}


Step = EfficiencyStage | ConstantStep


def _load_step(source: Any, record: Mapping[str, Any], key: str) -> Step:
    if isinstance(record, Mapping) and record.get("kind") == ConstantStep.kind:
        outcome = record.get("outcome")
        if outcome not in (0, 1) or isinstance(outcome, bool):
            msg = f"{key}.outcome: expected 0 or 1, got {outcome!r}"
            raise ModelError(msg)
        return ConstantStep(outcome)
    if not isinstance(record, Mapping) or record.get("n_classes") != 2:
        msg = f"{key}: expected a binary classifier (n_classes 2) or a constant step"
        raise ModelError(msg)
    return EfficiencyStage.load(source, record, key)


def sample_sequential(
    steps: Sequence[Step], features: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A code in ``0..len(steps)`` per row from binary classifiers applied in turn: step j
    gives P(code = j | code >= j) and sees only the rows still undecided (a stick-breaking
    factorisation of the categorical distribution; binary boosted trees cost a fraction of a
    multiclass model's and each sees fewer rows)."""
    codes = np.full(len(features), len(steps), dtype=np.int64)
    undecided = np.arange(len(features))
    for j, step in enumerate(steps):
        if len(undecided) == 0:
            break
        chosen = step.apply(features[undecided], rng) == 1
        codes[undecided[chosen]] = j
        undecided = undecided[~chosen]
    return codes


class MixedResponseStage:
    """Sample the discrete parts with classifiers, then the continuous targets with a flow.

    Arguments:
        parts: the discrete parts, in the order they are sampled.
        classifiers: per part, ``n_codes - 1`` binary classifiers (:func:`sample_sequential`);
            those of part k see the context and the codes of parts 0..k-1.
        response: the flow (or GAN) of the continuous columns, given the context and
            :func:`code_columns` of all codes.
        n_targets: number of modelled targets (columns of :meth:`apply`'s result).
    """

    kind = MIXED_KIND

    def __init__(
        self,
        parts: Sequence[DiscretePart],
        classifiers: Sequence[Sequence[Step]],
        response: ResponseStage,
        n_targets: int,
    ) -> None:
        shapes = [len(c) for c in classifiers]
        if shapes != [p.n_codes - 1 for p in parts]:
            msg = f"discrete parts with {[p.n_codes for p in parts]} codes but classifiers {shapes}"
            raise ModelError(msg)
        self.parts = list(parts)
        self.classifiers = list(classifiers)
        self.response = response
        self.n_targets = n_targets

    @property
    def model(self) -> Any:
        """The continuous part's generative model."""
        return self.response.model

    def sample_codes(self, context: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(n, len(parts)) codes, each part's classifiers given the context and the codes before."""
        codes = np.zeros((len(context), len(self.parts)), dtype=np.int64)
        features = np.asarray(context, dtype=np.float32)
        for k, steps in enumerate(self.classifiers):
            codes[:, k] = sample_sequential(steps, features, rng)
            features = np.column_stack([features, codes[:, k].astype(np.float32)])
        return codes

    def apply(self, context: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(n, n_targets) float64 encoded targets; the randomness comes only from ``rng``."""
        n = len(context)
        out = np.zeros((n, self.n_targets))
        if n == 0:
            return out
        codes = self.sample_codes(context, rng)
        flow_context = np.concatenate(
            [np.asarray(context, dtype=np.float32), code_columns(self.parts, codes)], axis=1
        )
        columns = continuous_columns(self.parts, self.n_targets)
        out[:, columns] = self.response.apply(flow_context, rng)
        for k, part in enumerate(self.parts):
            values = np.asarray(part.values)
            if part.categories:
                out[:, part.column] = values[codes[:, k]]
            else:
                on = codes[:, k] > 0
                out[on, part.column] = values[codes[on, k] - 1]
        return out

    def save(self, path: Path) -> dict[str, Any]:
        """Write the flow to ``path`` and each classifier beside it
        (``Jet.response.discrete.btagDeepFlavB.json.gz``); return the record."""
        stem = path.name[: -len(path.suffix)] if path.suffix else path.name
        return {
            "kind": self.kind,
            "n_targets": self.n_targets,
            "parts": [p.to_dict() for p in self.parts],
            "classifiers": [
                [
                    c.save(path.with_name(f"{stem}.discrete.{p.name}.{j}.json.gz"))
                    for j, c in enumerate(steps)
                ]
                for p, steps in zip(self.parts, self.classifiers, strict=True)
            ],
            "response": self.response.save(path),
        }

    @classmethod
    def load(cls, source: Any, record: Mapping[str, Any], key: str = "") -> MixedResponseStage:
        """Load a stage written by :meth:`save`.

        Arguments:
            source: a bundle's verified weight files or a directory (as
                :meth:`flashsim.stages.response.ResponseStage.load`).
            record: the stage's record.
            key: where the record lies in the bundle's record, for messages.
        """
        where = key or "response"
        try:
            n_targets = record["n_targets"]
            if isinstance(n_targets, bool) or not isinstance(n_targets, int) or n_targets < 1:
                msg = f"n_targets: expected an integer >= 1, got {n_targets!r}"
                raise ValueError(msg)
            parts = [DiscretePart.from_dict(d) for d in record["parts"]]
            for part in parts:
                if not 0 <= part.column < n_targets or not part.values:
                    msg = f"part {part.name!r}: column or values out of range"
                    raise ValueError(msg)
                if not np.isfinite(part.values).all():
                    msg = f"part {part.name!r}: values must be finite"
                    raise ValueError(msg)
            steps_of = record["classifiers"]
            if not isinstance(steps_of, list) or not all(isinstance(s, list) for s in steps_of):
                msg = "classifiers: expected a list of lists"
                raise TypeError(msg)
        except (KeyError, TypeError, ValueError) as err:
            msg = f"{where}: malformed mixed response record ({err}); retrain or restore it"
            raise ModelError(msg) from err
        classifiers = [
            [_load_step(source, r, f"{where}.classifiers[{i}][{j}]") for j, r in enumerate(steps)]
            for i, steps in enumerate(steps_of)
        ]
        response = ResponseStage.load(source, record["response"], f"{where}.response")
        return cls(parts, classifiers, response, n_targets)


def load_response(
    source: Any, record: Mapping[str, Any], key: str = ""
) -> ResponseStage | MixedResponseStage:
    """Load a response stage of either kind from its bundle record.

    Arguments:
        source: a bundle's verified weight files (:class:`flashsim.bundle_files.WeightFiles`)
            or a directory.
        record: the stage's record.
        key: where the record lies in the bundle's record, for messages.
    """
    if not isinstance(record, Mapping):
        msg = f"{key or 'response'}: expected a mapping, got {type(record).__name__}"
        raise ModelError(msg)
    if record.get("kind") == MixedResponseStage.kind:
        return MixedResponseStage.load(source, record, key)
    return ResponseStage.load(source, record, key)


def train_mixed(
    parts: Sequence[DiscretePart],
    x: np.ndarray,
    context: np.ndarray,
    classify: Callable[[str, np.ndarray, np.ndarray, int], EfficiencyStage],
    respond: Callable[[np.ndarray, np.ndarray], ResponseStage],
    rng: np.random.Generator,
) -> MixedResponseStage:
    """Train a :class:`MixedResponseStage` on encoded targets ``x`` given ``context``.

    Arguments:
        classify: ``(label, features, binary outcome, rows) -> classifier`` trained on the
            ``rows`` (a boolean mask) by the caller, which holds the validation split, the seeds
            and the metrics; one per step of :func:`sample_sequential`.
        respond: ``(continuous columns of x, flow context) -> response stage``, likewise.
        rng: draws the point-mass placeholders.
    """
    codes = discrete_codes(parts, x)
    features = np.asarray(context, dtype=np.float32)
    classifiers = []
    for k, part in enumerate(parts):
        steps = []
        for j in range(part.n_codes - 1):
            rows = codes[:, k] >= j
            label = f"{part.name}.{j}"
            steps.append(classify(label, features, (codes[:, k] == j).astype(np.int64), rows))
        classifiers.append(steps)
        features = np.column_stack([features, codes[:, k].astype(np.float32)])
    filled = fill_point_masses(parts, x, codes, rng)
    columns = continuous_columns(parts, x.shape[1])
    if not columns:
        msg = "every target is categorical: a response needs at least one continuous target"
        raise InputError(msg)
    flow_context = np.concatenate(
        [np.asarray(context, dtype=np.float32), code_columns(parts, codes)], axis=1
    )
    response = respond(filled[:, columns], flow_context)
    return MixedResponseStage(parts, classifiers, response, x.shape[1])

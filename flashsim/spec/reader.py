"""The reader of pipeline specs: generic checks plus the settings every section shares.

:class:`SpecReader` is a :class:`~flashsim.checks.ConfigReader` raising
:class:`~flashsim.exceptions.SpecError`, with the readers of what several sections of a spec
contain: xgboost settings, transform chains, response models and training weights.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from flashsim.checks import ConfigReader
from flashsim.exceptions import SpecError
from flashsim.preprocessing import build_chain
from flashsim.spec.types import NEGATIVE_WEIGHTS, ResponseSpec, WeightSpec

__all__ = ["XGBOOST_KEYS", "SpecReader"]

XGBOOST_KEYS = (
    "n_estimators",
    "early_stopping_rounds",
    "max_depth",
    "learning_rate",
    "min_child_weight",
    "subsample",
    "colsample_bytree",
    "reg_lambda",
    "reg_alpha",
    "gamma",
    "max_bin",
)
"""The xgboost settings a spec may give a classifier (efficiency, multiplicity, flags)."""


class SpecReader(ConfigReader):
    """Walks a spec's YAML tree keeping the key path, so errors can name it.

    Arguments:
        origin: the spec's file name (or another label), the prefix of every message.
    """

    origin: str

    def __init__(self, origin: str) -> None:
        super().__init__(origin, SpecError)

    def xgboost(self, value: Any, where: str, extra: Sequence[str] = ()) -> dict[str, Any]:
        """A mapping of xgboost settings (:data:`XGBOOST_KEYS`, and the ``extra`` keys)."""
        if not isinstance(value, Mapping):
            raise self.fail(where, "expected a mapping of xgboost parameters")
        return self.mapping(value, where, [], [*XGBOOST_KEYS, *extra])

    def chain(self, value: Any, where: str) -> tuple[Any, ...]:
        """A transform chain as written (checked by :func:`flashsim.preprocessing.build_chain`)."""
        if not isinstance(value, list):
            raise self.fail(where, "expected a list of transforms, e.g. [log, standardize]")
        try:
            build_chain(value)
        except SpecError as err:
            raise self.fail(where, str(err)) from err
        return tuple(copy.deepcopy(value))

    def weight(self, value: Any, where: str) -> WeightSpec:
        """Training weights: a branch name, or ``{column: ..., negative: ...}``."""
        if isinstance(value, str):
            return WeightSpec(column=value)
        d = self.mapping(value, where, ["column"], ["negative"])
        return WeightSpec(
            column=self.typed(d["column"], f"{where}.column", str, "a branch name"),
            negative=self.choice(d.get("negative", "raw"), f"{where}.negative", NEGATIVE_WEIGHTS),
        )

    def response(self, value: Any, where: str) -> ResponseSpec:
        """A response model: its kind (one of :data:`flashsim.models.registry.MODELS`), its
        settings and training settings (checked by the kind's own parsers) and the settings of
        the classifiers of the targets' discrete parts."""
        from flashsim.models.registry import MODEL_KINDS, settings_parsers

        d = self.mapping(value, where, ["model"], [*MODEL_KINDS, "training", "discrete"])
        model = self.choice(d["model"], f"{where}.model", MODEL_KINDS)
        other = [m for m in MODEL_KINDS if m != model and m in d]
        if other:
            raise self.fail(f"{where}.{other[0]}", f"settings of another model than {model!r}")
        config = d.get(model, {})
        parse_config, parse_training = settings_parsers(model)
        for key, parse in ((model, parse_config), ("training", parse_training)):
            try:
                parse(d.get(key, {}))
            except SpecError as err:
                raise self.fail(where, str(err)) from err
        discrete = self.xgboost(d.get("discrete", {}), f"{where}.discrete")
        return ResponseSpec(
            model=model,
            config=dict(config),
            training=dict(d.get("training", {})),
            discrete=discrete,
        )

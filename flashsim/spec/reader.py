"""The reader of pipeline specs: generic checks plus the settings every section shares.

:class:`SpecReader` is a :class:`~flashsim.checks.ConfigReader` raising
:class:`~flashsim.exceptions.SpecError`, with the readers of what several sections of a spec
contain: xgboost settings, transform chains, response models and training weights.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from flashsim.checks import ConfigReader
from flashsim.exceptions import SpecError
from flashsim.preprocessing import build_chain
from flashsim.spec.types import NEGATIVE_WEIGHTS, ResponseSpec, WeightSpec

__all__ = ["INT32", "MAX_NAME_CHARS", "XGBOOST_KEYS", "SpecReader"]

MAX_NAME_CHARS = 100
"""The longest name of a target, condition or species."""
_NAME = re.compile(rf"[A-Za-z_][A-Za-z0-9_]{{0,{MAX_NAME_CHARS - 1}}}")
INT32 = (-(2**31), 2**31 - 1)
"""The range of integer values compared with event data (pdgId, status, ID classes)."""

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

_XGBOOST_INTEGERS = {
    "n_estimators": (1, 100_000),
    "early_stopping_rounds": (1, 100_000),
    "max_depth": (1, 32),
    "max_bin": (2, 4096),
}
"""The xgboost settings that are counts, and their bounds (a tree deeper than 32 levels has
more leaves than any training table has rows; 100,000 rounds run for days)."""
_XGBOOST_FRACTIONS = ("learning_rate", "subsample", "colsample_bytree")
"""The xgboost settings in (0, 1]."""
_XGBOOST_PENALTIES = ("min_child_weight", "reg_lambda", "reg_alpha", "gamma")
"""The xgboost settings that are finite numbers >= 0."""


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
        d = self.mapping(value, where, [], [*XGBOOST_KEYS, *extra])
        for key, (low, high) in _XGBOOST_INTEGERS.items():
            if key in d:
                self.integer(d[key], f"{where}.{key}", minimum=low, maximum=high)
        for key in _XGBOOST_FRACTIONS:
            if key in d:
                self.number(d[key], f"{where}.{key}", low=0.0, high=1.0, low_open=True)
        for key in _XGBOOST_PENALTIES:
            if key in d:
                self.number(d[key], f"{where}.{key}", low=0.0, high=1e9)
        return d

    def name(self, value: Any, where: str) -> str:
        """A name that becomes part of a branch or file name (a target, a condition, a PID
        species): letters, digits and ``_``, starting with a letter or ``_``, at most
        :data:`MAX_NAME_CHARS` characters; never a path."""
        text = self.typed(value, where, str, "a name")
        if not _NAME.fullmatch(text):
            shown = text if len(text) <= 40 else f"{text[:37]}..."
            raise self.fail(
                where,
                f"{shown!r} is not a name: use letters, digits and _ (at most "
                f"{MAX_NAME_CHARS} characters, not starting with a digit)",
            )
        return text

    def finite(self, value: Any, where: str, what: str = "a finite number") -> float:
        """An int or float that is finite (not NaN, not ±inf), unchanged."""
        number = self.typed(value, where, (int, float), what)
        if not math.isfinite(number):
            raise self.fail(where, f"expected {what}, got {number!r}")
        return number

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

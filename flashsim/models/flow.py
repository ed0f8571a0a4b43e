"""Conditional normalizing flows: the density p(x | c) of reconstructed quantities x given
generator-level quantities c, built with zuko.

A :class:`ConditionalFlow` is a plain object (it pickles) around a zuko flow: a masked
autoregressive flow (MAF) with affine transforms or a neural spline flow (NSF) with
rational-quadratic splines. Either is built with coupling structure (two passes: one half of the
features conditions the other half; sampling costs two network evaluations per transform) or fully
autoregressive (one pass per feature: sampling costs one evaluation per feature and transform).
Both invert exactly.

Sampling draws the base noise with a :class:`numpy.random.Generator`, so the output depends only
on the generator's state, never on torch's global random state.

Splines act on ``[-5, 5]`` (zuko's default bound) and are the identity outside, so the inputs
should be standardized first (zero mean, unit variance): values beyond five standard deviations
pass through the spline unchanged, which is harmless but unlearned.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

import torch
import zuko

from flashsim.exceptions import ModelError, SpecError
from flashsim.models.base import TorchModel, check_sizes
from flashsim.models.flow_sampler import FlowSampler, UnsupportedFlowError

__all__ = ["ConditionalFlow", "FlowConfig", "config_from_mapping"]

TRANSFORMS = ("spline", "affine")
STRUCTURES = ("coupling", "autoregressive")

_C = TypeVar("_C")


def config_from_mapping(cls: type[_C], d: Mapping[str, Any], section: str) -> _C:
    """Build the frozen dataclass ``cls`` from a mapping, refusing unknown keys.

    Arguments:
        cls: a dataclass whose ``__post_init__`` checks the values (raising :class:`SpecError`).
        d: the mapping, as read from a YAML specification; missing keys take their defaults.
        section: the name of the specification section, used in error messages.
    """
    if not isinstance(d, Mapping):
        msg = f"{section}: expected a mapping of options, got {type(d).__name__}"
        raise SpecError(msg)
    valid = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    for key in d:
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            msg = f"{section}: unknown key {key!r}{hint}; valid keys: {', '.join(valid)}"
            raise SpecError(msg)
    return cls(**d)


def _check_choice(section: str, key: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        msg = f"{section}.{key}: {value!r} is not one of {', '.join(map(repr, choices))}"
        raise SpecError(msg)


def _check_int(section: str, key: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        msg = f"{section}.{key}: expected an integer >= {minimum}, got {value!r}"
        raise SpecError(msg)


@dataclass(frozen=True)
class FlowConfig:
    """The architecture of a :class:`ConditionalFlow`.

    Arguments:
        transform: ``"spline"`` for monotonic rational-quadratic splines (NSF) or ``"affine"``
            for affine transforms (MAF).
        structure: ``"coupling"`` (two passes, fast sampling) or ``"autoregressive"`` (one pass
            per feature: more expressive, sampling slower by the number of features).
        transforms: the number of stacked transforms.
        hidden: the widths of the hidden layers of each conditioner network.
        bins: the number of spline bins (spline only).

    References:
        Papamakarios, Pavlakou, Murray, "Masked Autoregressive Flow for Density Estimation",
        arXiv:1705.07057; Durkan, Bekasov, Murray, Papamakarios, "Neural Spline Flows",
        arXiv:1906.04019; zuko, https://github.com/probabilists/zuko.
    """

    transform: Literal["spline", "affine"] = "spline"
    structure: Literal["coupling", "autoregressive"] = "coupling"
    transforms: int = 4
    hidden: tuple[int, ...] = (64, 64)
    bins: int = 8

    def __post_init__(self) -> None:
        _check_choice("flow", "transform", self.transform, TRANSFORMS)
        _check_choice("flow", "structure", self.structure, STRUCTURES)
        _check_int("flow", "transforms", self.transforms, 1)
        _check_int("flow", "bins", self.bins, 2)
        hidden = self.hidden
        if not isinstance(hidden, (list, tuple)) or not hidden:
            msg = f"flow.hidden: expected a non-empty list of layer widths, got {hidden!r}"
            raise SpecError(msg)
        for width in hidden:
            _check_int("flow", "hidden", width, 1)
        object.__setattr__(self, "hidden", tuple(hidden))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FlowConfig:
        """Build a configuration from a mapping (a YAML section); :class:`SpecError` if invalid.

        Arguments:
            d: the options; missing keys take their defaults.
        """
        return config_from_mapping(cls, d, "flow")

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-compatible mapping (``hidden`` as a list)."""
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d


def _build_module(n_features: int, n_context: int, config: FlowConfig) -> torch.nn.Module:
    passes = 2 if config.structure == "coupling" else None
    common: dict[str, Any] = {
        "transforms": config.transforms,
        "passes": passes,
        "hidden_features": config.hidden,
    }
    if config.transform == "spline":
        return zuko.flows.NSF(n_features, n_context, bins=config.bins, **common)
    return zuko.flows.MAF(n_features, n_context, **common)


class ConditionalFlow(TorchModel):
    """The conditional density p(x | c), a zuko MAF or NSF; sample-only users call :meth:`sample`.

    The network weights are initialised from torch's global random state, so seed it
    (``torch.manual_seed``) before constructing a flow to be trained. Rebuilding a trained flow
    (:meth:`from_record`, unpickling) leaves torch's global random state untouched.

    Arguments:
        n_features: the number of modelled quantities x.
        n_context: the number of conditioning quantities c.
        config: the architecture.

    References:
        Papamakarios et al., arXiv:1705.07057 (MAF); Durkan et al., arXiv:1906.04019 (NSF);
        zuko, https://github.com/probabilists/zuko.
    """

    kind: ClassVar[str] = "flow"
    config_class: ClassVar[Any] = FlowConfig

    def __init__(self, n_features: int, n_context: int, config: FlowConfig = FlowConfig()) -> None:
        check_sizes(n_features, n_context)
        self.n_features = n_features
        self.n_context = n_context
        self.config = config
        self.module: torch.nn.Module = _build_module(n_features, n_context, config)

    def __repr__(self) -> str:
        return (
            f"ConditionalFlow(n_features={self.n_features}, n_context={self.n_context}, "
            f"config={self.config!r})"
        )

    @property
    def device(self) -> torch.device:
        """The device that holds the weights."""
        return next(self.module.buffers()).device

    @property
    def noise_dim(self) -> int:
        """Width of the standard-normal noise that :meth:`sample` maps to x."""
        return self.n_features

    def _map_noise(self, z: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        # zuko's MAF/NSF base is a fixed standard normal (buffers), so z is base noise.
        sampler = self._fast_sampler()
        if sampler is None:
            return self._distribution(context).transform.inv(z)
        return sampler(z, context)

    def _fast_sampler(self) -> FlowSampler | None:
        """The :class:`FlowSampler` of the current weights (rebuilt when they change), or None
        where it does not reproduce the structure (zuko's own inverse is used then)."""
        params = list(self.module.parameters())
        key = (self.device, *(p._version for p in params), *(id(p) for p in params))
        cached = self.__dict__.get("_sampler")
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            sampler: FlowSampler | None = FlowSampler(self.module, self.n_features, self.n_context)
        except UnsupportedFlowError:
            sampler = None
        self.__dict__["_sampler"] = (key, sampler)
        return sampler

    def _distribution(self, context: torch.Tensor) -> torch.distributions.Distribution:
        if self.n_context == 0:
            return self.module()
        return self.module(context)

    def log_prob(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """The log-density log p(x | c), differentiable.

        Arguments:
            x: the quantities, shape ``(n, n_features)``.
            context: the conditions, shape ``(n, n_context)``, on the same device.

        Returns:
            A tensor of shape ``(n,)``.
        """
        if x.ndim != 2 or x.shape[1] != self.n_features:
            msg = f"x must have shape (n, {self.n_features}), got {tuple(x.shape)}"
            raise ValueError(msg)
        self._check_context(tuple(context.shape), x.shape[0])
        return self._distribution(context).log_prob(x)

    def _check_buffers(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        # Masks and feature orders are buffers in the state dict: another structure has the same
        # shapes but other masks, so compare them with the ones the record implies.
        fresh = self.module.state_dict()
        for key, value in fresh.items():
            if key.endswith(("mask", "order")) and key in state_dict:
                loaded = state_dict[key]
                if loaded.shape != value.shape or not torch.equal(loaded.cpu(), value.cpu()):
                    msg = (
                        f"flow weights do not fit the model record ({key} differs: the weights "
                        f"were trained with another structure); the model bundle is inconsistent"
                    )
                    raise ModelError(msg)

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

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import zuko

from flashsim.exceptions import ModelError
from flashsim.models.base import TorchModel
from flashsim.models.config import FlowConfig
from flashsim.models.flow_sampler import FlowSampler, UnsupportedFlowError
from flashsim.models.limits import mlp_parameters

__all__ = ["ConditionalFlow", "FlowConfig"]

DEFAULT_CONFIG = FlowConfig()
"""The settings a model is built with when none are given."""


class ConditionalFlow(TorchModel):
    """The conditional density p(x | c), a zuko MAF or NSF; sample-only users call :meth:`sample`.

    Built as every :class:`~flashsim.models.base.TorchModel` from ``(n_features, n_context,
    config)``, with a :class:`~flashsim.models.config.FlowConfig` (default: ``FlowConfig()``).

    References:
        Papamakarios et al., arXiv:1705.07057 (MAF); Durkan et al., arXiv:1906.04019 (NSF);
        zuko, https://github.com/probabilists/zuko.
    """

    kind: ClassVar[str] = "flow"
    config_class: ClassVar[type[FlowConfig]] = FlowConfig
    config: FlowConfig

    def __init__(
        self, n_features: int, n_context: int, config: FlowConfig = DEFAULT_CONFIG
    ) -> None:
        super().__init__(n_features, n_context, config)

    def build_module(self) -> torch.nn.Module:
        """A zuko NSF (splines) or MAF (affine), with coupling or autoregressive structure."""
        config = self.config
        passes = 2 if config.structure == "coupling" else None
        common: dict[str, Any] = {
            "transforms": config.transforms,
            "passes": passes,
            "hidden_features": config.hidden,
        }
        if config.transform == "spline":
            return zuko.flows.NSF(self.n_features, self.n_context, bins=config.bins, **common)
        return zuko.flows.MAF(self.n_features, self.n_context, **common)

    @classmethod
    def parameter_count(cls, n_features: int, n_context: int, config: FlowConfig) -> int:
        """Parameters of the zuko flow: per transform, a masked network from the features and
        the context to the parameters of each feature's univariate map (``3 bins - 1`` for a
        spline, 2 for an affine map)."""
        per_feature = 3 * config.bins - 1 if config.transform == "spline" else 2
        sizes = [n_features + n_context, *config.hidden, n_features * per_feature]
        return config.transforms * mlp_parameters(sizes)

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

"""What every response model shares: the record, the weights, rebuilding, moving, pickling.

A model is a torch module (``module``) built from ``(n_features, n_context, config)``; it is
saved as a JSON record (:meth:`TorchModel.record`) plus its ``state_dict``, never pickled whole,
and pickles (for executors) as the same two.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch

from flashsim.exceptions import ModelError, SpecError
from flashsim.models.config import Settings
from flashsim.models.limits import MAX_FEATURES, MAX_PARAMETERS

__all__ = ["TorchModel", "check_sizes"]

_M = TypeVar("_M", bound="TorchModel")


def check_sizes(n_features: int, n_context: int) -> None:
    """Raise ValueError unless ``n_features >= 1`` and ``n_context >= 0`` are integers."""
    if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
        msg = f"n_features must be a positive integer, got {n_features!r}"
        raise ValueError(msg)
    if isinstance(n_context, bool) or not isinstance(n_context, int) or n_context < 0:
        msg = f"n_context must be a non-negative integer, got {n_context!r}"
        raise ValueError(msg)


class TorchModel:
    """Base of :class:`~flashsim.models.flow.ConditionalFlow` and
    :class:`~flashsim.models.gan.ConditionalGAN`: subclasses set ``kind`` and ``config_class``
    and build their network in :meth:`build_module`.

    The network weights are initialised from torch's global random state, so seed it
    (``torch.manual_seed``) before constructing a model to be trained. Rebuilding a trained model
    (:meth:`from_record`, unpickling) leaves torch's global random state untouched.

    Arguments:
        n_features: the number of modelled quantities x.
        n_context: the number of conditioning quantities c (0: unconditional).
        config: the architecture, an instance of ``config_class``.
    """

    kind: ClassVar[str]
    config_class: ClassVar[type[Settings]]

    def __init__(self, n_features: int, n_context: int, config: Any) -> None:
        check_sizes(n_features, n_context)
        self.check_size(n_features, n_context, config)
        self.n_features = n_features
        self.n_context = n_context
        self.config = config
        self.module: torch.nn.Module = self.build_module()

    def build_module(self) -> torch.nn.Module:
        """The untrained network for ``n_features``, ``n_context`` and ``config``."""
        raise NotImplementedError

    @classmethod
    def parameter_count(cls, n_features: int, n_context: int, config: Any) -> int:
        """The number of parameters :meth:`build_module` allocates (computed, not built)."""
        raise NotImplementedError

    @classmethod
    def check_size(cls, n_features: int, n_context: int, config: Any) -> None:
        """Refuse a model too large to build (:mod:`flashsim.models.limits`), before building it.

        Raises:
            SpecError: more than :data:`~flashsim.models.limits.MAX_FEATURES` quantities or
                :data:`~flashsim.models.limits.MAX_PARAMETERS` parameters.
        """
        if max(n_features, n_context) > MAX_FEATURES:
            msg = (
                f"{cls.kind}: {n_features} modelled and {n_context} conditioning quantities; "
                f"a model takes at most {MAX_FEATURES} of each"
            )
            raise SpecError(msg)
        count = cls.parameter_count(n_features, n_context, config)
        if count > MAX_PARAMETERS:
            msg = (
                f"{cls.kind}: {count:,} parameters ({config}), more than the "
                f"{MAX_PARAMETERS:,} a model may have; choose fewer or narrower layers"
            )
            raise SpecError(msg)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_features={self.n_features}, n_context={self.n_context}, "
            f"config={self.config!r})"
        )

    @property
    def device(self) -> torch.device:
        """The device that holds the weights."""
        return next(self.module.parameters()).device

    @property
    def noise_dim(self) -> int:
        """Width of the standard-normal noise that :meth:`sample` maps to x."""
        raise NotImplementedError

    def _map_noise(self, z: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """x for noise ``z`` (``(n, noise_dim)``) and ``context``, on the model's device."""
        raise NotImplementedError

    def _check_context(self, shape: tuple[int, ...], n: int | None = None) -> None:
        if len(shape) != 2 or shape[1] != self.n_context or (n is not None and shape[0] != n):
            rows = "n" if n is None else str(n)
            msg = f"context must have shape ({rows}, {self.n_context}), got {shape}"
            raise ValueError(msg)

    def sample(
        self, context: np.ndarray, rng: np.random.Generator, *, batch_size: int = 16384
    ) -> np.ndarray:
        """Draw one x for every row of ``context``.

        The noise z ~ N(0, 1) (``noise_dim`` wide: the flow's base, the GAN's latent space) is
        drawn with ``rng`` (float32, batch after batch, so it does not depend on
        ``batch_size``) and mapped to x; the same ``rng`` state gives the same output.

        Arguments:
            context: the conditions, shape ``(n, n_context)``; converted to float32.
            rng: the only source of randomness.
            batch_size: the number of rows sent through the network at once.

        Returns:
            A float32 array of shape ``(n, n_features)``.
        """
        if not isinstance(rng, np.random.Generator):
            msg = f"rng must be a numpy.random.Generator, got {type(rng).__name__}"
            raise TypeError(msg)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            msg = f"batch_size must be a positive integer, got {batch_size!r}"
            raise ValueError(msg)
        context = np.ascontiguousarray(context, dtype=np.float32)
        self._check_context(context.shape)
        n = context.shape[0]
        out = np.empty((n, self.n_features), dtype=np.float32)
        device = self.device
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                stop = min(start + batch_size, n)
                z = rng.standard_normal((stop - start, self.noise_dim), dtype=np.float32)
                c = torch.from_numpy(context[start:stop]).to(device)
                out[start:stop] = self._map_noise(torch.from_numpy(z).to(device), c).cpu().numpy()
        return out

    def record(self) -> dict[str, Any]:
        """The JSON-compatible description needed to rebuild the model (without the weights)."""
        return {
            "kind": self.kind,
            "n_features": self.n_features,
            "n_context": self.n_context,
            "config": self.config.to_dict(),
        }

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The weights (and fixed buffers) of the module."""
        return dict(self.module.state_dict())

    @classmethod
    def from_record(
        cls: type[_M], record: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor]
    ) -> _M:
        """Rebuild a model saved with :meth:`record` and :meth:`state_dict`, on the CPU.

        Torch's global random state is left untouched.

        Raises:
            ModelError: the record is malformed, or the weights do not fit it.
        """
        if not isinstance(record, Mapping) or record.get("kind") != cls.kind:
            kind = record.get("kind") if isinstance(record, Mapping) else None
            msg = f"model record is not a {cls.kind} record (kind {kind!r})"
            raise ModelError(msg)
        try:
            n_features, n_context = int(record["n_features"]), int(record["n_context"])
            config = cls.config_class.from_dict(record["config"])
            with torch.random.fork_rng(devices=[]):
                model = cls(n_features, n_context, config)  # type: ignore[call-arg]
        except (KeyError, TypeError, ValueError, SpecError) as err:
            msg = f"{cls.kind} model record is malformed ({err}); the model bundle is corrupt"
            raise ModelError(msg) from err
        model._load(state_dict)
        return model

    def _check_buffers(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Hook: refuse weights whose fixed buffers belong to another structure."""

    def _load(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        if not isinstance(state_dict, Mapping) or not all(
            isinstance(v, torch.Tensor) for v in state_dict.values()
        ):
            msg = f"{self.kind} weights are not a mapping of tensors; the model bundle is corrupt"
            raise ModelError(msg)
        self._check_buffers(state_dict)
        try:
            self.module.load_state_dict(state_dict, strict=True)
        except RuntimeError as err:
            first = str(err).strip().splitlines()
            detail = " ".join(line.strip() for line in first[:3])
            msg = (
                f"{self.kind} weights do not fit the model record ({self.n_features} features, "
                f"{self.n_context} context, {self.config}): {detail}"
            )
            raise ModelError(msg) from err

    def to(self: _M, device: str | torch.device) -> _M:
        """Move the weights to ``device`` (in place) and return the model."""
        self.module.to(device)
        return self

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v.detach().cpu() for k, v in self.module.state_dict().items()}
        return {"record": self.record(), "state_dict": state}

    def __setstate__(self, state: dict[str, Any]) -> None:
        record = state["record"]
        with torch.random.fork_rng(devices=[]):
            self.__init__(  # type: ignore[misc]
                int(record["n_features"]),
                int(record["n_context"]),
                self.config_class.from_dict(record["config"]),
            )
        self._load(state["state_dict"])

"""Conditional generative adversarial networks: a generator x = G(z, c) of reconstructed
quantities x given generator-level quantities c and latent noise z ~ N(0, 1).

A :class:`ConditionalGAN` is a plain object (it pickles) around the generator, a multilayer
perceptron with leaky-ReLU activations that maps the concatenation (z, c) to x in the model's
(preprocessed, standardized) space. It has the interface of
:class:`~flashsim.models.flow.ConditionalFlow` except the density: ``sample(context, rng)``,
``record()``, ``state_dict()``, ``from_record(record, state_dict)``, ``to(device)``. The critic
(discriminator) and the referee exist only while training
(:func:`flashsim.models.gan_training.train_gan`) and are not saved.

Sampling draws the latent noise with a :class:`numpy.random.Generator`, so the output depends only
on the generator's state, never on torch's global random state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch

from flashsim.exceptions import SpecError
from flashsim.models.base import TorchModel, check_sizes
from flashsim.models.flow import _check_choice, _check_int, config_from_mapping

__all__ = ["ConditionalGAN", "GANConfig", "mlp"]

LOSSES = ("wgan-gp", "bce")


def _check_widths(section: str, key: str, value: object) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        msg = f"{section}.{key}: expected a non-empty list of layer widths, got {value!r}"
        raise SpecError(msg)
    for width in value:
        _check_int(section, key, width, 1)
    return tuple(value)


def _check_float(section: str, key: str, value: object, *, zero_ok: bool = False) -> float:
    """``value`` as a finite float > 0 (>= 0 if ``zero_ok``); PyYAML's ``"1e-3"`` is a number."""
    if isinstance(value, str):  # PyYAML reads 1e-3 (no dot) as a string
        with contextlib.suppress(ValueError):
            value = float(value)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and (value > 0 or (zero_ok and value == 0))):
        msg = f"{section}.{key}: expected a finite number {'>=' if zero_ok else '>'} 0, "
        msg += f"got {value!r}"
        raise SpecError(msg)
    return float(value)


@dataclass(frozen=True)
class GANConfig:
    """The architecture and adversarial loss of a :class:`ConditionalGAN`.

    Arguments:
        loss: ``"wgan-gp"``, the Wasserstein loss with a gradient penalty (a linear critic), or
            ``"bce"``, the non-saturating binary cross-entropy loss (a classifier critic, also
            regularised by the gradient penalty).
        latent_dim: the dimension of the latent noise z.
        generator: the widths of the hidden layers of the generator.
        critic: the widths of the hidden layers of the critic (used only while training).
        negative_slope: the slope of the leaky ReLU activations for negative inputs.

    References:
        Goodfellow et al., "Generative Adversarial Networks", arXiv:1406.2661; Mirza, Osindero,
        "Conditional Generative Adversarial Nets", arXiv:1411.1784; Gulrajani et al., "Improved
        Training of Wasserstein GANs", arXiv:1704.00028; Fedus et al., "Many Paths to Equilibrium:
        GANs Do Not Need to Decrease a Divergence At Every Step", arXiv:1710.08446; Anderlini et
        al., "Lamarr: the ultra-fast simulation option for the LHCb experiment",
        arXiv:2303.11428.
    """

    loss: Literal["wgan-gp", "bce"] = "wgan-gp"
    latent_dim: int = 8
    generator: tuple[int, ...] = (128, 128, 128)
    critic: tuple[int, ...] = (128, 128, 128)
    negative_slope: float = 0.2

    def __post_init__(self) -> None:
        _check_choice("gan", "loss", self.loss, LOSSES)
        _check_int("gan", "latent_dim", self.latent_dim, 1)
        object.__setattr__(self, "generator", _check_widths("gan", "generator", self.generator))
        object.__setattr__(self, "critic", _check_widths("gan", "critic", self.critic))
        slope = _check_float("gan", "negative_slope", self.negative_slope, zero_ok=True)
        if slope >= 1:
            msg = f"gan.negative_slope: expected a number in [0, 1), got {self.negative_slope!r}"
            raise SpecError(msg)
        object.__setattr__(self, "negative_slope", slope)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GANConfig:
        """Build a configuration from a mapping (a YAML section); :class:`SpecError` if invalid.

        Arguments:
            d: the options; missing keys take their defaults.
        """
        return config_from_mapping(cls, d, "gan")

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-compatible mapping (layer widths as lists)."""
        d = dataclasses.asdict(self)
        d["generator"] = list(self.generator)
        d["critic"] = list(self.critic)
        return d


def mlp(
    n_in: int, hidden: tuple[int, ...], n_out: int, negative_slope: float
) -> torch.nn.Sequential:
    """A multilayer perceptron: linear layers with leaky-ReLU activations between them.

    Arguments:
        n_in: the number of inputs.
        hidden: the widths of the hidden layers.
        n_out: the number of (linear) outputs.
        negative_slope: the slope of the leaky ReLU for negative inputs.
    """
    layers: list[torch.nn.Module] = []
    for width in hidden:
        layers += [torch.nn.Linear(n_in, width), torch.nn.LeakyReLU(negative_slope)]
        n_in = width
    layers.append(torch.nn.Linear(n_in, n_out))
    return torch.nn.Sequential(*layers)


class ConditionalGAN(TorchModel):
    """The generator x = G(z, c) of a conditional GAN; sample-only users call :meth:`sample`.

    The network weights are initialised from torch's global random state, so seed it
    (``torch.manual_seed``) before constructing a GAN to be trained. Rebuilding a trained GAN
    (:meth:`from_record`, unpickling) leaves torch's global random state untouched.

    Arguments:
        n_features: the number of modelled quantities x.
        n_context: the number of conditioning quantities c (0 for an unconditional GAN).
        config: the architecture.

    References:
        Mirza, Osindero, arXiv:1411.1784 (conditional GAN); Gulrajani et al., arXiv:1704.00028
        (WGAN-GP); Anderlini et al., arXiv:2303.11428 (GANs for the LHCb flash simulation).
    """

    kind: ClassVar[str] = "gan"
    config_class: ClassVar[Any] = GANConfig

    def __init__(self, n_features: int, n_context: int, config: GANConfig = GANConfig()) -> None:
        check_sizes(n_features, n_context)
        self.n_features = n_features
        self.n_context = n_context
        self.config = config
        self.module: torch.nn.Module = mlp(
            config.latent_dim + n_context, config.generator, n_features, config.negative_slope
        )

    def __repr__(self) -> str:
        return (
            f"ConditionalGAN(n_features={self.n_features}, n_context={self.n_context}, "
            f"config={self.config!r})"
        )

    @property
    def device(self) -> torch.device:
        """The device that holds the weights."""
        return next(self.module.parameters()).device

    @property
    def noise_dim(self) -> int:
        """Width of the standard-normal noise that :meth:`sample` maps to x."""
        return self.config.latent_dim

    def _map_noise(self, z: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.generate(z, context)

    def generate(self, z: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """The generator's output G(z, c), differentiable.

        Arguments:
            z: the latent noise, shape ``(n, latent_dim)``.
            context: the conditions, shape ``(n, n_context)``, on the same device.

        Returns:
            A tensor of shape ``(n, n_features)``.
        """
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            msg = f"z must have shape (n, {self.config.latent_dim}), got {tuple(z.shape)}"
            raise ValueError(msg)
        self._check_context(tuple(context.shape), z.shape[0])
        return self.module(torch.cat([z, context], dim=1))

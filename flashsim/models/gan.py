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

from typing import ClassVar

import torch

from flashsim.models.base import TorchModel
from flashsim.models.config import GANConfig
from flashsim.models.limits import mlp_parameters

__all__ = ["ConditionalGAN", "GANConfig", "mlp"]

DEFAULT_CONFIG = GANConfig()
"""The settings a model is built with when none are given."""


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

    Built as every :class:`~flashsim.models.base.TorchModel` from ``(n_features, n_context,
    config)``, with a :class:`~flashsim.models.config.GANConfig` (default: ``GANConfig()``).

    References:
        Mirza, Osindero, arXiv:1411.1784 (conditional GAN); Gulrajani et al., arXiv:1704.00028
        (WGAN-GP); Anderlini et al., arXiv:2303.11428 (GANs for the LHCb flash simulation).
    """

    kind: ClassVar[str] = "gan"
    config_class: ClassVar[type[GANConfig]] = GANConfig
    config: GANConfig

    def __init__(self, n_features: int, n_context: int, config: GANConfig = DEFAULT_CONFIG) -> None:
        super().__init__(n_features, n_context, config)

    def build_module(self) -> torch.nn.Module:
        """The generator, an MLP from ``(z, c)`` to x."""
        config = self.config
        n_in = config.latent_dim + self.n_context
        return mlp(n_in, config.generator, self.n_features, config.negative_slope)

    @classmethod
    def parameter_count(cls, n_features: int, n_context: int, config: GANConfig) -> int:
        """Parameters of the generator and of the critic (built for training)."""
        generator = [config.latent_dim + n_context, *config.generator, n_features]
        critic = [n_features + n_context, *config.critic, 1]
        return mlp_parameters(generator) + mlp_parameters(critic)

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

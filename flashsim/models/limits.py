"""The largest response models flashsim builds: bounds checked before any weight is allocated.

A spec or a model bundle states the size of a model in a few bytes (``hidden: [100000000]``,
``transforms: 10000000``) and building it allocates the weights at once: gigabytes, or a loop that
does not end. Every size is therefore bounded *before* the network is built, in the one place that
both a spec (``flashsim train``) and a bundle's record (``flashsim run``) go through:

- each setting, when the settings are parsed (:mod:`flashsim.models.config`): at most
  :data:`MAX_WIDTH` units per hidden layer, :data:`MAX_HIDDEN_LAYERS` hidden layers,
  :data:`MAX_TRANSFORMS` transforms, :data:`MAX_BINS` spline bins, :data:`MAX_LATENT` latent
  dimensions; and the hidden layers of one network together (:func:`check_network`); the
  training settings too (:data:`MAX_EPOCHS`, :data:`MAX_BATCH`, :data:`MAX_STEPS`,
  :data:`MAX_RATE`, :data:`MAX_GRAD_NORM`, :data:`MAX_MINUTES`), so that a typo cannot ask
  for a training that never ends;
- the whole model, when it is built (:class:`flashsim.models.base.TorchModel`): at most
  :data:`MAX_FEATURES` modelled and conditioning quantities, :data:`MAX_PARAMETERS` parameters.

The bounds are far above the models flashsim ships (the default model's largest flow has 6
transforms of ``[128, 128]`` units and 0.2 M parameters).

Example:
    >>> mlp_parameters([3, 8, 2])
    50
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

__all__ = [
    "MAX_BATCH",
    "MAX_BINS",
    "MAX_EPOCHS",
    "MAX_FEATURES",
    "MAX_GRAD_NORM",
    "MAX_HIDDEN_LAYERS",
    "MAX_LATENT",
    "MAX_MINUTES",
    "MAX_PARAMETERS",
    "MAX_RATE",
    "MAX_STEPS",
    "MAX_TRANSFORMS",
    "MAX_WIDTH",
    "check_network",
    "mlp_parameters",
]

MAX_WIDTH = 4096
"""The most units in one hidden layer."""
MAX_HIDDEN_LAYERS = 16
"""The most hidden layers of one network."""
MAX_TRANSFORMS = 64
"""The most stacked transforms of a flow."""
MAX_BINS = 128
"""The most bins of a spline transform."""
MAX_LATENT = 1024
"""The most latent dimensions of a GAN."""
MAX_FEATURES = 1024
"""The most modelled (or conditioning) quantities of one model."""
MAX_PARAMETERS = 50_000_000
"""The most parameters of one model (200 MB of float32 weights; training keeps about three
times that for the optimiser)."""

MAX_EPOCHS = 100_000
"""The most epochs (and the longest patience) of a training."""
MAX_BATCH = 1 << 20
"""The most rows per optimisation step."""
MAX_STEPS = 100_000
"""The most critic or referee steps per generator step or epoch (GAN)."""
MAX_RATE = 10.0
"""The largest learning rate or weight decay (the shipped specs use 1e-4 to 2e-3)."""
MAX_GRAD_NORM = 1e6
"""The largest gradient-clipping norm."""
MAX_MINUTES = 7 * 24 * 60.0
"""The longest time limit of one training (a week)."""


def mlp_parameters(sizes: Sequence[int]) -> int:
    """The weights and biases of a fully connected network with layer ``sizes`` (input first)."""
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def check_network(hidden: Sequence[int], copies: int = 1) -> str | None:
    """Why the hidden layers ``hidden`` (``copies`` networks of them) are too large, or None.

    Only the connections between hidden layers are counted: the inputs and outputs depend on the
    numbers of quantities, checked when the model is built.
    """
    between = copies * mlp_parameters([1, *hidden]) if hidden else 0
    if between > MAX_PARAMETERS:
        return (
            f"{copies} network(s) of hidden layers {list(hidden)} have {between:,} parameters, "
            f"more than the {MAX_PARAMETERS:,} a model may have"
        )
    return None

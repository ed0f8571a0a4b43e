"""The settings of the response models and of their training (a spec's response section).

Each settings class is a frozen dataclass whose fields declare their own check with
:func:`option`; the checks are :class:`~flashsim.checks.ConfigReader`'s, so a bad value is refused
with its key path (``flow.transforms: expected an integer >= 1, got 0``) and a misspelt key or
value with a did-you-mean hint, as everywhere in a spec. The checks run when an object is built,
directly or with :meth:`Settings.from_dict` from a YAML or JSON mapping.

Example:
    >>> FlowConfig.from_dict({"transform": "affine", "hidden": [32, 32]}).hidden
    (32, 32)
    >>> FlowConfig.from_dict({"bin": 4})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    flashsim.exceptions.SpecError: flow: unknown key 'bin' (did you mean 'bins'?); valid keys: ...
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from flashsim.checks import ConfigReader
from flashsim.models.limits import (
    MAX_BATCH,
    MAX_BINS,
    MAX_EPOCHS,
    MAX_GRAD_NORM,
    MAX_HIDDEN_LAYERS,
    MAX_LATENT,
    MAX_MINUTES,
    MAX_RATE,
    MAX_STEPS,
    MAX_TRANSFORMS,
    MAX_WIDTH,
    check_network,
)

__all__ = [
    "LOSSES",
    "SCHEDULES",
    "STRUCTURES",
    "TRANSFORMS",
    "FlowConfig",
    "GANConfig",
    "GANTrainConfig",
    "Settings",
    "TrainConfig",
    "choice",
    "integer",
    "number",
    "option",
    "widths",
]

TRANSFORMS = ("spline", "affine")
"""The transforms of a flow (:attr:`FlowConfig.transform`)."""
STRUCTURES = ("coupling", "autoregressive")
"""The structures of a flow (:attr:`FlowConfig.structure`)."""
LOSSES = ("wgan-gp", "bce")
"""The adversarial losses of a GAN (:attr:`GANConfig.loss`)."""
SCHEDULES = ("plateau", "cosine", "none")
"""The learning-rate schedules of a flow's training (:attr:`TrainConfig.schedule`)."""

Check = Callable[[ConfigReader, Any, str], Any]
"""A field's check: ``check(reader, value, where)`` returns the value checked (and converted)."""

_S = TypeVar("_S", bound="Settings")


def option(default: Any, check: Check) -> Any:
    """A settings field with its ``default`` and the ``check`` its values must pass."""
    return dataclasses.field(default=default, metadata={"check": check})


def choice(choices: Sequence[str]) -> Check:
    """One of ``choices`` (a misspelt one gets a did-you-mean hint)."""
    return lambda reader, value, where: reader.choice(value, where, choices)


def integer(minimum: int, maximum: int | None = None) -> Check:
    """An integer (not a boolean) of at least ``minimum`` (and at most ``maximum``: a size that
    allocates, see :mod:`flashsim.models.limits`)."""

    def check(reader: ConfigReader, value: Any, where: str) -> int:
        value = reader.integer(value, where, minimum=minimum)
        if maximum is not None and value > maximum:
            raise reader.fail(where, f"expected an integer <= {maximum}, got {value!r}")
        return value  # type: ignore[no-any-return]

    return check


def number(
    *,
    zero_ok: bool = False,
    below_one: bool = False,
    optional: bool = False,
    maximum: float | None = None,
) -> Check:
    """A finite number > 0, as a float (``1e-3`` written without a dot is one too).

    Arguments:
        zero_ok: 0 is allowed as well.
        below_one: the number must be less than 1.
        optional: ``None`` is allowed as well (no value).
        maximum: the largest value allowed (a learning rate, a time limit).
    """

    def check(reader: ConfigReader, value: Any, where: str) -> float | None:
        if optional and value is None:
            return None
        high = 1.0 if below_one else maximum
        return reader.number(
            value, where, low=0, low_open=not zero_ok, high=high, high_open=below_one
        )

    return check


def widths() -> Check:
    """A non-empty list of at most :data:`~flashsim.models.limits.MAX_HIDDEN_LAYERS` layer widths
    (integers from 1 to :data:`~flashsim.models.limits.MAX_WIDTH`), as a tuple."""

    def check(reader: ConfigReader, value: Any, where: str) -> tuple[int, ...]:
        if isinstance(value, (list, tuple)) and len(value) > MAX_HIDDEN_LAYERS:
            msg = f"expected at most {MAX_HIDDEN_LAYERS} layer widths, got {len(value)}"
            raise reader.fail(where, msg)
        layers = reader.int_list(value, where, minimum=1, what="layer widths")
        for i, width in enumerate(layers):
            if width > MAX_WIDTH:
                msg = f"expected a layer width <= {MAX_WIDTH}, got {width!r}"
                raise reader.fail(f"{where}[{i}]", msg)
        return layers

    return check


class Settings:
    """Base of the settings dataclasses: checks their fields, reads and writes them as mappings.

    A subclass is a frozen dataclass with a ``section`` name (the key path of its messages when
    it is built directly) whose fields are made with :func:`option`.
    """

    section: ClassVar[str]

    def __post_init__(self) -> None:
        reader = ConfigReader()
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = f.metadata["check"](reader, getattr(self, f.name), self.key_path(f.name))
            object.__setattr__(self, f.name, value)
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        self.check_together(reader, values, self.section)

    @classmethod
    def check_together(cls, reader: ConfigReader, values: Mapping[str, Any], where: str) -> None:
        """Hook: checks of several (checked) fields together, e.g. the size of a network; raise
        ``reader.fail(...)``. The default has none."""

    @classmethod
    def key_path(cls, key: str, section: str | None = None) -> str:
        """The key path of the option ``key`` in ``section`` (default: the class's)."""
        return f"{cls.section if section is None else section}.{key}"

    @classmethod
    def from_dict(
        cls: type[_S],
        d: Mapping[str, Any],
        *,
        reader: ConfigReader | None = None,
        where: str | None = None,
    ) -> _S:
        """Build the settings from a mapping (a YAML section); missing keys take their defaults.

        Arguments:
            d: the options.
            reader: checks the values and makes the errors (default: raising
                :class:`~flashsim.exceptions.SpecError` with no file name).
            where: the key path of the section in messages (default: ``section``).

        Raises:
            SpecError: (or the ``reader``'s error) a key is unknown or a value is invalid.
        """
        reader = ConfigReader() if reader is None else reader
        where = cls.section if where is None else where
        if isinstance(d, Mapping):
            checks = {f.name: f.metadata["check"] for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
            d = {
                key: checks[key](reader, v, cls.key_path(key, where)) if key in checks else v
                for key, v in d.items()
            }
            defaults = {
                f.name: f.default
                for f in dataclasses.fields(cls)  # type: ignore[arg-type]
                if f.default is not dataclasses.MISSING
            }
            cls.check_together(reader, {**defaults, **d}, where)
        return reader.dataclass_from(cls, d, where)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-compatible mapping (tuples as lists)."""
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in dataclasses.asdict(self).items()  # type: ignore[call-overload]
        }


@dataclass(frozen=True)
class FlowConfig(Settings):
    """The architecture of a :class:`~flashsim.models.flow.ConditionalFlow`.

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

    section: ClassVar[str] = "flow"

    transform: Literal["spline", "affine"] = option("spline", choice(TRANSFORMS))
    structure: Literal["coupling", "autoregressive"] = option("coupling", choice(STRUCTURES))
    transforms: int = option(4, integer(1, MAX_TRANSFORMS))
    hidden: tuple[int, ...] = option((64, 64), widths())
    bins: int = option(8, integer(2, MAX_BINS))

    @classmethod
    def check_together(cls, reader: ConfigReader, values: Mapping[str, Any], where: str) -> None:
        """The conditioner networks of all transforms together are bounded."""
        problem = check_network(values["hidden"], values["transforms"])
        if problem is not None:
            raise reader.fail(f"{where}.hidden", problem)


@dataclass(frozen=True)
class GANConfig(Settings):
    """The architecture and adversarial loss of a :class:`~flashsim.models.gan.ConditionalGAN`.

    Arguments:
        loss: ``"wgan-gp"``, the Wasserstein loss with a gradient penalty (a linear critic), or
            ``"bce"``, the non-saturating binary cross-entropy loss (a classifier critic, also
            regularised by the gradient penalty).
        latent_dim: the dimension of the latent noise z.
        generator: the widths of the hidden layers of the generator.
        critic: the widths of the hidden layers of the critic (used only while training).
        negative_slope: the slope of the leaky ReLU activations for negative inputs, in [0, 1).

    References:
        Goodfellow et al., "Generative Adversarial Networks", arXiv:1406.2661; Mirza, Osindero,
        "Conditional Generative Adversarial Nets", arXiv:1411.1784; Gulrajani et al., "Improved
        Training of Wasserstein GANs", arXiv:1704.00028; Fedus et al., "Many Paths to Equilibrium:
        GANs Do Not Need to Decrease a Divergence At Every Step", arXiv:1710.08446; Anderlini et
        al., "Lamarr: the ultra-fast simulation option for the LHCb experiment",
        arXiv:2303.11428.
    """

    section: ClassVar[str] = "gan"

    loss: Literal["wgan-gp", "bce"] = option("wgan-gp", choice(LOSSES))
    latent_dim: int = option(8, integer(1, MAX_LATENT))
    generator: tuple[int, ...] = option((128, 128, 128), widths())
    critic: tuple[int, ...] = option((128, 128, 128), widths())
    negative_slope: float = option(0.2, number(zero_ok=True, below_one=True))

    @classmethod
    def check_together(cls, reader: ConfigReader, values: Mapping[str, Any], where: str) -> None:
        """The generator and the critic are each bounded."""
        for key in ("generator", "critic"):
            problem = check_network(values[key])
            if problem is not None:
                raise reader.fail(f"{where}.{key}", problem)


@dataclass(frozen=True)
class TrainConfig(Settings):
    """How a :class:`~flashsim.models.flow.ConditionalFlow` is trained.

    Arguments:
        epochs: the maximum number of passes over the training set.
        batch_size: the number of rows per optimisation step.
        learning_rate: the initial learning rate of AdamW.
        weight_decay: AdamW's decoupled weight decay.
        patience: stop when the validation loss has not improved for this many epochs.
        schedule: ``"plateau"`` halves the learning rate after 2 epochs without improvement,
            ``"cosine"`` anneals it to zero over ``epochs``, ``"none"`` keeps it constant.
        max_grad_norm: gradients are clipped to this total norm.
        max_minutes: stop (keeping the best state) once the wall time of the call exceeds this.
        ema: the decay of the exponential moving average of the weights after every step (0:
            off, the model holds the last weights). The average is validated and kept; its
            decay ramps up as ``min(ema, (1 + t) / (10 + t))`` over the first steps ``t``.

    References:
        Loshchilov, Hutter, "Decoupled Weight Decay Regularization", arXiv:1711.05101; Polyak,
        Juditsky, "Acceleration of Stochastic Approximation by Averaging", SIAM J. Control Optim.
        30 (1992) 838; Izmailov et al., "Averaging Weights Leads to Wider Optima and Better
        Generalization", arXiv:1803.05407.
    """

    section: ClassVar[str] = "training"

    epochs: int = option(50, integer(1, MAX_EPOCHS))
    batch_size: int = option(1024, integer(1, MAX_BATCH))
    learning_rate: float = option(1e-3, number(maximum=MAX_RATE))
    weight_decay: float = option(0.0, number(zero_ok=True, maximum=MAX_RATE))
    patience: int = option(5, integer(1, MAX_EPOCHS))
    schedule: Literal["plateau", "cosine", "none"] = option("plateau", choice(SCHEDULES))
    max_grad_norm: float = option(5.0, number(maximum=MAX_GRAD_NORM))
    max_minutes: float | None = option(None, number(optional=True, maximum=MAX_MINUTES))
    ema: float = option(0.0, number(zero_ok=True, below_one=True))


@dataclass(frozen=True)
class GANTrainConfig(Settings):
    """How a :class:`~flashsim.models.gan.ConditionalGAN` is trained.

    Arguments:
        epochs: the maximum number of passes of the critic over the training set.
        batch_size: the number of rows per critic and generator step.
        generator_lr: the learning rate of the generator (Adam, betas 0.5 and 0.9).
        critic_lr: the learning rate of the critic (Adam, betas 0.5 and 0.9).
        critic_steps: the number of critic steps per generator step.
        gp_weight: the weight of the gradient penalty (0 disables it).
        max_grad_norm: the gradients of each network are clipped to this total norm.
        patience: stop when the referee score has not improved for this many epochs.
        max_minutes: stop (keeping the best state) once the wall time of the call exceeds this.
        referee: the widths of the hidden layers of the referee.
        referee_steps: the referee's optimisation steps per epoch (batches of ``batch_size``).
        referee_lr: the learning rate of the referee (Adam).
        ema: the decay of the exponential moving average of the generator's weights after every
            generator step; the model holds (and the referee judges) the average, which damps
            the oscillations of adversarial training. 0 keeps the last weights.

    References:
        Gulrajani et al., "Improved Training of Wasserstein GANs", arXiv:1704.00028; Kingma, Ba,
        "Adam: A Method for Stochastic Optimization", arXiv:1412.6980; Yazici et al., "The
        Unusual Effectiveness of Averaging in GAN Training", arXiv:1806.04498; Anderlini et al.,
        arXiv:2303.11428 (the referee network).
    """

    section: ClassVar[str] = "training"

    epochs: int = option(100, integer(1, MAX_EPOCHS))
    batch_size: int = option(256, integer(1, MAX_BATCH))
    generator_lr: float = option(1e-4, number(maximum=MAX_RATE))
    critic_lr: float = option(1e-4, number(maximum=MAX_RATE))
    critic_steps: int = option(5, integer(1, MAX_STEPS))
    gp_weight: float = option(10.0, number(zero_ok=True, maximum=1e6))
    max_grad_norm: float = option(10.0, number(maximum=MAX_GRAD_NORM))
    patience: int = option(10, integer(1, MAX_EPOCHS))
    max_minutes: float | None = option(None, number(optional=True, maximum=MAX_MINUTES))
    referee: tuple[int, ...] = option((64, 64), widths())
    referee_steps: int = option(150, integer(1, MAX_STEPS))
    referee_lr: float = option(1e-3, number(maximum=MAX_RATE))
    ema: float = option(0.999, number(zero_ok=True, below_one=True))

    @classmethod
    def check_together(cls, reader: ConfigReader, values: Mapping[str, Any], where: str) -> None:
        """The referee network is bounded."""
        problem = check_network(values["referee"])
        if problem is not None:
            raise reader.fail(f"{where}.referee", problem)

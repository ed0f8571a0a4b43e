"""flashsim: flash simulation for high-energy physics.

Learned detector response (efficiencies and resolutions) applied to generator-level events, written
as NanoAOD-style ROOT files.
"""

from __future__ import annotations

from flashsim.exceptions import (
    ConfigurationError,
    FlashsimError,
    InputError,
    ModelError,
    OutputError,
    SpecError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "FlashsimError",
    "InputError",
    "ModelError",
    "OutputError",
    "SpecError",
    "__version__",
]

"""Deprecated location, kept for one release: use flashsim.refsim.cms.met."""

from flashsim.refsim.cms.met import (
    missing_et,
    pileup_density,
    puppi_alpha,
    puppi_weights,
    sum_et,
)

__all__ = [
    "missing_et",
    "pileup_density",
    "puppi_alpha",
    "puppi_weights",
    "sum_et",
]

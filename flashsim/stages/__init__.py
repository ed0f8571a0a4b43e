"""Pipeline stages: each has one runtime contract, ``apply(table, rng)``; training is separate."""

from flashsim.stages.efficiency import EfficiencyStage, fit_efficiency
from flashsim.stages.fakes import FakesStage
from flashsim.stages.response import ResponseStage

__all__ = ["EfficiencyStage", "FakesStage", "ResponseStage", "fit_efficiency"]

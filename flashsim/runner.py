"""Deprecated location, kept for one release: use flashsim.run (:mod:`flashsim.run.single` and
:mod:`flashsim.run.seeding`)."""

from flashsim.run.seeding import chunk_rng
from flashsim.run.single import REPLICA_BRANCH, SOURCE_BRANCH, RunSummary, run_file

__all__ = ["REPLICA_BRANCH", "SOURCE_BRANCH", "RunSummary", "chunk_rng", "run_file"]

"""Deprecated location, kept for one release: use flashsim.run (work items, executors, manifest,
run_items in :mod:`flashsim.run.items`, :mod:`flashsim.run.executors`,
:mod:`flashsim.run.manifest` and :mod:`flashsim.run.batch`)."""

from flashsim.run.batch import RunReport, check_outdir, run_items
from flashsim.run.executors import (
    EXECUTORS,
    DaskExecutor,
    Executor,
    LocalExecutor,
    SerialExecutor,
)
from flashsim.run.items import ItemResult, SimulateItem, WorkItem, item_size_for, plan_items
from flashsim.run.manifest import MANIFEST_FORMAT, MANIFEST_NAME
from flashsim.run.seeding import file_seed

__all__ = [
    "EXECUTORS",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "DaskExecutor",
    "Executor",
    "ItemResult",
    "LocalExecutor",
    "RunReport",
    "SerialExecutor",
    "SimulateItem",
    "WorkItem",
    "check_outdir",
    "file_seed",
    "item_size_for",
    "plan_items",
    "run_items",
]

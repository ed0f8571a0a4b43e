"""``flashsim run``: apply a trained pipeline to generator-level files.

- :mod:`~flashsim.run.single`: one file into one output, chunk by chunk (:func:`run_file`,
  :func:`simulate_file`).
- :mod:`~flashsim.run.seeding`: the random stream of every chunk (:func:`chunk_rng`) and of
  every input of a run in work items (:func:`file_seed`).
- :mod:`~flashsim.run.model`: the model bundle of a run, its provenance record and its input
  policies.
- :mod:`~flashsim.run.items`: work items, ranges of entries of one input
  (:class:`WorkItem`, :func:`plan_items`), and the function that simulates one
  (:class:`SimulateItem`).
- :mod:`~flashsim.run.executors`: where items run, one name to class map (:data:`EXECUTORS`).
- :mod:`~flashsim.run.manifest`: the record of a run in work items, for resuming it.
- :mod:`~flashsim.run.batch`: many inputs into work items with a manifest (:func:`run_items`).
"""

from flashsim.run.batch import RunReport, check_outdir, run_items
from flashsim.run.executors import (
    EXECUTORS,
    DaskExecutor,
    Executor,
    LocalExecutor,
    SerialExecutor,
    make_executor,
)
from flashsim.run.items import ItemResult, SimulateItem, WorkItem, item_size_for, plan_items
from flashsim.run.manifest import MANIFEST_FORMAT, MANIFEST_NAME
from flashsim.run.model import PolicyOverrides, model_record
from flashsim.run.seeding import chunk_rng, file_seed
from flashsim.run.single import REPLICA_BRANCH, SOURCE_BRANCH, RunSummary, run_file, simulate_file

__all__ = [
    "EXECUTORS",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "REPLICA_BRANCH",
    "SOURCE_BRANCH",
    "DaskExecutor",
    "Executor",
    "ItemResult",
    "LocalExecutor",
    "PolicyOverrides",
    "RunReport",
    "RunSummary",
    "SerialExecutor",
    "SimulateItem",
    "WorkItem",
    "check_outdir",
    "chunk_rng",
    "file_seed",
    "item_size_for",
    "make_executor",
    "model_record",
    "plan_items",
    "run_file",
    "run_items",
    "simulate_file",
]

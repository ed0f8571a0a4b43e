"""Deprecated location, kept for one release: use flashsim.train.

(``file_digest`` moved to :mod:`flashsim.provenance`, ``training_branches`` to
:mod:`flashsim.branches`.)
"""

from flashsim.branches import training_branches
from flashsim.provenance import file_digest
from flashsim.train import TrainingData, read_training_data, train_pid, train_pipeline

__all__ = [
    "TrainingData",
    "file_digest",
    "read_training_data",
    "train_pid",
    "train_pipeline",
    "training_branches",
]

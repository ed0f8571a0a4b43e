"""Training: from full-simulation files and calibration samples to a model bundle.

- :mod:`flashsim.train.data`: the training tables of every stage (:func:`read_training_data`);
- :mod:`flashsim.train.calibration`: the (sWeighted) calibration rows of each PID species;
- :mod:`flashsim.train.trainer`: one stage at a time, seeded, on the train/validation split;
- :mod:`flashsim.train.pipeline`: collections, fakes and the event section (:func:`train_pipeline`);
- :mod:`flashsim.train.pid`: the PID section (:func:`train_pid`).

Example:
    >>> spec = load_spec("pipelines/cms_like.yaml")  # doctest: +SKIP
    >>> data = read_training_data(spec, [Path("ttbar_full.root")])  # doctest: +SKIP
    >>> pipeline = train_pipeline(spec, data, Path("models/cms_like"))  # doctest: +SKIP
"""

from flashsim.train.calibration import CalibrationTable, read_calibration, read_calibrations
from flashsim.train.data import TrainingData, read_training_data
from flashsim.train.pid import train_pid
from flashsim.train.pipeline import train_pipeline

__all__ = [
    "CalibrationTable",
    "TrainingData",
    "read_calibration",
    "read_calibrations",
    "read_training_data",
    "train_pid",
    "train_pipeline",
]

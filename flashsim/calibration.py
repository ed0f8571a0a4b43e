"""Deprecated location, kept for one release: use flashsim.train.calibration."""

from flashsim.train.calibration import CalibrationTable, read_calibration

__all__ = ["CalibrationTable", "read_calibration"]

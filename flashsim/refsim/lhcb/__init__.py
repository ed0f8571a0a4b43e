"""An LHCb-like reference simulation: b-hadron events, tracks with PID, calibration samples.

``generate_lhcb_sample`` runs Pythia 8 ``bbbar`` events through the LHCb-like detector
(:mod:`.detector`, parameters in :mod:`.params`) into a NanoAOD-style file with ``GenPart`` and
``Track``; ``generate_calibration`` and ``calibration_table`` make PID calibration samples
(D*, Lambda, J/psi) whose PID comes from the same :func:`pid_response`. See ``data/README.md``.
"""

from __future__ import annotations

from flashsim.refsim.lhcb.calibration import (
    CHANNELS,
    calibration_table,
    generate_calibration,
)
from flashsim.refsim.lhcb.detector import LHCbLikeDetector, pid_response
from flashsim.refsim.lhcb.generate import LHCB_PROCESSES, generate_lhcb_sample
from flashsim.refsim.lhcb.params import LHCbLikeParameters

__all__ = [
    "CHANNELS",
    "LHCB_PROCESSES",
    "LHCbLikeDetector",
    "LHCbLikeParameters",
    "calibration_table",
    "generate_calibration",
    "generate_lhcb_sample",
    "pid_response",
]

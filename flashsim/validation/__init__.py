"""Validation: metrics comparing flash samples with the full (reference) simulation."""

from __future__ import annotations

from flashsim.validation.metrics import (
    Efficiency,
    TwoSampleResult,
    auc_error,
    binned_efficiency,
    classifier_two_sample_test,
    efficiency_chi2,
    roc_auc,
    wasserstein,
    wasserstein_floor,
)

__all__ = [
    "Efficiency",
    "TwoSampleResult",
    "auc_error",
    "binned_efficiency",
    "classifier_two_sample_test",
    "efficiency_chi2",
    "roc_auc",
    "wasserstein",
    "wasserstein_floor",
]

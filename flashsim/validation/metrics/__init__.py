"""Metrics comparing a flash sample with the full (reference) simulation.

Distances between distributions in :mod:`.distances` (Wasserstein-1 against its floor,
Kolmogorov-Smirnov, correlation matrices); the classifier two-sample test in :mod:`.classifier`
(held-out ROC AUC near 0.5 means indistinguishable); efficiency curves and their chi-square in
:mod:`.efficiency`; histograms and sizes of entries correlated within groups in :mod:`.grouped`;
the checks of the input arrays in :mod:`.arrays`. Weights, where accepted, must be finite and
non-negative, with a positive sum.
"""

from __future__ import annotations

from flashsim.validation.metrics.classifier import (
    TwoSampleResult,
    auc_error,
    classifier_two_sample_test,
    roc_auc,
)
from flashsim.validation.metrics.distances import (
    correlation_difference,
    ks_test,
    wasserstein,
    wasserstein_floor,
)
from flashsim.validation.metrics.efficiency import Efficiency, binned_efficiency, efficiency_chi2
from flashsim.validation.metrics.grouped import grouped_histogram, n_effective

__all__ = [
    "Efficiency",
    "TwoSampleResult",
    "auc_error",
    "binned_efficiency",
    "classifier_two_sample_test",
    "correlation_difference",
    "efficiency_chi2",
    "grouped_histogram",
    "ks_test",
    "n_effective",
    "roc_auc",
    "wasserstein",
    "wasserstein_floor",
]

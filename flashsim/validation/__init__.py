"""Validation: flash samples against full (reference) simulation.

Metrics in :mod:`.metrics` (distances, the classifier two-sample test and efficiencies apart);
reading files in :mod:`.samples`; one-variable comparisons in :mod:`.comparison`; physics
summaries in :mod:`.physics`; the whole comparison (``flashsim validate``) in :mod:`.validate`
(the spec it uses in :mod:`.spec_source`, its shared state in :mod:`.validator`, the parts of the
report in :mod:`.sections`, binnings and labels in :mod:`.binning`, what it returns in
:mod:`.result`, the lines it prints in :mod:`.summary`); the report in :mod:`.report` (figures:
:mod:`.plots`); pass/fail thresholds in :mod:`.gate`; exact tells (values, point masses and
ranges only one sample has) in :mod:`.tells`.
"""

from __future__ import annotations

from flashsim.validation.metrics import (
    Efficiency,
    TwoSampleResult,
    auc_error,
    binned_efficiency,
    classifier_two_sample_test,
    correlation_difference,
    efficiency_chi2,
    grouped_histogram,
    ks_test,
    n_effective,
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
    "correlation_difference",
    "efficiency_chi2",
    "grouped_histogram",
    "ks_test",
    "n_effective",
    "roc_auc",
    "wasserstein",
    "wasserstein_floor",
]

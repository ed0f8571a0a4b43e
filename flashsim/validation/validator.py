"""The state one validation shares between its sections, and the comparisons they are made of.

A :class:`Validator` holds a flash and a full-simulation sample (both read with
:func:`~flashsim.validation.samples.read_sample`), the random generator of the classifier tests
and the floors, and the gated numbers collected so far
(:class:`~flashsim.validation.gate.Check`). Its methods are the building blocks of every part of
the report: 1-D distances, histograms, a table of variables and the classifier two-sample test.
The parts themselves are in :mod:`flashsim.validation.sections`;
:func:`~flashsim.validation.validate.validate_samples` drives them in order (the order fixes the
random stream, hence the numbers of a report).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from flashsim.validation.comparison import HistComparison, compare_hist, distance_metrics
from flashsim.validation.gate import Check
from flashsim.validation.metrics import classifier_two_sample_test
from flashsim.validation.result import Plot, Section
from flashsim.validation.samples import ValidationSample

__all__ = ["MIN_OBJECTS", "Validator"]

MIN_OBJECTS = 6
"""Fewest reconstructed objects per collection and file that a validation can compare."""

_MIN_CLASSIFIER_ROWS = 50
"""Fewest rows per sample for a classifier two-sample test."""


class Validator:
    """A flash and a full-simulation sample under comparison, and the checks measured so far.

    Arguments:
        flash, full: the two samples.
        rng: the random stream of the Wasserstein floors and the classifier tests.
        max_rows: rows (both samples together) at most per classifier test.
        classifier: run the classifier two-sample tests.
    """

    def __init__(
        self,
        flash: ValidationSample,
        full: ValidationSample,
        *,
        rng: np.random.Generator,
        max_rows: int,
        classifier: bool,
    ) -> None:
        self.flash, self.full = flash, full
        self.rng, self.max_rows, self.classifier = rng, max_rows, classifier
        self.scale = full.n_events / flash.n_events
        self.checks: list[Check] = []

    def distances(
        self, f: np.ndarray, r: np.ndarray, fg: np.ndarray, rg: np.ndarray
    ) -> dict[str, float]:
        """:func:`~flashsim.validation.comparison.distance_metrics` of flash values ``f`` (gen
        event groups ``fg``) and full values ``r`` (``rg``)."""
        return distance_metrics(
            f,
            r,
            flash_groups=fg,
            full_groups=rg,
            rng=self.rng,
            flash_replicas=self.flash.n_replicas,
        )

    def hist(
        self,
        name: str,
        label: str,
        f: np.ndarray,
        r: np.ndarray,
        fg: np.ndarray,
        rg: np.ndarray,
        **kw: Any,
    ) -> HistComparison:
        """:func:`~flashsim.validation.comparison.compare_hist` with the flash histogram scaled
        to the full sample's number of events; ``kw`` as there."""
        return compare_hist(
            name, label, f, r, flash_groups=fg, full_groups=rg, scale=self.scale, **kw
        )

    def variable_rows(
        self,
        prefix: str,
        variables: Sequence[tuple[str, str, bool]],
        f_values: np.ndarray,
        r_values: np.ndarray,
        fg: np.ndarray,
        rg: np.ndarray,
        *,
        gated: bool,
    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[Plot]]:
        """Metrics, table rows and inclusive plots of columns ``variables`` (name, label, int).

        With ``gated``, the Wasserstein ratio and the KS statistic of each are checks.
        """
        metrics: dict[str, Any] = {}
        rows, plots = [], []
        for i, (name, label, integer) in enumerate(variables):
            where = f"{prefix}/{name}"
            m = self.distances(f_values[:, i], r_values[:, i], fg, rg)
            h = self.hist(where, label, f_values[:, i], r_values[:, i], fg, rg, integer=integer)
            chi2, ndf = h.chi2()
            m["hist_chi2"], m["hist_ndf"] = chi2, ndf
            metrics[name] = m
            rows.append({"variable": name, "where": where, **m})
            if gated:
                self.checks += [
                    Check("w1_ratio", where, m["w1_ratio"]),
                    Check("ks", where, m["ks"]),
                ]
            plots.append(Plot(where, "hist", (h,)))
        return metrics, rows, plots

    def two_sample(
        self,
        where: str,
        f: np.ndarray,
        r: np.ndarray,
        names: list[str],
        groups: tuple[np.ndarray, np.ndarray],
        *,
        out: dict[str, Any],
        section: Section,
        label: str,
    ) -> None:
        """Classifier test into ``out["auc"]`` and a summary row; rows grouped by gen event.

        Grouping keeps a flash object and the full object of the same gen object on the same
        side of the train/test split. Does nothing unless ``classifier``.
        """
        if not self.classifier:
            return
        if min(len(f), len(r)) < _MIN_CLASSIFIER_ROWS:
            out["auc"] = {"skipped": f"too few rows ({len(f)} flash, {len(r)} full)"}
            return
        res = classifier_two_sample_test(
            f,
            r,
            names=names,
            groups_a=groups[0],
            groups_b=groups[1],
            rng=self.rng,
            max_rows=self.max_rows,
        )
        check = Check("auc", where, res.auc)
        self.checks.append(check)
        out["auc"] = {
            "value": res.auc,
            "error": res.error,
            "n_test": res.n_test,
            "top_features": dict(list(res.feature_importance.items())[:4]),
        }
        section.summary.append((label, f"{res.auc:.3f} ± {res.error:.3f}", check))

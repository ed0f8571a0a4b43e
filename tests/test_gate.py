"""Thresholds of the validation gate (``flashsim validate --fail-above``)."""

from __future__ import annotations

import math

import pytest

from flashsim.exceptions import ConfigurationError
from flashsim.validation.gate import (
    DEFAULT_THRESHOLDS,
    Check,
    Threshold,
    failed_checks,
    parse_thresholds,
    unmatched_thresholds,
)

CHECKS = [
    Check("auc", "Jet", 0.62),
    Check("auc", "Muon", 0.55),
    Check("w1_ratio", "Jet/pt", 4.0),
    Check("w1_ratio", "Jet/eta", 1.2),
    Check("w1_ratio", "Muon/pt", math.nan),
]


def test_parse_plain_and_scoped() -> None:
    parsed = parse_thresholds(" auc=0.6, w1_ratio=3 ,w1_ratio[Jet/*]=5,")
    assert parsed == [
        Threshold("auc", 0.6),
        Threshold("w1_ratio", 3.0),
        Threshold("w1_ratio", 5.0, "Jet/*"),
    ]
    assert [str(t) for t in parsed] == ["auc=0.6", "w1_ratio=3", "w1_ratio[Jet/*]=5"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("auc", "is not metric=value"),
        ("=3", "is not metric=value"),
        ("auc[=3", "is not metric=value"),
        ("bogus=1", "unknown metric 'bogus'; known metrics: auc"),
        ("auc=high", "must be a number, got 'high'"),
        ("auc=nan", "must be finite"),
        (" , ", "needs at least one"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[")):
        parse_thresholds(text)


def test_failures_use_the_strictest_applicable_threshold() -> None:
    gate = parse_thresholds("auc=0.6,w1_ratio=5,w1_ratio[Jet/pt]=3")
    failed = failed_checks(CHECKS, gate)
    assert [(c.metric, c.where) for c in failed] == [("auc", "Jet"), ("w1_ratio", "Jet/pt")]
    assert CHECKS[2].limit(gate) == 3.0
    assert CHECKS[4].fails(gate) is None  # NaN is not judged


def test_scope_limits_a_threshold() -> None:
    gate = parse_thresholds("w1_ratio[Muon/*]=1")
    assert failed_checks(CHECKS, gate) == []
    assert CHECKS[0].fails(gate) is None


def test_default_thresholds_are_the_acceptance_bars() -> None:
    assert {t.metric: t.value for t in DEFAULT_THRESHOLDS} == {
        "auc": 0.6,
        "w1_ratio": 3.0,
        "eff_chi2": 2.0,
        "tells": 0.0,
        # The physics summary: sigmas beyond each quantity's tolerance.
        **dict.fromkeys(
            ("jes", "jer", "btag_sf", "mistag_sf", "lepton_sf", "met_response",
             "met_resolution", "pileup_jets"),
            3.0,
        ),
    }  # fmt: skip


def test_tells_gate_per_branch() -> None:
    checks = [Check("tells", "Muon_mass", 2.0), Check("tells", "Jet_pt", 0.0)]
    assert parse_thresholds("tells=0,tells[Jet_*]=1") == [
        Threshold("tells", 0.0),
        Threshold("tells", 1.0, "Jet_*"),
    ]
    assert [c.where for c in failed_checks(checks, parse_thresholds("tells=0"))] == ["Muon_mass"]
    assert failed_checks(checks, parse_thresholds("tells[Jet_*]=0")) == []
    assert failed_checks([Check("tells", "Muon_mass", 0.0)], DEFAULT_THRESHOLDS) == []


def test_unmatched_thresholds() -> None:
    gate = parse_thresholds("auc=0.6,w1_ratio[Jet/ptt]=3,corr=0.1")
    assert [str(t) for t in unmatched_thresholds(gate, CHECKS)] == [
        "w1_ratio[Jet/ptt]=3",
        "corr=0.1",
    ]

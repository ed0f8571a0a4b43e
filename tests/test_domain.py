"""flashsim.domain: training domains, the out-of-domain guard, non-finite events, the policies."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from flashsim.domain import Domain, DomainGuard, InputPolicy, non_finite_events
from flashsim.exceptions import InputError, SpecError
from flashsim.preprocessing import TablePreprocessor, build_chain


@pytest.fixture
def domain() -> Domain:
    table = np.array([[1.0, -2.0, np.nan], [3.0, 5.0, np.nan], [2.0, np.inf, np.nan]])
    return Domain.fit(["a", "b", "never_finite"], table)


def test_fit_ignores_non_finite_values(domain: Domain) -> None:
    np.testing.assert_array_equal(domain.low[:2], [1.0, -2.0])
    np.testing.assert_array_equal(domain.high[:2], [3.0, 5.0])
    assert np.isnan(domain.low[2])
    assert np.isnan(domain.high[2])


def test_outside_and_clamp(domain: Domain) -> None:
    table = np.array([[2.0, 0.0, 1e9], [0.5, 0.0, 0.0], [2.0, 6.0, -1e9]])
    np.testing.assert_array_equal(domain.outside(table), [False, True, True])
    np.testing.assert_array_equal(
        domain.clamp(table), [[2.0, 0.0, 1e9], [1.0, 0.0, 0.0], [2.0, 5.0, -1e9]]
    )


def test_policies(domain: Domain) -> None:
    table = np.array([[2.0, 0.0, 0.0], [9.0, 0.0, 0.0]])
    clamped, outside = domain.apply(table, "clamp", "Jet")
    assert clamped[1, 0] == 3.0
    assert outside.tolist() == [False, True]
    flagged, outside = domain.apply(table, "flag", "Jet")
    assert flagged[1, 0] == 9.0
    assert outside.tolist() == [False, True]
    with pytest.raises(InputError) as info:
        domain.apply(table, "error", "Jet")
    message = str(info.value)
    assert "1 object(s) of Jet" in message
    assert "a = 9" in message
    assert "[1, 3]" in message
    assert "--out-of-domain clamp" in message


def test_inside_is_untouched(domain: Domain) -> None:
    table = np.array([[2.0, 0.0, 0.0]])
    same, outside = domain.apply(table, "error", "Jet")
    assert same is table
    assert not outside.any()


def test_round_trip(domain: Domain) -> None:
    again = Domain.from_dict(domain.names, domain.to_dict())
    np.testing.assert_array_equal(again.low, domain.low)
    np.testing.assert_array_equal(again.high, domain.high)
    assert domain.to_dict()["low"][2] is None  # JSON has no NaN


def test_malformed_record(domain: Domain) -> None:
    with pytest.raises(SpecError, match="3/3 limits for 2 columns"):
        Domain.from_dict(["a", "b"], domain.to_dict())
    with pytest.raises(SpecError, match="malformed domain record"):
        Domain.from_dict(["a"], {"low": [1]})


def test_preprocessor_records_its_domain_and_guards() -> None:
    prep = TablePreprocessor(["x"], [build_chain(["standardize"])])
    table, outside = prep.guard(np.array([[100.0]]), "error", "Jet")  # no domain yet: no-op
    assert not outside.any()
    prep.fit_forward(np.array([[0.0], [1.0], [2.0]]))
    again = TablePreprocessor.from_dict(prep.to_dict())
    assert again.domain is not None
    assert again.domain.high.tolist() == [2.0]
    table, outside = again.guard(np.array([[100.0], [1.0]]), "clamp", "Jet")
    assert table[:, 0].tolist() == [2.0, 1.0]
    assert outside.tolist() == [True, False]


def test_guard_counts_and_flags_events() -> None:
    prep = TablePreprocessor(["x"], [build_chain(["standardize"])])
    prep.fit_forward(np.array([[0.0], [1.0]]))
    guard = DomainGuard("flag", n_events=4)
    guard(prep, np.array([[5.0], [0.5], [-1.0]]), np.array([0, 2, 3]), "Jet")
    guard(prep, np.array([[0.5], [0.5], [0.5], [9.0]]), None, "event")
    assert guard.counts == {"Jet": 2, "event": 1}
    assert guard.flagged.tolist() == [True, False, False, True]


def test_non_finite_events_flat_and_jagged() -> None:
    columns = {
        "MET": np.array([1.0, np.nan, 2.0, 3.0], dtype=np.float32),
        "Jet_pt": ak.Array([[1.0, 2.0], [], [np.inf], [4.0]]),
        "Jet_flavour": ak.Array([[1, 2], [], [3], [4]]),
    }
    bad, first = non_finite_events(columns, 4)
    assert bad.tolist() == [False, True, True, False]
    assert first == "MET"
    bad, first = non_finite_events({"Jet_flavour": columns["Jet_flavour"]}, 4)
    assert not bad.any()
    assert first is None


def test_policy_values_are_checked() -> None:
    assert InputPolicy().to_dict() == {"non_finite": "error", "out_of_domain": "clamp"}
    with pytest.raises(SpecError, match="use one of"):
        InputPolicy(non_finite="ignore")
    with pytest.raises(SpecError, match="use one of"):
        InputPolicy(out_of_domain="extrapolate")

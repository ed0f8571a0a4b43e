"""flashsim.preprocessing: invertible column transforms, chains, table preprocessors."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from flashsim.exceptions import SpecError
from flashsim.preprocessing import (
    TRANSFORMS,
    Chain,
    TablePreprocessor,
    Transform,
    build_chain,
)

N = 2000


def _positive(rng: np.random.Generator) -> np.ndarray:
    return rng.exponential(3.0, N)


def _unit(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.01, 0.99, N)


def _normal(rng: np.random.Generator) -> np.ndarray:
    return rng.normal(5.0, 2.0, N)


def _physical(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(-1.0, 12.0, N)


def _counts(rng: np.random.Generator) -> np.ndarray:
    return rng.poisson(3.0, N).astype(np.float64)


def _isolation(rng: np.random.Generator) -> np.ndarray:
    return np.where(rng.random(N) < 0.4, 0.0, rng.exponential(1.0, N))


def _btag(rng: np.random.Generator) -> np.ndarray:
    return np.where(rng.random(N) < 0.3, 1.0, rng.uniform(0.0, 1.0, N))


def _dll(rng: np.random.Generator) -> np.ndarray:
    """Both signs, a wide and a narrow component (RICH DLLs of slow and fast tracks)."""
    return np.where(rng.random(N) < 0.5, rng.normal(-40.0, 30.0, N), rng.normal(1.0, 2.0, N))


def _phi(rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0.0, 0.8, N).clip(-3.0, 3.0)  # not on the grid of -pi + 2 pi u


# kind -> (spec entry, data maker, exact round trip?)
CASES: dict[str, tuple[Any, Callable[[np.random.Generator], np.ndarray], bool]] = {
    "log": ({"log": {"offset": 0.5}}, _positive, False),
    "logit": ({"logit": {"low": 0.0, "high": 1.0}}, _unit, False),
    "asinh": ({"asinh": {"scale": 5.0, "loc": 1.0}}, _dll, False),
    "standardize": ("standardize", _normal, False),
    "dequantize": ("dequantize", _counts, True),
    "spike": ({"spike": {"value": 0.0, "width": 0.1}}, _isolation, True),
    "spike_above": ({"spike": {"value": 1.0, "width": 0.05, "side": "above"}}, _btag, True),
    "clip": ({"clip": {"low": -1.0, "high": 12.0}}, _physical, True),
    "wrap": ("wrap", _phi, True),
}


def test_cases_cover_every_kind() -> None:
    kinds = {build_chain([spec]).transforms[0].kind for spec, _, _ in CASES.values()}
    assert kinds == set(TRANSFORMS)


@pytest.fixture(params=sorted(CASES))
def case(
    request: pytest.FixtureRequest, rng: np.random.Generator
) -> tuple[Transform, np.ndarray, bool]:
    spec, make, exact = CASES[request.param]
    x = make(rng)
    transform = build_chain([spec]).transforms[0]
    transform.fit(x)
    return transform, x, exact


def test_json_round_trip(case: tuple[Transform, np.ndarray, bool]) -> None:
    transform, x, _ = case
    record = json.loads(json.dumps(transform.to_dict()))
    assert record["kind"] == transform.kind
    loaded = Transform.from_dict(record)
    assert type(loaded) is type(transform)
    assert loaded.to_dict() == transform.to_dict()
    y1 = transform.forward(x, np.random.default_rng(7))
    y2 = loaded.forward(x, np.random.default_rng(7))
    np.testing.assert_array_equal(y1, y2)
    z = np.random.default_rng(8).normal(0.0, 3.0, 100) + np.median(y1)
    np.testing.assert_array_equal(transform.inverse(z), loaded.inverse(z))


def test_inverse_of_forward(
    case: tuple[Transform, np.ndarray, bool], rng: np.random.Generator
) -> None:
    transform, x, exact = case
    y = transform.forward(x, rng)
    assert y.shape == x.shape
    assert np.all(np.isfinite(y))
    back = transform.inverse(y)
    if exact:
        np.testing.assert_array_equal(back, x)
    else:
        np.testing.assert_allclose(back, x, rtol=1e-10)


def test_forward_without_rng_is_deterministic(case: tuple[Transform, np.ndarray, bool]) -> None:
    transform, x, _ = case
    np.testing.assert_array_equal(transform.forward(x), transform.forward(x))


def test_log_clips_instead_of_failing() -> None:
    log = build_chain([{"log": {"offset": 1.0}}]).transforms[0]
    y = log.forward(np.array([-1.0, -5.0, 0.0, np.nan]))
    np.testing.assert_allclose(y[:3], [math.log(1e-12), math.log(1e-12), 0.0])
    assert np.isnan(y[3])


def test_asinh_is_linear_near_loc_and_logarithmic_beyond() -> None:
    t = build_chain([{"asinh": {"scale": 5.0, "loc": 1.0}}]).transforms[0]
    y = t.forward(np.array([1.0, 1.5, 6.0, 501.0, -499.0]))
    np.testing.assert_allclose(y[:2], [0.0, 0.1], atol=2e-3)  # ~ (x - loc) / scale
    np.testing.assert_allclose(y[3:], [np.log(200.0), -np.log(200.0)], rtol=1e-5)
    assert t.inverse(np.array([800.0]))[0] == np.inf  # overflow: inf, without a warning


def test_logit_inverse_stays_in_range() -> None:
    logit = build_chain([{"logit": {"low": -0.7, "high": 0.3}}]).transforms[0]
    back = logit.inverse(np.array([-1e6, -800.0, 0.0, 800.0, 1e6]))
    assert np.all(np.isfinite(back))
    assert back.min() >= -0.7
    assert back.max() <= 0.3  # -0.7 + (0.3 + 0.7) * 1 rounds to 0.30000000000000004
    assert back[2] == pytest.approx(-0.2)
    y = logit.forward(np.array([-10.0, 10.0]))
    assert np.all(np.isfinite(y))
    assert y[0] < -13 < 13 < y[1]  # clipped to eps = 1e-6, logit(1e-6) ~ -13.8


def test_standardize_fit(rng: np.random.Generator) -> None:
    x = rng.normal(40.0, 7.0, N)
    standardize = build_chain(["standardize"]).transforms[0]
    standardize.fit(x)
    y = standardize.forward(x)
    assert np.mean(y) == pytest.approx(0.0, abs=1e-12)
    assert np.std(y) == pytest.approx(1.0, rel=1e-12)


def test_standardize_uses_weights(rng: np.random.Generator) -> None:
    x = np.concatenate([rng.normal(0.0, 1.0, N), rng.normal(10.0, 1.0, N)])
    weights = np.concatenate([np.full(N, 3.0), np.full(N, 1.0)])
    standardize = build_chain(["standardize"]).transforms[0]
    standardize.fit(x, weights)
    expected = np.average(x, weights=weights)
    assert standardize.mean == pytest.approx(expected)
    assert standardize.std == pytest.approx(
        math.sqrt(np.average((x - expected) ** 2, weights=weights))
    )
    assert abs(standardize.mean - np.mean(x)) > 1.0


def test_standardize_with_negative_weights(rng: np.random.Generator) -> None:
    x = rng.normal(2.0, 1.0, N)
    standardize = build_chain(["standardize"]).transforms[0]
    signed = np.where(rng.random(N) < 0.2, -0.5, 1.0)  # sWeights: some negative, positive sum
    standardize.fit(x, signed)
    assert standardize.mean == pytest.approx(np.sum(signed * x) / np.sum(signed))
    standardize.fit(x, np.where(x > 2.0, -1.0, 0.5))  # non-positive sum: unweighted
    assert standardize.mean == pytest.approx(np.mean(x))
    assert standardize.std == pytest.approx(np.std(x))


def test_standardize_constant_column_and_unfitted() -> None:
    standardize = build_chain(["standardize"]).transforms[0]
    with pytest.raises(RuntimeError, match="fitted"):
        standardize.forward(np.zeros(3))
    standardize.fit(np.full(10, 4.0))
    assert standardize.std == 1.0
    np.testing.assert_array_equal(standardize.forward(np.array([4.0, 5.0])), [0.0, 1.0])


def test_fit_ignores_non_finite_entries() -> None:
    x = np.array([1.0, np.nan, 3.0, np.inf, 2.0])
    chains = build_chain(["standardize"]), build_chain(["dequantize"])
    for chain in chains:
        chain.fit_forward(x)
    assert chains[0].transforms[0].mean == pytest.approx(2.0)
    assert chains[0].transforms[0].std == pytest.approx(math.sqrt(2.0 / 3.0))
    assert (chains[1].transforms[0].fit_low, chains[1].transforms[0].fit_high) == (1.0, 3.0)
    with pytest.raises(ValueError, match="no finite entries"):
        build_chain(["standardize"]).fit_forward(np.array([np.nan]))


def test_dequantize_forward_is_continuous(rng: np.random.Generator) -> None:
    x = _counts(rng)
    dequantize = build_chain(["dequantize"]).transforms[0]
    dequantize.fit(x)
    y = dequantize.forward(x, rng)
    assert np.all(y >= x)
    assert np.all(y < x + 1)
    assert len(np.unique(y)) > 0.99 * N
    assert len(np.unique(x)) < 20
    np.testing.assert_array_equal(dequantize.forward(x), x + 0.5)


def test_dequantize_inverse_clips_to_fitted_range() -> None:
    dequantize = build_chain(["dequantize"]).transforms[0]
    dequantize.fit(np.array([-1.0, 0.0, 1.0]))
    assert (dequantize.fit_low, dequantize.fit_high) == (-1.0, 1.0)
    np.testing.assert_array_equal(
        dequantize.inverse(np.array([-7.2, 0.3, 1.9, 4.0])), [-1, 0, 1, 1]
    )
    fixed = build_chain([{"dequantize": {"low": 0, "high": 10}}]).transforms[0]
    fixed.fit(np.array([2.0, 3.0]))
    np.testing.assert_array_equal(fixed.inverse(np.array([-0.5, 9.7, 11.2])), [0, 9, 10])
    with pytest.raises(ValueError, match="integer"):
        dequantize.fit(np.array([0.0, 0.5]))


def test_spike_moves_only_spike_entries(rng: np.random.Generator) -> None:
    x = _isolation(rng)
    spike = build_chain([{"spike": {"value": 0.0, "width": 0.1}}]).transforms[0]
    y = spike.forward(x, rng)
    hit = x == 0.0
    assert 0 < hit.sum() < N
    np.testing.assert_array_equal(y[~hit], x[~hit])
    assert np.all(y[hit] < 0.0)
    assert np.all(y[hit] >= -0.1)
    assert len(np.unique(y[hit])) == hit.sum()
    np.testing.assert_array_equal(spike.forward(np.array([0.0, 0.3])), [-0.05, 0.3])


def test_clip_inverse() -> None:
    clip = build_chain([{"clip": {"low": 0.0}}]).transforms[0]
    np.testing.assert_array_equal(clip.inverse(np.array([-3.0, 2.0, 1e30])), [0.0, 2.0, 1e30])
    y = np.array([-1.0, 1.0])
    clip.inverse(y)
    np.testing.assert_array_equal(y, [-1.0, 1.0])  # the input is not modified


def test_wrap_inverse_lands_in_range(rng: np.random.Generator) -> None:
    wrap = build_chain(["wrap"]).transforms[0]
    below = np.nextafter(-math.pi, -math.inf)  # y + pi rounds into mod's upper edge
    edges = np.array([math.pi, -math.pi, 3 * math.pi, -1e-20, below, -math.pi - 1e-15, 1e6])
    y = np.concatenate([rng.uniform(-50.0, 50.0, N), edges])
    back = wrap.inverse(y)
    assert np.all(back >= -math.pi)
    assert np.all(back < math.pi)
    np.testing.assert_allclose(np.cos(back), np.cos(y), atol=1e-9)
    np.testing.assert_allclose(np.sin(back), np.sin(y), atol=1e-9)
    assert back[N] == -math.pi


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (["standardise"], "did you mean 'standardize'"),
        (["lgo"], "did you mean 'log'"),
        ([{"log": {"ofset": 1.0}}], "did you mean 'offset'"),
        ([{"logit": {"low": 1.0, "high": 0.0}}], "low"),
        ([{"logit": {"eps": 0.7}}], "eps"),
        ([{"asinh": {}}], "scale"),
        ([{"asinh": {"scale": 0.0}}], "scale must be positive"),
        ([{"spike": {"value": 0.0}}], "width"),
        ([{"spike": {"value": 0.0, "width": 0.0}}], "width must be positive"),
        ([{"spike": {"value": 0.0, "width": 1.0, "side": "left"}}], "side"),
        ([{"log": {"offset": "one"}}], "must be a number"),
        ([{"log": {"offset": float("nan")}}], "finite"),
        ([{"dequantize": {"low": 0.5}}], "integer"),
        ([{"clip": {"low": 2.0, "high": 1.0}}], "must not exceed"),
        ([{"wrap": {"period": -1.0}}], "period"),
        ([{"log": {}, "standardize": {}}], "one-key mapping"),
        ([{"log": [1.0]}], "mapping"),
        ("log", "must be a list"),
    ],
)
def test_build_chain_errors(spec: Any, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        build_chain(spec)


def test_unknown_kind_lists_valid_kinds() -> None:
    with pytest.raises(SpecError, match=r"valid kinds: .*standardize") as info:
        build_chain(["nonsense"])
    assert "nonsense" in str(info.value)
    with pytest.raises(SpecError, match="unknown transform"):
        Transform.from_dict({"kind": "nonsense"})


def _table(rng: np.random.Generator) -> tuple[TablePreprocessor, np.ndarray]:
    specs = [
        ["log", "standardize"],
        ["dequantize", "standardize"],
        [{"spike": {"value": 0.0, "width": 0.01}}, {"logit": {"low": -0.01, "high": 1.0}}],
    ]
    iso = np.where(rng.random(N) < 0.3, 0.0, rng.uniform(0.0, 1.0, N))
    table = np.column_stack([_positive(rng) + 1.0, _counts(rng), iso])
    return TablePreprocessor(["pt", "nTracks", "iso"], [build_chain(s) for s in specs]), table


def test_table_round_trip(rng: np.random.Generator) -> None:
    pre, table = _table(rng)
    out = pre.fit_forward(table, rng)
    assert out.dtype == np.float32
    assert out.shape == table.shape
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[:, :2].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(out[:, :2].std(axis=0), 1.0, atol=1e-5)

    exact = pre.forward(table, np.random.default_rng(3)).astype(np.float64)
    back = pre.inverse(exact)
    assert back.dtype == np.float64
    np.testing.assert_allclose(back[:, 0], table[:, 0], rtol=1e-5)  # float32 precision
    np.testing.assert_array_equal(back[:, 1], table[:, 1])
    np.testing.assert_array_equal(back[:, 2] == 0.0, table[:, 2] == 0.0)
    np.testing.assert_allclose(back[:, 2], table[:, 2], atol=1e-6)

    loaded = TablePreprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert loaded.names == ["pt", "nTracks", "iso"]
    np.testing.assert_array_equal(loaded.forward(table), pre.forward(table))
    np.testing.assert_array_equal(loaded.inverse(exact), back)


def test_table_weights_reach_the_chains(rng: np.random.Generator) -> None:
    pre, table = _table(rng)
    weights = np.where(table[:, 1] > 3, 5.0, 1.0)
    out = pre.fit_forward(table, rng, weights)
    assert np.average(out[:, 1], weights=weights) == pytest.approx(0.0, abs=1e-5)
    assert abs(np.mean(out[:, 1])) > 0.05
    with pytest.raises(ValueError, match="weights"):
        pre.fit_forward(table, rng, weights[:-1])


@pytest.mark.parametrize("shape", [(10, 2), (10, 4), (30,)])
def test_table_shape_error(rng: np.random.Generator, shape: tuple[int, ...]) -> None:
    pre, table = _table(rng)
    pre.fit_forward(table, rng)
    with pytest.raises(ValueError, match=r"\(n, 3\) with columns pt, nTracks, iso"):
        pre.forward(np.zeros(shape))
    with pytest.raises(ValueError, match="columns pt"):
        pre.inverse(np.zeros(shape))


def test_table_constructor_checks() -> None:
    with pytest.raises(ValueError, match="chains"):
        TablePreprocessor(["a", "b"], [Chain()])
    with pytest.raises(ValueError, match="repeat"):
        TablePreprocessor(["a", "a"], [Chain(), Chain()])
    with pytest.raises(SpecError, match="malformed"):
        TablePreprocessor.from_dict({"cols": []})


def test_chain_nan_propagates() -> None:
    chain = build_chain(["log", "standardize"])
    chain.fit_forward(np.array([1.0, 2.0, 4.0]))
    y = chain.forward(np.array([np.nan, 2.0]))
    assert np.isnan(y[0])
    assert np.isfinite(y[1])
    assert Chain.from_dict(chain.to_dict()).inverse(y)[1] == pytest.approx(2.0)


@pytest.mark.parametrize("side", ["below", "above"])
def test_spike_inside_the_distribution_round_trips(side: str) -> None:
    """A point mass in the bulk (the b-tag default of jets without tracks) is made continuous."""
    rng = np.random.default_rng(3)
    x = rng.uniform(0.0, 1.0, 2000)
    x[::3] = 0.0420877
    chain = build_chain([{"spike": {"value": 0.0420877, "width": 0.2, "side": side}}])
    y = chain.fit_forward(x, rng)
    assert len(np.unique(y[::3])) == len(y[::3])  # the spike is spread out
    np.testing.assert_allclose(chain.inverse(y), x, rtol=0, atol=1e-12)


def test_dequantize_with_a_step_keeps_values_on_the_grid(rng):
    """A jet's active area is a number of ghosts times the ghost area: float32 multiples of the
    step come back as exactly the same float32 values, never between two of them."""
    from flashsim.preprocessing import Dequantize

    step = 0.0099733
    area = (rng.integers(30, 80, 5000) * step).astype(np.float32).astype(np.float64)
    t = Dequantize(step=step)
    t.fit(area)
    y = t.forward(area, rng)
    assert np.all((y >= 30) & (y < 80))
    back = t.inverse(y).astype(np.float32)
    np.testing.assert_array_equal(back, area.astype(np.float32))
    # anything the model samples lands on the grid
    sampled = t.inverse(rng.uniform(25, 85, 1000)).astype(np.float32)
    assert set(sampled.tolist()) <= set((np.arange(30, 80) * step).astype(np.float32).tolist())
    with pytest.raises(ValueError, match="multiples of"):
        t.fit(np.array([0.5 * step]))

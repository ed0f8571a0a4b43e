"""The compiled ancestry walks (:mod:`flashsim.generators.ancestry`) against the whole-array
loops they replace, on random records in any order, with deep chains."""

from __future__ import annotations

import numpy as np
import pytest

from flashsim.generators.ancestry import descends_from, first_copy, nearest_kept_ancestor


def random_forest(rng: np.random.Generator, n: int, *, shuffled: bool) -> np.ndarray:
    """Mother links of ``n`` particles: a few roots, chains up to hundreds deep (each particle's
    mother is mostly the particle just before it), in creation order or shuffled (daughters
    before their mothers)."""
    mother = np.full(n, -1, dtype=np.int64)
    for i in range(1, n):
        r = rng.random()
        if r < 0.02:
            continue  # a root
        mother[i] = i - 1 if r < 0.7 else int(rng.integers(0, i))
    if not shuffled:
        return mother
    perm = rng.permutation(n)  # particle i moves to place perm[i]
    out = np.full(n, -1, dtype=np.int64)
    out[perm] = np.where(mother >= 0, perm[np.maximum(mother, 0)], -1)
    return out


def climb_kept(mother: np.ndarray, keep: np.ndarray) -> np.ndarray:
    anc = mother.copy()
    while True:
        climb = (anc >= 0) & ~keep[np.where(anc >= 0, anc, 0)]
        if not climb.any():
            return anc
        anc[climb] = mother[anc[climb]]


def climb_copies(mother: np.ndarray, pdg: np.ndarray) -> np.ndarray:
    origin = np.arange(len(mother))
    while True:
        up = mother[origin]
        step = (up >= 0) & (pdg[np.maximum(up, 0)] == pdg[origin])
        if not step.any():
            return origin
        origin = np.where(step, up, origin)


def propagate(mother: np.ndarray, seed: np.ndarray) -> np.ndarray:
    has_mother = mother >= 0
    m = np.where(has_mother, mother, 0)
    flag = np.zeros(len(mother), dtype=bool)
    while True:
        new = has_mother & (flag[m] | seed[m])
        if np.array_equal(new, flag):
            return flag
        flag = new


@pytest.mark.parametrize("shuffled", [False, True])
@pytest.mark.parametrize("seed", [1, 2])
def test_walks_equal_the_loops(seed: int, shuffled: bool) -> None:
    rng = np.random.default_rng(seed)
    mother = random_forest(rng, 3000, shuffled=shuffled)
    keep = rng.random(3000) < 0.1
    pdg = rng.choice([1, 21], size=3000, p=[0.2, 0.8])  # long runs of copies of the same code
    seeds = rng.random(3000) < 0.01
    anc = nearest_kept_ancestor(mother, keep)
    np.testing.assert_array_equal(anc, climb_kept(mother, keep))
    assert np.all(keep[anc[anc >= 0]])
    copies = first_copy(mother, pdg)
    np.testing.assert_array_equal(copies, climb_copies(mother, pdg))
    assert np.all(pdg[copies] == pdg)
    flags = descends_from(mother, seeds)
    np.testing.assert_array_equal(flags, propagate(mother, seeds))
    assert 0 < flags.sum() < len(flags)


def test_deep_chain_and_edges() -> None:
    n = 5000  # one chain 5000 deep: the loops they replace stopped at 500
    mother = np.arange(-1, n - 1)
    keep = np.zeros(n, dtype=bool)
    keep[0] = True
    assert np.all(nearest_kept_ancestor(mother, keep)[1:] == 0)
    assert nearest_kept_ancestor(mother, keep)[0] == -1
    assert np.all(first_copy(mother, np.full(n, 6)) == 0)
    seed = np.zeros(n, dtype=bool)
    seed[2] = True
    flags = descends_from(mother, seed)
    assert not flags[:3].any()  # a particle does not descend from itself
    assert flags[3:].all()
    empty = np.zeros(0, dtype=np.int64)
    assert len(nearest_kept_ancestor(empty, empty.astype(bool))) == 0


def test_cycle_is_refused() -> None:
    mother = np.array([1, 2, 0, -1])
    with pytest.raises(ValueError, match="cycle"):
        nearest_kept_ancestor(mother, np.zeros(4, dtype=bool))
    with pytest.raises(ValueError, match="cycle"):
        first_copy(mother, np.ones(4, dtype=np.int64))
    with pytest.raises(ValueError, match="cycle"):
        descends_from(mother, np.zeros(4, dtype=bool))

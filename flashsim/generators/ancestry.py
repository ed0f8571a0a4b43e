"""Walks up the mother links of a generator record, compiled (numba), in one pass each.

The gen level (:mod:`flashsim.generators.genlevel`) asks three questions of every particle's
ancestry: which is its nearest kept ancestor (``GenPart_genPartIdxMother`` of a pruned
record), which is the first copy of itself (the shower makes copies of a particle as it
recoils), and does it descend from a particle of some kind (a decayed hadron, a tau: the
``statusFlags``). Asked with whole-array steps, each takes as many passes over the block as the
longest chain is deep (about 40 for a ttbar event's shower). Here each particle's answer is
its mother's, or known at the mother: a walk up from each unresolved particle stops at the
first resolved one and fills in every particle on the way, so each particle is visited once,
whatever order the record is in (mothers need not come first).

Every function takes ``mother``, the index in the same flat arrays of each particle's first
mother (-1: none), as :meth:`flashsim.generators.record.GenRecord.global_mother` gives it. A
cycle of mother links (which no generator writes, and the HepMC reader refuses) raises
``ValueError``.

>>> import numpy as np
>>> mother = np.array([-1, 0, 1, 2, 1])
>>> nearest_kept_ancestor(mother, np.array([True, False, True, False, False])).tolist()
[-1, 0, 0, 2, 0]
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["descends_from", "first_copy", "nearest_kept_ancestor"]


@numba.njit(cache=True, nogil=True)
def _inherit(
    mother: np.ndarray, own: np.ndarray, value: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    """``out[j] = value[j]`` where ``own[j]``, else ``out[mother[j]]``: each particle is visited
    once, by a walk up from the first unresolved particle to a resolved or owning one."""
    n = len(mother)
    out = np.empty(n, dtype=np.int64)
    done = np.zeros(n, dtype=np.bool_)
    path = np.empty(n, dtype=np.int64)
    for i in range(n):
        if done[i]:
            continue
        depth = 0
        j = i
        while not own[j] and not done[mother[j]]:
            if depth == n:
                raise ValueError("the mother links of the record form a cycle")
            path[depth] = j
            depth += 1
            j = mother[j]
        result = value[j] if own[j] else out[mother[j]]
        out[j] = result
        done[j] = True
        for k in range(depth):
            out[path[k]] = result
            done[path[k]] = True
    return out


def nearest_kept_ancestor(mother: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Index of each particle's nearest ancestor with ``keep`` set (-1: none), its mother
    included and itself not.

    Arguments:
        mother: first-mother index of each particle (-1: none).
        keep: whether each particle is kept.
    """
    mother = np.asarray(mother, dtype=np.int64)
    keep = np.asarray(keep, dtype=np.bool_)
    root = mother < 0
    own = root | keep[np.where(root, 0, mother)]
    return _inherit(mother, own, mother)


def first_copy(mother: np.ndarray, pdg: np.ndarray) -> np.ndarray:
    """Index of the first copy of each particle: up its chain of mothers with the same PDG
    code (the particle itself when its mother has another code or there is none).

    >>> first_copy(np.array([-1, 0, 1, 2]), np.array([6, 6, 6, 5])).tolist()
    [0, 0, 0, 3]
    """
    mother = np.asarray(mother, dtype=np.int64)
    pdg = np.asarray(pdg)
    root = mother < 0
    own = root | (pdg[np.where(root, 0, mother)] != pdg)
    return _inherit(mother, own, np.arange(len(mother), dtype=np.int64))


def descends_from(mother: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Whether each particle has an ancestor (not itself) with ``seed`` set.

    >>> descends_from(np.array([-1, 0, 1, -1]), np.array([False, True, False, True])).tolist()
    [False, False, True, False]
    """
    mother = np.asarray(mother, dtype=np.int64)
    seed = np.asarray(seed, dtype=np.bool_)
    root = mother < 0
    from_seed = ~root & seed[np.where(root, 0, mother)]
    return _inherit(mother, root | from_seed, from_seed.astype(np.int64)).astype(np.bool_)

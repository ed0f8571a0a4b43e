"""Objects owned by other objects: a FatJet's soft-drop subjets (``SubJet``).

NanoAOD writes them as a collection of their own that the parent indexes (``FatJet_subJetIdx1``,
``FatJet_subJetIdx2``). flashsim samples them in a second step after their parent, with a
response of their own conditioned on the parent's conditions and sampled fields
(:class:`~flashsim.spec.ChildrenSpec`, :class:`~flashsim.pipeline.ChildrenModel`): the number of
children (a category) and each child's fields, as hidden targets. :func:`gather_children` reads
them from a full-simulation file for training (NaN for an absent child: those rows leave the
flow's training, the count still learns them); :func:`split_children` turns the sampled hidden
targets into the child collection and the parent's index fields.

Example:
    >>> import numpy as np
    >>> from flashsim.spec import ChildrenSpec, ResponseSpec, Target
    >>> pt, flow = Target("pt", "value", ()), ResponseSpec("flow", {}, {})
    >>> spec = ChildrenSpec("SubJet", ("subJetIdx1", "subJetIdx2"), (pt,), flow)
    >>> fields = {"nSubJet": np.array([2, 1]), "SubJet1_pt": np.array([60.0, 90.0]),
    ...           "SubJet2_pt": np.array([40.0, 5.0])}
    >>> parent, children, event = split_children(fields, np.array([0, 0]), spec)
    >>> parent["subJetIdx1"].tolist(), parent["subJetIdx2"].tolist(), children["pt"].tolist()
    ([0, 2], [1, -1], [60.0, 40.0, 90.0])
"""

from __future__ import annotations

from collections.abc import Mapping

import awkward as ak
import numpy as np

from flashsim.exceptions import InputError
from flashsim.spec import ChildrenSpec

__all__ = ["gather_children", "split_children"]


def gather_children(events: ak.Array, parent: str, spec: ChildrenSpec) -> dict[str, np.ndarray]:
    """For each reco object of ``events[parent]`` (flat), its hidden targets: the number of
    children its index fields point to, and each child's fields (NaN where absent).

    Raises:
        InputError: the file lacks the child collection, a field of it, or an index field.
    """
    objects = events[parent]
    if spec.collection not in events.fields:
        msg = (
            f"the input has no collection {spec.collection} (n{spec.collection}, "
            f"{spec.collection}_*), the children of {parent}"
        )
        raise InputError(msg)
    children = events[spec.collection]
    for name in spec.index:
        if name not in objects.fields:
            msg = f"the input has no branch {parent}_{name}, the index of its {spec.collection}"
            raise InputError(msg)
    counts = np.asarray(ak.num(children), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)])
    owner = np.repeat(np.arange(len(events)), np.asarray(ak.num(objects), dtype=np.int64))
    values = {}
    for t in spec.targets:
        if t.name not in children.fields:
            msg = f"the input has no branch {spec.collection}_{t.name}, a target of {parent}"
            raise InputError(msg)
        values[t.name] = np.asarray(ak.flatten(children[t.name]), dtype=np.float64)
    out: dict[str, np.ndarray] = {}
    number = np.zeros(len(owner), dtype=np.int64)
    for k, name in enumerate(spec.index):
        idx = np.asarray(ak.flatten(objects[name]), dtype=np.int64)
        valid = (idx >= 0) & (idx < counts[owner])
        number += valid
        flat = starts[owner] + np.where(valid, idx, 0)
        for t in spec.targets:
            column = np.full(len(idx), np.nan)
            column[valid] = values[t.name][flat[valid]]
            out[spec.target_name(k, t.name)] = column
    out[spec.count] = number.astype(np.float64)
    return out


def split_children(
    fields: Mapping[str, np.ndarray],
    event: np.ndarray,
    spec: ChildrenSpec,
    index_dtype: type[np.signedinteger] = np.int16,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Split sampled parents (``fields``, one row per parent, in their final order, grouped by
    ``event``) into the parents' own fields with their index fields, and the children.

    Returns:
        ``(parent fields, child fields, child event)``: the children in parent order, the
        first ``n`` of each parent (``n`` its sampled count, at most ``len(spec.index)``); each
        index field the child's position within its event, -1 beyond the count.
    """
    hidden = set(spec.hidden())
    parent = {k: v for k, v in fields.items() if k not in hidden}
    n_max = len(spec.index)
    number = np.clip(np.asarray(fields[spec.count], dtype=np.int64), 0, n_max)
    rows = np.repeat(np.arange(len(number)), number)
    k = np.arange(len(rows)) - np.repeat(np.cumsum(number) - number, number)
    child_event = np.asarray(event, dtype=np.int64)[rows]
    children = {
        t.name: np.choose(
            k, [fields[spec.target_name(j, t.name)][rows] for j in range(n_max)]
        ).astype(fields[spec.target_name(0, t.name)].dtype)
        for t in spec.targets
    }
    # position of each child within its event (children of earlier parents come first)
    per_event = np.bincount(child_event, minlength=int(event.max(initial=-1)) + 1)
    first = np.concatenate([[0], np.cumsum(per_event)])[child_event]
    position = np.arange(len(rows)) - first
    for j, name in enumerate(spec.index):
        index = np.full(len(number), -1, dtype=index_dtype)
        at = k == j
        index[rows[at]] = position[at]
        parent[name] = index
    return parent, children, child_event

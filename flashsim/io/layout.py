"""Branch-layout checks: does an input TTree have the branches a job reads, of the right kind?

:func:`require_branches` names each missing branch with "did you mean" suggestions for typos
(:func:`close_names`) and what the branch holds and where it comes from
(:func:`missing_branch_hint`); :func:`check_branch_layout` checks that the branches present hold
numbers, one per event or one list per event (a NanoAOD collection field ``X_f`` with its counter
``nX``), as the job expects. Both raise one-line :class:`~flashsim.exceptions.InputError` messages.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from typing import Any

import numpy as np
import uproot

from flashsim.exceptions import InputError
from flashsim.io.known_branches import describe_branch, same_quantity

__all__ = [
    "DESCRIBED_MISSING",
    "check_branch_layout",
    "close_names",
    "missing_branch_hint",
    "require_branches",
]


def close_names(name: str, available: Iterable[str]) -> list[str]:
    """Up to three names of ``available`` close to ``name`` (case-insensitive), for "did you
    mean" hints: typos of the same quantity only, never another known quantity
    (:func:`~flashsim.io.known_branches.same_quantity`)."""
    by_lower = {n.lower(): n for n in sorted(available)}
    close = [by_lower[c] for c in difflib.get_close_matches(name.lower(), by_lower, 6, 0.8)]
    return [c for c in close if same_quantity(name, c)][:3]


def _other_quantities(name: str, available: Iterable[str]) -> list[str]:
    """Names of ``available`` spelt like ``name`` that are different known quantities."""
    by_lower = {n.lower(): n for n in sorted(available)}
    close = [by_lower[c] for c in difflib.get_close_matches(name.lower(), by_lower, 3, 0.8)]
    return [c for c in close if not same_quantity(name, c)]


DESCRIBED_MISSING = 3
"""Up to this many missing branches are described (what each holds, where it comes from); more
mean the wrong kind of file, and their descriptions would bury the message."""


def missing_branch_hint(name: str, available: Iterable[str], *, describe: bool = True) -> str:
    """What to say about the missing branch ``name``: typos of it among ``available``, what it
    holds and where it comes from (if ``describe``), and the alike-named branches that are
    something else.

    Example:
        >>> missing_branch_hint("GenJet_hadronFlavour", ["GenJet_partonFlavour"])[:58]
        "the gen jet's flavour from ghost-associated B and C hadron"
    """
    names = list(available)
    parts = []
    close = close_names(name, names)
    if close:
        parts.append(f"did you mean {' or '.join(repr(c) for c in close)}?")
    meaning = describe_branch(name) if describe else None
    if meaning:
        parts.append(meaning)
    others = _other_quantities(name, names)
    if others:
        listed = " and ".join(repr(o) for o in others)
        verb = "is" if len(others) == 1 else "are"
        parts.append(f"the file's {listed} {verb} a different quantity, not a substitute")
    return "; ".join(parts)


def _tree_source(tree: Any) -> str:
    """``file:tree`` for messages (the tree's name alone when it has no file)."""
    return f"{tree.file.file_path}:{tree.name}" if hasattr(tree, "file") else str(tree.name)


def require_branches(tree: Any, names: Collection[str]) -> None:
    """Check that an uproot TTree has every branch in ``names``.

    Raises:
        InputError: naming each missing branch, with close existing names as suggestions.
    """
    available = set(tree.keys())
    missing = [name for name in names if name not in available]
    if not missing:
        return
    described = []
    for name in missing:
        hint = missing_branch_hint(name, available, describe=len(missing) <= DESCRIBED_MISSING)
        described.append(f"{name!r} ({hint})" if hint else repr(name))
    plural = "es" if len(missing) > 1 else ""
    msg = f"input {_tree_source(tree)} lacks branch{plural} {', '.join(described)}"
    raise InputError(msg)


def check_branch_layout(
    tree: Any,
    required: Collection[str],
    flat: Collection[str],
    passthrough: Collection[str],
    *,
    booleans: Collection[str] = (),
) -> None:
    """Check that the branches a job reads have the types and shapes it expects.

    Arguments:
        tree: the uproot TTree.
        required: the branches the models read: numbers (integers or floats); jagged (a
            collection field ``X_f`` with its counter ``nX``) unless listed in ``flat``.
        flat: the branches of ``required`` with one number per event.
        passthrough: branches copied to the output: numbers or booleans, flat or collection
            fields.
        booleans: branches of ``required`` that may hold booleans (reco ID flags).

    Raises:
        InputError: naming the branch, what it holds and what was expected.
    """
    source = _tree_source(tree)
    names = set(tree.keys())
    for name in sorted(set(required) | set(passthrough)):
        if name not in names:
            continue
        jagged, dtype = _branch_layout(tree[name])
        allowed = "iuf" if name in required and name not in booleans else "iufb"
        if dtype is None or dtype.kind not in allowed:
            what = "numbers" if name in required else "numbers or booleans"
            msg = (
                f"input {source}: branch {name!r} holds {_describe_type(tree[name], dtype)}; "
                f"flashsim expects {what} there: fix the file or the branch name"
            )
            raise InputError(msg)
        prefix, _, inner = name.partition("_")
        if name in required:
            want_jagged = name not in flat
            if jagged != want_jagged:
                shape = "one list per event" if jagged else "one number per event"
                want = (
                    f"a field of collection {prefix} (counter n{prefix}, one list per event)"
                    if want_jagged
                    else "one number per event"
                )
                msg = f"input {source}: branch {name!r} has {shape}; flashsim expects {want}"
                raise InputError(msg)
        if jagged and (not inner or f"n{prefix}" not in names):
            msg = (
                f"input {source}: branch {name!r} is jagged but not a NanoAOD collection field "
                f"(X_field with a counter nX); rename it, or drop it from the spec's passthrough"
            )
            raise InputError(msg)


def _branch_layout(branch: Any) -> tuple[bool, np.dtype | None]:
    """(jagged?, dtype of the numbers) of an uproot branch; dtype ``None`` when not numbers."""
    interpretation = branch.interpretation
    jagged = isinstance(interpretation, uproot.AsJagged)
    inner = interpretation.content if jagged else interpretation
    if not isinstance(inner, uproot.AsDtype):
        return jagged, None
    dtype = np.dtype(inner.to_dtype)
    if dtype.shape or dtype.names:  # fixed-size arrays or structs per entry
        return jagged, None
    return jagged, dtype


def _describe_type(branch: Any, dtype: np.dtype | None) -> str:
    if dtype is not None:
        return f"{dtype.name} values"
    typename = getattr(branch, "typename", None) or type(branch.interpretation).__name__
    return f"values of type {typename}"

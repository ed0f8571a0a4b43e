"""Targets relative to the generated object: encoding for training, decoding after sampling.

Reconstructed quantities are modelled relative to their generated object where that is natural
(pT ratio, Δη, wrapped Δφ; MET as its components along and across the gen MET), as in CMS
FlashSim (arXiv:2402.13684). :func:`encode_targets` and :func:`decode_targets` are exact inverses
of each other; decoding also applies the targets' ranges and NanoAOD dtypes.

Example:
    >>> float(wrap_phi(np.array([3.5]))[0])
    -2.7831853071795862
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from flashsim.branches import met_branches
from flashsim.spec import Target

__all__ = [
    "cast_values",
    "decode_targets",
    "encode_targets",
    "model_targets",
    "normalise_sum",
    "wrap_phi",
]


def wrap_phi(phi: np.ndarray) -> np.ndarray:
    """Wrap angles into [-π, π)."""
    return (np.asarray(phi) + np.pi) % (2 * np.pi) - np.pi


def model_targets(targets: Sequence[Target]) -> list[Target]:
    """The targets a generative model samples (``uniform_phi`` is drawn directly)."""
    return [t for t in targets if t.kind != "uniform_phi"]


def encode_targets(
    targets: Sequence[Target], reco: Mapping[str, np.ndarray], gen: Mapping[str, np.ndarray]
) -> np.ndarray:
    """Express reconstructed quantities relative to gen: one float64 column per model target."""
    columns = []
    for t in model_targets(targets):
        if t.kind == "met_parallel":
            pt, phi = met_branches(t)
            columns.append(reco[pt] * np.cos(reco[phi] - gen["GenMET_phi"]) - gen["GenMET_pt"])
            continue
        if t.kind == "met_perpendicular":
            pt, phi = met_branches(t)
            columns.append(reco[pt] * np.sin(reco[phi] - gen["GenMET_phi"]))
            continue
        value = np.asarray(reco[t.name], dtype=np.float64)
        if t.kind == "ratio":
            value = value / gen[t.gen_field]
        elif t.kind == "diff":
            value = value - gen[t.gen_field]
        elif t.kind == "dphi":
            value = wrap_phi(value - gen[t.gen_field])
        columns.append(value)
    return np.stack(columns, axis=1) if columns else np.zeros((len(next(iter(gen.values()))), 0))


def decode_targets(
    targets: Sequence[Target],
    sampled: np.ndarray,
    gen: Mapping[str, np.ndarray],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Inverse of :func:`encode_targets` (after the preprocessing inverse), plus ranges and dtypes.

    ``uniform_phi`` targets are drawn here from ``rng``; integer targets are already integral
    (dequantisation is inverted by the preprocessing) and are cast to their dtype.
    """
    n = sampled.shape[0]
    out: dict[str, np.ndarray] = {}
    columns = iter(sampled.T)
    for t in targets:
        if t.kind == "uniform_phi":
            out[t.name] = rng.uniform(-np.pi, np.pi, n)
            continue
        value = next(columns)
        if t.kind == "ratio":
            value = value * gen[t.gen_field]
        elif t.kind == "diff":
            value = value + gen[t.gen_field]
        elif t.kind == "dphi":
            value = wrap_phi(value + gen[t.gen_field])
        elif t.kind in ("met_parallel", "met_perpendicular"):
            out[(t.kind, met_branches(t))] = value
            continue
        low, high = t.range
        if low is not None or high is not None:
            value = np.clip(value, low, high)
        out[t.name] = value
    for key in [k for k in out if isinstance(k, tuple) and k[0] == "met_parallel"]:
        par = gen["GenMET_pt"] + out.pop(key)
        perp = out.pop(("met_perpendicular", key[1]))
        pt, phi = key[1]
        out[pt] = np.hypot(par, perp)
        out[phi] = wrap_phi(gen["GenMET_phi"] + np.arctan2(perp, par))
    return {name: cast_values(value, _dtype(targets, name)) for name, value in out.items()}


def _dtype(targets: Sequence[Target], name: str) -> str:
    return next((t.dtype for t in targets if t.name == name), "float32")


def cast_values(value: np.ndarray, dtype: str) -> np.ndarray:
    """Cast float64 values to a NanoAOD dtype: floats as they are, booleans above 0.5, integers
    rounded and clipped to the type's range."""
    if dtype in ("float32", "float64"):
        return value.astype(dtype)
    if dtype == "bool":
        return value > 0.5
    info = np.iinfo(dtype)
    return np.clip(np.rint(value), info.min, info.max).astype(dtype)


def normalise_sum(fields: dict[str, np.ndarray], names: Sequence[str]) -> None:
    """Rescale non-negative fractions (e.g. jet energy fractions) so that they sum to one."""
    if not names:
        return
    stack = np.stack([np.clip(fields[n], 0.0, None) for n in names])
    total = stack.sum(axis=0)
    safe = np.where(total > 0, total, 1.0)
    for name, column in zip(names, stack, strict=True):
        fields[name] = np.where(total > 0, column / safe, 1.0 / len(names)).astype(np.float32)

"""Jet substructure from a jet's constituents, with FastJet: soft drop, N-subjettiness and the
soft-drop prongs. Shared by the generator level (``GenJetAK8``) and the reference detector's
large-radius jets (:mod:`flashsim.refsim.cms.fatjets`), so that gen and reco substructure are
computed the same way.

Each jet's constituents are reclustered as if they were an event of their own (one jagged list
per jet, :func:`per_jet`), with radius :data:`RECLUSTER_R` so that they all end in one jet.

References:
    A. J. Larkoski, S. Marzani, G. Soyez, J. Thaler, "Soft Drop", JHEP 05 (2014) 146,
    arXiv:1402.2657; J. Thaler, K. Van Tilburg, "Identifying boosted objects with
    N-subjettiness", JHEP 03 (2011) 015, arXiv:1011.2268; FastJet, EPJC 72 (2012) 1896.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import awkward as ak
import numpy as np

from flashsim.exceptions import ConfigurationError
from flashsim.generators.kinematics import delta_phi, jagged, pt_eta_phi
from flashsim.generators.table import silence_stdout

__all__ = [
    "RECLUSTER_R",
    "nsubjettiness",
    "per_jet",
    "quiet_fastjet",
    "recluster",
    "soft_drop",
]

#: Radius of the C/A and kT reclusterings of a jet's constituents: large enough that all of
#: them (within 0.8 of the axis) end in one jet.
RECLUSTER_R = 2.0


def per_jet(px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray, n: np.ndarray):
    """Constituents as one jagged ``Momentum4D`` list per jet (the jets play the events)."""
    return ak.zip(
        {"px": jagged(px, n), "py": jagged(py, n), "pz": jagged(pz, n), "E": jagged(e, n)},
        with_name="Momentum4D",
    )


@contextlib.contextmanager
def quiet_fastjet() -> Iterator[None]:
    """FastJet's banner and scikit-hep fastjet's warning that exclusive jets "should be
    interpreted with care" for algorithms other than kT and C/A (it is raised for C/A too)."""
    with silence_stdout(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="dcut and exclusive jets")
        yield


def recluster(parts: ak.Array, algorithm: str) -> Any:
    """A C/A (``ca``) or kT (``kt``) clustering sequence of each jet's constituents."""
    try:
        import fastjet
    except ImportError as err:  # pragma: no cover - depends on the environment
        msg = "jet substructure needs FastJet: pip install 'flashsim[gen]'"
        raise ConfigurationError(msg) from err

    algo = {"ca": fastjet.cambridge_algorithm, "kt": fastjet.kt_algorithm}[algorithm]
    with quiet_fastjet():
        return fastjet.ClusterSequence(parts, fastjet.JetDefinition(algo, RECLUSTER_R))


def soft_drop(parts: ak.Array, z_cut: float, beta: float, r0: float) -> tuple[np.ndarray, ak.Array]:
    """Soft-drop mass of each jet (C/A reclustering) and its groomed constituents
    (``Momentum4D``, jagged per jet)."""
    if len(parts) == 0:
        return np.zeros(0), parts
    with quiet_fastjet():
        groomed = recluster(parts, "ca").exclusive_jets_softdrop_grooming(
            njets=1, beta=beta, symmetry_cut=z_cut, R0=r0
        )
    constituents = ak.zip(
        {k: groomed.constituents[k] for k in ("px", "py", "pz", "E")}, with_name="Momentum4D"
    )
    return ak.to_numpy(groomed.msoftdrop).astype(np.float64), constituents


def nsubjettiness(
    cpt: np.ndarray,
    ceta: np.ndarray,
    cphi: np.ndarray,
    jet_of: np.ndarray,
    parts: ak.Array,
    n_const: np.ndarray,
    radius: float,
    n_max: int = 4,
) -> np.ndarray:
    """tau_1 ... tau_n_max (beta = 1, exclusive-kT axes) of every jet, shape (jets, n_max):
    tau_N = sum_k pT_k min_j dR(k, axis_j) / (sum_k pT_k radius).

    Arguments:
        cpt, ceta, cphi, jet_of: the constituents (flat) and the jet of each.
        parts: the same constituents as one jagged list per jet.
        n_const: constituents per jet (a jet with fewer than N has tau_N = 0).
        radius: R0 of the normalisation.
    """
    n_jets = len(n_const)
    taus = np.zeros((n_jets, n_max))
    norm = np.bincount(jet_of, cpt, minlength=n_jets) * radius
    for n in range(1, n_max + 1):
        sel = np.flatnonzero(n_const >= n)
        if len(sel) == 0:
            continue
        with quiet_fastjet():
            axes = recluster(parts[sel], "kt").exclusive_jets(n_jets=n)
        _, aeta, aphi = pt_eta_phi(axes.px, axes.py, axes.pz)
        aeta = ak.to_numpy(ak.flatten(aeta)).reshape(len(sel), n)
        aphi = ak.to_numpy(ak.flatten(aphi)).reshape(len(sel), n)
        row = np.full(n_jets, -1)
        row[sel] = np.arange(len(sel))
        keep = row[jet_of] >= 0
        r = row[jet_of[keep]]
        dr = np.hypot(ceta[keep, None] - aeta[r], delta_phi(cphi[keep, None], aphi[r]))
        num = np.bincount(jet_of[keep], cpt[keep] * dr.min(axis=1), minlength=n_jets)
        taus[:, n - 1] = np.where(n_const >= n, num / np.maximum(norm, 1e-12), 0.0)
    return taus

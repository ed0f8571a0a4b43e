"""NanoAOD definitions computed from other fields, shared by the reference simulation and the
flash pipeline: both derive a jet's ID bits and a muon's PF-isolation ID from the same fields
with the same code, so the flash value is exactly what the reference would write for the sampled
fields (no sampled flag can contradict the fractions it is defined from).

References:
    CMS JME, "Jet identification for Run 3" (JetID13p6TeV, AK4 CHS); NanoAOD v12 branch
    documentation (``Jet_jetId``, ``Muon_pfIsoId``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

__all__ = [
    "DERIVED_FIELDS",
    "PF_ISO_ID_CUTS",
    "charm_vs_b",
    "derive",
    "ip3d",
    "jet_id_bits",
    "pf_iso_id",
    "sip3d",
]

PF_ISO_ID_CUTS = (0.40, 0.25, 0.20, 0.15, 0.10, 0.05)
"""``Muon_pfIsoId`` working points on ``pfRelIso04_all``: very loose (1) ... very very tight (6)."""


def jet_id_bits(
    eta: np.ndarray, fractions: Mapping[str, np.ndarray], ch_mult: np.ndarray, ne_mult: np.ndarray
) -> np.ndarray:
    """NanoAOD v12 ``jetId``: 2 = tight, 4 = tight lepton veto (Run-3 AK4 CHS, JetID13p6TeV).

    |eta| <= 2.6: NHF < 0.99, NEMF < 0.9, N_const > 1, CHF > 0.01, CHM > 0;
    2.6-2.7: NHF < 0.9, NEMF < 0.99, CHM > 0; lepton veto adds MUF < 0.8 and CEMF < 0.8 there;
    2.7-3.0: 0.01 < NEMF < 0.99, N_neutral > 1; 3.0-5.0: NEMF < 0.9, NHF > 0.2, N_neutral > 10.

    >>> import numpy as np
    >>> f = {"neHEF": np.array([0.2, 0.2]), "neEmEF": np.array([0.1, 0.1]),
    ...      "chHEF": np.array([0.6, 0.0]), "muEF": np.array([0.0, 0.9]),
    ...      "chEmEF": np.array([0.1, 0.0])}
    >>> jet_id_bits(np.array([0.5, 0.5]), f, np.array([5, 1]), np.array([4, 3])).tolist()
    [6, 0]
    """
    a = np.abs(np.asarray(eta))
    nhf, nemf, chf = fractions["neHEF"], fractions["neEmEF"], fractions["chHEF"]
    muf, cemf = fractions["muEF"], fractions["chEmEF"]
    ch_mult = np.asarray(ch_mult, dtype=np.int64)
    ne_mult = np.asarray(ne_mult, dtype=np.int64)
    nconst = ch_mult + ne_mult
    r1 = a <= 2.6
    r2 = (a > 2.6) & (a <= 2.7)
    r3 = (a > 2.7) & (a <= 3.0)
    r4 = a > 3.0
    tight = (
        (r1 & (nhf < 0.99) & (nemf < 0.9) & (nconst > 1) & (chf > 0.01) & (ch_mult > 0))
        | (r2 & (nhf < 0.9) & (nemf < 0.99) & (ch_mult > 0))
        | (r3 & (nemf > 0.01) & (nemf < 0.99) & (ne_mult > 1))
        | (r4 & (nemf < 0.9) & (nhf > 0.2) & (ne_mult > 10))
    )
    lepton_ok = np.where(a <= 2.7, (muf < 0.8) & (cemf < 0.8), True)
    return (2 * tight + 4 * (tight & lepton_ok)).astype(np.uint8)


def pf_iso_id(iso4: np.ndarray) -> np.ndarray:
    """``Muon_pfIsoId``: the number of :data:`PF_ISO_ID_CUTS` passed (0..6).

    >>> import numpy as np
    >>> pf_iso_id(np.array([0.5, 0.3, 0.12, 0.0])).tolist()
    [0, 1, 4, 6]
    """
    iso4 = np.asarray(iso4)
    return sum((iso4 < cut).astype(np.uint8) for cut in PF_ISO_ID_CUTS).astype(np.uint8)


def ip3d(dxy: np.ndarray, dz: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """3D impact parameter (cm) of a track at the primary vertex from its transverse and
    longitudinal ones: ``sqrt(dxy^2 + (dz sin(theta))^2)``.

    >>> import numpy as np
    >>> float(ip3d(np.array([0.003]), np.array([0.004]), np.array([0.0]))[0])
    0.005
    """
    return np.hypot(dxy, np.asarray(dz) / np.cosh(eta))


def sip3d(
    dxy: np.ndarray, dz: np.ndarray, eta: np.ndarray, dxy_err: np.ndarray, dz_err: np.ndarray
) -> np.ndarray:
    """Significance of the 3D impact parameter, ``ip3d / sigma(ip3d)``, with sigma propagated
    from the track's ``dxyErr`` and ``dzErr`` (uncorrelated) along the direction of the impact
    parameter; at ``ip3d = 0`` the quadratic sum of the two errors is used instead.

    >>> import numpy as np
    >>> float(sip3d(np.array([0.003]), np.array([0.0]), np.array([0.0]),
    ...             np.array([0.001]), np.array([0.002]))[0])
    3.0
    """
    f64 = np.float64
    sin_t = 1.0 / np.cosh(np.asarray(eta, f64))
    a, b = np.asarray(dxy, f64), np.asarray(dz, f64) * sin_t
    sa, sb = np.asarray(dxy_err, f64), np.asarray(dz_err, f64) * sin_t
    ip = np.hypot(a, b)
    safe = np.maximum(ip, 1e-9)
    sigma = np.sqrt((a * sa) ** 2 + (b * sb) ** 2) / safe
    sigma = np.where(ip > 1e-9, sigma, np.hypot(sa, sb))
    return ip / np.maximum(sigma, 1e-9)


def charm_vs_b(b: np.ndarray, cvl: np.ndarray) -> np.ndarray:
    """``btagDeepFlavCvB`` from ``btagDeepFlavB`` and ``btagDeepFlavCvL``: the tagger's b, c and
    light probabilities sum to one, so P_c = CvL (1 - P_b) and CvB = P_c / (P_c + P_b).

    >>> import numpy as np
    >>> charm_vs_b(np.array([0.5, 1.0]), np.array([0.5, 0.3])).tolist()
    [0.3333333333333333, 0.0]
    """
    b = np.asarray(b, dtype=np.float64)
    pc = np.asarray(cvl, dtype=np.float64) * (1.0 - b)
    return pc / np.maximum(pc + b, 1e-12)


def _jet_id(f: Mapping[str, np.ndarray]) -> np.ndarray:
    return jet_id_bits(f["eta"], f, f["chMultiplicity"], f["neMultiplicity"])


DERIVED_FIELDS: dict[
    str, tuple[tuple[str, ...], Callable[[Mapping[str, np.ndarray]], np.ndarray]]
] = {
    "p": (("pt", "eta"), lambda f: (f["pt"] * np.cosh(f["eta"])).astype(np.float32)),
    "pt": (("p", "eta"), lambda f: (f["p"] / np.cosh(f["eta"])).astype(np.float32)),
    "nConstituents": (
        ("chMultiplicity", "neMultiplicity"),
        lambda f: np.minimum(
            np.asarray(f["chMultiplicity"], np.int64) + np.asarray(f["neMultiplicity"], np.int64),
            255,
        ).astype(np.uint8),
    ),
    "jetId": (
        ("eta", "chHEF", "neHEF", "chEmEF", "neEmEF", "muEF", "chMultiplicity", "neMultiplicity"),
        _jet_id,
    ),
    "pfIsoId": (("pfRelIso04_all",), lambda f: pf_iso_id(f["pfRelIso04_all"])),
    "ip3d": (
        ("dxy", "dz", "eta"),
        lambda f: ip3d(f["dxy"], f["dz"], f["eta"]).astype(np.float32),
    ),
    "sip3d": (
        ("dxy", "dz", "eta", "dxyErr", "dzErr"),
        lambda f: sip3d(f["dxy"], f["dz"], f["eta"], f["dxyErr"], f["dzErr"]).astype(np.float32),
    ),
    "btagDeepFlavCvB": (
        ("btagDeepFlavB", "btagDeepFlavCvL"),
        lambda f: charm_vs_b(f["btagDeepFlavB"], f["btagDeepFlavCvL"]).astype(np.float32),
    ),
}
"""Fields a collection may derive from its sampled fields (``derived:`` in a spec): the fields
each needs and how it is computed."""


def derive(names: tuple[str, ...] | list[str], fields: dict[str, np.ndarray]) -> None:
    """Add the derived ``names`` to ``fields`` (in order; a later one may use an earlier one)."""
    for name in names:
        fields[name] = DERIVED_FIELDS[name][1](fields)

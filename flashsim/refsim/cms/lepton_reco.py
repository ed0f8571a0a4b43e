"""Electron and muon reconstruction of the CMS-like reference detector (tracker, ECAL, muon system).

Bremsstrahlung in the tracker material, the electron supercluster, shower shape, E/p, lost hits
and the conversion finder [EGM]; the muon system (efficiency with cracks, stations, chi2,
segment compatibility, punch-through) and the muon IDs built from it [MUO]. References and
parameters: :mod:`flashsim.refsim.cms.params`.
"""

from __future__ import annotations

import numpy as np

from flashsim.generators.kinematics import delta_phi, same_event_pairs
from flashsim.refsim.cms.conversions import material_before, material_x0
from flashsim.refsim.cms.geometry import BEND
from flashsim.refsim.cms.params import CMSLikeParameters
from flashsim.refsim.cms.pfcand import Table, select_rows
from flashsim.refsim.cms.showers import first_claims, hcal_over_ecal

__all__ = [
    "conversion_pairs",
    "conversion_partner",
    "displaced_pair_legs",
    "electron_candidates",
    "electron_showers",
    "muon_candidates",
    "tracks_for_particle_flow",
]


def electron_showers(
    p: CMSLikeParameters, part: Table, rng: np.random.Generator
) -> tuple[Table, Table]:
    """Bremsstrahlung of electrons in the tracker material (Bethe-Heitler) [EGM].

    The photon and the bent electron land in the ECAL at different azimuths.

    Returns:
        the showering electrons (``index`` in ``part``, ``phi_calo`` of the electron at the
        ECAL) and their ECAL deposits (electron and photon, ``owner`` the row in ``part``).
    """
    sel = np.flatnonzero((part["apdg"] == 11) & (np.abs(part["eta"]) < p.ecal_eta_max))
    eta, phi, pt, q = part["eta"][sel], part["phi"][sel], part["pt"][sel], part["q"][sel]
    # conversion electrons start at their conversion radius, in the material
    r_start = part["conv_r"][sel] if "conv_r" in part else np.zeros(len(sel))
    x0 = material_x0(p, eta) - material_before(p, eta, r_start)
    # Bethe-Heitler: -ln(z) ~ Gamma(t / ln 2), z the fraction kept by the electron.
    z = np.exp(-rng.gamma(x0 / np.log(2), 1.0))
    # radiation at radius r (fractions of the ECAL radius) after the start s: the electron's
    # azimuth at the ECAL shifts by k [(r - s)(2 - r - s) + (1 - r)^2 / z], the photon's by
    # k (r - s)(2 - r - s) (small-angle helix from the start point)
    s = np.minimum(r_start, p.tracker_radius_m) / p.ecal_radius_m
    r = s + rng.random(len(sel)) * (p.tracker_radius_m / p.ecal_radius_m - s)
    k = BEND * p.b_field_t * p.ecal_radius_m * q / np.maximum(pt, 1e-3)
    phi_e = delta_phi(
        phi
        - np.clip(k * ((r - s) * (2 - r - s) + (1 - r) ** 2 / np.maximum(z, 1e-3)), -np.pi, np.pi),
        0.0,
    )
    phi_g = delta_phi(phi - k * (r - s) * (2 - r - s), 0.0)
    energy = part["e"][sel]
    ecal = {
        "evt": np.concatenate([part["evt"][sel], part["evt"][sel]]),
        "eta": np.concatenate([eta, eta]),
        "phi": np.concatenate([phi_e, phi_g]),
        "energy": np.concatenate([z * energy, (1 - z) * energy]),
        "owner": np.concatenate([sel, sel]),
    }
    info = {"index": sel, "phi_calo": phi_e}
    return info, ecal


def electron_candidates(
    p: CMSLikeParameters,
    part: Table,
    trk: Table,
    showers: Table,
    cells: Table,
    rng: np.random.Generator,
) -> Table:
    """Electron candidates: a track with a pixel seed plus an ECAL supercluster in a (deta, dphi)
    window.

    Marks the ECAL cells of each supercluster ``used`` in ``cells`` (highest-pT electron first),
    so that particle flow does not count them again.
    """
    idx = showers["index"]
    # a GSF electron starts from a pixel seed: conversions after the pixel layers give none
    ok = (
        trk["found"][idx]
        & (trk["pixel"][idx] >= p.pixel_seed_hits)
        & (np.abs(part["eta"][idx]) < p.electron_eta_max)
    )
    idx, phi_calo = idx[ok], showers["phi_calo"][ok]
    evt = part["evt"][idx]
    ecal = np.flatnonzero(cells["layer"] == 0)
    order = np.argsort(-trk["pt"][idx], kind="stable")
    idx, phi_calo, evt = idx[order], phi_calo[order], evt[order]
    # cells are sorted by event: pair each electron with the ECAL cells of its event
    ce, cc = same_event_pairs(cells["evt"][ecal], evt)
    cc = ecal[cc]
    near = (np.abs(cells["eta"][cc] - trk["eta"][idx][ce]) < p.supercluster_deta) & (
        np.abs(delta_phi(cells["phi"][cc], phi_calo[ce])) < p.supercluster_dphi
    )
    near &= ~cells["used"][cc]
    ce, cc = ce[near], cc[near]
    # a cell in several windows goes to the highest-pT electron (candidates are sorted)
    mine = first_claims(ce, cc)
    ce, cc = ce[mine], cc[mine]
    cells["used"][cc] = True
    e_sc = np.bincount(ce, weights=cells["energy"][cc], minlength=len(idx))
    impact = {"evt": evt, "eta": trk["eta"][idx], "phi": phi_calo}
    hoe = hcal_over_ecal(p, impact, cells, e_sc, p.electron_hoe_cone)
    pt = e_sc / np.cosh(trk["eta"][idx])
    good = pt > p.electron_pt_min
    # energy of the electron itself (its shower plus the brem it kept in the window)
    own = part["e"][idx]
    aeta = np.abs(trk["eta"][idx])
    barrel = aeta < p.barrel_eta
    mu, sd = (
        np.where(barrel, p.sieie_barrel[0], p.sieie_endcap[0]),
        np.where(barrel, p.sieie_barrel[1], p.sieie_endcap[1]),
    )
    contamination = np.clip(1 - own / np.maximum(e_sc, 1e-3), 0, 1)
    sieie = mu + sd * rng.standard_normal(len(idx)) + p.sieie_contamination * contamination
    out = {
        "index": idx,
        "pt": pt,
        "eta": trk["eta"][idx],
        "phi": trk["phi"][idx],
        "q": trk["q"][idx],
        "d0": trk["d0"][idx],
        "dz": trk["dz"][idx],
        "sd0": trk["sd0"][idx],
        "sdz": trk["sdz"][idx],
        "hoe": hoe,
        "sieie": sieie,
        "eop": e_sc / np.maximum(trk["pt"][idx] * np.cosh(trk["eta"][idx]), 1e-3),
        "lost": trk["lost"][idx],
        "conv": conversion_partner(p, part, trk, idx),
        "evt": evt,
        "gen": part["gen"][idx],
    }
    return select_rows(out, good)


def conversion_partner(
    p: CMSLikeParameters, part: Table, trk: Table, idx: np.ndarray
) -> np.ndarray:
    """Whether an opposite-charge track runs parallel to track ``idx`` from the same point.

    A photon conversion (or a Dalitz pair) gives two tracks with nearly equal polar angle
    (|delta cot theta|), azimuth at production and longitudinal impact parameter, that start
    at the same radius (missing inner hits within ``conversion_dlost_max``).
    """
    ei, _ = conversion_pairs(p, part, trk, idx)
    return np.bincount(ei, minlength=len(idx)) > 0


def conversion_pairs(
    p: CMSLikeParameters,
    part: Table,
    trk: Table,
    idx: np.ndarray,
    targets: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of :func:`conversion_partner`: positions in ``idx`` and partner track rows
    (among ``targets``, sorted rows, default all found tracks)."""
    found = np.flatnonzero(trk["found"]) if targets is None else targets
    ei, ti = same_event_pairs(part["evt"][found], part["evt"][idx])
    ti = found[ti]
    e, t = idx[ei], ti
    close = (
        (trk["q"][t] == -trk["q"][e])
        & (t != e)
        & (np.abs(np.sinh(trk["eta"][t]) - np.sinh(trk["eta"][e])) < p.conversion_dcot_max)
        & (np.abs(delta_phi(trk["phi"][t], trk["phi"][e])) < p.conversion_dphi_max)
        & (np.abs(trk["dz"][t] - trk["dz"][e]) < p.conversion_ddz_max_cm)
        & (np.abs(trk["lost"][t] - trk["lost"][e]) <= p.conversion_dlost_max)
    )
    return ei[close], t[close]


def displaced_pair_legs(p: CMSLikeParameters, part: Table, trk: Table) -> np.ndarray:
    """Per particle, whether its track is a leg of a displaced pair: the conversion/V0 veto of
    the b and c taggers' track selection (#24).

    CMS's taggers keep tracks from photon conversions and V0 decays out of their track
    selection and secondary vertices [BTV]. Here a track that the taggers could use (pT above
    ``btag_track_pt_min``, at most ``btag_track_lost_max`` missing inner hits, |d0| below
    ``btag_track_dxy_max_cm``, from the primary vertex as CHS keeps it) is vetoed when the
    conversion finder (:func:`conversion_pairs`, the pairing of ``Electron_convVeto``) pairs it
    with any found track, and both tracks bend away from the beam line as two legs that leave
    a vertex at radius r > 0 together do:
    d0 = -q r^2 / (2R), so q d0 < 0 for each (a pair of prompt tracks that the finder pairs by
    accident passes this with probability 1/4), with a pair mass below
    ``btag_veto_pair_mass_max_gev`` (the legs are parallel at the vertex: in ttbar 99% of the
    conversion pairs lie below 15 MeV, most pairs of prompt or b-decay tracks that the finder
    pairs by accident above 35 MeV). K0S and Lambda do not decay in the generated
    events (c tau > 10 mm is stable), so there are no V0 legs to find by their mass.
    """
    veto = np.zeros(len(trk["found"]), dtype=bool)
    query = np.flatnonzero(
        trk["found"]
        & (trk["pt"] > p.btag_track_pt_min)
        & (trk["lost"] <= p.btag_track_lost_max)
        & (np.abs(trk["d0"]) < p.btag_track_dxy_max_cm)
        & trk["from_pv"]
    )
    # partners within the finder's |delta dz| of a CHS track: pile-up tracks need no pairing
    near_pv = np.flatnonzero(
        trk["found"] & (np.abs(trk["dz"]) < p.chs_dz_cut_cm + p.conversion_ddz_max_cm)
    )
    qi, partner = conversion_pairs(p, part, trk, query, targets=near_pv)
    leg = query[qi]
    outward = (trk["q"][leg] * trk["d0"][leg] < 0) & (trk["q"][partner] * trk["d0"][partner] < 0)
    # massless electrons: m^2 = 2 pT1 pT2 (cosh(d eta) - cos(d phi))
    m2 = (
        2.0
        * trk["pt"][leg]
        * trk["pt"][partner]
        * (
            np.cosh(trk["eta"][leg] - trk["eta"][partner])
            - np.cos(trk["phi"][leg] - trk["phi"][partner])
        )
    )
    veto[leg[outward & (m2 < p.btag_veto_pair_mass_max_gev**2)]] = True
    return veto


def tracks_for_particle_flow(p: CMSLikeParameters, part: Table, trk: Table, ele: Table) -> Table:
    """``trk`` as particle flow uses it (#24): ``found`` without the conversion partners of
    electron candidates, and ``conversion`` for the legs of identified conversions.

    The conversion partner of an electron candidate joins its electron, whose supercluster
    holds its energy. Two other tracks that the conversion finder pairs, both with a missing
    inner hit (their vertex lies outside the first layer), are a conversion, and so is a track
    without any pixel hit (it starts beyond the pixel detector, 16 cm: prompt tracks and b/c
    hadron decays do not). As CMS's particle flow links a conversion's tracks to their ECAL
    clusters and makes a photon of them [PF], such a leg becomes a photon candidate with its
    track's momentum at the conversion vertex (the photon's direction), and its deposits are
    explained as a track's (:func:`flashsim.refsim.cms.conversions.explain_track_deposits`):
    neutral, so charged-hadron subtraction keeps a pile-up photon that converted as it keeps
    one that did not, and the pair's energy stays in the photon's jet although the field
    spreads the legs' clusters in azimuth.
    """
    candidate = np.zeros(len(trk["found"]), dtype=bool)
    candidate[ele["index"]] = True
    partner = np.zeros(len(trk["found"]), dtype=bool)
    partner[conversion_pairs(p, part, trk, ele["index"])[1]] = True
    partner[candidate] = False
    legs = np.zeros(len(trk["found"]), dtype=bool)
    displaced = np.flatnonzero(trk["found"] & (trk["lost"] >= 1) & ~candidate)
    leg, other = conversion_pairs(p, part, trk, displaced, targets=displaced)
    legs[displaced[leg]] = True
    legs[other] = True
    legs |= trk["found"] & (trk["pixel"] == 0)
    found = trk["found"] & ~partner
    return {**trk, "found": found, "conversion": found & legs & ~candidate}


def muon_candidates(
    p: CMSLikeParameters, part: Table, trk: Table, x_mu: np.ndarray, rng: np.random.Generator
) -> Table:
    """Muon candidates: prompt/heavy-flavour muons, decays in flight and punch-through."""
    aeta = np.abs(part["eta"])
    found = trk["found"]
    true_mu = (part["apdg"] == 13) & found
    dif = part["dif"] & found
    pmag = part["p"]
    punch_prob = p.punch_through_prob * -np.expm1(
        -np.maximum(pmag - 3, 0) / p.punch_through_p_scale
    )
    punch = (
        found
        & (part["q"] != 0)
        & (part["apdg"] != 13)
        & (part["apdg"] != 11)
        & (~part["dif"])
        & (rng.random(len(pmag)) < punch_prob)
    )
    cand = true_mu | dif | punch
    idx = np.flatnonzero(cand)
    frac = np.where(dif[idx], x_mu[idx], 1.0)
    kink = dif[idx]
    pt = trk["pt"][idx] * frac * np.where(kink, 1 + 0.05 * rng.standard_normal(len(idx)), 1)
    pm = pt * np.cosh(trk["eta"][idx])
    eff = np.full(len(idx), p.muon_system_eff)
    for centre, depth, width in p.muon_cracks:
        eff -= depth * np.exp(-(((aeta[idx] - centre) / width) ** 2))
    accepted = (
        (aeta[idx] < p.muon_eta_max)
        & (pm > p.muon_p_min)
        & (pt > p.muon_pt_min)
        & (rng.random(len(idx)) < eff)
    )
    pst = p.muon_station_prob * -np.expm1(-(pm - p.muon_p_min) / p.muon_station_p_scale)
    stations = 1 + rng.binomial(3, np.clip(pst, 0, 1))
    chi2 = (
        rng.chisquare(20, len(idx)) / 20
        + np.where(kink, rng.exponential(8.0, len(idx)), 0)
        + np.where(punch[idx], rng.exponential(4.0, len(idx)), 0)
    )
    hits = trk["hits"][idx]
    layers = np.minimum(hits, 13) - (aeta[idx] > 1.2) * 1
    pixel = trk["pixel"][idx]
    d0, dz = trk["d0"][idx], trk["dz"][idx]
    # Global muon: a standalone fit (>= 2 stations) combined with the track; tracker muon:
    # the track matched to >= 1 segment. Segment compatibility grows with the stations
    # crossed and drops for kinks (decays in flight) and punch-through (hadronic showers).
    is_global = (stations >= 2) & (chi2 < p.muon_global_chi2_max)
    is_tracker = rng.random(len(idx)) < p.muon_segment_match_eff
    seg_comp = np.clip(
        p.muon_segcomp_base
        + p.muon_segcomp_per_station * (stations - 1)
        + p.muon_segcomp_sigma * rng.standard_normal(len(idx))
        - np.where(kink, p.muon_segcomp_kink, 0.0)
        - np.where(punch[idx], p.muon_segcomp_punch, 0.0),
        0.0,
        1.0,
    )
    # PF muon: global or tracker muon with a compatible segment pattern or a good global fit
    is_pf = (is_global | is_tracker) & (
        (seg_comp > p.muon_pf_segcomp_min) | (is_global & (chi2 < p.muon_medium_chi2_max))
    )
    valid_fraction = hits / p.tracker_layers
    medium = (
        is_pf
        & (valid_fraction > 0.8)
        & ((is_global & (chi2 < p.muon_medium_chi2_max) & (seg_comp > 0.303)) | (seg_comp > 0.451))
    )
    tight = (
        is_global
        & is_pf
        & (stations >= 2)
        & (layers >= 6)
        & (pixel >= 1)
        & (chi2 < p.muon_tight_chi2_max)
        & (np.abs(d0) < p.muon_tight_dxy_max_cm)
        & (np.abs(dz) < p.muon_tight_dz_max_cm)
    )
    accepted &= is_global | is_tracker
    gen = np.where(true_mu[idx], part["gen"][idx], -1)
    out = {
        "index": idx,
        "pt": pt,
        "eta": trk["eta"][idx],
        "phi": trk["phi"][idx],
        "q": trk["q"][idx],
        "d0": d0,
        "dz": dz,
        "sd0": trk["sd0"][idx],
        "sdz": trk["sdz"][idx],
        "tight": tight,
        "medium": medium,
        "loose": is_pf,
        "global": is_global,
        "tracker": is_tracker,
        "pf": is_pf,
        "stations": stations,
        "layers": layers,
        "evt": part["evt"][idx],
        "gen": gen,
        "punch": punch[idx],
    }
    return select_rows(out, accepted)

"""Jets of the CMS-like reference detector from its particle-flow candidates.

Anti-kT R=0.4 on CHS candidates with a grid of ghosts for the active area, the pile-up offset
correction, energy fractions and multiplicities, the NanoAOD Run-3 jet ID, impact-parameter b and
c taggers, a pile-up jet ID, and the generator flavour of the matched GenJet.
Parameters: :class:`flashsim.refsim.cms.params.CMSLikeParameters`.

References: anti-kT and active areas, M. Cacciari, G. P. Salam, G. Soyez, JHEP 04 (2008) 063 and
JHEP 04 (2008) 005; jet ID, CMS JetID13p6TeV recommendations (NanoAOD v12 ``jetId``); pile-up
jet ID, CMS-PAS-JME-16-003.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim.generators.genlevel import cluster_antikt
from flashsim.generators.kinematics import delta_phi, jagged, nearest, pt_eta_phi, same_event_pairs
from flashsim.nanoaod import charm_vs_b, jet_id_bits
from flashsim.refsim.cms.params import CMSLikeParameters
from flashsim.refsim.cms.pfcand import (
    CH_HAD,
    ELECTRON,
    HF_HAD,
    MUON,
    NEU_HAD,
    PHOTON,
    Table,
    select_rows,
)

#: Transverse momentum of a ghost (GeV): far below anything real, as in FastJet (1e-100).
GHOST_PT = 1e-45


def ghost_grid(p: CMSLikeParameters) -> tuple[np.ndarray, np.ndarray, float]:
    """Eta, phi and area of one event's ghosts: a grid over |eta| < jet_eta_max + R."""
    eta_max = p.jet_eta_max + p.jet_radius
    n_eta = round(2 * eta_max / p.jet_ghost_spacing)
    n_phi = round(2 * np.pi / p.jet_ghost_spacing)
    d_eta, d_phi = 2 * eta_max / n_eta, 2 * np.pi / n_phi
    eta = -eta_max + (np.arange(n_eta) + 0.5) * d_eta
    phi = -np.pi + (np.arange(n_phi) + 0.5) * d_phi
    ge, gp = np.meshgrid(eta, phi, indexing="ij")
    return ge.ravel(), gp.ravel(), d_eta * d_phi


def four_momenta(
    pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + mass**2)


def cluster_with_ghosts(
    p: CMSLikeParameters, cand: Table, counts: np.ndarray, n_events: int
) -> tuple[ak.Array, ak.Array]:
    """Anti-kT jets of ``cand`` plus, when ``jet_ghost_spacing`` > 0, a ghost grid per event.

    Returns the jets (fields ``px, py, pz, E, constituents`` without ghosts) and the number of
    ghosts of each jet (jagged). Ghosts carry 1e-45 GeV, so the jets and their constituents are
    those of the clustering without ghosts.
    """
    px, py, pz, energy = four_momenta(cand["pt"], cand["eta"], cand["phi"], cand["mass"])
    if p.jet_ghost_spacing > 0:
        g_eta, g_phi, _ = ghost_grid(p)
        n_g = len(g_eta)
        gpx, gpy, gpz, ge = four_momenta(np.full(n_g, GHOST_PT), g_eta, g_phi, np.zeros(n_g))
        # per event: the real candidates, then the ghosts
        evt = np.concatenate([cand["evt"], np.repeat(np.arange(n_events), n_g)])
        is_ghost = np.concatenate([np.zeros(len(px), bool), np.ones(n_events * n_g, bool)])
        order = np.lexsort((is_ghost, evt))

        def cat(real: np.ndarray, ghost: np.ndarray) -> np.ndarray:
            return np.concatenate([real, np.tile(ghost, n_events)])[order]

        px, py, pz, energy = cat(px, gpx), cat(py, gpy), cat(pz, gpz), cat(energy, ge)
        all_counts = counts + n_g
    else:
        all_counts = counts
    parts = ak.zip(
        {
            "px": jagged(px, all_counts),
            "py": jagged(py, all_counts),
            "pz": jagged(pz, all_counts),
            "E": jagged(energy, all_counts),
        },
        with_name="Momentum4D",
    )
    jets = cluster_antikt(parts, p.jet_radius, 0.5 * p.jet_pt_min)
    n_real = ak.Array(counts)[:, np.newaxis, np.newaxis]
    const = jets.constituents
    is_real = const < n_real
    n_ghosts = ak.sum(~is_real, axis=2)
    jets = ak.with_field(jets, const[is_real], "constituents")
    return jets, n_ghosts


def build_jets(p: CMSLikeParameters, pf: Table, n_events: int, rho_neutral: np.ndarray) -> ak.Array:
    """Anti-kT CHS jets with a pile-up offset correction (neutral rho times the jet area)."""
    return build_jets_with_members(p, pf, n_events, rho_neutral)[0]


def build_jets_with_members(
    p: CMSLikeParameters, pf: Table, n_events: int, rho_neutral: np.ndarray
) -> tuple[ak.Array, np.ndarray]:
    """The jets of :func:`build_jets`, and per row of ``pf`` the index of the jet (within its
    event, in the order of the returned jets) that holds it as a constituent, -1 for none: the
    ``jetIdx`` of NanoAOD's electrons and photons (the jet sharing their PF candidate)."""
    chs = ~pf["charged"] | pf["from_pv"]
    cand = select_rows(pf, chs)
    counts = np.bincount(cand["evt"], minlength=n_events)
    energy = four_momenta(cand["pt"], cand["eta"], cand["phi"], cand["mass"])[3]
    jets, n_ghosts = cluster_with_ghosts(p, cand, counts, n_events)
    ghost_area = ghost_grid(p)[2] if p.jet_ghost_spacing > 0 else 0.0
    jpt, jeta, jphi = pt_eta_phi(jets.px, jets.py, jets.pz)
    offset = ak.Array(rho_neutral)[:, np.newaxis] * (np.pi * p.jet_radius**2)
    corr = np.maximum(1.0 - offset / np.maximum(jpt, 1e-3), 0.0)
    keep = (np.abs(jeta) < p.jet_eta_max) & (jpt * corr > p.jet_pt_min)
    jets, corr, n_ghosts = jets[keep], corr[keep], n_ghosts[keep]
    jpt, jeta, jphi = pt_eta_phi(jets.px, jets.py, jets.pz)
    raw_factor = 1.0 - corr
    jpt = jpt * corr
    order = ak.argsort(jpt, axis=1, ascending=False)
    jets, jpt, jeta, jphi, raw_factor, corr, n_ghosts = (
        a[order] for a in (jets, jpt, jeta, jphi, raw_factor, corr, n_ghosts)
    )
    jmass = np.sqrt(np.maximum(jets.E**2 - jets.px**2 - jets.py**2 - jets.pz**2, 0.0)) * corr
    njet = ak.to_numpy(ak.num(jpt))
    # constituents as flat indices into ``cand``
    cand_offsets = np.concatenate([[0], np.cumsum(counts)])
    nconst = ak.num(jets.constituents, axis=2)
    const_local = ak.to_numpy(ak.flatten(jets.constituents, axis=None)).astype(np.int64)
    jet_of_const = np.repeat(np.arange(int(njet.sum())), ak.to_numpy(ak.flatten(nconst)))
    evt_of_jet = np.repeat(np.arange(n_events), njet)
    const = cand_offsets[evt_of_jet[jet_of_const]] + const_local
    n_jets = int(njet.sum())
    jet_e = ak.to_numpy(ak.flatten(jets.E))
    fjpt = ak.to_numpy(ak.flatten(jpt))
    fjphi = ak.to_numpy(ak.flatten(jphi))
    fjeta = ak.to_numpy(ak.flatten(jeta))

    def frac(kinds: list[int]) -> np.ndarray:
        sel = np.isin(cand["kind"][const], kinds)
        return np.bincount(jet_of_const[sel], energy[const][sel], minlength=n_jets) / jet_e

    fractions = {
        "chHEF": frac([CH_HAD]),
        "neHEF": frac([NEU_HAD, HF_HAD]),
        "chEmEF": frac([ELECTRON]),
        "neEmEF": frac([PHOTON]),
        "muEF": frac([MUON]),
    }
    charged_const = cand["charged"][const]
    ch_mult = np.bincount(jet_of_const[charged_const], minlength=n_jets)
    ne_mult = np.bincount(jet_of_const[~charged_const], minlength=n_jets)
    jet_id = jet_id_bits(fjeta, fractions, ch_mult, ne_mult)

    btag, cvl, cvb = ip_taggers(p, cand, const, jet_of_const, fjeta, fjphi, n_jets)

    # pile-up jet ID inputs: charged pT fraction from the PV (all charged candidates, before
    # CHS) in the jet cone, and the pT-weighted width of the constituents
    beta = pv_charged_fraction(p, pf, evt_of_jet, fjeta, fjphi)
    dr_c = np.hypot(
        cand["eta"][const] - fjeta[jet_of_const], delta_phi(cand["phi"][const], fjphi[jet_of_const])
    )
    c_pt = cand["pt"][const]
    sum_pt = np.maximum(np.bincount(jet_of_const, c_pt, minlength=n_jets), 1e-9)
    width = np.sqrt(np.bincount(jet_of_const, c_pt * dr_c**2, minlength=n_jets) / sum_pt)
    pu_disc = pileup_id_discriminant(p, fjeta, beta, width)
    pu_id = pileup_id_bits(p, fjpt, fjeta, pu_disc)
    first_jet = np.concatenate([[0], np.cumsum(njet)])[:-1]
    member = np.full(len(pf["pt"]), -1, dtype=np.int64)
    member[np.flatnonzero(chs)[const]] = jet_of_const - first_jet[evt_of_jet[jet_of_const]]

    f32 = np.float32

    def jag(values: np.ndarray, dtype) -> ak.Array:
        return jagged(values.astype(dtype), njet)

    jets_out = ak.zip(
        {
            "pt": ak.values_astype(jpt, f32),
            "eta": ak.values_astype(jeta, f32),
            "phi": ak.values_astype(jphi, f32),
            "mass": ak.values_astype(jmass, f32),
            "area": ak.values_astype(n_ghosts * ghost_area, f32),
            "nConstituents": ak.values_astype(np.minimum(nconst, 255), np.uint8),
            "chMultiplicity": jag(np.minimum(ch_mult, 255), np.uint8),
            "neMultiplicity": jag(np.minimum(ne_mult, 255), np.uint8),
            **{k: jag(v, f32) for k, v in fractions.items()},
            "jetId": jag(jet_id, np.uint8),
            "btagDeepFlavB": jag(btag, f32),
            "btagDeepFlavCvL": jag(cvl, f32),
            "btagDeepFlavCvB": jag(cvb, f32),
            "puIdDisc": jag(pu_disc, f32),
            "puId": jag(pu_id, np.uint8),
            "rawFactor": ak.values_astype(raw_factor, f32),
        }
    )
    return jets_out, member


def ip_taggers(
    p: CMSLikeParameters,
    cand: Table,
    const: np.ndarray,
    jet_of_const: np.ndarray,
    fjeta: np.ndarray,
    fjphi: np.ndarray,
    n_jets: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """b and c taggers from the signed transverse impact-parameter significances S_i.

    b score = sigmoid((sum_i w_i S_i - offset) / width) over the three largest S_i (several
    displaced tracks). Displacement d = sigmoid((sum_i v_i S_i - c_offset) / c_width) with
    weights on the two largest S_i (moderate displacement suffices). Class probabilities
    P_b = b, P_c = (1 - b) d, P_l = (1 - b)(1 - d) give CvL = P_c / (P_c + P_l) = d and
    CvB = P_c / (P_c + P_b). Tracks with at most ``btag_track_lost_max`` missing inner hits
    and not ``pair_leg`` (conversion legs, :func:`flashsim.refsim.cms.lepton_reco.
    displaced_pair_legs`) enter.
    """
    trk = (
        cand["charged"][const]
        & (cand["pt"][const] > p.btag_track_pt_min)
        & (np.abs(cand["d0"][const]) < p.btag_track_dxy_max_cm)
        & (cand["lost"][const] <= p.btag_track_lost_max)
        & ~cand["pair_leg"][const]
    )
    ci, ji = const[trk], jet_of_const[trk]
    dr = np.hypot(cand["eta"][ci] - fjeta[ji], delta_phi(cand["phi"][ci], fjphi[ji]))
    ci, ji = ci[dr < p.btag_track_dr_max], ji[dr < p.btag_track_dr_max]
    # point of closest approach = d0 * n, n = (-sin(phi_trk), cos(phi_trk))
    sign = np.sign(
        -np.sin(cand["phi"][ci]) * np.cos(fjphi[ji]) + np.cos(cand["phi"][ci]) * np.sin(fjphi[ji])
    )
    sig = sign * cand["d0"][ci] / cand["sd0"][ci]
    order = np.lexsort((-sig, ji))
    ji_s, sig_s = ji[order], sig[order]
    first = np.searchsorted(ji_s, np.arange(n_jets))
    ntrk = np.bincount(ji_s, minlength=n_jets)

    def ranked(rank: int) -> np.ndarray:
        has = ntrk > rank
        s_rank = np.zeros(n_jets)
        s_rank[has] = np.clip(sig_s[first[has] + rank], -10.0, 50.0)
        return s_rank

    s = [ranked(r) for r in range(max(len(p.btag_weights), len(p.ctag_weights)))]
    x_b = sum(w * s[r] for r, w in enumerate(p.btag_weights))
    x_c = sum(w * s[r] for r, w in enumerate(p.ctag_weights))
    b = 1.0 / (1.0 + np.exp(-(x_b - p.btag_offset) / p.btag_width))
    d = 1.0 / (1.0 + np.exp(-(x_c - p.ctag_offset) / p.ctag_width))
    # CvB from the stored (float32) b and CvL, with the code the flash pipeline derives it
    # with: the two agree bit for bit (at the no-track default, a 1-ulp difference is a tell).
    b32, d32 = b.astype(np.float32), d.astype(np.float32)
    return b32, d32, charm_vs_b(b32, d32)


def pv_charged_fraction(
    p: CMSLikeParameters,
    pf: Table,
    evt_of_jet: np.ndarray,
    fjeta: np.ndarray,
    fjphi: np.ndarray,
) -> np.ndarray:
    """Fraction of the charged pT within R of the jet axis that comes from the primary vertex.

    Uses every charged PF candidate before CHS; -1 for jets with no charged candidate in the
    cone (outside the tracker).
    """
    ch = np.flatnonzero(pf["charged"])
    ji, ci = same_event_pairs(pf["evt"][ch], evt_of_jet)
    ci = ch[ci]
    dr = np.hypot(pf["eta"][ci] - fjeta[ji], delta_phi(pf["phi"][ci], fjphi[ji]))
    inside = dr < p.jet_radius
    ji, ci = ji[inside], ci[inside]
    n = len(fjeta)
    total = np.bincount(ji, pf["pt"][ci], minlength=n)
    pv = np.bincount(ji, pf["pt"][ci] * pf["from_pv"][ci], minlength=n)
    return np.where(total > 0, pv / np.maximum(total, 1e-9), -1.0)


def pileup_id_discriminant(
    p: CMSLikeParameters, eta: np.ndarray, beta: np.ndarray, width: np.ndarray
) -> np.ndarray:
    """``puIdDisc`` in [-1, 1]: tanh(k_beta (beta - beta0) + (width0 - width) / width_scale).

    Inside the tracker both terms count; outside it (or without charged candidates) only the
    width term, with its own reference and scale.
    """
    tracked = (np.abs(eta) < p.track_eta_max) & (beta >= 0)
    z_width = np.where(
        tracked,
        (p.puid_width0 - width) / p.puid_width_scale,
        (p.puid_width0_forward - width) / p.puid_width_scale_forward,
    )
    z_beta = np.where(tracked, p.puid_k_beta * (beta - p.puid_beta0), 0.0)
    return np.tanh(z_beta + z_width)


def pileup_id_bits(
    p: CMSLikeParameters, pt: np.ndarray, eta: np.ndarray, disc: np.ndarray
) -> np.ndarray:
    """``puId`` bits: loose = 4, medium = 2, tight = 1 (NanoAOD v9-11); 7 at pT >= 50 GeV.

    Thresholds on ``puIdDisc`` per pT bin (``puid_pt_edges``) and |eta| bin (``puid_eta_edges``).
    """
    ipt = np.clip(np.searchsorted(np.asarray(p.puid_pt_edges), pt, side="right") - 1, 0, None)
    ieta = np.searchsorted(np.asarray(p.puid_eta_edges), np.abs(eta), side="right")
    high = pt >= p.puid_pt_edges[-1]
    ipt = np.minimum(ipt, len(p.puid_pt_edges) - 2)
    bits = np.zeros(len(pt), dtype=np.uint8)
    for value, table in ((4, p.puid_wp_loose), (2, p.puid_wp_medium), (1, p.puid_wp_tight)):
        thr = np.asarray(table)[ipt, ieta]
        bits |= np.where(high | (disc > thr), value, 0).astype(np.uint8)
    return bits


def match_jets(jets: ak.Array, genjets: ak.Array, max_dr: float) -> ak.Array:
    """``Jet_genJetIdx``: index of the closest gen jet within ``max_dr`` (-1 when none)."""
    idx, _ = nearest(jets.eta, jets.phi, genjets.eta, genjets.phi, max_dr)
    return jagged(idx.astype(np.int16), ak.to_numpy(ak.num(jets)))


def add_gen_flavour(jets: ak.Array, genjets: ak.Array) -> ak.Array:
    """``hadronFlavour``, ``partonFlavour`` of the matched GenJet (``genJetIdx``), 0 if none."""
    njet = ak.to_numpy(ak.num(jets))
    idx = ak.to_numpy(ak.flatten(jets.genJetIdx)).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(genjets)))])
    evt = np.repeat(np.arange(len(njet)), njet)
    flat = np.where(idx >= 0, offsets[evt] + idx, 0)
    matched = idx >= 0
    out = jets
    for name, dtype in (("hadronFlavour", np.uint8), ("partonFlavour", np.int16)):
        values = ak.to_numpy(ak.flatten(genjets[name]))
        taken = values[flat] if len(values) else np.zeros(len(idx), dtype)
        out = ak.with_field(out, jagged(np.where(matched, taken, 0).astype(dtype), njet), name)
    return out

"""Large-radius jets (``FatJet``) and their soft-drop subjets (``SubJet``), CMS-like detector.

Anti-kT R = 0.8 on the same CHS particle-flow candidates as the R = 0.4 jets, with the pile-up
offset correction (neutral rho times pi R^2), pT > 170 GeV and |eta| < 2.5 after it. The
substructure comes from each jet's constituents, with FastJet:

- ``msoftdrop``: soft drop (z_cut = 0.1, beta = 0, R0 = 0.8) on the Cambridge/Aachen
  reclustering of the constituents, scaled by the jet's pile-up correction;
- ``tau1`` to ``tau4``: N-subjettiness with beta = 1 and exclusive-kT axes,
  tau_N = sum_k pT_k min_j dR(k, axis_j) / (sum_k pT_k R0);
- ``SubJet``: the two prongs of the groomed jet (its constituents reclustered with C/A into two
  exclusive jets), each with ``btagDeepB`` from the impact-parameter b tagger of the R = 0.4
  jets (:func:`flashsim.refsim.cms.jets.ip_taggers`) on the fat jet's tracks nearest to it;
  ``FatJet_subJetIdx1/2`` point to them (-1 when the groomed jet has a single constituent);
- ``particleNetWithMass_HbbvsQCD`` and ``particleNetWithMass_TvsQCD``: stand-ins for CMS's
  ParticleNet taggers built from the above (soft-drop mass window, tau21 or tau32, subjet
  b tags) as a logistic score (parameters in :class:`~flashsim.refsim.cms.params.CMSLikeParameters`,
  described in ``data/README.md``).

References:
    A. J. Larkoski, S. Marzani, G. Soyez, J. Thaler, "Soft Drop", JHEP 05 (2014) 146,
    arXiv:1402.2657; J. Thaler, K. Van Tilburg, "Identifying boosted objects with
    N-subjettiness", JHEP 03 (2011) 015, arXiv:1011.2268; CMS Collaboration, "Identification of
    heavy, energetic, hadronically decaying particles using machine-learning techniques",
    JINST 15 (2020) P06005, arXiv:2004.08262.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim.generators.genlevel import cluster_antikt
from flashsim.generators.kinematics import delta_phi, jagged, pt_eta_phi
from flashsim.generators.substructure import (
    nsubjettiness,
    per_jet,
    quiet_fastjet,
    recluster,
    soft_drop,
)
from flashsim.refsim.cms.jets import four_momenta, ip_taggers
from flashsim.refsim.cms.params import CMSLikeParameters
from flashsim.refsim.cms.pfcand import Table, select_rows

__all__ = ["build_fatjets", "tagger_scores"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def tagger_scores(
    p: CMSLikeParameters, msd: np.ndarray, taus: np.ndarray, b1: np.ndarray, b2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The H->bb-vs-QCD and top-vs-QCD scores of jets (see the module docstring)."""
    tau21 = np.where(taus[:, 0] > 0, taus[:, 1] / np.maximum(taus[:, 0], 1e-12), 1.0)
    tau32 = np.where(taus[:, 1] > 0, taus[:, 2] / np.maximum(taus[:, 1], 1e-12), 1.0)
    b_hi, b_lo = np.maximum(b1, b2), np.minimum(b1, b2)

    def window(centre_width_weight: tuple[float, float, float]) -> np.ndarray:
        centre, width, weight = centre_width_weight
        return weight * np.exp(-0.5 * ((msd - centre) / width) ** 2)

    def ratio(value: np.ndarray, cut_scale_weight: tuple[float, float, float]) -> np.ndarray:
        cut, scale, weight = cut_scale_weight
        return weight * np.clip((cut - value) / scale, -3.0, 3.0)

    x_h = (
        window(p.hbb_mass_window)
        + ratio(tau21, p.hbb_tau21)
        + p.hbb_btag_weights[0] * b_hi
        + p.hbb_btag_weights[1] * b_lo
        - p.hbb_offset
    )
    x_t = (
        window(p.top_mass_window)
        + ratio(tau32, p.top_tau32)
        + p.top_btag_weights[0] * b_hi
        + p.top_btag_weights[1] * b_lo
        - p.top_offset
    )
    return _sigmoid(x_h), _sigmoid(x_t)


def build_fatjets(
    p: CMSLikeParameters, pf: Table, n_events: int, rho_neutral: np.ndarray
) -> tuple[ak.Array, ak.Array]:
    """``FatJet`` and ``SubJet`` of a block (jagged, per event), sorted by decreasing pT."""
    chs = ~pf["charged"] | pf["from_pv"]
    cand = select_rows(pf, chs)
    counts = np.bincount(cand["evt"], minlength=n_events)
    px, py, pz, energy = four_momenta(cand["pt"], cand["eta"], cand["phi"], cand["mass"])
    parts = per_jet(px, py, pz, energy, counts)
    jets = cluster_antikt(parts, p.fatjet_radius, 0.5 * p.fatjet_pt_min)
    jpt, jeta, _ = pt_eta_phi(jets.px, jets.py, jets.pz)
    offset = ak.Array(rho_neutral)[:, np.newaxis] * (np.pi * p.fatjet_radius**2)
    corr = np.maximum(1.0 - offset / np.maximum(jpt, 1e-3), 0.0)
    keep = (np.abs(jeta) < p.fatjet_eta_max) & (jpt * corr > p.fatjet_pt_min)
    jets, corr = jets[keep], corr[keep]
    order = ak.argsort(np.hypot(jets.px, jets.py) * corr, axis=1, ascending=False)
    jets, corr = jets[order], corr[order]
    njet = ak.to_numpy(ak.num(jets.px))
    n_jets = int(njet.sum())
    fcorr = ak.to_numpy(ak.flatten(corr)).astype(np.float64)
    raw = {k: ak.to_numpy(ak.flatten(jets[k])) for k in ("px", "py", "pz", "E")}
    fpt, feta, fphi = pt_eta_phi(raw["px"], raw["py"], raw["pz"])
    fmass = np.sqrt(np.maximum(raw["E"] ** 2 - fpt**2 - raw["pz"] ** 2, 0.0))

    # constituents: flat indices into ``cand``
    offsets = np.concatenate([[0], np.cumsum(counts)])
    n_const = ak.to_numpy(ak.flatten(ak.num(jets.constituents, axis=2))).astype(np.int64)
    local = ak.to_numpy(ak.flatten(jets.constituents, axis=None)).astype(np.int64)
    jet_of = np.repeat(np.arange(n_jets), n_const)
    evt_of_jet = np.repeat(np.arange(n_events), njet)
    const = offsets[evt_of_jet[jet_of]] + local
    cpt, ceta, cphi = cand["pt"][const], cand["eta"][const], cand["phi"][const]
    per_jet_parts = per_jet(px[const], py[const], pz[const], energy[const], n_const)

    msd = np.zeros(n_jets)
    taus = np.zeros((n_jets, 4))
    sub_eta = np.full((n_jets, 2), np.nan)
    sub_phi = np.full((n_jets, 2), np.nan)
    sub_p4 = np.zeros((n_jets, 2, 4))
    n_sub = np.zeros(n_jets, dtype=np.int64)
    if n_jets:
        msd, g = soft_drop(per_jet_parts, p.softdrop_zcut, p.softdrop_beta, p.fatjet_radius)
        msd = msd * fcorr
        taus = nsubjettiness(cpt, ceta, cphi, jet_of, per_jet_parts, n_const, p.fatjet_radius)
        n_groomed = ak.to_numpy(ak.num(g.px))
        two = np.flatnonzero(n_groomed >= 2)
        one = np.flatnonzero(n_groomed == 1)
        if len(two):
            with quiet_fastjet():
                prongs = recluster(g[two], "ca").exclusive_jets(n_jets=2)
            for k, name in enumerate(("px", "py", "pz", "E")):
                sub_p4[two, :, k] = ak.to_numpy(ak.flatten(prongs[name])).reshape(-1, 2)
            n_sub[two] = 2
        if len(one):
            for k, name in enumerate(("px", "py", "pz", "E")):
                sub_p4[one, 0, k] = ak.to_numpy(ak.flatten(g[one][name]))
            n_sub[one] = 1
        spt, seta, sphi = pt_eta_phi(sub_p4[..., 0], sub_p4[..., 1], sub_p4[..., 2])
        sub_eta, sub_phi = seta, sphi
        # keep the harder prong first
        swap = (n_sub == 2) & (spt[:, 1] > spt[:, 0])
        for arr in (sub_p4, sub_eta, sub_phi):
            arr[swap] = arr[swap][:, ::-1]

    # subjet b tags: the fat jet's constituents go to the nearer of its subjets
    has_sub = n_sub > 0
    dr = np.stack(
        [
            np.where(
                k < n_sub[jet_of],
                np.hypot(ceta - sub_eta[jet_of, k], delta_phi(cphi, sub_phi[jet_of, k])),
                np.inf,
            )
            for k in range(2)
        ],
        axis=1,
    )
    nearest_sub = np.argmin(dr, axis=1)
    sub_index = np.cumsum(n_sub) - n_sub  # first subjet of each jet in the flat SubJet list
    owner = sub_index[jet_of] + nearest_sub
    ok = has_sub[jet_of]
    total_sub = int(n_sub.sum())
    present = np.arange(2)[np.newaxis, :] < n_sub[:, np.newaxis]  # row-major: jet by jet
    flat_eta, flat_phi = sub_eta[present], sub_phi[present]
    btag = np.zeros(total_sub, dtype=np.float32)
    if total_sub:
        btag, _, _ = ip_taggers(
            p,
            cand,
            const[ok],
            owner[ok],
            np.asarray(flat_eta, dtype=np.float64),
            np.asarray(flat_phi, dtype=np.float64),
            total_sub,
        )
    b_first = np.where(n_sub >= 1, btag[np.minimum(sub_index, max(total_sub - 1, 0))], 0.0)
    b_second = np.where(n_sub >= 2, btag[np.minimum(sub_index + 1, max(total_sub - 1, 0))], 0.0)
    hbb, top = tagger_scores(p, msd, taus, b_first.astype(np.float64), b_second)

    # SubJet collection (per event) and the FatJet's indices into it
    sub_flat = sub_p4[present]
    subs_per_event = np.bincount(evt_of_jet, n_sub, minlength=n_events).astype(np.int64)
    first_sub_in_event = sub_index - np.concatenate([[0], np.cumsum(subs_per_event)])[evt_of_jet]
    idx1 = np.where(n_sub >= 1, first_sub_in_event, -1)
    idx2 = np.where(n_sub >= 2, first_sub_in_event + 1, -1)
    s_pt, s_eta, s_phi = pt_eta_phi(sub_flat[:, 0], sub_flat[:, 1], sub_flat[:, 2])
    s_mass = np.sqrt(np.maximum(sub_flat[:, 3] ** 2 - s_pt**2 - sub_flat[:, 2] ** 2, 0.0))
    f32 = np.float32
    subjets = ak.zip(
        {
            "pt": jagged(s_pt.astype(f32), subs_per_event),
            "eta": jagged(s_eta.astype(f32), subs_per_event),
            "phi": jagged(s_phi.astype(f32), subs_per_event),
            "mass": jagged(s_mass.astype(f32), subs_per_event),
            "btagDeepB": jagged(btag.astype(f32), subs_per_event),
        }
    )

    def jag(values: np.ndarray, dtype: type) -> ak.Array:
        return jagged(np.asarray(values).astype(dtype), njet)

    fatjets = ak.zip(
        {
            "pt": jag(fpt * fcorr, f32),
            "eta": jag(feta, f32),
            "phi": jag(fphi, f32),
            "mass": jag(fmass * fcorr, f32),
            "msoftdrop": jag(msd, f32),
            "tau1": jag(taus[:, 0], f32),
            "tau2": jag(taus[:, 1], f32),
            "tau3": jag(taus[:, 2], f32),
            "tau4": jag(taus[:, 3], f32),
            "nConstituents": jag(np.minimum(n_const, 255), np.uint8),
            "subJetIdx1": jag(idx1, np.int16),
            "subJetIdx2": jag(idx2, np.int16),
            "particleNetWithMass_HbbvsQCD": jag(hbb, f32),
            "particleNetWithMass_TvsQCD": jag(top, f32),
            "rawFactor": jag(1.0 - fcorr, f32),
        }
    )
    return fatjets, subjets

"""Physics objects of the CMS-like reference detector from its particle-flow candidates.

Entry point :func:`build_objects`: event-level quantities (MET, PUPPI MET, rho, vertices) from
:mod:`flashsim.refsim.cms.met`, muons and electrons from :mod:`flashsim.refsim.cms.leptons`, jets
from :mod:`flashsim.refsim.cms.jets`.
Parameters: :class:`flashsim.refsim.cms.params.CMSLikeParameters`.
"""

from __future__ import annotations

import numpy as np

from flashsim.refsim.cms.fatjets import build_fatjets
from flashsim.refsim.cms.inputs import DetectorInput
from flashsim.refsim.cms.jets import build_jets_with_members
from flashsim.refsim.cms.leptons import electron_collection, isolation, muon_collection
from flashsim.refsim.cms.met import missing_et, pileup_density, puppi_weights, sum_et
from flashsim.refsim.cms.params import CMSLikeParameters
from flashsim.refsim.cms.pfcand import ELECTRON, Table

__all__ = ["build_objects"]


def build_objects(
    p: CMSLikeParameters,
    inp: DetectorInput,
    pf: Table,
    ele: Table,
    mu: Table,
    rng: np.random.Generator,
) -> dict[str, object]:
    """Reco collections (awkward) and flat event branches of a block from its PF candidates.

    Adds to ``pf`` the column ``jet`` (the index of the jet holding each candidate, -1 for
    none; :func:`flashsim.refsim.cms.jets.build_jets_with_members`) and to ``ele`` its
    electrons' ``jet``, for the ``jetIdx`` of electrons and photons.
    """
    n_events = inp.n_events
    out: dict[str, object] = {}
    met_pt, met_phi = missing_et(pf, n_events)
    out["MET_pt"] = met_pt.astype(np.float32)
    out["MET_phi"] = met_phi.astype(np.float32)
    out["MET_sumEt"] = sum_et(pf, n_events).astype(np.float32)
    rho = pileup_density(p, pf, n_events, np.ones(len(pf["pt"]), dtype=bool))
    out["Rho_fixedGridRhoFastjetAll"] = rho.astype(np.float32)
    n_pu_vtx = rng.binomial(inp.n_pileup, p.pileup_vertex_efficiency)
    npv = 1 + n_pu_vtx
    out["PV_npvs"] = npv.astype(np.int32)
    pv_good = np.abs(inp.pv_z / 10.0) < p.pv_good_z_max_cm
    out["PV_npvsGood"] = (pv_good + rng.binomial(n_pu_vtx, p.pv_good_fraction)).astype(np.int32)
    out["PV_z"] = (inp.pv_z / 10.0).astype(np.float32)
    weights = puppi_weights(p, pf, n_events, npv)
    puppi_pt, puppi_phi = missing_et(pf, n_events, weights)
    out["PuppiMET_pt"] = puppi_pt.astype(np.float32)
    out["PuppiMET_phi"] = puppi_phi.astype(np.float32)

    rho_neutral = pileup_density(p, pf, n_events, ~pf["charged"])
    out["Jet"], pf["jet"] = build_jets_with_members(p, pf, n_events, rho_neutral)
    out["FatJet"], out["SubJet"] = build_fatjets(p, pf, n_events, rho_neutral)

    iso_e3 = isolation(ele, pf, 0.3)
    iso_e4 = isolation(ele, pf, 0.4)
    iso_m3 = isolation(mu, pf, 0.3)
    iso_m4 = isolation(mu, pf, 0.4)
    # Electron_jetIdx: the jet holding the electron's PF candidate (-1 for none, e.g. an
    # electron from pile-up, which CHS removes)
    is_ele = np.flatnonzero(pf["kind"] == ELECTRON)
    ele["jet"] = np.full(len(ele["pt"]), -1, dtype=np.int64)
    ele["jet"][pf["lepton"][is_ele]] = pf["jet"][is_ele]
    out["Electron"] = electron_collection(p, ele, pf, iso_e3, iso_e4, n_events)
    out["Muon"] = muon_collection(mu, pf, iso_m3, iso_m4, n_events)
    return out

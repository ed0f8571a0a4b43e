"""flashsim.trainer: what training reads from a full-simulation file."""

from __future__ import annotations

from pathlib import Path

from flashsim.spec import load_spec
from flashsim.trainer import training_branches

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"


def test_training_reads_only_what_the_spec_touches() -> None:
    spec = load_spec(PIPELINES / "cms_like.yaml")
    nanoaod = [
        "run", "event", "HLT_IsoMu24", "Flag_goodVertices", "nTau", "Tau_pt",  # not needed
        "nGenJet", "GenJet_pt", "GenJet_eta", "nJet", "Jet_pt", "Jet_genJetIdx", "Jet_area",
        "nGenPart", "GenPart_pdgId", "nMuon", "Muon_tightId", "Pileup_nTrueInt",
        "GenMET_pt", "MET_pt", "MET_phi", "PV_npvs", "Rho_fixedGridRhoFastjetAll",
    ]  # fmt: skip
    kept = training_branches(spec, nanoaod)
    assert not {"run", "event", "HLT_IsoMu24", "Flag_goodVertices", "nTau", "Tau_pt"} & set(kept)
    assert {"Jet_area", "nJet", "GenPart_pdgId", "Muon_tightId", "Pileup_nTrueInt"} <= set(kept)
    assert {"MET_pt", "MET_phi", "PV_npvs", "Rho_fixedGridRhoFastjetAll", "GenMET_pt"} <= set(kept)
    assert set(kept) <= set(nanoaod)

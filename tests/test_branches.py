"""flashsim.branches: the branches a spec reads and writes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import uproot

from flashsim.branches import (
    collection_fields,
    gen_branches,
    gen_event_level_branches,
    input_branches,
    input_layout,
    output_branches,
    passthrough_branches,
    training_branches,
)
from flashsim.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "pipelines"
EXAMPLE = ROOT / "data" / "examples" / "ttbar_gen.root"


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


def test_passthrough_skips_simulated_collections_and_adds_counters() -> None:
    spec = dataclasses.replace(
        load_spec(PIPELINES / "cms_like.yaml"), passthrough=("HLT_*", "Jet_*", "GenJet_*", "Tau_*")
    )
    available = ["HLT_IsoMu24", "nJet", "Jet_pt", "nGenJet", "GenJet_pt", "GenJet_eta", "run"]
    assert passthrough_branches(spec, available) == [
        "GenJet_eta",
        "GenJet_pt",
        "HLT_IsoMu24",
        "nGenJet",
    ]
    read = input_branches(spec, [*available, "nGenPart", "GenPart_pdgId", "Pileup_nTrueInt"])
    assert {"nGenPart", "GenPart_pdgId", "Pileup_nTrueInt", "HLT_IsoMu24"} <= set(read)
    assert not {"Jet_pt", "nJet", "run"} & set(read)


def test_input_layout_gives_counters_and_event_level_branches() -> None:
    spec = load_spec(PIPELINES / "cms_like.yaml")
    layout = input_layout(spec)
    assert set(layout) == set(gen_branches(spec)) | {"nGenJet", "nGenJetAK8", "nGenPart"}
    assert {name for name, kind in layout.items() if kind == "flat"} == gen_event_level_branches(
        spec
    )
    assert layout["GenMET_pt"] == "flat"
    assert layout["GenJet_pt"] == "jagged"
    assert layout["nGenJet"] == "counter"


def test_pid_conditions_read_only_what_is_not_simulated() -> None:
    spec = load_spec(PIPELINES / "lhcb_like.yaml")
    assert spec.pid is not None
    columns = {c.column for c in spec.pid.conditions}
    assert {"probe_p", "probe_eta", "Event_nTracks"} <= columns
    # probe_X is the simulated track's field X; Event_nTracks is an event-level target
    assert not columns & set(gen_branches(spec))
    assert "GenPart_pdgId" in gen_branches(spec)  # the species comes from the gen match


def test_output_branches_are_what_a_run_writes(tmp_path: Path) -> None:
    from flashsim.bundle import default_model_path, load_bundle
    from flashsim.run import run_file

    pipeline = load_bundle(default_model_path())
    output = tmp_path / "flash.root"
    run_file(pipeline, EXAMPLE, output, seed=3, max_events=40, progress=False)
    with uproot.open(EXAMPLE) as f:
        available = f["Events"].keys()
    with uproot.open(output) as f:
        written = f["Events"].keys()
    spec = pipeline.spec
    assert sorted(written) == output_branches(spec, available)
    for name in spec.collections:
        fields = [b.partition("_")[2] for b in written if b.startswith(f"{name}_")]
        assert fields == collection_fields(spec, name)

"""The generalisation processes of the reference simulation (``wjets``, ``zh_bb``, ``zprime_ll``):
each produces the hard process it is named for (checked on the pruned ``GenPart`` record of a
few generator-level events) and the objects it is there to test."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from flashsim.io import zip_collections
from flashsim.refsim.generate import generate_sample
from flashsim.refsim.processes import PROCESSES, process_settings

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

N_EVENTS = 30


@pytest.fixture(scope="module")
def gen(tmp_path_factory, request):
    def make(process: str) -> ak.Array:
        path = tmp_path_factory.mktemp(process) / "gen.root"
        generate_sample(
            process=process,
            n_events=N_EVENTS,
            seed=5,
            jobs=1,
            output=path,
            pileup=0.0,
            progress=False,
            gen_only=True,
        )
        with uproot.open(path) as f:
            return zip_collections(f["Events"].arrays())

    return make


def _last_copies(events: ak.Array, pdg: int) -> ak.Array:
    part = events.GenPart
    return part[(abs(part.pdgId) == pdg) & ((part.statusFlags >> 13) & 1 == 1)]


def test_new_processes_are_listed():
    for name in ("wjets", "zh_bb", "zprime_ll"):
        assert name in PROCESSES
        assert process_settings(name)[-1] == PROCESSES[name][-1]


def test_wjets_has_a_leptonic_w(gen):
    events = gen("wjets")
    w = _last_copies(events, 24)
    assert ak.all(ak.num(w) >= 1)
    part = events.GenPart
    has_mother = part.genPartIdxMother >= 0
    mother_pdg = part.pdgId[ak.where(has_mother, part.genPartIdxMother, 0)]
    # every event has a charged lepton or a tau whose closest kept ancestor is the W
    lepton_from_w = (
        ((abs(part.pdgId) == 11) | (abs(part.pdgId) == 13) | (abs(part.pdgId) == 15))
        & has_mother
        & (abs(mother_pdg) == 24)
    )
    assert ak.mean(ak.any(lepton_from_w, axis=1)) > 0.9
    assert np.median(ak.to_numpy(events.GenMET_pt)) > 15.0
    # the recoil jet: pT-hat > 20 GeV
    assert ak.mean(ak.num(events.GenJet[events.GenJet.pt > 15], axis=1) >= 1) > 0.8


def test_zh_bb_has_a_higgs_to_b_quarks(gen):
    events = gen("zh_bb")
    h = _last_copies(events, 25)
    z = _last_copies(events, 23)
    assert ak.all(ak.num(h) == 1)
    assert ak.all(ak.num(z) == 1)
    assert np.allclose(ak.to_numpy(ak.flatten(h.mass)), 125.0, atol=1.0)
    # at least one b-flavoured gen jet in nearly every event
    n_b = ak.sum(events.GenJet.hadronFlavour == 5, axis=1)
    assert ak.mean(n_b >= 1) > 0.9
    assert ak.mean(n_b) > 1.5


def test_zprime_ll_gives_tev_leptons(gen):
    events = gen("zprime_ll")
    part = events.GenPart
    zp = part[(abs(part.pdgId) == 32) & ((part.statusFlags >> 7) & 1 == 1)]  # isHardProcess
    assert ak.all(ak.num(zp) >= 1)
    mass = ak.to_numpy(ak.flatten(zp.mass))
    assert np.all(mass > 1500.0)
    assert 2000.0 < np.median(mass) < 3000.0
    leptons = part[
        ((abs(part.pdgId) == 11) | (abs(part.pdgId) == 13)) & (part.status == 1) & (part.pt > 300)
    ]
    assert ak.mean(ak.num(leptons) >= 2) > 0.8

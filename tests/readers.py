"""Checks that a NanoAOD-style file reads correctly in coffea and in ROOT, for any test to reuse.

``assert_readable_by_coffea(path)`` and ``assert_readable_by_root(path)`` work on any file that
flashsim writes (tiny fixtures here, generated reference samples in the refsim tests): they compare
what each reader sees with what uproot reads.

What the readers need, found by reading coffea 2026.9 and running ROOT 6.40:

* Counters: uproot writes ``nJet`` as int32 (ROOT ``Int_t``); coffea turns it into int64 offsets
  and ROOT's RDataFrame reads ``Jet_pt`` as ``ROOT::VecOps::RVec<Float_t>``.
* Index branches (``Jet_genJetIdx``, ``Muon_genPartIdx``, ``GenPart_genPartIdxMother``): any
  *integer* type works; coffea adds them to int64 offsets and raises if the result is not int64,
  so a float index breaks it. We use NanoAODv12's types: int16 for indices, int32 ``pdgId`` and
  ``status``, uint16 ``statusFlags``, int16 ``partonFlavour``, uint8 ``hadronFlavour``.
* Event ids ``run``, ``luminosityBlock``, ``event`` must exist (coffea raises otherwise); NanoAOD
  types are uint32, uint32, uint64.
* Collection names must not contain ``_``: coffea splits branch names at the first ``_``.
* coffea warns for every cross-reference of its built-in list whose index branch is absent
  (``Electron_jetIdx``, ``FatJet_genJetAK8Idx``, ...), whether or not the collection exists. We do
  not write most of those, so that one warning is ignored; every other warning fails the check.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

# index branch -> target collection, for the cross-references flashsim writes
GEN_MATCHING = {
    "Jet_genJetIdx": "GenJet",
    "FatJet_genJetAK8Idx": "GenJetAK8",
    "Muon_genPartIdx": "GenPart",
    "Electron_genPartIdx": "GenPart",
    "Photon_genPartIdx": "GenPart",
    "Tau_genPartIdx": "GenPart",
    "GenPart_genPartIdxMother": "GenPart",
}

EVENT_IDS = {"run": np.uint32, "luminosityBlock": np.uint32, "event": np.uint64}


def make_nanoaod_chunk(rng: np.random.Generator, n_events: int, first_event: int = 0) -> dict:
    """A small chunk with the branches and NanoAODv12 types of a flashsim output."""
    n_gen = rng.integers(0, 7, n_events)
    n_genjet = rng.integers(0, 4, n_events)
    n_jet = rng.integers(0, 5, n_events)
    n_muon = rng.integers(0, 3, n_events)
    n_electron = rng.integers(0, 3, n_events)

    def index_into(counts: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Random local indices into ``targets`` objects of the same event, -1 where none."""
        per_object_targets = np.repeat(targets, counts)
        uniform = rng.random(counts.sum())
        return np.floor(uniform * (per_object_targets + 1)).astype(np.int16) - 1

    def momenta(counts: np.ndarray, mass: float | None = None) -> dict:
        total = counts.sum()
        return {
            "pt": rng.exponential(30.0, total).astype(np.float32) + 5,
            "eta": rng.uniform(-2.5, 2.5, total).astype(np.float32),
            "phi": rng.uniform(-np.pi, np.pi, total).astype(np.float32),
            "mass": (
                np.full(total, mass, np.float32)
                if mass is not None
                else rng.uniform(0.0, 20.0, total).astype(np.float32)
            ),
        }

    def collection(counts: np.ndarray, fields: dict) -> ak.Array:
        return ak.unflatten(ak.zip(fields), counts)

    # the mother of particle i is -1 (none) or one of the particles before it
    position = np.arange(n_gen.sum()) - np.repeat(np.cumsum(n_gen) - n_gen, n_gen)
    mothers = rng.integers(-1, position).astype(np.int16)
    total_gen = n_gen.sum()
    gen_part = collection(
        n_gen,
        {
            **momenta(n_gen),
            "pdgId": rng.choice([1, -2, 11, -13, 21, 22, 211], total_gen).astype(np.int32),
            "status": rng.choice([1, 2, 62], total_gen).astype(np.int32),
            "statusFlags": rng.integers(0, 2**15, total_gen).astype(np.uint16),
            "genPartIdxMother": mothers,
        },
    )
    gen_jet = collection(
        n_genjet,
        {
            **momenta(n_genjet),
            "partonFlavour": rng.choice([0, 1, -4, 5, 21], n_genjet.sum()).astype(np.int16),
            "hadronFlavour": rng.choice([0, 4, 5], n_genjet.sum()).astype(np.uint8),
        },
    )
    jet = collection(n_jet, {**momenta(n_jet), "genJetIdx": index_into(n_jet, n_genjet)})
    leptons = {}
    for name, counts, mass in (("Muon", n_muon, 0.10566), ("Electron", n_electron, 0.000511)):
        leptons[name] = collection(
            counts,
            {
                **momenta(counts, mass),
                "charge": rng.choice([-1, 1], counts.sum()).astype(np.int32),
                "genPartIdx": index_into(counts, n_gen),
            },
        )
    return {
        "run": np.ones(n_events, np.uint32),
        "luminosityBlock": np.full(n_events, 7, np.uint32),
        "event": np.arange(first_event, first_event + n_events, dtype=np.uint64),
        "genWeight": rng.normal(1.0, 0.1, n_events).astype(np.float32),
        "GenPart": gen_part,
        "GenJet": gen_jet,
        "Jet": jet,
        "Muon": leptons["Muon"],
        "Electron": leptons["Electron"],
        "MET_pt": rng.exponential(20.0, n_events).astype(np.float32),
        "MET_phi": rng.uniform(-np.pi, np.pi, n_events).astype(np.float32),
        "GenMET_pt": rng.exponential(20.0, n_events).astype(np.float32),
        "GenMET_phi": rng.uniform(-np.pi, np.pi, n_events).astype(np.float32),
        "Pileup_nTrueInt": rng.uniform(20, 60, n_events).astype(np.float32),
        "Pileup_nPU": rng.poisson(40, n_events).astype(np.int32),
    }


def _read_with_uproot(path: Path) -> dict[str, ak.Array]:
    with uproot.open(path) as file:
        return dict(zip(file["Events"].keys(), ak.unzip(file["Events"].arrays()), strict=True))


def _expected_matches(raw: dict[str, ak.Array], index: str, target: str) -> list:
    """Target pt at each local index, None where the index is -1 or out of range."""
    idx = raw[index]
    target_pt = raw[f"{target}_pt"]
    valid = (idx >= 0) & (idx < ak.num(target_pt)[:, np.newaxis])
    safe = ak.where(valid, idx, 0)
    padded = ak.fill_none(ak.pad_none(target_pt, 1, axis=1), np.float32(0))
    values = padded[ak.values_astype(safe, np.int64)]
    return ak.to_list(ak.mask(values, valid))


def coffea_events(path: str | Path) -> ak.Array:
    """The events of ``path`` read eagerly with coffea's NanoAODSchema, without the warning for
    the cross-references flashsim does not write (see the module docstring)."""
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Missing cross-reference index", category=RuntimeWarning
        )
        return NanoEventsFactory.from_root(
            {str(path): "Events"}, schemaclass=NanoAODSchema, mode="eager"
        ).events()


def assert_readable_by_coffea(path: str | Path) -> None:
    """Open ``path`` with coffea's NanoAODSchema (eager) and check the cross-references.

    Every coffea warning but the missing-cross-reference one fails (see the module docstring).
    """
    path = Path(path)
    raw = _read_with_uproot(path)
    collections = {name[1:] for name in raw if name.startswith("n") and name[1:] + "_pt" in raw}
    for event_id, dtype in EVENT_IDS.items():
        assert event_id in raw, f"event id {event_id} missing"
        assert raw[event_id].layout.dtype == dtype, f"{event_id} is {raw[event_id].type}"
    for index, target in GEN_MATCHING.items():
        if index.split("_")[0] in collections:
            assert index in raw, f"{index} missing"
            assert target in collections, f"{index} points to {target}, which is missing"
            assert np.issubdtype(ak.flatten(raw[index]).layout.dtype, np.integer), index

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        events = coffea_events(path)

        assert len(events) == len(raw["event"])
        for name in collections:
            assert ak.to_list(ak.num(events[name])) == ak.to_list(raw["n" + name])
            assert ak.to_list(events[name].pt) == ak.to_list(raw[name + "_pt"])
        for index, target in GEN_MATCHING.items():
            source = index.split("_")[0]
            if index not in raw:
                continue
            expected = _expected_matches(raw, index, target)
            if index == "GenPart_genPartIdxMother":
                got = events.GenPart.parent.pt
            else:
                got = events[source].matched_gen.pt
            assert ak.to_list(got) == expected, f"{index} resolves differently in coffea"
        for singleton in ("MET", "GenMET"):
            if f"{singleton}_pt" in raw:
                assert ak.to_list(events[singleton].pt) == ak.to_list(raw[f"{singleton}_pt"])


def assert_readable_by_root(path: str | Path) -> None:
    """Read ``path`` with ROOT's RDataFrame and compare counts and sums with uproot."""
    root = pytest.importorskip("ROOT")

    path = Path(path)
    raw = _read_with_uproot(path)
    frame = root.RDataFrame("Events", str(path))
    assert set(map(str, frame.GetColumnNames())) >= set(raw)
    assert frame.Count().GetValue() == len(raw["event"])

    collections = [name[1:] for name in raw if name.startswith("n") and name[1:] + "_pt" in raw]
    for name in collections:
        assert str(frame.GetColumnType("n" + name)) == "Int_t"
        assert "RVec<Float_t>" in str(frame.GetColumnType(name + "_pt"))
        assert frame.Sum("n" + name).GetValue() == ak.sum(raw["n" + name])
        assert frame.Sum(name + "_pt").GetValue() == pytest.approx(
            float(ak.to_numpy(ak.flatten(raw[name + "_pt"])).sum(dtype=np.float64)), rel=1e-6
        )
    if "Jet_genJetIdx" in raw:
        matched = frame.Define("matched_pt", "Sum(Jet_pt[Jet_genJetIdx >= 0])")
        matched_pt = ak.flatten(raw["Jet_pt"][raw["Jet_genJetIdx"] >= 0])
        expected = ak.to_numpy(matched_pt).sum(dtype=np.float64)
        assert matched.Sum("matched_pt").GetValue() == pytest.approx(float(expected), rel=1e-6)

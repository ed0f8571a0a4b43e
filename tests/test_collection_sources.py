"""A collection made from several generated sources (``sources:``): electrons from generated
electrons and electrons faked by generated jets, linked ``Electron_jetIdx -> Jet_genJetIdx``.

A synthetic detector writes the files: each generated jet fakes an electron with a known
probability (5% below 60 GeV, 25% above) at a known fraction of its pT, so the trained model's
rate and response can be compared with the truth.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
from raw_samples import read_events

from flashsim.bundle import load_bundle
from flashsim.exceptions import SpecError
from flashsim.features import fakes_table, reco_links, source_tables
from flashsim.io import NanoAODWriter, zip_collections
from flashsim.pipeline import linked_index, nearest_index
from flashsim.run import run_file
from flashsim.spec import parse_spec
from flashsim.train import read_training_data, train_pipeline

FAKE_RATE = {"low": 0.05, "high": 0.25}  # per generated jet, below / above 60 GeV
FAKE_FRACTION = (0.1, 0.5)  # the fake electron's pT over its jet's, uniform

_TINY = {
    "flow": {"transforms": 2, "hidden": [16, 16], "bins": 4},
    "training": {"epochs": 3, "batch_size": 256, "learning_rate": 0.003},
    "discrete": {"n_estimators": 10, "max_depth": 3},
}
_BDT = {"n_estimators": 40, "max_depth": 3, "learning_rate": 0.2}
_KINEMATICS = [
    {"name": "pt", "kind": "ratio", "transform": ["log", "standardize"], "select_min": 5.0},
    {"name": "eta", "kind": "diff", "transform": ["standardize"]},
    {"name": "phi", "kind": "dphi", "transform": ["standardize"]},
]


def spec_dict() -> dict[str, Any]:
    """Jets, and electrons from generated electrons and from generated jets."""
    jet_conditions = [
        {"name": "pt", "field": "pt", "transform": ["log", "standardize"]},
        {"name": "eta", "field": "eta", "transform": ["standardize"]},
    ]
    return {
        "version": 1,
        "name": "sources_test",
        "seed": 3,
        "collections": {
            "Jet": {
                "source": {"collection": "GenJet"},
                "target": {"collection": "Jet", "match": "genJetIdx"},
                "conditions": jet_conditions,
                "targets": _KINEMATICS,
                "efficiency": _BDT,
                "response": {"model": "flow", **copy.deepcopy(_TINY)},
            },
            "Electron": {
                "source": {"collection": "GenPart", "pdgId": [11], "status": [1]},
                "target": {"collection": "Electron", "match": "genPartIdx"},
                "charge_from_pdgId": True,
                "conditions": jet_conditions,
                "targets": _KINEMATICS,
                "efficiency": {**_BDT, "classes": {"field": "cutBased", "values": [0, 1, 2]}},
                "response": {"model": "flow", **copy.deepcopy(_TINY)},
                "sources": {
                    "jets": {
                        "source": {"collection": "GenJet"},
                        "match": {
                            "field": "jetIdx",
                            "via": {"collection": "Jet", "field": "genJetIdx"},
                        },
                        "conditions": [
                            *jet_conditions,
                            {"name": "flavour", "field": "hadronFlavour", "transform": []},
                        ],
                        "efficiency": {
                            **_BDT,
                            "classes": {"field": "cutBased", "values": [0, 1, 2]},
                        },
                        "targets": [
                            *_KINEMATICS,
                            {
                                "name": "charge",
                                "kind": "value",
                                "dtype": "int32",
                                "categories": [-1, 1],
                            },
                        ],
                        "response": {"model": "flow", **copy.deepcopy(_TINY)},
                    }
                },
            },
        },
    }


def detector(n_events: int, seed: int) -> dict[str, Any]:
    """Generated jets and electrons, and their reconstruction by a synthetic detector."""
    rng = np.random.default_rng(seed)
    n_jets = rng.integers(2, 6, n_events)
    total = int(n_jets.sum())
    gen_pt = 20.0 + rng.exponential(40.0, total)
    gen_eta = rng.uniform(-2.4, 2.4, total)
    gen_phi = rng.uniform(-np.pi, np.pi, total)
    flavour = rng.choice([0, 4, 5], total)
    # every generated jet gives a jet (genJetIdx = its index), 90% of the time
    local = np.arange(total) - np.repeat(np.cumsum(n_jets) - n_jets, n_jets)
    jet_kept = rng.random(total) < 0.9
    jet_event = np.repeat(np.arange(n_events), n_jets)[jet_kept]
    jet_index = np.full(total, -1)  # each gen jet's reco jet, within the event
    jet_counts = np.bincount(jet_event, minlength=n_events)
    jet_index[jet_kept] = np.arange(jet_kept.sum()) - np.repeat(
        np.cumsum(jet_counts) - jet_counts, jet_counts
    )
    jets = {
        "pt": gen_pt[jet_kept] * rng.normal(1.0, 0.1, jet_kept.sum()),
        "eta": gen_eta[jet_kept] + rng.normal(0, 0.02, jet_kept.sum()),
        "phi": gen_phi[jet_kept],
        "genJetIdx": local[jet_kept].astype(np.int16),
    }
    # one generated electron in 60% of the events, reconstructed 80% of the time
    has_e = rng.random(n_events) < 0.6
    n_e = int(has_e.sum())
    e_pt = 10.0 + rng.exponential(30.0, n_e)
    e_eta, e_phi = rng.uniform(-2.4, 2.4, n_e), rng.uniform(-np.pi, np.pi, n_e)
    e_pdg = rng.choice([-11, 11], n_e)
    prompt_kept = rng.random(n_e) < 0.8
    # fakes: a generated jet with a reco jet fakes an electron at the known rate
    rate = np.where(gen_pt > 60.0, FAKE_RATE["high"], FAKE_RATE["low"])
    fake = (rng.random(total) < rate) & jet_kept
    n_fake = int(fake.sum())
    parts = [
        {  # prompt electrons
            "event": np.flatnonzero(has_e)[prompt_kept],
            "pt": e_pt[prompt_kept] * rng.normal(1.0, 0.05, prompt_kept.sum()),
            "eta": e_eta[prompt_kept],
            "phi": e_phi[prompt_kept],
            "charge": -np.sign(e_pdg[prompt_kept]),
            "cutBased": rng.integers(0, 3, prompt_kept.sum()),
            "genPartIdx": np.zeros(prompt_kept.sum(), dtype=int),
            "jetIdx": np.full(prompt_kept.sum(), -1),
        },
        {  # faked by jets
            "event": np.repeat(np.arange(n_events), n_jets)[fake],
            "pt": gen_pt[fake] * rng.uniform(*FAKE_FRACTION, n_fake),
            "eta": gen_eta[fake] + rng.normal(0, 0.01, n_fake),
            "phi": gen_phi[fake],
            "charge": rng.choice([-1, 1], n_fake),
            "cutBased": np.where(rng.random(n_fake) < 0.8, 0, 1),
            "genPartIdx": np.full(n_fake, -1),
            "jetIdx": jet_index[fake],
        },
    ]
    ele = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(ele["event"], kind="stable")
    ele = {k: v[order] for k, v in ele.items()}
    ele_counts = np.bincount(ele.pop("event"), minlength=n_events)
    dtypes = {"charge": np.int32, "cutBased": np.uint8, "genPartIdx": np.int16, "jetIdx": np.int16}
    electrons = {k: v.astype(dtypes.get(k, np.float32)) for k, v in ele.items()}
    gen_counts = has_e.astype(int)
    genpart = {
        "pt": e_pt,
        "eta": e_eta,
        "phi": e_phi,
        "mass": np.zeros(n_e),
        "pdgId": e_pdg,
        "status": np.ones(n_e, dtype=int),
        "statusFlags": np.ones(n_e, dtype=int),
    }

    def jagged(fields: dict[str, np.ndarray], counts: np.ndarray) -> ak.Array:
        return ak.unflatten(ak.zip(fields, depth_limit=1), counts)

    return {
        "run": np.ones(n_events, dtype=np.int32),
        "event": np.arange(n_events, dtype=np.int64),
        "GenJet": jagged(
            {
                "pt": gen_pt,
                "eta": gen_eta,
                "phi": gen_phi,
                "mass": np.full(total, 5.0),
                "hadronFlavour": flavour.astype(np.uint8),
            },
            n_jets,
        ),
        "GenPart": jagged(genpart, gen_counts),
        "Jet": jagged(jets, jet_counts),
        "Electron": jagged(electrons, ele_counts),
    }


def write(path: Path, n_events: int, seed: int) -> Path:
    with NanoAODWriter(path) as writer:
        writer.extend(detector(n_events, seed))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A model trained on 4000 synthetic events, and 4000 held-out events (other seed)."""
    d = tmp_path_factory.mktemp("sources")
    spec = parse_spec(spec_dict(), "sources_test")
    data = read_training_data(spec, [write(d / "train.root", 4000, 1)], progress=False)
    train_pipeline(spec, data, d / "model", progress=False, log=lambda line: None)
    return d / "model", write(d / "held_out.root", 4000, 2)


def test_spec_reads_sources() -> None:
    spec = parse_spec(spec_dict(), "t")
    electron = spec.collections["Electron"]
    (jets,) = electron.sources
    assert (jets.stage, jets.name, jets.match) == ("Electron.jets", "Electron", "jetIdx")
    assert (jets.via.collection, jets.via.field) == ("Jet", "genJetIdx")
    assert [s.stage for s in electron.all_sources()] == ["Electron", "Electron.jets"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s: s["collections"].update(  # Jet after Electron
                {"Jet": s["collections"].pop("Jet")}
            ),
            "must be a collection section before",
        ),
        (
            lambda s: _jets(s)["match"]["via"].update({"field": "jetId"}),
            "must be the match of section 'Jet'",
        ),
        (lambda s: _jets(s)["targets"].pop(), "sample them here too"),
        (lambda s: _jets(s)["match"].update({"field": "genPartIdx"}), "the section's own index"),
        (
            lambda s: _jets(s)["targets"].append(
                {"name": "jetIdx", "kind": "value", "transform": []}
            ),
            "an index set by flashsim",
        ),
        (
            lambda s: s["collections"]["Electron"]["sources"].update({"fakes": _jets(s)}),
            "names a stage already",
        ),
        (lambda s: _jets(s).update({"fakes": {}}), "unknown key"),
    ],
)
def test_spec_errors_name_the_key(edit: Any, message: str) -> None:
    data = spec_dict()
    edit(data)
    with pytest.raises(SpecError, match=message):
        parse_spec(data, "t")


def _jets(data: dict[str, Any]) -> dict[str, Any]:
    return data["collections"]["Electron"]["sources"]["jets"]


def test_a_direct_source_may_share_the_sections_index() -> None:
    """Conversion electrons point to their generated photon through Electron_genPartIdx."""
    data = spec_dict()
    photons = copy.deepcopy(_jets(data))
    photons.update(
        source={"collection": "GenPart", "pdgId": [22], "status": [1]},
        match={"field": "genPartIdx"},
        conditions=photons["conditions"][:2],
    )
    data["collections"]["Electron"]["sources"] = {"photons": photons}
    spec = parse_spec(data, "t").collections["Electron"]
    events = ak.Array(
        {
            "GenPart": [
                [
                    {"pt": 30.0, "eta": 0.0, "phi": 0.0, "mass": 0.0, "pdgId": 11, "status": 1},
                    {"pt": 20.0, "eta": 1.0, "phi": 1.0, "mass": 0.0, "pdgId": 22, "status": 1},
                ]
            ],
            "Electron": [
                [
                    {
                        "pt": 29.0,
                        "eta": 0.0,
                        "phi": 0.0,
                        "genPartIdx": 0,
                        "cutBased": 2,
                        "charge": 1,
                    },
                    {
                        "pt": 12.0,
                        "eta": 1.0,
                        "phi": 1.0,
                        "genPartIdx": 1,
                        "cutBased": 0,
                        "charge": 1,
                    },
                    {
                        "pt": 6.0,
                        "eta": 2.0,
                        "phi": 0.0,
                        "genPartIdx": -1,
                        "cutBased": 0,
                        "charge": 1,
                    },
                ]
            ],
        }
    )
    tables, claimed = source_tables(events, spec)
    assert tables["Electron"].label.tolist() == [3]  # the generated electron, cutBased 2
    assert tables["Electron.photons"].label.tolist() == [1]  # the photon, cutBased 0
    assert claimed.tolist() == [True, True, False]


def test_sources_claim_reco_objects_in_order() -> None:
    """The section's source claims first; the jets source gets what is linked through Jet;
    the fakes are what nobody claimed."""
    spec = parse_spec(spec_dict(), "t").collections["Electron"]
    events = ak.Array(
        {
            "run": [1],
            "GenPart": [
                [{"pt": 30.0, "eta": 0.0, "phi": 0.0, "mass": 0.0, "pdgId": 11, "status": 1}]
            ],
            "GenJet": [
                [
                    {"pt": 50.0, "eta": 1.0, "phi": 1.0, "hadronFlavour": 5},
                    {"pt": 40.0, "eta": -1.0, "phi": 2.0, "hadronFlavour": 0},
                ]
            ],
            "Jet": [[{"pt": 38.0, "genJetIdx": 1}, {"pt": 20.0, "genJetIdx": -1}]],
            # prompt (linked to jet 0 too: claimed by the section first), faked by gen jet 1
            # through jet 0, in a jet without gen jet (a fake), outside any jet (a fake)
            "Electron": [
                [
                    {
                        "pt": 29.0,
                        "eta": 0.0,
                        "phi": 0.0,
                        "genPartIdx": 0,
                        "jetIdx": 0,
                        "cutBased": 2,
                        "charge": 1,
                    },
                    {
                        "pt": 9.0,
                        "eta": -1.0,
                        "phi": 2.0,
                        "genPartIdx": -1,
                        "jetIdx": 0,
                        "cutBased": 0,
                        "charge": 1,
                    },
                    {
                        "pt": 7.0,
                        "eta": 2.0,
                        "phi": 0.0,
                        "genPartIdx": -1,
                        "jetIdx": 1,
                        "cutBased": 0,
                        "charge": 1,
                    },
                    {
                        "pt": 6.0,
                        "eta": 2.0,
                        "phi": 0.0,
                        "genPartIdx": -1,
                        "jetIdx": -1,
                        "cutBased": 1,
                        "charge": 1,
                    },
                ]
            ],
        }
    )
    assert reco_links(events, spec.sources[0]).tolist() == [1, 1, -1, -1]
    tables, claimed = source_tables(events, spec)
    assert claimed.tolist() == [True, True, False, False]
    assert tables["Electron"].label.tolist() == [3]  # cutBased 2: class 3
    assert tables["Electron.jets"].label.tolist() == [0, 1]  # gen jet 1 faked a cutBased-0
    # the jets source's response rows: pT relative to the generated jet's (9 / 40)
    assert tables["Electron.jets"].targets.shape[0] == 1
    fakes = fakes_table(
        events, parse_spec(_with_fakes(), "t").collections["Electron"], claimed=claimed
    )
    assert fakes.count.tolist() == [2]


def _with_fakes() -> dict[str, Any]:
    data = spec_dict()
    data["collections"]["Electron"]["fakes"] = {
        "conditions": [{"name": "n", "event": "run", "transform": []}],
        "max_count": 2,
        "multiplicity": _BDT,
        "targets": [{"name": "pt", "kind": "value", "transform": ["log"]}],
        "response": {"model": "flow", **copy.deepcopy(_TINY)},
    }
    return data


def test_linked_index_finds_the_object_made_from_the_generated_one() -> None:
    linked = ak.Array([{"genJetIdx": [2, -1, 0]}, {"genJetIdx": []}, {"genJetIdx": [1]}])
    got = linked_index(
        linked, "genJetIdx", np.array([0, 0, 0, 1, 2, 2]), np.array([0, 2, 1, 0, 1, 0])
    )
    assert got.tolist() == [2, 0, -1, -1, 0, -1]
    assert linked_index(linked[1:2], "genJetIdx", np.array([0]), np.array([0])).tolist() == [-1]


def test_flash_electrons_from_jets(trained: tuple[Path, Path], tmp_path: Path) -> None:
    """Every field of the merged collection is consistent, the link points to the flash jet
    of the faking generated jet, and the fake rate and response follow the truth."""
    model, held_out = trained
    out = tmp_path / "flash.root"
    run_file(load_bundle(model), held_out, out, seed=4, progress=False)
    events = zip_collections(read_events(out))
    truth = zip_collections(read_events(held_out))
    ele, jet = events.Electron, events.Jet
    fields = {"pt", "eta", "phi", "charge", "cutBased", "genPartIdx", "jetIdx"}
    assert set(ele.fields) == fields
    from_jets = ele.jetIdx >= 0
    prompt = ele.genPartIdx >= 0
    # an object comes from one source: its index into the other's is -1
    assert not ak.any(from_jets & prompt)
    assert ak.all(prompt | (ele.genPartIdx == -1))
    assert ak.all(ele.jetIdx < ak.num(jet))
    # the linked flash jet is the one made from the faking gen jet: same direction
    fakes = ele[from_jets]
    linked = jet[fakes.jetIdx]
    assert ak.all(linked.genJetIdx >= 0)
    gen = truth.GenJet[linked.genJetIdx]
    assert np.all(np.abs(ak.flatten(fakes.eta - gen.eta).to_numpy()) < 0.3)
    # as many electrons faked by jets as in the truth (4 standard errors)
    n_fakes, n_truth = ak.sum(ele.genPartIdx < 0), ak.sum(truth.Electron.genPartIdx < 0)
    assert abs(n_fakes - n_truth) < 4 * np.sqrt(n_truth), (n_fakes, n_truth)
    # the rate per generated jet in both pT ranges, of those linked to a flash jet: the flash
    # jet exists for 90% of the generated jets, independently of the electron (in the truth
    # an electron is faked only by jets with a reco jet, 90% of them)
    fake_gen_pt = ak.flatten(gen.pt).to_numpy()
    gen_pt = ak.flatten(truth.GenJet.pt).to_numpy()
    for name, low, high in (("low", 0, 60), ("high", 60, np.inf)):
        n_jets = ((gen_pt > low) & (gen_pt <= high)).sum()
        n_linked = ((fake_gen_pt > low) & (fake_gen_pt <= high)).sum()
        expected = FAKE_RATE[name] * 0.9 * 0.9 * n_jets
        assert abs(n_linked - expected) < 4 * np.sqrt(expected), (name, n_linked, expected)
    # the response: pT fraction of the jet, within the truth's uniform range (mean 0.3)
    fraction = ak.flatten(fakes.pt / gen.pt).to_numpy()
    assert 0.25 < np.mean(fraction) < 0.35
    assert np.quantile(fraction, 0.02) > 0.03
    assert np.quantile(fraction, 0.98) < 0.6
    # the ID classes of fakes: mostly cutBased 0 (80% in the truth)
    assert 0.7 < np.mean(ak.flatten(fakes.cutBased).to_numpy() == 0) < 0.9
    n_truth_prompt = ak.sum(truth.Electron.genPartIdx >= 0)
    assert abs(ak.sum(prompt) - n_truth_prompt) < 4 * np.sqrt(n_truth_prompt)


def test_bundle_round_trip_and_introspection(trained: tuple[Path, Path]) -> None:
    from flashsim.introspect import format_model_info, model_info

    model, held_out = trained
    events = zip_collections(read_events(held_out, filter_name="/Gen|nGen|run/"))
    a, _ = load_bundle(model).apply(events[:200], np.random.default_rng(9))
    b, _ = load_bundle(model).apply(events[:200], np.random.default_rng(9))
    assert ak.to_list(a["Electron"]) == ak.to_list(b["Electron"])
    assert ak.sum(a["Electron"].jetIdx >= 0) > 0
    text = format_model_info(model_info(model))
    assert "Electron.jets" in text
    assert "Electron_jetIdx -> Jet_genJetIdx" in text


def test_nearest_index_per_event() -> None:
    linked = ak.zip({"eta": [[0.0, 1.0], [], [2.0]], "phi": [[0.0, 0.0], [], [3.1]]})  # fmt: skip
    event = np.array([2, 0, 1, 0])
    eta = np.array([2.0, 0.9, 0.0, -0.1])
    phi = np.array([-3.1, 0.0, 0.0, 0.0])
    dr, index = nearest_index(linked, event, eta, phi)
    assert index.tolist() == [0, 1, -1, 0]
    np.testing.assert_allclose(dr[[1, 3]], [0.1, 0.1], atol=1e-6)
    assert dr[0] < 0.1  # across the phi boundary
    assert np.isinf(dr[2])


def test_links_fill_what_no_source_set(trained: tuple[Path, Path]) -> None:
    """``links``: the prompt electrons get the nearest flash jet within 0.4 (or -1); the
    electrons faked by jets keep the jet of their generated jet."""
    import dataclasses

    from flashsim.spec import LinkSpec

    model, held_out = trained
    events = zip_collections(read_events(held_out, filter_name="/Gen|nGen|run/"))
    pipeline = load_bundle(model)
    plain, _ = pipeline.apply(events[:400], np.random.default_rng(9))
    electron = pipeline.collections["Electron"]
    electron.spec = dataclasses.replace(
        electron.spec, links=(LinkSpec(field="jetIdx", collection="Jet", max_dr=0.4),)
    )
    linked, _ = pipeline.apply(events[:400], np.random.default_rng(9))
    before, after, jets = plain["Electron"], linked["Electron"], linked["Jet"]
    assert ak.to_list(before.pt) == ak.to_list(after.pt)  # same random stream, same objects
    from_jets = before.jetIdx >= 0
    assert ak.to_list(after.jetIdx[from_jets]) == ak.to_list(before.jetIdx[from_jets])
    # by brute force: the nearest flash jet within 0.4 for the others
    n_linked = 0
    pairs = zip(ak.to_list(after), ak.to_list(jets), strict=True)
    for e, (objects, event_jets) in enumerate(pairs):
        for obj, was in zip(objects, ak.to_list(before[e]), strict=True):
            if was["jetIdx"] >= 0:
                continue
            dphi = [(obj["phi"] - j["phi"] + np.pi) % (2 * np.pi) - np.pi for j in event_jets]
            dr = [np.hypot(obj["eta"] - j["eta"], d) for j, d in zip(event_jets, dphi, strict=True)]
            best = int(np.argmin(dr)) if dr and min(dr) < 0.4 else -1
            assert obj["jetIdx"] == best
            n_linked += best >= 0
    assert n_linked > 0


def test_link_to_a_later_collection_is_refused() -> None:
    data = spec_dict()
    data["collections"]["Jet"]["links"] = [
        {"field": "electronIdx1", "collection": "Electron", "max_dr": 0.4}
    ]
    with pytest.raises(SpecError, match=r"Jet.links\[0\].collection: 'Electron' must be"):
        parse_spec(data, "t")

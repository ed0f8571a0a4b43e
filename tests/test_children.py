"""Objects owned by other objects (``children``): a FatJet's soft-drop subjets, sampled after
their fat jet, given it, and written as ``SubJet`` with ``FatJet_subJetIdx1/2``.

A synthetic detector writes the files: each generated AK8 jet gives a fat jet and two subjets
sharing its pT as z and 1 - z (z uniform in 0.55-0.9), or one subjet (10% of the jets), so the
trained model's subjets can be compared with the truth.
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
from flashsim.children import gather_children, split_children
from flashsim.exceptions import SpecError
from flashsim.io import NanoAODWriter, zip_collections
from flashsim.run import run_file
from flashsim.spec import parse_spec
from flashsim.train import read_training_data, train_pipeline

SINGLE = 0.1  # fraction of fat jets with one subjet
Z_RANGE = (0.55, 0.9)  # the leading subjet's share of the fat jet's pT

_TINY = {
    "flow": {"transforms": 2, "hidden": [32, 32], "bins": 6},
    "training": {"epochs": 6, "batch_size": 256, "learning_rate": 0.003},
    "discrete": {"n_estimators": 20, "max_depth": 3},
}


def spec_dict() -> dict[str, Any]:
    return {
        "version": 1,
        "name": "children_test",
        "seed": 5,
        "passthrough": ["run", "luminosityBlock", "event"],
        "collections": {
            "FatJet": {
                "source": {"collection": "GenJetAK8"},
                "target": {"collection": "FatJet", "match": "genJetAK8Idx"},
                "conditions": [
                    {"name": "pt", "field": "pt", "transform": ["log", "standardize"]},
                    {"name": "eta", "field": "eta", "transform": ["standardize"]},
                ],
                "targets": [
                    {
                        "name": "pt",
                        "kind": "ratio",
                        "transform": ["log", "standardize"],
                        "select_min": 150.0,
                    },
                    {"name": "eta", "kind": "diff", "transform": ["standardize"]},
                    {"name": "phi", "kind": "dphi", "transform": ["standardize"]},
                    {"name": "mass", "kind": "value", "transform": ["log", "standardize"]},
                ],
                "children": {
                    "collection": "SubJet",
                    "index": ["subJetIdx1", "subJetIdx2"],
                    "targets": [
                        {"name": "pt", "kind": "ratio", "transform": ["log", "standardize"]},
                        {"name": "eta", "kind": "diff", "transform": ["standardize"]},
                        {"name": "phi", "kind": "dphi", "transform": ["standardize"]},
                        {"name": "mass", "kind": "value", "transform": ["log", "standardize"]},
                        {
                            "name": "btagDeepB",
                            "kind": "value",
                            "range": [0, 1],
                            "point_masses": [0],
                            "transform": ["standardize"],
                        },
                    ],
                    "response": {"model": "flow", **copy.deepcopy(_TINY)},
                },
                "efficiency": {"n_estimators": 20, "max_depth": 3},
                "response": {"model": "flow", **copy.deepcopy(_TINY)},
            }
        },
    }


def detector(n_events: int, seed: int) -> dict[str, Any]:
    """Generated AK8 jets, their fat jets (all reconstructed) and subjets."""
    rng = np.random.default_rng(seed)
    n_jets = rng.integers(1, 3, n_events)
    total = int(n_jets.sum())
    pt = 200.0 + rng.exponential(150.0, total)
    eta, phi = rng.uniform(-2.0, 2.0, total), rng.uniform(-np.pi, np.pi, total)
    reco_pt = pt * rng.normal(1.0, 0.05, total)
    single = rng.random(total) < SINGLE
    z = rng.uniform(*Z_RANGE, total)
    n_sub = np.where(single, 1, 2)
    # subjets in fat-jet order, the harder first
    owner = np.repeat(np.arange(total), n_sub)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(n_sub) - n_sub, n_sub)
    share = np.where(single[owner], 1.0, np.where(k == 0, z[owner], 1 - z[owner]))
    sub_event = np.repeat(np.repeat(np.arange(n_events), n_jets), n_sub)
    sub_counts = np.bincount(sub_event, minlength=n_events)
    position = np.arange(len(owner)) - np.repeat(np.cumsum(sub_counts) - sub_counts, sub_counts)
    idx = np.full((total, 2), -1)
    idx[owner, k] = position
    local = np.arange(total) - np.repeat(np.cumsum(n_jets) - n_jets, n_jets)

    def jagged(fields: dict[str, np.ndarray], counts: np.ndarray) -> ak.Array:
        return ak.unflatten(ak.zip(fields, depth_limit=1), counts)

    btag = np.where(rng.random(len(owner)) < 0.3, 0.0, rng.beta(2, 5, len(owner)))
    return {
        "run": np.ones(n_events, dtype=np.int32),
        "luminosityBlock": np.ones(n_events, dtype=np.int32),
        "event": np.arange(n_events, dtype=np.int64),
        "GenJetAK8": jagged(
            {"pt": pt, "eta": eta, "phi": phi, "mass": np.full(total, 80.0)}, n_jets
        ),
        "FatJet": jagged(
            {
                "pt": reco_pt,
                "eta": eta,
                "phi": phi,
                "mass": 80.0 * rng.normal(1.0, 0.1, total),
                "genJetAK8Idx": local.astype(np.int16),
                "subJetIdx1": idx[:, 0].astype(np.int16),
                "subJetIdx2": idx[:, 1].astype(np.int16),
            },
            n_jets,
        ),
        "SubJet": jagged(
            {
                "pt": (reco_pt[owner] * share).astype(np.float32),
                "eta": eta[owner] + rng.normal(0, 0.05, len(owner)),
                "phi": phi[owner] + rng.normal(0, 0.05, len(owner)),
                "mass": 10.0 + rng.exponential(5.0, len(owner)),
                "btagDeepB": btag.astype(np.float32),
            },
            sub_counts,
        ),
    }


def write(path: Path, n_events: int, seed: int) -> Path:
    with NanoAODWriter(path) as writer:
        writer.extend(detector(n_events, seed))
    return path


@pytest.fixture(scope="module")
def flash(tmp_path_factory: pytest.TempPathFactory) -> tuple[ak.Array, ak.Array, Path]:
    """A model trained on 5000 synthetic events, applied to 3000 held-out ones."""
    d = tmp_path_factory.mktemp("children")
    spec = parse_spec(spec_dict(), "children_test")
    data = read_training_data(spec, [write(d / "train.root", 5000, 1)], progress=False)
    train_pipeline(spec, data, d / "model", progress=False, log=lambda line: None)
    held_out = write(d / "held_out.root", 3000, 2)
    out = d / "flash.root"
    run_file(load_bundle(d / "model"), held_out, out, seed=3, progress=False)
    return zip_collections(read_events(out)), zip_collections(read_events(held_out)), out


def test_gather_children_counts_and_fields() -> None:
    spec = parse_spec(spec_dict(), "t").collections["FatJet"].children
    assert spec is not None
    events = ak.Array(
        {
            "FatJet": [
                [{"subJetIdx1": 1, "subJetIdx2": 0}, {"subJetIdx1": 2, "subJetIdx2": -1}],
                [{"subJetIdx1": 0, "subJetIdx2": 5}],
            ],
            "SubJet": [
                [
                    {"pt": 10.0, "eta": 0.0, "phi": 0.0, "mass": 1.0, "btagDeepB": 0.1},
                    {"pt": 20.0, "eta": 1.0, "phi": 0.0, "mass": 1.0, "btagDeepB": 0.2},
                    {"pt": 30.0, "eta": 2.0, "phi": 0.0, "mass": 1.0, "btagDeepB": 0.3},
                ],
                [{"pt": 40.0, "eta": 3.0, "phi": 0.0, "mass": 1.0, "btagDeepB": 0.4}],
            ],
        }
    )
    got = gather_children(events, "FatJet", spec)
    assert got["nSubJet"].tolist() == [2, 1, 1]  # an index beyond the collection is no child
    assert got["SubJet1_pt"].tolist() == [20.0, 30.0, 40.0]
    assert got["SubJet2_pt"][0] == 10.0
    assert np.isnan(got["SubJet2_pt"][1:]).all()


def test_split_children_indexes_within_events() -> None:
    spec = parse_spec(spec_dict(), "t").collections["FatJet"].children
    assert spec is not None
    fields = {
        "pt": np.array([300.0, 200.0, 250.0]),
        "nSubJet": np.array([2, 1, 2]),
        **{
            f"SubJet{k}_{f}": np.array([1.0, 2.0, 3.0]) * k
            for k in (1, 2)
            for f in ("pt", "eta", "phi", "mass", "btagDeepB")
        },
    }
    parent, children, event = split_children(fields, np.array([0, 0, 1]), spec)
    assert set(parent) == {"pt", "subJetIdx1", "subJetIdx2"}
    assert parent["subJetIdx1"].tolist() == [0, 2, 0]
    assert parent["subJetIdx2"].tolist() == [1, -1, 1]
    assert event.tolist() == [0, 0, 0, 1, 1]
    assert children["pt"].tolist() == [1.0, 2.0, 2.0, 3.0, 6.0]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["children"]["targets"][0].update({"select_min": 10.0}), "takes no select_min"),
        (lambda c: c["children"].update({"index": []}), "expected"),
        (lambda c: c["children"].update({"collection": "Sub_Jet"}), "without '_'"),
    ],
)
def test_spec_errors(edit: Any, message: str) -> None:
    data = spec_dict()
    edit(data["collections"]["FatJet"])
    with pytest.raises(SpecError, match=message):
        parse_spec(data, "t")


def test_flash_subjets(flash: tuple[ak.Array, ak.Array, Path]) -> None:
    """Every field of FatJet and SubJet: the indices point into the event's subjets, in fat-jet
    order; the number of subjets and their pT shares follow the truth."""
    events, truth, _ = flash
    fat, sub = events.FatJet, events.SubJet
    fields = {"pt", "eta", "phi", "mass", "genJetAK8Idx", "subJetIdx1", "subJetIdx2"}
    assert set(fat.fields) == fields
    assert set(sub.fields) == {"pt", "eta", "phi", "mass", "btagDeepB"}
    n_sub = (fat.subJetIdx1 >= 0) * 1 + (fat.subJetIdx2 >= 0) * 1
    assert ak.all(ak.sum(n_sub, axis=1) == ak.num(sub))
    assert ak.all(fat.subJetIdx1 >= 0)
    # in fat-jet order: the first fat jet's subjets come first
    flat1 = ak.flatten(fat.subJetIdx1).to_numpy()
    flat2 = ak.flatten(fat.subJetIdx2).to_numpy()
    first = np.concatenate([[0], np.cumsum(ak.flatten(n_sub).to_numpy())[:-1]])
    starts = np.repeat(
        np.concatenate([[0], np.cumsum(ak.sum(n_sub, axis=1).to_numpy())[:-1]]),
        ak.num(fat).to_numpy(),
    )
    assert np.array_equal(flat1, first - starts)
    assert np.all((flat2 == -1) | (flat2 == flat1 + 1))
    single = np.mean(flat2 == -1)
    assert abs(single - SINGLE) < 0.03, single
    # the leading subjet's share of the fat jet's pT (truth: uniform 0.55-0.9, mean 0.725)
    has2 = fat[fat.subJetIdx2 >= 0]
    lead = ak.flatten(sub[has2.subJetIdx1].pt / has2.pt).to_numpy()
    trail = ak.flatten(sub[has2.subJetIdx2].pt / has2.pt).to_numpy()
    assert 0.68 < np.mean(lead) < 0.77, np.mean(lead)
    assert 0.23 < np.mean(trail) < 0.32, np.mean(trail)
    # the subjets sit on their fat jet
    dr_eta = ak.flatten(sub[fat.subJetIdx1].eta - fat.eta).to_numpy()
    assert np.quantile(np.abs(dr_eta), 0.95) < 0.3
    # the point mass of the b tag at 0 (30% in the truth)
    assert 0.24 < np.mean(ak.flatten(sub.btagDeepB).to_numpy() == 0) < 0.36
    assert len(ak.flatten(events.FatJet)) > 0.95 * len(ak.flatten(truth.FatJet))


def test_coffea_reads_subjets(flash: tuple[ak.Array, ak.Array, Path]) -> None:
    """coffea's NanoAODSchema links FatJet.subjets through subJetIdx1/2."""
    import readers

    events, _, path = flash
    read = readers.coffea_events(path)
    subjets = read.FatJet.subjets
    n_sub = (events.FatJet.subJetIdx1 >= 0) * 1 + (events.FatJet.subJetIdx2 >= 0) * 1
    assert ak.to_list(ak.count(subjets.pt, axis=2)) == ak.to_list(n_sub)
    lead = events.SubJet[events.FatJet.subJetIdx1].pt
    assert ak.to_list(subjets.pt[:, :, 0]) == ak.to_list(lead)


def test_bundle_describes_and_exports_the_children(flash: tuple[ak.Array, ak.Array, Path]) -> None:
    from flashsim.export.walk import response_models
    from flashsim.introspect import format_model_info, model_info

    *_, path = flash
    model = path.parent / "model"
    text = format_model_info(model_info(model))
    assert "FatJet.children" in text
    assert "FatJet -> SubJet (up to 2 per FatJet" in text
    walked = {m.name: m for m in response_models(model)}
    children = walked["FatJet.children.response"]
    names = [c["name"] for c in children.context]
    assert names[:2] == ["pt", "eta"]
    assert "parent_pt" in names
    assert "parent_mass" in names
    assert {c["name"] for c in children.targets} >= {"SubJet1_pt", "SubJet2_eta"}

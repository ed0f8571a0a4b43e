"""flashsim.features: selection, matching, condition features, target encoding, training tables."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import yaml

from flashsim.exceptions import InputError
from flashsim.features import (
    collection_table,
    decode_targets,
    encode_targets,
    event_table,
    fakes_table,
    feature_table,
    match_reco,
    model_targets,
    normalise_sum,
    select_source,
    wrap_phi,
)
from flashsim.spec import CollectionSpec, Feature, SourceSpec, Target, load_spec, parse_spec

CMS_LIKE = Path(__file__).resolve().parents[1] / "pipelines" / "cms_like.yaml"
_CMS_LIKE_DATA = yaml.safe_load(CMS_LIKE.read_text())


@pytest.fixture(scope="module")
def muon_spec() -> CollectionSpec:
    return load_spec(CMS_LIKE).collections["Muon"]


def particle(pt, eta, phi, pdg_id, status=1, flags=0, mass=0.1) -> dict[str, Any]:
    return {
        "pt": pt,
        "eta": eta,
        "phi": phi,
        "mass": mass,
        "pdgId": pdg_id,
        "status": status,
        "statusFlags": flags,
    }


def genjet(pt, eta, phi, mass=5.0, hadron=0, parton=0) -> dict[str, Any]:
    return {
        "pt": pt,
        "eta": eta,
        "phi": phi,
        "mass": mass,
        "hadronFlavour": hadron,
        "partonFlavour": parton,
    }


MUON_DEFAULTS = {
    "dxy": 0.001,
    "dz": 0.002,
    "pfRelIso03_all": 0.1,
    "pfRelIso04_all": 0.2,
    "nStations": 3,
    "nTrackerLayers": 12,
    "looseId": 1,
    "mediumId": 1,
    "isGlobal": 1,
    "isTracker": 1,
    "isPFcand": 1,
    "dxyErr": 0.0015,
    "dzErr": 0.002,
    "ip3d": 0.003,
    "sip3d": 1.5,
    "miniPFRelIso_all": 0.05,
    "tkRelIso": 0.0,
}


def muon(pt, eta, phi, gen_idx, tight=1, **fields) -> dict[str, Any]:
    return {
        "pt": pt,
        "eta": eta,
        "phi": phi,
        "genPartIdx": gen_idx,
        "tightId": tight,
        **MUON_DEFAULTS,
        **fields,
    }


def jagged(events: list[list[dict[str, Any]]], fields: list[str]) -> ak.Array:
    """Records from per-event lists of dicts (fields given, so empty chunks keep their type)."""
    counts = [len(e) for e in events]
    flat = {f: np.array([o[f] for e in events for o in e], dtype=np.float64) for f in fields}
    for f in fields:
        if f in ("pdgId", "status", "statusFlags", "genPartIdx", "genJetIdx", "tightId"):
            flat[f] = flat[f].astype(np.int32)
    return ak.unflatten(ak.zip(flat), counts)


GENPART_FIELDS = ["pt", "eta", "phi", "mass", "pdgId", "status", "statusFlags"]
GENJET_FIELDS = ["pt", "eta", "phi", "mass", "hadronFlavour", "partonFlavour"]
MUON_FIELDS = ["pt", "eta", "phi", "genPartIdx", "tightId", *MUON_DEFAULTS]

#: event 0: a prompt muon from a tau (flags bits 0 and 5), a photon, a prompt anti-muon, a muon
#: that is not final state (status 62), an electron; event 1: nothing; event 2: an anti-muon.
GENPART = [
    [
        particle(30.0, 0.0, 0.0, 13, flags=0b100001),
        particle(20.0, 0.1, 0.0, 22),
        particle(10.0, 1.0, 1.0, -13, flags=0b1),
        particle(50.0, 0.0, 0.0, 13, status=62),
        particle(5.0, 0.2, 0.1, 11, mass=0.0005),
    ],
    [],
    [particle(15.0, -1.0, 3.0, -13)],
]

GENJET = [
    [genjet(100.0, 0.0, 0.1, hadron=5, parton=-5), genjet(50.0, 0.0, 1.2, parton=21)],
    [genjet(40.0, 1.0, 2.0, hadron=4, parton=-4)],
    [],
]

#: Reco muons of event 0: one pointing to the photon (not selected), two to the first muon (the
#: first wins), one to index 5 (out of range in event 0 — flat, it would be event 2's muon), one
#: unmatched and one to the anti-muon. Event 2: one pointing to its anti-muon.
MUONS = [
    [
        muon(19.0, 0.1, 0.0, 1, tight=0),
        muon(29.0, 0.01, 0.02, 0, tight=1),
        muon(25.0, 0.03, 0.01, 0, tight=0),
        muon(12.0, -1.0, 3.0, 5, tight=1),
        muon(8.0, 2.0, -2.0, -1, tight=1),
        muon(11.0, 1.02, 0.98, 2, tight=0),
    ],
    [],
    [muon(14.0, -1.01, -3.1, 0, tight=1)],
]


def make_events(muons=MUONS) -> ak.Array:
    return ak.zip(
        {
            "GenPart": jagged(GENPART, GENPART_FIELDS),
            "GenJet": jagged(GENJET, GENJET_FIELDS),
            "Muon": jagged(muons, MUON_FIELDS),
            "Pileup_nTrueInt": np.array([21.0, 35.0, 48.0]),
            "GenMET_pt": np.array([10.0, 20.0, 30.0]),
            "GenMET_phi": np.array([0.0, 3.0, -3.0]),
            "MET_pt": np.array([12.0, 18.0, 33.0]),
            "MET_phi": np.array([0.1, -3.1, 2.9]),
        },
        depth_limit=1,
    )


@pytest.fixture
def events() -> ak.Array:
    return make_events()


MUON_SOURCE = SourceSpec("GenPart", pdg_id=(13,), status=(1,))


def feature(name: str, **kwargs: Any) -> Feature:
    return Feature(name=name, transform=(), **kwargs)


# -- selection and matching --------------------------------------------------------------------


def test_select_source_by_pdg_id_and_status(events: ak.Array) -> None:
    source = select_source(events, MUON_SOURCE)
    assert source.collection == "GenPart"
    np.testing.assert_array_equal(source.counts, [2, 0, 1])
    np.testing.assert_array_equal(source.index, [0, 2, 0])  # |pdgId| 13, status 1 only
    np.testing.assert_array_equal(source.event, [0, 0, 2])
    np.testing.assert_array_equal(source.flat("pt"), [30.0, 10.0, 15.0])
    assert source.flat("pt").dtype == np.float64
    assert ak.to_list(ak.num(source.objects)) == [2, 0, 1]


def test_select_source_several_pdg_ids_and_no_status(events: ak.Array) -> None:
    source = select_source(events, SourceSpec("GenPart", pdg_id=(11, 13)))
    np.testing.assert_array_equal(source.index, [0, 2, 3, 4, 0])
    np.testing.assert_array_equal(source.event, [0, 0, 0, 0, 2])


def test_select_source_without_selection_keeps_everything(events: ak.Array) -> None:
    source = select_source(events, SourceSpec("GenJet"))
    np.testing.assert_array_equal(source.counts, [2, 1, 0])
    np.testing.assert_array_equal(source.index, [0, 1, 0])
    np.testing.assert_array_equal(source.event, [0, 0, 1])


def test_select_source_missing_collection(events: ak.Array) -> None:
    with pytest.raises(InputError, match=r"no collection 'GenTau'.*collections: GenPart, GenJet"):
        select_source(events, SourceSpec("GenTau"))


def test_match_reco(events: ak.Array, muon_spec: CollectionSpec) -> None:
    source = select_source(events, muon_spec.source)
    matched = match_reco(events, muon_spec, source)
    # first muon <- reco 1 (not 2: the first wins); anti-muon <- reco 5; event 2 <- flat reco 6.
    # Reco 0 points to the photon (not selected), reco 3 out of range, reco 4 to nothing.
    np.testing.assert_array_equal(matched, [1, 5, 6])
    assert matched.dtype == np.int64


def test_match_reco_three_to_one(muon_spec: CollectionSpec) -> None:
    muons = [[muon(7.0, 0.0, 0.0, 0), muon(6.0, 0.0, 0.0, 0), muon(5.0, 0.0, 0.0, 0)], [], []]
    events = make_events(muons)
    matched = match_reco(events, muon_spec, select_source(events, muon_spec.source))
    np.testing.assert_array_equal(matched, [0, -1, -1])


def test_match_reco_without_reco_objects(muon_spec: CollectionSpec) -> None:
    events = make_events([[], [], []])
    matched = match_reco(events, muon_spec, select_source(events, muon_spec.source))
    np.testing.assert_array_equal(matched, [-1, -1, -1])


def test_match_reco_missing_match_branch(events: ak.Array, muon_spec: CollectionSpec) -> None:
    events = ak.with_field(events, events.Muon[["pt", "eta", "phi"]], "Muon")
    with pytest.raises(InputError, match="no branch Muon_genPartIdx"):
        match_reco(events, muon_spec, select_source(events, muon_spec.source))


# -- condition features ------------------------------------------------------------------------


def test_field_event_flag_and_abs_features(events: ak.Array) -> None:
    source = select_source(events, MUON_SOURCE)
    table = feature_table(
        events,
        [
            feature("pt", field="pt"),
            feature("nTrueInt", event="Pileup_nTrueInt"),
            feature("isPrompt", flag=("statusFlags", 0)),
            feature("fromTau", flag=("statusFlags", 5)),
            feature("pdgId", field="pdgId"),
            feature("absPdgId", field="pdgId", abs=True),
        ],
        source,
        "GenPart",
    )
    assert table.dtype == np.float64
    expected = [
        [30.0, 21.0, 1.0, 1.0, 13.0, 13.0],
        [10.0, 21.0, 1.0, 0.0, -13.0, 13.0],
        [15.0, 48.0, 0.0, 0.0, -13.0, 13.0],
    ]
    np.testing.assert_array_equal(table, expected)


def test_above_turns_a_feature_into_a_region_indicator(events: ak.Array) -> None:
    source = select_source(events, MUON_SOURCE)
    pt = source.flat("pt")
    table = feature_table(
        events,
        [
            feature("hard", field="pt", above=12.0),
            feature("absPdgIdAbove", field="pdgId", abs=True, above=13.0),
        ],
        source,
        "GenPart",
    )
    np.testing.assert_array_equal(table[:, 0], (pt > 12.0).astype(float))
    np.testing.assert_array_equal(table[:, 1], 0.0)  # |pdgId| 13 is not above 13


def test_event_level_features(events: ak.Array) -> None:
    table = feature_table(
        events,
        [
            feature("genMET", event="GenMET_pt"),
            feature("nGenJet", feature="n_source", params={"collection": "GenJet"}),
            feature("genHT", feature="source_ht", params={}),
            feature("nGenPart", feature="n_source", params={"collection": "GenPart"}),
        ],
        None,
        "GenJet",
    )
    np.testing.assert_array_equal(
        table, [[10.0, 2.0, 150.0, 5.0], [20.0, 1.0, 40.0, 0.0], [30.0, 0.0, 0.0, 1.0]]
    )


def test_n_source_and_source_ht_per_object(events: ak.Array) -> None:
    source = select_source(events, MUON_SOURCE)
    table = feature_table(
        events,
        [
            feature("n", feature="n_source", params={}),
            feature("ht", feature="source_ht", params={}),
        ],
        source,
        "GenJet",
    )
    np.testing.assert_array_equal(table, [[2.0, 150.0], [2.0, 150.0], [0.0, 0.0]])


def test_feature_table_without_features(events: ak.Array) -> None:
    assert feature_table(events, [], None, "GenJet").shape == (3, 0)
    source = select_source(events, MUON_SOURCE)
    assert feature_table(events, [], source, "GenJet").shape == (3, 0)


def test_nearest_dr_to_another_collection(events: ak.Array) -> None:
    source = select_source(events, MUON_SOURCE)
    jet_dr = feature("jet_dr", feature="nearest_dr", params={"collection": "GenJet"})
    table = feature_table(events, [jet_dr], source, "GenPart")
    # muon (0, 0) -> jet (0, 0.1); anti-muon (1, 1) -> jet (0, 1.2); event 2 has no gen jet
    np.testing.assert_allclose(table[:, 0], [0.1, np.hypot(1.0, 0.2), 5.0], rtol=1e-12)


def test_nearest_dr_excludes_the_object_itself() -> None:
    jets = [
        [genjet(100.0, 0.0, 3.1), genjet(60.0, 0.0, -3.1), genjet(30.0, 2.0, 0.0)],
        [genjet(40.0, 1.0, 2.0)],
        [],
    ]
    events = ak.zip({"GenJet": jagged(jets, GENJET_FIELDS)}, depth_limit=1)
    source = select_source(events, SourceSpec("GenJet"))
    dr = feature_table(events, [feature("dr", feature="nearest_dr", params={})], source, "GenJet")
    gap = 2 * np.pi - 6.2  # across phi = ±π
    np.testing.assert_allclose(dr[:, 0], [gap, gap, np.hypot(2.0, 3.1), 5.0])


def test_nearest_dr_is_capped_at_five(events: ak.Array) -> None:
    far = ak.zip(
        {
            "GenJet": jagged([[genjet(10.0, -4.0, 0.0), genjet(20.0, 4.0, 0.0)]], GENJET_FIELDS),
        },
        depth_limit=1,
    )
    source = select_source(far, SourceSpec("GenJet"))
    dr = feature_table(far, [feature("dr", feature="nearest_dr", params={})], source, "GenJet")
    np.testing.assert_array_equal(dr[:, 0], [5.0, 5.0])


def test_nearest_pt_ratio(events: ak.Array) -> None:
    source = select_source(events, MUON_SOURCE)
    table = feature_table(
        events,
        [feature("ptrel", feature="nearest_pt_ratio", params={"collection": "GenJet"})],
        source,
        "GenPart",
    )
    # nearest jet pT / muon pT; 0 when the event has no gen jet
    np.testing.assert_allclose(table[:, 0], [100.0 / 30.0, 50.0 / 10.0, 0.0])


def test_nearest_pt_ratio_within_the_own_collection(events: ak.Array) -> None:
    source = select_source(events, SourceSpec("GenJet"))
    table = feature_table(
        events, [feature("r", feature="nearest_pt_ratio", params={})], source, "GenJet"
    )
    np.testing.assert_allclose(table[:2, 0], [0.5, 2.0])  # the other jet, never itself


def test_nearest_pt_ratio_alone_in_the_own_collection(events: ak.Array) -> None:
    source = select_source(events, SourceSpec("GenJet"))
    table = feature_table(
        events, [feature("r", feature="nearest_pt_ratio", params={})], source, "GenJet"
    )
    assert table[2, 0] == 0.0  # event 1: one gen jet, no neighbour


def test_cone_sum(events: ak.Array) -> None:
    source = select_source(events, SourceSpec("GenJet"))
    features = [
        feature("lep", feature="cone_sum", params={"pdgId": [11, 13], "radius": 0.4}),
        feature("mu_narrow", feature="cone_sum", params={"pdgId": [13], "radius": 0.15}),
        feature("wide", feature="cone_sum", params={"pdgId": [13], "radius": 1.1}),
    ]
    table = feature_table(events, features, source, "GenJet")
    # jet (0, 0.1, pT 100): muon 30 at dR 0.1 and electron 5 at dR 0.2; the photon is no lepton
    # and the status-62 muon at dR 0.1 is not final state. Jet (0, 1.2, pT 50): the anti-muon is
    # at dR 1.02. Event 1 has no particles.
    np.testing.assert_allclose(
        table, [[0.35, 0.30, 0.30], [0.0, 0.0, 10.0 / 50.0], [0.0, 0.0, 0.0]]
    )


def test_missing_event_branch_and_field(events: ak.Array) -> None:
    source = select_source(events, MUON_SOURCE)
    with pytest.raises(InputError, match=r"no branch 'Rho_fixedGridRhoAll'.*'rho'"):
        feature_table(events, [feature("rho", event="Rho_fixedGridRhoAll")], source, "GenPart")
    with pytest.raises(InputError, match="no field 'vertexZ', needed by 'vz'"):
        feature_table(events, [feature("vz", field="vertexZ")], source, "GenPart")
    with pytest.raises(InputError, match="fields and flags need a source collection"):
        feature_table(events, [feature("pt", field="pt")], None, "GenJet")
    with pytest.raises(InputError, match="no collection 'FatJet'"):
        feature_table(
            events, [feature("n", feature="n_source", params={"collection": "FatJet"})], None, "X"
        )


# -- targets -----------------------------------------------------------------------------------


KINEMATIC_TARGETS = [
    Target("pt", "ratio", ()),
    Target("eta", "diff", ()),
    Target("phi", "dphi", ()),
    Target("mass", "value", ()),
]


def test_encode_relative_targets() -> None:
    gen = {"pt": np.array([50.0, 20.0]), "eta": np.array([1.0, -2.0]), "phi": np.array([3.1, 0.5])}
    reco = {
        "pt": np.array([45.0, 22.0]),
        "eta": np.array([1.1, -2.2]),
        "phi": np.array([-3.1, 0.4]),
        "mass": np.array([7.0, 3.0]),
    }
    encoded = encode_targets(KINEMATIC_TARGETS, reco, gen)
    assert encoded.shape == (2, 4)
    assert encoded.dtype == np.float64
    np.testing.assert_allclose(encoded[:, 0], [0.9, 1.1])
    np.testing.assert_allclose(encoded[:, 1], [0.1, -0.2], atol=1e-12)
    np.testing.assert_allclose(encoded[:, 2], [2 * np.pi - 6.2, -0.1], atol=1e-12)  # wrapped
    np.testing.assert_array_equal(encoded[:, 3], [7.0, 3.0])


def test_encode_decode_are_inverses(rng: np.random.Generator) -> None:
    n = 500
    gen = {
        "pt": rng.exponential(40.0, n) + 5.0,
        "eta": rng.uniform(-2.5, 2.5, n),
        "phi": rng.uniform(-np.pi, np.pi, n),
    }
    reco = {
        "pt": gen["pt"] * rng.normal(1.0, 0.2, n),
        "eta": gen["eta"] + rng.normal(0.0, 0.05, n),
        # near ±π the difference wraps
        "phi": wrap_phi(gen["phi"] + rng.normal(0.0, 0.3, n)),
        "mass": rng.uniform(0.0, 30.0, n),
    }
    assert np.any(np.abs(reco["phi"] - gen["phi"]) > np.pi)
    encoded = encode_targets(KINEMATIC_TARGETS, reco, gen)
    assert np.all(np.abs(encoded[:, 2]) <= np.pi)
    decoded = decode_targets(KINEMATIC_TARGETS, encoded, gen, np.random.default_rng(0))
    assert set(decoded) == {"pt", "eta", "phi", "mass"}
    for name, value in decoded.items():
        assert value.dtype == np.float32
        np.testing.assert_allclose(value, reco[name], rtol=1e-6, atol=1e-5, err_msg=name)


def test_met_encode_decode(rng: np.random.Generator) -> None:
    targets = [
        Target("MET_upar", "met_parallel", ()),
        Target("MET_uperp", "met_perpendicular", ()),
        Target("rho", "value", ()),
    ]
    gen = {"GenMET_pt": np.array([10.0, 30.0]), "GenMET_phi": np.array([0.0, 3.0])}
    reco = {
        "MET_pt": np.array([12.0, 30.0]),
        "MET_phi": np.array([0.0, -3.0]),
        "rho": np.array([20.0, 25.0]),
    }
    encoded = encode_targets(targets, reco, gen)
    angle = -6.0 + 2 * np.pi  # reco - gen phi, wrapped
    np.testing.assert_allclose(
        encoded,
        [[2.0, 0.0, 20.0], [30.0 * np.cos(angle) - 30.0, 30.0 * np.sin(angle), 25.0]],
        atol=1e-12,
    )
    decoded = decode_targets(targets, encoded, gen, rng)
    assert set(decoded) == {"MET_pt", "MET_phi", "rho"}
    np.testing.assert_allclose(decoded["MET_pt"], reco["MET_pt"], rtol=1e-6)
    np.testing.assert_allclose(decoded["MET_phi"], reco["MET_phi"], atol=1e-6)
    np.testing.assert_allclose(decoded["rho"], reco["rho"])


def test_met_encode_decode_random(rng: np.random.Generator) -> None:
    targets = [Target("u1", "met_parallel", ()), Target("u2", "met_perpendicular", ())]
    n = 300
    gen = {"GenMET_pt": rng.exponential(20.0, n), "GenMET_phi": rng.uniform(-np.pi, np.pi, n)}
    reco = {"MET_pt": rng.exponential(25.0, n) + 0.1, "MET_phi": rng.uniform(-np.pi, np.pi, n)}
    decoded = decode_targets(targets, encode_targets(targets, reco, gen), gen, rng)
    np.testing.assert_allclose(decoded["MET_pt"], reco["MET_pt"], rtol=1e-5)
    dphi = wrap_phi(decoded["MET_phi"].astype(np.float64) - reco["MET_phi"])
    np.testing.assert_allclose(dphi, 0.0, atol=1e-5)


def test_decode_ranges_and_dtypes() -> None:
    targets = [
        Target("iso", "value", (), range=(0.0, None)),
        Target("btag", "value", (), range=(0, 1)),
        Target("nConst", "value", (), range=(1, 255), dtype="uint8"),
        Target("npv", "value", (), range=(1, None), dtype="int32"),
        Target("charge", "value", (), dtype="int16"),
        Target("flag", "value", (), dtype="bool"),
    ]
    sampled = np.array(
        [
            [-0.5, -0.1, 0.2, -3.0, -1.4, 0.2],
            [0.3, 0.5, 3.6, 7.4, 0.6, 0.7],
            [2.0, 1.3, 300.0, 2.6, 40000.0, 1.0],
        ]
    )
    out = decode_targets(targets, sampled, {}, np.random.default_rng(0))
    np.testing.assert_allclose(out["iso"], [0.0, 0.3, 2.0])
    np.testing.assert_allclose(out["btag"], [0.0, 0.5, 1.0])
    assert out["nConst"].dtype == np.uint8
    np.testing.assert_array_equal(out["nConst"], [1, 4, 255])
    assert out["npv"].dtype == np.int32
    np.testing.assert_array_equal(out["npv"], [1, 7, 3])
    assert out["charge"].dtype == np.int16
    np.testing.assert_array_equal(out["charge"], [-1, 1, np.iinfo(np.int16).max])
    assert out["flag"].dtype == np.bool_
    np.testing.assert_array_equal(out["flag"], [False, True, True])


def test_decode_relative_target_then_clips() -> None:
    targets = [Target("pt", "ratio", (), range=(20.0, None))]
    out = decode_targets(targets, np.array([[0.5], [1.5]]), {"pt": np.array([30.0, 30.0])}, None)
    np.testing.assert_allclose(out["pt"], [20.0, 45.0])


def test_uniform_phi_is_drawn_from_the_generator() -> None:
    targets = [Target("pt", "value", ()), Target("phi", "uniform_phi", ())]
    assert [t.name for t in model_targets(targets)] == ["pt"]
    sampled = np.full((1000, 1), 30.0)
    first = decode_targets(targets, sampled, {}, np.random.default_rng(4))
    again = decode_targets(targets, sampled, {}, np.random.default_rng(4))
    other = decode_targets(targets, sampled, {}, np.random.default_rng(5))
    np.testing.assert_array_equal(first["phi"], again["phi"])
    assert not np.array_equal(first["phi"], other["phi"])
    assert first["phi"].min() >= -np.pi
    assert first["phi"].max() < np.pi
    assert abs(first["phi"].mean()) < 0.2
    np.testing.assert_array_equal(first["pt"], 30.0)


def test_normalise_sum() -> None:
    fields = {
        "a": np.array([0.2, 0.0, -0.1, 1.0]),
        "b": np.array([0.6, 0.0, 0.5, 1.0]),
        "c": np.array([0.2, 0.0, 0.5, 2.0]),
        "other": np.array([5.0, 5.0, 5.0, 5.0]),
    }
    normalise_sum(fields, ["a", "b", "c"])
    total = fields["a"] + fields["b"] + fields["c"]
    np.testing.assert_allclose(total, 1.0, rtol=1e-6)
    assert fields["a"].dtype == np.float32
    np.testing.assert_allclose(fields["a"], [0.2, 1 / 3, 0.0, 0.25], rtol=1e-6)  # negative -> 0
    np.testing.assert_allclose(fields["c"], [0.2, 1 / 3, 0.5, 0.5], rtol=1e-6)
    np.testing.assert_array_equal(fields["other"], 5.0)  # untouched
    before = {k: v.copy() for k, v in fields.items()}
    normalise_sum(fields, [])
    assert all(np.array_equal(before[k], fields[k]) for k in fields)


# -- training tables ---------------------------------------------------------------------------


def test_collection_table(events: ak.Array, muon_spec: CollectionSpec) -> None:
    table = collection_table(events, muon_spec, event_offset=100)
    assert table.conditions.shape == (3, len(muon_spec.conditions))
    np.testing.assert_array_equal(table.conditions[:, 0], [30.0, 10.0, 15.0])  # gen pt
    np.testing.assert_array_equal(table.event, [100, 100, 102])
    # tightId 1 -> class index 1 -> label 2; tightId 0 -> label 1
    np.testing.assert_array_equal(table.label, [2, 1, 2])
    assert table.targets.shape == (3, len(muon_spec.targets))
    names = [t.name for t in muon_spec.targets]
    np.testing.assert_allclose(table.targets[:, names.index("pt")], [29 / 30, 11 / 10, 14 / 15])
    np.testing.assert_allclose(
        table.targets[:, names.index("eta")], [0.01, 0.02, -0.01], atol=1e-12
    )
    dphi = [0.02, -0.02, 2 * np.pi - 6.1]  # event 2 wraps across ±π
    np.testing.assert_allclose(table.targets[:, names.index("phi")], dphi, atol=1e-12)
    np.testing.assert_array_equal(table.targets[:, names.index("nStations")], 3.0)


def test_collection_table_unmatched_label_zero(muon_spec: CollectionSpec) -> None:
    muons = [[muon(29.0, 0.0, 0.0, 0, tight=0)], [], []]
    table = collection_table(make_events(muons), muon_spec)
    np.testing.assert_array_equal(table.label, [1, 0, 0])
    assert table.targets.shape == (1, len(muon_spec.targets))


def test_collection_table_binary_efficiency(events: ak.Array) -> None:
    data = copy.deepcopy(_CMS_LIKE_DATA)
    del data["collections"]["Muon"]["efficiency"]["classes"]
    spec = parse_spec(data).collections["Muon"]
    table = collection_table(events, spec)
    np.testing.assert_array_equal(table.label, [1, 1, 1])


def test_collection_table_unlisted_class_value(muon_spec: CollectionSpec) -> None:
    muons = [[muon(29.0, 0.0, 0.0, 0, tight=2), muon(9.0, 1.0, 1.0, 2, tight=1)], [], []]
    with pytest.raises(InputError) as info:
        collection_table(make_events(muons), muon_spec)
    message = str(info.value)
    assert "Muon_tightId takes values [2]" in message
    assert "efficiency.classes.values [0, 1]" in message


def test_collection_table_unsorted_class_values(events: ak.Array) -> None:
    data = copy.deepcopy(_CMS_LIKE_DATA)
    data["collections"]["Muon"]["efficiency"]["classes"]["values"] = [1, 0]
    spec = parse_spec(data).collections["Muon"]
    table = collection_table(events, spec)
    # outcome k means class_values[k - 1] (see pipeline.CollectionModel.apply)
    np.testing.assert_array_equal(table.label, [1, 2, 1])


def jet_spec_with_fakes() -> CollectionSpec:
    flow = {"model": "flow", "flow": {"transforms": 1, "hidden": [8]}}
    data = {
        "version": 1,
        "name": "jets",
        "collections": {
            "Jet": {
                "source": {"collection": "GenJet"},
                "target": {"collection": "Jet", "match": "genJetIdx"},
                "conditions": [{"name": "pt", "field": "pt", "transform": ["standardize"]}],
                "targets": [{"name": "pt", "kind": "ratio", "transform": ["standardize"]}],
                "efficiency": {"n_estimators": 2},
                "response": flow,
                "fakes": {
                    "conditions": [
                        {"name": "nTrueInt", "event": "Pileup_nTrueInt", "transform": []},
                        {"name": "n", "feature": "n_source", "transform": []},
                        {"name": "ht", "feature": "source_ht", "transform": []},
                    ],
                    "targets": [
                        {"name": "pt", "kind": "value", "transform": []},
                        {"name": "eta", "kind": "value", "transform": []},
                        {"name": "phi", "kind": "uniform_phi"},
                    ],
                    "max_count": 3,
                    "multiplicity": {"n_estimators": 2},
                    "response": flow,
                },
            }
        },
    }
    return parse_spec(data).collections["Jet"]


def test_fakes_table(events: ak.Array) -> None:
    jets = [
        [
            {"pt": 80.0, "eta": 0.1, "phi": 0.1, "genJetIdx": 0},
            {"pt": 20.0, "eta": -3.0, "phi": 1.0, "genJetIdx": -1},
            {"pt": 17.0, "eta": 2.0, "phi": 2.0, "genJetIdx": -1},
        ],
        [{"pt": 30.0, "eta": 1.0, "phi": 2.0, "genJetIdx": 0}],
        [{"pt": 16.0, "eta": 0.5, "phi": -1.0, "genJetIdx": -1}],
    ]
    events = ak.with_field(events, jagged(jets, ["pt", "eta", "phi", "genJetIdx"]), "Jet")
    table = fakes_table(events, jet_spec_with_fakes(), event_offset=10)
    np.testing.assert_array_equal(table.count, [2, 0, 1])
    np.testing.assert_array_equal(table.event, [10, 11, 12])
    np.testing.assert_array_equal(
        table.conditions, [[21.0, 2.0, 150.0], [35.0, 1.0, 40.0], [48.0, 0.0, 0.0]]
    )
    # one row per fake jet, uniform_phi not modelled
    np.testing.assert_array_equal(table.targets, [[20.0, -3.0], [17.0, 2.0], [16.0, 0.5]])


def test_event_table(events: ak.Array) -> None:
    targets = [
        Target("MET_upar", "met_parallel", ()),
        Target("MET_uperp", "met_perpendicular", ()),
        Target("MET_pt", "value", ()),
    ]
    table = event_table(
        events, [feature("nTrueInt", event="Pileup_nTrueInt")], targets, "GenJet", event_offset=7
    )
    np.testing.assert_array_equal(table.event, [7, 8, 9])
    np.testing.assert_array_equal(table.conditions[:, 0], [21.0, 35.0, 48.0])
    np.testing.assert_allclose(table.targets[0, :2], [12.0 * np.cos(0.1) - 10.0, 12 * np.sin(0.1)])
    np.testing.assert_array_equal(table.targets[:, 2], [12.0, 18.0, 33.0])


def test_cms_like_conditions_vary_on_refsim(ttbar_file) -> None:
    """Every condition of the shipped spec carries information on reference events: a flag
    bit that refsim never sets (``fromTau`` once read bit 5, which refsim leaves at 0) is a
    constant the model cannot use."""
    import uproot

    from flashsim.features import feature_table, select_source
    from flashsim.io import zip_collections
    from flashsim.spec import load_spec

    spec = load_spec(Path(__file__).resolve().parents[1] / "pipelines" / "cms_like.yaml")
    with uproot.open(ttbar_file) as f:
        events = zip_collections(f["Events"].arrays())
    for coll in spec.collections.values():
        source = select_source(events, coll.source)
        table = feature_table(events, coll.conditions, source, coll.source.collection)
        for j, condition in enumerate(coll.conditions):
            values = np.unique(table[:, j][np.isfinite(table[:, j])])
            assert len(values) >= 2, f"{coll.name} condition {condition.name} is constant"

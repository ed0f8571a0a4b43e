"""flashsim.spec: parsing pipelines/cms_like.yaml, and one clear SpecError per problem."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from flashsim.exceptions import SpecError
from flashsim.spec import (
    SPEC_VERSION,
    CollectionSpec,
    PipelineSpec,
    load_spec,
    parse_spec,
)

CMS_LIKE = Path(__file__).resolve().parents[1] / "pipelines" / "cms_like.yaml"
_CMS_LIKE_DATA = yaml.safe_load(CMS_LIKE.read_text())


@pytest.fixture(scope="module")
def cms_like() -> PipelineSpec:
    return load_spec(CMS_LIKE)


@pytest.fixture
def raw() -> dict[str, Any]:
    """The CMS-like spec as plain YAML data, a fresh copy for every test to modify."""
    return copy.deepcopy(_CMS_LIKE_DATA)


def write_spec(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def spec_error(tmp_path: Path, data: Any) -> str:
    """Load ``data`` from a YAML file; return the message of the one SpecError it must raise."""
    path = write_spec(tmp_path, data)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message, message
    return message


def jet(data: dict[str, Any]) -> dict[str, Any]:
    return data["collections"]["Jet"]


# -- the real spec -----------------------------------------------------------------------------


def test_cms_like_collections(cms_like: PipelineSpec) -> None:
    assert cms_like.version == SPEC_VERSION == 1
    assert cms_like.name == "cms_like"
    assert cms_like.seed == 20251125
    assert cms_like.validation_fraction == pytest.approx(0.2)
    assert cms_like.origin == str(CMS_LIKE)
    assert list(cms_like.collections) == ["Jet", "FatJet", "Muon", "Electron", "Photon"]
    assert all(isinstance(c, CollectionSpec) for c in cms_like.collections.values())
    assert "Generator_*" in cms_like.passthrough
    # the YAML content is kept, to be saved with trained models
    assert cms_like.raw["collections"]["Jet"]["target"] == {
        "collection": "Jet",
        "match": "genJetIdx",
    }


def test_cms_like_jet(cms_like: PipelineSpec) -> None:
    j = cms_like.collections["Jet"]
    assert j.source.collection == "GenJet"
    assert j.source.pdg_id is None
    assert j.match == "genJetIdx"
    by_name = {c.name: c for c in j.conditions}
    assert [c.name for c in j.conditions][:2] == ["pt", "eta"]
    assert j.conditions[0].field == "pt"
    assert j.conditions[0].transform == ("log", "standardize")
    assert by_name["partonFlavour"].abs is True
    assert by_name["beyond_tracker"].abs is True
    assert by_name["beyond_tracker"].above == 2.5
    lepton = by_name["lepton_frac"]
    assert lepton.feature == "cone_sum"
    assert dict(lepton.params) == {"pdgId": [11, 13], "radius": 0.4}
    assert by_name["nTrueInt"].event == "Pileup_nTrueInt"
    pt = j.targets[0]
    assert (pt.name, pt.kind) == ("pt", "ratio")
    assert pt.select_min == _CMS_LIKE_DATA["collections"]["Jet"]["targets"][0]["select_min"]
    # nConstituents and jetId are derived from the sampled fields, never sampled themselves
    names = {t.name for t in j.targets}
    assert {"chMultiplicity", "neMultiplicity"} <= names
    assert not {"nConstituents", "jetId", "hadronFlavour", "btagDeepFlavCvB"} & names
    assert j.derived == ("nConstituents", "jetId", "btagDeepFlavCvB")
    assert [(c.name, c.field) for c in j.copy] == [
        ("hadronFlavour", "hadronFlavour"),
        ("partonFlavour", "partonFlavour"),
    ]
    btag = next(t for t in j.targets if t.name == "btagDeepFlavB")
    assert 0.042087726 in btag.point_masses
    assert j.sum_to_one == ("chHEF", "neHEF", "chEmEF", "neEmEF", "muEF")
    assert j.efficiency.class_field is None
    assert j.efficiency.n_classes == 2
    yaml_jet = _CMS_LIKE_DATA["collections"]["Jet"]
    assert dict(j.efficiency.params) == yaml_jet["efficiency"]  # merged from the YAML anchor
    assert j.response.model == "flow"
    assert dict(j.response.config) == yaml_jet["response"]["flow"]
    assert dict(j.response.training) == yaml_jet["response"]["training"]
    assert j.fakes is not None
    assert j.fakes.max_count == 8
    assert [c.name for c in j.fakes.conditions] == ["nTrueInt", "nGenJet", "genHT"]
    assert j.fakes.targets[2].kind == "uniform_phi"
    assert dict(j.fakes.response.config) == yaml_jet["fakes"]["response"]["flow"]
    assert dict(j.fakes.multiplicity) == yaml_jet["fakes"]["multiplicity"]


def test_cms_like_leptons(cms_like: PipelineSpec) -> None:
    mu = cms_like.collections["Muon"]
    assert mu.source.collection == "GenPart"
    assert mu.source.pdg_id == (13,)
    assert mu.source.status == (1,)
    assert mu.match == "genPartIdx"
    assert mu.efficiency.class_field == "tightId"
    assert mu.efficiency.class_values == (0, 1)
    assert mu.efficiency.n_classes == 3
    assert "classes" not in mu.efficiency.params
    assert "max_depth" in mu.efficiency.params  # merged from the YAML anchor
    assert mu.charge_from_pdg_id is True
    # flash writes exactly what the reference simulation writes (a different constant is a tell)
    from flashsim.refsim.reco_objects import MUON_MASS

    assert np.float32(mu.constants["mass"]) == np.float32(MUON_MASS)
    by_name = {c.name: c for c in mu.conditions}
    assert by_name["isPrompt"].flag == ("statusFlags", 0)
    # NanoAOD statusFlags bit 2 = isTauDecayProduct (the bit refsim sets; bit 5 is the
    # direct-prompt one, which refsim never sets)
    assert by_name["fromTau"].flag == ("statusFlags", 2)
    assert by_name["jet_dr"].feature == "nearest_dr"
    assert dict(by_name["jet_dr"].params) == {"collection": "GenJet"}
    # muons without a gen muon (decays in flight): their charge and ID sampled as categories
    assert mu.fakes is not None
    fake = {t.name: t for t in mu.fakes.targets}
    assert fake["charge"].categories == (-1.0, 1.0)
    assert fake["tightId"].dtype == "bool"
    assert fake["eta"].select_max_abs == 2.4
    el = cms_like.collections["Electron"]
    assert el.source.pdg_id == (11,)
    assert el.efficiency.class_values == (0, 1, 2, 3, 4)
    assert el.efficiency.n_classes == 6


def test_cms_like_event(cms_like: PipelineSpec) -> None:
    assert cms_like.event is not None
    kinds = {t.name: t.kind for t in cms_like.event.targets}
    assert kinds["MET_upar"] == "met_parallel"
    assert kinds["MET_uperp"] == "met_perpendicular"
    assert kinds["PV_npvs"] == "value"
    assert cms_like.event.targets[3].dtype == "int32"
    assert cms_like.event.conditions[1].feature == "source_ht"


def test_parse_spec_equals_load_spec(raw: dict[str, Any], cms_like: PipelineSpec) -> None:
    parsed = parse_spec(raw, origin="somewhere.yaml")
    assert parsed.origin == "somewhere.yaml"
    assert parsed.collections == cms_like.collections
    assert parsed.event == cms_like.event


def test_optional_keys_take_defaults(raw: dict[str, Any]) -> None:
    data = raw
    for key in ("description", "seed", "validation_fraction", "passthrough", "defaults", "event"):
        data.pop(key)
    del data["collections"]["Muon"], data["collections"]["Electron"]
    del data["collections"]["FatJet"], data["collections"]["Photon"]
    spec = parse_spec(data)
    assert spec.seed == 0
    assert spec.validation_fraction == pytest.approx(0.2)
    assert spec.passthrough == ()
    assert spec.event is None
    assert spec.description == ""
    assert list(spec.collections) == ["Jet"]


def test_spec_objects_do_not_share_the_input(raw: dict[str, Any]) -> None:
    spec = parse_spec(raw)
    jet(raw)["conditions"][0]["transform"].append("standardize")
    raw["name"] = "changed"
    assert spec.collections["Jet"].conditions[0].transform == ("log", "standardize")
    assert spec.raw["name"] == "cms_like"


# -- errors ------------------------------------------------------------------------------------


def test_unknown_top_level_key(tmp_path: Path, raw: dict[str, Any]) -> None:
    raw["colections"] = raw.pop("collections")
    message = spec_error(tmp_path, raw)
    assert "top level.colections: unknown key" in message
    assert "did you mean 'collections'?" in message


def test_unknown_key_in_a_target(tmp_path: Path, raw: dict[str, Any]) -> None:
    jet(raw)["targets"][2]["kinds"] = "dphi"
    message = spec_error(tmp_path, raw)
    assert "collections.Jet.targets[2].kinds: unknown key" in message
    assert "did you mean 'kind'?" in message


@pytest.mark.parametrize(
    ("where", "value", "expected"),
    [
        ("seed", "abc", "seed: expected an integer, got 'abc'"),
        ("seed", 1.5, "seed: expected an integer, got 1.5"),
        ("version", "1", "version: expected an integer, got '1'"),
        ("version", True, "version: expected an integer, got a boolean"),
        ("name", 5, "name: expected a string, got 5"),
        ("validation_fraction", 1.5, "validation_fraction: must lie in (0, 1), got 1.5"),
        ("passthrough", "run", "passthrough: expected a list of branch names"),
        ("collections", {}, "collections: expected a non-empty mapping"),
    ],
)
def test_wrong_top_level_type(
    tmp_path: Path, raw: dict[str, Any], where: str, value: Any, expected: str
) -> None:
    raw[where] = value
    assert expected in spec_error(tmp_path, raw)


@pytest.mark.parametrize(
    ("modify", "expected"),
    [
        (
            lambda d: jet(d)["source"].__setitem__("pdgId", [1.5]),
            "collections.Jet.source.pdgId[0]: expected an integer in [-2147483648, 2147483647], "
            "got 1.5",
        ),
        (
            lambda d: jet(d)["targets"][0].__setitem__("range", [0, "x"]),
            "collections.Jet.targets[0].range[1]: expected a finite number or null, got 'x'",
        ),
        (
            lambda d: jet(d)["targets"][0].__setitem__("range", [0]),
            "collections.Jet.targets[0].range: expected [low, high]",
        ),
        (
            lambda d: jet(d)["targets"][0].__setitem__("select_min", "15"),
            "collections.Jet.targets[0].select_min: expected a finite number, got '15'",
        ),
        (
            lambda d: jet(d)["targets"][0].__setitem__("dtype", "int64"),
            "collections.Jet.targets[0].dtype: unknown value 'int64'",
        ),
        (
            lambda d: jet(d)["fakes"].__setitem__("max_count", True),
            "collections.Jet.fakes.max_count: expected an integer in [1, 100], got a boolean",
        ),
        (
            lambda d: jet(d)["fakes"].__setitem__("max_count", 0),
            "collections.Jet.fakes.max_count: expected an integer in [1, 100], got 0",
        ),
        (
            lambda d: jet(d).__setitem__("constants", {"mass": "heavy"}),
            "collections.Jet.constants.mass: expected a finite number, got 'heavy'",
        ),
        (
            lambda d: jet(d)["conditions"].__setitem__(0, "pt"),
            "collections.Jet.conditions[0]: expected a mapping, got str",
        ),
        (
            lambda d: jet(d)["conditions"][0].__setitem__("event", "Pileup_nPU"),
            "collections.Jet.conditions[0]: give exactly one of field, event, flag, feature",
        ),
        (
            lambda d: jet(d)["conditions"][0].__setitem__("transform", "log"),
            "collections.Jet.conditions[0].transform: expected a list of transforms",
        ),
        (
            lambda d: jet(d)["target"].__setitem__("collection", "Jets"),
            "collections.Jet.target.collection: must equal the key 'Jet'",
        ),
        (
            lambda d: d["collections"].__setitem__("Gen_Jet", d["collections"].pop("Jet")),
            "collections.Gen_Jet: a collection name is an identifier without '_'",
        ),
        (
            lambda d: jet(d).__setitem__("efficiency", [1, 2]),
            "collections.Jet.efficiency: expected a mapping of xgboost parameters",
        ),
        (
            lambda d: d["collections"]["Muon"]["efficiency"]["classes"].__setitem__("values", []),
            "collections.Muon.efficiency.classes.values: expected a non-empty list of integers",
        ),
        (
            lambda d: jet(d)["response"].__setitem__("model", "vae"),
            "collections.Jet.response.model: unknown value 'vae'",
        ),
    ],
    ids=[
        "pdgId",
        "range-bound",
        "range-length",
        "select_min",
        "dtype",
        "max_count-bool",
        "max_count-zero",
        "constants",
        "condition-not-mapping",
        "two-sources",
        "chain-not-list",
        "target-collection",
        "underscore",
        "efficiency-list",
        "empty-classes",
        "model",
    ],
)
def test_wrong_nested_value(
    tmp_path: Path, raw: dict[str, Any], modify: Callable[[dict], Any], expected: str
) -> None:
    modify(raw)
    assert expected in spec_error(tmp_path, raw)


def test_wrong_version_says_which_is_supported(tmp_path: Path, raw: dict[str, Any]) -> None:
    raw["version"] = 2
    message = spec_error(tmp_path, raw)
    assert "version: spec version 2 is not supported" in message
    assert f"reads version {SPEC_VERSION}" in message


def test_bad_transform_in_a_chain(tmp_path: Path, raw: dict[str, Any]) -> None:
    jet(raw)["conditions"][0]["transform"] = ["log", "standardise"]
    message = spec_error(tmp_path, raw)
    assert "collections.Jet.conditions[0].transform:" in message
    assert "'standardise'" in message
    assert "did you mean 'standardize'?" in message


def test_bad_transform_parameter(tmp_path: Path, raw: dict[str, Any]) -> None:
    jet(raw)["targets"][3]["transform"] = [{"log": {"ofset": 1.0}}, "standardize"]
    message = spec_error(tmp_path, raw)
    assert "collections.Jet.targets[3].transform:" in message
    assert "did you mean 'offset'?" in message


def test_unknown_target_kind(tmp_path: Path, raw: dict[str, Any]) -> None:
    raw["event"]["targets"][0]["kind"] = "met_paralel"
    message = spec_error(tmp_path, raw)
    assert "event.targets[0].kind: unknown value 'met_paralel'" in message
    assert "did you mean 'met_parallel'?" in message


def test_target_needs_a_transform_unless_uniform_phi(tmp_path: Path, raw: dict[str, Any]) -> None:
    del jet(raw)["fakes"]["targets"][1]["transform"]
    message = spec_error(tmp_path, raw)
    assert "collections.Jet.fakes.targets[1]: missing required key 'transform'" in message


def test_unknown_feature_kind(tmp_path: Path, raw: dict[str, Any]) -> None:
    raw["collections"]["Muon"]["conditions"][5]["feature"] = {"nearest_drr": {"collection": "X"}}
    message = spec_error(tmp_path, raw)
    assert "collections.Muon.conditions[5].feature: unknown value 'nearest_drr'" in message
    assert "did you mean 'nearest_dr'?" in message


def test_unknown_feature_parameter(tmp_path: Path, raw: dict[str, Any]) -> None:
    jet(raw)["conditions"][9]["feature"]["cone_sum"]["radiu"] = 0.3
    message = spec_error(tmp_path, raw)
    assert "collections.Jet.conditions[9].feature.cone_sum.radiu: unknown parameter" in message
    assert "allowed: pdgId, radius" in message


def test_bad_flow_key(tmp_path: Path, raw: dict[str, Any]) -> None:
    jet(raw)["response"]["flow"] = {"transforms": 2, "bin": 8}
    message = spec_error(tmp_path, raw)
    assert "collections.Jet.response:" in message
    assert "unknown key 'bin'" in message
    assert "did you mean 'bins'?" in message


def test_bad_flow_value(tmp_path: Path, raw: dict[str, Any]) -> None:
    jet(raw)["fakes"]["response"]["flow"]["hidden"] = []
    message = spec_error(tmp_path, raw)
    assert "collections.Jet.fakes.response: flow.hidden: expected a non-empty list" in message


def test_bad_training_key(tmp_path: Path, raw: dict[str, Any]) -> None:
    raw["event"]["response"]["training"] = {"epoch": 3}
    message = spec_error(tmp_path, raw)
    assert "event.response: training: unknown key 'epoch'" in message
    assert "did you mean 'epochs'?" in message


def test_bad_training_value(tmp_path: Path, raw: dict[str, Any]) -> None:
    jet(raw)["response"]["training"] = {"epochs": 0}
    message = spec_error(tmp_path, raw)
    assert "collections.Jet.response: training.epochs: expected an integer >= 1" in message


def test_sum_to_one_names_a_non_target(tmp_path: Path, raw: dict[str, Any]) -> None:
    jet(raw)["sum_to_one"] = ["chHEF", "hfEF"]
    message = spec_error(tmp_path, raw)
    assert "collections.Jet.sum_to_one: 'hfEF' is not a target" in message


def test_duplicate_condition_names(tmp_path: Path, raw: dict[str, Any]) -> None:
    raw["collections"]["Electron"]["conditions"][1]["name"] = "pt"
    message = spec_error(tmp_path, raw)
    assert "collections.Electron.conditions: name 'pt' appears more than once" in message


def test_duplicate_target_names(tmp_path: Path, raw: dict[str, Any]) -> None:
    raw["event"]["targets"][3]["name"] = "MET_upar"
    message = spec_error(tmp_path, raw)
    assert "event.targets: name 'MET_upar' appears more than once" in message


@pytest.mark.parametrize(
    ("remove", "expected"),
    [
        (lambda d: d.pop("name"), "top level: missing required key 'name'"),
        (
            lambda d: jet(d)["source"].pop("collection"),
            "collections.Jet.source: missing required key 'collection'",
        ),
        (
            lambda d: d["collections"]["Muon"].pop("response"),
            "collections.Muon: missing required key 'response'",
        ),
        (
            lambda d: jet(d)["fakes"].pop("max_count"),
            "collections.Jet.fakes: missing required key 'max_count'",
        ),
        (lambda d: d["event"].pop("targets"), "event: missing required key 'targets'"),
    ],
    ids=["name", "source.collection", "response", "max_count", "event.targets"],
)
def test_missing_required_key(
    tmp_path: Path, raw: dict[str, Any], remove: Callable[[dict], Any], expected: str
) -> None:
    remove(raw)
    assert expected in spec_error(tmp_path, raw)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(SpecError, match="cannot read pipeline spec") as info:
        load_spec(path)
    assert str(path) in str(info.value)
    assert "No such file" in str(info.value)


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nname: [unclosed\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value).startswith(f"{path}: not valid YAML")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    with pytest.raises(
        SpecError, match=r"empty\.yaml: the spec is empty; it is a mapping with version"
    ):
        load_spec(path)


def test_parse_spec_names_its_origin(raw: dict[str, Any]) -> None:
    raw["seed"] = "abc"
    with pytest.raises(SpecError, match=r"^model\.json \(spec\): seed: expected an integer"):
        parse_spec(raw, origin="model.json (spec)")


# -- bugs --------------------------------------------------------------------------------------


def test_invalid_yaml_message_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nname: [unclosed\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert "\n" not in str(info.value)


def test_feature_parameters_not_a_mapping(tmp_path: Path, raw: dict[str, Any]) -> None:
    raw["collections"]["Muon"]["conditions"][5]["feature"] = {"nearest_dr": 5}
    assert "collections.Muon.conditions[5].feature" in spec_error(tmp_path, raw)


@pytest.mark.parametrize("value", [None, 5], ids=["null", "int"])
def test_sum_to_one_not_a_list(tmp_path: Path, raw: dict[str, Any], value: Any) -> None:
    jet(raw)["sum_to_one"] = value
    assert "collections.Jet.sum_to_one: expected a list" in spec_error(tmp_path, raw)


def test_sum_to_one_as_string(tmp_path: Path, raw: dict[str, Any]) -> None:
    jet(raw)["sum_to_one"] = "chHEF"
    message = spec_error(tmp_path, raw)
    assert "'c' is not a target" not in message
    assert "expected a list" in message


@pytest.mark.parametrize(
    "modify",
    [
        lambda d: jet(d)["conditions"][4].__setitem__("abs", "false"),
        lambda d: d["collections"]["Muon"].__setitem__("charge_from_pdgId", "no"),
    ],
    ids=["abs", "charge_from_pdgId"],
)
def test_boolean_options_must_be_booleans(
    tmp_path: Path, raw: dict[str, Any], modify: Callable[[dict], Any]
) -> None:
    modify(raw)
    assert "expected a boolean" in spec_error(tmp_path, raw)


def test_class_values_unique(tmp_path: Path, raw: dict[str, Any]) -> None:
    """Unsorted values are fine (outcome k is values[k-1]); repeated ones are ambiguous."""
    raw["collections"]["Muon"]["efficiency"]["classes"]["values"] = [0, 0]
    assert "collections.Muon.efficiency.classes.values" in spec_error(tmp_path, raw)


def test_met_kinds_come_in_pairs(tmp_path: Path, raw: dict[str, Any]) -> None:
    del raw["event"]["targets"][1]
    assert "event.targets" in spec_error(tmp_path, raw)


def test_negative_seed(tmp_path: Path, raw: dict[str, Any]) -> None:
    raw["seed"] = -1
    assert "seed:" in spec_error(tmp_path, raw)


def test_unknown_efficiency_key(tmp_path: Path, raw: dict[str, Any]) -> None:
    jet(raw)["efficiency"] = {"n_estimator": 5, "max_depth": 3}
    message = spec_error(tmp_path, raw)
    assert "collections.Jet.efficiency.n_estimator" in message
    assert "did you mean 'n_estimators'?" in message


def test_range_low_above_high(tmp_path: Path, raw: dict[str, Any]) -> None:
    jet(raw)["targets"][4]["range"] = [1, 0]
    assert "collections.Jet.targets[4].range" in spec_error(tmp_path, raw)


@pytest.mark.parametrize(
    "modify",
    [
        lambda d: jet(d)["fakes"]["targets"][0].__setitem__("kind", "ratio"),
        lambda d: d["event"]["targets"][2].__setitem__("kind", "diff"),
        lambda d: jet(d)["targets"][3].__setitem__("kind", "met_parallel"),
    ],
    ids=["fakes-ratio", "event-diff", "collection-met"],
)
def test_target_kind_allowed_in_its_section(
    tmp_path: Path, raw: dict[str, Any], modify: Callable[[dict], Any]
) -> None:
    modify(raw)
    assert ".kind:" in spec_error(tmp_path, raw)


@pytest.mark.parametrize(
    "modify",
    [
        lambda d: jet(d)["fakes"]["conditions"].__setitem__(
            0, {"name": "pt", "field": "pt", "transform": []}
        ),
        lambda d: d["event"]["conditions"].__setitem__(
            0, {"name": "prompt", "flag": {"field": "statusFlags", "bit": 0}, "transform": []}
        ),
    ],
    ids=["fakes-field", "event-flag"],
)
def test_event_level_conditions_only(
    tmp_path: Path, raw: dict[str, Any], modify: Callable[[dict], Any]
) -> None:
    modify(raw)
    assert "conditions[0]" in spec_error(tmp_path, raw)


def test_inputs_section(raw: dict[str, Any]) -> None:
    assert parse_spec(raw).input_policy.to_dict() == {
        "non_finite": "error",
        "out_of_domain": "clamp",
    }
    raw["inputs"] = {"non_finite": "drop", "out_of_domain": "flag"}
    policy = parse_spec(raw).input_policy
    assert (policy.non_finite, policy.out_of_domain) == ("drop", "flag")


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"non_finite": "skip"}, "inputs.non_finite: 'skip': use one of error, drop"),
        ({"out_of_domain": "warn"}, "inputs.out_of_domain: 'warn': use one of clamp, flag, error"),
        ({"nan": "drop"}, "inputs.nan: unknown key"),
    ],
)
def test_inputs_section_errors(raw: dict[str, Any], inputs: dict, message: str) -> None:
    raw["inputs"] = inputs
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_spec(raw)

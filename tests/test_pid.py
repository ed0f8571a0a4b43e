"""The Lamarr-style PID stage: a tiny LHCb-like pipeline trained on sWeighted calibration samples.

Tiny models and samples: this checks the plumbing (spec, weighted training of the isMuon BDT and
the PID response per species, bundle round trip, application to generated events), not the
fidelity, which ``benchmarks/lhcb_pipeline.py`` measures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml

from flashsim.exceptions import InputError, ModelError

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
PROBES = {"electron": ("jpsi_ee", "e"), "muon": ("jpsi", "mu"), "pion": ("dstar", "pi"),
          "kaon": ("dstar", "K"), "proton": ("lambda", "p")}  # fmt: skip


def tiny_lhcb_spec(model: str = "flow") -> dict[str, Any]:
    """``pipelines/lhcb_like.yaml`` with tiny models and a couple of epochs."""
    data = yaml.safe_load((PIPELINES / "lhcb_like.yaml").read_text())
    data.pop("defaults", None)
    flow = {"transform": "affine", "transforms": 2, "hidden": [16, 16]}
    training = {"epochs": 2, "batch_size": 256, "learning_rate": 0.003}
    track = data["collections"]["Track"]
    track["response"] = {"model": "flow", "flow": flow, "training": training}
    track["efficiency"] = {**track["efficiency"], "n_estimators": 10}
    data["event"]["response"] = {"model": "flow", "flow": flow, "training": training}
    pid = data["pid"]
    pid["is_muon"]["efficiency"] = {"n_estimators": 10, "max_depth": 3}
    if model == "flow":
        pid["response"] = {"model": "flow", "flow": flow, "training": training}
    else:
        pid["response"] = {
            "model": "gan",
            "gan": {"latent_dim": 4, "generator": [16, 16], "critic": [16, 16]},
            "training": {"epochs": 2, "batch_size": 256, "referee_steps": 5},
        }
    return data


def _calibration(tmp: Path, species: str, seed: int) -> Path:
    """A small sWeighted calibration file of one species (fit, then an ``sweight`` branch)."""
    from flashsim.io import NanoAODWriter
    from flashsim.refsim.lhcb.calibration import CHANNELS, calibration_table
    from flashsim.sweights import fit_mass, sweights

    channel, probe = PROBES[species]
    table = calibration_table(channel, 3000, background_fraction=0.3, seed=seed, probe=probe)
    mass = CHANNELS[channel].mass
    fit = fit_mass(table["mass"], signal="gauss", background="poly1", range=(mass.low, mass.high))
    table["sweight"] = sweights(fit, table["mass"].astype(np.float64))
    path = tmp / f"calib_{species}.root"
    with NanoAODWriter(path) as writer:
        writer.extend(table)
    return path


@pytest.fixture(scope="module")
def lhcb_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    pytest.importorskip("pythia8mc")
    from flashsim.refsim.lhcb import generate_lhcb_sample

    tmp = tmp_path_factory.mktemp("lhcb")
    sample = tmp / "bbbar.root"
    generate_lhcb_sample(n_events=300, seed=5, output=sample, progress=False, block_size=150)
    calibration = {s: _calibration(tmp, s, seed=10 + i) for i, s in enumerate(PROBES)}
    return {"sample": sample, "calibration": calibration, "tmp": tmp}


def _train(files: dict[str, Any], model: str, output: Path) -> Any:
    from flashsim.spec import parse_spec
    from flashsim.train import read_calibration, read_training_data, train_pipeline

    raw = tiny_lhcb_spec(model)
    if model == "gan":  # the flow run has the spec's split flag (DLLK > 0 sampled by a BDT)
        del raw["pid"]["targets"][2]["split"]
    spec = parse_spec(raw, origin="tiny_lhcb")
    data = read_training_data(spec, [files["sample"]], progress=False)
    assert spec.pid is not None
    for species in spec.pid.species:
        path = files["calibration"][species.name]
        data.calibration[species.name] = read_calibration(spec.pid, species, [path])
    return train_pipeline(spec, data, output, progress=False, log=lambda _line: None)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["flow", "gan"])
def test_train_save_load_and_run(lhcb_files: dict[str, Any], model: str) -> None:
    from flashsim.bundle import load_bundle
    from flashsim.run import run_file

    bundle = lhcb_files["tmp"] / f"model_{model}"
    trained = _train(lhcb_files, model, bundle)
    assert trained.pid is not None
    assert set(trained.pid.species) == set(PROBES)
    record = yaml.safe_load((bundle / "flashsim-model.json").read_text())
    assert set(record["pid"]) == set(PROBES)
    assert set(record["training"]["calibration"]) == set(PROBES)
    # DLLK and DLLp - DLLK have point masses at 0: a flag BDT each, per species
    assert list(record["pid"]["kaon"]["point_masses"]) == ["DLLK", "DLLp"]
    assert (bundle / "pid.kaon.DLLK_atPointMass.json.gz").exists()
    import json
    import shutil

    edited = lhcb_files["tmp"] / f"model_{model}_edited"
    shutil.copytree(bundle, edited)
    record_path = edited / "flashsim-model.json"
    data = json.loads(record_path.read_text())
    removed = data["pid"]["kaon"]["point_masses"].pop("DLLp")["file"]
    del data["checksums"][removed]
    from flashsim.record import add_seal

    record_path.write_text(json.dumps(add_seal(data)))  # edited on purpose: resealed
    with pytest.raises(ModelError, match=r"'kaon' has point-mass BDTs for \['DLLK'\], its spec"):
        load_bundle(edited)
    from flashsim.introspect import format_model_info, model_info

    info = model_info(bundle)
    kaon = next(stage for stage in info.stages if stage.name == "pid.kaon")
    assert [f.role for f in kaon.flags][:2] == ["DLLK_atPointMass", "DLLp_atPointMass"]
    assert len(kaon.flags) == (3 if model == "flow" else 2)
    assert kaon.flags[1].outcomes == ["DLLp - DLLK continuous", "DLLp - DLLK = 0"]
    assert "trees" in kaon.flags[0].metrics
    assert "DLLp_atPointMass" in kaon.response.extra_inputs
    assert "DLLK_atPointMass: xgboost" in format_model_info(info)
    if model == "flow":
        assert list(record["pid"]["kaon"]["splits"]) == ["DLLK"]
        assert (bundle / "pid.kaon.DLLK_aboveSplit.json.gz").exists()
        assert kaon.flags[2].role == "DLLK_aboveSplit"
        assert kaon.flags[2].outcomes == ["DLLK <= 0", "DLLK > 0"]
        assert "DLLK_aboveSplit" in kaon.response.extra_inputs
        data["pid"]["kaon"]["point_masses"] = record["pid"]["kaon"]["point_masses"]
        data["checksums"] = record["checksums"]
        removed = data["pid"]["kaon"]["splits"].pop("DLLK")["file"]
        del data["checksums"][removed]
        record_path.write_text(json.dumps(add_seal(data)))
        with pytest.raises(ModelError, match=r"'kaon' has split BDTs for \[\], its spec"):
            load_bundle(edited)
    # exported context: conditions, isMuon, then the flags in the order their BDTs run
    from flashsim.export import response_models

    exported = {m.name: m for m in response_models(bundle)}["pid.kaon.response"]
    appended = [c["name"] for c in exported.context if "values" in c]
    flags = ["DLLK_atPointMass", "DLLp_atPointMass"] + (
        ["DLLK_aboveSplit"] if model == "flow" else []
    )
    assert appended == ["isMuon", *flags]
    assert len(exported.context) == exported.model.n_context

    # the PID weights are part of the bundle's identity and completeness
    from flashsim.bundle import bundle_hash

    before = bundle_hash(bundle)
    weights = bundle / "pid.kaon.response.pt"
    original = weights.read_bytes()
    weights.write_bytes(original + b"\0")
    with pytest.raises(ModelError, match=r"pid\.kaon\.response\.pt changed since training"):
        bundle_hash(bundle)
    weights.unlink()
    with pytest.raises(ModelError, match=r"pid\.kaon\.response\.pt"):
        load_bundle(bundle)
    weights.write_bytes(original)
    assert bundle_hash(bundle) == before

    out = lhcb_files["tmp"] / f"flash_{model}.root"
    run_file(load_bundle(bundle), lhcb_files["sample"], out, seed=3, progress=False)
    with uproot.open(out) as f:
        events = f["Events"].arrays()
        assert f["Events"]["Track_isMuon"].typename == "uint8_t[]"
    tracks = ak.flatten(events.Track_DLLK)
    assert len(tracks) > 100
    on_mass = np.asarray(tracks) == 0.0  # sampled by the flag BDT: DLLK = DLLp = 0 exactly
    assert 0 < on_mass.sum() < len(tracks)
    # the DLLp flag's BDT sees the DLLK flag: no light for K means none for p either
    assert np.mean(np.asarray(ak.flatten(events.Track_DLLp))[on_mass] == 0.0) > 0.9
    assert np.isfinite(np.asarray(tracks)).all()
    assert set(np.unique(ak.flatten(events.Track_isMuon))) <= {0, 1}
    assert "Event_nTracks" in events.fields
    assert ak.all(events.nTrack == ak.num(events.Track_pt))
    p = ak.flatten(events.Track_p)
    pt = ak.flatten(events.Track_pt)
    eta = ak.flatten(events.Track_eta)
    np.testing.assert_allclose(np.asarray(pt), np.asarray(p / np.cosh(eta)), rtol=1e-5)
    # Species from the gen match: tracks of gen kaons got the kaon model, and so on.
    gen = events.GenPart_pdgId[events.Track_genPartIdx]
    assert set(np.unique(np.abs(ak.flatten(gen)))) <= {11, 13, 211, 321, 2212}


def test_train_pid_alone(lhcb_files: dict[str, Any], tmp_path: Path) -> None:
    """``train_pid`` trains the PID section from the calibration tables only."""
    from flashsim.exceptions import SpecError
    from flashsim.spec import parse_spec
    from flashsim.stages.pid import decode_pid_targets
    from flashsim.train import TrainingData, read_calibration, train_pid

    raw = tiny_lhcb_spec()
    raw["pid"]["species"] = {"kaon": {"pdgId": [321]}}
    spec = parse_spec(raw, origin="tiny_lhcb")
    assert spec.pid is not None
    calibration = {
        "kaon": read_calibration(spec.pid, spec.pid.species[0], [lhcb_files["calibration"]["kaon"]])
    }
    data = TrainingData({}, {}, None, n_events=1, files=[], calibration=calibration)
    lines: list[str] = []
    pid = train_pid(spec, data, tmp_path, progress=False, log=lines.append)
    assert list(pid.species) == ["kaon"]
    assert any("[pid.kaon]" in line for line in lines)
    conditions = np.array([[20.0, 3.5, 80.0], [3.0, 2.5, 40.0]])
    is_muon, values, flags = pid.species["kaon"].apply(conditions, np.random.default_rng(0))
    decoded = decode_pid_targets(spec.pid, values, flags)
    assert decoded.shape == (2, 4)
    assert np.isfinite(decoded).all()
    assert set(np.unique(is_muon)) <= {0, 1}
    del raw["pid"]
    with pytest.raises(SpecError, match="no pid section"):
        train_pid(parse_spec(raw, origin="t"), data, tmp_path, progress=False)


def test_missing_calibration_is_a_clear_error(lhcb_files: dict[str, Any], tmp_path: Path) -> None:
    from flashsim.spec import parse_spec
    from flashsim.train import read_training_data, train_pipeline

    spec = parse_spec(tiny_lhcb_spec(), origin="tiny_lhcb")
    data = read_training_data(spec, [lhcb_files["sample"]], progress=False)
    with pytest.raises(InputError, match=r"--calibration electron=FILE\.root"):
        train_pipeline(spec, data, tmp_path / "m", progress=False, log=lambda _line: None)


@pytest.mark.slow
def test_all_negative_weights_are_refused(lhcb_files: dict[str, Any], tmp_path: Path) -> None:
    """A calibration sample whose sWeights are all negative stops training, naming it."""
    from flashsim.io import NanoAODWriter

    path = tmp_path / "negative.root"
    with uproot.open(lhcb_files["calibration"]["kaon"]) as f:
        table = f["Events"].arrays(library="np")
    table["sweight"] = -np.abs(table["sweight"]) - 0.01
    with NanoAODWriter(path) as writer:
        writer.extend(table)
    files = {**lhcb_files, "calibration": {**lhcb_files["calibration"], "kaon": path}}
    with pytest.raises(InputError, match=r"pid\.kaon .*no signal is left to train on"):
        _train(files, "flow", tmp_path / "model")


def test_missing_column_names_the_species(lhcb_files: dict[str, Any]) -> None:
    from flashsim.spec import parse_spec
    from flashsim.train import read_calibration

    data = tiny_lhcb_spec()
    data["pid"]["targets"][2]["column"] = "probe_DLLKK"
    spec = parse_spec(data, origin="tiny_lhcb")
    assert spec.pid is not None
    kaon = next(s for s in spec.pid.species if s.name == "kaon")
    with pytest.raises(InputError, match=r"calibration sample for .kaon.*probe_DLLKK"):
        read_calibration(spec.pid, kaon, [lhcb_files["calibration"]["kaon"]])


@pytest.mark.slow
def test_train_command_takes_calibration_samples(
    lhcb_files: dict[str, Any], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from flashsim.cli import flashsim as flashsim_group

    spec = tmp_path / "tiny_lhcb.yaml"
    spec.write_text(yaml.safe_dump(tiny_lhcb_spec(), sort_keys=False))
    base = ["train", str(spec), "--data", str(lhcb_files["sample"]), "-o", str(tmp_path / "m")]
    calibration = [
        arg
        for name, path in lhcb_files["calibration"].items()
        for arg in ("--calibration", f"{name}={path}")
    ]
    result = CliRunner().invoke(flashsim_group, [*base, *calibration, "-q"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m" / "pid.kaon.response.pt").exists()
    bad = CliRunner().invoke(flashsim_group, [*base, "--overwrite", "--calibration", "kaons=x"])
    assert bad.exit_code == 2
    assert "'kaons' is not a PID species of the spec (electron, muon" in bad.output
    missing = CliRunner().invoke(flashsim_group, [*base, "--overwrite", *calibration[:2]])
    assert missing.exit_code == 2
    assert "no calibration sample for PID species 'muon'" in missing.output


def test_spec_checks_and_occupancy() -> None:
    """The pid section's checks, and the occupancy count of a run-time collection."""
    from flashsim.exceptions import SpecError
    from flashsim.spec import parse_spec
    from flashsim.stages.pid import PidModel, decode_pid_targets, encode_pid_targets

    data = tiny_lhcb_spec()
    data["pid"]["targets"][0]["relative_to"] = "DLLp"
    with pytest.raises(
        SpecError, match=r"pid\.targets\[0\]\.relative_to: 'DLLp' is not an earlier"
    ):
        parse_spec(data, origin="t")
    data = tiny_lhcb_spec()
    data["pid"]["species"]["pion2"] = {"pdgId": [211]}
    with pytest.raises(SpecError, match=r"\[211\] in two species"):
        parse_spec(data, origin="t")
    data = tiny_lhcb_spec()
    data["pid"]["collection"] = "Tracks"
    with pytest.raises(SpecError, match="'Tracks' is not one of the spec's collections"):
        parse_spec(data, origin="t")

    data = tiny_lhcb_spec()
    data["pid"]["occupancy"] = {"column": "Event_nTracks", "field": "type", "values": [1]}
    spec = parse_spec(data, origin="t")
    assert spec.pid is not None
    tracks = ak.Array([[{"type": 1}, {"type": 2}, {"type": 1}], [], [{"type": 3}]])
    assert PidModel(spec.pid, {}).occupancy(tracks).tolist() == [2, 0, 0]
    raw = np.array([[1.0, 2.0, 30.0, 25.0], [0.0, 0.0, 5.0, 5.0]])
    encoded, flags = encode_pid_targets(spec.pid, raw)
    assert encoded[:, 3].tolist() == [-5.0, -5.0]  # DLLp - DLLK; its point mass is flagged
    assert flags.tolist() == [[0, 0, 1], [0, 1, 1]]  # DLLK = 0?, DLLp - DLLK = 0?, DLLK > 0?
    np.testing.assert_array_equal(decode_pid_targets(spec.pid, encoded, flags), raw)


def test_gan_alternative_is_a_valid_spec() -> None:
    """The PID GAN of ``lhcb_like.yaml`` (``defaults.gan_pid``, what ``benchmarks/lhcb_pipeline.py
    --pid-model gan`` swaps in) parses as the pid response, with its batches of 1024."""
    from flashsim.spec import parse_spec

    data = yaml.safe_load((PIPELINES / "lhcb_like.yaml").read_text())
    data["pid"]["response"] = data["defaults"]["gan_pid"]
    spec = parse_spec(data, origin="lhcb_like.yaml with the GAN")
    assert spec.pid is not None
    assert spec.pid.response.model == "gan"
    assert spec.pid.response.training["batch_size"] == 1024


def test_point_masses_are_flags_beside_the_continuum() -> None:
    """A point mass inside a continuum (DLLK = 0 without Cherenkov light) is a 0/1 flag per
    row: the continuum keeps every value, the flagged rows carry finite noise with the
    continuum's mean and spread, and decoding with the flags gives the raw values back."""
    from flashsim.spec import parse_spec
    from flashsim.stages.pid import decode_pid_targets, encode_pid_targets, point_mass_targets

    data = tiny_lhcb_spec()
    del data["pid"]["targets"][2]["split"]  # point masses alone (the split: next test)
    spec = parse_spec(data, origin="t").pid
    assert spec is not None
    assert [t.name for t in point_mass_targets(spec)] == ["DLLK", "DLLp"]
    rng = np.random.default_rng(3)
    n = 4000
    dllk = np.where(rng.random(n) < 0.4, 0.0, rng.normal(1.0, 2.0, n))  # continuum around 0
    dllp = np.where(rng.random(n) < 0.3, dllk, dllk + rng.normal(-3.0, 5.0, n))
    raw = np.column_stack([rng.normal(0, 5, n), rng.normal(0, 5, n), dllk, dllp])
    encoded, flags = encode_pid_targets(spec, raw, np.random.default_rng(4))
    assert encoded.shape == (n, 4)
    assert flags.shape == (n, 2)
    on_k, on_p = dllk == 0.0, dllp == dllk
    np.testing.assert_array_equal(flags[:, 0], on_k)
    np.testing.assert_array_equal(flags[:, 1], on_p)
    np.testing.assert_array_equal(encoded[~on_k, 2], dllk[~on_k])  # the continuum untouched
    assert np.isfinite(encoded).all()
    assert not np.any(encoded[on_k, 2] == 0.0)  # noise, not a point mass
    assert abs(encoded[on_k, 2].mean() - dllk[~on_k].mean()) < 0.2
    assert abs(encoded[on_k, 2].std() - dllk[~on_k].std()) < 0.2
    decoded = decode_pid_targets(spec, encoded, flags)
    np.testing.assert_array_equal(decoded[on_k, 2], 0.0)
    np.testing.assert_array_equal(decoded[on_p, 3], decoded[on_p, 2])
    np.testing.assert_allclose(decoded, raw, rtol=1e-12, atol=1e-12)
    # a flag sampled where the data had none still gives the point mass
    flags[:5] = 1
    np.testing.assert_array_equal(decode_pid_targets(spec, encoded, flags)[:5, 2:], 0.0)


def test_split_flag_gives_the_side_and_the_model_the_distance() -> None:
    """A ``split`` value V: the flag says which side of V (0 on a point mass), the modelled
    value is |x - V|, and decoding puts any sampled distance on the flag's side."""
    from flashsim.spec import parse_spec, split_flag
    from flashsim.stages.pid import decode_pid_targets, encode_pid_targets, split_targets

    data = tiny_lhcb_spec()
    data["pid"]["targets"][2]["split"] = {"value": 0.5, "efficiency": {"max_depth": 2}}
    spec = parse_spec(data, origin="t").pid
    assert spec is not None
    assert [t.name for t in split_targets(spec)] == ["DLLK"]
    assert spec.targets[2].split_params == {"max_depth": 2}
    assert split_flag("DLLK") == "DLLK_aboveSplit"
    rng = np.random.default_rng(8)
    n = 3000
    dllk = np.where(rng.random(n) < 0.3, 0.0, rng.normal(1.0, 3.0, n))
    dllp = dllk + rng.normal(-3.0, 5.0, n)
    raw = np.column_stack([rng.normal(0, 5, n), rng.normal(0, 5, n), dllk, dllp])
    encoded, flags = encode_pid_targets(spec, raw, np.random.default_rng(4))
    assert flags.shape == (n, 3)  # DLLK = 0, DLLp - DLLK = 0, DLLK > 0.5
    on_k = dllk == 0.0
    np.testing.assert_array_equal(flags[:, 0], on_k)
    np.testing.assert_array_equal(flags[:, 2], (dllk > 0.5) & ~on_k)
    np.testing.assert_allclose(encoded[~on_k, 2], np.abs(dllk[~on_k] - 0.5))
    np.testing.assert_allclose(decode_pid_targets(spec, encoded, flags), raw, atol=1e-12)
    # a sampled distance of either sign lands on the flag's side; the point mass still wins
    values = np.column_stack([np.zeros(4), np.zeros(4), [-2.0, 2.0, -2.0, 2.0], np.zeros(4)])
    sampled = np.array([[0, 0, 1], [0, 0, 1], [0, 0, 0], [1, 0, 1]], dtype=np.uint8)
    assert decode_pid_targets(spec, values, sampled)[:, 2].tolist() == [2.5, 2.5, -1.5, 0.0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda pid: pid["targets"][2].update(split="zero"), r"split: expected a number"),
        (lambda pid: pid["conditions"][0].update(split=0), r"conditions\[0\]\.split"),
        (lambda pid: pid["targets"][2].update(point_mass="zero"), r"point_mass: expected a numb"),
        (lambda pid: pid["conditions"][0].update(point_mass=0), r"conditions\[0\]\.point_mass"),
        (
            lambda pid: pid["targets"][2].update(point_mass={"value": 0, "trees": 3}),
            r"targets\[2\]\.point_mass\.trees: unknown key; allowed: value, efficiency",
        ),
        (
            lambda pid: pid.update(balance={"condition": "pt"}),
            r"balance\.condition: 'pt' is not one of \['p', 'eta', 'nTracks'\]",
        ),
        (lambda pid: pid.update(balance={"condition": "p", "power": 2}), r"balance\.power"),
        (
            lambda pid: pid.update(balance={"condition": "p", "max_factor": 0.5}),
            r"balance\.max_factor: expected a number in \[1, 1e\+06\]",
        ),
    ],
)
def test_point_mass_spec_errors(change: Any, message: str) -> None:
    from flashsim.exceptions import SpecError
    from flashsim.spec import parse_spec

    data = tiny_lhcb_spec()
    change(data["pid"])
    with pytest.raises(SpecError, match=message):
        parse_spec(data, origin="t")

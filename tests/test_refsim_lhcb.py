"""The LHCb-like reference simulation: bbbar events with tracks and PID, calibration samples.

Samples are tiny and seeded; the physics bars are loose versions of the numbers documented in
``data/README.md`` and can fail.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot
from click.testing import CliRunner

import flashsim.cli.refsim as cli_refsim
from flashsim.cli import flashsim as flashsim_group
from flashsim.exceptions import ConfigurationError
from flashsim.io import read_provenance, zip_collections
from flashsim.refsim.lhcb import (
    CHANNELS,
    LHCB_PROCESSES,
    calibration_table,
    generate_calibration,
    generate_lhcb_sample,
    pid_response,
)
from flashsim.refsim.lhcb.calibration import BRANCHES, PROBE_ETA_RANGE, PROBES
from flashsim.refsim.lhcb.detector import LHCbLikeDetector
from flashsim.refsim.processes import process_settings

N_EVENTS = 240
BLOCK = 120


def _read(path) -> ak.Array:
    with uproot.open(path) as f:
        return zip_collections(f["Events"].arrays())


@pytest.fixture(scope="module")
def lhcb_files(tmp_path_factory: pytest.TempPathFactory):
    """The same sample made with one and with two jobs, and one with another seed."""
    pytest.importorskip("pythia8mc")
    folder = tmp_path_factory.mktemp("lhcb")
    paths = {}
    for name, seed, jobs in (("j1", 21, 1), ("j2", 21, 2), ("other", 22, 1)):
        paths[name] = folder / f"{name}.root"
        n = N_EVENTS if name != "other" else BLOCK
        generate_lhcb_sample(
            n_events=n, seed=seed, jobs=jobs, output=paths[name], progress=False, block_size=BLOCK
        )
    return paths


@pytest.fixture(scope="module")
def lhcb(lhcb_files) -> ak.Array:
    return _read(lhcb_files["j1"])


def _flat(array: ak.Array) -> np.ndarray:
    return ak.to_numpy(ak.flatten(array))


def _gen_of_tracks(events: ak.Array) -> ak.Array:
    return events.GenPart[events.Track.genPartIdx]


# --------------------------------------------------------------------------------- generate
def test_layout_and_types(lhcb_files, lhcb) -> None:
    with uproot.open(lhcb_files["j1"]) as f:
        tree = f["Events"]
        interpretations = {name: tree[name].interpretation for name in tree.keys()}  # noqa: SIM118
    # jagged branches: the type of their content
    types = {k: getattr(v, "content", v).to_dtype for k, v in interpretations.items()}
    expected = {
        "Event_nTracks": "int32",
        "Generator_nCharged": "int32",
        "nTrack": "int32",
        "nGenPart": "int32",
        "Track_genPartIdx": "int16",
        "Track_type": "uint8",
        "Track_isMuon": "uint8",
        "Track_charge": "int32",
        "GenPart_pdgId": "int32",
        "GenPart_status": "int32",
        "GenPart_genPartIdxMother": "int16",
    }
    for name in (
        "Track_p",
        "Track_pt",
        "Track_eta",
        "Track_phi",
        "Track_ip",
        "Track_DLLe",
        "Track_DLLmu",
        "Track_DLLK",
        "Track_DLLp",
        "GenPart_pt",
        "GenPart_eta",
        "GenPart_phi",
        "GenPart_mass",
        "GenPart_p",
        "GenPart_vx",
    ):
        expected[name] = "float32"
    for name, dtype in expected.items():
        assert types[name] == np.dtype(dtype), name
    assert len(lhcb) == N_EVENTS
    assert np.array_equal(ak.to_numpy(lhcb.event), np.arange(1, N_EVENTS + 1))
    assert read_provenance(lhcb_files["j1"])["detector"] == "lhcb_like"

    gen, trk = lhcb.GenPart, lhcb.Track
    assert ak.all(gen.status == 1)
    assert set(np.unique(np.abs(_flat(gen.pdgId)))) <= {11, 13, 211, 321, 2212}
    assert ak.all((gen.eta > 1.8) & (gen.eta < 5.3))
    assert np.allclose(_flat(gen.p), _flat(gen.pt * np.cosh(gen.eta)), rtol=1e-4)
    # one track per reconstructed GenPart, in GenPart order
    assert ak.all(trk.genPartIdx < ak.num(gen))
    assert ak.all(trk.genPartIdx[:, 1:] > trk.genPartIdx[:, :-1])
    assert set(np.unique(_flat(trk["type"]))) <= {1, 2, 3}
    assert ak.all(trk.p > 0)
    assert ak.all(trk.ip >= 0)
    assert np.isin(_flat(trk.isMuon), (0, 1)).all()
    # Event_nTracks counts long tracks of every interaction (pile-up too)
    n_long = ak.to_numpy(ak.sum(trk["type"] == 1, axis=1))
    assert np.all(ak.to_numpy(lhcb.Event_nTracks) >= n_long)
    assert np.mean(ak.to_numpy(lhcb.Event_nTracks) > n_long) > 0.9
    assert np.all(ak.to_numpy(lhcb.Generator_nCharged) >= 0.8 * ak.to_numpy(lhcb.Event_nTracks))


def test_same_seed_same_events_whatever_the_jobs(lhcb_files) -> None:
    with uproot.open(lhcb_files["j1"]) as a, uproot.open(lhcb_files["j2"]) as b:
        one, two = a["Events"].arrays(), b["Events"].arrays()
    assert one.fields == two.fields
    for name in one.fields:
        assert ak.all(one[name] == two[name]), name
    other = _read(lhcb_files["other"])
    assert not np.array_equal(
        _flat(other.GenPart.pt)[:50], _flat(_read(lhcb_files["j1"]).GenPart.pt)[:50]
    )


def test_tracking_efficiency_and_resolution(lhcb) -> None:
    gen = ak.flatten(lhcb.GenPart)
    counts = ak.to_numpy(ak.num(lhcb.GenPart))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    n_tracks = ak.to_numpy(ak.num(lhcb.Track))
    owner = np.repeat(np.arange(len(lhcb)), n_tracks)
    kind = np.zeros(len(gen), dtype=np.uint8)
    kind[offsets[owner] + _flat(lhcb.Track.genPartIdx)] = _flat(lhcb.Track["type"])
    p, eta = ak.to_numpy(gen.p), ak.to_numpy(gen.eta)
    inside = (eta > 2.2) & (eta < 4.8)
    long_high = np.mean(kind[inside & (p > 5)] == 1)
    long_low = np.mean(kind[inside & (p > 2) & (p < 3)] == 1)
    assert 0.92 < long_high < 0.99
    assert long_low < 0.6
    assert np.mean(kind[inside & (p > 2) & (p < 3)] == 2) > 0.3  # swept out: upstream
    assert np.mean(kind[~((eta > 1.9) & (eta < 5.1))] > 0) < 0.05

    gen_trk = _gen_of_tracks(lhcb)
    rel = _flat((lhcb.Track.p - gen_trk.p) / gen_trk.p)
    kind = _flat(lhcb.Track["type"])
    true_p = _flat(gen_trk.p)
    sel = (kind == 1) & (true_p > 5) & (true_p < 50)
    lo, hi = np.percentile(rel[sel], [15.87, 84.13])
    assert 0.003 < (hi - lo) / 2 < 0.008
    lo, hi = np.percentile(rel[kind == 2], [15.87, 84.13])
    assert (hi - lo) / 2 > 0.05  # upstream: no T stations
    lepton = np.isin(np.abs(_flat(gen_trk.pdgId)), (11, 13))
    true_charge = np.sign(_flat(gen_trk.pdgId)) * np.where(lepton, -1, 1)
    assert np.mean(_flat(lhcb.Track.charge) == true_charge) > 0.999
    # impact parameter: prompt tracks at the resolution, displaced ones (b, c decays) beyond
    ip = _flat(lhcb.Track.ip)
    displaced = np.hypot(_flat(gen_trk.vx), _flat(gen_trk.vy)) > 0.5
    assert 0.02 < np.median(ip[(kind == 1) & ~displaced]) < 0.1
    assert np.median(ip[(kind == 1) & displaced]) > 3 * np.median(ip[(kind == 1) & ~displaced])


# --------------------------------------------------------------------------------- PID
def _pid(species: int, p_range: tuple[float, float], n: int, n_tracks: float, seed: int = 5):
    rng = np.random.default_rng(seed)
    p = np.exp(rng.uniform(*np.log(p_range), n))
    eta = rng.uniform(2.3, 4.3, n)
    return pid_response(np.full(n, species), p, eta, n_tracks, rng)


def test_pid_is_deterministic_and_typed() -> None:
    a, b = _pid(321, (3, 100), 500, 80), _pid(321, (3, 100), 500, 80)
    for name in a:
        assert np.array_equal(a[name], b[name])
    assert a["isMuon"].dtype == np.uint8
    assert all(a[name].dtype == np.float32 for name in ("DLLe", "DLLmu", "DLLK", "DLLp"))
    with pytest.raises(ValueError, match="pdgId"):
        pid_response(
            np.array([3122]), np.array([5.0]), np.array([3.0]), 50, np.random.default_rng()
        )


def test_muon_identification() -> None:
    mu = _pid(13, (5, 50), 4000, 80)
    assert 0.96 < mu["isMuon"].mean() < 1.0
    assert _pid(13, (1.5, 2.5), 2000, 80)["isMuon"].mean() < 0.01
    pi_low = _pid(211, (3.5, 8), 20000, 80)["isMuon"].mean()
    pi_high = _pid(211, (30, 100), 20000, 80)["isMuon"].mean()
    assert 0.005 < pi_high < pi_low < 0.04
    assert _pid(211, (3.5, 8), 20000, 300)["isMuon"].mean() > pi_low  # random hits
    # DLLmu separates muons from pions among isMuon tracks
    pi = _pid(211, (5, 50), 40000, 80)
    assert np.median(mu["DLLmu"][mu["isMuon"] == 1]) > np.median(pi["DLLmu"][pi["isMuon"] == 1])


def test_rich_kaon_pion_separation() -> None:
    kaon = _pid(321, (10, 50), 4000, 80)
    pion = _pid(211, (10, 50), 4000, 80)
    assert np.mean(kaon["DLLK"] > 0) > 0.95
    assert np.mean(pion["DLLK"] > 0) < 0.03
    # degrades at high momentum (Cherenkov angles converge)
    kaon_hi = _pid(321, (100, 200), 4000, 80)
    pion_hi = _pid(211, (100, 200), 4000, 80)
    assert np.mean(pion_hi["DLLK"] > 0) > 0.15
    assert np.mean(kaon_hi["DLLK"] > 0) < 0.85
    # below the kaon threshold in both gases kaons and protons look alike (no light)
    kaon_low = _pid(321, (5, 9), 2000, 80)
    assert np.all(kaon_low["DLLK"] == kaon_low["DLLp"])
    # worse with more tracks: fewer protons pass DLLp - DLLK > 5 in a busy event
    proton = _pid(2212, (20, 60), 4000, 20)
    busy = _pid(2212, (20, 60), 4000, 300)
    assert np.mean(busy["DLLp"] - busy["DLLK"] > 5) < np.mean(proton["DLLp"] - proton["DLLK"] > 5)
    electron = _pid(11, (5, 50), 4000, 80)
    assert np.median(electron["DLLe"]) > 5 > np.median(pion["DLLe"])


# --------------------------------------------------------------------------------- calibration
@pytest.mark.parametrize(("channel", "probe"), [("dstar", "K"), ("lambda", "p"), ("jpsi", "mu")])
def test_calibration_table(channel: str, probe: str) -> None:
    n = 20000
    table = calibration_table(channel, n, background_fraction=0.3, seed=4)
    assert set(table) == set(BRANCHES)
    for name, dtype in BRANCHES.items():
        assert table[name].dtype == np.dtype(dtype), name
        assert len(table[name]) == n
    signal = table["true_signal"] == 1
    assert abs((~signal).mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / n)
    model = CHANNELS[channel].mass
    mass = table["mass"]
    assert mass.min() >= model.low
    assert mass.max() <= model.high
    assert abs(np.median(mass[signal]) - model.mean) < 0.3 * model.sigma
    assert np.all(np.abs(table["true_pdgId"][signal]) == PROBES[probe])
    assert np.mean(np.abs(table["true_pdgId"][~signal]) == 211) > 0.5
    assert np.allclose(table["probe_pt"], table["probe_p"] / np.cosh(table["probe_eta"]), 1e-5)
    # sPlot assumption: within each component the mass is independent of PID and kinematics
    for component in (signal, ~signal):
        for name in ("probe_DLLK", "probe_DLLmu", "probe_p", "Event_nTracks"):
            r = np.corrcoef(mass[component], table[name][component])[0, 1]
            assert abs(r) < 4 / np.sqrt(component.sum()), (name, r)
    # the densities are normalised on the mass range
    grid = np.linspace(model.low, model.high, 4001)
    for pdf in (model.signal_pdf, model.background_pdf):
        assert abs(np.sum(pdf(grid)) * (grid[1] - grid[0]) - 1) < 2e-3


def test_calibration_probes_cover_the_tracks_acceptance() -> None:
    """Probes are reconstructed tracks: they reach into the acceptance's soft edge beyond eta = 5
    (where RICH2 loses its photons), and the fast ones are forward, as in the bb-bar sample."""
    table = calibration_table("dstar", 60000, background_fraction=0.0, seed=5, probe="K")
    eta, p = table["probe_eta"], table["probe_p"]
    detector = LHCbLikeDetector()
    assert eta.min() > PROBE_ETA_RANGE[0]
    assert eta.max() < PROBE_ETA_RANGE[1]
    beyond = eta > 5.0
    assert 50 < beyond.sum() < 0.02 * len(eta)
    # thinned by the acceptance: a probe at 5.1 is ten times rarer than one at 4.9
    near = np.histogram(eta, bins=[4.85, 4.95, 5.05, 5.15])[0]
    ratio = detector.acceptance(np.array([4.9, 5.0, 5.1]))
    assert near[2] / near[0] < 3 * ratio[2] / ratio[0]
    # ln p and eta correlate as for bb-bar tracks (0.6 before truncation)
    assert 0.4 < np.corrcoef(np.log(p), eta)[0, 1] < 0.7
    assert np.mean(eta[p > 70]) > 4.3


def test_calibration_pid_is_the_reference_pid() -> None:
    table = calibration_table("jpsi", 20000, background_fraction=0.0, seed=2)
    # inside the muon system (eta < 4.6, with a soft edge) and above its momentum threshold
    inside = (table["probe_p"] > 5) & (table["probe_eta"] < 4.3)
    assert 0.95 < table["probe_isMuon"][inside].mean() < 1.0
    dstar = calibration_table("dstar", 20000, background_fraction=0.0, seed=2, probe="pi")
    sel = (dstar["probe_p"] > 10) & (dstar["probe_p"] < 50)
    assert np.mean(dstar["probe_DLLK"][sel] > 0) < 0.03


def test_calibration_determinism_and_options() -> None:
    a = calibration_table("lambda", 3000, seed=9, probe="pi")
    b = calibration_table("lambda", 3000, seed=9, probe="pi")
    c = calibration_table("lambda", 3000, seed=10, probe="pi")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["mass"], c["mass"])
    assert np.all(np.abs(a["true_pdgId"][a["true_signal"] == 1]) == 211)
    with pytest.raises(ConfigurationError, match="--probe"):
        calibration_table("jpsi", 10, probe="K")
    with pytest.raises(ConfigurationError, match="channel"):
        calibration_table("kshort", 10)
    with pytest.raises(ConfigurationError, match="fraction"):
        calibration_table("jpsi", 10, background_fraction=1.5)


def test_calibration_file(tmp_path) -> None:
    path = tmp_path / "calib.root"
    summary = generate_calibration(channel="dstar", n=1500, seed=3, output=path)
    assert summary["n"] == 1500
    with uproot.open(path) as f:
        arrays = f["Events"].arrays(library="np")
    assert set(arrays) == set(BRANCHES)  # flat: no counters, no collections
    table = calibration_table("dstar", 1500, seed=3)
    for name in BRANCHES:
        assert np.array_equal(arrays[name], table[name]), name
    assert read_provenance(path)["channel"] == "dstar"


# --------------------------------------------------------------------------------- CLI
def test_cli_lists_match_the_library() -> None:
    assert tuple(CHANNELS) == cli_refsim._CALIBRATION_CHANNELS
    assert tuple(LHCB_PROCESSES) == cli_refsim._LHCB_PROCESSES
    assert set(cli_refsim._CALIBRATION_PROBES) == {p for c in CHANNELS.values() for p in c.signal}
    assert "PhaseSpace:pTHatMin = 3.0" in process_settings("bbbar")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--detector", "lhcb_like", "--process", "ttbar"], "use --process bbbar"),
        (["--process", "bbbar"], "add --detector lhcb_like"),
    ],
)
def test_cli_refuses_incompatible_combinations(tmp_path, args, message) -> None:
    output = tmp_path / "x.root"
    result = CliRunner().invoke(
        flashsim_group, ["refsim", "generate", *args, "-n", "5", "-o", str(output)]
    )
    assert result.exit_code == 2
    assert message in result.stderr
    assert not output.exists()


def test_cli_calibration(tmp_path) -> None:
    output = tmp_path / "c.root"
    args = ["refsim", "calibration", "--channel", "lambda", "-n", "800", "--seed", "4"]
    result = CliRunner().invoke(
        flashsim_group, [*args, "--background-fraction", "0.5", "-o", str(output)]
    )
    assert result.exit_code == 0, result.output
    assert "800 lambda calibration rows (p probes)" in result.stdout
    with uproot.open(output) as f:
        assert f["Events"].num_entries == 800
    result = CliRunner().invoke(
        flashsim_group, [*args, "--probe", "K", "-o", str(tmp_path / "d.root")]
    )
    assert result.exit_code == 2
    assert "--probe p or pi" in result.stderr

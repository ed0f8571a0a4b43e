"""Electrons and photons faked by jets in the validation report
(flashsim.validation.sections.jet_fakes): fake rates per GenJet vs GenJet pT and flavour.

The inputs are tiny synthetic NanoAOD-like files written here with uproot (fixed seeds): the
flash and the full file share their generated events (GenJet, GenPart) and differ in the
reconstructed objects only, as a flash file and the full simulation of the same events do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
from raw_samples import sample_of, validate_files, write_events

from flashsim.validation.sections.jet_fakes import fakes_per_genjet, jet_fakes_section
from flashsim.validation.sections.rates import counting_rate, rate_chi2

#: Fakes per GenJet by hadron flavour (0, 4, 5) in the reference ("full") files.
BASE_RATES = {0: 0.02, 4: 0.04, 5: 0.06}


def _jagged(values: dict[str, np.ndarray], counts: np.ndarray) -> ak.Array:
    return ak.unflatten(ak.zip(values), counts)


def make_events(
    n_events: int,
    *,
    gen_seed: int = 1,
    reco_seed: int = 2,
    fake_scale: dict[int, float] | float = 1.0,
    photon_tight_shift: float = 0.0,
) -> dict[str, ak.Array]:
    """NanoAOD-like events: GenJet (pt, eta, hadronFlavour), Jet (pt, eta, phi, genJetIdx; one
    per GenJet), GenPart (prompt photons, one non-prompt photon, a prompt electron in half of
    the events), Photon and Electron (real ones and fakes from jets) with genPartIdx, jetIdx.

    ``fake_scale`` multiplies the fake rates (per flavour with a dict), ``photon_tight_shift``
    the probability of a real photon to pass the tight ID.
    """
    g = np.random.default_rng(gen_seed)
    n_jet = g.poisson(4, n_events) + 1
    nj = int(n_jet.sum())
    jet_pt = 10 + g.exponential(40, nj)
    jet_eta = g.uniform(-3.5, 3.5, nj)
    flav = g.choice([0, 4, 5], nj, p=[0.7, 0.15, 0.15])
    n_ph = g.poisson(1.0, n_events)
    ph_pt = 5 + g.exponential(30, int(n_ph.sum()))
    ph_eta = g.uniform(-3, 3, ph_pt.size)
    ph_prompt = g.random(ph_pt.size) < 0.8
    has_e = g.random(n_events) < 0.5
    r = np.random.default_rng(reco_seed)

    prompt = _jagged(
        {
            "pdgId": np.full(ph_pt.size, 22),
            "status": np.ones(ph_pt.size, dtype=np.int32),
            "statusFlags": ph_prompt.astype(np.int32) | 8192,
            "pt": ph_pt,
            "eta": ph_eta,
        },
        n_ph,
    )
    n_e = int(has_e.sum())
    conversion = _jagged(  # one non-prompt photon per event (what a fake electron may point to)
        {
            "pdgId": np.full(n_events, 22),
            "status": np.ones(n_events, dtype=np.int32),
            "statusFlags": np.zeros(n_events, dtype=np.int32),
            "pt": np.full(n_events, 15.0),
            "eta": np.zeros(n_events),
        },
        np.ones(n_events, dtype=np.int64),
    )
    electron = _jagged(  # a prompt electron in half of the events
        {
            "pdgId": np.full(n_e, 11),
            "status": np.ones(n_e, dtype=np.int32),
            "statusFlags": np.ones(n_e, dtype=np.int32),
            "pt": np.full(n_e, 30.0),
            "eta": np.zeros(n_e),
        },
        has_e.astype(np.int64),
    )
    genpart = ak.concatenate([prompt, conversion, electron], axis=1)
    i_conv = np.asarray(n_ph)  # index of the non-prompt photon in each event

    def rate(fl: np.ndarray) -> np.ndarray:
        base = np.vectorize(BASE_RATES.get)(fl).astype(np.float64)
        if isinstance(fake_scale, dict):
            return base * np.vectorize(lambda f: fake_scale.get(int(f), 1.0))(fl)
        return base * fake_scale

    jet_event = np.repeat(np.arange(n_events), n_jet)
    jet_local = np.asarray(ak.flatten(ak.local_index(ak.unflatten(jet_pt, n_jet))))
    objects: dict[str, ak.Array] = {}
    for name in ("Photon", "Electron"):
        fake = r.random(nj) < rate(flav) * (1.0 if name == "Electron" else 0.5)
        conv = (r.random(nj) < 0.5) & (name == "Electron")
        fakes = {
            "pt": 0.5 * jet_pt[fake],
            "eta": jet_eta[fake],
            "genPartIdx": np.where(conv[fake], i_conv[jet_event[fake]], -1),
            "jetIdx": jet_local[fake],
            "cutBased": r.integers(0, 4, fake.sum()),
        }
        fcounts = np.bincount(jet_event[fake], minlength=n_events)
        if name == "Photon":  # real photons: reconstructed in |eta| < 2.5, ID rising with pT
            seen = (np.abs(ph_eta) < 2.5) & (r.random(ph_pt.size) < 0.95)
            u = r.random(ph_pt.size)
            tight = 0.5 + 0.3 * (ph_pt > 30) + photon_tight_shift
            cut = (u < 0.9).astype(int) + (u < 0.8) + (u < tight)
            local = np.asarray(ak.flatten(ak.local_index(prompt.pt)))
            real = {
                "pt": ph_pt[seen],
                "eta": ph_eta[seen],
                "genPartIdx": local[seen],
                "jetIdx": np.full(seen.sum(), -1),
                "cutBased": cut[seen],
            }
            rcounts = np.bincount(np.repeat(np.arange(n_events), n_ph)[seen], minlength=n_events)
        else:  # real electrons, some of them inside a jet (jetIdx >= 0): never fakes
            real = {
                "pt": np.full(has_e.sum(), 30.0),
                "eta": np.zeros(has_e.sum()),
                "genPartIdx": i_conv[has_e] + 1,
                "jetIdx": np.where(r.random(has_e.sum()) < 0.5, 0, -1),
                "cutBased": np.full(has_e.sum(), 4),
            }
            rcounts = has_e.astype(np.int64)
        objects[name] = ak.concatenate([_jagged(real, rcounts), _jagged(fakes, fcounts)], axis=1)
    return {
        "GenJet": _jagged({"pt": jet_pt, "eta": jet_eta, "hadronFlavour": flav}, n_jet),
        "Jet": _jagged(
            {
                "pt": jet_pt * r.normal(1, 0.1, nj),
                "eta": jet_eta,
                "phi": r.uniform(-3, 3, nj),
                "genJetIdx": jet_local,
            },
            n_jet,
        ),
        "GenPart": genpart,
        **objects,
    }


N = 12_000


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("jet_fakes")
    return {
        "full": write_events(d / "full.root", make_events(N, reco_seed=2)),
        "same": write_events(d / "same.root", make_events(N, reco_seed=3)),
        "double": write_events(d / "double.root", make_events(N, reco_seed=3, fake_scale=2.0)),
        "b_only": write_events(d / "b.root", make_events(N, reco_seed=3, fake_scale={5: 3.0})),
    }


def _section(files: dict[str, Path], flash: str) -> tuple[dict[str, Any], Any]:
    found = jet_fakes_section(sample_of(files[flash]), sample_of(files["full"]))
    assert found is not None
    return found


def test_fakes_are_attributed_to_their_gen_jet() -> None:
    """Fakes without a gen particle and electrons pointing to a photon count; a real electron
    inside a jet does not; a jet without a GenJet drops its fake."""
    ev = {
        "GenJet_pt": ak.Array([[50.0, 30.0], [40.0]]),
        "Jet_genJetIdx": ak.Array([[1, -1, 0], [0]]),
        "GenPart_pdgId": ak.Array([[22, 11], [11]]),
        "Electron_genPartIdx": ak.Array([[-1, 0, 1, -1], [0]]),
        "Electron_jetIdx": ak.Array([[0, 2, 2, 1], [0]]),
    }
    counts, bad = fakes_per_genjet(ev, "Electron")
    # event 0: fake -> jet 0 -> GenJet 1; conversion -> jet 2 -> GenJet 0; the real electron
    # (GenPart 1) is not a fake; the fake in jet 1 has no GenJet. Event 1: a real electron.
    assert counts.tolist() == [1, 1, 0]
    assert bad == 0
    photon = {**ev, "Photon_genPartIdx": ev["Electron_genPartIdx"], "Photon_jetIdx": ev[
        "Electron_jetIdx"]}  # fmt: skip
    assert fakes_per_genjet(photon, "Photon")[0].tolist() == [0, 1, 0]  # only genPartIdx -1
    broken = {**ev, "Electron_jetIdx": ak.Array([[0, 2, 2, 7], [0]])}
    assert fakes_per_genjet(broken, "Electron")[1] == 1


def test_counting_rate_and_chi2() -> None:
    x = np.array([25.0, 25.0, 35.0, 35.0, 35.0, 45.0])
    rate = counting_rate(x, np.array([0, 2, 1, 0, 0, 0]), [20, 30, 40, 50], groups=np.arange(6))
    assert rate.efficiency.tolist() == pytest.approx([1.0, 1 / 3, 0.0])
    assert rate.error[2] == pytest.approx(1 / 3)  # floor 1 / (n + 2) without counts
    other = counting_rate(x, np.zeros(6), [20, 30, 40, 50], groups=np.arange(6))
    chi2, ndf = rate_chi2(rate, other)
    assert ndf == 2  # the last bin has no fakes in either sample
    expected = (1.0 / (rate.error[0] ** 2 + other.error[0] ** 2)) + (1 / 3) ** 2 / (
        rate.error[1] ** 2 + other.error[1] ** 2
    )
    assert chi2 == pytest.approx(expected)


def test_same_distribution_is_compatible(files: dict[str, Path]) -> None:
    out, section = _section(files, "same")
    for name in ("Electron", "Photon"):
        for key in ("fake_rate_pt/all", "fake_rate_pt/b", "fake_rate_flavour"):
            m = out[f"{name}/{key}"]
            assert m["ndf"] >= 3, (name, key)
            assert m["chi2_ndf"] < 2.0, (name, key, m["chi2_ndf"])
        total = out[f"{name}/fake_rate"]
        assert total["flash"]["genjets"] == total["full"]["genjets"]  # the same gen events
        assert abs(total["rate_flash"] - total["rate_full"]) < 3 * np.hypot(
            total["rate_flash_error"], total["rate_full_error"]
        )
    assert out["Electron/fake_rate"]["rate_full"] == pytest.approx(0.029, abs=0.003)
    assert "notes" not in out
    assert {p.name for g in section.groups for p in g.plots} == {
        f"{n}/fake_rate_{k}" for n in ("Electron", "Photon") for k in ("pt", "pt_flavour",
                                                                        "flavour")
    }  # fmt: skip


def test_doubled_fake_rate_is_seen(files: dict[str, Path]) -> None:
    out, _ = _section(files, "double")
    for name in ("Electron", "Photon"):
        assert out[f"{name}/fake_rate_pt/all"]["chi2_ndf"] > 5, name
        assert out[f"{name}/fake_rate_flavour"]["chi2_ndf"] > 5, name
        total = out[f"{name}/fake_rate"]
        assert total["rate_flash"] / total["rate_full"] == pytest.approx(2.0, rel=0.15)


def test_flavour_split(files: dict[str, Path]) -> None:
    """Only b jets fake three times as often: the b curve and the flavour curve show it, the
    light and c curves do not."""
    out, _ = _section(files, "b_only")
    assert out["Electron/fake_rate_pt/b"]["chi2_ndf"] > 5
    assert out["Electron/fake_rate_pt/light"]["chi2_ndf"] < 2
    assert out["Electron/fake_rate_pt/c"]["chi2_ndf"] < 2
    flav = out["Electron/fake_rate_flavour"]
    assert flav["edges"] == [-0.5, 0.5, 1.5, 2.5]  # b, c, light
    assert flav["flash"][0] / flav["full"][0] == pytest.approx(3.0, rel=0.15)
    assert flav["flash"][2] / flav["full"][2] == pytest.approx(1.0, abs=0.15)
    assert flav["full"][0] == pytest.approx(BASE_RATES[5], rel=0.15)
    assert flav["full"][2] == pytest.approx(BASE_RATES[0], rel=0.15)


def test_absent_and_one_sided_collections(tmp_path: Path) -> None:
    events = make_events(300)
    no_jetidx = ("Electron_jetIdx", "Photon_jetIdx")
    bare = sample_of(write_events(tmp_path / "bare.root", events, drop=no_jetidx))
    full = sample_of(write_events(tmp_path / "full.root", events))
    assert jet_fakes_section(bare, bare) is None  # silently absent
    out, section = jet_fakes_section(bare, full)  # flash lacks jetIdx, full has it: a note
    assert len(out["notes"]) == 2
    assert (
        "Electron fake rates not compared: the flash file has no Electron_jetIdx"
        in (out["notes"][0])
    )
    assert not any(k.startswith("Electron/fake_rate") for k in out)
    assert [row[0] for row in section.summary] == ["note", "note"]
    # Without GenJet flavour in one file: compared, but no flavour split, and a note.
    noflav = sample_of(write_events(tmp_path / "nf.root", events, drop=("GenJet_hadronFlavour",)))
    out, _ = jet_fakes_section(noflav, full)
    assert "Electron/fake_rate_pt/all" in out
    assert "Electron/fake_rate_pt/b" not in out
    assert "fake rates per GenJet flavour not compared" in out["notes"][0]


SPEC = """version: 1
name: mini
collections:
  Jet:
    source: {collection: GenJet}
    target: {collection: Jet, match: genJetIdx}
    conditions:
      - {name: pt, field: pt, transform: [standardize]}
      - {name: eta, field: eta, transform: [standardize]}
    targets:
      - {name: pt, kind: ratio, transform: [standardize]}
      - {name: eta, kind: diff, transform: [standardize]}
    efficiency: {n_estimators: 10}
    response: {model: flow}
"""


def run_validate(tmp_path: Path, flash: Path, full: Path) -> dict[str, Any]:
    """``flashsim validate`` of two synthetic files with a one-collection pipeline; its
    ``metrics.json``."""
    # Not gated: the doubled fake rates (chi2/ndf > 5) pass a gate on every efficiency chi2.
    metrics, html = validate_files(tmp_path, flash, full, SPEC, "--fail-above", "eff_chi2=2")
    assert "Electrons and photons faked by jets" in html
    return metrics


def test_flashsim_validate_writes_the_fake_rates(files: dict[str, Path], tmp_path: Path) -> None:
    metrics = run_validate(tmp_path, files["double"], files["full"])
    fakes = metrics["jet_fakes"]
    assert fakes["Electron/fake_rate_pt/all"]["chi2_ndf"] > 5
    assert fakes["Photon/fake_rate_flavour"]["ndf"] == 3
    assert metrics["gate"]["passed"]


def test_rate_plots_are_scaled_to_the_rates(files: dict[str, Path]) -> None:
    """Fake rates of a few percent are drawn on their own scale, not on the 0-1.1 of the
    efficiency figures."""
    from flashsim.validation.plots import draw

    _, section = _section(files, "same")
    plot = next(p for g in section.groups for p in g.plots if p.name == "Electron/fake_rate_pt")
    assert plot.kind == "rate"
    top = draw(plot).axes[0]
    assert top.get_ylim()[0] == 0
    assert 0.05 < top.get_ylim()[1] < 0.5

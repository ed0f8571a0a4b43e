"""Photon identification efficiency in the validation report
(flashsim.validation.sections.photons): prompt gen photons reconstructed at each cutBased
working point, vs gen pT and |eta|, flash vs full.

Synthetic NanoAOD-like files (uproot, fixed seeds) from the writer of the jet-fake tests: flash
and full share the generated events and differ in the reconstructed photons only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
from raw_samples import sample_of, write_events
from test_validation_jet_fakes import make_events, run_validate

from flashsim.validation.plots import draw
from flashsim.validation.sections.photons import gen_photons, photon_section

N = 12_000
WPS = ("reco", "loose", "medium", "tight")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("photons")
    return {
        "full": write_events(d / "full.root", make_events(N, reco_seed=2)),
        "same": write_events(d / "same.root", make_events(N, reco_seed=3)),
        "tighter": write_events(
            d / "tighter.root", make_events(N, reco_seed=3, photon_tight_shift=-0.15)
        ),
    }


def _section(files: dict[str, Path], flash: str) -> tuple[dict[str, Any], Any]:
    found = photon_section(sample_of(files[flash]), sample_of(files["full"]))
    assert found is not None
    return found


def test_gen_photons_are_prompt_and_take_the_best_match() -> None:
    ev = {
        "GenPart_pdgId": ak.Array([[22, 22, 11, 22], [22]]),
        "GenPart_status": ak.Array([[1, 1, 1, 2], [1]]),
        "GenPart_statusFlags": ak.Array([[1, 0, 1, 1], [8193]]),
        "GenPart_pt": ak.Array([[10.0, 20.0, 30.0, 40.0], [50.0]]),
        "GenPart_eta": ak.Array([[0.1, 0.2, 0.3, 0.4], [0.5]]),
        # two photons point to gen photon 0 (best: 2), one to the non-prompt one, one nowhere,
        # one beyond GenPart
        "Photon_genPartIdx": ak.Array([[0, 0, 1, -1], [3]]),
        "Photon_cutBased": ak.Array([[1, 2, 3, 3], [3]]),
    }
    g = gen_photons(ev)
    assert g["pt"].tolist() == [10.0, 50.0]  # prompt, status 1, pdgId 22 only
    assert g["best"].tolist() == [2, -1]
    assert g["event"].tolist() == [0, 1]
    assert g["bad_index"] == 1


def test_same_distribution_is_compatible(files: dict[str, Path]) -> None:
    out, section = _section(files, "same")
    assert out["n_gen_photons"]["flash"] == out["n_gen_photons"]["full"] > 5000
    for var in ("pt", "abseta"):
        for wp in WPS:
            m = out[f"Photon/id_eff_{var}/{wp}"]
            assert m["ndf"] >= 3, (var, wp)
            assert m["chi2_ndf"] < 2.0, (var, wp, m["chi2_ndf"])
    # The efficiencies are what the files were made with: 95% reconstructed, tight 80% above 30.
    assert out["Photon/id_eff_abseta/reco"]["full"] == pytest.approx([0.95] * 3, abs=0.02)
    tight = out["Photon/id_eff_pt/tight"]
    assert tight["full"][-2] == pytest.approx(0.95 * 0.8, abs=0.05)
    assert {p.name for g in section.groups for p in g.plots} == {
        "Photon/id_eff_pt",
        "Photon/id_eff_abseta",
    }
    assert "notes" not in out


def test_a_different_tight_efficiency_is_seen(files: dict[str, Path]) -> None:
    """Flash passes the tight ID 15 points less often: the tight curves fail, the looser ones
    (the same photons) do not."""
    out, _ = _section(files, "tighter")
    for var in ("pt", "abseta"):
        assert out[f"Photon/id_eff_{var}/tight"]["chi2_ndf"] > 5, var
        assert out[f"Photon/id_eff_{var}/loose"]["chi2_ndf"] < 2, var
    tight = out["Photon/id_eff_abseta/tight"]
    assert np.subtract(tight["flash"], tight["full"]) == pytest.approx([-0.1425] * 3, abs=0.06)


def test_absent_and_one_sided_photons(tmp_path: Path) -> None:
    events = make_events(300)
    no_photons = {k: v for k, v in events.items() if k != "Photon"}
    bare = sample_of(write_events(tmp_path / "bare.root", no_photons))
    full = sample_of(write_events(tmp_path / "full.root", events))
    assert photon_section(bare, bare) is None  # silently absent
    out, section = photon_section(bare, full)
    assert out == {
        "notes": [
            "Photon ID efficiency not compared: the flash file has no Photon_cutBased, "
            "Photon_genPartIdx"
        ]
    }
    assert section.summary[0][0] == "note"


def test_efficiency_plot_draws(files: dict[str, Path]) -> None:
    _, section = _section(files, "same")
    plot = section.groups[0].plots[0]
    fig = draw(plot)
    assert len(fig.axes) == 2 * len(WPS)  # a panel and its ratio panel per working point


def test_flashsim_validate_writes_the_photon_efficiencies(
    files: dict[str, Path], tmp_path: Path
) -> None:
    metrics = run_validate(tmp_path, files["tighter"], files["full"])
    photons = metrics["photons"]
    assert photons["Photon/id_eff_pt/tight"]["chi2_ndf"] > 5
    assert photons["Photon/id_eff_pt/loose"]["chi2_ndf"] < 2
    assert set(WPS) == {k.rsplit("/", 1)[1] for k in photons if k.startswith("Photon/id_eff_pt")}

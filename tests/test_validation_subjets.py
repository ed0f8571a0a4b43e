"""Soft-drop subjets in the validation report (flashsim.validation.sections.subjets): subjet-pair
variables per fat jet (z, ΔR, b tags, pair mass over m_SD) and the fraction of fat jets with
fewer than two subjets, flash vs full, inclusive and per generated-jet class.

The inputs are tiny synthetic NanoAOD-like files written here with uproot (fixed seeds): the
flash and the full file share their generated events (GenJetAK8) and differ in the
reconstructed FatJet and SubJet only, as a flash file and the full simulation of the same events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
import vector
from raw_samples import sample_of, validate_files, write_events

from flashsim.validation.sections.subjets import (
    SUBJET_VARIABLES,
    subjet_quantities,
    subjets_section,
)

CLASSES = ("top", "Hbb", "QCD")


def _wrap(phi: np.ndarray) -> np.ndarray:
    return (phi + np.pi) % (2 * np.pi) - np.pi


def _pair_mass(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Invariant mass of the two subjets (shape ``(2, n)``) with the ``vector`` package."""
    v = vector.array({"pt": pt[0], "eta": eta[0], "phi": phi[0], "mass": m[0]})
    w = vector.array({"pt": pt[1], "eta": eta[1], "phi": phi[1], "mass": m[1]})
    return np.asarray((v + w).mass)


def make_events(
    n_events: int,
    *,
    gen_seed: int = 1,
    reco_seed: int = 2,
    z_shift: float = 0.0,
    swap_btag: bool = False,
    p_one: float = 0.05,
) -> dict[str, ak.Array]:
    """NanoAOD-like events: 0-2 GenJetAK8 (top, Hbb or QCD: pt, eta, phi, mass,
    hadronFlavour, nBHadrons), one FatJet per GenJetAK8 (pt, eta, phi, msoftdrop,
    genJetAK8Idx, subJetIdx1/2) and its SubJet (pt, eta, phi, mass, btagDeepB).

    A fat jet has one subjet with probability ``p_one``, else two with momentum balance z
    uniform in [0.1, 0.5] (plus ``z_shift``, at most 0.5), ΔR ~ m / (pT sqrt(z (1 - z))), in
    random order (m^2 ~ z (1 - z) pT^2 ΔR^2); m_SD is their pair mass (3% resolution). The
    soft prong of top and both of Hbb are b-tagged (Beta(5, 1)), the others not (Beta(1, 5));
    ``swap_btag`` gives the top jets' b tag to the hard prong.
    """
    g = np.random.default_rng(gen_seed)
    n_fat = g.integers(0, 3, n_events)
    nf = int(n_fat.sum())
    cls = g.choice(3, nf, p=[0.35, 0.3, 0.35])  # top, Hbb, QCD
    gmass = np.choose(cls, [g.normal(175, 8, nf), g.normal(125, 6, nf), g.uniform(10, 45, nf)])
    gpt = 300 + g.exponential(200, nf)
    geta, gphi = g.uniform(-2, 2, nf), g.uniform(-np.pi, np.pi, nf)

    r = np.random.default_rng(reco_seed)
    pt = gpt * r.normal(1, 0.08, nf)
    eta, phi = geta + r.normal(0, 0.02, nf), _wrap(gphi + r.normal(0, 0.02, nf))
    two = r.random(nf) >= p_one
    z = np.minimum(r.uniform(0.1, 0.5, nf) + z_shift, 0.5)
    dr = np.clip(gmass / (pt * np.sqrt(z * (1 - z))) * r.normal(1, 0.1, nf), 0.05, 0.8)
    a = r.uniform(0, 2 * np.pi, nf)
    sj_pt = np.stack([(1 - z) * pt, z * pt])  # hard, soft
    sj_eta = np.stack([eta + z * dr * np.cos(a), eta - (1 - z) * dr * np.cos(a)])
    sj_phi = _wrap(np.stack([phi + z * dr * np.sin(a), phi - (1 - z) * dr * np.sin(a)]))
    sj_m = r.uniform(2, 15, (2, nf))
    light, b = r.beta(1, 5, (2, nf)), r.beta(5, 1, (2, nf))
    btag = np.stack([np.where(cls == 1, b[0], light[0]), np.where(cls < 2, b[1], light[1])])
    if swap_btag:
        btag[:, cls == 0] = btag[::-1, cls == 0]
    msd = np.where(two, _pair_mass(sj_pt, sj_eta, sj_phi, sj_m) * r.normal(1, 0.03, nf), sj_m[0])
    flip = r.random(nf) < 0.5  # random storage order of the two subjets
    fields = {"pt": sj_pt, "eta": sj_eta, "phi": sj_phi, "mass": sj_m, "btagDeepB": btag}
    keep = np.stack([np.ones(nf, dtype=bool), two]).T  # (nf, 2): the subjets written
    sub = {}
    for name, values in fields.items():
        ordered = np.where(flip & two, values[::-1], values).T  # (nf, 2)
        sub[name] = ordered[keep]
    n_sj = 1 + two.astype(np.int64)
    event = np.repeat(np.arange(n_events), n_fat)
    n_sub = np.bincount(event, weights=n_sj, minlength=n_events).astype(np.int64)
    start = np.cumsum(n_sj) - n_sj
    local = start - (np.cumsum(n_sub) - n_sub)[event]
    genjet_idx = np.asarray(ak.flatten(ak.local_index(ak.unflatten(gpt, n_fat))))

    def jag(values: dict[str, np.ndarray], counts: np.ndarray) -> ak.Array:
        return ak.unflatten(ak.zip(values), counts)

    return {
        "GenJetAK8": jag(
            {
                "pt": gpt,
                "eta": geta,
                "phi": gphi,
                "mass": gmass,
                "hadronFlavour": np.where(cls < 2, 5, 0).astype(np.uint8),
                "nBHadrons": np.choose(cls, [1, 2, 0]).astype(np.uint8),
            },
            n_fat,
        ),
        "FatJet": jag(
            {
                "pt": pt,
                "eta": eta,
                "phi": phi,
                "msoftdrop": msd,
                "genJetAK8Idx": genjet_idx.astype(np.int32),
                "subJetIdx1": local.astype(np.int16),
                "subJetIdx2": np.where(two, local + 1, -1).astype(np.int16),
            },
            n_fat,
        ),
        "SubJet": jag(sub, n_sub),
    }


N = 5_000


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("subjets")
    return {
        "full": write_events(d / "full.root", make_events(N, reco_seed=2)),
        "same": write_events(d / "same.root", make_events(N, reco_seed=3)),
        "z": write_events(d / "z.root", make_events(N, reco_seed=3, z_shift=0.06)),
        "swap": write_events(d / "swap.root", make_events(N, reco_seed=3, swap_btag=True)),
        "one": write_events(d / "one.root", make_events(N, reco_seed=3, p_one=0.12)),
    }


def _section(files: dict[str, Path], flash: str) -> tuple[dict[str, Any], Any]:
    found = subjets_section(sample_of(files[flash]), sample_of(files["full"]))
    assert found is not None
    return found


def test_subjet_quantities_by_hand() -> None:
    """Event 0: a fat jet with subjets 1 and 0 (balance 1/4, ΔR 0.5, pair mass against an
    m_SD of 40), one with a single subjet; event 1: a fat jet whose index points beyond
    SubJet, one with m_SD 0 (no mass ratio)."""
    ev = {
        "FatJet_subJetIdx1": ak.Array([[1, 2], [0, 0]]),
        "FatJet_subJetIdx2": ak.Array([[0, -1], [5, 1]]),
        "FatJet_msoftdrop": ak.Array([[40.0, 10.0], [50.0, 0.0]]),
        "SubJet_pt": ak.Array([[300.0, 100.0, 50.0], [200.0, 100.0]]),
        "SubJet_eta": ak.Array([[0.0, 0.3, 1.0], [0.0, 0.1]]),
        "SubJet_phi": ak.Array([[3.0, -2.883185307179586, 0.0], [0.0, 0.1]]),
        "SubJet_mass": ak.Array([[10.0, 5.0, 3.0], [8.0, 8.0]]),
        "SubJet_btagDeepB": ak.Array([[0.9, 0.1, 0.5], [0.2, 0.3]]),
    }
    q = subjet_quantities(ev)
    assert q["two"].tolist() == [True, False, False, True]
    assert q["bad"].tolist() == [False, False, True, False]
    assert q["event"].tolist() == [0, 0, 1, 1]
    assert q["z"][0] == pytest.approx(0.25)
    assert q["dr"][0] == pytest.approx(0.5)  # Δη 0.3, Δφ 0.4 across the ±π boundary
    assert q["btag_max"][0] == 0.9
    assert q["btag_min"][0] == 0.1
    assert q["btag_harder"][0] == 0.9
    assert q["btag_harder"][3] == 0.2
    pt, eta = np.array([[300.0], [100.0]]), np.array([[0.0], [0.3]])
    phi, m = np.array([[3.0], [-2.883185307179586]]), np.array([[10.0], [5.0]])
    assert q["mass_ratio"][0] == pytest.approx(_pair_mass(pt, eta, phi, m)[0] / 40.0, rel=1e-9)
    assert np.isnan(q["z"][1])
    assert np.isnan(q["mass_ratio"][3])
    assert np.isfinite(q["z"][3])


def test_same_distribution_is_compatible(files: dict[str, Path]) -> None:
    out, section = _section(files, "same")
    for var in SUBJET_VARIABLES:
        m = out[f"SubJet/{var}"]
        assert m["n_flash"] > 4000
        assert m["n_full"] > 4000
        assert m["ks"] < 0.05, (var, m["ks"])
        assert abs(m["mean_pull"]) < 4, (var, m["mean_pull"])
        for cls in CLASSES:
            assert out[f"SubJet/{var}/{cls}"]["ks"] < 0.08, (var, cls)
    # m_SD is the pair mass (3% resolution): the ratio peaks at 1
    assert out["SubJet/mass_ratio"]["mean_full"] == pytest.approx(1.0, abs=0.01)
    assert out["SubJet/z"]["mean_full"] == pytest.approx(0.3, abs=0.01)
    f = out["SubJet/fewer_than_two"]
    assert f["fraction_full"] == pytest.approx(0.05, abs=0.01)
    assert 0 < f["fraction_full_error"] < 0.005
    assert abs(f["pull"]) < 4
    assert "SubJet/z/Wqq" not in out  # no W jets in the sample
    assert "notes" not in out
    names = {p.name for g in section.groups for p in g.plots}
    assert names == {"subjets/pairs", "subjets/fewer_than_two_class"} | {
        f"subjets/pairs_{c}" for c in CLASSES
    }
    pairs = next(p for g in section.groups for p in g.plots if p.name == "subjets/pairs")
    assert pairs.kind == "hist"
    assert len(pairs.items) == len(SUBJET_VARIABLES)
    assert sum(pairs.items[0].full) == pytest.approx(out["SubJet/z"]["n_full"], rel=0.01)


def test_shifted_balance_is_seen(files: dict[str, Path]) -> None:
    out, _ = _section(files, "z")
    assert out["SubJet/z"]["ks"] > 0.1
    assert out["SubJet/z"]["mean_pull"] > 10
    assert out["SubJet/z"]["mean_flash"] - out["SubJet/z"]["mean_full"] == pytest.approx(
        0.05, abs=0.01
    )  # 0.06 shift, capped at z = 0.5
    assert out["SubJet/btag_max"]["ks"] < 0.05  # the b tags are not touched


def test_b_tag_given_to_the_wrong_prong_is_seen(files: dict[str, Path]) -> None:
    """The top jets' b tag on the hard prong: the harder subjet's b tag differs, in top jets
    only; the larger and smaller b tags of a pair cannot see a swap."""
    out, _ = _section(files, "swap")
    assert out["SubJet/btag_harder"]["ks"] > 0.2
    assert out["SubJet/btag_harder/top"]["ks"] > 0.6
    assert out["SubJet/btag_harder/Hbb"]["ks"] < 0.08
    assert out["SubJet/btag_harder/QCD"]["ks"] < 0.08
    assert out["SubJet/btag_max"]["ks"] < 0.05
    assert out["SubJet/btag_min"]["ks"] < 0.05


def test_more_single_subjet_jets_are_seen(files: dict[str, Path]) -> None:
    out, section = _section(files, "one")
    f = out["SubJet/fewer_than_two"]
    assert f["fraction_flash"] == pytest.approx(0.12, abs=0.015)
    assert f["pull"] > 5
    for cls in CLASSES:
        assert out[f"SubJet/fewer_than_two/{cls}"]["pull"] > 3, cls
    assert out["SubJet/z"]["ks"] < 0.05  # the pairs that are there are the same
    comp = next(p for g in section.groups for p in g.plots if p.kind == "rate").items[0]
    assert comp.flash.efficiency == pytest.approx([0.12] * 3, abs=0.03)


def test_a_class_needs_enough_pairs_in_both_files(files: dict[str, Path], tmp_path: Path) -> None:
    """A class is compared only when each file has MIN_ENTRIES two-subjet fat jets of it: a
    small flash file (about 14 of each class) leaves the classes out, not the inclusive rows."""
    small = sample_of(write_events(tmp_path / "small.root", make_events(40, reco_seed=3)))
    found = subjets_section(small, sample_of(files["full"]))
    assert found is not None
    out = found[0]
    assert "SubJet/z" in out
    assert not [k for k in out if k.startswith("SubJet/z/")]
    both = subjets_section(sample_of(files["full"]), small)
    assert both is not None
    assert not [k for k in both[0] if k.startswith("SubJet/z/")]


def test_plots_draw(files: dict[str, Path]) -> None:
    """The section's figures use the report's plot kinds: six histogram panels with ratios, and
    the fraction per class on its own (small) scale."""
    from flashsim.validation.plots import draw

    _, section = _section(files, "one")
    plots = {p.name: p for g in section.groups for p in g.plots}
    fig = draw(plots["subjets/pairs"])
    assert len(fig.axes) == 2 * len(SUBJET_VARIABLES)  # a main and a ratio axis per variable
    rate = draw(plots["subjets/fewer_than_two_class"]).axes[0]
    assert rate.get_ylim()[0] == 0
    assert 0.1 < rate.get_ylim()[1] < 0.5


def test_absent_and_one_sided(tmp_path: Path) -> None:
    events = make_events(400)
    bare = sample_of(write_events(tmp_path / "bare.root", events, drop=("SubJet",)))
    full = sample_of(write_events(tmp_path / "full.root", events))
    assert subjets_section(bare, bare) is None  # silently absent
    out, section = subjets_section(bare, full)  # flash lacks SubJet, full has it: a note
    assert out["notes"] == [
        "SubJet pairs not compared: the flash file has no SubJet_pt, SubJet_eta, SubJet_phi, "
        "SubJet_mass, SubJet_btagDeepB"
    ]
    assert not any(k.startswith("SubJet/") for k in out)
    assert [row[0] for row in section.summary] == ["note"]
    assert not section.groups
    out, _ = subjets_section(full, bare)
    assert "the full-simulation file has no SubJet_pt" in out["notes"][0]
    # Without the generated-jet class branches: compared inclusively only, no note.
    nomass = sample_of(write_events(tmp_path / "nm.root", events, drop=("GenJetAK8_mass",)))
    out, section = subjets_section(nomass, full)
    assert "SubJet/z" in out
    assert not any(k.endswith("/top") for k in out)
    assert "notes" not in out
    assert len(section.groups) == 1
    # hadronFlavour in one file only: the classes come from nBHadrons.
    nf = sample_of(write_events(tmp_path / "nf.root", events, drop=("GenJetAK8_hadronFlavour",)))
    out, _ = subjets_section(nf, full)
    assert out["SubJet/z/top"]["n_flash"] == out["SubJet/z/top"]["n_full"] > 20


def test_index_beyond_subjet_is_a_note(tmp_path: Path) -> None:
    events = make_events(400)
    fat = events["FatJet"]
    first = (ak.local_index(fat.subJetIdx2) == 0) & (fat.subJetIdx2 >= 0)  # -1 stays -1
    broken = ak.where(first, fat.subJetIdx2 + 50, fat.subJetIdx2)
    events_bad = {**events, "FatJet": ak.with_field(fat, broken, "subJetIdx2")}
    flash = sample_of(write_events(tmp_path / "bad.root", events_bad))
    full = sample_of(write_events(tmp_path / "full.root", events))
    out, _ = subjets_section(flash, full)
    n_bad = int(ak.sum(first))
    assert out["notes"] == [f"{n_bad} flash fat jets have a subjet index beyond SubJet; left out"]
    good = int(ak.sum(ak.num(fat.pt))) - n_bad
    assert out["SubJet/fewer_than_two"]["n_flash"] == good


SPEC = """version: 1
name: mini
collections:
  FatJet:
    source: {collection: GenJetAK8}
    target: {collection: FatJet, match: genJetAK8Idx}
    conditions:
      - {name: pt, field: pt, transform: [standardize]}
      - {name: eta, field: eta, transform: [standardize]}
    targets:
      - {name: pt, kind: ratio, transform: [standardize]}
      - {name: eta, kind: diff, transform: [standardize]}
    efficiency: {n_estimators: 10}
    response: {model: flow}
"""


def test_flashsim_validate_writes_the_subjets(files: dict[str, Path], tmp_path: Path) -> None:
    """End to end, with --max-events: the report has the section, metrics.json the numbers
    over the events read."""
    metrics, html = validate_files(
        tmp_path, files["z"], files["full"], SPEC, "--max-events", "2000"
    )
    assert "Soft-drop subjets" in html
    sub = metrics["subjets"]
    assert sub["SubJet/z"]["ks"] > 0.1
    with uproot.open(files["full"]) as f:
        n_fat = int(ak.sum(f["Events"]["nFatJet"].array(entry_stop=2000)))
    assert sub["SubJet/fewer_than_two"]["n_full"] == n_fat
    assert sub["SubJet/z/top"]["n_full"] > 100

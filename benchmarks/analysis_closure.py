"""Analysis-level closure: one small analysis run unchanged on a full-simulation file and on
its flash file, observables compared with χ² p-values.

Plain uproot + awkward, no coffea. Analyses (chosen from the process in the file's provenance,
or with ``--analyses``):

* ``zmumu`` (dy, zprime_ll): two opposite-sign muons with pT > 20 GeV, |η| < 2.4,
  pfRelIso04_all < 0.15 (the two leading such muons); m(μμ) in 70-110 GeV; peak position
  (median) and width (68% half-width and std) of m(μμ) in 80-100 GeV with bootstrap errors;
* ``ttbar`` (ttbar, zh_bb): jets with pT > 30 GeV, |η| < 2.4; the number of b-tagged jets
  (btagDeepFlavB above the full sample's 70% b-jet working point), the number of jets and HT;
* ``dijet`` (qcd): the mass of the two leading jets with pT > 30 GeV, |η| < 2.5.

Flash files are made here (``--replicas`` per gen event, ``flashsim run --oversample``) unless
given with ``--flash``. Histograms are compared as yields per event (flash divided by its
replicas), so a selection efficiency that differs shows; errors take the gen event as the
independent unit.

    python benchmarks/analysis_closure.py samples/dy_valid.root samples/ttbar_valid.root \
        samples/qcd_valid.root --model models/cms_like --json closure.json [--markdown]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fidelity_tables import BTAG_ETA, BTAG_PT, finish, num, pm, render_table, say

from flashsim.bundle import bundle_hash, default_model_path, load_bundle
from flashsim.exceptions import InputError
from flashsim.io import read_provenance
from flashsim.runner import REPLICA_BRANCH, SOURCE_BRANCH, run_file
from flashsim.validation.physics_checks import (
    grouped_mean,
    histogram_chi2,
    multiplicity_edges,
    pull,
    quantile_edges,
    resolution_widths,
    working_point,
)

_ANALYSES = {
    "dy": ["zmumu"],
    "zprime_ll": ["zmumu"],
    "ttbar": ["ttbar"],
    "zh_bb": ["ttbar"],
    "qcd": ["dijet"],
}
_ALL = ["zmumu", "ttbar", "dijet"]
_MIN_EVENTS = 20
BTAG = "Jet_btagDeepFlavB"

_BRANCHES = [
    "Muon_pt",
    "Muon_eta",
    "Muon_phi",
    "Muon_mass",
    "Muon_charge",
    "Muon_pfRelIso04_all",
    "Jet_pt",
    "Jet_eta",
    "Jet_phi",
    "Jet_mass",
    "Jet_btagDeepFlavB",
    "Jet_hadronFlavour",
    "Jet_genJetIdx",
    "GenJet_hadronFlavour",
    SOURCE_BRANCH,
    REPLICA_BRANCH,
]


class Sample:
    """One file's events (the branches the analyses read) and gen event ids."""

    def __init__(self, path: Path, max_events: int | None = None) -> None:
        with uproot.open(path) as f:
            tree = f["Events"]
            keys = set(tree.keys())
            self.arrays = tree.arrays([b for b in _BRANCHES if b in keys], entry_stop=max_events)
        self.path = path
        self.n_events = len(self.arrays)
        fields = set(self.arrays.fields)
        self.groups = (
            np.asarray(self.arrays[SOURCE_BRANCH], dtype=np.int64)
            if SOURCE_BRANCH in fields
            else np.arange(self.n_events)
        )
        self.n_replicas = (
            int(np.max(self.arrays[REPLICA_BRANCH])) + 1
            if REPLICA_BRANCH in fields and self.n_events
            else 1
        )

    def has(self, *names: str) -> bool:
        return all(n in self.arrays.fields for n in names)


def _mass(a: ak.Array, b: ak.Array) -> ak.Array:
    """Invariant mass of two massive objects given pt, eta, phi, mass."""
    pa = [a.pt * np.cos(a.phi), a.pt * np.sin(a.phi), a.pt * np.sinh(a.eta)]
    pb = [b.pt * np.cos(b.phi), b.pt * np.sin(b.phi), b.pt * np.sinh(b.eta)]
    ea = np.sqrt(pa[0] ** 2 + pa[1] ** 2 + pa[2] ** 2 + a.mass**2)
    eb = np.sqrt(pb[0] ** 2 + pb[1] ** 2 + pb[2] ** 2 + b.mass**2)
    m2 = (ea + eb) ** 2 - sum((x + y) ** 2 for x, y in zip(pa, pb, strict=True))
    return np.sqrt(np.maximum(m2, 0.0))


def _flat(x: ak.Array) -> np.ndarray:
    return np.asarray(ak.fill_none(x, np.nan), dtype=np.float64)


# -- the analyses (the same code on flash and full) -----------------------------------------


def dimuon_mass(s: Sample) -> np.ndarray:
    """Per event m(μμ) of the two leading selected muons if opposite-sign, else NaN."""
    a = s.arrays
    mass = a.Muon_mass if s.has("Muon_mass") else a.Muon_pt * 0 + 0.1056584
    mu = ak.zip(
        {
            "pt": a.Muon_pt,
            "eta": a.Muon_eta,
            "phi": a.Muon_phi,
            "mass": mass,
            "charge": a.Muon_charge,
            "iso": a.Muon_pfRelIso04_all,
        }
    )
    mu = mu[(mu.pt > 20) & (abs(mu.eta) < 2.4) & (mu.iso < 0.15)]
    mu = mu[ak.argsort(mu.pt, ascending=False)]
    two = ak.pad_none(mu, 2)[:, :2]
    m = _flat(_mass(two[:, 0], two[:, 1]))
    opposite = _flat(two[:, 0].charge * two[:, 1].charge) < 0
    return np.where(opposite, m, np.nan)


def selected_jets(s: Sample) -> ak.Array:
    """Mask of the jets with pT > 30 GeV and |η| < 2.4."""
    return (s.arrays.Jet_pt > BTAG_PT) & (abs(s.arrays.Jet_eta) < BTAG_ETA)


def jet_flavour(s: Sample, use_reco: bool) -> ak.Array:
    """Jet_hadronFlavour, or the matched GenJet's (0 for unmatched jets)."""
    a = s.arrays
    if use_reco:
        return a.Jet_hadronFlavour
    idx = a.Jet_genJetIdx
    ok = (idx >= 0) & (idx < ak.num(a.GenJet_hadronFlavour))
    return ak.where(ok, a.GenJet_hadronFlavour[ak.where(ok, idx, 0)], 0)


def btag_cut(full: Sample, use_reco: bool) -> tuple[float, float]:
    """The btagDeepFlavB cut at the full sample's 70% b-jet efficiency (and what it gives)."""
    keep = selected_jets(full)
    flav = np.abs(np.asarray(ak.flatten(jet_flavour(full, use_reco)[keep])))
    score = np.asarray(ak.flatten(full.arrays[BTAG][keep]), dtype=np.float64)
    return working_point(score[flav == 5], 0.70)


def ttbar_observables(s: Sample, cut: float) -> dict[str, np.ndarray]:
    keep = selected_jets(s)
    pt = s.arrays.Jet_pt[keep]
    tagged = s.arrays[BTAG][keep] >= cut
    return {
        "n_btag": np.asarray(ak.sum(tagged, axis=1), dtype=np.float64),
        "n_jets": np.asarray(ak.num(pt), dtype=np.float64),
        "HT": np.asarray(ak.sum(pt, axis=1), dtype=np.float64),
    }


def dijet_mass(s: Sample) -> np.ndarray:
    a = s.arrays
    jets = ak.zip({"pt": a.Jet_pt, "eta": a.Jet_eta, "phi": a.Jet_phi, "mass": a.Jet_mass})
    jets = jets[(jets.pt > 30) & (abs(jets.eta) < 2.5)]
    jets = jets[ak.argsort(jets.pt, ascending=False)]
    two = ak.pad_none(jets, 2)[:, :2]
    return _flat(_mass(two[:, 0], two[:, 1]))


# -- comparison -------------------------------------------------------------------------------


def compare(
    name: str,
    f: np.ndarray,
    r: np.ndarray,
    flash: Sample,
    full: Sample,
    edges: np.ndarray,
) -> dict[str, Any]:
    """Yields (selected events per event; flash scaled to the full sample's events) and the χ²
    of the per-event histograms."""
    sel_f, sel_r = np.isfinite(f), np.isfinite(r)
    yf, ef = grouped_mean(sel_f.astype(float), flash.groups)
    yr, er = grouped_mean(sel_r.astype(float), full.groups)
    chi = histogram_chi2(
        f,
        r,
        edges,
        groups_a=flash.groups,
        norm_a=flash.n_events,
        norm_b=full.n_events,
    )
    n = full.n_events
    return {
        "observable": name,
        "yield_flash": yf * n,
        "yield_flash_error": ef * n,
        "yield_full": yr * n,
        "yield_full_error": er * n,
        "yield_pull": pull(yf, ef, yr, er),
        **chi.to_dict(),
    }


def run_analyses(
    flash: Sample, full: Sample, analyses: list[str], rng: np.random.Generator
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "zmumu" in analyses and full.has("Muon_pt", "Muon_pfRelIso04_all", "Muon_charge"):
        mf, mr = dimuon_mass(flash), dimuon_mass(full)
        res: dict[str, Any] = {
            "mll_70_110": compare(
                "m(μμ) 70-110 GeV",
                np.where((mf > 70) & (mf < 110), mf, np.nan),
                np.where((mr > 70) & (mr < 110), mr, np.nan),
                flash,
                full,
                np.linspace(70, 110, 21),
            )
        }
        peak = {}
        for role, m, s in (("flash", mf, flash), ("full", mr, full)):
            window = (m > 80) & (m < 100)
            peak[role] = resolution_widths(m[window], groups=s.groups[window], rng=rng)
        for key in ("median", "w68", "std"):
            a, b = peak["flash"], peak["full"]
            peak[f"{key}_pull"] = pull(a[key], a[f"{key}_error"], b[key], b[f"{key}_error"])
        res["peak_80_100"] = peak
        out["zmumu"] = res
    if "ttbar" in analyses and full.has("Jet_pt", BTAG) and flash.has(BTAG):
        use_reco = full.has("Jet_hadronFlavour") and flash.has("Jet_hadronFlavour")
        if not use_reco and not (full.has("Jet_genJetIdx", "GenJet_hadronFlavour")):
            out["ttbar"] = {"skipped": "no jet flavour"}
        else:
            cut, achieved = btag_cut(full, use_reco)
            of, orr = ttbar_observables(flash, cut), ttbar_observables(full, cut)
            res = {"btag_cut": cut, "full_b_efficiency_at_cut": achieved}
            for key in ("n_btag", "n_jets"):
                edges = multiplicity_edges(of[key], orr[key])
                res[key] = compare(key, of[key], orr[key], flash, full, edges)
            edges = quantile_edges(orr["HT"], 20)
            res["HT"] = compare("HT", of["HT"], orr["HT"], flash, full, edges)
            out["ttbar"] = res
    if "dijet" in analyses and full.has("Jet_pt"):
        mf, mr = dijet_mass(flash), dijet_mass(full)
        if np.isfinite(mr).sum() >= _MIN_EVENTS:
            edges = quantile_edges(mr, 20)
            out["dijet"] = {"mjj": compare("mjj", mf, mr, flash, full, edges)}
    return out


def print_tables(results: dict[str, Any], *, markdown: bool) -> None:
    rows = []
    for proc, res in results["files"].items():
        for analysis, obs in res["analyses"].items():
            for m in obs.values():
                if not isinstance(m, dict) or "chi2" not in m:
                    continue
                rows.append(
                    [
                        proc,
                        analysis,
                        m["observable"],
                        f"{pm(m['yield_flash'], m['yield_flash_error'], 1)} / "
                        f"{pm(m['yield_full'], m['yield_full_error'], 1)}",
                        num(m["yield_pull"], 1),
                        f"{num(m['chi2'], 1)} / {m['ndf']} = {num(m['chi2_ndf'])}",
                        num(m["p_value"], 3),
                    ]
                )
    print("\n## Analysis closure: flash vs full (yields per full-sample events)\n")
    print(
        render_table(
            [
                "process",
                "analysis",
                "observable",
                "yield flash / full",
                "yield pull",
                "χ² / ndf",
                "p-value",
            ],
            rows,
            markdown=markdown,
        )
    )
    rows = []
    for proc, res in results["files"].items():
        peak = res["analyses"].get("zmumu", {}).get("peak_80_100")
        if not peak:
            continue
        f, r = peak["flash"], peak["full"]
        for key, label in (("median", "peak (median)"), ("w68", "68% half-width"), ("std", "std")):
            rows.append(
                [
                    proc,
                    label,
                    pm(f[key], f[f"{key}_error"], 2),
                    pm(r[key], r[f"{key}_error"], 2),
                    num(peak[f"{key}_pull"], 1),
                ]
            )
    if rows:
        print("\n## Z→μμ: m(μμ) in 80-100 GeV [GeV]\n")
        print(render_table(["process", "", "flash", "full", "pull"], rows, markdown=markdown))
    for proc, res in results["files"].items():
        tt = res["analyses"].get("ttbar", {})
        if "btag_cut" in tt:
            print(
                f"\n{proc}: b-tag cut btagDeepFlavB >= {tt['btag_cut']:.4f} "
                f"(full b-jet efficiency {tt['full_b_efficiency_at_cut']:.3f})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="full-simulation (refsim) files")
    parser.add_argument(
        "--flash",
        nargs="+",
        type=Path,
        default=None,
        help="their flash files, in the same order (default: made here)",
    )
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-events", type=int, default=None)
    parser.add_argument(
        "--analyses", default="auto", help="comma-separated zmumu,ttbar,dijet; auto: by process"
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    if args.flash is not None and len(args.flash) != len(args.files):
        parser.error("give one --flash file per full file")

    begin = time.monotonic()
    rng = np.random.default_rng(args.seed)
    results: dict[str, Any] = {"files": {}}
    pipeline = None
    if args.flash is None:
        pipeline = load_bundle(args.model)
        results["model"] = {"path": str(args.model), "hash": bundle_hash(args.model)[:12]}
        print(f"model {args.model} ({results['model']['hash']}), {args.replicas} replicas")
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(args.files):
            if args.flash is not None:
                flash_path = args.flash[i]
            else:
                flash_path = Path(tmp) / f"flash_{path.name}"
                say(f"{path.name}: flash simulation, {args.replicas} replicas")
                run_file(
                    pipeline,
                    path,
                    flash_path,
                    seed=args.seed,
                    oversample=args.replicas,
                    progress=False,
                    max_events=args.max_events,
                    overwrite=True,
                )
            try:
                process = read_provenance(path).get("process")
            except InputError:  # no provenance: every analysis
                process = None
            if args.analyses == "auto":
                analyses = _ANALYSES.get(process, _ALL)
            else:
                analyses = args.analyses.split(",")
            say(f"{path.name}: analyses {', '.join(analyses)}")
            full = Sample(path, args.max_events)
            flash = Sample(flash_path)
            results["files"][path.stem] = {
                "process": process,
                "events": full.n_events,
                "flash_events": flash.n_events,
                "replicas": flash.n_replicas,
                "analyses": run_analyses(flash, full, analyses, rng),
            }
    finish(results, print_tables, markdown=args.markdown, json_path=args.json, begin=begin)


if __name__ == "__main__":
    main()

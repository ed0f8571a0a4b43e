"""The LHCb-like PID alone: train some species on calibration files, compare DLLK > 0 (prints).

A ten-minute loop for PID work, against the half hour of ``lhcb_pipeline.py``: it trains only the
PID section of ``pipelines/lhcb_like.yaml`` (or ``--spec``) for ``--species`` on the sWeighted
calibration files ``calib_<species>.root`` in ``--calibration`` (as ``lhcb_pipeline.py`` writes
them), applies the models to the reference tracks of a held-out bb-bar sample (their own p, eta
and the event's ``Event_nTracks``, so the track and event stages play no part) and prints,
per p bin, the DLLK > 0 efficiency of long tracks, flash minus reference, with the statistical
error of the difference; then the same on the calibration's true-signal rows (how well the model
fits its own training distribution), and the fast tracks split in eta.

    python benchmarks/lhcb_pid_harness.py --calibration samples/lhcb \\
        --valid samples/lhcb/bbbar_valid_20000.root --output /tmp/pid
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import awkward as ak
import numpy as np
import uproot

from flashsim.spec import PidSpec
from flashsim.stages.pid import SpeciesModel
from flashsim.validation.metrics import Efficiency

P_EDGES = [2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200]
PDG = {"kaon": 321, "pion": 211}


def sample(
    model: SpeciesModel, spec: PidSpec, conditions: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Sampled (DLLK, isMuon) of condition rows (p, eta, nTracks) of one species' PID model."""
    from flashsim.stages.pid import decode_pid_targets

    is_muon, values, flags = model.apply(conditions, rng)
    column = [c.name for c in spec.targets].index("DLLK")
    return decode_pid_targets(spec, values, flags)[:, column], np.asarray(is_muon, dtype=bool)


def curves(p: np.ndarray, flash: np.ndarray, ref: np.ndarray) -> tuple[Efficiency, Efficiency]:
    """The efficiency curves of two selections (flash, reference) in the p bins."""
    from flashsim.validation.metrics import binned_efficiency

    edges = np.asarray(P_EDGES, dtype=np.float64)
    return binned_efficiency(p, flash, edges), binned_efficiency(p, ref, edges)


def is_muon_chi2(p: np.ndarray, flash: np.ndarray, ref: np.ndarray) -> tuple[float, int, float]:
    """(chi2, ndf, largest |difference|) of the isMuon rates per p bin, flash vs reference."""
    from flashsim.validation.metrics import efficiency_chi2

    f, r = curves(p, flash, ref)
    chi2, ndf = efficiency_chi2(f, r)
    return chi2, ndf, float(np.nanmax(np.abs(f.efficiency - r.efficiency)))


def per_bin(p: np.ndarray, flash: np.ndarray, ref: np.ndarray) -> list[tuple[float, float]]:
    """(flash - reference, statistical error of the difference) of DLLK > 0 per p bin."""
    f, r = curves(p, flash > 0, ref > 0)
    diff, error = f.efficiency - r.efficiency, np.hypot(f.error, r.error)
    return [(float(d), float(e)) for d, e in zip(diff, error, strict=True)]


def main() -> None:
    from flashsim.spec import load_spec
    from flashsim.train import TrainingData, read_calibration, train_pid

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration", type=Path, required=True, help="calib_<species>.root")
    parser.add_argument("--valid", type=Path, required=True, help="held-out refsim bb-bar file")
    parser.add_argument("--output", type=Path, required=True, help="folder for checkpoints")
    parser.add_argument("--spec", type=Path, default=Path("pipelines/lhcb_like.yaml"))
    parser.add_argument("--species", nargs="+", choices=sorted(PDG), default=["kaon", "pion"])
    args = parser.parse_args()

    spec = load_spec(args.spec)
    assert spec.pid is not None
    pid = dataclasses.replace(
        spec.pid, species=tuple(s for s in spec.pid.species if s.name in args.species)
    )
    spec = dataclasses.replace(spec, pid=pid)
    calibration = {
        s.name: read_calibration(pid, s, [args.calibration / f"calib_{s.name}.root"])
        for s in pid.species
    }
    data = TrainingData({}, {}, None, n_events=1, files=[], calibration=calibration)
    start = time.monotonic()
    model = train_pid(spec, data, args.output, progress=False)
    print(f"trained in {time.monotonic() - start:.0f} s")

    branches = ["Track_p", "Track_eta", "Track_type", "Track_DLLK", "Track_isMuon"]
    with uproot.open(args.valid) as f:
        events = f["Events"].arrays(
            [*branches, "Track_genPartIdx", "GenPart_pdgId", "Event_nTracks"]
        )
    pdg = np.abs(np.asarray(ak.flatten(events.GenPart_pdgId[events.Track_genPartIdx])))
    n_tracks = ak.broadcast_arrays(events.Event_nTracks, events.Track_p)[0]
    flat = {b: np.asarray(ak.flatten(events[b])) for b in branches}
    flat["nTracks"] = np.asarray(ak.flatten(n_tracks))
    rng = np.random.default_rng(7)
    fmt = " ".join
    for name in model.species:
        sel = (pdg == PDG[name]) & (flat["Track_type"] == 1)
        p, eta = flat["Track_p"][sel], flat["Track_eta"][sel]
        conditions = np.column_stack([p, eta, flat["nTracks"][sel]]).astype(np.float64)
        flash, flash_mu = sample(model.species[name], pid, conditions, rng)
        ref = flat["Track_DLLK"][sel]
        bins = per_bin(p, flash, ref)
        print(f"{name} DLLK > 0, flash - reference per p bin {P_EDGES}:")
        print("  " + fmt(f"{d:+.3f}" for d, _ in bins))
        print("  " + fmt(f"{e:.3f}" for _, e in bins) + "  (statistical errors)")
        within = sum(abs(d) <= 0.02 for d, _ in bins)
        print(
            f"  within 0.02: {within} of {len(bins)} bins, largest |difference| "
            f"{max(abs(d) for d, _ in bins):.3f}"
        )
        chi2, ndf, largest = is_muon_chi2(p, flash_mu, flat["Track_isMuon"][sel].astype(bool))
        print(f"  isMuon rate vs p: chi2/ndf {chi2:.1f}/{ndf}, largest |difference| {largest:.4f}")
        fast = []
        for lo, hi in ((70, 100), (100, 200)):
            for e_lo, e_hi in ((2.0, 4.4), (4.4, 4.9), (4.9, 5.4)):
                s = (p > lo) & (p < hi) & (eta > e_lo) & (eta < e_hi)
                fast.append(
                    f"p {lo}-{hi} eta {e_lo}-{e_hi}: {np.mean(flash[s] > 0):.3f} "
                    f"vs {np.mean(ref[s] > 0):.3f} ({s.sum()})"
                )
        print("  fast tracks, flash vs reference (tracks): " + "; ".join(fast))
        columns = ["probe_p", "probe_eta", "Event_nTracks", "true_signal", "probe_DLLK"]
        with uproot.open(args.calibration / f"calib_{name}.root") as f:
            table = f["Events"].arrays(columns, library="np")
        signal = table["true_signal"].astype(bool)
        rows = np.column_stack([table[c][signal] for c in columns[:3]]).astype(np.float64)
        own = per_bin(
            rows[:, 0], sample(model.species[name], pid, rows, rng)[0], table["probe_DLLK"][signal]
        )
        print("  on the calibration's true signal: " + fmt(f"{d:+.3f}" for d, _ in own))


if __name__ == "__main__":
    main()

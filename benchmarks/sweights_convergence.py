"""Does the mass fit of ``flashsim sweights`` converge on every refsim calibration channel?

For each of the five default calibration channels (D* -> D0(K pi) pi kaons and pions, Lambda -> p
pi protons, J/psi -> mu mu muons, J/psi -> e e electrons; 40% background) and each seed, makes
the sample (``flashsim refsim calibration --channel C [--probe P] -n ROWS --seed S``, in memory:
``calibration_table``) and fits a double-sided Crystal Ball signal on the channel's background
(``exp``; for Lambda ``threshold`` with the threshold fixed at m_p + m_pi) in the channel's mass
range, as ``flashsim sweights`` does, with each method:

- ``one-step``: one MIGRAD from the guesses (the fit of flashsim 0.1, ``fit_mass(staged=False)``);
- ``staged``: the staged fit (``flashsim sweights ... --signal dcb``);
- ``tails-from``: the tails fixed from a signal-only sample of ``--signal-rows`` rows, seed
  S + 1000 (``flashsim sweights ... --tails-from SIGNAL.root``; README's command).

Prints one row per fit: channel, rows, seed, method, converged (a valid minimum and a
positive-definite covariance), EDM, the pull of the signal yield against the truth
((fitted - true) / HESSE error; the sample's ``true_signal`` branch counts the true signal rows),
likelihood evaluations, tails held by the staged fit, CPU seconds.

    python benchmarks/sweights_convergence.py --rows 60000 --seeds 1,2,3 \\
        --out benchmarks/results/sweights_convergence_60k
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

CHANNELS = (("dstar", "K"), ("dstar", "pi"), ("lambda", "p"), ("jpsi", "mu"), ("jpsi_ee", "e"))
METHODS = ("one-step", "staged", "tails-from")


def fit_one(channel: str, probe: str, rows: int, seed: int, method: str, signal_rows: int) -> dict:
    """Generate one sample, fit it with ``method``; returns the row of the table."""
    from flashsim.refsim.lhcb.calibration import CHANNELS as MODELS
    from flashsim.refsim.lhcb.calibration import calibration_table
    from flashsim.sweights import fit_mass
    from flashsim.sweights.tails import fit_tails

    model = MODELS[channel].mass
    window = (model.low, model.high)
    table = calibration_table(channel, rows, seed=seed, probe=probe)
    mass = table["mass"].astype(np.float64)
    inside = (mass >= window[0]) & (mass <= window[1])
    n_true = int(np.count_nonzero(table["true_signal"].astype(bool) & inside))
    background, fixed = "exp", {}
    if model.threshold is not None:
        background, fixed = "threshold", {"threshold": round(model.threshold, 2)}
    started = time.process_time()
    if method == "tails-from":
        simulated = calibration_table(
            channel, signal_rows, background_fraction=0.0, seed=seed + 1000, probe=probe
        )["mass"].astype(np.float64)
        started = time.process_time()
        fixed |= fit_tails(simulated, range=window).tails
    fit = fit_mass(
        mass,
        signal="dcb",
        background=background,
        range=window,
        fixed=fixed,
        staged=method != "one-step",
        check=False,
    )
    value, error = fit.yields["signal"]
    return {
        "channel": f"{channel}:{probe}",
        "rows": rows,
        "seed": seed,
        "method": method,
        "converged": fit.valid,
        "edm": fit.status["edm"],
        "n_signal": value,
        "n_signal_error": error,
        "n_signal_true": n_true,
        "pull": (value - n_true) / error if error > 0 and np.isfinite(error) else float("nan"),
        "nfcn": fit.status["nfcn"],
        "pinned": fit.status["pinned"],
        "cpu_s": time.process_time() - started,
    }


def format_row(row: dict[str, Any]) -> str:
    pinned = ",".join(row["pinned"]) or "-"
    return (
        f"| {row['channel']:<9} | {row['rows']:>7} | {row['seed']} | {row['method']:<10} | "
        f"{'yes' if row['converged'] else 'NO':<3} | {row['edm']:8.2g} | {row['pull']:+6.2f} | "
        f"{row['nfcn']:>5} | {pinned:<8} | {row['cpu_s']:6.1f} |"
    )


HEADER = (
    "| channel   |    rows | seed | method     | conv | EDM      | pull   | nfcn  | held     | "
    "CPU s  |\n|---|---|---|---|---|---|---|---|---|---|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--channels", default=",".join(f"{c}:{p}" for c, p in CHANNELS))
    parser.add_argument("--signal-rows", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=None, help="write OUT.json and OUT.txt")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    results, lines = [], [HEADER]
    print(HEADER, flush=True)
    for item in args.channels.split(","):
        channel, probe = item.split(":")
        for seed in seeds:
            for method in methods:
                row = fit_one(channel, probe, args.rows, seed, method, args.signal_rows)
                results.append(row)
                lines.append(format_row(row))
                print(lines[-1], flush=True)
    summary = []
    for method in methods:
        rows = [r for r in results if r["method"] == method]
        good = [r for r in rows if r["converged"] and abs(r["pull"]) <= 2.5]
        summary.append(
            f"{method}: {sum(r['converged'] for r in rows)}/{len(rows)} converged, "
            f"{len(good)}/{len(rows)} converged with |pull| <= 2.5"
        )
    print("\n".join(summary))
    if args.out:
        args.out.with_suffix(".json").write_text(
            json.dumps({"args": {**vars(args), "out": str(args.out)}, "fits": results}, indent=1)
            + "\n"
        )
        args.out.with_suffix(".txt").write_text("\n".join([*lines, "", *summary]) + "\n")


if __name__ == "__main__":
    main()

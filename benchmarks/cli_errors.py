"""How long the command line takes to answer a usage error, a missing input or an existing output.

Each case runs ``flashsim ARGS`` as a user does (a child process, ``python -m flashsim``) several
times and prints the median wall time, the exit status and the error line. With ``--old PATH``
(e.g. ``git archive HEAD~1 | tar -x -C /tmp/old``) every case also runs with the code at PATH,
alternately, so that the noise of a shared machine falls on both. Issue 26 asks for < 0.5 s:
none of these errors needs a model, so none should wait for torch, xgboost, uproot, awkward or
numba to be imported.

It is a benchmark, not a test (tests/test_cli_rough_edges.py checks that the heavy modules are
not imported on these paths): nothing is asserted.

    python benchmarks/cli_errors.py [--repeats 5] [--old /tmp/old] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "examples" / "ttbar_gen.root"
SPEC = ROOT / "pipelines" / "cms_like.yaml"
TARGET_S = 0.5


def cases(work: Path) -> dict[str, list[str]]:
    """The errors, by name: ``flashsim`` arguments (paths in ``work``; ``{fresh}`` is a new
    directory for each run: an older version may not refuse the case, and write there)."""
    missing = str(work / "mistyped.root")
    existing = work / "existing.root"
    existing.write_bytes(EXAMPLE.read_bytes()[:4096])
    report = work / "report"
    report.mkdir(exist_ok=True)
    (report / "index.html").write_text("")
    example = str(EXAMPLE)
    return {
        "run: mistyped input": ["run", missing, "-o", str(work / "a.root")],
        "run: existing output": ["run", example, "-o", str(existing)],
        "run: missing --model": ["run", example, "-o", str(work / "b.root"), "--model", missing],
        "run: --item-size < --step-size": [
            "run", example, "-o", "{fresh}/items/", "--item-size", "500", "--max-events", "100",
        ],
        "run: bad option (--seed -1)": ["run", example, "-o", str(work / "c.root"), "--seed", "-1"],
        "validate: mistyped --full": [
            "validate", "--flash", example, "--full", missing, "-o", str(work / "r"),
        ],
        "validate: existing report": [
            "validate", "--flash", example, "--full", example, "-o", str(report),
        ],
        "info: mistyped bundle": ["info", missing],
        "inspect: mistyped file": ["inspect", missing],
        "export: mistyped bundle": ["export", missing, "--onnx", "-o", str(work / "x")],
        "train: mistyped --data": ["train", str(SPEC), "--data", missing, "-o", str(work / "m")],
    }  # fmt: skip


def one(args: list[str], python_path: str | None, cwd: Path) -> tuple[float, int, str]:
    """Wall seconds, exit status and last stderr line of ``flashsim ARGS`` in a child process
    started in ``cwd`` (not a checkout: ``python -m`` puts the working directory first on the
    path, before ``PYTHONPATH``)."""
    env = dict(os.environ)
    if python_path is not None:
        env["PYTHONPATH"] = python_path
    fresh = tempfile.mkdtemp(dir=cwd)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "flashsim", *(a.replace("{fresh}", fresh) for a in args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
        check=False,
    )
    seconds = time.perf_counter() - start
    lines = done.stderr.strip().splitlines()
    return seconds, done.returncode, lines[-1] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per case and code version")
    parser.add_argument("--old", type=Path, help="an older checkout to time beside this one")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    versions: dict[str, str | None] = {"now": str(ROOT)}
    if args.old is not None:
        versions = {"before": str(args.old.resolve()), **versions}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, argv in cases(Path(tmp)).items():
            times: dict[str, list[float]] = {v: [] for v in versions}
            answer: dict[str, tuple[int, str]] = {}
            for _ in range(args.repeats):
                for version, path in versions.items():
                    seconds, code, line = one(argv, path, Path(tmp))
                    times[version].append(seconds)
                    answer[version] = (code, line)
            row = {"case": name, **{f"{v}_s": statistics.median(t) for v, t in times.items()}}
            row.update(exit=answer["now"][0], message=answer["now"][1])
            if "before" in versions:
                row["exit_before"] = answer["before"][0]
            rows.append(row)
            print(_line(row, versions), flush=True)
    slow = [r["case"] for r in rows if r["now_s"] >= TARGET_S]
    print(
        f"\nmedian of {args.repeats} child processes per case; python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; target < {TARGET_S} s: "
        f"{'all met' if not slow else 'missed by ' + ', '.join(slow)}"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


def _line(row: dict[str, Any], versions: dict[str, str | None]) -> str:
    before = ""
    if "before" in versions:
        before = f"{row['before_s']:6.2f} s (exit {row['exit_before']}) -> "
    message = row["message"].removeprefix("flashsim: error: ")
    short = message if len(message) <= 60 else message[:57] + "..."
    return f"{row['case']:31s} {before}{row['now_s']:4.2f} s (exit {row['exit']})  {short}"


if __name__ == "__main__":
    main()

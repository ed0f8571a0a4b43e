"""``flashsim gen`` on a HepMC3 file (:mod:`flashsim.cli.gen`): refsim's gen branches, the
provenance record, the pile-up draws, ``-n``, ``-j``, ``--skip-bad-events`` and the one-line
errors."""

from __future__ import annotations

import hashlib
import re
import subprocess
import warnings
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
from cli_errors import assert_one_line_error
from click.testing import CliRunner
from terminate import terminate_when

from flashsim.cli import flashsim as flashsim_group
from flashsim.generators.workers import WATCH_SECONDS
from flashsim.io import read_provenance

#: Branch prefixes and event branches that ``flashsim gen`` writes as refsim does.
GEN_PREFIXES = ("GenJet_", "GenJetAK8_", "GenPart_", "GenMET_")
GEN_EVENT = ("genWeight", "event", "nGenJet", "nGenPart", "Generator_binvar")


def invoke(*args: Any) -> Any:
    """``flashsim ARGS`` in process, under a real ``flashsim`` process's warning filters."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        return CliRunner().invoke(flashsim_group, [str(a) for a in args])


def read_tree(path: Path) -> dict[str, ak.Array]:
    with uproot.open(path) as file:
        return file["Events"].arrays(library="ak", how=dict)


def truncated_copy(source: Path, target: Path) -> Path:
    """The first 3 events of ``source`` with the file cut in the middle of the third."""
    data = source.read_bytes()
    starts = [m.start() + 1 for m in re.finditer(rb"\nE ", data)]
    target.write_bytes(data[: (starts[2] + starts[3]) // 2])
    return target


@pytest.fixture(scope="module")
def hepmc_file(ttbar_hepmc: Path) -> Path:
    return ttbar_hepmc / "events.hepmc3"


@pytest.fixture(scope="module")
def gen_file(hepmc_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``flashsim gen events.hepmc3 --pileup 30 --seed 4``."""
    out = tmp_path_factory.mktemp("gen") / "gen.root"
    result = invoke("gen", hepmc_file, "-o", out, "--pileup", 30, "--seed", 4, "-q")
    assert result.exit_code == 0, result.output
    assert result.output == ""  # -q: nothing
    return out


def test_gen_writes_refsim_gen_branches(gen_file: Path, ttbar_hepmc: Path) -> None:
    ours, refsim = read_tree(gen_file), read_tree(ttbar_hepmc / "refsim.root")
    gen_names = {n for n in refsim if n.startswith(GEN_PREFIXES) or n in GEN_EVENT}
    assert gen_names <= set(ours)
    assert {"run", "luminosityBlock", "Pileup_nTrueInt", "Pileup_nPU"} <= set(ours)
    assert not any(n.startswith(("Jet_", "Muon_", "Electron_", "MET_")) for n in ours)
    for name in sorted(gen_names):
        a, b = refsim[name], ours[name]
        assert str(a.type) == str(b.type), name
        assert ak.all(ak.flatten(a == b, axis=None) | ak.flatten(np.isnan(a), axis=None)), name


def test_gen_provenance(gen_file: Path, hepmc_file: Path) -> None:
    record = read_provenance(gen_file)
    assert record["producer"] == "flashsim gen"
    assert record["source"] == "hepmc3"
    assert record["compression"] == "none"
    assert record["input"] == str(hepmc_file.resolve())
    assert record["input_bytes"] == hepmc_file.stat().st_size
    assert record["input_sha256"] == hashlib.sha256(hepmc_file.read_bytes()).hexdigest()
    assert [g["name"] for g in record["generators"]] == ["Pythia8", "flashsim"]
    assert record["generators"][0]["version"].startswith("8.")
    assert record["n_events"] == 200
    assert record["skipped_events"] == 0
    assert record["pileup"] == 30.0
    assert record["seed"] == 4
    assert isinstance(record["command"], str)  # in process: pytest's own command line


def test_pileup_draws(gen_file: Path, hepmc_file: Path, tmp_path: Path) -> None:
    full = read_tree(gen_file)
    assert ak.all(full["Pileup_nTrueInt"] == 30.0)
    n_pu = ak.to_numpy(full["Pileup_nPU"])
    assert n_pu.dtype == np.int32
    # Poisson of mean 30: the mean of 200 draws within 5 sigma, the variance about the mean.
    assert abs(n_pu.mean() - 30) < 5 * np.sqrt(30 / 200)
    assert 15 < n_pu.var() < 50
    assert len(np.unique(n_pu)) > 10
    # -n 50: only 50 events are read, with the first 50 draws of the same seed (one random
    # stream for the file, whatever the chunks); another seed draws others.
    same = tmp_path / "same.root"
    result = invoke("gen", hepmc_file, "-o", same, "--pileup", 30, "--seed", 4, "-n", 50, "-q")
    assert result.exit_code == 0, result.output
    first = read_tree(same)
    assert len(first["event"]) == 50
    assert read_provenance(same)["n_events"] == 50
    assert ak.to_list(first["event"]) == list(range(1, 51))
    np.testing.assert_array_equal(ak.to_numpy(first["Pileup_nPU"]), n_pu[:50])
    np.testing.assert_array_equal(ak.to_numpy(first["nGenPart"]), full["nGenPart"][:50])
    other = tmp_path / "other.root"
    result = invoke("gen", hepmc_file, "-o", other, "--pileup", 30, "--seed", 5, "-n", 50, "-q")
    assert result.exit_code == 0, result.output
    assert not np.array_equal(ak.to_numpy(read_tree(other)["Pileup_nPU"]), n_pu[:50])
    # Without --pileup: no pile-up branches at all.
    plain = tmp_path / "plain.root"
    result = invoke("gen", hepmc_file, "-o", plain, "-n", 5, "-q")
    assert result.exit_code == 0, result.output
    names = set(read_tree(plain))
    assert not any(n.startswith("Pileup_") for n in names)
    assert "nGenJet" in names
    assert read_provenance(plain)["pileup"] is None


def test_processes_and_chunks_change_nothing(
    gen_file: Path, hepmc_file: Path, tmp_path: Path
) -> None:
    """``-j 2`` (the gen level in two worker processes), and chunks of 30 events instead of one
    of 200, write the same file: every branch, the pile-up draws included."""
    from flashsim.generators.hepmc_read import HepMCSource
    from flashsim.generators.write import write_gen_file

    by_cli = tmp_path / "j2.root"
    result = invoke("gen", hepmc_file, "-o", by_cli, "--pileup", 30, "--seed", 4, "-j", 2, "-q")
    assert result.exit_code == 0, result.output
    chunked = tmp_path / "chunked.root"
    summary = write_gen_file(
        HepMCSource(hepmc_file), chunked, progress=False, chunk_size=30, pileup=30, seed=4, jobs=2
    )
    assert summary["n_events"] == 200
    full = read_tree(gen_file)
    for other in (read_tree(by_cli), read_tree(chunked)):
        assert set(other) == set(full)
        for name, values in full.items():
            assert ak.to_list(other[name]) == ak.to_list(values), name
    assert read_provenance(by_cli)["n_events"] == 200
    refused = invoke("gen", hepmc_file, "-o", tmp_path / "j0.root", "-j", 0, "-q")
    assert_one_line_error(refused, "-j")


def test_summary_line(hepmc_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "five.root"
    result = invoke("gen", hepmc_file, "-o", out, "-n", 5)
    assert result.exit_code == 0, result.output
    assert re.search(r"wrote 5 events to \S*five\.root in [\d.]+ s", result.stderr)


def assert_refused(tmp_path: Path, before: set[str], result: Any, *fragments: str) -> None:
    """A one-line error, and the folder as it was before (no output, no temporary)."""
    assert_one_line_error(result, *fragments)
    assert {p.name for p in tmp_path.iterdir()} == before


def test_errors(hepmc_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.root"
    text = tmp_path / "notes.hepmc3"
    text.write_text("these are not events\n")
    truncated = truncated_copy(hepmc_file, tmp_path / "truncated.hepmc3")
    existing = tmp_path / "existing.root"
    existing.write_bytes(b"keep me")
    card = tmp_path / "dy.cmnd"
    card.write_text("WeakSingleBoson:ffbar2gmZ = on\n")
    before = {p.name for p in tmp_path.iterdir()}

    def refused(*args: Any, fragments: tuple[str, ...]) -> None:
        assert_refused(tmp_path, before, invoke("gen", *args, "-q"), *fragments)

    refused(tmp_path / "missing.hepmc3", "-o", out, fragments=("does not exist",))
    refused(text, "-o", out, fragments=("is not a HepMC ASCII file", "HepMC::Version"))
    refused(truncated, "-o", out, fragments=("truncated", "event 3", "--skip-bad-events"))
    refused(hepmc_file, "-o", existing, fragments=("exists", "--overwrite"))
    assert existing.read_bytes() == b"keep me"
    refused(text, "-o", text, "--overwrite", fragments=("is the input file",))
    assert text.read_text() == "these are not events\n"
    refused(hepmc_file, "--pythia", card, "-o", out, fragments=("not both",))
    refused("-o", out, fragments=("give an input file", "--pythia", "--lhe"))
    refused(hepmc_file, "-o", out, "--pileup", -1, fragments=("--pileup",))


def test_skip_bad_events(hepmc_file: Path, gen_file: Path, tmp_path: Path) -> None:
    truncated = truncated_copy(hepmc_file, tmp_path / "truncated.hepmc3")
    out = tmp_path / "good.root"
    result = invoke(
        "gen", truncated, "-o", out, "--skip-bad-events", "--pileup", 30, "--seed", 4, "-q"
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == "flashsim gen: 1 damaged event(s) skipped"
    good, full = read_tree(out), read_tree(gen_file)
    assert ak.to_list(good["event"]) == [1, 2]
    for name in ("nGenPart", "GenPart_pt", "GenJet_pt", "Pileup_nPU"):
        assert ak.to_list(good[name]) == ak.to_list(full[name][:2]), name
    record = read_provenance(out)
    assert record["n_events"] == 2
    assert record["skipped_events"] == 1


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (ended, not yet reaped)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return re.search(r"^State:\s+Z", text, re.MULTILINE) is None


def children_of(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if re.search(rf"^PPid:\s+{pid}$", text, re.MULTILINE):
            found.add(int(status.parent.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_sigterm_with_workers(
    hepmc_file: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    """SIGTERM while the worker processes build the gen level: exit 143 at once, no output, no
    temporary, and no worker left behind."""
    import time

    out = tmp_path / "gen.root"
    workers: set[int] = set()

    def working(process: subprocess.Popen[str]) -> bool:
        workers.update(children_of(process.pid))
        return len(workers) >= 2 and any(tmp_path.glob(".gen.root.tmp-*"))

    args = ["gen", str(hepmc_file), "-o", str(out), "-j", "2"]
    killed = terminate_when(subprocess_env, args, working, wait=60)
    stderr = killed.stderr
    assert killed.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1] == "flashsim: terminated (SIGTERM)"
    assert "Warning" not in stderr
    assert list(tmp_path.iterdir()) == []
    time.sleep(2 * WATCH_SECONDS + 0.5)
    assert not [pid for pid in workers if alive(pid)]

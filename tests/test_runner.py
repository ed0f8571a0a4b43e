"""flashsim.run.single: input policies (NaN/inf, training domain), corrupted and mistyped inputs.

Every damaged input must end in one clear :class:`~flashsim.exceptions.InputError` that names
the branch or entry, and nothing written; or in a valid output whose provenance counts what the
policy did. (``tests/test_fuzz.py`` throws hundreds of damaged files at the command line.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
from damage import read_columns, write_columns

from flashsim.bundle import load_bundle
from flashsim.domain import OUT_OF_DOMAIN_BRANCH, InputPolicy
from flashsim.exceptions import InputError
from flashsim.io import read_provenance
from flashsim.pipeline import Pipeline, check_finite
from flashsim.run import (
    MANIFEST_NAME,
    SOURCE_BRANCH,
    PolicyOverrides,
    SerialExecutor,
    run_file,
    run_items,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "ttbar_gen.root"
N_EVENTS = 40


@pytest.fixture(scope="module")
def pipeline(tiny_model: Path) -> Pipeline:
    return load_bundle(tiny_model)


@pytest.fixture(scope="module")
def columns() -> dict[str, Any]:
    return read_columns(EXAMPLE, N_EVENTS)


def with_values(columns: dict[str, Any], name: str, rows: list[int], value: float) -> dict:
    """``columns`` with the gen jets of the events ``rows`` (or the flat branch) set to value."""
    values = columns[name]
    if values.ndim > 1:
        counts = np.asarray(ak.num(values))
        content = np.asarray(ak.flatten(values)).copy()
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        for row in rows:
            content[starts[row] : starts[row] + counts[row]] = value
        return {**columns, name: ak.unflatten(content, counts)}
    flat = np.asarray(values).copy()
    flat[rows] = value
    return {**columns, name: flat}


def run(pipeline: Pipeline, source: Path, tmp_path: Path, **options: Any) -> tuple[Path, Any]:
    output = tmp_path / "reco.root"
    summary = run_file(pipeline, source, output, progress=False, step_size=16, **options)
    return output, summary


def assert_nothing_written(tmp_path: Path, source: Path) -> None:
    assert sorted(tmp_path.iterdir()) == [source]


def test_nan_is_an_error_by_default(pipeline, columns, tmp_path) -> None:
    source = write_columns(tmp_path / "gen.root", with_values(columns, "GenJet_pt", [21], np.nan))
    with pytest.raises(InputError) as info:
        run(pipeline, source, tmp_path)
    message = str(info.value)
    assert "NaN or inf in branch 'GenJet_pt' (entry 21," in message
    assert "--non-finite drop" in message
    assert_nothing_written(tmp_path, source)


def test_drop_leaves_the_events_out_and_counts_them(pipeline, columns, tmp_path) -> None:
    damaged = with_values(columns, "GenMET_pt", [3, 30], np.inf)
    source = write_columns(tmp_path / "gen.root", with_values(damaged, "GenJet_eta", [7], np.nan))
    output, summary = run(
        pipeline, source, tmp_path, policy=InputPolicy(non_finite="drop"), oversample=2
    )
    assert summary.dropped_events == 3
    assert read_provenance(output)["dropped_events"] == {"non_finite": 3}
    with uproot.open(output) as file:
        events = file["Events"].arrays([SOURCE_BRANCH, "event"])
    kept = [e for e in range(N_EVENTS) if e not in (3, 7, 30)]
    assert events[SOURCE_BRANCH].tolist() == [e for e in kept for _ in range(2)]
    expected_ids = np.asarray(columns["event"])[kept]
    np.testing.assert_array_equal(np.asarray(events["event"])[::2], expected_ids)


def test_overrides_replace_only_the_policies_they_name(pipeline, columns, tmp_path) -> None:
    source = write_columns(tmp_path / "gen.root", with_values(columns, "GenMET_pt", [5], np.inf))
    output, summary = run(
        pipeline,
        source,
        tmp_path,
        policy=PolicyOverrides(non_finite="drop"),
        command="flashsim run gen.root",
    )
    assert summary.dropped_events == 1
    record = read_provenance(output)
    spec = pipeline.spec.input_policy
    assert record["inputs"] == {"non_finite": "drop", "out_of_domain": spec.out_of_domain}
    assert record["command"] == "flashsim run gen.root"


def test_drop_of_every_event_is_an_error(pipeline, columns, tmp_path) -> None:
    source = write_columns(
        tmp_path / "gen.root", with_values(columns, "GenMET_pt", list(range(N_EVENTS)), np.nan)
    )
    with pytest.raises(InputError, match="nothing to write"):
        run(pipeline, source, tmp_path, policy=InputPolicy(non_finite="drop"))
    assert_nothing_written(tmp_path, source)


@pytest.fixture
def huge_jet(columns: dict[str, Any], tmp_path: Path) -> Path:
    """Event 5's gen jets at 1000 TeV: far outside any training domain."""
    return write_columns(tmp_path / "gen.root", with_values(columns, "GenJet_pt", [5], 1e6))


def test_out_of_domain_clamp_is_counted(pipeline, huge_jet, tmp_path) -> None:
    output, summary = run(pipeline, huge_jet, tmp_path)
    assert summary.counters["out_of_domain"]["Jet"] >= 1
    assert read_provenance(output)["counters"]["out_of_domain"]["Jet"] >= 1
    with uproot.open(output) as file:
        events = file["Events"].arrays(["Jet_pt", "Jet_genJetIdx"])
    assert OUT_OF_DOMAIN_BRANCH not in events.fields
    assert np.isfinite(np.asarray(ak.flatten(events["Jet_pt"]))).all()


def test_out_of_domain_flag_marks_the_event(pipeline, huge_jet, tmp_path) -> None:
    output, _ = run(pipeline, huge_jet, tmp_path, policy=InputPolicy(out_of_domain="flag"))
    with uproot.open(output) as file:
        flags = file["Events"][OUT_OF_DOMAIN_BRANCH].array(library="np")
    assert flags[5] == 1
    assert read_provenance(output)["inputs"]["out_of_domain"] == "flag"


def test_out_of_domain_error_names_the_condition(pipeline, huge_jet, tmp_path) -> None:
    with pytest.raises(InputError, match=r"of Jet have conditions outside the training domain"):
        run(pipeline, huge_jet, tmp_path, policy=InputPolicy(out_of_domain="error"))
    assert_nothing_written(tmp_path, huge_jet)


def test_non_finite_model_output_is_refused() -> None:
    good = {"Jet": ak.Array([[{"pt": 1.0, "n": 1}], []]), "MET_pt": np.array([1.0, 2.0])}
    check_finite(good, "clamp")
    bad = {**good, "MET_pt": np.array([1.0, np.inf])}
    with pytest.raises(InputError, match=r"1 non-finite value\(s\) for MET_pt.*bundle"):
        check_finite(bad, "clamp")
    bad = {**good, "Jet": ak.Array([[{"pt": np.nan, "n": 1}], []])}
    with pytest.raises(InputError, match=r"for Jet_pt.*--out-of-domain clamp"):
        check_finite(bad, "flag")


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("GenJet_eta", "bool", "branch 'GenJet_eta' holds bool values; flashsim expects numbers"),
        ("GenJet_pt", "flat", "'GenJet_pt' has one number per event; flashsim expects a field"),
        ("Pileup_nTrueInt", "jagged", "'Pileup_nTrueInt' has one list per event"),
        ("run", "jagged", "branch 'run' is jagged but not a NanoAOD collection field"),
    ],
)
def test_mistyped_branch_is_named(pipeline, columns, tmp_path, name, change, message) -> None:
    values = columns[name]
    if change == "bool":
        changed = ak.Array(values) > 0
    elif change == "flat":
        changed = np.asarray(ak.fill_none(ak.firsts(values), 0))
    else:
        changed = ak.unflatten(np.asarray(values), np.ones(len(values), dtype=np.int64))
    source = write_columns(tmp_path / "gen.root", {**columns, name: changed})
    with pytest.raises(InputError, match=message):
        run(pipeline, source, tmp_path)
    assert_nothing_written(tmp_path, source)


def test_corrupted_basket_is_an_input_error(pipeline, columns, tmp_path) -> None:
    source = write_columns(tmp_path / "gen.root", columns)
    with uproot.open(source) as file:
        seek = int(file["Events"]["GenJet_pt"].member("fBasketSeek")[0])
    data = bytearray(source.read_bytes())
    data[seek + 80 : seek + 120] = bytes(40)  # inside the compressed basket
    source.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"is corrupted: cannot read entries 0-15 of tree"):
        run(pipeline, source, tmp_path)
    assert_nothing_written(tmp_path, source)


def test_background_write_error_reaches_the_caller(
    pipeline, columns, tmp_path, monkeypatch
) -> None:
    """Writing runs in a thread beside the simulation; its error is raised by run_file."""
    from flashsim.exceptions import OutputError
    from flashsim.io import NanoAODWriter

    source = write_columns(tmp_path / "gen.root", columns)
    original = NanoAODWriter.extend
    written: list[int] = []

    def failing(self: NanoAODWriter, chunk: dict) -> None:
        if written:
            raise OutputError("disk full")
        written.append(len(next(iter(chunk.values()))))
        original(self, chunk)

    monkeypatch.setattr(NanoAODWriter, "extend", failing)
    with pytest.raises(OutputError, match="disk full"):
        run(pipeline, source, tmp_path)
    assert written == [16]  # the first chunk, then the error at the second


def test_chunks_are_written_in_order_with_or_without_background_io(
    pipeline, columns, tmp_path
) -> None:
    source = write_columns(tmp_path / "gen.root", columns)
    output, summary = run(pipeline, source, tmp_path)
    assert summary.output_events == N_EVENTS
    inline = tmp_path / "inline.root"
    run_file(pipeline, source, inline, progress=False, step_size=16, background_io=False)
    with uproot.open(output) as file, uproot.open(inline) as other:
        events = file["Events"].arrays()
        again = other["Events"].arrays()
    np.testing.assert_array_equal(events["event"], np.asarray(columns["event"]))
    assert events.fields == again.fields
    for name in events.fields:
        assert ak.all(events[name] == again[name]), name


def test_work_items_apply_and_record_the_policy(tiny_model, columns, tmp_path) -> None:
    source = write_columns(tmp_path / "gen.root", with_values(columns, "GenMET_pt", [2], np.nan))
    outdir = tmp_path / "out"
    policy = InputPolicy(non_finite="drop", out_of_domain="flag")
    report = run_items(
        [source], outdir, model=tiny_model, executor=SerialExecutor(), progress=False, policy=policy
    )
    assert report.output_events == N_EVENTS - 1
    manifest = (outdir / MANIFEST_NAME).read_text()
    assert '"non_finite": "drop"' in manifest
    assert '"out_of_domain": "flag"' in manifest

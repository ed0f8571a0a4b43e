"""flashsim.io: atomic NanoAOD writing, output checks, input errors, SIGTERM cleanup (with the
command line's handler, flashsim.cli.signals)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from flashsim.cli.signals import install_termination_handler
from flashsim.exceptions import InputError, OutputError
from flashsim.io import (
    NanoAODWriter,
    check_output_path,
    open_events,
    read_provenance,
    require_branches,
)


def make_chunk(rng: np.random.Generator, n_events: int) -> dict:
    """Jets with a gen-jet index, and a few event-level branches."""
    n_jet = rng.integers(0, 4, n_events)
    jets = ak.unflatten(
        ak.zip(
            {
                "pt": rng.exponential(30.0, n_jet.sum()).astype(np.float32),
                "eta": rng.uniform(-2.5, 2.5, n_jet.sum()).astype(np.float32),
                "genJetIdx": rng.integers(-1, 3, n_jet.sum()).astype(np.int16),
            }
        ),
        n_jet,
    )
    return {
        "event": np.arange(n_events, dtype=np.uint64),
        "genWeight": ak.Array(rng.normal(1.0, 0.1, n_events).astype(np.float32)),
        "MET_pt": rng.exponential(20.0, n_events).astype(np.float32),
        "Jet": jets,
    }


def leftovers(directory: Path) -> list[str]:
    """Temporary files the writer left in ``directory``."""
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name)


def write(
    path: Path,
    *chunks: dict,
    overwrite: bool = False,
    then: BaseException | type[BaseException] | Callable[[], object] | None = None,
) -> None:
    """Write ``chunks``; then, inside the ``with`` block, raise ``then`` or call it."""
    with NanoAODWriter(path, overwrite=overwrite) as writer:
        for chunk in chunks:
            writer.extend(chunk)
        assert len(leftovers(path.parent)) == 1
        if isinstance(then, BaseException) or (
            isinstance(then, type) and issubclass(then, BaseException)
        ):
            raise then
        if then is not None:
            then()


def read_events(path: Path) -> dict:
    with uproot.open(path) as file:
        tree = file["Events"]
        return {"typenames": tree.typenames(), "arrays": tree.arrays()}


def test_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    chunk = make_chunk(rng, 20)
    path = tmp_path / "out.root"
    with NanoAODWriter(path) as writer:
        writer.extend(chunk)
    assert writer.n_events == 20
    got = read_events(path)
    assert got["typenames"] == {
        "event": "uint64_t",
        "genWeight": "float",
        "MET_pt": "float",
        "nJet": "int32_t",
        "Jet_pt": "float[]",
        "Jet_eta": "float[]",
        "Jet_genJetIdx": "int16_t[]",
    }
    arrays = got["arrays"]
    assert ak.to_list(arrays["nJet"]) == ak.to_list(ak.num(chunk["Jet"]))
    for field in ("pt", "eta", "genJetIdx"):
        assert ak.to_list(arrays[f"Jet_{field}"]) == ak.to_list(chunk["Jet"][field])
    for name in ("event", "genWeight", "MET_pt"):
        assert ak.to_list(arrays[name]) == ak.to_list(chunk[name])
    assert leftovers(tmp_path) == []


def test_several_chunks_and_an_empty_one(tmp_path: Path, rng: np.random.Generator) -> None:
    chunks = [make_chunk(rng, n) for n in (7, 0, 13, 1)]
    path = tmp_path / "out.root"
    with NanoAODWriter(path) as writer:
        for chunk in chunks:
            writer.extend(chunk)
    arrays = read_events(path)["arrays"]
    assert len(arrays) == 21
    expected = ak.concatenate([chunk["Jet"] for chunk in chunks])
    assert ak.to_list(arrays["Jet_pt"]) == ak.to_list(expected.pt)
    assert ak.to_list(arrays["nJet"]) == ak.to_list(ak.num(expected))


def test_only_an_empty_chunk_makes_an_empty_tree(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "out.root"
    with NanoAODWriter(path) as writer:
        writer.extend(make_chunk(rng, 0))
    with uproot.open(path) as file:
        assert file["Events"].num_entries == 0
        assert "nJet" in file["Events"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.pop("MET_pt"), "missing \\['MET_pt'\\]"),
        (lambda c: c.update(extra=np.zeros(len(c["event"]))), "unexpected \\['extra'\\]"),
        (lambda c: c.update(MET_pt=c["MET_pt"].astype(np.float64)), "'MET_pt' is float64"),
        (lambda c: c.update(Jet=ak.without_field(c["Jet"], "eta")), "'Jet' is"),
    ],
)
def test_second_chunk_must_match_the_first(
    tmp_path: Path, rng: np.random.Generator, change: object, message: str
) -> None:
    path = tmp_path / "out.root"
    second = make_chunk(rng, 5)
    change(second)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        write(path, make_chunk(rng, 5), second)
    assert not path.exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("chunk", "message"),
    [
        ({"a": np.zeros(3), "b": np.zeros(4)}, "differ in length"),
        ({"a": np.zeros((3, 2))}, "must be 1-D"),
        ({"Jet": ak.Array([[1.0], []])}, "must be a jagged record array"),
        ({"Gen_Jet": ak.zip({"pt": ak.Array([[1.0], []])})}, "must not contain '_'"),
        ({"nJet": np.zeros(2, np.int32), "Jet": ak.zip({"pt": ak.Array([[1.0], []])})}, "clash"),
    ],
)
def test_unsupported_chunks_are_refused(tmp_path: Path, chunk: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message), NanoAODWriter(tmp_path / "out.root") as writer:
        writer.extend(chunk)
    assert list(tmp_path.iterdir()) == []


def test_exception_leaves_no_output_and_no_temporary(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    path = tmp_path / "out.root"
    with pytest.raises(KeyboardInterrupt):
        write(path, make_chunk(rng, 5), then=KeyboardInterrupt)
    assert list(tmp_path.iterdir()) == []


def test_termination_while_creating_the_file_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM (Terminated) can land inside uproot.recreate, after the temporary file exists:
    a failed __enter__ gets no __exit__, so __enter__ itself removes it."""
    from flashsim.exceptions import Terminated

    created = uproot.recreate

    def recreate_then_terminate(path: Path, **kwargs: object) -> None:
        created(path, **kwargs).close()
        raise Terminated

    monkeypatch.setattr(uproot, "recreate", recreate_then_terminate)
    with pytest.raises(Terminated), NanoAODWriter(tmp_path / "out.root"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_kept_without_overwrite(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    path = tmp_path / "out.root"
    path.write_bytes(b"precious")
    with pytest.raises(OutputError, match="exists; pass --overwrite to replace it"):
        NanoAODWriter(path)
    assert path.read_bytes() == b"precious"

    with pytest.raises(RuntimeError, match="boom"):
        write(path, make_chunk(rng, 5), overwrite=True, then=RuntimeError("boom"))
    assert path.read_bytes() == b"precious"

    with NanoAODWriter(path, overwrite=True) as writer:
        writer.extend(make_chunk(rng, 5))
    assert read_events(path)["arrays"].fields[0] == "event"
    assert leftovers(tmp_path) == []


def test_output_appearing_while_writing_is_not_replaced(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    path = tmp_path / "out.root"
    with pytest.raises(OutputError, match="appeared while writing"):
        write(path, make_chunk(rng, 5), then=lambda: path.write_bytes(b"someone else's"))
    assert path.read_bytes() == b"someone else's"
    assert leftovers(tmp_path) == []


def test_nothing_written_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="call extend"), NanoAODWriter(tmp_path / "out.root"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_extend_outside_with_block_is_an_error(tmp_path: Path, rng: np.random.Generator) -> None:
    with pytest.raises(RuntimeError, match="needs an open writer"):
        NanoAODWriter(tmp_path / "out.root").extend(make_chunk(rng, 1))


def test_full_disk_is_an_output_error(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(self: object, data: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(uproot.writing.writable.WritableTree, "extend", no_space)
    path = tmp_path / "out.root"
    with pytest.raises(OutputError, match="disk full while writing"), NanoAODWriter(path) as writer:
        writer.extend(make_chunk(rng, 5))
    assert list(tmp_path.iterdir()) == []


def test_provenance_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    metadata = {"flashsim_version": "0.1.0", "seed": 7, "settings": ["Top:gg2ttbar = on"]}
    path = tmp_path / "out.root"
    with NanoAODWriter(path, metadata=metadata) as writer:
        writer.extend(make_chunk(rng, 3))
    assert read_provenance(path) == metadata
    with uproot.open(path) as file:
        assert file.classname_of("flashsim_provenance") == "TObjString"


def test_provenance_missing_and_not_serialisable(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "out.root"
    with NanoAODWriter(path) as writer:
        writer.extend(make_chunk(rng, 3))
    with pytest.raises(InputError, match="no flashsim_provenance"):
        read_provenance(path)
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        NanoAODWriter(tmp_path / "other.root", metadata={"bad": object()})


class TestCheckOutputPath:
    def test_new_file_in_existing_directory(self, tmp_path: Path) -> None:
        assert check_output_path(str(tmp_path / "a.root"), overwrite=False) == tmp_path / "a.root"

    def test_existing_file(self, tmp_path: Path) -> None:
        (tmp_path / "a.root").touch()
        with pytest.raises(OutputError, match=r"a\.root exists; pass --overwrite to replace it"):
            check_output_path(tmp_path / "a.root", overwrite=False)
        assert check_output_path(tmp_path / "a.root", overwrite=True) == tmp_path / "a.root"

    def test_missing_directory(self, tmp_path: Path) -> None:
        with pytest.raises(OutputError, match="does not exist; create it first"):
            check_output_path(tmp_path / "nope" / "a.root", overwrite=True)

    def test_parent_is_a_file(self, tmp_path: Path) -> None:
        (tmp_path / "file").touch()
        with pytest.raises(OutputError, match="is not a directory"):
            check_output_path(tmp_path / "file" / "a.root", overwrite=False)

    def test_output_is_a_directory(self, tmp_path: Path) -> None:
        with pytest.raises(OutputError, match="is a directory"):
            check_output_path(tmp_path, overwrite=True)

    def test_directory_not_writable(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        # os.access rather than chmod: root may write anywhere, and CI runs as root
        monkeypatch.setattr(os, "access", lambda path, mode: False)
        with pytest.raises(OutputError, match="is not writable"):
            check_output_path(tmp_path / "a.root", overwrite=False)


@pytest.fixture
def events_file(tmp_path: Path, rng: np.random.Generator) -> Path:
    path = tmp_path / "events.root"
    with NanoAODWriter(path, metadata={}) as writer:
        writer.extend(make_chunk(rng, 4))
    return path


class TestOpenEvents:
    def test_opens_the_tree(self, events_file: Path) -> None:
        tree = open_events(events_file)
        with tree.file:
            assert tree.num_entries == 4
            require_branches(tree, ["nJet", "Jet_pt", "event"])

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match=r"input file .*nope\.root does not exist"):
            open_events(tmp_path / "nope.root")

    def test_text_file(self, tmp_path: Path) -> None:
        path = tmp_path / "notes.root"
        path.write_text("these are not events\n")
        with pytest.raises(InputError, match="is not a ROOT file"):
            open_events(path)

    def test_truncated_file(self, events_file: Path, tmp_path: Path) -> None:
        truncated = tmp_path / "truncated.root"
        truncated.write_bytes(events_file.read_bytes()[:200])
        with pytest.raises(InputError, match="corrupted or truncated") as info:
            open_events(truncated)
        assert "\n" not in str(info.value)

    def test_missing_tree_lists_the_trees(self, events_file: Path) -> None:
        with pytest.raises(InputError, match="has no tree 'Runs'; trees in the file: Events"):
            open_events(events_file, tree="Runs")

    def test_not_a_tree(self, events_file: Path) -> None:
        with pytest.raises(InputError, match="a TObjString, not a TTree"):
            open_events(events_file, tree="flashsim_provenance")

    def test_misspelled_branch_suggests_the_right_name(self, events_file: Path) -> None:
        tree = open_events(events_file)
        with tree.file, pytest.raises(InputError) as info:
            require_branches(tree, ["Jet_pt", "Jet_pT", "GenMET_phi"])
        message = str(info.value)
        assert "lacks branches 'Jet_pT' (did you mean 'Jet_pt'" in message
        # a branch with no typo among the file's names: what it holds and where it comes from
        assert message.endswith(
            ", 'GenMET_phi' (the azimuth of the generator-level missing transverse momentum; "
            "every NanoAOD MC file has it)"
        )
        assert "\n" not in message


class TestTerminationHandler:
    def test_sigterm_raises_and_handler_is_restored(self) -> None:
        before = signal.getsignal(signal.SIGTERM)

        def terminate_self() -> None:
            with install_termination_handler():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the signal arrives long before this ends

        with pytest.raises(SystemExit) as info:
            terminate_self()
        assert info.value.code == 143
        assert signal.getsignal(signal.SIGTERM) is before

    def test_sigterm_removes_the_temporary_file(
        self, tmp_path: Path, subprocess_env: dict[str, str]
    ) -> None:
        output = tmp_path / "out.root"
        script = textwrap.dedent(
            f"""
            import sys, time
            import numpy as np
            from flashsim.cli.signals import install_termination_handler
            from flashsim.io import NanoAODWriter

            with install_termination_handler(), NanoAODWriter({str(output)!r}) as writer:
                writer.extend({{"event": np.arange(10, dtype=np.uint64)}})
                print("written", flush=True)
                time.sleep(60)
            """
        )
        process = subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=subprocess_env,
        )
        try:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "written"
            assert len(leftovers(tmp_path)) == 1
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
        assert process.returncode == 143
        assert list(tmp_path.iterdir()) == []


class TestFromNanoEvents:
    """A coffea processor's NanoEvents give the same simulation as ``flashsim run``'s reading."""

    def test_same_output_as_zip_collections(self) -> None:
        pytest.importorskip("coffea")
        import warnings

        from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

        from flashsim.bundle import default_model_path, load_bundle
        from flashsim.io import from_nanoevents, zip_collections

        example = Path(__file__).resolve().parents[1] / "data" / "examples" / "ttbar_gen.root"
        pipeline = load_bundle(default_model_path())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # coffea: cross-references absent from a gen file
            events = NanoEventsFactory.from_root(
                {str(example): "Events"}, schemaclass=NanoAODSchema, mode="eager", entry_stop=150
            ).events()
        with uproot.open(example) as file:
            tree = file["Events"]
            arrays = tree.arrays(pipeline.input_branches(tree.keys()), entry_stop=150)
        got, got_counts = pipeline.apply(
            from_nanoevents(events, pipeline.required_branches()), np.random.default_rng(3)
        )
        want, want_counts = pipeline.apply(zip_collections(arrays), np.random.default_rng(3))
        assert got_counts == want_counts
        assert set(got) == set(want)
        for name, values in want.items():
            assert ak.array_equal(got[name], values), name

    def test_missing_branch_is_named(self) -> None:
        from flashsim.io import from_nanoevents

        events = ak.zip({"GenJet": ak.zip({"pt": ak.Array([[1.0]])})}, depth_limit=1)
        with pytest.raises(InputError, match="the events have no 'GenJet_eta'"):
            from_nanoevents(events, ["GenJet_pt", "GenJet_eta"])

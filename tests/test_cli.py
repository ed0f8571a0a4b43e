"""The ``flashsim`` command line, run as a user runs it, and its error policy."""

from __future__ import annotations

import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from terminate import terminate_when

import flashsim
from flashsim.cli import flashsim as flashsim_group
from flashsim.exceptions import ConfigurationError
from flashsim.refsim.processes import PROCESSES


def run_flashsim(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flashsim", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def generate_args(output: Path | str, *extra: str) -> list[str]:
    return ["refsim", "generate", "--process", "ttbar", "-n", "10", "-o", str(output), *extra]


class TestAsSubprocess:
    def test_version(self, subprocess_env: dict[str, str]) -> None:
        result = run_flashsim(subprocess_env, "--version")
        assert result.returncode == 0
        assert result.stdout.strip() == f"flashsim, version {flashsim.__version__}"

    def test_unknown_process_lists_the_choices(self, subprocess_env: dict[str, str]) -> None:
        result = run_flashsim(
            subprocess_env, "refsim", "generate", "--process", "nope", "-n", "1", "-o", "x.root"
        )
        assert result.returncode == 2
        lines = [line for line in result.stderr.splitlines() if "nope" in line]
        assert len(lines) == 1
        assert all(repr(name) in lines[0] for name in PROCESSES)

    def test_zero_events_is_a_usage_error(self, subprocess_env: dict[str, str]) -> None:
        result = run_flashsim(
            subprocess_env, "refsim", "generate", "--process", "ttbar", "-n", "0", "-o", "x.root"
        )
        assert result.returncode == 2
        assert "-n" in result.stderr
        assert "Traceback" not in result.stderr

    def test_missing_output_directory(self, subprocess_env: dict[str, str]) -> None:
        result = run_flashsim(subprocess_env, *generate_args("/nonexistent_dir/x.root"))
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            "flashsim: error: cannot write /nonexistent_dir/x.root: "
            "directory /nonexistent_dir does not exist; create it first"
        ]
        assert result.stdout == ""

    def test_existing_output_needs_overwrite(
        self, subprocess_env: dict[str, str], tmp_path: Path
    ) -> None:
        output = tmp_path / "x.root"
        output.write_bytes(b"keep me")
        result = run_flashsim(subprocess_env, *generate_args(output))
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            f"flashsim: error: output {output} exists; pass --overwrite to replace it"
        ]
        assert output.read_bytes() == b"keep me"


@pytest.fixture
def fake_generate(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[..., Any]], list[dict]]:
    """Replace ``flashsim.refsim.generate`` by a module whose ``generate_sample`` is given."""

    def install(function: Callable[..., Any]) -> list[dict]:
        calls: list[dict] = []

        def generate_sample(**kwargs: Any) -> Any:
            calls.append(kwargs)
            return function(**kwargs)

        module = types.ModuleType("flashsim.refsim.generate")
        module.generate_sample = generate_sample  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "flashsim.refsim.generate", module)
        return calls

    return install


class TestErrorPolicy:
    """In-process, with the generator replaced, to reach the paths after the checks."""

    def test_passes_options_and_prints_a_summary(
        self, fake_generate: Callable, tmp_path: Path
    ) -> None:
        output = tmp_path / "x.root"
        calls = fake_generate(
            lambda **kw: {"n_events": kw["n_events"], "seconds": 1.25, "path": str(kw["output"])}
        )
        result = CliRunner().invoke(flashsim_group, generate_args(output, "-j", "2", "--seed", "5"))
        assert result.exit_code == 0, result.output
        assert calls == [
            {
                "process": "ttbar",
                "n_events": 10,
                "seed": 5,
                "jobs": 2,
                "output": output,
                "pileup": None,
                "pthat_min": None,
                "detector": "cms_like",
                "overwrite": False,
                "progress": True,
                "gen_only": False,
                "hepmc": None,
            }
        ]
        assert result.stdout == f"wrote 10 ttbar events to {output} in 1.2 s\n"

    def test_quiet_prints_nothing(self, fake_generate: Callable, tmp_path: Path) -> None:
        calls = fake_generate(lambda **kw: {"n_events": 10, "seconds": 1.0, "path": "x"})
        result = CliRunner().invoke(flashsim_group, generate_args(tmp_path / "x.root", "--quiet"))
        assert result.exit_code == 0
        assert result.output == ""
        assert calls[0]["progress"] is False

    def test_flashsim_error_is_one_line(self, fake_generate: Callable, tmp_path: Path) -> None:
        def fail(**kwargs: Any) -> None:
            raise ConfigurationError("pile-up 1e6 is too large")

        fake_generate(fail)
        result = CliRunner().invoke(flashsim_group, generate_args(tmp_path / "x.root"))
        assert result.exit_code == 2
        assert result.stderr == "flashsim: error: pile-up 1e6 is too large\n"

    def test_other_exception_is_an_internal_error(
        self, fake_generate: Callable, tmp_path: Path
    ) -> None:
        def fail(**kwargs: Any) -> None:
            raise ZeroDivisionError("division by zero")

        fake_generate(fail)
        result = CliRunner().invoke(flashsim_group, generate_args(tmp_path / "x.root"))
        assert result.exit_code == 1
        assert result.stderr == (
            "flashsim: internal error: ZeroDivisionError: division by zero "
            "(rerun with --debug for the traceback)\n"
        )

    def test_debug_raises(self, fake_generate: Callable, tmp_path: Path) -> None:
        def fail(**kwargs: Any) -> None:
            raise ConfigurationError("bad")

        fake_generate(fail)
        result = CliRunner().invoke(
            flashsim_group, ["--debug", *generate_args(tmp_path / "x.root")]
        )
        assert isinstance(result.exception, ConfigurationError)

    def test_keyboard_interrupt_exits_130(self, fake_generate: Callable, tmp_path: Path) -> None:
        def interrupt(**kwargs: Any) -> None:
            raise KeyboardInterrupt

        fake_generate(interrupt)
        result = CliRunner().invoke(flashsim_group, generate_args(tmp_path / "x.root"))
        assert result.exit_code == 130
        assert result.stderr == "flashsim: interrupted\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_spec_path, ttbar_file):
    output = tmp_path_factory.mktemp("cli") / "model"
    result = CliRunner().invoke(
        flashsim_group,
        [
            "train",
            str(tiny_spec_path),
            "--data",
            str(ttbar_file),
            "-o",
            str(output),
            "--max-events",
            "300",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    return output


class TestTrainAndRun:
    """``flashsim train`` and ``flashsim run`` as a user runs them."""

    def test_train_writes_a_bundle(self, trained):
        import json

        record = json.loads((trained / "flashsim-model.json").read_text())
        assert record["training"]["events"] == 300
        assert len(record["training"]["files"][0]["sha256"]) == 64
        assert "Jet.response" in record["training"]["metrics"]
        assert record["versions"]["torch"]
        assert not (trained / "checkpoints").exists()

    def test_train_refuses_to_replace_a_bundle(self, trained, tiny_spec_path, ttbar_file):
        result = CliRunner().invoke(
            flashsim_group,
            ["train", str(tiny_spec_path), "--data", str(ttbar_file), "-o", str(trained)],
        )
        assert result.exit_code == 2
        assert "--overwrite" in result.output

    def test_run_records_the_model(self, trained, ttbar_file, tmp_path, subprocess_env):
        from flashsim.bundle import bundle_hash
        from flashsim.io import read_provenance

        out = tmp_path / "reco.root"
        result = run_flashsim(
            subprocess_env,
            "run",
            str(ttbar_file),
            "-o",
            str(out),
            "--model",
            str(trained),
            "--seed",
            "4",
            "--max-events",
            "100",
        )
        assert result.returncode == 0, result.stderr
        record = read_provenance(out)
        assert record["model"]["sha256"] == bundle_hash(trained)
        assert record["model"]["path"] == str(trained)
        assert record["seed"] == 4
        assert record["command"].split()[1:] == ["run", str(ttbar_file), "-o", str(out),
                                                 "--model", str(trained), "--seed", "4",
                                                 "--max-events", "100"]  # fmt: skip
        assert "100 events" in result.stderr

    @pytest.mark.parametrize(
        ("case", "message"),
        [
            ("missing_input", "does not exist"),
            ("output_exists", "--overwrite"),
            ("incompatible_model", "reads format 1"),
            ("missing_model_file", "is incomplete"),
            ("not_a_bundle", "not a flashsim model bundle"),
        ],
    )
    def test_run_errors(self, case, message, trained, ttbar_file, tmp_path, subprocess_env):
        import json
        import shutil

        model = tmp_path / "model"
        shutil.copytree(trained, model)
        source, out = str(ttbar_file), tmp_path / "reco.root"
        if case == "missing_input":
            source = str(tmp_path / "nope.root")
        elif case == "output_exists":
            out.write_bytes(b"x")
        elif case == "incompatible_model":
            record = json.loads((model / "flashsim-model.json").read_text())
            record["format"] = 99
            (model / "flashsim-model.json").write_text(json.dumps(record))
        elif case == "missing_model_file":
            (model / "Jet.response.pt").unlink()
        elif case == "not_a_bundle":
            (model / "flashsim-model.json").unlink()
        before = sorted(p.name for p in tmp_path.iterdir())
        result = run_flashsim(subprocess_env, "run", source, "-o", str(out), "--model", str(model))
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert message in lines[0]
        assert sorted(p.name for p in tmp_path.iterdir()) == before


def _validate(*args: str) -> Any:
    return CliRunner().invoke(flashsim_group, ["validate", *args, "--no-plots", "--no-classifier"])


class TestValidate:
    """``flashsim validate``: outputs, the gate's exit status and input errors."""

    def test_writes_the_report_and_passes_a_lenient_gate(self, flash_file, ttbar_file, tmp_path):
        import json

        out = tmp_path / "report"
        args = ["--flash", str(flash_file), "--full", str(ttbar_file), "-o", str(out)]
        result = _validate(*args, "--collections", "Muon", "--fail-above", "w1_ratio=1000")
        assert result.exit_code == 0, result.output
        assert "PASS (gate w1_ratio=1000)" in result.output
        assert "the default model" in result.output or "provenance" in result.output
        assert {p.name for p in out.iterdir()} == {"index.html", "metrics.json", "histograms.root"}
        document = json.loads((out / "metrics.json").read_text())
        assert document["gate"] == {
            "thresholds": ["w1_ratio=1000"],
            "from_gate": True,
            "passed": True,
            "failures": [],
        }
        again = _validate(*args, "--collections", "Muon")
        assert again.exit_code == 2
        assert "already holds a report; pass --overwrite" in again.output

    def test_failing_gate_exits_with_3(self, flash_file, ttbar_file, tmp_path):
        result = _validate(
            "--flash", str(flash_file), "--full", str(ttbar_file), "-o", str(tmp_path / "r"),
            "--collections", "Muon", "--fail-above", "w1_ratio[Muon/pt]=0.01",
        )  # fmt: skip
        assert result.exit_code == 3, result.output
        assert "FAIL (gate w1_ratio[Muon/pt]=0.01): 1 failing checks" in result.output
        assert "> 0.01 at Muon/pt" in result.output

    @pytest.mark.parametrize(
        ("case", "message"),
        [
            ("bad_gate", "unknown metric 'auk'"),
            ("unmatched_scope", "w1_ratio[Muon/ptt]=3 judges no measured number"),
            ("gen_only_full", "has no branch 'nJet'"),
            ("empty_flash", "has no events; nothing to validate"),
            ("unknown_collection", "are not in pipeline 'cms_like'"),
            ("missing_file", "does not exist"),
        ],
    )
    def test_input_errors(self, case, message, flash_file, ttbar_file, tmp_path):
        import uproot

        flash, full = str(flash_file), str(ttbar_file)
        extra = ["--collections", "Muon"]
        if case == "bad_gate":
            extra += ["--fail-above", "auk=0.6"]
        elif case == "unmatched_scope":
            extra += ["--fail-above", "w1_ratio[Muon/ptt]=3"]
        elif case == "gen_only_full":
            full = str(Path(__file__).resolve().parents[1] / "data/examples/ttbar_gen.root")
            extra = []
        elif case == "empty_flash":
            flash = str(tmp_path / "empty.root")
            with uproot.recreate(flash) as f:
                f.mktree("Events", {"nMuon": "int32", "run": "int32"})
        elif case == "unknown_collection":
            extra = ["--collections", "Tau"]
        elif case == "missing_file":
            flash = str(tmp_path / "nope.root")
        result = _validate("--flash", flash, "--full", full, "-o", str(tmp_path / "r"), *extra)
        assert result.exit_code == 2, result.output
        assert message in result.output


EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "ttbar_gen.root"


@pytest.mark.slow
class TestSigterm:
    """A run killed with SIGTERM mid-way leaves no output and no temporary; a re-run succeeds."""

    def test_single_file(self, tmp_path: Path, subprocess_env: dict[str, str]) -> None:
        out = tmp_path / "reco.root"
        args = ["run", str(EXAMPLE), "-o", str(out), "--step-size", "5", "-q"]
        killed = terminate_when(
            subprocess_env, args, lambda _: any(tmp_path.glob(".reco.root.tmp-*"))
        )
        assert killed.returncode == 143, killed.stderr
        assert killed.stderr.strip() == "flashsim: terminated (SIGTERM)"
        assert list(tmp_path.iterdir()) == []
        # The re-run at the default step size: 5-event steps (so that SIGTERM lands mid-run)
        # would take 200 steps here.
        again = run_flashsim(subprocess_env, "run", str(EXAMPLE), "-o", str(out), "-q")
        assert again.returncode == 0, again.stderr
        assert [p.name for p in tmp_path.iterdir()] == ["reco.root"]

    def test_directory_output_resumes(self, tmp_path: Path, subprocess_env: dict[str, str]) -> None:
        import json

        out = tmp_path / "out"
        args = [
            "run",
            str(EXAMPLE),
            "-o",
            f"{out}/",
            "--item-size",
            "200",
            "--step-size",
            "20",
            "-q",
        ]

        def one_item_done(_: object) -> bool:
            manifest = out / "flashsim-manifest.json"
            try:
                items = json.loads(manifest.read_text())["items"]
            except (OSError, ValueError):
                return False
            return any(item["status"] == "done" for item in items)

        killed = terminate_when(subprocess_env, args, one_item_done)
        assert killed.returncode == 143, killed.stderr
        assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
        done = sorted(p.name for p in out.glob("*.root"))
        assert 1 <= len(done) < 5
        again = run_flashsim(subprocess_env, *args, "--resume")
        assert again.returncode == 0, again.stderr
        manifest = json.loads((out / "flashsim-manifest.json").read_text())
        assert [item["status"] for item in manifest["items"]] == ["done"] * 5

"""``docs/cli.md`` is generated from the click commands and kept current
(:mod:`flashsim.cli.reference`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from flashsim.cli.app import flashsim
from flashsim.cli.reference import (
    MACHINE_DEFAULTS,
    REGENERATE,
    cli_reference,
    command_paths,
    iter_commands,
    main,
)

COMMITTED = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    """Every (path, command) below ``command``, found independently of the module under test."""
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            if not sub.hidden:
                yield from walk(sub, f"{path} {name}")


def section(text: str, path: str) -> str:
    """The text of the ``## <path>`` section of the reference."""
    start = text.index(f"\n## {path}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


@pytest.fixture(scope="module")
def reference() -> str:
    return cli_reference()


def test_committed_reference_is_current(reference: str) -> None:
    committed = COMMITTED.read_text(encoding="utf-8") if COMMITTED.exists() else ""
    assert committed == reference, (
        f"docs/cli.md does not match the command line; regenerate it: {REGENERATE}"
    )


def test_every_command_has_a_section_and_a_summary_row(reference: str) -> None:
    expected = [path for path, _ in walk(flashsim, "flashsim")]
    assert sorted(command_paths()) == sorted(expected)
    assert {"flashsim refsim generate", "flashsim refsim calibration", "flashsim run"} <= set(
        expected
    )
    for path in expected:
        assert f"\n## {path}\n" in reference, path
        assert f"| [`{path}`](#{path.replace(' ', '-')}) |" in reference, path


def test_each_command_shows_usage_help_and_every_option(reference: str) -> None:
    for path, command in walk(flashsim, "flashsim"):
        text = section(reference, path)
        assert f"```\n{path} [OPTIONS]" in text, path
        first_line = (command.help or "").strip().splitlines()[0]
        assert first_line.split()[0] in text, path
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                for name in param.opts:
                    assert f"`{name}" in text, (path, name)
            elif isinstance(param, click.Argument):
                assert f"`{param.make_metavar(click.Context(command))}`" in text, (path, param)


def test_run_options_with_types_defaults_and_help(reference: str) -> None:
    run = section(reference, "flashsim run")
    for option in ("--output", "--model", "--seed", "--oversample", "--step-size"):
        assert f"`{option}`" in run
    for option in ("--max-events", "--overwrite", "--workers", "--executor", "--scheduler"):
        assert f"`{option}`" in run
    for option in ("--resume", "--item-size", "--quiet"):
        assert f"`{option}`" in run
    assert "| `--step-size` | integer ≥ 1 | `10000` | Input events per chunk" in run
    assert "| `--executor` | one of `local`, `dask` | `local` |" in run
    assert "| `-o`, `--output` | text | required |" in run
    assert "| `INPUT...` | text | optional, any number |" in run


def test_reference_does_not_depend_on_the_machine(
    reference: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "37")
    assert cli_reference() == reference
    root = str(Path(__file__).resolve().parents[1])
    assert root not in reference
    assert str(Path.home()) not in reference
    validate = section(reference, "flashsim validate")
    assert "| `-j`, `--jobs` | integer in [1, 256] | min(2, CPU cores) |" in validate


def test_machine_defaults_name_existing_options() -> None:
    params = {(ctx.command_path, p.name) for ctx in iter_commands() for p in ctx.command.params}
    assert set(MACHINE_DEFAULTS) <= params


LONG_RUNNING = (
    "flashsim refsim generate",
    "flashsim refsim calibration",
    "flashsim train",
    "flashsim run",
    "flashsim validate",
    "flashsim sweights",
    "flashsim export",
)
"""The commands that show progress on stderr, which ``-q``/``--quiet`` silences."""


def test_long_running_commands_take_quiet() -> None:
    commands = dict(walk(flashsim, "flashsim"))
    for path in LONG_RUNNING:
        opts = {o for p in commands[path].params if isinstance(p, click.Option) for o in p.opts}
        assert {"-q", "--quiet"} <= opts, path


def test_help_text_is_escaped_for_markdown(reference: str) -> None:
    # `<model>` would be an HTML tag, and `*.png` would start emphasis.
    export = section(reference, "flashsim export")
    assert "OUTPUT/&lt;model>.onnx" in export
    assert "OUTPUT/plots/\\*.png" in section(reference, "flashsim validate")


def test_main_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.md"
    assert main(["-o", str(out)]) == 0
    assert main(["--check", str(out)]) == 0
    out.write_text(out.read_text(encoding="utf-8") + "stale\n", encoding="utf-8")
    assert main(["--check", str(out)]) == 1
    assert REGENERATE in capsys.readouterr().err
    assert main(["--check", str(tmp_path / "missing.md")]) == 1


def test_module_runs_as_a_script(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    import subprocess
    import sys

    env = {**subprocess_env, "COLUMNS": "50", "LC_ALL": "C"}
    proc = subprocess.run(
        [sys.executable, "-m", "flashsim.cli.reference"],
        capture_output=True,
        env=env,
        cwd=tmp_path,
        check=True,
        timeout=120,
    )
    assert proc.stdout.decode("utf-8") == cli_reference()

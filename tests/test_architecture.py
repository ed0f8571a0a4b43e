"""The layout rules of docs/architecture.md, checked on the package's source.

- the import-linter contracts in pyproject.toml (layers; refsim and sweights use only io and base
  modules) hold;
- no module in flashsim/ is over 500 lines;
- no module imports a private (leading underscore) name from another flashsim module;
- nothing below flashsim/cli/ reads ``sys.argv`` or imports click.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "flashsim"
MAX_LINES = 500


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_import_linter_contracts_hold():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(exe).exists():
        pytest.fail("lint-imports is not installed: pip install -e '.[test]'")
    done = subprocess.run(
        [exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_no_module_over_500_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def _private_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("flashsim"):
            found += [
                f"{node.module}.{a.name}"
                for a in node.names
                if a.name.startswith("_") and not a.name.startswith("__")
            ]
    return found


def test_no_private_name_imported_across_modules():
    found = {str(p.relative_to(ROOT)): f for p in _modules() if (f := _private_imports(p))}
    assert found == {}


def test_private_import_check_finds_one(tmp_path):
    """The check above is not vacuous: it flags a private import."""
    bad = tmp_path / "bad.py"
    bad.write_text("from flashsim.io.read import _something\nfrom flashsim import __version__\n")
    assert _private_imports(bad) == ["flashsim.io.read._something"]


def test_no_command_line_below_cli():
    offenders = []
    for path in _modules():
        if "cli" in path.relative_to(PACKAGE).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "argv":
                offenders.append(f"{path.relative_to(ROOT)}: sys.argv")
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                names.append(getattr(node, "module", None) or "")
                if any(n.split(".")[0] == "click" for n in names):
                    offenders.append(f"{path.relative_to(ROOT)}: imports click")
    assert offenders == []

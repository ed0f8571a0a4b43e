"""What the hostile-input and command-line tests assert of a refused command: exit status 2 and
exactly one line ``flashsim: error: ...`` (the error policy of :mod:`flashsim.cli.app`)."""

from __future__ import annotations

from typing import Any


def assert_one_line_error(result: Any, *fragments: str) -> str:
    """Exit 2 and exactly one line, ``flashsim: error: ...``, holding every fragment, with no
    traceback or internal error; returns the line."""
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1, result.output
    assert lines[0].startswith("flashsim: error: "), lines[0]
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]

"""SIGTERM sent to a running ``flashsim`` command at a chosen moment (the tests of what a run
leaves behind when a batch system stops it)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable


def terminate_when(
    env: dict[str, str],
    args: list[str],
    ready: Callable[[subprocess.Popen[str]], bool],
    *,
    wait: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Start ``flashsim ARGS``, send SIGTERM as soon as ``ready(process)``, and wait for the end
    (killed if it has not ended 60 s after the signal)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "flashsim", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + wait
        while not ready(process) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process.poll() is None, "the run ended before it could be terminated"
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

"""Render a `flashsim validate` report in headless Chromium and save a screenshot (PNG).

    python scripts/screenshot_report.py report/ -o report.png [--height 2400]

Needs a Chromium or Chrome binary (Debian: `apt-get install chromium`); give it with --browser
or the CHROMIUM environment variable if it is not on PATH. Exits with status 1 if the browser
fails or the screenshot is missing; prints the screenshot's path otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
# Headless, no sandbox (root in containers), and no background network traffic: a closed
# network otherwise makes Chromium retry connections at every start.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def find_browser(explicit: str | None = None) -> str | None:
    """The Chromium/Chrome executable: ``explicit``, ``$CHROMIUM``, or the first on PATH."""
    for candidate in (explicit, os.environ.get("CHROMIUM"), *_NAMES):
        if candidate and (path := shutil.which(candidate)):
            return path
    return None


def screenshot(
    page: Path, output: Path, *, browser: str, width: int = 1400, height: int = 2400
) -> Path:
    """Load ``page`` (an HTML file) in headless Chromium and write a PNG of the window."""
    with tempfile.TemporaryDirectory() as profile:
        command = [
            browser,
            *_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={output.resolve()}",
            page.resolve().as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0 or not output.exists():
        msg = f"{browser} failed (status {done.returncode}): {done.stderr.strip()[-2000:]}"
        raise RuntimeError(msg)
    return output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="report directory (or its index.html)")
    parser.add_argument("-o", "--output", type=Path, default=Path("report.png"))
    parser.add_argument("--browser", help="Chromium/Chrome executable")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args()
    page = args.report / "index.html" if args.report.is_dir() else args.report
    if not page.exists():
        print(f"screenshot_report: {page} does not exist", file=sys.stderr)
        return 1
    browser = find_browser(args.browser)
    if browser is None:
        print("screenshot_report: no Chromium found; install it or pass --browser", file=sys.stderr)
        return 1
    try:
        path = screenshot(page, args.output, browser=browser, width=args.width, height=args.height)
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        print(f"screenshot_report: {err}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

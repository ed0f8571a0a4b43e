"""The ``flashsim`` command line: one module per command group, each only parses and calls."""

from __future__ import annotations

from flashsim.cli.app import flashsim, main

__all__ = ["flashsim", "main"]

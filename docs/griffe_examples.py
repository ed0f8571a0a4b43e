"""Griffe extension of the docs build: read flashsim's ``Example:`` sections as examples.

flashsim's docstrings head their doctests ``Example:`` (as zuko does); the Google style that
griffe parses names that section ``Examples:``, and reads any other heading as an admonition in
which a doctest renders as a quotation. mkdocs.yml loads this module through the mkdocstrings
option ``extensions``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

EXAMPLE_HEADING = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rename each docstring's ``Example:`` heading to ``Examples:`` before it is parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the heading in the docstring of ``obj``, if it has one."""
        if obj.docstring is not None:
            obj.docstring.value = EXAMPLE_HEADING.sub(r"\1Examples:", obj.docstring.value)

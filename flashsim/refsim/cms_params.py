"""Deprecated location, kept for one release: use flashsim.refsim.cms.params."""

from flashsim.refsim.cms.params import (
    CMSLikeParameters,
)

__all__ = [
    "CMSLikeParameters",
]

"""``refsim generate``: the entry point of reference-sample generation (CMS-like detector).

:func:`generate_sample` writes a Pythia 8 sample through the CMS-like reference detector
(:mod:`flashsim.refsim.cms.generate`); the LHCb-like detector's is
:func:`flashsim.refsim.lhcb.generate_lhcb_sample`. The work blocks, their seeding and the writing
shared by both detectors are in :mod:`flashsim.refsim.blocks`, the pile-up overlay in
:mod:`flashsim.refsim.pileup`; their names are re-exported here, where they lived before.
"""

from __future__ import annotations

from flashsim.refsim.blocks import (
    BLOCK_SIZE,
    Block,
    is_gen_branch,
    iterate_blocks,
    plan_blocks,
    write_sample,
)
from flashsim.refsim.cms.generate import generate_sample, simulate_block
from flashsim.refsim.pileup import PILEUP_POOL

__all__ = [
    "BLOCK_SIZE",
    "PILEUP_POOL",
    "Block",
    "generate_sample",
    "is_gen_branch",
    "iterate_blocks",
    "plan_blocks",
    "simulate_block",
    "write_sample",
]

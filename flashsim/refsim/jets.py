"""Deprecated location, kept for one release: use flashsim.refsim.cms.jets."""

from flashsim.refsim.cms.jets import (
    GHOST_PT,
    add_gen_flavour,
    build_jets,
    cluster_with_ghosts,
    ghost_grid,
    ip_taggers,
    match_jets,
    pileup_id_bits,
    pileup_id_discriminant,
    pv_charged_fraction,
)

__all__ = [
    "GHOST_PT",
    "add_gen_flavour",
    "build_jets",
    "cluster_with_ghosts",
    "ghost_grid",
    "ip_taggers",
    "match_jets",
    "pileup_id_bits",
    "pileup_id_discriminant",
    "pv_charged_fraction",
]

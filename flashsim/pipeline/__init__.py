"""A trained pipeline: per collection efficiency -> response (-> fakes), then event quantities.

The data path of ``flashsim run`` for one chunk of generated events::

    gen chunk ──select──▶ conditions ──efficiency──▶ kept objects ──response──▶ reco quantities
                                                                   └─ fakes ──▶ unmatched objects

:class:`Pipeline` (:mod:`.pipeline`) applies the stages of every collection
(:class:`CollectionModel`, :mod:`.collection`), of the event quantities (:class:`EventModel`,
:mod:`.event`) and of PID; the response is sampled above the reconstruction thresholds
(:mod:`.thresholds`). The branches a pipeline reads and writes are in :mod:`flashsim.branches`;
``gen_branches``, ``gen_event_level_branches``, ``reco_branches``, ``id_flag_branches`` and
``check_full_simulation_layout`` are re-exported here for one release (deprecated location: use
:mod:`flashsim.branches`).

Example:
    >>> from flashsim.bundle import load_bundle  # doctest: +SKIP
    >>> pipeline = load_bundle("models/cms_like")  # doctest: +SKIP
    >>> reco = pipeline.apply(events, np.random.default_rng(1))  # doctest: +SKIP
    >>> reco["Jet"].pt  # doctest: +SKIP
"""

from __future__ import annotations

from flashsim.branches import (
    check_full_simulation_layout,
    gen_branches,
    gen_event_level_branches,
    id_flag_branches,
    reco_branches,
)
from flashsim.pipeline.collection import (
    ChildrenModel,
    CollectionModel,
    charge_from_pdg_id,
    linked_index,
    nearest_index,
    replicate_source,
    response_context,
)
from flashsim.pipeline.event import EventModel
from flashsim.pipeline.pipeline import Pipeline, check_finite
from flashsim.pipeline.thresholds import (
    MAX_COPIES,
    MAX_RESAMPLING_ROUNDS,
    RESAMPLING_ROWS,
    sample_above_thresholds,
)

__all__ = [
    "MAX_COPIES",
    "MAX_RESAMPLING_ROUNDS",
    "RESAMPLING_ROWS",
    "ChildrenModel",
    "CollectionModel",
    "EventModel",
    "Pipeline",
    "charge_from_pdg_id",
    "check_finite",
    "check_full_simulation_layout",
    "gen_branches",
    "gen_event_level_branches",
    "id_flag_branches",
    "linked_index",
    "nearest_index",
    "reco_branches",
    "replicate_source",
    "response_context",
    "sample_above_thresholds",
]

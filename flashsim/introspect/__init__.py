"""What is in a model bundle, and what is in an input file: ``flashsim info`` and ``inspect``.

:func:`model_info` describes a bundle from its JSON record alone (no weights are loaded): the
pipeline, the bundle's SHA-256, the software versions and training data recorded at training,
and per stage (collection, pile-up fakes, event, PID species) the efficiency BDT, the response
model, the condition and target names and the validation metrics.

:func:`file_info` describes a ROOT file: its trees, the NanoAOD collections (counter ``nX`` and
jagged ``X_*`` fields) and event-level branches of one tree, the flashsim provenance record if
there is one, and whether the tree holds what a pipeline reads (:func:`check_fit`).

Both return dataclasses whose ``to_dict()`` is the ``--json`` output; :func:`format_model_info`
and :func:`format_file_info` give the text.

Example:
    >>> from flashsim.bundle import default_model_path  # doctest: +SKIP
    >>> print(format_model_info(model_info(default_model_path())))  # doctest: +SKIP
"""

from flashsim.introspect.files import (
    BranchInfo,
    CollectionInfo,
    FileInfo,
    FitInfo,
    TreeSummary,
    check_fit,
    expected_layout,
    file_info,
    format_file_info,
)
from flashsim.introspect.model import (
    EfficiencyInfo,
    ModelInfo,
    ResponseInfo,
    StageInfo,
    model_info,
)
from flashsim.introspect.model_text import format_model_info

__all__ = [
    "BranchInfo",
    "CollectionInfo",
    "EfficiencyInfo",
    "FileInfo",
    "FitInfo",
    "ModelInfo",
    "ResponseInfo",
    "StageInfo",
    "TreeSummary",
    "check_fit",
    "expected_layout",
    "file_info",
    "format_file_info",
    "format_model_info",
    "model_info",
]

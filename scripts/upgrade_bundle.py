"""Add what newer flashsim versions record to a model bundle trained before (as the shipped default
model was): the training domain of every condition table and the checksums of the weight files.

flashsim now stores, with each stage's condition preprocessing, the range of every condition in
the training data (:class:`flashsim.domain.Domain`; ``flashsim run --out-of-domain``). A bundle
trained earlier lacks it, and its out-of-domain policy is then a no-op. This script rebuilds the
training tables from the same training files the bundle records (their SHA-256 must match) and
adds the ranges the trainer would have computed, without touching any weights. It also records
the SHA-256 of each weight file as it is now, which ``load_bundle`` checks from then on.

    python scripts/upgrade_bundle.py flashsim/default_model samples/ttbar_train.root
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from flashsim.bundle import RECORD_NAME, file_checksums, read_record, weight_files
from flashsim.domain import Domain
from flashsim.spec import parse_spec
from flashsim.trainer import file_digest, read_training_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="the model bundle to update")
    parser.add_argument("files", type=Path, nargs="+", help="the bundle's training files")
    args = parser.parse_args()
    record = read_record(args.model)
    recorded = {f["sha256"] for f in record["training"]["files"]}
    given = {file_digest(p) for p in args.files}
    if given != recorded:
        parser.error("the files given are not the ones the bundle was trained on (SHA-256)")
    spec = parse_spec(record["spec"])
    data = read_training_data(spec, args.files)
    for name, table in data.collections.items():
        entry = record["collections"][name]
        conditions = table.conditions[np.isfinite(table.conditions).all(axis=1)]
        _add(entry["conditions"], conditions)
        if name in data.fakes and "fakes" in entry:
            _add(entry["fakes"]["conditions"], data.fakes[name].conditions)
    if data.event is not None and "event" in record:
        _add(record["event"]["conditions"], data.event.conditions)
    record["checksums"] = file_checksums(args.model, weight_files(record))
    path = args.model / RECORD_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=False))
    os.replace(tmp, path)
    print(f"added condition domains and weight-file checksums to {path}")


def _add(preprocessor: dict, table: np.ndarray) -> None:
    names = [c["name"] for c in preprocessor["columns"]]
    preprocessor["domain"] = Domain.fit(names, table).to_dict()


if __name__ == "__main__":
    main()

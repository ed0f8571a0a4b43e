"""Add what newer flashsim versions record to a model bundle trained before (as the shipped default
model was): the training domain of every condition table, the checksums of the weight files and
the record's own seal.

flashsim now stores, with each stage's condition preprocessing, the range of every condition in
the training data (:class:`flashsim.domain.Domain`; ``flashsim run --out-of-domain``). A bundle
trained earlier lacks it, and its out-of-domain policy is then a no-op. This script rebuilds the
training tables from the same training files the bundle records (their SHA-256 must match) and
adds the ranges the trainer would have computed, without touching any weights. It also records
the SHA-256 of each weight file as it is now, which ``load_bundle`` checks from then on, and
seals the record (``record_sha256``, :mod:`flashsim.record`), without which it is not loaded.

    python scripts/upgrade_bundle.py flashsim/default_model samples/ttbar_train.root

With ``--seal`` and no training files it only seals the record as it is now (adding the
checksums of the weight files if the record has none): for a bundle from before records were
sealed, or a record edited on purpose, *that you trust* -- the seal then vouches for it.

    python scripts/upgrade_bundle.py --seal path/to/bundle
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from flashsim.atomic import write_atomically
from flashsim.bundle import RECORD_NAME, file_checksums, weight_files
from flashsim.domain import Domain
from flashsim.exceptions import ModelError
from flashsim.record import MAX_RECORD_BYTES, add_seal
from flashsim.spec import parse_spec
from flashsim.trainer import file_digest, read_training_data
from flashsim.untrusted import load_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="the model bundle to update")
    parser.add_argument("files", type=Path, nargs="*", help="the bundle's training files")
    parser.add_argument(
        "--seal", action="store_true", help="only seal the record (and add missing checksums)"
    )
    args = parser.parse_args()
    path = args.model / RECORD_NAME
    record = load_json(path.read_bytes(), str(path), ModelError, max_bytes=MAX_RECORD_BYTES)
    if args.seal:
        if "checksums" not in record:
            record["checksums"] = file_checksums(args.model, weight_files(record))
        write_atomically(path, json.dumps(add_seal(record), indent=1).encode("utf-8"))
        print(f"sealed {path}")
        return
    if not args.files:
        parser.error("give the bundle's training files, or --seal")
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
    write_atomically(path, json.dumps(add_seal(record), indent=1).encode("utf-8"))
    print(f"added condition domains, weight-file checksums and the record's seal to {path}")


def _add(preprocessor: dict, table: np.ndarray) -> None:
    names = [c["name"] for c in preprocessor["columns"]]
    preprocessor["domain"] = Domain.fit(names, table).to_dict()


if __name__ == "__main__":
    main()

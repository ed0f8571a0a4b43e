"""The model shipped inside the package: it loads, runs on the shipped example, and is not broken.

The full acceptance numbers (≥ 50k held-out events) come from ``benchmarks/pipeline_fidelity.py``;
here a few hundred fresh refsim events (another seed than the training sample) are enough to
catch a broken or mismatched default model: the bars are loose, the statistics small.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml

from flashsim.bundle import RECORD_NAME, bundle_hash, default_model_path, load_bundle, read_record
from flashsim.run import run_file
from flashsim.validation.validate import validate

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "ttbar_gen.root"


@pytest.fixture(scope="module")
def default_pipeline():
    return load_bundle(default_model_path())


def test_default_model_is_small_and_documented():
    path = default_model_path()
    size = sum(p.stat().st_size for p in path.iterdir())
    assert size < 8e6, f"the shipped model is {size / 1e6:.1f} MB"
    record = read_record(path)
    # the readable spec beside the record is the one the model was trained with
    assert yaml.safe_load((path / "spec.yaml").read_text()) == record["spec"]
    assert record["training"]["events"] >= 50_000
    assert record["training"]["events"] == sum(f["entries"] for f in record["training"]["files"])


def test_default_model_checksums_and_id_match_its_files():
    """Every shipped weight file has the SHA-256 its record holds (no Git LFS pointer, no edit),
    and the model id is the SHA-256 of the record followed by the weight files in name order."""
    path = default_model_path()
    record = read_record(path)
    weights = sorted(record["checksums"])
    assert weights == sorted(p.name for p in path.iterdir() if p.suffix in (".pt", ".gz"))
    for name in weights:
        assert hashlib.sha256((path / name).read_bytes()).hexdigest() == record["checksums"][name]
    contents = b"".join((path / name).read_bytes() for name in [RECORD_NAME, *weights])
    assert bundle_hash(path) == hashlib.sha256(contents).hexdigest()


def test_runs_on_the_shipped_example(default_pipeline, tmp_path):
    out = tmp_path / "reco.root"
    summary = run_file(default_pipeline, EXAMPLE, out, seed=1, progress=False)
    assert summary.input_events == 1000
    with uproot.open(out) as f:
        events = f["Events"].arrays()
    jets = ak.flatten(events.Jet_pt)
    assert 5 < len(jets) / len(events) < 15
    matched = events.Jet_genJetIdx >= 0
    ratio = ak.flatten(events.Jet_pt[matched] / events.GenJet_pt[events.Jet_genJetIdx[matched]])
    gen_pt = ak.flatten(events.GenJet_pt[events.Jet_genJetIdx[matched]])
    assert 0.85 < np.median(ratio[gen_pt > 50]) < 1.05
    assert np.all(np.isfinite(ak.flatten(events.Muon_pfRelIso03_all)))


@pytest.mark.slow
def test_close_to_refsim_on_fresh_events(default_pipeline, ttbar_file, flash_file):
    result = validate(default_pipeline.spec, flash_file, ttbar_file, collections=["Jet", "Muon"])
    metrics = result.metrics["collections"]
    # 600 events: loose bars that a broken model (e.g. shifted or swapped targets) fails.
    assert metrics["Jet"]["auc"]["value"] < 0.65
    assert metrics["Muon"]["auc"]["value"] < 0.75
    assert metrics["Jet"]["efficiency"]["reco_pt"]["chi2_ndf"] < 4

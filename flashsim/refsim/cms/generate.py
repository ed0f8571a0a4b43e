"""``refsim generate``: Pythia 8 events through the CMS-like reference detector into NanoAOD.

Events are made in blocks (:mod:`flashsim.refsim.blocks`); block ``b`` uses random streams
derived from ``(seed, b)`` only, with a fresh Pythia instance, so that the output depends on the
seed and the number of events, never on ``jobs``. Each block is one Pythia ``nextBatch`` call for
the hard events plus one for a minimum-bias pile-up pool (:mod:`flashsim.refsim.pileup`), then
the detector (:class:`flashsim.refsim.cms.detector.CMSLikeDetector`).
"""

from __future__ import annotations

import os
from typing import Any

import awkward as ak
import numpy as np

from flashsim.exceptions import ConfigurationError
from flashsim.generators.branches import gen_branches
from flashsim.generators.genlevel import build_genlevel
from flashsim.generators.record import to_record
from flashsim.refsim.blocks import BLOCK_SIZE, HEPMC_RECORD, Block, pythia_seed, write_sample
from flashsim.refsim.cms.detector import CMSLikeDetector
from flashsim.refsim.cms.inputs import DetectorInput
from flashsim.refsim.cms.jets import add_gen_flavour, match_jets
from flashsim.refsim.cms.params import CMSLikeParameters
from flashsim.refsim.generator import PythiaSource
from flashsim.refsim.pileup import PILEUP_POOL, pileup_particles

__all__ = ["generate_sample", "simulate_block"]


def simulate_block(block: Block, params: CMSLikeParameters | None = None) -> dict[str, Any]:
    """Generate, hadronise and simulate one block; return a NanoAOD chunk (see ``io``)."""
    params = params or CMSLikeParameters()
    seq_hard, seq_pu, seq_det = np.random.SeedSequence([block.seed, block.index]).spawn(3)
    rng = np.random.default_rng(seq_det)
    table = PythiaSource(block.process, pythia_seed(seq_hard), pthat_min=block.pthat_min).generate(
        block.n_events
    )
    record, source = to_record(table)
    gen = build_genlevel(record)
    genpart_index = np.full(len(table.pdg), -1, dtype=np.int64)
    genpart_index[source] = gen.genpart_index
    n = block.n_events

    mu = params.pileup_mean if block.pileup is None else block.pileup
    if mu > 0:
        k = params.pileup_profile_shape
        true_int = rng.gamma(k, mu / k, n)
        n_pu = rng.poisson(true_int)
        pool = PythiaSource("minbias", pythia_seed(seq_pu)).generate(PILEUP_POOL)
    else:
        true_int = np.zeros(n)
        n_pu = np.zeros(n, dtype=np.int64)
        pool = None
    pv_z = rng.normal(0.0, params.beamspot_sigma_z_mm, n)

    fs = np.flatnonzero(table.status > 0)
    evt = table.event_index[fs]
    hard = {
        "evt": evt,
        "pdg": table.pdg[fs],
        "charge": table.charge[fs],
        "px": table.px[fs],
        "py": table.py[fs],
        "pz": table.pz[fs],
        "e": table.e[fs],
        "vx": table.vx[fs],
        "vy": table.vy[fs],
        "vz": table.vz[fs] + pv_z[evt],
    }
    parts = [hard]
    if pool is not None:
        parts.append(pileup_particles(pool, n_pu, rng, params.beamspot_sigma_z_mm))
    flat = {k: np.concatenate([p[k] for p in parts]) for k in hard}
    is_pu = np.concatenate(
        [np.zeros(len(fs), bool)] + [np.ones(len(p["evt"]), bool) for p in parts[1:]]
    )
    genpart = np.concatenate([genpart_index[fs]] + [np.full(len(p["evt"]), -1) for p in parts[1:]])
    order = np.argsort(flat["evt"], kind="stable")
    inp = DetectorInput(
        n_events=n,
        **{k: v[order] for k, v in flat.items()},
        is_pileup=is_pu[order],
        genpart_index=genpart[order],
        pv_z=pv_z,
        n_pileup=n_pu,
    )
    reco = CMSLikeDetector(params).simulate(inp, rng)
    genjet = gen.collections["GenJet"]
    jets = reco.pop("Jet")
    jets = ak.with_field(jets, match_jets(jets, genjet, params.jet_gen_match_dr), "genJetIdx")
    jets = add_gen_flavour(jets, genjet)
    fatjets = reco.pop("FatJet")
    fatjets = ak.with_field(
        fatjets,
        match_jets(fatjets, gen.collections["GenJetAK8"], params.fatjet_gen_match_dr),
        "genJetAK8Idx",
    )

    record.event_number = block.first_event + 1 + np.arange(n)
    gen_part = gen_branches(
        record,
        gen,
        luminosity_block=block.index + 1,
        pileup_true=true_int,
        pileup_n=n_pu,
    )
    flat_gen = {k: v for k, v in gen_part.items() if not isinstance(v, ak.Array)}
    chunk: dict[str, Any] = {
        **flat_gen,
        **{k: v for k, v in reco.items() if not isinstance(v, ak.Array)},
        "GenJet": genjet,
        "GenJetAK8": gen_part["GenJetAK8"],
        "GenPart": gen_part["GenPart"],
        "Jet": jets,
        "Muon": reco["Muon"],
        "Electron": reco["Electron"],
        "Photon": reco["Photon"],
        "FatJet": fatjets,
        "SubJet": reco["SubJet"],
    }
    if block.hepmc:
        chunk[HEPMC_RECORD] = record
    return chunk


def generate_sample(
    *,
    process: str,
    n_events: int,
    seed: int,
    jobs: int,
    output: os.PathLike | str,
    pileup: float | None = None,
    detector: str = "cms_like",
    overwrite: bool = False,
    progress: bool = True,
    pthat_min: float | None = None,
    block_size: int = BLOCK_SIZE,
    gen_only: bool = False,
    hepmc: os.PathLike | str | None = None,
) -> dict[str, Any]:
    """Generate a reference sample and write it as a NanoAOD-style ROOT file.

    Arguments:
        process: ``ttbar``, ``dy`` or ``qcd`` (:mod:`flashsim.refsim.processes`).
        n_events: number of events (> 0).
        seed: global seed; the output is identical for the same seed and ``n_events``.
        jobs: worker processes.
        output: output ROOT file, written atomically.
        pileup: mean number of pile-up interactions (default: the detector's).
        detector: reference detector (``cms_like``).
        overwrite: replace an existing output.
        progress: show a progress bar.
        pthat_min: pT-hat threshold of ``qcd`` in GeV.
        block_size: events per work block; the output depends on it (keep the default to
            reproduce published samples).
        gen_only: write only the generator-level branches
            (:func:`flashsim.refsim.blocks.is_gen_branch`), as a generator-level input of
            ``flashsim run``; the events are those of the full sample.
        hepmc: also write the generated events (the hard interactions, without pile-up) to
            this HepMC3 ASCII file (``.gz``: compressed), in the form their gen level is built
            from (:class:`flashsim.generators.hepmc_write.HepMCWriter`).

    Returns:
        a summary with the number of events, the wall time and the path.

    Raises:
        ConfigurationError: an unknown detector or a bad number of events, pile-up or block size.
        OutputError: the output cannot be written.
    """
    if detector != "cms_like":
        msg = f"unknown detector {detector!r}; available: cms_like"
        raise ConfigurationError(msg)
    return write_sample(
        process=process,
        n_events=n_events,
        seed=seed,
        jobs=jobs,
        output=output,
        pileup_mean=CMSLikeParameters().pileup_mean if pileup is None else pileup,
        detector=detector,
        overwrite=overwrite,
        progress=progress,
        pthat_min=pthat_min,
        block_size=block_size,
        gen_only=gen_only,
        simulate=simulate_block,
        hepmc=hepmc,
    )

"""``refsim generate``: Pythia 8 events through the CMS-like reference detector into NanoAOD.

The sample is cut into blocks of :data:`BLOCK_SIZE` events. Block ``b`` uses random streams
derived from ``(seed, b)`` only (``numpy.random.SeedSequence``), with a fresh Pythia instance,
so that the output depends on the seed and the number of events, never on ``jobs``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from flashsim.refsim.cms_params import CMSLikeParameters
from flashsim.refsim.detector_cms import CMSLikeDetector, DetectorInput
from flashsim.refsim.generator import MAX_PYTHIA_SEED, ParticleTable, PythiaSource
from flashsim.refsim.genlevel import build_genlevel
from flashsim.refsim.jets import add_gen_flavour, match_jets

#: Events per work block (one Pythia initialisation each).
BLOCK_SIZE = 500
#: Minimum-bias events generated per block and reused, randomly rotated, as pile-up.
PILEUP_POOL = 200


@dataclass(frozen=True)
class Block:
    """One unit of generation work: ``n_events`` events starting at ``first_event``."""

    process: str
    seed: int
    index: int
    first_event: int
    n_events: int
    pileup: float
    pthat_min: float | None = None


def plan_blocks(
    process: str,
    n_events: int,
    seed: int,
    pileup: float,
    pthat_min: float | None = None,
    block_size: int = BLOCK_SIZE,
) -> list[Block]:
    """Split ``n_events`` into :class:`Block` s of ``block_size`` events."""
    return [
        Block(process, seed, i, start, min(block_size, n_events - start), pileup, pthat_min)
        for i, start in enumerate(range(0, n_events, block_size))
    ]


def _pythia_seed(seq: np.random.SeedSequence) -> int:
    return int(seq.generate_state(1)[0] % MAX_PYTHIA_SEED) + 1


def _final_state(table: ParticleTable) -> np.ndarray:
    return np.flatnonzero(table.status > 0)


def _pileup_particles(
    pool: ParticleTable, n_pu: np.ndarray, rng: np.random.Generator, sigma_z: float
) -> dict[str, np.ndarray]:
    """Overlay ``n_pu[i]`` randomly chosen, rotated and displaced pool events on event ``i``."""
    final = pool.status > 0
    sel = np.flatnonzero(final)
    pool_evt = pool.event_index[sel]
    counts = np.bincount(pool_evt, minlength=pool.n_events)
    starts = np.concatenate([[0], np.cumsum(counts)])
    n_inst = int(n_pu.sum())
    choice = rng.integers(0, pool.n_events, n_inst)
    owner = np.repeat(np.arange(len(n_pu)), n_pu)
    alpha = rng.uniform(-np.pi, np.pi, n_inst)
    flip = np.where(rng.random(n_inst) < 0.5, -1.0, 1.0)
    z = rng.normal(0.0, sigma_z, n_inst)
    lengths = counts[choice]
    inst = np.repeat(np.arange(n_inst), lengths)
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    idx = sel[starts[choice][inst] + within]
    ca, sa = np.cos(alpha[inst]), np.sin(alpha[inst])
    px, py = pool.px[idx], pool.py[idx]
    vx, vy = pool.vx[idx], pool.vy[idx]
    return {
        "evt": owner[inst],
        "pdg": pool.pdg[idx],
        "charge": pool.charge[idx],
        "px": ca * px - sa * py,
        "py": sa * px + ca * py,
        "pz": flip[inst] * pool.pz[idx],
        "e": pool.e[idx],
        "vx": ca * vx - sa * vy,
        "vy": sa * vx + ca * vy,
        "vz": flip[inst] * pool.vz[idx] + z[inst],
    }


def simulate_block(block: Block, params: CMSLikeParameters | None = None) -> dict[str, Any]:
    """Generate, hadronise and simulate one block; return a NanoAOD chunk (see ``io``)."""
    params = params or CMSLikeParameters()
    seq_hard, seq_pu, seq_det = np.random.SeedSequence([block.seed, block.index]).spawn(3)
    rng = np.random.default_rng(seq_det)
    table = PythiaSource(block.process, _pythia_seed(seq_hard), pthat_min=block.pthat_min).generate(
        block.n_events
    )
    gen = build_genlevel(table)
    n = block.n_events

    mu = params.pileup_mean if block.pileup is None else block.pileup
    if mu > 0:
        k = params.pileup_profile_shape
        true_int = rng.gamma(k, mu / k, n)
        n_pu = rng.poisson(true_int)
        pool = PythiaSource("minbias", _pythia_seed(seq_pu)).generate(PILEUP_POOL)
    else:
        true_int = np.zeros(n)
        n_pu = np.zeros(n, dtype=np.int64)
        pool = None
    pv_z = rng.normal(0.0, params.beamspot_sigma_z_mm, n)

    fs = _final_state(table)
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
        parts.append(_pileup_particles(pool, n_pu, rng, params.beamspot_sigma_z_mm))
    flat = {k: np.concatenate([p[k] for p in parts]) for k in hard}
    is_pu = np.concatenate(
        [np.zeros(len(fs), bool)] + [np.ones(len(p["evt"]), bool) for p in parts[1:]]
    )
    genpart = np.concatenate(
        [gen.genpart_index[fs]] + [np.full(len(p["evt"]), -1) for p in parts[1:]]
    )
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

    chunk: dict[str, Any] = {
        "run": np.ones(n, dtype=np.uint32),
        "luminosityBlock": np.full(n, block.index + 1, dtype=np.uint32),
        "event": (block.first_event + 1 + np.arange(n)).astype(np.uint64),
        "genWeight": table.weight.astype(np.float32),
        "Generator_binvar": table.pthat.astype(np.float32),
        "Pileup_nTrueInt": true_int.astype(np.float32),
        "Pileup_nPU": n_pu.astype(np.int32),
        **gen.flat,
        **{k: v for k, v in reco.items() if not isinstance(v, ak.Array)},
        "GenJet": genjet,
        "GenPart": gen.collections["GenPart"],
        "Jet": jets,
        "Muon": reco["Muon"],
        "Electron": reco["Electron"],
    }
    return chunk


def iterate_blocks(
    blocks: list[Block],
    jobs: int,
    simulate: Callable[[Block], dict[str, Any]] = simulate_block,
) -> Iterator[tuple[Block, dict[str, Any]]]:
    """Simulate ``blocks`` with ``jobs`` processes, yielding results in block order.

    ``simulate`` (a module-level function, for the worker processes) turns a block into the
    branches to write: the CMS-like :func:`simulate_block` by default.
    """
    if jobs <= 1 or len(blocks) <= 1:
        for block in blocks:
            yield block, simulate(block)
        return
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(blocks)), mp_context=get_context("spawn")
    ) as pool:
        yield from zip(blocks, pool.map(simulate, blocks), strict=True)


_GEN_EVENT_BRANCHES = frozenset({"run", "luminosityBlock", "event", "genWeight"})


def is_gen_branch(name: str) -> bool:
    """Whether a branch or collection is generator-level (``Gen*``, ``Pileup_*``, event ids)."""
    return name in _GEN_EVENT_BRANCHES or name.startswith(("Gen", "Pileup_", "Generator_"))


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
        gen_only: write only the generator-level branches (:func:`is_gen_branch`), as a
            generator-level input of ``flashsim run``; the events are those of the full sample.

    Returns:
        a summary with the number of events, the wall time and the path.
    """
    from flashsim.exceptions import ConfigurationError

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
    )


def write_sample(
    *,
    process: str,
    n_events: int,
    seed: int,
    jobs: int,
    output: os.PathLike | str,
    pileup_mean: float,
    detector: str,
    overwrite: bool,
    progress: bool,
    pthat_min: float | None,
    block_size: int,
    gen_only: bool,
    simulate: Callable[[Block], dict[str, Any]],
) -> dict[str, Any]:
    """Plan the blocks, simulate them with ``simulate`` and write the sample atomically.

    Shared by every detector's ``generate`` (the arguments are :func:`generate_sample`'s, the
    pile-up mean resolved).

    Raises:
        ConfigurationError: ``n_events``, the pile-up mean or the block size out of range.
        OutputError: the output cannot be written.
    """
    from tqdm import tqdm

    import flashsim
    from flashsim.exceptions import ConfigurationError
    from flashsim.io import NanoAODWriter, check_output_path

    if n_events <= 0:
        msg = f"the number of events must be positive, got {n_events}"
        raise ConfigurationError(msg)
    path = check_output_path(output, overwrite=overwrite)
    mu = pileup_mean
    if mu < 0:
        msg = f"the pile-up mean must be >= 0, got {mu}"
        raise ConfigurationError(msg)
    if block_size <= 0:
        msg = f"the block size must be positive, got {block_size}"
        raise ConfigurationError(msg)
    blocks = plan_blocks(process, n_events, seed, mu, pthat_min, block_size)
    metadata = {
        "producer": "flashsim refsim generate",
        "flashsim_version": flashsim.__version__,
        "process": process,
        "n_events": n_events,
        "seed": seed,
        "pileup_mean": mu,
        "detector": detector,
        "block_size": block_size,
        "pthat_min": pthat_min,
        "gen_only": gen_only,
    }
    start = time.perf_counter()
    with (
        NanoAODWriter(path, overwrite=overwrite, metadata=metadata) as writer,
        tqdm(total=n_events, unit="evt", disable=not progress, desc=f"refsim {process}") as bar,
    ):
        for block, chunk in iterate_blocks(blocks, jobs, simulate):
            if gen_only:
                chunk = {k: v for k, v in chunk.items() if is_gen_branch(k)}
            writer.extend(chunk)
            bar.update(block.n_events)
    seconds = time.perf_counter() - start
    return {"n_events": n_events, "seconds": seconds, "path": str(Path(path))}

"""``refsim generate --detector lhcb_like``: Pythia 8 b-hadron events through the LHCb-like model.

As for the CMS-like sample (:mod:`flashsim.refsim.cms.generate`), events are made in blocks; block
``b`` uses random streams derived from ``(seed, b)`` only, so that the output depends on the seed
and the number of events, never on ``jobs``. Each block is one Pythia ``nextBatch`` call for the
``bbbar`` events plus one for a minimum-bias pile-up pool; everything after is vectorised numpy.
"""

from __future__ import annotations

import os
from typing import Any

import awkward as ak
import numpy as np

from flashsim.generators.kinematics import jagged, pt_eta_phi
from flashsim.refsim.blocks import BLOCK_SIZE, Block, pythia_seed, write_sample
from flashsim.refsim.generator import ParticleTable, PythiaSource
from flashsim.refsim.lhcb.detector import PID_FIELDS, LHCbLikeDetector
from flashsim.refsim.lhcb.params import LONG, SPECIES, LHCbLikeParameters
from flashsim.refsim.pileup import PILEUP_POOL, pileup_particles

__all__ = ["LHCB_PROCESSES", "generate_lhcb_sample", "simulate_lhcb_block"]

#: Processes the LHCb-like detector is made for.
LHCB_PROCESSES: tuple[str, ...] = ("bbbar",)


def _momenta(px: np.ndarray, py: np.ndarray, pz: np.ndarray) -> tuple[np.ndarray, ...]:
    pt, eta, phi = pt_eta_phi(px, py, pz)
    return pt, eta, phi, np.sqrt(px**2 + py**2 + pz**2)


def _occupancy(
    evt: np.ndarray,
    charged: np.ndarray,
    eta: np.ndarray,
    p: np.ndarray,
    n_events: int,
    p_min: float,
) -> np.ndarray:
    """Charged particles per event in 2 < eta < 5 with p > p_min (generator-level occupancy)."""
    sel = charged & (eta > 2.0) & (eta < 5.0) & (p > p_min)
    return np.bincount(evt[sel], minlength=n_events)


def simulate_lhcb_block(block: Block, params: LHCbLikeParameters | None = None) -> dict[str, Any]:
    """Generate one block of ``bbbar`` events and simulate the LHCb-like detector on it.

    Returns a NanoAOD chunk (see :class:`flashsim.io.NanoAODWriter`) with the event ids, pile-up
    counts, the generator-level occupancy ``Generator_nCharged`` (charged particles of all
    interactions in 2 < eta < 5 with p > 2 GeV), ``Event_nTracks``, ``GenPart`` and ``Track``.
    """
    params = params or LHCbLikeParameters()
    detector = LHCbLikeDetector(params)
    seq_hard, seq_pu, seq_det = np.random.SeedSequence([block.seed, block.index]).spawn(3)
    rng = np.random.default_rng(seq_det)
    n = block.n_events
    table: ParticleTable = PythiaSource(
        block.process, pythia_seed(seq_hard), pthat_min=block.pthat_min
    ).generate(n)

    # Charged final-state particles of the bbbar collision.
    fs = np.flatnonzero((table.status > 0) & (table.charge != 0))
    evt = table.event_index[fs]
    pt, eta, phi, p = _momenta(table.px[fs], table.py[fs], table.pz[fs])
    apdg = np.abs(table.pdg[fs])
    occupancy = _occupancy(evt, np.ones(len(fs), bool), eta, p, n, params.occupancy_p_min)

    # Pile-up: only its long tracks matter (they count in Event_nTracks).
    if block.pileup > 0:
        n_pu = rng.poisson(block.pileup, n)
        pool = PythiaSource("minbias", pythia_seed(seq_pu)).generate(PILEUP_POOL)
        pu = pileup_particles(pool, n_pu, rng, 0.0)
        charged = pu["charge"] != 0
        pu_evt = pu["evt"][charged]
        _, pu_eta, _, pu_p = _momenta(pu["px"][charged], pu["py"][charged], pu["pz"][charged])
        occupancy = occupancy + _occupancy(
            pu_evt, np.ones(len(pu_evt), bool), pu_eta, pu_p, n, params.occupancy_p_min
        )
    else:
        n_pu = np.zeros(n, dtype=np.int64)
        pu_evt = pu_eta = pu_p = np.zeros(0)

    track_type = detector.track_types(p, eta, occupancy[evt], rng)
    pu_type = detector.track_types(pu_p, pu_eta, occupancy[pu_evt.astype(np.int64)], rng)
    n_long = np.bincount(evt[track_type == LONG], minlength=n) + np.bincount(
        pu_evt[pu_type == LONG].astype(np.int64), minlength=n
    )

    # GenPart: e, mu, pi, K, p of the bbbar collision in the extended acceptance.
    keep = (
        np.isin(apdg, SPECIES)
        & (eta > params.genpart_eta_min)
        & (eta < params.genpart_eta_max)
        & (p > params.genpart_p_min)
    )
    g = fs[keep]
    g_evt = evt[keep]
    g_counts = np.bincount(g_evt, minlength=n)
    g_first = np.concatenate([[0], np.cumsum(g_counts)])[:-1]
    g_local = np.arange(len(g)) - g_first[g_evt]
    genpart = ak.zip(
        {
            "pt": jagged(pt[keep].astype(np.float32), g_counts),
            "eta": jagged(eta[keep].astype(np.float32), g_counts),
            "phi": jagged(phi[keep].astype(np.float32), g_counts),
            "mass": jagged(table.mass[g].astype(np.float32), g_counts),
            "pdgId": jagged(table.pdg[g].astype(np.int32), g_counts),
            "status": jagged(np.ones(len(g), dtype=np.int32), g_counts),
            "genPartIdxMother": jagged(np.full(len(g), -1, dtype=np.int16), g_counts),
            "p": jagged(p[keep].astype(np.float32), g_counts),
            "vx": jagged(table.vx[g].astype(np.float32), g_counts),
            "vy": jagged(table.vy[g].astype(np.float32), g_counts),
            "vz": jagged(table.vz[g].astype(np.float32), g_counts),
        }
    )

    # Track: the reconstructed GenPart particles, in GenPart order.
    found = track_type[keep] > 0
    t_idx = g[found]
    t_type = track_type[keep][found]
    t_evt = g_evt[found]
    reco = detector.reconstruct(
        t_type,
        np.rint(table.charge[t_idx]).astype(np.int32),
        p[keep][found],
        eta[keep][found],
        phi[keep][found],
        (table.vx[t_idx], table.vy[t_idx], table.vz[t_idx]),
        rng,
    )
    pid = detector.pid(
        np.abs(table.pdg[t_idx]), reco["p"], reco["eta"], n_long[t_evt], rng, track_type=t_type
    )
    t_counts = np.bincount(t_evt, minlength=n)
    fields: dict[str, ak.Array] = {
        "genPartIdx": jagged(g_local[found].astype(np.int16), t_counts),
        "type": jagged(t_type, t_counts),
        "p": jagged(reco["p"].astype(np.float32), t_counts),
        "pt": jagged(reco["pt"].astype(np.float32), t_counts),
        "eta": jagged(reco["eta"].astype(np.float32), t_counts),
        "phi": jagged(reco["phi"].astype(np.float32), t_counts),
        "charge": jagged(reco["charge"], t_counts),
        "ip": jagged(reco["ip"].astype(np.float32), t_counts),
    }
    fields.update({name: jagged(pid[name], t_counts) for name in PID_FIELDS})

    return {
        "run": np.ones(n, dtype=np.uint32),
        "luminosityBlock": np.full(n, block.index + 1, dtype=np.uint32),
        "event": (block.first_event + 1 + np.arange(n)).astype(np.uint64),
        "genWeight": table.weight.astype(np.float32),
        "Generator_binvar": table.pthat.astype(np.float32),
        "Pileup_nPU": n_pu.astype(np.int32),
        "Generator_nCharged": occupancy.astype(np.int32),
        "Event_nTracks": n_long.astype(np.int32),
        "GenPart": genpart,
        "Track": ak.zip(fields),
    }


def generate_lhcb_sample(
    *,
    n_events: int,
    seed: int,
    output: os.PathLike | str,
    jobs: int = 1,
    process: str = "bbbar",
    pileup: float | None = None,
    pthat_min: float | None = None,
    overwrite: bool = False,
    progress: bool = True,
    block_size: int = BLOCK_SIZE,
    gen_only: bool = False,
) -> dict[str, Any]:
    """Generate an LHCb-like reference sample and write it as a NanoAOD-style ROOT file.

    Arguments:
        n_events: number of events (> 0).
        seed: global seed; the output is identical for the same seed and ``n_events``, whatever
            ``jobs``.
        output: output ROOT file, written atomically.
        jobs: worker processes.
        process: ``bbbar`` (:data:`LHCB_PROCESSES`).
        pileup: mean number of extra minimum-bias interactions (default
            :attr:`LHCbLikeParameters.pileup_mean`); they add to the occupancy, not to ``Track``.
        pthat_min: pT-hat threshold of ``bbbar`` in GeV (default
            :data:`flashsim.refsim.processes.BBBAR_PTHAT_MIN`).
        overwrite: replace an existing output.
        progress: show a progress bar.
        block_size: events per work block; the output depends on it.
        gen_only: write only the generator-level branches (event ids, ``Pileup_*``,
            ``Generator_*``, ``GenPart``).

    Returns:
        a summary with the number of events, the wall time and the path.

    Raises:
        ConfigurationError: an unknown process or a bad number of events, pile-up or block size.
        OutputError: the output cannot be written.
    """
    from flashsim.exceptions import ConfigurationError

    if process not in LHCB_PROCESSES:
        msg = (
            f"the lhcb_like detector simulates {', '.join(LHCB_PROCESSES)} events, not "
            f"{process!r}; use --process bbbar, or --detector cms_like for {process!r}"
        )
        raise ConfigurationError(msg)
    return write_sample(
        process=process,
        n_events=n_events,
        seed=seed,
        jobs=jobs,
        output=output,
        pileup_mean=LHCbLikeParameters().pileup_mean if pileup is None else pileup,
        detector="lhcb_like",
        overwrite=overwrite,
        progress=progress,
        pthat_min=pthat_min,
        block_size=block_size,
        gen_only=gen_only,
        simulate=simulate_lhcb_block,
    )

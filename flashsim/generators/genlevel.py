"""Generator-level NanoAOD content built from a :class:`~flashsim.generators.record.GenRecord`.

One code for every source of events: ``flashsim refsim generate`` (Pythia in memory),
``flashsim gen`` (HepMC files, Pythia cards, LHE files) and ``flashsim run`` on generator output
all build their gen level here, from the same record (:mod:`flashsim.generators.record`).

``GenJet``: anti-kT R=0.4 (FastJet) on visible final-state particles, pT > 10 GeV, with
hadron flavour from ghost-like association of weakly decaying b/c hadrons and parton flavour
from the partons entering hadronisation (b, then c, then the hardest), following the CMS
definitions (CMS-JME-13-005 / JINST 15 (2020) P08011 for the flavour definitions).
``GenPart``: a pruned record (final-state e/mu above 2 GeV, photons above 10 GeV, tau leptons,
weakly decaying b/c hadrons, hard-process particles, W/Z/H/t last copies) with
``genPartIdxMother`` pointing to the closest kept ancestor. ``GenMET``: the invisible particles
(neutrinos, and the invisible particles of common BSM models in :data:`INVISIBLE`).

Which particles are the hard process and which partons enter hadronisation is read from the
status codes: HepMC status 21-29 (Pythia's hard process; 3 in HepMC2 files of Sherpa and Herwig)
and 71-79 (Pythia's partons entering hadronisation); for generators that do not use Pythia's
codes, a quark or gluon with a hadron, cluster or string among its daughters enters
hadronisation too.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from flashsim.exceptions import ConfigurationError
from flashsim.generators.ancestry import descends_from, first_copy, nearest_kept_ancestor
from flashsim.generators.kinematics import jagged, nearest, pt_eta_phi
from flashsim.generators.record import DECAYED, FINAL, GenRecord, is_hadron
from flashsim.generators.substructure import nsubjettiness, per_jet, soft_drop
from flashsim.generators.table import silence_stdout

GENJET_R = 0.4
GENJET_PT_MIN = 10.0
#: Large-radius gen jets (``GenJetAK8``): anti-kT R = 0.8 above 100 GeV, as in NanoAOD.
GENJET_AK8_R = 0.8
GENJET_AK8_PT_MIN = 100.0
#: Soft drop of the gen (and reco) large-radius jets: z_cut and beta (CMS: 0.1, 0).
SOFTDROP_ZCUT = 0.1
SOFTDROP_BETA = 0.0
#: Flavour association cone of the R = 0.4 jets (distance of a hadron or parton to the axis);
#: that of a jet of radius R is R.
FLAVOUR_DR = GENJET_R
NEUTRINOS = (12, 14, 16)
#: Particles that leave no trace in a detector, for GenMET and left out of GenJets: neutrinos,
#: sneutrinos, the lightest neutralino and the gravitino (SUSY), and Pythia's dark-matter
#: particles (51-53) and hidden-valley invisibles (4900022, 4900101).
INVISIBLE = (*NEUTRINOS, 1000012, 1000014, 1000016, 1000022, 1000039, 51, 52, 53, 4900022, 4900101)
#: Pseudo-particles between partons and hadrons: clusters (Herwig 81, 91), strings (92) and
#: independent fragmentation (93).
HADRONISATION_CODES = (81, 91, 92, 93)

# NanoAOD GenPart_statusFlags bits that we fill.
FLAG_IS_PROMPT = 0
FLAG_IS_TAU_DECAY_PRODUCT = 2
FLAG_IS_HARD_PROCESS = 7
FLAG_IS_LAST_COPY = 13


@dataclass
class GenLevel:
    """Gen-level collections of a block plus the links the detector needs.

    ``genpart_index`` maps every particle of the record to its local index in ``GenPart``
    (-1 when it was pruned away).
    """

    collections: dict[str, ak.Array]
    flat: dict[str, np.ndarray]
    genpart_index: np.ndarray


def hadron_flavour_digit(pdg: np.ndarray) -> np.ndarray:
    """Heaviest quark in a hadron's PDG code (0 for non-hadrons), e.g. 5 for B mesons."""
    a = np.abs(pdg)
    q1, q2, q3 = (a // 1000) % 10, (a // 100) % 10, (a // 10) % 10
    is_hadron = (a > 100) & (a < 1_000_000) & (q2 > 0) & (q3 > 0)
    return np.where(is_hadron, np.maximum(np.maximum(q1, q2), q3), 0)


def build_genlevel(record: GenRecord) -> GenLevel:
    """Build ``GenJet``, ``GenPart``, ``GenMET`` and flavour labels for a block of events."""
    n = len(record.pdg)
    evt = record.event_index
    n_events = record.n_events
    status = record.status
    apdg = np.abs(record.pdg)
    final = status == FINAL
    mother = record.global_mother()
    has_mother = mother >= 0
    safe_mother = np.where(has_mother, mother, 0)
    pt, eta, phi = pt_eta_phi(record.px, record.py, record.pz)

    # Last copy: no daughter with the same identity.
    same = has_mother & (record.pdg == record.pdg[safe_mother])
    not_last = np.zeros(n, dtype=bool)
    not_last[mother[same]] = True
    last = ~not_last

    flav = hadron_flavour_digit(record.pdg)
    hadron = is_hadron(record.pdg)
    # Weakly decaying heavy hadrons: no daughter hadron of the same heavy flavour.
    heavy_child = has_mother & (flav >= 4) & (flav == flav[safe_mother])
    decays_to_same = np.zeros(n, dtype=bool)
    decays_to_same[mother[heavy_child]] = True
    weak_heavy = (flav >= 4) & ~decays_to_same

    # Descendants of hadron decays: of a hadron that decayed (HepMC status 2), not of the
    # beams and not of a hadron's own copies (an onium made in the hard process is prompt,
    # its decay products are not).
    from_hadron = descends_from(mother, hadron & (status == DECAYED))
    from_tau = descends_from(mother, apdg == 15)
    # The hard process: Pythia's 21-29 (3 in HepMC2 files of other generators), and, as CMS
    # does (MCTruthHelper), final or decayed particles whose mother is, in its first copy, an
    # incoming (21) or intermediate (22) hard-process particle of another identity and that
    # decays (no copy of itself among its daughters: not a branching of the shower): a decay
    # product that did not branch keeps no status-23 copy in HepMC (Pythia writes 1 or 2).
    decay_product = (
        ((status == FINAL) | (status == DECAYED))
        & has_mother
        & (record.pdg != record.pdg[safe_mother])
        & last[safe_mother]
    )
    products = np.flatnonzero(decay_product)
    origin = first_copy(mother, record.pdg)[safe_mother[products]]  # of each product's mother
    hard = ((status >= 21) & (status <= 29)) | (status == 3)
    hard[products] |= (status[origin] == 21) | (status[origin] == 22)

    keep = (
        (final & ((apdg == 11) | (apdg == 13)) & (pt > 2.0))
        | (final & (apdg == 22) & (pt > 10.0))
        | ((apdg == 15) & last)
        | weak_heavy
        | hard
        | (np.isin(apdg, (6, 23, 24, 25)) & last)
    )

    anc = nearest_kept_ancestor(mother, keep)
    rank = np.cumsum(keep) - 1  # global rank among kept particles
    first_rank = np.concatenate([[0], np.cumsum(keep)])[record.offsets[:-1]]
    local = np.full(n, -1, dtype=np.int64)
    local[keep] = rank[keep] - first_rank[evt[keep]]
    kept = np.flatnonzero(keep)
    mother_local = np.where(anc[kept] >= 0, local[np.where(anc[kept] >= 0, anc[kept], 0)], -1)

    status_out = np.where(final, 1, np.where((hadron | (apdg == 15)) & ~final, 2, status))
    flags = (
        ((~from_hadron).astype(np.int32) << FLAG_IS_PROMPT)
        | (from_tau.astype(np.int32) << FLAG_IS_TAU_DECAY_PRODUCT)
        | (hard.astype(np.int32) << FLAG_IS_HARD_PROCESS)
        | (last.astype(np.int32) << FLAG_IS_LAST_COPY)
    )
    gp_counts = np.bincount(evt[kept], minlength=n_events)
    genpart = ak.zip(
        {
            "pt": jagged(pt[kept].astype(np.float32), gp_counts),
            "eta": jagged(eta[kept].astype(np.float32), gp_counts),
            "phi": jagged(phi[kept].astype(np.float32), gp_counts),
            "mass": jagged(record.mass[kept].astype(np.float32), gp_counts),
            "pdgId": jagged(record.pdg[kept].astype(np.int32), gp_counts),
            "status": jagged(status_out[kept].astype(np.int32), gp_counts),
            "statusFlags": jagged(flags[kept].astype(np.uint16), gp_counts),
            "genPartIdxMother": jagged(mother_local.astype(np.int16), gp_counts),
        }
    )

    invisible = final & np.isin(apdg, INVISIBLE)
    partons = ((apdg <= 5) | (apdg == 21)) & (apdg > 0)
    entering = partons & (status >= 71) & (status <= 79) & (pt > 0)
    if not entering.any():  # not Pythia's codes: partons with a hadron or string as daughter
        has_hadron_child = np.zeros(n, dtype=bool)
        hadron_like = has_mother & (hadron | np.isin(apdg, HADRONISATION_CODES))
        has_hadron_child[mother[hadron_like]] = True
        entering = partons & has_hadron_child & (pt > 0)
    visible = final & ~invisible
    genjet = _genjets(record, visible, entering, pt, eta, phi, evt, flav, weak_heavy)
    genjet_ak8 = _genjets(
        record,
        visible,
        entering,
        pt,
        eta,
        phi,
        evt,
        flav,
        weak_heavy,
        radius=GENJET_AK8_R,
        pt_min=GENJET_AK8_PT_MIN,
        substructure=True,
    )

    mex = np.bincount(evt[invisible], weights=record.px[invisible], minlength=n_events)
    mey = np.bincount(evt[invisible], weights=record.py[invisible], minlength=n_events)
    flat = {
        "GenMET_pt": np.hypot(mex, mey).astype(np.float32),
        "GenMET_phi": np.arctan2(mey, mex).astype(np.float32),
    }
    return GenLevel(
        collections={"GenJet": genjet, "GenJetAK8": genjet_ak8, "GenPart": genpart},
        flat=flat,
        genpart_index=local,
    )


def _genjets(
    record: GenRecord,
    visible: np.ndarray,
    partons: np.ndarray,
    pt: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    evt: np.ndarray,
    flav: np.ndarray,
    weak_heavy: np.ndarray,
    *,
    radius: float = GENJET_R,
    pt_min: float = GENJET_PT_MIN,
    substructure: bool = False,
) -> ak.Array:
    """Anti-kT jets of radius ``radius`` above ``pt_min`` of the visible final-state particles,
    with their hadron flavour (from the weakly decaying heavy hadrons) and parton flavour (from
    the ``partons`` entering hadronisation), both associated within ``radius`` of the axis;
    with ``substructure``, also the soft-drop mass and tau1-tau3 (:func:`jet_substructure`)."""
    n_events = record.n_events
    counts = np.bincount(evt[visible], minlength=n_events)
    parts = ak.zip(
        {
            "px": jagged(record.px[visible], counts),
            "py": jagged(record.py[visible], counts),
            "pz": jagged(record.pz[visible], counts),
            "E": jagged(record.e[visible], counts),
        },
        with_name="Momentum4D",
    )
    jets = cluster_antikt(parts, radius, pt_min)
    jpt, jeta, jphi = pt_eta_phi(jets.px, jets.py, jets.pz)
    jmass = np.sqrt(np.maximum(jets.E**2 - jets.px**2 - jets.py**2 - jets.pz**2, 0.0))
    njet = ak.to_numpy(ak.num(jpt))
    jet_offsets = np.concatenate([[0], np.cumsum(njet)])

    def associate(sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = np.bincount(evt[sel], minlength=n_events)
        idx, _ = nearest(jagged(eta[sel], c), jagged(phi[sel], c), jeta, jphi, radius)
        ok = idx >= 0
        return jet_offsets[evt[sel][ok]] + idx[ok], np.flatnonzero(sel)[ok]

    # Hadron flavour: heaviest weakly decaying hadron associated with the jet.
    had_flav = np.zeros(int(jet_offsets[-1]), dtype=np.int64)
    jidx, pidx = associate(weak_heavy & (pt > 0))
    np.maximum.at(had_flav, jidx, flav[pidx])
    n_jets = int(jet_offsets[-1])
    n_b = np.bincount(jidx[flav[pidx] == 5], minlength=n_jets)
    n_c = np.bincount(jidx[flav[pidx] == 4], minlength=n_jets)

    # Parton flavour: partons entering hadronisation; b, then c, then the hardest one.
    jidx, pidx = associate(partons)
    apdg = np.abs(record.pdg)
    part_flav = np.zeros(int(jet_offsets[-1]), dtype=np.int64)
    if len(jidx):
        key = (apdg[pidx] == 5) * 2e6 + (apdg[pidx] == 4) * 1e6 + pt[pidx]
        order = np.lexsort((key, jidx))  # by jet, then by key
        last_of_jet = np.r_[jidx[order][1:] != jidx[order][:-1], True]
        part_flav[jidx[order][last_of_jet]] = record.pdg[pidx[order][last_of_jet]]

    fields = {
        "pt": ak.values_astype(jpt, np.float32),
        "eta": ak.values_astype(jeta, np.float32),
        "phi": ak.values_astype(jphi, np.float32),
        "mass": ak.values_astype(jmass, np.float32),
        "partonFlavour": jagged(part_flav.astype(np.int16), njet),
        "hadronFlavour": jagged(had_flav.astype(np.uint8), njet),
    }
    if substructure:
        # as NanoAOD's FatJet_nBHadrons, nCHadrons: the weakly decaying b (c) hadrons in the jet
        fields["nBHadrons"] = jagged(np.minimum(n_b, 255).astype(np.uint8), njet)
        fields["nCHadrons"] = jagged(np.minimum(n_c, 255).astype(np.uint8), njet)
        vis = np.flatnonzero(visible)
        first = np.concatenate([[0], np.cumsum(counts)])
        local = ak.to_numpy(ak.flatten(jets.constituents, axis=None)).astype(np.int64)
        n_const = ak.to_numpy(ak.flatten(ak.num(jets.constituents, axis=2))).astype(np.int64)
        jet_of = np.repeat(np.arange(len(n_const)), n_const)
        evt_of_jet = np.repeat(np.arange(n_events), njet)
        const = vis[first[evt_of_jet[jet_of]] + local]
        msd, taus = jet_substructure(record, pt, eta, phi, const, jet_of, n_const, radius)
        fields["msoftdrop"] = jagged(msd.astype(np.float32), njet)
        for k in range(3):
            fields[f"tau{k + 1}"] = jagged(taus[:, k].astype(np.float32), njet)
    return ak.zip(fields)


def jet_substructure(
    record: GenRecord,
    pt: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    const: np.ndarray,
    jet_of: np.ndarray,
    n_const: np.ndarray,
    radius: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Soft-drop mass (z_cut = 0.1, beta = 0, R0 = ``radius``, as the reference detector's
    FatJets) and tau1-tau3 (beta = 1, exclusive-kT axes) of gen jets from their constituents
    ``const`` (particle indices of the record, jet ``jet_of``)."""
    parts = per_jet(record.px[const], record.py[const], record.pz[const], record.e[const], n_const)
    msd, _ = soft_drop(parts, SOFTDROP_ZCUT, SOFTDROP_BETA, radius)
    taus = nsubjettiness(pt[const], eta[const], phi[const], jet_of, parts, n_const, radius, 3)
    return msd, taus


def cluster_antikt(parts: ak.Array, radius: float, pt_min: float) -> ak.Array:
    """Anti-kT jets of jagged ``Momentum4D`` particles, sorted by decreasing pT.

    Returns a jagged record array with fields ``px, py, pz, E`` and ``constituents`` (local
    indices of the input particles in each jet).

    References:
        M. Cacciari, G. P. Salam, G. Soyez, "The anti-kt jet clustering algorithm",
        JHEP 04 (2008) 063, arXiv:0802.1189; FastJet, EPJC 72 (2012) 1896, arXiv:1111.6097.
    """
    try:
        import fastjet
    except ImportError as err:  # pragma: no cover - depends on the environment
        msg = "the generator level needs FastJet for its jets: pip install 'flashsim[gen]'"
        raise ConfigurationError(msg) from err

    jetdef = fastjet.JetDefinition(fastjet.antikt_algorithm, radius)
    with silence_stdout():
        seq = fastjet.ClusterSequence(parts, jetdef)
        jets = seq.inclusive_jets(min_pt=pt_min)
        constituents = seq.constituent_index(min_pt=pt_min)
    jet_pt = np.hypot(jets.px, jets.py)
    order = ak.argsort(jet_pt, axis=1, ascending=False)
    return ak.zip(
        {
            "px": jets.px[order],
            "py": jets.py[order],
            "pz": jets.pz[order],
            "E": jets.E[order],
            "constituents": constituents[order],
        },
        depth_limit=2,
    )

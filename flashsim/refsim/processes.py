"""Pythia 8 settings of the reference processes, in one readable place.

Every process is :data:`COMMON` followed by its own lines; the pile-up overlay uses :data:`MINBIAS`.
Each list is passed line by line to ``pythia.readString``.

References:
    C. Bierlich et al., "A comprehensive guide to the physics and usage of PYTHIA 8.3",
    SciPost Phys. Codebases 8 (2022), arXiv:2203.11601.
"""

from __future__ import annotations

#: Centre-of-mass energy of LHC Run 3, in GeV.
SQRT_S = 13600.0

#: Settings shared by every process (Monash 2013 tune, the Pythia default).
COMMON: list[str] = [
    f"Beams:eCM = {SQRT_S}",
    "Tune:pp = 14",
    # Particles with c*tau > 10 mm are left stable, as in the CMS generator configuration;
    # b and c hadrons, tau leptons decay and their displaced vertices are recorded.
    "ParticleDecays:limitTau0 = on",
    "ParticleDecays:tau0Max = 10",
    # (Pythia's printing is switched off by flashsim.generators.pythia.QUIET, applied first.)
]

#: Hard processes. ``qcd`` and ``bbbar`` read their pT-hat threshold from ``PhaseSpace:pTHatMin``
#: (set by :func:`process_settings`).
PROCESSES: dict[str, list[str]] = {
    # Top-quark pair production, all decay channels (training sample).
    "ttbar": ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on"],
    # Drell-Yan Z/gamma* -> ee, mumu, tautau with m(ll) > 50 GeV; extra jets come from the parton
    # shower (ISR).
    "dy": [
        "WeakSingleBoson:ffbar2gmZ = on",
        "23:onMode = off",
        "23:onIfAny = 11 13 15",
        "PhaseSpace:mHatMin = 50.",
    ],
    # Inclusive 2 -> 2 QCD (dijets) above a pT-hat threshold.
    "qcd": ["HardQCD:all = on"],
    # W + jet (q qbar -> W g, q g -> W q) with W -> e nu, mu nu, tau nu, pT-hat > 20 GeV: leptons
    # with genuine MET and jets of mostly light-quark and gluon flavour.
    "wjets": [
        "WeakBosonAndParton:qqbar2Wg = on",
        "WeakBosonAndParton:qg2Wq = on",
        "24:onMode = off",
        "24:onIfAny = 11 13 15",
        "PhaseSpace:pTHatMin = 20.",
    ],
    # Z H associated production with H -> b bbar (m_H = 125 GeV) and the Z decaying inclusively
    # (qq, ll, nu nu): b jets from a colour singlet, boosted at high Z pT.
    "zh_bb": [
        "HiggsSM:ffbar2HZ = on",
        "25:m0 = 125.",
        "25:onMode = off",
        "25:onIfMatch = 5 -5",
    ],
    # A 2.5 TeV sequential-SM-like Z' -> ee, mumu (no gamma*/Z interference), for the high-pT
    # extrapolation of the lepton models: leptons of 0.5-1.5 TeV.
    "zprime_ll": [
        "NewGaugeBoson:ffbar2gmZZprime = on",
        "Zprime:gmZmode = 3",
        "32:m0 = 2500.",
        "32:onMode = off",
        "32:onIfAny = 11 13",
        "PhaseSpace:mHatMin = 1500.",
    ],
    # A 2.5 TeV Z' -> t tbar (no gamma*/Z interference): top quarks of about 1 TeV whose decay
    # products merge into one large-radius jet, for the boosted top (and W) FatJets.
    "zprime_tt": [
        "NewGaugeBoson:ffbar2gmZZprime = on",
        "Zprime:gmZmode = 3",
        "32:m0 = 2500.",
        "32:onMode = off",
        "32:onIfAny = 6",
        "PhaseSpace:mHatMin = 1500.",
    ],
    # Z H with H -> b bbar and Z -> nu nu at high pT-hat (> 250 GeV): boosted H -> bb jets.
    "zh_bb_boosted": [
        "HiggsSM:ffbar2HZ = on",
        "25:m0 = 125.",
        "25:onMode = off",
        "25:onIfMatch = 5 -5",
        "23:onMode = off",
        "23:onIfAny = 12 14 16",
        "PhaseSpace:pTHatMin = 250.",
    ],
    # Gluon-fusion Higgs production with H -> gamma gamma (m_H = 125 GeV): two prompt, isolated
    # photons of 30-100 GeV, for the photon energy resolution and the diphoton mass peak.
    "hgg": [
        "HiggsSM:gg2H = on",
        "25:m0 = 125.",
        "25:onMode = off",
        "25:onIfMatch = 22 22",
    ],
    # Prompt-photon production (q g -> q gamma, q qbar -> g gamma, g g -> g gamma, f fbar ->
    # gamma gamma) with pT-hat > 50 GeV: a prompt photon recoiling against a jet.
    "gjets": [
        "PromptPhoton:all = on",
        "PhaseSpace:pTHatMin = 50.",
    ],
    # b-quark pairs (gg -> bb, qq -> bb with massive b quarks) above a low pT-hat threshold, for the
    # LHCb-like detector (flashsim.refsim.lhcb); b hadrons decay inside Pythia.
    "bbbar": ["HardQCD:hardbbbar = on"],
}

#: Default pT-hat threshold of the ``qcd`` process, in GeV.
QCD_PTHAT_MIN = 30.0
#: Default pT-hat threshold of the ``bbbar`` process, in GeV.
BBBAR_PTHAT_MIN = 3.0
#: The processes that read ``PhaseSpace:pTHatMin``, with their default thresholds in GeV.
PTHAT_MIN_DEFAULTS: dict[str, float] = {"qcd": QCD_PTHAT_MIN, "bbbar": BBBAR_PTHAT_MIN}

#: Inelastic non-diffractive collisions used as pile-up.
MINBIAS: list[str] = ["SoftQCD:nonDiffractive = on"]


def process_settings(process: str, *, pthat_min: float | None = None) -> list[str]:
    """Return the full list of Pythia settings of ``process`` (without the random seed).

    Arguments:
        process: one of :data:`PROCESSES` or ``"minbias"``.
        pthat_min: pT-hat threshold in GeV for ``qcd`` and ``bbbar`` (defaults:
            :data:`PTHAT_MIN_DEFAULTS`); ignored by the other processes.
    """
    if process == "minbias":
        return [*COMMON, *MINBIAS]
    if process not in PROCESSES:
        msg = f"unknown process {process!r}; choose one of {', '.join(sorted(PROCESSES))}"
        raise ValueError(msg)
    lines = [*COMMON, *PROCESSES[process]]
    if process in PTHAT_MIN_DEFAULTS:
        threshold = PTHAT_MIN_DEFAULTS[process] if pthat_min is None else pthat_min
        lines.append(f"PhaseSpace:pTHatMin = {threshold}")
    return lines

"""What the NanoAOD branches flashsim reads mean, and where a file gets them.

A missing branch is reported with what it holds and where it comes from
(:func:`describe_branch`), so that a user can find or compute it; "did you mean" suggestions
(:func:`flashsim.io.layout.close_names`) are kept to genuine typos and never name a different
quantity (:func:`same_quantity`): ``GenJet_partonFlavour`` is not a misspelt
``GenJet_hadronFlavour`` but another definition of the jet's flavour, and renaming one to the
other would change the physics silently.

References:
    CMS, NanoAOD branch content (``Events`` tree of NanoAODv12 MC samples),
    https://cms-nanoaod-integration.web.cern.ch/autoDoc/
"""

from __future__ import annotations

__all__ = ["KNOWN_BRANCHES", "describe_branch", "same_quantity"]

_NANOAOD_MC = "every NanoAOD MC file has it"
_REFSIM = "`flashsim refsim generate` writes it"

KNOWN_BRANCHES: dict[str, tuple[str, str]] = {
    "GenJet_pt": ("the generator-level jet's transverse momentum [GeV]", _NANOAOD_MC),
    "GenJet_eta": ("the generator-level jet's pseudorapidity", _NANOAOD_MC),
    "GenJet_phi": ("the generator-level jet's azimuth", _NANOAOD_MC),
    "GenJet_mass": ("the generator-level jet's mass [GeV]", _NANOAOD_MC),
    "GenJet_hadronFlavour": (
        "the gen jet's flavour from ghost-associated B and C hadrons (5 b, 4 c, 0 light)",
        "NanoAOD MC files have it; for another generator's jets, ghost-associate the b and c "
        "hadrons (as `flashsim refsim` does)",
    ),
    "GenJet_partonFlavour": (
        "the gen jet's flavour from ghost-associated partons (the pdgId of the chosen parton, "
        "0 for none)",
        "NanoAOD MC files have it; for another generator's jets, ghost-associate the partons",
    ),
    "GenPart_pt": ("the generator particle's transverse momentum [GeV]", _NANOAOD_MC),
    "GenPart_eta": ("the generator particle's pseudorapidity", _NANOAOD_MC),
    "GenPart_phi": ("the generator particle's azimuth", _NANOAOD_MC),
    "GenPart_mass": ("the generator particle's mass [GeV]", _NANOAOD_MC),
    "GenPart_p": ("the generator particle's momentum [GeV]", _REFSIM + " (LHCb-like samples)"),
    "GenPart_pdgId": ("the generator particle's PDG identifier", _NANOAOD_MC),
    "GenPart_status": ("the generator particle's status code (1: final state)", _NANOAOD_MC),
    "GenPart_statusFlags": (
        "the generator particle's status bits (isPrompt, fromHardProcess, isLastCopy, ...)",
        _NANOAOD_MC,
    ),
    "GenPart_genPartIdxMother": ("the index of the particle's mother in GenPart", _NANOAOD_MC),
    "GenPart_vx": ("the generator particle's production vertex x [cm]", _REFSIM),
    "GenPart_vy": ("the generator particle's production vertex y [cm]", _REFSIM),
    "GenPart_vz": ("the generator particle's production vertex z [cm]", _REFSIM),
    "GenMET_pt": (
        "the generator-level missing transverse momentum [GeV] (the invisible particles)",
        _NANOAOD_MC,
    ),
    "GenMET_phi": ("the azimuth of the generator-level missing transverse momentum", _NANOAOD_MC),
    "Pileup_nTrueInt": (
        "the true mean number of pile-up interactions of the event's bunch crossing (the "
        "Poisson mean that Pileup_nPU is drawn from)",
        "samples simulated with pile-up have it; for a sample made without pile-up "
        "information, `flashsim run --pileup MU` gives every event the mean MU",
    ),
    "Pileup_nPU": (
        "the number of pile-up interactions overlaid on the event",
        "samples simulated with pile-up have it",
    ),
    "Jet_hadronFlavour": ("the reco jet's hadron flavour (5 b, 4 c, 0 light)", _NANOAOD_MC),
    "Jet_partonFlavour": ("the reco jet's parton flavour", _NANOAOD_MC),
    "Jet_btagDeepFlavB": ("the DeepJet b-tag discriminant (b vs all)", "NanoAOD has it"),
    "Jet_btagDeepFlavCvL": ("the DeepJet c vs light discriminant", "NanoAOD has it"),
    "Jet_btagDeepFlavCvB": ("the DeepJet c vs b discriminant", "NanoAOD has it"),
    "Muon_looseId": ("the muon's loose ID flag", "NanoAOD has it"),
    "Muon_mediumId": ("the muon's medium ID flag", "NanoAOD has it"),
    "Muon_tightId": ("the muon's tight ID flag", "NanoAOD has it"),
    "Muon_pfRelIso03_all": ("the muon's relative PF isolation in a cone of 0.3", "NanoAOD"),
    "Muon_pfRelIso04_all": ("the muon's relative PF isolation in a cone of 0.4", "NanoAOD"),
    "Electron_pfRelIso03_all": ("the electron's relative PF isolation, cone 0.3", "NanoAOD"),
    "Electron_pfRelIso04_all": ("the electron's relative PF isolation, cone 0.4", "NanoAOD"),
    "Electron_mvaIso_WP80": ("the electron MVA ID flag at 80% efficiency", "NanoAOD has it"),
    "Electron_mvaIso_WP90": ("the electron MVA ID flag at 90% efficiency", "NanoAOD has it"),
}
"""NanoAOD branches by name: (what the branch holds, where a file gets it)."""

_BY_LOWER = {name.lower(): name for name in KNOWN_BRANCHES}


def describe_branch(name: str) -> str | None:
    """What the branch ``name`` holds and where it comes from, or ``None`` when not known.

    Example:
        >>> describe_branch("GenPart_pdgId")
        "the generator particle's PDG identifier; every NanoAOD MC file has it"
    """
    known = KNOWN_BRANCHES.get(name)
    return None if known is None else f"{known[0]}; {known[1]}"


def same_quantity(name: str, other: str) -> bool:
    """Whether ``other`` may be offered for ``name`` as a typo: the same name but for case, or
    not two different known quantities (two names of :data:`KNOWN_BRANCHES` that differ
    otherwise are different physics, however alike they are spelt).

    Example:
        >>> same_quantity("GenJet_hadronFlavour", "GenJet_partonFlavour")
        False
        >>> same_quantity("GenJet_hadronFlavour", "GenJet_hadronflavour")
        True
        >>> same_quantity("GenJet_hadronFlavour", "GenJet_hadronFlavor")
        True
    """
    if name.lower() == other.lower():
        return True
    return not (name.lower() in _BY_LOWER and other.lower() in _BY_LOWER)

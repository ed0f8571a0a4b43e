"""A particle-level, stochastic CMS-like reference detector ("full simulation" of refsim).

Every final-state particle of the hard event and of the overlaid pile-up goes through:

1. decays in flight of charged pions and kaons before the calorimeter (non-prompt muons) and
2. tracking: acceptance, efficiency, hit counting, curvature smearing with scattering tails,
   impact parameters from Pythia's production vertices (:mod:`.tracking`);
3. electrons: bremsstrahlung in the tracker material (Bethe-Heitler), with the photon and the
   bent electron landing at different azimuths, collected by a supercluster window
   (:mod:`.lepton_reco`, with the conversion finder);
4. calorimetry: ECAL, HCAL and HF cells of finite size that merge nearby particles, hadronic
   non-linearity, stochastic/noise/constant terms, thresholds (:mod:`.calorimetry`);
5. muon system: efficiency with cracks, station counting, punch-through, quality
   (:mod:`.lepton_reco`);
6. particle flow: tracks linked to cells, neutral candidates from the energy excess, CHS
   (:mod:`.particle_flow`);
7. objects: anti-kT R=0.4 jets on the PF candidates, energy fractions, an impact-parameter
   b-tag, lepton isolation from the PF candidates, MET, pile-up density rho
   (:mod:`.reco_objects`).

All reconstructed quantities are computed from these simulated detector-level objects.
Parameters and their sources: :mod:`flashsim.refsim.cms.params`.
"""

from __future__ import annotations

import numpy as np

from flashsim.generators.kinematics import pt_eta_phi
from flashsim.refsim.cms import calorimetry
from flashsim.refsim.cms.calorimetry import calorimeter_cells
from flashsim.refsim.cms.inputs import DetectorInput
from flashsim.refsim.cms.lepton_reco import electron_candidates, electron_showers, muon_candidates
from flashsim.refsim.cms.params import CMSLikeParameters
from flashsim.refsim.cms.particle_flow import particle_flow
from flashsim.refsim.cms.pfcand import Table, select_rows
from flashsim.refsim.cms.reco_objects import build_objects
from flashsim.refsim.cms.tracking import decays_in_flight, track_particles

__all__ = ["CMSLikeDetector", "DetectorInput"]

#: PDG ids of the neutrinos, which leave the detector unseen.
NEUTRINOS = (12, 14, 16)


class CMSLikeDetector:
    """The CMS-like reference detector.

    Arguments:
        params: detector parameters (defaults: :class:`CMSLikeParameters`).
    """

    def __init__(self, params: CMSLikeParameters | None = None) -> None:
        self.p = params or CMSLikeParameters()

    def hadron_response(self, energy: np.ndarray) -> np.ndarray:
        """Mean calorimeter response to hadrons of energy ``energy`` (GeV)."""
        return calorimetry.hadron_response(self.p, energy)

    def visible_particles(self, inp: DetectorInput) -> Table:
        """The particles of ``inp`` that can leave a trace: no neutrinos, inside the HF."""
        pt, eta, phi = pt_eta_phi(inp.px, inp.py, inp.pz)
        pmag = np.sqrt(inp.px**2 + inp.py**2 + inp.pz**2)
        apdg = np.abs(inp.pdg)
        q = np.rint(inp.charge).astype(np.int32)
        visible = ~np.isin(apdg, NEUTRINOS) & (np.abs(eta) < self.p.hf_eta_max)
        part = {
            "evt": inp.evt,
            "pdg": inp.pdg,
            "apdg": apdg,
            "q": q,
            "pt": pt,
            "eta": eta,
            "phi": phi,
            "p": pmag,
            "e": inp.e,
            "vx": inp.vx,
            "vy": inp.vy,
            "vz": inp.vz,
            "pu": inp.is_pileup,
            "gen": inp.genpart_index,
            "pv_z": inp.pv_z[inp.evt],
        }
        return select_rows(part, visible)

    def simulate(self, inp: DetectorInput, rng: np.random.Generator) -> dict[str, object]:
        """Run the detector on a block; return reco collections (awkward) and flat branches."""
        p = self.p
        part = self.visible_particles(inp)
        part["dif"], x_mu = decays_in_flight(p, part, rng)
        trk = track_particles(p, part, rng)
        showers, ecal_extra = electron_showers(p, part, rng)
        cells = calorimeter_cells(p, part, trk, ecal_extra, rng)
        ele = electron_candidates(p, part, trk, showers, cells, rng)
        mu = muon_candidates(p, part, trk, x_mu, rng)
        pf = particle_flow(p, part, trk, cells, ele, mu)
        return build_objects(p, inp, pf, ele, mu, rng)

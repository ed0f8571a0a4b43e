"""A particle-level, stochastic CMS-like reference detector ("full simulation" of refsim).

Every final-state particle of the hard event and of the overlaid pile-up goes through:

0. photon conversions in the tracker material: a converting photon becomes its e+e- pair
   (:mod:`.conversions`);
1. decays in flight of charged pions and kaons before the calorimeter (non-prompt muons) and
2. tracking: acceptance, efficiency, hit counting, curvature smearing with scattering tails,
   impact parameters from Pythia's production vertices (:mod:`.tracking`);
3. electrons: bremsstrahlung in the tracker material (Bethe-Heitler), with the photon and the
   bent electron landing at different azimuths, collected by a supercluster window
   (:mod:`.lepton_reco`, with the conversion finder); hadron tracks that the ECAL-driven
   seeding takes for electrons (:mod:`.electron_fakes`);
4. calorimetry: ECAL, HCAL and HF cells of finite size that merge nearby particles, hadronic
   non-linearity, stochastic/noise/constant terms, thresholds (:mod:`.calorimetry`);
5. muon system: efficiency with cracks, station counting, punch-through, quality
   (:mod:`.lepton_reco`);
6. particle flow: tracks linked to cells, neutral candidates from the energy excess, CHS
   (:mod:`.particle_flow`);
7. objects: anti-kT R=0.4 jets on the PF candidates, energy fractions, an impact-parameter
   b-tag, lepton isolation from the PF candidates, MET, pile-up density rho
   (:mod:`.reco_objects`); photons from the ECAL superclusters (:mod:`.photons`, shapes from
   :mod:`.showers`).

All reconstructed quantities are computed from these simulated detector-level objects.
Parameters and their sources: :mod:`flashsim.refsim.cms.params`.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim.generators.kinematics import pt_eta_phi
from flashsim.refsim.cms import calorimetry
from flashsim.refsim.cms.calorimetry import cells_from_deposits, energy_deposits
from flashsim.refsim.cms.conversions import (
    conversion_track_d0,
    convert_photons,
    explain_track_deposits,
)
from flashsim.refsim.cms.electron_fakes import hadron_electron_candidates
from flashsim.refsim.cms.inputs import DetectorInput
from flashsim.refsim.cms.lepton_reco import (
    displaced_pair_legs,
    electron_candidates,
    electron_showers,
    muon_candidates,
    tracks_for_particle_flow,
)
from flashsim.refsim.cms.params import CMSLikeParameters
from flashsim.refsim.cms.particle_flow import particle_flow
from flashsim.refsim.cms.pfcand import Table, concat_tables, select_rows, sorted_collection
from flashsim.refsim.cms.photons import build_photons
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
        part, visible = self.particle_table(inp)
        return select_rows(part, visible)

    def particle_table(self, inp: DetectorInput) -> tuple[Table, np.ndarray]:
        """All particles of ``inp`` as a table, and which of them are visible
        (:meth:`visible_particles`)."""
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
        return part, visible

    def simulate(self, inp: DetectorInput, rng: np.random.Generator) -> dict[str, object]:
        """Run the detector on a block; return reco collections (awkward) and flat branches."""
        p = self.p
        table, visible = self.particle_table(inp)
        part = convert_photons(p, table, rng, rows=np.flatnonzero(visible))
        part["dif"], x_mu = decays_in_flight(p, part, rng)
        trk = track_particles(p, part, rng)
        conversion_track_d0(p, part, trk)
        showers, ecal_extra = electron_showers(p, part, rng)
        deposits = energy_deposits(p, part, trk, ecal_extra, rng)
        cells = cells_from_deposits(p, deposits, rng)
        ele = electron_candidates(p, part, trk, showers, cells, rng)
        ele = concat_tables(ele, hadron_electron_candidates(p, part, trk, deposits, cells, rng))
        trk_pf = tracks_for_particle_flow(p, part, trk, ele)
        explain_track_deposits(p, part, trk, trk_pf, ele, deposits, cells)
        mu = muon_candidates(p, part, trk, x_mu, rng)
        pf = particle_flow(p, part, trk_pf, cells, ele, mu, displaced_pair_legs(p, part, trk))
        out = build_objects(p, inp, pf, ele, mu, rng)
        out["Photon"], ele_photon = build_photons(
            p, part, trk, deposits, cells, ele, pf, inp.n_events, rng
        )
        photon_idx = sorted_collection(
            {"photonIdx": ele_photon.astype(np.int16)}, ele["evt"], ele["pt"], inp.n_events
        )
        out["Electron"] = ak.with_field(out["Electron"], photon_idx.photonIdx, "photonIdx")
        return out

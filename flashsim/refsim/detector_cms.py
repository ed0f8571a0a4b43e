"""A particle-level, stochastic CMS-like reference detector ("full simulation" of refsim).

Every final-state particle of the hard event and of the overlaid pile-up goes through:

1. decays in flight of charged pions and kaons before the calorimeter (non-prompt muons);
2. tracking: acceptance, efficiency, hit counting, curvature smearing with scattering tails,
   impact parameters from Pythia's production vertices;
3. electrons: bremsstrahlung in the tracker material (Bethe-Heitler), with the photon and the
   bent electron landing at different azimuths, collected by a supercluster window;
4. calorimetry: ECAL, HCAL and HF cells of finite size that merge nearby particles, hadronic
   non-linearity, stochastic/noise/constant terms, thresholds;
5. particle flow: tracks linked to cells, neutral candidates from the energy excess, CHS;
6. muon system: efficiency with cracks, station counting, punch-through, quality
   (:mod:`flashsim.refsim.lepton_reco`, with the electron steps 3 and the conversion finder);
7. objects: anti-kT R=0.4 jets on the PF candidates, energy fractions, an impact-parameter
   b-tag, lepton isolation from the PF candidates, MET, pile-up density rho.

All reconstructed quantities are computed from these simulated detector-level objects.
Parameters and their sources: :mod:`flashsim.refsim.cms_params`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flashsim.refsim.cms_params import CMSLikeParameters
from flashsim.refsim.kinematics import delta_phi, pt_eta_phi
from flashsim.refsim.lepton_reco import BEND, LeptonReconstruction
from flashsim.refsim.reco_objects import (
    CH_HAD,
    ELECTRON,
    ELECTRON_MASS,
    HF_HAD,
    MUON,
    MUON_MASS,
    NEU_HAD,
    PHOTON,
    build_objects,
    select_rows,
)

PION_MASS = 0.13957
# c*tau in m and mass in GeV of the long-lived charged mesons that can decay to muons.
DECAYS_IN_FLIGHT = {211: (7.8045, 0.13957), 321: (3.712, 0.493677)}


@dataclass
class DetectorInput:
    """Final-state particles of a block of events (hard event and pile-up), as flat arrays.

    Vertices in mm (the primary-vertex displacement already applied); ``genpart_index`` is the
    local ``GenPart`` index of the particle (-1 for pile-up or pruned particles).
    """

    n_events: int
    evt: np.ndarray
    pdg: np.ndarray
    charge: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    vx: np.ndarray
    vy: np.ndarray
    vz: np.ndarray
    is_pileup: np.ndarray
    genpart_index: np.ndarray
    pv_z: np.ndarray
    n_pileup: np.ndarray


def _concat(*tables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    keys = tables[0].keys()
    return {k: np.concatenate([t[k] for t in tables]) for k in keys}


class CMSLikeDetector(LeptonReconstruction):
    """The CMS-like reference detector.

    Arguments:
        params: detector parameters (defaults: :class:`CMSLikeParameters`).
    """

    def __init__(self, params: CMSLikeParameters | None = None) -> None:
        self.p = params or CMSLikeParameters()

    # ----------------------------------------------------------------------------- helpers
    def hadron_response(self, energy: np.ndarray) -> np.ndarray:
        """Mean calorimeter response to hadrons of energy ``energy`` (GeV)."""
        e = np.maximum(energy, 0.2)
        return 1.0 - self.p.hadron_response_r0 * e ** (-self.p.hadron_response_r1)

    def _calo_radius(self, eta: np.ndarray) -> np.ndarray:
        """Transverse radius (m) at which a particle reaches the calorimeter front face."""
        return np.minimum(
            self.p.ecal_radius_m, self.p.calo_endcap_z_m / np.maximum(np.abs(np.sinh(eta)), 1e-6)
        )

    def _bent_phi(self, phi, q, pt, radius):
        shift = BEND * self.p.b_field_t * radius * q / np.maximum(pt, 1e-3)
        return delta_phi(phi - np.clip(shift, -np.pi / 2, np.pi / 2), 0.0)

    # ----------------------------------------------------------------------------- simulate
    def simulate(self, inp: DetectorInput, rng: np.random.Generator) -> dict[str, object]:
        """Run the detector on a block; return reco collections (awkward) and flat branches."""
        p = self.p
        pt, eta, phi = pt_eta_phi(inp.px, inp.py, inp.pz)
        pmag = np.sqrt(inp.px**2 + inp.py**2 + inp.pz**2)
        apdg = np.abs(inp.pdg)
        q = np.rint(inp.charge).astype(np.int32)
        visible = ~np.isin(apdg, (12, 14, 16)) & (np.abs(eta) < p.hf_eta_max)
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
        part = select_rows(part, visible)

        # 1. decays in flight of pi/K before the calorimeter
        dif = np.zeros(len(part["pt"]), dtype=bool)
        x_mu = np.ones(len(part["pt"]))
        for pid, (ctau, mass) in DECAYS_IN_FLIGHT.items():
            sel = part["apdg"] == pid
            path = self._calo_radius(part["eta"][sel]) * np.cosh(part["eta"][sel])
            decay_length = part["p"][sel] / mass * ctau
            dif[sel] = rng.random(sel.sum()) < -np.expm1(-path / decay_length)
            xmin = (MUON_MASS / mass) ** 2
            x_mu[sel] = rng.uniform(xmin, 1.0, sel.sum())
        part["dif"] = dif

        trk = self._tracking(part, rng)
        electrons, ecal_extra = self._electron_showers(part, trk, rng)
        cells = self._calorimeter(part, trk, ecal_extra, rng)
        ele = self._electrons(part, trk, electrons, cells, rng)
        mu = self._muons(part, trk, x_mu, rng)
        pf = self._particle_flow(part, trk, cells, ele, mu)
        return build_objects(self.p, inp, pf, ele, mu, rng)

    # ----------------------------------------------------------------------------- tracking
    def _tracking(self, part, rng) -> dict[str, np.ndarray]:
        """Tracks of charged particles: efficiency, hits, curvature and impact parameters.

        Arrays run over all particles; only entries with ``found`` are meaningful.
        """
        p = self.p
        n_all = len(part["pt"])
        acc = np.flatnonzero(
            (part["q"] != 0)
            & (np.abs(part["eta"]) < p.track_eta_max)
            & (part["pt"] > p.track_pt_min)
        )
        pt, eta, phi, q = part["pt"][acc], part["eta"][acc], part["phi"][acc], part["q"][acc]
        apdg = part["apdg"][acc]
        aeta = np.abs(eta)
        frac = np.clip((aeta - 0.9) / (p.track_eta_max - 0.9), 0, 1)
        eff = (p.track_eff_barrel + (p.track_eff_endcap - p.track_eff_barrel) * frac) * (
            -np.expm1(-(pt - 0.3) / p.track_eff_turn_on_gev)
        )
        eff = np.where(apdg == 11, eff * p.track_eff_electron_factor, eff)
        eff = np.where(apdg == 13, p.track_eff_muon, eff)
        n = len(acc)
        # hit pattern: a layer inside the production radius cannot have a hit; the others are
        # hit with the layer efficiency. lostHits = missing layers before the first hit.
        radii = np.asarray(p.tracker_layer_radii_cm)
        r_prod = np.hypot(part["vx"][acc], part["vy"][acc]) / 10.0
        layer_hit = (rng.random((n, len(radii))) < p.tracker_hit_efficiency) & (
            radii[np.newaxis, :] > r_prod[:, np.newaxis]
        )
        hits = layer_hit.sum(axis=1)
        lost = np.where(hits > 0, np.argmax(layer_hit, axis=1), len(radii))
        pixel = layer_hit[:, : p.pixel_layers].sum(axis=1)
        found = (rng.random(n) < eff) & (hits >= 5)
        scale = np.sqrt(p.tracker_layers / np.maximum(hits, 1))
        scale = np.where(rng.random(n) < p.track_tail_fraction, scale * p.track_tail_scale, scale)
        e2 = (aeta / 2.5) ** 2
        res_a = p.track_res_a_barrel + p.track_res_a_slope * e2
        res_b = p.track_res_b_barrel + p.track_res_b_slope * e2
        rel = np.sqrt(res_a**2 + (res_b * pt) ** 2) * scale
        curv_reco = q / pt * (1.0 + rel * rng.standard_normal(n))
        sin_theta = 1.0 / np.cosh(eta)
        sd0 = np.hypot(p.d0_res_a_cm, p.d0_res_b_cm / (pt * np.sqrt(sin_theta))) * scale
        sdz = np.hypot(p.dz_res_a_cm, p.dz_res_b_cm / (pt * sin_theta**1.5)) * scale
        ux, uy = np.cos(phi), np.sin(phi)
        vx, vy, vz = part["vx"][acc], part["vy"][acc], part["vz"][acc]
        d0 = (vy * ux - vx * uy) / 10.0 + sd0 * rng.standard_normal(n)  # mm -> cm
        dz = ((vz - (vx * ux + vy * uy) * np.sinh(eta)) - part["pv_z"][acc]) / 10.0 + (
            sdz * rng.standard_normal(n)
        )
        ang = np.hypot(0.0003, 0.002 / pt) * scale

        def full(values: np.ndarray, fill: float = 0.0, dtype=np.float64) -> np.ndarray:
            out = np.full(n_all, fill, dtype=dtype)
            out[acc] = values
            return out

        return {
            "found": full(found, False, bool),
            "pt": full(1.0 / np.maximum(np.abs(curv_reco), 1e-6)),
            "q": full(np.where(curv_reco >= 0, 1, -1), 0, np.int32),
            "hits": full(hits, 0, np.int64),
            "lost": full(lost, 0, np.int64),
            "pixel": full(pixel, 0, np.int64),
            "d0": full(d0),
            "sd0": full(sd0, 1.0),
            "dz": full(dz),
            "sdz": full(sdz, 1.0),
            "eta": full(eta + ang * rng.standard_normal(n)),
            "phi": full(delta_phi(phi + ang * rng.standard_normal(n), 0.0)),
            "from_pv": full(np.abs(dz) < p.chs_dz_cut_cm, False, bool),
        }

    # ----------------------------------------------------------------------------- calorimeters
    def _em_resolution(self, energy, aeta):
        p = self.p
        barrel = aeta < p.barrel_eta
        stoch = np.where(barrel, p.ecal_stochastic_barrel, p.ecal_stochastic_endcap)
        const = np.where(barrel, p.ecal_constant_barrel, p.ecal_constant_endcap)
        return np.hypot(stoch / np.sqrt(np.maximum(energy, 1e-3)), const)

    def _calorimeter(self, part, trk, ecal_extra, rng) -> dict[str, np.ndarray]:
        """Deposit energies in ECAL/HCAL/HF cells and sum them per cell."""
        p = self.p
        aeta = np.abs(part["eta"])
        apdg = part["apdg"]
        charged = part["q"] != 0
        radius = self._calo_radius(part["eta"])
        # Loopers: charged particles too soft to reach the calorimeter surface.
        reach = ~charged | (part["pt"] > BEND * p.b_field_t * radius * 1.0)
        phi_c = np.where(
            charged, self._bent_phi(part["phi"], part["q"], part["pt"], radius), part["phi"]
        )
        linked = charged & trk["found"]  # track-linked deposits (PF expectation)
        dep = []  # (evt, layer, eta, phi, energy, expected, variance, owner)
        # photons: ECAL or HF
        em = (apdg == 22) & reach
        e = part["e"][em]
        in_ecal = aeta[em] < p.ecal_eta_max
        res = np.where(
            in_ecal,
            self._em_resolution(e, aeta[em]),
            np.hypot(p.hf_stochastic / np.sqrt(np.maximum(e, 1e-3)), p.hf_constant),
        )
        e_dep = np.maximum(e * (1 + res * rng.standard_normal(len(e))), 0.0)
        dep.append(
            (
                part["evt"][em],
                np.where(in_ecal, 0, 2),
                part["eta"][em],
                phi_c[em],
                e_dep,
                np.zeros_like(e),
                np.zeros_like(e),
                np.flatnonzero(em),
            )
        )
        # electrons (and their bremsstrahlung) in the ECAL
        e = ecal_extra["energy"]
        ae = np.abs(ecal_extra["eta"])
        e_dep = np.maximum(e * (1 + self._em_resolution(e, ae) * rng.standard_normal(len(e))), 0)
        dep.append(
            (
                ecal_extra["evt"],
                np.zeros(len(e), dtype=np.int64),
                ecal_extra["eta"],
                ecal_extra["phi"],
                e_dep,
                np.zeros_like(e),
                np.zeros_like(e),
                ecal_extra["owner"],
            )
        )
        # hadrons (pi/K that decayed in flight leave no shower)
        had = (apdg != 11) & (apdg != 13) & (apdg != 22) & reach & ~part["dif"]
        idx = np.flatnonzero(had)
        is_baryon = apdg[idx] > 1000
        energy = np.where(is_baryon, np.maximum(part["e"][idx] - 0.938, 0.0), part["e"][idx])
        hf = aeta[idx] >= p.ecal_eta_max
        resp = np.where(hf, p.hf_hadron_response, self.hadron_response(energy))
        sig = np.where(
            hf,
            np.hypot(p.hf_stochastic / np.sqrt(np.maximum(energy, 1e-3)), p.hf_constant),
            np.hypot(p.hcal_stochastic / np.sqrt(np.maximum(energy, 1e-3)), p.hcal_constant),
        )
        total = np.maximum(energy * resp * (1 + sig * rng.standard_normal(len(idx))), 0.0)
        starts = (rng.random(len(idx)) < p.hadron_ecal_start_prob) & ~hf
        share = np.where(starts, rng.beta(*p.hadron_ecal_share_beta, len(idx)), 0.0)
        exp_total = np.where(linked[idx], trk["pt"][idx] * np.cosh(part["eta"][idx]), 0.0)
        exp_total = exp_total * self.hadron_response(exp_total)
        exp_var = (exp_total * sig) ** 2
        evt, eta_h, phi_h = part["evt"][idx], part["eta"][idx], phi_c[idx]
        zeros = np.zeros(len(idx))
        dep.append(
            (
                evt,
                np.zeros(len(idx), dtype=np.int64),
                eta_h,
                phi_h,
                total * share,
                zeros,
                zeros,
                idx,
            )
        )
        # the PF expectation of a track-linked hadron sits on its HCAL/HF row
        dep.append(
            (evt, np.where(hf, 2, 1), eta_h, phi_h, total * (1 - share), exp_total, exp_var, idx)
        )
        d_evt, layer, d_eta, d_phi, d_e, d_exp, d_var, owner = (
            np.concatenate([d[i] for d in dep]) for i in range(8)
        )
        keep = (d_e > 0) | (d_exp > 0)
        d_evt, layer, d_eta, d_phi, d_e, d_exp, d_var, owner = (
            a[keep] for a in (d_evt, layer, d_eta, d_phi, d_e, d_exp, d_var, owner)
        )
        size = np.choose(layer, [p.ecal_cell, p.hcal_cell, p.hf_cell])
        nphi = np.rint(2 * np.pi / size).astype(np.int64)
        ieta = np.floor(d_eta / size).astype(np.int64)
        iphi = np.floor((d_phi + np.pi) / (2 * np.pi) * nphi).astype(np.int64) % nphi
        key = ((d_evt.astype(np.int64) * 3 + layer) * 4096 + (ieta + 2048)) * 512 + iphi
        ukey, inv = np.unique(key, return_inverse=True)
        c_e = np.bincount(inv, weights=d_e)
        c_exp = np.bincount(inv, weights=d_exp)
        c_var = np.bincount(inv, weights=d_var)
        c_iphi = ukey % 512
        c_ieta = (ukey // 512) % 4096 - 2048
        c_layer = (ukey // (512 * 4096)) % 3
        c_evt = ukey // (512 * 4096 * 3)
        c_size = np.choose(c_layer, [p.ecal_cell, p.hcal_cell, p.hf_cell])
        c_nphi = np.rint(2 * np.pi / c_size)
        c_eta = (c_ieta + 0.5) * c_size
        c_phi = (c_iphi + 0.5) * 2 * np.pi / c_nphi - np.pi
        barrel = np.abs(c_eta) < p.barrel_eta
        noise = np.choose(
            c_layer,
            [
                np.where(barrel, p.ecal_noise_barrel_gev, p.ecal_noise_endcap_gev),
                p.hcal_noise_gev,
                p.hcal_noise_gev,
            ],
        )
        c_e = c_e + noise * rng.standard_normal(len(c_e))
        thr = np.choose(
            c_layer,
            [
                np.where(barrel, p.ecal_threshold_barrel_gev, p.ecal_threshold_endcap_gev),
                p.hcal_threshold_gev,
                p.hf_threshold_gev,
            ],
        )
        # PF blocks: HCAL towers, with the ECAL cells in front of them (HF cells on their own)
        t_nphi = round(2 * np.pi / p.hcal_cell)
        t_ieta = np.floor(c_eta / p.hcal_cell).astype(np.int64)
        t_iphi = np.floor((c_phi + np.pi) / (2 * np.pi) * t_nphi).astype(np.int64) % t_nphi
        tower = ((c_evt * 2 + (c_layer == 2)) * 4096 + (t_ieta + 2048)) * 512 + t_iphi
        return {
            "evt": c_evt,
            "layer": c_layer,
            "eta": c_eta,
            "phi": c_phi,
            "energy": c_e,
            "expected": c_exp,
            "variance": c_var,
            "threshold": thr,
            "tower": tower,
            "used": np.zeros(len(c_e), dtype=bool),
        }

    # ----------------------------------------------------------------------------- particle flow
    def _particle_flow(self, part, trk, cells, ele, mu) -> dict[str, np.ndarray]:
        """PF candidates: leptons, charged hadrons from tracks, neutrals from calorimeter excess."""
        p = self.p
        used_track = np.zeros(len(part["pt"]), dtype=bool)
        used_track[ele["index"]] = True
        used_track[mu["index"][mu["pf"]]] = True
        ch = np.flatnonzero(trk["found"] & ~used_track)
        tables = [
            {
                "evt": part["evt"][ch],
                "pt": trk["pt"][ch],
                "eta": trk["eta"][ch],
                "phi": trk["phi"][ch],
                "mass": np.full(len(ch), PION_MASS),
                "kind": np.full(len(ch), CH_HAD),
                "from_pv": trk["from_pv"][ch],
                "d0": trk["d0"][ch],
                "sd0": trk["sd0"][ch],
                "charged": np.ones(len(ch), bool),
                "lepton": np.full(len(ch), -1),
            },
        ]
        pf_mu = select_rows(mu, mu["pf"])
        pf_mu["lepton"] = np.flatnonzero(mu["pf"])
        for lep, kind, mass in ((ele, ELECTRON, ELECTRON_MASS), (pf_mu, MUON, MUON_MASS)):
            n = len(lep["pt"])
            tables.append(
                {
                    "evt": lep["evt"],
                    "pt": lep["pt"],
                    "eta": lep["eta"],
                    "phi": lep["phi"],
                    "mass": np.full(n, mass),
                    "kind": np.full(n, kind),
                    "from_pv": np.abs(lep["dz"]) < p.chs_dz_cut_cm,
                    "d0": lep["d0"],
                    "sd0": trk["sd0"][lep["index"]],
                    "charged": np.ones(n, bool),
                    "lepton": lep.get("lepton", np.arange(n)),
                }
            )
        tables.extend(self._neutrals(cells))
        pf = _concat(*tables)
        order = np.argsort(pf["evt"], kind="stable")
        return {k: v[order] for k, v in pf.items()}

    def _neutrals(self, cells) -> list[dict[str, np.ndarray]]:
        """Neutral PF candidates.

        In towers without a linked track every ECAL cell above threshold is a photon and every
        HCAL (HF) cell a neutral hadron (HF hadron). In towers with linked tracks the summed
        ECAL + HCAL energy is compared with the tracks' expected calorimeter energy; a
        significant excess becomes a photon (up to the ECAL energy) and a neutral hadron.
        """
        p = self.p
        free = ~cells["used"]
        energy = np.where(free, cells["energy"], 0.0)
        layer = cells["layer"]
        utower, tinv = np.unique(cells["tower"], return_inverse=True)
        t_exp = np.bincount(tinv, cells["expected"])
        t_var = np.bincount(tinv, cells["variance"])
        t_ecal = np.bincount(tinv, energy * (layer == 0))
        t_hcal = np.bincount(tinv, energy * (layer != 0))
        linked_tower = t_exp > 0
        # unlinked towers: cell by cell
        cell_ok = free & ~linked_tower[tinv] & (cells["energy"] > cells["threshold"])
        c_layer = layer[cell_ok]
        c_e = cells["energy"][cell_ok]
        c_e = np.where(c_layer == 1, c_e / self.hadron_response(c_e), c_e)
        c_e = np.where(c_layer == 2, c_e / p.hf_hadron_response, c_e)
        c_kind = np.choose(c_layer, [PHOTON, NEU_HAD, HF_HAD])
        # linked towers: excess over the expectation
        excess = t_ecal + t_hcal - t_exp
        significant = linked_tower & (excess > p.pf_excess_sigma * np.sqrt(t_var))
        gamma_e = np.where(significant, np.minimum(excess, t_ecal), 0.0)
        nh_e = np.where(significant, excess - gamma_e, 0.0)
        ecal_thr = np.where(
            np.abs(self._tower_eta(utower)) < p.barrel_eta,
            p.ecal_threshold_barrel_gev,
            p.ecal_threshold_endcap_gev,
        )
        g_ok = gamma_e > ecal_thr
        h_ok = nh_e > p.hcal_threshold_gev
        t_evt, t_eta, t_phi = (
            self._tower_evt(utower),
            self._tower_eta(utower),
            self._tower_phi(utower),
        )
        nh_cal = nh_e[h_ok] / self.hadron_response(nh_e[h_ok])
        evt = np.concatenate([cells["evt"][cell_ok], t_evt[g_ok], t_evt[h_ok]])
        eta = np.concatenate([cells["eta"][cell_ok], t_eta[g_ok], t_eta[h_ok]])
        phi = np.concatenate([cells["phi"][cell_ok], t_phi[g_ok], t_phi[h_ok]])
        en = np.concatenate([c_e, gamma_e[g_ok], nh_cal])
        kind = np.concatenate([c_kind, np.full(g_ok.sum(), PHOTON), np.full(h_ok.sum(), NEU_HAD)])
        n = len(en)
        return [
            {
                "evt": evt,
                "pt": en / np.cosh(eta),
                "eta": eta,
                "phi": phi,
                "mass": np.zeros(n),
                "kind": kind,
                "from_pv": np.ones(n, bool),
                "d0": np.zeros(n),
                "sd0": np.ones(n),
                "charged": np.zeros(n, bool),
                "lepton": np.full(n, -1),
            }
        ]

    def _tower_evt(self, tower: np.ndarray) -> np.ndarray:
        return tower // (512 * 4096 * 2)

    def _tower_eta(self, tower: np.ndarray) -> np.ndarray:
        return ((tower // 512) % 4096 - 2048 + 0.5) * self.p.hcal_cell

    def _tower_phi(self, tower: np.ndarray) -> np.ndarray:
        nphi = round(2 * np.pi / self.p.hcal_cell)
        return ((tower % 512) + 0.5) * 2 * np.pi / nphi - np.pi

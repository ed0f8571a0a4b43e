"""A particle-level, stochastic LHCb-like reference detector: tracking and particle identification.

Every charged generator-level particle goes through:

1. tracking (:meth:`LHCbLikeDetector.track_types`): geometric acceptance, VELO, UT and T-station
   segments with momentum- and occupancy-dependent efficiencies, VELO-T matching; the segments
   found decide the track type (long, upstream, downstream) [TRK];
2. track parameters (:meth:`LHCbLikeDetector.reconstruct`): curvature smearing by track type with
   a tail, angular smearing, and a 3D impact parameter from Pythia's production vertex smeared
   with the (15 + 29/pT) um resolution per transverse coordinate [PERF];
3. particle identification (:func:`pid_response`): Cherenkov photons simulated one by one in two
   gas radiators with occupancy-dependent background, then the RICH likelihood of each
   hypothesis [RICH]; electron E/p in the ECAL; the muon stations (isMuon from true muons, decays
   in flight, punch-through and random hits; a D^2 likelihood for muDLL) [MUON].

The DLLs are computed from these simulated observables, never drawn from a formula of the
truth: their distributions have thresholds, saturation, veto-mode plateaus and occupancy tails.
:func:`pid_response` is shared by ``refsim generate`` and the calibration samples, so a PID model
trained on calibration data applies to generated events. Parameters: :mod:`.params`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, gammaln

from flashsim.generators.kinematics import delta_phi
from flashsim.refsim.lhcb.params import (
    DOWNSTREAM,
    LONG,
    MASSES,
    NOT_RECONSTRUCTED,
    SPECIES,
    UPSTREAM,
    LHCbLikeParameters,
)

__all__ = ["LHCbLikeDetector", "pid_response"]

#: (c*tau in m, branching fraction to mu nu) of the charged mesons that decay in flight.
DECAYS_TO_MUON: dict[int, tuple[float, float]] = {211: (7.8045, 0.99988), 321: (3.712, 0.6356)}
#: Names of the PID outputs, as in the branch names ``Track_<name>``.
PID_FIELDS: tuple[str, ...] = ("isMuon", "DLLe", "DLLmu", "DLLK", "DLLp")


def _window(x: np.ndarray, lo: float, hi: float, edge: float) -> np.ndarray:
    """A smooth box: logistic edges of width ``edge`` at ``lo`` and ``hi``."""
    return expit((x - lo) / edge) * expit((hi - x) / edge)


def _gamma_logpdf(x: np.ndarray, shape: float, scale: float) -> np.ndarray:
    x = np.maximum(x, 1e-12)
    return (shape - 1) * np.log(x) - x / scale - gammaln(shape) - shape * np.log(scale)


def _normal_pdf(x: np.ndarray, mu: np.ndarray | float, sigma: np.ndarray | float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)


class LHCbLikeDetector:
    """The LHCb-like reference detector.

    Arguments:
        params: detector parameters (defaults: :class:`LHCbLikeParameters`).
    """

    def __init__(self, params: LHCbLikeParameters | None = None) -> None:
        self.p = params or LHCbLikeParameters()

    # ----------------------------------------------------------------------------- tracking
    def acceptance(self, eta: np.ndarray) -> np.ndarray:
        """Probability that a particle of pseudorapidity ``eta`` is inside the spectrometer."""
        p = self.p
        return _window(eta, p.acceptance_eta_min, p.acceptance_eta_max, p.acceptance_edge)

    def track_types(
        self, p: np.ndarray, eta: np.ndarray, occupancy: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Draw the reconstructed track type of charged particles.

        Arguments:
            p: true momentum (GeV).
            eta: true pseudorapidity.
            occupancy: charged particles in the acceptance of the particle's event (all
                interactions), the generator-level occupancy that degrades the efficiencies.
            rng: random generator.

        Returns:
            ``uint8`` array: 0 not reconstructed, 1 long, 2 upstream, 3 downstream.
        """
        c = self.p
        n = len(p)
        u = rng.random((5, n))
        occ = occupancy / 100.0
        inside = u[0] < self.acceptance(eta)
        turn = -np.expm1(-np.maximum(p - c.track_p_min, 0.0) / c.track_turn_on_gev)

        def loss(rate: float) -> np.ndarray:
            return np.clip(1.0 - rate * occ, 0.5, 1.0)

        velo = inside & (u[1] < turn * c.velo_eff * loss(c.velo_occupancy_loss))
        ut = inside & (u[2] < turn * c.ut_eff * loss(c.ut_occupancy_loss))
        reach = expit((p - c.t_reach_p50_gev) / c.t_reach_width_gev)
        tseg = inside & (u[3] < reach * c.t_eff * loss(c.t_occupancy_loss))
        match = u[4] < c.match_eff * (
            1.0 - c.match_low_p_loss * np.exp(-np.maximum(p - 2.0, 0.0) / c.match_p_scale_gev)
        )
        long = velo & tseg & match
        upstream = ~long & velo & ut
        downstream = ~long & ~upstream & ut & tseg
        out = np.full(n, NOT_RECONSTRUCTED, dtype=np.uint8)
        out[long] = LONG
        out[upstream] = UPSTREAM
        out[downstream] = DOWNSTREAM
        return out

    def reconstruct(
        self,
        track_type: np.ndarray,
        charge: np.ndarray,
        p: np.ndarray,
        eta: np.ndarray,
        phi: np.ndarray,
        vertex: tuple[np.ndarray, np.ndarray, np.ndarray],
        rng: np.random.Generator,
    ) -> dict[str, np.ndarray]:
        """Reconstructed parameters of found tracks (``track_type`` > 0 everywhere).

        Arguments:
            track_type: 1 long, 2 upstream, 3 downstream.
            charge: true charge (+-1).
            p, eta, phi: true momentum (GeV) and direction.
            vertex: true production vertex relative to the primary vertex (mm).
            rng: random generator.

        Returns:
            ``p, pt, eta, phi, charge, ip`` (GeV, mm): ``ip`` is the 3D distance of closest
            approach of the straight track to the primary vertex, from the true displacement
            smeared in both transverse directions.
        """
        c = self.p
        n = len(p)
        z = rng.standard_normal((6, n))
        tail = np.where(rng.random(n) < c.tail_fraction, c.tail_scale, 1.0)
        down = track_type == DOWNSTREAM
        rel = np.where(
            track_type == LONG,
            np.hypot(c.long_res_a, c.long_res_b * p),
            np.where(down, np.hypot(c.downstream_res_a, c.downstream_res_b * p), c.upstream_res),
        )
        qp = charge / p * (1.0 + rel * tail * z[0])
        p_reco = 1.0 / np.maximum(np.abs(qp), 1e-9)
        q_reco = np.where(qp >= 0, 1, -1).astype(np.int32)

        theta = 2.0 * np.arctan(np.exp(-eta))
        sigma_theta = 1e-3 * np.where(
            down,
            np.hypot(c.downstream_angle_res_a_mrad, c.downstream_angle_res_b_mrad / p),
            np.hypot(c.angle_res_a_mrad, c.angle_res_b_mrad / p),
        )
        theta_reco = np.clip(theta + sigma_theta * tail * z[1], 1e-4, np.pi / 2)
        phi_reco = delta_phi(phi + sigma_theta * tail * z[2] / np.sin(theta), 0.0)
        eta_reco = -np.log(np.tan(theta_reco / 2.0))
        pt_reco = p_reco * np.sin(theta_reco)

        # True impact vector d = v - (v.u) u, projected on two unit vectors orthogonal to u.
        st, ct, sp, cp = np.sin(theta), np.cos(theta), np.sin(phi), np.cos(phi)
        vx, vy, vz = vertex
        e1 = vx * sp - vy * cp  # e1 = (sin phi, -cos phi, 0)
        e2 = ct * (vx * cp + vy * sp) - st * vz  # e2 = u x e1
        sigma_ip = 1e-3 * (c.ip_res_a_um + c.ip_res_b_um / np.maximum(pt_reco, 0.05))
        sigma_ip = sigma_ip * np.where(down, c.downstream_ip_scale, 1.0) * tail
        ip = np.hypot(e1 + sigma_ip * z[3], e2 + sigma_ip * z[4])
        return {
            "p": p_reco,
            "pt": pt_reco,
            "eta": eta_reco,
            "phi": phi_reco,
            "charge": q_reco,
            "ip": ip,
        }

    # ----------------------------------------------------------------------------- PID
    def pid(
        self,
        abs_pdg: np.ndarray,
        p: np.ndarray,
        eta: np.ndarray,
        n_tracks: np.ndarray,
        rng: np.random.Generator,
        track_type: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """PID response of tracks; see :func:`pid_response`."""
        abs_pdg = np.asarray(abs_pdg)
        p = np.asarray(p, dtype=np.float64)
        eta = np.asarray(eta, dtype=np.float64)
        n_tracks = np.broadcast_to(np.asarray(n_tracks, dtype=np.float64), p.shape)
        if track_type is None:
            track_type = np.full(p.shape, LONG, dtype=np.uint8)
        unknown = ~np.isin(abs_pdg, SPECIES)
        if unknown.any():
            msg = (
                f"PID is defined for |pdgId| in {SPECIES}, got {np.unique(abs_pdg[unknown])}; "
                "select electrons, muons, pions, kaons and protons first"
            )
            raise ValueError(msg)
        mass = np.select([abs_pdg == s for s in SPECIES], [MASSES[s] for s in SPECIES])
        rich = np.zeros((len(SPECIES), len(p)))
        has_t = track_type != UPSTREAM
        for radiator in (1, 2):
            rich += self._rich(radiator, mass, p, eta, n_tracks, track_type, has_t, rng)
        lnl = rich - rich[SPECIES.index(211)]
        calo = self._calo_dll(abs_pdg, p, eta, has_t, rng)
        is_muon, muon = self._muon(abs_pdg, p, eta, n_tracks, has_t, rng)
        return {
            "isMuon": is_muon.astype(np.uint8),
            "DLLe": (lnl[SPECIES.index(11)] + calo).astype(np.float32),
            "DLLmu": (lnl[SPECIES.index(13)] + muon).astype(np.float32),
            "DLLK": lnl[SPECIES.index(321)].astype(np.float32),
            "DLLp": lnl[SPECIES.index(2212)].astype(np.float32),
        }

    def _rich(self, radiator, mass, p, eta, n_tracks, track_type, has_t, rng) -> np.ndarray:
        """Log-likelihoods of the five hypotheses in one RICH radiator, shape (5, n).

        Signal photons of the true species (Poisson yield ~ sin^2 theta_C, Frank-Tamm) sit at the
        Cherenkov angle smeared by the single-photon resolution and a common track-direction
        error; background photons (rising with nTracks and towards the beam) are uniform in the
        window or, for overlapping rings of saturated neighbours, near the saturated angle. Each
        hypothesis h is scored with the extended likelihood (flat background assumed)
        ``-(mu_h + b) + sum_i ln(mu_h G(theta_i; theta_h, sigma) + b / W)``.
        """
        c = self.p
        if radiator == 1:
            nm1, yield0, res = c.rich1_n_minus_1, c.rich1_yield, c.rich1_photon_res_mrad
            (lo, hi), b0 = c.rich1_eta, c.rich1_background
            overlap = c.rich1_overlap_sigma_mrad
            present = np.ones(len(p), dtype=bool)
        else:
            nm1, yield0, res = c.rich2_n_minus_1, c.rich2_yield, c.rich2_photon_res_mrad
            (lo, hi), b0 = c.rich2_eta, c.rich2_background
            overlap = c.rich2_overlap_sigma_mrad
            present = has_t  # upstream tracks are swept out before RICH2
        index = 1.0 + nm1
        theta_max = 1e3 * np.arccos(1.0 / index)
        window = c.rich_window * theta_max
        acc = _window(eta, lo, hi, c.rich_edge) * present

        def angle(m: np.ndarray | float) -> np.ndarray:
            cos = np.sqrt(p**2 + np.square(m)) / (index * p)
            return 1e3 * np.arccos(np.minimum(cos, 1.0))

        def photons(theta: np.ndarray) -> np.ndarray:
            return yield0 * acc * (np.sin(theta / 1e3) / np.sin(theta_max / 1e3)) ** 2

        track_res = np.hypot(c.rich_track_res_a_mrad, c.rich_track_res_b_mrad / p)
        if radiator == 1:
            track_res = np.where(track_type == DOWNSTREAM, 3.0 * track_res, track_res)
        sigma = np.hypot(res, track_res)
        background = acc * (
            b0 * (n_tracks / 100.0) * np.exp((eta - 3.0) / c.rich_background_eta_scale)
            + c.rich_background_floor
        )
        background = np.maximum(background, 1e-9)

        theta_true = angle(mass)
        n_sig = rng.poisson(photons(theta_true))
        n_bkg = rng.poisson(background)
        n = len(p)
        owner_sig = np.repeat(np.arange(n), n_sig)
        shift = track_res * rng.standard_normal(n)
        theta_sig = (theta_true + shift)[owner_sig] + res * rng.standard_normal(len(owner_sig))
        owner_bkg = np.repeat(np.arange(n), n_bkg)
        theta_bkg = np.where(
            rng.random(len(owner_bkg)) < c.rich_overlap_fraction,
            theta_max + overlap * rng.standard_normal(len(owner_bkg)),
            rng.uniform(0.0, window, len(owner_bkg)),
        )
        owner = np.concatenate([owner_sig, owner_bkg])
        theta_obs = np.concatenate([theta_sig, theta_bkg])

        out = np.empty((len(SPECIES), n))
        flat_b = (background / window)[owner]
        for k, species in enumerate(SPECIES):
            theta_h = angle(MASSES[species])
            mu_h = photons(theta_h)
            density = mu_h[owner] * _normal_pdf(theta_obs, theta_h[owner], sigma[owner]) + flat_b
            out[k] = -(mu_h + background) + np.bincount(owner, np.log(density), minlength=n)
        return out

    def _calo_dll(self, abs_pdg, p, eta, has_t, rng) -> np.ndarray:
        """ln L(e) - ln L(hadron) from the ECAL E/p, 0 outside the ECAL acceptance."""
        c = self.p
        n = len(p)
        inside = has_t & (rng.random(n) < _window(eta, *c.ecal_eta, c.acceptance_edge))
        sigma = np.hypot(c.ecal_stochastic / np.sqrt(p), c.ecal_constant)
        z = rng.standard_normal(n)
        u = rng.random((2, n))
        mip = c.mip_gev / p
        brem = np.where(u[0] < c.electron_brem_tail, rng.uniform(0.4, 1.0, n), 1.0)
        shower = rng.beta(*c.hadron_shower_beta, n)
        eop = np.select(
            [abs_pdg == 11, abs_pdg == 13, u[1] < c.hadron_mip_fraction],
            [brem * (1 + sigma * z), mip * (1 + 0.3 * z), mip * (1 + 0.3 * z)],
            shower * (1 + sigma * z),
        )
        t = c.electron_brem_tail
        f_e = (1 - t) * _normal_pdf(eop, 1.0, sigma) + t * ((eop > 0.4) & (eop < 1.0)) / 0.6
        a, b = c.hadron_shower_beta
        x = np.clip(eop, 0.0, 1.0)
        beta_pdf = np.exp(
            (a - 1) * np.log(np.maximum(x, 1e-12))
            + (b - 1) * np.log(np.maximum(1 - x, 1e-12))
            + gammaln(a + b)
            - gammaln(a)
            - gammaln(b)
        ) * ((eop > 0) & (eop < 1))
        f_h = (
            c.hadron_mip_fraction * _normal_pdf(eop, mip, 0.3 * mip + 0.02)
            + (1 - c.hadron_mip_fraction) * beta_pdf
        )
        dll = np.log(f_e + 1e-6) - np.log(f_h + 1e-6)
        return np.where(inside, np.clip(dll, -c.calo_dll_clip, c.calo_dll_clip), 0.0)

    def _muon(self, abs_pdg, p, eta, n_tracks, has_t, rng) -> tuple[np.ndarray, np.ndarray]:
        """isMuon and the muon-system term of DLLmu (0 for tracks failing isMuon)."""
        c = self.p
        n = len(p)
        u = rng.random((4, n))
        inside = has_t & (u[0] < _window(eta, *c.muon_eta, c.acceptance_edge))

        def efficiency(momentum: np.ndarray) -> np.ndarray:
            return c.muon_eff * expit((momentum - c.muon_p50_gev) / c.muon_p_width_gev)

        true_mu = (abs_pdg == 13) & (u[1] < efficiency(p))
        dif = np.zeros(n, dtype=bool)
        for pid, (ctau, fraction) in DECAYS_TO_MUON.items():
            sel = abs_pdg == pid
            m = MASSES[pid]
            prob = fraction * -np.expm1(-c.dif_length_m * m / (p[sel] * ctau))
            x = rng.uniform((MASSES[13] / m) ** 2, 1.0, sel.sum())
            dif[sel] = (u[2][sel] < prob) & (rng.random(sel.sum()) < efficiency(x * p[sel]))
        hadron = (abs_pdg == 211) | (abs_pdg == 321) | (abs_pdg == 2212)
        other_prob = c.random_hit_prob * (1 + c.random_hit_p_scale_gev / p) * (
            1 + n_tracks / c.random_hit_ntracks_scale
        ) + hadron * c.punch_through_prob * -np.expm1(-p / c.punch_through_p_scale_gev)
        other = (abs_pdg != 13) & (u[3] < other_prob * efficiency(p) / c.muon_eff)
        is_muon = inside & (true_mu | dif | other)

        shape = np.select([true_mu, dif], [c.d2_muon[0], c.d2_decay_in_flight[0]], c.d2_other[0])
        scale = np.select([true_mu, dif], [c.d2_muon[1], c.d2_decay_in_flight[1]], c.d2_other[1])
        d2 = rng.gamma(shape, scale)
        term = _gamma_logpdf(d2, *c.d2_muon) - _gamma_logpdf(d2, *c.d2_other)
        return is_muon, np.where(is_muon, term, 0.0)


def pid_response(
    abs_pdg: np.ndarray,
    p: np.ndarray,
    eta: np.ndarray,
    n_tracks: np.ndarray | float,
    rng: np.random.Generator,
    *,
    track_type: np.ndarray | None = None,
    params: LHCbLikeParameters | None = None,
) -> dict[str, np.ndarray]:
    """The reference PID response of tracks: the same function for generated and calibration data.

    Arguments:
        abs_pdg: true species, |PDG id| in (11, 13, 211, 321, 2212).
        p: reconstructed momentum (GeV); the Cherenkov angles and the muon-system thresholds use it.
        eta: reconstructed pseudorapidity (the RICH, ECAL and muon coverage depend on it).
        n_tracks: number of long tracks in the event (``Event_nTracks``), the occupancy that adds
            RICH background photons and random muon hits.
        rng: random generator.
        track_type: 1 long (default), 2 upstream (RICH1 only, no ECAL, no muon system),
            3 downstream (worse track direction in RICH1).
        params: detector parameters.

    Returns:
        ``isMuon`` (uint8) and ``DLLe``, ``DLLmu``, ``DLLK``, ``DLLp`` (float32): log-likelihood
        differences with respect to the pion hypothesis, ``DLLe`` including the ECAL E/p term and
        ``DLLmu`` the muon-system D^2 term of isMuon tracks.

    Example:
        >>> import numpy as np
        >>> out = pid_response(np.array([321]), np.array([20.0]), np.array([3.0]), 100.0,
        ...                    np.random.default_rng(1))
        >>> sorted(out)
        ['DLLK', 'DLLe', 'DLLmu', 'DLLp', 'isMuon']
    """
    return LHCbLikeDetector(params).pid(abs_pdg, p, eta, n_tracks, rng, track_type)

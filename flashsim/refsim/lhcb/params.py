"""Every parameter of the LHCb-like reference detector, in one documented place.

Orders of magnitude come from public LHCb performance papers:

* [DET] LHCb, "The LHCb Upgrade I", JINST 19 (2024) P05065, arXiv:2305.10515 — forward
  spectrometer 2 < eta < 5, VELO, UT, SciFi (T stations), RICH1/RICH2, calorimeters, muon stations;
  Run 3 running at a visible pile-up of about 5.
* [PERF] LHCb, "LHCb detector performance", Int. J. Mod. Phys. A 30 (2015) 1530022, arXiv:1412.6352
  — momentum resolution 0.5% at low momentum to 1.0% at 200 GeV, impact-parameter resolution
  (15 + 29/pT[GeV]) um, long-track efficiency above 96% for p > 5 GeV, electron identification
  from E/p, K/pi separation over 2-100 GeV.
* [TRK] LHCb, "Measurement of the track reconstruction efficiency at LHCb", JINST 10 (2015)
  P02007, arXiv:1408.1251 — track types (long, upstream, downstream, VELO, T), efficiency versus
  p, eta and the number of tracks in the event.
* [RICH] M. Adinolfi et al., "Performance of the LHCb RICH detector at the LHC", EPJC 73 (2013)
  2431, arXiv:1211.6759 — C4F10 (n - 1 = 1.4e-3) and CF4 (n - 1 = 5e-4) radiators, about 20 and
  16 detected photons for saturated tracks, single-photon angular resolutions 1.6 and 0.7 mrad,
  the likelihood method (DLL = ln L(h) - ln L(pi)), performance degrading with occupancy.
* [MUON] F. Archilli et al., "Performance of the muon identification at LHCb", JINST 8 (2013)
  P10020, arXiv:1306.0249 — isMuon efficiency about 98% above 3 GeV, pion misidentification about
  1% (decays in flight, punch-through, random hits in the fields of interest, rising at low p and
  with occupancy), the D^2 variable (mean squared hit distance in pad units) behind muDLL.
* [CALIB] R. Aaij et al., "Selection and processing of calibration samples to measure the particle
  identification performance of the LHCb experiment in Run 2", EPJ Tech. Instrum. 6 (2019) 1,
  arXiv:1803.00824 — D*+ -> D0(K- pi+) pi+, Lambda -> p pi-, J/psi -> mu+ mu- calibration
  channels, mass fits and sPlot.
* [LAMARR] L. Anderlini et al., "Lamarr: the ultra-fast simulation option for the LHCb
  experiment", PoS ICHEP2022 (2022) 233, arXiv:2303.11428 — the parametrised pipeline this
  reference is meant to be learned by.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Track types written as ``Track_type`` (0 is used internally for "not reconstructed").
NOT_RECONSTRUCTED, LONG, UPSTREAM, DOWNSTREAM = 0, 1, 2, 3

#: Particle masses in GeV (PDG 2024).
MASSES: dict[int, float] = {
    11: 0.000510999,
    13: 0.1056584,
    211: 0.1395704,
    321: 0.493677,
    2212: 0.9382721,
}

#: |PDG id| of the species kept in ``GenPart`` and of the PID hypotheses (e, mu, pi, K, p).
SPECIES: tuple[int, ...] = (11, 13, 211, 321, 2212)


@dataclass(frozen=True)
class LHCbLikeParameters:
    """Parameters of :class:`~flashsim.refsim.lhcb.detector.LHCbLikeDetector` (see the module)."""

    # --- generator-level selection (GenPart) ---
    genpart_eta_min: float = 1.8
    genpart_eta_max: float = 5.3
    genpart_p_min: float = 1.0

    # --- pile-up [DET]: extra minimum-bias interactions on top of the bbbar one ---
    pileup_mean: float = 4.0
    #: Particles counted in the generator-level occupancy (charged, in 2 < eta < 5, p above this).
    occupancy_p_min: float = 2.0

    # --- geometric acceptance [DET] ---
    acceptance_eta_min: float = 2.0
    acceptance_eta_max: float = 5.0
    #: Width of the logistic edges of the acceptance in eta.
    acceptance_edge: float = 0.04

    # --- tracking efficiency [TRK]: VELO, UT and T-station segments, matching ---
    #: Segments need p above this (GeV); efficiency turns on as 1 - exp(-(p - p_min) / turn-on).
    track_p_min: float = 1.0
    track_turn_on_gev: float = 0.6
    velo_eff: float = 0.995
    ut_eff: float = 0.97
    t_eff: float = 0.99
    #: Fraction of tracks reaching the T stations: logistic in p (magnet sweeps out soft tracks).
    t_reach_p50_gev: float = 2.6
    t_reach_width_gev: float = 0.35
    #: VELO-T matching: match_eff * (1 - match_low_p_loss * exp(-(p - 2) / match_p_scale)).
    match_eff: float = 0.995
    match_low_p_loss: float = 0.25
    match_p_scale_gev: float = 1.5
    #: Relative efficiency loss per 100 charged particles in the acceptance (VELO, UT, T).
    velo_occupancy_loss: float = 0.005
    ut_occupancy_loss: float = 0.005
    t_occupancy_loss: float = 0.01

    # --- momentum and angular resolution [PERF] ---
    #: sigma(p)/p = sqrt(a^2 + (b p)^2), p in GeV, per track type.
    long_res_a: float = 0.0045
    long_res_b: float = 4.3e-5
    downstream_res_a: float = 0.006
    downstream_res_b: float = 6.0e-5
    upstream_res: float = 0.12
    #: Fraction of tracks with resolutions scaled by ``tail_scale`` (hard scatters, wrong hits).
    tail_fraction: float = 0.03
    tail_scale: float = 3.0
    #: Polar-angle resolution in mrad: a (+) b / p[GeV]; downstream tracks have no VELO segment.
    angle_res_a_mrad: float = 0.05
    angle_res_b_mrad: float = 1.0
    downstream_angle_res_a_mrad: float = 1.0
    downstream_angle_res_b_mrad: float = 5.0

    # --- impact parameter [PERF]: sigma per transverse coordinate = a + b / pT[GeV] (um) ---
    ip_res_a_um: float = 15.0
    ip_res_b_um: float = 29.0
    #: Downstream tracks (no VELO) extrapolate over metres: resolution scaled by this factor.
    downstream_ip_scale: float = 10.0

    # --- RICH [RICH]: (n - 1), saturated photon yield, single-photon resolution, eta coverage ---
    rich1_n_minus_1: float = 1.4e-3
    rich1_yield: float = 20.0
    rich1_photon_res_mrad: float = 1.6
    rich1_eta: tuple[float, float] = (1.9, 4.4)
    rich2_n_minus_1: float = 5.0e-4
    rich2_yield: float = 16.0
    rich2_photon_res_mrad: float = 0.7
    rich2_eta: tuple[float, float] = (2.8, 4.9)
    rich_edge: float = 0.05
    #: Track-direction error in the RICH, mrad: a (+) b / p[GeV] (x3 in RICH1 for downstream).
    rich_track_res_a_mrad: float = 0.1
    rich_track_res_b_mrad: float = 1.5
    #: Background photons per track: b0 * (nTracks / 100) * exp((eta - 3) / eta_scale) + floor.
    rich1_background: float = 5.0
    rich2_background: float = 2.5
    rich_background_eta_scale: float = 1.2
    rich_background_floor: float = 0.3
    #: Photons are collected in a window of this many times the saturated angle.
    rich_window: float = 1.3
    #: Fraction of background photons from overlapping rings of saturated neighbours, at the
    #: saturated angle with this spread (mrad); the rest are uniform in the window. The likelihood
    #: assumes a uniform background, as a global fit's approximation would.
    rich_overlap_fraction: float = 0.5
    rich1_overlap_sigma_mrad: float = 4.0
    rich2_overlap_sigma_mrad: float = 2.5

    # --- calorimeter E/p for electron ID [PERF] ---
    ecal_eta: tuple[float, float] = (2.0, 4.4)
    ecal_stochastic: float = 0.10
    ecal_constant: float = 0.01
    #: Electrons: fraction with unrecovered bremsstrahlung (E/p ~ uniform in [0.4, 1.0]).
    electron_brem_tail: float = 0.15
    #: Hadrons: fraction that pass the ECAL as MIPs (E ~ mip_gev); the rest start a shower.
    hadron_mip_fraction: float = 0.35
    mip_gev: float = 0.3
    #: E/p of showering hadrons ~ Beta(a, b).
    hadron_shower_beta: tuple[float, float] = (2.0, 5.0)
    calo_dll_clip: float = 12.0

    # --- muon system [MUON] ---
    muon_eta: tuple[float, float] = (2.0, 4.6)
    muon_eff: float = 0.985
    muon_p50_gev: float = 3.3
    muon_p_width_gev: float = 0.25
    #: Decays in flight pi/K -> mu nu that leave a matched track: effective flight length (m).
    dif_length_m: float = 3.0
    #: Random hits in the fields of interest: r0 * (1 + p_scale / p) * (1 + nTracks / n_scale).
    random_hit_prob: float = 0.002
    random_hit_p_scale_gev: float = 10.0
    random_hit_ntracks_scale: float = 100.0
    #: Hadron punch-through: prob * (1 - exp(-p / p_scale)).
    punch_through_prob: float = 0.002
    punch_through_p_scale_gev: float = 30.0
    #: D^2 ~ Gamma(shape, scale): true muons, decays in flight, random hits / punch-through.
    d2_muon: tuple[float, float] = (2.0, 0.5)
    d2_decay_in_flight: tuple[float, float] = (2.0, 1.0)
    d2_other: tuple[float, float] = (1.5, 2.5)

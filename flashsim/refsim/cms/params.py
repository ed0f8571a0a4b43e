"""Every parameter of the CMS-like reference detector, in one documented place.

Orders of magnitude come from public CMS performance papers:

* [TRK] CMS, "Description and performance of track and primary-vertex reconstruction with the CMS
  tracker", JINST 9 (2014) P10009, arXiv:1405.6569 — tracking efficiency (~94% barrel, ~85% at
  |eta|=2.5 for pions), pT resolution (~1-2% at 100 GeV in the barrel, worse in the endcaps),
  impact-parameter resolution (~10 um at high pT, ~100 um at 1 GeV).
* [ECAL] CMS, "Energy calibration and resolution of the CMS electromagnetic calorimeter",
  JINST 8 (2013) P09009, arXiv:1306.2016 — sigma/E = 2.8%/sqrt(E) + 12%/E + 0.3% (barrel test beam).
* [HCAL] CMS, "The CMS barrel calorimeter response to particle beams from 2 to 350 GeV/c",
  EPJC 60 (2009) 359 — pion response ~0.7 at a few GeV rising to ~0.9 at 300 GeV, sigma/E about
  100%/sqrt(E) + 5% for the combined calorimeter.
* [PF] CMS, "Particle-flow reconstruction and global event description with the CMS detector",
  JINST 12 (2017) P10003, arXiv:1706.04965 — PF cluster thresholds, cell sizes (ECAL 0.0174,
  HCAL 0.087, HF 0.175), track-cluster linking, CHS.
* [MUO] CMS, "Performance of the reconstruction and identification of high-momentum muons in
  proton-proton collisions at 13 TeV", JINST 15 (2020) P02027, and JINST 7 (2012) P10002 —
  efficiency ~98% with dips at the wheel cracks (|eta| ~ 0.25, 0.8) and at 1.2, tight ID cuts.
* [EGM] CMS, "Electron and photon reconstruction and identification with the CMS experiment at the
  CERN LHC", JINST 16 (2021) P05014, arXiv:2012.06888 — tracker material 0.4-1.9 X0 versus eta,
  bremsstrahlung, supercluster windows, cut-based ID variables (sigma_ieta_ieta, H/E, isolation).
* [BTV] CMS, "Identification of heavy-flavour jets with the CMS detector in pp collisions at
  13 TeV", JINST 13 (2018) P05011 — impact-parameter significance taggers.
* [LUM] CMS pile-up in 2022-2023: mean number of interactions per crossing about 40-50; we use a
  lower default (25) to keep sample production fast; it is an option of ``refsim generate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CMSLikeParameters:
    """Parameters of :class:`~flashsim.refsim.cms.detector.CMSLikeDetector` (see the module)."""

    # --- magnetic field and geometry ---
    b_field_t: float = 3.8
    tracker_radius_m: float = 1.1
    ecal_radius_m: float = 1.29
    calo_endcap_z_m: float = 3.15
    barrel_eta: float = 1.479
    beamspot_sigma_z_mm: float = 35.0

    # --- pile-up [LUM] ---
    pileup_mean: float = 25.0
    #: Shape of the Gamma distribution of the per-event true mean (<mu> stays pileup_mean).
    pileup_profile_shape: float = 8.0
    #: Probability that a pile-up vertex is reconstructed (PV_npvs).
    pileup_vertex_efficiency: float = 0.7

    # --- tracking [TRK] ---
    track_eta_max: float = 2.5
    track_pt_min: float = 0.4
    track_eff_barrel: float = 0.95
    track_eff_endcap: float = 0.86
    track_eff_turn_on_gev: float = 0.4
    track_eff_electron_factor: float = 0.95
    track_eff_muon: float = 0.995
    tracker_layers: int = 13
    tracker_hit_efficiency: float = 0.96
    #: Barrel layer radii (cm): 4 pixel layers (Phase-1), 4 TIB and 5 TOB strip layers. A track
    #: produced outside a layer has no hit there (lostHits counts the missing inner layers).
    tracker_layer_radii_cm: tuple[float, ...] = (
        2.9, 6.8, 10.9, 16.0, 25.5, 33.9, 41.9, 49.8, 60.8, 69.2, 78.0, 86.8, 96.5
    )  # fmt: skip
    pixel_layers: int = 4
    #: Conversion finder: an opposite-charge track with |delta cot theta|, |delta phi| and
    #: |delta dz| below these flags the electron (convVeto false).
    conversion_dcot_max: float = 0.02
    conversion_dphi_max: float = 0.05
    conversion_ddz_max_cm: float = 0.1
    #: ... and whose missing inner hits differ by at most this many layers: the two legs start
    #: at the same vertex, so a track with hits before a conversion's vertex is not one of its
    #: legs (CMS's vertex fit rejects hits before the vertex [EGM]; #24: without it a prompt
    #: electron next to a late conversion leg of its FSR photon failed the veto, 1.5% of them).
    conversion_dlost_max: int = 1
    #: sigma(1/pT)/(1/pT) = sqrt(a(eta)^2 + (b(eta) pT)^2); a, b grow as (|eta|/2.5)^2.
    track_res_a_barrel: float = 0.010
    track_res_a_slope: float = 0.010
    track_res_b_barrel: float = 1.2e-4
    track_res_b_slope: float = 2.0e-4
    #: Fraction of tracks with a scattered (wider) resolution and its scale factor.
    track_tail_fraction: float = 0.04
    track_tail_scale: float = 3.0
    #: Impact parameters (cm): sigma = sqrt(a^2 + (b / (pT sqrt(sin theta)))^2).
    d0_res_a_cm: float = 0.0010
    d0_res_b_cm: float = 0.0090
    dz_res_a_cm: float = 0.0020
    dz_res_b_cm: float = 0.0120
    #: CHS: a charged candidate is associated to the primary vertex when |dz - z_PV| is below this.
    chs_dz_cut_cm: float = 0.2

    # --- ECAL [ECAL] ---
    ecal_eta_max: float = 3.0
    ecal_cell: float = 0.0174
    ecal_stochastic_barrel: float = 0.028
    ecal_stochastic_endcap: float = 0.057
    ecal_constant_barrel: float = 0.003
    ecal_constant_endcap: float = 0.0055
    ecal_noise_barrel_gev: float = 0.04
    ecal_noise_endcap_gev: float = 0.15
    ecal_threshold_barrel_gev: float = 0.25
    ecal_threshold_endcap_gev: float = 0.6

    # --- HCAL and HF [HCAL] ---
    hcal_cell: float = 0.087
    hcal_stochastic: float = 1.0
    hcal_constant: float = 0.05
    hcal_noise_gev: float = 0.2
    hcal_threshold_gev: float = 0.8
    #: Pion response R(E) = 1 - r0 * E^(-r1).
    hadron_response_r0: float = 0.33
    hadron_response_r1: float = 0.25
    #: Probability that a hadron starts showering in the ECAL, and Beta(a, b) of the ECAL share.
    hadron_ecal_start_prob: float = 0.6
    hadron_ecal_share_beta: tuple[float, float] = (1.5, 3.0)
    #: Of those, the fraction whose shower is electromagnetic (a first interaction that makes
    #: mostly pi0s, e.g. charge exchange pi- p -> pi0 n), with an ECAL share uniform above the
    #: minimum: the hadrons that fake electrons and photons (#24).
    hadron_em_shower_prob: float = 0.03
    hadron_em_shower_share_min: float = 0.85
    hf_eta_max: float = 5.0
    hf_cell: float = 0.175
    hf_stochastic: float = 2.0
    hf_constant: float = 0.10
    hf_hadron_response: float = 0.85
    hf_threshold_gev: float = 1.4
    #: PF: a cell linked to tracks gives a neutral candidate when its excess over the expected
    #: charged-hadron energy exceeds this many standard deviations of that expectation.
    pf_excess_sigma: float = 1.5

    # --- electrons [EGM] ---
    electron_eta_max: float = 2.5
    electron_pt_min: float = 5.0
    #: Tracker material in radiation lengths: base + peak * exp(-((|eta| - 1.5) / width)^2).
    material_x0_base: float = 0.4
    material_x0_peak: float = 1.3
    material_x0_width: float = 0.5
    supercluster_deta: float = 0.05
    supercluster_dphi: float = 0.2
    sieie_barrel: tuple[float, float] = (0.0095, 0.0008)
    sieie_endcap: tuple[float, float] = (0.026, 0.002)
    sieie_contamination: float = 0.02
    #: cut-based ID working points (veto, loose, medium, tight): max sieie barrel/endcap,
    #: max H/E, max pfRelIso03_all, max |dxy| (cm).
    electron_wp_sieie_barrel: tuple[float, ...] = (0.0126, 0.0112, 0.0106, 0.0104)
    electron_wp_sieie_endcap: tuple[float, ...] = (0.0457, 0.0425, 0.0387, 0.0353)
    electron_wp_hoe: tuple[float, ...] = (0.20, 0.12, 0.08, 0.05)
    electron_wp_iso: tuple[float, ...] = (0.40, 0.20, 0.12, 0.08)
    electron_wp_dxy: tuple[float, ...] = (0.10, 0.05, 0.05, 0.05)
    #: ... and, as CMS's cut-based ID, the conversion veto, at most this many missing inner
    #: hits, and |1/E - 1/p| below this (GeV^-1, E the supercluster energy).
    electron_wp_lost_hits: tuple[int, ...] = (2, 1, 1, 1)
    electron_wp_einv_pinv: tuple[float, ...] = (0.193, 0.184, 0.062, 0.033)
    #: H/E of electron candidates: HCAL energy within this cone of the ECAL impact.
    electron_hoe_cone: float = 0.15
    #: mvaIso = tanh(offset - a sieie_pull - b H/E - c pfRelIso03_all - d |1 - p/E| - e lostHits),
    #: sieie_pull = (sieie - intrinsic mean) / intrinsic width (barrel or endcap, >= -2).
    electron_mva_offset: float = 2.0
    electron_mva_sieie: float = 0.3
    electron_mva_hoe: float = 10.0
    electron_mva_iso: float = 8.0
    electron_mva_eop: float = 1.0
    electron_mva_lost: float = 0.7
    #: WP80 / WP90 thresholds on mvaIso per |eta| region (edges 0.8 and 1.479).
    electron_mva_eta_edges: tuple[float, ...] = (0.8, 1.479)
    #: Set at the 20% and 10% quantiles of mvaIso for prompt electrons with pT > 20 GeV in
    #: 1500 ttbar events (seed 21, pile-up 25; 60-100 electrons per region).
    electron_mva_wp80: tuple[float, ...] = (0.12, 0.05, -0.08)
    electron_mva_wp90: tuple[float, ...] = (-0.62, -0.62, -0.88)

    # --- photon conversions, photons, electrons faked by hadrons [EGM] (data/README.md) ---
    #: The tracker material (material_x0_*) lies uniformly in radius between the beam pipe and
    #: where a photon leaves the tracker, min(tracker_radius_m, L / |sinh eta|); beyond
    #: |eta| = track_eta_max a photon crosses material_x0_forward.
    material_r_min_m: float = 0.022
    tracker_half_length_m: float = 2.8
    material_x0_forward: float = 0.2
    #: Photons above this pT (GeV) convert with probability 1 - exp(-7/9 x/X0); softer ones are
    #: left unconverted (their pairs would mostly curl up).
    conversion_pt_min: float = 1.0
    #: Particle flow: a tracked electron that is not an electron candidate explains its own
    #: ECAL deposits (electron and bremsstrahlung), with this relative uncertainty.
    pf_electron_sigma: float = 0.05
    #: Lateral EM shower profile per axis, in ECAL cells (one Moliere radius): a Gaussian core
    #: of this width plus an exponential tail of this fraction and scale; per deposit, the
    #: width varies by a log-normal factor and the centroid by a Gaussian shift (cells).
    shower_core_width: float = 0.28
    shower_tail_fraction: float = 0.09
    shower_tail_width: float = 1.0
    shower_width_spread: float = 0.15
    shower_position_spread: float = 0.08
    #: Hadronic ECAL deposits are wider: widths times 1 + (1 - s) Exponential(this mean), s the
    #: share of the hadron's deposits in the ECAL.
    hadron_shower_broadening: float = 2.0
    #: sigma_ieta_ieta in the endcap: the endcap crystals span this many simulated cells in eta.
    sieie_endcap_scale: float = 2.7
    #: Photon superclusters: seeds are ECAL cells above this ET (GeV) not inside the window of
    #: a more energetic seed; photons above photon_pt_min (GeV) and within photon_eta_max.
    photon_seed_et_min: float = 1.0
    photon_pt_min: float = 10.0
    photon_eta_max: float = 2.5
    #: Isolation: PF candidates within the cone; the supercluster window is the footprint of
    #: the photon (its photon and electron candidates), charged hadrons inside the veto cone
    #: are left out.
    photon_iso_cone: float = 0.3
    photon_iso_veto_charged: float = 0.02
    #: Pixel seed: a track with at least this many pixel hits whose direction, bent with the
    #: supercluster energy for either charge, meets the supercluster within these windows.
    pixel_seed_hits: int = 2
    pixel_match_deta: float = 0.01
    pixel_match_dphi: float = 0.03
    #: Photon cut-based ID (loose, medium, tight): max H/E, sigma_ieta_ieta barrel / endcap,
    #: pfRelIso03_chg, pfRelIso03_all; set so that prompt photons above 20 GeV pass about 90%,
    #: 80%, 70%, as CMS designs them (hgg, pile-up 25: 89.5/78.6/71.5% on 300 events, seed 2;
    #: 93.6/83.8/73.4% on 2000, seed 23).
    photon_wp_hoe: tuple[float, ...] = (0.05, 0.03, 0.02)
    photon_wp_sieie_barrel: tuple[float, ...] = (0.0106, 0.0103, 0.0101)
    photon_wp_sieie_endcap: tuple[float, ...] = (0.0290, 0.0280, 0.0275)
    photon_wp_iso_chg: tuple[float, ...] = (0.10, 0.05, 0.03)
    photon_wp_iso_all: tuple[float, ...] = (0.25, 0.15, 0.12)
    #: Electron candidates seeded by hadron tracks (ECAL-driven seeding): a track with pT above
    #: this (GeV) and pixel hits, a supercluster around its ECAL impact with H/E below
    #: electron_seed_hoe_max whose position matches the track bent with the supercluster energy
    #: within these windows.
    fake_seed_pt_min: float = 2.0
    electron_seed_hoe_max: float = 0.15
    electron_seed_deta: float = 0.02
    electron_seed_dphi: float = 0.1

    # --- muons [MUO] ---
    muon_eta_max: float = 2.4
    muon_p_min: float = 2.5
    muon_pt_min: float = 3.0
    muon_system_eff: float = 0.985
    #: Efficiency dips: (|eta| centre, depth, width).
    muon_cracks: tuple[tuple[float, float, float], ...] = field(
        default=((0.25, 0.10, 0.03), (0.85, 0.08, 0.03), (1.2, 0.05, 0.05))
    )
    muon_station_prob: float = 0.93
    muon_station_p_scale: float = 4.0
    #: Punch-through probability at high momentum for tracked charged hadrons.
    punch_through_prob: float = 0.002
    punch_through_p_scale: float = 15.0
    muon_tight_chi2_max: float = 10.0
    #: Global fit quality limit, and the medium-ID chi2/ndf of the global-muon branch.
    muon_global_chi2_max: float = 50.0
    muon_medium_chi2_max: float = 3.0
    #: Probability that a track is matched to a muon segment (tracker muon).
    muon_segment_match_eff: float = 0.995
    #: Segment compatibility = base + per_station * (stations - 1) + N(0, sigma), minus the
    #: kink (decay in flight) and punch-through penalties; clipped to [0, 1].
    muon_segcomp_base: float = 0.45
    muon_segcomp_per_station: float = 0.1
    muon_segcomp_sigma: float = 0.08
    muon_segcomp_kink: float = 0.2
    muon_segcomp_punch: float = 0.35
    #: PF muon: segment compatibility above this, or a global fit with chi2/ndf below the
    #: medium cut.
    muon_pf_segcomp_min: float = 0.3
    muon_tight_dxy_max_cm: float = 0.2
    muon_tight_dz_max_cm: float = 0.5

    # --- jets and b tagging [BTV] ---
    jet_radius: float = 0.4
    jet_pt_min: float = 15.0
    jet_eta_max: float = 4.7
    jet_gen_match_dr: float = 0.2
    btag_track_pt_min: float = 1.0
    btag_track_dxy_max_cm: float = 0.2
    btag_track_dr_max: float = 0.3
    #: Tracks of the taggers miss at most this many inner layers (#24): a conversion leg starts
    #: at its vertex, misses the layers inside it, and its impact parameter -q r^2 / (2R) would
    #: make a light jet look displaced (CMS's taggers keep tracks with >= 2 pixel hits and a
    #: decay length below 5 cm, and veto conversions in the vertexing [BTV]).
    btag_track_lost_max: int = 0
    #: ... and are not legs of a displaced pair (#24, :func:`flashsim.refsim.cms.lepton_reco.
    #: displaced_pair_legs`): paired by the conversion finder, both bending away from the beam
    #: line, with a pair mass below this (conversions: ~10 MeV from the angular resolution).
    btag_veto_pair_mass_max_gev: float = 0.02
    #: b-tag score = sigmoid((sum_i w_i S_i - offset) / width), S_i the i-th largest signed
    #: transverse impact-parameter significance of the jet's tracks (0 when missing).
    btag_weights: tuple[float, ...] = (0.3, 0.4, 0.3)
    btag_offset: float = 2.5
    btag_width: float = 0.8
    #: c tagging: displacement d = sigmoid((sum_i v_i S_i - offset) / width) over the two
    #: largest significances; CvL = d, CvB = (1 - b) d / ((1 - b) d + b), b the b-tag score.
    ctag_weights: tuple[float, ...] = (0.6, 0.4)
    ctag_offset: float = 2.0
    ctag_width: float = 0.8
    # --- large-radius jets (FatJet) and their soft-drop subjets [JME, BTV] ---
    fatjet_radius: float = 0.8
    fatjet_pt_min: float = 170.0
    fatjet_eta_max: float = 2.5
    #: Soft drop on the C/A reclustering: z_cut, beta, R0 (CMS: 0.1, 0, 0.8).
    softdrop_zcut: float = 0.1
    softdrop_beta: float = 0.0
    #: FatJet_genJetAK8Idx: the closest GenJetAK8 within this distance.
    fatjet_gen_match_dr: float = 0.4
    #: Boosted taggers: score = sigmoid(sum of terms - offset), the terms a Gaussian window on
    #: the soft-drop mass (centre, width GeV; weight), a linear term in the N-subjettiness
    #: ratio ((cut - ratio) / scale times weight) and the subjet b-tag scores (weight times the
    #: larger and the smaller). H->bb: tau21, both subjets b-tagged; top: tau32, the larger one.
    hbb_mass_window: tuple[float, float, float] = (125.0, 18.0, 3.0)
    hbb_tau21: tuple[float, float, float] = (0.55, 0.15, 1.5)
    hbb_btag_weights: tuple[float, float] = (2.0, 3.0)
    hbb_offset: float = 5.0
    top_mass_window: tuple[float, float, float] = (172.0, 22.0, 3.0)
    top_tau32: tuple[float, float, float] = (0.65, 0.12, 2.0)
    top_btag_weights: tuple[float, float] = (1.5, 0.0)
    top_offset: float = 3.5
    #: Active jet area: spacing of the ghost grid in eta and phi (0 disables the ghosts).
    jet_ghost_spacing: float = 0.2
    #: Pile-up jet ID: puIdDisc = tanh(k_beta (beta - beta0) + (width0 - width) / width_scale),
    #: beta the PV fraction of the charged pT in the cone (before CHS), width the pT-weighted
    #: RMS distance of the constituents to the axis; outside the tracker only the width term.
    puid_k_beta: float = 2.0
    puid_beta0: float = 0.3
    puid_width0: float = 0.2
    puid_width0_forward: float = 0.235
    puid_width_scale: float = 0.06
    puid_width_scale_forward: float = 0.04
    #: Working points per pT bin (rows: edges 15, 20, 30, 40, 50 GeV; above 50 all pass) and
    #: |eta| bin (columns: < 2.5, 2.5-2.75, 2.75-3.0, 3.0-5.0).
    puid_pt_edges: tuple[float, ...] = (15.0, 20.0, 30.0, 40.0, 50.0)
    puid_eta_edges: tuple[float, ...] = (2.5, 2.75, 3.0)
    #: Set at the 20% (tight), 10% (medium) and 5% (loose) quantiles of puIdDisc for matched
    #: jets of 1500 ttbar events (seed 21, pile-up 25), smoothed across the forward bins.
    puid_wp_tight: tuple[tuple[float, ...], ...] = (
        (0.29, -0.05, -0.05, -0.20),
        (0.55, 0.00, 0.00, -0.12),
        (0.74, 0.15, 0.15, 0.15),
        (0.81, 0.23, 0.23, 0.25),
    )
    puid_wp_medium: tuple[tuple[float, ...], ...] = (
        (-0.03, -0.40, -0.40, -0.47),
        (0.25, -0.30, -0.30, -0.40),
        (0.55, -0.24, -0.24, -0.21),
        (0.67, -0.11, -0.11, -0.10),
    )
    puid_wp_loose: tuple[tuple[float, ...], ...] = (
        (-0.41, -0.60, -0.60, -0.56),
        (-0.06, -0.45, -0.45, -0.50),
        (0.31, -0.41, -0.41, -0.42),
        (0.49, -0.37, -0.37, -0.40),
    )
    #: PUPPI: cone of alpha, and the neutral pT threshold a + b * PV_npvs inside / outside the
    #: tracker (GeV) [CMS, JINST 15 (2020) P09018].
    puppi_radius: float = 0.4
    puppi_ptmin_central: tuple[float, float] = (0.2, 0.015)
    puppi_ptmin_forward: tuple[float, float] = (2.0, 0.13)
    #: Good vertices (PV_npvsGood): |z| < 24 cm for the primary vertex; fraction of the
    #: reconstructed pile-up vertices that pass the quality cuts (ndof > 4, |z| < 24, rho < 2).
    pv_good_z_max_cm: float = 24.0
    pv_good_fraction: float = 0.92
    #: Grid of the pile-up density rho (fixedGridRhoFastjetAll): |eta| < 5, cells of about 0.55.
    rho_eta_max: float = 5.0
    rho_cell: float = 0.55

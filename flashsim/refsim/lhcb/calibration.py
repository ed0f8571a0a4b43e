"""LHCb-like PID calibration samples: one row per probe track, a mass to fit, the reference PID.

Three channels, as in the LHCb PIDCalib samples [CALIB]: kaons and pions from
D*+ -> D0(K- pi+) pi+ (fit variable m(K pi)), protons (and pions) from Lambda -> p pi- (m(p pi)),
muons from J/psi -> mu+ mu- (m(mu mu)). A fraction of the rows is combinatorial background: random
tracks of a channel-specific species mixture with a softer spectrum.

The sample is built so that the sPlot technique (M. Pivk, F. R. Le Diberder, NIM A 555 (2005) 356,
arXiv:physics/0402083) applies exactly: within signal and within background the mass is drawn
independently of the probe's kinematics, occupancy and PID. Kinematics and occupancy are
parametric (log-normal momentum and Gaussian pseudorapidity, correlated so that fast probes are
forward, thinned by the detector's acceptance; Gamma-distributed ``Event_nTracks``; all close to
the ``refsim generate --detector lhcb_like`` sample); the PID comes from
:func:`flashsim.refsim.lhcb.detector.pid_response`, the very function ``generate`` uses, so a PID
model trained on these samples applies to generated events. No Pythia is needed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flashsim.exceptions import ConfigurationError
from flashsim.refsim.lhcb.detector import PID_FIELDS, LHCbLikeDetector
from flashsim.refsim.lhcb.params import LHCbLikeParameters

__all__ = [
    "BRANCHES",
    "CHANNELS",
    "PROBES",
    "Channel",
    "Kinematics",
    "MassModel",
    "calibration_table",
    "generate_calibration",
]

#: Probe names and their |PDG id|.
PROBES: dict[str, int] = {"e": 11, "mu": 13, "pi": 211, "K": 321, "p": 2212}
#: Rows simulated per random stream: the output depends on the seed, never on how it is written.
CHUNK = 200_000
#: Probes need this much transverse momentum (GeV) and momentum (GeV). No pT requirement:
#: generated tracks reach pT = 2 GeV / cosh(5) = 27 MeV, and a PID model cannot learn where the
#: calibration has no probes (a 0.25 GeV cut left 7% of the bb-bar pions, all below 10 GeV at
#: eta > 3.5, in cells with at most two calibration probes).
PROBE_PT_MIN = 0.0
PROBE_P_RANGE = (2.0, 500.0)
#: Probes are drawn in this pseudorapidity range (the generator-level range of ``refsim
#: generate``) and kept with the detector's acceptance probability: a probe is a reconstructed
#: track, so the calibration reaches as far into the acceptance's soft edges as the tracks a
#: PID model is applied to. (A hard 2 < eta < 5 left the 7% of bb-bar long tracks above 70 GeV
#: that lie beyond eta = 5, where RICH2 loses its photons and DLLK narrows to 0, outside the
#: calibration: the domain guard clamped them to eta = 5.)
PROBE_ETA_RANGE = (1.8, 5.3)


def _dscb(t: np.ndarray, alpha_l: float, n_l: float, alpha_r: float, n_r: float) -> np.ndarray:
    """Unnormalised double-sided Crystal Ball in the standardised variable ``t``."""

    def tail(x: np.ndarray, alpha: float, n: float) -> np.ndarray:
        a = (n / alpha) ** n * np.exp(-0.5 * alpha**2)
        return a * np.maximum(n / alpha - alpha + x, 1e-12) ** (-n)

    core = np.exp(-0.5 * t**2)
    return np.where(
        t < -alpha_l, tail(-t, alpha_l, n_l), np.where(t > alpha_r, tail(t, alpha_r, n_r), core)
    )


@dataclass(frozen=True)
class MassModel:
    """The fit variable of a channel (MeV): double-sided Crystal Ball signal and a background.

    The background is ``exp(slope * m)`` (``threshold`` is None) or, above a two-body threshold
    ``m0``, ``(m - m0)^power * exp(-(m - m0) / scale)``. Both shapes are normalised on
    ``[low, high]``.
    """

    low: float
    high: float
    mean: float
    sigma: float
    alpha_l: float
    n_l: float
    alpha_r: float
    n_r: float
    slope: float = 0.0
    threshold: float | None = None
    power: float = 0.5
    scale: float = 25.0

    def _grid(self) -> np.ndarray:
        return np.linspace(self.low, self.high, 8193)

    def _signal_raw(self, m: np.ndarray) -> np.ndarray:
        t = (m - self.mean) / self.sigma
        return _dscb(t, self.alpha_l, self.n_l, self.alpha_r, self.n_r)

    def _background_raw(self, m: np.ndarray) -> np.ndarray:
        if self.threshold is None:
            return np.exp(self.slope * (m - self.low))
        x = np.maximum(m - self.threshold, 0.0)
        return x**self.power * np.exp(-x / self.scale)

    @staticmethod
    def _normalised(raw, grid: np.ndarray, m: np.ndarray, low: float, high: float) -> np.ndarray:
        dens = raw(grid)
        norm = np.sum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))
        m = np.asarray(m, dtype=np.float64)
        return np.where((m >= low) & (m <= high), raw(m) / norm, 0.0)

    def signal_pdf(self, m: np.ndarray) -> np.ndarray:
        """Normalised signal density (1/MeV) at ``m``."""
        return self._normalised(self._signal_raw, self._grid(), m, self.low, self.high)

    def background_pdf(self, m: np.ndarray) -> np.ndarray:
        """Normalised background density (1/MeV) at ``m``."""
        return self._normalised(self._background_raw, self._grid(), m, self.low, self.high)

    def sample(self, signal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Masses for rows flagged ``signal`` (True) or background (False), by inverse CDF."""
        grid = self._grid()
        out = np.empty(len(signal))
        u = rng.random(len(signal))
        for flag, raw in ((True, self._signal_raw), (False, self._background_raw)):
            dens = raw(grid)
            cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))])
            sel = signal == flag
            out[sel] = np.interp(u[sel] * cdf[-1], cdf, grid)
        return out


@dataclass(frozen=True)
class Kinematics:
    """Probe spectrum: (ln p, eta) bivariate normal, ln p ~ N(ln p_median, log_sigma), eta ~
    N(eta_mean, eta_sigma) with correlation ``correlation``, truncated to :data:`PROBE_P_RANGE`,
    :data:`PROBE_ETA_RANGE` and pT > :data:`PROBE_PT_MIN`, then thinned by the detector's
    acceptance; ``Event_nTracks`` ~ Gamma(shape, scale), rounded, at least 1."""

    p_median: float
    log_sigma: float
    eta_mean: float
    eta_sigma: float
    ntracks_shape: float = 4.5
    ntracks_scale: float = 20.0
    #: Correlation of ln p and eta: probes come from a falling pT spectrum, so the fast ones are
    #: forward (0.62-0.66 for the pions and kaons of the bb-bar sample).
    correlation: float = 0.0


@dataclass(frozen=True)
class Channel:
    """A calibration channel: its mass model, signal probes and background."""

    name: str
    mass: MassModel
    #: Signal probes allowed (names of :data:`PROBES`) and their spectra; the first is the default.
    signal: dict[str, Kinematics]
    background: Kinematics
    #: Species mixture of background probes (names of :data:`PROBES` -> fraction, summing to 1).
    mixture: dict[str, float] = field(default_factory=dict)

    @property
    def default_probe(self) -> str:
        """The probe used when none is asked for."""
        return next(iter(self.signal))


_BACKGROUND = Kinematics(p_median=10.0, log_sigma=0.85, eta_mean=3.5, eta_sigma=0.7)

#: The channels, by name.
CHANNELS: dict[str, Channel] = {
    "dstar": Channel(
        name="dstar",
        mass=MassModel(1810.0, 1920.0, 1864.84, 7.5, 1.6, 3.0, 2.0, 5.0, slope=-0.004),
        signal={
            "K": Kinematics(12.0, 1.1, 3.7, 1.0, 4.5, 21.0, correlation=0.6),
            "pi": Kinematics(12.0, 1.1, 3.7, 1.0, 4.5, 21.0, correlation=0.6),
        },
        background=_BACKGROUND,
        mixture={"pi": 0.75, "K": 0.15, "p": 0.06, "mu": 0.02, "e": 0.02},
    ),
    "lambda": Channel(
        name="lambda",
        mass=MassModel(
            1095.0, 1140.0, 1115.683, 1.6, 1.5, 3.0, 1.8, 4.0, threshold=1077.842, power=0.45
        ),
        signal={
            "p": Kinematics(15.0, 1.0, 3.7, 1.0, correlation=0.6),
            "pi": Kinematics(6.0, 0.6, 3.3, 0.55),
        },
        background=_BACKGROUND,
        mixture={"pi": 0.70, "p": 0.15, "K": 0.10, "e": 0.03, "mu": 0.02},
    ),
    "jpsi": Channel(
        name="jpsi",
        mass=MassModel(3000.0, 3200.0, 3096.9, 13.5, 1.5, 2.5, 2.2, 6.0, slope=-0.0015),
        signal={"mu": Kinematics(15.0, 1.0, 3.7, 1.0, 4.5, 21.0, correlation=0.6)},
        background=_BACKGROUND,
        mixture={"pi": 0.55, "mu": 0.25, "K": 0.15, "p": 0.05},
    ),
    # Electron probes from J/psi -> e+ e- (as in B+ -> J/psi(ee) K+ tag-and-probe): a wider peak
    # with a long low-mass tail from bremsstrahlung not fully recovered.
    "jpsi_ee": Channel(
        name="jpsi_ee",
        mass=MassModel(2700.0, 3300.0, 3096.9, 45.0, 1.0, 3.0, 2.0, 6.0, slope=-0.002),
        signal={"e": Kinematics(12.0, 1.0, 3.7, 1.0, 4.5, 21.0, correlation=0.6)},
        background=_BACKGROUND,
        mixture={"pi": 0.70, "K": 0.12, "e": 0.10, "p": 0.05, "mu": 0.03},
    ),
}

#: Branches of the calibration tree and their types.
BRANCHES: dict[str, type] = {
    "mass": np.float32,
    "probe_p": np.float32,
    "probe_pt": np.float32,
    "probe_eta": np.float32,
    "probe_phi": np.float32,
    "probe_charge": np.int32,
    "Event_nTracks": np.int32,
    **{f"probe_{name}": np.uint8 if name == "isMuon" else np.float32 for name in PID_FIELDS},
    "true_signal": np.uint8,
    "true_pdgId": np.int32,
}


def _channel_and_probe(channel: str, probe: str | None) -> tuple[Channel, str]:
    if channel not in CHANNELS:
        msg = f"unknown calibration channel {channel!r}; choose one of {', '.join(CHANNELS)}"
        raise ConfigurationError(msg)
    chan = CHANNELS[channel]
    probe = chan.default_probe if probe is None else probe
    if probe not in chan.signal:
        msg = (
            f"channel {channel!r} has no {probe!r} probes; choose --probe "
            f"{' or '.join(chan.signal)}"
        )
        raise ConfigurationError(msg)
    return chan, probe


def _kinematics(
    kin: Kinematics, n: int, rng: np.random.Generator, detector: LHCbLikeDetector
) -> tuple[np.ndarray, ...]:
    """Momentum, pseudorapidity and nTracks of ``n`` probes (truncated by resampling; each kept
    with the detector's acceptance probability at its eta)."""
    p = np.empty(n)
    eta = np.empty(n)
    todo = np.arange(n)
    while len(todo):
        z_p, z_eta = rng.standard_normal((2, len(todo)))
        rho = kin.correlation
        p[todo] = kin.p_median * np.exp(kin.log_sigma * z_p)
        eta[todo] = kin.eta_mean + kin.eta_sigma * (rho * z_p + np.sqrt(1.0 - rho**2) * z_eta)
        ok = (
            (p[todo] > PROBE_P_RANGE[0])
            & (p[todo] < PROBE_P_RANGE[1])
            & (eta[todo] > PROBE_ETA_RANGE[0])
            & (eta[todo] < PROBE_ETA_RANGE[1])
            & (p[todo] / np.cosh(eta[todo]) > PROBE_PT_MIN)
            & (rng.random(len(todo)) < detector.acceptance(eta[todo]))
        )
        todo = todo[~ok]
    ntracks = np.maximum(np.rint(rng.gamma(kin.ntracks_shape, kin.ntracks_scale, n)), 1)
    return p, eta, ntracks


def _chunk(
    chan: Channel,
    probe: str,
    n: int,
    background_fraction: float,
    rng: np.random.Generator,
    detector: LHCbLikeDetector,
) -> dict[str, np.ndarray]:
    signal = rng.random(n) >= background_fraction
    n_sig = int(signal.sum())
    names = list(chan.mixture)
    species = np.empty(n, dtype=np.int64)
    species[signal] = PROBES[probe]
    picks = rng.choice(len(names), size=n - n_sig, p=[chan.mixture[k] for k in names])
    species[~signal] = np.array([PROBES[k] for k in names])[picks]
    p = np.empty(n)
    eta = np.empty(n)
    ntracks = np.empty(n)
    for flag, kin in ((True, chan.signal[probe]), (False, chan.background)):
        sel = signal == flag
        p[sel], eta[sel], ntracks[sel] = _kinematics(kin, int(sel.sum()), rng, detector)
    charge = np.where(rng.random(n) < 0.5, 1, -1)
    phi = rng.uniform(-np.pi, np.pi, n)
    # mass: independent of everything else within signal and within background
    mass = chan.mass.sample(signal, rng)
    pid = detector.pid(species, p, eta, ntracks, rng)
    lepton = (species == 11) | (species == 13)
    table = {
        "mass": mass,
        "probe_p": p,
        "probe_pt": p / np.cosh(eta),
        "probe_eta": eta,
        "probe_phi": phi,
        "probe_charge": charge,
        "Event_nTracks": ntracks,
        **{f"probe_{name}": pid[name] for name in PID_FIELDS},
        "true_signal": signal,
        "true_pdgId": species * np.where(lepton, -charge, charge),
    }
    return {name: table[name].astype(dtype) for name, dtype in BRANCHES.items()}


def _chunks(
    channel: str,
    n: int,
    background_fraction: float,
    seed: int,
    probe: str | None,
    params: LHCbLikeParameters | None,
) -> Iterator[dict[str, np.ndarray]]:
    """Check the options, then return an iterator over chunks of :data:`CHUNK` rows."""
    chan, probe = _channel_and_probe(channel, probe)
    if n <= 0:
        msg = f"the number of rows must be positive, got {n}"
        raise ConfigurationError(msg)
    if not 0.0 <= background_fraction <= 1.0:
        msg = f"the background fraction must be in [0, 1], got {background_fraction}"
        raise ConfigurationError(msg)
    detector = LHCbLikeDetector(params)
    key = [seed, list(CHANNELS).index(channel), list(PROBES).index(probe)]
    return (
        _chunk(
            chan,
            probe,
            min(CHUNK, n - start),
            background_fraction,
            np.random.default_rng(np.random.SeedSequence([*key, index])),
            detector,
        )
        for index, start in enumerate(range(0, n, CHUNK))
    )


def calibration_table(
    channel: str,
    n: int,
    *,
    background_fraction: float = 0.4,
    seed: int = 1,
    probe: str | None = None,
    params: LHCbLikeParameters | None = None,
) -> dict[str, np.ndarray]:
    """A calibration sample as numpy arrays (the columns of :func:`generate_calibration`'s file).

    Arguments:
        channel: ``dstar``, ``lambda`` or ``jpsi`` (:data:`CHANNELS`).
        n: number of rows (probe tracks).
        background_fraction: expected fraction of background rows (each row is background with
            this probability).
        seed: random seed; the table depends only on the seed, the channel, the probe and ``n``.
        probe: signal probe species: ``K`` (default) or ``pi`` for ``dstar``, ``p`` (default) or
            ``pi`` for ``lambda``, ``mu`` for ``jpsi``.
        params: detector parameters of the PID response.

    Returns:
        the columns of :data:`BRANCHES`, with their types.

    Raises:
        ConfigurationError: unknown channel or probe, ``n`` <= 0, a fraction outside [0, 1].

    Example:
        >>> table = calibration_table("jpsi", 1000, seed=3)
        >>> float(table["mass"].min()) >= 3000.0
        True
    """
    chunks = list(_chunks(channel, n, background_fraction, seed, probe, params))
    return {name: np.concatenate([c[name] for c in chunks]) for name in BRANCHES}


def generate_calibration(
    *,
    channel: str,
    n: int,
    output: os.PathLike | str,
    background_fraction: float = 0.4,
    seed: int = 1,
    probe: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Write a calibration sample as a flat TTree ``Events`` (one row per probe), atomically.

    Arguments are those of :func:`calibration_table`, plus the output ROOT file, ``overwrite``
    and ``progress`` (a progress bar).

    Returns:
        a summary with the number of rows, the wall time and the path.

    Raises:
        ConfigurationError: see :func:`calibration_table`.
        OutputError: the output cannot be written.
    """
    from tqdm import tqdm

    import flashsim
    from flashsim.io import NanoAODWriter, check_output_path

    chan, probe = _channel_and_probe(channel, probe)
    chunks = _chunks(channel, n, background_fraction, seed, probe, None)
    path = check_output_path(output, overwrite=overwrite)
    metadata = {
        "producer": "flashsim refsim calibration",
        "flashsim_version": flashsim.__version__,
        "detector": "lhcb_like",
        "channel": channel,
        "probe": probe,
        "n": n,
        "background_fraction": background_fraction,
        "seed": seed,
    }
    start = time.perf_counter()
    with (
        NanoAODWriter(path, overwrite=overwrite, metadata=metadata) as writer,
        tqdm(total=n, unit="row", disable=not progress, desc=f"calibration {channel}") as bar,
    ):
        for chunk in chunks:
            writer.extend(chunk)
            bar.update(len(chunk["mass"]))
    seconds = time.perf_counter() - start
    return {
        "n": n,
        "seconds": seconds,
        "path": str(Path(path)),
        "probe": probe,
        "channel": chan.name,
    }

"""sPlot: the mass fit, the sWeights, the independence check and ``flashsim sweights``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import uproot
from click.testing import CliRunner
from scipy import integrate, stats

from flashsim.cli import flashsim as flashsim_group
from flashsim.exceptions import ConfigurationError, FitError, InputError
from flashsim.sweights import (
    BACKGROUND_SHAPES,
    SIGNAL_SHAPES,
    check_independence,
    fit_mass,
    plot_fit,
    sweights,
)

LO, HI = 5000.0, 5600.0
MU, SIGMA = 5280.0, 15.0
N_SIGNAL, N_BACKGROUND = 6000, 4000
SLOPE = -1.0 / 300.0


def exp_background(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` values of ``exp(SLOPE * m)`` on the range, by inverting its distribution function."""
    u = rng.uniform(size=n)
    return LO + np.log1p(u * np.expm1(SLOPE * (HI - LO))) / SLOPE


def gauss_signal(rng: np.random.Generator, n: int) -> np.ndarray:
    return stats.truncnorm.rvs(
        (LO - MU) / SIGMA, (HI - MU) / SIGMA, loc=MU, scale=SIGMA, size=n, random_state=rng
    )


def dcb_signal(rng: np.random.Generator, n: int, tails: tuple[float, float, float, float]):
    """A double-sided Crystal Ball from two halves of scipy's one-sided Crystal Ball.

    Independent of flashsim's implementation: the left half (z < 0) of ``crystalball(bl, ml)``
    and the mirrored left half of ``crystalball(br, mr)``, mixed in proportion to their areas
    (the unnormalised halves meet at the Gaussian's peak).
    """
    bl, ml, br, mr = tails
    left, right = stats.crystalball(bl, ml), stats.crystalball(br, mr)
    area_left = left.cdf(0.0) / left.pdf(0.0)
    area_right = right.cdf(0.0) / right.pdf(0.0)
    out = np.empty(0)
    while out.size < n:
        is_left = rng.uniform(size=2 * n) < area_left / (area_left + area_right)
        z_left = left.ppf(rng.uniform(0.0, left.cdf(0.0), size=2 * n))
        z_right = -right.ppf(rng.uniform(0.0, right.cdf(0.0), size=2 * n))
        m = MU + SIGMA * np.where(is_left, z_left, z_right)
        out = np.concatenate([out, m[(m >= LO) & (m <= HI)]])
    return out[:n]


def toy(rng: np.random.Generator, signal: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """60 % signal, 40 % background; control ``y`` Gaussian for signal, exponential else."""
    m_sig = gauss_signal(rng, N_SIGNAL) if signal is None else signal
    m_bkg = exp_background(rng, N_BACKGROUND)
    y_sig = rng.normal(2.0, 0.7, N_SIGNAL)
    y_bkg = rng.exponential(1.5, N_BACKGROUND)
    return {
        "mass": np.concatenate([m_sig, m_bkg]),
        "y": np.concatenate([y_sig, y_bkg]),
        "is_signal": np.concatenate([np.ones(N_SIGNAL, bool), np.zeros(N_BACKGROUND, bool)]),
    }


def chi2_per_ndf(sample: dict[str, np.ndarray], weights: np.ndarray) -> float:
    """sWeighted ``y`` histogram against the true-signal one, errors sqrt(sum w^2) per bin."""
    edges = np.linspace(-1.0, 5.0, 31)
    weighted, _ = np.histogram(sample["y"], edges, weights=weights)
    variance, _ = np.histogram(sample["y"], edges, weights=weights**2)
    truth, _ = np.histogram(sample["y"][sample["is_signal"]], edges)
    used = variance > 0
    chi2 = np.sum((weighted - truth)[used] ** 2 / variance[used])
    return float(chi2 / used.sum())


def pull(fit_value: tuple[float, float], truth: float) -> float:
    value, error = fit_value
    return (value - truth) / error


@pytest.fixture(scope="module")
def gauss_toy() -> dict[str, np.ndarray]:
    return toy(np.random.default_rng(11))


class TestShapes:
    @pytest.mark.parametrize(
        ("shapes", "kind", "params"),
        [
            (SIGNAL_SHAPES, "gauss", (5250.0, 40.0)),
            (SIGNAL_SHAPES, "dcb", (5300.0, 20.0, 1.2, 2.5, 0.6, 8.0)),
            (SIGNAL_SHAPES, "dcb", (5300.0, 20.0, 0.3, 70.0, 7.0, 1.1)),
            (BACKGROUND_SHAPES, "exp", (-0.01,)),
            (BACKGROUND_SHAPES, "exp", (0.004,)),
            (BACKGROUND_SHAPES, "exp", (0.0,)),
            (BACKGROUND_SHAPES, "poly1", (-0.7,)),
            (BACKGROUND_SHAPES, "threshold", (4900.0, 0.45, 250.0)),
            (BACKGROUND_SHAPES, "threshold", (4000.0, 2.0, 30.0)),  # far above the mode
        ],
    )
    def test_normalised_on_the_range_and_cdf_consistent(
        self, shapes: dict, kind: str, params: tuple[float, ...]
    ) -> None:
        shape = shapes[kind]
        total = integrate.quad(lambda x: shape.pdf(x, LO, HI, *params), LO, HI, limit=200)[0]
        assert total == pytest.approx(1.0, abs=1e-7)
        part = integrate.quad(lambda x: shape.pdf(x, LO, HI, *params), LO, 5310.0, limit=200)[0]
        assert shape.cdf(np.array([LO, 5310.0, HI]), LO, HI, *params) == pytest.approx(
            [0.0, part, 1.0], abs=1e-7
        )

    def test_dcb_matches_scipy_crystal_ball_on_the_left(self) -> None:
        x = np.linspace(5100.0, 5280.0, 50)
        ours = SIGNAL_SHAPES["dcb"].pdf(x, LO, HI, MU, SIGMA, 1.3, 2.5, 2.0, 4.0)
        scipy_cb = stats.crystalball(1.3, 2.5).pdf((x - MU) / SIGMA)
        ratio = ours / scipy_cb
        assert ratio == pytest.approx(np.full_like(ratio, ratio[0]), rel=1e-9)


class TestFitAndWeights:
    def test_gauss_on_exponential_closes(self, gauss_toy: dict[str, np.ndarray]) -> None:
        fit = fit_mass(gauss_toy["mass"], signal="gauss", background="exp", range=(LO, HI))
        assert fit.valid
        assert abs(pull(fit.yields["signal"], N_SIGNAL)) < 2
        assert abs(pull(fit.yields["background"], N_BACKGROUND)) < 2
        assert abs(pull(fit.signal_parameters["mu"], MU)) < 3
        assert abs(pull(fit.signal_parameters["sigma"], SIGMA)) < 3
        assert abs(pull(fit.background_parameters["slope"], SLOPE)) < 3
        weights = sweights(fit, gauss_toy["mass"])
        assert weights.dtype == np.float64
        assert weights.sum() == pytest.approx(fit.yields["signal"][0], rel=1e-6)
        assert chi2_per_ndf(gauss_toy, weights) <= 1.5
        # The background-weighted control variable is the background's.
        bkg = chi2_per_ndf({**gauss_toy, "is_signal": ~gauss_toy["is_signal"]}, 1.0 - weights)
        assert bkg <= 1.5

    def test_dcb_signal_closes(self) -> None:
        rng = np.random.default_rng(12)
        sample = toy(rng, signal=dcb_signal(rng, N_SIGNAL, (1.2, 3.0, 1.8, 5.0)))
        fit = fit_mass(sample["mass"], signal="dcb", background="exp", range=(LO, HI))
        assert abs(pull(fit.yields["signal"], N_SIGNAL)) < 2
        assert abs(pull(fit.yields["background"], N_BACKGROUND)) < 2
        assert abs(pull(fit.signal_parameters["mu"], MU)) < 3
        assert abs(pull(fit.signal_parameters["beta_left"], 1.2)) < 3
        weights = sweights(fit, sample["mass"])
        assert weights.sum() == pytest.approx(fit.yields["signal"][0], rel=1e-6)
        assert chi2_per_ndf(sample, weights) <= 1.5

    def test_poly1_background(self, gauss_toy: dict[str, np.ndarray]) -> None:
        fit = fit_mass(gauss_toy["mass"], signal="gauss", background="poly1", range=(LO, HI))
        assert fit.valid
        assert -1.0 <= fit.values["c1"] < 0.0  # the exponential falls
        assert abs(pull(fit.yields["signal"], N_SIGNAL)) < 3

    def test_threshold_background_closes_on_lambda(self) -> None:
        """Lambda -> p pi calibration: the background rises from m_p + m_pi; the threshold shape
        with m0 fixed recovers the yield and its power and scale."""
        from flashsim.refsim.lhcb.calibration import CHANNELS, calibration_table

        model = CHANNELS["lambda"].mass
        table = calibration_table("lambda", 40000, background_fraction=0.4, seed=3, probe="p")
        fit = fit_mass(
            table["mass"].astype(np.float64),
            signal="dcb",
            background="threshold",
            range=(model.low, model.high),
            fixed={
                "threshold": model.threshold,
                "beta_left": model.alpha_l,
                "m_left": model.n_l,
                "beta_right": model.alpha_r,
                "m_right": model.n_r,
            },
        )
        truth = int(table["true_signal"].sum())
        assert abs(pull(fit.yields["signal"], truth)) < 3
        assert fit.values["threshold"] == model.threshold
        assert abs(fit.values["power"] - model.power) < 0.3
        assert abs(fit.values["scale"] - model.scale) < 8

    def test_summary_is_json(self, gauss_toy: dict[str, np.ndarray]) -> None:
        fit = fit_mass(gauss_toy["mass"], range=(LO, HI))
        summary = json.loads(json.dumps(fit.to_dict()))
        assert set(summary["yields"]) == {"signal", "background"}
        assert set(summary["parameters"]) == {"mu", "sigma", "slope"}
        assert summary["status"]["valid"] is True

    def test_plot(self, gauss_toy: dict[str, np.ndarray], tmp_path: Path) -> None:
        fit = fit_mass(gauss_toy["mass"], range=(LO, HI))
        path = plot_fit(fit, gauss_toy["mass"], tmp_path / "fit.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    def test_flat_noise_does_not_give_a_usable_fit(self) -> None:
        noise = np.random.default_rng(0).uniform(0.0, 1.0, 500)
        with pytest.raises(FitError, match="try other shapes"):
            fit_mass(noise, signal="gauss", background="exp", range=(0.0, 1.0))
        fit = fit_mass(noise, signal="gauss", background="exp", range=(0.0, 1.0), check=False)
        with pytest.raises(FitError):
            sweights(fit, noise)

    def test_input_errors(self, gauss_toy: dict[str, np.ndarray]) -> None:
        mass = gauss_toy["mass"]
        with pytest.raises(InputError, match="non-finite"):
            fit_mass(np.append(mass, np.nan), range=(LO, HI))
        with pytest.raises(InputError, match="widen the range"):
            fit_mass(mass, range=(0.0, 1.0))
        with pytest.raises(ConfigurationError, match="parameters are n_signal"):
            fit_mass(mass, range=(LO, HI), initial={"tau": 1.0})
        with pytest.raises(ConfigurationError, match="sigma=-1 is outside"):
            fit_mass(mass, range=(LO, HI), initial={"sigma": -1.0})
        with pytest.raises(ConfigurationError, match="unknown signal shape"):
            fit_mass(mass, signal="voigt", range=(LO, HI))
        fit = fit_mass(mass, range=(LO, HI))
        with pytest.raises(InputError, match="outside the fit range"):
            sweights(fit, np.append(mass, HI + 1.0))


class TestIndependence:
    def test_quiet_for_independent_controls(self, gauss_toy: dict[str, np.ndarray]) -> None:
        fit = fit_mass(gauss_toy["mass"], range=(LO, HI))
        weights = sweights(fit, gauss_toy["mass"])
        noise = np.random.default_rng(3).normal(size=gauss_toy["mass"].size)
        assert (
            check_independence(gauss_toy["mass"], {"y": gauss_toy["y"], "noise": noise}, weights)
            == []
        )

    @pytest.mark.parametrize("component", ["signal", "background"])
    def test_warns_for_a_mass_dependent_control(
        self, gauss_toy: dict[str, np.ndarray], component: str
    ) -> None:
        mass, is_signal = gauss_toy["mass"], gauss_toy["is_signal"]
        fit = fit_mass(mass, range=(LO, HI))
        weights = sweights(fit, mass)
        rng = np.random.default_rng(4)
        shifted = gauss_toy["y"] + 0.5 * (mass - MU) / SIGMA  # signal: +-0.8 over its peak
        if component == "background":
            shifted = gauss_toy["y"] + 2.0 * (mass - LO) / (HI - LO)
        dependent = np.where(is_signal == (component == "signal"), shifted, gauss_toy["y"])
        warnings = check_independence(
            mass,
            {"y": gauss_toy["y"], "y_dep": dependent, "z": rng.normal(size=mass.size)},
            weights,
        )
        assert len(warnings) == 1
        assert "'y_dep'" in warnings[0]
        assert f"in the {component} component" in warnings[0]


def write_calibration(path: Path, sample: dict[str, np.ndarray], tree: str = "Events") -> None:
    with uproot.recreate(path) as f:
        f.mktree(tree, {name: column.dtype for name, column in sample.items()}).extend(sample)


@pytest.fixture(scope="module")
def calib_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """A flat calibration tree: the toy plus rows outside the range and a dependent control."""
    rng = np.random.default_rng(21)
    sample = toy(rng)
    n = sample["mass"].size
    outside = np.array([4900.0, 4990.0, 5650.0])
    data = {
        "mass": np.concatenate([sample["mass"], outside]),
        "pt": np.concatenate([sample["y"], [1.0, 2.0, 3.0]]).astype(np.float32),
        "pt_dep": np.concatenate(
            [
                sample["y"] + np.where(sample["is_signal"], (sample["mass"] - MU) / SIGMA, 0.0),
                [0.0, 0.0, 0.0],
            ]
        ),
        "eventNumber": np.arange(n + 3, dtype=np.int64),
        "true_signal": np.concatenate([sample["is_signal"], [False] * 3]).astype(np.int32),
    }
    path = tmp_path_factory.mktemp("calib") / "calib.root"
    write_calibration(path, data)
    return path, data


def invoke(*args: str | Path):
    return CliRunner().invoke(flashsim_group, [str(a) for a in args])


class TestCommand:
    def test_round_trip(self, calib_file: tuple[Path, dict], tmp_path: Path) -> None:
        path, data = calib_file
        out = tmp_path / "calib_sw.root"
        result = invoke("sweights", path, "--fit-var", "mass", "--range", LO, HI, "-o", out)
        assert result.exit_code == 0, result.output
        assert "signal yield:" in result.stdout
        assert "(3 dropped)" in result.stdout
        warnings = [line for line in result.stderr.splitlines() if "warning" in line]
        assert len(warnings) == 1
        assert "'pt_dep'" in warnings[0]
        with uproot.open(out) as f:
            written = f["Events"].arrays(library="np")
        assert set(written) == {*data, "sweight"}
        keep = (data["mass"] >= LO) & (data["mass"] <= HI)
        for name, column in data.items():
            np.testing.assert_array_equal(written[name], column[keep])
            assert written[name].dtype == column.dtype
        assert written["sweight"].dtype == np.float64
        summary = json.loads((tmp_path / "calib_sw.fit.json").read_text())
        assert summary["counts"] == {"input": keep.size, "outside_range": 3, "output": keep.sum()}
        assert summary["fit"]["status"]["valid"] is True
        assert summary["sum_of_sweights"] == pytest.approx(written["sweight"].sum())
        assert summary["controls"] == ["pt", "pt_dep", "eventNumber"]
        assert len(summary["independence_warnings"]) == 1
        assert (tmp_path / "calib_sw.fit.png").stat().st_size > 0
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "calib_sw.fit.json",
            "calib_sw.fit.png",
            "calib_sw.root",
        ]

    def test_output_exists(self, calib_file: tuple[Path, dict], tmp_path: Path) -> None:
        path, _ = calib_file
        out = tmp_path / "calib_sw.root"
        args = (
            "sweights",
            path,
            "--fit-var",
            "mass",
            "--range",
            LO,
            HI,
            "-o",
            out,
            "-q",
            "--controls",
            "pt",
        )
        assert invoke(*args).exit_code == 0
        result = invoke(*args)
        assert result.exit_code == 2
        assert "exists; pass --overwrite" in result.stderr
        again = invoke(*args, "--overwrite", "--signal", "dcb", "--background", "poly1")
        assert again.exit_code == 0, again.output
        assert again.stdout == ""

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (("--fit-var", "mas", "--range", LO, HI), "lacks branch 'mas' (did you mean 'mass'?)"),
            (("--fit-var", "mass", "--range", 100.0, 200.0), "no rows of"),
            (("--fit-var", "mass", "--range", LO, HI, "--controls", "pt,eta"), "'eta'"),
            (("--fit-var", "mass", "--range", HI, LO), "LO < HI"),
            (
                (
                    "--fit-var",
                    "mass",
                    "--range",
                    LO,
                    HI,
                    "--initial",
                    "mu=5590",
                    "--initial",
                    "sigma=0.1",
                    "--initial",
                    "n_signal=1",
                    "-q",  # the fit takes over a second: without -q it says so on a line first
                ),
                "or initial values",
            ),
            (("--fit-var", "mass", "--range", LO, HI, "--initial", "mu"), "NAME=VALUE"),
        ],
    )
    def test_bad_arguments(
        self, calib_file: tuple[Path, dict], tmp_path: Path, args: tuple, message: str
    ) -> None:
        path, _ = calib_file
        result = invoke("sweights", path, *args, "-o", tmp_path / "out.root")
        assert result.exit_code == 2
        assert message in result.stderr
        assert len(result.stderr.splitlines()) == 1
        assert list(tmp_path.iterdir()) == []

    @pytest.mark.parametrize(
        ("mass", "message"),
        [
            (np.random.default_rng(0).uniform(0.0, 1.0, 500), "try other shapes"),
            (np.append(np.linspace(0.0, 1.0, 499), np.nan), "non-finite value"),
        ],
    )
    def test_bad_inputs(self, tmp_path: Path, mass: np.ndarray, message: str) -> None:
        path = tmp_path / "in.root"
        write_calibration(path, {"mass": mass})
        out = tmp_path / "out" / "sw.root"
        out.parent.mkdir()
        result = invoke("sweights", path, "--fit-var", "mass", "--range", 0.0, 1.0, "-o", out)
        assert result.exit_code == 2
        assert message in result.stderr
        assert len(result.stderr.splitlines()) == 1
        assert list(out.parent.iterdir()) == []

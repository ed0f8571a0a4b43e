"""ONNX export of the response models: reproduction of torch, the manifest, the command line."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import flashsim  # noqa: E402
from flashsim.cli import flashsim as flashsim_group  # noqa: E402
from flashsim.export import (  # noqa: E402
    MANIFEST_NAME,
    ExportCheckError,
    ExportError,
    check_onnx,
    export_onnx,
)
from flashsim.models.base import TorchModel  # noqa: E402
from flashsim.models.flow import ConditionalFlow, FlowConfig  # noqa: E402
from flashsim.models.gan import ConditionalGAN, GANConfig  # noqa: E402

TINY_FLOW = {"transforms": 2, "hidden": (16, 16), "bins": 4}
TINY_GAN = {"latent_dim": 4, "generator": (16, 16), "critic": (8,)}

MODELS: dict[str, Callable[[], TorchModel]] = {
    "spline-coupling": lambda: ConditionalFlow(3, 2, FlowConfig(**TINY_FLOW)),
    "affine-autoregressive": lambda: ConditionalFlow(
        3, 2, FlowConfig(transform="affine", structure="autoregressive", **TINY_FLOW)
    ),
    "spline-no-context": lambda: ConditionalFlow(3, 0, FlowConfig(**TINY_FLOW)),
    "gan": lambda: ConditionalGAN(3, 2, GANConfig(**TINY_GAN)),
    "gan-no-context": lambda: ConditionalGAN(3, 0, GANConfig(**TINY_GAN)),
}


def build(kind: str) -> TorchModel:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        return MODELS[kind]()


def onnx_session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def perturb_largest_weight(path: Path) -> None:
    """Add 0.5 to the largest float tensor of the graph (an initializer or a Constant node)."""
    from onnx import numpy_helper

    model = onnx.load(str(path))
    tensors = list(model.graph.initializer) + [
        a.t
        for n in model.graph.node
        if n.op_type == "Constant"
        for a in n.attribute
        if a.name == "value"
    ]
    floats = [t for t in tensors if t.data_type == onnx.TensorProto.FLOAT]
    largest = max(floats, key=lambda t: int(np.prod(t.dims)))
    array = numpy_helper.to_array(largest) + np.float32(0.5)
    largest.CopyFrom(numpy_helper.from_array(array, largest.name))
    onnx.save(model, str(path))


@pytest.mark.parametrize("kind", list(MODELS))
def test_export_reproduces_torch(kind: str, tmp_path: Path) -> None:
    model = build(kind)
    path = tmp_path / f"{kind}.onnx"
    export_onnx(model, path)
    onnx.checker.check_model(onnx.load(str(path)))
    inputs = {i.name: i.shape for i in onnx_session(path).get_inputs()}
    expected = {"noise": ["batch", model.noise_dim]}
    if model.n_context:
        expected["context"] = ["batch", model.n_context]
    assert inputs == expected
    result = check_onnx(model, path, rtol=1e-4, roundoff=0)  # rtol alone: no float32 allowance
    assert result.passed
    assert result.max_rel_diff <= 1e-4
    assert result.tolerance == 1e-4
    assert result.rows == 2000


@pytest.mark.parametrize("kind", list(MODELS))
def test_float64_export_reproduces_torch_in_float64(kind: str, tmp_path: Path) -> None:
    model = build(kind)
    path = tmp_path / f"{kind}.onnx"
    export_onnx(model, path, precision="float64")
    assert {i.type for i in onnx_session(path).get_inputs()} == {"tensor(double)"}
    result = check_onnx(model, path, rtol=1e-10, precision="float64")
    assert result.passed
    assert result.max_rel_diff <= 1e-10
    assert result.float32_floor is None  # nothing to allow for
    assert next(model.module.parameters()).dtype == torch.float32  # the model is untouched


def test_output_does_not_depend_on_the_batch_size(tmp_path: Path) -> None:
    model = build("spline-coupling")
    path = tmp_path / "flow.onnx"
    export_onnx(model, path)
    session = onnx_session(path)
    rng = np.random.default_rng(5)
    context = rng.standard_normal((1000, 2), dtype=np.float32)
    noise = rng.standard_normal((1000, 3), dtype=np.float32)
    (whole,) = session.run(["x"], {"context": context, "noise": noise})
    edges = [0, 1, 8, 16, 17, 500, 1000]  # 16 rows is the traced batch size
    pieces = [
        session.run(["x"], {"context": context[a:b], "noise": noise[a:b]})[0]
        for a, b in itertools.pairwise(edges)
    ]
    np.testing.assert_allclose(np.concatenate(pieces), whole, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        torch_x = model._map_noise(torch.from_numpy(noise), torch.from_numpy(context)).numpy()
    np.testing.assert_allclose(whole, torch_x, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["spline-coupling", "gan"])
def test_a_broken_export_fails_the_check(kind: str, tmp_path: Path) -> None:
    model = build(kind)
    path = tmp_path / "model.onnx"
    export_onnx(model, path)
    perturb_largest_weight(path)
    with pytest.raises(ExportCheckError, match="ONNX Runtime differs from torch") as info:
        check_onnx(model, path, name="broken")
    (result,) = info.value.results
    assert not result.passed
    assert result.name == "broken"
    assert result.max_rel_diff > 100 * result.tolerance
    assert not check_onnx(model, path, raise_on_failure=False).passed


def test_missing_onnxruntime_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ExportError, match=r"onnxruntime is missing.*flashsim\[export\]"):
        export_onnx(build("gan"), tmp_path / "gan.onnx")


def test_missing_model_dir_is_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        flashsim_group, ["export", str(tmp_path / "nope"), "--onnx", "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "does not exist or is not a directory" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def exported(
    tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    root = str(Path(flashsim.__file__).resolve().parents[1])
    output = tmp_path_factory.mktemp("onnx") / "tiny"
    env = {**os.environ, "PYTHONPATH": root, "OMP_WAIT_POLICY": "PASSIVE"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flashsim",
            "export",
            str(tiny_model),
            "--onnx",
            "-o",
            str(output),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    return output, result


class TestCommandLine:
    def test_writes_every_response_model_and_a_manifest(self, exported, tiny_model) -> None:
        output, result = exported
        assert result.returncode == 0, result.stderr
        record = json.loads((tiny_model / "flashsim-model.json").read_text())
        names = [f"{c}.response" for c in record["collections"]]
        names += [f"{c}.fakes.response" for c, e in record["collections"].items() if "fakes" in e]
        for c, e in record["collections"].items():  # further sources, children (a FatJet's)
            names += [f"{c}.{label}.response" for label in e.get("sources", {})]
            names += [f"{c}.children.response"] if "children" in e else []
        names += ["event.response"]
        manifest = json.loads((output / MANIFEST_NAME).read_text())
        assert sorted(manifest["models"]) == sorted(names)
        assert sorted(p.name for p in output.glob("*.onnx")) == sorted(f"{n}.onnx" for n in names)
        assert manifest["flashsim"] == flashsim.__version__
        for name, entry in manifest["models"].items():
            assert name in result.stdout  # the table
            session = onnx_session(output / entry["file"])
            shapes = {i.name: i.shape for i in session.get_inputs()}
            assert shapes == {i["name"]: i["shape"] for i in entry["inputs"]}
            assert entry["outputs"][0]["shape"] == ["batch", len(entry["targets"])]
            assert shapes["context"][1] == len(entry["context"])
            assert entry["check"]["passed"]
            assert entry["check"]["max_rel_diff"] <= entry["check"]["tolerance"]
        jet = manifest["models"]["Jet.response"]
        assert jet["context"][0]["name"] == "pt"
        assert [t["kind"] for t in jet["targets"][:2]] == ["ratio", "diff"]
        assert {"kind": "log", "offset": 0.0} in jet["targets"][0]["transforms"]

    def test_refuses_to_replace_an_export(self, exported, tiny_model) -> None:
        output, _ = exported
        result = CliRunner().invoke(
            flashsim_group, ["export", str(tiny_model), "--onnx", "-o", str(output)]
        )
        assert result.exit_code == 2
        assert "--overwrite" in result.output

    def test_a_failing_check_exits_nonzero(
        self, exported, tiny_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import flashsim.export.bundle_export

        real = flashsim.export.bundle_export.export_onnx

        def broken(model: TorchModel, path: Path, **kwargs: object) -> None:
            real(model, path, **kwargs)
            if "event.response.onnx" in path.name:  # written under a temporary name
                perturb_largest_weight(path)

        monkeypatch.setattr(flashsim.export.bundle_export, "export_onnx", broken)
        output = tmp_path / "broken"
        result = CliRunner().invoke(
            flashsim_group, ["export", str(tiny_model), "--onnx", "-o", str(output), "-q"]
        )
        assert result.exit_code == 2
        last = result.output.strip().splitlines()[-1]
        assert last.startswith("flashsim: error: ONNX export check failed")
        assert "event.response" in last
        manifest = json.loads((output / MANIFEST_NAME).read_text())
        assert not manifest["models"]["event.response"]["check"]["passed"]
        assert manifest["models"]["Jet.response"]["check"]["passed"]

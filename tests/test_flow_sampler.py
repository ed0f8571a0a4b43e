"""The fast flow inverse (flashsim.models.flow_sampler) against zuko's own inverse."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import zuko

from flashsim.models import ConditionalFlow, FlowConfig, flow_sampler
from flashsim.models.flow_sampler import FlowSampler


def _perturbed(flow: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Move the weights away from zuko's near-identity initialisation."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
    return flow


@pytest.mark.parametrize(
    ("kind", "features", "context", "passes", "hidden"),
    [
        ("nsf", 4, 3, 2, [32, 32]),  # coupling spline (the default)
        ("nsf", 4, 3, None, [32]),  # fully autoregressive spline
        ("maf", 5, 2, 2, [16, 16]),  # coupling affine
        ("maf", 3, 2, None, [16]),  # autoregressive affine
        ("nsf", 1, 3, 2, [16]),  # one feature: zuko uses an element-wise transform
        ("nsf", 3, 0, 2, [16]),  # no context
        ("nsf", 7, 5, 2, [16, 16, 16]),  # odd split, three hidden layers
    ],
)
def test_matches_zuko_inverse(
    kind: str,
    features: int,
    context: int,
    passes: int | None,
    hidden: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    torch.manual_seed(0)
    cls = zuko.flows.NSF if kind == "nsf" else zuko.flows.MAF
    flow = _perturbed(
        cls(features, context, transforms=3, passes=passes, hidden_features=hidden), 1
    )
    sampler = FlowSampler(flow, features, context)
    gen = torch.Generator().manual_seed(2)
    z = 1.5 * torch.randn(4000, features, generator=gen)
    c = torch.randn(4000, context, generator=gen) if context else None
    with torch.inference_mode():
        expected = (flow(c) if context else flow()).transform.inv(z)
        got = sampler(z, c)
        # and it is the inverse: mapping back gives z
        back = (flow(c) if context else flow()).transform(got)
    assert torch.isfinite(got).all()
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=2e-4, rtol=1e-4)
    # the tensor-operation path (used when torch traces, e.g. for ONNX) agrees as well
    monkeypatch.setattr(flow_sampler, "_tracing", lambda: True)
    with torch.inference_mode():
        traced_path = sampler(z, c)
    monkeypatch.undo()
    np.testing.assert_allclose(traced_path.numpy(), expected.numpy(), atol=2e-4, rtol=1e-4)
    np.testing.assert_allclose(back.numpy(), z.numpy(), atol=2e-4, rtol=1e-4)
    # values outside the spline's [-5, 5] pass through the identity, as in zuko
    if kind == "nsf":
        far = torch.full((3, features), 9.0)
        cf = torch.zeros(3, context) if context else None
        with torch.inference_mode():
            ref = (flow(cf) if context else flow()).transform.inv(far)
            np.testing.assert_allclose(sampler(far, cf).numpy(), ref.numpy(), atol=1e-4)


def test_conditional_flow_uses_it_and_follows_weight_updates() -> None:
    torch.manual_seed(3)
    flow = ConditionalFlow(3, 2, FlowConfig(transforms=2, hidden=(16,)))
    context = np.random.default_rng(4).standard_normal((500, 2)).astype(np.float32)
    before = flow.sample(context, np.random.default_rng(5))
    assert flow._fast_sampler() is not None
    with torch.no_grad():  # an optimiser step changes the weights in place
        for p in flow.module.parameters():
            p.add_(0.2)
    after = flow.sample(context, np.random.default_rng(5))
    assert not np.allclose(before, after)
    z = torch.from_numpy(np.random.default_rng(5).standard_normal((500, 3), dtype=np.float32))
    with torch.inference_mode():
        expected = flow.module(torch.from_numpy(context)).transform.inv(z).numpy()
    np.testing.assert_allclose(after, expected, atol=2e-4, rtol=1e-4)


def test_spline_kernel_is_independent_of_threads() -> None:
    from flashsim.models.spline_kernel import rqs_inverse

    gen = torch.Generator().manual_seed(7)
    y = 3 * torch.randn(5000, 4, generator=gen)
    phi = torch.randn(5000, 4, 23, generator=gen)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = rqs_inverse(y, phi, 5.0, 1e-3)
        torch.set_num_threads(2)
        two = rqs_inverse(y, phi, 5.0, 1e-3)
    finally:
        torch.set_num_threads(previous)
    assert torch.equal(one, two)
    assert torch.equal(one[y.abs() > 5], y[y.abs() > 5])  # identity outside the bound


def test_kernel_exponential_is_accurate_over_its_range() -> None:
    from flashsim.models.spline_kernel import EXP_RANGE, _exp

    x = np.linspace(-EXP_RANGE, EXP_RANGE, 20001)
    approx = np.array([_exp(v) for v in x])
    np.testing.assert_allclose(approx, np.exp(x), rtol=5e-8, atol=0)


def test_spline_kernel_matches_the_tensor_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from flashsim.models import flow_sampler
    from flashsim.models.spline_kernel import rqs_inverse

    gen = torch.Generator().manual_seed(11)
    y = 3 * torch.randn(4000, 5, generator=gen)
    phi = 2 * torch.randn(4000, 5, 23, generator=gen)
    step = SimpleNamespace(kind="spline", slope=1e-3, bound=5.0, total=23)
    kernel = rqs_inverse(y, phi, 5.0, 1e-3)
    monkeypatch.setattr(flow_sampler, "_tracing", lambda: True)  # as under ONNX export
    # in float64: in float32 the tensor path's quadratic root loses up to 1e-4 to cancellation
    tensor = flow_sampler._Step._invert(step, y.double(), phi.double())
    assert torch.equal(kernel[y.abs() > 5], y[y.abs() > 5])
    np.testing.assert_allclose(kernel.numpy(), tensor.numpy(), rtol=1e-6, atol=1e-6)


def test_spline_kernel_refuses_slopes_beyond_its_exponential() -> None:
    from flashsim.models.spline_kernel import rqs_inverse

    y, phi = torch.zeros(3, 2), torch.zeros(3, 2, 23)
    with pytest.raises(ValueError, match="spline kernel's range"):
        rqs_inverse(y, phi, 5.0, 1e-9)


def test_blocks_of_rows_give_the_same_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large batches go through in blocks of rows; the rows come out as in one block."""
    torch.manual_seed(6)
    flow = _perturbed(zuko.flows.NSF(4, 3, transforms=2, passes=2, hidden_features=[32]), 7)
    sampler = FlowSampler(flow, 4, 3)
    gen = torch.Generator().manual_seed(8)
    z, c = torch.randn(1000, 4, generator=gen), torch.randn(1000, 3, generator=gen)
    with torch.inference_mode():
        whole = sampler(z, c)
        monkeypatch.setattr(flow_sampler, "ROWS_PER_BLOCK", 96)
        blocked = sampler(z, c)
        expected = flow(c).transform.inv(z)
    assert blocked.shape == (1000, 4)
    np.testing.assert_allclose(blocked.numpy(), whole.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(blocked.numpy(), expected.numpy(), atol=2e-4, rtol=1e-4)


def test_spline_kernel_serial_and_parallel_agree() -> None:
    """Small inputs run on one thread (no thread start-up); the values are the same."""
    from flashsim.models import spline_kernel

    gen = torch.Generator().manual_seed(9)
    y = 3 * torch.randn(3000, 3, generator=gen)
    phi = torch.randn(3000, 3, 23, generator=gen)
    assert y.numel() >= spline_kernel.SERIAL_BELOW  # this size runs in parallel
    args = (y.numpy(), phi.numpy(), 8, 5.0, 1e-3)
    np.testing.assert_array_equal(
        spline_kernel._rqs_inverse(*args), spline_kernel._rqs_inverse_serial(*args)
    )
    few = spline_kernel.rqs_inverse(y[:10], phi[:10], 5.0, 1e-3)  # the serial kernel
    np.testing.assert_array_equal(few.numpy(), spline_kernel._rqs_inverse(*args)[:10])


def test_few_rows_run_on_one_thread_with_the_same_values() -> None:
    torch.manual_seed(6)
    flow = _perturbed(zuko.flows.NSF(4, 3, transforms=2, passes=2, hidden_features=[32]), 7)
    sampler = FlowSampler(flow, 4, 3)
    gen = torch.Generator().manual_seed(8)
    n = flow_sampler.ONE_THREAD_BELOW + 200
    z, c = torch.randn(n, 4, generator=gen), torch.randn(n, 3, generator=gen)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.inference_mode():
            many = sampler(z, c)
            seen: list[int] = []
            original = sampler._inverse

            def spy(*args: torch.Tensor) -> torch.Tensor:
                seen.append(torch.get_num_threads())
                return original(*args)

            sampler._inverse = spy  # type: ignore[method-assign]
            few = sampler(z[:100], c[:100])
        assert seen == [1]
        assert torch.get_num_threads() == 2  # restored
    finally:
        torch.set_num_threads(previous)
    np.testing.assert_allclose(few.numpy(), many[:100].numpy(), rtol=1e-6, atol=1e-6)


def test_in_place_and_functional_passes_agree() -> None:
    """Eager CPU sampling writes activations in place; tracing (ONNX) uses the functional twin."""
    torch.manual_seed(4)
    flow = _perturbed(zuko.flows.NSF(5, 3, transforms=3, passes=2, hidden_features=[32, 32]), 5)
    sampler = FlowSampler(flow, 5, 3)
    gen = torch.Generator().manual_seed(2)
    y, c = torch.randn(300, 5, generator=gen), torch.randn(300, 3, generator=gen)
    with torch.inference_mode():
        for step in sampler.steps:
            in_place = step._forward_in_place(y, c)
            functional = step._forward_functional(y, c)
            np.testing.assert_allclose(in_place.numpy(), functional.numpy(), rtol=1e-6, atol=1e-6)

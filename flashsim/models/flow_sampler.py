"""A fast, export-friendly inverse of zuko's masked autoregressive and spline flows.

Sampling a flow maps base noise z through the inverse of each transform. zuko computes that
inverse generically: every pass of a masked autoregressive transform evaluates the whole
conditioner network, builds distribution objects, and takes a softmax over the spline bins
that is slow on the CPU for the small bin dimension. Profiling ``flashsim run`` with the
default model put about 90% of the time there (softmax alone 40%).

:class:`FlowSampler` computes the same inverse from the same weights, once per batch:

* the masked weights ``mask * weight`` are multiplied out once, when the sampler is built;
* the context's contribution to the first layer is computed once per transform and reused by
  every pass (two passes for the coupling structure, one per feature for autoregressive);
* every hidden unit is computed once, in the first pass where all its inputs are known (the
  MADE masks say which), not once per pass;
* each pass evaluates only the output rows of the features it inverts (the last layer is sliced
  per pass) and inverts only those features;
* the spline softmax is written out (``exp / sum``; the unconstrained widths are bounded by
  zuko's soft clamp to ``|w| < -log(slope) / 2``, so no max subtraction is needed), and the
  bin search is a comparison count, as in zuko.

On the CPU the spline inverse runs as one compiled loop (:mod:`flashsim.models.spline_kernel`,
numba); when torch traces it (ONNX export) or on other devices it uses plain tensor operations
(matmul, exp, cumsum, gather, where), which export to ONNX. Both are exact up to float32
rounding: ``tests/test_flow_sampler.py`` compares them with zuko.

References:
    Papamakarios, Pavlakou, Murray, arXiv:1705.07057 (MAF); Durkan, Bekasov, Murray,
    Papamakarios, arXiv:1906.04019 (rational-quadratic spline flows, eq. 4-8 and appendix A.3
    for the inverse); zuko, https://github.com/probabilists/zuko.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

from flashsim.models.spline_kernel import EXP_RANGE, rqs_inverse

__all__ = ["ONE_THREAD_BELOW", "ROWS_PER_BLOCK", "FlowSampler", "UnsupportedFlowError"]

ROWS_PER_BLOCK = 8192
"""Rows per block on the CPU: 80k-row batches ran 1.3x slower per row than 8k-row blocks
(a [128]-unit network's activations of 40k rows are 20 MB, far beyond the caches)."""

ONE_THREAD_BELOW = 1024
"""Rows below which the CPU samples on one thread: each of the hundred-odd operations of a
call wakes the other threads (OpenMP's passive wait policy), which made a 500-row call of the
default muon flow take 15 ms on two threads and 7 ms on one; from about 1,500 rows two threads
are faster."""


class UnsupportedFlowError(ValueError):
    """The zuko flow has a structure :class:`FlowSampler` does not reproduce."""


def _univariate(transform: nn.Module) -> tuple[str, float, float]:
    """(``"spline"`` or ``"affine"``, slope, bound) of a zuko transform's univariate map."""
    from zuko.transforms import MonotonicAffineTransform, MonotonicRQSTransform

    univariate = transform.univariate
    keywords: dict[str, float] = {}
    if isinstance(univariate, functools.partial):
        keywords = dict(univariate.keywords)
        univariate = univariate.func
    if univariate is MonotonicRQSTransform:
        return "spline", float(keywords.get("slope", 1e-3)), float(keywords.get("bound", 5.0))
    if univariate is MonotonicAffineTransform:
        return "affine", float(keywords.get("slope", 1e-3)), math.inf
    msg = f"univariate transform {univariate!r} is not supported by the fast sampler"
    raise UnsupportedFlowError(msg)


def _linear_layers(mlp: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, bias) of an MLP of linear layers separated by ReLU, masks multiplied in."""
    layers: list[tuple[torch.Tensor, torch.Tensor]] = []
    for i, layer in enumerate(mlp):
        if i % 2 == 1:
            if not isinstance(layer, nn.ReLU):
                msg = f"activation {layer!r} is not supported by the fast sampler (ReLU only)"
                raise UnsupportedFlowError(msg)
            continue
        stacked = getattr(layer, "weight", None) is not None and layer.weight.ndim != 2
        if not hasattr(layer, "weight") or stacked or getattr(layer, "bias", None) is None:
            msg = f"layer {layer!r} is not supported by the fast sampler"
            raise UnsupportedFlowError(msg)
        weight = layer.weight.detach()
        mask = getattr(layer, "mask", None)
        if mask is not None:
            weight = weight * mask
        layers.append((weight.clone(), layer.bias.detach().clone()))
    if len(layers) * 2 - 1 != len(mlp):
        msg = "the conditioner network does not end with a linear layer"
        raise UnsupportedFlowError(msg)
    return layers


def _levels(
    layers: list[tuple[torch.Tensor, torch.Tensor]], group_of: torch.Tensor | None
) -> list[torch.Tensor]:
    """Per hidden layer, each unit's level: 0 if it sees the context only, else 1 + the last
    feature group it depends on (through the masked weights; ``group_of``: each feature's)."""
    first_w = layers[0][0]
    if group_of is None:  # element-wise: the context only
        level = torch.zeros(first_w.shape[0], dtype=torch.long)
    else:
        x_w = first_w[:, : len(group_of)] != 0  # (units, features)
        seen = torch.where(x_w, group_of[None, :] + 1, torch.zeros_like(x_w, dtype=torch.long))
        level = seen.max(dim=1).values
    levels = [level]
    for w, _ in layers[1:-1]:
        seen = torch.where(w != 0, levels[-1][None, :], torch.zeros_like(w, dtype=torch.long))
        levels.append(seen.max(dim=1).values)
    return levels


class _Step(nn.Module):
    """The inverse of one zuko transform (masked autoregressive or element-wise).

    Pass ``p`` inverts feature group ``p``, whose parameters depend on the context and the
    groups before it only (MADE masks, Germain et al., arXiv:1502.03509). A hidden unit that
    depends on groups ``< p`` at most keeps its value in every later pass, so each unit is
    computed once, in the pass where its inputs become known: the units are sorted by that
    level when the sampler is built, a pass appends its level's block of each layer, and the
    weights are cut into those blocks. For the coupling structure this halves the work of the
    first pass's network, whose outputs depend on the context alone.
    """

    def __init__(self, transform: nn.Module, n_features: int, n_context: int) -> None:
        super().__init__()
        from zuko.flows.autoregressive import MaskedAutoregressiveTransform
        from zuko.flows.gaussianization import ElementWiseTransform

        self.kind, self.slope, self.bound = _univariate(transform)
        self.total = int(transform.total)
        self.n_features = n_features
        self.n_context = n_context
        if isinstance(transform, MaskedAutoregressiveTransform):
            layers = _linear_layers(transform.hyper)
            order = transform.order.detach().cpu()
            groups = [torch.nonzero(order == p).flatten() for p in range(int(order.max()) + 1)]
            groups = [g for g in groups if len(g)]
            group_of = torch.empty(n_features, dtype=torch.long)
            for p, group in enumerate(groups):
                group_of[group] = p
            self.x_input = True
        elif isinstance(transform, ElementWiseTransform):
            if not hasattr(transform, "hyper"):
                msg = "unconditional element-wise flows are not supported by the fast sampler"
                raise UnsupportedFlowError(msg)
            layers = _linear_layers(transform.hyper)
            groups = [torch.arange(n_features)]
            group_of = None
            self.x_input = False
        else:
            msg = f"transform {type(transform).__name__} is not supported by the fast sampler"
            raise UnsupportedFlowError(msg)
        self.n_groups = len(groups)
        levels = _levels(layers, group_of)
        # Units sorted by level; bounds[l][p]:bounds[l][p + 1] are layer l's units of pass p
        # (units of a level beyond the last pass feed no output and are left out).
        orders = [torch.argsort(level, stable=True) for level in levels]
        self.bounds = [
            [int((level < p).sum()) for p in range(self.n_groups + 1)] for level in levels
        ]
        first_w, first_b = layers[0]
        first_w, first_b = first_w[orders[0]], first_b[orders[0]]
        if self.x_input:
            # zuko concatenates (x, c): split the first layer into its x and c columns.
            self.register_buffer("w_c", first_w[:, n_features:].t().contiguous())
        else:
            self.register_buffer("w_c", first_w.t().contiguous())
        self.register_buffer("b_first", first_b)
        self.n_hidden = len(layers) - 2
        for p in range(self.n_groups):
            lo, hi = self.bounds[0][p], self.bounds[0][p + 1]
            if self.x_input:
                self.register_buffer(f"w_x_{p}", first_w[lo:hi, :n_features].t().contiguous())
            for i, (w, b) in enumerate(layers[1:-1]):
                lo, hi = self.bounds[i + 1][p], self.bounds[i + 1][p + 1]
                seen = self.bounds[i][p + 1]
                w = w[orders[i + 1]][:, orders[i]]
                self.register_buffer(f"w_h{i}_{p}", w[lo:hi, :seen].t().contiguous())
                self.register_buffer(f"b_h{i}_{p}", b[orders[i + 1]][lo:hi].contiguous())
        last_w, last_b = layers[-1]
        last_w = last_w[:, orders[-1]]
        for p, group in enumerate(groups):
            rows = (group[:, None] * self.total + torch.arange(self.total)).flatten()
            seen = self.bounds[-1][p + 1]
            self.register_buffer(f"w_out{p}", last_w[rows, :seen].t().contiguous())
            self.register_buffer(f"b_out{p}", last_b[rows])
            self.register_buffer(f"idx{p}", group)

    def _buffer(self, name: str) -> torch.Tensor:
        return self.get_buffer(name)

    def forward(self, y: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        if _eager_cpu(y):
            return self._forward_in_place(y, context)
        return self._forward_functional(y, context)

    def _forward_in_place(self, y: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        n = y.shape[0]
        widths = [bounds[self.n_groups] for bounds in self.bounds]
        # Each layer's activations fill one buffer, block after block (a pass writes its units'
        # columns with ``out=``; BLAS reads and writes the column slices in place), instead of
        # concatenating the blocks of every pass.
        if context is not None and self.n_context > 0:
            first = torch.addmm(self.b_first[: widths[0]], context, self.w_c[:, : widths[0]])
        else:
            first = self.b_first[: widths[0]].expand(n, -1).clone()
        hidden = [first] + [y.new_empty((n, width)) for width in widths[1:]]
        x = torch.zeros_like(y) if self.n_groups > 1 else y
        for p in range(self.n_groups):
            for layer in range(self.n_hidden + 1):
                lo, hi = self.bounds[layer][p], self.bounds[layer][p + 1]
                if hi == lo:
                    continue
                block = hidden[layer][:, lo:hi]
                if layer == 0:
                    if self.x_input and p > 0:
                        block.addmm_(x, self._buffer(f"w_x_{p}"))
                else:
                    i = layer - 1
                    weight, bias = self._buffer(f"w_h{i}_{p}"), self._buffer(f"b_h{i}_{p}")
                    seen = self.bounds[i][p + 1]
                    if seen == 0:  # units without inputs (all weights masked)
                        block.copy_(bias.expand(n, -1))
                    else:
                        torch.addmm(bias, hidden[i][:, :seen], weight, out=block)
                block.relu_()
            seen = self.bounds[-1][p + 1]
            if seen == 0:  # no unit feeds this group: its parameters are the biases
                phi = self._buffer(f"b_out{p}").expand(n, -1)
            else:
                phi = torch.addmm(
                    self._buffer(f"b_out{p}"), hidden[-1][:, :seen], self._buffer(f"w_out{p}")
                )
            idx = self._buffer(f"idx{p}")
            phi = phi.reshape(n, idx.shape[0], self.total)
            x_p = self._invert(y.index_select(1, idx), phi)
            if self.n_groups == 1:
                return x_p
            x.index_copy_(1, idx, x_p)
        return x

    def _forward_functional(self, y: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        """The same computation without in-place writes into views, which tracing (ONNX
        export) does not follow: each pass's blocks are concatenated."""
        n = y.shape[0]
        if context is not None and self.n_context > 0:
            base = torch.addmm(self.b_first, context, self.w_c)
        else:
            base = self.b_first.expand(n, -1)
        hidden: list[torch.Tensor | None] = [None] * (self.n_hidden + 1)
        x = torch.zeros_like(y)
        for p in range(self.n_groups):
            for layer in range(self.n_hidden + 1):
                lo, hi = self.bounds[layer][p], self.bounds[layer][p + 1]
                if hi == lo:
                    continue
                if layer == 0:
                    block = base[:, lo:hi]
                    if self.x_input and p > 0:
                        block = torch.addmm(block, x, self._buffer(f"w_x_{p}"))
                    block = torch.relu(block)
                else:
                    below = hidden[layer - 1]
                    i = layer - 1
                    weight, bias = self._buffer(f"w_h{i}_{p}"), self._buffer(f"b_h{i}_{p}")
                    if below is None:  # units without inputs (all weights masked)
                        block = torch.relu(bias).expand(n, -1)
                    else:
                        block = torch.addmm(bias, below, weight).relu()
                done = hidden[layer]
                hidden[layer] = block if done is None else torch.cat((done, block), dim=1)
            last = hidden[-1]
            if last is None:  # no unit feeds this group: its parameters are the biases
                phi = self._buffer(f"b_out{p}").expand(n, -1)
            else:
                phi = torch.addmm(self._buffer(f"b_out{p}"), last, self._buffer(f"w_out{p}"))
            idx = self._buffer(f"idx{p}")
            phi = phi.reshape(n, idx.shape[0], self.total)
            x_p = self._invert(y.index_select(1, idx), phi)
            if self.n_groups == 1:
                return x_p
            x = x.index_copy(1, idx, x_p)
        return x

    def _invert(self, y: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        log_slope = math.log(self.slope)
        if self.kind == "affine":
            shift, scale = phi[..., 0], phi[..., 1]
            log_scale = scale / (1 + torch.abs(scale / log_slope))
            return (y - shift) * torch.exp(-log_scale)
        if _eager_cpu(y) and -log_slope <= EXP_RANGE:
            return rqs_inverse(y.detach(), phi.detach(), self.bound, self.slope)
        bins = (self.total + 1) // 3
        widths = phi[..., :bins]
        heights = phi[..., bins : 2 * bins]
        derivatives = phi[..., 2 * bins :]
        bound = self.bound
        knots_x = _knots(widths / (1 + torch.abs(2 * widths / log_slope)), bound)
        knots_y = _knots(heights / (1 + torch.abs(2 * heights / log_slope)), bound)
        d = torch.exp(derivatives / (1 + torch.abs(derivatives / log_slope)))
        ones = torch.ones_like(d[..., :1])
        d = torch.cat((ones, d, ones), dim=-1)
        k = (knots_y < y.unsqueeze(-1)).sum(dim=-1, keepdim=True) - 1
        inside = (k >= 0) & (k < bins)
        k0 = k.clamp(0, bins - 1)
        k1 = k0 + 1
        x0, x1 = knots_x.gather(-1, k0), knots_x.gather(-1, k1)
        y0, y1 = knots_y.gather(-1, k0), knots_y.gather(-1, k1)
        d0, d1 = d.gather(-1, k0), d.gather(-1, k1)
        s = (y1 - y0) / (x1 - x0)
        y_ = (y.unsqueeze(-1) - y0) * inside
        a = (y1 - y0) * (s - d0) + y_ * (d0 + d1 - 2 * s)
        b = (y1 - y0) * d0 - y_ * (d0 + d1 - 2 * s)
        c = -s * y_
        z = 2 * c / (-b - torch.sqrt(b * b - 4 * a * c))
        x = x0 + z * (x1 - x0)
        return torch.where(inside, x, y.unsqueeze(-1)).squeeze(-1)


def _tracing() -> bool:
    """Whether torch is tracing or compiling (ONNX export): use tensor operations then."""
    return bool(torch.jit.is_tracing() or torch.compiler.is_compiling())


def _eager_cpu(tensor: torch.Tensor) -> bool:
    """Whether ``tensor`` is on the CPU outside tracing: where the in-place passes, the spline
    kernel, the row blocks and the one-thread small calls apply."""
    return tensor.device.type == "cpu" and not _tracing()


def _knots(unconstrained: torch.Tensor, bound: float) -> torch.Tensor:
    """Knot positions ``bound * (2 * cumsum(softmax) - 1)`` with a leading ``-bound``."""
    e = torch.exp(unconstrained)
    cum = torch.cumsum(e, dim=-1) / e.sum(dim=-1, keepdim=True)
    start = torch.zeros_like(cum[..., :1])
    return bound * (2 * torch.cat((start, cum), dim=-1) - 1)


class FlowSampler(nn.Module):
    """x = f^{-1}(z; c) for a zuko ``MAF``/``NSF`` module, computed from copies of its weights.

    Arguments:
        flow: the zuko flow (``zuko.flows.MAF`` or ``zuko.flows.NSF``, ReLU conditioners).
        n_features: the width of x and z.
        n_context: the width of the context (0 for none).

    Raises:
        UnsupportedFlowError: the flow has a structure this sampler does not reproduce; use
            zuko's own inverse then.

    Example:
        >>> import torch, zuko
        >>> flow = zuko.flows.NSF(3, 2, transforms=2, passes=2)
        >>> sampler = FlowSampler(flow, 3, 2)
        >>> z, c = torch.randn(5, 3), torch.randn(5, 2)
        >>> bool(torch.allclose(sampler(z, c), flow(c).transform.inv(z), atol=1e-5))
        True
    """

    def __init__(self, flow: nn.Module, n_features: int, n_context: int) -> None:
        super().__init__()
        base = flow.base
        loc = getattr(base, "loc", None)
        scale = getattr(base, "scale", None)
        if loc is None or scale is None:
            msg = "the flow's base is not a diagonal normal with buffers"
            raise UnsupportedFlowError(msg)
        self.register_buffer("loc", loc.detach().clone())
        self.register_buffer("scale", scale.detach().clone())
        transforms = list(flow.transform.transforms)
        # Sampling inverts the last transform first.
        self.steps = nn.ModuleList(_Step(t, n_features, n_context) for t in reversed(transforms))
        self.n_context = n_context

    def forward(self, z: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """x for standard-normal noise ``z`` (``(n, n_features)``) and ``context``.

        On the CPU the rows go through in blocks of :data:`ROWS_PER_BLOCK`, so that each
        transform's hidden activations stay in the cache (the result is the same row by row),
        and fewer than :data:`ONE_THREAD_BELOW` rows on one thread.
        """
        n = z.shape[0]
        eager = _eager_cpu(z)
        if n < ONE_THREAD_BELOW and eager:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                return self._inverse(z, context)
            finally:
                torch.set_num_threads(threads)
        if n <= ROWS_PER_BLOCK or not eager:
            return self._inverse(z, context)
        blocks = []
        for start in range(0, n, ROWS_PER_BLOCK):
            rows = slice(start, start + ROWS_PER_BLOCK)
            blocks.append(self._inverse(z[rows], None if context is None else context[rows]))
        return torch.cat(blocks)

    def _inverse(self, z: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        x = z * self.scale + self.loc
        c = context if self.n_context > 0 else None
        for step in self.steps:
            x = step(x, c)
        return x

"""Normalization: layer norm, batch norm (training with running statistics, and inference), group norm.

Each returns the same tuple as the ATen op (the output and the saved mean and
reciprocal standard deviation, plus the new running statistics for the functional
batch norm), so the exported graph's ``getitem``s pick what they need. Gradients
come from autodiff through the mean and variance, which is the same function as
torch's hand-written batch/layer-norm backward.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from graphc.frontend.torch_import.lowering.reductions import count, mean_node
from graphc.frontend.torch_import.lowering.table import LoweringContext, lowers
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node

aten = torch.ops.aten
KIND = "normalization"


def _computed(x: Node) -> Node:
    """``x`` in the dtype torch computes a normalization in: float32 for float16 and bfloat16 (the
    statistics of half-precision values would lose most of their digits)."""
    return b.cast(x, dtypes.float32) if x.dtype in (dtypes.float16, dtypes.bfloat16) else x


def _as_torch_gives(ctx: LoweringContext, results: tuple[Node, ...]) -> tuple[Node, ...]:
    """The results in the dtypes torch records: the input's for the output and the saved statistics,
    float32 for the new running statistics of a half-precision batch norm."""
    return tuple(b.cast(r, ctx.out_dtype(i)) for i, r in enumerate(results))


def _statistics(x: Node, axes: tuple[int, ...], eps: float) -> tuple[Node, Node, Node]:
    """Mean and biased variance over ``axes`` (kept), and rsqrt(var + eps)."""
    mean = mean_node(x, axes, True)
    centered = b.sub(x, b.expand(mean, x.shape))
    var = b.div(b.reduce("sum", b.mul(centered, centered), axes, True), count(x, axes, x.dtype))
    return mean, var, b.unary("rsqrt", b.add(var, eps))


def _affine(out: Node, weight: Node | None, bias: Node | None, shape: tuple) -> Node:
    if weight is not None:
        out = b.mul(out, b.reshape(weight, shape))
    if bias is not None:
        out = b.add(out, b.reshape(bias, shape))
    return out


@lowers(KIND, aten.native_layer_norm.default)
def native_layer_norm(
    ctx: LoweringContext, x: Node, normalized_shape: Sequence[int], weight: Node | None, bias: Node | None, eps: float
) -> tuple[Node, Node, Node]:
    x = _computed(x)
    axes = tuple(range(x.type.ndim - len(normalized_shape), x.type.ndim))
    mean, _, rstd = _statistics(x, axes, eps)
    normalized = b.mul(b.sub(x, b.expand(mean, x.shape)), b.expand(rstd, x.shape))
    return _as_torch_gives(ctx, (_affine(normalized, weight, bias, tuple(x.shape[axes[0] :])), mean, rstd))


def _channel_shape(x: Node) -> tuple:
    """Per-channel values broadcast over [N, C, ...]."""
    return (1, x.shape[1]) + (1,) * (x.type.ndim - 2)


def _batch_norm(x: Node, weight: Node | None, bias: Node | None, mean: Node, invstd: Node) -> Node:
    shape = _channel_shape(x)
    centered = b.sub(x, b.broadcast_to(b.reshape(mean, shape), x.shape))
    return _affine(b.mul(centered, b.broadcast_to(b.reshape(invstd, shape), x.shape)), weight, bias, shape)


def _batch_statistics(x: Node, eps: float) -> tuple[Node, Node, Node, tuple[int, ...]]:
    axes = tuple(i for i in range(x.type.ndim) if i != 1)
    mean, var, invstd = _statistics(x, axes, eps)
    channels = (x.shape[1],)
    return b.reshape(mean, channels), b.reshape(var, channels), b.reshape(invstd, channels), axes


@lowers(KIND, aten._native_batch_norm_legit_functional.default)
def batch_norm_functional(
    ctx: LoweringContext,
    x: Node,
    weight: Node | None,
    bias: Node | None,
    running_mean: Node,
    running_var: Node,
    training: bool,
    momentum: float,
    eps: float,
) -> tuple[Node, ...]:
    """Returns (out, save_mean, save_invstd, new_running_mean, new_running_var)."""
    if not training:
        out, mean, invstd = _inference(x, weight, bias, running_mean, running_var, eps)
        return _as_torch_gives(ctx, (out, mean, invstd, running_mean, running_var))
    x = _computed(x)
    mean, var, invstd, axes = _batch_statistics(x, eps)
    out = _batch_norm(x, weight, bias, mean, invstd)
    # As torch: the running variance is updated with the unbiased batch variance.
    n = count(x, axes, var.dtype)
    unbiased = b.mul(var, n / (n - 1)) if isinstance(n, float) else b.mul(var, b.div(n, b.sub(n, 1.0)))
    running = ctx.out_dtype(3)
    new_mean = b.add(b.mul(b.cast(running_mean, running), 1.0 - momentum), b.mul(b.cast(mean, running), momentum))
    new_var = b.add(b.mul(b.cast(running_var, running), 1.0 - momentum), b.mul(b.cast(unbiased, running), momentum))
    return _as_torch_gives(ctx, (out, mean, invstd, new_mean, new_var))


@lowers(KIND, aten._native_batch_norm_legit.no_stats)
def batch_norm_no_stats(ctx: LoweringContext, x: Node, weight: Node | None, bias: Node | None, training: bool, momentum: float, eps: float) -> tuple[Node, ...]:
    mean, _, invstd, _ = _batch_statistics(_computed(x), eps)
    return _as_torch_gives(ctx, (_batch_norm(_computed(x), weight, bias, mean, invstd), mean, invstd))


@lowers(KIND, aten._native_batch_norm_legit_no_training.default)
def batch_norm_inference(
    ctx: LoweringContext, x: Node, weight: Node | None, bias: Node | None, running_mean: Node, running_var: Node, momentum: float, eps: float
) -> tuple[Node, Node, Node]:
    return _as_torch_gives(ctx, _inference(x, weight, bias, running_mean, running_var, eps))


def _inference(x: Node, weight: Node | None, bias: Node | None, running_mean: Node, running_var: Node, eps: float) -> tuple[Node, Node, Node]:
    """Batch norm with the running statistics: (out, and two empty saved statistics, as torch)."""
    invstd = b.unary("rsqrt", b.add(_computed(running_var), eps))
    out = _batch_norm(_computed(x), weight, bias, running_mean, invstd)
    empty = b.full((0,), 0, x.dtype)
    return out, empty, empty


@lowers(KIND, aten.native_group_norm.default)
def native_group_norm(
    ctx: LoweringContext, x: Node, weight: Node | None, bias: Node | None, n: Any, c: Any, hw: Any, group: int, eps: float
) -> tuple[Node, Node, Node]:
    """Returns (out, mean [N, G], rstd [N, G])."""
    x = _computed(x)
    batch, channels = x.shape[0], x.shape[1]
    per_group = channels // group
    for d in x.shape[2:]:
        per_group = per_group * d
    grouped = b.reshape(x, (batch, group, per_group))
    mean, _, rstd = _statistics(grouped, (2,), eps)
    normalized = b.mul(b.sub(grouped, b.expand(mean, grouped.shape)), b.expand(rstd, grouped.shape))
    out = _affine(b.reshape(normalized, x.shape), weight, bias, _channel_shape(x))
    return _as_torch_gives(ctx, (out, b.reshape(mean, (batch, group)), b.reshape(rstd, (batch, group))))

"""Sliding windows: ``unfold`` (im2col) and its adjoint ``fold`` (col2im).

Convolution is ``unfold`` followed by a matmul, and pooling is ``unfold``
followed by a reduction, so these two linear primitives are all that autodiff,
fusion and the code generators need to know about windows. Their semantics are
``torch.nn.functional.unfold``/``fold``'s, generalised from 2 spatial dimensions
(NCHW) to any number: ``[N, C, *spatial]`` with every window attribute a tuple of
one int per spatial dimension, kernel offsets and windows both in row-major order
(docs/decisions.md, "Rank-generic windows").
"""

from __future__ import annotations

import math

from graphc.ir.graph import Node
from graphc.ir.registry import defvjp, emit, primitive
from graphc.ir.types import Dim, TensorType, TypeRuleError

WINDOW_ATTRS = ("kernel_size", "dilation", "padding", "stride")


def _blocks(size: Dim, kernel: int, dilation: int, padding: int, stride: int) -> Dim:
    span = dilation * (kernel - 1) + 1
    if isinstance(size, int) and size + 2 * padding < span:
        raise TypeRuleError(f"the window ({span}) is larger than the padded input ({size + 2 * padding})")
    return (size + 2 * padding - span) // stride + 1


def _check_tuples(rank: int, **values: tuple[int, ...]) -> None:
    """Every window attribute holds one int per spatial dimension."""
    if rank < 1:
        raise TypeRuleError(f"expects at least one spatial dimension, got {rank}")
    for name, value in values.items():
        if not isinstance(value, (tuple, list)) or len(value) != rank or any(not isinstance(v, int) for v in value):
            raise TypeRuleError(f"{name} must be a tuple of {rank} ints (one per spatial dimension), got {value!r}")


def _window_count(sizes: tuple[Dim, ...], kernel_size: tuple, dilation: tuple, padding: tuple, stride: tuple) -> Dim:
    count: Dim = 1
    for args in zip(sizes, kernel_size, dilation, padding, stride):
        count = count * _blocks(*args)
    return count


@primitive("unfold", "window", attrs=(*WINDOW_ATTRS, "pad_value"))
def unfold_rule(x: TensorType, kernel_size: tuple, dilation: tuple, padding: tuple, stride: tuple, pad_value: float) -> TensorType:
    """[N, C, *spatial] -> [N, C*prod(kernel), L]: every window as a column (padding filled with ``pad_value``)"""
    _check_tuples(x.ndim - 2, kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride)
    n, c, *sizes = x.shape
    length = _window_count(tuple(sizes), kernel_size, dilation, padding, stride)
    return TensorType((n, c * math.prod(kernel_size), length), x.dtype)


@primitive("fold", "window", attrs=("output_size", *WINDOW_ATTRS))
def fold_rule(cols: TensorType, output_size: tuple, kernel_size: tuple, dilation: tuple, padding: tuple, stride: tuple) -> TensorType:
    """[N, C*prod(kernel), L] -> [N, C, *output_size]: sum every column back into its window (the adjoint of unfold)"""
    if cols.ndim != 3:
        raise TypeRuleError(f"expects a 3-d [N, C*prod(kernel_size), L] input, got {cols.ndim}-d")
    _check_tuples(len(output_size), output_size=output_size, kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride)
    n, ckk, length = cols.shape
    window = math.prod(kernel_size)
    if isinstance(ckk, int) and ckk % window:
        raise TypeRuleError(f"dimension 1 ({ckk}) must be divisible by the window size {window}")
    blocks = _window_count(output_size, kernel_size, dilation, padding, stride)
    if isinstance(length, int) and length != blocks:
        raise TypeRuleError(f"expected {blocks} blocks for output size {output_size}, got {length}")
    return TensorType((n, ckk // window, *output_size), cols.dtype)


def _window(attrs: dict) -> dict:
    return {k: attrs[k] for k in WINDOW_ATTRS}


@defvjp("unfold")
def unfold_vjp(node: Node, g: Node) -> tuple:
    x = node.inputs[0]
    return (emit("fold", g, output_size=tuple(x.shape[2:]), **_window(node.attrs)),)


@defvjp("fold")
def fold_vjp(node: Node, g: Node) -> tuple:
    return (emit("unfold", g, pad_value=0.0, **_window(node.attrs)),)

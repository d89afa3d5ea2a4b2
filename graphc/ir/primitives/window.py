"""Sliding windows: ``unfold`` (im2col) and its adjoint ``fold`` (col2im).

Convolution is ``unfold`` followed by a matmul, and pooling is ``unfold``
followed by a reduction, so these two linear primitives are all that autodiff,
fusion and the code generators need to know about windows. Their semantics are
``torch.nn.functional.unfold``/``fold`` for 4-d NCHW tensors.
"""

from __future__ import annotations

from graphc.ir.graph import Node
from graphc.ir.registry import defvjp, emit, primitive
from graphc.ir.types import Dim, TensorType, TypeRuleError

WINDOW_ATTRS = ("kernel_size", "dilation", "padding", "stride")


def _blocks(size: Dim, kernel: int, dilation: int, padding: int, stride: int) -> Dim:
    span = dilation * (kernel - 1) + 1
    if isinstance(size, int) and size + 2 * padding < span:
        raise TypeRuleError(f"the window ({span}) is larger than the padded input ({size + 2 * padding})")
    return (size + 2 * padding - span) // stride + 1


def _check_pairs(**pairs: tuple[int, int]) -> None:
    for name, value in pairs.items():
        if len(value) != 2 or any(not isinstance(v, int) for v in value):
            raise TypeRuleError(f"{name} must be a pair of ints, got {value!r}")


@primitive("unfold", "window", attrs=(*WINDOW_ATTRS, "pad_value"))
def unfold_rule(x: TensorType, kernel_size: tuple, dilation: tuple, padding: tuple, stride: tuple, pad_value: float) -> TensorType:
    """[N, C, H, W] -> [N, C*kh*kw, L]: every window as a column (padding filled with ``pad_value``)"""
    _check_pairs(kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride)
    if x.ndim != 4:
        raise TypeRuleError(f"expects a 4-d [N, C, H, W] input, got {x.ndim}-d")
    n, c, h, w = x.shape
    rows = _blocks(h, kernel_size[0], dilation[0], padding[0], stride[0])
    cols = _blocks(w, kernel_size[1], dilation[1], padding[1], stride[1])
    return TensorType((n, c * kernel_size[0] * kernel_size[1], rows * cols), x.dtype)


@primitive("fold", "window", attrs=("output_size", *WINDOW_ATTRS))
def fold_rule(cols: TensorType, output_size: tuple, kernel_size: tuple, dilation: tuple, padding: tuple, stride: tuple) -> TensorType:
    """[N, C*kh*kw, L] -> [N, C, H, W]: sum every column back into its window (the adjoint of unfold)"""
    _check_pairs(output_size=output_size, kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride)
    if cols.ndim != 3:
        raise TypeRuleError(f"expects a 3-d [N, C*kh*kw, L] input, got {cols.ndim}-d")
    n, ckk, length = cols.shape
    window = kernel_size[0] * kernel_size[1]
    if isinstance(ckk, int) and ckk % window:
        raise TypeRuleError(f"dimension 1 ({ckk}) must be divisible by the window size {window}")
    rows = _blocks(output_size[0], kernel_size[0], dilation[0], padding[0], stride[0])
    columns = _blocks(output_size[1], kernel_size[1], dilation[1], padding[1], stride[1])
    if isinstance(length, int) and length != rows * columns:
        raise TypeRuleError(f"expected {rows * columns} blocks for output size {output_size}, got {length}")
    return TensorType((n, ckk // window, output_size[0], output_size[1]), cols.dtype)


def _window(attrs: dict) -> dict:
    return {k: attrs[k] for k in WINDOW_ATTRS}


@defvjp("unfold")
def unfold_vjp(node: Node, g: Node) -> tuple:
    x = node.inputs[0]
    return (emit("fold", g, output_size=tuple(x.shape[2:]), **_window(node.attrs)),)


@defvjp("fold")
def fold_vjp(node: Node, g: Node) -> tuple:
    return (emit("unfold", g, pad_value=0.0, **_window(node.attrs)),)

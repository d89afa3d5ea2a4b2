"""The functional ops torch also exposes at its top level (``torch.conv2d``, ``torch.batch_norm``, ...),
with the ATen signatures those names have there, over graphc's ``nn.functional`` and ``linalg``.

Some differ from their ``F.*`` namesakes: ``torch.dropout(input, p, train)`` has no defaults,
``torch.batch_norm`` takes the weight before the running statistics, losses take ATen's integer
``reduction`` (1 mean, 2 sum, any other value none, as ATen's ``apply_loss_reduction``; torch's
Python binding of these names defaults it to none, not to the schema's mean, and graphc follows
what torch does), ``torch.embedding`` takes the weight first and ``-1`` for no
padding index, ``torch.adaptive_max_pool1d`` always returns the indices too, ``grid_sampler`` takes
integer modes. ``PLAIN`` holds the names whose signature is the functional one; the adapters
below translate the rest. The ``*_copy`` ops are their view ops: a graphc tensor is a value, so
a view already shares nothing that a later write could change (docs/decisions.md).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from graphc import linalg
from graphc.errors import GraphcError
from graphc.frontend import functional as TF
from graphc.frontend import manipulation, splitting
from graphc.ir import build as b
from graphc.runtime.nn import functional as F
from graphc.runtime.nn.rnn import rnn_cell
from graphc.runtime.tensor import Tensor

_REDUCTIONS = {1: "mean", 2: "sum"}
_INTERPOLATION = {0: "bilinear", 1: "nearest", 2: "bicubic"}
_PADDING = {0: "zeros", 1: "border", 2: "reflection"}


def _reduction(reduction: int) -> str:
    return _REDUCTIONS.get(reduction, "none")


def dropout(input: Tensor, p: float, train: bool) -> Tensor:
    return F.dropout(input, p, train)


def alpha_dropout(input: Tensor, p: float, train: bool) -> Tensor:
    return F.alpha_dropout(input, p, train)


def feature_alpha_dropout(input: Tensor, p: float, train: bool) -> Tensor:
    return F.feature_alpha_dropout(input, p, train)


def feature_dropout(input: Tensor, p: float, train: bool) -> Tensor:
    """Whole channels (dimension 1) zeroed with probability ``p``, the rest scaled by ``1 / (1 - p)``, for any rank >= 2."""
    if input.ndim < 2:
        raise ValueError(f"feature_dropout: expected an input of at least 2 dimensions (batch, channels, ...), got {input.ndim}")
    if not train or p == 0:
        return input
    noise_shape = (input.shape[0], input.shape[1]) + (1,) * (input.ndim - 2)
    return input * F.dropout(TF.wrap(b.full(noise_shape, 1.0, input.dtype)), p, True)


def embedding(weight: Tensor, indices: Tensor, padding_idx: int = -1, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    return F.embedding(indices, weight, None if padding_idx < 0 else padding_idx, scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


def batch_norm(
    input: Tensor, weight: Tensor | None, bias: Tensor | None, running_mean: Tensor | None, running_var: Tensor | None,
    training: bool, momentum: float, eps: float, cudnn_enabled: bool,
) -> Tensor:
    return F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(
    input: Tensor, weight: Tensor | None, bias: Tensor | None, running_mean: Tensor | None, running_var: Tensor | None,
    use_input_stats: bool, momentum: float, eps: float, cudnn_enabled: bool,
) -> Tensor:
    return F.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)


def layer_norm(
    input: Tensor, normalized_shape: Sequence[int], weight: Tensor | None = None, bias: Tensor | None = None, eps: float = 1e-5, cudnn_enable: bool = True
) -> Tensor:
    return F.layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(
    input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None, eps: float = 1e-5, cudnn_enabled: bool = True
) -> Tensor:
    return F.group_norm(input, num_groups, weight, bias, eps)


def adaptive_max_pool1d(input: Tensor, output_size: Any) -> tuple[Tensor, Tensor]:
    return F.adaptive_max_pool1d(input, output_size, return_indices=True)


def max_pool1d_with_indices(
    input: Tensor, kernel_size: Any, stride: Any = (), padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False
) -> tuple[Tensor, Tensor]:
    return F.max_pool1d(input, kernel_size, stride or None, padding, dilation, ceil_mode, return_indices=True)


def _pool(name: str) -> Any:
    pool = getattr(F, name)

    def adapter(input: Tensor, kernel_size: Any, stride: Any = (), padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False) -> Tensor:
        return pool(input, kernel_size, stride or None, padding, dilation, ceil_mode)

    adapter.__name__ = adapter.__qualname__ = name
    adapter.__doc__ = f"torch.{name}: ``stride=[]`` (ATen's default) is the kernel size; no indices (max_pool1d_with_indices has them)."
    return adapter


def avg_pool1d(input: Tensor, kernel_size: Any, stride: Any = (), padding: Any = 0, ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    return F.avg_pool1d(input, kernel_size, stride or None, padding, ceil_mode, count_include_pad)


def constant_pad_nd(input: Tensor, pad: Sequence[int], value: float = 0) -> Tensor:
    return F.pad(input, pad, "constant", value)


def rrelu(input: Tensor, lower: float = 0.125, upper: float = 1.0 / 3.0, training: bool = False, generator: Any = None) -> Tensor:
    if generator is not None:
        raise ValueError("rrelu: generator= is not supported; graphc.manual_seed seeds its draws")
    return F.rrelu(input, lower, upper, training)


def kl_div(input: Tensor, target: Tensor, reduction: int = 0, *, log_target: bool = False) -> Tensor:
    return F.kl_div(input, target, reduction=_reduction(reduction), log_target=log_target)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0, reduction: int = 0) -> Tensor:
    return F.margin_ranking_loss(input1, input2, target, margin, reduction=_reduction(reduction))


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, reduction: int = 0) -> Tensor:
    return F.hinge_embedding_loss(input, target, margin, reduction=_reduction(reduction))


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0, reduction: int = 0) -> Tensor:
    return F.cosine_embedding_loss(input1, input2, target, margin, reduction=_reduction(reduction))


def triplet_margin_loss(
    anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False, reduction: int = 0
) -> Tensor:
    return F.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction=_reduction(reduction))


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool, full: bool, eps: float, reduction: int) -> Tensor:
    return F.poisson_nll_loss(input, target, log_input, full, eps=eps, reduction=_reduction(reduction))


def ctc_loss(
    log_probs: Tensor, targets: Tensor, input_lengths: Any, target_lengths: Any, blank: int = 0, reduction: int = 0, zero_infinity: bool = False
) -> Tensor:
    return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, _reduction(reduction), zero_infinity)


def binary_cross_entropy_with_logits(
    input: Tensor, target: Tensor, weight: Tensor | None = None, pos_weight: Tensor | None = None, reduction: int = 0
) -> Tensor:
    return F.binary_cross_entropy_with_logits(input, target, weight, reduction=_reduction(reduction), pos_weight=pos_weight)


def _cell(mode: str) -> Any:
    def cell(input: Tensor, hx: Any, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> Any:
        return rnn_cell(mode, F.linear(input, w_ih, b_ih), tuple(hx) if mode == "LSTM" else hx, w_hh, b_hh)

    name = {"LSTM": "lstm_cell", "GRU": "gru_cell", "RNN_TANH": "rnn_tanh_cell", "RNN_RELU": "rnn_relu_cell"}[mode]
    cell.__name__ = cell.__qualname__ = name
    cell.__doc__ = f"torch.{name}: one step of the cell from its weights (``hx`` is (h, c) for the LSTM), as the nn cell modules compute it."
    return cell


def frobenius_norm(input: Tensor, dim: Sequence[int] | int, keepdim: bool = False) -> Tensor:
    warnings.warn("graphc.frobenius_norm is deprecated, as torch's: use graphc.linalg.vector_norm(A, 2., dim, keepdim)", UserWarning, stacklevel=2)
    return linalg.vector_norm(input, 2, dim, keepdim)


def nuclear_norm(input: Tensor, dim: Any = None, keepdim: Any = False) -> Tensor:
    """torch's two overloads: ``nuclear_norm(x, keepdim=False)`` of a matrix and ``nuclear_norm(x, dim, keepdim)``."""
    warnings.warn("graphc.nuclear_norm is deprecated, as torch's: use graphc.linalg.matrix_norm(A, 'nuc', dim, keepdim)", UserWarning, stacklevel=2)
    if isinstance(dim, bool):  # nuclear_norm(x, True): the keepdim of the first overload
        dim, keepdim = None, dim
    return linalg.matrix_norm(input, "nuc", (-2, -1) if dim is None else tuple(dim), keepdim)


def grid_sampler(input: Tensor, grid: Tensor, interpolation_mode: int, padding_mode: int, align_corners: bool) -> Tensor:
    return F.grid_sample(input, grid, _INTERPOLATION[interpolation_mode], _PADDING[padding_mode], align_corners)


def affine_grid_generator(theta: Tensor, size: Sequence[int], align_corners: bool) -> Tensor:
    return F.affine_grid(theta, size, align_corners)


def rsub(input: Tensor, other: Any, alpha: Any = 1) -> Tensor:
    """``other - alpha * input``."""
    return TF.sub(other, input, alpha=alpha)


# ------------------------------------------------------------------ the *_copy ops: their view op


def view_copy(input: Tensor, size: Any) -> Tensor:
    """``view_copy(x, size)`` reshapes; torch's ``view_copy(x, dtype)`` reinterprets the bits, which graphc has no op for."""
    if not isinstance(size, (int, list, tuple)):
        raise GraphcError(f"view_copy(x, {size!r}): reinterpreting a tensor's bits as another dtype is not supported in graphc; convert with .to(dtype)")
    return (input.view(size) if isinstance(size, int) else input.view(*size)).clone()


def expand_copy(input: Tensor, size: Sequence[int], *, implicit: bool = False) -> Tensor:
    return input.expand(*size).clone()


def slice_copy(input: Tensor, dim: int = 0, start: int | None = None, end: int | None = None, step: int = 1) -> Tensor:
    return input[(slice(None),) * (dim % input.ndim) + (slice(start, end, step),)].clone()


def squeeze_copy(input: Tensor, dim: Any = None) -> Tensor:
    return (input.squeeze() if dim is None else input.squeeze(dim)).clone()


def unfold_copy(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    return input.unfold(dimension, size, step).clone()


PLAIN: dict[str, Any] = {
    "conv1d": F.conv1d,
    "conv2d": F.conv2d,
    "conv3d": F.conv3d,
    "conv_transpose1d": F.conv_transpose1d,
    "conv_transpose2d": F.conv_transpose2d,
    "conv_transpose3d": F.conv_transpose3d,
    "adaptive_avg_pool1d": F.adaptive_avg_pool1d,
    "pixel_shuffle": F.pixel_shuffle,
    "pixel_unshuffle": F.pixel_unshuffle,
    "channel_shuffle": F.channel_shuffle,
    "native_channel_shuffle": F.native_channel_shuffle,
    "celu": F.celu,
    "selu": F.selu,
    "threshold": F.threshold,
    "bilinear": F.bilinear,
    "pdist": F.pdist,
    "rms_norm": F.rms_norm,
    "permute_copy": TF.permute,
    "t_copy": TF.t,
    "transpose_copy": TF.transpose,
    "unsqueeze_copy": TF.unsqueeze,
    "diagonal_copy": manipulation.diagonal,
    "select_copy": manipulation.select,
    "unbind_copy": TF.unbind,
    "split_copy": TF.split,
    "split_with_sizes_copy": splitting.split_with_sizes,
    "detach_copy": TF.detach,
    "alias_copy": TF.clone,
    "unsafe_chunk": TF.chunk,
    "unsafe_split": TF.split,
    "unsafe_split_with_sizes": splitting.split_with_sizes,
}

TOP_LEVEL: dict[str, Any] = PLAIN | {
    f.__name__: f
    for f in (
        dropout, alpha_dropout, feature_alpha_dropout, feature_dropout, embedding, batch_norm, instance_norm, layer_norm, group_norm,
        adaptive_max_pool1d, max_pool1d_with_indices, avg_pool1d, constant_pad_nd, rrelu, kl_div, margin_ranking_loss,
        hinge_embedding_loss, cosine_embedding_loss, triplet_margin_loss, poisson_nll_loss, ctc_loss, binary_cross_entropy_with_logits,
        frobenius_norm, nuclear_norm, grid_sampler, affine_grid_generator, rsub, view_copy, expand_copy, slice_copy, squeeze_copy,
        unfold_copy,
    )
} | {name: _pool(name) for name in ("max_pool1d", "max_pool2d", "max_pool3d")} | {
    cell.__name__: cell for cell in (_cell("LSTM"), _cell("GRU"), _cell("RNN_TANH"), _cell("RNN_RELU"))
}

"""Autocast's op policy (``graphc.amp.autocast``), applied where torch applies it: at the call of a
front-end op, before the op records anything.

Each front-end function torch's autocast lists is decorated with ``autocast_op``; the lists
themselves, per device, are here and nowhere else. Inside an enabled region a listed op casts its
floating tensor arguments (not float64, as torch's ``is_eligible``) to its policy's dtype and runs
with autocast excluded, so the ops it is written in keep its dtypes (torch's autocast kernels call
the op below the Autocast dispatch key).

The policy applies to the ops the user calls, not to those graphc's own composites are written in:
most of those are native ops in torch (``dot``, ``mv``, ``bilinear`` are matmuls here, not there),
whose insides autocast never sees. A listed op called from graphc's code (a ``graphc.`` module other
than the Tensor methods, the methods of ``nn.Module``s and the modules that follow torch's Python
composites) runs as it is. torch's Python composites that reach listed ops (einsum, inner, multi_dot) are listed.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable
from typing import Any

from graphc.ir import dtypes
from graphc.ir.dtypes import DType

# torch's lists (docs: "Autocast Op Reference"; the CPU ones checked against torch 2.13's CPU autocast,
# tests/test_amp.py). "lower": cast to the region's dtype; "fp32": to float32; "promote": to the widest
# floating input (starting from the region's dtype).
# chain_matmul, multi_dot, einsum and inner are not on torch's CPU list but are composites of mm/bmm there.
_LOWER_CPU = """matmul mm bmm addmm baddbmm addbmm linear conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d prelu
scaled_dot_product_attention chain_matmul multi_dot einsum inner"""
_FP32_CPU = """prod cdist mse_loss l1_loss nll_loss cross_entropy binary_cross_entropy binary_cross_entropy_with_logits
smooth_l1_loss huber_loss kl_div margin_ranking_loss hinge_embedding_loss poisson_nll_loss cosine_embedding_loss soft_margin_loss
triplet_margin_loss multi_margin_loss multilabel_margin_loss ctc_loss grid_sample avg_pool3d max_pool3d adaptive_avg_pool3d
adaptive_max_pool3d max_unpool2d max_unpool3d fractional_max_pool2d fractional_max_pool3d quantile nanquantile trace"""
_PROMOTE_CPU = "cat stack index_copy"
_LOWER_CUDA = _LOWER_CPU + " addmv addr mv"
_FP32_CUDA = """exp expm1 log log1p log2 log10 pow reciprocal rsqrt acos asin cosh sinh tan erfinv softmax log_softmax softmin softplus
sum prod cumsum cumprod layer_norm group_norm norm normalize dist cdist pdist cosine_similarity renorm mse_loss l1_loss nll_loss
cross_entropy binary_cross_entropy_with_logits smooth_l1_loss kl_div margin_ranking_loss hinge_embedding_loss poisson_nll_loss
cosine_embedding_loss soft_margin_loss triplet_margin_loss multi_margin_loss multilabel_margin_loss"""
_PROMOTE_CUDA = "addcdiv addcmul atan2 bilinear cross dot grid_sample scatter_add tensordot"


def _table(lower: str, fp32: str, promote: str) -> dict[str, str]:
    table = {name: "promote" for name in promote.split()}
    table.update({name: "fp32" for name in fp32.split()})
    table.update({name: "lower" for name in lower.split()})
    return table


POLICY: dict[str, dict[str, str]] = {
    "cpu": _table(_LOWER_CPU, _FP32_CPU, _PROMOTE_CPU),
    "cuda": _table(_LOWER_CUDA, _FP32_CUDA, _PROMOTE_CUDA),
}
DEFAULT_DTYPE = {"cpu": dtypes.bfloat16, "cuda": dtypes.float16}
LOW_DTYPES = (dtypes.float16, dtypes.bfloat16)
_ELIGIBLE = (dtypes.float16, dtypes.bfloat16, dtypes.float32)


class _State(threading.local):
    def __init__(self) -> None:
        self.enabled = {"cpu": False, "cuda": False}
        self.dtype = dict(DEFAULT_DTYPE)
        self.any = False  # whether either device is on: the one check an op pays outside a region
        self.excluded = 0  # inside a listed op: the ops it calls keep its dtypes


_state = _State()


def is_autocast_enabled(device_type: str = "cuda") -> bool:
    return _state.enabled[_device(device_type)]


def get_autocast_dtype(device_type: str) -> DType:
    return _state.dtype[_device(device_type)]


def set_autocast(device_type: str, enabled: bool, dtype: DType) -> tuple[bool, DType]:
    """Turn the region for ``device_type`` on or off; returns the previous setting, for the exit."""
    device = _device(device_type)
    previous = (_state.enabled[device], _state.dtype[device])
    _state.enabled[device] = enabled
    _state.dtype[device] = dtype
    _state.any = any(_state.enabled.values())
    return previous


def autocast_key() -> tuple:
    """What of autocast's state a trace depends on (``graphc.compile`` keys programs by it)."""
    if not _state.any:
        return ()
    return tuple((device, _state.dtype[device].name) for device, on in _state.enabled.items() if on)


def _device(device_type: str) -> str:
    device = str(device_type).split(":")[0]
    if device not in POLICY:
        raise RuntimeError(f"autocast: device_type must be 'cpu' or 'cuda', got {device_type!r}")
    return device


def autocast_op(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Apply the policy of the op named ``fn.__name__`` to calls inside an autocast region."""
    kinds = {device: table.get(fn.__name__) for device, table in POLICY.items()}
    assert any(kinds.values()), f"{fn.__name__} is on no autocast list"

    @functools.wraps(fn)
    def op(*args: Any, **kwargs: Any) -> Any:
        if not _state.any or _state.excluded or _from_graphc(_caller(sys._getframe(1))):
            return fn(*args, **kwargs)
        return _autocast_call(fn, kinds, args, kwargs)

    return op


# graphc modules whose calls are the user's: Tensor methods, and code that follows torch's Python code
# (multi-head attention, transformer layers, the recurrent layers) rather than one native op of torch's.
_USER_MODULES = frozenset({"graphc.runtime.tensor", "graphc.runtime.nn.attention", "graphc.runtime.nn.transformer", "graphc.runtime.nn.rnn"})


# graphc modules whose wrappers only pass a call on (``out=``): the op's caller is the one who called them.
_PASS_THROUGH = frozenset({"graphc.frontend.out_argument"})


def _caller(frame: Any) -> Any:
    while frame.f_globals.get("__name__", "") in _PASS_THROUGH and frame.f_back is not None:
        frame = frame.f_back
    return frame


def _from_graphc(frame: Any) -> bool:
    """Whether the op was called by graphc's own code, not by the user's: a ``graphc.`` module's function,
    unless it is one of a module's methods (``forward``, ``Conv2d._conv``), which are torch's Python too."""
    module = frame.f_globals.get("__name__", "")
    if not module.startswith("graphc.") or module in _USER_MODULES:
        return False
    if frame.f_code.co_varnames[:1] == ("self",):
        from graphc.runtime.nn.module import Module

        return not isinstance(frame.f_locals.get("self"), Module)
    return True


def _autocast_call(fn: Callable[..., Any], kinds: dict[str, str | None], args: tuple, kwargs: dict) -> Any:
    from graphc.runtime.tensor import Tensor

    tensors = [t for t in _tensors(args) + _tensors(tuple(kwargs.values())) if isinstance(t, Tensor)]
    device = _device_of(tensors)
    kind = kinds[device]
    if kind is None or not _state.enabled[device]:
        return fn(*args, **kwargs)
    if kind == "fp32" and kwargs.get("dtype") is not None:  # torch's fp32_set_opt_dtype: an explicit dtype wins
        target = None
    elif kind == "lower":
        target = _state.dtype[device]
    elif kind == "fp32":
        target = dtypes.float32
    else:
        target = _state.dtype[device]
        for t in tensors:
            if t.dtype in _ELIGIBLE and t.device == device:
                target = dtypes.promote_types(target, t.dtype)
    if target is not None:
        args = tuple(_cast(a, target, device) for a in args)
        kwargs = {k: _cast(v, target, device) for k, v in kwargs.items()}
    _state.excluded += 1
    try:
        return fn(*args, **kwargs)
    finally:
        _state.excluded -= 1


def _device_of(tensors: list[Any]) -> str:
    """The op's device: that of an argument holding data. A lazy value or a traced stand-in holds none
    (graphc does not track the device of values not yet computed), so the op takes the device of the
    one enabled region, as an op on that device's data would (the CPU where both are)."""
    for t in tensors:
        if t._node.data is not None:
            return t.device
    enabled = [device for device, on in _state.enabled.items() if on]
    return enabled[0] if len(enabled) == 1 else "cpu"


def _tensors(values: tuple) -> list[Any]:
    found: list[Any] = []
    for value in values:
        found.extend(value if isinstance(value, (list, tuple)) else (value,))
    return found


def _cast(value: Any, dtype: DType, device: str) -> Any:
    from graphc.frontend.functional import cast
    from graphc.runtime.tensor import Tensor

    if isinstance(value, (list, tuple)):
        return type(value)(_cast(v, dtype, device) for v in value)
    if isinstance(value, Tensor) and value.dtype in _ELIGIBLE and value.dtype != dtype and value.device == device:
        return cast(value, dtype)
    return value

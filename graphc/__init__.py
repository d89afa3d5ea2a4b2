"""graphc: a symbolic graph compiler for deep learning with a PyTorch-style API.

Tensor code is recorded lazily into a typed IR and compiled (NumPy on the CPU,
Triton on CUDA) when a value is needed; ``graphc.compile`` traces whole
functions, models and training steps once and replays them.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from graphc import amp, autograd, data, distributions, func, linalg, nn, optim, special, utils
from graphc.amp import autocast, get_autocast_dtype, is_autocast_enabled
from graphc.errors import CheckError, GraphcError, InvalidValueError
from graphc.frontend import out_argument as _out_argument
from graphc.frontend import torch_aliases as _torch_aliases
from graphc.frontend.arithmetic import (
    addr,
    copysign,
    fmax,
    fmin,
    frexp,
    gcd,
    greater,
    greater_equal,
    hardshrink,
    lcm,
    ldexp,
    less,
    less_equal,
    logaddexp,
    logaddexp2,
    negative,
    nextafter,
    not_equal,
    positive,
    prelu,
    renorm,
)
from graphc.frontend.bitwise import bitwise_left_shift, bitwise_not, bitwise_right_shift
from graphc.frontend.bucketing import bucketize, histc, searchsorted
from graphc.frontend.calculus import cumulative_trapezoid, diff, gradient, trapezoid, trapz
from graphc.frontend.combinatorics import block_diag, cartesian_prod, combinations, vander
from graphc.frontend.constructors import (
    arange,
    as_tensor,
    asarray,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    logspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    range,
    scalar_tensor,
    tensor,
    tril_indices,
    triu_indices,
    zeros,
    zeros_like,
)
from graphc.frontend.control_flow import cond, while_loop
from graphc.frontend.data_dependent import argwhere, bincount, masked_select, nonzero, unique, unique_consecutive
from graphc.frontend.decompositions import qr, svd
from graphc.frontend.einsum import einsum
from graphc.frontend.functional import (
    abs,
    add,
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    bitwise_and,
    bitwise_or,
    bitwise_xor,
    bmm,
    broadcast_to,
    cat,
    ceil,
    chunk,
    clamp,
    clone,
    cos,
    detach,
    div,
    dot,
    eq,
    erf,
    exp,
    fix,
    flatten,
    floor,
    floor_divide,
    fmod,
    frac,
    gather,
    ge,
    gt,
    index_select,
    le,
    lerp,
    log,
    log1p,
    log2,
    log_softmax,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    logsumexp,
    lt,
    masked_fill,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mm,
    mul,
    narrow,
    ne,
    neg,
    outer,
    permute,
    pow,
    reciprocal,
    relu,
    remainder,
    reshape,
    round,
    rsqrt,
    scatter_add,
    sigmoid,
    sign,
    sin,
    softmax,
    split,
    sqrt,
    square,
    squeeze,
    stack,
    std,
    sub,
    sum,
    t,
    tanh,
    transpose,
    true_divide,
    trunc,
    unbind,
    unflatten,
    unsqueeze,
    var,
    where,
)
from graphc.frontend.linalg import (
    addbmm,
    addmm,
    addmv,
    baddbmm,
    cdist,
    cosine_similarity,
    dist,
    ger,
    inner,
    kron,
    mv,
    norm,
    pairwise_distance,
    tensordot,
    vdot,
)
from graphc.frontend.linalg_solvers import cholesky, cholesky_inverse, cholesky_solve, det, inverse, logdet, slogdet, triangular_solve
from graphc.frontend.lowrank import pca_lowrank, svd_lowrank
from graphc.frontend.lu_factorization import lu, lu_solve, lu_unpack
from graphc.frontend.manipulation import (
    atleast_1d,
    atleast_2d,
    atleast_3d,
    broadcast_shapes,
    broadcast_tensors,
    column_stack,
    concat,
    concatenate,
    diag,
    diag_embed,
    diagonal,
    dstack,
    flip,
    fliplr,
    flipud,
    hstack,
    meshgrid,
    moveaxis,
    movedim,
    narrow_copy,
    repeat_interleave,
    roll,
    rot90,
    row_stack,
    select,
    swapaxes,
    swapdims,
    take,
    tile,
    trace,
    tril,
    triu,
    vstack,
)
from graphc.frontend.matrix_chains import chain_matmul, cross, matrix_power
from graphc.frontend.matrix_functions import matrix_exp
from graphc.frontend.membership import isin
from graphc.frontend.pointwise import (
    absolute,
    acos,
    acosh,
    addcdiv,
    addcmul,
    allclose,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    asin,
    asinh,
    atan,
    atan2,
    atanh,
    clamp_max,
    clamp_min,
    cosh,
    deg2rad,
    equal,
    exp2,
    expm1,
    float_power,
    heaviside,
    hypot,
    isclose,
    isfinite,
    isinf,
    isnan,
    isneginf,
    isposinf,
    log10,
    logit,
    nan_to_num,
    rad2deg,
    sgn,
    signbit,
    sinc,
    sinh,
    square_,
    tan,
    xlogy,
)
from graphc.frontend.reductions import (
    aminmax,
    count_nonzero,
    cummax,
    cummin,
    cumprod,
    cumsum,
    logcumsumexp,
    nanmean,
    nansum,
    prod,
    std_mean,
    var_mean,
)
from graphc.frontend.reshaping import adjoint, diagflat, is_same_size, ravel, take_along_dim, unravel_index
from graphc.frontend.sampling import bernoulli, binomial, multinomial, normal, poisson, randint_like
from graphc.frontend.scatter import (
    index_add,
    index_copy,
    index_fill,
    index_reduce,
    masked_scatter,
    scatter,
    scatter_reduce,
)
from graphc.frontend.sorting import argsort, kthvalue, median, msort, sort, topk
from graphc.frontend.special import digamma, erfc, erfinv, i0, igamma, igammac, lgamma, mvlgamma, polygamma
from graphc.frontend.spectral import orgqr, pinverse
from graphc.frontend.splitting import dsplit, hsplit, split_with_sizes, tensor_split, vsplit
from graphc.frontend.statistics import corrcoef, cov, histogram, mode, nanmedian, nanquantile, quantile
from graphc.frontend.strided import as_strided, as_strided_scatter
from graphc.frontend.tensor_in_place import clip_, is_inference, is_nonzero, nonzero_static, resize_as_
from graphc.frontend.view_scatter import diagonal_scatter, index_put, put, select_scatter, slice_scatter
from graphc.frontend.windows import bartlett_window, blackman_window, hamming_window, hann_window, kaiser_window
from graphc.func import vmap
from graphc.ir.dtype_info import can_cast, finfo, get_default_dtype, iinfo, promote_types, result_type, set_default_dtype
from graphc.ir.dtypes import DType, bfloat16, float16, float32, float64, int8, int16, int32, int64, uint8
from graphc.ir.dtypes import bool_ as bool
from graphc.ir.grad_mode import grad_mode, inference_mode, is_grad_enabled, is_inference_mode_enabled, set_grad_enabled
from graphc.runtime.config import set_backend, set_fusion, use_backend, use_fusion
from graphc.runtime.printing import set_printoptions
from graphc.runtime.random import Generator, default_generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state
from graphc.runtime.serialization import load, save
from graphc.runtime.tensor import Tensor

# torch's constants (torch.nan, torch.inf, torch.pi, torch.e).
nan, inf, pi, e = builtins.float("nan"), builtins.float("inf"), 3.141592653589793, 2.718281828459045
float = float32
double = float64
half = float16
long = int64
int = int32
short = int16
clip = clamp
multiply = mul
divide = div
subtract = sub


def numel(input: Tensor) -> Any:
    return input.numel()


def is_floating_point(input: Tensor) -> builtins.bool:
    return input.is_floating_point()


def is_signed(input: Tensor) -> builtins.bool:
    return input.is_signed()


def is_complex(input: Tensor) -> builtins.bool:
    return input.is_complex()


def get_device(input: Tensor) -> builtins.int:
    return input.get_device()


@contextmanager
def no_grad() -> Iterator[None]:
    """Ops recorded inside do not track gradients (usable as a decorator too, via ``no_grad()``)."""
    with grad_mode(False):
        yield


@contextmanager
def enable_grad() -> Iterator[None]:
    with grad_mode(True):
        yield


def compile(model: Any, backend: str = "auto", fusion: bool | None = None, dynamic: bool = True, check: bool = False, remat: bool = True) -> Any:
    """Compile a function of graphc tensors, a graphc ``nn.Module``, or a ``torch.nn.Module``.

    ``fusion=None`` is the process default: on, unless ``GRAPHC_FUSION=0`` or inside
    ``graphc.use_fusion(False)``. ``remat=False`` turns off rematerialization: the backward
    then keeps every forward value it reads instead of recomputing cheap ones (docs/passes.md,
    "remat").
    """
    from graphc.runtime.compiled import CompiledFunction
    from graphc.runtime.config import default_fusion

    fusion = default_fusion() if fusion is None else fusion

    if _is_torch_module(model):
        from graphc.frontend.torch_import import compile_torch_module

        return compile_torch_module(model, backend=backend, fusion=fusion, dynamic=dynamic, check=check, remat=remat)
    if not callable(model):
        raise GraphcError(f"graphc.compile expects a function or a module, got {type(model).__name__}")
    return CompiledFunction(model, backend=backend, fusion=fusion, dynamic=dynamic, check=check, remat=remat)


def _is_torch_module(model: Any) -> bool:
    return builtins.any(c.__module__.startswith("torch.nn") for c in type(model).__mro__)


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)


# torch's top-level names of functional ops (torch.conv2d, torch.batch_norm, ...), with their ATen signatures.
globals().update(_torch_aliases.TOP_LEVEL)
# out= on the functions torch takes it on (graphc/frontend/out_argument.py).
_out_argument.install(globals(), "")


__all__ = [name for name in dir() if not name.startswith("_")]

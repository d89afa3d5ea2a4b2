"""``out=`` on torch's functions, for every function at once: torch takes it on most of ``torch.*``,
``torch.linalg.*`` and ``torch.special.*``, graphc on the same ones (``install`` wraps them where their
module is built). The result is computed as without ``out``, then written into ``out`` as an in-place
op, so eager code and ``graphc.compile`` behave alike (docs/decisions.md, "out=").

As torch: an argument that requires grad is refused while grad mode is on ("functions with out=...
arguments don't support automatic differentiation"); the result must be castable to out's dtype
(torch's canCast: no float into an integer tensor, nothing but bool into bool); an out of another
shape is resized, with torch's deprecation warning unless it is empty; functions with several
results take a tuple of outs and return them as their named tuple; the constructors and the
reductions with a ``dtype`` argument (``sum``, ``mean``, ``cumsum``, ...) compute in out's dtype when
none is given.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

from graphc.errors import GraphcError
from graphc.frontend import tracing
from graphc.frontend.linalg_solvers import TORCH_NAMES
from graphc.ir.dtype_info import can_cast
from graphc.ir.grad_mode import is_grad_enabled
from graphc.ir.registry import op_error
from graphc.runtime.tensor import Tensor

# torch's functions that take ``out=``, by module, whether graphc has them yet or not (``install`` wraps those it
# has, so a function added later takes out= too). torch 2.13's: an ``out`` parameter in one of the overloads of
# torch/_C/_VariableFunctions.pyi or in the signature of a Python-level function, or, for torch.linalg's and
# torch.special's builtins, an out overload of their ATen schema (but linalg.matrix_exp, whose binding does not
# take the one it has). tests/test_out_argument.py derives the list from torch again.
OUT_FUNCTIONS: dict[str, frozenset[str]] = {
    "": frozenset(
        """
        abs absolute acos acosh add addbmm addcdiv addcmul addmm addmv addr alias_copy all amax amin aminmax angle any
        arange arccos arccosh arcsin arcsinh arctan arctan2 arctanh argmax argmin argsort as_strided_copy asin asinh
        atan atan2 atanh baddbmm batch_norm_elemt bernoulli bitwise_and bitwise_left_shift bitwise_not bitwise_or
        bitwise_right_shift bitwise_xor bmm bucketize cat ccol_indices_copy ceil chain_matmul cholesky
        cholesky_inverse cholesky_solve clamp clamp_max clamp_min clip col_indices_copy column_stack complex concat
        concatenate conj_physical copysign cos cosh cross crow_indices_copy cudnn_batch_norm cudnn_convolution cummax
        cummin cumprod cumsum deg2rad detach_copy diag diagonal_copy diff digamma div divide dot dstack empty eq erf
        erfc erfinv exp exp2 expand_copy expm1 eye fix float_power floor floor_divide fmax fmin fmod frac frexp
        frobenius_norm full gather gcd ge geqrf ger greater greater_equal gt hardshrink hash_tensor heaviside histc
        histogram hspmm hstack hypot i0 igamma igammac index_add index_copy index_reduce index_select indices_copy
        inner inverse isin isneginf isposinf kron kthvalue lcm ldexp le lerp less less_equal lgamma linspace log log10
        log1p log2 log_softmax logaddexp logaddexp2 logcumsumexp logical_and logical_not logical_or logical_xor logit
        logspace logsumexp lstsq lt lu_solve lu_unpack masked_select matmul matrix_power matrix_rank max maximum mean
        median min minimum mkldnn_adaptive_avg_pool2d mm mode msort mul multinomial multiply mv mvlgamma nan_to_num
        nanmean nanmedian nanquantile nansum narrow_copy native_batch_norm ne neg negative nextafter nonzero
        nonzero_static norm normal not_equal nuclear_norm ones orgqr ormqr outer permute_copy polar polygamma pow prod
        qr quantile rad2deg rand randint randn randperm range reciprocal remainder renorm round row_indices_copy
        row_stack rsqrt saddmm scatter scatter_add scatter_reduce searchsorted select_copy sgn sigmoid sign signbit
        sin sinc sinh slice_copy slice_scatter slogdet softmax solve sort split_copy split_with_sizes_copy sqrt square
        squeeze_copy sspaddmm stack std sub subtract sum svd symeig t_copy take take_along_dim tan tanh tensordot
        threshold topk transpose_copy triangular_solve tril triu true_divide trunc unbind_copy unfold_copy
        unsqueeze_copy values_copy var vdot view_as_complex_copy view_as_real_copy view_copy vstack where xlogy zeros
        """.split()
    ),
    "linalg.": frozenset(
        """
        cholesky cholesky_ex cond cross det eig eigh eigvals eigvalsh householder_product inv inv_ex ldl_factor
        ldl_factor_ex ldl_solve lstsq lu lu_factor lu_factor_ex lu_solve matmul matrix_norm matrix_power matrix_rank
        multi_dot norm pinv qr slogdet solve solve_ex solve_triangular svd svdvals tensorinv tensorsolve vecdot
        vector_norm
        """.split()
    ),
    "special.": frozenset(
        """
        airy_ai bessel_j0 bessel_j1 bessel_y0 bessel_y1 chebyshev_polynomial_t chebyshev_polynomial_u
        chebyshev_polynomial_v chebyshev_polynomial_w digamma entr erf erfc erfcx erfinv exp2 expit expm1 gammainc
        gammaincc gammaln hermite_polynomial_h hermite_polynomial_he i0 i0e i1 i1e laguerre_polynomial_l
        legendre_polynomial_p log1p log_ndtr logit logsumexp modified_bessel_i0 modified_bessel_i1 modified_bessel_k0
        modified_bessel_k1 multigammaln ndtr ndtri polygamma psi round scaled_modified_bessel_k0
        scaled_modified_bessel_k1 shifted_chebyshev_polynomial_t shifted_chebyshev_polynomial_u
        shifted_chebyshev_polynomial_v shifted_chebyshev_polynomial_w sinc spherical_bessel_j0 xlog1py xlogy zeta
        """.split()
    ),
}
# Functions that, as torch's, take out's dtype as their ``dtype`` when none is given.
DTYPE_FROM_OUT = frozenset(
    """
    arange cumprod cumsum empty eye full linspace logspace mean nanmean nansum ones prod rand randint randn randperm range sum zeros
    """.split()
)

RESIZED = (
    "An output with one or more elements was resized since it had shape {old}, which does not match the required output shape {new}. "
    "This behavior is deprecated, and in a future PyTorch release outputs will not be resized unless they have zero elements. "
    "You can explicitly reuse an out tensor t by resizing it, inplace, to zero elements with t.resize_(0)."
)


def install(namespace: dict[str, Any], module: str) -> None:
    """Give every function of ``namespace`` (a module's globals) that torch's module ``module`` takes ``out=`` on that argument."""
    for name in OUT_FUNCTIONS[module] & namespace.keys():
        if callable(namespace[name]) and not isinstance(namespace[name], type):
            namespace[name] = with_out(namespace[name], (module + name).replace("linalg.", "linalg_").replace("special.", "special_"))


def with_out(fn: Callable[..., Any], op: str) -> Callable[..., Any]:
    """``fn`` taking ``out=``: one tensor, or a tuple of them for a function of several results."""

    @functools.wraps(fn)
    def function(*args: Any, out: Any = None, **kwargs: Any) -> Any:
        if out is None:
            return fn(*args, **kwargs)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        if not all(isinstance(o, Tensor) for o in outs):
            raise GraphcError(f"{op}(): out= takes a tensor or a tuple of tensors, got {type(out).__name__}")
        _refuse_autograd(op, [*args, *kwargs.values(), *outs])
        if op in DTYPE_FROM_OUT:
            kwargs.setdefault("dtype", outs[0].dtype)
        result = fn(*args, **kwargs)
        results = list(result) if isinstance(result, (tuple, list)) else [result]
        if isinstance(out, Tensor) != isinstance(result, Tensor) or len(outs) != len(results):
            raise GraphcError(f"{op}(): out= must be {_expected(result)}, as the result, got {_described(out)}")
        for value, target in zip(results, outs):
            _write(op, value, target)
        if isinstance(out, Tensor):
            return out
        return type(result)(outs) if type(result) in (tuple, list) else type(result)(*outs)  # a named tuple's fields

    return function


def _tensors(values: list[Any]) -> list[Tensor]:
    found = []
    for value in values:
        if isinstance(value, Tensor):
            found.append(value)
        elif isinstance(value, (tuple, list)):
            found += _tensors(list(value))
    return found


def _refuse_autograd(op: str, values: list[Any]) -> None:
    if not is_grad_enabled():
        return
    grads = [t for t in _tensors(values) if t.requires_grad]
    if grads:
        message = "functions with out=... arguments don't support automatic differentiation, but one of the arguments requires grad."
        raise op_error(op, [tracing.read(t).type for t in grads], {}, message)


def _write(op: str, value: Tensor, out: Tensor) -> None:
    """``value`` into ``out``: cast, and ``out`` resized first if its shape differs (warning unless it is empty)."""
    if not can_cast(value.dtype, out.dtype):
        message = f"result type {TORCH_NAMES[value.dtype.name]} can't be cast to the desired output type {TORCH_NAMES[out.dtype.name]}"
        raise op_error(op, [tracing.read(value).type, tracing.read(out).type], {}, message)
    if tuple(out.shape) != tuple(value.shape):
        if out._view is not None:
            message = f"out= is a view of shape {list(out.shape)}, and the result's shape is {list(value.shape)}: graphc resizes no view"
            raise op_error(op, [tracing.read(value).type, tracing.read(out).type], {}, message)
        if out.numel() != 0:
            warnings.warn(RESIZED.format(old=list(out.shape), new=list(value.shape)), UserWarning, stacklevel=3)
        out.resize_(*value.shape)
    out._assign_value(tracing.read(value), op + "(out=)")


def _expected(result: Any) -> str:
    return "a tensor" if isinstance(result, Tensor) else f"a tuple of {len(result)} tensors"


def _described(out: Any) -> str:
    return "a tensor" if isinstance(out, Tensor) else f"a {type(out).__name__} of {len(out)}"

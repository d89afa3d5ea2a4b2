"""torch's LDL family: linalg.ldl_factor, ldl_factor_ex and ldl_solve (graphc/ir/primitives/ldl.py).

``ldl_factor``'s packed result is sliced into LD, the pivots (cast to int32, as torch's) and
LAPACK's info. torch has no derivative for either function: LD and X require grad when an
operand does, and backward() through them raises (the ``*_no_derivative`` rules), as torch's.
``hermitian`` changes nothing for real matrices, as in torch.
"""

from __future__ import annotations

from typing import NamedTuple

from graphc.frontend.functional import node_of, wrap
from graphc.frontend.linalg_solvers import TORCH_NAMES, _raise_where
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.primitives.ldl import unpack
from graphc.ir.registry import emit, op_error
from graphc.ir.types import TypeRuleError, broadcast_shapes, dims_equal, shapes_equal
from graphc.runtime.tensor import Tensor

# torch 2.13 has no message for a singular D (its check fails with "Unknown error code"); graphc names the block.
SINGULAR_D = ": D[{info},{info}] is zero: the input is singular (LAPACK sytrf's info {info}; torch reports it as 'Unknown error code: {info}.')"


class LDLFactorResult(NamedTuple):
    LD: Tensor
    pivots: Tensor


class LDLFactorExResult(NamedTuple):
    LD: Tensor
    pivots: Tensor
    info: Tensor


def _matrices(op: str, A: Tensor, name: str) -> Node:
    """A's node: batches of square float32/float64 matrices, refused with torch's messages otherwise."""
    a = node_of(A)
    if a.type.ndim < 2:
        raise op_error(op, [a.type], {}, f"{op}: The input tensor {name} must have at least 2 dimensions.")
    if a.dtype not in (dtypes.float32, dtypes.float64):
        dtype = TORCH_NAMES[a.dtype.name]
        if a.dtype.is_floating_point:
            raise op_error(op, [a.type], {}, f"\"ldl_factor_kernel_cpu\" not implemented for '{dtype}'")
        raise op_error(op, [a.type], {}, f"{op}: Expected a floating point or complex tensor as input. Got {dtype}")
    if not dims_equal(a.shape[-1], a.shape[-2]):
        raise op_error(op, [a.type], {}, f"{op}: A must be batches of square matrices, but they are {a.shape[-2]} by {a.shape[-1]} matrices")
    return a


def _factor(A: Tensor) -> tuple[Node, Node, Node, Node]:
    """(a, LD, pivots int32, info int32) of A."""
    a = _matrices("torch.linalg.ldl_factor_ex", A, "A")
    n = a.shape[-1]
    if not isinstance(n, int):
        raise op_error("torch.linalg.ldl_factor_ex", [a.type], {}, f"the matrix size must be a number, got {n}")
    factor, pivots, info = unpack(emit("ldl_factor", a), n)
    return a, factor, b.cast(pivots, dtypes.int32), b.cast(info, dtypes.int32)


def _differentiable(value: Node, operands: list[Node], rule: str) -> Node:
    """``value`` requiring grad where an operand does, its backward raising as torch's. An operand of another
    shape (LD for X) stands in as its sum spread over ``value``'s shape: what matters is that it requires grad."""
    markers = [_spread(o, value) for o in operands if o.requires_grad]
    return emit("custom_vjp", value, *markers, rule=rule) if markers else value


def _spread(operand: Node, value: Node) -> Node:
    if shapes_equal(operand.shape, value.shape):
        return operand
    return b.broadcast_to(b.reduce("sum", operand, (-2, -1), keepdim=True), value.shape)


def ldl_factor_ex(A: Tensor, *, hermitian: bool = False, check_errors: bool = False) -> LDLFactorExResult:
    """torch.linalg.ldl_factor_ex: (LD, pivots, info); info is 1 + the first zero 1x1 block of D, 0 otherwise."""
    a, factor, pivots, info = _factor(A)
    if check_errors:
        factor = _raise_where(factor, info, "torch.linalg.ldl_factor_ex" + SINGULAR_D, a.shape[-1])
    return LDLFactorExResult(wrap(_differentiable(factor, [a], "ldl_factor_no_derivative")), wrap(pivots), wrap(info))


def ldl_factor(A: Tensor, *, hermitian: bool = False) -> LDLFactorResult:
    """torch.linalg.ldl_factor: (LD, pivots); raises (when the program runs) where D is singular."""
    a, factor, pivots, info = _factor(A)
    factor = _raise_where(factor, info, "torch.linalg.ldl_factor" + SINGULAR_D, a.shape[-1])
    return LDLFactorResult(wrap(_differentiable(factor, [a], "ldl_factor_no_derivative")), wrap(pivots))


def ldl_solve(LD: Tensor, pivots: Tensor, B: Tensor, *, hermitian: bool = False) -> Tensor:
    """torch.linalg.ldl_solve: X with A X = B for A factored by ldl_factor; B's batch broadcasts with LD's."""
    op = "torch.linalg.ldl_solve"
    ld = _matrices(op, LD, "A")
    piv, rhs = node_of(pivots), node_of(B)
    if rhs.type.ndim < 2:
        raise op_error(op, [ld.type, rhs.type], {}, f"{op}: The input tensor B must have at least 2 dimensions.")
    if not shapes_equal(piv.shape, ld.shape[:-1]):
        message = f"{op}: Expected LD.shape[:-1] and pivots.shape to be the same, but got pivots with shape {list(piv.shape)} instead"
        raise op_error(op, [ld.type, piv.type], {}, message)
    if piv.dtype.is_floating_point or piv.dtype == dtypes.bool_:
        raise op_error(op, [ld.type, piv.type], {}, f"{op}: Expected pivots to be integers. Got {TORCH_NAMES[piv.dtype.name]}")
    if rhs.dtype != ld.dtype:
        found = f"b of type {TORCH_NAMES[rhs.dtype.name]} and A of type {TORCH_NAMES[ld.dtype.name]}"
        raise op_error(op, [ld.type, rhs.type], {}, f"Expected b and A to have the same dtype, but found {found} instead.")
    n = ld.shape[-1]
    if not dims_equal(rhs.shape[-2], n):
        sizes = f"each A matrix is {n} by {n} but each b matrix is {rhs.shape[-2]} by {rhs.shape[-1]}"
        raise op_error(op, [ld.type, rhs.type], {}, f"Incompatible matrix sizes for torch.linalg.ldl_solve: {sizes}")
    try:
        batch = tuple(broadcast_shapes(ld.shape[:-2], rhs.shape[:-2]))
    except TypeRuleError as error:
        raise op_error(op, [ld.type, rhs.type], {}, f"the batch dimensions do not broadcast: {error}") from None
    piv = _valid_pivots(b.cast(piv, dtypes.int32), n)
    full_ld = b.broadcast_to(ld, batch + tuple(ld.shape[-2:]))
    full_piv = b.broadcast_to(piv, batch + (n,))
    full_rhs = b.broadcast_to(rhs, batch + tuple(rhs.shape[-2:]))
    solution = emit("ldl_solve", full_ld, full_piv, full_rhs)
    return wrap(_differentiable(solution, [ld, rhs], "ldl_solve_no_derivative"))


def _valid_pivots(pivots: Node, n: object) -> Node:
    """``pivots``, checked when the program runs with torch's messages: every |pivot| in 1..n."""
    magnitude = emit("abs", pivots)
    for bad, bound in (("gt", "<= LD.size(-2)"), ("lt", ">= 1")):
        message = f"Pivots given to ldl_solve must all satisfy |pivot| {bound}. Did you properly pass the result of ldl_factor?"
        pivots = emit("check", pivots, b.compare(bad, magnitude, n if bad == "gt" else 1), message=message)
    return pivots

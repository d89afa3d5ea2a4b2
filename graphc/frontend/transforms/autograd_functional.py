"""torch.autograd.functional's vjp, jvp, jacobian, hessian, vhp and hvp (public as ``graphc.autograd.functional``).

Each is a thin layer over ``graphc.func`` giving torch's argument and result structure: a
Tensor where torch gives a Tensor, tuples where the inputs (or outputs) are tuples, results
detached unless ``create_graph``. Jacobians are always computed vectorized (a ``vmap`` over
the basis), so ``vectorize`` changes nothing in graphc but is accepted as torch's argument.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphc.frontend.transforms import differentiate as func
from graphc.frontend.transforms.pytree import flatten, unflatten
from graphc.ir import build as b
from graphc.runtime.tensor import Tensor

__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]

STRATEGIES = ("forward-mode", "reverse-mode")


def _as_tuple(value: Any, what: str, where: str) -> tuple[tuple, bool]:
    is_tuple = isinstance(value, (tuple, list))
    values = tuple(value) if is_tuple else (value,)
    for i, v in enumerate(values):
        if not isinstance(v, Tensor):
            raise TypeError(
                f"The {what} given to {where} must be either a Tensor or a tuple of Tensors but the value at index {i} has type {type(v).__name__}."
            )
    return values, is_tuple


def _finish(tree: Any, create_graph: bool) -> Any:
    leaves, spec = flatten(tree)
    return unflatten(spec, [leaf if create_graph or not isinstance(leaf, Tensor) else leaf.detach() for leaf in leaves])


def _check_strict(fn: Callable[..., Any], inputs: tuple, where: str) -> None:
    """torch's strict mode: an input that no output depends on is an error."""
    with func.trace(fn, inputs, {}, tuple(range(len(inputs))), False, where) as t:
        reached = t.pull([b.full_like(o, 1.0) for o in t.outputs])
    for i, g in enumerate(reached):
        if g is None:
            raise RuntimeError(f"The output of the user-provided function is independent of input {i}. This is not allowed in strict mode.")


def _default_vector(values: tuple, v: Any, what: str) -> Any:
    """``v``, or a 1 when it is omitted, which torch allows only for a single one-element tensor."""
    if v is not None:
        return v
    if len(values) != 1 or values[0].numel() != 1:
        raise RuntimeError(f"The vector v can only be None if the {what} is a single Tensor with a single element.")
    return Tensor._from_node(b.full_like(values[0]._node, 1.0))


def vjp(fn: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> tuple:
    """``(fn(*inputs), v^T J)``, the product shaped as ``inputs``."""
    ins, in_tuple = _as_tuple(inputs, "inputs", "vjp")
    if strict:
        _check_strict(fn, ins, "vjp")
    output, pull = func.vjp(fn, *ins)
    outs, out_tuple = _as_tuple(output, "outputs of the user-provided function", "vjp")
    v = _default_vector(outs, v, "user-provided function returns")
    vs, _ = _as_tuple(v, "v", "vjp")
    if len(vs) != len(outs):
        raise RuntimeError(f"v is a tuple of invalid length: should be {len(outs)} but got {len(vs)}.")
    grads = pull(tuple(vs) if out_tuple else vs[0])
    return _finish(output, create_graph), _finish(grads if in_tuple else grads[0], create_graph)


def jvp(fn: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> tuple:
    """``(fn(*inputs), J v)``, the product shaped as the outputs."""
    ins, _ = _as_tuple(inputs, "inputs", "jvp")
    if strict:
        _check_strict(fn, ins, "jvp")
    vs, _ = _as_tuple(_default_vector(ins, v, "input to the user-provided function"), "v", "jvp")
    if len(vs) != len(ins):
        raise RuntimeError(f"v is a tuple of invalid length: should be {len(ins)} but got {len(vs)}.")
    output, tangent = func.jvp(fn, ins, vs)
    return _finish(output, create_graph), _finish(tangent, create_graph)


def jacobian(
    fn: Callable[..., Any],
    inputs: Any,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    strategy: str = "reverse-mode",
) -> Any:
    """The Jacobian: a Tensor [*out, *in], or tuples over the outputs (outer) and inputs (inner) where those are tuples."""
    if strategy not in STRATEGIES:
        raise ValueError(
            'Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your function has more outputs than '
            'inputs, "forward-mode" tends to be more performant. Otherwise, prefer to use "reverse-mode".'
        )
    if strategy == "forward-mode" and not vectorize:
        raise NotImplementedError('torch.autograd.functional.jacobian: `strategy="forward-mode"` is only implemented when `vectorize=True`.')
    ins, in_tuple = _as_tuple(inputs, "inputs", "jacobian")
    if strict:
        _check_strict(fn, ins, "jacobian")
    returned: dict[str, bool] = {}

    def recorded(*args: Tensor) -> Any:
        out = fn(*args)
        _as_tuple(out, "outputs of the user-provided function", "jacobian")
        returned["tuple"] = isinstance(out, (tuple, list))
        return tuple(out) if returned["tuple"] else out

    transform = func.jacfwd if strategy == "forward-mode" else func.jacrev
    jac = transform(recorded, argnums=tuple(range(len(ins))))(*ins)
    rows = jac if returned["tuple"] else (jac,)
    shaped = tuple(row if in_tuple else row[0] for row in rows)
    return _finish(shaped if returned["tuple"] else shaped[0], create_graph)


def _scalar(fn: Callable[..., Any], where: str) -> Callable[..., Tensor]:
    def scalar(*args: Tensor) -> Tensor:
        out = fn(*args)
        if isinstance(out, (tuple, list)):
            if len(out) != 1:
                raise RuntimeError(f"The function given to {where} should return a single Tensor")
            out = out[0]
        if not isinstance(out, Tensor):
            raise RuntimeError(f"The function given to {where} should return a single Tensor")
        if out.numel() != 1:
            raise RuntimeError(f"The Tensor returned by the function given to {where} should contain a single element")
        return out.reshape(())

    return scalar


def hessian(
    fn: Callable[..., Any],
    inputs: Any,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    outer_jacobian_strategy: str = "reverse-mode",
) -> Any:
    """The Hessian of a single-element function: a Tensor [*in, *in], or a tuple of tuples [i][j] over the inputs."""
    if outer_jacobian_strategy not in STRATEGIES:
        raise ValueError(f'Expected strategy to be either "forward-mode" or "reverse-mode", got {outer_jacobian_strategy!r}')
    if outer_jacobian_strategy == "forward-mode" and not vectorize:
        raise NotImplementedError("torch.autograd.functional.hessian: `outer_jacobian_strategy='forward-mode'` is only implemented when `vectorize=True`.")
    ins, in_tuple = _as_tuple(inputs, "inputs", "hessian")
    scalar = _scalar(fn, "hessian")
    if strict:
        _check_strict(scalar, ins, "hessian")
    nums = tuple(range(len(ins)))
    outer = func.jacfwd if outer_jacobian_strategy == "forward-mode" else func.jacrev
    h = outer(func.jacrev(scalar, argnums=nums), argnums=nums)(*ins)
    return _finish(h if in_tuple else h[0][0], create_graph)


def _second_order(fn: Callable[..., Any], inputs: Any, v: Any, create_graph: bool, strict: bool, where: str, forward: bool) -> tuple:
    ins, in_tuple = _as_tuple(inputs, "inputs", where)
    scalar = _scalar(fn, where)
    if strict:
        _check_strict(scalar, ins, where)
    vs, _ = _as_tuple(_default_vector(ins, v, "input to the user-provided function"), "v", where)
    if len(vs) != len(ins):
        raise RuntimeError(f"v is a tuple of invalid length: should be {len(ins)} but got {len(vs)}.")
    gradient = func.grad(scalar, argnums=tuple(range(len(ins))))
    if forward:
        product = func.jvp(gradient, ins, vs)[1]
    else:
        product = func.vjp(gradient, *ins)[1](vs)
    output = fn(*ins)
    return _finish(output, create_graph), _finish(product if in_tuple else product[0], create_graph)


def vhp(fn: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> tuple:
    """``(fn(*inputs), v^T H)``: the vjp of the gradient."""
    return _second_order(fn, inputs, v, create_graph, strict, "vhp", forward=False)


def hvp(fn: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> tuple:
    """``(fn(*inputs), H v)``: the jvp of the gradient."""
    return _second_order(fn, inputs, v, create_graph, strict, "hvp", forward=True)

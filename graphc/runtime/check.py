"""Check mode for ``graphc.compile(fn, check=True)``: the traced IR evaluated in eager PyTorch.

Every primitive has a torch evaluator here (``EVALUATORS``), so the traced graph, before
any pass, can be run op by op in eager PyTorch on the same inputs as the compiled
program. Each call compares the program's results with that reference. When one differs,
a debug program (the same graph compiled with every node as an output) gives graphc's
value of every node, and each node is evaluated in torch *on graphc's values of its
operands*: the first node whose own computation differs is the one reported, with its
printed IR line and the user's source line, not some node downstream of it. Random nodes
(``rand``) take graphc's values, since the two libraries draw different numbers.

torch is imported when check mode runs, not when graphc is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from graphc.errors import CheckError
from graphc.ir.graph import Graph, Node
from graphc.ir.printer import format_node, number_nodes
from graphc.ir.types import evaluate_sizes

Evaluator = Callable[..., Any]  # (torch, operands..., **attrs) -> torch.Tensor


def _reduce(name: str) -> Evaluator:
    def evaluate(torch: Any, x: Any, axes: tuple[int, ...], keepdim: bool) -> Any:
        if not axes or x.ndim == 0:  # torch would read dim=() as "every axis"
            return x
        return getattr(torch, name)(x, dim=axes, keepdim=keepdim)

    return evaluate


def _argmax(torch: Any, x: Any, axes: tuple[int, ...], keepdim: bool) -> Any:
    (axis,) = axes
    return torch.argmax(x, dim=axis, keepdim=keepdim) if x.ndim else torch.zeros((), dtype=torch.int64)


def _iota(torch: Any, shape: tuple, axis: int, dtype: Any) -> Any:
    line = [1] * len(shape)
    line[axis] = shape[axis]
    return torch.arange(shape[axis], dtype=getattr(torch, dtype.name)).reshape(line).expand(shape)


def _slogdet(torch: Any, a: Any) -> Any:
    sign, logabsdet = torch.linalg.slogdet(a)
    return torch.stack([sign, logabsdet, torch.linalg.inv_ex(a).info.to(a.dtype)], dim=-1)


def _joined(torch: Any, batch: tuple, *outputs: Any) -> Any:
    """A decomposition's outputs flattened over their matrix axes and joined, as its primitive's packed result."""
    return torch.cat([o.reshape(*batch, -1) for o in outputs], dim=-1)


def _eigh(torch: Any, x: Any, upper: bool) -> Any:
    return _joined(torch, x.shape[:-2], *torch.linalg.eigh(x, UPLO="U" if upper else "L"))


def _svd(torch: Any, x: Any, full_matrices: bool) -> Any:
    return _joined(torch, x.shape[:-2], *torch.linalg.svd(x, full_matrices=full_matrices))


def _lu(torch: Any, a: Any) -> Any:
    factor, pivots, _ = torch.linalg.lu_factor_ex(a)
    perm = torch.lu_unpack(factor, pivots, unpack_data=False).P.argmax(-2)
    return _joined(torch, a.shape[:-2], factor, pivots.to(a.dtype), perm.to(a.dtype))


def _ldl_factor(torch: Any, a: Any) -> Any:
    factor, pivots, info = torch.linalg.ldl_factor_ex(a)
    return _joined(torch, a.shape[:-2], factor, pivots.to(a.dtype), info.to(a.dtype))


def _qr(torch: Any, x: Any, mode: str) -> Any:
    q, r = torch.linalg.qr(x, mode=mode)
    return _joined(torch, x.shape[:-2], *((r,) if mode == "r" else (q, r)))


def _slice(torch: Any, x: Any, starts: tuple, stops: tuple, steps: tuple) -> Any:
    return x[tuple(slice(a, b, c) for a, b, c in zip(starts, stops, steps))]


def _pad(torch: Any, x: Any, low: tuple, high: tuple, interior: tuple, value: float) -> Any:
    """XLA's pad: ``low``/``high`` elements of ``value`` around each axis and ``interior`` between elements."""
    shape = [lo + hi + (n + (n - 1) * gap if n else 0) for n, lo, hi, gap in zip(x.shape, low, high, interior)]
    out = torch.full(shape, value, dtype=x.dtype, device=x.device)
    out[tuple(slice(lo, lo + (n - 1) * (gap + 1) + 1, gap + 1) for n, lo, gap in zip(x.shape, low, interior))] = x
    return out


def _unfold(torch: Any, x: Any, kernel_size: tuple, dilation: tuple, padding: tuple, stride: tuple, pad_value: float) -> Any:
    if len(kernel_size) != 2:  # torch's unfold is 2-d only: windows through Tensor.unfold, axis by axis
        x = torch.nn.functional.pad(x, [q for p in reversed(padding) for q in (p, p)], value=pad_value)
        rank = len(kernel_size)
        for axis, (k, d, s) in enumerate(zip(kernel_size, dilation, stride)):
            x = x.unfold(2 + axis, d * (k - 1) + 1, s)[..., ::d]
        windows = x.shape[2 : 2 + rank].numel()
        return x.permute(0, 1, *range(2 + rank, 2 + 2 * rank), *range(2, 2 + rank)).reshape(x.shape[0], -1, windows)
    if any(padding) and pad_value != 0:
        x = torch.nn.functional.pad(x, (padding[1], padding[1], padding[0], padding[0]), value=pad_value)
        padding = (0, 0)
    return torch.nn.functional.unfold(x, kernel_size, dilation=dilation, padding=padding, stride=stride)


def _fold(torch: Any, x: Any, output_size: tuple, kernel_size: tuple, dilation: tuple, padding: tuple, stride: tuple) -> Any:
    if len(kernel_size) != 2:  # torch's fold is 2-d only: the adjoint of _unfold, by its vector-Jacobian product
        shape = (x.shape[0], x.shape[1] // int(np.prod(kernel_size)), *output_size)
        with torch.enable_grad():
            image = torch.zeros(shape, dtype=x.dtype, requires_grad=True)
            (out,) = torch.autograd.grad(_unfold(torch, image, kernel_size, dilation, padding, stride, 0.0), image, x)
        return out
    return torch.nn.functional.fold(x, output_size, kernel_size, dilation=dilation, padding=padding, stride=stride)


def _matmul(torch: Any, x: Any, y: Any, out_dtype: Any = None) -> Any:
    """A float32 result of half operands: their products are exact in float32, and its sum is not rounded."""
    return torch.matmul(x, y) if out_dtype is None else torch.matmul(x.float(), y.float())


def _unary(name: str) -> Evaluator:
    return lambda torch, x: getattr(torch, name)(x)


def _binary(name: str) -> Evaluator:
    return lambda torch, x, y: getattr(torch, name)(x, y)


EVALUATORS: dict[str, Evaluator] = {
    **{name: _unary(name) for name in ("neg", "exp", "log", "log1p", "sqrt", "rsqrt", "sin", "cos", "tanh", "erf", "abs", "sign", "reciprocal")},
    **{name: _unary(name) for name in ("atan", "expm1", "exp2", "log2")},
    **{name: _unary(name) for name in ("floor", "ceil", "round", "trunc")},
    "sigmoid": _unary("sigmoid"),
    "logical_not": _unary("logical_not"),
    "detach": lambda torch, x: x,
    "custom_vjp": lambda torch, value, *operands, rule: value,
    **{name: _binary(name) for name in ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge")},
    **{name: _binary(name) for name in ("floor_divide", "remainder", "fmod")},
    "and": _binary("logical_and"),
    "or": _binary("logical_or"),
    **{name: _binary(name) for name in ("bitwise_and", "bitwise_or", "bitwise_xor")},
    "where": lambda torch, c, x, y: torch.where(c, x, y),
    "cast": lambda torch, x, dtype: x.to(getattr(torch, dtype.name)),
    "sum": _reduce("sum"),
    "max": _reduce("amax"),
    "min": _reduce("amin"),
    "argmax": _argmax,
    "reshape": lambda torch, x, shape: x.reshape(shape),
    "permute": lambda torch, x, perm: x.permute(perm),
    "expand": lambda torch, x, shape: x.expand(shape),
    "slice": _slice,
    "pad": _pad,
    "concat": lambda torch, *xs, axis: torch.cat(xs, dim=axis),
    "gather": lambda torch, x, index, axis: torch.gather(x, axis, index.long()),
    "index_select": lambda torch, x, index, axis: torch.index_select(x, axis, index.long()),
    "scatter_add": lambda torch, x, index, src, axis: x.scatter_add(axis, index.long(), src),
    "scatter_reduce": lambda torch, x, index, src, axis, reduce: x.scatter_reduce(axis, index.long(), src, reduce),
    "matmul": _matmul,
    "unfold": _unfold,
    "fold": _fold,
    "check": lambda torch, x, bad, message: x,
    "cumsum": lambda torch, x, axis, reverse: torch.cumsum(x.flip(axis), axis).flip(axis) if reverse else torch.cumsum(x, axis),
    "argsort": lambda torch, x, axis, descending: torch.argsort(x, dim=axis, descending=descending, stable=True),
    "solve": lambda torch, a, b: torch.linalg.solve_ex(a, b)[0],
    "solve_triangular": lambda torch, a, b, upper, unitriangular: torch.linalg.solve_triangular(a, b, upper=upper, unitriangular=unitriangular),
    "cholesky": lambda torch, a: torch.linalg.cholesky_ex(a)[0],
    "slogdet": _slogdet,
    "matrix_exp": lambda torch, a: torch.linalg.matrix_exp(a),
    "eigh": _eigh,
    "svd": _svd,
    "qr": _qr,
    "lu": _lu,
    "ldl_factor": _ldl_factor,
    "ldl_solve": lambda torch, ld, pivots, b: torch.linalg.ldl_solve(ld, pivots, b),
    "constant": lambda torch, value, dtype: torch.tensor(value, dtype=getattr(torch, dtype.name)),
    "iota": _iota,
    "size": lambda torch, value, dtype: torch.tensor(value, dtype=getattr(torch, dtype.name)),
}
# Sources and random numbers are not evaluated: inputs and parameters are given, and rand
# takes graphc's values (the libraries' generators differ).
GIVEN = ("input", "parameter", "rand")


def _close(got: Any, expected: Any) -> bool:
    return difference(got, expected) is None


def _orthonormal_columns(torch: Any, q: Any) -> bool:
    eye = torch.eye(q.shape[-1], dtype=q.dtype).expand(q.shape[:-2] + (q.shape[-1], q.shape[-1]))
    return _close(q.mT @ q, eye)


def valid_eigh(torch: Any, ours: tuple[Any, Any], eager: tuple[Any, Any], a: Any, upper: bool) -> bool:
    """Eigenvalues as torch's, and orthonormal vectors with A V = V diag(w) for the triangle eigh reads."""
    (w, v), expected_w = ours, eager[0]
    triangle = torch.triu(a) if upper else torch.tril(a)
    symmetric = triangle + triangle.mT - torch.diag_embed(torch.diagonal(a, dim1=-2, dim2=-1))
    return _close(w, expected_w) and _orthonormal_columns(torch, v) and _close(symmetric @ v, v * w[..., None, :])


def valid_svd(torch: Any, ours: tuple[Any, Any, Any], eager: tuple[Any, Any, Any], a: Any) -> bool:
    """Singular values as torch's, orthonormal U and Vh, and U diag(S) Vh = A."""
    (u, s, vh), expected_s = ours, eager[1]
    k = s.shape[-1]
    product = (u[..., :k] * s[..., None, :]) @ vh[..., :k, :]
    return _close(s, expected_s) and _orthonormal_columns(torch, u) and _orthonormal_columns(torch, vh.mT) and _close(product, a)


def _pieces(packed: Any, batch: tuple[int, ...], sizes: list[tuple[int, ...]]) -> list[Any]:
    """A decomposition primitive's packed result split into its outputs."""
    ends = np.cumsum([int(np.prod(size)) for size in sizes])
    return [packed[..., end - int(np.prod(size)) : end].reshape(batch + size) for size, end in zip(sizes, ends)]


def _valid_packed_eigh(torch: Any, value: Any, expected: Any, a: Any, upper: bool) -> bool:
    sizes = [(a.shape[-1],), tuple(a.shape[-2:])]
    return valid_eigh(torch, tuple(_pieces(value, a.shape[:-2], sizes)), tuple(_pieces(expected, a.shape[:-2], sizes)), a, upper)


def _valid_packed_svd(torch: Any, value: Any, expected: Any, a: Any, full_matrices: bool) -> bool:
    from graphc.ir.primitives.decompositions import svd_sizes

    sizes = svd_sizes(a.shape[-2], a.shape[-1], full_matrices)
    return valid_svd(torch, tuple(_pieces(value, a.shape[:-2], sizes)), tuple(_pieces(expected, a.shape[:-2], sizes)), a)


# Decompositions whose result torch leaves free up to a basis (eigen- and singular vectors'
# signs, any basis of a repeated eigenvalue's space): graphc's value is the reference when
# it is a valid decomposition of the operand, torch's otherwise (and then it is reported).
FREE_BASIS: dict[str, Callable[..., bool]] = {"eigh": _valid_packed_eigh, "svd": _valid_packed_svd}


def to_torch(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value
    array = np.asarray(value)
    if array.dtype.name == "bfloat16":  # ml_dtypes' bfloat16: torch reads the bits
        return torch.from_numpy(array.view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(array.copy())


def evaluate(node: Node, operands: list[Any], bindings: dict[str, int]) -> Any:
    """``node`` computed by eager PyTorch from ``operands``, in the node's declared dtype."""
    import torch

    attrs = {k: evaluate_sizes(v, bindings) for k, v in node.attrs.items()}
    if node.op == "constant":
        value = EVALUATORS["constant"](torch, **attrs)
    else:
        value = EVALUATORS[node.op](torch, *operands, **attrs)
    return value.to(getattr(torch, node.dtype.name))


def reference_value(node: Node, operands: list[Any], bindings: dict[str, int], graphc_value: Any) -> Any:
    """torch's value of ``node``, or graphc's where torch leaves a basis free and graphc's is a valid one."""
    import torch

    expected = evaluate(node, operands, bindings)
    valid = FREE_BASIS.get(node.op)
    if valid is not None and valid(torch, graphc_value, expected, *operands, **{k: evaluate_sizes(v, bindings) for k, v in node.attrs.items()}):
        return graphc_value
    return expected


class Checker:
    """Compares one compiled program with eager PyTorch on every call (one per traced signature)."""

    def __init__(self, graph: Graph, compile_debug: Callable[[Graph], Any]) -> None:
        self.graph = graph
        self.compile_debug = compile_debug
        self.debug: Any = None  # the graph compiled with every node as an output, built on first need
        self.names = number_nodes(graph.nodes)
        self.needs_debug_values = any(n.op == "rand" or n.op in FREE_BASIS for n in graph.nodes)

    def _debug_values(self, inputs: list[Any]) -> dict[int, Any]:
        if self.debug is None:
            self.debug = self.compile_debug(Graph(self.graph.inputs, list(self.graph.nodes)))
        return {id(n): to_torch(v) for n, v in zip(self.graph.nodes, self.debug(inputs))}

    def __call__(self, inputs: list[Any], results: list[Any], bindings: dict[str, int]) -> None:
        """Raise CheckError if a result of the program differs from eager PyTorch on these inputs."""
        graphc_values = self._debug_values(inputs) if self.needs_debug_values else {}
        reference: dict[int, Any] = {id(n): to_torch(v) for n, v in zip(self.graph.inputs, inputs)}
        for node in self.graph.nodes:
            if id(node) in reference:
                continue
            if node.op == "rand":
                reference[id(node)] = graphc_values[id(node)]
            else:
                operands = [reference[id(i)] for i in node.inputs]
                reference[id(node)] = reference_value(node, operands, bindings, graphc_values.get(id(node)))
        for output, result in zip(self.graph.outputs, results):
            found = difference(to_torch(result), reference[id(output)])
            if found is not None:
                self._locate(inputs, bindings, output, found)

    def _locate(self, inputs: list[Any], bindings: dict[str, int], output: Node, found: tuple[float, float]) -> None:
        """The first node that graphc computes differently from torch on the same operands."""
        values = self._debug_values(inputs)
        for node in self.graph.nodes:
            if node.op in GIVEN:
                continue
            expected = reference_value(node, [values[id(i)] for i in node.inputs], bindings, values[id(node)])
            differs = difference(values[id(node)], expected)
            if differs is not None:
                raise _check_error(node, self.names, differs, "")
        note = (
            "\n  every node matches torch when computed on its own, in the debug program that returns them all;"
            "\n  the difference comes from how the compiled program computes this result (compile with fusion=False to compare)"
        )
        raise _check_error(output, self.names, found, note)


def difference(graphc_value: Any, eager: Any) -> tuple[float, float] | None:
    """(max abs error, tolerance) when two torch tensors differ beyond check mode's tolerance, else None."""
    from graphc.frontend.torch_import.check import value_difference

    return value_difference(_as_array(graphc_value), _as_array(eager))


def _as_array(value: Any) -> np.ndarray:
    import torch

    value = value.detach().cpu()
    return (value.float() if value.dtype == torch.bfloat16 else value).numpy()


def _check_error(node: Node, names: dict[int, str], differs: tuple[float, float], note: str) -> CheckError:
    worst, tolerance = differs
    where = f"\n  at {node.loc}" if node.loc else ""
    return CheckError(
        "graphc check: the first value that differs from eager PyTorch\n"
        f"  IR:   {format_node(node, names)}{where}\n"
        f"  max abs error {worst:.3g} (tolerance {tolerance:.3g}){note}"
    )

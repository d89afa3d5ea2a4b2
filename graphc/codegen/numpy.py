"""The NumPy code generator: a Program becomes one readable Python module.

Each kernel becomes a function named after the ops it computes, with the IR line
of every node as a comment above the NumPy call that computes it; ``run`` calls
the kernels in order. Movement ops become NumPy views, so they cost no copy.
Half-precision values are computed in float32 and stored in their own dtype.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import sympy

from graphc.codegen import c_loops, native
from graphc.codegen import numpy_support as rt
from graphc.codegen.index_exprs import dim_code
from graphc.codegen.kernel_ir import Kernel, Program, kernel_for
from graphc.codegen.row_split import ROWS, RowSplit, split_rows
from graphc.codegen.scaffold import buffers_function, kernel_call, run_header, size_names
from graphc.codegen.templates import check_error, division_error, index_error, split_totals, trivial_reduction
from graphc.ir.dtypes import DType
from graphc.ir.graph import Node
from graphc.ir.printer import format_node, format_value, number_nodes
from graphc.ir.registry import IDENTITIES, REGISTRY, VIEWS
from graphc.ir.types import Dim, dims_equal, free_symbols
from graphc.passes.memory import MemoryPlan, computed_from

Lowering = Callable[[Node, list[str]], str]


def np_dtype(dtype: DType) -> str:
    return "rt.bfloat16()" if dtype.name == "bfloat16" else f"np.{dtype.name}"


def py_dim(d: Dim) -> str:
    """Integer arithmetic: sympy's pycode writes ``floor(B/49)`` as ``math.floor((1/49)*B)``, 0 at B = 49.

    pycode stays for what ``dim_code`` does not write (a ``Max`` of torch.export's sizes).
    """
    if isinstance(d, int):
        return str(d)
    try:
        return dim_code(d)
    except ValueError:
        return sympy.pycode(d)


def py_shape(shape: tuple) -> str:
    inner = ", ".join(py_dim(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def py_literal(value: object) -> str:
    """A Python expression for an attribute value (non-finite floats spelled so they parse)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, DType):
        return np_dtype(value)
    return format_value(value)


def _half(node: Node) -> bool:
    return node.dtype.name in ("float16", "bfloat16")


def _call(function: str) -> Lowering:
    return lambda node, args: f"{function}({', '.join(args)})"


def _reduce(function: str) -> Lowering:
    def lower(node: Node, args: list[str]) -> str:
        axes, keepdim = node.attrs["axes"], node.attrs["keepdim"]
        if not axes:
            return args[0]
        if function == "np.sum" and _half(node):
            return f"np.sum({args[0]}, axis={axes}, keepdims={keepdim}, dtype=np.float32).astype({np_dtype(node.dtype)})"
        if function == "np.sum" and node.dtype.is_integer:  # NumPy would sum int32 in int64
            return f"np.sum({args[0]}, axis={axes}, keepdims={keepdim}, dtype={np_dtype(node.dtype)})"
        return f"{function}({args[0]}, axis={axes}, keepdims={keepdim})"

    return lower


def _argmax(node: Node, args: list[str]) -> str:
    (axis,) = node.attrs["axes"]
    if node.inputs[0].type.ndim == 0:
        return "np.array(0, dtype=np.int64)"
    return f"rt.argmax({args[0]}, {axis}, {node.attrs['keepdim']})"


def _constant(node: Node, args: list[str]) -> str:
    return f"np.array({py_literal(node.attrs['value'])}, dtype={np_dtype(node.dtype)})"


def _cast(node: Node, args: list[str]) -> str:
    if _half(node) and node.inputs[0].dtype.name != "float32":
        # Through float32, as torch rounds a double or an integer to half precision: NumPy's direct
        # float64 -> float16 differs where float32 lands on a tie (1 + 2**-11 + 2**-40 gave 1.00098, torch 1.0).
        return f"{args[0]}.astype(np.float32).astype({np_dtype(node.dtype)})"
    if node.dtype.is_integer and node.dtype.itemsize < 4 and node.inputs[0].dtype.is_floating_point:
        # Truncated to int64 first, then wrapped (docs/decisions.md): a float cast straight to a small integer is undefined in C.
        return f"{args[0]}.astype(np.int64).astype({np_dtype(node.dtype)})"
    return f"{args[0]}.astype({np_dtype(node.dtype)})"


def _rsqrt(node: Node, args: list[str]) -> str:
    if _half(node):  # in float32, rounded once, as torch's: a half sqrt and a half reciprocal were an ulp off in a quarter of elements
        return f"np.reciprocal(np.sqrt({args[0]}.astype(np.float32))).astype({np_dtype(node.dtype)})"
    return f"np.reciprocal(np.sqrt({args[0]}))"


def _matmul_by(function: str) -> Lowering:
    def lower(node: Node, args: list[str]) -> str:
        if _half(node.inputs[0]):  # products of halves are exact in float32; the result rounds to node.dtype (float32: stays)
            return f"{function}({args[0]}.astype(np.float32), {args[1]}.astype(np.float32)).astype({np_dtype(node.dtype)}, copy=False)"
        return f"{function}({args[0]}, {args[1]})"

    return lower


def _reshape(node: Node, args: list[str]) -> str:
    return f"np.reshape({args[0]}, {py_shape(node.attrs['shape'])})"


def _permute(node: Node, args: list[str]) -> str:
    return f"np.transpose({args[0]}, {node.attrs['perm']})"


def _expand(node: Node, args: list[str]) -> str:
    return f"np.broadcast_to({args[0]}, {py_shape(node.attrs['shape'])})"


def _slice(node: Node, args: list[str]) -> str:
    parts = []
    for start, stop, step in zip(node.attrs["starts"], node.attrs["stops"], node.attrs["steps"]):
        parts.append(f"{py_dim(start)}:{py_dim(stop)}" + (f":{step}" if step != 1 else ""))
    return f"{args[0]}[{', '.join(parts)}{',' if len(parts) == 1 else ''}]" if parts else args[0]


def _pad(node: Node, args: list[str]) -> str:
    a = node.attrs
    low, high, interior = (py_shape(a[k]) for k in ("low", "high", "interior"))  # symbolic widths as code, not sympy's repr
    return f"rt.pad({args[0]}, {low}, {high}, {interior}, {py_literal(a['value'])})"


def _concat(node: Node, args: list[str]) -> str:
    return f"np.concatenate([{', '.join(args)}], axis={node.attrs['axis']})"


def _with_attrs(function: str, names: tuple[str, ...]) -> Lowering:
    def lower(node: Node, args: list[str]) -> str:
        extra = ", ".join(py_literal(node.attrs[n]) for n in names)
        return f"{function}({', '.join(args)}, {extra})"

    return lower


def _indexed(function: str) -> Lowering:
    """A gather, index_select or scatter_add that raises graphc's error for an index out of range."""

    def lower(node: Node, args: list[str]) -> str:
        return f"{function}({', '.join(args)}, {node.attrs['axis']}, {index_error(node)!r})"

    return lower


def _division(floats: str, integers: str) -> Lowering:
    """floor_divide, remainder, fmod: floats by ``floats``; integers by an ``rt`` helper that raises on a zero divisor."""

    def lower(node: Node, args: list[str]) -> str:
        if node.dtype.is_floating_point:
            return f"{floats}({', '.join(args)})"
        return f"{integers}({', '.join(args)}, {division_error(node)!r})"

    return lower


def _rand(node: Node, args: list[str]) -> str:
    return f"rt.rand({args[0]}, {py_shape(node.attrs['shape'])}, {np_dtype(node.dtype)})"


LOWERINGS: dict[str, Lowering] = {
    "constant": _constant,
    "cast": _cast,
    **{op: (lambda node, args: args[0]) for op in IDENTITIES},
    "neg": _call("np.negative"),
    "exp": _call("np.exp"),
    "log": _call("np.log"),
    "sqrt": _call("np.sqrt"),
    "rsqrt": _rsqrt,
    "sin": _call("np.sin"),
    "cos": _call("np.cos"),
    "tanh": _call("np.tanh"),
    "erf": _call("rt.erf"),
    "abs": _call("np.abs"),
    "sign": _call("rt.sign"),
    "reciprocal": _call("np.reciprocal"),
    "sigmoid": _call("rt.sigmoid"),
    "log1p": _call("np.log1p"),
    "atan": _call("np.arctan"),
    "expm1": _call("np.expm1"),
    "exp2": _call("np.exp2"),
    "log2": _call("np.log2"),
    "floor": _call("np.floor"),
    "ceil": _call("np.ceil"),
    "round": _call("np.rint"),
    "trunc": _call("np.trunc"),
    "logical_not": _call("np.logical_not"),
    "add": _call("np.add"),
    "sub": _call("np.subtract"),
    "mul": _call("np.multiply"),
    "div": _call("np.divide"),
    "floor_divide": _division("np.floor_divide", "rt.floor_divide"),
    "remainder": _division("rt.remainder", "rt.remainder"),
    "fmod": _division("np.fmod", "rt.fmod"),
    "pow": _call("rt.power"),
    "maximum": _call("np.maximum"),
    "minimum": _call("np.minimum"),
    "eq": _call("np.equal"),
    "ne": _call("np.not_equal"),
    "lt": _call("np.less"),
    "le": _call("np.less_equal"),
    "gt": _call("np.greater"),
    "ge": _call("np.greater_equal"),
    "and": _call("np.logical_and"),
    "or": _call("np.logical_or"),
    "bitwise_and": _call("np.bitwise_and"),
    "bitwise_or": _call("np.bitwise_or"),
    "bitwise_xor": _call("np.bitwise_xor"),
    "where": _call("rt.where"),
    "sum": _reduce("np.sum"),
    "max": _reduce("np.max"),
    "min": _reduce("np.min"),
    "argmax": _argmax,
    "reshape": _reshape,
    "permute": _permute,
    "expand": _expand,
    "slice": _slice,
    "pad": _pad,
    "concat": _concat,
    "gather": _indexed("rt.gather"),
    "scatter_add": _indexed("rt.scatter_add"),
    "scatter_reduce": lambda node, args: f"rt.scatter_reduce({', '.join(args)}, {node.attrs['axis']}, {node.attrs['reduce']!r}, {index_error(node)!r})",
    "index_select": _indexed("rt.index_select"),
    "matmul": _matmul_by("rt.matmul"),
    "unfold": _with_attrs("rt.unfold", ("kernel_size", "dilation", "padding", "stride", "pad_value")),
    "fold": _with_attrs("rt.fold", ("output_size", "kernel_size", "dilation", "padding", "stride")),
    "argsort": _with_attrs("rt.argsort", ("axis", "descending")),
    "cumsum": _with_attrs("rt.cumsum", ("axis", "reverse")),
    "solve": _call("rt.solve"),
    "slogdet": _call("rt.slogdet"),
    "matrix_exp": _call("rt.matrix_exp"),
    "lu": _call("rt.lu"),
    "ldl_factor": _call("rt.ldl_factor"),
    "ldl_solve": _call("rt.ldl_solve"),
    "cholesky": _call("rt.cholesky"),
    "solve_triangular": _with_attrs("rt.solve_triangular", ("upper", "unitriangular")),
    "eigh": _with_attrs("rt.eigh", ("upper",)),
    "svd": _with_attrs("rt.svd", ("full_matrices",)),
    "qr": _with_attrs("rt.qr", ("mode",)),
    "check": lambda node, args: f"rt.check({args[0]}, {args[1]}, {check_error(node)!r})",
    "rand": _rand,
    "size": lambda node, args: f"np.array({py_dim(node.attrs['value'])}, dtype={np_dtype(node.dtype)})",
    "iota": lambda node, args: f"rt.iota({py_shape(node.attrs['shape'])}, {node.attrs['axis']}, {np_dtype(node.dtype)})",
}

# Ops whose NumPy result keeps the operand's dtype only if told to: cast back where needed.
_KEEPS_DTYPE = {
    *("constant", "cast", *IDENTITIES, *VIEWS, "pad", "concat", "check"),
    *("gather", "index_select", "argmax", "argsort", "cumsum", "matmul", "sum", "rand", "iota", "size"),
    *("solve", "slogdet", "cholesky", "solve_triangular", "eigh", "svd", "qr", "matrix_exp", "lu", "ldl_factor", "ldl_solve"),
}


def _symbols_of(nodes: list[Node]) -> list[str]:
    names: set[str] = set()
    for node in nodes:
        names |= {str(s) for s in free_symbols(node.shape)}
        for value in node.attrs.values():  # slice bounds can name sizes that the result's shape does not
            for item in value if isinstance(value, tuple) else (value,):
                if isinstance(item, sympy.Basic):
                    names |= {str(s) for s in item.free_symbols}
    return sorted(names)


# Ops lowered to a NumPy ufunc call: they can write straight into a planned buffer with ``out=``.
_UFUNC_OPS = frozenset(
    {"neg", "exp", "log", "sqrt", "sin", "cos", "tanh", "erf", "abs", "sign", "reciprocal", "logical_not", "sigmoid", "log1p", "atan", "expm1", "exp2", "log2"}
    | {"add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge", "and", "or"}
    | {"floor", "ceil", "round", "trunc", "floor_divide", "remainder", "fmod", "bitwise_and", "bitwise_or", "bitwise_xor"}
)


# With C loops, torch computes nothing else, so every matmul goes to NumPy's OpenBLAS: one
# thread pool. Big products through torch while small ones went to OpenBLAS made each pool
# stall the other (the LSTM's merged weight-gradient matmul: 0.4 ms alone, 10 ms in the step).
ONE_POOL_LOWERINGS = LOWERINGS | {"matmul": _matmul_by("np.matmul")}


def _assign(node: Node, args: list[str], target: str, out: str | None, lowerings: dict[str, Lowering] = LOWERINGS) -> str:
    """The line computing ``node`` into ``target``, writing into the planned buffer ``out`` if any."""
    expression = lowerings[node.op](node, args)
    if out is None:
        if node.op not in _KEEPS_DTYPE and (node.dtype.name in ("float16", "bfloat16") or node.dtype.is_integer):
            expression = f"np.asarray({expression}).astype({np_dtype(node.dtype)}, copy=False)"
        return f"{target} = {expression}"
    if node.op in _UFUNC_OPS or node.op == "where" and node.dtype.name in ("float32", "float64"):
        return f"{target} = {expression[:-1]}, out={out})"
    half = _half(node)
    if node.op in ("sum", "max", "min") and node.attrs["axes"] and not half and node.inputs[0].type.ndim:
        return f"{target} = {expression[:-1]}, out={out})"
    if node.op == "matmul" and not _half(node.inputs[0]):
        return f"{target} = {expression[:-1]}, out={out})"
    return f"np.copyto({out}, {expression}, casting='unsafe')\n    {target} = {out}"


# Operands that a ufunc broadcasts by itself, so a constant reaching it through reshape/expand
# can be passed as a NumPy scalar of its dtype instead of a materialized broadcast view.
_BROADCASTING_OPS = _UFUNC_OPS | {"where"}
_VIEW_OPS = VIEWS | IDENTITIES | {"check"}  # results that are their operand's array (check passes it through)
_SCALAR_DTYPES = {"bool": "np.bool_"} | {name: f"np.{name}" for name in ("uint8", "int8", "int16", "int32", "int64", "float32", "float64")}


def _scalar_literals(nodes: list[Node]) -> dict[int, str]:
    """Nodes holding one constant value (a constant and its reshapes/expands), as scalar literals."""
    literals: dict[int, str] = {}
    for node in nodes:
        if node.op == "constant" and node.dtype.name in _SCALAR_DTYPES:
            literals[id(node)] = f"{_SCALAR_DTYPES[node.dtype.name]}({py_literal(node.attrs['value'])})"
        elif node.op in ("reshape", "expand") and id(node.inputs[0]) in literals:
            literals[id(node)] = literals[id(node.inputs[0])]
    return literals


def _foldable(node: Node, operand: Node, literals: dict[int, str]) -> bool:
    """A scalar operand may replace its broadcast view when another operand already has the result's shape."""
    if node.op not in _BROADCASTING_OPS or id(operand) not in literals:
        return False
    return any(id(other) not in literals and other.shape == node.shape for other in node.inputs)


class VarNames:
    """``v<n>``, the variable of the node printed ``%<n>``, made when asked for: each kernel needs a
    few of its program's names, and a dict of all of them per kernel cost seconds on a program
    of thousands of kernels (a Transformer's backward, unfused)."""

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names

    def __getitem__(self, key: int) -> str:
        return "v" + self.names[key][1:]


class _KernelWriter:
    """Writes one kernel's body: scalar constants folded, dead views dropped, temporaries reused.

    A fused kernel is straight-line NumPy, so each intermediate would be a fresh array;
    writing an op's result into an operand that dies at that op (``out=``) keeps the
    working set to a couple of buffers, which matters as much as the arithmetic on a CPU.
    """

    def __init__(self, kernel: Kernel, names: dict[int, str], planned: frozenset[int], one_pool: bool = False) -> None:
        self.kernel = kernel
        self.lowerings = ONE_POOL_LOWERINGS if one_pool else LOWERINGS
        self.names = names
        self.var = VarNames(names)
        self.outs = {id(n): "out_" + self.var[id(n)] for n in kernel.outputs + materialized(kernel) if id(n) in planned}
        self.literals = _scalar_literals(kernel.nodes)
        self.inside = {id(n) for n in kernel.nodes}
        self.operands = {id(n): [self._read(n, i) for i in n.inputs if not _foldable(n, i, self.literals)] for n in kernel.nodes}
        self.needed = self._needed()
        self.last_use = self._last_use()
        self.owned: set[int] = set()  # fresh arrays made inside this kernel, safe to overwrite when dead

    def _read(self, node: Node, operand: Node) -> Node:
        """What ``node`` reads for ``operand``: past an ``expand`` of this kernel when the ufunc broadcasts by itself.

        NumPy aligns shapes from the right as the IR's expand does, so when an operand read
        as it is already has the result's shape, an expanded one adds nothing but a
        ``np.broadcast_to`` call (about 2 us; 14 of them per step of the tutorial MLP).
        """
        if node.op not in _BROADCASTING_OPS or operand.op != "expand" or id(operand) not in self.inside:
            return operand
        full = [o for o in node.inputs if o.op != "expand" and id(o) not in self.literals and o.shape == node.shape]
        return operand.inputs[0] if full else operand

    def _needed(self) -> set[int]:
        needed = {id(n) for n in self.kernel.outputs}
        for node in reversed(self.kernel.nodes):
            if id(node) in needed:
                needed |= {id(i) for i in self.operands[id(node)]}
        return needed

    def _last_use(self) -> dict[int, int]:
        """For each array the kernel allocates, the index of the last node reading it or a view of it."""
        base: dict[int, int] = {}
        last: dict[int, int] = {}
        for index, node in enumerate(self.kernel.nodes):
            if id(node) not in self.needed:
                continue
            for operand in self.operands[id(node)]:
                root = base.get(id(operand), id(operand))
                last[root] = index
            if node.op in _VIEW_OPS:
                base[id(node)] = base.get(id(node.inputs[0]), id(node.inputs[0]))
        for node in self.kernel.outputs:  # an output lives past the kernel
            last[base.get(id(node), id(node))] = len(self.kernel.nodes)
        return last

    def _reusable(self, node: Node, index: int) -> str | None:
        if node.op not in _UFUNC_OPS or node.type.ndim == 0 or node.dtype.name not in ("float32", "float64", "bool"):
            return None
        for operand in self.operands[id(node)]:
            if id(operand) in self.owned and operand.type == node.type and self.last_use.get(id(operand)) == index:
                self.owned.discard(id(operand))
                return self.var[id(operand)]
        return None

    def lines(self) -> list[str]:
        out: list[str] = []
        for index, node in enumerate(self.kernel.nodes):
            out.append(f"    # {format_node(node, self.names)}")
            if id(node) not in self.needed:
                continue
            args = [self.var[id(self._read(node, i))] if not _foldable(node, i, self.literals) else self.literals[id(i)] for i in node.inputs]
            planned = self.outs.get(id(node))
            target = planned or self._reusable(node, index)
            out.append("    " + _assign(node, args, self.var[id(node)], target, self.lowerings))
            if planned is None and node.op in _UFUNC_OPS and node.type.ndim and node.dtype.name in ("float32", "float64", "bool"):
                self.owned.add(id(node))
        return out


@dataclass
class Loops:
    """The C loops of one program's kernels (``graphc.codegen.c_loops``), built into one module."""

    in_place: dict[int, Node]  # output id -> the operand buffer the memory plan writes it over
    functions: list[tuple[str, str]] = field(default_factory=list)  # (name, C source)


def materialized(kernel: Kernel) -> list[Node]:
    """What this backend stores inside a kernel although no other kernel reads it: a matmul's result.

    BLAS writes the product to memory and the epilogue reads it from there, so
    ``plan_memory`` gives it arena bytes for the kernel's duration (which the epilogue's
    output then takes over in place). As a fresh array on every call, LeNet's first
    convolution took 0.60 ms instead of 0.30 (page faults of new memory).
    """
    outputs = {id(n) for n in kernel.outputs}
    return [n for n in kernel.nodes if n.op == "matmul" and id(n) not in outputs]


def emit_kernel(kernel: Kernel, names: dict[int, str], planned: frozenset[int] = frozenset(), loops: Loops | None = None) -> str:
    """One kernel as a function; outputs in ``planned`` (node ids) are written into arena buffers.

    A kernel that can run by blocks of rows (``graphc.codegen.row_split``) becomes two
    functions: ``<name>_rows`` computes any number of rows into given outputs, and ``<name>``
    hands it to ``rt.by_rows``, which splits large calls into blocks run on threads. A kernel
    whose sizes are known and small stays one function. With ``loops``, the arithmetic is a
    C function where ``c_loops`` can write one (the Python function calls it).
    """
    if kernel.source and loops is None:  # written by emit_program, with its C loops
        return kernel.source
    split = split_rows(kernel)
    if split is None:
        parts = _totals_epilogue(kernel, names, loops)
        if parts is not None:
            return _rows_then_epilogue(kernel, *parts, names, planned, loops)
    touched = _bytes_touched(kernel, split) if split is not None else 0
    if split is None:
        return _function(kernel, names, planned, loops)[0]
    if loops is not None:
        small = isinstance(touched, int) and touched < rt.LOOP_SPLIT_BYTES
        # A block of rows sliced on another axis is strided: C loops would copy it first (LSTM's Adam: 0.55 ms split, 0.2 whole).
        strided = any(axis not in (None, 0) for axis in split.input_axes)
        if small or strided:
            whole, in_c = _function(kernel, names, planned, loops)
            if in_c is not None:
                return whole
    if isinstance(touched, int) and touched < rt.SPLIT_BYTES:  # known to be small
        return _function(kernel, names, planned, loops)[0]
    copies = {id(c): names[id(o)] for o, c in zip(kernel.inputs + kernel.nodes, split.kernel.inputs + split.kernel.nodes)}
    split_loops = None
    if loops is not None:
        copy_of = {id(o): c for o, c in zip(kernel.inputs + kernel.nodes, split.kernel.inputs + split.kernel.nodes)}
        in_place = {id(copy_of[o]): copy_of[id(v)] for o, v in loops.in_place.items() if o in copy_of and id(v) in copy_of}
        split_loops = Loops(in_place, loops.functions)
    rows, in_c = _function(split.kernel, copies, frozenset(id(n) for n in split.kernel.outputs), split_loops)
    threshold = "rt.LOOP_SPLIT_BYTES" if in_c is not None else "rt.SPLIT_BYTES"
    in_blocks = in_c is not None and in_c.rows is not None
    return rows + "\n\n\n" + _driver(kernel, split, names, planned, touched, threshold, in_blocks)


def _totals_epilogue(kernel: Kernel, names: dict[int, str], loops: Loops | None) -> tuple[Kernel, Kernel] | None:
    """(the rows and their totals, what is computed from the totals), when cutting the kernel there pays.

    Totals are reductions over the rows. It pays in two cases:

    - The totals reduce the rows' results to single values and the rest is a few scalar
      operations (cross-entropy's batch mean): without the division, the rows run by blocks
      (each block's totals in part, combined by the pool), then the division once.
    - With C loops, the whole kernel is not C loops but its parts are: a full-size result
      computed from column sums (batch-norm's ``x - mean``; a bias gradient's column sums
      read by more rows) left the whole kernel in NumPy. The second part, cut again at its
      own totals, becomes C loops too (batch-norm's variance after its mean).

    Row values the second part needs are recomputed there from the kernel's inputs and the
    totals (``x - mean``) when elementwise; any other value passed between the parts must
    hold no rows, since it would be a full-size buffer outside the memory plan. An output of
    the first part written in place over an input the second part reads prevents the cut.
    """
    reductions = [n for n in kernel.nodes if n.op in ("sum", "max", "min", "argmax") and not trivial_reduction(n)]
    whole = {id(t) for t in split_totals(reductions)[1]}  # totals reducing the rows' results to single values
    columns = loops is not None and not whole and _needs_numpy(kernel, names, loops)
    if not whole and not columns:
        return None
    over_rows = {id(n) for n in reductions if n.op != "argmax" and 0 in n.attrs["axes"]} if columns else whole
    totals, after = [], set()
    for node in kernel.nodes:  # the first reductions over the rows; what is computed from them comes after
        if any(id(i) in after for i in node.inputs):
            after.add(id(node))
        elif id(node) in over_rows:
            totals.append(node)
            after.add(id(node))
    later = after - {id(t) for t in totals}  # computed from the totals
    free = _free_nodes(kernel.nodes)
    redo = _recomputable(kernel.nodes, later, free, {id(t) for t in totals})
    # Outputs holding no rows that the second part can compute (a mean from its sum) go there: the first part's outputs are rows or totals.
    extent = totals[0].inputs[0].shape[0] if totals and totals[0].inputs[0].type.ndim else None
    moved = {id(o) for o in kernel.outputs if id(o) in redo and not (o.type.ndim and extent is not None and dims_equal(o.shape[0], extent))}
    head_outputs = [o for o in kernel.outputs if id(o) not in later and id(o) not in moved]
    tail_outputs = [o for o in kernel.outputs if id(o) in later or id(o) in moved]
    needed = computed_from(totals + head_outputs, kernel.nodes)
    tail_ids = {id(n) for n in kernel.nodes if id(n) not in needed} | {id(o) for o in tail_outputs}
    passed: list[Node] = []
    for node in reversed(kernel.nodes):  # from the outputs back: what the second part recomputes or receives
        if id(node) not in tail_ids:
            continue
        for operand in node.inputs:
            if id(operand) in free or id(operand) in redo:
                tail_ids.add(id(operand))
            elif id(operand) in needed and all(operand is not p for p in passed):
                passed.append(operand)
    tail_nodes = [n for n in kernel.nodes if id(n) in tail_ids]
    if not totals or all(id(n) in free for n in tail_nodes):
        return None
    head = kernel_for(0, [n for n in kernel.nodes if id(n) in needed], head_outputs + [p for p in passed if all(p is not o for o in head_outputs)])
    base, cut = _cut_name(kernel.name)
    head.name = f"{base}_totals{cut}"
    split = split_rows(head)
    if split is None or "rows" in split.output_kinds[len(head_outputs) :]:
        return None
    read_after = {id(i) for n in tail_nodes for i in n.inputs}
    written_first = {id(o) for o in head.outputs}
    if loops is not None and any(out in written_first and id(value) in read_after for out, value in loops.in_place.items()):
        return None
    tail = kernel_for(0, tail_nodes, tail_outputs)
    tail.name = f"{base}_after{cut}"
    return head, tail


def _cut_name(name: str) -> tuple[str, int]:
    """The kernel's name before any cut, and the number of this cut: ``k1_x_after1`` cut again gives ``k1_x_totals2`` and ``k1_x_after2``."""
    earlier = re.fullmatch(r"(.*)_after(\d+)", name)
    return (earlier.group(1), int(earlier.group(2)) + 1) if earlier else (name, 1)


def _needs_numpy(kernel: Kernel, names: dict[int, str], loops: Loops) -> bool:
    """Whether C loops cannot compute the kernel whole (it would run in NumPy)."""
    try:
        c_loops.plan(kernel, names, loops.in_place)
    except c_loops.Unsupported:
        return True
    return False


def _free_nodes(nodes: list[Node]) -> set[int]:
    """Constants, iotas, sizes and views of them: free to compute in both parts."""
    free: set[int] = set()
    for node in nodes:
        if node.op in ("constant", "iota", "size") or node.op in VIEWS and all(id(i) in free for i in node.inputs):
            free.add(id(node))
    return free


def _recomputable(nodes: list[Node], later: set[int], free: set[int], totals: set[int]) -> set[int]:
    """Values before the cut that elementwise ops and views compute from the kernel's inputs and the totals."""
    inside = {id(n) for n in nodes}
    redo: set[int] = set()
    for node in nodes:
        cheap = node.op in VIEWS or REGISTRY[node.op].category == "elementwise"
        from_inputs = all(id(i) not in inside or id(i) in redo or id(i) in free or id(i) in totals for i in node.inputs)
        if id(node) not in later and id(node) not in totals and cheap and from_inputs:
            redo.add(id(node))
    return redo


def _rows_then_epilogue(kernel: Kernel, head: Kernel, tail: Kernel, names: dict[int, str], planned: frozenset[int], loops: Loops | None) -> str:
    """``<name>_totals<k>`` (the rows and their totals), then ``<name>_after<k>`` computing the rest from the totals."""
    writer = _KernelWriter(kernel, names, planned)
    var = writer.var
    params = [var[id(n)] for n in kernel.inputs] + list(writer.outs.values()) + _symbols_of(kernel.inputs + kernel.nodes)
    lines = [f"def {kernel.name}({', '.join(params)}):"]
    sources = [_call_sub_kernel(part, names, planned, loops, lines) for part in (head, tail)]
    outputs = ", ".join(var[id(n)] for n in kernel.outputs)
    lines.append(f"    return {outputs}{',' if len(kernel.outputs) == 1 else ''}")
    return "\n\n\n".join([*sources, "\n".join(lines)])


def _call_sub_kernel(sub: Kernel, names: dict[int, str], planned: frozenset[int], loops: Loops | None, lines: list[str]) -> str:
    """Append to ``lines`` the call of a part of a kernel written as a kernel of its own; returns that kernel's source.

    Its planned outputs are the calling kernel's arena buffers, passed on under the same names.
    """
    sub_planned = frozenset(id(n) for n in sub.outputs if id(n) in planned)
    writer = _KernelWriter(sub, names, sub_planned)
    args = [writer.var[id(n)] for n in sub.inputs] + list(writer.outs.values()) + _symbols_of(sub.inputs + sub.nodes)
    lines.append(f"    {', '.join(writer.var[id(n)] for n in sub.outputs)}, = {sub.name}({', '.join(args)})")
    return emit_kernel(sub, names, sub_planned, loops)


def _driver(kernel: Kernel, split: RowSplit, names: dict[int, str], planned: frozenset[int], touched: Dim, threshold: str, in_blocks: bool) -> str:
    """``<name>``: gives every output memory, then calls ``<name>_rows`` once or through ``rt.by_rows``.

    With ``in_blocks``, ``<name>_rows`` runs its rows by blocks on the C pool itself and is
    called once, with the number of blocks ``rt.row_blocks`` chooses from the outputs that
    hold rows (the others, partial results, are combined in C).
    """
    writer = _KernelWriter(kernel, names, planned)
    var = writer.var
    params = [var[id(n)] for n in kernel.inputs] + list(writer.outs.values()) + _symbols_of(kernel.inputs + kernel.nodes)
    lines = [f"def {kernel.name}({', '.join(params)}):"]
    outs = []
    for node in kernel.outputs:
        if id(node) not in writer.outs:
            lines.append(f"    out_{var[id(node)]} = rt.output({py_shape(node.shape)}, {np_dtype(node.dtype)}, (__name__, {var[id(node)]!r}))")
        outs.append(f"out_{var[id(node)]}")
    inputs = "".join(f"{var[id(n)]}, " for n in kernel.inputs)
    sizes = "".join(f", {s}={s}" for s in _symbols_of(split.kernel.inputs + split.kernel.nodes) if s != str(ROWS))
    if not isinstance(touched, int):  # symbolic sizes: small calls skip rt.by_rows's few microseconds
        lines.append(f"    if {py_dim(touched)} < {threshold}:")
        lines.append(f"        return {split.kernel.name}({inputs}{', '.join(outs)}, rows={py_dim(split.extent)}{sizes})")
    split_bytes = f", split_bytes={threshold}" if threshold != "rt.SPLIT_BYTES" else ""
    if in_blocks:
        by_rows = "".join(f"{o}, " for o, kind in zip(outs, split.output_kinds) if kind == "rows")
        blocks = f"rt.row_blocks({py_dim(split.extent)}, ({inputs}), {tuple(split.input_axes)}, ({by_rows}){split_bytes})"
        lines.append(f"    return {split.kernel.name}({inputs}{', '.join(outs)}, rows={py_dim(split.extent)}{sizes}, blocks={blocks})")
        return "\n".join(lines)
    kinds = f", kinds={tuple(split.output_kinds)}" if set(split.output_kinds) != {"rows"} else ""
    arguments = f"{py_dim(split.extent)}, ({inputs}), {tuple(split.input_axes)}, ({', '.join(outs)},){kinds}{split_bytes}{sizes}"
    lines.append(f"    return rt.by_rows({split.kernel.name}, {arguments})")
    return "\n".join(lines)


def _bytes_touched(kernel: Kernel, split: RowSplit) -> Dim:
    """Bytes of the outputs and of the inputs read by rows: what decides whether splitting pays."""
    written = [n for n, kind in zip(kernel.outputs, split.output_kinds) if kind == "rows"]
    read = [n for n, axis in zip(kernel.inputs, split.input_axes) if axis is not None]
    return sum(n.type.numel * n.dtype.itemsize for n in written + read)


def _function(kernel: Kernel, names: dict[int, str], planned: frozenset[int], loops: Loops | None = None) -> tuple[str, c_loops.LoopKernel | None]:
    """The kernel's function, and the C loops it calls (with ``loops``, where ``c_loops`` can write them).

    C loops that run their rows by blocks on the C pool (``LoopKernel.rows``) take the number
    of blocks: the function passes on its ``blocks`` argument, one block unless told.
    """
    writer = _KernelWriter(kernel, names, planned)
    var = writer.var
    params = [var[id(n)] for n in kernel.inputs] + list(writer.outs.values()) + _symbols_of(kernel.inputs + kernel.nodes)
    lines = [f"def {kernel.name}({', '.join(params)}):"]
    if loops is not None:
        try:
            part = c_loops.plan(kernel, names, loops.in_place)
        except c_loops.Unsupported as why:
            lines.append(f"    # NumPy, not C loops: {why}")
        else:
            loops.functions.append((part.name, part.source))
            if part.rows is not None:
                lines[0] = f"def {kernel.name}({', '.join([*params, 'blocks=1'])}):"
            return _loop_function(kernel, names, planned, part, lines), part
        writer = _KernelWriter(kernel, names, planned, one_pool=True)
    lines += writer.lines()
    outputs = ", ".join(var[id(n)] for n in kernel.outputs)
    lines.append(f"    return {outputs}{',' if len(kernel.outputs) == 1 else ''}")
    return "\n".join(lines), None


def _loop_function(kernel: Kernel, names: dict[int, str], planned: frozenset[int], part: c_loops.LoopKernel, lines: list[str]) -> str:
    """The NumPy prefix (matmul, scatter, ...), then one call of the C function computing the rest.

    A matmul's epilogue runs on the calling thread right after the BLAS call, never by
    blocks of rows on threads: OpenBLAS's worker spins on a core for about 100 ms after a
    product, and blocks on graphc's pool competed with it (docs/numpy_backend.md).
    """
    writer = _KernelWriter(kernel, names, planned)
    var = writer.var
    if part.prefix:
        inside = {id(n) for n in part.prefix}
        inputs: list[Node] = []
        for node in part.prefix:
            for operand in node.inputs:
                if id(operand) not in inside and all(operand is not i for i in inputs):
                    inputs.append(operand)
        kept = [n for n in part.prefix if any(n is o for o in kernel.outputs + part.reads)]
        lines += _KernelWriter(Kernel(kernel.name, kernel.kind, part.prefix, inputs, kept), names, planned, one_pool=True).lines()
    for node in part.writes:
        if id(node) in writer.outs:
            lines.append(f"    {var[id(node)]} = {writer.outs[id(node)]}")
        else:
            lines.append(f"    {var[id(node)]} = rt.output({py_shape(node.shape)}, {np_dtype(node.dtype)}, (__name__, {var[id(node)]!r}))")
    lines.append("    # in one C loop nest (the program's C module):")
    lines += [f"    #   {format_node(n, names)}" for n in part.nodes]
    args = [var[id(n)] for n in part.reads + part.writes] + part.sizes + part.offsets + part.lengths + (["blocks"] if part.rows is not None else [])
    lines.append(f"    _c.{part.name}({', '.join(args)})")
    outputs = ", ".join(var[id(n)] for n in kernel.outputs)
    lines.append(f"    return {outputs}{',' if len(kernel.outputs) == 1 else ''}")
    return "\n".join(lines)


def _compares_floats_for_equality(program: Program) -> bool:
    """Whether a kernel tests two computed floats with ``==``/``!=`` (max's gradient mask, ``x == x.amax()``):
    such a program's C loops get graphc's own ``exp``, ``log``, ... instead of libmvec's, so a value
    computed in two loops has the same bits in both. A test against a constant (pow's gradient asks
    ``y == 0``) is as robust as ``x > 0``."""
    for kernel in program.kernels:
        literals = _scalar_literals(kernel.nodes)
        for node in kernel.nodes:
            computed = [i for i in node.inputs if id(i) not in literals and i.op != "constant"]
            if node.op in ("eq", "ne") and node.inputs[0].dtype.is_floating_point and len(computed) == 2:
                return True
    return False


def emit_program(program: Program, plan: MemoryPlan, loops: bool = False) -> str:
    """The program's module; with ``loops``, kernels compute in C loops where they can (``c_loops``)."""
    graph = program.graph
    names = number_nodes(graph.nodes)
    var = {key: "v" + value[1:] for key, value in names.items()}
    planned = frozenset(id(b.node) for b in plan.buffers)
    buffer_var = {id(b.node): f"buf{i}" for i, b in enumerate(plan.buffers)}
    header = [
        '"""Generated by graphc (NumPy backend): one function per kernel, then run()."""',
        "import math  # symbolic sizes print as math.ceil/math.floor",
        "",
        "import numpy as np",
        "",
        "from graphc.codegen import numpy_support as rt",
        "",
    ]
    collected = Loops({id(b.node): plan.buffers[b.reuses].node for b in plan.buffers if b.reuses is not None}) if loops else None
    kernels = []
    for kernel in program.kernels:
        before = len(collected.functions) if collected else 0
        text = emit_kernel(kernel, names, planned, collected)
        kernels.append(text + "\n")
        kernel.source = text
        kernel.c_source = "\n\n".join(source for _, source in collected.functions[before:]) if collected else ""
    if collected and collected.functions:
        path = native.build(collected.functions, vector_math=not _compares_floats_for_equality(program))
        if path is None:  # no working compiler: the same program in NumPy
            for kernel in program.kernels:
                kernel.source = kernel.c_source = ""
            return emit_program(program, plan, loops=False)
        header.append(f"_c = rt.native_module({path!r})")
        header.append("")
    sizes = size_names(graph)
    layout = buffers_function(plan, sizes, lambda node: (py_shape(node.shape), np_dtype(node.dtype)), [b.reuses for b in plan.buffers])
    body = run_header(graph, plan, var, buffer_var, sizes, "inputs")
    # A returned view is copied right after the kernel that makes it: it may view an arena
    # buffer that a later kernel of this same call overwrites. So is a result whose lowering
    # is its operand's array (detach, a sum over no axes or of a 0-d value).
    copied = {
        id(n)
        for n in graph.outputs
        if (REGISTRY[n.op].category in ("movement", "source") and n.op not in ("input", "parameter"))
        or n.op in _VIEW_OPS
        or (n.op in ("sum", "max", "min") and trivial_reduction(n))
    }
    for kernel in program.kernels:
        buffers = [buffer_var[id(n)] for n in kernel.outputs + materialized(kernel) if id(n) in planned]
        args = [var[id(n)] for n in kernel.inputs] + buffers + _symbols_of(kernel.inputs + kernel.nodes)
        body.append(kernel_call(kernel.name, kernel.outputs, args, var))
        for n in kernel.outputs:
            if id(n) in copied:
                body.append(f"    {var[id(n)]} = rt.copy({var[id(n)]})")
    results = []
    for n in graph.outputs:
        produced = any(n is o for k in program.kernels for o in k.outputs)
        results.append(f"rt.copy({var[id(n)]})" if id(n) in copied and not produced else f"rt.materialize({var[id(n)]})")
    body.append(f"    return [{', '.join(results)}]")
    parts = ["\n".join(header), "\n\n".join(kernels), "\n".join(layout), "\n".join(body)]
    return "\n\n".join(parts) + "\n"

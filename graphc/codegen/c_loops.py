"""C loops for the NumPy backend: a fused kernel's arithmetic as one compiled loop nest.

A fused kernel in NumPy is still one pass over memory and one Python call per op; the
LSTM's training step made about 6,000 such calls. Here the kernel becomes a C function
instead: loops over its iteration space, every node computed per element *at an index*
as the Triton emitter does (views are index arithmetic from
``graphc.codegen.index_exprs``), so a chain of twenty ops is one pass and one call.
Lines are placed at the loop depth of what they depend on, so a bias or a row's
statistics are loaded once per row, not per element.

Templates, chosen by the kernel's reductions:

- pointwise: one loop nest per output shape;
- rows: loops over the kept axes, then per row one pass over the reduced axes per
  group of dependent reductions (softmax: max, then sum), then the row's outputs, and
  totals of the rows' results accumulated across the row loops. A row need not be
  contiguous: batch-norm over images has a row per channel, its passes over batch,
  height and width (height and width as one loop);
- columns (a reduction with a kept axis after a reduced one: a bias gradient, a
  max-pool's argmax over its windows): one loop in memory order folding each element
  into its column, then the outputs made from the columns;
- scatter: the destination copied, then the source added at its indices in one loop.

What the loops do not compute runs first, in NumPy: matmul (BLAS), argsort, random numbers, half
precision, integer powers and divisions (whose helpers raise on a zero divisor), reductions of a second shape and a second scatter, each with
everything it depends on (``split``). The loops read the results of this *prefix* as
buffers: a matmul's epilogue is a C loop over its result.

Everything here is tested like the NumPy kernels it replaces: the primitive coverage
table, the random programs and the seed models run with C loops on
(``tests/test_c_loops.py``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sympy

from graphc.codegen import c_math
from graphc.codegen.body import CBody
from graphc.codegen.index_exprs import (
    KERNEL_LOOPS,
    Cond,
    Dim,
    FloorDiv,
    Leaf,
    Lin,
    Mod,
    Term,
    Var,
    assume_sizes,
    cond,
    delinearize,
    dim_code,
    fold_disjoint_source,
    fold_source,
    le,
    linearize,
    pad_source,
    prod,
    unfold_source,
    view_index,
    windows,
)
from graphc.codegen.kernel_ir import Kernel
from graphc.codegen.row_split import ROWS, output_kind
from graphc.codegen.templates import (
    SIZE_SLOT,
    check_error,
    constant_value,
    depends_on,
    index_error,
    output_levels,
    parts_at,
    reduction_passes,
    same_rows,
    split_totals,
    store_groups,
    trivial_reduction,
    unreduced_index,
)
from graphc.ir.graph import Node
from graphc.ir.printer import format_node
from graphc.ir.registry import IDENTITIES, VIEWS
from graphc.ir.types import free_symbols, shapes_equal

# Small integers compute in their own C type: every node's value is a variable of it, so each op's
# result (computed in int by C's promotion) wraps as torch's does when it is assigned.
_SMALL_INT = {"uint8": "uint8_t", "int8": "int8_t", "int16": "int16_t"}
STORAGE = {"bool": "uint8_t", "int32": "int32_t", "int64": "int64_t", "float32": "float", "float64": "double"} | _SMALL_INT
COMPUTE = {"bool": "int", "int32": "int32_t", "int64": "int64_t", "float32": "float", "float64": "double"} | _SMALL_INT
ITEMSIZE = {"bool": 1, "uint8": 1, "int8": 1, "int16": 2, "int32": 4, "int64": 8, "float32": 4, "float64": 8}

_MATH = {"exp", "log", "sqrt", "sin", "cos", "tanh", "erf", "log1p", "atan", "expm1", "exp2", "log2"}
_ROUNDING = {"floor": "floor", "ceil": "ceil", "round": "rint", "trunc": "trunc"}  # rint: halves to even, as torch
# Float floor_divide and remainder are torch's formulas around fmod (native.PRELUDE). Integer ones run
# in the NumPy prefix, as integer powers do: its helpers check the divisor and raise on a zero, as torch.
_DIVISION = {"floor_divide": "graphc_floor_divide", "remainder": "graphc_remainder", "fmod": "fmod"}
_FLOAT_ONLY = _MATH | set(_ROUNDING) | set(_DIVISION) | {"rsqrt", "reciprocal", "sigmoid", "div", "pow"}
_ARITHMETIC = {"add": "+", "sub": "-", "mul": "*", "div": "/", "and": "&", "or": "|", "bitwise_and": "&", "bitwise_or": "|", "bitwise_xor": "^"}
_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_ELEMENTWISE = _FLOAT_ONLY | set(_ARITHMETIC) | set(_COMPARE) | {"neg", "abs", "sign", "logical_not", "maximum", "minimum", "where", "cast"}
REDUCTIONS = ("sum", "max", "min", "argmax")
# A float32 row sum longer than this adds chunks of this many elements in float (vectorized:
# 16 to 32 elements per SIMD lane, as NumPy's pairwise sum adds blocks of 128 with 8
# accumulators) and the chunks' sums in double: layer-norm 4096x512 0.80 -> 0.56 ms on one
# thread, where adding every element in double halved the vector width.
SUM_CHUNK = 256
# A row's later passes (reading the row again from cache) add each chunk as this many streams,
# a quarter of the chunk each, into partial sums of their own: a single accumulator made each
# pass wait on the latency of its additions, row after row (layer-norm's variance pass).
SUM_STREAMS = 4
# Every op the loops compute; any other runs in the NumPy prefix.
LOOP_OPS = frozenset(
    _ELEMENTWISE
    | set(VIEWS)
    | IDENTITIES
    | {"constant", "iota", "size", "pad", "concat", "gather", "index_select", "unfold", "fold", "scatter_add", "check", *REDUCTIONS}
)


class Unsupported(Exception):
    """The loops cannot compute this kernel (part); the message says why, for the generated code's comment."""


@dataclass
class LoopKernel:
    """A kernel split into a NumPy prefix and one C function computing the rest."""

    name: str
    prefix: list[Node]  # computed first by NumPy, in kernel order
    nodes: list[Node]  # computed by the C function
    reads: list[Node]  # the buffers the C function reads, in argument order
    writes: list[Node]  # the kernel outputs it writes, in argument order
    sizes: list[str]  # the symbolic sizes it takes after the buffers
    source: str = ""
    # Then the constant parts of its addresses and its compound sizes (``LoopEmitter.argument``), as Python
    # expressions of the sizes.
    offsets: list[str] = field(default_factory=list)
    # Then the bytes each buffer's shape needs, distinct values once (``LoopEmitter.length``), checked against the buffers.
    lengths: list[str] = field(default_factory=list)
    # "rows" when the function runs its rows by blocks on the C pool: it then takes the
    # number of blocks after its sizes (``numpy_support.row_blocks`` chooses it).
    rows: str | None = None


# ----------------------------------------------------------------------------- which nodes the loops compute


def _loopable(node: Node) -> bool:
    if node.op not in LOOP_OPS:
        return False
    if any(n.dtype.name not in STORAGE for n in (node, *node.inputs)):
        return False
    if node.op in _FLOAT_ONLY and not node.dtype.is_floating_point:
        return False
    return not (node.op in ("abs", "neg", "sign") and node.dtype.name == "bool")


def _leading(node: Node) -> bool:
    """A reduction with a kept axis (of size > 1) after a reduced one: its rows are not contiguous."""
    shape, axes = node.inputs[0].shape, node.attrs["axes"]
    reduced = [i for i in axes if shape[i] != 1]
    return any(shape[j] != 1 and j not in axes for i in reduced for j in range(i + 1, len(shape)))


def _columns(node: Node) -> bool:
    """A reduction whose innermost axis is kept: the columns template's loop in memory order vectorizes across columns.

    A bias gradient sums over the batch; a max-pool takes the argmax over each window's
    elements, which im2col puts before the windows. With a reduced axis innermost (a
    convolution's bias gradient or a batch-norm's sums over batch, height and width),
    every element would add into the same column one after the other, unvectorized: those
    take the rows template with a row per channel, its passes over batch, height and width
    with height and width as one loop (``open_loops``' ``merge``).
    """
    shape, axes = node.inputs[0].shape, node.attrs["axes"]
    innermost = [i for i, d in enumerate(shape) if d != 1][-1:]
    return bool(innermost) and innermost[0] not in axes


def _runs(shape: tuple[Dim, ...], tensors: list[Node]) -> list[list[int]]:
    """The runs of adjacent dimensions of size > 1 that every tensor of their rank holds or broadcasts alike.

    A loop over such a run is one loop whose index every load folds back into an address
    (``open_loops``' ``merge``). A dimension some tensor broadcasts over and its neighbour
    not (a channel's statistics beside the batch) ends a run: as one loop, the channel
    would be a division per element.
    """
    same_rank = [t.shape for t in tensors if len(t.shape) == len(shape)]
    runs: list[list[int]] = []
    for i, d in enumerate(shape):
        if d == 1:
            continue
        alike = runs and all((s[i] == 1) == (s[i - 1] == 1) for s in same_rank)
        if runs and i == runs[-1][-1] + 1 and alike:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def split(kernel: Kernel) -> tuple[list[Node], list[Node]]:
    """(prefix, loop nodes): the nodes the loops cannot compute, with their ancestors, go to the prefix."""
    inside = {id(n) for n in kernel.nodes}
    foreign = {id(n) for n in kernel.nodes if not _loopable(n)}
    reductions = [n for n in kernel.nodes if n.op in REDUCTIONS and not trivial_reduction(n)]
    rows, totals = split_totals([n for n in reductions if id(n) not in foreign])
    if rows:  # one row shape per loop nest: reductions of another shape run in NumPy
        foreign |= {id(n) for n in rows if not same_rows(n, rows[-1])}
    if rows and _leading(rows[-1]) and _columns(rows[-1]):  # the columns template keeps no totals
        foreign |= {id(n) for n in totals}
    scatters = [n for n in kernel.nodes if n.op == "scatter_add"]
    if rows:  # a scatter is a template of its own
        foreign |= {id(n) for n in scatters}
    else:
        foreign |= {id(n) for n in scatters[:-1]}
    prefix: set[int] = set()
    stack = [n for n in kernel.nodes if id(n) in foreign]
    while stack:
        node = stack.pop()
        if id(node) in inside and id(node) not in prefix:
            prefix.add(id(node))
            stack.extend(node.inputs)
    return [n for n in kernel.nodes if id(n) in prefix], [n for n in kernel.nodes if id(n) not in prefix]


def _sizes_of(nodes: list[Node]) -> list[str]:
    """The symbolic sizes in the nodes' shapes and attributes (slice bounds can name sizes too)."""
    sizes: set[str] = set()
    for node in nodes:
        sizes |= {str(s) for s in free_symbols(node.shape)}
        for value in node.attrs.values():
            for item in value if isinstance(value, tuple) else (value,):
                if hasattr(item, "free_symbols"):
                    sizes |= {str(s) for s in item.free_symbols}
    return sorted(sizes)


# ----------------------------------------------------------------------------- C text


def _sum(dims: list[Dim]) -> Dim:
    total: Dim = 0
    for d in dims:
        total = total + d
    return assume_sizes(total)


def _first_copies(nodes: list[Node]) -> dict[int, Node]:
    """Each elementwise or view node repeating an earlier one of ``nodes`` (op, attributes, type, operands) -> that one."""
    seen: dict[tuple, Node] = {}
    first: dict[int, Node] = {}
    for node in nodes:
        if node.op not in _ELEMENTWISE and node.op not in VIEWS and node.op not in IDENTITIES:
            continue
        key = (node.op, repr(sorted(node.attrs.items())), node.type, tuple(id(first.get(id(i), i)) for i in node.inputs))
        if key in seen:
            first[id(node)] = seen[key]
        else:
            seen[key] = node
    return first


def _pairwise(names: list[str]) -> str:
    """The sum of ``names`` as a balanced tree of additions, in a fixed order."""
    if len(names) == 1:
        return names[0]
    half = len(names) // 2
    return f"({_pairwise(names[:half])} + {_pairwise(names[half:])})"


def c_dim(d: Dim) -> str:
    """A size as C: sizes are positive, so Python's floor division is C's ``/``."""
    return dim_code(d).replace("//", "/")


def _paren(text: str) -> str:
    return text if text.replace("_", "").isalnum() else f"({text})"


def c_literal(value: object, dtype: str) -> str:
    if dtype == "bool":
        return "1" if value else "0"
    if dtype in ("uint8", "int8", "int16", "int32", "int64"):
        number = int(value)  # type: ignore[call-overload]
        text = f"INT64_C({number})" if dtype == "int64" else str(number)
        return f"({text})" if number < 0 else text
    x = float(value)  # type: ignore[arg-type]
    if math.isnan(x):
        return "NAN"
    if math.isinf(x):
        return "INFINITY" if x > 0 else "(-INFINITY)"
    text = repr(x) + ("f" if dtype == "float32" else "")
    return f"({text})" if x < 0 or text.startswith("-") else text


@dataclass(frozen=True)
class CVal:
    """A value in a C variable (or a literal), its C type and the loop depth it is defined at."""

    code: str
    ctype: str
    depth: int = 0


# ----------------------------------------------------------------------------- the emitter


class LoopEmitter:
    """Writes the C function computing ``nodes`` of ``kernel`` (the NumPy prefix's results are buffers)."""

    def __init__(self, kernel: Kernel, names: dict[int, str], prefix: list[Node], nodes: list[Node], in_place: dict[int, Node]) -> None:
        self.kernel = kernel
        self.names = names
        self.nodes = nodes
        self.inside = {id(n) for n in nodes}
        # A view or constant of the prefix is recomputed as index arithmetic; anything else it made is read.
        self.inside |= {id(n) for n in prefix if n.op in VIEWS or n.op in ("constant", "iota", "size", *IDENTITIES)}
        self.in_place = in_place  # output id -> the operand buffer it is written over
        self.body = CBody()
        self.body.taken |= {"self", "args", "nargs", "itemsizes", "views", "held", "sizes", "lengths", "graphc_bad"}
        self.sizes = set(_sizes_of([*kernel.inputs, *kernel.nodes]))
        self.body.taken |= self.sizes
        self.reads: list[Node] = []
        self.writes: list[Node] = []
        self.size_values: list[Node] = []  # ``size`` nodes written as their expression: its symbols are arguments too
        # An address's constant part or a compound size, as Python code -> the argument holding it (``argument``).
        self.offsets: dict[str, str] = {}
        self.lengths: dict[str, str] = {}  # a buffer's length in bytes as Python code -> the argument holding it
        self.nest = 0
        # The addresses each buffer is read and written at, per loop nest, as text: a row's passes
        # name their loops alike, a chunked loop sits one level deeper but is the same element.
        self.loads: dict[int, set[tuple[int, str]]] = {}
        self.stores: dict[int, set[tuple[int, str]]] = {}
        # Outputs a closed loop nest stored whole: later nests read them back (``value``).
        self.stored: set[int] = set()
        # Each check's kind ("index" or "value"), message and size in C (graphc_bad = (k + 1) << 2).
        self.errors: list[tuple[str, str, str]] = []
        self.reductions = [n for n in nodes if n.op in REDUCTIONS and not trivial_reduction(n)]
        # A value computed twice in the kernel (a training step's softmax: the backward's copy of
        # exp(x - max)) is computed once: ``value`` reads every copy as its first.
        self.first_copy = _first_copies(nodes)

    # ------------------------------------------------------------------ names and shapes

    def num(self, node: Node) -> str:
        return self.names[id(node)][1:]

    def computed(self, node: Node) -> bool:
        return id(node) in self.inside

    def within_row(self, node: Node) -> bool:
        """Computed by this kernel at the element, not through a reduction (whose result is per row)."""
        return id(node) in self.inside and node.op not in REDUCTIONS

    def shape(self, node: Node) -> tuple[Dim, ...]:
        return tuple(assume_sizes(d) for d in node.shape)

    def comment(self, node: Node, depth: int) -> None:
        self.body.line(f"/* {format_node(node, self.names)} */", depth)

    def pointer(self, node: Node, write: bool) -> str:
        group = self.writes if write else self.reads
        if all(node is not n for n in group):
            group.append(node)
        return ("out" if write else "in") + self.num(node)

    # ------------------------------------------------------------------ index expressions

    def term_code(self, term: Term) -> str:
        if isinstance(term, (Var, Leaf)):
            return term.name
        key = ("term", str(term), type(term).__name__)
        name = self.body.get(key)
        if name is None:
            assert isinstance(term, (FloorDiv, Mod))
            divisor = term.div if isinstance(term, FloorDiv) else term.mod
            op = "/" if isinstance(term, FloorDiv) else "%"
            depth = term.arg.depth()
            name = self.body.fresh("ix")
            self.body.line(f"const int64_t {name} = {_paren(self.lin_code(term.arg))} {op} {_paren(self.size(divisor))};", depth)
            self.body.put(key, name, depth)
        return str(name)

    def lin_code(self, lin: Lin) -> str:
        parts = []
        for term, coef in lin.terms:
            name = self.term_code(term)
            parts.append(name if isinstance(coef, int) and coef == 1 else f"{name} * {_paren(self.size(coef))}")
        if not (isinstance(lin.const, int) and lin.const == 0) or not parts:
            parts.append(_paren(self.size(lin.const)))
        return " + ".join(parts)

    def address_code(self, address: Lin) -> str:
        """A buffer's address as C, its constant part an argument (``graphc_off<k>``, one per distinct value).

        Kernels alike but for where they read or write, such as an LSTM's time steps reading
        their slices of a stacked buffer (``+ 256 * t * B``), then have the same C, which is
        compiled once (``c_shared``); the caller passes each its offsets. An offset naming
        ``ROWS`` stays in the code: a block of rows sees its own row count there.
        """
        const = address.const
        if isinstance(const, int) and const == 0 or not isinstance(const, int) and ROWS in free_symbols((const,)):
            return self.lin_code(address)
        name = self.argument(const, "off")
        return f"{self.lin_code(Lin(address.terms, 0))} + {name}" if address.terms else name

    def argument(self, value: Dim, kind: str) -> str:
        """The argument holding ``value`` (``graphc_<kind><k>``), passed by the caller; one per distinct value."""
        code = dim_code(value)
        if code not in self.offsets:
            taken = sum(name.startswith(f"graphc_{kind}") for name in self.offsets.values())
            self.offsets[code] = f"graphc_{kind}{taken}"
        return self.offsets[code]

    def size(self, d: Dim) -> str:
        """A size as C: a compound expression of symbols (``28 * B``) is an argument (``graphc_dim<k>``).

        Such a value is only known at run time anyway, so as an argument it costs nothing, and
        the C text does not depend on the numbers in it: an LSTM's loop over its ``28 * B`` stacked
        rows is the same function at 24 time steps. Numbers stay literals (a loop bound GCC
        knows can be unrolled or vectorized without a remainder), and so do plain symbols and
        expressions of ``ROWS``, which a block of rows sees as its own row count.
        """
        symbols = free_symbols((d,))
        if not symbols or ROWS in symbols or isinstance(d, sympy.Symbol):
            return c_dim(d)
        return self.argument(d, "dim")

    def length(self, node: Node) -> str:
        """The argument holding the bytes ``node``'s buffer needs (``graphc_len<k>``, one per distinct value).

        Numbers too: a stacked buffer's length holds the step count (``28672 * B``) even where
        its readers' loops do not, and a static-shape program's lengths are all numbers.
        """
        code = dim_code(prod([*self.shape(node), ITEMSIZE[node.dtype.name]]))
        return self.lengths.setdefault(code, f"graphc_len{len(self.lengths)}")

    def cond_code(self, c: Cond) -> str:
        lin = _paren(self.lin_code(c.lin))
        if c.op == "divisible":
            return f"{lin} % {_paren(self.size(c.rhs))} == 0"
        return f"{lin} {c.op} {_paren(self.size(c.rhs))}"

    def conds_code(self, conds: tuple[Cond, ...]) -> tuple[str, int]:
        depth = max((c.lin.depth() for c in conds), default=0)
        return " && ".join(f"({self.cond_code(c)})" for c in conds), depth

    # ------------------------------------------------------------------ loops

    def open_loops(
        self,
        shape: tuple[Dim, ...],
        prefix: str,
        pragma: str = "#pragma GCC ivdep",
        ranges: dict[int, tuple[Dim, Dim]] | None = None,
        factors: dict[int, tuple[Dim, ...]] | None = None,
        chunk: int = 0,
        merge: bool = False,
        streams: int = 1,
    ) -> tuple[list[Lin], int]:
        """A loop per dimension of size > 1 (outermost first); the index, and how many loops were opened.

        ``ranges`` restricts an axis to ``[lo, hi)`` (a part of a concat); ``factors`` runs an
        axis as nested loops (an image's windows as rows and columns of windows, so the
        index arithmetic of im2col needs no division per element). The innermost loop
        carries ``pragma``; with ``chunk``, an innermost loop longer than that runs in chunks
        of ``chunk`` iterations inside a loop over the chunks (its index stays the element's);
        with ``streams`` too (the loop's length a multiple of ``chunk``), it runs over the first
        ``chunk / streams`` elements of each chunk, and the caller reads the others at offsets.
        With ``merge``, adjacent dimensions that every tensor holds or broadcasts alike run as
        one loop (``_runs``), each index recovered by a division and a modulo that the
        address folds back (``x // W * W + x % W`` is ``x``): a batch-norm's sum over batch,
        height and width is one vectorized loop of 784 elements per image, not 28 loops of 28.
        By default the pragma is ``ivdep``: two buffers of a kernel are either
        disjoint or the same buffer written in place, read at the written element before the
        write (``check_in_place``), so no iteration depends on another through memory.
        Without it GCC checks every pair of pointers at run time and gives up vectorizing
        past ten pairs: an LSTM cell's loop (8 buffers) ran scalar, 0.22 ms instead of 0.06.
        """
        ranges = ranges or {}
        factors = factors or {}
        extents = [ranges[i][1] - ranges[i][0] if i in ranges else d for i, d in enumerate(shape)]
        loops = [(i, j, f) for i, d in enumerate(extents) for j, f in enumerate(factors.get(i, (d,))) if f != 1]
        index: list[Lin] = [Lin.of(ranges[i][0] if i in ranges else 0) for i in range(len(shape))]
        if merge and not ranges and not factors:
            return self.open_merged(shape, prefix, pragma, chunk, streams)
        opened = len(loops)
        for i, j, f in loops:
            name = f"{prefix}{i}" + (f"_{j}" if i in factors else "")
            while name in self.sizes:  # a size named like a loop counter (sizes are arguments)
                name += "_"
            self.body.taken.add(name)
            header = [pragma] if pragma and (i, j, f) == loops[-1] else []
            if chunk and (i, j, f) == loops[-1] and not (isinstance(f, int) and f <= chunk):
                self.body.taken |= {f"{name}_c", f"{name}_end"}
                self.body.open(f"for (int64_t {name}_c = 0; {name}_c < {_paren(self.size(f))}; {name}_c += {chunk})")
                if streams > 1:
                    header.append(f"for (int64_t {name} = {name}_c; {name} < {name}_c + {chunk // streams}; {name}++)")
                else:
                    self.body.line(f"const int64_t {name}_end = {name}_c + {chunk} < {_paren(self.size(f))} ? {name}_c + {chunk} : {_paren(self.size(f))};")
                    header.append(f"for (int64_t {name} = {name}_c; {name} < {name}_end; {name}++)")
                opened += 1
            else:
                header.append(f"for (int64_t {name} = 0; {name} < {_paren(self.size(f))}; {name}++)")
            depth = self.body.open(*header)
            inner = prod(list(factors[i][j + 1 :])) if i in factors else 1
            index[i] = index[i] + Lin.of(Var(name, f, frozenset({name}), depth, None)) * inner
        return index, opened

    def open_merged(self, shape: tuple[Dim, ...], prefix: str, pragma: str, chunk: int, streams: int = 1) -> tuple[list[Lin], int]:
        """``open_loops`` with each run of adjacent dimensions of size > 1 as one loop."""
        runs = _runs(shape, [*self.kernel.inputs, *self.kernel.nodes])
        first = {run[0]: prod([shape[i] for i in run]) for run in runs}  # a run's loop is named for its first dimension
        loops, opened = self.open_loops(tuple(first.get(i, 1) for i in range(len(shape))), prefix, pragma, chunk=chunk, streams=streams)
        index: list[Lin] = [Lin() for _ in shape]
        for run in runs:
            for i, part in zip(run, delinearize(loops[run[0]], tuple(shape[i] for i in run))):
                index[i] = part
        return index, opened

    def close_loops(self, count: int) -> None:
        for _ in range(count):
            self.body.close()

    # ------------------------------------------------------------------ values

    def emit(self, node: Node, code: str, ctype: str, depth: int) -> CVal:
        self.comment(node, depth)
        name = self.body.fresh("v" + self.num(node))
        self.body.line(f"const {ctype} {name} = {code};", depth)
        return CVal(name, ctype, depth)

    def load(self, node: Node, index: tuple[Lin, ...], conds: tuple[Cond, ...], shape: tuple[Dim, ...] | None = None) -> CVal:
        """``node``'s element at ``index``, read from its buffer (taken as of ``shape``, a reshape of it, if given)."""
        address = linearize(index, shape if shape is not None else self.shape(node))
        guard, guard_depth = self.conds_code(conds)
        depth = max(address.depth(), guard_depth)
        code = f"{self.pointer(node, write=id(node) in self.stored)}[{self.address_code(address)}]"
        if guard:  # outside the padding or the concat part, nothing is read
            code = f"{guard} ? {code} : 0"
        ctype = COMPUTE[node.dtype.name]
        name = self.body.fresh("v" + self.num(node))
        self.body.line(f"const {ctype} {name} = {code};", depth)
        self.loads.setdefault(id(node), set()).add((self.nest, str(address)))
        return CVal(name, ctype, depth)

    def value(self, node: Node, index: tuple[Lin, ...], conds: tuple[Cond, ...] = ()) -> CVal:
        """``node``'s value at ``index``; elements outside ``conds`` are not used (no memory is read for them).

        An output an earlier loop nest stored is read back from its buffer, not computed
        again: computing it again could read an operand that output was written over in
        place (batch-norm's `rsqrt(var)` per channel, written over the variance, and the
        normalized images computed from it in the next nest).
        """
        node = self.first_copy.get(id(node), node)
        key = ("value", id(node), index, conds)
        hit = self.body.get(key)
        if hit is not None:
            return hit  # type: ignore[return-value]
        anchored = self.body.get(("anchor", id(node), index))
        if anchored is not None:
            return anchored  # type: ignore[return-value]
        computed = id(node) in self.inside and id(node) not in self.stored
        result = self.compute(node, index, conds) if computed else self.load(node, index, conds)
        self.body.put(key, result, result.depth)
        return result

    def compute(self, node: Node, index: tuple[Lin, ...], conds: tuple[Cond, ...]) -> CVal:
        op = node.op
        ctype = COMPUTE[node.dtype.name]
        if op == "constant":
            return CVal(c_literal(node.attrs["value"], node.dtype.name), ctype)
        if op == "size":
            self.size_values.append(node)
            return CVal(f"({ctype})({self.size(node.attrs['value'])})", ctype)
        if op == "iota":
            at = index[node.attrs["axis"]]
            return CVal(f"({ctype})({self.lin_code(at)})", ctype, at.depth())
        if op == "reshape" and id(node.inputs[0]) not in self.inside:
            # Buffers are C-contiguous: a reshape keeps every element's offset, so read at the
            # index as it is. Taken apart into the source's index, the offset came out as
            # divisions the compiler could not undo (an LSTM's bias gradient over [28*B,256]
            # rows of a [28,B,256] buffer: 0.97 ms, not vectorized).
            return self.load(node.inputs[0], index, conds, self.shape(node))
        if op in VIEWS:
            return self.value(node.inputs[0], view_index(op, node.attrs, self.shape(node.inputs[0]), self.shape(node), index), conds)
        if op in IDENTITIES:
            return self.value(node.inputs[0], index, conds)
        if op == "check":
            return self.check(node, index, conds)
        if op == "pad":
            return self.pad(node, index, conds)
        if op == "concat":
            return self.concat(node, index, conds)
        if op in ("gather", "index_select"):
            return self.indexed_read(node, index, conds)
        if op == "unfold":
            return self.unfold(node, index, conds)
        if op == "fold":
            return self.fold(node, index, conds)
        if op == "scatter_add":
            raise Unsupported(f"{format_node(node, self.names)} is read by the kernel after its scatter")
        if op in REDUCTIONS:
            if not trivial_reduction(node):
                raise Unsupported(f"{format_node(node, self.names)} is read at an index its loops do not compute")
            if op == "argmax":
                return CVal("INT64_C(0)", ctype)
            return self.value(node.inputs[0], unreduced_index(node, index), conds)
        operands = [self.value(i, index, conds) for i in node.inputs]
        per_row = op == "div" and ctype in ("float", "double") and operands[1].depth < operands[0].depth
        if per_row and depends_on(node.inputs[1], self.reductions, self.computed):
            return self.emit(node, f"{operands[0].code} * {self.reciprocal(operands[1])}", ctype, operands[0].depth)
        return self.emit(node, self.lower(node, [v.code for v in operands]), ctype, max((v.depth for v in operands), default=0))

    def reciprocal(self, divisor: CVal) -> str:
        """1 / a row's statistic, once per row: softmax's division by the row's sum becomes a multiply.

        Softmax 4096x512 on one thread: 1.42 -> 1.32 ms (a vector division costs several
        multiplications). The result
        can differ from a true division in the last bit, as torch's own softmax kernel does
        (it multiplies by the reciprocal too); only divisors computed from the kernel's
        reductions are rewritten, so a user's plain ``x / s`` stays a division.
        """
        key = ("reciprocal", divisor.code)
        name = self.body.get(key)
        if name is None:
            name = self.body.fresh("rcp")
            one = "1.0f" if divisor.ctype == "float" else "1.0"
            self.body.line(f"const {divisor.ctype} {name} = {one} / {divisor.code};", divisor.depth)
            self.body.put(key, name, divisor.depth)
        return str(name)

    def pad(self, node: Node, index: tuple[Lin, ...], conds: tuple[Cond, ...]) -> CVal:
        x = node.inputs[0]
        inner_index, new = pad_source(index, self.shape(x), node.attrs)
        return self.padded(node, self.value(x, inner_index, conds + new), new, node.attrs["value"])

    def padded(self, node: Node, inner: CVal, new: tuple[Cond, ...], fill: object) -> CVal:
        """``inner`` where the index is inside the source (``new`` holds), ``fill`` in the padding."""
        if not new:
            return inner
        guard, depth = self.conds_code(new)
        return self.emit(node, f"{guard} ? {inner.code} : {c_literal(fill, node.dtype.name)}", COMPUTE[node.dtype.name], max(depth, inner.depth))

    def concat(self, node: Node, index: tuple[Lin, ...], conds: tuple[Cond, ...]) -> CVal:
        """A chain of ``part k ? value k : ...``; parts the index provably misses are left out."""
        axis = node.attrs["axis"]
        offsets: list[Dim] = [0]
        for p in node.inputs:
            offsets.append(offsets[-1] + self.shape(p)[axis])
        e = index[axis]
        low, high = e.bounds()
        parts = [k for k in range(len(node.inputs)) if not (le(offsets[k + 1], low) or (high is not None and le(high + 1, offsets[k])))]

        def shifted(k: int) -> tuple[Lin, ...]:
            return tuple(x - offsets[k] if i == axis else x for i, x in enumerate(index))

        if len(parts) == 1:  # a loop range of one part (``concat_ranges``)
            return self.value(node.inputs[parts[0]], shifted(parts[0]), conds)
        code, depth = "", 0
        for k in parts:
            lower = cond(e, ">=", offsets[k]) if k else None
            upper = cond(e, "<", offsets[k + 1]) if k != parts[-1] else None
            inner = self.value(node.inputs[k], shifted(k), conds + tuple(c for c in (lower, upper) if c is not None))
            depth = max(depth, inner.depth)
            if upper is None:
                code += inner.code
                break
            guard, guard_depth = self.conds_code((upper,))
            depth = max(depth, guard_depth)
            code += f"{guard} ? {inner.code} : "
        return self.emit(node, code, COMPUTE[node.dtype.name], depth)

    def window_factors(self, shape: tuple[Dim, ...]) -> dict[int, tuple[Dim, ...]]:
        """An unfold of this shape: its windows' axis as the count of windows along each spatial axis."""
        for node in self.nodes:
            if node.op == "unfold" and len(node.shape) == len(shape) and shapes_equal(self.shape(node), shape):
                a = node.attrs
                sizes = self.shape(node.inputs[0])[2:]
                return {2: tuple(windows(*args) for args in zip(sizes, a["kernel_size"], a["dilation"], a["padding"], a["stride"]))}
        return {}

    def concat_ranges(self, shape: tuple[Dim, ...]) -> list[dict[int, tuple[Dim, Dim]]]:
        """The loop ranges of a nest over ``shape``: one per part of a concat of that shape, so each range reads one part."""
        for node in reversed(self.nodes):
            if node.op == "concat" and len(node.shape) == len(shape) and shapes_equal(self.shape(node), shape):
                axis = node.attrs["axis"]
                sizes = [self.shape(p)[axis] for p in node.inputs]
                starts = [_sum(sizes[:k]) for k in range(len(sizes))]
                return [{axis: (start, _sum([start, d]))} for start, d in zip(starts, sizes) if not (isinstance(d, int) and d == 0)]
        return [{}]

    def index_error(self, node: Node, size: Dim) -> int:
        """The code an out-of-range index of ``node`` into an axis of ``size`` sets; its message is ``templates.index_error``."""
        self.errors.append(("index", index_error(node), self.size(size)))
        return len(self.errors) << 2

    def check(self, node: Node, index: tuple[Lin, ...], conds: tuple[Cond, ...]) -> CVal:
        """``check``: its operand, after setting the check's code where the test holds (on elements ``conds`` keep)."""
        bad = self.value(node.inputs[1], index, conds)
        guard, depth = self.conds_code(conds)
        self.errors.append(("value", check_error(node), "0"))
        test = f"{guard} && {bad.code}" if guard else bad.code
        self.comment(node, max(depth, bad.depth))
        self.body.line(f"if ({test}) graphc_bad = {len(self.errors) << 2};", max(depth, bad.depth))
        return self.value(node.inputs[0], index, conds)

    def unfold(self, node: Node, index: tuple[Lin, ...], conds: tuple[Cond, ...]) -> CVal:
        """im2col as index arithmetic: column (c, ki, kj) of window l reads x at the window's pixel, or the padding."""
        x = node.inputs[0]
        source, new = unfold_source(index, self.shape(x), node.attrs)
        return self.padded(node, self.value(x, source, conds + new), new, node.attrs["pad_value"])

    def fold(self, node: Node, index: tuple[Lin, ...], conds: tuple[Cond, ...]) -> CVal:
        """col2im as a gather: each pixel sums the columns of the windows covering it (no scattered writes).

        Windows that do not overlap (a max-pool's backward) give a pixel one column element
        or none: a read, no loop over the kernel (LeNet's two: 0.47 → 0.12 and 0.17 → 0.03
        ms). Otherwise the loops over the kernel are unrolled, so the loop over the pixels
        holds no loop and vectorizes (LeNet's convolution input gradient 0.59 → 0.45 ms).
        """
        disjoint = fold_disjoint_source(index, node.attrs)
        if disjoint is not None:
            source, new = disjoint
            return self.padded(node, self.value(node.inputs[0], source, conds + new), new, 0)
        kernel = node.attrs["kernel_size"]
        ctype = COMPUTE[node.dtype.name]
        self.comment(node, self.body.depth)
        acc = self.body.fresh("acc" + self.num(node))
        self.body.line(f"{ctype} {acc} = 0;")
        offsets = []
        for name, size in zip(KERNEL_LOOPS[-len(kernel) :], kernel):
            loop = self.body.fresh(name)
            depth = self.body.open(f"#pragma GCC unroll {size}", f"for (int64_t {loop} = 0; {loop} < {size}; {loop}++)")
            offsets.append(Lin.of(Var(loop, size, frozenset({loop}), depth, None)))
        source, new = fold_source(index, tuple(offsets), node.attrs)
        inner = self.value(node.inputs[0], source, conds + new)
        guard, _ = self.conds_code(new)
        self.body.line(f"{acc} += {guard} ? {inner.code} : 0;" if guard else f"{acc} += {inner.code};")
        for _ in kernel:
            self.body.close()
        return CVal(acc, ctype, self.body.depth)

    def indexed_read(self, node: Node, index: tuple[Lin, ...], conds: tuple[Cond, ...]) -> CVal:
        """gather/index_select: the index is loaded, checked against the axis' size, then used as an address."""
        x, idx_node = node.inputs
        axis = node.attrs["axis"]
        at = self.value(idx_node, index if node.op == "gather" else (index[axis],), conds)
        size = self.shape(x)[axis]
        self.comment(node, at.depth)
        name = self.body.fresh("at" + self.num(node))
        self.body.line(f"int64_t {name} = {at.code};", at.depth)
        code = self.index_error(node, size)
        self.body.line(f"if ((uint64_t){name} >= (uint64_t){_paren(self.size(size))}) {{ graphc_bad = {code}; {name} = 0; }}", at.depth)
        guard: set[Var] = set()
        for e in index:
            guard |= e.vars()
        leaf = Lin.of(Leaf(name, frozenset(), at.depth, frozenset(guard)))
        return self.value(x, tuple(leaf if i == axis else e for i, e in enumerate(index)), conds)

    def lower(self, node: Node, a: list[str]) -> str:
        op = node.op
        ctype = COMPUTE[node.dtype.name]
        f = "f" if ctype == "float" else ""
        if op == "erf" and ctype == "float":
            return f"graphc_erff({a[0]})"
        if op in c_math.FUNCTIONS or (f and op in c_math.FLOAT_FUNCTIONS):  # libmvec's, or graphc's own (native.build)
            return f"graphc_{op}{f}({a[0]})"
        if op in _MATH:
            return f"{op}{f}({a[0]})"
        if op in _ROUNDING:
            return f"{_ROUNDING[op]}{f}({a[0]})"
        if op in _DIVISION:
            return f"{_DIVISION[op]}{f}({a[0]}, {a[1]})"
        if op == "rsqrt":
            return f"({ctype})1 / sqrt{f}({a[0]})"
        if op == "reciprocal":
            return f"({ctype})1 / {a[0]}"
        if op == "sigmoid":
            return f"({ctype})1 / (({ctype})1 + graphc_exp{f}(-{a[0]}))"
        if op in _ARITHMETIC:
            return f"{a[0]} {_ARITHMETIC[op]} {a[1]}"
        if op in _COMPARE:
            return f"{a[0]} {_COMPARE[op]} {a[1]}"
        if op == "neg":
            return f"-{a[0]}"
        if op == "abs":
            return f"fabs{f}({a[0]})" if node.dtype.is_floating_point else f"{a[0]} < 0 ? -{a[0]} : {a[0]}"
        if op == "sign":  # 0 for NaN, as torch.sign
            return f"({ctype})({a[0]} > 0) - ({ctype})({a[0]} < 0)"
        if op == "logical_not":
            return f"{a[0]} == 0"
        if op in ("maximum", "minimum"):
            if node.dtype.name == "bool":
                return f"{a[0]} | {a[1]}" if op == "maximum" else f"{a[0]} & {a[1]}"
            wins = f"{a[0]} > {a[1]}" if op == "maximum" else f"{a[0]} < {a[1]}"
            nan = f" || {a[0]} != {a[0]}" if node.dtype.is_floating_point else ""  # NaN propagates, as in torch
            return f"{wins}{nan} ? {a[0]} : {a[1]}"
        if op == "where":
            return f"{a[0]} ? {a[1]} : {a[2]}"
        if op == "cast":
            if node.dtype.name in _SMALL_INT and node.inputs[0].dtype.is_floating_point:
                return f"({ctype})(int64_t){a[0]}"  # truncated, then wrapped (a float out of range is undefined in C)
            return f"{a[0]} != 0" if node.dtype.name == "bool" else f"({ctype}){a[0]}"
        if op == "pow":
            return self.pow(node, a)
        raise Unsupported(f"no C lowering for {op}")

    def pow(self, node: Node, a: list[str]) -> str:
        f = "f" if COMPUTE[node.dtype.name] == "float" else ""
        exponent = constant_value(node.inputs[1], self.inside)
        special = {1.0: a[0], 2.0: f"{a[0]} * {a[0]}", 3.0: f"{a[0]} * {a[0]} * {a[0]}", 0.5: f"sqrt{f}({a[0]})", -1.0: f"1 / {a[0]}"}
        if exponent in special:
            return special[exponent]
        if f:  # libmvec's, or graphc's own with the same bits in every loop (native.build); float64 pow stays libm's
            return f"graphc_powf({a[0]}, {a[1]})"
        return f"pow{f}({a[0]}, {a[1]})"

    # ------------------------------------------------------------------ stores

    def store_all(self, targets: list[tuple[Node, tuple[Lin, ...]]], parts: Sequence[tuple[Node, tuple[Lin, ...], Node, tuple[Lin, ...]]] = ()) -> None:
        """Compute every value, then store them all: each target at its index, and each of
        ``parts`` (a concat stored part by part: output, where, part, the part's index).

        An output may be written in place over an operand that a later output's computation
        reads at the same element (the memory plan allows it because NumPy computes each
        node once, before any store); loads first keeps that true in a loop that recomputes.
        """
        stores = [(node, index, node, index) for node, index in targets] + list(parts)
        values = [self.value(value, index) for _, _, value, index in stores]
        commented: set[int] = set()
        for (node, at, value, _), v in zip(stores, values):
            if value is not node and id(node) not in commented:  # the concat's IR line above its parts' stores
                commented.add(id(node))
                self.comment(node, self.body.depth)
            self.store(node, at, v)

    def store(self, node: Node, index: tuple[Lin, ...], v: CVal, add: bool = False) -> None:
        address = linearize(index, self.shape(node))
        depth = max(address.depth(), v.depth)
        code = f"({STORAGE[node.dtype.name]})({v.code})" if v.ctype != STORAGE[node.dtype.name] else v.code
        self.body.line(f"{self.pointer(node, write=True)}[{self.address_code(address)}] {'+=' if add else '='} {code};", depth)
        self.stores.setdefault(id(node), set()).add((self.nest, str(address)))

    # ------------------------------------------------------------------ templates

    def emit_loops(self, outputs: list[Node]) -> None:
        rows, totals = split_totals([n for n in self.nodes if n.op in REDUCTIONS and not trivial_reduction(n)])
        scatters = [n for n in self.nodes if n.op == "scatter_add"]
        if scatters:
            self.scatter(scatters[0], outputs)
        elif rows and _leading(rows[0]) and _columns(rows[0]):
            self.columns(rows, outputs)
        elif rows:
            self.reduction(rows, totals, outputs)
        else:
            self.pointwise(outputs)
        self.check_in_place()

    def scatter(self, node: Node, outputs: list[Node]) -> None:
        """The destination copied from the scattered-into tensor, then each source element added at its index."""
        x, index_node, src = node.inputs
        axis = node.attrs["axis"]
        extra = [o for o in outputs if o is not node]
        if any(depends_on(o, [node], self.computed) for o in extra) or all(o is not node for o in outputs):
            raise Unsupported("the kernel reads its scatter's result (not stored by the scatter)")
        if extra:
            self.pointwise(extra)
        self.nest += 1
        index, opened = self.open_loops(self.shape(node), "i")
        self.store(node, tuple(index), self.value(x, tuple(index)))
        self.close_loops(opened)
        self.nest += 1
        index, opened = self.open_loops(self.shape(index_node), "s", pragma="")  # two sources may add to one element
        at = self.value(index_node, tuple(index))
        value = self.value(src, tuple(index))
        self.comment(node, self.body.depth)
        name = self.body.fresh("at" + self.num(node))
        self.body.line(f"int64_t {name} = {at.code};")
        size = self.shape(node)[axis]
        bad = f"(uint64_t){name} >= (uint64_t){_paren(self.size(size))}"
        if opened:
            self.body.line(f"if ({bad}) {{ graphc_bad = {self.index_error(node, size)}; continue; }}")
        else:  # one element, no loop to continue: the add is skipped by a block
            self.body.line(f"if ({bad}) graphc_bad = {self.index_error(node, size)};")
            self.body.open(f"if (!({bad}))")
        leaf = Lin.of(Leaf(name, frozenset(), self.body.depth, frozenset()))
        self.store(node, tuple(leaf if i == axis else e for i, e in enumerate(index)), value, add=True)
        if not opened:
            self.body.close()
        self.close_loops(opened)

    def pointwise(self, outputs: list[Node]) -> None:
        """A loop nest per shape the outputs are stored over; a concat of equal parts is stored part by part."""
        groups, by_parts = store_groups(outputs, self.shape)
        for shape, group in groups:
            for ranges in self.concat_ranges(shape):
                self.nest += 1
                index, opened = self.open_loops(shape, "i", ranges=ranges, factors=self.window_factors(shape))
                here = tuple(index)
                parts = [(out, at, part, here) for out in group if id(out) in by_parts for part, at in parts_at(out, here, self.shape)]
                self.store_all([(out, here) for out in group if id(out) not in by_parts], parts)
                self.close_loops(opened)
            self.stored |= {id(out) for out in group}

    def reduction(self, reductions: list[Node], totals: list[Node], outputs: list[Node]) -> None:
        """Loops over the rows; per row one pass over the reduced axes per group of reductions, then the row's outputs.

        ``totals`` reduce the rows' results to one value each: they accumulate across the
        row loops, and the values computed from them are stored after the loops.
        """
        first = reductions[0]
        full = self.shape(first.inputs[0])
        axes = tuple(sorted(first.attrs["axes"]))
        levels = output_levels(full, axes, outputs, self.shape, totals=bool(totals))
        extra = [o for o in outputs if id(o) not in levels]
        if any(depends_on(o, reductions + totals, self.computed) for o in extra):
            raise Unsupported("an output of another shape depends on the reduction")
        if extra:
            self.pointwise(extra)
        self.nest += 1
        summed = [(red, self.accumulator(red)) for red in totals]  # before the row loops
        kept_shape = tuple(1 if i in axes else d for i, d in enumerate(full))
        reduced_shape = tuple(d if i in axes else 1 for i, d in enumerate(full))
        passes = reduction_passes(reductions, self.inside)
        full_outputs = [o for o in outputs if levels.get(id(o)) == "full"]
        kept = self.kept_in_rows(passes, full_outputs)
        for node in kept:  # one row each, allocated before the row loops
            ctype = COMPUTE[node.dtype.name]
            self.body.line(f"{ctype} *row{self.num(node)} = malloc(({self.size(prod([full[i] for i in axes]))}) * sizeof({ctype}) + 1);", 0)
            self.body.line(f"graphc_bad |= (row{self.num(node)} == NULL) << 1;", 0)
        if kept:
            self.body.line("if (!graphc_bad) {", 0)
            self.body.scopes[0].indent += 1
        xindex, outer = self.open_loops(kept_shape, "x", pragma="")  # the row loops hold the vectorized inner loops

        def row_index(node: Node) -> tuple[Lin, ...]:
            if len(node.shape) == len(full):
                return tuple(Lin() if i in axes else xindex[i] for i in range(len(full)))
            return tuple(xindex[i] for i in range(len(full)) if i not in axes)

        def full_index(rindex: list[Lin]) -> tuple[Lin, ...]:
            return tuple(rindex[i] if i in axes else xindex[i] for i in range(len(full)))

        def open_row(pragma: str, chunk: int = 0, streams: int = 1) -> tuple[list[list[Lin]], int]:
            """The loops over one row, and the index of each stream (``open_loops``); values kept
            from an earlier pass are read back, not recomputed."""
            rindex, inner = self.open_loops(reduced_shape, "r", pragma, chunk=chunk, merge=True, streams=streams)
            indices = [rindex]
            if streams > 1:  # each stream's index a variable of its own: an address's constant part would be an argument (address_code)
                ((loop, _),) = rindex[axes[0]].terms
                for s in range(1, streams):
                    name = self.body.fresh(f"{loop.name}_s")
                    self.body.line(f"const int64_t {name} = {loop.name} + {s * (chunk // streams)};")
                    stream = Lin.of(Var(name, loop.bound, loop.axes, loop.depth, None))
                    indices.append(rindex[: axes[0]] + [stream] + rindex[axes[0] + 1 :])
            for index in indices:
                at = self.lin_code(linearize(tuple(index[i] for i in axes), tuple(full[i] for i in axes)))
                for node in stored:
                    name = self.body.fresh(f"v{self.num(node)}")
                    self.body.line(f"const {COMPUTE[node.dtype.name]} {name} = row{self.num(node)}[{at}];")
                    self.body.put(("value", id(node), full_index(index), ()), CVal(name, COMPUTE[node.dtype.name], self.body.depth), self.body.depth)
            return indices, inner

        stored: list[Node] = []
        runs = _runs(reduced_shape, [*self.kernel.inputs, *self.kernel.nodes])
        innermost = [prod([reduced_shape[i] for i in run]) for run in runs][-1:]  # the loop open_loops would chunk
        long_rows = bool(innermost) and not (isinstance(innermost[0], int) and innermost[0] <= SUM_CHUNK)
        # Whole chunks of one reduced axis, and no output written over an operand (the in-place check compares addresses as text).
        streamable = len(runs) == 1 and len(axes) == 1 and isinstance(full[axes[0]], int) and full[axes[0]] % SUM_CHUNK == 0 and not self.in_place
        for p, group in enumerate(passes):
            accumulators = [self.accumulator(red) for red in group]
            partial = {}  # float32 sums of long rows: chunks summed in float, the chunks' sums in double
            for red, (_, ctype) in zip(group, accumulators):
                if long_rows and red.op == "sum" and ctype == "double" and COMPUTE[red.inputs[0].dtype.name] == "float":
                    partial[id(red)] = (self.body.fresh("part" + self.num(red)), "float")
            # A later pass reads the row from cache, so its additions' latency is what it waits on; the first reads memory in order.
            streams = SUM_STREAMS if p > 0 and streamable and len(partial) == len(group) else 1
            parts = {key: [(name, ctype)] for key, (name, ctype) in partial.items()}
            pragma = self.simd_pragma(group, [partial.get(id(red), acc) for red, acc in zip(group, accumulators)])
            if streams > 1:
                parts = {key: [(self.body.fresh(f"{name}_{s}"), ctype) for s in range(streams)] for key, ((name, ctype),) in parts.items()}
                pragma = "#pragma omp simd " + " ".join(f"reduction(+:{name})" for names in parts.values() for name, _ in names)
            indices, inner = open_row(pragma, chunk=SUM_CHUNK if partial else 0, streams=streams)
            for name, ctype in [part for names in parts.values() for part in names]:
                self.body.line(f"{ctype} {name} = 0;", self.body.depth - 1)
            for s, rindex in enumerate(indices):
                at = self.lin_code(linearize(tuple(rindex[i] for i in axes), tuple(full[i] for i in axes)))
                for red, acc in zip(group, accumulators):
                    v = self.value(red.inputs[0], full_index(rindex))
                    self.accumulate(red, parts[id(red)][s] if id(red) in parts else acc, v, rindex[axes[0]])
                    if any(red.inputs[0] is n for n in kept) and all(red.inputs[0] is not n for n in stored):
                        self.body.line(f"row{self.num(red.inputs[0])}[{at}] = {v.code};")
            if partial:
                self.close_loops(1)
                for red, (name, ctype) in zip(group, accumulators):
                    if id(red) in parts:
                        self.body.line(f"{name} += ({ctype}){_pairwise([part for part, _ in parts[id(red)]])};")
                inner -= 1
            self.close_loops(inner)
            stored += [red.inputs[0] for red in group if any(red.inputs[0] is n for n in kept)]
            for red, acc in zip(group, accumulators):
                self.finalize(red, acc, row_index(red))
                self.anchor_gathered(red, *acc, row_index)
        self.store_all([(out, row_index(out)) for out in outputs if levels.get(id(out)) in ("keep", "drop")])
        if full_outputs:
            (rindex,), inner = open_row("#pragma GCC ivdep")
            self.store_all([(out, full_index(rindex)) for out in full_outputs])
            self.close_loops(inner)
        for red, acc in summed:
            self.accumulate(red, acc, self.value(red.inputs[0], row_index(red.inputs[0])), Lin())
        self.close_loops(outer)
        for red, acc in summed:
            self.finalize(red, acc, tuple(Lin() for _ in red.shape))
        self.store_all([(out, tuple(Lin() for _ in out.shape)) for out in outputs if levels.get(id(out)) == "total"])
        if kept:
            self.body.scopes[0].indent -= 1
            self.body.line("}", 0)
        for node in kept:
            self.body.line(f"free(row{self.num(node)});", 0)

    def kept_in_rows(self, passes: list[list[Node]], full_outputs: list[Node]) -> list[Node]:
        """Reduced operands that a later pass or a full-size output reads again and that cost a transcendental.

        Softmax sums exp(x - max) and then divides it: kept in a row buffer, each exp is
        computed once instead of once per pass. An operand nothing reads again (layer-norm's
        squared deviations) is not kept: storing it would only cost.
        """
        kept = []
        for p, group in enumerate(passes):
            later = [red.inputs[0] for g in passes[p + 1 :] for red in g] + full_outputs
            for red in group:
                operand = red.inputs[0]
                if id(operand) in self.inside and self.costly(operand) and any(depends_on(n, [operand], self.within_row) for n in later):
                    if all(operand is not k for k in kept):
                        kept.append(operand)
        return kept

    def costly(self, node: Node) -> bool:
        """Whether computing ``node`` in this kernel calls a transcendental function."""
        stack, seen = [node], set()
        while stack:
            n = stack.pop()
            if id(n) in seen or id(n) not in self.inside or n.op in REDUCTIONS:
                continue
            seen.add(id(n))
            if n.op in _MATH or n.op in _DIVISION or n.op in ("sigmoid", "pow"):
                return True
            stack.extend(n.inputs)
        return False

    def columns(self, reductions: list[Node], outputs: list[Node]) -> None:
        """Reductions over leading axes: one loop in memory order folds each element into its column.

        The columns' values live in an array of the size of the kept axes after the first
        reduced one (sums start at zero, in double for float32 as row sums do; a max or min
        starts at its neutral value, with a NaN flag per column; an argmax also keeps each
        column's position, the first maximum or the first NaN as in torch, since memory order
        visits a column's elements in order). Kept axes before the first reduced one are
        loops around it all: a max-pool's windows per image and channel fill an array of one
        image's windows, which stays in cache, not one of the whole batch's. A second loop
        over the kept axes computes the outputs made from them. Columns of a value
        needing another reduction first, and full-size outputs made from them, need a second
        pass over memory: those kernels stay in NumPy.
        """
        first = reductions[0]
        full = self.shape(first.inputs[0])
        axes = tuple(sorted(first.attrs["axes"]))
        if len(reduction_passes(reductions, self.inside)) > 1:
            raise Unsupported("column sums of a value that needs another reduction")
        levels = output_levels(full, axes, outputs, self.shape)
        extra = [o for o in outputs if id(o) not in levels]
        later = [o for o in outputs if levels.get(id(o)) == "full" or id(o) not in levels]
        if any(depends_on(o, reductions, self.computed) for o in later):
            raise Unsupported("a full-size output is computed from a column sum")
        if extra:
            self.pointwise(extra)
        kept = [i for i in range(len(full)) if i not in axes]
        outer = [i for i in kept if i < axes[0]]  # loops around the columns
        inner = [i for i in kept if i > axes[0]]  # the columns of one outer index
        inner_shape = tuple(full[i] for i in inner)
        columns = _paren(self.size(prod(list(inner_shape))))
        accumulators = {}
        flags: list[str] = []  # the NaN flags and argmax positions, allocated like the accumulators
        for red in reductions:
            source = COMPUTE[red.inputs[0].dtype.name]
            ctype = ("double" if source == "float" else COMPUTE[red.dtype.name]) if red.op == "sum" else source
            self.comment(red, 0)
            acc = self.body.fresh("acc" + self.num(red))
            self.body.line(f"{ctype} *{acc} = calloc({columns} + 1, sizeof({ctype}));", 0)
            self.body.line(f"graphc_bad |= ({acc} == NULL) << 1;", 0)
            if red.op != "sum":
                extra = ("int64_t", f"{acc}_at") if red.op == "argmax" else ("int", f"{acc}_nan")
                self.body.line(f"{extra[0]} *{extra[1]} = calloc({columns} + 1, sizeof({extra[0]}));", 0)
                self.body.line(f"graphc_bad |= ({extra[1]} == NULL) << 1;", 0)
                flags.append(extra[1])
            accumulators[id(red)] = (acc, ctype)
        self.body.line("if (!graphc_bad) {", 0)
        self.body.scopes[0].indent += 1
        self.nest += 1
        oindex, around = self.open_loops(tuple(d if i in outer else 1 for i, d in enumerate(full)), "o", pragma="")
        for red in reductions:
            acc, ctype = accumulators[id(red)]
            c = self.body.fresh("c")
            starts = [f"{acc}[{c}] = {self.neutral(red, ctype) if red.op != 'sum' else '0'};"]
            if red.op != "sum":
                starts.append(f"{acc}_at[{c}] = 0;" if red.op == "argmax" else f"{acc}_nan[{c}] = 0;")
            self.body.line(f"for (int64_t {c} = 0; {c} < {columns}; {c}++) {{ {' '.join(starts)} }}")

        def with_outer(index: list[Lin]) -> list[Lin]:
            return [oindex[i] if i in outer else e for i, e in enumerate(index)]

        index, opened = self.open_loops(tuple(1 if i in outer else d for i, d in enumerate(full)), "i")
        index = with_outer(index)
        column = self.lin_code(linearize(tuple(index[i] for i in inner), inner_shape))
        operands = [self.value(red.inputs[0], tuple(index)) for red in reductions]  # read before any store
        self.store_all([(out, tuple(index)) for out in outputs if levels.get(id(out)) == "full"])
        for red, operand in zip(reductions, operands):
            acc, ctype = accumulators[id(red)]
            position = self.lin_code(linearize(tuple(index[i] for i in axes), tuple(full[i] for i in axes)))
            self.fold_in(red, acc, ctype, operand.code, f"[{column}]", position)
        self.close_loops(opened)
        row, opened = self.open_loops(tuple(1 if i in axes or i in outer else d for i, d in enumerate(full)), "k")
        row = with_outer(row)

        def at(node: Node) -> tuple[Lin, ...]:
            return tuple(row) if len(node.shape) == len(full) else tuple(row[i] for i in kept)

        column = self.lin_code(linearize(tuple(row[i] for i in inner), inner_shape))
        for red in reductions:
            acc, ctype = accumulators[id(red)]
            result = COMPUTE[red.dtype.name]
            name = self.body.fresh("v" + self.num(red))
            if red.op == "argmax":
                value = f"{acc}_at[{column}]"
            elif red.op in ("max", "min") and ctype in ("float", "double"):
                value = f"({acc}_nan[{column}] ? ({result})NAN : ({result}){acc}[{column}])"
            else:
                value = f"({result}){acc}[{column}]"
            self.body.line(f"const {result} {name} = {value};")
            self.body.put(("anchor", id(red), at(red)), CVal(name, result, self.body.depth), self.body.depth)
            self.anchor_gathered(red, f"{acc}[{column}]", ctype, at)
        self.store_all([(out, at(out)) for out in outputs if levels.get(id(out)) in ("keep", "drop")])
        self.close_loops(opened + around)
        self.body.scopes[0].indent -= 1
        self.body.line("}", 0)
        for acc, _ in accumulators.values():
            self.body.line(f"free({acc});", 0)
        for flag in flags:
            self.body.line(f"free({flag});", 0)

    def fold_in(self, red: Node, name: str, ctype: str, v: str, at: str, position: str) -> None:
        """One element into a sum, max, min or argmax (the first maximum, or the first NaN, as in torch).

        ``name`` is the accumulator, with ``name_nan`` (a float max or min) or ``name_at``
        (an argmax) beside it; ``at`` indexes all three (a column's ``[c]``, or nothing for
        a row's scalar accumulator).
        """
        acc = name + at
        if red.op == "sum":
            self.body.line(f"{acc} += ({ctype}){v};")
            return
        floating = ctype in ("float", "double")
        better = f"{v} > {acc}" if red.op in ("max", "argmax") else f"{v} < {acc}"
        if red.op == "argmax":
            if floating:
                better += f" || ({v} != {v} && {acc} == {acc})"
            self.body.line(f"if ({better}) {{ {acc} = {v}; {name}_at{at} = {position}; }}")
            return
        self.body.line(f"{acc} = {better} ? {v} : {acc};")
        if floating:
            self.body.line(f"{name}_nan{at} |= {v} != {v};")

    def neutral(self, red: Node, ctype: str) -> str:
        """Where a max, min or argmax starts: below (above) every value of ``ctype``."""
        floating = ctype in ("float", "double")
        limits = {"int": ("0", "1"), "int32_t": ("INT32_MIN", "INT32_MAX"), "int64_t": ("INT64_MIN", "INT64_MAX")}
        limits |= {"uint8_t": ("0", "UINT8_MAX"), "int8_t": ("INT8_MIN", "INT8_MAX"), "int16_t": ("INT16_MIN", "INT16_MAX")}
        if red.op in ("max", "argmax"):
            return "-INFINITY" if floating else limits[ctype][0]
        return "INFINITY" if floating else limits[ctype][1]

    def accumulator(self, red: Node) -> tuple[str, str]:
        """Declare a reduction's accumulator before its loop: float32 sums accumulate in double.

        A float max/min also gets a NaN flag: then the loop is a plain max (an OpenMP simd
        reduction, vectorized), and the flag makes the result NaN as in torch. Folding the
        NaN test into the comparison kept GCC from vectorizing: softmax's max pass ran scalar.
        """
        source = COMPUTE[red.inputs[0].dtype.name]
        ctype = COMPUTE[red.dtype.name] if red.op == "sum" else source
        if red.op == "sum" and ctype == "float":
            ctype = "double"
        neutral = "0" if red.op == "sum" else self.neutral(red, ctype)
        self.comment(red, self.body.depth)
        acc = self.body.fresh("acc" + self.num(red))
        self.body.line(f"{ctype} {acc} = {neutral};")
        if red.op == "argmax":
            self.body.line(f"int64_t {acc}_at = 0;")
        elif red.op in ("max", "min") and ctype in ("float", "double"):
            self.body.line(f"int {acc}_nan = 0;")
        return acc, ctype

    def simd_pragma(self, group: list[Node], accumulators: list[tuple[str, str]]) -> str:
        """An OpenMP simd reduction over the pass's accumulators, unless it holds an argmax (first index: in order)."""
        if any(red.op == "argmax" for red in group):
            return "#pragma GCC ivdep"
        clauses = []
        for red, (name, ctype) in zip(group, accumulators):
            kind = "+" if red.op == "sum" else red.op
            clauses.append(f"reduction({kind}:{name})")
            if red.op != "sum" and ctype in ("float", "double"):
                clauses.append(f"reduction(|:{name}_nan)")
        return "#pragma omp simd " + " ".join(clauses)

    def accumulate(self, red: Node, acc: tuple[str, str], v: CVal, position: Lin) -> None:
        name, ctype = acc
        self.fold_in(red, name, ctype, v.code, "", self.lin_code(position))

    def anchor_gathered(self, red: Node, code: str, ctype: str, at: Callable[[Node], tuple[Lin, ...]]) -> None:
        """Gathers of an argmax's operand at the argmax (a max-pool's values, ``torch.max``'s values) are ``code``.

        The argmax's accumulator holds the value at the position it keeps (the first
        maximum, or the first NaN), so such a gather reads it there: no second read of the
        operand at the found positions (a small CNN's first max-pool 0.88 → 0.45 ms).
        """
        if red.op != "argmax":
            return
        axis = red.attrs["axes"][0]
        for node in self.nodes:
            if node.op != "gather" or node.inputs[0] is not red.inputs[0] or node.attrs["axis"] != axis:
                continue
            index = node.inputs[1]
            if index is red or index.op == "reshape" and index.inputs[0] is red:  # max(dim) without keepdim reshapes it
                self.body.put(("anchor", id(node), at(node)), CVal(code, ctype, self.body.depth), self.body.depth)

    def finalize(self, red: Node, acc: tuple[str, str], index: tuple[Lin, ...]) -> None:
        name, ctype = acc
        result = COMPUTE[red.dtype.name]
        if red.op == "argmax":
            code = f"{name}_at"
        else:
            code = f"({result}){name}" if result != ctype else name
            if red.op in ("max", "min") and ctype in ("float", "double"):
                code = f"({name}_nan ? ({result})NAN : {code})"
        self.body.put(("anchor", id(red), index), CVal(code, result, self.body.depth), self.body.depth)

    def check_in_place(self) -> None:
        """An output written over an operand: every read of the operand is at an element written, in the same nest."""
        for out_id, value in self.in_place.items():
            if out_id in self.stores and self.loads.get(id(value), set()) - self.stores[out_id]:
                raise Unsupported("an output is written in place over an operand read at other elements")

    # ------------------------------------------------------------------ the function

    def block_kinds(self) -> list[str] | None:
        """Per buffer written, how blocks of rows make it (``row_split.output_kind``); None when blocks cannot run side by side.

        Every buffer read holds the ``rows`` on axis 0 or does not depend on them. A buffer
        written holds them on axis 0, or does not depend on them: a reduction over the rows,
        which each block writes to a part of its own (``block_parts``), or a 0-d value every
        block computes alike.
        """
        inside = {id(n) for n in self.kernel.nodes}
        kinds = [output_kind(n, inside) for n in self.writes]
        for node, kind in zip(self.writes, kinds):
            holds_rows = bool(self.shape(node)) and self.shape(node)[0] == ROWS
            if holds_rows != (kind == "rows") or kind != "rows" and ROWS in free_symbols(self.shape(node)):
                return None
        if not self.writes or any(not (self.shape(n) and self.shape(n)[0] == ROWS) and ROWS in free_symbols(self.shape(n)) for n in self.reads):
            return None
        return kinds

    def function(self, name: str, symbols: list[str], kinds: list[str] | None = None) -> str:
        """The Python-callable C function: checks its buffers and sizes, then runs the loops without the GIL.

        It takes its buffers, then ``symbols``, the arguments of ``offsets`` (``argument``) and
        those of ``lengths``. With ``kinds`` (``block_kinds``), the loops are ``<name>_body`` over
        any number of rows, and the function takes one more argument, the number of blocks of
        rows to run on the pool.
        """
        reads, writes = self.reads, self.writes
        count = len(reads) + len(writes)
        lengths = ", ".join(self.length(n) for n in reads + writes)
        if kinds:  # the sizes the blocks' parts are cut by (block_parts, block_functions), made arguments before they are listed
            for node, kind in zip(writes, kinds):
                if kind != "rows":
                    self.size(prod(list(self.shape(node))))
            for node in reads + writes:
                if self.shape(node) and self.shape(node)[0] == ROWS:
                    self.size(prod(list(self.shape(node)[1:])))
        sizes = [*symbols, *self.offsets.values()]
        arguments = [*sizes, *self.lengths.values(), *(["graphc_blocks"] if kinds else [])]
        lines = [f"/* {name}: the C loops of {self.kernel.name}", *(f" *   {format_node(n, self.names)}" for n in self.nodes), " */"]
        if kinds:
            lines += self.block_functions(name, sizes, kinds)
        lines.append(f"PyObject *{name}(PyObject *self, PyObject *const *args, Py_ssize_t nargs)")
        lines.append("{")
        itemsizes = ", ".join(str(ITEMSIZE[n.dtype.name]) for n in reads + writes)
        lines.append(f"    static const Py_ssize_t itemsizes[{count}] = {{{itemsizes}}};")
        lines.append(f"    Py_buffer views[{count}];")
        lines.append(f"    PyObject *held[{count}];")
        lines.append(f'    if (!graphc_buffers(args, nargs, {count + len(arguments)}, {count}, {len(reads)}, itemsizes, views, held, self))')
        lines.append("        return NULL;")
        if arguments:
            lines.append(f"    int64_t sizes[{len(arguments)}];")
            lines.append(f"    if (!graphc_sizes(args + {count}, {len(arguments)}, sizes)) {{")
            lines.append(f"        graphc_release(views, held, {count});")
            lines.append("        return NULL;")
            lines.append("    }")
        for i, s in enumerate(arguments):
            lines.append(f"    const int64_t {s} = sizes[{i}];")
        lines.append(f"    const int64_t lengths[{count}] = {{{lengths}}};")
        lines.append(f'    if (!graphc_lengths(views, held, {count}, lengths, self))')
        lines.append("        return NULL;")
        for i, n in enumerate(reads):
            ctype = STORAGE[n.dtype.name]
            lines.append(f"    const {ctype} *in{self.num(n)} = (const {ctype} *)views[{i}].buf;")
        for i, n in enumerate(writes):
            ctype = STORAGE[n.dtype.name]
            lines.append(f"    {ctype} *out{self.num(n)} = ({ctype} *)views[{len(reads) + i}].buf;")
        lines.append("    int graphc_bad = 0;")
        lines.append("    Py_BEGIN_ALLOW_THREADS")
        if kinds:
            values = ", ".join([*(self.pointer_name(n) for n in reads + writes), *sizes])
            lines.append(f"    if (graphc_blocks > 1 && {ROWS} > 1) {{")
            lines.append(f"        const int64_t graphc_step = ({ROWS} + graphc_blocks - 1) / graphc_blocks;")
            lines.append(f"        const int64_t graphc_count = ({ROWS} + graphc_step - 1) / graphc_step;")
            lines += ["        " + line for line in self.block_parts(name, sizes, kinds)]
            lines.append("    } else {")
            lines.append(f"        graphc_bad = {name}_body({values});")
            lines.append("    }")
        else:
            lines.append(self.body.text())
        lines.append("    Py_END_ALLOW_THREADS")
        lines.append(f"    graphc_release(views, held, {count});")
        lines.append("    if (graphc_bad & 2)")
        lines.append("        return PyErr_NoMemory();")
        for k, (kind, message, size) in enumerate(self.errors):
            lines.append(f"    if (graphc_bad == {(k + 1) << 2}) {{")
            if kind == "index":
                before, after = (json.dumps(part, ensure_ascii=False) for part in message.split(SIZE_SLOT, 1))
                lines.append(f'        PyErr_Format(PyExc_IndexError, "%s%lld%s", {before}, (long long){_paren(size)}, {after});')
            else:
                lines.append(f"        graphc_raise_invalid_value({json.dumps(message, ensure_ascii=False)});")
            lines.append("        return NULL;")
            lines.append("    }")
        lines.append("    Py_RETURN_NONE;")
        lines.append("}")
        return "\n".join(lines)

    def job_size(self, size: Dim, sizes: list[str]) -> str:
        """``size`` in C, its symbols read from the job."""
        code = self.size(size)
        for s in sizes:
            code = re.sub(rf"\b{re.escape(s)}\b", f"job->{s}", code)
        return _paren(code)

    def pointer_name(self, node: Node) -> str:
        return f"in{self.num(node)}" if any(node is r for r in self.reads) else f"out{self.num(node)}"

    def block_parts(self, name: str, sizes: list[str], kinds: list[str]) -> list[str]:
        """Run the job's ``graphc_count`` blocks of ``graphc_step`` rows on the pool, then combine what they wrote apart.

        A buffer written that does not hold the rows gets ``graphc_count`` parts, one per block, in
        memory taken for the call: a block never writes where another reads or writes. After
        the blocks, the parts are combined in block order into the output (a sum adds them in
        the output's type, a max or min keeps NaN; a 0-d value every block computed alike is
        block 0's), as ``numpy_support.by_rows`` combines its blocks' partial results.
        """
        apart = [(n, kind) for n, kind in zip(self.writes, kinds) if kind != "rows"]
        lines = []
        for node, _ in apart:
            ctype = STORAGE[node.dtype.name]
            lines.append(f"{ctype} *part{self.num(node)} = malloc(graphc_count * {_paren(self.size(prod(list(self.shape(node)))))} * sizeof({ctype}) + 1);")
            lines.append(f"graphc_bad |= (part{self.num(node)} == NULL) << 1;")
        if apart:
            lines.append("if (!graphc_bad) {")
        values = [self.pointer_name(n) for n in self.reads]
        values += [f"part{self.num(n)}" if kind != "rows" else self.pointer_name(n) for n, kind in zip(self.writes, kinds)]
        inner = [
            f"struct {name}_job job = {{{', '.join([*values, *sizes])}, graphc_step, 0}};",
            f"graphc_parallel({name}_block, &job, graphc_count);",
            "graphc_bad = atomic_load(&job.bad);",
        ]
        for node, kind in apart:
            inner += self.combine_parts(node, kind)
        lines += ["    " + line for line in inner] if apart else inner
        if apart:
            lines.append("}")
        lines += [f"free(part{self.num(n)});" for n, _ in apart]
        return lines

    def combine_parts(self, node: Node, kind: str) -> list[str]:
        """The loop storing the combination of the blocks' parts of ``node`` into its output."""
        size = _paren(self.size(prod(list(self.shape(node)))))
        ctype, out, part = STORAGE[node.dtype.name], f"out{self.num(node)}", f"part{self.num(node)}"
        combined = {
            "sum": "graphc_acc + graphc_v",
            "max": "(graphc_acc > graphc_v || graphc_acc != graphc_acc) ? graphc_acc : graphc_v",
            "min": "(graphc_acc < graphc_v || graphc_acc != graphc_acc) ? graphc_acc : graphc_v",
        }
        lines = [f"/* {format_node(node, self.names)}: the blocks' parts combined ({kind}) */"]
        lines.append(f"for (int64_t graphc_e = 0; graphc_e < {size}; graphc_e++) {{")
        lines.append(f"    {ctype} graphc_acc = {part}[graphc_e];")
        if kind != "same":
            lines.append("    for (int64_t graphc_b = 1; graphc_b < graphc_count; graphc_b++) {")
            lines.append(f"        const {ctype} graphc_v = {part}[graphc_b * {size} + graphc_e];")
            lines.append(f"        graphc_acc = {combined[kind]};")
            lines.append("    }")
        lines.append(f"    {out}[graphc_e] = graphc_acc;")
        lines.append("}")
        return lines

    def block_functions(self, name: str, sizes: list[str], kinds: list[str]) -> list[str]:
        """``<name>_body`` runs the loops over ``rows`` rows of the buffers it is given; ``<name>_block``
        runs block b of a job: its rows' part of each buffer holding rows, the others read whole
        and, written, block b's part (``block_parts``)."""
        pointers = [f"const {STORAGE[n.dtype.name]} *{self.pointer_name(n)}" for n in self.reads]
        pointers += [f"{STORAGE[n.dtype.name]} *{self.pointer_name(n)}" for n in self.writes]
        params = pointers + [f"const int64_t {s}" for s in sizes]
        lines = [f"static int {name}_body({', '.join(params)})", "{", "    int graphc_bad = 0;", self.body.text(), "    return graphc_bad;", "}", ""]
        lines.append(f"struct {name}_job {{")
        lines += [f"    {p};" for p in pointers]
        lines += [f"    int64_t {s};" for s in sizes]
        lines += ["    int64_t step;", "    atomic_int bad;", "};", ""]
        lines.append(f"static void {name}_block(void *ctx, int64_t block)")
        lines.append("{")
        lines.append(f"    struct {name}_job *job = ctx;")
        lines.append("    const int64_t lo = block * job->step;")
        lines.append(f"    const int64_t hi = lo + job->step < job->{ROWS} ? lo + job->step : job->{ROWS};")
        arguments = []
        written = dict(zip(map(id, self.writes), kinds))
        for n in self.reads + self.writes:
            shape = self.shape(n)
            pointer = f"job->{self.pointer_name(n)}"
            if shape and shape[0] == ROWS:  # row lo of this buffer
                pointer += f" + lo * {self.job_size(prod(list(shape[1:])), sizes)}"
            elif written.get(id(n), "rows") != "rows":  # this block's part
                pointer += f" + block * {self.job_size(prod(list(shape)), sizes)}"
            arguments.append(pointer)
        arguments += ["hi - lo" if s == str(ROWS) else f"job->{s}" for s in sizes]
        lines.append(f"    graphc_block_failed(&job->bad, {name}_body({', '.join(arguments)}));")
        lines += ["}", ""]
        return lines


def plan(kernel: Kernel, names: dict[int, str], in_place: dict[int, Node]) -> LoopKernel:
    """The C function for ``kernel`` (after its NumPy prefix); raises ``Unsupported`` with the reason if there is none."""
    prefix, nodes = split(kernel)
    outputs = [o for o in kernel.outputs if any(o is n for n in nodes)]
    computing = [n for n in nodes if n.op not in VIEWS and n.op not in ("constant", "iota", "size", *IDENTITIES)]
    if not outputs or not computing:
        what = ", ".join(sorted({n.op for n in prefix if n.op not in LOOP_OPS or n.op in REDUCTIONS})) or "views"
        raise Unsupported(f"nothing left for C loops after NumPy's {what}")
    emitter = LoopEmitter(kernel, names, prefix, nodes, in_place)
    emitter.emit_loops(outputs)
    used = emitter.reads + emitter.writes + emitter.size_values + [n for n in nodes if id(n) in emitter.inside]
    loop = LoopKernel(kernel.name, prefix, nodes, emitter.reads, emitter.writes, _sizes_of(used))
    kinds = emitter.block_kinds() if str(ROWS) in loop.sizes else None
    loop.rows = str(ROWS) if kinds else None
    loop.source = emitter.function(kernel.name, loop.sizes, kinds)
    loop.offsets, loop.lengths = list(emitter.offsets), list(emitter.lengths)
    return loop

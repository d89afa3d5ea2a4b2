"""The Triton code generator: a Program becomes one module of @triton.jit kernels and launchers.

It reads the same Kernel IR as the NumPy backend (``graphc.codegen.kernel_ir``) and
writes, per Kernel, one or more ``@triton.jit`` functions and a launcher with the
NumPy backend's calling convention; ``run(inputs, *sizes)`` calls the launchers in
order. The module goes through the source cache (``graphc.codegen.cache``): Triton
reads a kernel's source from its file. torch allocates every buffer.

How a Kernel maps to code (docs/backends.md has the long form):

- Every value is computed *at an index*: ``value(node, index)`` returns the Triton
  variable holding ``node`` at a tuple of integer index expressions
  (``graphc.codegen.index_exprs``). Buffers are loaded at ``linearize(index)``;
  movement nodes (reshape, permute, expand, slice, pad, concat, unfold, and the
  indexed reads gather/index_select) only rewrite the index and add lane masks on
  the way down, so views are index arithmetic, never copies; elementwise nodes
  combine their operands' values at the same index. Results are cached per
  (node, index), so a fused chain computes each node once.
- Templates fix the iteration and the index of their anchor nodes:
  pointwise (one flat block per program), reduction (rows of ``XBLOCK`` x
  ``RBLOCK``, whole rows in registers or a loop over the row, one pass per
  dependent reduction), matmul (``tl.dot`` tiles, grouped order, autotuned, the
  epilogue evaluated on the accumulator), scatter (copy, then ``tl.atomic_add``) and, for
  a product, maximum or minimum, each position gathering its sources (``scatter_reduce_kernel``).
- Lines are emitted at the loop depth of what they depend on, so loads and math
  that do not vary along a loop are hoisted out of it.

Half precision is loaded into float32 registers and rounded when stored. Sizes
that are symbols (``B``) are runtime arguments of every kernel.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import sympy

from graphc.codegen.body import Body
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
    linearize,
    pad_source,
    prod,
    unfold_source,
    view_index,
)
from graphc.codegen.kernel_ir import Kernel, Program
from graphc.codegen.scaffold import buffers_function, kernel_call, run_header, size_names
from graphc.codegen.templates import (
    check_error,
    constant_value,
    depends_on,
    division_error,
    index_error,
    index_in,
    output_levels,
    parts_at,
    reduction_passes,
    same_rows,
    split_after,
    split_totals,
    store_groups,
    trivial_reduction,
    unreduced_index,
)
from graphc.errors import GraphcError
from graphc.ir.dtypes import DType
from graphc.ir.graph import Node
from graphc.ir.printer import format_node, number_nodes
from graphc.ir.registry import IDENTITIES, REGISTRY, VIEWS
from graphc.ir.types import dims_equal, shapes_equal
from graphc.passes.memory import MemoryPlan


def _interpreted() -> bool:
    """Whether kernels run in Triton's interpreter (``_use_interpreter_without_gpu`` has set the variable)."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


def _round_to_bfloat16(wide: str) -> str:
    """A float32 expression rounded to the nearest bfloat16 (ties to even) in its bits: the interpreter's
    float32 -> bfloat16 truncates, where torch and GPUs round. NaN is kept (the carry would change it);
    the interpreter still flushes bfloat16 subnormals to zero."""
    bits = f"{wide}.to(tl.int32, bitcast=True)"
    rounded = f"(({bits} + 0x7FFF + (({bits} >> 16) & 1)) & -65536).to(tl.float32, bitcast=True)"
    return f"tl.where({wide} != {wide}, {wide}, {rounded})"


def _half_rounded(wide: str, target: str) -> str:
    """A float32 expression rounded to float16/bfloat16 ``target`` and widened back.

    Half precision computes in float32, and each op rounds its result, as torch's do and as
    a store to a half buffer does: an op read by the next one in the same kernel rounds too,
    so fusing never keeps more precision than the unfused program.
    """
    if target == "bfloat16" and _interpreted():
        wide = _round_to_bfloat16(wide)
    return f"{wide}.to({TL[target]}).to(tl.float32)"


def _use_interpreter_without_gpu() -> None:
    """On a machine without CUDA, Triton runs kernels in its interpreter.

    ``@triton.jit`` decides between compiling and interpreting when a function is
    decorated, so ``TRITON_INTERPRET=1`` must be set before Triton's own library
    (``tl.sum``, ``tl.rand``, ...) is defined. When something imported Triton
    earlier (``torch.optim`` does, through torch._dynamo), those library modules are
    reloaded so that they are interpreted too.
    """
    if "TRITON_INTERPRET" not in os.environ:
        import torch

        if torch.cuda.is_available():
            return
        os.environ["TRITON_INTERPRET"] = "1"
    if not _interpreted() or "triton.language" not in sys.modules:
        return
    import importlib

    import triton.language as tl
    from triton.runtime.jit import JITFunction

    if not isinstance(tl.sum, JITFunction):
        return
    for name in ("triton.language.standard", "triton.language.random"):
        module = sys.modules[name]
        before = dict(vars(module))
        importlib.reload(module)
        for attr, value in vars(module).items():
            if attr in vars(tl) and before.get(attr) is vars(tl)[attr]:
                setattr(tl, attr, value)


def _drop_discarded_overflow_checks() -> None:
    """Spare the interpreter the integer-overflow checks whose verdict it throws away.

    With ``sanitize_overflow`` on, every integer add, sub and mul (all index arithmetic)
    is redone in int64 and compared with the int32 range, and the result goes to
    ``device_assert``, which does nothing unless the options' ``debug`` is on, as it is
    not in the interpreter. That dead check was a fifth of a kernel's interpreted time; a
    compiled kernel without debug drops it too.
    """
    if not _interpreted():
        return
    from triton.runtime import interpreter

    options = interpreter.interpreter_builder.options
    if getattr(options, "sanitize_overflow", False) and not options.debug:
        interpreter.interpreter_builder.options = dataclasses.replace(options, sanitize_overflow=False)


_use_interpreter_without_gpu()
_drop_discarded_overflow_checks()

TL = {
    "bool": "tl.int1",
    "uint8": "tl.uint8",
    "int8": "tl.int8",
    "int16": "tl.int16",
    "int32": "tl.int32",
    "int64": "tl.int64",
    "float16": "tl.float16",
    "bfloat16": "tl.bfloat16",
    "float32": "tl.float32",
    "float64": "tl.float64",
}
HALF = ("float16", "bfloat16")
# Small integers compute in int32 registers, as C's integer promotion does, and each op that can leave
# their range wraps its result back (``_small_int_wrapped``): Triton's own promotion would widen an
# int8 meeting a Python number to int32 and keep the unwrapped value, where torch's wraps.
SMALL_INT = ("uint8", "int8", "int16")
# The largest value below 1 in each dtype: tl.rand can round up to 1.0, torch.rand never returns it.
BELOW_ONE = {"float16": 1 - 2**-11, "bfloat16": 1 - 2**-8, "float32": 1 - 2**-24, "float64": 1 - 2**-24}
ANCHORS = ("matmul", "scatter_add", "sum", "max", "min", "argmax")


def compute_dtype(dtype: DType) -> str:
    """Registers hold half precision as float32 and small integers as int32."""
    if dtype.name in SMALL_INT:
        return "tl.int32"
    return "tl.float32" if dtype.name in HALF else TL[dtype.name]


def _small_int_wrapped(wide: str, target: str) -> str:
    """An int32 expression wrapped into small integer dtype ``target`` and widened back (two's complement, as torch)."""
    return f"{wide}.to({TL[target]}).to(tl.int32)"


def literal(value: object, dtype: DType) -> str:
    if dtype.name == "bool":
        return "True" if value else "False"
    if dtype.is_integer:
        return str(int(value))  # type: ignore[call-overload]
    value = float(value)  # type: ignore[arg-type]
    if dtype.name in HALF:  # the constant's value in its dtype (through float32, as torch rounds a number)
        value = float(np.float32(value).astype(dtype.numpy))
    return repr(value) if math.isfinite(value) else f'float("{value}")'


def _torch_dtype(dtype: DType) -> str:
    return f"torch.{dtype.name}"


def _shape_code(shape: tuple) -> str:
    inner = ", ".join(dim_code(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


# ----------------------------------------------------------------------------- building a function body


@dataclass(frozen=True)
class Val:
    """A value in registers: the variable (or literal) holding it, its Triton dtype, its loop depth and block axes."""

    code: str
    dtype: str
    depth: int = 0
    axes: frozenset[str] = frozenset()


@dataclass
class Fn:
    """One @jit function being written."""

    name: str
    axes: list[tuple[str, str]]  # block axes in layout order: (axis, its block-size constexpr)
    body: Body = field(default_factory=Body)
    pointers: list[str] = field(default_factory=list)  # pointer arguments, in order of first use
    sizes: list[str] = field(default_factory=list)  # extra integer arguments (matmul sizes)
    constexprs: list[str] = field(default_factory=list)
    decorators: list[str] = field(default_factory=list)
    launch_args: dict[str, tuple[int, str, str]] = field(default_factory=dict)  # pointer -> (order, node, launcher variable)
    offsets: dict[str, str] = field(default_factory=dict)  # symbolic address offsets passed as arguments: code -> name
    axis_masks: dict[str, str] = field(default_factory=dict)  # block axis -> the mask of its lanes
    flags_errors: bool = False  # flags errors in its kernel's ``errors`` (KernelEmitter.flag: indices, integer divisions by zero)

    def ordered_pointers(self) -> list[str]:
        """Inputs, then outputs, then temporaries, each in node order: the same for every function of a kernel."""
        return sorted(self.pointers, key=lambda p: (self.launch_args[p][0], int(self.launch_args[p][1][1:])))

    def shape(self, axes: frozenset[str]) -> str:
        dims = [block if axis in axes else "1" for axis, block in self.axes]
        return "[" + ", ".join(dims or ["1"]) + "]"


# ----------------------------------------------------------------------------- one kernel


class KernelEmitter:
    def __init__(self, kernel: Kernel, names: dict[int, str]) -> None:
        self.kernel = kernel
        self.names = names
        self.inside = {id(n) for n in kernel.nodes}
        self.functions: list[str] = []
        self.launch: list[str] = []
        self.helpers: set[str] = set()
        self.temps: set[int] = set()  # nodes computed into a buffer by an earlier launch of this kernel
        self.load_addresses: dict[int, set[Lin]] = {}
        self.store_addresses: dict[int, Lin] = {}
        self.launches = 0
        # Autotuning runs a launch several times on the real buffers: it must not write in place.
        self.autotuned = False
        self.calls: dict[str, str] = {}
        # Each checked index read or scatter (by node) -> its slot in ``errors`` and the message it raises.
        # Each checked index read, scatter or integer division (by node) -> its slot in ``errors``; each slot's message and size.
        self.error_slots: dict[int, int] = {}
        self.flagged: list[tuple[str, str, Dim]] = []  # each slot's (kind, message, size): templates.flagged_error
        symbols: set[str] = set()
        for node in [*kernel.nodes, *kernel.inputs]:
            for d in node.shape:
                if isinstance(d, sympy.Basic):
                    symbols |= {str(s) for s in d.free_symbols}
            for value in node.attrs.values():
                for v in value if isinstance(value, tuple) else (value,):
                    if isinstance(v, sympy.Basic):
                        symbols |= {str(s) for s in v.free_symbols}
        self.symbols = sorted(symbols)
        self.fn: Fn = Fn("", [])

    # ------------------------------------------------------------------ names and shapes

    def num(self, node: Node) -> str:
        return self.names[id(node)][1:]

    def var(self, node: Node) -> str:
        return "v" + self.num(node)

    def ptr(self, node: Node) -> str:
        """The pointer argument of a buffer (kernel input, output or temporary); the launcher calls it ``v<n>``."""
        if id(node) in self.inside and any(node is o for o in self.kernel.outputs):
            name, rank = "out" + self.num(node), 1
        elif id(node) in self.temps:
            name, rank = "tmp" + self.num(node), 2
        else:
            name, rank = "in" + self.num(node), 0
        if name not in self.fn.pointers:
            self.fn.pointers.append(name)
            self.fn.launch_args[name] = (rank, self.names[id(node)], self.var(node))
        return name

    def shape(self, node: Node) -> tuple[Dim, ...]:
        return tuple(assume_sizes(d) for d in node.shape)

    def comment(self, node: Node, depth: int) -> None:
        self.fn.body.line(f"# {format_node(node, self.names)}", depth)

    def is_buffer(self, node: Node) -> bool:
        return id(node) not in self.inside or id(node) in self.temps

    def computed(self, node: Node) -> bool:
        return not self.is_buffer(node)

    # ------------------------------------------------------------------ index expressions

    def term_code(self, term: Term) -> str:
        if isinstance(term, (Var, Leaf)):
            return term.name
        key = ("term", str(term), type(term).__name__)
        name = self.fn.body.get(key)
        if name is None:
            assert isinstance(term, (FloorDiv, Mod))
            arg = self.lin_code(term.arg)
            simple = arg.replace("_", "").isalnum()
            op = "//" if isinstance(term, FloorDiv) else "%"
            divisor = term.div if isinstance(term, FloorDiv) else term.mod
            d = dim_code(divisor)
            code = f"{arg if simple else f'({arg})'} {op} {d if d.isalnum() else f'({d})'}"
            depth = term.arg.depth()
            name = self.fn.body.fresh("ix")
            self.fn.body.line(f"{name} = {code}", depth)
            self.fn.body.put(key, name, depth)
        return str(name)

    def address_code(self, address: Lin) -> str:
        """A buffer address as code, a symbolic constant part of it (``256 * B``) passed as an argument.

        Kernels alike but for where they read or write, such as an LSTM's time steps reading
        their slices of the input (``+ 256 * t * B``), then have the same code, written and
        compiled once (``shared_functions``). A numeric constant stays in the code: Triton
        knows its alignment there, and of an argument only whether it divides by 16.
        """
        if isinstance(address.const, int):
            return self.lin_code(address)
        name = self.fn.offsets.setdefault(dim_code(address.const), f"off{len(self.fn.offsets)}")
        return f"{self.lin_code(Lin(address.terms, 0))} + {name}" if address.terms else name

    def lin_code(self, lin: Lin) -> str:
        parts: list[str] = []
        # largest strides first: x0 * 36 + x1 * 6 + x2 (symbolic coefficients count as large)
        for term, coef in sorted(lin.terms, key=lambda tc: -abs(tc[1]) if isinstance(tc[1], int) else -math.inf):
            name = self.term_code(term)
            negative = isinstance(coef, int) and coef < 0 or not isinstance(coef, int) and bool(sympy.sympify(coef).could_extract_minus_sign())
            magnitude = -coef if negative else coef
            text = name if magnitude == 1 else f"{name} * {_paren(dim_code(magnitude))}"
            parts.append(("- " if parts else "-") + text if negative else ("+ " if parts else "") + text)
        const = lin.const
        if not (isinstance(const, int) and const == 0) or not parts:
            negative = isinstance(const, int) and const < 0 or not isinstance(const, int) and bool(sympy.sympify(const).could_extract_minus_sign())
            if negative and parts:
                parts.append("- " + _paren(dim_code(-const)))
            else:
                parts.append(("+ " if parts else "") + (_paren(dim_code(const)) if parts else dim_code(const)))
        return " ".join(parts)

    def cond_code(self, c: Cond) -> str:
        lin = self.lin_code(c.lin)
        rhs = dim_code(c.rhs)
        if c.op == "divisible":
            lin = lin if lin.replace("_", "").isalnum() else f"({lin})"
            return f"({lin} % {_paren(rhs)} == 0)"
        if not c.lin.axes():  # a scalar (pid_b < 1): the interpreter's & of a scalar bool and a block is no mask
            return f"(tl.full([1], 0, tl.int32) + {lin} {c.op} {rhs})"
        return f"({lin} {c.op} {rhs})"

    def mask_of(self, lins: list[Lin], conds: tuple[Cond, ...]) -> tuple[str | None, frozenset[str], int]:
        """The lane mask for an access: bounds of the block indices it uses, and its conditions."""
        variables: set[Var] = set()
        axes: frozenset[str] = frozenset()
        depth = 0
        for lin in lins:
            variables |= lin.vars()
        for c in conds:
            variables |= c.vars()
            axes |= c.lin.axes()
            depth = max(depth, c.lin.depth())
        parts = []
        for v in sorted(variables, key=lambda v: v.name):
            if v.mask:
                parts.append(v.mask)
                axes |= v.axes
                depth = max(depth, v.depth)
        parts += self.render_conds(conds)
        return (" & ".join(parts) if parts else None), axes, depth

    def render_conds(self, conds: tuple[Cond, ...]) -> list[str]:
        """Conditions as code, using the names given to groups of them (``cond_mask``)."""
        parts, i = [], 0
        while i < len(conds):
            for j in range(len(conds), i, -1):
                name = self.fn.body.get(("conds", conds[i:j]))
                if name is not None:
                    parts.append(str(name))
                    i = j
                    break
            else:
                parts.append(self.cond_code(conds[i]))
                i += 1
        return parts

    def cond_mask(self, conds: tuple[Cond, ...]) -> tuple[str, frozenset[str], int]:
        """The lanes where all ``conds`` hold (in the padding, inside a concat part, ...), named once."""
        code = " & ".join(self.render_conds(conds))
        axes: frozenset[str] = frozenset()
        depth = 0
        for c in conds:
            axes |= c.lin.axes()
            depth = max(depth, c.lin.depth())
        if len(conds) > 1 and self.fn.body.get(("conds", conds)) is None:
            name = self.fn.body.fresh("inside")
            self.fn.body.line(f"{name} = {code}", depth)
            self.fn.body.put(("conds", conds), name, depth)
            code = name
        return code, axes, depth

    # ------------------------------------------------------------------ values

    def const(self, value: object, dtype: DType, node: Node | None = None) -> Val:
        tl_dtype = compute_dtype(dtype)
        key = ("const", literal(value, dtype), tl_dtype)
        hit = self.fn.body.get(key)
        if hit is None:
            name = self.fn.body.fresh(f"c{self.num(node)}" if node is not None else "c")
            self.fn.body.line(f"{name} = tl.full([1], {literal(value, dtype)}, {tl_dtype})", 0)
            hit = Val(name, tl_dtype, 0, frozenset())
            self.fn.body.put(key, hit, 0)
        return hit  # type: ignore[return-value]

    def load(
        self,
        node: Node,
        index: tuple[Lin, ...],
        conds: tuple[Cond, ...],
        via: tuple[Node, ...],
        other: str | None = None,
        raw: bool = False,
        scalar: bool = False,
    ) -> Val:
        """``node``'s buffer at ``index``; ``raw`` keeps half precision (tl.dot operands), ``scalar`` loads 0-d."""
        address = linearize(index, self.shape(node))
        mask, mask_axes, depth = self.mask_of([address], conds)
        depth = max(depth, address.depth())
        axes = address.axes()
        code = self.address_code(address)
        pointer = self.ptr(node)
        if not mask_axes <= axes:
            code = f"{code} + tl.full({self.fn.shape(mask_axes | axes)}, 0, tl.int32)"
            axes = axes | mask_axes
        if not axes and not scalar:
            # One element, loaded as a block of one: the interpreter mishandles some ops mixing 0-d and blocks.
            code = f"{code} + tl.full([1], 0, tl.int32)"
        args = f"{pointer} + {code}"
        if mask is not None and axes:
            args += f", mask={mask}"
            if other is not None:
                args += f", other={other}"
        text = f"tl.load({args})"
        dtype = TL[node.dtype.name]
        if node.dtype.name in HALF and not raw:
            text += ".to(tl.float32)"
            dtype = "tl.float32"
        if node.dtype.name in SMALL_INT:
            text += ".to(tl.int32)"
            dtype = "tl.int32"
        for n in reversed(via):  # the views between the buffer and the use, in program order
            self.comment(n, depth)
        name = self.fn.body.fresh(self.var(node))
        self.fn.body.line(f"{name} = {text}", depth)
        self.load_addresses.setdefault(id(node), set()).add(address)
        return Val(name, dtype, depth, axes)

    def emit(self, node: Node, code: str, dtype: str, operands: list[Val], base: str | None = None) -> Val:
        depth = max([v.depth for v in operands], default=0)
        axes: frozenset[str] = frozenset()
        for v in operands:
            axes |= v.axes
        self.comment(node, depth)
        name = self.fn.body.fresh(base or self.var(node))
        self.fn.body.line(f"{name} = {code}", depth)
        return Val(name, dtype, depth, axes)

    def value(self, node: Node, index: tuple[Lin, ...], conds: tuple[Cond, ...] = (), via: tuple[Node, ...] = ()) -> Val:
        """``node``'s value at ``index`` (lanes outside ``conds`` are don't-care)."""
        if any(isinstance(d, int) and d == 0 for d in self.shape(node)):
            # An empty value is never selected (a pad or concat of it masks it out), and its index
            # simplifies to an unmasked load at 0, past the end of its empty buffer (a segfault).
            return self.const(0, node.dtype)
        index = self.canonical(node, index)
        key = ("value", id(node), index, conds)
        hit = self.fn.body.get(key)
        if hit is not None:
            return hit  # type: ignore[return-value]
        if self.is_buffer(node):
            result = self.load(node, index, conds, via)
        else:
            anchored = self.fn.body.get(("anchor", id(node), index))
            if anchored is not None:
                return anchored  # type: ignore[return-value]
            result = self.compute(node, index, conds, via)
        self.fn.body.put(key, result, result.depth)
        return result

    def canonical(self, node: Node, index: tuple[Lin, ...]) -> tuple[Lin, ...]:
        """``index`` with 0 on ``node``'s axes of size 1, whatever expression reached them: a template's
        row index over a kept axis of size 1 and a broadcast's 0 name the same element."""
        return tuple(Lin() if dims_equal(d, 1) else i for d, i in zip(self.shape(node), index))

    def compute(self, node: Node, index: tuple[Lin, ...], conds: tuple[Cond, ...], via: tuple[Node, ...]) -> Val:
        op = node.op
        if op == "constant":
            return self.const(node.attrs["value"], node.dtype, node)
        if op in VIEWS:
            return self.value(node.inputs[0], self.movement_index(node, index), conds, via + (node,))
        if op == "pad":
            return self.pad(node, index, conds, via)
        if op == "concat":
            return self.concat(node, index, conds, via)
        if op == "unfold":
            return self.unfold(node, index, conds, via)
        if op == "fold":
            return self.fold(node, index, conds, via)
        if op in ("gather", "index_select"):
            return self.indexed_read(node, index, conds, via)
        if op == "rand":
            return self.rand(node, index, conds)
        if op == "iota":
            return self.iota(node, index)
        if op == "size":
            dtype = compute_dtype(node.dtype)
            return self.emit(node, f"tl.zeros([1], {dtype}) + ({dim_code(node.attrs['value'])})", dtype, [])
        if op in ("sum", "max", "min", "argmax") and trivial_reduction(node):
            if op == "argmax":
                return self.const(0, node.dtype)
            return self.value(node.inputs[0], unreduced_index(node, index), conds, via)
        if op in ANCHORS:
            raise GraphcError(f"triton backend: kernel {self.kernel.name} reads {format_node(node, self.names)} at an index its template does not compute")
        if op in IDENTITIES:
            return self.value(node.inputs[0], index, conds, via)
        if op == "check":
            bad = self.value(node.inputs[1], index, conds)
            self.flag(node, ("value", check_error(node), 0), bad.code, bad, index, conds)
            return self.value(node.inputs[0], index, conds, via)
        operands = [self.value(i, index, conds) for i in node.inputs]
        if op in ("floor_divide", "remainder", "fmod") and not node.dtype.is_floating_point:
            # The helpers give 0 for a zero divisor; the program raises graphc's error after the kernels.
            self.flag(node, ("division", division_error(node), 0), f"{operands[1].code} == 0", operands[1], index, conds)
        code, dtype = self.lower(node, operands)
        if node.dtype.name in HALF and op not in _EXACT_IN_HALF:
            code = _half_rounded(f"({code})", node.dtype.name)
        if node.dtype.name in SMALL_INT and op in _WRAPS:
            code = _small_int_wrapped(f"({code})", node.dtype.name)
        return self.emit(node, code, dtype, operands)

    # ------------------------------------------------------------------ movement as index arithmetic

    def movement_index(self, node: Node, index: tuple[Lin, ...]) -> tuple[Lin, ...]:
        return view_index(node.op, node.attrs, self.shape(node.inputs[0]), self.shape(node), index)

    def where(self, node: Node, mask: str, inner: Val, fill: Val, depth: int, axes: frozenset[str], base: str | None = None) -> Val:
        code = f"tl.where({mask}, {inner.code}, {fill.code})"
        self.comment(node, max(depth, inner.depth))
        name = self.fn.body.fresh(base or self.var(node))
        d = max(depth, inner.depth)
        self.fn.body.line(f"{name} = {code}", d)
        return Val(name, inner.dtype, d, inner.axes | axes)

    def pad(self, node: Node, index: tuple[Lin, ...], conds: tuple[Cond, ...], via: tuple[Node, ...]) -> Val:
        x = node.inputs[0]
        inner_index, new = pad_source(index, self.shape(x), node.attrs)
        if not new:
            return self.value(x, inner_index, conds, via + (node,))
        mask, axes, depth = self.cond_mask(new)
        inner = self.value(x, inner_index, conds + new, via)
        return self.where(node, mask, inner, self.const(node.attrs["value"], node.dtype), depth, axes)

    def concat(self, node: Node, index: tuple[Lin, ...], conds: tuple[Cond, ...], via: tuple[Node, ...]) -> Val:
        axis = node.attrs["axis"]
        parts = node.inputs
        offsets: list[Dim] = [0]
        for p in parts:
            offsets.append(offsets[-1] + self.shape(p)[axis])
        values: list[tuple[Cond | None, Val]] = []
        e = index[axis]
        for k, p in enumerate(parts):
            lower = cond(e, ">=", offsets[k]) if k else None
            upper = cond(e, "<", offsets[k + 1]) if k < len(parts) - 1 else None
            part_conds = tuple(c for c in (lower, upper) if c is not None)
            shifted = tuple(e - offsets[k] if i == axis else x for i, x in enumerate(index))
            if part_conds:
                self.cond_mask(part_conds)
            values.append((upper, self.value(p, shifted, conds + part_conds, via)))
        result = values[-1][1]
        for upper, v in reversed(values[:-1]):
            if upper is None:
                result = v
                continue
            mask, axes, depth = self.cond_mask((upper,))
            result = self.where(node, mask, v, result, max(depth, result.depth), axes)
        return result

    def unfold(self, node: Node, index: tuple[Lin, ...], conds: tuple[Cond, ...], via: tuple[Node, ...]) -> Val:
        x = node.inputs[0]
        source, new = unfold_source(index, self.shape(x), node.attrs)
        if not new:
            return self.value(x, source, conds, via + (node,))
        mask, axes, depth = self.cond_mask(new)
        inner = self.value(x, source, conds + new, via)
        return self.where(node, mask, inner, self.const(node.attrs["pad_value"], node.dtype), depth, axes)

    def fold(self, node: Node, index: tuple[Lin, ...], conds: tuple[Cond, ...], via: tuple[Node, ...]) -> Val:
        """col2im as a gather: each output element sums the columns whose window covers it (no atomics).

        Windows that do not overlap (a max-pool's backward) give an element one column
        element or none: a masked read, no loop over the kernel.
        """
        disjoint = fold_disjoint_source(index, node.attrs)
        if disjoint is not None:
            source, new = disjoint
            if not new:
                return self.value(node.inputs[0], source, conds, via + (node,))
            mask, axes, depth = self.cond_mask(new)
            inner = self.value(node.inputs[0], source, conds + new, via)
            return self.where(node, mask, inner, self.const(0, node.dtype), depth, axes)
        kernel = node.attrs["kernel_size"]
        body = self.fn.body
        depth = max(lin.depth() for lin in index) if index else 0
        axes: frozenset[str] = frozenset()
        for lin in index:
            axes |= lin.axes()
        dtype = compute_dtype(node.dtype)
        self.comment(node, body.depth)
        acc = body.fresh(self.var(node))
        body.line(f"{acc} = tl.full({self.fn.shape(axes)}, 0, {dtype})")
        offsets = []
        for name, size in zip(KERNEL_LOOPS[-len(kernel) :], kernel):
            loop = body.fresh(name)
            offsets.append(Lin.of(Var(loop, size, frozenset(), body.open(f"for {loop} in tl.static_range({size}):"))))
        source, new = fold_source(index, tuple(offsets), node.attrs)
        mask = self.cond_mask(new)[0] if new else None
        inner = self.value(node.inputs[0], source, conds + new, via)
        term = f"tl.where({mask}, {inner.code}, 0)" if mask else inner.code
        body.line(f"{acc} += {term}")
        for _ in kernel:
            body.close()
        return Val(acc, dtype, max(depth, body.depth), axes)

    def indexed_read(self, node: Node, index: tuple[Lin, ...], conds: tuple[Cond, ...], via: tuple[Node, ...]) -> Val:
        x, idx_node = node.inputs
        axis = node.attrs["axis"]
        if node.op == "gather":
            at = self.value(idx_node, index, conds)
        else:
            at = self.value(idx_node, (index[axis],), conds)
        at = self.checked_index(node, at, self.shape(x)[axis], index, conds)
        guard: set[Var] = set()
        for e in index:
            guard |= e.vars()
        leaf = Lin.of(Leaf(at.code, at.axes, at.depth, frozenset(guard)))
        source_index = tuple(leaf if i == axis else e for i, e in enumerate(index))
        return self.value(x, source_index, conds, via + (node,))

    def checked_index(self, node: Node, at: Val, size: Dim, index: tuple[Lin, ...], conds: tuple[Cond, ...]) -> Val:
        """``at``, an index into an axis of ``size`` computed at run time, made safe to use.

        A lane whose index is out of range writes 1 into the kernel's slot for ``node`` in
        ``errors``, which the program turns into ``templates.index_error`` (as the C loops
        raise it), and reads element 0 meanwhile: never memory outside the buffer.
        """
        bad, depth = self.flag(node, ("index", index_error(node), size), f"({at.code} < 0) | ({at.code} >= {_paren(dim_code(size))})", at, index, conds)
        safe = self.fn.body.fresh("at" + self.num(node))
        self.fn.body.line(f"{safe} = tl.where({bad}, 0, {at.code})", depth)
        return Val(safe, at.dtype, depth, at.axes)

    def flag(self, node: Node, error: tuple[str, str, Dim], test: str, of: Val, index: tuple[Lin, ...], conds: tuple[Cond, ...]) -> tuple[str, int]:
        """Lanes of this block where ``test`` (an expression of ``of``) holds write 1 into ``node``'s slot in ``errors``.

        ``error`` is the slot's kind, message and size; the program raises it after the kernels
        (``triton_support.raise_flagged``). Returns the variable holding ``test`` and its depth.
        """
        slot = self.error_slots.get(id(node))
        if slot is None:
            slot = self.error_slots[id(node)] = len(self.flagged)
            self.flagged.append(error)
        self.fn.flags_errors = True
        mask, mask_axes, depth = self.mask_of(list(index), conds)
        depth = max(depth, of.depth)
        # Lanes past the end of a block axis the index does not use (a matmul's rows when there is
        # one row, whose index is the constant 0) hold padding, as a store leaves them out.
        lanes = [self.fn.axis_masks[a] for a in sorted(of.axes - mask_axes) if a in self.fn.axis_masks]
        mask = " & ".join(([mask] if mask else []) + lanes) or None
        body = self.fn.body
        bad = body.fresh("bad" + self.num(node))
        body.line(f"{bad} = {test}", depth)
        flags = f"errors + {slot} + tl.full({self.fn.shape(of.axes | mask_axes)}, 0, tl.int32)"
        body.line(f"tl.store({flags}, 1, mask={bad if mask is None else f'{bad} & {mask}'})", depth)
        return bad, depth

    def rand(self, node: Node, index: tuple[Lin, ...], conds: tuple[Cond, ...]) -> Val:
        seed_node = node.inputs[0]
        seed = self.load(seed_node, (), (), (), scalar=True) if self.is_buffer(seed_node) else self.value(seed_node, (), conds)
        offset = linearize(index, self.shape(node))
        code = self.lin_code(offset)
        if not offset.axes():
            code = f"tl.full([1], 0, tl.int32) + {code}"
        depth = max(offset.depth(), seed.depth)
        self.comment(node, depth)
        name = self.fn.body.fresh(self.var(node))
        dtype = compute_dtype(node.dtype)
        text = f"tl.minimum(tl.rand({seed.code}, {code}), {BELOW_ONE[node.dtype.name]!r})"
        if dtype == "tl.float64":
            text += ".to(tl.float64)"
        self.fn.body.line(f"{name} = {text}", depth)
        return Val(name, dtype, depth, offset.axes())

    def iota(self, node: Node, index: tuple[Lin, ...]) -> Val:
        at = index[node.attrs["axis"]]
        dtype = compute_dtype(node.dtype)
        code = self.lin_code(at)
        if not at.axes():
            code = f"tl.full([1], 0, {dtype}) + {code}"
        self.comment(node, at.depth())
        name = self.fn.body.fresh(self.var(node))
        self.fn.body.line(f"{name} = ({code}).to({dtype})", at.depth())
        return Val(name, dtype, at.depth(), at.axes())

    # ------------------------------------------------------------------ elementwise math

    def lower(self, node: Node, args: list[Val]) -> tuple[str, str]:
        op = node.op
        a = [v.code for v in args]
        dtype = compute_dtype(node.dtype)
        floating = node.dtype.is_floating_point
        sqrt = "tl.sqrt_rn" if dtype == "tl.float32" else "tl.sqrt"  # sqrt_rn (IEEE) is float32 only
        if op == "div" and dtype == "tl.float32":
            return _divide(*(v.code if v.dtype == dtype else f"{v.code}.to({dtype})" for v in args), dtype), dtype
        if op in _RECIPROCALS:
            return _divide("1.0", _RECIPROCALS[op].format(a[0], sqrt=sqrt), dtype), dtype
        if op in _UNARY:
            text = _UNARY[op].format(*a, sqrt=sqrt, double=dtype == "tl.float64")
            if op in ("tanh", "log1p", "atan", "expm1"):
                self.helpers.add(op)
            return text, dtype
        if op in _BINARY:
            return f"{a[0]} {_BINARY[op]} {a[1]}", dtype
        if op in ("eq", "ne", "lt", "le", "gt", "ge"):
            return f"{a[0]} {_COMPARE[op]} {a[1]}", "tl.int1"
        if op in ("maximum", "minimum"):
            if node.dtype.name == "bool":
                return (f"{a[0]} | {a[1]}" if op == "maximum" else f"{a[0]} & {a[1]}"), dtype
            nan = ", propagate_nan=tl.PropagateNan.ALL" if floating else ""
            return f"tl.{op}({a[0]}, {a[1]}{nan})", dtype
        if op == "neg":
            return f"-{a[0]}", dtype
        if op == "abs":
            return f"tl.abs({a[0]})", dtype
        if op == "sign":
            return f"({a[0]} > 0).to({dtype}) - ({a[0]} < 0).to({dtype})", dtype
        if op == "logical_not":
            return f"{a[0]} == 0", "tl.int1"
        if op == "where":
            return f"tl.where({a[0]}, {a[1]}, {a[2]})", dtype
        if op == "cast":
            return self.cast(node, args[0])
        if op == "pow":
            return self.pow(node, args)
        if op in ("floor", "ceil"):
            return f"tl.{op}({a[0]})", dtype
        if op == "trunc":
            return f"tl.where({a[0]} < 0, tl.ceil({a[0]}), tl.floor({a[0]}))", dtype
        if op == "round":
            self.helpers.add("rint")
            return f"rint({a[0]})", dtype
        if op in ("floor_divide", "remainder", "fmod"):
            return self.division(node, a), dtype
        raise GraphcError(f"triton backend: no lowering for {op}")

    def cast(self, node: Node, x: Val) -> tuple[str, str]:
        target = node.dtype
        dtype = compute_dtype(target)
        if target.name == "bool":
            return (x.code if x.dtype == "tl.int1" else f"{x.code} != 0"), "tl.int1"
        if target.name in HALF:
            # Through float32, as torch rounds a double or an integer to half precision (and as the
            # interpreter can: its float64 -> bfloat16 gave zeros).
            wide = x.code if x.dtype == "tl.float32" else f"{x.code}.to(tl.float32)"
            return _half_rounded(wide, target.name), dtype
        if target.name in SMALL_INT and x.dtype.startswith("tl.float"):
            return f"{x.code}.to(tl.int64)", dtype  # truncated toward zero, then wrapped by compute
        if x.dtype == dtype:
            return x.code, dtype
        return f"{x.code}.to({dtype})", dtype

    def pow(self, node: Node, args: list[Val]) -> tuple[str, str]:
        a, b = (v.code for v in args)
        dtype = compute_dtype(node.dtype)
        exponent = constant_value(node.inputs[1], self.inside)
        floating = node.dtype.is_floating_point
        if exponent is not None:
            if exponent == 1:
                return a, dtype
            if exponent == 2:
                return f"{a} * {a}", dtype
            if exponent == 3:
                return f"{a} * {a} * {a}", dtype
            sqrt = "tl.sqrt_rn" if dtype == "tl.float32" else "tl.sqrt"
            if floating and exponent == 0.5:
                return f"{sqrt}({a})", dtype
            if floating and exponent == -0.5:
                return _divide("1.0", f"{sqrt}({a})", dtype), dtype
            if floating and exponent == -1:
                return _divide("1.0", a, dtype), dtype
            if floating and exponent == -2:
                return _divide("1.0", f"{a} * {a}", dtype), dtype
        if floating:
            self.helpers.add("fpow")
            return f"fpow({a}, {b})", dtype
        self.helpers.add("ipow")
        return f"ipow({a}, {b})", dtype

    def division(self, node: Node, a: list[str]) -> str:
        """floor_divide, remainder, fmod: ``triton_support`` helpers, exact (Triton's float ``%`` is not on a GPU).

        The float helpers take their dtype's ladder step and rounds as constants
        (``triton_support.fmod``); half precision is computed in float32.
        """
        if node.dtype.is_floating_point:
            step, rounds = _FMOD_LADDER[compute_dtype(node.dtype)]
            self.helpers.add(node.op)
            return f"{node.op}({a[0]}, {a[1]}, {step!r}, {rounds})"
        self.helpers.add("i" + node.op)
        return f"i{node.op}({a[0]}, {a[1]})"

    # ------------------------------------------------------------------ stores

    def store(self, node: Node, index: tuple[Lin, ...], v: Val, atomic: bool = False) -> None:
        address = linearize(index, self.shape(node))
        mask, mask_axes, depth = self.mask_of([address, *index], ())
        depth = max(depth, address.depth(), v.depth)
        code = self.address_code(address)
        missing = v.axes - address.axes()
        if not address.axes() and not missing and self.fn.axes:
            missing = frozenset({self.fn.axes[0][0]})
        if missing:  # a 0-d result: a block of pointers to it, of which the first lane writes
            code = f"{code} + tl.full({self.fn.shape(v.axes | address.axes() | missing)}, 0, tl.int32)"
            extra = [self.fn.axis_masks[a] for a in sorted(missing) if a in self.fn.axis_masks]
            mask = " & ".join(([mask] if mask else []) + extra) or None
        elif atomic:  # a one-element index loads as a [1] block: the pointers must span the mask's block
            code = f"{code} + tl.full({self.fn.shape(frozenset(a for a, _ in self.fn.axes))}, 0, tl.int32)"
        storage = TL[node.dtype.name]
        value = v.code if v.dtype == storage else f"{v.code}.to({storage})"
        if atomic and v.axes != frozenset(a for a, _ in self.fn.axes):
            # One value added at every index (the gradient of a sum of sorted values): the interpreter's
            # atomic_add reads a block of values past a [1] one (or a broadcast view), adding garbage.
            value = f"{value} + tl.zeros({self.fn.shape(frozenset(a for a, _ in self.fn.axes))}, {storage})"
        pointer = self.ptr(node)
        if atomic and node.dtype.name == "bool":
            # Triton has no atomics on bytes (atomic_add refuses int1), and adding bools is a logical or: each
            # True source stores True. Lanes storing one value do not race; the copy before wrote the rest.
            keep = f"({value} != 0)"
            line = f"tl.store({pointer} + {code}, {keep}, mask={keep if mask is None else f'{mask} & {keep}'})"
        elif atomic:
            line = f"tl.atomic_add({pointer} + {code}, {value}" + (f", mask={mask})" if mask else ")")
        else:
            line = f"tl.store({pointer} + {code}, {value}" + (f", {mask})" if mask else ")")
        self.fn.body.line(line, depth)
        self.store_addresses[id(node)] = address

    # ------------------------------------------------------------------ writing functions and launches

    def begin(self, name: str, axes: list[tuple[str, str]]) -> Fn:
        self.fn = Fn(name, axes)
        self.fn.body.taken |= {"xindex", "xmask", "xnumel", "rindex", "rmask", "rnumel", "roffset", "pid", "pid_b", "acc"}
        return self.fn

    def finish(self) -> str:
        """Close the current function; its launch arguments are in ``self.calls[name]``."""
        fn = self.fn
        pointers = fn.ordered_pointers()
        offsets = list(fn.offsets.values())
        errors = ["errors"] if fn.flags_errors else []
        params = pointers + errors + self.symbols + fn.sizes + offsets + [f"{c}: tl.constexpr" for c in fn.constexprs]
        lines = [*fn.decorators, "@triton.jit", f"def {fn.name}({', '.join(params)}):", fn.body.text()]
        source = "\n".join(lines)
        self.functions.append(source)
        self.calls[fn.name] = ", ".join([fn.launch_args[p][2] for p in pointers] + errors + self.symbols + fn.sizes + list(fn.offsets))
        return source

    def pointwise(self, name: str, shape: tuple[Dim, ...], body: Callable[[tuple[Lin, ...]], None]) -> None:
        """A function over the elements of ``shape``, one flat block per program; ``body`` stores."""
        self.begin(name, [("x", "XBLOCK")])
        self.fn.constexprs = ["XBLOCK"]
        numel = prod(list(shape))
        b = self.fn.body
        b.line(f"xnumel = {dim_code(numel)}")
        b.line("xindex = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)")
        b.line("xmask = xindex < xnumel")
        self.fn.axis_masks = {"x": "xmask"}
        x = Var("xindex", numel, frozenset({"x"}), 0, "xmask")
        # A shape with an axis of 0 is never launched (xnumel is 0), but its function is still written:
        # indexed as one element, since splitting the flat index by an axis of 0 divides by 0.
        body(delinearize(Lin.of(x), tuple(1 if isinstance(d, int) and d == 0 else d for d in shape)))
        self.finish()
        self.launches += 1
        self.launch += [
            f"xnumel = {dim_code(numel)}",
            "if xnumel > 0:",
            "    XBLOCK, warps = rt.pointwise_blocks(xnumel)",
            f"    rt.launch({name}, (rt.cdiv(xnumel, XBLOCK),), {self.calls[name]}, XBLOCK=XBLOCK, num_warps=warps)",
        ]

    def store_values(self, nodes: list[Node], index: tuple[Lin, ...], by_parts: frozenset[int] = frozenset()) -> None:
        """Store each node at ``index``; a concat in ``by_parts`` stores each part's element at ``index`` at its place."""
        for node in nodes:
            if id(node) in by_parts:
                placed = [(at, self.value(part, index)) for part, at in parts_at(node, index, self.shape)]
                self.comment(node, 0)
                for at, v in placed:
                    self.store(node, at, v)
            else:
                self.store(node, index, self.value(node, index))


    # ------------------------------------------------------------------ templates

    def emit_kernel(self) -> None:
        """Choose the template from the anchors (scatter, matmul, reductions); other anchors go first."""
        anchors = [n for n in self.kernel.nodes if n.op in ANCHORS and not (n.op in ("sum", "max", "min", "argmax") and trivial_reduction(n))]
        main: list[Node] = []
        for op in ("scatter_add", "matmul"):
            found = [a for a in anchors if a.op == op]
            if found and not main:
                main = [found[-1]]
        reductions = [a for a in anchors if a.op not in ("scatter_add", "matmul")]
        _, totals = split_totals(reductions)
        if totals and not main:
            self.rows_then_totals(totals)
            return
        if not main and reductions:
            last = reductions[-1]
            main = [r for r in reductions if same_rows(r, last)]
        for anchor in anchors:
            if any(anchor is m for m in main):
                continue
            if depends_on(anchor, main, self.computed):
                raise GraphcError(f"triton backend: kernel {self.kernel.name} computes {format_node(anchor, self.names)} after its {main[0].op}")
            self.split_off(anchor)
        outputs = [o for o in self.kernel.outputs if id(o) not in self.temps]
        sorts = [n for n in self.kernel.nodes if n.op == "argsort"]
        scans = [n for n in self.kernel.nodes if n.op == "cumsum"]
        reducing = [n for n in self.kernel.nodes if n.op == "scatter_reduce"]
        solvers = [n for n in self.kernel.nodes if n.op in LINALG]
        if solvers:  # fusion keeps a linalg op alone too
            self.linalg_kernel(solvers[0], outputs)
        elif sorts:  # fusion keeps a sort alone: its kernel holds it and the views it reads through
            self.sort_kernel(sorts[0], outputs)
        elif reducing:  # a scatter_reduce too
            self.scatter_reduce_kernel(reducing[0], outputs)
        elif scans:  # a scan too
            self.scan_kernel(scans[0], outputs)
        elif not main:
            self.pointwise_kernel(outputs)
        elif main[0].op == "scatter_add":
            self.scatter_kernel(main[0], outputs)
        elif main[0].op == "matmul":
            self.matmul_kernel(main[0], outputs)
        else:
            self.reduction_kernel(main, outputs)

    def rows_then_totals(self, totals: list[Node]) -> None:
        """A kernel whose rows' results are reduced to totals, as two launches: the rows, then the totals.

        A GPU block cannot wait for the other blocks' rows, so the per-row results the totals
        read go to temporary buffers between the launches (one launch would need the last
        block to finish the totals, ordered by atomics). The C loops keep it one loop.
        """
        head, tail = split_after(self.kernel.nodes, totals, with_anchors=True)
        after = {id(n) for n in tail}
        handed = []
        for node in tail:
            for operand in node.inputs:
                if id(operand) in self.inside and id(operand) not in after and all(operand is not h for h in handed):
                    handed.append(operand)
        head_outputs = [o for o in self.kernel.outputs if id(o) not in after]
        head_outputs += [h for h in handed if all(h is not o for o in head_outputs)]
        for node in handed:
            if all(node is not o for o in self.kernel.outputs):
                self.launch.append(f"{self.var(node)} = rt.empty({_shape_code(self.shape(node))}, {_torch_dtype(node.dtype)})")
                self.temps.add(id(node))
        parts = [(f"{self.kernel.name}_rows", head, head_outputs), (f"{self.kernel.name}_totals", tail, [o for o in self.kernel.outputs if id(o) in after])]
        for name, nodes, outputs in parts:
            inputs: list[Node] = []
            members = {id(n) for n in nodes}
            for n in nodes:
                inputs += [i for i in n.inputs if id(i) not in members and all(i is not j for j in inputs)]
            child = self.child(Kernel(name, "reduction", nodes, inputs, outputs))
            self.launch += child.launch
            self.functions += child.functions
            self.helpers |= child.helpers
            self.launches += child.launches

    def child(self, part: Kernel) -> KernelEmitter:
        """The launches of ``part`` of this kernel, emitted; its index checks take slots in this kernel's ``errors``."""
        child = KernelEmitter(part, self.names)
        child.error_slots, child.flagged = self.error_slots, self.flagged
        child.emit_kernel()
        return child

    def split_off(self, node: Node) -> None:
        """Compute ``node`` (and what it needs in this kernel) into a buffer by launches of its own.

        Used for an anchor that another template must read from memory (a reduction whose
        result indexes a scatter) and for a matmul operand that is not a strided view.
        """
        needed: set[int] = set()
        stack = [node]
        while stack:
            n = stack.pop()
            if id(n) in needed or self.is_buffer(n):
                continue
            needed.add(id(n))
            stack.extend(n.inputs)
        nodes = [n for n in self.kernel.nodes if id(n) in needed]
        inputs: list[Node] = []
        for n in nodes:
            for i in n.inputs:
                if id(i) not in needed and all(i is not j for j in inputs):
                    inputs.append(i)
        sub = Kernel(f"{self.kernel.name}_{node.op}{self.num(node)}", REGISTRY[node.op].category, nodes, inputs, [node])
        child = self.child(sub)
        if all(node is not o for o in self.kernel.outputs):
            self.launch.append(f"{self.var(node)} = rt.empty({_shape_code(self.shape(node))}, {_torch_dtype(node.dtype)})")
        self.launch += child.launch
        self.functions += child.functions
        self.helpers |= child.helpers
        self.launches += child.launches
        self.temps.add(id(node))

    def begin_rows(self, name: str, xnumel: Dim, rnumel: Dim) -> Var:
        """Open a function over blocks of XBLOCK rows (program axis x) that reads each row by RBLOCK
        (axis r, ``rmask`` set where its loop opens): reductions, sorts and scans. Returns the rows' index."""
        self.begin(name, [("x", "XBLOCK"), ("r", "RBLOCK")])
        self.fn.constexprs = ["XBLOCK", "RBLOCK"]
        b = self.fn.body
        b.line(f"xnumel = {dim_code(xnumel)}")
        b.line(f"rnumel = {dim_code(rnumel)}")
        b.line("xindex = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)[:, None]")
        b.line("xmask = xindex < xnumel")
        self.fn.axis_masks = {"x": "xmask", "r": "rmask"}
        return Var("xindex", xnumel, frozenset({"x"}), 0, "xmask")

    def pointwise_kernel(self, outputs: list[Node], suffix: str = "") -> None:
        """Outputs grouped by the shape they are stored over, one function per shape (a row-level output gets its own)."""
        groups, by_parts = store_groups(outputs, self.shape)
        for i, (shape, group) in enumerate(groups):
            name = f"{self.kernel.name}{suffix}" + (f"_{i}" if i else "") + "_kernel"
            self.pointwise(name, shape, lambda index, group=group: self.store_values(group, index, by_parts))

    def extra_outputs(self, outputs: list[Node], handled: list[Node], anchors: list[Node]) -> None:
        """Outputs a template does not store (not at its level) get pointwise functions of their own."""
        extra = [o for o in outputs if all(o is not h for h in handled)]
        for out in extra:
            if depends_on(out, anchors, self.computed):
                raise GraphcError(
                    f"triton backend: kernel {self.kernel.name} stores {format_node(out, self.names)}, which depends on "
                    "its anchor but is not at the anchor's level"
                )
        if extra:
            self.pointwise_kernel(extra, "_extra")

    # scatter_add ---------------------------------------------------------

    def scatter_kernel(self, node: Node, outputs: list[Node]) -> None:
        if node.dtype.name == "bfloat16" and _interpreted():
            # The GPU has bfloat16 atomic adds; the interpreter's atomics stop with a bare ValueError.
            raise GraphcError(
                f"triton backend: {node.op} into a bfloat16 tensor at {node.loc or '?'} adds with tl.atomic_add, which Triton's "
                "interpreter (TRITON_INTERPRET=1, no GPU) cannot do in bfloat16; run it on a GPU, on the numpy backend, or in float32"
            )
        x, index_node, src = node.inputs
        axis = node.attrs["axis"]
        self.extra_outputs(outputs, [node], [node])
        name = self.kernel.name

        def copy(index: tuple[Lin, ...]) -> None:
            self.fn.body.line("# the destination starts as a copy of the scattered-into tensor")
            self.store(node, index, self.value(x, index))

        def scatter(index: tuple[Lin, ...]) -> None:
            at = self.checked_index(node, self.value(index_node, index), self.shape(node)[axis], index, ())
            value = self.value(src, index)
            self.comment(node, max(at.depth, value.depth))
            guard: set[Var] = set()
            for e in index:
                guard |= e.vars()
            leaf = Lin.of(Leaf(at.code, at.axes, at.depth, frozenset(guard)))
            target = tuple(leaf if i == axis else e for i, e in enumerate(index))
            self.store(node, target, value, atomic=True)

        self.pointwise(f"{name}_copy", self.shape(node), copy)
        self.pointwise(f"{name}_scatter", self.shape(index_node), scatter)

    # reductions ----------------------------------------------------------

    def reduction_kernel(self, reductions: list[Node], outputs: list[Node]) -> None:
        first = reductions[0]
        full = self.shape(first.inputs[0])
        axes = tuple(sorted(first.attrs["axes"]))
        levels = output_levels(full, axes, outputs, self.shape, other_ranks=True)
        handled = [o for o in outputs if id(o) in levels]
        self.extra_outputs(outputs, handled, reductions)
        passes = reduction_passes(reductions, self.inside)
        xdims = [i for i in range(len(full)) if i not in axes]
        xnumel = prod([full[i] for i in xdims])
        rnumel = prod([full[i] for i in axes])
        name = self.kernel.name
        for persistent in (True, False):
            self.reduction_function(f"{name}_{'persistent' if persistent else 'looped'}", persistent, full, axes, handled, levels, passes)
        self.launches += 1
        self.launch += [
            f"xnumel = {dim_code(xnumel)}",
            f"rnumel = {dim_code(rnumel)}",
            "persistent, XBLOCK, RBLOCK, warps = rt.reduction_blocks(xnumel, rnumel)",
            "grid = (rt.cdiv(xnumel, XBLOCK),)",
            "if xnumel > 0 and persistent:",
            f"    rt.launch({name}_persistent, grid, {self.calls[name + '_persistent']}, XBLOCK=XBLOCK, RBLOCK=RBLOCK, num_warps=warps)",
            "elif xnumel > 0:",
            f"    rt.launch({name}_looped, grid, {self.calls[name + '_looped']}, XBLOCK=XBLOCK, RBLOCK=RBLOCK, num_warps=warps)",
        ]

    def reduction_function(
        self,
        name: str,
        persistent: bool,
        full: tuple[Dim, ...],
        axes: tuple[int, ...],
        outputs: list[Node],
        levels: dict[int, str],
        passes: list[list[Node]],
    ) -> None:
        xdims = [i for i in range(len(full)) if i not in axes]
        xnumel = prod([full[i] for i in xdims])
        rnumel = prod([full[i] for i in axes])
        xvar = self.begin_rows(name, xnumel, rnumel)
        b = self.fn.body
        xidx = dict(zip(xdims, delinearize(Lin.of(xvar), tuple(full[i] for i in xdims))))

        def row_index(node: Node) -> tuple[Lin, ...]:
            if len(node.shape) == len(full):
                return tuple(Lin() if i in axes else xidx[i] for i in range(len(full)))
            rows = tuple(full[i] for i in xdims)
            return index_in(self.shape(node), rows, tuple(xidx[i] for i in xdims), Lin())

        def open_rows() -> tuple[tuple[Lin, ...], Var]:
            depth = b.depth
            if persistent:
                b.line("rindex = tl.arange(0, RBLOCK)[None, :]")
            else:
                depth = b.open("for roffset in range(0, rnumel, RBLOCK):")
                b.line("rindex = roffset + tl.arange(0, RBLOCK)[None, :]")
            b.line("rmask = rindex < rnumel")
            rvar = Var("rindex", rnumel, frozenset({"r"}), depth, "rmask")
            ridx = dict(zip(axes, delinearize(Lin.of(rvar), tuple(full[i] for i in axes))))
            return tuple(xidx[i] if i in xidx else ridx[i] for i in range(len(full))), rvar

        full_index: tuple[Lin, ...] = ()
        if persistent:
            full_index, _ = open_rows()
        for group in passes:
            if not persistent:
                full_index, _ = open_rows()
            accumulators = []
            for red in group:
                v = self.value(red.inputs[0], full_index)
                if v.dtype == "tl.int1":  # bools reduce as int32 (any/all)
                    v = Val(f"{v.code}.to(tl.int32)", "tl.int32", v.depth, v.axes)
                position = full_index[axes[0]] if red.op == "argmax" else None
                accumulators.append(self.accumulate(red, v, persistent, position))
            if not persistent:
                b.close()
            for red, acc in zip(group, accumulators):
                self.finalize(red, acc, row_index(red))
        for out in outputs:
            if levels[id(out)] != "full":
                self.store(out, row_index(out), self.value(out, row_index(out)))
        full_outputs = [o for o in outputs if levels[id(o)] == "full"]
        if full_outputs:
            if not persistent:
                full_index, _ = open_rows()
            for out in full_outputs:
                at = index_in(self.shape(out), full, full_index, Lin())
                self.store(out, at, self.value(out, at))
            if not persistent:
                b.close()
        self.finish()

    def accumulate(self, red: Node, v: Val, persistent: bool, position: Lin | None) -> tuple[str, ...]:
        """Fold one block of the row into the accumulator(s); returns what ``finalize`` reduces.

        The reductions across lanes use only tl.sum/tl.max/tl.min (no custom combine
        function), which the interpreter runs as single NumPy calls.
        """
        b = self.fn.body
        dtype = v.dtype
        floating = dtype.startswith("tl.float")
        neutral = self.neutral(red, dtype)
        masked = f"tl.where(xmask & rmask, {v.code}, {neutral})"
        acc = b.fresh("acc" + self.num(red))
        self.comment(red, b.depth)
        if persistent:
            b.line(f"{acc} = {masked}")
            if red.op != "argmax":
                return (acc,)
            assert position is not None
            where = b.fresh("idx" + self.num(red))
            b.line(f"{where} = tl.broadcast_to({self.lin_code(position)}, [XBLOCK, RBLOCK])")
            return acc, where
        outer = b.depth - 1
        b.line(f"{acc} = tl.full([XBLOCK, RBLOCK], {neutral}, {dtype})", outer)
        if red.op == "sum":
            b.line(f"{acc} = {acc} + {masked}")
            return (acc,)
        nan = ", propagate_nan=tl.PropagateNan.ALL" if floating else ""
        if red.op in ("max", "min"):
            b.line(f"{acc} = tl.{'maximum' if red.op == 'max' else 'minimum'}({acc}, {masked}{nan})")
            return (acc,)
        assert position is not None
        where = b.fresh("idx" + self.num(red))
        b.line(f"{where} = tl.full([XBLOCK, RBLOCK], 0, tl.int32)", outer)
        block = b.fresh("block" + self.num(red))
        take = b.fresh("take" + self.num(red))
        b.line(f"{block} = {masked}")
        first_nan = f" | (({block} != {block}) & ({acc} == {acc}))" if floating else ""
        b.line(f"{take} = ({block} > {acc}){first_nan}")  # per lane: the first maximum, or the first NaN
        b.line(f"{acc} = tl.where({take}, {block}, {acc})")
        b.line(f"{where} = tl.where({take}, {self.lin_code(position)}, {where})")
        return acc, where

    def finalize(self, red: Node, acc: tuple[str, ...], index: tuple[Lin, ...]) -> None:
        """Reduce the accumulator across its lanes: NaN wins max/min (as in torch), argmax takes the first index."""
        b = self.fn.body
        name = b.fresh(self.var(red))
        floating = compute_dtype(red.inputs[0].dtype).startswith("tl.float")
        any_nan = f"tl.max(({acc[0]} != {acc[0]}).to(tl.int32), 1)[:, None] > 0"
        if red.op == "sum":
            total = f"tl.sum({acc[0]}, 1)[:, None]"
            if red.dtype.name in HALF:
                total = _half_rounded(total, red.dtype.name)
            elif red.dtype.name in SMALL_INT:  # sum(dtype=torch.uint8) wraps before an epilogue reads it
                total = _small_int_wrapped(total, red.dtype.name)
            b.line(f"{name} = {total}")
            dtype = compute_dtype(red.dtype)
        elif red.op in ("max", "min"):
            b.line(f"{name} = tl.{red.op}({acc[0]}, 1)[:, None]")
            if floating:
                b.line(f'{name} = tl.where({any_nan}, float("nan"), {name})')
            dtype = compute_dtype(red.dtype)
        else:
            top = b.fresh("top" + self.num(red))
            b.line(f"{top} = tl.max({acc[0]}, 1)[:, None]")
            hit = f"{acc[0]} == {top}"
            if floating:
                hit = f"tl.where({any_nan}, {acc[0]} != {acc[0]}, {hit})"
            b.line(f"{name} = tl.min(tl.where({hit}, {acc[1]}, 2147483647), 1)[:, None].to(tl.int64)")
            dtype = "tl.int64"
        if red.dtype.name == "bool":
            b.line(f"{name} = {name} != 0")
        self.fn.body.put(("anchor", id(red), self.canonical(red, index)), Val(name, dtype, b.depth, frozenset({"x"})), b.depth)

    def neutral(self, red: Node, dtype: str) -> str:
        floating = dtype.startswith("tl.float")
        if red.op == "sum":
            return "0.0" if floating else "0"
        if red.op in ("max", "argmax"):
            return 'float("-inf")' if floating else str(_int_limits(dtype)[0])
        return 'float("inf")' if floating else str(_int_limits(dtype)[1])

    # argsort -------------------------------------------------------------

    def sort_kernel(self, node: Node, outputs: list[Node]) -> None:
        """Each element's place in its sorted row counted on the GPU, then its position stored there.

        The place is the number of the row's elements that sort before it (smaller, or equal
        and earlier: stable; NaN as the largest), counted over the row by blocks of RBLOCK
        for a block of XBLOCK elements, so any row length and every dtype work and the order
        is torch's stable one by construction. The work is O(n²) per row of n, parallel over
        every element: docs/decisions.md ("Sorting") says why this, not ``tl.sort``, for now.
        """
        self.extra_outputs(outputs, [node], [node])
        x = node.inputs[0]
        axis = node.attrs["axis"]
        full = self.shape(node)
        numel = prod(list(full))
        name = f"{self.kernel.name}_kernel"
        xvar = self.begin_rows(name, numel, full[axis])
        b = self.fn.body
        mine_at = delinearize(Lin.of(xvar), full)
        mine = self.sort_key(self.value(x, mine_at))
        position = b.fresh("position")
        b.line(f"{position} = {self.lin_code(mine_at[axis])}")
        count = b.fresh("ahead")
        b.line(f"{count} = tl.zeros([XBLOCK, RBLOCK], tl.int32)")
        depth = b.open("for roffset in range(0, rnumel, RBLOCK):")
        b.line("rindex = roffset + tl.arange(0, RBLOCK)[None, :]")
        b.line("rmask = rindex < rnumel")
        rvar = Var("rindex", full[axis], frozenset({"r"}), depth, "rmask")
        other = self.sort_key(self.value(x, tuple(Lin.of(rvar) if i == axis else e for i, e in enumerate(mine_at))))
        first, second = (mine, other) if node.attrs["descending"] else (other, mine)
        floating = compute_dtype(x.dtype).startswith("tl.float")
        before = f"({first} < {second})" + (f" | (({second} != {second}) & ({first} == {first}))" if floating else "")
        same = f"({other} == {mine})" + (f" | (({other} != {other}) & ({mine} != {mine}))" if floating else "")
        self.comment(node, depth)
        b.line(f"{count} += (xmask & rmask & ({before} | (({same}) & (rindex < {position})))).to(tl.int32)")
        b.close()
        place = b.fresh("place")
        b.line(f"{place} = tl.sum({count}, 1)[:, None]")
        at = tuple(Lin.of(Leaf(place, frozenset({"x"}), 0, frozenset({xvar}))) if i == axis else e for i, e in enumerate(mine_at))
        self.store(node, at, Val(position, "tl.int32", 0, frozenset({"x"})))
        self.finish()
        self.launches += 1
        self.launch += [
            f"xnumel = {dim_code(numel)}",
            "if xnumel > 0:",
            f"    XBLOCK, RBLOCK, warps = rt.sort_blocks(xnumel, {dim_code(full[axis])})",
            f"    rt.launch({name}, (rt.cdiv(xnumel, XBLOCK),), {self.calls[name]}, XBLOCK=XBLOCK, RBLOCK=RBLOCK, num_warps=warps)",
        ]

    def scatter_reduce_kernel(self, node: Node, outputs: list[Node]) -> None:
        """Each position combines its own value with the sources whose index names it, found by a
        pass over the index along the axis by blocks of RBLOCK for a block of XBLOCK positions.

        Triton has no atomic multiply (and a compare-and-swap loop has no mask and never settles
        on NaN), so a position gathers its sources rather than the sources scattering: exact and
        deterministic, O(n·m) for n positions and m sources along the axis, as the rank-count
        sort. Per lane the product runs in index order, the lanes then multiply as a tree.
        """
        self.extra_outputs(outputs, [node], [node])
        x, index_node, src = node.inputs
        axis, reduce = node.attrs["axis"], node.attrs["reduce"]
        full = self.shape(node)
        numel = prod(list(full))
        sources = self.shape(index_node)[axis]
        name = f"{self.kernel.name}_kernel"
        xvar = self.begin_rows(name, numel, sources)
        b = self.fn.body
        mine_at = delinearize(Lin.of(xvar), full)
        own = self.value(x, mine_at)
        dtype = compute_dtype(node.dtype)
        position = b.fresh("position")
        b.line(f"{position} = {self.lin_code(mine_at[axis])}")
        acc = b.fresh("acc")
        start = "1" if reduce == "prod" else own.code
        b.line(f"{acc} = tl.full([XBLOCK, RBLOCK], {start}, {dtype})" if reduce == "prod" else f"{acc} = {start} + tl.zeros([XBLOCK, RBLOCK], {dtype})")
        depth = b.open("for roffset in range(0, rnumel, RBLOCK):")
        b.line("rindex = roffset + tl.arange(0, RBLOCK)[None, :]")
        b.line("rmask = rindex < rnumel")
        rvar = Var("rindex", sources, frozenset({"r"}), depth, "rmask")
        at_r = tuple(Lin.of(rvar) if i == axis else e for i, e in enumerate(mine_at))
        at = self.checked_index(node, self.value(index_node, at_r), full[axis], at_r, ())
        value = self.value(src, at_r)
        self.comment(node, depth)
        floating = dtype.startswith("tl.float")
        nan = ", propagate_nan=tl.PropagateNan.ALL" if floating else ""
        combined = {"prod": f"{acc} * {value.code}", "amax": f"tl.maximum({acc}, {value.code}{nan})", "amin": f"tl.minimum({acc}, {value.code}{nan})"}[reduce]
        b.line(f"{acc} = tl.where(xmask & rmask & ({at.code} == {position}), {combined}, {acc})")
        b.close()
        result = b.fresh(self.var(node))
        if reduce == "prod":
            self.helpers.add("row_product")
            b.line(f"{result} = {own.code} * row_product({acc})[:, None]")
        else:
            b.line(f"{result} = tl.{reduce[1:]}({acc}, 1)[:, None]")
            if floating:
                b.line(f'{result} = tl.where(tl.max(({acc} != {acc}).to(tl.int32), 1)[:, None] > 0, float("nan"), {result})')
        self.store(node, mine_at, Val(result, dtype, 0, frozenset({"x"})))
        self.finish()
        self.launches += 1
        self.launch += [
            f"xnumel = {dim_code(numel)}",
            "if xnumel > 0:",
            f"    XBLOCK, RBLOCK, warps = rt.sort_blocks(xnumel, {dim_code(sources)})",
            f"    rt.launch({name}, (rt.cdiv(xnumel, XBLOCK),), {self.calls[name]}, XBLOCK=XBLOCK, RBLOCK=RBLOCK, num_warps=warps)",
        ]

    def scan_kernel(self, node: Node, outputs: list[Node]) -> None:
        """Running sums: each program takes XBLOCK rows along the axis in blocks of RBLOCK,
        a ``tl.cumsum`` per block plus the carry of the blocks before it.

        A reverse scan walks the axis from its end (position rnumel - 1 - rindex), so
        ``tl.cumsum`` always runs forwards and no ``reverse=`` flag is needed.
        """
        self.extra_outputs(outputs, [node], [node])
        axis = node.attrs["axis"]
        full = self.shape(node)
        xdims = [i for i in range(len(full)) if i != axis]
        xnumel = prod([full[i] for i in xdims])
        name = f"{self.kernel.name}_kernel"
        xvar = self.begin_rows(name, xnumel, full[axis])
        b = self.fn.body
        rows = dict(zip(xdims, delinearize(Lin.of(xvar), tuple(full[i] for i in xdims))))
        dtype = compute_dtype(node.dtype)
        carry = b.fresh("carry")
        b.line(f"{carry} = tl.zeros([XBLOCK, 1], {dtype})")
        depth = b.open("for roffset in range(0, rnumel, RBLOCK):")
        b.line("rindex = roffset + tl.arange(0, RBLOCK)[None, :]")
        b.line("rmask = rindex < rnumel")
        position = "rindex"
        if node.attrs["reverse"]:
            position = "rposition"
            b.line(f"{position} = rnumel - 1 - rindex")
        rvar = Var(position, full[axis], frozenset({"r"}), depth, "rmask")
        index = tuple(Lin.of(rvar) if i == axis else rows[i] for i in range(len(full)))
        v = self.value(node.inputs[0], index)
        self.comment(node, depth)
        block = b.fresh("block")
        b.line(f"{block} = tl.where(xmask & rmask, {v.code}, 0).to({dtype})")
        running = b.fresh("running")
        b.line(f"{running} = tl.cumsum({block}, 1) + {carry}")
        self.store(node, index, Val(running, dtype, depth, frozenset({"x", "r"})))
        b.line(f"{carry} = {carry} + tl.sum({block}, 1)[:, None]")
        b.close()
        self.finish()
        self.launches += 1
        self.launch += [
            f"xnumel = {dim_code(xnumel)}",
            f"rnumel = {dim_code(full[axis])}",
            "if xnumel > 0 and rnumel > 0:",
            "    _, XBLOCK, RBLOCK, warps = rt.reduction_blocks(xnumel, rnumel)",
            f"    rt.launch({name}, (rt.cdiv(xnumel, XBLOCK),), {self.calls[name]}, XBLOCK=XBLOCK, RBLOCK=RBLOCK, num_warps=warps)",
        ]

    def linalg_kernel(self, node: Node, outputs: list[Node]) -> None:
        """A linear-algebra primitive: the host function of ``graphc.codegen.triton_linalg`` named for
        the op launches hand-written kernels (its docstring says how to add one). Operands that are
        not buffers (a transpose, a broadcast identity) are copied into contiguous ones first."""
        self.extra_outputs(outputs, [node], [node])
        for operand in node.inputs:
            if not self.is_buffer(operand):
                self.split_off(operand)
        attrs = "".join(f", {k}={v!r}" for k, v in node.attrs.items())
        self.launch.append(f"la.{node.op}({', '.join(self.var(i) for i in node.inputs)}, {self.var(node)}{attrs})")
        self.launches += 1

    def sort_key(self, v: Val) -> str:
        """The variable holding ``v`` as a sortable number: bools compare as int32."""
        if v.dtype != "tl.int1":
            return v.code
        name = self.fn.body.fresh(v.code + "_key")
        self.fn.body.line(f"{name} = {v.code}.to(tl.int32)", v.depth)
        return name

    # matmul --------------------------------------------------------------

    def column_offsets(self, mm: Node) -> tuple[Dim, list[int]] | None:
        """(width, starts) when the kernel reads ``mm`` only through column slices (an LSTM's
        four gates of its [B,4H] product): the template then computes one [B,H] accumulator
        per slice start instead of the whole product. None when it reads the whole product."""
        slices = [n for n in self.kernel.nodes if n.op == "slice" and (n.inputs[0] is mm or depends_on(n.inputs[0], [mm], self.computed))]
        if not slices:
            return None
        return self.shape(slices[0])[-1], sorted({n.attrs["starts"][-1] for n in slices})

    def matmul_kernel(self, mm: Node, outputs: list[Node]) -> None:
        columns = self.column_offsets(mm)
        out_shape = (*self.shape(mm)[:-1], columns[0]) if columns else self.shape(mm)
        groups, by_parts = store_groups(outputs, self.shape)
        level = [o for shape, group in groups if len(shape) == len(out_shape) and shapes_equal(shape, out_shape) for o in group]
        self.extra_outputs(outputs, level, [mm])
        a_node, b_node = mm.inputs
        for operand in (a_node, b_node):
            if not self.is_direct(operand):
                self.split_off(operand)
        batch = out_shape[:-2]
        m_size, n_size, k_size = out_shape[-2], out_shape[-1], self.shape(a_node)[-1]
        name = f"{self.kernel.name}_kernel"
        self.begin(name, [("m", "BLOCK_M"), ("n", "BLOCK_N")])
        fn = self.fn
        fn.sizes = ["size_m", "size_n", "size_k"]
        fn.constexprs = ["BLOCK_M", "BLOCK_N", "BLOCK_K", "GROUP_M"]
        integer = not mm.dtype.is_floating_point
        known = ", ".join(str(size) if isinstance(size, int) else "None" for size in (m_size, n_size, k_size))
        several = f", accumulators={len(columns[1])}" if columns and len(columns[1]) > 1 else ""
        configs = f"rt.matmul_configs({known}, integer={integer}{several})"
        fn.decorators = [f"@triton.autotune(configs={configs}, key=['size_m', 'size_n', 'size_k'], do_bench=rt.tune_bench)"]
        self.autotuned = True
        b = fn.body
        b.line("# tiles in grouped order: GROUP_M rows of tiles share their B columns in cache; the batch")
        b.line("# on the same grid axis (a GPU's second and third axes stop at 65535 programs)")
        b.line("tiles_m = (size_m + BLOCK_M - 1) // BLOCK_M")
        b.line("tiles_n = (size_n + BLOCK_N - 1) // BLOCK_N")
        b.line("pid_b = tl.program_id(0) // (tiles_m * tiles_n)")
        b.line("pid = tl.program_id(0) % (tiles_m * tiles_n)")
        b.line("group = GROUP_M * tiles_n")
        b.line("first_m = (pid // group) * GROUP_M")
        b.line("group_m = min(tiles_m - first_m, GROUP_M)")
        b.line("pid_m = first_m + (pid % group) % group_m")
        b.line("pid_n = (pid % group) // group_m")
        b.line("am = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M))[:, None]")
        b.line("bn = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N))[None, :]")
        b.line("mask_m = am < size_m")
        b.line("mask_n = bn < size_n")
        fn.axis_masks = {"m": "mask_m", "n": "mask_n"}
        vm = Var("am", m_size, frozenset({"m"}), 0, "mask_m")
        vn = Var("bn", n_size, frozenset({"n"}), 0, "mask_n")
        vb = Var("pid_b", prod(list(batch)), frozenset(), 0, None)
        bidx = delinearize(Lin.of(vb), batch)
        operands = mm.inputs[0].dtype.name  # a half product may keep its float32 accumulator (``out_dtype``)
        acc_dtype = "tl.float32" if operands in HALF else TL[operands]
        # One accumulator per column slice the epilogue reads (the whole product: one, at column 0).
        starts = columns[1] if columns else [0]
        accs = {start: "acc" if len(starts) == 1 else f"acc{start}" for start in starts}
        if columns:
            width = columns[0]
            spans = [f"{start}:{start + width}" if isinstance(width, int) else f"{start}:{start} + {dim_code(width)}" for start in starts]
            b.line(f"# the product's columns {', '.join(spans)}, one accumulator each")
        for acc in accs.values():
            b.line(f"{acc} = tl.full([BLOCK_M, BLOCK_N], 0, {acc_dtype})")
        depth = b.open("for k0 in range(0, size_k, BLOCK_K):")
        b.line("ak = (k0 + tl.arange(0, BLOCK_K))[None, :]")
        b.line("bk = (k0 + tl.arange(0, BLOCK_K))[:, None]")
        b.line("mask_ak = ak < size_k")
        b.line("mask_bk = bk < size_k")
        vak = Var("ak", k_size, frozenset({"k"}), depth, "mask_ak")
        vbk = Var("bk", k_size, frozenset({"k"}), depth, "mask_bk")
        a = self.operand(a_node, (*bidx, Lin.of(vm), Lin.of(vak)), ("m", "k"), "[BLOCK_M, BLOCK_K]", vak)
        self.comment(mm, depth)
        for start, acc in accs.items():
            bv = self.operand(b_node, (*bidx, Lin.of(vbk), Lin.of(vn) + start), ("k", "n"), "[BLOCK_K, BLOCK_N]", vbk)
            if integer:
                b.line(f"{acc} += tl.sum({a.code}[:, :, None].to({acc_dtype}) * {bv.code}[None, :, :].to({acc_dtype}), 1)")
            elif operands == "float64":  # tl.dot accumulates in float32 unless told (an H200 rejected the float64 acc)
                b.line(f'{acc} = tl.dot({a.code}, {bv.code}, {acc}, input_precision="ieee", out_dtype=tl.float64)')
            elif operands == "float32":
                b.line(f'{acc} = tl.dot({a.code}, {bv.code}, {acc}, input_precision="ieee")')
            elif _interpreted():  # the interpreter's dot of bf16/fp16 blocks returned garbage; fp32 products of them are exact
                b.line(f"{acc} = tl.dot({a.code}.to(tl.float32), {bv.code}.to(tl.float32), {acc})")
            else:
                b.line(f"{acc} = tl.dot({a.code}, {bv.code}, {acc})")
        b.close()
        if mm.dtype.name in HALF:
            for acc in accs.values():
                b.line(f"{acc} = {_half_rounded(acc, mm.dtype.name)}")
        index = (*bidx, Lin.of(vm), Lin.of(vn))
        # Each accumulator holds the columns a slice reads, at the index the slice asks for them:
        # a slice's axes of size 1 read index 0 (``canonical``), so a slice one column wide reads
        # column ``start`` itself, not ``bn + start``.
        sliced = tuple(Lin() if dims_equal(d, 1) else i for d, i in zip(out_shape, index))
        for start, acc in accs.items():
            at = (*sliced[:-1], sliced[-1] + start) if columns else index
            b.put(("anchor", id(mm), self.canonical(mm, at)), Val(acc, compute_dtype(mm.dtype), 0, frozenset({"m", "n"})), 0)
        if any(o is not mm for o in level):
            b.line("# epilogue: the nodes after the matmul, applied to the accumulator")
        self.store_values(level, index, by_parts)
        self.finish()
        self.launches += 1
        self.launch += [
            f"size_m, size_n, size_k = {dim_code(m_size)}, {dim_code(n_size)}, {dim_code(k_size)}",
            f"batch = {dim_code(prod(list(batch)))}",
            "if size_m > 0 and size_n > 0 and batch > 0:",
            f"    rt.launch({name}, rt.matmul_grid(size_m, size_n, batch), {self.calls[name]})",
        ]

    def operand(self, node: Node, index: tuple[Lin, ...], axes: tuple[str, str], tile: str, k: Var) -> Val:
        """A tile of a matmul operand, read straight from memory (masked lanes are 0 for tl.dot)."""
        chain: list[Node] = []
        while not self.is_buffer(node):
            chain.append(node)
            index = self.movement_index(node, index)
            node = node.inputs[0]
        v = self.load(node, index, (), tuple(chain), other="0", raw=True)
        if v.axes != frozenset(axes):  # broadcast along a size-1 dimension: tl.dot needs the full tile
            name = self.fn.body.fresh(v.code + "_tile")
            # A load of one element (both dimensions of size 1) is a [1] block: give it the tile's rank.
            code = v.code if v.axes else f"tl.reshape({v.code}, [1, 1])"
            if "k" in v.axes:
                depth = v.depth
                self.fn.body.line(f"{name} = tl.broadcast_to({code}, {tile})", depth)
            else:  # K has size 1 and the load ignored it: the lanes past it must be 0, not copies
                depth = max(v.depth, k.depth)
                self.fn.body.line(f"{name} = tl.where({k.mask}, tl.broadcast_to({code}, {tile}), 0)", depth)
            v = Val(name, v.dtype, depth, frozenset(axes))
        return v

    def is_direct(self, operand: Node) -> bool:
        """Whether a matmul operand is a strided view of a buffer: affine in the tile indices, no masks.

        Anything else (a pad, a concat, a computed value, a reshape that needs division)
        is materialized first by a pointwise copy: tl.dot's K loop wants plain strided loads.
        """
        node = operand
        shape = self.shape(node)
        rank = len(shape)
        probe = [Var(f"p{i}", d, frozenset({str(i)}), 0, None) for i, d in enumerate(shape)]
        index: tuple[Lin, ...] = tuple(Lin.of(v) for v in probe)
        while not self.is_buffer(node):
            if node.op not in VIEWS:
                return False
            index = self.movement_index(node, index)
            node = node.inputs[0]
        address = linearize(index, self.shape(node))
        tile = {v.name for v in probe[rank - 2 :]}
        divided = [t for t, _ in address.terms if isinstance(t, (FloorDiv, Mod))]
        return not any(v.name in tile for t in divided for v in t.arg.vars())

    # ------------------------------------------------------------------ the launcher

    def source(self, planned: frozenset[int], shared: dict[str, str] | None = None) -> str:
        """The kernel's @jit functions and launcher; a function in ``shared`` is not written but
        launched under the name of the identical function it maps to."""
        shared = shared or {}
        kernel = self.kernel
        outs = {id(n): "out_" + self.var(n) for n in kernel.outputs if id(n) in planned}
        errors = ["errors"] if self.flagged else []
        params = [self.var(n) for n in kernel.inputs] + list(outs.values()) + errors + self.symbols
        lines = [f"def {kernel.name}({', '.join(params)}):"]
        for node in kernel.outputs:
            if id(node) in outs:
                lines.append(f"    {self.var(node)} = {outs[id(node)]}")
            else:
                lines.append(f"    {self.var(node)} = rt.empty({_shape_code(self.shape(node))}, {_torch_dtype(node.dtype)})")
        functions = []
        for function in self.functions:
            name = function_name(function)
            if name in shared:
                lines.append(f"    # {name}: the same code as {shared[name]}, compiled once")
            else:
                functions.append(function)
        launch = [re.sub(r"rt\.launch\((\w+),", lambda m: f"rt.launch({shared.get(m.group(1), m.group(1))},", line) for line in self.launch]
        lines += ["    " + line for line in launch]
        results = ", ".join(self.var(n) for n in kernel.outputs)
        lines.append(f"    return {results}{',' if len(kernel.outputs) == 1 else ''}")
        return "\n\n\n".join(functions + ["\n".join(lines)])


_UNARY = {
    "exp": "tl.exp({0})",
    "log": "tl.log({0})",
    "sqrt": "{sqrt}({0})",
    "sin": "tl.sin({0})",
    "cos": "tl.cos({0})",
    "erf": "tl.erf({0})",
    "tanh": "tanh({0})",
    "log1p": "log1p({0})",
    "atan": "atan({0}, {double})",
    "expm1": "expm1({0})",
    "exp2": "tl.exp2({0})",
    "log2": "tl.log2({0})",
}
# Ops that are 1 / (a denominator): ``_divide`` of 1.0 by the expression here.
_RECIPROCALS = {"rsqrt": "{sqrt}({0})", "sigmoid": "1.0 + tl.exp(-{0})", "reciprocal": "{0}"}
_BINARY = {"add": "+", "sub": "-", "mul": "*", "div": "/", "and": "&", "or": "|", "bitwise_and": "&", "bitwise_or": "|", "bitwise_xor": "^"}
# triton_support.fmod's ladder per computing dtype: a step of 2**(bits - 3) (quotients stay exact in
# _mod_below) and enough rounds for the widest ratio of two values, 2**277 and 2**2098.
_FMOD_LADDER = {"tl.float32": (2.0**21, 14), "tl.float64": (2.0**50, 42)}
_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
# Ops whose half-precision result is one of their half-precision operands, or a whole number
# of them: no rounding needed (casts round themselves).
_EXACT_IN_HALF = frozenset({"cast", "neg", "abs", "where", "maximum", "minimum", "sign", "floor", "ceil", "trunc", "round"})
# Ops whose small-integer result can leave the dtype's range in int32 registers, so it is wrapped back.
_WRAPS = frozenset({"add", "sub", "mul", "neg", "abs", "pow", "floor_divide", "cast"})
# The linalg primitives, each launched by the host function of its name in graphc/codegen/triton_linalg.py.
LINALG = frozenset({"solve", "solve_triangular", "cholesky", "slogdet", "eigh", "svd", "qr", "matrix_exp", "lu", "ldl_factor", "ldl_solve"})
# Every primitive the emitter generates code for (a test holds the registry to it).
SUPPORTED_OPS = frozenset(
    {*_UNARY, *_RECIPROCALS, *_BINARY, *_COMPARE, "maximum", "minimum", "neg", "abs", "sign", "logical_not", "where", "cast", "pow", "check", *IDENTITIES}
    | {"floor", "ceil", "trunc", "round", "floor_divide", "remainder", "fmod"}
    | {*VIEWS, "pad", "concat", "unfold", "fold", "gather", "index_select", "rand", "iota", "size", "constant", *ANCHORS}
    | {"argsort", "cumsum", "scatter_reduce"}
    | LINALG
)


def _divide(numerator: str, denominator: str, dtype: str) -> str:
    """A float division rounded as IEEE and torch round it: Triton's float32 ``/`` is ``div.full.f32``
    on an NVIDIA GPU, up to 2 ulp off (4.6875 / 0.9375 gave 5.0000005), where the interpreter divides
    exactly; ``tl.div_rn`` is ``div.rn.f32`` there and a plain division in the interpreter. float64's
    ``/`` is ``div.rn.f64`` already, and ``tl.div_rn`` takes float32 only."""
    if dtype == "tl.float32":
        return f"tl.div_rn({numerator}, {denominator})"
    return f"{numerator} / {_paren(denominator) if ' ' in denominator else denominator}"


def _int_limits(dtype: str) -> tuple[int, int]:
    bits = {"tl.int1": 8, "tl.int32": 32, "tl.int64": 64}[dtype]
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _paren(text: str) -> str:
    return text if text.replace("_", "").isalnum() else f"({text})"


# ----------------------------------------------------------------------------- a whole program


def _emit(kernel: Kernel, names: dict[int, str], planned: frozenset[int]) -> KernelEmitter:
    emitter = KernelEmitter(kernel, names)
    emitter.emit_kernel()
    kernel.source = emitter.source(planned)
    return emitter


def emit_kernel(kernel: Kernel, names: dict[int, str], planned: frozenset[int] = frozenset()) -> str:
    """The source of one kernel's @jit functions and launcher."""
    if not kernel.source:
        _emit(kernel, names, planned)
    return kernel.source


def function_name(source: str) -> str:
    match = re.search(r"^def (\w+)\(", source, re.M)
    assert match is not None
    return match.group(1)


def shared_functions(emitters: list[KernelEmitter]) -> dict[str, str]:
    """Each @jit function identical to one emitted before it, mapped to that function's name.

    Identical means the same code once comments, the function's name and the node numbers
    in variable names are set aside: an LSTM's time steps, or Adam's updates of parameters
    of one shape, are kernels alike but for the nodes they compute. Triton compiles each
    distinct source, so each is written once.
    """
    first: dict[str, str] = {}
    shared = {}
    for emitter in emitters:
        for function in emitter.functions:
            name = function_name(function)
            code = _without_names(function)
            if code in first:
                shared[name] = first[code]
            else:
                first[code] = name
    return shared


def _without_names(source: str) -> str:
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))
    code = re.sub(r"^def \w+\(", "def (", code, flags=re.M)
    numbered: dict[str, str] = {}
    # a value recomputed at another index is named like v67_1: the suffix is part of the name
    return re.sub(r"\b(v|c|in|out|tmp)\d+(?:_\d+)?\b", lambda m: numbered.setdefault(m.group(0), f"{m.group(1)}#{len(numbered)}"), code)


def emit_program(program: Program, plan: MemoryPlan) -> str:
    graph = program.graph
    names = number_nodes(graph.nodes)
    var = {key: "v" + value[1:] for key, value in names.items()}
    planned = frozenset(id(b.node) for b in plan.buffers)
    buffer_var = {id(b.node): f"buf{i}" for i, b in enumerate(plan.buffers)}
    emitters = [_emit(k, names, planned) for k in program.kernels]
    shared = shared_functions(emitters)
    for kernel, emitter in zip(program.kernels, emitters):
        if any(function_name(f) in shared for f in emitter.functions):
            kernel.source = emitter.source(planned, shared)
    helpers = sorted(set().union(*(e.helpers for e in emitters)) if emitters else set())
    header = [
        '"""Generated by graphc (Triton backend): @triton.jit kernels and a launcher per Kernel, then run()."""',
        "import torch",
        "import triton",
        "import triton.language as tl",
        "",
        "from graphc.codegen import triton_linalg as la",
        "from graphc.codegen import triton_support as rt",
    ]
    if helpers:
        header.append(f"from graphc.codegen.triton_support import {', '.join(helpers)}")
    header.append("")
    kernels = [k.source + "\n" for k in program.kernels]
    sizes = size_names(graph)
    # In place only where each element is read before it is written by the same lane (one launch,
    # every read of the reused buffer at the written address), and never by an autotuned launch,
    # which runs several times while it is timed; otherwise the buffers get their own bytes.
    producer = {id(o): e for e in emitters for o in e.kernel.outputs}
    reuses = []
    for b in plan.buffers:
        reused = b.reuses
        if reused is not None:
            e = producer[id(b.node)]
            target = e.store_addresses.get(id(b.node))
            if e.launches != 1 or e.autotuned or target is None or e.load_addresses.get(id(plan.buffers[reused].node), set()) - {target}:
                reused = None
        reuses.append(reused)
    layout = buffers_function(plan, sizes, lambda node: (_shape_code(node.shape), _torch_dtype(node.dtype)), reuses)
    size_args = "".join(", " + s for s in sizes)
    run = [
        f"def run(inputs{size_args}):",
        '    """Compiles the kernels of a call at new sizes on threads first (rt.compile_ahead), then launches them."""',
        f"    rt.compile_ahead(launch_all, inputs{size_args})",
        f"    return launch_all(inputs{size_args})",
    ]
    body = run_header(graph, plan, var, buffer_var, sizes, "[rt.prepare(x) for x in inputs]", name="launch_all")
    flagged = [error for e in emitters for error in e.flagged]
    if flagged:
        body.append("    errors = rt.error_flags(KERNEL_ERRORS)")
    first_slot = 0
    for kernel, emitter in zip(program.kernels, emitters):
        args = [var[id(n)] for n in kernel.inputs] + [buffer_var[id(n)] for n in kernel.outputs if id(n) in planned]
        if emitter.flagged:
            args.append(f"errors[{first_slot}:]" if first_slot else "errors")
            first_slot += len(emitter.flagged)
        body.append(kernel_call(kernel.name, kernel.outputs, args + emitter.symbols, var))
    if flagged:
        sizes_now = ", ".join(dim_code(size) for _, _, size in flagged)
        body.append(f"    rt.raise_flagged(errors, KERNEL_ERRORS, ({sizes_now},))")
    body.append(f"    return [{', '.join(var[id(n)] for n in graph.outputs)}]")
    # What each slot of ``errors`` raises: the kernels flag an index out of range, an integer division by zero or a failed check there (KernelEmitter.flag).
    messages = ["KERNEL_ERRORS = (", *(f"    {(kind, message)!r}," for kind, message, _ in flagged), ")"] if flagged else []
    parts = ["\n".join(header), "\n\n".join(kernels), *(["\n".join(messages)] if messages else []), "\n".join(layout), "\n".join(run), "\n".join(body)]
    return "\n\n".join(parts) + "\n"

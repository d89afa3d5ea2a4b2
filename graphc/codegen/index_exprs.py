"""Index arithmetic for the Triton and C emitters: integer expressions over loop indices.

Every load of a generated kernel reads ``buffer[address]`` where the address is an
integer expression of the kernel's indices (Triton's block indices ``xindex``,
``rindex``, the tile offsets of a matmul; the C emitter's loop counters). Movement nodes between the load and the buffer (expand,
permute, slice, reshape, pad, concat, unfold, gather) rewrite the per-axis index
expressions, so a view costs index arithmetic, never a copy.

Expressions are linear combinations (``Lin``) of terms: block indices (``Var``),
values loaded at run time (``Leaf``, a gathered index) and the two non-linear
operations integer indexing needs, ``FloorDiv`` and ``Mod``. Simplification keeps
the common cases free of division: a split and re-merge of axes folds back
(``(x // a) * a + x % a == x``), ``x % n`` disappears when ``x < n`` is provable
and multiples of the divisor leave a division or a modulo. Bounds and
divisibility are proven with sympy, so symbolic sizes (``B``) simplify too.

Rules that only hold for non-negative operands are applied only when the lower
bound is provably >= 0: Triton's and C's integer ``//`` and ``%`` truncate toward zero,
and they agree with floor division exactly there. Lanes where an index may be
negative (inside padding) are masked off, so their values never matter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy

Dim = int | sympy.Expr


# ----------------------------------------------------------------------------- sizes


_POSITIVE: dict[str, sympy.Symbol] = {}


def assume_sizes(d: object) -> Dim:
    """``d`` with every symbol replaced by a positive integer symbol of the same name (sizes are)."""
    if isinstance(d, int):
        return d
    expr = sympy.sympify(d)
    if expr.is_Integer:
        return int(expr)
    subs = {}
    for s in expr.free_symbols:
        if not (s.is_integer and s.is_positive):
            subs[s] = _POSITIVE.setdefault(s.name, sympy.Symbol(s.name, integer=True, positive=True))
    out = expr.xreplace(subs) if subs else expr
    return int(out) if out.is_Integer else out


def _norm(d: Dim) -> Dim:
    if isinstance(d, int):
        return d
    d = sympy.expand(d)
    return int(d) if d.is_Integer else d


def nonneg(d: Dim | None) -> bool:
    """Provably ``d >= 0``."""
    if d is None:
        return False
    if isinstance(d, int):
        return d >= 0
    return bool(sympy.sympify(d).is_nonnegative)


def le(a: Dim | None, b: Dim | None) -> bool:
    """Provably ``a <= b``."""
    if a is None or b is None:
        return False
    if isinstance(a, int) and isinstance(b, int):
        return a <= b
    return nonneg(_norm(b - a))


def exact_div(c: Dim, d: Dim) -> Dim | None:
    """``c / d`` when it is provably an integer, else None."""
    if isinstance(c, int) and isinstance(d, int):
        return c // d if d and c % d == 0 else None
    q = sympy.cancel(sympy.sympify(c) / d)
    if q.is_integer:
        return int(q) if q.is_Integer else q
    return None


def dim_code(d: Dim) -> str:
    """Integer Python/Triton code for a size: ``B * 30``, ``(B + 1) // 2``."""
    if isinstance(d, int):
        return str(d)
    return _code(sympy.sympify(d))


def _code(e: sympy.Expr) -> str:
    if e.is_Integer:
        return str(int(e))
    if e.is_Symbol:
        return str(e)
    if e.is_Add:
        parts = []
        for i, term in enumerate(sorted(e.args, key=lambda t: (t.is_number, sympy.default_sort_key(t)))):
            coeff, rest = term.as_coeff_Mul()
            if coeff.is_negative:
                text = _code(-term)
                parts.append(f"- {_wrap(text)}" if i else f"-{_wrap(text)}")
            else:
                parts.append(("+ " if i else "") + _code(term))
        return " ".join(parts)
    if e.is_Mul:
        coeff, rest = e.as_coeff_Mul()
        if not coeff.is_Integer:
            num, den = sympy.fraction(sympy.together(e))
            if den.is_Integer:
                raise ValueError(f"size {e} is not an integer expression")
            return f"{_wrap(_code(num))} // {_wrap(_code(den))}"
        factors = [_wrap(_code(f)) for f in sympy.Mul.make_args(rest)]
        if coeff != 1:
            factors.insert(0, _wrap(str(int(coeff))))
        return " * ".join(factors)
    if e.is_Pow and e.exp.is_Integer and int(e.exp) > 0:
        return " * ".join([_wrap(_code(e.base))] * int(e.exp))
    if isinstance(e, sympy.floor):
        num, den = sympy.fraction(sympy.together(e.args[0]))
        return f"({_code(sympy.expand(num))}) // {_wrap(_code(den))}"
    if isinstance(e, sympy.ceiling):
        num, den = sympy.fraction(sympy.together(e.args[0]))
        return f"({_code(sympy.expand(num + den - 1))}) // {_wrap(_code(den))}"
    if isinstance(e, sympy.Mod):
        return f"{_wrap(_code(e.args[0]))} % {_wrap(_code(e.args[1]))}"
    raise ValueError(f"the triton backend cannot compute the size {e} in a kernel")


def _wrap(text: str) -> str:
    simple = text.replace("_", "").isalnum() or (text.startswith("-") and text[1:].isalnum())
    return text if simple else f"({text})"


# ----------------------------------------------------------------------------- terms


class Term:
    """A non-constant part of an index expression."""

    def bounds(self) -> tuple[Dim | None, Dim | None]:
        raise NotImplementedError

    def parts(self) -> tuple[Term, ...]:
        return (self,)


@dataclass(frozen=True)
class Var(Term):
    """A block of indices (or a scalar program index) in ``[0, bound)`` on the lanes that count.

    ``mask`` names the condition that keeps lanes past the bound off (None: none are).
    ``depth`` is the loop nesting where it is defined; ``axes`` the block axes it spans.
    """

    name: str
    bound: Dim
    axes: frozenset[str] = frozenset()
    depth: int = 0
    mask: str | None = None

    def bounds(self) -> tuple[Dim | None, Dim | None]:
        return 0, _norm(self.bound - 1)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Leaf(Term):
    """A value computed by the kernel and used as an index (a gathered index)."""

    name: str
    axes: frozenset[str] = frozenset()
    depth: int = 0
    # The block indices it was computed at: their masks guard every access it addresses.
    guard: frozenset[Var] = frozenset()

    def bounds(self) -> tuple[Dim | None, Dim | None]:
        return None, None

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class FloorDiv(Term):
    arg: Lin
    div: Dim

    def bounds(self) -> tuple[Dim | None, Dim | None]:
        lo, hi = self.arg.bounds()
        if not nonneg(lo):
            return None, None
        return _floordiv(lo, self.div), (None if hi is None else _floordiv(hi, self.div))

    def __str__(self) -> str:
        return f"({self.arg}) // {_wrap(dim_code(self.div))}"


@dataclass(frozen=True)
class Mod(Term):
    arg: Lin
    mod: Dim

    def bounds(self) -> tuple[Dim | None, Dim | None]:
        lo, hi = self.arg.bounds()
        if not nonneg(lo):
            return None, None
        return 0, (hi if le(hi, self.mod - 1) else _norm(self.mod - 1))

    def __str__(self) -> str:
        return f"({self.arg}) % {_wrap(dim_code(self.mod))}"


def _floordiv(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a // b
    return _norm(sympy.floor(sympy.sympify(a) / b))


def _key(term: Term) -> str:
    return f"{type(term).__name__}:{term}"


# ----------------------------------------------------------------------------- linear expressions


@dataclass(frozen=True)
class Lin:
    """``sum(coef * term) + const``; terms sorted, coefficients non-zero (a canonical form)."""

    terms: tuple[tuple[Term, Dim], ...] = ()
    const: Dim = 0

    @staticmethod
    def of(value: Term | Dim) -> Lin:
        if isinstance(value, Term):
            return Lin(((value, 1),), 0)
        return Lin((), _norm(value))

    @property
    def is_const(self) -> bool:
        return not self.terms

    def bounds(self) -> tuple[Dim | None, Dim | None]:
        lo: Dim | None = self.const
        hi: Dim | None = self.const
        for term, coef in self.terms:
            tlo, thi = term.bounds()
            if nonneg(coef):
                lo = None if lo is None or tlo is None else _norm(lo + coef * tlo)
                hi = None if hi is None or thi is None else _norm(hi + coef * thi)
            elif nonneg(-coef):
                lo = None if lo is None or thi is None else _norm(lo + coef * thi)
                hi = None if hi is None or tlo is None else _norm(hi + coef * tlo)
            else:
                return None, None
        return lo, hi

    def vars(self) -> set[Var]:
        found: set[Var] = set()
        for term, _ in self.terms:
            if isinstance(term, Var):
                found.add(term)
            elif isinstance(term, Leaf):
                found |= term.guard
            elif isinstance(term, (FloorDiv, Mod)):
                found |= term.arg.vars()
        return found

    def leaves(self) -> set[Leaf]:
        found: set[Leaf] = set()
        for term, _ in self.terms:
            if isinstance(term, Leaf):
                found.add(term)
            elif isinstance(term, (FloorDiv, Mod)):
                found |= term.arg.leaves()
        return found

    def axes(self) -> frozenset[str]:
        out: frozenset[str] = frozenset()
        for v in self.vars():
            out |= v.axes
        for leaf in self.leaves():
            out |= leaf.axes
        return out

    def depth(self) -> int:
        return max([v.depth for v in self.vars()] + [leaf.depth for leaf in self.leaves()], default=0)

    def __add__(self, other: Lin | Dim) -> Lin:
        other = other if isinstance(other, Lin) else Lin.of(other)
        coefs: dict[str, tuple[Term, Dim]] = {_key(t): (t, c) for t, c in self.terms}
        for t, c in other.terms:
            k = _key(t)
            coefs[k] = (t, _norm(coefs[k][1] + c)) if k in coefs else (t, c)
        return _build(coefs, _norm(self.const + other.const))

    def __sub__(self, other: Lin | Dim) -> Lin:
        other = other if isinstance(other, Lin) else Lin.of(other)
        return self + other * -1

    def __mul__(self, factor: Dim) -> Lin:
        factor = _norm(factor)
        if isinstance(factor, int) and factor == 0:
            return Lin()
        return _build({_key(t): (t, _norm(c * factor)) for t, c in self.terms}, _norm(self.const * factor))

    def __str__(self) -> str:
        parts = [f"{t}" if c == 1 else f"{t} * {_wrap(dim_code(c))}" for t, c in self.terms]
        if not isinstance(self.const, int) or self.const or not parts:
            parts.append(dim_code(self.const))
        return " + ".join(parts)


def _is_zero(d: Dim) -> bool:
    return isinstance(d, int) and d == 0


def _build(coefs: dict[str, tuple[Term, Dim]], const: Dim) -> Lin:
    coefs = {k: v for k, v in coefs.items() if not _is_zero(v[1])}
    changed = True
    while changed:
        changed = False
        for k, (term, coef) in list(coefs.items()):
            if k not in coefs or not isinstance(term, Mod):
                continue
            x, a = term.arg, term.mod
            # (x // a) * a*coef + (x % a) * coef == x * coef
            partner = _key(FloorDiv(x, a))
            if partner in coefs and _same(coefs[partner][1], _norm(coef * a)):
                del coefs[k], coefs[partner]
                rest = x * coef
                for t, c in rest.terms:
                    kk = _key(t)
                    coefs[kk] = (t, _norm(coefs[kk][1] + c)) if kk in coefs else (t, c)
                const = _norm(const + rest.const)
                coefs = {kk: v for kk, v in coefs.items() if not _is_zero(v[1])}
                changed = True
                break
            # ((x // a) % b) * a*coef + (x % a) * coef == (x % (a*b)) * coef
            for k2, (term2, coef2) in coefs.items():
                if (
                    isinstance(term2, Mod)
                    and len(term2.arg.terms) == 1
                    and term2.arg.const == 0
                    and term2.arg.terms[0][1] == 1
                    and isinstance(term2.arg.terms[0][0], FloorDiv)
                    and term2.arg.terms[0][0].arg == x
                    and _same(term2.arg.terms[0][0].div, a)
                    and _same(coef2, _norm(coef * a))
                ):
                    merged = mod(x, _norm(a * term2.mod))
                    del coefs[k], coefs[k2]
                    for t, c in (merged * coef).terms:
                        kk = _key(t)
                        coefs[kk] = (t, _norm(coefs[kk][1] + c)) if kk in coefs else (t, c)
                    const = _norm(const + (merged * coef).const)
                    coefs = {kk: v for kk, v in coefs.items() if not _is_zero(v[1])}
                    changed = True
                    break
            if changed:
                break
    ordered = tuple(sorted(coefs.values(), key=lambda tc: _key(tc[0])))
    return Lin(ordered, const)


def _same(a: Dim, b: Dim) -> bool:
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return _norm(sympy.sympify(a) - b) == 0


def _split(a: Lin, d: Dim) -> tuple[Lin, Lin]:
    """``a == q * d + r`` with every coefficient of ``q`` an integer (multiples of ``d`` go to ``q``)."""
    q: dict[str, tuple[Term, Dim]] = {}
    r: dict[str, tuple[Term, Dim]] = {}
    for t, c in a.terms:
        e = exact_div(c, d)
        if e is None:
            r[_key(t)] = (t, c)
        else:
            q[_key(t)] = (t, e)
    if isinstance(a.const, int) and isinstance(d, int):
        qc, rc = divmod(a.const, d)
    else:
        e = exact_div(a.const, d)
        qc, rc = (e, 0) if e is not None else (0, a.const)
    return _build(q, qc), _build(r, rc)


def floordiv(a: Lin, d: Dim) -> Lin:
    """``a // d`` for a positive size ``d``."""
    d = _norm(d)
    if _same(d, 1):
        return a
    lo, _ = a.bounds()
    if not nonneg(lo):
        return Lin.of(FloorDiv(a, d))
    q, r = _split(a, d)
    rlo, rhi = r.bounds()
    if not nonneg(rlo):
        return Lin.of(FloorDiv(a, d))
    if rhi is not None and le(rhi, d - 1):
        return q
    if len(r.terms) == 1 and r.const == 0 and r.terms[0][1] == 1 and isinstance(r.terms[0][0], FloorDiv):
        inner = r.terms[0][0]
        if nonneg(inner.arg.bounds()[0]):
            return q + floordiv(inner.arg, _norm(inner.div * d))
    return q + Lin.of(FloorDiv(r, d))


def mod(a: Lin, d: Dim) -> Lin:
    """``a % d`` for a positive size ``d``."""
    d = _norm(d)
    if _same(d, 1):
        return Lin()
    lo, hi = a.bounds()
    if not nonneg(lo):
        return Lin.of(Mod(a, d))
    if hi is not None and le(hi, d - 1):
        return a
    _, r = _split(a, d)
    rlo, rhi = r.bounds()
    if not nonneg(rlo):
        return Lin.of(Mod(a, d))
    if rhi is not None and le(rhi, d - 1):
        return r
    if len(r.terms) == 1 and r.const == 0 and r.terms[0][1] == 1 and isinstance(r.terms[0][0], Mod):
        inner = r.terms[0][0]
        if exact_div(inner.mod, d) is not None:
            return mod(inner.arg, d)
    return Lin.of(Mod(r, d))


def contiguous_strides(shape: tuple[Dim, ...]) -> list[Dim]:
    strides: list[Dim] = []
    running: Dim = 1
    for d in reversed(shape):
        strides.append(running)
        running = _norm(running * d)
    return strides[::-1]


def linearize(index: tuple[Lin, ...], shape: tuple[Dim, ...]) -> Lin:
    """The row-major offset of ``index`` in a contiguous tensor of ``shape``."""
    out = Lin()
    for e, stride in zip(index, contiguous_strides(shape)):
        out = out + e * stride
    return out


def delinearize(offset: Lin, shape: tuple[Dim, ...]) -> tuple[Lin, ...]:
    """The index in ``shape`` of a row-major offset (the inverse of ``linearize``)."""
    out = []
    for i, stride in enumerate(contiguous_strides(shape)):
        if stride == 0:  # a later dimension is 0: the tensor is empty and every lane is masked off
            out.append(Lin())
            continue
        e = floordiv(offset, stride)
        empty = isinstance(shape[i], int) and shape[i] == 0  # no offset is in range: a modulo would divide by 0
        if i and not empty:  # the outermost index needs no modulo: the offset is in range
            e = mod(e, shape[i])
        out.append(e)
    return tuple(out)


def prod(dims: list[Dim] | tuple[Dim, ...]) -> Dim:
    return _norm(math.prod(dims, start=1)) if all(isinstance(d, int) for d in dims) else _norm(sympy.Mul(*dims))


# ----------------------------------------------------------------------------- conditions


@dataclass(frozen=True)
class Cond:
    """A lane condition on an index: ``lin >= rhs``, ``lin < rhs`` or ``lin % rhs == 0``."""

    lin: Lin
    op: str  # ">=", "<", "divisible"
    rhs: Dim

    def vars(self) -> set[Var]:
        return self.lin.vars()


def cond(lin: Lin, op: str, rhs: Dim) -> Cond | None:
    """The condition, or None when it provably holds on every lane that counts."""
    rhs = _norm(rhs)
    lo, hi = lin.bounds()
    if op == ">=" and le(rhs, lo):
        return None
    if op == "<" and hi is not None and le(hi, rhs - 1):
        return None
    if op == "divisible":
        if _same(rhs, 1):
            return None
        q, r = _split(lin, rhs)
        if r.is_const and _is_zero(r.const):
            return None
    return Cond(lin, op, rhs)


# ----------------------------------------------------------------------------- views


def view_index(op: str, attrs: dict, in_shape: tuple[Dim, ...], out_shape: tuple[Dim, ...], index: tuple[Lin, ...]) -> tuple[Lin, ...]:
    """The operand's index read by a view (reshape, permute, expand, slice) at ``index``."""
    if op == "reshape":
        kept = [e for e, d in zip(index, out_shape) if d != 1]
        if len(kept) == sum(d != 1 for d in in_shape) and [d for d in in_shape if d != 1] == [d for d in out_shape if d != 1]:
            # Only size-1 dimensions come or go: the same index, without the division of a delinearize.
            return tuple(Lin() if d == 1 else kept.pop(0) for d in in_shape)
        return delinearize(linearize(index, out_shape), in_shape)
    if op == "permute":
        out: list[Lin] = [Lin()] * len(in_shape)
        for i, p in enumerate(attrs["perm"]):
            out[p] = index[i]
        return tuple(out)
    if op == "expand":
        return tuple(Lin() if (isinstance(d, int) and d == 1) else e for e, d in zip(index, in_shape))
    if op == "slice":
        starts, steps = attrs["starts"], attrs["steps"]
        return tuple(e * step + assume_sizes(start) for e, start, step in zip(index, starts, steps))
    raise AssertionError(op)


def windows(size: Dim, kernel: int, dilation: int, padding: int, stride: int) -> Dim:
    """How many windows of a convolution fit along an axis (as ``graphc.ir.primitives.window``)."""
    span = dilation * (kernel - 1) + 1
    if isinstance(size, int):
        return (size + 2 * padding - span) // stride + 1
    return assume_sizes(sympy.floor((sympy.sympify(size) + 2 * padding - span) / stride) + 1)


def pad_source(index: tuple[Lin, ...], in_shape: tuple[Dim, ...], attrs: dict) -> tuple[tuple[Lin, ...], tuple[Cond, ...]]:
    """The operand's index read by ``pad`` at ``index``, and the conditions under which it is not padding."""
    inner, conds = [], []
    for e, d, lo, mid in zip(index, in_shape, attrs["low"], attrs["interior"]):
        t = e - lo
        span = (d - 1) * (mid + 1) + 1
        conds += [c for c in (cond(t, ">=", 0), cond(t, "<", span), cond(t, "divisible", mid + 1)) if c is not None]
        inner.append(floordiv(t, mid + 1) if mid else t)
    return tuple(inner), tuple(conds)


KERNEL_LOOPS = ("kd", "ki", "kj")
"""The names of the loops over a fold's kernel offsets, the last ``len(kernel_size)`` of them (at most 3 spatial axes)."""


def _strides(sizes: tuple[Dim, ...]) -> list[Dim]:
    """Row-major strides of a flattened grid of ``sizes``."""
    out: list[Dim] = [1] * len(sizes)
    for i in range(len(sizes) - 2, -1, -1):
        out[i] = _norm(out[i + 1] * sizes[i + 1])
    return out


def _flat(parts: list[Lin], sizes: tuple[Dim, ...]) -> Lin:
    """The row-major flat index of per-axis indices ``parts`` into a grid of ``sizes``."""
    flat = parts[0]
    for part, size in zip(parts[1:], sizes[1:]):
        flat = flat * size + part
    return flat


def _window_grid(attrs: dict, sizes: tuple[Dim, ...]) -> tuple[Dim, ...]:
    """How many windows fit along each spatial axis of ``sizes``."""
    return tuple(windows(*args) for args in zip(sizes, attrs["kernel_size"], attrs["dilation"], attrs["padding"], attrs["stride"]))


def unfold_source(index: tuple[Lin, ...], in_shape: tuple[Dim, ...], attrs: dict) -> tuple[tuple[Lin, ...], tuple[Cond, ...]]:
    """im2col: the image element read by column (c, kernel offset) of window ``l``, and the conditions that it is not padding.

    Any number of spatial axes: the kernel offsets and the windows are row-major grids."""
    sizes = tuple(in_shape[2:])
    kernel, dilation, padding, stride = attrs["kernel_size"], attrs["dilation"], attrs["padding"], attrs["stride"]
    grid = _window_grid(attrs, sizes)
    n, ckk, window = index
    source, conds = [], []
    for axis, (k_stride, l_stride) in enumerate(zip(_strides(tuple(kernel)), _strides(grid))):
        offset = mod(floordiv(ckk, k_stride), kernel[axis])
        block = floordiv(window, l_stride) if axis == 0 else mod(floordiv(window, l_stride), grid[axis])
        at = block * stride[axis] + offset * dilation[axis] - padding[axis]
        conds += [c for c in (cond(at, ">=", 0), cond(at, "<", sizes[axis])) if c is not None]
        source.append(at)
    return (n, floordiv(ckk, math.prod(kernel)), *source), tuple(conds)


def fold_source(index: tuple[Lin, ...], offsets: tuple[Lin, ...], attrs: dict) -> tuple[tuple[Lin, ...], tuple[Cond, ...]]:
    """col2im: the column element that kernel offset ``offsets`` (one per spatial axis) adds to element ``index``, and when a window covers it."""
    kernel, dilation, padding, stride = attrs["kernel_size"], attrs["dilation"], attrs["padding"], attrs["stride"]
    grid = _window_grid(attrs, tuple(attrs["output_size"]))
    n, c, *at = index
    blocks, conds = [], []
    for e, k, d, p, s, count in zip(at, offsets, dilation, padding, stride, grid):
        t = e + p - k * d
        conds += [c_ for c_ in (cond(t, ">=", 0), cond(t, "divisible", s), cond(t, "<", (count - 1) * s + 1)) if c_ is not None]
        blocks.append(floordiv(t, s))
    return (n, c * math.prod(kernel) + _flat(list(offsets), tuple(kernel)), _flat(blocks, grid)), tuple(conds)


def fold_disjoint_source(index: tuple[Lin, ...], attrs: dict) -> tuple[tuple[Lin, ...], tuple[Cond, ...]] | None:
    """col2im when windows do not overlap (a max-pool's backward): the one column element at element ``index``.

    With a stride at least the kernel's size and no dilation, an element lies in at most one
    window, at offset ``(h + padding) % stride`` in it along each axis: a read with its
    conditions, where ``fold_source`` sums over every kernel offset under divisibility
    tests. None when windows overlap.
    """
    kernel, dilation, padding, stride = attrs["kernel_size"], attrs["dilation"], attrs["padding"], attrs["stride"]
    if any(d != 1 for d in dilation) or any(s < k for s, k in zip(stride, kernel)):
        return None
    grid = _window_grid(attrs, tuple(attrs["output_size"]))
    n, c, *at = index
    shifted = [e + p for e, p in zip(at, padding)]
    offsets = [mod(t, s) for t, s in zip(shifted, stride)]
    candidates = [cond(t, "<", count * s) for t, count, s in zip(shifted, grid, stride)]
    candidates += [cond(o, "<", k) if s > k else None for o, k, s in zip(offsets, kernel, stride)]
    conds = tuple(c_ for c_ in candidates if c_ is not None)
    blocks = [floordiv(t, s) for t, s in zip(shifted, stride)]
    return (n, c * math.prod(kernel) + _flat(offsets, tuple(kernel)), _flat(blocks, grid)), conds

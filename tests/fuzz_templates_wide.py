"""The fuzzer's wider op families (tests/fuzz_programs.py draws them with its own templates).

Bit operations and shifts, sorting and scans with indices, scatters and indexed writes,
advanced and boolean-mask indexing, padding and the other copying movements, einsum and
the fused matmul forms, norms and paired statistics, and in-place ops on non-leaf copies.
Each keeps the generator's rules: a result's error bound from its operands', and a step
whose outcome hinges on an order or a tie is only kept where the order cannot flip within
those bounds (a float program's gradients are compared too, and a sort's gradient follows
its permutation). Steps that read values to decide a shape (``x[mask]``, ``nonzero``) mark
the program eager-only: ``graphc.compile`` refuses them by design (docs/decisions.md).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from fuzz_programs import (
    EPS,
    FLOAT_LIMIT,
    MAX_ELEMENTS,
    Dropped,
    Generator,
    Step,
    Value,
    _broadcastable,
    _count,
    _dims,
    _gap_ok,
    _margin,
    _rounding,
    results_min_std,
)

INT_DTYPES = ("int64", "int32", "int16", "int8", "uint8")


def _separated(values: list[torch.Tensor], d: int, margin: float, ties_ok: bool) -> bool:
    """Along ``d``, every pair of elements is farther apart than ``margin`` (or exactly equal, if ``ties_ok``)."""
    for t in values:
        if t.shape[d] < 2:
            continue
        gaps = t.detach().double().sort(dim=d).values.diff(dim=d)
        if not (_gap_ok(gaps, margin) if ties_ok else bool((gaps > margin).all())):
            return False
    return True


def _both(v: Value) -> list[torch.Tensor]:
    return [v.small, v.large]


def _unique_index(g: Generator, x: Value, d: int, k: int, shape: list[int], batch: set[int]) -> Value:
    """An int64 index of ``shape`` (``k`` along ``d``) whose entries along ``d`` are distinct, in [0, size)."""
    size = x.shape[d]
    arrays = []
    for b in (g.b1, g.b2):
        full = [b if j in batch else (size if j == d else s) for j, s in enumerate(shape)]
        order = np.argsort(g.rng.random(full), axis=d).astype(np.int64)
        arrays.append(np.ascontiguousarray(np.take(order, range(k), axis=d)))
    if max(a.size for a in arrays) > MAX_ELEMENTS:
        raise Dropped("too large")
    return g.add_input(f"a{len(g.inputs)}", (arrays[0], arrays[1]))


def _index_shape(g: Generator, x: Value, d: int, k: int) -> tuple[list[int], set[int]]:
    """An index's shape for a scatter into ``x`` along ``d``: ``k`` there, at most ``x``'s size elsewhere."""
    batch = x.batch_dims
    shape = [k if j == d else (s if j in batch else int(g.rng.integers(1, s + 1))) for j, s in enumerate(x.shape)]
    return shape, {j for j in batch if j != d}


# ---------------------------------------------------------------------- bit operations


def t_bitwise(g: Generator) -> Step:
    """``& | ^ ~ << >>`` on integers (any width) and bools; shifts by 0 to 4, so int64 values stay small."""
    kind = g.pick(["int", "int", "bool"])
    try:
        x = g.operand(kind)
    except Dropped:  # few programs compute integers: start from a new input of any width
        x = g.fresh_like(g.operand("any"), g.pick(INT_DTYPES) if kind == "int" else "bool")
    forms = ["{x} & {y}", "{x} | {y}", "{x} ^ {y}", "T.bitwise_and({x}, {y})", "{x}.bitwise_or({y})", "T.bitwise_xor({x}, {y})", "~{x}", "T.bitwise_not({x})"]
    if x.dtype != "bool":
        forms += ["{x} << {s}", "{x} >> {s}", "T.bitwise_left_shift({x}, {s})", "{x}.bitwise_right_shift({s})", "{x} >> {y}.clamp(0, 4)", "{x} << ({y} & 3)"]
    form = g.pick(forms)
    y_text = ""
    if "{y}" in form:
        y_text, _ = g.partner(x, "int" if x.dtype != "bool" and g.chance(0.8) else "bool")
        if "clamp" in form or "& 3" in form:
            _, y = g.partner(x, "int")
            if y is None:
                raise Dropped("shift by a scalar written as a tensor")
            y_text = y.name
    return Step(form.format(x=x.name, y=y_text, s=int(g.rng.integers(0, 5))), lambda v: 0.0)


# ---------------------------------------------------------------------- sorting and scans


def t_sort(g: Generator) -> Step:
    """sort/argsort/msort/topk/kthvalue/median, cummax/cummin, cumprod, logcumsumexp."""
    x = g.operand("number", ndim_min=1)
    dims, spelled = _dims(g, x, single=True)
    d = dims[0]
    size = min(x.small.shape[d], x.large.shape[d])
    k = int(g.rng.integers(1, size + 1))
    desc = g.pick([True, False])
    keep = g.pick([True, False])
    kind = g.pick(["sort", "sort_values", "argsort", "topk", "kthvalue", "median", "cummax", "cumprod", "logcumsumexp"])
    n_outputs, indices, ties_ok = 1, False, False
    if kind == "sort":
        stable = g.chance(0.5)
        expr = f"T.sort({x.name}, dim={spelled}, descending={desc}, stable=True)" if stable else f"{x.name}.sort({spelled}, {desc})"
        n_outputs, indices, ties_ok = 2, True, stable
    elif kind == "sort_values":
        expr = g.pick([f"{x.name}.sort(dim={spelled}, descending={desc}).values", f"T.msort({x.name})" if d == 0 else f"T.sort({x.name}, {spelled})[0]"])
    elif kind == "argsort":
        stable = g.chance(0.5)
        expr = f"{x.name}.argsort(dim={spelled}, stable=True, descending={desc})" if stable else f"T.argsort({x.name}, dim={spelled}, descending={desc})"
        indices, ties_ok = True, stable
    elif kind == "topk":
        largest = g.pick([True, False])
        if g.chance(0.5):
            expr, n_outputs, indices = f"T.topk({x.name}, {k}, dim={spelled}, largest={largest})", 2, True
        else:
            expr = f"{x.name}.topk({k}, {spelled}, largest={largest}).values"
    elif kind == "kthvalue":
        expr, n_outputs, indices = f"{x.name}.kthvalue({k}, {spelled}, keepdim={keep})", 2, True
    elif kind == "median":
        if g.chance(0.3):
            expr = g.pick([f"T.median({x.name})", f"{x.name}.median()"])
            d = -1
        else:
            expr, n_outputs, indices = f"{x.name}.median({spelled}, keepdim={keep})", 2, True
    elif kind == "cummax":
        expr, n_outputs, indices, ties_ok = f"{x.name}.{g.pick(['cummax', 'cummin'])}({spelled})", 2, True, True
    elif kind == "cumprod":
        return _cumprod(g, x, spelled, _count(x, dims))
    else:
        if not x.is_float:
            raise Dropped("logcumsumexp of integers")
        n, m, eps = _count(x, dims), x.mag(), EPS[x.dtype]
        expr = g.pick([f"T.logcumsumexp({x.name}, {spelled})", f"{x.name}.logcumsumexp(dim={spelled})"])
        return Step(expr, lambda v: x.err + 4 * eps * (v.mag() + m + n) + _rounding(v))
    margin = _margin(x)
    # A float program's gradients follow the permutation, so its values need a clear order too.
    needs_order = indices or x.is_float
    flat = [t.reshape(-1) for t in _both(x)] if d == -1 else _both(x)

    def robust(results: list) -> bool:
        return not needs_order or _separated(flat, 0 if d == -1 else d, margin, ties_ok)

    return Step(expr, lambda v: x.err, n_outputs, robust)


def _cumprod(g: Generator, x: Value, spelled: str, n: int) -> Step:
    m = max(x.mag(), 1.0)
    if n * math.log(m) > math.log(FLOAT_LIMIT):
        raise Dropped("magnitude")
    eps = EPS.get(x.dtype, 0.0)
    expr = g.pick([f"T.cumprod({x.name}, dim={spelled})", f"{x.name}.cumprod({spelled})"])
    return Step(expr, lambda v: 2 * n * m ** (n - 1) * (x.err + eps * m) + _rounding(v))


# ---------------------------------------------------------------------- scatters and indexed writes


def t_scatter(g: Generator) -> Step:
    """scatter (distinct positions), scatter_add, scatter_reduce, index_add/copy/fill, index_put with accumulate."""
    x = g.operand("number", ndim_min=1)
    free = [j for j in range(len(x.shape)) if j not in x.batch_dims]
    if not free:
        raise Dropped("only batch dims")
    d = g.pick(free)
    size = x.shape[d]
    n = len(x.shape)
    kind = g.pick(["scatter", "scatter_value", "scatter_add", "scatter_reduce", "index_add", "index_copy", "index_fill", "index_put"])
    ds = d - n if g.chance(0.3) else d
    if kind in ("scatter", "scatter_value", "scatter_add", "scatter_reduce"):
        k = int(g.rng.integers(1, size + 1)) if kind in ("scatter", "scatter_value") else g.size()
        shape, batch = _index_shape(g, x, d, k)
        idx = _unique_index(g, x, d, k, shape, batch) if kind in ("scatter", "scatter_value") else g.fresh(tuple(shape), batch, "int64", 0, size)
        if kind == "scatter_value":
            s = g.pick([0, 1.5, -2]) if x.is_float else g.pick([0, 3, -2])
            return Step(g.pick([f"{x.name}.scatter({ds}, {idx.name}, {s})", f"T.scatter({x.name}, {ds}, {idx.name}, value={s})"]), lambda v: x.err)
        src = g.fresh(tuple(shape), batch, x.dtype)
        if kind == "scatter":
            return Step(g.pick([f"{x.name}.scatter({ds}, {idx.name}, {src.name})", f"T.scatter({x.name}, {ds}, {idx.name}, {src.name})"]), lambda v: x.err)
        if kind == "scatter_add":
            expr = g.pick([f"{x.name}.scatter_add({ds}, {idx.name}, {src.name})", f"T.scatter_add({x.name}, {ds}, {idx.name}, {src.name})"])
            return _summed(expr, x, src, k + 1)
        reduce = g.pick(["sum", "prod", "mean", "amax", "amin"])
        include = g.pick([True, False])
        expr = f"{x.name}.scatter_reduce({ds}, {idx.name}, {src.name}, {reduce!r}, include_self={include})"
        if reduce in ("sum", "mean"):
            return _summed(expr, x, src, k + 1)
        if reduce == "prod":
            m = max(x.mag(), src.mag(), 1.0)
            if (k + 1) * math.log(m) > math.log(FLOAT_LIMIT):
                raise Dropped("magnitude")
            eps = EPS.get(x.dtype, 0.0)
            return Step(expr, lambda v: 2 * (k + 1) * m**k * (x.err + eps * m) + _rounding(v))
        margin = _margin(x, src)
        pooled = [torch.cat([a.reshape(-1), b.reshape(-1)]) for a, b in zip(_both(x), _both(src))]
        return Step(expr, lambda v: x.err, robust=lambda results: _separated(pooled, 0, margin, not x.is_float))
    k = g.size() if kind in ("index_add", "index_fill", "index_put") else int(g.rng.integers(1, size + 1))
    if kind == "index_copy":
        idx = g.add_input(f"a{len(g.inputs)}", (g.rng.permutation(size)[:k].astype(np.int64),) * 2)
    else:
        idx = g.fresh((k,), set(), "int64", 0, size)
    if kind == "index_fill":
        s = g.pick([0, 2.5, -1]) if x.is_float else g.pick([0, 4])
        return Step(g.pick([f"{x.name}.index_fill({ds}, {idx.name}, {s})", f"T.index_fill({x.name}, {ds}, {idx.name}, {s})"]), lambda v: x.err)
    src_shape = [k if j == d else s for j, s in enumerate(x.shape)]
    src = g.fresh(tuple(src_shape), x.batch_dims, x.dtype)
    if kind == "index_copy":
        return Step(f"{x.name}.index_copy({ds}, {idx.name}, {src.name})", lambda v: x.err)
    if kind == "index_put":
        if d != 0:
            raise Dropped("index_put along the first dim")
        return _summed(f"{x.name}.index_put(({idx.name},), {src.name}, accumulate=True)", x, src, k + 1)
    alpha = g.pick([1, 2, -0.5]) if x.is_float else 1
    expr = g.pick([f"{x.name}.index_add({ds}, {idx.name}, {src.name}, alpha={alpha})", f"T.index_add({x.name}, {ds}, {idx.name}, {src.name})"])
    return _summed(expr, x, src, k + 1, 2.0)


def _summed(expr: str, x: Value, src: Value, n: int, scale: float = 1.0) -> Step:
    """A step adding up to ``n`` terms of ``x`` and ``scale`` times ``src`` at a position."""
    mx, ms = x.mag(), scale * src.mag()
    eps = EPS.get(x.dtype, 0.0)
    if n * (mx + ms) > FLOAT_LIMIT:
        raise Dropped("magnitude")
    return Step(expr, lambda v: n * (x.err + scale * src.err) + 2 * eps * n * (mx + ms) * (1 + math.log2(n)) + _rounding(v))


# ---------------------------------------------------------------------- advanced indexing


def t_advanced_index(g: Generator) -> Step:
    """Integer tensors in several positions (broadcast against each other), and boolean masks."""
    x = g.operand("any", ndim_min=1)
    n = len(x.shape)
    batch = x.batch_dims
    kind = g.pick(["two", "middle", "ellipsis"] * 5 + ["mask", "mask_select", "nonzero"])  # the last three make the program eager-only
    if kind in ("two", "middle", "ellipsis"):
        def index(d: int, shape: tuple[int, ...]) -> Value:
            rows = min(x.small.shape[d], x.large.shape[d])
            return g.fresh(shape, set(), "int64", 0 if d in batch else -rows, rows)

        if kind == "ellipsis":
            return Step(f"{x.name}[..., {index(n - 1, (g.size(), g.size())[: int(g.rng.integers(1, 3))]).name}]", lambda v: x.err)
        if n < 2:
            raise Dropped("needs two dims")
        first = (g.size(),)
        second = g.pick([first, (1,), (g.size(), 1)])  # the last broadcasts against the first to a matrix
        i = index(0, first)
        if kind == "two":
            j = index(1, second)
            return Step(f"{x.name}[{i.name}, {j.name}]", lambda v: x.err)
        if n < 3:
            raise Dropped("needs three dims")
        j = index(2, second)
        return Step(f"{x.name}[{i.name}, :, {j.name}]", lambda v: x.err)
    k = int(g.rng.integers(1, n + 1))
    masks = [m for m in g.values if m.dtype == "bool" and m is not x and len(m.shape) == k and _leading(m, x)]
    m = g.pick(masks) if masks and g.chance(0.6) else g.fresh(x.shape[:k], {j for j in batch if j < k}, "bool")
    if kind == "mask":
        expr = g.pick([f"{x.name}[{m.name}]", f"{x.name}[{m.name}, ...]" if k < n else f"{x.name}[{m.name}]"])
    elif kind == "mask_select":
        m = g.fresh_like(x, "bool", drop_leading=True)
        expr = g.pick([f"T.masked_select({x.name}, {m.name})", f"{x.name}.masked_select({m.name})"])
    else:
        expr = g.pick([f"T.nonzero({m.name})", f"{m.name}.nonzero()", f"T.argwhere({m.name})"])
        return Step(expr, lambda v: 0.0, eager_only=True)
    return Step(expr, lambda v: x.err, eager_only=True)


def _leading(m: Value, x: Value) -> bool:
    """``m``'s shape is how ``x``'s starts, at both sizes."""
    return all(tuple(a.shape) == tuple(b.shape[: a.dim()]) for a, b in zip(_both(m), _both(x)))


# ---------------------------------------------------------------------- copying movements


def t_movement(g: Generator) -> Step:
    """pad, repeat/tile/repeat_interleave, tril/triu, diagonal/diag_embed/diag, rot90, multi-dim roll, split/unbind."""
    x = g.operand("any", ndim_min=1)
    n = len(x.shape)
    batch = x.batch_dims
    kind = g.pick(["pad", "pad", "repeat", "tril", "diagonal", "rot90", "roll", "split"])
    n_outputs = 1
    if kind == "pad":
        mode = g.pick(["constant", "constant", "reflect", "replicate", "circular"])
        j = int(g.rng.integers(1, min(n, 3) + 1))
        pads = [int(p) for p in g.rng.integers(-1 if mode == "constant" else 0, 3, size=2 * j)]
        value = f", value={g.pick([0, 1.5, -2])}" if mode == "constant" and g.chance(0.5) and x.dtype != "bool" else ""
        expr = f"T.nn.functional.pad({x.name}, {tuple(pads)}, mode={mode!r}{value})"
        if mode == "constant" and g.chance(0.5):
            expr = f"T.nn.functional.pad({x.name}, {pads}{value})"
    elif kind == "repeat":
        reps = [int(r) for r in g.rng.integers(1, 4, size=n + int(g.rng.integers(0, 2)))]
        d = int(g.rng.integers(-n, n))
        tiles = tuple(reps[: int(g.rng.integers(1, len(reps) + 1))])
        expr = g.pick([
            f"{x.name}.repeat({', '.join(map(str, reps))})",
            f"T.tile({x.name}, {tiles})",
            f"{x.name}.repeat_interleave({int(g.rng.integers(1, 4))}, dim={d})",
            f"T.repeat_interleave({x.name}, 2)",
        ])
    elif kind == "tril":
        if n < 2:
            raise Dropped("tril of a vector")
        expr = g.pick([f"{x.name}.tril({int(g.rng.integers(-2, 3))})", f"T.triu({x.name}, diagonal={int(g.rng.integers(-2, 3))})", f"T.tril({x.name})"])
    elif kind == "diagonal":
        off = int(g.rng.integers(-2, 3))
        if n >= 2:
            d1, d2 = (int(d) for d in g.rng.choice(n, size=2, replace=False))
            expr = g.pick([
                f"{x.name}.diagonal({off}, {d1}, {d2})",
                f"T.diagonal({x.name}, offset={off}, dim1={d1 - n}, dim2={d2})",
                f"T.diag_embed({x.name}, {off})",
            ])
            if n == 2 and g.chance(0.3):
                expr = f"T.diag({x.name}, {off})"
        else:
            expr = g.pick([f"T.diag({x.name}, {off})", f"T.diag_embed({x.name})", f"T.diagflat({x.name})"])
    elif kind == "rot90":
        if n < 2:
            raise Dropped("rot90 of a vector")
        d1, d2 = (int(d) for d in g.rng.choice(n, size=2, replace=False))
        expr = f"T.rot90({x.name}, {int(g.rng.integers(-1, 4))}, ({d1}, {d2}))"
    elif kind == "roll":
        dims = [int(d) for d in g.rng.choice(n, size=int(g.rng.integers(1, n + 1)), replace=False)]
        shifts = [int(s) for s in g.rng.integers(-5, 6, size=len(dims))]
        expr = g.pick([f"T.roll({x.name}, {tuple(shifts)}, {tuple(dims)})", f"{x.name}.roll({shifts[0]})"])
    else:
        free = [d for d in range(n) if d not in batch]
        if not free:
            raise Dropped("only batch dims")
        d = g.pick(free)
        form = g.pick(["split", "chunk", "unbind", "sizes"])
        if form == "sizes":
            cut = int(g.rng.integers(0, x.shape[d] + 1))
            expr = f"T.split({x.name}, [{cut}, {x.shape[d] - cut}], {d})"
        else:
            pieces = int(g.rng.integers(1, 4))
            expr = {"split": f"{x.name}.split({pieces}, {d})", "chunk": f"T.chunk({x.name}, {pieces}, dim={d})", "unbind": f"{x.name}.unbind({d})"}[form]
        n_outputs = len(eval(expr, {"T": torch, x.name: x.small}))  # noqa: S307
        if n_outputs > 5:
            raise Dropped("too many pieces")
    return Step(expr, lambda v: x.err, n_outputs)


# ---------------------------------------------------------------------- contractions


def t_contraction(g: Generator) -> Step:
    """einsum over random subscripts (shared, summed, broadcast size-1 letters), matmul broadcasting, addmm & co."""
    x = g.operand("number", ndim_min=1)
    n = len(x.shape)
    if n > 4:
        raise Dropped("rank")
    dtype = x.dtype  # torch's matmuls refuse mixed dtypes (a bfloat16 x is dropped: no NumPy input can match it)
    kind = g.pick(["einsum", "einsum", "broadcast_matmul", "fused"])
    letters = "abcd"[:n]
    if kind == "einsum":
        y_letters = [c for c in letters if g.chance(0.5)] + (["z"] if g.chance(0.6) else [])
        g.rng.shuffle(y_letters)
        if not y_letters:
            raise Dropped("no second operand letters")
        sizes = {c: x.shape[i] for i, c in enumerate(letters)} | {"z": g.size()}
        ones = {c for c in y_letters if c != "z" and g.chance(0.15)}
        y_shape = tuple(1 if c in ones else sizes[c] for c in y_letters)
        y_batch = {i for i, c in enumerate(y_letters) if c not in ones and c != "z" and letters.index(c) in x.batch_dims}
        y = g.fresh(y_shape, y_batch, dtype)
        union = sorted(set(letters) | set(y_letters))
        out = [c for c in union if g.chance(0.5)]
        g.rng.shuffle(out)
        summed = [c for c in union if c not in out]
        k = max(int(np.prod([t.shape[letters.index(c)] if c in letters else sizes[c] for c in summed])) for t in _both(x)) if summed else 1
        expr = f"T.einsum('{''.join(letters)},{''.join(y_letters)}->{''.join(out)}', {x.name}, {y.name})"
        if g.chance(0.3):
            expr = f"T.einsum('{''.join(letters)},{''.join(y_letters)}->{''.join(out)}', [{x.name}, {y.name}])"
        return _contracted(expr, x, y, k)
    if kind == "broadcast_matmul":
        if n < 2:
            raise Dropped("matrix")
        m = g.size()
        prefix = [1 if g.chance(0.4) else s for s in x.shape[:-2]]
        lead = [g.pick([1, 2, 3])] if g.chance(0.3) else []
        y_shape = (*lead, *prefix, x.shape[-1], m)
        y_batch = {len(lead) + j for j, s in enumerate(prefix) if j in x.batch_dims and s != 1}
        if n - 1 in x.batch_dims:
            y_batch.add(len(lead) + len(prefix))
        y = g.fresh(y_shape, y_batch, dtype)
        expr = g.pick([f"{x.name} @ {y.name}", f"T.matmul({x.name}, {y.name})", f"{y.name}.mT @ {x.name}.mT"])
        return _contracted(expr, x, y, max(t.shape[-1] for t in _both(x)))
    k = max(t.shape[-1] for t in _both(x))
    if n == 1:
        y = g.fresh(x.shape, x.batch_dims, dtype)
        form = g.pick(["dot", "outer", "inner"])
        expr = {"dot": f"T.dot({x.name}, {y.name})", "outer": f"T.outer({x.name}, {y.name})", "inner": f"T.inner({x.name}, {y.name})"}[form]
        return _contracted(expr, x, y, k if form != "outer" else 1)
    m = g.size()
    if n == 2:
        form = g.pick(["addmm", "addmv", "linear", "mv"])
        if form in ("addmv", "mv"):
            y = g.fresh((x.shape[1],), {0} if 1 in x.batch_dims else set(), dtype)
            bias = g.fresh((x.shape[0],) if g.chance(0.5) else (1,), {0} & x.batch_dims, dtype)
            expr = f"T.mv({x.name}, {y.name})" if form == "mv" else f"T.addmv({bias.name}, {x.name}, {y.name}, beta=0.5, alpha=2)"
            return _contracted(expr, x, y, k, bias if form == "addmv" else None, 2.0)
        if form == "linear":
            y = g.fresh((m, x.shape[1]), {1} if 1 in x.batch_dims else set(), dtype)
            bias = g.fresh((m,), set(), dtype)
            return _contracted(f"T.nn.functional.linear({x.name}, {y.name}, {bias.name})", x, y, k, bias)
        y = g.fresh((x.shape[1], m), {0} if 1 in x.batch_dims else set(), dtype)
        bias = g.fresh(g.pick([(m,), (1, m), (x.shape[0], 1)]), set(), dtype)
        return _contracted(f"T.addmm({bias.name}, {x.name}, {y.name}, beta={g.pick([1, 0.5, 0])}, alpha={g.pick([1, -1.5])})", x, y, k, bias, 1.5)
    if n != 3:
        raise Dropped("baddbmm of a 3-d tensor")
    y = g.fresh((x.shape[0], x.shape[2], m), {j for j in (0, 1) if (0, 2)[j] in x.batch_dims}, dtype)
    bias = g.fresh((1, x.shape[1], m) if g.chance(0.5) else (m,), set(), dtype)
    return _contracted(f"T.baddbmm({bias.name}, {x.name}, {y.name}, alpha=0.5)", x, y, k, bias)


def _contracted(expr: str, x: Value, y: Value, k: int, bias: Value | None = None, alpha: float = 1.0) -> Step:
    mx, my = x.mag(), y.mag()
    mb, eb = (bias.mag(), bias.err) if bias is not None else (0.0, 0.0)
    if alpha * mx * my * k + mb > FLOAT_LIMIT:
        raise Dropped("magnitude")
    eps = EPS.get(x.dtype, EPS.get(y.dtype, 0.0))
    return Step(expr, lambda v: alpha * k * (x.err * my + y.err * mx) + eb + 2 * eps * (alpha * k * mx * my * (1 + math.log2(k)) + mb) + _rounding(v))


# ---------------------------------------------------------------------- norms and paired statistics


def t_norm(g: Generator) -> Step:
    """vector norms (2, 1, inf, 3) with dims and keepdim, aminmax, var_mean/std_mean, count_nonzero, any/all."""
    x = g.operand("any")
    dims, spelled = _dims(g, x)
    keep = g.pick([True, False])
    kind = g.pick(["norm", "norm", "aminmax", "var_mean", "count", "any"])
    if kind in ("count", "any") or (not x.is_float and kind != "aminmax"):
        d = g.pick(dims) - len(x.shape)
        expr = g.pick([
            f"T.count_nonzero({x.name}, dim={spelled})",
            f"{x.name}.any({d})",
            f"T.all({x.name}, dim={d}, keepdim={keep})",
            f"{x.name}.bool().any()",
        ])
        return Step(expr, lambda v: 0.0)
    n, m, e = _count(x, dims), x.mag(), x.err
    eps = EPS.get(x.dtype, 0.0)
    logn = 1 + math.log2(max(n, 1))
    if kind == "aminmax":
        if len(dims) > 1:
            raise Dropped("aminmax takes one dim")
        return Step(f"T.aminmax({x.name}, dim={dims[0]}, keepdim={keep})", lambda v: e, 2)
    if kind == "var_mean":
        fn = g.pick(["var_mean", "std_mean"])
        expr = f"T.{fn}({x.name}, dim={spelled}, correction={g.pick([0, 1])}, keepdim={keep})"
        var_err = 8 * m * e + eps * n * 8 * (m + 1) ** 2 * logn
        if fn == "std_mean":
            low = min(results_min_std(x, dims))
            var_err = var_err / (2 * low) if low > 0 else math.inf
        return Step(expr, lambda v: var_err + e + eps * m * logn * 2 + _rounding(v), 2)
    p = g.pick([2, 1, "inf", 3])
    p_text = "float('inf')" if p == "inf" else str(p)
    expr = g.pick([f"T.linalg.vector_norm({x.name}, {p_text}, dim={spelled}, keepdim={keep})", f"{x.name}.norm(p={p_text}, dim={spelled}, keepdim={keep})"])
    if p == 2 and g.chance(0.3):
        expr = g.pick([f"{x.name}.norm()", f"T.linalg.norm({x.name})"])
        n = max(t.numel() for t in _both(x))
        logn = 1 + math.log2(max(n, 1))
    if n * m > FLOAT_LIMIT:
        raise Dropped("magnitude")
    # The norm's gradient x / |x| jumps at a zero vector, which torch and graphc both send to 0.
    return Step(expr, lambda v: n * e + 4 * eps * n * m * logn + _rounding(v))


# ---------------------------------------------------------------------- in-place ops on copies


INPLACE = ["add_", "sub_", "mul_", "clamp_", "neg_", "masked_fill_", "index_assign", "mask_assign", "view_assign", "augmented"]


def t_inplace(g: Generator) -> Step:
    """A copy (``clone`` or arithmetic) changed in place: method forms, ``x[i] = v``, ``x[mask] = s``, ``x[1:] += y``."""
    x = g.operand("number")
    kind = g.pick(INPLACE)
    copy = g.pick(["{x}.clone()", "({x} * 1)", "({x} + 0)"]).format(x=x.name)
    m, e = x.mag(), x.err
    if kind in ("add_", "sub_", "mul_", "augmented"):
        b_text, b = g.partner(x, "number")
        mb, eb = (b.mag(), b.err) if b is not None else (abs(float(eval(b_text))), 0.0)  # noqa: S307
        if kind == "mul_":
            if m * mb > FLOAT_LIMIT:
                raise Dropped("magnitude")
            return Step(f"{copy}.mul_({b_text})", lambda v: e * mb + eb * m + e * eb + _rounding(v, m * mb, m, mb))
        if kind == "augmented":
            op = g.pick(["+=", "-=", "*="])
            if op == "*=" and m * mb > FLOAT_LIMIT:
                raise Dropped("magnitude")
            return Step(copy, lambda v: (e * mb + eb * m + e * eb if op == "*=" else e + eb) + _rounding(v, m * mb, m, mb), stmts=[f"@ {op} {b_text}"])
        call = f"{copy}.{kind}({b_text}, alpha=2)" if g.chance(0.4) else f"{copy}.{kind}({b_text})"
        scale = 2.0 if "alpha" in call else 1.0
        return Step(call, lambda v: e + scale * eb + _rounding(v, m, scale * mb))
    if kind == "clamp_":
        lo, hi = sorted(round(float(s), 2) for s in g.rng.uniform(-2, 2, size=2))
        if not x.is_float:
            lo, hi = int(lo), int(hi) + 1
        upper = f"{copy}.clamp_max_({hi})" if x.is_float else f"{copy}.clamp_(max={hi})"
        return Step(g.pick([f"{copy}.clamp_({lo}, {hi})", f"{copy}.clamp_(min={lo})", upper]), lambda v: e)
    if kind == "neg_":
        return Step(f"{copy}.neg_()", lambda v: e)
    if kind in ("masked_fill_", "mask_assign"):
        c = g.fresh_like(x, "bool", drop_leading=True) if kind == "masked_fill_" else g.fresh(x.shape, x.batch_dims, "bool")
        s = g.pick([0, 1.5, -3]) if x.is_float else g.pick([0, 7])
        if kind == "masked_fill_":
            return Step(f"{copy}.masked_fill_({c.name}, {s})", lambda v: e)
        return Step(copy, lambda v: e, stmts=[f"@[{c.name}] = {s}"])
    if not x.shape:
        raise Dropped("0-d")
    batch = x.batch_dims
    if kind == "index_assign":
        free = [d for d in range(len(x.shape)) if d not in batch]
        if not free:
            raise Dropped("only batch dims")
        d = free[0]
        k = int(g.rng.integers(1, x.shape[d] + 1))
        idx = g.add_input(f"a{len(g.inputs)}", (g.rng.permutation(x.shape[d])[:k].astype(np.int64),) * 2)
        rest = x.shape[d + 1 :]
        val = g.fresh(tuple(s if g.chance(0.7) else 1 for s in rest), {j - d - 1 for j in batch if j > d}, x.dtype) if g.chance(0.7) else None
        key = ", ".join([":"] * d + [idx.name])
        accumulate = g.chance(0.3)
        val_text = val.name if val is not None else str(g.pick([2, -1]))
        ev = val.err if val is not None else 0.0
        mv = val.mag() if val is not None else 2.0
        stmt = f"@[{key}] += {val_text}" if accumulate else f"@[{key}] = {val_text}"
        return Step(copy, lambda v: e + ev + _rounding(v, m, mv), stmts=[stmt])
    # A view written in place writes through to the copy (docs/decisions.md, "Views"): basic indexing, maybe
    # of a transpose, or a view of the whole copy (its chain of views written back link by link).
    d = int(g.rng.integers(len(x.shape)))
    part = g.pick(["0", "1:", "::2", "-1", ":-1"]) if d not in batch else g.pick(["1:", "::2", "0"])
    key = ", ".join([":"] * d + [part])
    ops = ["mul_(2)", "add_(1.5)", "zero_()", "clamp_(-1, 1)", "fill_(3)", "neg_()"] if x.is_float else ["mul_(2)", "add_(3)", "zero_()", "fill_(3)"]
    op = g.pick(ops)
    whole = [".unsqueeze(0)", ".transpose(0, -1)", ".flatten()", ".view_as(@)", ".movedim(0, -1).unsqueeze(1)"]
    view = g.pick([f"[{key}]", f"[{key}]", f".transpose(0, -1).transpose(0, -1)[{key}]", *whole])
    return Step(copy, lambda v: 2 * e + _rounding(v, 2 * m), stmts=[f"@{view}.{op}"])


# ---------------------------------------------------------------------- other ops


def t_where_broadcast(g: Generator) -> Step:
    """where over three operands of different shapes and dtypes, lerp/addcmul/addcdiv."""
    a = g.operand("number")
    kind = g.pick(["where", "where", "lerp", "addcmul"])
    if kind == "where":
        conds = [c for c in g.values if c.dtype == "bool" and _broadcastable(c, a)]
        c = g.pick(conds) if conds and g.chance(0.5) else g.fresh_like(a, "bool")
        b_text, b = g.partner(a, "number")
        eb = b.err if b is not None else 0.0
        if b is not None and not _broadcastable(b, c):
            raise Dropped("shapes")
        return Step(g.pick([f"T.where({c.name}, {b_text}, {a.name})", f"T.where({c.name}, {a.name}, {b_text})"]), lambda v: max(a.err, eb) + _rounding(v))
    if not a.is_float:
        raise Dropped("float op")
    b = g.fresh_like(a, a.dtype if a.dtype in ("float32", "float64") else g.float_dtype)
    ma, mb, ea, eb = a.mag(), b.mag(), a.err, b.err
    if kind == "lerp":
        w = g.pick(["0.25", "1.5", "-0.5"])
        return Step(f"T.lerp({a.name}, {b.name}, {w})", lambda v: 3 * (ea + eb) + _rounding(v, 2 * ma, 2 * mb))
    c = g.fresh_like(a, b.dtype)
    mc = c.mag()
    if ma + mb * mc > FLOAT_LIMIT:
        raise Dropped("magnitude")
    return Step(f"T.addcmul({a.name}, {b.name}, {c.name}, value=0.5)", lambda v: ea + eb * mc + mb * c.err + _rounding(v, ma, mb * mc))


WIDE_TEMPLATES = [
    ("bitwise", t_bitwise),
    ("sort", t_sort),
    ("scatter", t_scatter),
    ("advanced_index", t_advanced_index),
    ("movement", t_movement),
    ("contraction", t_contraction),
    ("norm", t_norm),
    ("inplace", t_inplace),
    ("where_broadcast", t_where_broadcast),
]
WIDE_WEIGHTS = {"bitwise": 0.6, "advanced_index": 0.8, "where_broadcast": 0.8}

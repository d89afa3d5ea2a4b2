"""The fuzzer's neural-network and long-tail families (tests/fuzz_programs.py draws them beside its own).

Float binaries with a safe domain (atan2, hypot, pow with a tensor exponent, xlogy, logaddexp,
fmod/remainder and copysign away from their jumps), the activations of ``nn.functional`` (with
their kinks and the jumps of hardshrink and threshold kept away from), convolutions and pools
over one or two spatial dims, interpolation, layer_norm/normalize/cosine_similarity, the losses
(regression, cross-entropy over classes, logits against probabilities), one_hot and embedding,
and the tensor tail: diff, Tensor.unfold, take, searchsorted/bucketize, cross, the view scatters
(select/slice/diagonal_scatter), tensor_split, kron, tensordot, and empty values (a slice of
nothing) flowing into what accepts them (cat, sums, matmuls). Each keeps the generator's rules:
an error bound from the operands', and a discontinuity only where no operand is within its
error of it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from fuzz_programs import (
    EPS,
    FLOAT_LIMIT,
    Dropped,
    Generator,
    Step,
    Value,
    _broadcastable,
    _count,
    _gap_ok,
    _margin,
    _rounding,
)

F = "T.nn.functional"


def _both(v: Value) -> list[torch.Tensor]:
    return [v.small, v.large]


def _float_partner(g: Generator, a: Value) -> Value:
    """A float value broadcastable against ``a``: a computed one or a fresh input."""
    same = [u for u in g.values if u.is_float and u is not a and _broadcastable(u, a) and u.dtype in ("float32", "float64")]
    if same and g.chance(0.4):
        return g.pick(same)
    return g.fresh_like(a, a.dtype if a.dtype in ("float32", "float64") else g.float_dtype)


def _inner(x: Value) -> float:
    """An operand's error as a step reading it sees it: its bound plus a rounding of its magnitude."""
    return x.err + EPS.get(x.dtype, 0.0) * (x.mag() + 1)


# ---------------------------------------------------------------------- float binaries


def t_binary_float(g: Generator) -> Step:
    """atan2, hypot, pow(base, exponent tensor), xlogy, logaddexp(2), fmod/remainder, copysign."""
    a = g.operand("float")
    b = _float_partner(g, a)
    ma, mb, ea, eb = a.mag(), b.mag(), _inner(a), _inner(b)
    kind = g.pick(["atan2", "hypot", "pow", "xlogy", "logaddexp", "fmod", "copysign"])
    if kind == "atan2":
        # A positive denominator keeps atan2 off its branch cut; both partial derivatives are at most 2.
        expr = g.pick([f"T.atan2({a.name}, {b.name}.abs() + 0.5)", f"{a.name}.atan2({b.name}.abs() + 0.5)", f"T.arctan2({b.name}, {a.name}.abs() + 0.5)"])
        return Step(expr, lambda v: 2 * (ea + eb) + _rounding(v, 4))
    if kind == "hypot":
        margin = _margin(a, b)

        def robust(results: list) -> bool:  # the gradient x / hypot jumps where both are zero
            for x, y in zip(_both(a), _both(b)):
                x, y = torch.broadcast_tensors(x.double(), y.double())
                if not bool((x.abs() + y.abs() > margin).all()):
                    return False
            return True

        return Step(g.pick([f"T.hypot({a.name}, {b.name})", f"{a.name}.hypot({b.name})"]), lambda v: ea + eb + _rounding(v, ma, mb), robust=robust)
    if kind == "pow":
        if ma > 20 or mb > 3:
            raise Dropped("domain")
        base = ma + 0.5
        top = max(base, 2.0) ** mb
        if top > FLOAT_LIMIT:
            raise Dropped("magnitude")
        # d/dbase = e * base^(e - 1) <= 2 * e * top (base >= 0.5), d/de = base^e * log(base).
        lip_a, lip_b = 2 * mb * top * 2, top * max(math.log(max(base, 2.0)), math.log(2.0))
        expr = g.pick([f"({a.name}.abs() + 0.5) ** {b.name}", f"T.pow({a.name}.abs() + 0.5, {b.name})", f"({a.name}.abs() + 0.5).pow({b.name})"])
        return Step(expr, lambda v: lip_a * ea + lip_b * eb + _rounding(v, top))
    if kind == "xlogy":
        lg = math.log(mb + 0.5) + 1
        if ma * lg > FLOAT_LIMIT:
            raise Dropped("magnitude")
        expr = g.pick([f"T.xlogy({a.name}, {b.name}.abs() + 0.5)", f"T.special.xlogy({a.name}, {b.name}.abs() + 0.5)", f"{a.name}.xlogy({b.name}.abs() + 0.5)"])
        return Step(expr, lambda v: ea * lg + 2 * ma * eb + _rounding(v, ma * lg))
    if kind == "logaddexp":
        expr = g.pick([f"T.logaddexp({a.name}, {b.name})", f"{a.name}.logaddexp2({b.name})", f"T.logaddexp2({a.name}, {b.name})"])
        return Step(expr, lambda v: 2 * (ea + eb) + _rounding(v, ma, mb, 2))
    if kind == "fmod":
        fn = g.pick(["fmod", "remainder"])
        expr = g.pick([f"T.{fn}({a.name}, {b.name}.abs() + 0.5)", f"{a.name}.{fn}({b.name}.abs() + 0.5)"])
        margin = 4 * _margin(a, b) * (ma + 2)

        def robust(results: list) -> bool:  # both jump where a / d is a whole number (fmod at zero too, by sign)
            for x, y in zip(_both(a), _both(b)):
                q = x.double() / (y.double().abs() + 0.5)
                if not _gap_ok(q - q.round(), margin) or not _gap_ok(x.double(), margin):
                    return False
            return True

        # d/da = 1, d/dd = -trunc(a / d) (or floor): at most 2 * |a| + 1.
        return Step(expr, lambda v: ea + (2 * ma + 1) * eb + _rounding(v, ma, mb), robust=robust)
    margin = _margin(b)
    expr = g.pick([f"T.copysign({a.name}, {b.name})", f"{a.name}.copysign({b.name})"])
    return Step(expr, lambda v: ea + _rounding(v), robust=lambda results: all(bool((t.double().abs() > margin).all()) for t in _both(b)))


# ---------------------------------------------------------------------- activations

# name: (expression, Lipschitz factor, the points where the function jumps (None: continuous))
ACTIVATIONS: dict[str, tuple[str, float, tuple[float, ...] | None]] = {
    "hardtanh": (F + ".hardtanh({x}, -1.5, 2.0)", 1.0, None),
    "relu6": (F + ".relu6({x})", 1.0, None),
    "leaky_relu": (F + ".leaky_relu({x}, 0.1)", 1.0, None),
    "elu": (F + ".elu({x}, alpha=0.7)", 1.0, None),
    "selu": (F + ".selu({x})", 1.76, None),
    "celu": (F + ".celu({x}, alpha=1.5)", 1.0, None),
    "softsign": (F + ".softsign({x})", 1.0, None),
    "mish": (F + ".mish({x})", 1.1, None),
    "hardswish": (F + ".hardswish({x})", 1.5, None),
    "hardsigmoid": (F + ".hardsigmoid({x})", 0.17, None),
    "logsigmoid": (F + ".logsigmoid({x})", 1.0, None),
    "tanhshrink": (F + ".tanhshrink({x})", 1.0, None),
    "softshrink": (F + ".softshrink({x}, 0.5)", 1.0, None),
    "hardshrink": (F + ".hardshrink({x}, 0.5)", 1.0, (-0.5, 0.5)),
    "threshold": (F + ".threshold({x}, 0.25, -1.0)", 1.0, (0.25,)),
    "softplus_beta": (F + ".softplus({x}, beta=2.0, threshold=5.0)", 1.0, None),
    "sinc": ("T.sinc({x})", 2.0, None),
    "logit": ("T.logit({x}.sigmoid() * 0.8 + 0.1)", 3.0, None),
    "prelu": (F + ".prelu({x}, T.tensor([0.25], dtype={x}.dtype))", 1.0, None),
    "rrelu_eval": (F + ".rrelu({x}, training=False)", 1.0, None),
}


def t_activation(g: Generator) -> Step:
    """An activation of nn.functional; one that jumps is kept only where no element is near its jump."""
    x = g.operand("float")
    name = g.pick(list(ACTIVATIONS))
    expr, lipschitz, jumps = ACTIVATIONS[name]
    if name == "softplus_beta" and x.mag() * 2 > 60:
        raise Dropped("domain")
    inner, m = _inner(x), x.mag()
    robust = None
    if jumps is not None:
        margin = _margin(x)

        def robust(results: list) -> bool:
            return all(_gap_ok(t.double() - j, margin) for t in _both(x) for j in jumps)

    return Step(expr.format(x=x.name), lambda v: lipschitz * inner + _rounding(v, m), robust=robust)


# ---------------------------------------------------------------------- convolutions, pools, interpolation


def _spatial(g: Generator, x: Value, spatial: int) -> str:
    """``x`` as an (N, C, *spatial) tensor: as it is, with a channel of 1, or with both added."""
    n = len(x.shape)
    if n == spatial + 2:
        return x.name
    if n == spatial + 1:
        return f"{x.name}.unsqueeze(1)"
    if n == spatial:
        return f"{x.name}[None, None]"
    raise Dropped("rank")


def t_conv_pool(g: Generator) -> Step:
    """conv1d/conv2d (stride, padding, dilation, groups, bias), avg/max/adaptive pools, interpolate."""
    x = g.operand("float")
    spatial = g.pick([1, 1, 2])
    xs = _spatial(g, x, spatial)
    kind = g.pick(["conv", "conv", "avg_pool", "max_pool", "adaptive", "interpolate"])
    m, e, eps = x.mag(), _inner(x), EPS.get(x.dtype, 0.0)
    channels = x.shape[1] if len(x.shape) == spatial + 2 else 1
    if kind == "conv":
        groups = g.pick([d for d in (1, 2, 3) if channels % d == 0])
        out = groups * int(g.rng.integers(1, 3))
        k = [int(g.rng.integers(1, 4)) for _ in range(spatial)]
        w = g.fresh((out, channels // groups, *k), set(), x.dtype if x.dtype in ("float32", "float64") else g.float_dtype)
        bias = g.fresh((out,), set(), w.dtype) if g.chance(0.5) else None
        stride, padding, dilation = g.pick([1, 1, 2]), g.pick([0, 1, "'same'"] if spatial == 1 else [0, 1]), g.pick([1, 1, 2])
        if padding == "'same'":
            stride = 1
        extra = f", {bias.name}" if bias is not None else ", None"
        expr = f"{F}.conv{spatial}d({xs}, {w.name}{extra}, stride={stride}, padding={padding}, dilation={dilation}, groups={groups})"
        terms = channels // groups * int(np.prod(k))
        mw, mb = w.mag(), (bias.mag() if bias is not None else 0.0)
        if terms * m * mw + mb > FLOAT_LIMIT:
            raise Dropped("magnitude")
        return Step(expr, lambda v: terms * e * mw + 2 * eps * (terms * m * mw * (1 + math.log2(terms)) + mb) + _rounding(v))
    if kind == "avg_pool":
        k = int(g.rng.integers(1, 4))
        pad = int(g.rng.integers(0, k // 2 + 1))
        ceil, include = g.pick([False, True]), g.pick([True, False])
        expr = f"{F}.avg_pool{spatial}d({xs}, {k}, stride={g.pick([1, 2, k])}, padding={pad}, ceil_mode={ceil}, count_include_pad={include})"
        return Step(expr, lambda v: e + 2 * eps * m * (1 + spatial * k) + _rounding(v))
    if kind == "max_pool":
        k = int(g.rng.integers(2, 4))
        stride, padding, dilation, ceil = g.pick([1, 2]), g.pick([0, 1]), g.pick([1, 2]), g.pick([False, True])
        expr = f"{F}.max_pool{spatial}d({xs}, {k}, stride={stride}, padding={padding}, dilation={dilation}, ceil_mode={ceil})"
        margin = _margin(x)

        def robust(results: list) -> bool:  # the gradient goes to the window's largest: no two elements of a row close
            return all(_separated_rows(t, margin) for t in _both(x))

        return Step(expr, lambda v: e, robust=robust)
    if kind == "adaptive":
        size = int(g.rng.integers(1, 5))
        return Step(f"{F}.adaptive_avg_pool{spatial}d({xs}, {size})", lambda v: e + 2 * eps * m * 8 + _rounding(v))
    mode = g.pick(["nearest", "nearest", "linear" if spatial == 1 else "bilinear"])
    how = g.pick(["scale_factor=2", "scale_factor=3", f"size={tuple(int(s) for s in g.rng.integers(1, 7, size=spatial))}"])
    corners = f", align_corners={g.pick([True, False])}" if mode != "nearest" else ""
    return Step(f"{F}.interpolate({xs}, {how}, mode={mode!r}{corners})", lambda v: e + 4 * eps * m + _rounding(v))


def _separated_rows(t: torch.Tensor, margin: float) -> bool:
    """Every pair of elements (the whole tensor) is farther apart than ``margin``: a max pool's window has a clear winner."""
    flat = t.detach().double().reshape(-1).sort().values
    return bool((flat.diff() > margin).all()) if flat.numel() > 1 else True


# ---------------------------------------------------------------------- normalizations and similarities


def t_normalization(g: Generator) -> Step:
    """layer_norm (affine or not) over the trailing dims, F.normalize, cosine_similarity, glu."""
    x = g.operand("float", ndim_min=1)
    kind = g.pick(["layer_norm", "layer_norm", "normalize", "cosine", "glu"])
    m, e, eps = x.mag(), _inner(x), EPS.get(x.dtype, 0.0)
    n_dims = len(x.shape)
    if kind == "layer_norm":
        k = int(g.rng.integers(1, min(n_dims, 2) + 1))
        shape = x.shape[n_dims - k :]
        dims = list(range(n_dims - k, n_dims))
        n = _count(x, dims)
        if n < 2:
            raise Dropped("one element")
        low = min(float(t.double().std(dim=dims, correction=0).min()) for t in _both(x))
        if low < 0.05:
            raise Dropped("flat rows")
        w = g.fresh(shape, set(), x.dtype if x.dtype in ("float32", "float64") else g.float_dtype) if g.chance(0.5) else None
        b = g.fresh(shape, set(), w.dtype) if w is not None and g.chance(0.5) else None
        mw = w.mag() if w is not None else 1.0
        args = (f", {w.name}" if w is not None else "") + (f", {b.name}" if b is not None else "")
        expr = f"{F}.layer_norm({x.name}, {list(shape)}{args})"
        logn = 1 + math.log2(n)
        per = (2 * e + 4 * eps * (m + 1) * logn * 2) * (1 + 2 * m / low) / low
        return Step(expr, lambda v: per * mw + _rounding(v, 2 * m / low * mw))
    if kind in ("normalize", "cosine"):
        d = int(g.rng.integers(n_dims))
        n = _count(x, [d])
        low = min(float(t.double().norm(dim=d).min()) for t in _both(x))
        if low < 0.1:
            raise Dropped("short vectors")
        if kind == "normalize":
            p = g.pick([2, 1])
            per = 2 * e * (1 + n) / low + 4 * eps * n * (1 + math.log2(n))
            return Step(f"{F}.normalize({x.name}, p={p}, dim={d - n_dims if g.chance(0.3) else d})", lambda v: per + _rounding(v, 1))
        y = g.fresh(x.shape, x.batch_dims, x.dtype if x.dtype in ("float32", "float64") else g.float_dtype)
        low_y = min(float(t.double().norm(dim=d).min()) for t in _both(y))
        if low_y < 0.1:
            raise Dropped("short vectors")
        per = 4 * (e / low + _inner(y) / low_y) * (1 + math.sqrt(n)) + 8 * eps * n * (1 + math.log2(n))
        return Step(f"{F}.cosine_similarity({x.name}, {y.name}, dim={d})", lambda v: per + _rounding(v, 1))
    d = int(g.rng.integers(n_dims))
    if any(t.shape[d] % 2 for t in _both(x)):
        raise Dropped("odd size")
    return Step(f"{F}.glu({x.name}, {d})", lambda v: e * (1 + 0.25 * m) + _rounding(v, m))


# ---------------------------------------------------------------------- losses


def t_loss(g: Generator) -> Step:
    """mse/l1/smooth_l1/huber/soft-margin losses, cross_entropy over classes (maybe smoothed), BCE with logits."""
    x = g.operand("float")
    kind = g.pick(["mse", "l1", "smooth_l1", "huber", "cross_entropy", "cross_entropy", "bce_logits", "kl_div"])
    reduction = g.pick(["mean", "sum", "none"])
    m, e, eps = x.mag(), _inner(x), EPS.get(x.dtype, 0.0)
    n = max(t.numel() for t in _both(x))
    summed = n if reduction == "sum" else 1
    logn = 1 + math.log2(max(n, 1))
    if kind == "cross_entropy":
        if len(x.shape) not in (1, 2) or (len(x.shape) == 2 and 1 in x.batch_dims) or (len(x.shape) == 1 and x.batch_dims):
            raise Dropped("shape")
        classes = x.shape[-1]
        rows = x.shape[0] if len(x.shape) == 2 else None
        target = g.fresh((rows,) if rows is not None else (), x.batch_dims, "int64", 0, classes)
        smoothing = g.pick([0.0, 0.0, 0.2])
        weight = ""
        if g.chance(0.3):
            w = g.fresh((classes,), set(), x.dtype if x.dtype in ("float32", "float64") else g.float_dtype)
            weight = f", weight={w.name}.detach().abs() + 0.5"  # torch refuses a weight that requires grad
        expr = f"{F}.cross_entropy({x.name}, {target.name}{weight}, reduction={reduction!r}, label_smoothing={smoothing})"
        rows_n = (rows if reduction == "sum" else 1) if rows is not None else 1
        scale = 8.0 if weight and reduction == "mean" else 3.0  # a weighted mean divides by the weights' sum
        return Step(expr, lambda v: rows_n * scale * (2 * e + 4 * eps * (m + math.log(classes) + classes)) + _rounding(v))
    y = g.fresh(x.shape, x.batch_dims, x.dtype if x.dtype in ("float32", "float64") else g.float_dtype)
    my, ey = y.mag(), _inner(y)
    r = f", reduction={reduction!r}"
    if kind == "mse":
        if (m + my) ** 2 * summed > FLOAT_LIMIT:
            raise Dropped("magnitude")
        return Step(f"{F}.mse_loss({x.name}, {y.name}{r})", lambda v: summed * 2 * (m + my) * (e + ey) + 4 * eps * summed * (m + my) ** 2 * logn + _rounding(v))
    if kind == "kl_div":
        # Log-probabilities against probabilities (softmax of y): the target's log is computed on both sides.
        expr = f"{F}.kl_div({x.name}, {y.name}.softmax(-1){r if reduction != 'mean' else ', reduction=' + repr('batchmean')}, log_target=False)"
        if not x.shape:
            raise Dropped("0-d")
        return Step(expr, lambda v: summed * (e + 4 * eps * (m + my + 8)) * 2 + _rounding(v))
    if kind == "bce_logits":
        expr = f"{F}.binary_cross_entropy_with_logits({x.name}, {y.name}.sigmoid(){r})"
        return Step(expr, lambda v: summed * (2 * e + 4 * eps * (m + 2) * logn) + _rounding(v))
    expr = {
        "l1": f"{F}.l1_loss({x.name}, {y.name}{r})",
        "smooth_l1": f"{F}.smooth_l1_loss({x.name}, {y.name}{r}, beta={g.pick([1.0, 0.5])})",
        "huber": f"{F}.huber_loss({x.name}, {y.name}{r}, delta={g.pick([1.0, 2.0])})",
    }[kind]
    margin = _margin(x, y)

    def robust(results: list) -> bool:  # l1's gradient jumps where x == y: kept only apart (or exactly equal)
        return all(_gap_ok(a.double() - b.double(), margin) for a, b in zip(_both(x), _both(y)))

    return Step(expr, lambda v: summed * 2 * (e + ey) + 4 * eps * summed * (m + my) * logn + _rounding(v), robust=robust)


# ---------------------------------------------------------------------- integer-indexed layers


def t_one_hot_embedding(g: Generator) -> Step:
    """one_hot of small integers (with num_classes; without is eager-only: the count reads values), embedding."""
    x = g.operand("int")
    kind = g.pick(["one_hot", "one_hot", "embedding", "one_hot_counted"])
    if x.dtype != "int64":
        raise Dropped("one_hot and embedding take int64")
    classes = int(g.rng.integers(2, 6))
    idx = f"{x.name}.clamp(0, {classes - 1})"
    if kind == "one_hot":
        return Step(g.pick([f"{F}.one_hot({idx}, {classes})", f"{F}.one_hot({idx}, num_classes={classes})"]), lambda v: 0.0)
    if kind == "one_hot_counted":
        return Step(f"{F}.one_hot({idx})", lambda v: 0.0, eager_only=True)
    w = g.fresh((classes, g.size()), set(), g.float_dtype)
    return Step(f"{F}.embedding({idx}, {w.name})", lambda v: 0.0)


# ---------------------------------------------------------------------- the tensor tail


def t_tensor_tail(g: Generator) -> Step:
    """diff, Tensor.unfold, take, searchsorted/bucketize, linalg.cross, view scatters, tensor_split, kron, tensordot."""
    x = g.operand("any", ndim_min=1)
    n = len(x.shape)
    batch = x.batch_dims
    m, e = x.mag(), x.err
    kind = g.pick(["diff", "unfold", "take", "search", "cross", "scatter_view", "tensor_split", "kron", "tensordot"])
    free = [d for d in range(n) if d not in batch]
    if kind == "diff":
        d = int(g.rng.integers(n))
        order = g.pick([1, 1, 2])
        extra = ""
        if g.chance(0.3):
            shape = tuple(1 if j == d else s for j, s in enumerate(x.shape))
            p = g.fresh(shape, batch - {d}, x.dtype)
            extra = f", prepend={p.name}" if g.chance(0.5) else f", append={p.name}"
        eps = EPS.get(x.dtype, 0.0)
        expr = f"T.diff({x.name}, n={order}, dim={d}{extra})" if g.chance(0.5) else f"{x.name}.diff({order}, {d}{extra})"
        return Step(expr, lambda v: 2**order * (e + eps * m) + _rounding(v))
    if kind == "unfold":
        d = int(g.rng.integers(n))
        size = int(g.rng.integers(1, min(t.shape[d] for t in _both(x)) + 1))
        return Step(f"{x.name}.unfold({d}, {size}, {g.pick([1, 2, size])})", lambda v: e)
    if kind == "take":
        low = min(t.numel() for t in _both(x))
        idx = g.fresh(tuple(g.size() for _ in range(int(g.rng.integers(1, 3)))), set(), "int64", -low, low)
        return Step(g.pick([f"T.take({x.name}, {idx.name})", f"{x.name}.take({idx.name})"]), lambda v: e)
    if kind == "search":
        if x.dtype == "bool":
            raise Dropped("bool")
        count = int(g.rng.integers(1, 7))
        edges = np.sort(g.rng.choice(np.arange(-8, 9), size=count, replace=False)) * (0.5 if x.is_float else 1)
        dtype = x.dtype if x.dtype in ("float32", "float64", "int64") else "int64"
        s = g.add_input(f"a{len(g.inputs)}", (edges.astype(dtype),) * 2)
        right = g.pick([True, False])
        expr = g.pick([f"T.searchsorted({s.name}, {x.name}, right={right})", f"T.bucketize({x.name}, {s.name}, right={right})"])
        if dtype != x.dtype and x.dtype not in ("int32", "int16", "int8", "uint8"):
            raise Dropped("dtypes")
        margin = _margin(x)

        def robust(results: list) -> bool:  # an element within its error of an edge could land on either side
            return all(_gap_ok(t.double().unsqueeze(-1) - torch.from_numpy(edges).double(), margin) for t in _both(x))

        return Step(expr, lambda v: 0.0, robust=robust)
    if kind == "cross":
        dims = [d for d in free if x.shape[d] == 3]
        if not dims or not x.is_float:
            raise Dropped("no dim of 3")
        d = g.pick(dims)
        y = g.fresh(x.shape, batch, x.dtype)
        my, eps = y.mag(), EPS.get(x.dtype, 0.0)
        expr = g.pick([f"T.linalg.cross({x.name}, {y.name}, dim={d})", f"T.cross({x.name}, {y.name}, dim={d})"])
        return Step(expr, lambda v: 2 * (e * my + y.err * m) + 4 * eps * m * my + _rounding(v))
    if kind == "scatter_view":
        if not free:
            raise Dropped("only batch dims")
        d = g.pick(free)
        form = g.pick(["select", "slice", "diagonal"])
        if form == "select":
            i = int(g.rng.integers(-x.shape[d], x.shape[d]))
            src = g.fresh(tuple(s for j, s in enumerate(x.shape) if j != d), {j - (j > d) for j in batch}, x.dtype)
            expr = f"T.select_scatter({x.name}, {src.name}, {d}, {i})"
        elif form == "slice":
            start = int(g.rng.integers(0, x.shape[d]))
            step = g.pick([1, 2])
            k = len(range(start, x.shape[d], step))
            src = g.fresh(tuple(k if j == d else s for j, s in enumerate(x.shape)), batch, x.dtype)
            expr = f"T.slice_scatter({x.name}, {src.name}, dim={d}, start={start}, step={step})"
        else:
            if n < 2:
                raise Dropped("vector")
            d1, d2 = (int(j) for j in g.rng.choice(n, size=2, replace=False))
            off = int(g.rng.integers(-1, 2))
            shape = x.small.diagonal(off, d1, d2).shape
            if 0 in shape or any(t.diagonal(off, d1, d2).shape[-1] != shape[-1] for t in _both(x)):
                raise Dropped("a diagonal that changes with the batch")
            rest = [j for j in range(n) if j not in (d1, d2)]
            src = g.fresh(tuple(shape), {rest.index(j) for j in batch if j in rest}, x.dtype)
            expr = f"T.diagonal_scatter({x.name}, {src.name}, {off}, {d1}, {d2})"
        return Step(expr, lambda v: e)
    if kind == "tensor_split":
        if not free:
            raise Dropped("only batch dims")
        d = g.pick(free)
        how = g.pick([str(int(g.rng.integers(1, 4))), str(sorted(int(i) for i in g.rng.integers(0, x.shape[d] + 1, size=2)))])
        expr = f"T.tensor_split({x.name}, {how}, dim={d})"
        pieces = torch.tensor_split(x.small, eval(how), dim=d)  # noqa: S307
        if len(pieces) > 4 or any(p.numel() == 0 for p in pieces):
            raise Dropped("pieces")
        return Step(expr, lambda v: e, len(pieces))
    if kind == "kron":
        if n > 2 or max(t.numel() for t in _both(x)) > 64:
            raise Dropped("size")
        y = g.fresh(tuple(g.size() for _ in range(n)), set(), x.dtype if x.dtype != "bool" else "int64")
        my, eps = y.mag(), EPS.get(x.dtype, 0.0)
        if m * my > FLOAT_LIMIT:
            raise Dropped("magnitude")
        return Step(f"T.kron({x.name}, {y.name})", lambda v: e * my + _rounding(v, m * my))
    if x.dtype == "bool" or not free:
        raise Dropped("tensordot of bools")
    d = g.pick(free)
    k = x.shape[d]
    z = g.size()
    y = g.fresh((k, z), set(), x.dtype)
    my, eps = y.mag(), EPS.get(x.dtype, 0.0)
    if k * m * my > FLOAT_LIMIT:
        raise Dropped("magnitude")
    expr = g.pick([f"T.tensordot({x.name}, {y.name}, dims=([{d}], [0]))", f"T.tensordot({x.name}.movedim({d}, -1), {y.name}, dims=1)"])
    return Step(expr, lambda v: k * (e * my) + 2 * eps * k * m * my * (1 + math.log2(k)) + _rounding(v))


# ---------------------------------------------------------------------- empty values


def t_empty(g: Generator) -> Step:
    """A slice of nothing along a dim that is not the batch's (``x[:, 2:2]``, ``narrow(d, i, 0)``, ``x[..., :0]``),
    or what an empty value flows into: a concatenation with it, a sum/amax-free reduction, a matmul over zero terms."""
    empties = [v for v in g.values if v.small.numel() == 0]
    if empties and g.chance(0.7):
        x = g.pick(empties)
        n = len(x.shape)
        zero = [d for d in range(n) if x.shape[d] == 0]
        d = g.pick(zero)
        form = g.pick(["cat", "sum", "matmul", "mean_keep", "prod"])
        if form == "cat":
            shape = tuple(int(g.rng.integers(1, 4)) if j == d else s for j, s in enumerate(x.shape))
            y = g.fresh(shape, x.batch_dims, x.dtype)
            return Step(g.pick([f"T.cat([{x.name}, {y.name}], {d})", f"T.cat(({y.name}, {x.name}), dim={d - n})"]), lambda v: y.err, empty_ok=True)
        if form == "sum":
            return Step(g.pick([f"{x.name}.sum({d})", f"{x.name}.sum()", f"T.sum({x.name}, dim={d}, keepdim=True)"]), lambda v: 0.0, empty_ok=True)
        if form == "prod":
            return Step(f"{x.name}.prod({d})", lambda v: 0.0, empty_ok=True)
        if form == "mean_keep":
            # A mean over nothing is NaN in torch: kept where the dims averaged are not the empty one.
            others = [j for j in range(n) if j != d]
            if not others:
                raise Dropped("only the empty dim")
            j = g.pick(others)
            return Step(f"{x.name}.mean({j})", lambda v: x.err, empty_ok=True)
        if n != 2 or x.dtype not in ("float32", "float64", "int64"):
            raise Dropped("matmul of a matrix")
        if d == 1:
            y = g.fresh((0, g.size()), set(), x.dtype)
            return Step(f"{x.name} @ {y.name}", lambda v: 0.0, empty_ok=True)
        y = g.fresh((g.size(), x.shape[0]), set(), x.dtype)
        return Step(f"{y.name} @ {x.name}", lambda v: 0.0, empty_ok=True)
    x = g.operand("any", ndim_min=1)
    free = [d for d in range(len(x.shape)) if d not in x.batch_dims]
    if not free:
        raise Dropped("only batch dims")
    d = g.pick(free)
    i = int(g.rng.integers(0, x.shape[d] + 1))
    key = ", ".join([":"] * d + [g.pick([f"{i}:{i}", ":0", f"{i}:{max(i - 1, 0)}"])])
    expr = g.pick([f"{x.name}[{key}]", f"{x.name}.narrow({d}, {i}, 0)", f"T.narrow({x.name}, {d - len(x.shape)}, {i}, 0)"])
    return Step(expr, lambda v: 0.0, empty_ok=True)


NN_TEMPLATES = [
    ("binary_float", t_binary_float),
    ("activation", t_activation),
    ("conv_pool", t_conv_pool),
    ("normalization", t_normalization),
    ("loss", t_loss),
    ("one_hot_embedding", t_one_hot_embedding),
    ("tensor_tail", t_tensor_tail),
    ("empty", t_empty),
]
NN_WEIGHTS = {
    "binary_float": 1.5, "activation": 1.5, "conv_pool": 1.2, "normalization": 1.0, "loss": 0.8, "one_hot_embedding": 0.5, "tensor_tail": 1.5, "empty": 0.6,
}

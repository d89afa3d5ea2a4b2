"""Random straight-line programs for the differential fuzzer (tests/test_fuzz_programs.py).

A program is Python source over ``T`` (``graphc`` or ``torch``): one text serves both
libraries, and a failure prints as a repro that can be pasted and cut down by hand. It is
grown step by step from a seed, each step drawn from a table of op templates and run at
once in eager torch at two batch sizes; a step torch refuses (a bad shape, a dtype an op
does not take) or that fails at only one of the sizes is dropped and another drawn, so
every program is valid torch and gives the same structure at both sizes (the second size
replays a program ``graphc.compile`` traced with a symbolic batch dimension).

Each value carries a bound on its absolute rounding error, propagated through the steps
(a Lipschitz factor times the operands' errors, plus the dtype's epsilon times the
magnitudes the step rounds). The comparison tolerance of an output is a small multiple of
that bound, so it is tight in ulps of what was computed and does not hide a wrong
formula, while a cancellation the program happens to contain is not a false failure.
Discontinuous steps (comparisons, casts to integers, argmax, sign, floor) are kept only
where their operands are farther from the discontinuity than that bound (or are exact),
so a flipped result is a bug, never noise. Values stay in safe domains (log and sqrt
after ``abs() + 1``, denominators ``abs() + 0.5``, exp of bounded values), so NaN and
inf never appear by accident.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

EPS = {"float32": float(np.finfo(np.float32).eps), "float64": float(np.finfo(np.float64).eps), "float16": 2.0**-10, "bfloat16": 2.0**-7}
SUBNORMAL = {"float32": 2.0**-149, "float64": 2.0**-1074, "float16": 2.0**-24, "bfloat16": 2.0**-133}  # the absolute floor of a rounding
INT_LIMIT = 1e6  # integer values stay far from int64 overflow
FLOAT_LIMIT = 1e4  # steps whose results grow past this magnitude are not drawn
MAX_ELEMENTS = 1 << 18  # per value, in a large program
MAX_INTERMEDIATE = 1 << 24  # any tensor a step makes on its way (checked on the meta device first)


@dataclass
class Value:
    name: str
    small: torch.Tensor  # at the first batch size
    large: torch.Tensor  # at the second
    err: float  # bound on the absolute rounding error of any element

    @property
    def dtype(self) -> str:
        return str(self.small.dtype).removeprefix("torch.")

    @property
    def is_float(self) -> bool:
        return self.small.dtype.is_floating_point

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.small.shape)

    @property
    def batch_dims(self) -> set[int]:
        return {d for d, (a, b) in enumerate(zip(self.small.shape, self.large.shape)) if a != b}

    def mag(self) -> float:
        """Largest finite magnitude at either size (1 for an empty or non-float value's floor)."""
        m = 0.0
        for t in (self.small, self.large):
            if t.numel():
                a = t.detach().double().abs()
                a = a[torch.isfinite(a)]
                if a.numel():
                    m = max(m, float(a.max()))
        return m


@dataclass
class Program:
    seed: int
    float_dtype: str
    inputs: list[tuple[np.ndarray, np.ndarray]]  # (at the first batch size, at the second)
    input_names: list[str]
    lines: list[str]
    outputs: list[Value]
    weights: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # per output: the gradient check's combination
    grad_eps: float = EPS["float64"]  # float32's where a float64 program computes some values in float32
    eager_only: bool = False  # reads a value (.item(), a mask's count): graphc.compile refuses it by design

    @property
    def source(self) -> str:
        body = "".join(f"    {line}\n" for line in self.lines)
        ret = ", ".join(v.name for v in self.outputs)
        return f"def program(T, {', '.join(self.input_names)}):\n{body}    return ({ret},)\n"

    def function(self) -> Callable:
        scope: dict = {}
        exec(compile(self.source, f"<fuzz program {self.seed}>", "exec"), scope)
        return scope["program"]

    def tolerance(self, index: int) -> float:
        return 4.0 * self.outputs[index].err

    def __repr__(self) -> str:
        shapes = ", ".join(f"{n}: {tuple(a.shape)} {a.dtype}" for n, (a, _) in zip(self.input_names, self.inputs))
        return f"fuzz program (seed {self.seed}; inputs {shapes}):\n{self.source}"


class Dropped(Exception):
    """A template cannot apply here (no operand of the kind it needs, or a result not robust)."""


class _LargestTensor(TorchDispatchMode):
    """Records the most elements of any tensor an op makes, so a step can be sized before it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def _run_step(step: Step, scope: dict, name: str) -> Any:
    scope = dict(scope)
    out = eval(step.expr, scope)  # noqa: S307
    if step.stmts:
        scope[name] = out
        exec("\n".join(s.replace("@", name) for s in step.stmts), scope)  # noqa: S102
        out = scope[name]
    return out


def _too_large(step: Step, scope: dict, name: str) -> bool:
    """Whether the step makes a tensor past ``MAX_INTERMEDIATE`` elements, judged on the meta device.

    Sizing after the fact came too late: seed 1013's ``diag_embed`` of a 77658-element value
    asked for 24 GB and got the test worker OOM-killed. A step the meta device cannot run
    (one reading values: ``nonzero``, ``.item()``) makes what its data allows and runs for real.
    """
    meta = {k: v.to("meta") if isinstance(v, torch.Tensor) else v for k, v in scope.items()}
    sizes = _LargestTensor()
    try:
        with warnings.catch_warnings(), torch.device("meta"), sizes:
            warnings.simplefilter("ignore")
            _run_step(step, meta, name)
    except Exception:  # noqa: BLE001 - any failure on meta tensors leaves the step to the real run
        return False
    return sizes.largest > MAX_INTERMEDIATE


class Generator:
    """Grows one program from ``seed``; ``generate`` returns it."""

    def __init__(self, seed: int, large: bool = False, bfloat16: bool = True) -> None:
        self.seed = seed
        self.bfloat16 = bfloat16  # Triton's interpreter has no bfloat16 loads
        self.rng = np.random.default_rng(seed)
        self.large = large
        self.float_dtype = "float64" if self.rng.random() < 0.4 else "float32"
        self.b1 = int(self.rng.integers(2, 5))
        self.b2 = self.b1 + int(self.rng.choice([-1, 1, 2])) if self.b1 > 2 else self.b1 + int(self.rng.integers(1, 3))
        self.steps = int(self.rng.integers(5, 24))
        self.inputs: list[tuple[np.ndarray, np.ndarray]] = []
        self.input_names: list[str] = []
        self.values: list[Value] = []
        self.lines: list[str] = []
        self.counter = 0
        self.eager_only = False

    # ------------------------------------------------------------------ random helpers

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def pick(self, seq):  # noqa: ANN001, ANN201
        return seq[int(self.rng.integers(len(seq)))]

    def size(self) -> int:
        if self.large and self.chance(0.5):
            return int(self.rng.choice([17, 40, 129, 300]))  # past the code generators' chunk, tile and split sizes
        return int(self.rng.choice([1, 2, 3, 4, 5], p=[0.15, 0.25, 0.25, 0.2, 0.15]))

    def eps(self, value: Value | str) -> float:
        dtype = value if isinstance(value, str) else value.dtype
        return EPS.get(dtype, 0.0)

    # ------------------------------------------------------------------ inputs

    def fresh(self, shape: tuple[int, ...], batch: set[int], dtype: str, low: int = -5, high: int = 6) -> Value:
        """A new program input of ``shape`` (its dims in ``batch`` take the batch size); sometimes
        the very tensor another input is (the programs are then called as ``f(x, x)``)."""
        shapes = [tuple(b if d in batch else n for d, n in enumerate(shape)) for b in (self.b1, self.b2)]
        same = [arrays for arrays in self.inputs if [a.shape for a in arrays] == shapes and arrays[0].dtype == dtype]
        if same and self.chance(0.1):
            arrays = self.pick(same)
            name = f"a{len(self.inputs)}"
            return self.add_input(name, arrays)
        if max(int(np.prod(s)) for s in shapes) > MAX_ELEMENTS:
            raise Dropped("too large")
        if dtype == "bfloat16":
            raise Dropped("NumPy has no bfloat16 inputs")
        arrays = []
        for s in shapes:
            if dtype == "bool":
                a = self.rng.random(s) < 0.5
            elif np.dtype(dtype).kind in "iu":
                a = self.rng.integers(max(low, 0) if dtype == "uint8" else low, high, size=s).astype(dtype)
            else:
                a = self.rng.standard_normal(s).astype(dtype)
            arrays.append(np.asarray(a))
        return self.add_input(f"a{len(self.inputs)}", (arrays[0], arrays[1]))

    def add_input(self, name: str, arrays: tuple[np.ndarray, np.ndarray]) -> Value:
        """Inputs are operands of later steps too (a 0-d int64 input times a Python float, say)."""
        self.inputs.append(arrays)
        self.input_names.append(name)
        value = Value(name, torch.from_numpy(arrays[0].copy()), torch.from_numpy(arrays[1].copy()), 0.0)
        self.values.append(value)
        return value

    def fresh_like(self, v: Value, dtype: str | None = None, ones: float = 0.3, drop_leading: bool = True) -> Value:
        """A new input broadcastable against ``v``: some dims 1, maybe fewer leading dims."""
        shape = list(v.shape)
        batch = set(v.batch_dims)
        for d in range(len(shape)):
            if self.chance(ones):
                shape[d] = 1
                batch.discard(d)
        lead = int(self.rng.integers(0, len(shape) + 1)) if drop_leading and shape and self.chance(0.3) else 0
        shape = shape[lead:]
        batch = {d - lead for d in batch if d >= lead}
        return self.fresh(tuple(shape), batch, dtype or self.pick_dtype())

    def pick_dtype(self) -> str:
        return str(self.rng.choice([self.float_dtype, "int64", "bool"], p=[0.75, 0.17, 0.08]))

    # ------------------------------------------------------------------ operands

    def operand(self, kind: str = "any", ndim_min: int = 0) -> Value:
        """A computed value or input of ``kind`` ("float", "int", "bool", "any", "number"); recent ones more often."""
        ok = [v for v in self.values if _kind_ok(v, kind) and len(v.shape) >= ndim_min and not _empty(v)]
        if not ok:
            raise Dropped(f"no {kind} operand")
        weights = np.arange(1, len(ok) + 1, dtype=np.float64) ** 1.5
        return ok[int(self.rng.choice(len(ok), p=weights / weights.sum()))]

    def partner(self, v: Value, kind: str = "any") -> tuple[str, Value | None]:
        """The other operand of a broadcasting binary op: a value, a fresh input, a 0-d input or a Python scalar."""
        r = self.rng.random()
        if r < 0.3:
            same = [u for u in self.values if _kind_ok(u, kind) and u is not v and _broadcastable(u, v) and not _empty(u)]
            if same:
                u = self.pick(same)
                return u.name, u
        if r < 0.55:
            dtype = self.pick_dtype() if kind == "any" else {"float": self.float_dtype, "int": "int64", "bool": "bool", "number": self.float_dtype}[kind]
            u = self.fresh_like(v, dtype)
            return u.name, u
        if r < 0.7:
            if kind in ("any", "number"):
                dtype = str(self.rng.choice(["float32", "float64", "int64"]))
            else:
                dtype = {"float": self.float_dtype, "int": "int64", "bool": "bool"}[kind]
            u = self.fresh((), set(), dtype)
            return u.name, u
        if kind == "bool":
            return self.pick(["True", "False"]), None
        scalar = int(self.rng.integers(-3, 4)) if self.chance(0.5) or kind == "int" else round(float(self.rng.uniform(-2.5, 2.5)), 2)
        return repr(scalar), None

    # ------------------------------------------------------------------ growing

    def generate(self) -> Program:
        first_shape = [self.b1, *[self.size() for _ in range(int(self.rng.integers(0, 3)))]]
        while int(np.prod(first_shape)) * max(self.b1, self.b2) > MAX_ELEMENTS * self.b1:
            first_shape.pop()
        first = self.fresh(tuple(first_shape), {0}, self.float_dtype)
        for _ in range(int(self.rng.integers(0, 3))):
            self.fresh_like(first, self.pick_dtype())
        done = 0
        attempts = 0
        while done < self.steps and attempts < self.steps * 20:
            attempts += 1
            name, template = TEMPLATES[int(self.rng.choice(len(TEMPLATES), p=PROBABILITIES))]
            n_inputs, n_values = len(self.inputs), len(self.values)
            try:
                self.apply(template)
                done += 1
            except Dropped:
                del self.inputs[n_inputs:], self.input_names[n_inputs:], self.values[n_values:]
        outputs = self.choose_outputs()
        weights = [(self.rng.standard_normal(v.shape), self.rng.standard_normal(tuple(v.large.shape))) for v in outputs]
        grad_eps = max(EPS.get(v.dtype, 0.0) for v in self.values)
        return Program(self.seed, self.float_dtype, self.inputs, self.input_names, self.lines, outputs, weights, grad_eps, self.eager_only)

    def apply(self, template: Callable[[Generator], Step]) -> None:
        step = template(self)
        names = [f"v{self.counter + i}" for i in range(step.n_outputs)]
        results = []
        for which in ("small", "large"):
            scope = {"T": torch, **{v.name: getattr(v, which) for v in self.values}, **self.scope_inputs(which)}
            if _too_large(step, scope, names[0]):
                raise Dropped("size")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out = _run_step(step, scope, names[0])
            except (RuntimeError, IndexError, ValueError, TypeError) as e:
                raise Dropped(str(e)) from None
            out = out if step.n_outputs > 1 else (out,)
            if any(not isinstance(o, torch.Tensor) or (o.numel() == 0 and not step.empty_ok) for o in out):
                raise Dropped("empty or not a tensor")
            results.append(out)
        if any(a.dim() != b.dim() for a, b in zip(*results)):
            raise Dropped("rank differs between the sizes")
        if step.robust is not None and not step.robust(results):
            raise Dropped("not robust")
        made = []
        for i, name in enumerate(names):
            v = Value(name, results[0][i], results[1][i], 0.0)
            if v.small.numel() > MAX_ELEMENTS or v.large.numel() > MAX_ELEMENTS:
                raise Dropped("size")  # before the error bound and magnitude, which copy it in float64 (seed 1205: 5 GB)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                v.err = step.err(v) if v.is_float else 0.0
            m = v.mag()
            too_large = m > (FLOAT_LIMIT if v.is_float else INT_LIMIT)
            if too_large or not math.isfinite(v.err) or (v.is_float and not _finite(v)):
                raise Dropped("magnitude")
            made.append(v)
        self.counter += step.n_outputs
        self.values.extend(made)
        self.lines.append(f"{', '.join(names)} = {step.expr}")
        self.lines.extend(s.replace("@", names[0]) for s in step.stmts)
        self.eager_only |= step.eager_only

    def scope_inputs(self, which: str) -> dict:
        index = 0 if which == "small" else 1
        return {n: torch.from_numpy(arrays[index].copy()) for n, arrays in zip(self.input_names, self.inputs)}

    def choose_outputs(self) -> list[Value]:
        computed = [v for v in self.values if v.name.startswith("v")] or self.values[:1]
        k = min(len(computed), int(self.rng.integers(1, 5)))
        picks = {computed[-1].name: computed[-1]}
        for i in self.rng.choice(len(computed), size=k, replace=False):
            picks.setdefault(computed[int(i)].name, computed[int(i)])
        outputs = list(picks.values())
        if self.chance(0.05):
            outputs.append(self.values[0])  # an input returned as it is
        if self.chance(0.05):
            outputs.append(outputs[0])  # one value returned twice
        return outputs


@dataclass
class Step:
    expr: str
    err: Callable[[Value], float]  # the result's error bound, given the result
    n_outputs: int = 1
    robust: Callable[[list], bool] | None = None  # False: a discontinuity too close to call
    eager_only: bool = False
    stmts: list[str] = field(default_factory=list)  # run after the assignment, "@" standing for the result (x[i] = v)
    empty_ok: bool = False  # the result may have no elements (an empty slice, or what one flows into)


def _kind_ok(v: Value, kind: str) -> bool:
    if kind == "any":
        return True
    if kind == "float":
        return v.is_float
    if kind == "int":
        return not v.is_float and v.dtype != "bool"
    if kind == "bool":
        return v.dtype == "bool"
    return v.dtype != "bool"  # "number"


def _empty(v: Value) -> bool:
    """No elements (t_empty's values): only the steps of t_empty read them, the others assume elements to draw from."""
    return v.small.numel() == 0 or v.large.numel() == 0


def _broadcastable(u: Value, v: Value) -> bool:
    pairs = [*zip(reversed(u.small.shape), reversed(v.small.shape)), *zip(reversed(u.large.shape), reversed(v.large.shape))]
    return all(a == b or a == 1 or b == 1 for a, b in pairs)


def _finite(v: Value) -> bool:
    return bool(torch.isfinite(v.small).all()) and bool(torch.isfinite(v.large).all())


# ---------------------------------------------------------------------- error bounds and robustness


def _rounding(v: Value, *magnitudes: float) -> float:
    """The rounding a step adds: a few ulps of the result and of the magnitudes it combined (or of the smallest subnormal)."""
    return 2.0 * EPS.get(v.dtype, 0.0) * (v.mag() + sum(magnitudes)) + 4 * SUBNORMAL.get(v.dtype, 0.0)


def _gap_ok(gaps: torch.Tensor, margin: float) -> bool:
    """Every gap to a discontinuity is exactly zero (an exact tie) or wider than ``margin``."""
    gaps = gaps.detach().double().abs()
    near = (gaps > 0) & (gaps <= margin)
    return not bool(near.any())


def _margin(*values: Value) -> float:
    return 4.0 * sum(v.err + EPS.get(v.dtype, 0.0) * v.mag() for v in values)


def _operand_pairs(g: Generator, a: Value, b: Value | None, b_text: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``a`` and ``b`` (a value or a Python scalar) at both sizes, as float64."""
    out = []
    for which in ("small", "large"):
        x = getattr(a, which).double()
        y = getattr(b, which).double() if b is not None else torch.tensor(float(eval(b_text)), dtype=torch.float64)  # noqa: S307
        out.append((x, y))
    return out


# ---------------------------------------------------------------------- templates

# name: (expression, Lipschitz factor given the operand's magnitude, allowed given the magnitude)
UNARY_FLOAT: dict[str, tuple[str, Callable[[float], float], Callable[[float], bool]]] = {
    "exp": ("{x}.exp()", math.exp, lambda m: m <= 5),
    "exp_of_tanh": ("T.exp(T.tanh({x}))", lambda m: math.e, lambda m: True),
    "log": ("({x}.abs() + 1).log()", lambda m: 1.0, lambda m: True),
    "log1p": ("T.log1p({x}.abs())", lambda m: 1.0, lambda m: True),
    "expm1": ("{x}.expm1()", math.exp, lambda m: m <= 5),
    "tanh": ("T.tanh({x})", lambda m: 1.0, lambda m: True),
    "sigmoid": ("{x}.sigmoid()", lambda m: 0.25, lambda m: True),
    "relu": ("{x}.relu()", lambda m: 1.0, lambda m: True),
    "relu_fn": ("T.relu({x})", lambda m: 1.0, lambda m: True),
    "gelu": ("T.nn.functional.gelu({x})", lambda m: 1.2, lambda m: True),
    "gelu_tanh": ("T.nn.functional.gelu({x}, approximate='tanh')", lambda m: 1.2, lambda m: True),
    "silu": ("T.nn.functional.silu({x})", lambda m: 1.1, lambda m: True),
    "softplus": ("T.nn.functional.softplus({x})", lambda m: 1.0, lambda m: True),
    "abs": ("{x}.abs()", lambda m: 1.0, lambda m: True),
    "sqrt": ("({x}.abs() + 1).sqrt()", lambda m: 0.5, lambda m: True),
    "rsqrt": ("T.rsqrt({x}.abs() + 0.5)", lambda m: 1.5, lambda m: True),
    "reciprocal": ("({x}.abs() + 0.5).reciprocal()", lambda m: 4.0, lambda m: True),
    "sin": ("{x}.sin()", lambda m: 1.0, lambda m: m <= 100),
    "cos": ("T.cos({x})", lambda m: 1.0, lambda m: m <= 100),
    "atan": ("T.atan({x})", lambda m: 1.0, lambda m: True),
    "erf": ("{x}.erf()", lambda m: 1.2, lambda m: True),
    "neg": ("-{x}", lambda m: 1.0, lambda m: True),
    "square": ("{x}.square()", lambda m: 2 * m, lambda m: m <= 50),
    "pow2": ("{x} ** 2", lambda m: 2 * m, lambda m: m <= 50),
    "pow_half": ("({x}.abs() + 1) ** 1.5", lambda m: 1.5 * math.sqrt(m + 1), lambda m: m <= 100),
    "two_pow": ("2 ** {x}", lambda m: 0.7 * 2**m, lambda m: m <= 8),
}


def t_unary_float(g: Generator) -> Step:
    x = g.operand("float")
    name = g.pick(list(UNARY_FLOAT))
    expr, lipschitz, allowed = UNARY_FLOAT[name]
    m = x.mag()
    if not allowed(m):
        raise Dropped("domain")
    inner = x.err + EPS[x.dtype] * (m + 1)
    return Step(expr.format(x=x.name), lambda v: lipschitz(m) * inner + _rounding(v, m))


STEP_FUNCTIONS = {"floor": "{x}.floor()", "ceil": "T.ceil({x})", "round": "{x}.round()", "trunc": "{x}.trunc()", "sign": "{x}.sign()"}


def t_step_function(g: Generator) -> Step:
    """A piecewise-constant function, kept where no element is within its error of a jump."""
    x = g.operand("float")
    name = g.pick(list(STEP_FUNCTIONS))
    margin = _margin(x)

    def robust(results: list) -> bool:
        for t in (x.small, x.large):
            t = t.double()
            if name == "sign":
                gaps = t
            elif name == "round":
                gaps = t - t.floor() - 0.5
            else:
                gaps = t - t.round()
                if name == "trunc":
                    gaps = torch.where(t.abs() < 0.5, torch.ones_like(t), gaps)
            if not _gap_ok(gaps, margin):
                return False
        return True

    return Step(STEP_FUNCTIONS[name].format(x=x.name), lambda v: 0.0, robust=robust)


def t_unary_exact(g: Generator) -> Step:
    """Integer and bool elementwise ops (exact)."""
    x = g.operand(g.pick(["int", "bool"]))
    if x.dtype == "bool":
        expr = g.pick(["T.logical_not({x})", "{x}.logical_not()", "T.logical_and({x}, {y})", "T.logical_or({x}, {y})", "T.logical_xor({x}, {y})"])
        if "{y}" in expr:
            text, _ = g.partner(x, "bool")
            return Step(expr.format(x=x.name, y=text), lambda v: 0.0)
        return Step(expr.format(x=x.name), lambda v: 0.0)
    expr = g.pick(["-{x}", "{x}.abs()", "{x}.sign()", "{x} * {x}", "{x}.clamp(-2, 3)", "T.clamp({x}, min=0)", "{x}.square()"])
    return Step(expr.format(x=x.name), lambda v: 0.0)


ARITHMETIC = {
    "add": "{a} + {b}",
    "radd": "{b} + {a}",
    "sub": "{a} - {b}",
    "rsub": "{b} - {a}",
    "mul": "{a} * {b}",
    "rmul": "{b} * {a}",
    "add_alpha": "T.add({a}, {b}, alpha=2)",
    "sub_alpha": "T.sub({a}, {b}, alpha=0.5)",
    "maximum": "T.maximum({a}, {b})",
    "minimum": "T.minimum({a}, {b})",
    "div": "{a} / ({b}.abs() + 0.5)",
    "rdiv": "{b} / ({a}.abs() + 0.5)",
    "div_scalar": "{a} / {s}",
}


def t_arithmetic(g: Generator) -> Step:
    a = g.operand("number")
    name = g.pick(list(ARITHMETIC))
    if name == "div_scalar":
        s = g.pick([2, 3, -4, 0.5, 1.5, -2.5])
        return Step(ARITHMETIC[name].format(a=a.name, s=s), lambda v: a.err / min(abs(s), 1) * 2 + _rounding(v, a.mag()))
    b_text, b = g.partner(a, "number" if name not in ("div", "rdiv") else g.pick(["float", "int", "number"]))
    if name in ("div", "rdiv") and b is None:
        raise Dropped("abs of a scalar")
    if name == "rdiv":
        a, b = b, a
        b_text, name = b.name, "div"
    ea, eb = a.err, (b.err if b is not None else 0.0)
    ma = a.mag()
    mb = b.mag() if b is not None else abs(float(eval(b_text)))  # noqa: S307
    scale = 2.0 if "alpha" in name else 1.0
    if name in ("mul", "rmul"):
        if ma * mb > FLOAT_LIMIT:
            raise Dropped("magnitude")

        def err(v: Value) -> float:
            return ea * mb + eb * ma + ea * eb + _rounding(v, ma * mb, ma, mb)

    elif name == "div":
        eps_b = EPS.get(b.dtype, EPS.get(v_dtype_guess(a, b), 0.0))

        def err(v: Value) -> float:
            d_err = eb + EPS.get(v.dtype, eps_b) * (mb + 1)
            return 2 * ea + 4 * ma * d_err + _rounding(v, ma, mb)

    else:

        def err(v: Value) -> float:
            return scale * (ea + eb) + _rounding(v, scale * ma, scale * mb)

    return Step(ARITHMETIC[name].format(a=a.name, b=b_text), err)


def v_dtype_guess(a: Value, b: Value) -> str:
    return a.dtype if a.is_float else b.dtype


def t_integer_division(g: Generator) -> Step:
    a = g.operand("int")
    b_text, b = g.partner(a, "int")
    if b is None:
        d = g.pick([2, 3, -3, 5])
        forms = ["{a} // {d}", "{a} % {d}", "T.div({a}, {d}, rounding_mode='floor')", "T.div({a}, {d}, rounding_mode='trunc')"]
        forms += ["T.remainder({a}, {d})", "T.fmod({a}, {d})"]
        expr = g.pick(forms).format(a=a.name, d=d)
        return Step(expr, lambda v: 0.0)
    expr = g.pick(["{a} // ({b}.abs() + 1)", "T.remainder({a}, {b}.abs() + 1)", "T.div({a}, {b}.abs() + 1, rounding_mode='trunc')", "{a} / ({b}.abs() + 1)"])
    ma = a.mag()
    return Step(expr.format(a=a.name, b=b_text), lambda v: _rounding(v, ma))


COMPARISONS = ["{a} < {b}", "{a} <= {b}", "{a} > {b}", "{a} >= {b}", "{a} == {b}", "{a} != {b}", "T.eq({a}, {b})", "T.gt({a}, {b})"]


def t_comparison(g: Generator) -> Step:
    a = g.operand("any")
    b_text, b = g.partner(a, "any" if a.dtype == "bool" else "number")
    margin = _margin(a, *([b] if b is not None else []))
    pairs = _operand_pairs(g, a, b, b_text)

    def robust(results: list) -> bool:
        return all(_gap_ok(x - y, margin) for x, y in pairs)

    return Step(g.pick(COMPARISONS).format(a=a.name, b=b_text), lambda v: 0.0, robust=robust)


def t_where(g: Generator) -> Step:
    a = g.operand("number")
    if g.chance(0.4):
        margin = _margin(a)
        threshold = g.pick([0, 0.5, -1])

        def robust(results: list) -> bool:
            return all(_gap_ok(t.double() - threshold, margin) for t in (a.small, a.large))

        b_text, b = g.partner(a, "number")
        eb = b.err if b is not None else 0.0
        expr = g.pick([f"T.where({a.name} > {threshold}, {a.name}, {b_text})", f"T.where({a.name} <= {threshold}, {b_text}, {a.name} * 2)"])
        return Step(expr, lambda v: 2 * max(a.err, eb) + _rounding(v, a.mag()), robust=robust)
    conditions = [c for c in g.values if c.dtype == "bool" and _broadcastable(c, a)]
    c = g.pick(conditions) if conditions else g.fresh_like(a, "bool")
    b_text, b = g.partner(a, "number")
    eb = b.err if b is not None else 0.0
    expr = g.pick(["T.where({c}, {a}, {b})", "{a}.where({c}, {b})", "T.where({c}, {b}, {a})", "T.where({c}, 1.5, -2)", "T.where({c}, 3, {b})"])
    if b is None and g.chance(0.3):
        expr = "{a}.masked_fill({c}, {b})"
    return Step(expr.format(c=c.name, a=a.name, b=b_text), lambda v: max(a.err, eb) + _rounding(v, a.mag()))


def _dims(g: Generator, v: Value, single: bool = False) -> tuple[list[int], str]:
    """Some of ``v``'s dims and how the call spells them (an int, a negative int, a tuple or a list)."""
    n = len(v.shape)
    if n == 0:
        raise Dropped("0-d")
    if single:
        d = int(g.rng.integers(n))
        return [d], str(d - n if g.chance(0.3) else d)
    k = int(g.rng.integers(1, n + 1))
    dims = sorted(int(d) for d in g.rng.choice(n, size=k, replace=False))
    spelled = [d - n if g.chance(0.3) else d for d in dims]
    if k == 1 and g.chance(0.5):
        return dims, str(spelled[0])
    return dims, str(tuple(spelled)) if g.chance(0.5) else str(list(spelled))


def _count(v: Value, dims: list[int]) -> int:
    return max(int(np.prod([t.shape[d] for d in dims])) if dims else 1 for t in (v.small, v.large))


def t_reduction(g: Generator) -> Step:
    x = g.operand("any")
    kind = g.pick(["sum", "mean", "amax", "amin", "logsumexp", "var", "std", "max_dim", "argmax", "all", "prod", "nansum"])
    keep = g.chance(0.4)
    if kind == "all":
        expr = g.pick([f"{x.name}.sum()", f"{x.name}.mean()", f"{x.name}.amax()", f"{x.name}.max()", f"T.sum({x.name})"])
        dims = list(range(len(x.shape)))
        kind = "sum" if "sum" in expr else "mean" if "mean" in expr else "amax"
    else:
        dims, spelled = _dims(g, x, single=kind in ("max_dim", "argmax"))
        k = f", keepdim={keep}" if keep or g.chance(0.3) else ""
        expr = {
            "sum": f"{x.name}.sum(dim={spelled}{k})",
            "nansum": f"T.sum({x.name}, {spelled}{k})",
            "mean": f"{x.name}.mean({spelled}{k})",
            "amax": f"T.amax({x.name}, dim={spelled}{k})",
            "amin": f"{x.name}.amin({spelled}{k})",
            "logsumexp": f"{x.name}.logsumexp({spelled}{k})",
            "var": f"{x.name}.var({spelled}{k}, correction={g.pick([0, 1])})",
            "std": f"T.std({x.name}, dim={spelled}{k})",
            "prod": f"{x.name}.prod({spelled}{k})",
            "max_dim": f"{x.name}.{g.pick(['max', 'min'])}(dim={spelled}{k})",
            "argmax": f"{x.name}.{g.pick(['argmax', 'argmin'])}(dim={spelled}{k})",
        }[kind]
    n = _count(x, dims)
    m = x.mag()
    e = x.err
    eps = EPS.get(x.dtype, EPS[g.float_dtype])
    logn = 1 + math.log2(max(n, 1))
    robust = None
    n_outputs = 1
    if kind in ("max_dim", "argmax"):
        margin = _margin(x)
        d = dims[0]

        def robust(results: list) -> bool:
            for t in (x.small, x.large):
                top = t.double().sort(dim=d, descending=True).values
                if t.shape[d] < 2:
                    continue
                largest, smallest = top.narrow(d, 0, 1) - top.narrow(d, 1, 1), top.narrow(d, -1, 1) - top.narrow(d, -2, 1)
                if not (_gap_ok(largest, margin) and _gap_ok(smallest, margin)):
                    return False
            return True

        n_outputs = 2 if kind == "max_dim" else 1
    if kind == "prod" and n * math.log(max(m, 1e-300)) > math.log(FLOAT_LIMIT):
        raise Dropped("magnitude")

    def err(v: Value) -> float:
        if kind in ("sum", "nansum"):
            return n * e + eps * n * m * logn + _rounding(v)
        if kind == "mean":
            return e + eps * m * logn * 2 + _rounding(v)
        if kind in ("amax", "amin", "max_dim"):
            return e + _rounding(v)
        if kind == "logsumexp":
            return e + 4 * eps * (v.mag() + m + n) + _rounding(v)
        if kind == "prod":
            return n * max(m, 1) ** (n - 1) * (e + eps * m) * 2 + _rounding(v)
        var_err = 8 * m * e + eps * n * 8 * (m + 1) ** 2 * logn
        if kind == "var":
            return var_err + _rounding(v)
        low = float(min(results_min_std(x, dims)))
        return var_err / max(2 * low, 1e-300) + _rounding(v) if low > 0 else math.inf

    return Step(expr, err, n_outputs, robust)


def results_min_std(x: Value, dims: list[int]) -> list[float]:
    return [float(t.double().std(dim=dims).min()) if t.numel() > 1 and _count(x, dims) > 1 else 0.0 for t in (x.small, x.large)]


def t_softmax(g: Generator) -> Step:
    x = g.operand("float")
    d, spelled = _dims(g, x, single=True)
    n = _count(x, d)
    log = g.chance(0.5)
    name = "log_softmax" if log else "softmax"
    expr = g.pick([f"{x.name}.{name}({spelled})", f"T.{name}({x.name}, dim={spelled})", f"T.nn.functional.{name}({x.name}, dim={spelled})"])
    m = x.mag()
    eps = EPS[x.dtype]
    return Step(expr, lambda v: 2 * x.err + eps * (4 * (v.mag() + m) + 2 * n) + _rounding(v))


def t_reshape(g: Generator) -> Step:
    x = g.operand("any")
    shape = list(x.shape)
    n = len(shape)
    batch = x.batch_dims
    choice = g.pick(["merge", "split", "flatten", "all", "unflatten"])
    if choice == "all" or n == 0:
        expr = g.pick([f"{x.name}.reshape(-1)", f"{x.name}.flatten()", f"T.reshape({x.name}, (-1,))"])
    elif choice == "flatten" and n >= 2:
        s = int(g.rng.integers(0, n - 1))
        e = int(g.rng.integers(s + 1, n))
        expr = f"{x.name}.flatten({s}, {e})"
    elif choice == "merge" and n >= 2:
        i = int(g.rng.integers(0, n - 1))
        new = [str(s) for s in shape]
        merged = "-1" if (i in batch or i + 1 in batch) else str(shape[i] * shape[i + 1])
        new[i : i + 2] = [merged]
        new = [("-1" if d in batch and merged != "-1" and j == d else s) for j, (d, s) in enumerate(zip([*range(i), i, *range(i + 2, n)], new))]
        if new.count("-1") > 1:
            raise Dropped("two batch dims")
        method = g.pick(["reshape", "view"])
        expr = f"{x.name}.{method}({', '.join(new)})" if new else f"{x.name}.{method}(())"
    else:
        candidates = [d for d in range(n) if d not in batch and shape[d] in (4, 6, 8, 9, 10, 12, 15, 16, 20, 25)]
        if not candidates:
            if choice == "unflatten" or n == 0:
                raise Dropped("nothing to split")
            expr = f"{x.name}.unsqueeze(-1).reshape({', '.join('-1' if d in batch else str(s) for d, s in enumerate(shape))}, 1)"
        else:
            d = g.pick(candidates)
            f = next(k for k in (2, 3, 5) if shape[d] % k == 0)
            new = [("-1" if j in batch else str(s)) for j, s in enumerate(shape)]
            new[d : d + 1] = [str(f), str(shape[d] // f)]
            if new.count("-1") > 1:
                raise Dropped("two batch dims")
            expr = f"{x.name}.unflatten({d}, ({f}, {shape[d] // f}))" if choice == "unflatten" else f"{x.name}.reshape({', '.join(new)})"
    return Step(expr, lambda v: x.err)


def t_permute(g: Generator) -> Step:
    x = g.operand("any", ndim_min=1)
    n = len(x.shape)
    choice = g.pick(["permute", "transpose", "mT", "t", "movedim", "contiguous_view"])
    if choice == "permute" or (choice == "contiguous_view" and n < 2):
        perm = [int(p) for p in g.rng.permutation(n)]
        expr = g.pick([f"{x.name}.permute({', '.join(map(str, perm))})", f"T.permute({x.name}, {tuple(perm)})"])
    elif choice == "transpose":
        i, j = (int(d) for d in g.rng.integers(-n, n, size=2))
        expr = g.pick([f"{x.name}.transpose({i}, {j})", f"T.transpose({x.name}, {i}, {j})"])
    elif choice == "mT":
        expr = f"{x.name}.mT"
    elif choice == "t":
        if n > 2:
            raise Dropped("t of >2-d")
        expr = f"{x.name}.t()"
    elif choice == "movedim":
        i, j = (int(d) for d in g.rng.integers(0, n, size=2))
        expr = f"{x.name}.movedim({i}, {j})"
    else:
        perm = [int(p) for p in g.rng.permutation(n)]
        expr = f"{x.name}.permute({', '.join(map(str, perm))}).contiguous().view(-1)"
    return Step(expr, lambda v: x.err)


def _slice_text(g: Generator, size: int, batch: bool) -> str:
    if batch:
        return g.pick([":", "::2", "1:", "0", "-1", ":-1"])
    r = g.rng.random()
    if r < 0.25:
        return ":"
    if r < 0.4:
        return str(int(g.rng.integers(-size, size)))
    start = int(g.rng.integers(-size, size))
    stop = g.pick([None, int(g.rng.integers(-size, size + 1))])
    step = g.pick([1, 1, 2, 3])
    text = f"{start}:{'' if stop is None else stop}"
    return text + (f":{step}" if step != 1 else "")


def t_slice(g: Generator) -> Step:
    x = g.operand("any", ndim_min=1)
    batch = x.batch_dims
    k = int(g.rng.integers(1, len(x.shape) + 1))
    parts = [_slice_text(g, x.shape[d], d in batch) for d in range(k)]
    if g.chance(0.2):
        parts.insert(int(g.rng.integers(0, len(parts) + 1)), "None")
    if g.chance(0.2) and k < len(x.shape):
        parts = ["...", *[_slice_text(g, x.shape[d], d in batch) for d in range(len(x.shape) - k + 1, len(x.shape))]]
    return Step(f"{x.name}[{', '.join(parts)}]", lambda v: x.err)


def t_narrow_flip_roll(g: Generator) -> Step:
    x = g.operand("any", ndim_min=1)
    batch = x.batch_dims
    choice = g.pick(["narrow", "flip", "roll", "unsqueeze", "squeeze", "expand"])
    n = len(x.shape)
    if choice == "narrow":
        dims = [d for d in range(n) if d not in batch]
        if not dims:
            raise Dropped("only batch dims")
        d = g.pick(dims)
        start = int(g.rng.integers(0, x.shape[d]))
        length = int(g.rng.integers(1, x.shape[d] - start + 1))
        expr = g.pick([f"{x.name}.narrow({d}, {start}, {length})", f"T.narrow({x.name}, {d - n}, {start}, {length})"])
    elif choice == "flip":
        _, spelled = _dims(g, x)
        expr = g.pick([f"{x.name}.flip({spelled})", f"T.flip({x.name}, {spelled})"])
    elif choice == "roll":
        d = int(g.rng.integers(n))
        expr = f"{x.name}.roll({int(g.rng.integers(-3, 4))}, {d})"
    elif choice == "unsqueeze":
        expr = f"{x.name}.unsqueeze({int(g.rng.integers(-n - 1, n + 1))})"
    elif choice == "squeeze":
        d = int(g.rng.integers(-n, n))
        expr = g.pick([f"{x.name}.squeeze()", f"{x.name}.squeeze({d})", f"T.squeeze({x.name}, {d})"])
    else:
        sizes = ["-1" if s != 1 or d in batch else str(g.pick([1, 2, 3, 4])) for d, s in enumerate(x.shape)]
        if g.chance(0.3):
            sizes.insert(0, str(g.pick([2, 3])))
        expr = f"{x.name}.expand({', '.join(sizes)})"
    return Step(expr, lambda v: x.err)


def t_cat(g: Generator) -> Step:
    x = g.operand("any", ndim_min=1)
    stack = g.chance(0.35)
    n = len(x.shape)
    batch = x.batch_dims
    if stack:
        d = int(g.rng.integers(-n - 1, n + 1))
    else:
        dims = [d for d in range(n) if d not in batch]
        if not dims:
            raise Dropped("only batch dims")
        d = g.pick(dims)
    others = []
    for _ in range(int(g.rng.integers(1, 3))):
        same = [
            u
            for u in g.values
            if u.dtype == x.dtype and len(u.shape) == n and u.batch_dims == batch
            and all(a == b for i, (a, b) in enumerate(zip(u.shape, x.shape)) if stack or i != d)
        ]
        if same and g.chance(0.5):
            others.append(g.pick(same))
        else:
            shape = list(x.shape)
            if not stack:
                shape[d] = g.size()
            dtype = x.dtype if g.chance(0.7) else g.pick_dtype()
            others.append(g.fresh(tuple(shape), batch, dtype))
    parts = [x, *others]
    g.rng.shuffle(parts)
    names = ", ".join(p.name for p in parts)
    fn = "stack" if stack else g.pick(["cat", "cat", "concat"])
    expr = f"T.{fn}([{names}], dim={d})" if g.chance(0.5) else f"T.{fn}(({names},), {d})"
    return Step(expr, lambda v: max(p.err for p in parts) + _rounding(v))


def t_matmul(g: Generator) -> Step:
    x = g.operand("number", ndim_min=1)
    shape = x.shape
    batch = x.batch_dims
    n = len(shape)
    k = shape[-1]
    out_cols = g.size() + 1
    kind = g.pick(["matrix", "matrix", "vector", "batched", "gram", "vector_left"])
    k_batch = {0} if (n - 1) in batch else set()
    dtype = x.dtype if x.is_float or g.chance(0.5) else g.float_dtype
    if kind == "gram":
        if n < 2:
            raise Dropped("gram of a vector")
        expr = g.pick([f"{x.name} @ {x.name}.mT", f"T.matmul({x.name}.mT, {x.name})"])
        y = x
        k = max(shape[-1], shape[-2], x.large.shape[-1], x.large.shape[-2])
    elif kind == "vector_left":
        if n < 2:
            raise Dropped("needs a matrix")
        y = g.fresh((shape[-2],), {0} if (n - 2) in batch else set(), dtype)
        expr = f"{y.name} @ {x.name}"
        k = max(shape[-2], x.large.shape[-2])
    else:
        if kind == "vector":
            y = g.fresh((k,), k_batch, dtype)
        elif kind == "batched" and n >= 2:
            y = g.fresh((*shape[:-2], k, out_cols), {d for d in batch if d < n - 2} | ({n - 2} if (n - 1) in batch else set()), dtype)
        else:
            y = g.fresh((k, out_cols), k_batch, dtype)
        fn = "bmm" if n == 3 and kind == "batched" and g.chance(0.5) else "matmul"
        expr = g.pick([f"{x.name} @ {y.name}", f"T.{fn}({x.name}, {y.name})", f"{x.name}.{fn}({y.name})"])
        k = max(k, x.large.shape[-1])
    mx, my = x.mag(), y.mag()
    if mx * my * k > FLOAT_LIMIT:
        raise Dropped("magnitude")
    eps = EPS.get(x.dtype, EPS.get(y.dtype, 0.0))
    return Step(expr, lambda v: k * (x.err * my + y.err * mx) + 2 * eps * k * mx * my * (1 + math.log2(k)) + _rounding(v))


def t_index(g: Generator) -> Step:
    x = g.operand("any", ndim_min=1)
    n = len(x.shape)
    batch = x.batch_dims
    d = int(g.rng.integers(n))
    size = min(x.small.shape[d], x.large.shape[d])
    kind = g.pick(["index_select", "gather", "gather_argmax", "advanced"])
    if kind == "index_select":
        idx = g.fresh((g.size(),), set(), "int64", 0, size)
        expr = g.pick([f"{x.name}.index_select({d}, {idx.name})", f"T.index_select({x.name}, {d - n}, {idx.name})"])
    elif kind == "advanced":
        rows = min(x.small.shape[0], x.large.shape[0])
        shape = tuple(g.size() for _ in range(int(g.rng.integers(1, 3))))
        idx = g.fresh(shape, set(), "int64", 0 if 0 in batch else -rows, rows)
        expr = f"{x.name}[{idx.name}]"
    elif kind == "gather":
        shape = tuple((s if j in batch else int(g.rng.integers(1, s + 1))) if j != d else g.size() for j, s in enumerate(x.shape))
        idx = g.fresh(shape, {j for j in batch if j != d}, "int64", 0, size)
        expr = g.pick([f"{x.name}.gather({d}, {idx.name})", f"T.gather({x.name}, {d}, {idx.name})", f"T.take_along_dim({x.name}, {idx.name}, dim={d})"])
    else:
        fn = g.pick(["argmax", "argmin"])
        expr = f"T.gather({x.name}, {d}, {x.name}.{fn}({d}, keepdim=True))"
    return Step(expr, lambda v: x.err)


def t_cumsum(g: Generator) -> Step:
    x = g.operand("any", ndim_min=1)
    d, spelled = _dims(g, x, single=True)
    n = _count(x, d)
    m = x.mag()
    eps = EPS.get(x.dtype, EPS[g.float_dtype])
    expr = g.pick([f"{x.name}.cumsum({spelled})", f"T.cumsum({x.name}, dim={spelled})"])
    return Step(expr, lambda v: n * x.err + eps * n * n * m + _rounding(v))


def t_clamp(g: Generator) -> Step:
    x = g.operand("number")
    lo, hi = sorted(round(float(s), 2) for s in g.rng.uniform(-2, 2, size=2))
    if x.dtype == "int64" and g.chance(0.6):
        lo, hi = int(lo), int(hi) + 1
    choice = g.pick(["both", "min", "max", "tensor"])
    if choice == "tensor":
        b_text, b = g.partner(x, "number")
        expr = g.pick([f"{x.name}.clamp(min={b_text})", f"T.clamp({x.name}, max={b_text})"])
        eb = b.err if b is not None else 0.0
        return Step(expr, lambda v: max(x.err, eb) + _rounding(v))
    expr = {"both": f"{x.name}.clamp({lo}, {hi})", "min": f"T.clamp({x.name}, min={lo})", "max": f"{x.name}.clamp(max={hi})"}[choice]
    return Step(expr, lambda v: x.err + _rounding(v))


def t_cast(g: Generator) -> Step:
    x = g.operand("any")
    targets = ["float64", "int64", "bool", g.pick(["int32", "int16", "int8", "uint8"])]
    if g.float_dtype == "float32":  # half precision only where no gradient is compared (its ulps would swamp the check)
        targets += ["float32", g.pick(["float16", "bfloat16"] if g.bfloat16 else ["float16"])]
    target = g.pick(targets)
    spelled = {
        "float32": ["{x}.float()", "{x}.to(T.float32)"],
        "float64": ["{x}.double()", "{x}.to(T.float64)", "{x}.to(dtype=T.float64)"],
        "float16": ["{x}.half()", "{x}.to(T.float16)"],
        "bfloat16": ["{x}.bfloat16()", "{x}.to(T.bfloat16)"],
        "int64": ["{x}.long()", "{x}.to(T.int64)"],
        "int32": ["{x}.int()", "{x}.to(T.int32)"],
        "int16": ["{x}.short()", "{x}.to(T.int16)"],
        "int8": ["{x}.char()", "{x}.to(T.int8)"],
        "uint8": ["{x}.byte()", "{x}.to(T.uint8)"],
        "bool": ["{x}.bool()", "{x}.to(T.bool)"],
    }[target]
    expr = g.pick(spelled).format(x=x.name)
    margin = _margin(x)
    robust = None
    if x.is_float and not target.startswith(("float", "bfloat")):

        def robust(results: list) -> bool:
            for t in (x.small, x.large):
                t = t.double()
                if target == "bool":
                    gaps = t
                else:
                    gaps = torch.where(t.abs() < 0.5, torch.ones_like(t), t - t.round())
                if not _gap_ok(gaps, margin):
                    return False
            return True

    rounds = EPS.get(target, 0.0) if EPS.get(target, 0.0) > EPS.get(x.dtype, 0.0) else 0.0
    return Step(expr, lambda v: x.err + rounds * x.mag() * 2 + 4 * SUBNORMAL.get(target, 0.0), robust=robust)


def t_item(g: Generator) -> Step:
    """A value read into Python (``.item()``) and used as a scalar: ``graphc.compile`` guards on it."""
    x = g.operand("number")
    a = g.operand("number")
    reduce = g.pick(["sum", "mean", "amax"])
    n = max(t.numel() for t in (x.small, x.large))
    ms = max(abs(float(getattr(t.double(), reduce)())) for t in (x.small, x.large))
    es = (n if reduce == "sum" else 1) * (x.err + EPS.get(x.dtype, 0.0) * x.mag() * (1 + math.log2(n)))
    if ms * a.mag() > FLOAT_LIMIT:
        raise Dropped("magnitude")
    return Step(f"{a.name} * {x.name}.{reduce}().item()", lambda v: a.err * ms + es * a.mag() + _rounding(v, ms * a.mag()), eager_only=True)


from fuzz_templates_nn import NN_TEMPLATES, NN_WEIGHTS  # noqa: E402  (they build on the helpers above)
from fuzz_templates_wide import WIDE_TEMPLATES, WIDE_WEIGHTS  # noqa: E402

TEMPLATES: list[tuple[str, Callable[[Generator], Step]]] = [
    ("item", t_item),
    ("unary_float", t_unary_float),
    ("step_function", t_step_function),
    ("unary_exact", t_unary_exact),
    ("arithmetic", t_arithmetic),
    ("integer_division", t_integer_division),
    ("comparison", t_comparison),
    ("where", t_where),
    ("reduction", t_reduction),
    ("softmax", t_softmax),
    ("reshape", t_reshape),
    ("permute", t_permute),
    ("slice", t_slice),
    ("narrow_flip_roll", t_narrow_flip_roll),
    ("cat", t_cat),
    ("matmul", t_matmul),
    ("index", t_index),
    ("cumsum", t_cumsum),
    ("clamp", t_clamp),
    ("cast", t_cast),
    *WIDE_TEMPLATES,
    *NN_TEMPLATES,
]
WEIGHTS = {
    "item": 0.4, "unary_float": 4, "arithmetic": 5, "reduction": 3, "step_function": 0.5, "integer_division": 0.7, "unary_exact": 0.7,
    **WIDE_WEIGHTS, **NN_WEIGHTS,
}
PROBABILITIES = np.array([WEIGHTS.get(name, 1.5) for name, _ in TEMPLATES]) / sum(WEIGHTS.get(name, 1.5) for name, _ in TEMPLATES)


def generate(seed: int, large: bool | None = None, bfloat16: bool = True) -> Program:
    """Program ``seed``; a large one (some dims of 17 to 300) for one seed in four unless ``large`` says."""
    return Generator(seed, seed % 4 == 1 if large is None else large, bfloat16).generate()

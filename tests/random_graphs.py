"""Random programs for property tests of fusion and memory planning.

``programs()`` draws a small program of pointwise math, row and column reductions
broadcast back, 0-d values computed and broadcast (as an Adam update's bias corrections
are), transposes, matmuls, softmaxes, concats read back through slices, and products read
only as column slices, over a few shapes, built twice: as
lazy graphc tensors and as NumPy arrays (the reference). Its outputs are a few of the
values computed along the way, so values read by several kernels, returned values that
later kernels also read, and siblings over one iteration space all occur.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

import graphc

ROWS, COLS = 6, 8

Pair = tuple[graphc.Tensor, np.ndarray]

UNARY: dict[str, tuple[Callable, Callable]] = {
    "tanh": (lambda t: t.tanh(), np.tanh),
    "sin": (lambda t: t.sin(), np.sin),
    "neg": (lambda t: -t, np.negative),
    "exp_tanh": (lambda t: t.tanh().exp(), lambda a: np.exp(np.tanh(a))),
    "affine": (lambda t: t * 0.5 + 1.0, lambda a: a * 0.5 + 1.0),
}
BINARY: dict[str, tuple[Callable, Callable]] = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "maximum": (graphc.maximum, np.maximum),
}


@dataclass
class Program:
    outputs: list[graphc.Tensor]
    expected: list[np.ndarray]
    steps: list[str]  # what was drawn, for the failure message

    def __repr__(self) -> str:
        return f"Program({', '.join(self.steps)})"

    def assert_results(self, got: list, rtol: float = 1e-9) -> None:
        """``got`` (the compiled outputs) equals NumPy's float64 results."""
        for value, expected in zip(got, self.expected):
            np.testing.assert_allclose(value, expected, rtol=rtol, atol=1e-12)


def _reduce(pair: Pair, axis: int, op: str) -> Pair:
    t, a = pair
    if op == "sum":
        return t.sum(axis, keepdim=True), a.sum(axis, keepdims=True)
    found = t.max(axis, keepdim=True)
    return (found[0] if isinstance(found, tuple) else found), a.max(axis, keepdims=True)


@st.composite
def programs(draw: st.DrawFn) -> Program:
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))

    def leaf(*shape: int) -> Pair:
        a = rng.standard_normal(shape)
        return graphc.tensor(a.copy()), a

    pool = [leaf(ROWS, COLS), leaf(ROWS, COLS), leaf(ROWS, 1), leaf(1, COLS)]
    weight = leaf(COLS, COLS)
    wide_weight = leaf(COLS, 2 * COLS)
    scale = leaf()
    computed: list[Pair] = []
    steps: list[str] = []

    def pick(shape: tuple[int, ...] | None = None) -> Pair:
        choices = [p for p in pool + computed if shape is None or p[1].shape == shape]
        return choices[draw(st.integers(0, len(choices) - 1))]

    for _ in range(draw(st.integers(2, 10))):
        kind = draw(st.sampled_from(["unary", "binary", "broadcast", "scaled", "reduce", "transpose", "matmul", "softmax", "concat", "columns"]))
        if kind == "unary":
            name = draw(st.sampled_from(sorted(UNARY)))
            (t, a), (f, g) = pick(), UNARY[name]
            made = f(t), g(a)
        elif kind == "binary":
            name = draw(st.sampled_from(sorted(BINARY)))
            t, a = pick()
            u, b = pick(a.shape)
            f, g = BINARY[name]
            made = f(t, u), g(a, b)
        elif kind == "broadcast":  # a per-row or per-column value applied over the rows: softmax-like
            name = draw(st.sampled_from(sorted(BINARY)))
            t, a = pick((ROWS, COLS))
            axis = draw(st.integers(0, 1))
            u, b = _reduce(pick((ROWS, COLS)), axis, draw(st.sampled_from(["sum", "max"])))
            f, g = BINARY[name]
            made = f(t, u), g(a, b)
        elif kind == "scaled":  # a 0-d value computed inside the kernel, broadcast over its elements
            t, a = pick()
            made = t * (scale[0].exp() + 1.0), a * (np.exp(scale[1]) + 1.0)
        elif kind == "reduce":
            made = _reduce(pick((ROWS, COLS)), draw(st.integers(0, 1)), draw(st.sampled_from(["sum", "max"])))
        elif kind == "transpose":
            t, a = pick((COLS, ROWS)) if any(p[1].shape == (COLS, ROWS) for p in computed) and draw(st.booleans()) else pick((ROWS, COLS))
            made = t.T, a.T
        elif kind == "matmul":
            t, a = pick((ROWS, COLS))
            made = t @ weight[0], a @ weight[1]
        elif kind == "columns":  # a product twice as wide, read only as two column slices (an LSTM's gates)
            t, a = pick((ROWS, COLS))
            wide, both = t @ wide_weight[0], a @ wide_weight[1]
            if draw(st.booleans()):
                wide, both = wide.tanh(), np.tanh(both)
            made = wide[:, COLS:] * wide[:, :COLS], both[:, COLS:] * both[:, :COLS]
        elif kind == "concat":  # read back through two slices, so stored once (by parts, with its parts)
            (t, a), (u, b) = pick((ROWS, COLS)), pick((ROWS, COLS))
            axis = draw(st.integers(0, 1))
            joined, both = graphc.cat([t, u], axis), np.concatenate([a, b], axis)
            halves = (joined[:ROWS], joined[ROWS:]) if axis == 0 else (joined[:, :COLS], joined[:, COLS:])
            made = halves[0] - 0.5 * halves[1], a - 0.5 * b
            computed.append((joined, both))
        else:
            t, a = pick((ROWS, COLS))
            e = np.exp(a - a.max(1, keepdims=True))
            made = t.softmax(1), e / e.sum(1, keepdims=True)
        computed.append(made)
        steps.append(kind if kind in ("scaled", "reduce", "transpose", "matmul", "softmax", "concat", "columns") else f"{kind}:{name}")
    count = draw(st.integers(1, min(3, len(computed))))
    chosen = draw(st.lists(st.integers(0, len(computed) - 1), min_size=count, max_size=count, unique=True))
    chosen = sorted(set(chosen) | {len(computed) - 1})
    return Program([computed[i][0] for i in chosen], [computed[i][1] for i in chosen], steps)

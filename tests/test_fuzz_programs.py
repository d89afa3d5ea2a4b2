"""Differential fuzzing: random programs (tests/fuzz_programs.py) through graphc and eager torch.

Each program runs in eager torch, in graphc's lazy mode, and through ``graphc.compile``
(called twice at one batch size, so the second call replays the traced program, then at
another, which replays the symbolic program with a new memory plan), with fusion on and
off. Values, dtypes and shapes of every output must match torch; for float64 programs the
gradients of a random combination of the outputs too (autodiff, remat and the fused
backward). A clear ``GraphcError`` counts as an allowed refusal, anything else as a bug.

The default suite runs ``DEFAULT_SEEDS``; ``-m slow`` runs more; ``GRAPHC_FUZZ_SEEDS=N``
(with ``GRAPHC_FUZZ_START``, ``GRAPHC_FUZZ_BACKEND``) runs N seeds for hunting
(docs/testing.md, "Fuzzing").
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import torch
from fuzz_programs import Program, generate
from helpers import dtype_name

import graphc
from graphc.errors import GraphcError

DEFAULT_SEEDS = {"numpy": range(0, 24), "triton": range(0, 2)}
SLOW_SEEDS = {"numpy": range(1000, 1400), "triton": range(1000, 1030)}
LOOPS_EVERY = int(os.environ.get("GRAPHC_FUZZ_LOOPS_EVERY", "8"))  # 1 when hunting bugs of the C loops
GRAD_ULPS = 4096


def _torch_inputs(program: Program, size: int, requires_grad: bool) -> list[torch.Tensor]:
    """The inputs at ``size``; one tensor where the program takes an input twice."""
    made: dict[int, torch.Tensor] = {}
    for arrays in program.inputs:
        if id(arrays) not in made:
            t = torch.from_numpy(arrays[size].copy())
            made[id(arrays)] = t.requires_grad_(requires_grad and t.dtype == torch.float64)
    return [made[id(arrays)] for arrays in program.inputs]


def _graphc_inputs(program: Program, size: int, requires_grad: bool) -> list[graphc.Tensor]:
    made: dict[int, graphc.Tensor] = {}
    for arrays in program.inputs:
        if id(arrays) not in made:
            a = arrays[size].copy()
            made[id(arrays)] = graphc.tensor(a, requires_grad=requires_grad and a.dtype == np.float64)
    return [made[id(arrays)] for arrays in program.inputs]


def _loss(T: Any, program: Program, outputs: tuple, size: int) -> Any:
    """The random scalar combination of the differentiable outputs (None when none is)."""
    terms = [(o * T.tensor(w[size], dtype=o.dtype)).sum() for o, w in zip(outputs, program.weights) if o.requires_grad]
    return sum(terms[1:], terms[0]) if terms else None


def _torch_reference(program: Program, size: int, grads: bool) -> tuple[tuple, list | None]:
    inputs = _torch_inputs(program, size, grads)
    outputs = program.function()(torch, *inputs)
    loss = _loss(torch, program, outputs, size) if grads else None
    if loss is None:
        return outputs, None
    differentiated = [t for t in inputs if t.requires_grad]
    found = torch.autograd.grad(loss, differentiated, allow_unused=True)
    return outputs, list(found)


def _compare(program: Program, mode: str, got: Any, expected: tuple, grads: list | None = None, got_grads: Any = None) -> None:
    assert len(got) == len(expected), f"{mode}: {len(got)} outputs, torch gives {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected)):
        where = f"{mode}: output {i} ({program.outputs[i].name})"
        assert isinstance(g, graphc.Tensor), f"{where}: a {type(g).__name__}"
        assert tuple(g.shape) == tuple(e.shape), f"{where}: shape {tuple(g.shape)} != torch's {tuple(e.shape)}"
        assert g.dtype.name == dtype_name(e.dtype), f"{where}: dtype {g.dtype.name} != torch's {dtype_name(e.dtype)}"
        if mode.startswith("lazy"):
            assert g.requires_grad == e.requires_grad, f"{where}: requires_grad {g.requires_grad} != torch's {e.requires_grad}"
        array = g.numpy()
        assert array.shape == tuple(e.shape), f"{where}: realized shape {array.shape}"
        want = (e.detach().float() if e.dtype == torch.bfloat16 else e.detach()).numpy()  # NumPy has no bfloat16
        if e.dtype.is_floating_point:
            _assert_close(array, want, program.tolerance(i), where)
        else:
            assert np.array_equal(array, want), f"{where}: values differ\n got {array}\nwant {want}"
    if grads is not None:
        # Relative to the largest gradient (or 1), in ulps of the lowest precision the gradients pass through.
        scale = max([1.0] + [float(np.abs(e.numpy()).max(initial=0.0)) for e in grads if e is not None])
        tolerance = GRAD_ULPS * program.grad_eps
        for i, (g, e) in enumerate(zip(got_grads, grads)):
            where = f"{mode}: gradient of input {i}"
            if e is None:
                assert g is None or not np.any(g.numpy()), f"{where}: torch gives no gradient, graphc {g}"
                continue
            assert g is not None, f"{where}: graphc gives none"
            _assert_close(g.numpy(), e.numpy(), tolerance * scale, where, rtol=tolerance)


def _assert_close(got: np.ndarray, want: np.ndarray, atol: float, where: str, rtol: float = 0.0) -> None:
    got64, want64 = got.astype(np.float64), want.astype(np.float64)
    same_special = all(np.array_equal(f(got64), f(want64)) for f in (np.isnan, np.isposinf, np.isneginf))
    assert same_special, f"{where}: NaN/inf positions differ\n got {got}\nwant {want}"
    finite = np.isfinite(want64)
    diff = np.abs(got64[finite] - want64[finite])
    bound = atol + rtol * np.abs(want64[finite])
    if diff.size and np.any(diff > bound):
        worst = int(np.argmax(diff - bound))
        raise AssertionError(f"{where}: differs by {diff[worst]:.3g} > tolerance {bound[worst]:.3g}\n got {got}\nwant {want}")


def _run_graphc(program: Program, backend: str, fusion: bool, grads: bool, expected: dict) -> None:
    fn = program.function()

    # Eager-looking code: lazy tensors realized on the chosen backend.
    with graphc.use_backend(backend), graphc.use_fusion(fusion):
        inputs = _graphc_inputs(program, 0, grads)
        outputs = fn(graphc, *inputs)
        _compare(program, f"lazy (fusion={fusion})", outputs, expected[0][0])
        if expected[0][1] is not None:
            loss = _loss(graphc, program, outputs, 0)
            differentiated = [t for t in inputs if t.requires_grad]
            found = graphc.autograd.grad(loss, differentiated, allow_unused=True)
            _compare(program, f"lazy (fusion={fusion})", outputs, expected[0][0], expected[0][1], found)

    # The gradient check's weights are arguments, so the loss reads no size (a size read makes the trace static).
    # Odd seeds accumulate .grad with backward() (written back on every call), even ones return autograd.grad's.
    n_inputs, n = len(program.inputs), len(program.outputs)
    backward = program.seed % 2 == 1

    def step(*args: graphc.Tensor) -> tuple:
        inputs, weights = args[:n_inputs], args[n_inputs:]
        outputs = fn(graphc, *inputs)
        if not grads:
            return outputs
        terms = [(o * w).sum() for o, w in zip(outputs, weights) if o.requires_grad]
        if not terms:
            return outputs
        loss = sum(terms[1:], terms[0])
        if backward:
            loss.backward()
            return tuple(o.detach() for o in outputs)
        differentiated = [t for t in inputs if t.requires_grad]
        return tuple(o.detach() for o in outputs) + tuple(graphc.autograd.grad(loss, differentiated, allow_unused=True))

    if program.eager_only:
        return  # graphc.compile refuses to read a traced value or a mask's count (docs/decisions.md); the lazy run covered it
    compiled = graphc.compile(step, backend=backend, fusion=fusion)
    for call, size in (("call 1", 0), ("call 2 (replay)", 0), ("resized call", 1)):
        inputs = _graphc_inputs(program, size, grads)
        weights = [graphc.tensor(w[size], dtype=o.dtype) for o, w in zip(expected[size][0], program.weights)] if grads else []
        result = compiled(*inputs, *weights)
        want, want_grads = expected[size]
        mode = f"compile (fusion={fusion}) {call}"
        if want_grads is None:
            _compare(program, mode, result[:n], want)
        elif backward:
            _compare(program, mode + " backward()", result[:n], want, want_grads, [t.grad for t in inputs if t.requires_grad])
        else:
            _compare(program, mode, result[:n], want, want_grads, result[n:])


@contextmanager
def _c_loops(enabled: bool) -> Iterator[None]:
    """Compiled NumPy programs with or without their C loops (``GRAPHC_NATIVE``; a build costs seconds)."""
    before = os.environ.get("GRAPHC_NATIVE")
    os.environ["GRAPHC_NATIVE"] = "1" if enabled else "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ["GRAPHC_NATIVE"]
        else:
            os.environ["GRAPHC_NATIVE"] = before


def check_program(seed: int, backend: str) -> str:
    """Run program ``seed`` every way on ``backend``: "ok", or "refused: ..." for a clear GraphcError.

    One seed in ``LOOPS_EVERY`` compiles the NumPy programs with C loops (each is a C build).
    """
    program = generate(seed, large=None if backend == "numpy" else False, bfloat16=backend != "triton")
    grads = program.float_dtype == "float64"
    expected = {size: _torch_reference(program, size, grads) for size in (0, 1)}
    loops = backend == "numpy" and seed % LOOPS_EVERY == 0 and os.environ.get("GRAPHC_NATIVE", "1") != "0"
    try:
        with _c_loops(loops):
            for fusion in (True, False):
                _run_graphc(program, backend, fusion, grads, expected)
    except GraphcError as error:
        return f"refused: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    except AssertionError as error:
        raise AssertionError(f"{program!r}\n{error}") from None
    except Exception as error:
        raise AssertionError(f"{program!r}\ncrashed: {type(error).__name__}: {error}") from error
    return "ok"


def _hunt_seeds() -> list[int]:
    count = int(os.environ.get("GRAPHC_FUZZ_SEEDS", "0"))
    start = int(os.environ.get("GRAPHC_FUZZ_START", "0"))
    return list(range(start, start + count))


def _run(seeds: Any, backend: str) -> None:
    if backend == "triton":
        pytest.importorskip("triton")
    for seed in seeds:
        check_program(seed, backend)


@pytest.mark.parametrize("backend", ["numpy", "triton"])
def test_fuzzed_programs_match_torch(backend: str) -> None:
    _run(DEFAULT_SEEDS[backend], backend)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["numpy", "triton"])
def test_more_fuzzed_programs_match_torch(backend: str) -> None:
    _run(SLOW_SEEDS[backend], backend)


@pytest.mark.skipif(not _hunt_seeds(), reason="set GRAPHC_FUZZ_SEEDS=N to hunt")
@pytest.mark.parametrize("seed", _hunt_seeds() or [0])
def test_chosen_fuzz_seeds(seed: int) -> None:
    """``GRAPHC_FUZZ_SEEDS=N``: seeds from ``GRAPHC_FUZZ_START`` (0) on ``GRAPHC_FUZZ_BACKEND`` (numpy); a refusal is a skip, so ``-rs`` lists them."""
    backend = os.environ.get("GRAPHC_FUZZ_BACKEND", "numpy")
    if backend == "triton":
        pytest.importorskip("triton")
    outcome = check_program(seed, backend)
    if outcome != "ok":
        pytest.skip(outcome)


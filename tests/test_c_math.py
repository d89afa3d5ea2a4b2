"""graphc's own exp, log, tanh, ... of the C loops (graphc/codegen/c_math.py): their errors, and the
same bits from a vectorized loop and a scalar one.

The functions are built as native.py builds a program without libmvec (its FLAGS and OWN_MATH),
one loop per function, into a small library called through ctypes.
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import pytest

from graphc.codegen import native
from graphc.codegen.c_math import C_MATH, FLOAT_FUNCTIONS, FMA, FUNCTIONS

pytestmark = pytest.mark.skipif(native.compiler() is None, reason="no C compiler")

REFERENCE = {
    "exp": np.exp,
    "exp2": np.exp2,
    "expm1": np.expm1,
    "log": np.log,
    "log2": np.log2,
    "log1p": np.log1p,
    "tanh": np.tanh,
    "atan": np.arctan,
    "sin": np.sin,
    "cos": np.cos,
}
EXACT = {
    "exp": mpmath.exp,
    "exp2": lambda v: mpmath.power(2, v),
    "expm1": mpmath.expm1,
    "log": mpmath.log,
    "log2": lambda v: mpmath.log(v, 2),
    "log1p": mpmath.log1p,
    "tanh": mpmath.tanh,
    "atan": mpmath.atan,
}


def _library(folder: Path, name: str, extra: list[str]) -> tuple[ctypes.CDLL, str]:
    """Each function in a loop of its own, built with native.py's flags plus ``extra``; and what GCC said it vectorized."""
    loops = []
    for function in FUNCTIONS:
        for ctype, suffix in (("double", ""), ("float", "f")):
            loop = f"for (long i = 0; i < n; i++) y[i] = graphc_{function}{suffix}(x[i]);"
            loops.append(f"void run_{function}{suffix}(const {ctype} *restrict x, {ctype} *restrict y, long n) {{ {loop} }}")
    for function in FLOAT_FUNCTIONS:
        loop = f"for (long i = 0; i < n; i++) y[i] = graphc_{function}f(x[i]);"
        loops.append(f"void run_{function}f(const float *restrict x, float *restrict y, long n) {{ {loop} }}")
    loop = "for (long i = 0; i < n; i++) z[i] = graphc_powf(x[i], y[i]);"
    loops.append(f"void run_powf(const float *restrict x, const float *restrict y, float *restrict z, long n) {{ {loop} }}")
    source = folder / f"{name}.c"
    source.write_text("#include <math.h>\n#include <stdint.h>\n" + FMA + C_MATH + "\n" + "\n".join(loops))
    output = folder / f"{name}.so"
    flags = [f for f in native.FLAGS if f != "-fvisibility=hidden"]
    cc = native.compiler()
    assert cc is not None
    command = [cc, *flags, *native.OWN_MATH, *extra, "-fopt-info-vec-optimized", "-shared", str(source), "-o", str(output), "-lm"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = source.read_text().splitlines()
    vectorized = {lines[int(n) - 1].split("(")[0].split()[1] for n in re.findall(r":(\d+):\d+: optimized: loop vectorized", done.stderr)}
    return ctypes.CDLL(str(output)), " ".join(sorted(vectorized))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[ctypes.CDLL, str]]]:
    folder = tmp_path_factory.mktemp("c_math")
    yield {"vectorized": _library(folder, "vectorized", []), "scalar": _library(folder, "scalar", ["-fno-tree-vectorize"])}


def _call(library: ctypes.CDLL, name: str, *args: np.ndarray) -> np.ndarray:
    assert all(a.flags.c_contiguous and a.shape == args[0].shape for a in args)
    y = np.empty_like(args[0])
    pointers = [a.ctypes.data_as(ctypes.c_void_p) for a in (*args, y)]
    getattr(library, name)(*pointers, ctypes.c_long(y.size))
    return y


def _floats() -> np.ndarray:
    """Every 4099th float32 bit pattern (both signs, subnormals, inf and NaN among them), and the edges."""
    sweep = np.arange(0, 2**32, 4099, dtype=np.uint64).astype(np.uint32).view(np.float32)
    tiny = np.float32(1e-45)
    edges = [0.0, -0.0, np.inf, -np.inf, np.nan, tiny, -tiny, 1.17549435e-38, -1.17549435e-38, 1.0, -1.0, 2.0, 0.5, 3.4028235e38, -3.4028235e38]
    edges += [88.72283, 88.72284, 88.7, 89.0, -87.33654, -103.27893, -103.97208, -104.0, 127.99999, 128.0, -126.0, -149.0, -150.0, -0.99999994]
    edges += [1e-8, -1e-8, 2**-29, 0.25541282, 0.5493061, 0.55, 0.35, -0.35, 9.0, 10.0, -20.0, 0.70710677, 1.4142135, 1.4142137]
    near_one = np.float32(1.0) + np.arange(-300, 300, dtype=np.float32) * np.float32(2**-23)
    edges = np.array(edges, dtype=np.float32)
    with np.errstate(over="ignore"):
        return np.concatenate([sweep, edges, near_one, np.nextafter(edges[np.isfinite(edges)], np.float32(np.inf))])


def _ulp32(r: np.ndarray) -> np.ndarray:
    """The float32 ulp at each float64 value: 2^(exponent - 23), 2^-149 for subnormals."""
    exponent = np.frexp(np.abs(r))[1].astype(np.float64) - 1
    return np.exp2(np.maximum(exponent, -126) - 23)


@pytest.mark.parametrize("function", FUNCTIONS + FLOAT_FUNCTIONS)
def test_a_float_function_is_within_an_ulp_of_float64_libm_with_its_special_values(function: str, built: dict[str, tuple[ctypes.CDLL, str]]) -> None:
    x = _floats()
    y = _call(built["vectorized"][0], f"run_{function}f", x)
    with np.errstate(all="ignore"):
        r = REFERENCE[function](x.astype(np.float64))
        rounded = r.astype(np.float32)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(r), err_msg=f"{function}f: NaN where float64 libm has none, or none where it has")
    infinite = np.isinf(rounded)
    np.testing.assert_array_equal(y[infinite], rounded[infinite], err_msg=f"{function}f at overflow")
    finite = ~np.isnan(r) & ~infinite
    error = np.abs(y[finite].astype(np.float64) - r[finite]) / _ulp32(r[finite])
    worst = int(np.argmax(error))
    assert error[worst] <= 1.0, f"{function}f({x[finite][worst]!r}) = {y[finite][worst]!r}, float64 libm {r[finite][worst]!r}: {error[worst]:.3f} ulp"
    zeros = finite & (r == 0)
    np.testing.assert_array_equal(np.signbit(y[zeros]), np.signbit(r[zeros]), err_msg=f"{function}f: sign of a zero")


def _doubles(function: str, rng: np.random.Generator) -> np.ndarray:
    spread = np.exp(rng.uniform(-740, 709, 300))
    if function.startswith("log"):
        edges = np.array([5e-324, 2.2250738585072014e-308, 1.0, 2.0, 1.7976931348623157e308])
        points = [spread, 1 + rng.uniform(-0.3, 0.3, 100), rng.uniform(0.01, 3, 100), edges]
        if function == "log1p":
            points += [rng.uniform(-0.999, 0, 100), -np.exp(rng.uniform(-700, -1, 50)), np.exp(rng.uniform(-700, -1, 50))]
        return np.concatenate(points)
    bounds = {"exp": (-745, 709.7), "exp2": (-1074, 1023.9), "expm1": (-40, 709.7), "tanh": (-20, 20), "atan": (-3, 3)}[function]
    tiny = np.exp(rng.uniform(-700, 0, 100)) * rng.choice([-1, 1], 100)
    edges = {
        "exp": [709.78, -708.4, -745.1],
        "exp2": [1023.99, -1022.5, -1074.0],
        "expm1": [709.78, -37.0, 0.34, -0.35],
        "tanh": [0.55, 0.999, 19.9],
        "atan": [0.4375, 0.6875, 1.1875, 2.4375, 1e300, -1e-300],
    }
    return np.concatenate([rng.uniform(*bounds, 300), rng.uniform(-2, 2, 100), tiny, np.array(edges[function])])


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_double_function_is_within_an_ulp_of_the_exact_value(function: str, built: dict[str, tuple[ctypes.CDLL, str]]) -> None:
    x = _doubles(function, np.random.default_rng(FUNCTIONS.index(function)))
    y = _call(built["vectorized"][0], f"run_{function}", x)
    mpmath.mp.prec = 120
    worst = (0.0, 0.0)
    for value, result in zip(x.tolist(), y.tolist()):
        exact = EXACT[function](mpmath.mpf(value))
        if exact == 0:
            assert result == 0, f"{function}({value!r}) = {result!r}, not 0"
            continue
        # the ulp of the exact value: 2^(exponent - 52), 2^-1074 below the normal range
        ulp = mpmath.ldexp(1, max(int(mpmath.floor(mpmath.log(abs(exact), 2))), -1022) - 52)
        error = float(abs(mpmath.mpf(result) - exact) / ulp)
        worst = max(worst, (error, value))
    assert worst[0] <= 1.0, f"{function}({worst[1]!r}): {worst[0]:.3f} ulp"
    with np.errstate(all="ignore"):
        special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, -2.0, 800.0, -800.0, 1100.0, -1100.0])
        np.testing.assert_array_equal(_call(built["vectorized"][0], f"run_{function}", special), REFERENCE[function](special))


def test_a_function_has_the_same_bits_in_a_vectorized_loop_and_a_scalar_one(built: dict[str, tuple[ctypes.CDLL, str]]) -> None:
    vectorized, said = built["vectorized"]
    scalar, said_scalar = built["scalar"]
    expected = [f"run_{f}{s}" for f in FUNCTIONS for s in ("", "f")] + [f"run_{f}f" for f in (*FLOAT_FUNCTIONS, "pow")]
    assert said == " ".join(sorted(expected)), f"GCC vectorized only {said}"
    assert said_scalar == ""
    rng = np.random.default_rng(7)
    for dtype, bits in ((np.float32, np.uint32), (np.float64, np.uint64)):
        x = np.concatenate([rng.integers(0, np.iinfo(bits).max, 200_000, dtype=bits, endpoint=True).view(dtype), rng.uniform(-30, 30, 200_000).astype(dtype)])
        for function in FUNCTIONS + (FLOAT_FUNCTIONS if dtype == np.float32 else ()):
            name = f"run_{function}{'f' if dtype == np.float32 else ''}"
            np.testing.assert_array_equal(_call(vectorized, name, x).view(bits), _call(scalar, name, x).view(bits), err_msg=name)
        if dtype == np.float32:
            y = np.roll(x, 1)
            np.testing.assert_array_equal(_call(vectorized, "run_powf", x, y).view(bits), _call(scalar, "run_powf", x, y).view(bits), err_msg="powf")


def test_the_float_functions_stay_within_an_ulp_without_hardware_fma(tmp_path: Path) -> None:
    """Without FMA, GRAPHC_FMA is a multiplication and an addition: the polynomials round twice."""
    if os.uname().machine not in ("x86_64", "AMD64"):
        pytest.skip("-mno-fma is an x86 flag")
    library, _ = _library(tmp_path, "no_fma", ["-mno-fma"])
    x = np.ascontiguousarray(_floats()[::7])
    for function in FUNCTIONS + FLOAT_FUNCTIONS:
        y = _call(library, f"run_{function}f", x)
        with np.errstate(all="ignore"):
            r = REFERENCE[function](x.astype(np.float64))
            finite = np.isfinite(r) & np.isfinite(r.astype(np.float32))
        assert np.max(np.abs(y[finite].astype(np.float64) - r[finite]) / _ulp32(r[finite])) <= 1.0, function


def _powers() -> tuple[np.ndarray, np.ndarray]:
    """Bases and exponents: random ones whose powers span the floats, and every pair of C's special values."""
    rng = np.random.default_rng(3)
    x = np.exp2(rng.uniform(-150, 128, 100_000))
    y = rng.uniform(-1, 1, x.size) * 140 / np.maximum(np.abs(np.log2(x)), 1)
    near = rng.uniform(0.5, 2, 50_000), rng.uniform(-300, 300, 50_000)
    negative = -rng.uniform(0, 10, 20_000), rng.integers(-40, 40, 20_000).astype(np.float64)
    special = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 0.25, 2.5, -2.5, 2**25 + 2])
    sx, sy = np.meshgrid(special, special)
    bases = np.concatenate([x, near[0], negative[0], sx.ravel()]).astype(np.float32)
    exponents = np.concatenate([y, near[1], negative[1], sy.ravel()]).astype(np.float32)
    return bases, exponents


def test_float_pow_is_within_an_ulp_of_float64_libm_with_its_special_values(built: dict[str, tuple[ctypes.CDLL, str]]) -> None:
    x, y = _powers()
    z = _call(built["vectorized"][0], "run_powf", x, y)
    with np.errstate(all="ignore"):
        r = np.power(x.astype(np.float64), y.astype(np.float64))
        rounded = r.astype(np.float32)
    np.testing.assert_array_equal(np.isnan(z), np.isnan(r), err_msg="powf: NaN where float64 libm has none, or none where it has")
    exact = np.isinf(rounded) | (r == 0)
    np.testing.assert_array_equal(z[exact], rounded[exact], err_msg="powf at an infinity or zero")
    np.testing.assert_array_equal(np.signbit(z[exact]), np.signbit(rounded[exact]), err_msg="powf: the sign of an infinity or zero")
    finite = ~np.isnan(r) & ~exact
    error = np.abs(z[finite].astype(np.float64) - r[finite]) / _ulp32(r[finite])
    worst = int(np.argmax(error))
    assert error[worst] <= 1.0, f"powf({x[finite][worst]!r}, {y[finite][worst]!r}) = {z[finite][worst]!r}, float64 libm {r[finite][worst]!r}"


def test_an_equality_mask_finds_every_column_max_of_each_function_in_compiled_c_loops() -> None:
    """``v == v.amax(0)``: the max's pass and the mask's pass each compute ``v``, in loops vectorized
    differently; with libmvec some columns lost their max. Such a program gets graphc's functions."""
    import torch

    import graphc

    def f(T: Any, x: Any, y: Any) -> list[Any]:
        a = x.abs() + 0.5
        values = [x.exp(), x.expm1(), x.sigmoid(), x.tanh(), x.atan(), x.sin(), x.cos(), a.log(), a.log1p(), a.log2(), (x * 0.7).exp2(), a.pow(y)]
        return [(v == v.amax(0, keepdim=True)).sum(0) for v in values]

    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):  # with libmvec, float64 exp, tanh and pow missed maxes here
        step = graphc.compile(lambda x, y: f(graphc, x, y), backend="numpy")
        for _ in range(3):
            x, y = rng.standard_normal((5, 3)).astype(dtype), rng.standard_normal((5, 3)).astype(dtype)
            for got, expected in zip(step(graphc.tensor(x), graphc.tensor(y)), f(torch, torch.tensor(x), torch.tensor(y))):
                np.testing.assert_array_equal(got.numpy(), expected.numpy())

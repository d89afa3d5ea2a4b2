"""Fit the polynomials of graphc's float32 exp, log, expm1 and tanh and its float64 tanh (graphc/codegen/c_math.py).

    python scripts/fit_c_math.py

The float functions compute in double and round once, so a polynomial needs a relative error
well under 2^-25 (half a float32 ulp), not double precision. Each is a linear least-squares fit
of the relative error on Chebyshev points, reweighted where the error is largest (Lawson), which
pushes it toward the smallest largest error. The float64 tanh's two polynomials need 2^-55 and
more: they interpolate at Chebyshev points in 200-bit arithmetic (mpmath.chebyfit). Prints the
coefficients, highest power first as the C evaluates them, and the largest relative error
against mpmath.
"""

from __future__ import annotations

from collections.abc import Callable

import mpmath
import numpy as np

mpmath.mp.prec = 100
ITERATIONS = 40


Function = Callable[[np.ndarray], np.ndarray]


def fit(target: Callable[[mpmath.mpf], mpmath.mpf], lo: float, hi: float, degree: int, variable: Function) -> tuple[np.ndarray, float]:
    """Coefficients (lowest power first) of P with P(variable(x)) ~ target(x) on [lo, hi], and the largest relative error."""
    k = np.arange(4000)
    x = (lo + hi) / 2 + (hi - lo) / 2 * np.cos(np.pi * (k + 0.5) / k.size)
    y = np.array([float(target(mpmath.mpf(v))) for v in x])
    v = variable(x)
    columns = np.stack([v**i for i in range(degree + 1)], axis=1) / y[:, None]
    weights = np.ones_like(x)
    for _ in range(ITERATIONS):
        coefficients, *_ = np.linalg.lstsq(columns * np.sqrt(weights)[:, None], np.sqrt(weights), rcond=None)
        error = np.abs(np.polyval(coefficients[::-1], v) / y - 1)
        weights = weights * (error / error.max() + 1e-3)
        weights /= weights.mean()
    return coefficients, float(error.max())


def chebyshev(target: Callable[[mpmath.mpf], mpmath.mpf], lo: float, hi: float, terms: int) -> tuple[np.ndarray, float]:
    """Coefficients (lowest power first) of the polynomial interpolating target at Chebyshev points, and its largest relative error."""
    with mpmath.workprec(200):
        coefficients = mpmath.chebyfit(target, [lo, hi], terms)
        error = max(abs(mpmath.polyval(coefficients, v) / target(v) - 1) for v in mpmath.linspace(lo + 1e-30, hi, 1000))
    return np.array([float(c) for c in coefficients[::-1]]), float(error)


def report(name: str, coefficients: np.ndarray, error: float) -> None:
    print(f"{name}: largest relative error {error:.3g} (2^{np.log2(error):.1f})")
    for c in coefficients[::-1]:
        print(f"    {c:.17e}")


if __name__ == "__main__":
    small = 1e-9  # the quotients below are fitted away from 0, where they are their limits
    report("2^r, |r| <= 1/2, in r", *fit(lambda r: mpmath.power(2, r), -0.5, 0.5, 6, lambda r: r))
    root = float(mpmath.sqrt(2))
    report("log(1 + f) / f, f in [sqrt(2)/2 - 1, sqrt(2) - 1], in f", *fit(lambda f: mpmath.log1p(f) / f, root / 2 - 1, root - 1, 10, lambda f: f))
    report("expm1(x) / x, |x| <= ln2/2, in x", *fit(lambda x: mpmath.expm1(x) / x if x else 1, -0.35, 0.35, 6, lambda x: x))
    report("tanh(x) / x, |x| <= 0.55, in x^2", *fit(lambda x: mpmath.tanh(x) / x, small, 0.55, 5, lambda x: x * x))
    # float64 tanh: (tanh(x) - x) / x^3 in z = x^2 below 0.55, and tanh(d + 0.775) for |x| in [0.55, 1]
    cubic = lambda z: (mpmath.tanh(mpmath.sqrt(z)) - mpmath.sqrt(z)) / mpmath.sqrt(z) ** 3  # noqa: E731
    report("(tanh(x) - x) / x^3, |x| <= 0.55, in x^2", *chebyshev(cubic, 0, 0.3025, 11))
    report("tanh(0.775 + d), |d| <= 0.225, in d", *chebyshev(lambda d: mpmath.tanh(d + mpmath.mpf("0.775")), -0.225, 0.225, 15))

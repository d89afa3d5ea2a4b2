"""Fit the polynomials of the Triton backend's atan (graphc/codegen/triton_support.py).

    python scripts/fit_atan.py

After range reduction |t| <= tan(pi/8), atan(t) = t + t z P(z) with z = t^2. P is fitted by
weighted least squares, in 60-digit arithmetic, on Chebyshev nodes of z in [0, tan(pi/8)^2],
with weights that grow where the error is largest (Lawson's iteration), which pushes the fit
toward the smallest largest relative error of atan. Prints, per dtype, the coefficients
(lowest power first; the helper evaluates them highest first) and that error: about 2e-8
(0.3 ulp) for the 4 float32 terms and 1e-18 for the 11 float64 ones, below the rounding
of the arithmetic that evaluates them.
"""

from __future__ import annotations

import mpmath

mpmath.mp.dps = 60
TERMS = {"float32": 4, "float64": 11}
NODES = 400
ITERATIONS = 60


def fit(terms: int) -> tuple[list[float], float]:
    """P's coefficients, lowest power first, and the largest relative error of atan on the nodes."""
    top = mpmath.tan(mpmath.pi / 8) ** 2
    zs = [top * (1 - mpmath.cos(mpmath.pi * (k + 0.5) / NODES)) / 2 for k in range(NODES)]
    roots = [mpmath.sqrt(z) for z in zs]
    target = [(mpmath.atan(t) - t) / (t * z) for t, z in zip(roots, zs)]
    weight = [t * z / mpmath.atan(t) for t, z in zip(roots, zs)]  # a change dP moves atan by t z dP
    lawson = [mpmath.mpf(1) / NODES] * NODES
    for _ in range(ITERATIONS):
        normal = mpmath.matrix(terms, terms)
        right = mpmath.matrix(terms, 1)
        for z, y, w, scale in zip(zs, target, weight, lawson):
            powers = [z**i for i in range(terms)]
            for i in range(terms):
                right[i] += scale * w * w * powers[i] * y
                for j in range(terms):
                    normal[i, j] += scale * w * w * powers[i] * powers[j]
        coefficients = mpmath.lu_solve(normal, right)
        errors = [abs((sum(coefficients[i] * z**i for i in range(terms)) - y) * w) for z, y, w in zip(zs, target, weight)]
        total = sum(scale * e for scale, e in zip(lawson, errors))
        lawson = [scale * e / total for scale, e in zip(lawson, errors)]
    return [float(c) for c in coefficients], float(max(errors))


def main() -> None:
    for dtype, terms in TERMS.items():
        coefficients, error = fit(terms)
        print(f"{dtype}: largest relative error {error:.3g}")
        print("  " + ", ".join(repr(c) for c in coefficients))


if __name__ == "__main__":
    main()

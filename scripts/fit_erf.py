"""Fit the coefficients of graphc_erff, the float32 erf of the C loops (graphc/codegen/native.py).

    python scripts/fit_erf.py

erf(x) is approximated on [0, 4] as x * P(x^2) / Q(x^2) with Q(0) = 1 (erf is odd, and
rounds to 1 in float32 beyond 3.92). The fit is linear least squares on the relative error
of x * P - erf * Q, divided by the previous iteration's Q (Sanathanan-Koerner), with weights
that grow where the error is largest (Lawson), which pushes the fit toward the smallest
largest error. Prints the coefficients, highest power first as the C evaluates them, and
the largest relative error in float64; the float32 error is what tests/test_c_loops.py checks.
"""

from __future__ import annotations

import mpmath
import numpy as np

NUMERATOR_TERMS = 7  # P: degree 6 in x^2
DENOMINATOR_TERMS = 5  # Q: degree 4 in x^2, constant term 1
ITERATIONS = 30


def fit() -> tuple[np.ndarray, np.ndarray, float]:
    """(P, Q) coefficients, lowest power first, and the largest relative error on the grid."""
    x = np.concatenate([np.linspace(1e-4, 4.0, 20000), np.geomspace(1e-6, 1e-1, 2000)])
    target = np.array([float(mpmath.erf(v)) for v in x])
    t = x * x
    previous_q = np.ones_like(x)
    lawson = np.ones_like(x)
    for _ in range(ITERATIONS):
        scale = 1.0 / (target * previous_q)
        columns = [x * t**i for i in range(NUMERATOR_TERMS)] + [-target * t**j for j in range(1, DENOMINATOR_TERMS)]
        system = np.stack(columns, axis=1) * (scale * np.sqrt(lawson))[:, None]
        solution, *_ = np.linalg.lstsq(system, target * scale * np.sqrt(lawson), rcond=None)
        p = solution[:NUMERATOR_TERMS]
        q = np.concatenate([[1.0], solution[NUMERATOR_TERMS:]])
        previous_q = np.polyval(q[::-1], t)
        error = np.abs(x * np.polyval(p[::-1], t) / previous_q - target) / target
        lawson = lawson * np.sqrt(error / error.max() + 1e-3)
        lawson /= lawson.mean()
    return p, q, float(error.max())


def main() -> None:
    p, q, error = fit()
    print(f"largest relative error in float64: {error:.3g}")
    print("P, from x^12 down:", ", ".join(f"{c:.16e}" for c in p[::-1]))
    print("Q, from x^8 down: ", ", ".join(f"{c:.16e}" for c in q[::-1]))


if __name__ == "__main__":
    main()

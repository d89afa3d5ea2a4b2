"""Taylor coefficients of graphc's lgamma and digamma near their zeros (graphc/ir/special_coefficients.py).

    python scripts/fit_special.py

lgamma(2 + t) = (1 - gamma) t + sum_{k >= 2} (-1)^k (zeta(k) - 1) / k t^k converges for |t| < 2;
graphc uses it on |t| <= 1/2, where it keeps the relative accuracy that shifting to a Stirling
series loses near the zeros at 1 and 2. digamma is expanded around its positive zero x0 (the
coefficients are polygamma(k, x0) / k!), for |x - x0| <= 1/4, where psi(x + n) - sum 1/(x + k)
cancels, and around 2 (psi(2 + t) = 1 - gamma + sum_{k >= 1} (-1)^(k+1) (zeta(k + 1) - 1) t^k) between
there and 2.5. Prints the coefficients (lowest power first) and the number of terms per dtype: the
first whose tail on the interval is below a tenth of the dtype's ulp of the function.
"""

from __future__ import annotations

import mpmath
import numpy as np

mpmath.mp.dps = 50
EPS = {"float32": 2.0**-24, "float64": 2.0**-53}


def terms_needed(coefficients: list, radius: float, scale: float, eps: float) -> int:
    """The fewest terms whose remaining terms at |t| = radius sum below eps / 10 of ``scale`` |t|."""
    for n in range(2, len(coefficients)):
        tail = sum(abs(c) * radius**k for k, c in enumerate(coefficients) if k >= n)
        if tail < eps / 10 * scale * radius:
            return n
    raise ValueError("not enough coefficients")


def main() -> None:
    lgamma = [mpmath.mpf(0), 1 - mpmath.euler] + [(-1) ** k * (mpmath.zeta(k) - 1) / k for k in range(2, 60)]
    root = mpmath.findroot(mpmath.digamma, 1.46)
    digamma = [mpmath.polygamma(k, root) / mpmath.factorial(k) for k in range(60)]
    digamma[0] = mpmath.mpf(0)
    digamma_at_2 = [1 - mpmath.euler] + [(-1) ** (k + 1) * (mpmath.zeta(k + 1) - 1) for k in range(1, 60)]
    print("DIGAMMA_ROOT =", float(root), "; low part", float(root - mpmath.mpf(float(root))))
    single = float(np.float32(float(root)))
    print("in float32:", single, "; low part", float(root - mpmath.mpf(single)))
    cases = (("LGAMMA_AT_2", lgamma, 0.5, 0.4), ("DIGAMMA_AT_ROOT", digamma, 0.25, 0.9), ("DIGAMMA_AT_2", digamma_at_2, 0.5, 0.2 / 0.5))
    for name, coefficients, radius, scale in cases:
        for dtype, eps in EPS.items():
            print(name, dtype, "terms:", terms_needed(coefficients, radius, scale, eps))
        n = terms_needed(coefficients, radius, scale, EPS["float64"])
        print(f"{name} = (" + ", ".join(repr(float(c)) for c in coefficients[:n]) + ")")


if __name__ == "__main__":
    main()

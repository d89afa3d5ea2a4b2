"""torch's regularized incomplete gamma functions, igamma = P(a, x) (``special.gammainc``) and
igammac = Q(a, x) = 1 - P(a, x) (``special.gammaincc``), built from primitives.

torch computes them as SciPy's gammainc (Cephes' igam and igamc, Boost's Lanczos sum): the boundary
values first; Temme's uniform asymptotic expansion (DLMF 8.12.3) where a > 20 and x is near a; else
the power series of P (8.11.4) below a, the continued fraction of Q (8.9.2) above, Q's series for
small x (8.7.3), and one minus the other where that keeps the accuracy. Its loops stop at
convergence (2000 steps at most). Here each runs a fixed number of steps that covers every argument
where torch's converge, so every backend fuses the function as any elementwise expression: the
series ``SERIES_TERMS`` terms, the continued fraction evaluated bottom-up from ``FRACTION_LEVELS``
levels, Temme's expansion ``TEMME_ORDERS`` orders of up to ``TEMME_POWERS`` powers of eta. One deliberate
difference: for a >= 200 and 0.6 a < x < a, where the series needs more terms than that (torch's
takes up to 2000 and stops short of convergence from a ~ 1e6 on), and at a = 200 near x (which
torch's bands leave out), Temme's expansion, accurate there, is used. Everything computes in float64, and float32 and half precision round once
(docs/decisions.md, "The regularized incomplete gamma functions").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir import incomplete_gamma_coefficients as k
from graphc.ir.composites import _stated
from graphc.ir.grad_mode import is_grad_enabled
from graphc.ir.graph import Node
from graphc.ir.registry import emit
from graphc.ir.special import erfc, lgamma

MACHEP = 1.11022302462515654042e-16
MAXLOG = 7.09782712893383996843e2
LANCZOS_G = 6.024680040776729583740234375
EXP1 = 2.718281828459045
PI_FLOAT = float(np.float32(math.pi))  # torch's sqrt(2 * c10::pi<float> * a) in the asymptotic expansion, also in float64
SERIES_TERMS = 80  # torch's series takes at most 68 where it converges in under 2000, 0.6 a < x < a excepted
FRACTION_LEVELS = 96  # the bottom-up continued fraction is within an ulp from 89 levels on (x = 1.1, a -> 0)
SMALL_X_TERMS = 24  # Q's series for x <= 1.1: torch's stops within 18
TEMME_ORDERS = 12  # for a > 20 and |eta| <= 1/2, orders 12 to 24 and the powers of eta beyond
TEMME_POWERS = 20  # TEMME_POWERS - k in order k change no bit of the sum (measured against the whole table)
LOG1PMX_TERMS = 40  # log1p(s) - s = s**2 (-1/2 + s/3 - ...) for -0.4 <= s < 0: 0.4**40 / 42 < 1e-17


def _horner(y: Node, coefficients: Sequence[float]) -> Node:
    """The polynomial with these coefficients (highest power first) at y, in torch's order of operations."""
    result = b.add(b.mul(y, coefficients[0]), coefficients[1])
    for c in coefficients[2:]:
        result = b.add(b.mul(result, y), c)
    return result


def _lanczos(a: Node) -> Node:
    """Boost's ``lanczos_sum_expg_scaled(a)`` as torch's ``ratevl``: in 1/a from 1 on."""
    above = b.compare("gt", b.unary("abs", a), 1.0)
    y = b.where(above, b.unary("reciprocal", a), a)
    numerator = b.where(above, _horner(y, k.LANCZOS_NUM[::-1]), _horner(y, k.LANCZOS_NUM))
    denominator = b.where(above, _horner(y, k.LANCZOS_DENOM[::-1]), _horner(y, k.LANCZOS_DENOM))
    return b.div(numerator, denominator)


def _power_factor(a: Node, x: Node, log_gamma: Node) -> Node:
    """x**a e**-x / Gamma(a) (torch's ``_igam_helper_fac``): from logarithms where x is far from a, else
    Lanczos' form, which keeps its relative accuracy where a and x are large and close."""
    ax = b.sub(b.sub(b.mul(a, b.unary("log", x)), x), log_gamma)
    far = b.where(b.compare("lt", ax, -MAXLOG), 0.0, b.unary("exp", ax))
    fac = b.sub(b.add(a, LANCZOS_G), 0.5)
    res = b.div(b.unary("sqrt", b.div(fac, EXP1)), _lanczos(a))
    small = b.mul(b.unary("exp", b.sub(a, x)), b.binary("pow", b.div(x, fac), a))
    num = b.add(b.sub(b.sub(x, a), LANCZOS_G), 0.5)
    numfac = b.div(num, fac)
    large = b.unary("exp", b.add(b.mul(a, b.sub(b.unary("log1p", numfac), numfac)), b.div(b.mul(x, 0.5 - LANCZOS_G), fac)))
    below_200 = b.binary("and", b.compare("lt", a, 200.0), b.compare("lt", x, 200.0))
    near = b.mul(res, b.where(below_200, small, large))
    return b.where(b.compare("gt", b.unary("abs", b.sub(a, x)), b.mul(b.unary("abs", a), 0.4)), far, near)


def _lower_series(a: Node, x: Node, fac: Node) -> Node:
    """P by its power series, fac / a (1 + x/(a+1) + x**2/((a+1)(a+2)) + ...), summed forward as torch's."""
    r, c, total = a, b.full_like(a, 1.0), b.full_like(a, 1.0)
    for _ in range(SERIES_TERMS):
        r = b.add(r, 1.0)
        c = b.mul(c, b.div(x, r))
        total = b.add(total, c)
    return b.where(b.compare("eq", fac, 0), 0.0, b.div(b.mul(total, fac), a))


def _upper_fraction(a: Node, x: Node, fac: Node) -> Node:
    """Q by Legendre's continued fraction fac / (x + 1 - a - 1 (1 - a) / (x + 3 - a - 2 (2 - a) / ...)), from
    the bottom: torch evaluates it top-down until it converges, which it does within these levels."""
    shifted = b.sub(x, a)
    tail: Node | float = 0.0
    for n in range(FRACTION_LEVELS, 0, -1):
        tail = b.div(b.mul(b.sub(float(n), a), float(n)), b.sub(b.add(shifted, 2.0 * n + 1.0), tail))
    return b.where(b.compare("eq", fac, 0), 0.0, b.div(fac, b.sub(b.add(shifted, 1.0), tail)))


def _upper_small_x(a: Node, x: Node, log_gamma: Node) -> Node:
    """Q for x <= 1.1 (DLMF 8.7.3, torch's ``_igamc_helper_series``): 1 - x**a / Gamma(a + 1) less x**a / Gamma(a)
    sum (-x)**n / (n! (a + n)), the first part by expm1, so that neither cancels."""
    fac, total = b.full_like(a, 1.0), b.full_like(a, 0.0)
    for n in range(1, SMALL_X_TERMS + 1):
        fac = b.mul(fac, b.div(b.neg(x), float(n)))
        total = b.add(total, b.div(fac, b.add(a, float(n))))
    log_x = b.unary("log", x)
    first = b.neg(b.unary("expm1", b.sub(b.mul(a, log_x), lgamma(b.add(a, 1.0)))))
    return b.sub(first, b.mul(b.unary("exp", b.sub(b.mul(a, log_x), log_gamma)), total))


def _temme(a: Node, x: Node, lower: bool, torchs: Node) -> Node:
    """P (``lower``) or Q by Temme's expansion: erfc(-+eta sqrt(a/2)) / 2 -+ e**(-a eta**2 / 2) / sqrt(2 pi a)
    sum_k c_k(eta) a**-k, with c_k(eta) = sum_n d[k][n] eta**n. Its terms stop as torch's: before one that
    grows (the series is asymptotic), after one below MACHEP of the sum. Where ``torchs``, as torch's: pi
    rounded to float32 (1e-9 off where P or Q is small) and log1p(sigma) - sigma, which cancels; elsewhere
    (graphc's own use, far from a) pi exact and log1p(sigma) - sigma by its series, as a eta**2 / 2 is
    hundreds there and multiplies the error of eta**2 (torch's form was 5e-12 off at a = 1e7)."""
    sign = -1.0 if lower else 1.0
    sigma = b.div(b.sub(x, a), a)
    ratio = b.div(x, a)
    by_series = b.mul(b.mul(sigma, sigma), _horner(sigma, [(-1.0) ** (m + 1) / (m + 2) for m in reversed(range(LOG1PMX_TERMS))]))
    log1pmx = b.where(torchs, b.sub(b.unary("log1p", sigma), sigma), by_series)
    root = b.unary("sqrt", b.mul(log1pmx, -2.0))
    eta = b.where(b.compare("gt", ratio, 1.0), root, b.where(b.compare("lt", ratio, 1.0), b.neg(root), 0.0))
    res = b.mul(erfc(b.mul(b.mul(eta, sign), b.unary("sqrt", b.div(a, 2.0)))), 0.5)
    powers = [eta]
    for _ in range(2, TEMME_POWERS):
        powers.append(b.mul(eta, powers[-1]))
    total, afac, previous = b.full_like(a, 0.0), b.full_like(a, 1.0), b.full_like(a, math.inf)
    stopped = b.compare("lt", a, -math.inf)  # False
    for order in range(TEMME_ORDERS):
        row = k.TEMME[order]
        ck: Node | float = row[0]
        for n in range(1, TEMME_POWERS - order):
            ck = b.add(ck, b.mul(powers[n - 1], row[n]))
        term = b.mul(ck, afac)
        size = b.unary("abs", term)
        stopped = b.binary("or", stopped, b.compare("gt", size, previous))
        total = b.where(stopped, total, b.add(total, term))
        stopped = b.binary("or", stopped, b.compare("lt", size, b.mul(b.unary("abs", total), MACHEP)))
        previous = size
        afac = b.div(afac, a)
    scale = b.unary("sqrt", b.mul(a, b.where(torchs, b.full_like(a, 2.0 * PI_FLOAT), 2.0 * math.pi)))
    tail = b.div(b.mul(b.mul(b.unary("exp", b.mul(b.mul(b.mul(a, -0.5), eta), eta)), sign), total), scale)
    return b.add(res, tail)


def _interior(a: Node, x: Node, lower: bool) -> Node:
    """P (``lower``) or Q in float64 away from the boundary values, by torch's choice of method (P takes
    Q's where x > 1 and x > a, Q takes P's series where x < a)."""
    log_gamma = lgamma(a)
    fac = _power_factor(a, x, log_gamma)
    series = _lower_series(a, x, fac)
    far = b.div(b.unary("abs", b.sub(x, a)), a)
    asymptotic = b.binary(
        "or",
        b.binary("and", b.binary("and", b.compare("gt", a, 20.0), b.compare("lt", a, 200.0)), b.compare("lt", far, 0.3)),
        b.binary("and", b.compare("gt", a, 200.0), b.compare("lt", far, b.div(4.5, b.unary("sqrt", a)))),
    )
    # graphc's own: where the series would need more than SERIES_TERMS terms (see the module's docstring),
    # a = 200 included, which torch's bands leave out (its series takes 120 terms at x = 199)
    large = b.compare("ge", a, 200.0)
    beyond_series = b.binary("and", large, b.binary("and", b.compare("gt", x, b.mul(a, 0.6)), b.compare("lt", x, a)))
    band = b.binary("and", large, b.compare("lt", far, b.div(4.5, b.unary("sqrt", a))))
    by_temme = b.binary("or", asymptotic, b.binary("or", beyond_series, band))
    one_minus_series = b.sub(1.0, series)
    small_x = _upper_small_x(a, x, log_gamma)
    upper = b.where(
        b.compare("gt", x, 1.1),
        b.where(b.compare("lt", x, a), one_minus_series, _upper_fraction(a, x, fac)),
        b.where(
            b.compare("le", x, 0.5),
            b.where(b.compare("lt", b.div(-0.4, b.unary("log", x)), a), one_minus_series, small_x),
            b.where(b.compare("lt", b.mul(x, 1.1), a), one_minus_series, small_x),
        ),
    )
    value = b.where(b.binary("and", b.compare("gt", x, 1.0), b.compare("gt", x, a)), b.sub(1.0, upper), series) if lower else upper
    return b.where(by_temme, _temme(a, x, lower, asymptotic), value)


def _bounded(a: Node, x: Node, value: Node, lower: bool) -> Node:
    """torch's boundary values: NaN below 0; at a = 0, 1 (P) or 0 (Q) for x > 0, else NaN; at x = 0, 0 or 1;
    at a = inf, 0 or 1 (NaN if x is inf too); at x = inf, 1 or 0. Tested in this order, as torch's."""
    zero, one = (0.0, 1.0) if lower else (1.0, 0.0)
    value = b.where(b.compare("eq", x, math.inf), one, value)
    value = b.where(b.compare("eq", a, math.inf), b.where(b.compare("eq", x, math.inf), math.nan, zero), value)
    value = b.where(b.compare("eq", x, 0), zero, value)
    value = b.where(b.compare("eq", a, 0), b.where(b.compare("gt", x, 0), one, math.nan), value)
    return b.where(b.binary("or", b.compare("lt", x, 0), b.compare("lt", a, 0)), math.nan, value)


def _incomplete(a: Node, x: Node, lower: bool) -> Node:
    dtype = a.dtype
    wide_a, wide_x = (b.cast(v, dtypes.float64) if dtype != dtypes.float64 else v for v in (a, x))
    value = _bounded(wide_a, wide_x, _interior(wide_a, wide_x, lower), lower)
    return b.cast(value, dtype) if dtype != dtypes.float64 else value


def _no_derivative_for_a(a: Node, op: str) -> Node:
    """a as an operand whose derivative raises when asked for, as torch's ``not_implemented("igamma: input")``."""
    wanted = is_grad_enabled() and a.requires_grad
    return emit("custom_vjp", a, a, rule=f"{op}_input_no_derivative") if wanted else a


def igamma(a: Node, x: Node) -> Node:
    """P(a, x) for operands of one float dtype and shape, differentiated for x by torch's formula (``custom.py``)."""
    return _stated(_incomplete(a, x, True), "igamma", _no_derivative_for_a(a, "igamma"), x)


def igammac(a: Node, x: Node) -> Node:
    """Q(a, x) = 1 - P(a, x), as igamma."""
    return _stated(_incomplete(a, x, False), "igammac", _no_derivative_for_a(a, "igammac"), x)

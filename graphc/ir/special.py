"""torch's special functions built from primitives: log-gamma and its derivatives, the error
function's complement, scaled complement and inverse, the normal distribution's functions, and
the modified Bessel functions of order 0 and 1.

Each is an accurate composite (docs/decisions.md, "Special functions"): a series or rational
approximation on the range where it is accurate, recurrences and reflections that reach that
range exactly, and where torch's derivative is a formula of its own, a ``custom_vjp`` carrying it
(rules in ``primitives/custom.py``). The evaluation depth is fixed (recurrences are unrolled a
fixed number of times, each step kept or not by a ``where``), so every backend fuses them as any
elementwise expression. Operands already have the result's float dtype.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from fractions import Fraction

from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir import special_coefficients as k
from graphc.ir.composites import _odd, _stated, half_in_float32, isnan, signbit
from graphc.ir.graph import Node

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
SQRT_PI = math.sqrt(math.pi)
SQRT_2 = math.sqrt(2.0)
# B_2, B_4, ..., B_20: the Bernoulli numbers of the asymptotic (Stirling, Euler-Maclaurin) series.
BERNOULLI = [Fraction(1, 6), Fraction(-1, 30), Fraction(1, 42), Fraction(-1, 30), Fraction(5, 66), Fraction(-691, 2730), Fraction(7, 6)]
BERNOULLI += [Fraction(-3617, 510), Fraction(43867, 798), Fraction(-174611, 330)]


def _in_float64(build: Callable[..., Node]) -> Callable[..., Node]:
    """float32 and half precision computed in float64 and rounded once: the Chebyshev sums of the
    Bessel functions and the powers of cot(pi x) in polygamma's reflection lose up to 14 ulps
    in float32 arithmetic."""

    @functools.wraps(build)
    def wrapper(x: Node, *options: object) -> Node:
        if x.dtype == dtypes.float64:
            return build(x, *options)
        return b.cast(build(b.cast(x, dtypes.float64), *options), x.dtype)

    return wrapper


def _is64(x: Node) -> bool:
    return x.dtype == dtypes.float64


def _horner(x: Node, coefficients: Sequence[float]) -> Node:
    """The polynomial with these coefficients (highest power first) at x."""
    result = b.add(b.mul(x, coefficients[0]), coefficients[1])
    for c in coefficients[2:]:
        result = b.add(b.mul(result, x), c)
    return result


def _series(t: Node, coefficients: Sequence[float]) -> Node:
    """sum c_k t**k for coefficients lowest first with c_0 = 0, as t (c_1 + c_2 t + ...): exact at t = 0."""
    return b.mul(t, _horner(t, list(reversed(coefficients[1:]))))


def _chebyshev(x: Node, coefficients: Sequence[float]) -> Node:
    """Cephes' ``chbevl``: the Chebyshev series (highest order first, x in [-2, 2]) by Clenshaw's recurrence.
    float32 drops the leading terms below its precision."""
    if not _is64(x):
        coefficients = [c for i, c in enumerate(coefficients) if i >= len(coefficients) - 2 or any(abs(d) > 1e-10 for d in coefficients[: i + 1])]
    b0: Node | float = coefficients[0]
    b1: Node | float = 0.0
    b2: Node | float = 0.0
    for c in coefficients[1:]:
        b2, b1 = b1, b0
        b0 = b.add(b.mul(x, b1), c) if isinstance(b2, float) and b2 == 0.0 else b.add(b.sub(b.mul(x, b1), b2), c)
    return b.mul(b.sub(b0, b2), 0.5)


def _cot_pi(x: Node) -> Node:
    """cot(pi x) from r = x - round(x), which is exact: cot has period 1, and pi x is not rounded first.
    cos(pi r) is sin(pi (1/2 - |r|)) beyond |r| = 1/4 (1/2 - |r| exact), else cos(pi/2) would be 6e-17."""
    r = b.sub(x, b.unary("round", x))
    a = b.unary("abs", r)
    cosine = b.where(b.compare("gt", a, 0.25), b.unary("sin", b.mul(b.sub(0.5, a), math.pi)), b.unary("cos", b.mul(r, math.pi)))
    return b.div(cosine, b.unary("sin", b.mul(r, math.pi)))


def _abs_sin_pi(x: Node) -> Node:
    r = b.sub(x, b.unary("round", x))
    return b.unary("abs", b.unary("sin", b.mul(r, math.pi)))


def _power(x: Node, n: int) -> Node:
    """x**n for a positive integer n by repeated squaring (no exp and log)."""
    result = None
    square = x
    while n:
        if n & 1:
            result = square if result is None else b.mul(result, square)
        n >>= 1
        if n:
            square = b.mul(square, square)
    assert result is not None
    return result


# ------------------------------------------------------------------ log-gamma


def _lgamma_positive(y: Node) -> Node:
    """log Gamma(y) for y > 0.

    Stirling's series from 8 on. Below, lgamma(2 + t) = t (c_1 + c_2 t + ...) on |t| <= 1/2 keeps
    the zeros at 1 and 2 relative-accurate: y in [1.5, 8) is brought into [1.5, 2.5) by
    lgamma(y) = log((y - 1) ... u) + lgamma(u) (up to six exact steps of -1), y in [0.5, 1.5) is
    lgamma(2 + (y - 1)) - log1p(y - 1), y below 1/2 is lgamma(2 + y) - log1p(y) - log(y).
    """
    terms = k.LGAMMA_AT_2_TERMS["float64" if _is64(y) else "float32"]
    u, product = y, b.full_like(y, 1.0)
    for _ in range(6):
        down = b.compare("ge", u, 2.5)
        below = b.sub(u, 1.0)
        product = b.where(down, b.mul(product, below), product)
        u = b.where(down, below, u)
    small, middle = b.compare("lt", y, 0.5), b.compare("lt", y, 1.5)
    shifted = b.sub(y, 1.0)
    t = b.where(small, y, b.where(middle, shifted, b.sub(u, 2.0)))
    tiny = b.neg(b.add(b.unary("log1p", y), b.unary("log", y)))
    extra = b.where(small, tiny, b.where(middle, b.neg(b.unary("log1p", shifted)), b.unary("log", product)))
    near = b.add(_series(t, k.LGAMMA_AT_2[:terms]), extra)

    z = b.binary("maximum", y, 8.0)
    w = b.unary("reciprocal", z)
    w2 = b.mul(w, w)
    correction = [float(B / (2 * (i + 1) * (2 * i + 1))) for i, B in enumerate(BERNOULLI[:8])]
    series = b.mul(w, _horner(w2, list(reversed(correction))))
    log_z = b.unary("log", z)
    far = b.add(b.sub(b.mul(z, b.sub(log_z, 1.0)), b.mul(log_z, 0.5)), b.add(series, HALF_LOG_2PI))
    return b.where(b.compare("lt", y, 8.0), near, far)


@half_in_float32
def lgamma(x: Node) -> Node:
    """log |Gamma(x)|: the reflection log(pi / |sin(pi x)|) - lgamma(1 - x) below 0; inf at the poles
    (0 and the negative integers) and at both infinities, as torch."""
    negative = b.compare("lt", x, 0)
    positive = _lgamma_positive(b.where(negative, b.sub(1.0, x), x))
    sine = _abs_sin_pi(x)
    reflected = b.sub(b.sub(math.log(math.pi), b.unary("log", sine)), positive)
    value = b.where(negative, b.where(b.compare("eq", sine, 0), math.inf, reflected), positive)
    value = b.where(b.compare("eq", b.unary("abs", x), math.inf), math.inf, value)
    return _stated(value, "lgamma", x)


def mvlgamma(x: Node, p: int) -> Node:
    """The multivariate log-gamma: sum of lgamma(x - j/2) for j < p, plus p (p - 1) / 4 log(pi)
    (torch 2.13 does not check x > (p - 1) / 2, and neither does graphc)."""
    total = lgamma(x)
    for j in range(1, p):
        total = b.add(total, lgamma(b.sub(x, j / 2)))
    return b.add(total, p * (p - 1) / 4 * math.log(math.pi))


# ------------------------------------------------------------------ digamma and polygamma


def _digamma_positive(y: Node) -> Node:
    """psi(y) for y > 0. Within 1/4 of the positive zero x0 = 1.4616..., a Taylor series around it;
    from there to 2.5 one around 2; (x0 - 1/4 - 1, x0 - 1/4) is brought there by psi(y) = psi(y + 1) - 1/y.
    Elsewhere psi(v) - sum 1/(y + j), with v = y + j >= 10 and the asymptotic series at v (near the
    zero and around 2 these would cancel: 17 ulps at 1.08)."""
    name = "float64" if _is64(y) else "float32"
    v, total = y, b.full_like(y, 0.0)
    for _ in range(10):
        up = b.compare("lt", v, 10.0)
        total = b.where(up, b.add(total, b.unary("reciprocal", v)), total)
        v = b.where(up, b.add(v, 1.0), v)
    z = b.unary("reciprocal", b.mul(v, v))
    correction = [float(B / (2 * (i + 1))) for i, B in enumerate(BERNOULLI[:7])]
    tail = b.mul(z, _horner(z, list(reversed(correction))))
    shifted = b.sub(b.sub(b.sub(b.unary("log", v), b.div(0.5, v)), tail), total)

    high, low = k.DIGAMMA_ROOT[name]
    start = high - 0.25
    below = b.binary("and", b.compare("ge", y, start - 1.0), b.compare("lt", y, start))
    u = b.where(below, b.add(y, 1.0), y)
    t = b.sub(b.sub(u, high), low)
    at_root = _series(t, k.DIGAMMA_AT_ROOT[: k.DIGAMMA_AT_ROOT_TERMS[name]])
    at_2 = _horner(b.sub(u, 2.0), list(reversed(k.DIGAMMA_AT_2[: k.DIGAMMA_AT_2_TERMS[name]])))
    near = b.sub(b.where(b.compare("le", b.unary("abs", t), 0.25), at_root, at_2), b.where(below, b.unary("reciprocal", y), 0.0))
    inside = b.binary("and", b.compare("ge", y, start - 1.0), b.compare("le", y, 2.5))
    return b.where(inside, near, shifted)


@half_in_float32
def digamma(x: Node) -> Node:
    """psi(x) = Gamma'(x) / Gamma(x): psi(1 - x) - pi cot(pi x) below 0; -inf at 0 and inf at -0.0,
    NaN at the negative integers and -inf, as torch."""
    negative = b.compare("lt", x, 0)
    positive = _digamma_positive(b.where(negative, b.sub(1.0, x), x))
    cot = b.mul(_cot_pi(x), math.pi)
    value = b.where(negative, b.where(b.compare("eq", x, b.unary("round", x)), math.nan, b.sub(positive, cot)), positive)
    zero = b.where(signbit(x), math.inf, -math.inf)
    value = b.where(b.compare("eq", x, 0), zero, value)
    return _stated(b.where(b.compare("eq", x, math.inf), math.inf, value), "digamma", x)


def _cot_derivative(n: int) -> list[int]:
    """The coefficients (lowest power first) of Q_n with d^n/du^n cot(u) = Q_n(cot(u)):
    Q_0(c) = c and Q_{m+1}(c) = -Q_m'(c) (1 + c**2), since cot' = -(1 + cot**2)."""
    q = [0, 1]
    for _ in range(n):
        derivative = [i * q[i] for i in range(1, len(q))]
        q = [0] * (len(derivative) + 2)
        for i, c in enumerate(derivative):
            q[i] -= c
            q[i + 2] -= c
    return q


def _zeta_positive(s: int, y: Node) -> Node:
    """Hurwitz's zeta(s, y) = sum over j >= 0 of (y + j)**-s, for an integer s >= 2 and y > 0: the
    first terms until y + j reaches ``start``, then the Euler-Maclaurin tail at v = y + j."""
    start = max(10, 2 * s + 4)
    v, total = y, b.full_like(y, 0.0)
    for _ in range(start):
        up = b.compare("lt", v, float(start))
        total = b.where(up, b.add(total, b.unary("reciprocal", _power(v, s))), total)
        v = b.where(up, b.add(v, 1.0), v)
    w = b.unary("reciprocal", v)
    # v**(1 - s) (1 / (s - 1) + w (1/2 + sum B_2j / (2j)! s (s + 1) ... (s + 2j - 2) w**(2j - 1))), w = 1/v
    terms = []
    for j, B in enumerate(BERNOULLI, start=1):
        rising = math.prod(range(s, s + 2 * j - 1))
        terms.append(float(B * rising / math.factorial(2 * j)))
    series = b.mul(w, _horner(b.mul(w, w), list(reversed(terms))))
    bracket = b.add(1.0 / (s - 1), b.mul(w, b.add(series, 0.5)))
    # v**(1 - s) as 1 / v**(s - 1) (one rounding), or (1/v)**(s - 1) where v**(s - 1) overflows
    power = _power(v, s - 1)
    leading = b.where(b.compare("lt", power, math.inf), b.unary("reciprocal", power), _power(w, s - 1))
    return b.add(total, b.mul(leading, bracket))


def polygamma(n: int, x: Node) -> Node:
    return _polygamma(x, n)


@_in_float64
def _polygamma(x: Node, n: int) -> Node:
    """The n-th derivative of digamma: (-1)**(n+1) n! zeta(n + 1, x) for x > 0, and below 0 the
    n-th derivative of the reflection, (-1)**n psi_n(1 - x) - pi**(n+1) Q_n(cot(pi x)).
    (-1)**(n+1) inf at 0 and the negative integers (torch's zeta), 0 at inf, NaN at -inf."""
    if n == 0:
        return digamma(x)
    negative = b.compare("lt", x, 0)
    scale = (-1) ** (n + 1) * math.factorial(n)
    positive = b.mul(_zeta_positive(n + 1, b.where(negative, b.sub(1.0, x), x)), float(scale))
    cot = _cot_pi(x)
    q = _cot_derivative(n)
    # Q_n has only odd or only even powers: Q_n(c) = c**(n+1 mod 2) R(c**2), no cancellation.
    parity = (n + 1) % 2
    squares = [q[i] for i in range(parity, len(q), 2)]
    cot_term = _horner(b.mul(cot, cot), [float(c) for c in reversed(squares)]) if len(squares) > 1 else b.full_like(x, float(squares[0]))
    if parity:
        cot_term = b.mul(cot_term, cot)
    reflected = b.sub(b.mul(positive, float((-1) ** n)), b.mul(cot_term, math.pi ** (n + 1)))
    pole = b.compare("eq", x, b.unary("round", b.binary("minimum", x, 0.0)))
    value = b.where(negative, reflected, positive)
    value = b.where(pole, (-1) ** (n + 1) * math.inf, value)
    value = b.where(b.compare("eq", x, math.inf), 0.0, b.where(b.compare("eq", x, -math.inf), math.nan, value))
    return _stated(value, f"polygamma_{n}", x)


# ------------------------------------------------------------------ error functions


def _exp_square(x: Node, sign: float, scale: float = 1.0) -> Node:
    """exp(sign * scale * x**2) without the error of rounding x**2 (which exp multiplies by x**2):
    x = h + l with h a multiple of 1/16, so h**2 is exact and (x - h)(x + h) small. |x| is taken at most
    40, where the result is 0 or inf already (infinite x would make x - h NaN)."""
    x = b.binary("maximum", b.binary("minimum", x, 40.0), -40.0)
    h = b.div(b.unary("round", b.mul(x, 16.0)), 16.0)
    low = b.mul(b.sub(x, h), b.add(x, h))
    return b.mul(b.unary("exp", b.mul(b.mul(h, h), sign * scale)), b.unary("exp", b.mul(low, sign * scale)))


def _erfc_scaled_tail(a: Node) -> Node:
    """erfc(a) exp(a**2) for a >= 1: Cephes' rational functions, and the asymptotic series
    1/(a sqrt(pi)) (1 - 1/(2a^2) + 3/(4a^4) - ...) from 64 on (the rational ones overflow far out)."""
    middle = b.binary("minimum", a, 8.0)
    outer = b.binary("minimum", a, 64.0)
    rational = b.where(
        b.compare("lt", a, 8.0),
        b.div(_horner(middle, k.ERFC_P), _horner(middle, k.ERFC_Q)),
        b.div(_horner(outer, k.ERFC_R), _horner(outer, k.ERFC_S)),
    )
    far = b.binary("maximum", a, 64.0)
    w = b.unary("reciprocal", b.mul(b.mul(far, far), 2.0))
    asymptotic = b.div(b.div(_horner(w, [105.0, -15.0, 3.0, -1.0, 1.0]), far), SQRT_PI)  # a sqrt(pi) overflows at 3e38
    return b.where(b.compare("lt", a, 64.0), rational, asymptotic)


def _erfc_nonnegative(a: Node) -> Node:
    """erfc(a) for a >= 0: 1 - erf(a) below 1, exp(-a**2) times the scaled tail from there."""
    return b.where(b.compare("lt", a, 1.0), b.sub(1.0, b.unary("erf", a)), b.mul(_exp_square(a, -1.0), _erfc_scaled_tail(a)))


def _erfcx_nonnegative(a: Node) -> Node:
    return b.where(b.compare("lt", a, 1.0), b.mul(_exp_square(a, 1.0), b.sub(1.0, b.unary("erf", a))), _erfc_scaled_tail(a))


@half_in_float32
def erfc(x: Node) -> Node:
    """1 - erf(x), relative-accurate where it is tiny (not 1 - erf(x), which is 0 from 6 on in float64)."""
    a = b.unary("abs", x)
    positive = _erfc_nonnegative(a)
    return _stated(b.where(b.compare("lt", x, 0), b.sub(2.0, positive), positive), "erfc", x)


@half_in_float32
def erfcx(x: Node) -> Node:
    """exp(x**2) erfc(x) without overflow for large x: 2 exp(x**2) - erfcx(-x) below 0."""
    positive = _erfcx_nonnegative(b.unary("abs", x))
    negative = b.sub(b.mul(_exp_square(x, 1.0), 2.0), positive)
    return _stated(b.where(b.compare("lt", x, 0), negative, positive), "erfcx", x)


def _inverse_erfc(q: Node, a: Node) -> Node:
    """The x >= 0 with erfc(x) = q and erf(x) = a (a = 1 - q, both exact), for q in (0, 1].

    First guess: Giles' polynomials, and beyond their range (q < 1e-7) the asymptotic
    x = t - log(t sqrt(pi)) / (2t), t = sqrt(-log q). Then Newton's method: on erf(x) - a where
    a < 1/2, and on log(erfc(x)) - log(q) (= log(erfcx(x)) - x**2 - log q, nearly linear in the
    tail) elsewhere, so the tail keeps its relative accuracy down to the smallest q.
    """
    w = b.neg(b.unary("log", b.mul(q, b.sub(2.0, q))))
    central = b.mul(_horner(b.sub(w, 2.5), k.ERFINV_CENTRAL), a)
    tail = b.mul(_horner(b.sub(b.unary("sqrt", w), 3.0), k.ERFINV_TAIL), a)
    t = b.unary("sqrt", b.neg(b.unary("log", q)))
    asymptotic = b.sub(t, b.div(b.unary("log", b.mul(t, SQRT_PI)), b.mul(t, 2.0)))
    x = b.where(b.compare("lt", w, 5.0), central, b.where(b.compare("lt", w, 16.0), tail, asymptotic))
    centre = b.compare("lt", a, 0.5)
    log_q = b.unary("log", q)
    for _ in range(3 if _is64(q) else 2):
        by_erf = b.sub(x, b.mul(b.mul(b.sub(b.unary("erf", x), a), _exp_square(x, 1.0)), SQRT_PI / 2))
        scaled = _erfcx_nonnegative(x)
        h = b.sub(b.sub(b.unary("log", scaled), b.mul(x, x)), log_q)
        by_log = b.add(x, b.mul(b.mul(h, scaled), SQRT_PI / 2))
        x = b.where(centre, by_erf, by_log)
    return x


@half_in_float32
def erfinv(x: Node) -> Node:
    """The inverse of erf on [-1, 1]: +-inf at +-1, NaN outside."""
    a = b.unary("abs", x)
    magnitude = _inverse_erfc(b.sub(1.0, a), a)
    magnitude = b.where(b.compare("eq", a, 1.0), math.inf, b.where(b.compare("gt", a, 1.0), math.nan, magnitude))
    return _stated(_odd(magnitude, x), "erfinv", x)


@half_in_float32
def ndtr(x: Node) -> Node:
    """The standard normal distribution function: 1/2 + erf(x / sqrt 2)/2 within |x| < 1, else
    erfc(|x| / sqrt 2)/2 with its exp(-x**2 / 2) taken from x itself (from the rounded x / sqrt 2 it
    would lose x**2 ulps), and 1 minus that above 0."""
    z = b.div(x, SQRT_2)
    a = b.unary("abs", z)
    tail = b.mul(b.mul(_exp_square(x, -1.0, 0.5), _erfc_scaled_tail(b.binary("maximum", a, 1.0))), 0.5)
    tail = b.where(b.compare("lt", x, 0), tail, b.sub(1.0, tail))
    centre = b.add(b.mul(b.unary("erf", z), 0.5), 0.5)
    return _stated(b.where(b.compare("lt", a, 1.0), centre, tail), "ndtr", x)


@half_in_float32
def log_ndtr(x: Node) -> Node:
    """log(ndtr(x)): log(erfcx(-x / sqrt 2) / 2) - x**2 / 2 below -1 (no underflow), log1p(-ndtr(-x)) above."""
    z = b.div(b.neg(x), SQRT_2)
    low = b.sub(b.unary("log", b.mul(_erfcx_nonnegative(b.binary("maximum", z, 0.0)), 0.5)), b.mul(b.mul(x, x), 0.5))
    high = b.unary("log1p", b.neg(ndtr(b.neg(x))))
    value = b.where(b.compare("lt", x, -1.0), low, high)
    return _stated(b.where(b.compare("eq", x, -math.inf), -math.inf, value), "log_ndtr", x)


@half_in_float32
def ndtri(p: Node) -> Node:
    """The inverse of ndtr on [0, 1]: -sqrt 2 erfcinv(2p) below 1/2, sqrt 2 erfcinv(2 (1 - p)) above
    (both arguments exact); +-inf at 0 and 1, NaN outside."""
    lower = b.compare("lt", p, 0.5)
    q = b.where(lower, b.mul(p, 2.0), b.mul(b.sub(1.0, p), 2.0))
    magnitude = b.mul(_inverse_erfc(q, b.sub(1.0, q)), SQRT_2)
    value = b.where(lower, b.neg(magnitude), magnitude)
    value = b.where(b.compare("eq", p, 0), -math.inf, b.where(b.compare("eq", p, 1), math.inf, value))
    outside = b.binary("or", b.compare("lt", p, 0), b.compare("gt", p, 1))
    return _stated(b.where(outside, math.nan, value), "ndtri", p)


# ------------------------------------------------------------------ modified Bessel functions


def _bessel_scaled(a: Node, near: Sequence[float], far: Sequence[float], order: int) -> Node:
    """exp(-a) I_order(a) for a >= 0: Cephes' Chebyshev series on [0, 8] and in 32/a - 2 beyond."""
    inner = _chebyshev(b.sub(b.mul(b.binary("minimum", a, 8.0), 0.5), 2.0), near)
    if order:
        inner = b.mul(inner, a)
    outer_a = b.binary("maximum", a, 8.0)
    outer = b.div(_chebyshev(b.sub(b.div(32.0, outer_a), 2.0), far), b.unary("sqrt", outer_a))
    return b.where(b.compare("le", a, 8.0), inner, outer)


def _unscaled(a: Node, scaled: Node) -> Node:
    """exp(a) times the scaled function, as (exp(a/2) scaled) exp(a/2): finite wherever I is (torch's
    exp(a) overflows from 709.8 on, and its I0 of inf is NaN; here it is inf)."""
    half = b.unary("exp", b.mul(a, 0.5))
    return b.where(b.compare("eq", a, math.inf), math.inf, b.mul(b.mul(half, scaled), half))


@_in_float64
def i0e(x: Node) -> Node:
    return _stated(_bessel_scaled(b.unary("abs", x), k.I0_A, k.I0_B, 0), "i0e", x)


@_in_float64
def i0(x: Node) -> Node:
    a = b.unary("abs", x)
    return _stated(_unscaled(a, _bessel_scaled(a, k.I0_A, k.I0_B, 0)), "i0", x)


def _signed(magnitude: Node, x: Node) -> Node:
    """I1 is odd; -0.0 gives 0.0, as torch's (Cephes') sign test x < 0."""
    return b.where(b.compare("lt", x, 0), b.neg(magnitude), magnitude)


@_in_float64
def i1e(x: Node) -> Node:
    return _stated(_signed(_bessel_scaled(b.unary("abs", x), k.I1_A, k.I1_B, 1), x), "i1e", x)


@_in_float64
def i1(x: Node) -> Node:
    a = b.unary("abs", x)
    return _stated(_signed(_unscaled(a, _bessel_scaled(a, k.I1_A, k.I1_B, 1)), x), "i1", x)


@half_in_float32
def spherical_bessel_j0(x: Node) -> Node:
    """sin(x) / x: 1 at 0, 0 at +-inf (torch gives it no derivative: callers detach it)."""
    value = b.where(b.compare("eq", x, 0), 1.0, b.div(b.unary("sin", x), x))
    return b.where(b.compare("eq", b.unary("abs", x), math.inf), 0.0, value)


# ------------------------------------------------------------------ entropy-like products


@half_in_float32
def xlog1py(x: Node, y: Node) -> Node:
    """x * log1p(y), 0 where x is 0 (even where log1p(y) is -inf), NaN where y is NaN, as torch."""
    value = b.where(b.compare("eq", x, 0), 0.0, b.mul(x, b.unary("log1p", y)))
    return _stated(b.where(isnan(y), math.nan, value), "xlog1py", x, y)


@half_in_float32
def entr(x: Node) -> Node:
    """-x log(x) for x > 0, 0 at 0, -inf below 0 (NaN stays NaN)."""
    positive = b.neg(b.mul(x, b.unary("log", b.binary("maximum", x, 0.0))))
    value = b.where(b.compare("gt", x, 0), positive, b.where(b.compare("eq", x, 0), 0.0, -math.inf))
    return _stated(b.where(isnan(x), x, value), "entr", x)

"""graphc's own exp, log, tanh, ... for the C loops: the same bits whether GCC vectorizes a loop or not.

A loop that vectorizes calls glibc's libmvec (``_ZGVdN8v_expf``), one that does not calls libm's
``expf``, and the two can differ in the last bit; a value computed in two loops (a reduction's two
passes) then does not compare equal to itself (docs/decisions.md, "A value compared for equality
is computed once"). These functions are plain arithmetic, so a vectorized loop runs the same
operations on each lane as a scalar loop on its one element. No branches: a loop vectorizes only
if its body is selects, so every case is computed and the right one selected. They are 1.6 to 10
times slower than libmvec's, so only programs that compare floats for equality get them
(``native.build(vector_math=False)``).

Such a build has ``-ffp-contract=off`` (``native.OWN_MATH``): GCC's default (``fast``) fuses a
product into an addition where it sees one, which is not the same in every loop. Polynomials here
say ``GRAPHC_FMA``: one rounding with hardware FMA, two without; the algorithms do not need the
FMA to be exact.

The double functions are fdlibm's algorithms written without branches (tanh below 1 polynomials).
The float ones compute in double and round once. Float64 sin, cos, pow and erf stay libm's
(docs/decisions.md). tests/test_c_math.py checks the errors.
"""

from __future__ import annotations

# The op names c_loops lowers to these functions (float: the name with an f), and those only in float.
FUNCTIONS = ("exp", "exp2", "expm1", "log", "log2", "log1p", "tanh", "atan")
FLOAT_FUNCTIONS = ("sin", "cos")
# The C names (pow: graphc_powf): graphc_<name> is libm's <name> where libmvec is used (native.PRELUDE).
NAMES = tuple(f"{name}{suffix}" for name in FUNCTIONS for suffix in ("", "f")) + tuple(f"{name}f" for name in (*FLOAT_FUNCTIONS, "pow"))

# a * b + c in one rounding where the machine has FMA (-march=native), else in two; never left to the compiler.
FMA = r"""
#if defined(__FP_FAST_FMA)
#define GRAPHC_FMA(a, b, c) __builtin_fma((a), (b), (c))
#define GRAPHC_FMAF(a, b, c) __builtin_fmaf((a), (b), (c))
#else
#define GRAPHC_FMA(a, b, c) ((a) * (b) + (c))
#define GRAPHC_FMAF(a, b, c) ((a) * (b) + (c))
#endif
"""

C_MATH = r"""
static inline uint64_t graphc_bits(double x)
{
    union { double d; uint64_t u; } v = {x};
    return v.u;
}

static inline double graphc_double(uint64_t u)
{
    union { uint64_t u; double d; } v = {u};
    return v.d;
}

#define GRAPHC_SHIFTER 0x1.8p52

/* x rounded to an integral double (|x| < 2^51), halves to even. */
static inline double graphc_round(double x)
{
    return (x + GRAPHC_SHIFTER) - GRAPHC_SHIFTER;
}

/* 2^k for an integral double k in [-1022, 1023]: k + 1023 in the exponent field. */
static inline double graphc_pow2(double k)
{
    return graphc_double(graphc_bits(k + (GRAPHC_SHIFTER + 1023.0)) << 52);
}

/* y 2^k for an integral k in [-1080, 1030], in two factors: 2^k alone leaves the doubles below
   2^-1022 and at 2^1024. The first product is exact, the second rounds once. */
static inline double graphc_scale(double y, double k)
{
    double half = floor(k * 0.5);
    return y * graphc_pow2(half) * graphc_pow2(k - half);
}

static const double graphc_ln2_hi = 6.93147180369123816490e-01; /* 32 bits: k ln2_hi is exact */
static const double graphc_ln2_lo = 1.90821492927058770002e-10;
static const double graphc_inv_ln2 = 1.44269504088896338700e+00;

/* exp(r) for r = hi - lo, |r| <= ln2/2: fdlibm's 1 + r + r c / (2 - c), c = r - r^2 P(r^2). */
static inline double graphc_exp_kernel(double hi, double lo)
{
    double r = hi - lo;
    double t = r * r;
    double p = GRAPHC_FMA(t, 4.13813679705723846039e-08, -1.65339022054652515390e-06);
    p = GRAPHC_FMA(t, p, 6.61375632143793436117e-05);
    p = GRAPHC_FMA(t, p, -2.77777777770155933842e-03);
    p = GRAPHC_FMA(t, p, 1.66666666666666019037e-01);
    double c = r - t * p;
    return 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
}

/* fdlibm's exp: x = k ln2 + r. */
static inline double graphc_exp(double x)
{
    double a = x > 709.8 ? 709.8 : (x < -745.2 ? -745.2 : x);
    double k = graphc_round(a * graphc_inv_ln2);
    double hi = a - k * graphc_ln2_hi;
    double y = graphc_scale(graphc_exp_kernel(hi, k * graphc_ln2_lo), k);
    return x > 709.8 ? (double)INFINITY : (x < -745.2 ? 0.0 : y);
}

/* 2^x = 2^k exp(f ln2), x = k + f, |f| <= 1/2; f ln2 as hi - lo with hi exact (f cut to 21 bits). */
static inline double graphc_exp2(double x)
{
    double a = x > 1024.5 ? 1024.5 : (x < -1080.5 ? -1080.5 : x);
    double k = graphc_round(a);
    double f = a - k;
    double f_hi = graphc_double(graphc_bits(f) & 0xffffffff00000000ULL);
    double hi = f_hi * graphc_ln2_hi;
    double lo = -((f - f_hi) * graphc_ln2_hi + f * graphc_ln2_lo);
    double y = graphc_scale(graphc_exp_kernel(hi, lo), k);
    return x >= 1024.0 ? (double)INFINITY : (x < -1080.0 ? 0.0 : y);
}

/* fdlibm's expm1: x = k ln2 + r (r = hi - lo, c what r lost), expm1(r) from a rational function
   of r, then 2^k (expm1(r) + 1) - 1 arranged per k so that nothing cancels. */
static inline double graphc_expm1(double x)
{
    double a = x > 709.8 ? 709.8 : (x < -40.0 ? -40.0 : x);
    double k = graphc_round(a * graphc_inv_ln2);
    double hi = a - k * graphc_ln2_hi;
    double lo = k * graphc_ln2_lo;
    double r = hi - lo;
    double c = (hi - r) - lo;
    double hfx = 0.5 * r;
    double hxs = r * hfx;
    double q = GRAPHC_FMA(hxs, -2.01099218183624371326e-07, 4.00821782732936239552e-06);
    q = GRAPHC_FMA(hxs, q, -7.93650757867487942473e-05);
    q = GRAPHC_FMA(hxs, q, 1.58730158725481460165e-03);
    q = GRAPHC_FMA(hxs, q, -3.33333333333331316428e-02);
    double r1 = 1.0 + hxs * q;
    double t = 3.0 - r1 * hfx;
    double e = hxs * ((r1 - t) / (6.0 - r * t));
    double small = r - (r * e - hxs); /* k == 0 */
    e = (r * (e - c) - c) - hxs;
    double minus_one = 0.5 * (r - e) - 0.5;
    double plus_one = r < -0.25 ? -2.0 * (e - (r + 0.5)) : 1.0 + 2.0 * (r - e);
    double twopk1 = graphc_pow2(k - 1.0);
    double twomk = graphc_pow2(k > 56.0 ? 0.0 : -k);
    double far = (r - e + 1.0) * twopk1 * 2.0 - 1.0;
    double near = (r - e + (1.0 - twomk)) * twopk1 * 2.0;
    double middle = (r - (e + twomk) + 1.0) * twopk1 * 2.0;
    /* One comparison per select: GCC 12 does not vectorize a select on two comparisons' || here. */
    double y = k < 20.0 ? near : middle;
    y = k > 56.0 ? far : y;
    y = k < -1.0 ? far : y;
    y = k == 1.0 ? plus_one : y;
    y = k == -1.0 ? minus_one : y;
    y = k == 0.0 ? small : y;
    y = x < -40.0 ? -1.0 : y;
    return x > 709.8 ? (double)INFINITY : y;
}

/* fdlibm's log(1 + f) - f + f^2/2 = s (f^2/2 + R(s^2)), s = f / (2 + f), f in [sqrt(2)/2 - 1, sqrt(2) - 1]. */
static inline double graphc_log_rest(double f, double hfsq)
{
    double s = f / (2.0 + f);
    double z = s * s;
    double w = z * z;
    double t1 = GRAPHC_FMA(w, 1.531383769920937332e-01, 2.222219843214978396e-01);
    t1 = GRAPHC_FMA(w, t1, 3.999999999940941908e-01);
    double t2 = GRAPHC_FMA(w, 1.479819860511658591e-01, 1.818357216161805012e-01);
    t2 = GRAPHC_FMA(w, t2, 2.857142874366239149e-01);
    t2 = GRAPHC_FMA(w, t2, 6.666666666666735130e-01);
    return s * (hfsq + (z * t2 + w * t1));
}

/* x = 2^k m with m in [sqrt(2)/2, sqrt(2)): returns m - 1 (exact) and sets k; x positive
   (a subnormal is scaled by 2^54 first). */
static inline double graphc_log_split(double x, double *k)
{
    int tiny = x < 0x1p-1022;
    uint64_t bits = graphc_bits(tiny ? x * 0x1p54 : x);
    double m = graphc_double((bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL);
    double e = graphc_double((bits >> 52) | 0x4330000000000000ULL) - (0x1p52 + 1023.0);
    int big = m > 1.41421356237309504880;
    *k = (big ? e + 1.0 : e) - (tiny ? 54.0 : 0.0);
    return (big ? m * 0.5 : m) - 1.0;
}

/* y where log(x) is finite; at 0 -inf, below it NaN, at inf inf, NaN for NaN. */
static inline double graphc_log_special(double x, double y)
{
    y = x == 0.0 ? -(double)INFINITY : y;
    y = x < 0.0 ? (double)NAN : y;
    y = x == (double)INFINITY ? x : y;
    return x != x ? x : y;
}

static inline double graphc_log(double x)
{
    double k;
    double f = graphc_log_split(x, &k);
    double hfsq = 0.5 * f * f;
    double y = k * graphc_ln2_hi - ((hfsq - (graphc_log_rest(f, hfsq) + k * graphc_ln2_lo)) - f);
    return graphc_log_special(x, y);
}

/* fdlibm's log2: log(1 + f) as hi + lo with hi's low 32 bits zero, times 1/ln2 in two parts. */
static inline double graphc_log2(double x)
{
    double k;
    double f = graphc_log_split(x, &k);
    double hfsq = 0.5 * f * f;
    double rest = graphc_log_rest(f, hfsq);
    double hi = graphc_double(graphc_bits(f - hfsq) & 0xffffffff00000000ULL);
    double lo = (f - hi) - hfsq + rest;
    double val_hi = hi * 1.44269504072144627571e+00;
    double val_lo = (lo + hi) * 1.67517131648865118353e-10 + lo * 1.44269504072144627571e+00;
    double w = k + val_hi;
    val_lo += (k - w) + val_hi;
    return graphc_log_special(x, val_lo + w);
}

/* fdlibm's log1p: log(u), u = 1 + x rounded, plus c / u, c what the rounding lost. */
static inline double graphc_log1p(double x)
{
    double u = 1.0 + x;
    double k;
    double m = graphc_log_split(u, &k);
    double c = u >= 2.0 ? 1.0 - (u - x) : x - (u - 1.0); /* exact: Sterbenz */
    c = k >= 54.0 ? 0.0 : c / u;
    c = k == 0.0 ? 0.0 : c;
    double f = k == 0.0 ? x : m;
    double hfsq = 0.5 * f * f;
    double y = k * graphc_ln2_hi - ((hfsq - (graphc_log_rest(f, hfsq) + (k * graphc_ln2_lo + c))) - f);
    y = x == -1.0 ? -(double)INFINITY : y;
    y = x < -1.0 ? (double)NAN : y;
    y = x == (double)INFINITY ? x : y;
    return x != x ? x : y;
}

/* tanh: below 0.55 x + x^3 P(x^2), P fitted to 2^-55 (scripts/fit_c_math.py), whose term is under a
   twentieth of the result; up to 1 a polynomial Q(|x| - 0.775) fitted to 2^-57; above, fdlibm's
   1 - 2 / (expm1(2|x|) + 2), which is up to 1.3 ulp off below 0.8. Odd; 1 beyond 20. */
static inline double graphc_tanh(double x)
{
    double a = fabs(x);
    double z = x * x;
    double p = GRAPHC_FMA(z, -2.0602765376366342e-5, 8.5113136855776716e-5);
    p = GRAPHC_FMA(z, p, -2.3463474108872371e-4);
    p = GRAPHC_FMA(z, p, 5.8893605200740578e-4);
    p = GRAPHC_FMA(z, p, -1.455661830100716e-3);
    p = GRAPHC_FMA(z, p, 3.5921103786890239e-3);
    p = GRAPHC_FMA(z, p, -8.8632343978143548e-3);
    p = GRAPHC_FMA(z, p, 2.1869488493666942e-2);
    p = GRAPHC_FMA(z, p, -5.3968253967434015e-2);
    p = GRAPHC_FMA(z, p, 1.3333333333332715e-1);
    p = GRAPHC_FMA(z, p, -3.3333333333333333e-1);
    double small = GRAPHC_FMA(x * z, p, x);
    double d = a - 0.775;
    double q = GRAPHC_FMA(d, -2.220971578239806e-4, 7.4999709898015062e-4);
    q = GRAPHC_FMA(d, q, -4.3893022047237895e-4);
    q = GRAPHC_FMA(d, q, -1.6976893373645598e-3);
    q = GRAPHC_FMA(d, q, 3.9748156574444249e-3);
    q = GRAPHC_FMA(d, q, -9.4666428967211304e-4);
    q = GRAPHC_FMA(d, q, -1.07260633372141e-2);
    q = GRAPHC_FMA(d, q, 1.9529863125322197e-2);
    q = GRAPHC_FMA(d, q, 2.6053240531916677e-3);
    q = GRAPHC_FMA(d, q, -6.391109657770369e-2);
    q = GRAPHC_FMA(d, q, 9.1749512200534606e-2);
    q = GRAPHC_FMA(d, q, 5.138418242899736e-2);
    q = GRAPHC_FMA(d, q, -3.754210954237676e-1);
    q = GRAPHC_FMA(d, q, 5.7772426745771892e-1);
    q = GRAPHC_FMA(d, q, 6.4982746367192036e-1);
    double y = 1.0 - 2.0 / (graphc_expm1(2.0 * (a > 20.0 ? 20.0 : a)) + 2.0);
    y = a < 1.0 ? q : y;
    y = a < 0.55 ? small : copysign(y, x);
    return x != x ? x : y;
}

/* fdlibm's atan: |x| below 7/16 as is, else reduced to t = (|x| - c) / (1 + |x| c) around c = 1/2,
   1, 3/2 or infinity (t = -1/|x|), atan(c) added in two parts; an odd polynomial in t. */
static inline double graphc_atan(double x)
{
    double a = fabs(x);
    int half = a >= 0.4375, one = a >= 0.6875, three_halves = a >= 1.1875, far = a >= 2.4375;
    double num = half ? 2.0 * a - 1.0 : a;
    double den = half ? 2.0 + a : 1.0;
    double hi = half ? 4.63647609000806093515e-01 : 0.0;
    double lo = half ? 2.26987774529616870924e-17 : 0.0;
    num = one ? a - 1.0 : num;
    den = one ? a + 1.0 : den;
    hi = one ? 7.85398163397448278999e-01 : hi;
    lo = one ? 3.06161699786838301793e-17 : lo;
    num = three_halves ? a - 1.5 : num;
    den = three_halves ? 1.0 + 1.5 * a : den;
    hi = three_halves ? 9.82793723247329054082e-01 : hi;
    lo = three_halves ? 1.39033110312309984516e-17 : lo;
    num = far ? -1.0 : num;
    den = far ? a : den;
    hi = far ? 1.57079632679489655800e+00 : hi;
    lo = far ? 6.12323399573676603587e-17 : lo;
    double t = num / den;
    double z = t * t;
    double w = z * z;
    double s1 = GRAPHC_FMA(w, 1.62858201153657823623e-02, 4.97687799461593236017e-02);
    s1 = GRAPHC_FMA(w, s1, 6.66107313738753120669e-02);
    s1 = GRAPHC_FMA(w, s1, 9.09088713343650656196e-02);
    s1 = GRAPHC_FMA(w, s1, 1.42857142725034663711e-01);
    s1 = GRAPHC_FMA(w, s1, 3.33333333333329318027e-01);
    double s2 = GRAPHC_FMA(w, -3.65315727442169155270e-02, -5.83357013379057348645e-02);
    s2 = GRAPHC_FMA(w, s2, -7.69187620504482999495e-02);
    s2 = GRAPHC_FMA(w, s2, -1.11111104054623557880e-01);
    s2 = GRAPHC_FMA(w, s2, -1.99999999998764832476e-01);
    double s = z * s1 + w * s2;
    double y = half ? hi - ((t * s - lo) - t) : t - t * s;
    return copysign(y, x);
}

/* The float functions compute in double with polynomials fitted for float (scripts/fit_c_math.py,
   relative errors under 2^-29) and round once. */

/* 2^z for z in [-152, 129]: 2^k 2^r, r = z - k in [-1/2, 1/2] (exact). */
static inline double graphc_exp2_for_float(double z)
{
    double k = graphc_round(z);
    double r = z - k;
    double p = GRAPHC_FMA(r, 1.53458019423386924e-04, 1.33999311380257960e-03);
    p = GRAPHC_FMA(r, p, 9.61848899451403505e-03);
    p = GRAPHC_FMA(r, p, 5.55032877721793258e-02);
    p = GRAPHC_FMA(r, p, 2.40226468902885959e-01);
    p = GRAPHC_FMA(r, p, 6.93147205737111527e-01);
    p = GRAPHC_FMA(r, p, 1.00000000055421334e+00);
    return p * graphc_pow2(k);
}

static inline float graphc_exp2f(float x)
{
    float a = x > 129.0f ? 129.0f : (x < -152.0f ? -152.0f : x);
    return (float)graphc_exp2_for_float((double)a);
}

static inline float graphc_expf(float x)
{
    float a = x > 90.0f ? 90.0f : (x < -105.0f ? -105.0f : x);
    return (float)graphc_exp2_for_float((double)a * 1.44269504088896340736);
}

/* expm1 from the polynomial where |x| <= ln2/2 (exp(x) - 1 loses bits there), else exp(x) - 1. */
static inline float graphc_expm1f(float x)
{
    float a = x > 90.0f ? 90.0f : (x < -20.0f ? -20.0f : x);
    double d = (double)a;
    double p = GRAPHC_FMA(d, 1.98412405439239714e-04, 1.39420401435857814e-03);
    p = GRAPHC_FMA(d, p, 8.33340570867293143e-03);
    p = GRAPHC_FMA(d, p, 4.16663419369739940e-02);
    p = GRAPHC_FMA(d, p, 1.66666662241975516e-01);
    p = GRAPHC_FMA(d, p, 5.00000004948119359e-01);
    p = GRAPHC_FMA(d, p, 1.00000000003375256e+00);
    double y = d * p;
    double e = graphc_exp2_for_float(d * 1.44269504088896340736) - 1.0;
    return (float)(fabs(d) > 0.35 ? e : y);
}

/* log of a positive normal double: k ln2 + log(1 + f), the polynomial in f = m - 1. */
static inline double graphc_log_for_float(double x)
{
    uint64_t bits = graphc_bits(x);
    double m = graphc_double((bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL);
    double e = graphc_double((bits >> 52) | 0x4330000000000000ULL) - (0x1p52 + 1023.0);
    int big = m > 1.41421356237309504880;
    double k = big ? e + 1.0 : e;
    double f = (big ? m * 0.5 : m) - 1.0;
    double p = GRAPHC_FMA(f, 6.72566965368852354e-02, -1.17184550346360092e-01);
    p = GRAPHC_FMA(f, p, 1.19261018259890147e-01);
    p = GRAPHC_FMA(f, p, -1.24010322706722423e-01);
    p = GRAPHC_FMA(f, p, 1.42125307301805337e-01);
    p = GRAPHC_FMA(f, p, -1.66679149817128308e-01);
    p = GRAPHC_FMA(f, p, 2.00025760789613150e-01);
    p = GRAPHC_FMA(f, p, -2.50000270174117245e-01);
    p = GRAPHC_FMA(f, p, 3.33333016050058772e-01);
    p = GRAPHC_FMA(f, p, -4.99999996680224545e-01);
    p = GRAPHC_FMA(f, p, 1.00000000063121597e+00);
    return GRAPHC_FMA(k, 6.93147180559945286227e-01, f * p);
}

/* A float's log: subnormals and 0 are normal doubles, so only x <= 0, inf and NaN are cases. */
static inline float graphc_logf(float x)
{
    double d = (double)x;
    float y = (float)graphc_log_for_float(d > 0.0 ? d : 1.0);
    y = x == 0.0f ? -INFINITY : y;
    y = x < 0.0f ? NAN : y;
    y = x == INFINITY ? x : y;
    return x != x ? x : y;
}

static inline float graphc_log2f(float x)
{
    double d = (double)x;
    float y = (float)(graphc_log_for_float(d > 0.0 ? d : 1.0) * 1.44269504088896340736);
    y = x == 0.0f ? -INFINITY : y;
    y = x < 0.0f ? NAN : y;
    y = x == INFINITY ? x : y;
    return x != x ? x : y;
}

/* 1 + x is exact in double for a float x above 2^-29 in size, so log1p(x) is the log of that. */
static inline float graphc_log1pf(float x)
{
    double u = 1.0 + (double)x;
    float y = (float)graphc_log_for_float(u > 0.0 ? u : 1.0);
    y = fabsf(x) < 0x1p-29f ? x : y; /* 1 + x rounded: log1p(x) is x to 2^-30 */
    y = x == -1.0f ? -INFINITY : y;
    y = x < -1.0f ? NAN : y;
    y = x == INFINITY ? x : y;
    return x != x ? x : y;
}

/* tanh from the odd polynomial where |x| <= 0.55, else 1 - 2 / (exp(2|x|) + 1); odd, 1 beyond 10. */
static inline float graphc_tanhf(float x)
{
    float a = fabsf(x);
    double d = (double)(a > 10.0f ? 10.0f : a);
    double t = d * d;
    double p = GRAPHC_FMA(t, -6.23577857997466810e-03, 2.10398576105811155e-02);
    p = GRAPHC_FMA(t, p, -5.38427623147825912e-02);
    p = GRAPHC_FMA(t, p, 1.33324614759152416e-01);
    p = GRAPHC_FMA(t, p, -3.33333109972253405e-01);
    p = GRAPHC_FMA(t, p, 9.99999999070446899e-01);
    double y = d * p;
    double e = 1.0 - 2.0 / (graphc_exp2_for_float(d * 2.88539008177792681472) + 1.0);
    return copysignf((float)(d > 0.55 ? e : y), x);
}

static inline float graphc_atanf(float x) { return (float)graphc_atan((double)x); }

/* x^y as 2^(y log2|x|) in double (log2 within an ulp of double, so y log2|x| is good to 2^-44 where
   the result is a float), then C's special cases: x^0 = 1^y = (-1)^(+-inf) = 1, a negative x (-0
   too) to an odd integer power negative, a finite negative x to a power that is not an integer NaN.
   One comparison per select, as in graphc_expm1. */
static inline float graphc_powf(float x, float y)
{
    double z = (double)y * graphc_log2(fabs((double)x));
    z = z > 130.0 ? 130.0 : (z < -160.0 ? -160.0 : z);
    float magnitude = (float)graphc_exp2_for_float(z);
    float whole = rintf(y);
    float halves = 0.5f * y;
    float sign = halves == rintf(halves) ? 1.0f : -1.0f;
    sign = y == whole ? sign : 1.0f;
    sign = copysignf(1.0f, x) < 0.0f ? sign : 1.0f;
    float r = sign * magnitude;
    float fractional = y == whole ? r : NAN;
    fractional = x > -INFINITY ? fractional : r;
    r = x < 0.0f ? fractional : r;
    float one = fabsf(y) == INFINITY ? 1.0f : r;
    r = x == -1.0f ? one : r;
    r = x == 1.0f ? 1.0f : r;
    return y == 0.0f ? 1.0f : r;
}

/* hi + b mod 4 in double-double: the sum's rounding error (Knuth's two-sum) added to *lo; b is
   exact, and reduced mod 4 exactly (b - 4 floor(b/4) loses no bit). */
static inline double graphc_add_mod4(double hi, double b, double *lo)
{
    b = b - 4.0 * floor(b * 0.25);
    double s = hi + b;
    double bb = s - hi;
    *lo += (hi - (s - bb)) + (b - bb);
    return s;
}

/* |x| = (n + f) pi/2 with |f| <= 1/2 for a float x: sets the quadrant n mod 4, returns f pi/2.
   2/pi is seven 28-bit parts (bits to 2^-196), so each |x| part is exact (24 + 28 bits) and the
   sum mod 4 is exact to 2^-68 for every float, up to 2^128 (Payne-Hanek's reduction, without a
   table: no branch or gather, so it vectorizes). */
static inline double graphc_reduce_float(float x, double *quadrant)
{
    double d = fabs((double)x);
    double hi = 0.0, lo = 0.0;
    hi = graphc_add_mod4(hi, d * 0x1.45f306cp-1, &lo);
    hi = graphc_add_mod4(hi, d * 0x1.c9c882ap-29, &lo);
    hi = graphc_add_mod4(hi, d * 0x1.4fe13a8p-59, &lo);
    hi = graphc_add_mod4(hi, d * 0x1.f47d4d0p-86, &lo);
    hi = graphc_add_mod4(hi, d * 0x1.bb81b6cp-113, &lo);
    hi = graphc_add_mod4(hi, d * 0x1.4acc9e0p-143, &lo);
    hi = graphc_add_mod4(hi, d * 0x1.0e4107cp-170, &lo);
    double n = graphc_round(hi);
    *quadrant = n - 4.0 * floor(n * 0.25);
    return ((hi - n) + lo) * 1.57079632679489661923;
}

/* sin(r) and cos(r) for |r| <= pi/4 (a little more), Taylor to r^13 and r^12: within 2^-37 of each. */
static inline double graphc_sin_kernel(double r)
{
    double t = r * r;
    double p = GRAPHC_FMA(t, 1.0 / 6227020800.0, -1.0 / 39916800.0);
    p = GRAPHC_FMA(t, p, 1.0 / 362880.0);
    p = GRAPHC_FMA(t, p, -1.0 / 5040.0);
    p = GRAPHC_FMA(t, p, 1.0 / 120.0);
    p = GRAPHC_FMA(t, p, -1.0 / 6.0);
    return GRAPHC_FMA(r * t, p, r);
}

static inline double graphc_cos_kernel(double r)
{
    double t = r * r;
    double p = GRAPHC_FMA(t, 1.0 / 479001600.0, -1.0 / 3628800.0);
    p = GRAPHC_FMA(t, p, 1.0 / 40320.0);
    p = GRAPHC_FMA(t, p, -1.0 / 720.0);
    p = GRAPHC_FMA(t, p, 1.0 / 24.0);
    p = GRAPHC_FMA(t, p, -0.5);
    return GRAPHC_FMA(t, p, 1.0);
}

/* sin(x) = sign(x) sin(|x|), the quadrant choosing sin or cos of r and the sign. NaN for inf and NaN. */
static inline float graphc_sinf(float x)
{
    double q;
    double r = graphc_reduce_float(x, &q);
    double y = q == 1.0 ? graphc_cos_kernel(r) : graphc_sin_kernel(r);
    y = q == 3.0 ? graphc_cos_kernel(r) : y;
    y = q >= 2.0 ? -y : y;
    return (float)y * copysignf(1.0f, x);
}

static inline float graphc_cosf(float x)
{
    double q;
    double r = graphc_reduce_float(x, &q);
    double y = q == 1.0 ? graphc_sin_kernel(r) : graphc_cos_kernel(r);
    y = q == 3.0 ? graphc_sin_kernel(r) : y;
    y = q == 1.0 ? -y : y;
    return (float)(q == 2.0 ? -y : y);
}
"""

"""``graphc.special``: torch.special's functions that graphc computes, by torch's names.

torch.special's members missing here (the Bessel functions J, Y and K, airy_ai, zeta and the
orthogonal polynomials) are listed, with the reason, in docs/decisions.md
("Special functions").
"""

from __future__ import annotations

from graphc.frontend import special
from graphc.frontend.functional import erf, log1p, log_softmax, logsumexp, round, sigmoid, softmax
from graphc.frontend.out_argument import install as _install_out
from graphc.frontend.pointwise import exp2, expm1, logit, sinc, xlogy
from graphc.frontend.special import (
    digamma,
    entr,
    erfc,
    erfcx,
    erfinv,
    i0,
    i0e,
    i1,
    i1e,
    igamma,
    igammac,
    lgamma,
    log_ndtr,
    multigammaln,
    ndtr,
    ndtri,
    polygamma,
    xlog1py,
)
from graphc.runtime.tensor import Tensor

expit = sigmoid
gammaln = lgamma
gammainc = igamma
gammaincc = igammac
psi = digamma


def modified_bessel_i0(input: Tensor) -> Tensor:
    """i0's values without a gradient: torch's modified_bessel_i0 and _i1 are not differentiable (their results do not require grad)."""
    return i0(input).detach()


def modified_bessel_i1(input: Tensor) -> Tensor:
    return i1(input).detach()


def spherical_bessel_j0(input: Tensor) -> Tensor:
    """sin(x) / x, without a gradient, as torch's."""
    return special.spherical_bessel_j0(input).detach()


__all__ = [
    "digamma", "entr", "erf", "erfc", "erfcx", "erfinv", "exp2", "expit", "expm1", "gammainc", "gammaincc", "gammaln", "i0", "i0e", "i1", "i1e",
    "log1p", "log_ndtr", "log_softmax", "logit", "logsumexp", "modified_bessel_i0", "modified_bessel_i1", "multigammaln",
    "ndtr", "ndtri", "polygamma", "psi", "round", "sinc", "softmax", "spherical_bessel_j0", "xlog1py", "xlogy",
]  # fmt: skip

# out= on the functions torch.special takes it on (graphc/frontend/out_argument.py).
_install_out(globals(), "special.")

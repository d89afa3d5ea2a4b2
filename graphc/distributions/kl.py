"""``kl_divergence(p, q)`` for the pairs graphc implements, with torch's formulas (its infinities where ``q``
gives zero probability to what ``p`` does not), and ``register_kl`` to add pairs."""

from __future__ import annotations

from collections.abc import Callable

import graphc
from graphc.distributions.bernoulli import Bernoulli
from graphc.distributions.categorical import Categorical
from graphc.distributions.distribution import Distribution
from graphc.distributions.independent import Independent, _sum_rightmost
from graphc.distributions.multivariate_normal import MultivariateNormal, kl_multivariate_normal
from graphc.distributions.normal import Normal
from graphc.runtime.nn.functional import softplus
from graphc.runtime.tensor import Tensor

KLFunction = Callable[[Distribution, Distribution], Tensor]
_REGISTRY: dict[tuple[type, type], KLFunction] = {}


def register_kl(type_p: type, type_q: type) -> Callable[[KLFunction], KLFunction]:
    def decorator(fn: KLFunction) -> KLFunction:
        _REGISTRY[(type_p, type_q)] = fn
        return fn

    return decorator


def kl_divergence(p: Distribution, q: Distribution) -> Tensor:
    """The most specific registered pair along both classes' MROs, as torch's dispatch picks."""
    for type_p in type(p).__mro__:
        for type_q in type(q).__mro__:
            fn = _REGISTRY.get((type_p, type_q))
            if fn is not None:
                return fn(p, q)
    raise NotImplementedError(f"No KL(p || q) is implemented for p = {type(p).__name__}, q = {type(q).__name__}")


register_kl(MultivariateNormal, MultivariateNormal)(kl_multivariate_normal)


@register_kl(Normal, Normal)
def _kl_normal_normal(p: Normal, q: Normal) -> Tensor:
    var_ratio = (p.scale / q.scale).pow(2)
    t1 = ((p.loc - q.loc) / q.scale).pow(2)
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p: Bernoulli, q: Bernoulli) -> Tensor:
    inf = float("inf")
    t1 = p.probs * (softplus(-q.logits) - softplus(-p.logits))
    t1 = graphc.where(p.probs == 0, t1 * 0, graphc.where(q.probs == 0, t1 * 0 + inf, t1))
    t2 = (1 - p.probs) * (softplus(q.logits) - softplus(p.logits))
    t2 = graphc.where(p.probs == 1, t2 * 0, graphc.where(q.probs == 1, t2 * 0 + inf, t2))
    return t1 + t2


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p: Categorical, q: Categorical) -> Tensor:
    t = p.probs * (p.logits - q.logits)
    zero_q, zero_p = graphc.broadcast_tensors(q.probs == 0, p.probs == 0)
    t = graphc.where(zero_p, t * 0, graphc.where(zero_q, t * 0 + float("inf"), t))
    return t.sum(-1)


@register_kl(Independent, Independent)
def _kl_independent_independent(p: Independent, q: Independent) -> Tensor:
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError("No KL(p || q) is implemented for Independent distributions with different reinterpreted_batch_ndims")
    return _sum_rightmost(kl_divergence(p.base_dist, q.base_dist), p.reinterpreted_batch_ndims)

"""``graphc.distributions``: a first subset of ``torch.distributions`` (Normal, MultivariateNormal, Bernoulli, Categorical,
Uniform, Exponential, Independent, and ``kl_divergence``) written with graphc's tensor ops, so it runs eagerly and inside
``graphc.compile`` on every backend. Samples come from graphc's random generator (``graphc.manual_seed``), not torch's."""

from graphc.distributions.bernoulli import Bernoulli
from graphc.distributions.categorical import Categorical
from graphc.distributions.distribution import Distribution
from graphc.distributions.exponential import Exponential
from graphc.distributions.independent import Independent
from graphc.distributions.kl import kl_divergence, register_kl
from graphc.distributions.multivariate_normal import MultivariateNormal
from graphc.distributions.normal import Normal
from graphc.distributions.uniform import Uniform

__all__ = ["Bernoulli", "Categorical", "Distribution", "Exponential", "Independent", "MultivariateNormal", "Normal", "Uniform", "kl_divergence", "register_kl"]

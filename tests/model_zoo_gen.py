"""Generative and reinforcement-learning training loops, written once as functions of ``nn``.

The CNN and sequence zoos train one model with one optimizer on a cross-entropy. The loops
here use the API corners those never reach: noise fed through a reparameterization (VAE),
two models and two optimizers in one step with ``detach()``, ``requires_grad_`` toggling,
two ``backward()`` calls accumulating into one ``.grad`` and parameters read again after
their own optimizer step (GAN), a noise schedule built by ``linspace``/``cumprod`` and
gathered by a timestep tensor, an EMA copy updated in place under ``no_grad`` (diffusion),
``graphc.distributions`` log-probabilities and entropies with returns discounted by a
Python loop or a ``cumsum`` over flipped rewards (REINFORCE, actor-critic), a
log-det-Jacobian (RealNVP), and cosine-similarity logits against ``arange`` labels with a
clamped learnable temperature (SimCLR, CLIP). Each follows its reference implementation
(pytorch/examples' VAE, DCGAN and REINFORCE, lucidrains' denoising-diffusion-pytorch, the
RealNVP and SimCLR papers' code, OpenCLIP's loss) at a size that compiles in seconds.

graphc's random streams are not torch's (docs/decisions.md), so every draw a step needs
(the VAE's eps, the GAN's z, the diffusion noise and timesteps, the sampled actions) is an
input the test draws once with NumPy and gives to both libraries.
"""

from __future__ import annotations

import copy
import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def lib(nn: Any) -> Any:
    """``torch`` for ``torch.nn``, ``graphc`` for ``graphc.nn``."""
    return importlib.import_module(nn.__name__.split(".")[0])


def dist(nn: Any) -> Any:
    """``torch.distributions`` or ``graphc.distributions``."""
    return importlib.import_module(lib(nn).__name__ + ".distributions")


# ---------------------------------------------------------------------------------- VAE


def vae(nn: Any, features: int = 12, hidden: int = 16, latent: int = 4) -> dict[str, Any]:
    """pytorch/examples' VAE: an MLP encoder to mean and log-variance, ``mu + eps * exp(logvar / 2)``, an MLP decoder to logits.

    ``eps`` is an argument (torch's example draws ``randn_like(std)``); in eval mode the latent is the mean.
    """
    F = nn.functional
    T = lib(nn)

    class VAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(features, hidden)
            self.fc21 = nn.Linear(hidden, latent)
            self.fc22 = nn.Linear(hidden, latent)
            self.fc3 = nn.Linear(latent, hidden)
            self.fc4 = nn.Linear(hidden, features)

        def encode(self, x: Any) -> tuple[Any, Any]:
            h1 = F.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu: Any, logvar: Any, eps: Any) -> Any:
            if not self.training:
                return mu
            return mu + eps * T.exp(0.5 * logvar)

        def decode(self, z: Any) -> Any:
            return self.fc4(F.relu(self.fc3(z)))

        def forward(self, x: Any, eps: Any = None) -> tuple[Any, Any, Any]:
            mu, logvar = self.encode(x)
            return self.decode(self.reparameterize(mu, logvar, eps)), mu, logvar

    return {"vae": VAE()}


def vae_step(nn: Any, models: dict[str, Any], opts: dict[str, Any], x: Any, eps: Any) -> tuple[Any, ...]:
    """The ELBO: a summed BCE-with-logits reconstruction plus the Gaussian KL, per sample."""
    F = nn.functional
    T = lib(nn)
    model, opt = models["vae"], opts["vae"]
    opt.zero_grad()
    logits, mu, logvar = model(x, eps)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kld = -0.5 * T.sum(1 + logvar - mu.pow(2) - logvar.exp())
    loss = (recon + kld) / x.shape[0]
    loss.backward()
    opt.step()
    return loss, recon, kld


def vae_eval(nn: Any, models: dict[str, Any], x: Any, eps: Any) -> Any:
    return models["vae"](x)[0]


def _vae_inputs(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.uniform(size=(4, 12)), rng.standard_normal((4, 4))


def _one_cycle(sched: Any, opts: dict[str, Any]) -> list[Any]:
    """OneCycleLR cycles Adam's beta1 (``cycle_momentum``) with the learning rate: both change between steps."""
    return [sched.OneCycleLR(opts["vae"], max_lr=3e-2, total_steps=6, pct_start=0.3)]


# ---------------------------------------------------------------------------------- GAN


def dcgan(nn: Any, nz: int = 4, ngf: int = 8, ndf: int = 4) -> dict[str, Any]:
    """pytorch/examples' DCGAN at 8x8: transposed convs with BN and ReLU to a tanh image; strided convs with BN and LeakyReLU to one logit."""
    generator = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, 1, 4, 2, 1, bias=False), nn.Tanh(),
    )  # fmt: skip
    discriminator = nn.Sequential(
        nn.Conv2d(1, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, 1, 2, 1, 0, bias=False), nn.Flatten(0),
    )  # fmt: skip
    return {"G": generator, "D": discriminator}


def gan_step(nn: Any, models: dict[str, Any], opts: dict[str, Any], real: Any, z: Any) -> tuple[Any, ...]:
    """One D step (real and detached fake through two ``backward()`` calls that accumulate), then one G step through the updated D with D frozen."""
    T = lib(nn)
    G, D = models["G"], models["D"]
    criterion = nn.BCEWithLogitsLoss()
    opts["D"].zero_grad(set_to_none=True)
    out_real = D(real)
    err_real = criterion(out_real, T.ones_like(out_real))
    err_real.backward()
    fake = G(z)
    out_fake = D(fake.detach())
    err_fake = criterion(out_fake, T.zeros_like(out_fake))
    err_fake.backward()
    opts["D"].step()

    for p in D.parameters():
        p.requires_grad_(False)
    opts["G"].zero_grad(set_to_none=True)
    out = D(fake)
    err_g = criterion(out, T.ones_like(out))
    err_g.backward()
    opts["G"].step()
    for p in D.parameters():
        p.requires_grad_(True)
    return err_real + err_fake, err_g, T.sigmoid(out_real).mean()


def gan_eval(nn: Any, models: dict[str, Any], real: Any, z: Any) -> Any:
    return models["D"](models["G"](z))


def _gan_inputs(rng: np.random.Generator) -> tuple[Any, ...]:
    return np.tanh(rng.standard_normal((3, 1, 8, 8))), rng.standard_normal((3, 4, 1, 1))


def _gan_optimizers(optim: Any, models: dict[str, Any]) -> dict[str, Any]:
    return {name: optim.Adam(m.parameters(), lr=2e-3, betas=(0.5, 0.999)) for name, m in models.items()}


def wgan_gp(nn: Any, nz: int = 4, features: int = 6, hidden: int = 16) -> dict[str, Any]:
    """WGAN-GP on vectors: an MLP generator, an MLP critic with LayerNorm (the paper's replacement for BN in a penalized critic)."""
    generator = nn.Sequential(nn.Linear(nz, hidden), nn.ReLU(), nn.Linear(hidden, features))
    critic = nn.Sequential(nn.Linear(features, hidden), nn.LayerNorm(hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
    return {"G": generator, "D": critic}


GP_WEIGHT = 10.0


def wgan_gp_step(nn: Any, models: dict[str, Any], opts: dict[str, Any], real: Any, z: Any, alpha: Any) -> tuple[Any, ...]:
    """The gradient penalty at interpolates (``autograd.grad`` with ``create_graph``), a critic step, then a generator step with
    the critic frozen through ``p.requires_grad = False``."""
    T = lib(nn)
    G, D = models["G"], models["D"]
    for p in D.parameters():
        p.requires_grad = True
    opts["D"].zero_grad()
    fake = G(z).detach()
    interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    d_interpolates = D(interpolates)
    gradients = T.autograd.grad(
        outputs=d_interpolates, inputs=interpolates, grad_outputs=T.ones_like(d_interpolates), create_graph=True, retain_graph=True
    )[0]
    penalty = ((gradients.norm(2, dim=1) - 1) ** 2).mean()
    loss_d = D(fake).mean() - D(real).mean() + GP_WEIGHT * penalty
    loss_d.backward()
    opts["D"].step()

    for p in D.parameters():
        p.requires_grad = False
    opts["G"].zero_grad()
    loss_g = -D(G(z)).mean()
    loss_g.backward()
    opts["G"].step()
    return loss_d, loss_g, penalty


def wgan_gp_eval(nn: Any, models: dict[str, Any], real: Any, z: Any, alpha: Any) -> Any:
    return models["D"](models["G"](z))


def _wgan_gp_inputs(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.standard_normal((4, 6)) + 1.0, rng.standard_normal((4, 4)), rng.uniform(size=(4, 1))


def _wgan_gp_optimizers(optim: Any, models: dict[str, Any]) -> dict[str, Any]:
    return {name: optim.Adam(m.parameters(), lr=1e-2, betas=(0.5, 0.9)) for name, m in models.items()}


def sngan(nn: Any, nz: int = 4, features: int = 6, hidden: int = 16, parametrization: bool = True) -> dict[str, Any]:
    """SNGAN on vectors: a spectrally normalized critic (``parametrizations.spectral_norm``, or the older
    ``utils.spectral_norm`` with ``parametrization=False``), whose power iteration updates ``u`` and ``v`` on every
    training-mode call."""
    norm = nn.utils.parametrizations.spectral_norm if parametrization else nn.utils.spectral_norm
    generator = nn.Sequential(nn.Linear(nz, hidden), nn.ReLU(), nn.Linear(hidden, features))
    critic = nn.Sequential(norm(nn.Linear(features, hidden)), nn.LeakyReLU(0.1), norm(nn.Linear(hidden, 1)))
    return {"G": generator, "D": critic}


def sngan_step(nn: Any, models: dict[str, Any], opts: dict[str, Any], real: Any, z: Any) -> tuple[Any, ...]:
    """The hinge loss: a D step on real and detached fake in one concatenated batch, then a G step; D's grads set to None between."""
    F = nn.functional
    T = lib(nn)
    G, D = models["G"], models["D"]
    opts["D"].zero_grad(set_to_none=True)
    fake = G(z)
    scores = D(T.cat([real, fake.detach()]))
    d_real, d_fake = scores.chunk(2)
    loss_d = F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
    loss_d.backward()
    opts["D"].step()
    opts["G"].zero_grad(set_to_none=True)
    loss_g = -D(fake).mean()
    loss_g.backward()
    opts["G"].step()
    D.zero_grad(set_to_none=True)
    return loss_d, loss_g


def _sngan_inputs(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.standard_normal((4, 6)) + 1.0, rng.standard_normal((4, 4))


# ---------------------------------------------------------------------------------- diffusion


TIMESTEPS = 20


def ddpm(nn: Any, width: int = 8, time_dim: int = 8, timesteps: int = TIMESTEPS) -> dict[str, Any]:
    """lucidrains' GaussianDiffusion around a one-level conv denoiser: sinusoidal time embedding, a linear beta schedule, noise prediction.

    ``ema`` is an exponential moving average of the model (a deep copy that never requires grad).
    """
    F = nn.functional
    T = lib(nn)

    class SinusoidalPosEmb(nn.Module):
        def forward(self, t: Any) -> Any:
            half = time_dim // 2
            scale = math.log(10000) / (half - 1)
            freqs = T.exp(T.arange(half, dtype=T.float64) * -scale)
            emb = t[:, None].to(T.float64) * freqs[None, :]
            return T.cat((emb.sin(), emb.cos()), dim=-1)

    class Denoiser(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.time_mlp = nn.Sequential(SinusoidalPosEmb(), nn.Linear(time_dim, width), nn.GELU(), nn.Linear(width, width))
            self.conv_in = nn.Conv2d(1, width, 3, padding=1)
            self.norm = nn.GroupNorm(2, width)
            self.conv_mid = nn.Conv2d(width, width, 3, padding=1)
            self.conv_out = nn.Conv2d(width, 1, 3, padding=1)

        def forward(self, x: Any, t: Any) -> Any:
            h = self.conv_in(x) + self.time_mlp(t)[:, :, None, None]
            h = self.conv_mid(F.silu(self.norm(h))) + h
            return self.conv_out(F.silu(h))

    def extract(a: Any, t: Any, ndim: int) -> Any:
        return a.gather(-1, t).reshape(t.shape[0], *((1,) * (ndim - 1)))

    class GaussianDiffusion(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = Denoiser()
            betas = T.linspace(1e-4, 0.02, timesteps, dtype=T.float64)
            alphas_cumprod = T.cumprod(1.0 - betas, dim=0)
            self.register_buffer("sqrt_alphas_cumprod", alphas_cumprod.sqrt())
            self.register_buffer("sqrt_one_minus_alphas_cumprod", (1.0 - alphas_cumprod).sqrt())

        def forward(self, x_start: Any, t: Any, noise: Any) -> Any:
            x_t = extract(self.sqrt_alphas_cumprod, t, x_start.ndim) * x_start + extract(self.sqrt_one_minus_alphas_cumprod, t, x_start.ndim) * noise
            return F.mse_loss(self.model(x_t, t), noise)

    diffusion = GaussianDiffusion()
    ema = copy.deepcopy(diffusion)
    ema.requires_grad_(False)
    return {"diffusion": diffusion, "ema": ema}


EMA_DECAY = 0.9


def diffusion_step(nn: Any, models: dict[str, Any], opts: dict[str, Any], x_start: Any, t: Any, noise: Any) -> tuple[Any, ...]:
    """A clipped Adam step on the noise MSE, then the EMA update in place under ``no_grad``, then the EMA's loss on the same batch."""
    T = lib(nn)
    model, ema, opt = models["diffusion"], models["ema"], opts["diffusion"]
    opt.zero_grad()
    loss = model(x_start, t, noise)
    loss.backward()
    norm = nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    with T.no_grad():
        for e, p in zip(ema.parameters(), model.parameters()):
            e.lerp_(p, 1.0 - EMA_DECAY)
        ema_loss = ema(x_start, t, noise)
    return loss, norm, ema_loss


def diffusion_eval(nn: Any, models: dict[str, Any], x_start: Any, t: Any, noise: Any) -> Any:
    """DDPM's ancestral sampling with the EMA model, from the last three timesteps (``noise`` the draws, ``x_start`` the start)."""
    T = lib(nn)
    ema = models["ema"]
    betas = T.linspace(1e-4, 0.02, TIMESTEPS, dtype=T.float64)
    alphas = 1.0 - betas
    x = x_start
    for i in reversed(range(TIMESTEPS - 3, TIMESTEPS)):
        t_batch = T.full((x.shape[0],), i, dtype=T.long)
        eps = ema.model(x, t_batch)
        mean = (x - betas[i] / ema.sqrt_one_minus_alphas_cumprod[i] * eps) / alphas[i].sqrt()
        x = mean + betas[i].sqrt() * noise if i > 0 else mean
    return x


def _diffusion_inputs(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.uniform(-1, 1, size=(3, 1, 6, 6)), rng.integers(0, 20, size=(3,)), rng.standard_normal((3, 1, 6, 6))


def _diffusion_optimizers(optim: Any, models: dict[str, Any]) -> dict[str, Any]:
    return {"diffusion": optim.Adam(models["diffusion"].parameters(), lr=1e-2)}


def _cosine(sched: Any, opts: dict[str, Any]) -> list[Any]:
    return [sched.CosineAnnealingLR(opts["diffusion"], T_max=4)]


# ---------------------------------------------------------------------------------- policy gradient

GAMMA = 0.9


def policy(nn: Any, obs: int = 4, hidden: int = 16, actions: int = 3) -> dict[str, Any]:
    """pytorch/examples' REINFORCE policy: an MLP to action logits."""
    return {"policy": nn.Sequential(nn.Linear(obs, hidden), nn.Tanh(), nn.Linear(hidden, actions))}


def reinforce_step(nn: Any, models: dict[str, Any], opts: dict[str, Any], states: Any, actions: Any, rewards: list[float]) -> tuple[Any, ...]:
    """pytorch/examples' finish_episode: returns by a Python loop over the reversed rewards, standardized, a Categorical's log-probabilities."""
    T = lib(nn)
    model, opt = models["policy"], opts["policy"]
    returns: list[float] = []
    R = 0.0
    for r in rewards[::-1]:
        R = r + GAMMA * R
        returns.insert(0, R)
    returns_t = T.tensor(returns, dtype=T.float64)
    returns_t = (returns_t - returns_t.mean()) / (returns_t.std() + 1e-8)
    m = dist(nn).Categorical(logits=model(states))
    loss = -(m.log_prob(actions) * returns_t).sum() - 0.01 * m.entropy().mean()
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss, m.entropy().mean()


def policy_eval(nn: Any, models: dict[str, Any], states: Any, *_: Any) -> Any:
    return nn.functional.softmax(models["policy"](states), dim=-1)


def _reinforce_inputs(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.standard_normal((6, 4)), rng.integers(0, 3, size=(6,)), [float(r) for r in rng.uniform(-1, 1, size=6).round(3)]


def actor_critic(nn: Any, obs: int = 4, hidden: int = 16, act_dim: int = 2) -> dict[str, Any]:
    """An A2C model for continuous actions: a shared tanh trunk, a Gaussian policy head with a state-independent log std, a value head."""
    T = lib(nn)

    class ActorCritic(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.trunk = nn.Sequential(nn.Linear(obs, hidden), nn.Tanh())
            self.mu = nn.Linear(hidden, act_dim)
            self.log_std = nn.Parameter(T.zeros(act_dim))
            self.value = nn.Linear(hidden, 1)

        def forward(self, states: Any) -> tuple[Any, Any, Any]:
            h = self.trunk(states)
            return self.mu(h), self.log_std.exp().expand(states.shape[0], act_dim), self.value(h).squeeze(-1)

    return {"ac": ActorCritic()}


def discounted_returns(T: Any, rewards: Any, gamma: float) -> Any:
    """``sum_k gamma^k r[t+k]`` as a cumsum over the flipped, discounted rewards (one episode, no loop)."""
    discounts = gamma ** T.arange(rewards.shape[0], dtype=rewards.dtype)
    return (rewards * discounts).flip(0).cumsum(0).flip(0) / discounts


def actor_critic_step(nn: Any, models: dict[str, Any], opts: dict[str, Any], states: Any, actions: Any, rewards: Any) -> tuple[Any, ...]:
    """Advantage = returns - detached value; policy loss, 0.5 * smooth-L1 value loss, an entropy bonus; gradients clipped to 0.5."""
    F = nn.functional
    T = lib(nn)
    model, opt = models["ac"], opts["ac"]
    returns = discounted_returns(T, rewards, GAMMA)
    mu, std, value = model(states)
    pi = dist(nn).Normal(mu, std)
    log_prob = pi.log_prob(actions).sum(-1)
    entropy = pi.entropy().sum(-1).mean()
    advantage = returns - value.detach()
    loss = -(log_prob * advantage).mean() + 0.5 * F.smooth_l1_loss(value, returns) - 0.01 * entropy
    opt.zero_grad()
    loss.backward()
    norm = nn.utils.clip_grad_norm_(model.parameters(), 0.5)
    opt.step()
    return loss, entropy, norm


def actor_critic_eval(nn: Any, models: dict[str, Any], states: Any, *_: Any) -> Any:
    return models["ac"](states)[2]


def _actor_critic_inputs(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.standard_normal((6, 4)), rng.standard_normal((6, 2)), rng.uniform(-1, 1, size=6)


def _step_lr(sched: Any, opts: dict[str, Any]) -> list[Any]:
    return [sched.StepLR(opts["ac"], step_size=1, gamma=0.5)]


def ppo(nn: Any, obs: int = 4, hidden: int = 16, actions: int = 3) -> dict[str, Any]:
    """CleanRL's PPO agent: separate tanh MLPs for the critic and the actor (logits, read as a Categorical's probabilities)."""
    critic = nn.Sequential(nn.Linear(obs, hidden), nn.Tanh(), nn.Linear(hidden, 1))
    actor = nn.Sequential(nn.Linear(obs, hidden), nn.Tanh(), nn.Linear(hidden, actions))
    return {"agent": nn.ModuleDict({"critic": critic, "actor": actor})}


PPO_CLIP, GAE_LAMBDA, PPO_EPOCHS, MINIBATCHES = 0.2, 0.95, 2, 2


def ppo_step(nn: Any, models: dict[str, Any], opts: dict[str, Any], states: Any, actions: Any, rewards: Any, dones: Any, order: Any) -> tuple[Any, ...]:
    """CleanRL's update: rollout log-probabilities and values under no_grad, GAE by a Python loop over time, then
    ``PPO_EPOCHS`` epochs of clipped-surrogate minibatch steps (indices from ``order``), each clipped to norm 0.5."""
    F = nn.functional
    T = lib(nn)
    agent, opt = models["agent"], opts["agent"]
    Categorical = dist(nn).Categorical
    steps = states.shape[0]
    with T.no_grad():
        old_log_probs = Categorical(probs=F.softmax(agent["actor"](states), dim=-1)).log_prob(actions)
        values = agent["critic"](states).squeeze(-1)
        advantages = T.zeros_like(rewards)
        last = 0.0
        for t in reversed(range(steps)):
            next_value = values[t + 1] if t + 1 < steps else T.zeros_like(values[t])
            not_done = 1.0 - dones[t]
            delta = rewards[t] + GAMMA * next_value * not_done - values[t]
            last = delta + GAMMA * GAE_LAMBDA * not_done * last
            advantages[t] = last
        returns = advantages + values
    size = steps // MINIBATCHES
    losses = []
    for epoch in range(PPO_EPOCHS):
        for start in range(0, steps, size):
            idx = order[epoch, start : start + size]
            pi = Categorical(probs=F.softmax(agent["actor"](states[idx]), dim=-1))
            ratio = (pi.log_prob(actions[idx]) - old_log_probs[idx]).exp()
            adv = advantages[idx]
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            policy_loss = T.max(-adv * ratio, -adv * T.clamp(ratio, 1 - PPO_CLIP, 1 + PPO_CLIP)).mean()
            value_loss = 0.5 * ((agent["critic"](states[idx]).squeeze(-1) - returns[idx]) ** 2).mean()
            loss = policy_loss - 0.01 * pi.entropy().mean() + 0.5 * value_loss
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), 0.5)
            opt.step()
            losses.append(loss)
    return T.stack(losses), returns


def ppo_eval(nn: Any, models: dict[str, Any], states: Any, *_: Any) -> Any:
    return models["agent"]["critic"](states)


def _ppo_inputs(rng: np.random.Generator) -> tuple[Any, ...]:
    dones = np.zeros(8)
    dones[3] = 1.0
    order = np.stack([rng.permutation(8) for _ in range(PPO_EPOCHS)])
    return rng.standard_normal((8, 4)), rng.integers(0, 3, size=(8,)), rng.uniform(-1, 1, size=8), dones, order


def _ppo_optimizers(optim: Any, models: dict[str, Any]) -> dict[str, Any]:
    return {"agent": optim.Adam(models["agent"].parameters(), lr=1e-2, eps=1e-5)}


def _linear_anneal(sched: Any, opts: dict[str, Any]) -> list[Any]:
    return [sched.LinearLR(opts["agent"], start_factor=1.0, end_factor=0.25, total_iters=3)]


# ---------------------------------------------------------------------------------- RealNVP


def realnvp(nn: Any, dim: int = 4, hidden: int = 16, layers: int = 2) -> dict[str, Any]:
    """RealNVP's affine couplings with alternating checkerboard masks (tanh-bounded scales), each after Glow's
    ActNorm (initialized from the first batch) and invertible linear map, under a standard-normal prior."""
    T = lib(nn)

    class Coupling(nn.Module):
        def __init__(self, parity: int) -> None:
            super().__init__()
            self.register_buffer("mask", ((T.arange(dim) + parity) % 2).to(T.float64))
            self.scale = nn.Sequential(nn.Linear(dim, hidden), nn.LeakyReLU(), nn.Linear(hidden, dim), nn.Tanh())
            self.translate = nn.Sequential(nn.Linear(dim, hidden), nn.LeakyReLU(), nn.Linear(hidden, dim))

        def forward(self, x: Any) -> tuple[Any, Any]:
            kept = x * self.mask
            s = self.scale(kept) * (1 - self.mask)
            t = self.translate(kept) * (1 - self.mask)
            return kept + (1 - self.mask) * (x * T.exp(s) + t), s.sum(dim=1)

        def inverse(self, y: Any) -> Any:
            kept = y * self.mask
            s = self.scale(kept) * (1 - self.mask)
            t = self.translate(kept) * (1 - self.mask)
            return kept + (1 - self.mask) * ((y - t) * T.exp(-s))

    class ActNorm(nn.Module):
        """Glow's ActNorm: a per-feature affine map set from the first batch so that it comes out standardized."""

        def __init__(self) -> None:
            super().__init__()
            self.loc = nn.Parameter(T.zeros(dim))
            self.log_scale = nn.Parameter(T.zeros(dim))
            self.register_buffer("initialized", T.tensor(0, dtype=T.uint8))

        def forward(self, x: Any) -> tuple[Any, Any]:
            if self.initialized.item() == 0:
                with T.no_grad():
                    self.loc.data.copy_(-x.mean(0))
                    self.log_scale.data.copy_(-T.log(x.std(0) + 1e-6))
                    self.initialized.fill_(1)
            return (x + self.loc) * self.log_scale.exp(), self.log_scale.sum().expand(x.shape[0])

        def inverse(self, y: Any) -> Any:
            return y * (-self.log_scale).exp() - self.loc

    class InvertibleLinear(nn.Module):
        """Glow's invertible 1x1 convolution on vectors: a square weight (a random rotation at first), log|det| by slogdet."""

        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(T.linalg.qr(T.randn(dim, dim))[0])

        def forward(self, x: Any) -> tuple[Any, Any]:
            return x @ self.weight.T, T.linalg.slogdet(self.weight)[1].expand(x.shape[0])

        def inverse(self, y: Any) -> Any:
            return T.linalg.solve(self.weight, y.T).T

    class RealNVP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.couplings = nn.ModuleList([m for i in range(layers) for m in (ActNorm(), InvertibleLinear(), Coupling(i % 2))])
            self.register_buffer("prior_loc", T.zeros(dim, dtype=T.float64))
            self.register_buffer("prior_scale", T.ones(dim, dtype=T.float64))

        def prior(self) -> Any:
            D = dist(nn)
            return D.Independent(D.Normal(self.prior_loc, self.prior_scale), 1)

        def forward(self, x: Any) -> tuple[Any, Any]:
            log_det = T.zeros(x.shape[0], dtype=x.dtype)
            for coupling in self.couplings:
                x, ld = coupling(x)
                log_det = log_det + ld
            return x, log_det

        def log_prob(self, x: Any) -> Any:
            z, log_det = self(x)
            return self.prior().log_prob(z) + log_det

        def inverse(self, z: Any) -> Any:
            for coupling in reversed(self.couplings):
                z = coupling.inverse(z)
            return z

    return {"flow": RealNVP()}


def flow_step(nn: Any, models: dict[str, Any], opts: dict[str, Any], x: Any, z: Any) -> tuple[Any, ...]:
    """Maximum likelihood, then (no_grad) the inverse of prior draws, as a sampler would between steps."""
    T = lib(nn)
    flow, opt = models["flow"], opts["flow"]
    opt.zero_grad()
    loss = -flow.log_prob(x).mean()
    loss.backward()
    opt.step()
    with T.no_grad():
        samples = flow.inverse(z)
    return loss, samples


def flow_eval(nn: Any, models: dict[str, Any], x: Any, z: Any) -> Any:
    return models["flow"].log_prob(x)


def _flow_inputs(rng: np.random.Generator) -> tuple[Any, ...]:
    x = rng.standard_normal((8, 4)) @ np.array([[1.0, 0.5, 0, 0], [0, 1.0, 0.3, 0], [0, 0, 0.5, 0.2], [0, 0, 0, 2.0]])
    return x, rng.standard_normal((3, 4))


# ---------------------------------------------------------------------------------- contrastive


def simclr(nn: Any, features: int = 10, hidden: int = 16, proj: int = 8) -> dict[str, Any]:
    """SimCLR: an MLP encoder with BatchNorm (no bias before it, as the ResNet's convs) and a projection head."""
    encoder = nn.Sequential(nn.Linear(features, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, hidden))
    head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, proj))
    return {"simclr": nn.Sequential(encoder, head)}


TEMPERATURE = 0.5


def simclr_step(nn: Any, models: dict[str, Any], opts: dict[str, Any], x1: Any, x2: Any) -> tuple[Any, ...]:
    """NT-Xent: the 2B normalized projections' cosine similarities over a temperature, self-pairs masked to -inf, each view's positive its twin."""
    F = nn.functional
    T = lib(nn)
    model, opt = models["simclr"], opts["simclr"]
    n = 2 * x1.shape[0]
    z = F.normalize(model(T.cat([x1, x2], dim=0)), dim=1)
    sim = (z @ z.T) / TEMPERATURE
    sim = sim.masked_fill(T.eye(n, dtype=T.bool), float("-inf"))
    labels = (T.arange(n) + n // 2) % n
    loss = F.cross_entropy(sim, labels)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss, (sim.argmax(dim=1) == labels).to(T.float64).mean()


def simclr_eval(nn: Any, models: dict[str, Any], x1: Any, x2: Any) -> Any:
    return models["simclr"][0](x1)


def _views(rng: np.random.Generator) -> tuple[Any, ...]:
    base = rng.standard_normal((4, 10))
    return base + 0.1 * rng.standard_normal((4, 10)), base + 0.1 * rng.standard_normal((4, 10))


def moco(nn: Any, features: int = 10, hidden: int = 16, dim: int = 8, queue: int = 8) -> dict[str, Any]:
    """MoCo v2: a query encoder, a key encoder following it by momentum, a queue of normalized keys as a buffer with its pointer."""
    F = nn.functional
    T = lib(nn)

    class MoCo(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder_q = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, dim))
            self.encoder_k = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, dim))
            for param_q, param_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
                param_k.data.copy_(param_q.data)
                param_k.requires_grad = False
            self.register_buffer("queue", F.normalize(T.randn(dim, queue, dtype=T.float64), dim=0))
            self.register_buffer("queue_ptr", T.zeros(1, dtype=T.long))

        def momentum_update_key_encoder(self, m: float = 0.9) -> None:
            for param_q, param_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
                param_k.data = param_k.data * m + param_q.data * (1.0 - m)

        def dequeue_and_enqueue(self, keys: Any) -> None:
            batch_size = keys.shape[0]
            ptr = int(self.queue_ptr)
            self.queue[:, ptr : ptr + batch_size] = keys.T
            self.queue_ptr[0] = (ptr + batch_size) % queue

        def forward(self, im_q: Any, im_k: Any) -> tuple[Any, Any]:
            q = F.normalize(self.encoder_q(im_q), dim=1)
            with T.no_grad():
                self.momentum_update_key_encoder()
                k = F.normalize(self.encoder_k(im_k), dim=1)
            l_pos = T.einsum("nc,nc->n", q, k).unsqueeze(-1)
            l_neg = T.einsum("nc,ck->nk", q, self.queue.clone().detach())
            logits = T.cat([l_pos, l_neg], dim=1) / 0.2
            labels = T.zeros(logits.shape[0], dtype=T.long)
            self.dequeue_and_enqueue(k)
            return logits, labels

    return {"moco": MoCo()}


def moco_step(nn: Any, models: dict[str, Any], opts: dict[str, Any], im_q: Any, im_k: Any) -> tuple[Any, ...]:
    model, opt = models["moco"], opts["moco"]
    logits, labels = model(im_q, im_k)
    loss = nn.functional.cross_entropy(logits, labels)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss, logits


def moco_eval(nn: Any, models: dict[str, Any], im_q: Any, im_k: Any) -> Any:
    return models["moco"].encoder_k(im_k)


def _moco_optimizers(optim: Any, models: dict[str, Any]) -> dict[str, Any]:
    return {"moco": optim.SGD(models["moco"].parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)}


def clip(nn: Any, image: int = 10, text: int = 6, embed: int = 8) -> dict[str, Any]:
    """CLIP's two towers and learnable temperature (``logit_scale``, initialised to log(1/0.07))."""
    T = lib(nn)

    class CLIP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.visual = nn.Sequential(nn.Linear(image, 16), nn.GELU(), nn.Linear(16, embed))
            self.text = nn.Sequential(nn.Linear(text, 16), nn.GELU(), nn.Linear(16, embed))
            self.logit_scale = nn.Parameter(T.ones([]) * math.log(1 / 0.07))

        def forward(self, images: Any, texts: Any) -> tuple[Any, Any, Any]:
            F = nn.functional
            return F.normalize(self.visual(images), dim=-1), F.normalize(self.text(texts), dim=-1), self.logit_scale.exp()

    return {"clip": CLIP()}


def clip_step(nn: Any, models: dict[str, Any], opts: dict[str, Any], images: Any, texts: Any) -> tuple[Any, ...]:
    """OpenCLIP's ClipLoss (symmetric cross-entropy against ``arange``), then its in-place clamp of the temperature under ``no_grad``."""
    F = nn.functional
    T = lib(nn)
    model, opt = models["clip"], opts["clip"]
    image_features, text_features, logit_scale = model(images, texts)
    logits_per_image = logit_scale * image_features @ text_features.T
    labels = T.arange(logits_per_image.shape[0], dtype=T.long)
    loss = (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_image.T, labels)) / 2
    opt.zero_grad()
    loss.backward()
    opt.step()
    with T.no_grad():
        model.logit_scale.clamp_(0, math.log(2.5))
    return loss, logit_scale


def clip_eval(nn: Any, models: dict[str, Any], images: Any, texts: Any) -> Any:
    image_features, text_features, logit_scale = models["clip"](images, texts)
    return logit_scale * image_features @ text_features.T


def _pairs(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.standard_normal((4, 10)), rng.standard_normal((4, 6))


# ---------------------------------------------------------------------------------- cases


def _adam(lr: float) -> Callable[[Any, dict[str, Any]], dict[str, Any]]:
    def optimizers(optim: Any, models: dict[str, Any]) -> dict[str, Any]:
        return {name: optim.Adam(m.parameters(), lr=lr) for name, m in models.items()}

    return optimizers


@dataclass
class Case:
    """A training loop of the zoo: ``build(nn)`` its named models, ``optimizers(optim, models)`` theirs, ``step(nn, models, opts, *batch)``
    one training step returning tensors to compare, ``inputs(np_rng)`` a batch (NumPy arrays; Python lists stay lists),
    ``schedulers(lr_scheduler, opts)`` stepped between steps, ``evaluate(nn, models, *batch)`` an eval-mode output under no_grad.
    ``steps`` is how many steps the last one needs to replay a traced program; ``replays`` is False where none can
    (a Python list in the batch is part of the signature: each new one traces anew).
    """

    name: str
    build: Callable[[Any], dict[str, Any]]
    optimizers: Callable[[Any, dict[str, Any]], dict[str, Any]]
    step: Callable[..., tuple[Any, ...]]
    inputs: Callable[[np.random.Generator], tuple[Any, ...]]
    evaluate: Callable[..., Any]
    schedulers: Callable[[Any, dict[str, Any]], list[Any]] = field(default=lambda sched, opts: [])
    steps: int = 3  # an eager first step (it creates the optimizer's state), a traced one, a replayed one
    replays: bool = True


CASES = [
    Case("vae", vae, _adam(1e-2), vae_step, _vae_inputs, vae_eval, _one_cycle),
    Case("dcgan", dcgan, _gan_optimizers, gan_step, _gan_inputs, gan_eval),
    Case("wgan_gp", wgan_gp, _wgan_gp_optimizers, wgan_gp_step, _wgan_gp_inputs, wgan_gp_eval),
    Case("sngan", sngan, _gan_optimizers, sngan_step, _sngan_inputs, gan_eval),
    Case("ddpm", ddpm, _diffusion_optimizers, diffusion_step, _diffusion_inputs, diffusion_eval, _cosine),
    Case("reinforce", policy, _adam(1e-2), reinforce_step, _reinforce_inputs, policy_eval, replays=False),
    Case("actor_critic", actor_critic, _adam(1e-2), actor_critic_step, _actor_critic_inputs, actor_critic_eval, _step_lr),
    Case("ppo", ppo, _ppo_optimizers, ppo_step, _ppo_inputs, ppo_eval, _linear_anneal),
    Case("realnvp", realnvp, _adam(1e-2), flow_step, _flow_inputs, flow_eval),
    Case("simclr", simclr, _adam(1e-2), simclr_step, _views, simclr_eval),
    Case("moco", moco, _moco_optimizers, moco_step, _views, moco_eval, steps=4),  # a program per queue position
    Case("clip", clip, _adam(1e-1), clip_step, _pairs, clip_eval),
]

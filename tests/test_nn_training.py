"""Train vs eval behaviour (Dropout, BatchNorm running statistics) and graphc.nn inside graphc.compile, against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nn_compare import compare_modules

import graphc
import graphc.nn.functional as F
from graphc import nn, optim

pytestmark = pytest.mark.usefixtures("numpy_kernels")  # C loops have their own tests (conftest.py)

rng = np.random.default_rng(3)


def assert_state_equal(g: nn.Module, t: torch.nn.Module, rtol: float = 1e-10) -> None:
    g_state, t_state = g.state_dict(), t.state_dict()
    assert list(g_state) == list(t_state)
    for name in t_state:
        np.testing.assert_allclose(g_state[name].numpy(), t_state[name].numpy(), rtol=rtol, atol=1e-12, err_msg=name)


# ---------------------------------------------------------------- dropout


def test_dropout_train_scales_kept_elements_and_eval_is_identity() -> None:
    graphc.manual_seed(0)
    drop = nn.Dropout(0.25)
    x = graphc.tensor(rng.random((200, 50)) + 0.5, requires_grad=True)
    out = drop(x)
    kept = out.numpy() != 0
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_allclose(out.numpy()[kept], x.numpy()[kept] / 0.75, rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.75, rtol=1e-6)  # the gradient uses the same mask
    drop.eval()
    assert drop(x) is x
    assert nn.Dropout(0.0)(x) is x
    np.testing.assert_array_equal(nn.Dropout(1.0)(x).numpy(), 0.0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_compiled_dropout_draws_a_new_mask_every_call() -> None:
    model = nn.Sequential(nn.Dropout(0.5))
    step = graphc.compile(model)
    x = graphc.ones(64, 64)
    first, second = step(x).numpy().copy(), step(x).numpy().copy()
    assert not np.array_equal(first, second)
    model.eval()
    np.testing.assert_array_equal(model(x).numpy(), np.ones((64, 64)))


# ---------------------------------------------------------------- batch norm

BN_CASES = [
    ("BatchNorm1d", dict(), (6, 3)),
    ("BatchNorm1d", dict(momentum=0.3, eps=1e-3), (4, 3, 5)),
    ("BatchNorm1d", dict(momentum=None), (5, 3)),
    ("BatchNorm2d", dict(), (3, 3, 4, 2)),
    ("BatchNorm2d", dict(affine=False), (2, 3, 3, 3)),
    ("BatchNorm2d", dict(track_running_stats=False), (2, 3, 3, 3)),
]


@pytest.mark.parametrize("name,kwargs,shape", BN_CASES, ids=[f"{n}{k}{s}" for n, k, s in BN_CASES])
def test_batch_norm_train_steps_then_eval_match_torch(name: str, kwargs: dict, shape: tuple) -> None:
    g, t = getattr(nn, name)(3, **kwargs), getattr(torch.nn, name)(3, **kwargs)
    assert repr(g) == repr(t)
    with torch.no_grad():
        for p in t.parameters():
            p.copy_(torch.randn(p.shape))
    for step in range(3):  # every step compares outputs and gradients; the running estimates must follow torch's
        compare_modules(g, t, [rng.standard_normal(shape) * (step + 1) + step])
        assert_state_equal(g, t)
    if kwargs.get("track_running_stats", True):
        assert g.num_batches_tracked.item() == 3
    g.eval()
    t.eval()
    compare_modules(g, t, [rng.standard_normal(shape)])
    assert_state_equal(g, t)


def test_batch_norm_float32_smoke() -> None:
    g, t = nn.BatchNorm2d(4), torch.nn.BatchNorm2d(4)
    for _ in range(2):
        compare_modules(g, t, [rng.standard_normal((8, 4, 3, 3))], dtype="float32", rtol=1e-5, atol=1e-5)
    assert_state_equal(g, t, rtol=1e-6)


def test_batch_norm_checks_its_input() -> None:
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(graphc.randn(2, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(graphc.randn(1, 3))


def test_running_stats_are_realized_with_the_training_step() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    opt = optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        loss = model(graphc.randn(8, 4)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        # One program computed the update and the running statistics: nothing is left pending.
        assert model[1].running_mean._node.data is not None and model[1].num_batches_tracked._node.data is not None
    assert model[1].num_batches_tracked.item() == 3


# ---------------------------------------------------------------- compiled training against torch


def make(m: object) -> object:
    return m.Sequential(
        m.Conv2d(1, 4, 3, padding=1),
        m.BatchNorm2d(4),
        m.ReLU(),
        m.MaxPool2d(2),
        m.Conv2d(4, 4, 3, padding="same", groups=2),
        m.AvgPool2d(2, ceil_mode=True),
        m.Flatten(),
        m.Dropout(0.0),
        m.Linear(16, 5),
    )


def test_compiled_training_matches_torch_and_traces_once_per_signature() -> None:
    g, t = make(nn).double(), make(torch.nn).double()
    g.load_state_dict(t.state_dict())
    g_opt = optim.SGD(g.parameters(), lr=0.1, momentum=0.9)
    t_opt = torch.optim.SGD(t.parameters(), lr=0.1, momentum=0.9)

    @graphc.compile
    def train_step(x: graphc.Tensor, y: graphc.Tensor) -> graphc.Tensor:
        loss = F.cross_entropy(g(x), y)
        g_opt.zero_grad()
        loss.backward()
        g_opt.step()
        return loss

    for batch in (6, 6, 6, 9, 4):  # new batch sizes reuse the program (the batch dimension is symbolic)
        x, y = rng.standard_normal((batch, 1, 6, 6)), rng.integers(0, 5, batch)
        loss = train_step(graphc.tensor(x), graphc.tensor(y))
        t_loss = torch.nn.functional.cross_entropy(t(torch.tensor(x)), torch.tensor(y))
        t_opt.zero_grad()
        t_loss.backward()
        t_opt.step()
        assert loss.item() == pytest.approx(t_loss.item(), rel=1e-10)
    assert_state_equal(g, t, rtol=1e-9)
    assert train_step.trace_count == 2  # the first call creates optimizer state and runs eagerly
    g.eval()
    t.eval()
    x = rng.standard_normal((3, 1, 6, 6))
    with graphc.no_grad():
        np.testing.assert_allclose(g(graphc.tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-9)


def test_compiled_model_with_backward_outside() -> None:
    g, t = nn.LSTM(3, 4, batch_first=True).double(), torch.nn.LSTM(3, 4, batch_first=True).double()
    g.load_state_dict(t.state_dict())
    head_g, head_t = nn.Linear(4, 2).double(), torch.nn.Linear(4, 2).double()
    head_g.load_state_dict(head_t.state_dict())
    compiled = graphc.compile(lambda x: head_g(g(x)[0][:, -1]))
    for batch in (5, 7):
        x = rng.standard_normal((batch, 4, 3))
        out = compiled(graphc.tensor(x))
        expected = head_t(t(torch.tensor(x))[0][:, -1])
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-10)
        out.sum().backward()
        expected.sum().backward()
    for (name, p), (_, q) in zip(g.named_parameters(), t.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, err_msg=name)

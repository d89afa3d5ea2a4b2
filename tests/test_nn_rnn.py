"""graphc.nn recurrent layers against torch.nn with the same weights: outputs, final states, all gradients (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nn_compare import compare_modules

import graphc
from graphc import nn
from graphc.errors import GraphcError

# Every test here runs on each backend (numpy, and triton under TRITON_INTERPRET=1 on a CPU).
pytestmark = pytest.mark.usefixtures("backend", "fusion")

rng = np.random.default_rng(1)

CASES = [
    ("RNN", dict(num_layers=2)),
    ("RNN", dict(nonlinearity="relu", bias=False, batch_first=True)),
    ("LSTM", dict()),
    ("LSTM", dict(num_layers=2, batch_first=True)),
    ("LSTM", dict(bidirectional=True)),
    ("GRU", dict(num_layers=2)),
    ("GRU", dict(bidirectional=True, batch_first=True, bias=False)),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in CASES])
def test_recurrent_layer(name: str, kwargs: dict) -> None:
    g, t = getattr(nn, name)(4, 5, **kwargs), getattr(torch.nn, name)(4, 5, **kwargs)
    assert repr(g) == repr(t)
    assert list(g.state_dict()) == list(t.state_dict())
    assert [tuple(p.shape) for p in g.parameters()] == [tuple(p.shape) for p in t.parameters()]
    compare_modules(g, t, [rng.standard_normal((3, 2, 4))])


class _WithState(torch.nn.Module):
    def __init__(self, rnn: torch.nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor, *state: torch.Tensor) -> object:
        return self.rnn(x, tuple(state) if len(state) == 2 else state[0])


class _GraphcWithState(nn.Module):
    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: graphc.Tensor, *state: graphc.Tensor) -> object:
        return self.rnn(x, tuple(state) if len(state) == 2 else state[0])


def test_lstm_with_initial_state_gets_state_gradients() -> None:
    g, t = _GraphcWithState(nn.LSTM(4, 3, num_layers=2)), _WithState(torch.nn.LSTM(4, 3, num_layers=2))
    compare_modules(g, t, [rng.standard_normal((3, 2, 4)), rng.standard_normal((2, 2, 3)), rng.standard_normal((2, 2, 3))])


def test_gru_unbatched_with_initial_state() -> None:
    g, t = _GraphcWithState(nn.GRU(4, 3)), _WithState(torch.nn.GRU(4, 3))
    compare_modules(g, t, [rng.standard_normal((3, 4)), rng.standard_normal((1, 3))])


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells(name: str) -> None:
    g, t = getattr(nn, name)(4, 3), getattr(torch.nn, name)(4, 3)
    assert repr(g) == repr(t)
    compare_modules(g, t, [rng.standard_normal((2, 4))])


def test_lstm_float32_smoke() -> None:
    compare_modules(nn.LSTM(4, 6), torch.nn.LSTM(4, 6), [rng.standard_normal((4, 3, 4))], dtype="float32", rtol=1e-5, atol=1e-6)


def test_dropout_between_layers_only_in_training() -> None:
    g = nn.GRU(3, 4, num_layers=2, dropout=0.5).double()
    x = graphc.tensor(rng.standard_normal((3, 2, 3)))
    g.eval()
    first, _ = g(x)
    second, _ = g(x)
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    t = torch.nn.GRU(3, 4, num_layers=2, dropout=0.5).double().eval()
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in g.state_dict().items()})
    np.testing.assert_allclose(first.numpy(), t(torch.tensor(x.numpy()))[0].detach().numpy(), rtol=1e-10)
    g.train()
    assert not np.allclose(g(x)[0].numpy(), first.numpy())


def test_default_initialisation_range() -> None:
    graphc.manual_seed(0)
    lstm = nn.LSTM(10, 16, num_layers=2)
    bound = 1 / np.sqrt(16)
    values = np.concatenate([p.numpy().ravel() for p in lstm.parameters()])
    assert values.dtype == np.float32
    assert values.min() >= -bound and values.max() <= bound
    assert values.std() == pytest.approx(bound / np.sqrt(3), rel=0.05)


def test_bad_hidden_state_is_a_clear_error() -> None:
    lstm = nn.LSTM(4, 3)
    with pytest.raises(GraphcError, match="h_0"):
        lstm(graphc.randn(5, 2, 4), (graphc.randn(1, 3, 3), graphc.randn(1, 2, 3)))

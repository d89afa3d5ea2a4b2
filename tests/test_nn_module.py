"""graphc.nn.Module and Parameter: registration, iteration, state dicts, reprs, modes, dtypes, init, as in torch.nn."""

from __future__ import annotations

import copy
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch

import graphc
from graphc import nn


def build(m: object) -> object:
    """The same architecture from graphc.nn or torch.nn."""

    class Net(m.Module):  # type: ignore[attr-defined, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.features = m.Sequential(m.Conv2d(1, 4, 3, padding=1), m.BatchNorm2d(4), m.ReLU(), m.MaxPool2d(2), m.Dropout(0.1))
            self.blocks = m.ModuleList([m.Linear(36, 36) for _ in range(3)] + [m.LayerNorm(36)])
            self.heads = m.ModuleDict({"cls": m.Linear(36, 5), "aux": m.Sequential(m.Linear(36, 2, bias=False), m.Sigmoid())})
            self.rnn = m.GRU(4, 3, num_layers=2, batch_first=True)
            self.embed = m.Embedding(10, 4, padding_idx=0)
            self.scale = m.Parameter(torch.ones(1) if m is torch.nn else graphc.ones(1))
            self.register_buffer("steps", torch.zeros(2) if m is torch.nn else graphc.zeros(2))
            self.register_buffer("scratch", torch.zeros(1) if m is torch.nn else graphc.zeros(1), persistent=False)

        def forward(self, x: object) -> object:
            h = self.features(x).flatten(1)
            for block in self.blocks:
                h = block(h)
            return self.heads["cls"](h) * self.scale

    return Net()


def test_names_orders_and_counts_match_torch() -> None:
    g, t = build(nn), build(torch.nn)
    assert [n for n, _ in g.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in g.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in g.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in g.named_children()] == [n for n, _ in t.named_children()]
    assert list(g.state_dict()) == list(t.state_dict())
    assert sum(p.numel() for p in g.parameters()) == sum(p.numel() for p in t.parameters())
    assert [tuple(p.shape) for p in g.parameters()] == [tuple(p.shape) for p in t.parameters()]
    assert len(list(g.parameters(recurse=False))) == 1
    assert len(list(g.children())) == 5
    assert "scratch" not in g.state_dict()
    assert all(isinstance(p, nn.Parameter) and p.requires_grad and p.is_leaf for p in g.parameters())
    assert all(p.dtype == graphc.float32 for p in g.parameters())


def test_repr_matches_torch() -> None:
    assert repr(build(nn)) == repr(build(torch.nn))
    assert repr(nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Tanh(), nn.ReLU()])) == repr(
        torch.nn.ModuleList([torch.nn.ReLU(), torch.nn.ReLU(), torch.nn.Tanh(), torch.nn.ReLU()])
    )
    assert repr(nn.Sequential()) == repr(torch.nn.Sequential())
    for g, t in [
        (nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)),
        (
            nn.BatchNorm2d(3, momentum=None, affine=False, track_running_stats=False),
            torch.nn.BatchNorm2d(3, momentum=None, affine=False, track_running_stats=False),
        ),
        (nn.Dropout(0.25), torch.nn.Dropout(0.25)),
        (nn.Linear(50, 30), torch.nn.Linear(50, 30)),
        (nn.Embedding(5, 2, max_norm=1.0), torch.nn.Embedding(5, 2, max_norm=1.0)),
        (nn.RNN(3, 4, 2, nonlinearity="relu", dropout=0.5), torch.nn.RNN(3, 4, 2, nonlinearity="relu", dropout=0.5)),
    ]:
        assert repr(g) == repr(t)
    assert repr(nn.Linear(50, 30)) == "Linear(in_features=50, out_features=30, bias=True)"


# Every layer and loss of DESIGN.md's nn list, with default and non-default arguments.
REPR_CASES = [
    ("Linear", (3, 4), {"bias": False}),
    ("Conv2d", (1, 4, 3), {}),
    ("Conv2d", (2, 4, (3, 5)), {"stride": 2, "padding": 1, "dilation": 2, "groups": 2, "bias": False, "padding_mode": "reflect"}),
    ("Conv2d", (2, 4, 3), {"padding": "same"}),
    ("MaxPool2d", (2,), {}),
    ("MaxPool2d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True}),
    ("AvgPool2d", (2,), {}),
    ("AvgPool2d", (3, 1, 1), {"count_include_pad": False}),
    ("ReLU", (), {"inplace": True}),
    ("Sigmoid", (), {}),
    ("Tanh", (), {}),
    ("GELU", (), {"approximate": "tanh"}),
    ("Softmax", (), {"dim": 1}),
    ("Dropout", (), {}),
    ("Flatten", (0, 2), {}),
    ("LayerNorm", ((2, 3),), {"eps": 1e-6, "elementwise_affine": False}),
    ("BatchNorm1d", (3,), {"affine": False}),
    ("BatchNorm2d", (3,), {"eps": 1e-3, "momentum": 0.2}),
    ("Embedding", (10, 3), {"padding_idx": 2}),
    ("RNN", (3, 4), {}),
    ("LSTM", (3, 4), {"num_layers": 2, "batch_first": True}),
    ("LSTM", (3, 4), {"bidirectional": True, "bias": False}),
    ("GRU", (3, 4), {"dropout": 0.1, "num_layers": 2}),
    ("MSELoss", (), {"reduction": "sum"}),
    ("CrossEntropyLoss", (), {"label_smoothing": 0.1}),
    ("NLLLoss", (), {}),
    ("BCELoss", (), {}),
    ("BCEWithLogitsLoss", (), {}),
]


@pytest.mark.parametrize("name, args, kwargs", REPR_CASES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(REPR_CASES)])
def test_every_layer_and_loss_prints_like_torch(name: str, args: tuple, kwargs: dict) -> None:
    assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args, **kwargs))


def test_load_state_dict_from_torch_numpy_and_graphc() -> None:
    g, t = build(nn), build(torch.nn)
    result = g.load_state_dict(t.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    for (name, a), (_, b) in zip(g.state_dict().items(), t.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
        assert a.dtype.name == str(b.dtype).replace("torch.", ""), name
    g2 = build(nn)
    g2.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    g3 = build(nn)
    g3.load_state_dict(g2.state_dict())
    np.testing.assert_array_equal(g3.heads["cls"].weight.numpy(), t.heads["cls"].weight.detach().numpy())


def test_load_state_dict_casts_to_the_module_dtype_and_keeps_parameter_objects() -> None:
    g, t = nn.Linear(3, 2).double(), torch.nn.Linear(3, 2)
    weight = g.weight
    g.load_state_dict(t.state_dict())
    assert g.weight is weight and g.weight.dtype == graphc.float64
    np.testing.assert_allclose(g.weight.numpy(), t.weight.detach().numpy().astype(np.float64))
    g.load_state_dict(t.state_dict(), assign=True)
    assert g.weight.dtype == graphc.float32


def test_load_state_dict_errors_like_torch() -> None:
    g = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    state = g.state_dict()
    del state["2.bias"]
    state["2.extra"] = graphc.zeros(1)
    state["5.weight"] = graphc.zeros(1)
    torch_model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    torch_state = {k: torch.tensor(v.numpy()) for k, v in state.items()}
    with pytest.raises(RuntimeError) as expected:
        torch_model.load_state_dict(torch_state)
    with pytest.raises(RuntimeError) as info:
        g.load_state_dict(state)
    assert str(info.value) == str(expected.value)
    result = g.load_state_dict(state, strict=False)
    torch_result = torch_model.load_state_dict(torch_state, strict=False)
    assert result.missing_keys == torch_result.missing_keys == ["2.bias"]
    assert result.unexpected_keys == torch_result.unexpected_keys == ["5.weight", "2.extra"]
    bad = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1)).state_dict()
    bad["0.weight"] = np.zeros((4, 3))
    with pytest.raises(
        RuntimeError, match=r"size mismatch for 0.weight: copying a param with shape \[4, 3\] from checkpoint, the shape in current model is \[2, 3\]"
    ):
        g.load_state_dict(bad)


def test_state_dict_values_are_detached_aliases() -> None:
    g = nn.Linear(2, 2)
    state = g.state_dict()
    assert not state["weight"].requires_grad and not isinstance(state["weight"], nn.Parameter)
    state["weight"].copy_(graphc.ones(2, 2))  # writes through to the parameter, as torch's state dict tensors do
    np.testing.assert_array_equal(g.weight.numpy(), np.ones((2, 2)))
    assert g.weight.requires_grad and g.weight.is_leaf
    keep = g.state_dict(keep_vars=True)
    assert keep["weight"] is g.weight


def test_parameter_data_can_be_changed_without_no_grad() -> None:
    p = nn.Parameter(graphc.tensor([1.0, 2.0]))
    p.data.mul_(3)  # as in torch: changes through .data are not recorded by autograd
    np.testing.assert_array_equal(p.numpy(), [3.0, 6.0])
    (p * p).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), [6.0, 12.0])
    assert repr(p).startswith("Parameter containing:\ntensor([3., 6.]")
    with pytest.raises(graphc.GraphcError, match="floating point"):
        nn.Parameter(graphc.tensor([1, 2]))
    assert not nn.Parameter(graphc.tensor([1, 2]), requires_grad=False).requires_grad


def test_setattr_registration_and_errors() -> None:
    m = nn.Module()
    m.w = nn.Parameter(graphc.zeros(2))
    m.sub = nn.Linear(2, 2)
    m.plain = graphc.zeros(2)  # a plain tensor is an attribute, not a buffer or parameter
    m.register_buffer("buf", graphc.ones(3))
    assert [n for n, _ in m.named_parameters()] == ["w", "sub.weight", "sub.bias"]
    assert [n for n, _ in m.named_buffers()] == ["buf"]
    m.buf = graphc.zeros(3)
    np.testing.assert_array_equal(m.buf.numpy(), np.zeros(3))
    with pytest.raises(TypeError, match="cannot assign"):
        m.w = graphc.zeros(2)
    m.w = None
    assert [n for n, _ in m.named_parameters()] == ["sub.weight", "sub.bias"]
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("sub", graphc.zeros(1))
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = m.missing
    del m.sub
    assert list(m.children()) == []
    shared = nn.Linear(2, 2)
    twice = nn.Sequential(shared, shared)
    assert len(list(twice.parameters())) == 2 and len(list(twice.modules())) == 2
    assert list(twice.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert twice.get_submodule("1") is shared and twice.get_parameter("0.bias") is shared.bias


def test_containers() -> None:
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    seq.append(nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and isinstance(seq[1:], nn.Sequential) and len(seq[1:]) == 2
    assert seq(graphc.randn(4, 2)).shape == (4, 1)
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"] and named.fc is named[0]
    layers = nn.ModuleList([nn.Linear(2, 2)])
    layers.extend([nn.ReLU(), nn.Tanh()])
    layers.insert(1, nn.Sigmoid())
    assert [type(m).__name__ for m in layers] == ["Linear", "Sigmoid", "ReLU", "Tanh"]
    del layers[0]
    assert [n for n, _ in layers.named_children()] == ["0", "1", "2"]
    heads = nn.ModuleDict({"a": nn.ReLU()})
    heads["b"] = nn.Tanh()
    assert list(heads.keys()) == ["a", "b"] and "b" in heads and len(heads) == 2


def test_train_eval_apply_hooks_and_zero_grad() -> None:
    g = build(nn)
    assert g.training and all(m.training for m in g.modules())
    g.eval()
    assert not any(m.training for m in g.modules())
    g.train()
    assert all(m.training for m in g.modules())
    seen: list[str] = []
    g.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen.count("Linear") == 5
    lin = nn.Linear(3, 2)
    calls = []
    handle = lin.register_forward_hook(lambda module, args, out: calls.append(out.shape))
    lin.register_forward_pre_hook(lambda module, args: (args[0] * 2,))
    out = lin(graphc.ones(1, 3))
    # torch's float32 Linear on the doubled input; a float32 sum of three products near 0.5 is
    # exact to about 6e-8 absolute, so an output near 0 needs an absolute tolerance too.
    expected = torch.nn.functional.linear(torch.full((1, 3), 2.0), torch.from_numpy(lin.weight.numpy()), torch.from_numpy(lin.bias.numpy()))
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-6, atol=1e-7)
    handle.remove()
    lin(graphc.ones(1, 3))
    assert calls == [(1, 2)]
    lin(graphc.randn(4, 3)).sum().backward()
    assert lin.weight.grad is not None
    lin.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(lin.weight.grad.numpy(), np.zeros((2, 3)))
    lin.zero_grad()
    assert lin.weight.grad is None and lin.bias.grad is None


def test_to_changes_dtype_in_place_and_keeps_integer_buffers() -> None:
    g = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    params = list(g.parameters())
    assert g.to(graphc.float64) is g
    assert all(p.dtype == graphc.float64 for p in g.parameters())
    assert [id(p) for p in g.parameters()] == [id(p) for p in params]
    assert g[1].running_mean.dtype == graphc.float64 and g[1].num_batches_tracked.dtype == graphc.int64
    g.float()
    assert all(p.dtype == graphc.float32 for p in g.parameters())
    g.to(dtype=graphc.float64).to("cpu")
    assert g(graphc.randn(4, 2, dtype=graphc.float64)).dtype == graphc.float64
    with pytest.raises(TypeError, match="floating point"):
        g.to(graphc.int64)
    g.requires_grad_(False)
    assert not any(p.requires_grad for p in g.parameters())


def test_deepcopy_and_save_load_round_trip(tmp_path: object) -> None:
    g = build(nn)
    g.heads["cls"](graphc.randn(2, 36)).sum().backward()
    clone = copy.deepcopy(g)
    assert isinstance(clone.heads["cls"].weight, nn.Parameter) and clone.heads["cls"].weight is not g.heads["cls"].weight
    np.testing.assert_array_equal(clone.heads["cls"].weight.grad.numpy(), g.heads["cls"].weight.grad.numpy())
    path = f"{tmp_path}/model.graphc"
    graphc.save(g.state_dict(), path)
    fresh = build(nn)
    assert repr(fresh.load_state_dict(graphc.load(path))) == "<All keys matched successfully>"
    for (name, a), (_, b) in zip(fresh.state_dict().items(), g.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def test_default_initialisation_follows_torch() -> None:
    graphc.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)  # kaiming_uniform(a=sqrt(5)) gives the same bound as the bias's
    w, b = lin.weight.numpy(), lin.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound and abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert np.abs(b).max() <= bound and b.std() > 0.5 * bound / math.sqrt(3)
    conv = nn.Conv2d(8, 16, 3, groups=2)
    fan_in = 4 * 9
    assert np.abs(conv.weight.numpy()).max() <= 1 / math.sqrt(fan_in) and np.abs(conv.bias.numpy()).max() <= 1 / math.sqrt(fan_in)
    emb = nn.Embedding(1000, 20).weight.numpy()
    assert abs(emb.mean()) < 0.02 and abs(emb.std() - 1) < 0.02
    norm = nn.BatchNorm2d(3)
    np.testing.assert_array_equal(norm.weight.numpy(), np.ones(3))
    np.testing.assert_array_equal(norm.bias.numpy(), np.zeros(3))
    np.testing.assert_array_equal(norm.running_var.numpy(), np.ones(3))
    assert norm.num_batches_tracked.item() == 0 and norm.num_batches_tracked.dtype == graphc.int64
    graphc.manual_seed(5)
    first = nn.Linear(3, 3).weight.numpy()
    graphc.manual_seed(5)
    np.testing.assert_array_equal(nn.Linear(3, 3).weight.numpy(), first)


def test_init_functions() -> None:
    graphc.manual_seed(0)
    w = nn.Parameter(graphc.zeros(64, 32, 3))
    nn.init.xavier_uniform_(w)
    fan_in, fan_out = 32 * 3, 64 * 3
    assert np.abs(w.numpy()).max() <= math.sqrt(6 / (fan_in + fan_out))
    nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(w.numpy().std() - math.sqrt(2 / fan_out)) < 0.05 * math.sqrt(2 / fan_out)
    nn.init.trunc_normal_(w, std=2.0, a=-1.0, b=1.5)
    assert w.numpy().min() >= -1.0 and w.numpy().max() <= 1.5
    nn.init.constant_(w, 0.5)
    np.testing.assert_array_equal(w.numpy(), 0.5)
    square = nn.Parameter(graphc.zeros(5, 5))
    nn.init.orthogonal_(square)
    np.testing.assert_allclose(square.numpy() @ square.numpy().T, np.eye(5), atol=1e-5)
    assert w.requires_grad and w.is_leaf and nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))


def test_clip_grad_norm_matches_torch() -> None:
    g, t = nn.Linear(4, 3).double(), torch.nn.Linear(4, 3).double()
    g.load_state_dict(t.state_dict())
    x = np.random.default_rng(0).standard_normal((5, 4)) * 10
    g(graphc.tensor(x)).pow(2).sum().backward()
    t(torch.tensor(x)).pow(2).sum().backward()
    for norm_type in (2.0, math.inf):
        total_g = nn.utils.clip_grad_norm_(g.parameters(), 1.0, norm_type)
        total_t = torch.nn.utils.clip_grad_norm_(t.parameters(), 1.0, norm_type)
        assert total_g.item() == pytest.approx(total_t.item(), rel=1e-12)
        for p, q in zip(g.parameters(), t.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)
    vector = nn.utils.parameters_to_vector(g.parameters())
    np.testing.assert_allclose(vector.numpy(), torch.nn.utils.parameters_to_vector(t.parameters()).detach().numpy())

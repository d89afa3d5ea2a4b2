"""graphc.compile(torch.nn.Module): outputs, losses, gradients and Adam training curves against eager PyTorch.

Each model is copied; one copy runs eagerly, the other through graphc (torch.export -> core ATen ->
graphc IR -> NumPy program, backward by graphc's autodiff). float32 values must agree within 1e-4
of the largest magnitude of each tensor, float64 within 1e-10.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import graphc

# Eager torch on the shared CPU cores is much faster on one thread (no oversubscription).
pytestmark = pytest.mark.usefixtures("one_torch_thread", "numpy_kernels")  # C loops have their own tests (conftest.py)


RTOL = {torch.float32: 1e-4, torch.float64: 1e-10}


def assert_close(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    """Equal up to RTOL[dtype] times the largest magnitude of the expected tensor."""
    assert actual is not None, f"{what}: graphc gave no value"
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} vs {tuple(expected.shape)}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} vs {expected.dtype}"
    scale = max(expected.detach().abs().max().item(), 1e-30) if expected.numel() else 1.0
    error = (actual.detach() - expected.detach()).abs().max().item() if expected.numel() else 0.0
    assert error <= RTOL[expected.dtype] * scale, f"{what}: max abs error {error:.3g} vs scale {scale:.3g}"


# ------------------------------------------------------------------ models


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(50, 30), nn.ReLU(), nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class LeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 4 * 4, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(x.size(0), -1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class SimpleCNN(nn.Module):
    def __init__(self, size: int = 16) -> None:
        super().__init__()
        self.size = size
        self.conv1 = nn.Conv2d(3, 18, kernel_size=3, stride=1, padding=1)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2, padding=0)
        self.fc1 = nn.Linear(18 * (size // 2) ** 2, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = x.view(-1, 18 * (self.size // 2) ** 2)
        return self.fc2(F.relu(self.fc1(x)))


class RecurrentClassifier(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.rnn = getattr(nn, kind)(input_size=6, hidden_size=10, num_layers=2, batch_first=True)
        self.fc = nn.Linear(10, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.fc(out[:, -1, :])


class LogisticRegression(nn.Module):
    """Returns the loss: sigmoid and binary_cross_entropy are compiled too."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(12, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy(torch.sigmoid(self.linear(x)), y)


class SoftmaxClassifier(nn.Module):
    """cross_entropy (log_softmax + nll_loss), softmax and log_softmax, returned as a tuple."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(12, 5)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits = self.linear(x)
        return F.cross_entropy(logits, y), F.softmax(logits, dim=-1), F.log_softmax(logits, dim=1)


class EncoderBlock(nn.Module):
    """Embedding, causal multi-head attention from matmuls and softmax, layer norms, a GELU MLP, dropout."""

    def __init__(self, vocab: int = 20, dim: int = 16, heads: int = 4, length: int = 6, dropout: float = 0.1) -> None:
        super().__init__()
        self.heads = heads
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(dim, vocab)
        self.register_buffer("causal", torch.tril(torch.ones(length, length, dtype=torch.bool)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        batch, length, dim = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(dim, dim=-1)
        q, k, v = (t.view(batch, length, self.heads, dim // self.heads).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(dim // self.heads)
        scores = scores.masked_fill(~self.causal[:length, :length], float("-inf"))
        attention = self.drop(torch.softmax(scores, dim=-1))
        y = (attention @ v).transpose(1, 2).reshape(batch, length, dim)
        x = x + self.drop(self.proj(y))
        x = x + self.drop(self.mlp(self.norm2(x)))
        return self.head(x)


class BatchNormNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, bias=False)
        self.bn2d = nn.BatchNorm2d(4)
        self.fc1 = nn.Linear(4 * 6 * 6, 8, bias=False)
        self.bn1d = nn.BatchNorm1d(8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn2d(self.conv(x))).flatten(1)
        return self.fc2(F.relu(self.bn1d(self.fc1(x))))


# ------------------------------------------------------------------ the comparison


def seeded(make: Callable[[], nn.Module], dtype: torch.dtype = torch.float32) -> nn.Module:
    torch.manual_seed(0)
    return make().to(dtype)


def compare_training(
    model: nn.Module,
    inputs: tuple,
    loss_fn: Callable | None = None,
    targets: tuple = (),
    steps: int = 20,
    lr: float = 1e-3,
    backend: str = "numpy",
) -> graphc.frontend.torch_import.CompiledModule:
    """One step: outputs, loss and every gradient match eager; then ``steps`` Adam steps follow eager's losses.

    ``loss_fn(output, *targets)`` makes the loss in eager torch; without it the model returns the loss
    (or a tuple whose first element is the loss).
    """
    eager = model
    mine = copy.deepcopy(model)
    compiled = graphc.compile(mine, backend=backend)

    def loss_of(module: nn.Module) -> tuple[torch.Tensor, object]:
        out = module(*inputs)
        if loss_fn is not None:
            return loss_fn(out, *targets), out
        return (out[0] if isinstance(out, tuple) else out), out

    expected_loss, expected_out = loss_of(eager)
    loss, out = loss_of(compiled)
    outs = out if isinstance(out, tuple) else (out,)
    expected_outs = expected_out if isinstance(expected_out, tuple) else (expected_out,)
    for i, (a, e) in enumerate(zip(outs, expected_outs)):
        assert_close(a, e, f"output {i}")
    assert_close(loss, expected_loss, "loss")
    expected_loss.backward()
    loss.backward()
    for (name, p), (_, q) in zip(mine.named_parameters(), eager.named_parameters()):
        assert_close(p.grad, q.grad, f"gradient of {name}")
    optimizers = [torch.optim.Adam(m.parameters(), lr=lr) for m in (eager, compiled)]
    curves: list[list[float]] = [[], []]
    for _ in range(steps):
        for curve, module, optimizer in zip(curves, (eager, compiled), optimizers):
            optimizer.zero_grad()
            step_loss, _ = loss_of(module)
            step_loss.backward()
            optimizer.step()
            curve.append(step_loss.item())
    for step, (a, e) in enumerate(zip(*curves)):
        assert a == pytest.approx(e, rel=RTOL[expected_loss.dtype], abs=RTOL[expected_loss.dtype] * abs(curves[1][0])), f"step {step}"
    assert not steps or curves[0][-1] < curves[0][0], "the loss should go down"
    return compiled


def cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out, y)


def data(*shape: int, dtype: torch.dtype = torch.float32, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def labels(batch: int, classes: int, seed: int = 2) -> torch.Tensor:
    return torch.randint(0, classes, (batch,), generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ tests


def test_mlp_matches_eager_and_trains() -> None:
    x, y = data(16, 50), labels(16, 3)
    compiled = compare_training(seeded(MLP), (x,), cross_entropy, (y,))
    assert compiled.export_count == 1


def test_mlp_float64_gradients_are_tight() -> None:
    x, y = data(8, 50, dtype=torch.float64), labels(8, 3)
    compare_training(seeded(MLP, torch.float64), (x,), cross_entropy, (y,), steps=3)


def test_lenet_matches_eager_and_trains() -> None:
    x, y = data(4, 1, 28, 28), labels(4, 10)
    compare_training(seeded(LeNet), (x,), cross_entropy, (y,), steps=20)


def test_simple_cnn_matches_eager_and_trains() -> None:
    x, y = data(4, 3, 16, 16), labels(4, 10)
    compare_training(seeded(SimpleCNN), (x,), cross_entropy, (y,))


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_recurrent_classifier_matches_eager_and_trains(kind: str) -> None:
    x, y = data(5, 4, 6), labels(5, 4)
    compare_training(seeded(lambda: RecurrentClassifier(kind)), (x,), cross_entropy, (y,), lr=1e-2)


def test_logistic_regression_with_binary_cross_entropy() -> None:
    x = data(32, 12)
    y = (data(32, 1, seed=3) > 0).float()
    compare_training(seeded(LogisticRegression), (x, y), lr=1e-2)


def test_softmax_log_softmax_and_cross_entropy() -> None:
    x, y = data(10, 12), labels(10, 5)
    compare_training(seeded(SoftmaxClassifier), (x, y), lr=1e-2)


def test_float64_lenet_gradients_are_tight() -> None:
    x, y = data(3, 1, 28, 28, dtype=torch.float64), labels(3, 10)
    compare_training(seeded(LeNet, torch.float64), (x,), cross_entropy, (y,), steps=2)


def test_encoder_block_matches_eager_in_eval_mode() -> None:
    tokens = torch.randint(0, 20, (3, 6), generator=torch.Generator().manual_seed(4))
    tokens[0, :2] = 0  # the padding row of the embedding gets no gradient
    targets = torch.randint(0, 20, (3, 6), generator=torch.Generator().manual_seed(5))

    def loss(out: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), targets.reshape(-1))

    model = seeded(EncoderBlock).eval()
    compiled = compare_training(model, (tokens,), loss)
    assert compiled.embed.weight.grad is not None


def test_encoder_block_trains_with_dropout_and_respects_eval() -> None:
    tokens = torch.randint(1, 20, (3, 6), generator=torch.Generator().manual_seed(4))
    model = seeded(lambda: EncoderBlock(dropout=0.5))
    compiled = graphc.compile(copy.deepcopy(model), backend="numpy")
    first, second = compiled(tokens), compiled(tokens)
    assert not torch.allclose(first, second), "dropout draws a fresh mask on every call"
    first.sum().backward()
    assert all(p.grad is not None for p in compiled.parameters())
    compiled.eval()
    model.eval()
    assert_close(compiled(tokens), model(tokens), "eval output")
    assert compiled.export_count == 2
    compiled.train()
    compiled(tokens)
    assert compiled.export_count == 2, "each mode is exported once and cached"


def test_dropout_backward_uses_the_forward_mask() -> None:
    model = nn.Sequential(nn.Dropout(0.3))
    compiled = graphc.compile(model, backend="numpy")
    x = (data(64, 32).abs() + 0.5).requires_grad_()
    y = compiled(x)
    kept = y != 0
    assert 0.6 < kept.float().mean().item() < 0.8
    assert_close(y[kept], x[kept] / 0.7, "kept values are scaled by 1 / (1 - p)")
    weights = data(64, 32, seed=7)
    (y * weights).sum().backward()
    assert_close(x.grad, torch.where(kept, weights / 0.7, 0.0), "the gradient passes where the mask kept values")


def test_batch_norm_running_statistics_update_like_eager() -> None:
    model = seeded(BatchNormNet)
    x, y = data(6, 3, 8, 8), labels(6, 3)
    compiled = compare_training(model, (x,), cross_entropy, (y,), steps=5)
    eager = model
    for name, buffer in eager.named_buffers():
        mine = dict(compiled.named_buffers())[name]
        if buffer.dtype.is_floating_point:
            assert_close(mine, buffer, name)
        else:
            assert torch.equal(mine, buffer), name
    eager.eval()
    compiled.eval()
    assert_close(compiled(x), eager(x), "eval output with running statistics")


def test_varying_batch_sizes_reuse_one_compilation() -> None:
    model = seeded(MLP)
    compiled = graphc.compile(copy.deepcopy(model), backend="numpy")
    compiled(data(8, 50)).sum().backward()
    programs = compiled.compile_count
    for batch in (3, 17, 64):
        x = data(batch, 50)
        out = compiled(x)
        assert_close(out, model(x), f"batch {batch}")
        out.sum().backward()
    assert compiled.export_count == 1
    assert compiled.compile_count == programs
    assert all("B" in str(report.graph) for report in compiled.report().programs.values())


def test_parameters_are_shared_with_the_original_module() -> None:
    model = seeded(MLP)
    compiled = graphc.compile(model, backend="numpy")
    assert [id(p) for p in compiled.parameters()] == [id(p) for p in model.parameters()]
    assert list(compiled.state_dict()) == list(model.state_dict())
    with torch.no_grad():
        model.net[0].bias.add_(1.0)  # a change made through the original is seen by the next call
    x = data(4, 50)
    assert_close(compiled(x), model(x), "after an in-place update")
    other = seeded(MLP)
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(0.5)
    compiled.load_state_dict(other.state_dict())
    assert_close(model(x), other(x), "load_state_dict writes the shared parameters")
    assert compiled.net is model.net


def test_gradients_accumulate_over_backward_calls_like_eager() -> None:
    model = seeded(MLP)
    compiled = graphc.compile(copy.deepcopy(model), backend="numpy")
    for seed in (1, 2):
        x = data(4, 50, seed=seed)
        model(x).pow(2).sum().backward()
        compiled(x).pow(2).sum().backward()
    for (name, p), (_, q) in zip(compiled.named_parameters(), model.named_parameters()):
        assert_close(p.grad, q.grad, name)


def test_no_grad_and_inputs_requiring_grad() -> None:
    model = seeded(MLP)
    compiled = graphc.compile(copy.deepcopy(model), backend="numpy")
    with torch.no_grad():
        assert not compiled(data(4, 50)).requires_grad
    x = data(4, 50).requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    compiled(x).sum().backward()
    model(x2).sum().backward()
    assert_close(x.grad, x2.grad, "input gradient")


TRITON = "triton" in __import__("graphc.runtime.executor", fromlist=["BACKENDS"]).BACKENDS


@pytest.mark.skipif(not TRITON, reason="no triton backend")
def test_tiny_mlp_trains_on_the_triton_backend() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    x, y = data(4, 6), labels(4, 3)
    compare_training(model, (x,), cross_entropy, (y,), steps=3, backend="triton")


@pytest.mark.skipif(not TRITON, reason="no triton backend")
def test_tiny_cnn_on_the_triton_backend() -> None:
    x, y = data(2, 3, 8, 8), labels(2, 10)
    compare_training(seeded(lambda: SimpleCNN(size=8)), (x,), cross_entropy, (y,), steps=0, backend="triton")


# ------------------------------------------------------------------ edge cases of calls and gradients

BACKENDS = ["numpy", pytest.param("triton", marks=pytest.mark.skipif(not TRITON, reason="no triton backend"))]


def assert_tight(actual: torch.Tensor | None, expected: torch.Tensor | None, what: str) -> None:
    """float64 values within 1e-10, infinities in the same places and NaN only where eager has NaN."""
    assert (actual is None) == (expected is None), f"{what}: graphc gives {actual}, eager {expected}"
    if expected is not None:
        torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-12, equal_nan=True, msg=lambda m: f"{what}: {m}")


def run_both(module: nn.Module, backend: str, *inputs: torch.Tensor) -> tuple[nn.Module, list, list, list, list]:
    """(compiled copy, eager outputs, compiled outputs, eager inputs, compiled inputs); float inputs require grad."""
    compiled = graphc.compile(copy.deepcopy(module), backend=backend)
    theirs = [t.clone().requires_grad_(t.dtype.is_floating_point) for t in inputs]
    mine = [t.clone().requires_grad_(t.dtype.is_floating_point) for t in inputs]
    return compiled, list(module(*theirs)), list(compiled(*mine)), theirs, mine


def assert_same_gradients(compiled: nn.Module, eager: nn.Module, mine: list, theirs: list) -> None:
    for i, (a, e) in enumerate(zip(mine, theirs)):
        assert_tight(a.grad, e.grad, f"gradient of input {i}")
    for (name, p), (_, q) in zip(compiled.named_parameters(), eager.named_parameters()):
        assert_tight(p.grad, q.grad, f"gradient of {name}")


class Fn(nn.Module):
    """A module around a function; its forward takes *args."""

    def __init__(self, fn: Callable) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args: torch.Tensor) -> object:
        return self.fn(*args)


class ThreeOutputs(nn.Module):
    """A loss may use any of the outputs; the square root's gradient is infinite at 0."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.linear(x)
        return h.sum(1), x.sqrt() * h, h.exp()


@pytest.mark.parametrize("backend", BACKENDS)
def test_outputs_the_loss_does_not_use_contribute_no_gradient(backend: str) -> None:
    # x has a 0: an unused sqrt output must not make the gradient 0 * inf = NaN, as zeros for its gradient would.
    x = torch.tensor([[0.0, 1.0, 4.0], [1.0, 2.0, 3.0]], dtype=torch.float64)
    model = seeded(ThreeOutputs, torch.float64)
    compiled = graphc.compile(copy.deepcopy(model), backend=backend)
    for used in [(0,), (2,), (0, 2), (0, 1, 2), (1,), (0,)]:
        theirs, mine = x.clone().requires_grad_(), x.clone().requires_grad_()
        model.zero_grad(), compiled.zero_grad()
        for module, inputs in ((model, theirs), (compiled, mine)):
            outputs = module(inputs)
            torch.autograd.backward([outputs[i] for i in used], [torch.ones_like(outputs[i]) for i in used])
        assert_same_gradients(compiled, model, [mine], [theirs])
    # One forward with every output, one backward program per set of outputs with a gradient.
    assert compiled.compile_count == 1 + 5


class Spread(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        std, mean = torch.std_mean(x, dim=1)
        return x.std(dim=1), x.std(dim=1, keepdim=True, correction=0), std, mean, x.std(), torch.linalg.vector_norm(x, dim=1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_std_of_constant_rows_has_a_zero_gradient_like_torch(backend: str) -> None:
    x = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 5.0], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    model = Spread()
    compiled, expected, got, theirs, mine = run_both(model, backend, x)
    for i, (a, e) in enumerate(zip(got, expected)):
        assert_tight(a, e, f"output {i}")
    sum(o.sum() for o in expected).backward()
    sum(o.sum() for o in got).backward()
    assert not mine[0].grad.isnan().any()
    assert_same_gradients(compiled, model, mine, theirs)


def test_sqrt_of_a_variance_keeps_the_nan_gradient_of_eager() -> None:
    # Only std's own gradient is masked at 0; torch.sqrt(x.var()) written out gives NaN in eager torch too.
    x = torch.ones(2, 3, dtype=torch.float64)
    compiled, expected, got, theirs, mine = run_both(Fn(lambda x: [torch.sqrt(x.var(dim=1))]), "numpy", x)
    expected[0].sum().backward()
    got[0].sum().backward()
    assert theirs[0].grad.isnan().all()
    assert_tight(mine[0].grad, theirs[0].grad, "gradient")


class VarArgs(nn.Module):
    def forward(self, x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        return x * rest[0] + rest[1].sum(1, keepdim=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_varargs_forward_exports_with_a_dynamic_batch(backend: str) -> None:
    model = VarArgs()
    compiled = graphc.compile(model, backend=backend, dynamic=True)
    for batch in (3, 5):
        inputs = [data(batch, 4, dtype=torch.float64, seed=s) for s in (1, 2, 3)]
        theirs = [t.clone().requires_grad_() for t in inputs]
        mine = [t.clone().requires_grad_() for t in inputs]
        expected, got = model(*theirs), compiled(*mine)
        assert_tight(got, expected, f"output at batch {batch}")
        expected.sum().backward()
        got.sum().backward()
        assert_same_gradients(compiled, model, mine, theirs)
    assert compiled.export_count == 1, compiled.recompilations


class KeywordArgs(nn.Module):
    def forward(self, x: torch.Tensor, **extra: torch.Tensor) -> torch.Tensor:
        return x * extra["y"]


def test_tensors_through_var_keyword_arguments_export_for_the_call_sizes() -> None:
    # torch.export cannot take a dynamic batch for **kwargs entries: graphc exports per batch size and says so.
    compiled = graphc.compile(KeywordArgs(), backend="numpy", dynamic=True)
    for batch in (3, 5):
        x, y = data(batch, 4, seed=1), data(batch, 4, seed=2)
        assert_close(compiled(x, y=y), x * y, f"output at batch {batch}")
    assert compiled.export_count == 2
    assert "**kwargs" in compiled.recompilations[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_inputs_that_already_have_a_grad_are_exported(backend: str) -> None:
    model = seeded(lambda: nn.Sequential(nn.Linear(4, 3), nn.ReLU()), torch.float64)
    compiled = graphc.compile(copy.deepcopy(model), backend=backend)
    x = data(3, 4, dtype=torch.float64).requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    for _ in range(2):  # the second call finds x.grad set by the first backward
        compiled(x).pow(2).sum().backward()
        model(x2).pow(2).sum().backward()
    assert_same_gradients(compiled, model, [x], [x2])
    compiled.eval(), model.eval()  # a new export, of an input with a grad
    assert_tight(compiled(x), model(x2), "eval output")


def test_input_of_a_dtype_graphc_lacks_names_the_input_its_use_and_the_fix() -> None:
    compiled = graphc.compile(Fn(lambda img: img.float() / 255), backend="numpy")
    image = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.int32).to(torch.uint16)
    with pytest.raises(graphc.GraphcError) as error:
        compiled(image)
    message = str(error.value)
    assert "input `args_0`" in message and "torch.uint16" in message and "uint8, int8, int16, int32, int64" in message
    assert ".float()" in message and "aten._to_copy" in message
    assert "return self.fn(*args)" in message  # the model's line that first uses it
    assert_close(compiled(image.float()), image.float() / 255, "the converted input")


class StopsGradients(nn.Module):
    """Gradients stop at a detach() and at the results of a torch.no_grad() block, as in eager torch:
    a centring by a detached mean, an exponential average kept in a buffer, a gate computed without
    gradients (with an enable_grad() block inside, whose result does take them)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.gate = nn.Linear(4, 3)
        self.register_buffer("average", torch.zeros(3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.fc(x)
        centred = y - y.detach().mean(0, keepdim=True)
        self.average.mul_(0.9).add_(0.1 * y.detach().mean(0))
        with torch.no_grad():
            gate = self.gate(x).softmax(-1)
            with torch.enable_grad():
                scale = self.fc(x).tanh()
        return centred * gate + self.average, (scale * gate.detach()).sum(-1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_stop_at_detach_and_no_grad_blocks(backend: str) -> None:
    # torch's run_decompositions() turns detach() into alias() and inlines no_grad blocks: graphc used
    # to differentiate through both (wrong gradients of fc, and a gradient for gate where eager has None).
    model = seeded(StopsGradients, torch.float64)
    compiled, expected, got, theirs, mine = run_both(model, backend, data(5, 4, dtype=torch.float64))
    for i, (a, e) in enumerate(zip(got, expected)):
        assert_tight(a, e, f"output {i}")
    sum((o * o).sum() for o in expected).backward()
    sum((o * o).sum() for o in got).backward()
    assert model.gate.weight.grad is None
    assert_same_gradients(compiled, model, mine, theirs)
    assert_tight(compiled.average, model.average, "the buffer")


class HalfNorms(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.group = nn.GroupNorm(2, 4)
        self.layer = nn.LayerNorm(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(self.group(self.bn(self.conv(x))).permute(0, 2, 3, 1))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_half_precision_normalizations_compute_in_float32_like_torch(dtype: torch.dtype, train: bool) -> None:
    # torch records float32 new running statistics for a half-precision batch norm: graphc's bf16
    # ones failed the import ("a graphc bug"). Statistics are computed in float32, as torch does.
    model = seeded(HalfNorms).train(train)
    reference = copy.deepcopy(model).double()
    model = model.to(dtype)
    compiled = graphc.compile(copy.deepcopy(model), backend="numpy")
    x = data(4, 3, 6, 6)
    got, expected, exact = compiled(x.to(dtype)), model(x.to(dtype)), reference(x.double())
    assert got.dtype == dtype
    error, eager_error = ((value.double() - exact).abs().max().item() for value in (got, expected))
    assert error <= 2 * eager_error + 1e-6, (error, eager_error)  # about as accurate as eager torch
    for (name, mine), (_, theirs) in zip(compiled.named_buffers(), model.named_buffers()):
        assert mine.dtype == theirs.dtype, name
        torch.testing.assert_close(mine, theirs, rtol=0.02, atol=0.02, msg=name)


def test_training_flag_follows_the_original_module() -> None:
    # The programs follow the original's modes; compiled.training was a flag of its own that went stale.
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    compiled = graphc.compile(model, backend="numpy")
    model.eval()
    assert not compiled.training
    compiled.train()
    assert compiled.training and model.training and model[1].training
    compiled.eval()
    assert not model.training and not model[1].training


class SliceAssignments(nn.Module):
    """Assignments to slices, which torch exports as ``slice_scatter`` (graphc had no lowering)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        y[:, 0] = 0.0
        y[:, 1:3] = z
        y[..., ::2] *= 2
        y[:, -1] += x[:, 0]
        y[:, 3:] = y[:, 3:].tanh()
        return y


@pytest.mark.parametrize("backend", BACKENDS)
def test_assignments_to_slices_match_eager(backend: str) -> None:
    model = seeded(SliceAssignments, torch.float64)
    compiled = graphc.compile(copy.deepcopy(model), backend=backend)
    inputs = (data(5, 6, dtype=torch.float64), data(5, 2, dtype=torch.float64, seed=3))
    theirs = [t.clone().requires_grad_() for t in inputs]
    mine = [t.clone().requires_grad_() for t in inputs]
    expected, got = model(*theirs), compiled(*mine)
    assert_tight(got, expected, "output")
    expected.pow(2).sum().backward()
    got.pow(2).sum().backward()
    assert_same_gradients(compiled, model, mine, theirs)


class BidirectionalRecurrent(nn.Module):
    """Bidirectional RNNs reverse the sequence with ``flip`` (graphc had no lowering)."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(10, 6, padding_idx=0)
        self.lstm = nn.LSTM(6, 5, batch_first=True, bidirectional=True, num_layers=2)
        self.gru = nn.GRU(10, 3, bidirectional=True)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, _ = self.lstm(self.embedding(ids))
        out, hidden = self.gru(out.transpose(0, 1))
        return out.sum(0), hidden


def test_bidirectional_lstm_and_gru_match_eager_and_reuse_one_export() -> None:
    model = seeded(BidirectionalRecurrent, torch.float64)
    compiled = graphc.compile(copy.deepcopy(model), backend="numpy")
    for batch in (5, 3):
        ids = torch.randint(0, 10, (batch, 4), generator=torch.Generator().manual_seed(batch))
        model.zero_grad(), compiled.zero_grad()
        expected, got = model(ids), compiled(ids)
        for i, (a, e) in enumerate(zip(got, expected)):
            assert_tight(a, e, f"output {i} at batch {batch}")
        sum(o.pow(2).sum() for o in expected).backward()
        sum(o.pow(2).sum() for o in got).backward()
        assert_same_gradients(compiled, model, [], [])
    assert compiled.export_count == 1


class Configurable(nn.Module):
    """forward reads Python values and a plain tensor attribute, which torch.export bakes into the program."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.scale = 2.0
        self.gated = True
        self.offset = torch.zeros(4)  # an attribute, not a buffer: torch.export lifts it as a constant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x) * self.scale + self.offset
        return y.sigmoid() * y if self.gated else y


def test_changes_of_the_modules_python_attributes_are_seen_like_eager() -> None:
    # The programs used to keep the values of the first export: changing model.scale gave stale results.
    model = seeded(Configurable)
    compiled = graphc.compile(model, backend="numpy")
    x = data(3, 4)

    def check(what: str, exports: int) -> None:
        with torch.no_grad():
            assert_close(compiled(x), model(x), what)
        assert compiled.export_count == exports, (what, compiled.recompilations)

    check("first call", 1)
    model.scale = 3.0
    check("a float attribute changed", 2)
    model.gated = False
    check("a flag changed", 3)
    model.offset.add_(1.0)
    check("a tensor attribute changed in place", 3)
    model.offset = torch.full((4,), -1.0)
    check("a tensor attribute replaced by one of the same type", 3)
    model.scale, model.gated = 2.0, True
    check("the first export's state again", 3)
    assert compiled.recompilations == [
        "export 2: the Python state of Configurable changed: scale: 2.0 -> 3.0",
        "export 3: the Python state of Configurable changed: gated: True -> False",
    ]


def test_many_exports_warn_once_with_their_reasons(caplog: pytest.LogCaptureFixture) -> None:
    model = nn.Linear(3, 2)
    compiled = graphc.compile(model, backend="numpy")
    with torch.no_grad():
        for step in range(8):
            model.step = step  # set by a training loop on every step: each is a new export
            compiled(data(2, 3))
    assert compiled.export_count == 8
    assert [r.getMessage() for r in caplog.records if "exported 8 times" in r.getMessage()] != []
    assert "step: 6 -> 7" in caplog.text


class Remembers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.width = x.shape[1]  # a new attribute: torch.export leaves it behind (it restores only existing ones)
        return self.fc(x)


def test_state_left_by_the_export_itself_does_not_export_again() -> None:
    model = Remembers()
    compiled = graphc.compile(model, backend="numpy")
    for _ in range(3):
        compiled(data(2, 3))
    assert compiled.export_count == 1
    assert compiled.recompilations == [
        "export 1: forward changed the module's Python state while exported (width: '(none)' -> 3); that Python runs once per export, not on every call"
    ]


def test_autocast_selects_its_own_export_like_eager() -> None:
    # torch.export bakes autocast's casts into the program: a module first called under autocast
    # returned bfloat16 ever after, and one first called without it ignored autocast.
    model = seeded(lambda: nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 4)))
    compiled = graphc.compile(model, backend="numpy")
    x = data(4, 8)
    for autocast in (True, False, True):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            got, expected = compiled(x), model(x)
        assert got.dtype == expected.dtype == (torch.bfloat16 if autocast else torch.float32)
        torch.testing.assert_close(got, expected, rtol=0.02, atol=0.02)
    assert compiled.export_count == 2
    assert compiled.recompilations == ["export 2: autocast is off and was cpu bfloat16 when exported"]


class Resample(nn.Module):
    """Bilinear upsampling and adaptive max pooling (graphc had no lowering for either)."""

    def __init__(self, **interpolate: object) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 1)
        self.interpolate = interpolate
        self.global_max = nn.AdaptiveMaxPool1d(1)
        self.tiles = nn.AdaptiveMaxPool2d((2, 3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        y = F.interpolate(self.conv(x), **self.interpolate)
        return y, self.global_max(y.flatten(2)).squeeze(-1), self.tiles(y[..., :6, :6])


@pytest.mark.parametrize(
    "interpolate",
    [
        {"scale_factor": 2, "align_corners": False},
        {"scale_factor": 2, "align_corners": True},
        {"size": (7, 9), "align_corners": False},
        {"scale_factor": 1.7},
        {"scale_factor": 1.7, "recompute_scale_factor": True},
    ],
    ids=["x2", "x2-corners", "size", "x1.7", "x1.7-recomputed"],
)
def test_bilinear_upsampling_and_adaptive_max_pooling_match_eager(interpolate: dict) -> None:
    model = seeded(lambda: Resample(mode="bilinear", **interpolate), torch.float64)
    compiled, expected, got, theirs, mine = run_both(model, "numpy", data(3, 2, 4, 5, dtype=torch.float64))
    for i, (a, e) in enumerate(zip(got, expected)):
        assert_tight(a, e, f"output {i}")
    sum(o.pow(2).sum() for o in expected).backward()
    sum(o.pow(2).sum() for o in got).backward()
    assert_same_gradients(compiled, model, mine, theirs)


class TokenModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(10, 4)
        self.fc = nn.Linear(4, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embedding(ids).tanh()).mean(1)


def test_parameters_converted_in_place_export_again() -> None:
    # model.double() converts the parameters in place, and the call's key (integer ids) is the same:
    # graphc fed float64 weights to the float32 program (a TypeError from its kernels, or float32 results).
    model = seeded(TokenModel)
    compiled = graphc.compile(model, backend="numpy")
    ids = torch.randint(0, 10, (3, 5), generator=torch.Generator().manual_seed(0))
    compiled(ids)
    model.double()
    got, expected = compiled(ids), model(ids)
    assert got.dtype == torch.float64
    assert_tight(got, expected, "float64 output")
    got.sum().backward()
    assert compiled.fc.weight.grad.dtype == torch.float64
    assert compiled.recompilations == ["export 2: parameter embedding.weight is float64[10, 4] and was float32[10, 4] when exported"]


class ScaledFixedBatch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.scale = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x).view(4, 2) * self.scale


def test_a_state_change_names_its_reason_and_remembers_a_fixed_batch() -> None:
    model = ScaledFixedBatch()
    compiled = graphc.compile(model, backend="numpy")
    compiled(data(4, 3))
    model.scale = 2.0
    with torch.no_grad():
        assert_close(compiled(data(4, 3)), model(data(4, 3)), "after the change")
    reasons = [r.split(" (")[0] for r in compiled.recompilations]
    assert reasons == ["export 1: the batch size is fixed by the model", "export 2: the Python state of ScaledFixedBatch changed: scale: 1.0 -> 2.0"]
    dynamic = graphc.compile(Configurable(), backend="numpy")
    dynamic(data(4, 4))
    dynamic.original_module.scale = 5.0
    dynamic(data(6, 4))  # another batch size as well: still the state is the reason
    assert dynamic.recompilations == ["export 2: the Python state of Configurable changed: scale: 2.0 -> 5.0"]

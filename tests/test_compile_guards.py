"""graphc.compile re-traces when Python state a trace depended on changes, instead of replaying stale code.

Each test changes one piece of state after the function was traced (a module's mode or
attribute, a parameter's requires_grad, an optimizer's groups or options, the grad mode)
and checks the next call against torch doing the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import graphc
from graphc import nn, optim
from graphc.errors import GraphcError

# Every test here runs on each backend (numpy, and triton under TRITON_INTERPRET=1 on a CPU).
pytestmark = pytest.mark.usefixtures("numpy_kernels", "backend")

X = np.random.default_rng(0).standard_normal((6, 4))
Y = np.array([0, 1, 0, 1, 1, 0])


def linear_pair(seed: int = 0) -> tuple[nn.Module, torch.nn.Module]:
    torch.manual_seed(seed)
    reference = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).double()
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).double()
    model.load_state_dict(reference.state_dict())
    return model, reference


def training_steps(model: nn.Module, opt: optim.Optimizer, reference: torch.nn.Module, ref_opt: torch.optim.Optimizer):  # noqa: ANN201
    """A compiled graphc step and an eager torch step over the same data."""

    def step() -> graphc.Tensor:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(graphc.tensor(X)), graphc.tensor(Y))
        loss.backward()
        opt.step()
        return loss

    def ref_step() -> torch.Tensor:
        ref_opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(reference(torch.tensor(X)), torch.tensor(Y))
        loss.backward()
        ref_opt.step()
        return loss

    return graphc.compile(step), ref_step


def assert_same_parameters(model: nn.Module, reference: torch.nn.Module) -> None:
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=name)


def test_compiled_batch_norm_uses_running_statistics_after_eval() -> None:
    x = np.random.default_rng(1).standard_normal((5, 3))
    bn, ref = nn.BatchNorm1d(3).double(), torch.nn.BatchNorm1d(3).double()
    compiled = graphc.compile(bn)
    for train in (True, False, True):
        bn.train(train)
        ref.train(train)
        np.testing.assert_allclose(compiled(graphc.tensor(x)).numpy(), ref(torch.tensor(x)).detach().numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(bn.running_mean.numpy(), ref.running_mean.numpy(), rtol=1e-12)
        assert bn.num_batches_tracked.item() == ref.num_batches_tracked.item()
    assert compiled.trace_count == 2
    assert "training" in compiled.recompilations[0]


def test_compiled_dropout_is_the_identity_after_eval_or_p_zero() -> None:
    dropout = nn.Dropout(0.5)
    compiled = graphc.compile(dropout)
    ones = graphc.ones(64)
    assert (compiled(ones).numpy() == 0).any()
    dropout.eval()
    np.testing.assert_array_equal(compiled(ones).numpy(), np.ones(64))
    dropout.train()
    dropout.p = 0.0
    np.testing.assert_array_equal(compiled(ones).numpy(), np.ones(64))
    assert "('p', 0.5) -> ('p', 0.0)" in compiled.recompilations[-1]


def test_freezing_a_layer_after_tracing_stops_its_updates() -> None:
    model, reference = linear_pair()
    opt, ref_opt = optim.SGD(model.parameters(), lr=0.1), torch.optim.SGD(reference.parameters(), lr=0.1)
    step, ref_step = training_steps(model, opt, reference, ref_opt)
    for i in range(4):
        if i == 2:
            model[0].requires_grad_(False)
            reference[0].requires_grad_(False)
        assert step().item() == pytest.approx(ref_step().item(), rel=1e-12)
        assert_same_parameters(model, reference)
    assert model[0].weight.grad is None
    assert "no longer requires grad" in step.recompilations[-1]


def test_a_parameter_group_added_after_tracing_is_updated() -> None:
    model, reference = linear_pair()
    opt, ref_opt = optim.SGD(model[2].parameters(), lr=0.1), torch.optim.SGD(reference[2].parameters(), lr=0.1)
    step, ref_step = training_steps(model, opt, reference, ref_opt)
    for i in range(4):
        if i == 2:  # unfreeze the backbone: the usual fine-tuning schedule
            opt.add_param_group({"params": model[0].parameters(), "lr": 0.05})
            ref_opt.add_param_group({"params": reference[0].parameters(), "lr": 0.05})
        step()
        ref_step()
        assert_same_parameters(model, reference)


@pytest.mark.parametrize("option, value", [("weight_decay", 0.5), ("nesterov", True), ("momentum", 0.0)])
def test_changing_an_option_that_chooses_the_update_formula_traces_again(option: str, value: object) -> None:
    model, reference = linear_pair()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    step, ref_step = training_steps(model, opt, reference, ref_opt)
    for i in range(5):
        if i == 3:
            opt.param_groups[0][option] = value
            ref_opt.param_groups[0][option] = value
        step()
        ref_step()
        assert_same_parameters(model, reference)
    assert option in step.recompilations[-1]


def test_a_model_first_called_under_no_grad_gets_gradients_later() -> None:
    model, reference = linear_pair()
    compiled = graphc.compile(model)
    with graphc.no_grad():
        assert not compiled(graphc.tensor(X)).requires_grad
    compiled(graphc.tensor(X)).pow(2).sum().backward()
    reference(torch.tensor(X)).pow(2).sum().backward()
    for p, q in zip(model.parameters(), reference.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)
    assert "grad mode is on" in compiled.recompilations[-1]


def test_backward_inside_a_compiled_function_sets_and_accumulates_argument_grads() -> None:
    weight = np.array([1.5, -2.0])
    w, tw = graphc.tensor(weight, requires_grad=True), torch.tensor(weight, requires_grad=True)

    def saliency(x: graphc.Tensor) -> graphc.Tensor:
        (x * w).tanh().sum().backward()
        return x.grad.abs()

    compiled = graphc.compile(saliency)
    for rows in (3, 3, 5):
        # Halved, so that tanh stays away from saturation: 1 - tanh(v)**2 near |tanh| = 1 turns an
        # ulp of tanh (libmvec's in the C loops, torch's own) into 1e-12 of the gradient.
        data = 0.5 * np.random.default_rng(rows).standard_normal((rows, 2))
        x, tx = graphc.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        if rows == 5:  # an existing .grad is added to, as in eager code
            x.grad = graphc.ones(rows, 2, dtype=graphc.float64)
            tx.grad = torch.ones(rows, 2, dtype=torch.float64)
        result = compiled(x)
        (tx * tw).tanh().sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(result.numpy(), tx.grad.abs().numpy(), rtol=1e-12)
    # The second call traces again because w.grad is set now; the third because x has a .grad.
    assert compiled.trace_count == 3
    assert "have a .grad now" in compiled.recompilations[-1]


def test_assigning_a_grad_of_another_dtype_or_size_is_refused() -> None:
    x = graphc.zeros(3, 2, requires_grad=True)
    with pytest.raises(GraphcError, match="different type"):
        x.grad = graphc.zeros(3, 2, dtype=graphc.float64)
    with pytest.raises(GraphcError, match="different size"):
        x.grad = graphc.zeros(2, 3)


def test_a_tensor_made_from_data_inside_the_function_is_traced_once() -> None:
    w = graphc.tensor([1.0, 2.0], requires_grad=True)
    compiled = graphc.compile(lambda: (graphc.tensor(np.ones((3, 2))) * w).sum())
    for _ in range(3):
        assert compiled().item() == 9.0
    assert compiled.trace_count == 1, compiled.recompilations


def test_new_state_made_where_a_dropped_constant_was_is_state_not_a_constant() -> None:
    """A step counter created at the address of a constant the function read and dropped still counts.

    The trace keeps tensors made from data weakly, by id; a dead one's id is soon another's. Adam's
    step count was once taken for the dropped batch (an early return on a stale id), so it became a
    constant 0 of the program and every step used step 1. Which tensor gets a freed address depends
    on the allocations between (a freed block may go to another kind of object first), so the test
    drops many constants and makes tensors until one lands on the address of any of them.
    """
    state: dict[str, graphc.Tensor] = {}

    def count(x: graphc.Tensor) -> graphc.Tensor:
        dropped = [graphc.tensor(np.full(3, float(i))) for i in range(200)]
        y = x
        for constant in dropped:
            y = y + constant
        addresses = {id(constant) for constant in dropped}
        del dropped, constant
        if "count" not in state:
            made = [graphc.tensor(0.0) for _ in range(2000)]
            state["count"] = next(t for t in made if id(t) in addresses)
        state["count"].add_(1)
        return y

    compiled = graphc.compile(count)
    for _ in range(3):
        compiled(graphc.zeros(3))
    assert state["count"].item() == 3.0


class Counter(nn.Module):
    """Branches on a buffer the call itself updates, as warm-up or averaging code does."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("count", graphc.zeros(()))

    def forward(self, x: graphc.Tensor) -> graphc.Tensor:
        out = x * 0 if self.count.item() == 0 else x * 2
        self.count.add_(1)
        return out


def test_a_value_read_from_module_state_is_a_guard() -> None:
    """The first call's branch was replayed forever: the read value was baked into the program."""
    model = Counter()
    compiled = graphc.compile(model)
    results = [compiled(graphc.ones(2)).numpy().tolist() for _ in range(3)]
    assert results == [[0.0, 0.0], [2.0, 2.0], [2.0, 2.0]]
    assert model.count.item() == 3.0
    assert "a tensor whose value the function read (.item(), bool()) is 1.0, not 0.0" in compiled.report().recompilations[0]


def test_a_value_read_from_a_captured_tensor_or_computed_from_one_is_a_guard() -> None:
    threshold = graphc.tensor(1.0)
    compiled = graphc.compile(lambda x: x * 2 if bool(threshold * 2 > 0) else x * 3)
    assert compiled(graphc.tensor(1.0)).item() == 2.0
    assert compiled(graphc.tensor(1.0)).item() == 2.0
    assert compiled.trace_count == 1
    threshold.fill_(-1.0)
    assert compiled(graphc.tensor(1.0)).item() == 3.0


def test_reading_an_input_value_is_refused_at_the_users_line() -> None:
    def branch(x: graphc.Tensor) -> graphc.Tensor:
        return x * 2 if x.item() > 0 else x * 3  # the line named

    with pytest.raises(GraphcError, match=r"cannot read the value of an input(.|\n)*test_compile_guards.py:\d+"):
        graphc.compile(branch)(graphc.tensor(1.0))


def branch_on_batch(x: graphc.Tensor) -> graphc.Tensor:
    if x.shape[0] == 8:  # a full batch
        return x.sum() * 0 + 1.0
    return x.sum() * 0 - 1.0


@pytest.mark.parametrize(
    "fn",
    [
        branch_on_batch,
        lambda x: x.sum() / int(x.size(0)),
        lambda x: x.mean() * len(x),
        lambda x: sum(x[i].sum() for i in range(x.shape[0])),
        lambda x: (x + graphc.zeros(x.size(0), 3)).sum() + float(f"{x.numel()}"),
    ],
    ids=["branch", "int", "len", "range", "format"],
)
def test_a_function_reading_the_batch_size_gets_a_program_per_size(fn) -> None:  # noqa: ANN001
    """Uses of a size that need its number; those that do not keep one program (tests/test_symbolic_size_reads.py)."""
    compiled = graphc.compile(fn)
    for rows in (8, 5, 8):
        x = graphc.tensor(np.arange(rows * 3.0).reshape(rows, 3))
        assert compiled(x).item() == pytest.approx(fn(x).item(), rel=1e-12)
    assert "static sizes" in compiled.recompilations[0]
    assert compiled.trace_count == 3  # the symbolic trace that stopped, then one per size


def test_filled_tensors_shaped_like_a_batch_keep_the_batch_symbolic() -> None:
    def fill(x: graphc.Tensor) -> graphc.Tensor:
        return graphc.ones_like(x) * x + graphc.zeros_like(x) + graphc.full_like(x, 2.5) + graphc.empty_like(x) * 0

    def torch_fill(x: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(x) * x + torch.zeros_like(x) + torch.full_like(x, 2.5)

    compiled = graphc.compile(fill)
    for rows in (8, 5, 3):
        x = np.arange(rows * 3.0).reshape(rows, 3)
        out = compiled(graphc.tensor(x))
        np.testing.assert_array_equal(out.numpy(), torch_fill(torch.tensor(x)).numpy())
        assert out.dtype == graphc.float64
    assert compiled.trace_count == 1, compiled.recompilations


def test_graphc_layers_reading_sizes_keep_the_batch_symbolic() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 2))
    compiled = graphc.compile(model)
    for rows in (4, 7):
        x = graphc.ones(rows, 2, 3)
        assert compiled(x).shape == (rows, 2)
    assert compiled.trace_count == 1


def test_a_function_traced_again_and_again_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    class Counting(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def forward(self, x: graphc.Tensor) -> graphc.Tensor:
            self.calls += 1  # plain state that changes on every call: a new trace each time
            return x * 2

    compiled = graphc.compile(Counting())
    with caplog.at_level("WARNING", logger="graphc"):
        for _ in range(9):
            compiled(graphc.ones(2, 3)).numpy()
    assert compiled.trace_count == 9
    assert [r for r in caplog.records if "has been traced 8 times" in r.getMessage()]


def test_gradient_accumulation_with_zero_grad_outside_traces_twice_and_matches_torch() -> None:
    """zero_grad(set_to_none) between cycles gives new .grad objects; the step adding to a .grad
    reads and writes it through its parameter, so the cycle does not trace again."""
    model, reference = linear_pair()
    opt, ref_opt = optim.SGD(model.parameters(), lr=0.1), torch.optim.SGD(reference.parameters(), lr=0.1)

    @graphc.compile
    def micro(x: graphc.Tensor, y: graphc.Tensor) -> graphc.Tensor:
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss

    for i in range(8):
        rows = slice(3 * (i % 2), 3 * (i % 2) + 3)
        loss = micro(graphc.tensor(X[rows]), graphc.tensor(Y[rows]))
        ref_loss = torch.nn.functional.cross_entropy(reference(torch.tensor(X[rows])), torch.tensor(Y[rows]))
        ref_loss.backward()
        assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-12)
        if i % 2 == 1:
            opt.step()
            opt.zero_grad()
            ref_opt.step()
            ref_opt.zero_grad()
            assert_same_parameters(model, reference)
    assert micro.trace_count == 2, micro.recompilations


def test_requires_grad_toggled_inside_a_compiled_step_trains_as_torch() -> None:
    """A WGAN critic step: parameters set to require grad at the start and frozen at the end of each call.

    requires_grad_ on a parameter inside a trace had made it a source node holding the traced value,
    which the program then replayed as a constant (the weights stopped training after the first
    call), and the flags written back were those from before the call.
    """
    model, reference = linear_pair()
    opt, ref_opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9), torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)

    def step(m: Any, o: Any, x: Any) -> Any:
        for p in m.parameters():
            p.requires_grad = True
        o.zero_grad()
        m(x).pow(2).mean().backward()
        o.step()
        for p in m.parameters():
            p.requires_grad_(False)
        return m(x).sum()

    compiled = graphc.compile(lambda x: step(model, opt, x))
    for i in range(3):  # eager (creates the momentum buffers), traced with the flags False on entry, replayed
        expected = step(reference, ref_opt, torch.tensor(X * (i + 1)))
        assert compiled(graphc.tensor(X * (i + 1))).item() == pytest.approx(expected.item(), rel=1e-12)
        assert_same_parameters(model, reference)
        assert [p.requires_grad for p in model.parameters()] == [False] * 4
    assert compiled.trace_count <= 3, compiled.recompilations


def test_writing_through_data_inside_a_compiled_function_uses_each_calls_values() -> None:
    """MoCo's key encoder update, ``k.data = k.data * m + q.data * (1 - m)``: ``.data`` read the traced value as a constant."""
    query = graphc.tensor([1.0, 2.0], requires_grad=True)
    key = graphc.tensor([0.0, 0.0])

    def momentum_update(x: graphc.Tensor) -> graphc.Tensor:
        key.data = key.data * 0.5 + query.data * 0.5
        return (key * x).sum()

    compiled = graphc.compile(momentum_update)
    expected = np.zeros(2)
    for i in range(4):
        with graphc.no_grad():
            query.add_(1.0)
        expected = expected * 0.5 + np.array([2.0, 3.0]) * 0.5 + i * 0.5
        assert compiled(graphc.ones(2)).item() == pytest.approx(expected.sum(), rel=1e-12)
        np.testing.assert_allclose(key.numpy(), expected, rtol=1e-12)


def test_a_buffer_made_and_filled_inside_the_function_is_traced_once() -> None:
    """GAE's advantages filled backwards in a loop (static sizes): the temporary had become a guard found freed on every call."""

    def returns(rewards: graphc.Tensor) -> graphc.Tensor:
        out = graphc.zeros_like(rewards)
        last = 0.0
        for t in reversed(range(rewards.shape[0])):
            last = rewards[t] + 0.5 * last
            out[t] = last
        return out

    compiled = graphc.compile(returns, dynamic=False)
    for i in range(3):
        rewards = np.arange(3.0) + i
        expected = [rewards[0] + 0.5 * rewards[1] + 0.25 * rewards[2], rewards[1] + 0.5 * rewards[2], rewards[2]]
        np.testing.assert_allclose(compiled(graphc.tensor(rewards)).numpy(), expected, rtol=1e-12)
    assert compiled.trace_count == 1, compiled.recompilations


def test_a_tensor_made_from_data_and_returned_is_traced_once() -> None:
    """The returned tensor had been read as outside state, and the guard on it found it freed on the next call."""
    def scaled(x: graphc.Tensor) -> tuple[graphc.Tensor, graphc.Tensor]:
        scale = graphc.tensor([1.0, 2.0])
        return scale, x * scale

    compiled = graphc.compile(scaled, dynamic=False)
    for i in range(3):
        scale, product = compiled(graphc.tensor([float(i), 1.0]))
        np.testing.assert_array_equal(scale.numpy(), [1.0, 2.0])
        np.testing.assert_array_equal(product.numpy(), [i, 2.0])
    assert compiled.trace_count == 1, compiled.recompilations


def test_a_module_made_inside_the_function_is_traced_once() -> None:
    """``criterion = nn.BCEWithLogitsLoss()`` in the step: its state was a guard, and the module freed after each call."""
    model, _ = linear_pair()
    compiled = graphc.compile(lambda x, y: nn.BCEWithLogitsLoss()(model(x), y))
    for _ in range(3):
        compiled(graphc.tensor(X), graphc.ones(6, 2, dtype=graphc.float64))
    assert compiled.trace_count == 1, compiled.recompilations


def test_an_argument_made_to_require_grad_inside_the_function_requires_grad_after_each_call() -> None:
    """R1's ``real.requires_grad_()`` before ``autograd.grad``: torch's caller sees the flag and the ``.grad``; graphc's saw only the ``.grad``.

    A smooth model: through a ReLU the penalty's gradient is zero, which torch materializes as
    zeros and graphc leaves None (docs/decisions.md, the generative and RL zoo).
    """
    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)).double()
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1)).double()
    model.load_state_dict(reference.state_dict())

    def penalty(m: Any, T: Any, real: Any) -> Any:
        real.requires_grad_(True)
        (grad,) = T.autograd.grad(m(real).sum(), real, create_graph=True)
        loss = grad.pow(2).sum()
        loss.backward()
        return loss

    compiled = graphc.compile(lambda real: penalty(model, graphc, real))
    for i in range(3):
        real, t_real = graphc.tensor(X + i), torch.tensor(X + i)
        assert compiled(real).item() == pytest.approx(penalty(reference, torch, t_real).item(), rel=1e-12)
        assert real.requires_grad and t_real.requires_grad
        np.testing.assert_allclose(real.grad.numpy(), t_real.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_a_changed_python_argument_is_named_as_the_reason_for_tracing_again() -> None:
    """REINFORCE's rewards as a Python list: the reason had printed the tensor signature, unchanged, as if it were new."""
    compiled = graphc.compile(lambda x, rewards: x * graphc.tensor(rewards))
    for rewards in ([1.0, 2.0], [3.0, 4.0]):
        np.testing.assert_array_equal(compiled(graphc.ones(2), rewards).numpy(), rewards)
    assert "a non-tensor argument (a Python number, list, string) differs" in compiled.recompilations[-1]

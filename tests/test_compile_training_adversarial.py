"""Training patterns under graphc.compile that went wrong, compared with eager torch on the same weights.

An argument with a history outside the compiled function (an encoder's output given to a compiled
head step that calls ``backward()``) stood in as a leaf: the backward inside set the argument's own
``.grad`` and never reached the encoder's parameters (silently untrained), and an in-place op on it
was refused as one on "a leaf tensor that requires grad" (graphc/runtime/compiled.py ``_non_leaf_standin``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from helpers import data

import graphc
from graphc.errors import GraphcError, InvalidValueError

pytestmark = pytest.mark.usefixtures("numpy_kernels")


def _encoder_and_head(T: Any) -> tuple[Any, Any]:
    torch.manual_seed(0)
    encoder, head = torch.nn.Linear(3, 4).double(), torch.nn.Linear(4, 2).double()
    if T is torch:
        return encoder, head
    ours = graphc.nn.Linear(3, 4).double(), graphc.nn.Linear(4, 2).double()
    ours[0].load_state_dict(encoder.state_dict())
    ours[1].load_state_dict(head.state_dict())
    return ours


def _train_head_on_encoder_output(T: Any, compile_step: Any, batches: list) -> list[tuple[float, np.ndarray, np.ndarray, np.ndarray]]:
    """A compiled head step (in-place op on its argument, backward(), momentum SGD over the head only) on an
    encoder's output; the encoder's gradient is read after each call, then a second backward() through the
    argument's new value adds to it."""
    encoder, head = _encoder_and_head(T)
    optimizer = T.optim.SGD(head.parameters(), lr=0.1, momentum=0.9)

    def step(h: Any, y: Any) -> Any:
        optimizer.zero_grad()
        h.mul_(2)
        loss = ((head(h) - y) ** 2).mean()
        loss.backward(retain_graph=True)
        optimizer.step()
        return loss.detach()

    compiled = compile_step(step)
    seen = []
    for x_data, y_data in batches:  # the first call runs eagerly (momentum buffers), then one program for every batch size
        x, y = T.tensor(x_data), T.tensor(y_data)
        encoder.zero_grad()
        h = encoder(x) * 1.5
        loss = compiled(h, y)
        grad_after_call = encoder.weight.grad.numpy().copy()
        h.sum().backward()
        seen.append((loss.item(), grad_after_call, encoder.weight.grad.numpy().copy(), head.weight.detach().numpy().copy()))
    return seen


def test_backward_inside_continues_into_the_history_of_an_argument(backend: str) -> None:
    batches = [(data(n, 3, dtype="float64"), data(n, 2, dtype="float64")) for n in (4, 5, 3)]
    theirs = _train_head_on_encoder_output(torch, lambda f: f, batches)
    ours = _train_head_on_encoder_output(graphc, graphc.compile, batches)
    for call, (expected, got) in enumerate(zip(theirs, ours)):
        assert got[0] == pytest.approx(expected[0], rel=1e-12), call
        for e, g in zip(expected[1:], got[1:]):
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12, err_msg=f"call {call}")


def test_an_argument_with_a_history_changed_in_place_keeps_the_change_in_its_gradient_path() -> None:
    def scale(y: Any) -> None:
        y.mul_(3)

    grads = {}
    for T, run in ((torch, scale), (graphc, graphc.compile(scale))):
        a = T.tensor([1.0, 2.0, 3.0], requires_grad=True)
        for factor in (2.0, 5.0):
            a.grad = None
            y = a * factor
            run(y)
            (y * y).sum().backward()
            grads[T, factor] = a.grad.numpy().copy()
    for factor in (2.0, 5.0):
        np.testing.assert_array_equal(grads[graphc, factor], grads[torch, factor])


def test_stepping_the_arguments_history_inside_the_function_is_refused_at_the_users_line() -> None:
    encoder, head = _encoder_and_head(graphc)
    optimizer = graphc.optim.SGD([*encoder.parameters(), *head.parameters()], lr=0.1)

    def step(h: graphc.Tensor) -> None:
        optimizer.zero_grad()
        head(h).sum().backward()
        optimizer.step()

    with pytest.raises(GraphcError, match="after a backward\\(\\) inside reached that argument") as error:
        graphc.compile(step)(encoder(graphc.tensor(data(3, 3, dtype="float64"))))
    assert "test_compile_training_adversarial.py" in str(error.value)


def test_clip_grad_norm_error_if_nonfinite_raises_from_a_compiled_step_and_writes_nothing_back(backend: str) -> None:
    def step(T: Any, model: Any, optimizer: Any, x: Any) -> Any:
        optimizer.zero_grad()
        (model(x) ** 2).sum().backward()
        norm = T.nn.utils.clip_grad_norm_(model.parameters(), 0.5, error_if_nonfinite=True)
        optimizer.step()
        return norm

    theirs = torch.nn.Linear(3, 2).double()
    ours = graphc.nn.Linear(3, 2).double()
    ours.load_state_dict(theirs.state_dict())
    torch_sgd, sgd = torch.optim.SGD(theirs.parameters(), lr=0.1), graphc.optim.SGD(ours.parameters(), lr=0.1)
    compiled = graphc.compile(lambda x: step(graphc, ours, sgd, x))
    finite, infinite = data(4, 3, dtype="float64"), np.full((4, 3), np.inf)
    for x in (finite, infinite, finite):
        if np.isfinite(x).all():
            expected = step(torch, theirs, torch_sgd, torch.tensor(x))
            assert compiled(graphc.tensor(x)).item() == pytest.approx(expected.item(), rel=1e-12)
        else:
            weight = ours.weight.numpy().copy()
            with pytest.raises(RuntimeError, match="non-finite, so it cannot be clipped"):
                step(torch, theirs, torch_sgd, torch.tensor(x))
            with pytest.raises(InvalidValueError, match="non-finite, so it cannot be clipped") as error:
                compiled(graphc.tensor(x))
            assert "test_compile_training_adversarial.py" in str(error.value)
            np.testing.assert_array_equal(ours.weight.numpy(), weight)
        np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), rtol=1e-12)
    assert compiled.trace_count == 1


def test_a_grad_scalers_retrace_reason_names_the_state_that_changed() -> None:
    scaler = graphc.amp.GradScaler("cpu")
    w = graphc.ones(3, requires_grad=True)
    step = graphc.compile(lambda x: scaler.scale((w * x).sum()).backward())
    for _ in range(3):
        step(graphc.ones(3))
    np.testing.assert_array_equal(w.grad.numpy(), np.full(3, 3 * 65536.0))
    assert "('scale is None', True) -> ('scale is None', False)" in step.recompilations[-1]


def _sequential_pair() -> tuple[Any, Any]:
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 2)).double()
    ours = graphc.nn.Sequential(graphc.nn.Linear(3, 3), graphc.nn.Linear(3, 2)).double()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def test_module_hooks_children_and_parameters_changed_after_the_trace_are_used_as_in_eager_code() -> None:
    """The replay ran the traced modules: a forward hook registered (or removed) after the first call was ignored,
    and so was a child or a parameter replaced while the old one was still alive (held by an optimizer)."""
    ours, theirs = _sequential_pair()
    compiled = graphc.compile(ours)
    x = data(4, 3, dtype="float64")
    held = [*ours.parameters()]  # as an optimizer holds them: the replaced ones stay alive

    def check() -> None:
        np.testing.assert_allclose(compiled(graphc.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-12)

    check()
    hooks = [m[1].register_forward_hook(lambda module, args, out: out * 10) for m in (ours, theirs)]
    check()
    pre_hooks = [m[0].register_forward_pre_hook(lambda module, args: (args[0] * -1,)) for m in (ours, theirs)]
    check()
    for handle in hooks + pre_hooks:
        handle.remove()
    check()
    theirs[1] = torch.nn.Linear(3, 2).double()
    ours[1] = graphc.nn.Linear(3, 2).double()
    ours[1].load_state_dict(theirs[1].state_dict())
    check()
    theirs[0].weight = torch.nn.Parameter(torch.tensor(data(3, 3, dtype="float64")))
    ours[0].weight = graphc.nn.Parameter(graphc.tensor(theirs[0].weight.detach().numpy()))
    check()
    assert len(held) == 4 and compiled.trace_count == 5  # the hooks removed: the first program again


def test_a_tensor_hook_registered_after_a_traced_backward_is_refused_not_ignored() -> None:
    model = graphc.nn.Linear(3, 1)

    def step(x: graphc.Tensor) -> graphc.Tensor:
        model.zero_grad()
        model(x).sum().backward()
        return model.weight.grad * 1

    compiled = graphc.compile(step)
    compiled(graphc.ones(2, 3))
    model.weight.register_hook(lambda grad: grad * 3)
    with pytest.raises(GraphcError, match="tensor hooks \\(register_hook\\) run in eager code only"):
        compiled(graphc.ones(2, 3))
    assert "a tensor hook (register_hook) was registered since the trace" in compiled.recompilations[-1]


def test_a_compiled_module_stands_for_the_module_as_torch_compiles_does() -> None:
    """``model = graphc.compile(model)`` then ``model.parameters()``, ``model.train()``/``eval()``, ``model.state_dict()``
    (AttributeError on the CompiledFunction before), against torch's eager module through a train/eval switch."""
    ours, theirs = _sequential_pair()
    model = graphc.compile(ours)
    optimizer = graphc.optim.SGD(model.parameters(), lr=0.1)
    torch_optimizer = torch.optim.SGD(theirs.parameters(), lr=0.1)
    assert list(model.state_dict()) == list(theirs.state_dict())
    for mode in ("train", "eval", "train"):
        getattr(model, mode)()
        getattr(theirs, mode)()
        assert model.training == theirs.training
        x = data(4, 3, dtype="float64")
        for opt, net, T in ((optimizer, model, graphc), (torch_optimizer, theirs, torch)):
            opt.zero_grad()
            (net(T.tensor(x)) ** 2).mean().backward()
            opt.step()
        np.testing.assert_allclose(model.state_dict()["1.weight"].numpy(), theirs.state_dict()["1.weight"].numpy(), rtol=1e-12)
    with pytest.raises(AttributeError, match="'CompiledFunction' object has no attribute 'eval'"):
        graphc.compile(lambda x: x).eval()


def test_a_tensor_returned_twice_is_one_tensor_on_every_call() -> None:
    def twice(x: Any, y: Any) -> Any:
        z = x + y
        return z, (z, x * 2)

    compiled = graphc.compile(twice)
    for _ in range(2):  # the trace's call and a replay
        first, (second, _) = compiled(graphc.tensor(data(3, 2)), graphc.tensor(data(3, 2)))
        assert first is second
        first.add_(100)
        np.testing.assert_array_equal(second.numpy(), first.numpy())


def test_batch_norm_of_an_empty_batch_in_training_leaves_the_running_statistics_as_torch() -> None:
    """An empty last batch: torch returns an empty result and leaves the running statistics (it counts the
    batch); graphc refused it as "more than 1 value per channel" (it still refuses one value, as torch)."""
    theirs, ours = torch.nn.BatchNorm1d(2), graphc.nn.BatchNorm1d(2)
    for T, bn in ((torch, theirs), (graphc, graphc.compile(ours))):
        assert tuple(bn(T.ones(0, 2, 3)).shape) == (0, 2, 3)
    for name, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[name].numpy(), value.numpy(), err_msg=name)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        graphc.compile(ours)(graphc.ones(1, 2))


def test_a_forward_assigned_to_a_module_instance_after_the_trace_is_run_as_torch_runs_it() -> None:
    """``m.forward = other`` after compiling: torch's call runs the instance's function; the replay ran the traced one."""
    theirs = torch.nn.Linear(3, 2).double()
    ours = graphc.nn.Linear(3, 2).double()
    ours.load_state_dict(theirs.state_dict())
    compiled = graphc.compile(ours)
    x = data(4, 3, dtype="float64")
    for replacement in (None, lambda x: x.sum(1, keepdim=True) * 3, lambda x: x * 2):
        if replacement is not None:
            theirs.forward = ours.forward = replacement
        np.testing.assert_allclose(compiled(graphc.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-12)
    assert compiled.trace_count == 3
    assert "the Python state of Linear changed: ('functions', ()) -> ('functions', (('forward'," in compiled.recompilations[0]


def test_a_child_module_read_without_being_called_and_then_replaced_is_read_anew() -> None:
    """``lambda x: x @ model.fc.weight.t()`` then ``model.fc = Linear(...)`` while an optimizer holds the old weight:
    the replay read the old child's weight."""
    torch_model, model = torch.nn.Module(), graphc.nn.Module()
    torch_model.fc, model.fc = torch.nn.Linear(3, 2).double(), graphc.nn.Linear(3, 2).double()
    held = graphc.optim.SGD(model.parameters(), lr=0.1)  # keeps the first child's weight alive
    x = data(4, 3, dtype="float64")
    compiled = graphc.compile(lambda x: x @ model.fc.weight.t())
    for _ in range(2):
        model.fc.load_state_dict(torch_model.fc.state_dict())
        expected = (torch.tensor(x) @ torch_model.fc.weight.t()).detach().numpy()
        np.testing.assert_allclose(compiled(graphc.tensor(x)).numpy(), expected, rtol=1e-12)
        torch_model.fc, model.fc = torch.nn.Linear(3, 2).double(), graphc.nn.Linear(3, 2).double()
    assert held.param_groups[0]["params"][0] is not model.fc.weight
    assert compiled.trace_count == 2 and "the Python state of Module changed: ('children', (('fc'," in compiled.recompilations[0]


def test_eager_clip_grad_norm_error_if_nonfinite_names_the_users_line() -> None:
    """As torch, a RuntimeError at once in eager code; it named no line of the user's."""
    for T in (torch, graphc):
        model = T.nn.Linear(2, 1)
        model(T.tensor([[float("inf"), 1.0]])).sum().backward()
        with pytest.raises(RuntimeError, match="non-finite, so it cannot be clipped") as error:
            T.nn.utils.clip_grad_norm_(model.parameters(), 1.0, error_if_nonfinite=True)
    assert "test_compile_training_adversarial.py" in str(error.value)


class _LDLOnly(torch.nn.Module):
    """Every output goes through an op without a derivative (ldl_factor, ldl_solve)."""

    def __init__(self) -> None:
        super().__init__()
        self.shift = torch.nn.Parameter(4 * torch.eye(3, dtype=torch.float64))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        factor, pivots = torch.linalg.ldl_factor(a @ a.mT + self.shift)
        return factor, torch.linalg.ldl_solve(factor, pivots, b)


def test_an_imported_module_whose_only_outputs_have_no_derivative_runs_forward_and_raises_at_backward() -> None:
    """As torch: the outputs require grad and the forward runs; a backward raises. The import raised at the forward."""
    model = _LDLOnly()
    compiled = graphc.compile(model, backend="numpy")
    a, b = torch.tensor(data(3, 3, dtype="float64")), torch.tensor(data(3, 2, dtype="float64"))
    for _ in range(2):
        expected, got = model(a, b), compiled(a, b)
        for e, g in zip(expected, got):
            assert g.requires_grad and e.requires_grad
            torch.testing.assert_close(g, e, rtol=1e-12, atol=1e-12)
    with pytest.raises(RuntimeError, match="derivative for aten::linalg_ldl_solve is not implemented"):
        expected[1].sum().backward()
    with pytest.raises(GraphcError, match="ldl_solve: the derivative is not implemented, as in torch"):
        got[1].sum().backward()
    with pytest.raises(GraphcError, match="ldl_factor: the derivative is not implemented, as in torch"):
        got[0].sum().backward()


def _mlp(T: Any) -> Any:
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    if T is torch:
        return theirs
    ours = graphc.nn.Sequential(graphc.nn.Linear(3, 4), graphc.nn.Tanh(), graphc.nn.Linear(4, 2)).double()
    ours.load_state_dict(theirs.state_dict())
    return ours


def _snapshot(model: Any, *tensors: Any) -> list[np.ndarray]:
    return [np.array(t.detach().numpy(), copy=True) for t in [*model.parameters(), *tensors]]


def _assert_same_runs(theirs: list, ours: list) -> None:
    """Step by step, value by value: torch's run and graphc's, in float64."""
    assert len(theirs) == len(ours)
    for step, (expected, got) in enumerate(zip(theirs, ours)):
        assert len(expected) == len(got), step
        for k, (e, g) in enumerate(zip(expected, got)):
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14, err_msg=f"step {step}, value {k}")


@pytest.mark.parametrize("tensor_lr", [False, True], ids=["float_lr", "tensor_lr"])
def test_a_scheduler_stepped_inside_the_compiled_step_moves_the_lr_on_every_call(tensor_lr: bool) -> None:
    """``sched.step()`` inside the step: the replay left the lr and ``last_epoch`` where the trace left them, so the
    schedule stopped after the first call (values off by 0.1); such a call now runs its Python code every time."""
    batches = [(data(5, 3, dtype="float64"), data(5, 2, dtype="float64")) for _ in range(5)]

    def run(T: Any, compile_step: Any) -> list:
        model = _mlp(T)
        lr = T.tensor(0.1, dtype=T.float64) if tensor_lr else 0.1
        optimizer = T.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        schedulers = [T.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5), T.optim.lr_scheduler.ExponentialLR(optimizer, 0.9)]

        def step(x: Any, y: Any) -> Any:
            optimizer.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            optimizer.step()
            for scheduler in schedulers:
                scheduler.step()
            return loss.detach()

        compiled = compile_step(step)
        seen = []
        for x, y in batches:
            loss = compiled(T.tensor(x), T.tensor(y))
            seen.append([np.array(loss.item()), np.array(float(optimizer.param_groups[0]["lr"])), np.array(schedulers[0].last_epoch), *_snapshot(model)])
        return seen

    _assert_same_runs(run(torch, lambda f: f), run(graphc, graphc.compile))


def test_a_scheduler_stepped_outside_the_compiled_step_keeps_one_program() -> None:
    """The lr a scheduler sets between calls reaches the program through its mirror: no trace again."""
    batches = [(data(5, 3, dtype="float64"), data(5, 2, dtype="float64")) for _ in range(5)]

    def run(T: Any, compile_step: Any) -> tuple[list, Any]:
        model = _mlp(T)
        optimizer = T.optim.Adam(model.parameters(), lr=0.05)
        scheduler = T.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=4)

        def step(x: Any, y: Any) -> Any:
            optimizer.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            optimizer.step()
            return loss.detach()

        compiled = compile_step(step)
        seen = []
        for i, (x, y) in enumerate(batches):
            if i == 3:
                optimizer.param_groups[0]["lr"] = 0.2
            seen.append([np.array(compiled(T.tensor(x), T.tensor(y)).item()), *_snapshot(model)])
            scheduler.step()
        return seen, compiled

    _assert_same_runs(run(torch, lambda f: f)[0], (ours := run(graphc, graphc.compile))[0])
    assert ours[1].trace_count == 1


@pytest.mark.parametrize("how", ["set_to_none", "zeroed_in_place", "a_view", "an_arguments"])
def test_a_returned_grad_is_the_parameters_grad_so_the_callers_change_reaches_the_optimizer(how: str) -> None:
    """``return w.grad`` (gradient surgery outside the step: ``g.mul_(0)`` then ``optimizer.step()``): torch's result is the
    ``.grad`` tensor itself; graphc's was another tensor, so the change never reached the update."""

    def run(T: Any, compile_step: Any) -> list:
        w = T.tensor([1.0, -2.0, 0.5], dtype=T.float64, requires_grad=True)
        optimizer = T.optim.SGD([w], lr=0.1, momentum=0.9)

        def forward_backward(x: Any, *argument: Any) -> Any:
            if how == "set_to_none":
                optimizer.zero_grad()
            elif how == "an_arguments":  # w passed in: its .grad accumulates over the calls (zeroed outside)
                ((argument[0] * x).sum() ** 2).backward()
                return argument[0].grad
            else:
                optimizer.zero_grad(set_to_none=False)
            ((w * x).sum() ** 2).backward()
            return w.grad.view(3, 1) if how == "a_view" else w.grad

        compiled = compile_step(forward_backward)
        seen = []
        for scale in (0.5, 0.0, 2.0, 1.0):
            grad = compiled(T.tensor([3.0, 4.0, -1.0], dtype=T.float64), *([w] if how == "an_arguments" else []))
            grad.mul_(scale)
            optimizer.step()
            seen.append([w.grad.numpy().copy(), w.detach().numpy().copy()])
            if how == "an_arguments" and scale == 0.0:
                optimizer.zero_grad()
        return seen

    _assert_same_runs(run(torch, lambda f: f), run(graphc, graphc.compile))


@pytest.mark.parametrize("key", [0, -1, (0, 1), slice(0, 1), (0, slice(0, 2)), (1, None), (slice(None), 0), Ellipsis], ids=str)
def test_assigning_into_one_row_of_an_expanded_tensor_writes_the_row_every_row_shows_as_torch(key: Any) -> None:
    """``x = base.expand(4, 3); x[0] = v``: torch copies into the view ``x[0]``, which repeats no element, so every row shows
    the new value (and the gradient reaches ``v`` and ``base``'s history); graphc wrote the whole new ``x`` back and refused
    it as overlapping. A key whose view repeats an element (``x[:, 0]``, ``x[...]``) is refused by both."""
    results = []
    for T in (torch, graphc):
        a = T.tensor([1.0, 2.0, 3.0], dtype=T.float64, requires_grad=True)
        v = T.tensor([7.0, -8.0, 9.0], dtype=T.float64, requires_grad=True)
        base = a * 2
        x = base.expand(4, 3)
        try:
            x[key] = v[0] * a[1]  # 0-d: it broadcasts to every key's view
        except RuntimeError as error:
            results.append(("refused", "more than one element of the written-to tensor refers to a single memory location" in str(error)))
            continue
        (base * T.tensor([1.0, 2.0, 3.0], dtype=T.float64)).sum().backward()
        results.append((base.detach().numpy().copy(), x.detach().numpy().copy(), a.grad.numpy().copy(), v.grad.numpy().copy()))
    theirs, ours = results
    if isinstance(theirs[0], str):
        assert ours == theirs == ("refused", True)
        return
    for e, g in zip(theirs, ours):
        np.testing.assert_allclose(g, e, rtol=1e-12)


def _loss(model: Any, x: Any, y: Any) -> Any:
    return ((model(x) - y) ** 2).mean()


def _accumulate_over_calls(T: Any, compile_step: Any, batches: list) -> list:
    """Gradient accumulation: three compiled forward/backward calls per update, the update outside."""
    model = _mlp(T)
    optimizer = T.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    forward_backward = compile_step(lambda x, y: (_loss(model, x, y) / 3).backward())
    seen = []
    for i, (x, y) in enumerate(batches):
        forward_backward(x, y)
        seen.append(_snapshot(model, model[0].weight.grad))
        if i % 3 == 2:
            optimizer.step()
            optimizer.zero_grad()
    return seen


def _two_optimizers(T: Any, compile_step: Any, batches: list) -> list:
    """Nesterov SGD on the first layer and AdamW on the last, both stepped inside."""
    model = _mlp(T)
    first = T.optim.SGD(model[0].parameters(), lr=0.1, momentum=0.9, nesterov=True)
    last = T.optim.AdamW(model[2].parameters(), lr=0.01, weight_decay=0.1)

    def step(x: Any, y: Any) -> Any:
        first.zero_grad()
        last.zero_grad()
        loss = _loss(model, x, y)
        loss.backward()
        first.step()
        last.step()
        return loss.detach()

    compiled = compile_step(step)
    return [_snapshot(model, compiled(x, y)) for x, y in batches]


def _standard_step(model: Any, optimizer: Any, set_to_none: bool = True) -> Any:
    def step(x: Any, y: Any) -> Any:
        optimizer.zero_grad(set_to_none=set_to_none)
        loss = _loss(model, x, y)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


def _freeze_and_unfreeze(T: Any, compile_step: Any, batches: list, set_to_none: bool) -> list:
    """A weight and then a whole layer frozen (requires_grad_) and unfrozen between calls; with zero_grad(set_to_none=False)
    a frozen weight keeps a zero .grad, so momentum and weight decay still move it, as in torch."""
    model = _mlp(T)
    optimizer = T.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    compiled = compile_step(_standard_step(model, optimizer, set_to_none))
    seen = []
    for i, (x, y) in enumerate(batches):
        if i == 1:
            model[0].weight.requires_grad_(False)
        if i == 2:
            model[2].requires_grad_(False)
        if i == 3:
            model.requires_grad_(True)
        seen.append(_snapshot(model, compiled(x, y)))
    return seen


def _tied_weights(T: Any, compile_step: Any, batches: list) -> list:
    """An embedding and the output layer share one weight (language-model weight tying)."""
    torch.manual_seed(0)
    embedding, output = torch.nn.Embedding(7, 3).double(), torch.nn.Linear(3, 7, bias=False).double()
    if T is graphc:
        ours = graphc.nn.Embedding(7, 3).double()
        ours.load_state_dict(embedding.state_dict())
        embedding, output = ours, graphc.nn.Linear(3, 7, bias=False).double()
    output.weight = embedding.weight
    optimizer = T.optim.Adam(embedding.parameters(), lr=0.05)

    def step(x: Any, y: Any) -> Any:
        optimizer.zero_grad()
        indices = (x[:, 0].abs() * 3).long() % 7
        loss = T.nn.functional.cross_entropy(output(embedding(indices)), (y[:, 0].abs() * 3).long() % 7)
        loss.backward()
        optimizer.step()
        return loss.detach()

    compiled = compile_step(step)
    return [[*_snapshot(embedding, compiled(x, y)), output.weight.detach().numpy().copy()] for x, y in batches]


def _no_grad_and_detach_inside(T: Any, compile_step: Any, batches: list) -> list:
    """A target computed under no_grad and a detached hidden state inside the step."""
    model = _mlp(T)
    optimizer = T.optim.SGD(model.parameters(), lr=0.1)

    def step(x: Any, y: Any) -> Any:
        optimizer.zero_grad()
        with T.no_grad():
            target = model(x) * 0.5 + y
        hidden = model[0](x)
        loss = ((model[2](T.tanh(hidden.detach())) - target) ** 2).mean() + (hidden**2).mean()
        loss.backward()
        optimizer.step()
        return loss.detach(), target

    compiled = compile_step(step)
    return [_snapshot(model, *compiled(x, y)) for x, y in batches]


def _train_eval_batch_norm(T: Any, compile_step: Any, batches: list) -> list:
    """model.train()/eval() toggled between calls: batch statistics and running-statistics updates, or the running ones."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2)).double()
    if T is graphc:
        ours = graphc.nn.Sequential(graphc.nn.Linear(3, 4), graphc.nn.BatchNorm1d(4), graphc.nn.Linear(4, 2)).double()
        ours.load_state_dict(model.state_dict())
        model = ours
    optimizer = T.optim.SGD(model.parameters(), lr=0.1)

    def step(x: Any, y: Any) -> Any:
        optimizer.zero_grad()
        loss = _loss(model, x, y)
        if model.training:
            loss.backward()
            optimizer.step()
        return loss.detach()

    compiled = compile_step(step)
    seen = []
    for i, (x, y) in enumerate(batches):
        model.train(i % 3 != 2)
        loss = compiled(x, y)
        seen.append(_snapshot(model, loss, model[1].running_mean, model[1].running_var, model[1].num_batches_tracked))
    return seen


def _results_changed_by_the_caller(T: Any, compile_step: Any, batches: list) -> list:
    """The step returns a hidden activation, the output and the first weight (detached: it aliases the parameter); the
    caller changes all three in place, which reaches the parameter only."""
    model = _mlp(T)
    optimizer = T.optim.SGD(model.parameters(), lr=0.1)

    def step(x: Any, y: Any) -> Any:
        optimizer.zero_grad()
        hidden = model[0](x)
        out = model[2](T.tanh(hidden))
        loss = ((out - y) ** 2).mean()
        loss.backward()
        optimizer.step()
        return loss.detach(), hidden.detach(), out.detach(), model[0].weight.detach()

    compiled = compile_step(step)
    seen = []
    for x, y in batches:
        loss, hidden, out, weight = compiled(x, y)
        hidden.add_(100)
        out.mul_(0)
        weight.mul_(0.5)
        seen.append(_snapshot(model, loss, hidden, out))
    return seen


def _state_dicts_loaded_between_calls(T: Any, compile_step: Any, batches: list) -> list:
    """A checkpoint of the model and of Adam's state taken after two calls, loaded back after four."""
    import copy

    model = _mlp(T)
    optimizer = T.optim.Adam(model.parameters(), lr=0.05)
    compiled = compile_step(_standard_step(model, optimizer))
    seen, checkpoint = [], None
    for i, (x, y) in enumerate(batches):
        if i == 2:
            checkpoint = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
        if i == 4:
            model.load_state_dict(checkpoint[0])
            optimizer.load_state_dict(checkpoint[1])
        seen.append(_snapshot(model, compiled(x, y)))
    return seen


def _param_group_added(T: Any, compile_step: Any, batches: list) -> list:
    """optimizer.add_param_group with the last layer (its own lr) after two calls."""
    model = _mlp(T)
    optimizer = T.optim.SGD(model[0].parameters(), lr=0.1, momentum=0.9)
    compiled = compile_step(_standard_step(model, optimizer))
    seen = []
    for i, (x, y) in enumerate(batches):
        if i == 2:
            optimizer.add_param_group({"params": list(model[2].parameters()), "lr": 0.05})
        seen.append(_snapshot(model, compiled(x, y)))
    return seen


TRAINING_LOOPS = {
    "gradient_accumulation": _accumulate_over_calls,
    "two_optimizers": _two_optimizers,
    "freeze_set_to_none": lambda T, c, b: _freeze_and_unfreeze(T, c, b, True),
    "freeze_zero_grad_keeps_zeros": lambda T, c, b: _freeze_and_unfreeze(T, c, b, False),
    "tied_weights": _tied_weights,
    "no_grad_and_detach_inside": _no_grad_and_detach_inside,
    "train_eval_batch_norm": _train_eval_batch_norm,
    "results_changed_by_the_caller": _results_changed_by_the_caller,
    "state_dicts_loaded_between_calls": _state_dicts_loaded_between_calls,
    "param_group_added": _param_group_added,
}


@pytest.mark.parametrize("loop", list(TRAINING_LOOPS))
def test_training_loop_patterns_match_eager_torch_step_by_step(loop: str) -> None:
    """What PyTorch users do between and inside compiled training steps, against eager torch on the same weights and data:
    losses, parameters, gradients and buffers after every call, in float64."""
    batches = [(data(5, 3, dtype="float64"), data(5, 2, dtype="float64")) for _ in range(6)]
    run = TRAINING_LOOPS[loop]
    theirs = run(torch, lambda f: f, [(torch.tensor(x), torch.tensor(y)) for x, y in batches])
    ours = run(graphc, graphc.compile, [(graphc.tensor(x), graphc.tensor(y)) for x, y in batches])
    _assert_same_runs(theirs, ours)


def test_a_parameter_passed_as_an_argument_and_changed_through_its_optimizer_inside_is_refused_at_the_users_line() -> None:
    """``step(x, w)`` with ``optimizer.zero_grad()`` over ``w`` inside: the argument's stand-in and the optimizer's tensor
    parted, so ``zero_grad()`` cleared one and the backward added to the other's old ``.grad`` (the gradient accumulated
    where torch's starts from None: wrong values from the second call on). Refused now; not passing it is torch's run."""
    batches = [data(3, dtype="float64") for _ in range(3)]

    def run(T: Any, compile_step: Any, pass_w: bool) -> list:
        w = T.tensor([1.0, -2.0, 0.5], dtype=T.float64, requires_grad=True)
        optimizer = T.optim.SGD([w], lr=0.1, momentum=0.9)

        def step(x: Any, *argument: Any) -> Any:
            optimizer.zero_grad()
            loss = ((argument[0] if argument else w) * x).sum() ** 2
            loss.backward()
            optimizer.step()
            return loss.detach()

        compiled = compile_step(step)
        return [[compiled(T.tensor(x), *([w] if pass_w else [])).numpy(), w.detach().numpy().copy()] for x in batches]

    _assert_same_runs(run(torch, lambda f: f, True), run(graphc, graphc.compile, False))
    with pytest.raises(GraphcError, match="tensor argument 1 is also reached from outside the arguments") as error:
        run(graphc, graphc.compile, True)
    assert "test_compile_training_adversarial.py" in str(error.value)

"""``graphc.compile(fn, check=True)``: every call is compared with the traced IR run in eager
PyTorch, and a difference names the first IR node that graphc computes wrongly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from graphc import nn, optim
from graphc.errors import CheckError
from graphc.ir.registry import REGISTRY
from graphc.runtime import check

pytestmark = pytest.mark.usefixtures("numpy_kernels")  # C loops have their own tests (conftest.py)

HERE = __file__


def test_every_primitive_can_be_evaluated_in_torch() -> None:
    assert set(REGISTRY) == set(check.EVALUATORS) | set(check.GIVEN)


def model() -> nn.Module:
    graphc.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Dropout(0.25), nn.Linear(8, 3))


def test_a_training_step_with_dropout_and_adam_passes_the_check(backend: str) -> None:
    net = model()
    opt = optim.Adam(net.parameters(), lr=0.01)

    def train_step(x: graphc.Tensor, y: graphc.Tensor) -> graphc.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss

    checked = graphc.compile(train_step, check=True)
    graphc.manual_seed(1)
    for batch in (6, 6, 5):  # two calls of one signature, then another batch size of the symbolic one
        checked(graphc.randn(batch, 4), graphc.randint(0, 3, (batch,)))
    assert all(entry.checker is not None for entry in checked.entries)


def test_a_model_with_backward_outside_passes_the_check() -> None:
    """Results that need gradients are rebuilt lazily; check mode checks the program on the call's inputs."""
    net = model()
    checked = graphc.compile(net, check=True)
    out = checked(graphc.randn(5, 4))
    out.sum().backward()
    assert net[0].weight.grad is not None and checked.entries[0].checker is not None


def test_convolution_and_pooling_pass_the_check() -> None:
    conv = nn.Conv2d(1, 2, 3, padding=1)
    checked = graphc.compile(lambda x: F.max_pool2d(F.relu(conv(x)), 2).flatten(1).log_softmax(1), check=True)
    checked(graphc.randn(2, 1, 6, 6))


@pytest.mark.parametrize("kernels", ["numpy", "c"])
def test_a_wrong_kernel_is_reported_at_its_ir_node_and_line(monkeypatch: pytest.MonkeyPatch, kernels: str) -> None:
    """A code generator bug (tanh emitted as sin) is caught and located, in a NumPy kernel or in C loops."""
    import graphc.codegen.c_loops as c_loops
    import graphc.codegen.numpy as numpy_codegen

    if kernels == "numpy":
        monkeypatch.setenv("GRAPHC_NATIVE", "0")
        monkeypatch.setitem(numpy_codegen.LOWERINGS, "tanh", numpy_codegen.LOWERINGS["sin"])
    else:
        monkeypatch.setenv("GRAPHC_NATIVE", "1")
        lower = c_loops.LoopEmitter.lower
        monkeypatch.setattr(c_loops.LoopEmitter, "lower", lambda self, node, a: lower(self, node, a).replace("tanh", "sin"))
    checked = graphc.compile(lambda a, w: ((a @ w).exp() * 0.5).tanh().sum(1) + 1, backend="numpy", check=True)
    with pytest.raises(CheckError) as info:
        checked(graphc.randn(3, 4), graphc.randn(4, 2))
    message = str(info.value)
    assert "IR:" in message and "= tanh(%" in message and "f32[B,2]" in message
    assert f"{HERE}:{test_a_wrong_kernel_is_reported_at_its_ir_node_and_line.__code__.co_firstlineno + 13}" in message
    assert "max abs error" in message


def test_a_difference_only_in_the_compiled_program_is_reported_at_the_output() -> None:
    checked = graphc.compile(lambda a: (a * 2).exp().sum(0), check=True)
    x = graphc.randn(3, 4)
    checked(x)
    program = checked.entries[0].program

    class Skewed:
        """The program's module with its first result off by one: what a wrong fusion would give."""

        def __init__(self, module: Any) -> None:
            self.module = module

        def run(self, *args: Any) -> Any:
            results = self.module.run(*args)
            return [results[0] + 1, *results[1:]]

    program.module = Skewed(program.module)
    with pytest.raises(CheckError, match="every node matches torch when computed on its own") as info:
        checked(x)
    assert "= sum(%" in str(info.value)


def test_check_mode_is_off_by_default() -> None:
    compiled = graphc.compile(lambda a: a.exp())
    np.testing.assert_allclose(compiled(graphc.zeros(2)).numpy(), [1.0, 1.0])
    assert compiled.entries[0].checker is None


def decompositions(a: graphc.Tensor, b: graphc.Tensor) -> tuple[graphc.Tensor, ...]:
    w, v = graphc.linalg.eigh(a)
    u, s, vh = graphc.linalg.svd(b, full_matrices=True)
    return w, v, u, s, vh, v * 2.0, (u[..., :2] * s[..., None, :]) @ vh


def test_eigenvectors_and_singular_vectors_pass_the_check_with_their_own_signs(backend: str) -> None:
    """torch leaves their signs (and a repeated eigenvalue's basis) free; graphc's differ from torch's LAPACK."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4, 4))
    a[2] = np.diag([1.0, 1.0, 2.0, 3.0])  # a repeated eigenvalue: any basis of its plane is right
    checked = graphc.compile(decompositions, backend=backend, check=True)
    checked(graphc.tensor(a), graphc.tensor(rng.standard_normal((2, 5, 2))))
    assert checked.entries[0].checker is not None


def test_a_wrong_eigenvector_is_reported_at_its_eigh_node(monkeypatch: pytest.MonkeyPatch) -> None:
    import graphc.codegen.numpy_support as rt

    eigh = rt.eigh

    def skewed(x: np.ndarray, upper: bool) -> np.ndarray:
        out = eigh(x, upper).copy()
        out[..., -1] += 1e-3  # the last vector's last entry: no longer orthonormal nor an eigenvector
        return out

    monkeypatch.setattr(rt, "eigh", skewed)
    checked = graphc.compile(decompositions, backend="numpy", check=True)
    rng = np.random.default_rng(1)
    with pytest.raises(CheckError) as info:
        checked(graphc.tensor(rng.standard_normal((2, 3, 3))), graphc.tensor(rng.standard_normal((2, 3, 2))))
    assert "= eigh(%" in str(info.value)

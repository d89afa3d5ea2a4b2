"""Shared helpers of the differential tests: the same data through graphc and torch, compared.

``pair(array)`` gives a graphc tensor and a torch tensor holding the same NumPy data;
``assert_matches`` checks that a graphc result equals torch's: shape, dtype name and
values (exact for integers and bools, tight tolerances per float dtype).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import graphc

RNG = np.random.default_rng(1234)

# (rtol, atol) per float dtype: a few ulps of the dtype, loose enough for a different
# summation order or libm, tight enough that a wrong formula fails.
TOLERANCES = {
    "float16": (2e-3, 1e-3),
    "bfloat16": (1.6e-2, 1e-2),
    "float32": (1.3e-5, 1e-6),
    "float64": (1e-12, 1e-13),
}


def data(*shape: int, dtype: str = "float32", low: float | None = None, high: float | None = None, positive: bool = False) -> np.ndarray:
    """Random values of ``dtype``: normal floats (or uniform in [low, high)), small ints (not negative for uint8), random bools."""
    if dtype == "bool":
        return RNG.random(shape) < 0.5
    if np.dtype(dtype).kind in "iu":
        lo = (0 if np.dtype(dtype).kind == "u" else -5) if low is None else int(low)
        hi = 6 if high is None else int(high)
        return RNG.integers(lo, hi, size=shape).astype(dtype)
    if low is not None or high is not None:
        x = RNG.uniform(0.0 if low is None else low, 1.0 if high is None else high, size=shape)
    else:
        x = RNG.standard_normal(shape)
        if positive:
            x = np.abs(x) + 0.25
    return np.asarray(x).astype(dtype)


def pair(array: Any, requires_grad: bool = False) -> tuple[graphc.Tensor, torch.Tensor]:
    """A graphc tensor and a torch tensor built from the same NumPy data (copied, so neither aliases it)."""
    array = np.asarray(array)
    g = graphc.tensor(array.copy(), requires_grad=requires_grad)
    t = torch.from_numpy(array.copy())
    if requires_grad:
        t.requires_grad_(True)
    return g, t


def pairs(*arrays: Any) -> tuple[list[graphc.Tensor], list[torch.Tensor]]:
    made = [pair(a) for a in arrays]
    return [g for g, _ in made], [t for _, t in made]


def dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.").removeprefix("graphc.")


def to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach()
        if value.dtype == torch.bfloat16:
            value = value.float()
        return value.numpy()
    return np.asarray(value)


def assert_matches(got: Any, expected: Any, rtol: float | None = None, atol: float | None = None) -> None:
    """``got`` (graphc tensor, or a tuple/list of them) equals torch's ``expected`` in shape, dtype and values."""
    if isinstance(expected, (tuple, list)):
        assert isinstance(got, (tuple, list)), f"expected a sequence of {len(expected)} tensors, got {type(got).__name__}"
        assert len(got) == len(expected), f"{len(got)} results, torch gives {len(expected)}"
        for g, e in zip(got, expected):
            assert_matches(g, e, rtol, atol)
        return
    assert isinstance(got, graphc.Tensor), f"expected a graphc.Tensor, got {type(got).__name__}"
    assert isinstance(expected, torch.Tensor), type(expected)
    assert tuple(got.shape) == tuple(expected.shape), f"shape {tuple(got.shape)} != torch's {tuple(expected.shape)}"
    name = dtype_name(expected.dtype)
    assert got.dtype.name == name, f"dtype {got.dtype.name} != torch's {name}"
    array = got.numpy()
    assert tuple(array.shape) == tuple(expected.shape), f"realized shape {array.shape} != {tuple(expected.shape)}"
    assert array.dtype == got.dtype.numpy, f"realized dtype {array.dtype} != declared {got.dtype.name}"
    want = to_numpy(expected)
    if name in TOLERANCES:
        default_rtol, default_atol = TOLERANCES[name]
        np.testing.assert_allclose(
            array.astype(np.float64),
            want.astype(np.float64),
            rtol=default_rtol if rtol is None else rtol,
            atol=default_atol if atol is None else atol,
            equal_nan=True,
        )
    else:
        np.testing.assert_array_equal(array, want)


def kernel_of(*tensors: graphc.Tensor):  # noqa: ANN201
    """The pending graph of ``tensors`` as one kernel (every computing node in it): for code generator tests."""
    from graphc.codegen.kernel_ir import kernel_for
    from graphc.frontend import lazy

    graph, _ = lazy.pending_graph([t._node for t in tensors])
    nodes = [n for n in graph.nodes if n.op not in ("input", "parameter")]
    return kernel_for(0, nodes, list(graph.outputs))


def normal_tensor(*shape: int) -> graphc.Tensor:
    """A float32 tensor of standard normal values, the same for the same shape."""
    return graphc.tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32))


def adam_steps_of_a_linear(weight: np.ndarray, bias: np.ndarray | None, x: np.ndarray, lr: float, backend: str = "auto") -> tuple[list, list, object]:
    """Three compiled Adam steps of a float64 Linear on ``tanh(model(x)).sum()``, and the same in eager torch.

    Returns the graphc parameters, torch's (as arrays, weight first) and the compiled step.
    """
    import torch

    out_features, in_features = weight.shape
    model = graphc.nn.Linear(in_features, out_features, bias=bias is not None).double()
    reference = torch.nn.Linear(in_features, out_features, bias=bias is not None).double()
    model.weight.data, reference.weight.data = graphc.tensor(weight.copy()), torch.tensor(weight)
    if bias is not None:
        model.bias.data, reference.bias.data = graphc.tensor(bias.copy()), torch.tensor(bias)
    optimizer = graphc.optim.Adam(model.parameters(), lr=lr)
    torch_optimizer = torch.optim.Adam(reference.parameters(), lr=lr)

    def step() -> graphc.Tensor:
        optimizer.zero_grad()
        loss = model(graphc.tensor(x)).tanh().sum()
        loss.backward()
        optimizer.step()
        return loss

    compiled = graphc.compile(step, backend=backend)
    for _ in range(3):
        compiled()
        torch_optimizer.zero_grad()
        reference(torch.tensor(x)).tanh().sum().backward()
        torch_optimizer.step()
    ours = [p.numpy() for p in model.parameters()]
    theirs = [p.detach().numpy() for p in reference.parameters()]
    return ours, theirs, compiled

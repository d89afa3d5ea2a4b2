"""graphc.func.vmap against torch.func.vmap: batching rules of every primitive family, in_dims/out_dims,
nesting, per-example gradients, randomness and the errors for what cannot be batched.

Every case runs the same code on graphc and torch (``fn(T, F, *inputs)``, ``T`` the module and ``F`` its
``nn.functional``) and compares shapes, dtypes and values; ``test_every_primitive_has_a_batching_rule``
keeps the registry of batching rules (graphc/ir/batching.py) complete.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import assert_matches, data

import graphc
import graphc.nn.functional as GF
from graphc.errors import GraphcError
from graphc.frontend.transforms.pytree import flatten
from graphc.func import vmap
from graphc.ir.batching import BATCHING, NOT_BATCHED
from graphc.ir.graph import toposort
from graphc.ir.registry import REGISTRY


def f64(*shape: int, positive: bool = False) -> np.ndarray:
    return data(*shape, dtype="float64", positive=positive)


def i64(*shape: int, low: int, high: int) -> np.ndarray:
    return data(*shape, dtype="int64", low=low, high=high)


def spd(batch: int, n: int) -> np.ndarray:
    a = f64(batch, n, n)
    return a @ a.transpose(0, 2, 1) + n * np.eye(n)


def both(fn: Callable[..., Any], arrays: tuple, in_dims: Any = 0, out_dims: Any = 0, **kwargs: Any) -> tuple[Any, Any]:
    """``vmap(fn)`` on graphc and ``torch.func.vmap(fn)`` on torch, over copies of the same arrays."""
    got = vmap(lambda *xs: fn(graphc, GF, *xs), in_dims=in_dims, out_dims=out_dims, **kwargs)(*[graphc.tensor(a.copy()) for a in arrays])
    want = torch.func.vmap(lambda *xs: fn(torch, TF, *xs), in_dims=in_dims, out_dims=out_dims, **kwargs)(*[torch.tensor(a.copy()) for a in arrays])
    return got, want


def test_every_primitive_has_a_batching_rule_or_a_reason() -> None:
    missing = sorted(set(REGISTRY) - set(BATCHING) - set(NOT_BATCHED))
    assert not missing, f"primitives with neither a batching rule nor a reason in NOT_BATCHED: {missing}"
    assert not set(BATCHING) & set(NOT_BATCHED)
    assert all(reason for reason in NOT_BATCHED.values())


# (label, fn(T, F, *inputs), inputs, in_dims): one row per primitive family and per way of batching it.
SWEEP: list[tuple[str, Callable[..., Any], tuple, Any]] = [
    ("binary-broadcast-shared", lambda T, F, x, y: x * y + 1.5, (f64(3, 2, 4), f64(4)), (0, None)),
    ("binary-both-batched-axis1", lambda T, F, x, y: T.maximum(x, y) - x / (y.abs() + 1), (f64(2, 3), f64(3, 2)), (1, 0)),
    ("unary-chain", lambda T, F, x: T.sigmoid(x) * T.exp(-x) + T.tanh(x).sin(), (f64(4, 3),), 0),
    (
        "unary-math",
        lambda T, F, x: (
            (x.abs() + 1).sqrt().rsqrt() + x.floor() + x.ceil() + x.round() + x.trunc() + x.sign() + T.fmod(x, 0.7) + x.atan() + x.cos(),
            T.erf(x) + T.exp2(x) + T.expm1(x) + T.log1p(x.abs()) + T.log2(x.abs() + 1) + T.reciprocal(x.abs() + 1) + T.minimum(x, 0.3 * x) + x**3,
            (x > 0) | (x < -1),
        ),
        (f64(3, 4),),
        1,
    ),
    ("where-compare-cast", lambda T, F, x: T.where(x > 0, x, x * 0.1).to(T.float32) + (x < 0).to(T.float32), (f64(3, 5),), 0),
    ("integer-ops", lambda T, F, x: (x * 3) // 2 + x % 4, (i64(3, 4, low=-9, high=9),), 0),
    ("sum-mean-keepdim", lambda T, F, x: x.sum(1) + x.mean(0, keepdim=True).sum(), (f64(3, 4, 5),), 2),
    ("max-min-values-indices", lambda T, F, x: (x.max(1).values, x.min(0).indices, x.argmax(-1), x.amin(1), x.min(-1)), (f64(3, 4, 5),), 0),
    ("reduce-0d-example", lambda T, F, x: (x.sum(), x.max(), x.argmax()), (f64(4),), 0),
    ("softmax-logsumexp", lambda T, F, x: (F.softmax(x, -1), T.logsumexp(x, 0), F.log_softmax(x, 0)), (f64(3, 4, 5),), 1),
    ("cumsum-sort", lambda T, F, x: (x.cumsum(0), T.sort(x, -1, descending=True).values, T.sort(x, 0).indices), (f64(3, 4, 2),), 0),
    ("reshape-permute-transpose", lambda T, F, x: (x.reshape(8, 2), x.permute(2, 0, 1), x.transpose(0, 1).flatten()), (f64(2, 3, 4, 2),), 1),
    ("expand-unsqueeze-squeeze", lambda T, F, x: (x.unsqueeze(0).expand(3, 4, 1).squeeze(-1), x[None].squeeze(0)), (f64(5, 4, 1),), 0),
    ("slices-steps", lambda T, F, x: (x[1:3], x[..., ::2], x[:, -1], x.narrow(0, 1, 2)), (f64(4, 5, 3),), 0),
    ("pad-flip", lambda T, F, x: (F.pad(x, (1, 2)), F.pad(x, (0, 0, 2, 1), value=3.0), x.flip(0)), (f64(2, 3, 4),), 2),
    ("cat-stack-shared", lambda T, F, x, y: (T.cat([x, y], 0), T.stack([x, y], -1)), (f64(3, 2, 4), f64(2, 4)), (0, None)),
    ("matmul-shared-weight", lambda T, F, x, w: x @ w, (f64(5, 3, 4), f64(4, 2)), (0, None)),
    ("matmul-shared-left", lambda T, F, w, x: w @ x, (f64(3, 4), f64(5, 4, 2)), (None, 0)),
    ("matmul-both-batched-vector", lambda T, F, x, y: (x @ y, x.T @ x), (f64(3, 4, 2), f64(3, 2)), 0),
    ("linear-bmm", lambda T, F, x, w, b: (F.linear(x, w, b), T.bmm(x[None], w.T[None])), (f64(4, 6, 3), f64(2, 3), f64(2)), (0, None, None)),
    (
        "gather-scatter-add",
        lambda T, F, x, i: (T.gather(x, 1, i), T.zeros(3, 4, dtype=x.dtype).scatter_add(1, i, x[:, :2])),
        (f64(2, 3, 4), i64(2, 3, 2, low=0, high=4)),
        0,
    ),
    ("index-select-shared-index", lambda T, F, x, i: (x[i], x.index_select(1, i)), (f64(2, 4, 4), i64(3, low=0, high=4)), (0, None)),
    ("index-batched-index", lambda T, F, x, i: (x[i], F.embedding(i, x)), (f64(2, 5, 3), i64(2, 4, low=0, high=5)), 0),
    ("index-batched-index-shared-table", lambda T, F, x, i: x[i] * 2, (f64(5, 3), i64(3, 4, low=0, high=5)), (None, 0)),
    ("conv2d-maxpool", lambda T, F, x, w: F.max_pool2d(F.conv2d(x, w, padding=1), 2), (f64(2, 1, 2, 4, 4), f64(3, 2, 3, 3)), (0, None)),
    ("conv1d-batched-weight", lambda T, F, x, w: F.conv1d(x, w), (f64(2, 1, 2, 6), f64(2, 3, 2, 3)), 0),
    ("solve-cholesky", lambda T, F, a, b: (T.linalg.solve(a, b), T.linalg.cholesky(a)), (spd(3, 3), f64(3, 3, 2)), 0),
    ("matrix-exp", lambda T, F, a: T.linalg.matrix_exp(a), (f64(2, 3, 3),), 0),
    ("lu", lambda T, F, a: tuple(T.linalg.lu(a)), (f64(2, 3, 4),), 0),
    ("ldl-shared-rhs", lambda T, F, a, b: T.linalg.ldl_solve(*T.linalg.ldl_factor(a + a.mT), b), (f64(2, 3, 3), f64(3, 2)), (0, None)),
    ("slogdet-eigh-shared-rhs", lambda T, F, a, b: (T.linalg.slogdet(a)[1], T.linalg.eigvalsh(a), T.linalg.solve(a, b)), (spd(2, 3), f64(3)), (0, None)),
    ("svd-qr", lambda T, F, a: (T.linalg.svdvals(a), T.linalg.qr(a)[1].abs()), (f64(2, 4, 3),), 0),
    ("solve-triangular-shared-matrix", lambda T, F, a, b: T.linalg.solve_triangular(a, b, upper=True), (spd(1, 3)[0], f64(2, 3, 2)), (None, 0)),
    (
        "scatter-reduce-fold",
        lambda T, F, x, i: (T.ones(2, 3, dtype=x.dtype).scatter_reduce(1, i, x, "amax"), F.conv_transpose1d(x[None], x[:, :2, None].repeat(1, 1, 2))),
        (f64(2, 2, 3), i64(2, 2, 3, low=0, high=3)),
        0,
    ),
    (
        "grad-through-custom-vjp",
        lambda T, F, x, y: T.func.grad_and_value(lambda a: F.binary_cross_entropy(T.sigmoid(a), y))(x),
        (f64(3, 4), f64(3, 4).clip(0, 1)),
        0,
    ),
]


def test_sweep_exercises_every_rule_beyond_the_elementwise_one() -> None:
    """Each batching rule but the shared elementwise one is compared with torch by some row of SWEEP."""
    seen = set()
    for _, fn, inputs, in_dims in SWEEP:
        out = vmap(lambda *xs, fn=fn: fn(graphc, GF, *xs), in_dims=in_dims)(*[graphc.tensor(a) for a in inputs])
        seen |= {n.op for n in toposort([t._node for t in flatten(out)[0]])}
    untested = sorted(op for op in set(BATCHING) - seen if REGISTRY[op].category != "elementwise" or op == "custom_vjp")
    assert not untested, f"batching rules no SWEEP row exercises: {untested}"


@pytest.mark.parametrize("fn, inputs, in_dims", [pytest.param(*row[1:], id=row[0]) for row in SWEEP])
def test_batching_rules_match_torch_vmap(fn: Callable[..., Any], inputs: tuple, in_dims: Any) -> None:
    got, want = both(fn, inputs, in_dims)
    assert_matches(got, want)


def test_in_dims_and_out_dims_follow_pytrees() -> None:
    x, y, z = f64(3, 2), f64(2, 3), f64(4)

    def fn(pair: Any, scale: Any) -> Any:
        return {"sum": pair[0] + pair[1], "shared": scale * 2}, pair[1] * scale[:2].sum()

    dims = dict(in_dims=((0, 1), None), out_dims=({"sum": 1, "shared": None}, -1))
    got = vmap(fn, **dims)((graphc.tensor(x), graphc.tensor(y)), graphc.tensor(z))
    want = torch.func.vmap(fn, **dims)((torch.tensor(x), torch.tensor(y)), torch.tensor(z))
    assert_matches([got[0]["sum"], got[0]["shared"], got[1]], [want[0]["sum"], want[0]["shared"], want[1]])
    dict_in = vmap(lambda d: d["a"] * d["b"], in_dims=({"a": 0, "b": None},))({"a": graphc.tensor(x), "b": graphc.tensor(z[:2])})
    assert_matches(dict_in, torch.tensor(x) * torch.tensor(z[:2]))


def test_unbatched_result_is_broadcast_to_the_batch() -> None:
    got, want = both(lambda T, F, x, y: (y * 3, x.sum() + y), (f64(4, 2), f64(3)), in_dims=(0, None), out_dims=(0, 1))
    assert_matches(got, want)


def test_chunked_vmap_matches_one_batch() -> None:
    got, want = both(lambda T, F, x, w: T.tanh(x @ w), (f64(7, 3), f64(3, 2)), in_dims=(0, None), chunk_size=3)
    assert_matches(got, want)


def test_nested_vmap_batches_twice() -> None:
    def outer(T: Any, F: Any, x: Any, y: Any) -> Any:
        vm = vmap if T is graphc else torch.func.vmap
        return vm(vm(lambda a, b: (a * b).sum(), in_dims=(None, 0)), in_dims=(0, None))(x, y)

    got, want = both(outer, (f64(2, 4, 3), f64(2, 5, 3)), in_dims=0)
    assert_matches(got, want)


def _mlp_pair() -> tuple[graphc.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)).double()
    gm = graphc.nn.Sequential(graphc.nn.Linear(4, 5), graphc.nn.Tanh(), graphc.nn.Linear(5, 3)).double()
    gm.load_state_dict(tm.state_dict())
    return gm, tm


def _per_example_grads(model: Any, T: Any, F: Any, func: Any, x: Any, y: Any) -> dict:
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p: dict, xb: Any, yb: Any) -> Any:
        return F.cross_entropy(func.functional_call(model, p, (xb.unsqueeze(0),)), yb.unsqueeze(0))

    return func.vmap(func.grad(loss), in_dims=(None, 0, 0))(params, x, y)


def test_per_example_gradients_of_an_mlp_match_torch_func(backend: str) -> None:
    gm, tm = _mlp_pair()
    batch = 2 if backend == "triton" else 6
    x, y = f64(batch, 4), i64(batch, low=0, high=3)
    got = _per_example_grads(gm, graphc, GF, graphc.func, graphc.tensor(x), graphc.tensor(y))
    want = _per_example_grads(tm, torch, TF, torch.func, torch.tensor(x), torch.tensor(y))
    assert sorted(got) == sorted(want)
    for name in want:
        assert_matches(got[name], want[name])


def test_vmap_of_grad_inside_graphc_compile_takes_any_batch() -> None:
    gm, tm = _mlp_pair()
    step = graphc.compile(lambda x, y: _per_example_grads(gm, graphc, GF, graphc.func, x, y)["2.weight"])
    for batch in (3, 5):
        x, y = f64(batch, 4), i64(batch, low=0, high=3)
        assert_matches(step(graphc.tensor(x), graphc.tensor(y)), _per_example_grads(tm, torch, TF, torch.func, torch.tensor(x), torch.tensor(y))["2.weight"])


def test_gradient_flows_through_vmap() -> None:
    x, w = f64(4, 3), f64(3)
    gx, gw = graphc.tensor(x), graphc.tensor(w, requires_grad=True)
    tx, tw = torch.tensor(x), torch.tensor(w, requires_grad=True)
    vmap(lambda r: (r * gw).sin().sum())(gx).sum().backward()
    torch.func.vmap(lambda r: (r * tw).sin().sum())(tx).sum().backward()
    assert_matches(gw.grad, tw.grad)


def test_per_example_gradients_differentiate_back_to_the_weights() -> None:
    x, w = f64(4, 3), f64(3)
    gw, tw = graphc.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)

    def fn(v: Any, r: Any) -> Any:
        return (r * v).sin().sum()

    vmap(graphc.func.grad(fn), in_dims=(None, 0))(gw, graphc.tensor(x)).pow(2).sum().backward()
    torch.func.vmap(torch.func.grad(fn), in_dims=(None, 0))(tw, torch.tensor(x)).pow(2).sum().backward()
    assert_matches(gw.grad, tw.grad)


def test_random_ops_follow_randomness() -> None:
    x = graphc.zeros(4, 3)
    with pytest.raises(GraphcError, match="randomness error mode"):
        vmap(lambda r: r + graphc.rand(3))(x)
    same = vmap(lambda r: r + graphc.rand(3), randomness="same")(x).numpy()
    assert np.all(same == same[0]) and len(np.unique(same)) == 3
    different = vmap(lambda r: GF.dropout(r + 1, 0.5), randomness="different")(graphc.zeros(64, 32)).numpy()
    assert different.shape == (64, 32) and len({row.tobytes() for row in different}) > 60
    assert set(np.unique(different)) <= {0.0, 2.0}
    outside = graphc.rand(3)
    shared = vmap(lambda r: r + outside)(x).numpy()
    assert np.all(shared == outside.numpy())


def test_errors_name_the_problem() -> None:
    x = graphc.zeros(4, 3)
    with pytest.raises(ValueError, match="same size in the mapped dimension"):
        vmap(lambda a, b: a + b)(x, graphc.zeros(5, 3))
    with pytest.raises(ValueError, match="in_dims is not compatible"):
        vmap(lambda a, b: a + b, in_dims=(0,))(x, x)
    with pytest.raises(ValueError, match="expected in_dim to satisfy"):
        vmap(lambda a: a, in_dims=2)(x)
    with pytest.raises(ValueError, match="cannot vmap over non-Tensor"):
        vmap(lambda a, n: a * n)(x, 2.0)
    with pytest.raises(ValueError, match="at least one input must be batched"):
        vmap(lambda a: a, in_dims=None)(x)
    with pytest.raises(ValueError, match="out_dim None"):
        vmap(lambda a: a * 2, out_dims=None)(x)
    with pytest.raises(GraphcError, match=r"vmap: the function asked for the value of a batched tensor(.|\n)*test_vmap.py"):
        vmap(lambda a: a * a.sum().item())(x)
    with pytest.raises(GraphcError, match="value of a batched tensor"):
        vmap(lambda a: graphc.nonzero(a))(x)
    with pytest.raises(GraphcError, match="value of a batched tensor"):
        vmap(lambda a: a if bool(a.sum() > 0) else -a)(x)


def test_state_updated_from_a_batched_value_is_refused() -> None:
    bn = graphc.nn.BatchNorm1d(3)
    x = graphc.tensor(f64(4, 2, 3))
    with pytest.raises(GraphcError, match=r"BatchNorm's running statistics(.|\n)*test_vmap.py"):
        vmap(bn)(x)
    bn = graphc.nn.BatchNorm1d(3).double().eval()
    t_bn = torch.nn.BatchNorm1d(3).double().eval()
    assert_matches(vmap(bn)(x), torch.func.vmap(t_bn)(torch.tensor(x.numpy())))
    captured = graphc.zeros(3)
    vmap(lambda r: captured.add_(r))(graphc.ones(2, 3))
    with pytest.raises(GraphcError, match="was given a value computed from a batched input"):
        captured.numpy()

"""Shape and movement ops against torch: reshape/view (-1), permute, transpose, T, mT, t,
squeeze, unsqueeze, flatten, unflatten, expand, broadcast_to, repeat, cat, stack, split,
chunk, unbind, narrow, view_as/expand_as/type_as, on contiguous and non-contiguous inputs."""

from __future__ import annotations

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import assert_matches, data, pair, pairs
from hypothesis import HealthCheck, given, settings

import graphc
import graphc.nn.functional as GF
from graphc.errors import GraphcError
from graphc.frontend.functional import node_of, wrap
from graphc.ir.registry import emit

pytestmark = pytest.mark.usefixtures("fusion")  # every case with fusion on and off


@pytest.mark.parametrize(
    "shape",
    [(24,), (2, 12), (4, -1), (-1, 6), (2, 3, 4), (2, -1, 2), (1, 24, 1), (-1,), (3, 8)],
    ids=str,
)
def test_reshape_view(backend: str, shape: tuple) -> None:
    g, t = pair(data(2, 3, 4))
    assert_matches(g.reshape(shape), t.reshape(shape))
    assert_matches(g.view(*shape), t.view(*shape))
    assert_matches(graphc.reshape(g, shape), torch.reshape(t, shape))
    assert_matches(g.permute(2, 0, 1).reshape(shape), t.permute(2, 0, 1).reshape(shape))


def test_reshape_zero_dim_and_one_element(backend: str) -> None:
    g, t = pair(np.array(3.0, dtype=np.float32))
    assert_matches(g.reshape(1, 1), t.reshape(1, 1))
    assert_matches(g.view(-1), t.view(-1))
    g, t = pair(data(1, 1))
    assert_matches(g.reshape(()), t.reshape(()))
    assert_matches(g.view([]), t.view([]))


@pytest.mark.parametrize("perm", [(0, 1, 2), (2, 0, 1), (1, 2, 0), (2, 1, 0), (-1, 0, 1)], ids=str)
def test_permute(backend: str, perm: tuple) -> None:
    g, t = pair(data(2, 3, 4, dtype="int32"))
    assert_matches(g.permute(*perm), t.permute(*perm))
    assert_matches(g.permute(perm), t.permute(perm))
    assert_matches(graphc.permute(g, perm), torch.permute(t, perm))


def test_transpose_and_t(backend: str) -> None:
    g, t = pair(data(2, 3, 4))
    assert_matches(g.transpose(0, 2), t.transpose(0, 2))
    assert_matches(graphc.transpose(g, -1, -2), torch.transpose(t, -1, -2))
    assert_matches(g.mT, t.mT)
    g2, t2 = pair(data(3, 5))
    assert_matches(g2.t(), t2.t())
    assert_matches(g2.T, t2.T)
    assert_matches(g2.T.T, t2.T.T)
    g1, t1 = pair(data(5))
    assert_matches(g1.t(), t1.t())
    assert_matches(g1.T, t1)  # torch deprecates .T on 1-d tensors; it is the tensor itself
    g0, t0 = pair(np.array(1.5, dtype=np.float32))
    assert_matches(g0.t(), t0.t())


def test_T_of_3d_reverses_dims(backend: str) -> None:
    g, t = pair(data(2, 3, 4))
    assert_matches(g.T, t.permute(2, 1, 0))


def test_squeeze_unsqueeze(backend: str) -> None:
    g, t = pair(data(1, 3, 1, 2))
    assert_matches(g.squeeze(), t.squeeze())
    assert_matches(g.squeeze(0), t.squeeze(0))
    assert_matches(g.squeeze(1), t.squeeze(1))  # not size 1: unchanged
    assert_matches(g.squeeze(-2), t.squeeze(-2))
    assert_matches(g.squeeze((0, 2)), t.squeeze((0, 2)))
    assert_matches(graphc.squeeze(g, 2), torch.squeeze(t, 2))
    for dim in (0, 2, 4, -1, -5):
        assert_matches(g.unsqueeze(dim), t.unsqueeze(dim))
    assert_matches(graphc.unsqueeze(g, 1), torch.unsqueeze(t, 1))


def test_squeeze_unsqueeze_zero_dim(backend: str) -> None:
    g0, t0 = pair(np.array(2.0, dtype=np.float64))
    assert_matches(g0.unsqueeze(0), t0.unsqueeze(0))
    assert_matches(g0.unsqueeze(-1).squeeze(), t0.unsqueeze(-1).squeeze())  # simplifies to the input itself


@pytest.mark.parametrize("dims", [(), (0,), (1,), (0, -1), (1, 2), (-2, -1), (2, 2)], ids=str)
def test_flatten(backend: str, dims: tuple) -> None:
    g, t = pair(data(2, 3, 4))
    assert_matches(g.flatten(*dims), t.flatten(*dims))
    assert_matches(graphc.flatten(g, *dims), torch.flatten(t, *dims))


def test_flatten_zero_dim_and_unflatten(backend: str) -> None:
    g, t = pair(np.array(4, dtype=np.int64))
    assert_matches(g.flatten(), t.flatten())
    g, t = pair(data(2, 12))
    assert_matches(g.unflatten(1, (3, 4)), t.unflatten(1, (3, 4)))
    assert_matches(g.unflatten(-1, (2, -1)), t.unflatten(-1, (2, -1)))


@pytest.mark.parametrize(
    "case",
    [((3, 1), (3, 4)), ((3, 1), (-1, 4)), ((1, 4), (2, 3, 4)), ((4,), (3, 4)), ((1,), (2, 2)), ((), (2, 3)), ((2, 1, 1), (2, -1, 5))],
    ids=str,
)
def test_expand(backend: str, case: tuple) -> None:
    shape, target = case
    g, t = pair(data(*shape))
    assert_matches(g.expand(*target), t.expand(*target))
    assert_matches(g.expand(target), t.expand(target))
    g_like, t_like = pair(
        np.zeros(tuple(abs(d) if d != -1 else max(s, 1) for d, s in zip(target, (1,) * (len(target) - len(shape)) + shape)), dtype=np.float32)
    )
    assert_matches(g.expand_as(g_like), t.expand_as(t_like))
    assert_matches(g.broadcast_to(t_like.shape), t.broadcast_to(t_like.shape))


def test_expand_then_compute_and_permute(backend: str) -> None:
    g, t = pair(data(3, 1))
    assert_matches(g.expand(3, 4).T * 2, t.expand(3, 4).T * 2)
    assert_matches(g.expand(2, 3, 5).permute(2, 0, 1).sum(-1), t.expand(2, 3, 5).permute(2, 0, 1).sum(-1))


def test_repeat(backend: str) -> None:
    g, t = pair(data(2, 3))
    assert_matches(g.repeat(2, 1), t.repeat(2, 1))
    assert_matches(g.repeat(1, 2, 3), t.repeat(1, 2, 3))
    assert_matches(g.repeat((2, 2)), t.repeat((2, 2)))


@pytest.mark.parametrize("dim", [0, 1, -1, -2])
def test_cat(backend: str, dim: int) -> None:
    shapes = [(2, 3), (2, 3), (2, 3)]
    sizes = [1, 2, 3]
    arrays = []
    for shape, size in zip(shapes, sizes):
        s = list(shape)
        s[dim] = size
        arrays.append(data(*s))
    gs, ts = pairs(*arrays)
    assert_matches(graphc.cat(gs, dim), torch.cat(ts, dim))
    assert_matches(graphc.cat(gs, dim=dim), torch.cat(ts, dim=dim))
    assert_matches(graphc.cat(gs[:1], dim), torch.cat(ts[:1], dim))


def test_cat_promotes_dtypes_and_skips_empty_1d(backend: str) -> None:
    (ga, gb, gc), (ta, tb, tc) = pairs(data(2, 2, dtype="int32"), data(1, 2, dtype="float64"), data(3, 2, dtype="bool"))
    assert_matches(graphc.cat([ga, gb, gc]), torch.cat([ta, tb, tc]))
    assert_matches(graphc.cat([ga, gc]), torch.cat([ta, tc]))
    (ge,), (te,) = pairs(np.zeros((0,), dtype=np.float32))
    assert_matches(graphc.cat([ga, ge]), torch.cat([ta, te]))
    assert_matches(graphc.cat((ga.T, gb.T), 1), torch.cat((ta.T, tb.T), 1))


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_stack(backend: str, dim: int) -> None:
    gs, ts = pairs(data(2, 3), data(2, 3), data(2, 3))
    assert_matches(graphc.stack(gs, dim), torch.stack(ts, dim))
    assert_matches(graphc.stack(gs[:2], dim=dim), torch.stack(ts[:2], dim=dim))


def test_stack_zero_dim_and_mixed_dtypes(backend: str) -> None:
    gs, ts = pairs(np.array(1.0, dtype=np.float32), np.array(2, dtype=np.int64), np.array(3.5, dtype=np.float32))
    assert_matches(graphc.stack(gs), torch.stack(ts))


@pytest.mark.parametrize("split", [1, 2, 3, 5, [1, 4], [2, 1, 2], (5,)], ids=str)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_split(backend: str, split: object, dim: int) -> None:
    g, t = pair(data(5, 5))
    assert_matches(g.split(split, dim), t.split(split, dim))
    assert_matches(graphc.split(g, split, dim=dim), torch.split(t, split, dim=dim))


def test_split_with_an_empty_section(backend: str) -> None:
    g, t = pair(data(5, 5))
    assert_matches(g.split([2, 0, 3], 1), t.split([2, 0, 3], 1))


@pytest.mark.parametrize("chunks", [1, 2, 3, 4, 6, 7])
@pytest.mark.parametrize("dim", [0, -1])
def test_chunk(backend: str, chunks: int, dim: int) -> None:
    g, t = pair(data(6, 4))
    assert_matches(g.chunk(chunks, dim), t.chunk(chunks, dim))
    assert_matches(graphc.chunk(g, chunks, dim=dim), torch.chunk(t, chunks, dim=dim))


def test_chunk_of_a_symbolic_batch_into_parts_it_divides_keeps_one_program(backend: str) -> None:
    """A GAN's ``D(cat([real, fake])).chunk(2)``: chunk of 2B into two had raised a TypeError inside graphc, so every batch size traced anew."""
    compiled = graphc.compile(lambda real, fake: [part * 2 for part in graphc.cat([real, fake]).chunk(2)])
    for rows in (2, 3):
        (gr, gf), (tr, tf) = zip(*(pair(data(rows, 4) + i) for i in range(2)))
        assert_matches(compiled(gr, gf), [part * 2 for part in torch.cat([tr, tf]).chunk(2)])
    assert compiled.trace_count == 1, compiled.recompilations


def test_chunk_of_a_symbolic_size_it_may_not_divide_traces_again_with_static_sizes_saying_why() -> None:
    compiled = graphc.compile(lambda x: x.chunk(2)[0])
    assert compiled(graphc.ones(3, 2)).shape == (2, 2)
    assert "chunk: chunk needs a static size along dim, or one that 2 divides" in compiled.recompilations[0]


def test_unbind_narrow_and_iteration(backend: str) -> None:
    g, t = pair(data(3, 4))
    assert_matches(g.unbind(1), t.unbind(1))
    assert_matches(graphc.unbind(g), torch.unbind(t))
    assert_matches(g.narrow(1, 1, 2), t.narrow(1, 1, 2))
    assert_matches(list(g), list(t))
    assert len(g) == len(t) == 3


def test_narrow_counts_a_negative_start_from_the_end_and_refuses_overruns(backend: str) -> None:
    g, t = pair(data(3, 4))
    assert_matches(g.narrow(1, -2, 2).sum(1), t.narrow(1, -2, 2).sum(1))
    assert_matches(graphc.compile(lambda a: (a.narrow(0, -1, 1) + 1).exp())(g), (t.narrow(0, -1, 1) + 1).exp())
    with pytest.raises(GraphcError, match="exceeds dimension size"):
        g.narrow(1, 3, 2)  # torch refuses too; graphc read past the row


def test_squeeze_of_a_0d_tensor_accepts_dim_0_like_torch(backend: str) -> None:
    g, t = pair(np.array(5.0))
    assert_matches(g.squeeze(0), t.squeeze(0))
    assert_matches(g.squeeze(-1), t.squeeze(-1))


def test_split_of_non_contiguous_and_reassembled(backend: str) -> None:
    g, t = pair(data(4, 6))
    gp, tp = g.T.split(2), t.T.split(2)
    assert_matches(gp, tp)
    assert_matches(graphc.cat(gp[::-1], 0), torch.cat(tp[::-1], 0))
    assert_matches(graphc.stack(g.chunk(2, 1), 0), torch.stack(t.chunk(2, 1), 0))


def test_view_as_type_as_contiguous_clone(backend: str) -> None:
    (g, h), (t, u) = pairs(data(2, 6), data(3, 4, dtype="float64"))
    assert_matches(g.view_as(h), t.view_as(u))
    assert_matches(g.reshape_as(h), t.reshape_as(u))
    assert_matches(g.type_as(h), t.type_as(u))
    assert_matches(g.T.contiguous(), t.T.contiguous())
    assert_matches(g.clone(), t.clone())


def test_clone_is_a_new_value_with_its_own_buffer(backend: str) -> None:
    a = graphc.tensor([1.0, -0.0, float("nan")])
    c = a.clone()
    c.numpy()[0] = 5.0
    assert a.numpy()[0] == 1.0
    assert np.signbit(c.numpy()[1]) and np.isnan(c.numpy()[2])
    x = graphc.tensor([0.3, -1.2, 2.0], requires_grad=True)
    y = x.clone()
    assert not y.is_leaf and y.requires_grad
    y[0] = 5.0  # allowed on a clone, as in torch
    (y * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, -2.4, 4.0])
    assert graphc.tensor([True, False]).clone().dtype == graphc.bool
    compiled = graphc.compile(lambda v: v.clone(), backend=backend)
    v = graphc.tensor([1.0, 2.0])
    compiled(v).numpy()[0] = 9.0
    assert v.numpy()[0] == 1.0


def test_requires_grad_on_a_detached_or_cloned_tensor_leaves_the_original_alone() -> None:
    x = graphc.tensor([1.0, 2.0])
    x.detach().requires_grad_(True)
    x.clone().requires_grad_(True)
    assert not x.requires_grad


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    seed=st.integers(0, 2**16),
)
def test_fuzz_permute_reshape_sum(backend: str, shape: list, seed: int) -> None:
    """Random shapes through permute -> reshape(-1 in front) -> broadcast add -> sum."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    perm = [int(p) for p in rng.permutation(len(shape))]
    g, t = pair(x)
    gp, tp = g.permute(*perm), t.permute(*perm)
    last = tp.shape[-1]
    assert_matches(gp.reshape(-1, last), tp.reshape(-1, last))
    assert_matches((gp + gp[..., :1]).sum(0), (tp + tp[..., :1]).sum(0))


@pytest.mark.parametrize(
    "pad",
    [(1, 2), (0, 0, 2, 1), (1, 1, 1, 1, 1, 1), (-1, 2), (2, -1, -1, 1)],
    ids=str,
)
def test_pad(backend: str, pad: tuple) -> None:
    g, t = pair(data(2, 3, 4))
    assert_matches(GF.pad(g, pad), TF.pad(t, pad))
    assert_matches(GF.pad(g, pad, value=-1.5), TF.pad(t, pad, value=-1.5))


@pytest.mark.parametrize("interior", [(0, 0), (1, 0), (2, 3)], ids=str)
def test_pad_primitive_with_interior(backend: str, interior: tuple) -> None:
    """pad with interior padding (the VJP of a strided slice) against a NumPy reference."""
    x = data(3, 4, dtype="float64")
    low, high = (1, 0), (2, 1)
    got = wrap(emit("pad", node_of(graphc.tensor(x)), low=low, high=high, interior=interior, value=0.5))
    shape = tuple(lo + d + (d - 1) * mid + hi for d, lo, hi, mid in zip(x.shape, low, high, interior))
    want = np.full(shape, 0.5)
    want[
        low[0] : low[0] + (x.shape[0] - 1) * (interior[0] + 1) + 1 : interior[0] + 1,
        low[1] : low[1] + (x.shape[1] - 1) * (interior[1] + 1) + 1 : interior[1] + 1,
    ] = x
    assert_matches(got, torch.from_numpy(want))

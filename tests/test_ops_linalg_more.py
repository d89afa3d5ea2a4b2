"""Linear algebra against torch (graphc/frontend/linalg.py, einsum.py): addmm, addmv, addbmm,
baddbmm, mv, ger, vdot, inner, einsum, tensordot, kron, norm, linalg.vector_norm/matrix_norm/norm,
dist, cdist, F.cosine_similarity, F.pairwise_distance, F.normalize: values and dtypes on both
backends with fusion on and off, float64 gradients, and one compiled function at two batch sizes."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, data
from torch_grads import check_compiled_batches, check_grads

import graphc
from graphc.errors import GraphcError

pytestmark = pytest.mark.usefixtures("fusion")


def nan_input(*shape: int) -> np.ndarray:
    return np.full(shape, np.nan, np.float32)


CASES: dict[str, tuple[Callable[..., Any], tuple[np.ndarray, ...]]] = {
    "addmm": (
        lambda T, c, a, m: (T.addmm(c, a, m), c.addmm(a, m, beta=0.5, alpha=2), T.addmm(c[0], a, m, alpha=-1), T.addmm(c, a, m, beta=0)),
        (data(3, 5), data(3, 4), data(4, 5)),
    ),
    "addmm-beta-0-ignores-nan": (lambda T, c, a, m: T.addmm(c, a, m, beta=0), (nan_input(3, 5), data(3, 4), data(4, 5))),
    "addmv-mv": (lambda T, c, a, v: (T.addmv(c, a, v), c.addmv(a, v, beta=2, alpha=0.5), T.mv(a, v), a.mv(v)), (data(3), data(3, 4), data(4))),
    "addbmm-baddbmm": (
        lambda T, c, x, y: (T.addbmm(c, x, y), c.addbmm(x, y, alpha=3), T.baddbmm(c, x, y), c[None].baddbmm(x, y, beta=-1)),
        (data(3, 5), data(2, 3, 4), data(2, 4, 5)),
    ),
    "ger-vdot-inner": (
        lambda T, v, w, m: (T.ger(v, w), v.ger(w), T.vdot(v, w[:4]), v.vdot(w[:4]), T.inner(v, w[:4]), T.inner(m, m), m.inner(v), T.inner(v, T.tensor(2.0))),
        (data(4), data(5), data(3, 4)),
    ),
    "einsum-products": (
        lambda T, a, c, v: (
            T.einsum("ij,jk->ik", a, c), T.einsum("ij,jk", a, c), T.einsum("ij,jk", [a, c]), T.einsum("i,j->ij", v, v),
            T.einsum("i,i->", v, v), T.einsum("ij,ij->i", a, a), T.einsum("ij -> ji", a), T.einsum("ij,jk,kl->il", a, c, c.T),
            T.einsum("ik,jk->kij", a, a), T.einsum("ba", a),
        ),
        (data(3, 4), data(4, 5), data(4)),
    ),
    "einsum-diagonals": (
        lambda T, s, t: (T.einsum("ii", s), T.einsum("ii->i", s), T.einsum("iji->j", t), T.einsum("jii->ij", t.transpose(0, 1)), T.einsum("ii,ij->j", s, s)),
        (data(4, 4), data(3, 2, 3)),
    ),
    "einsum-batched": (
        lambda T, x, y, w: (
            T.einsum("bij,bjk->bik", x, y), T.einsum("...ij,...jk->...ik", x, y[:1]), T.einsum("b...,b...->b", x, x), T.einsum("...ij->...ji", x),
            T.einsum("bn,anm,bm->ba", x[:, 0], w, x[:, 1]), T.einsum("bij,Ajk->bAik", x, y), T.einsum("...", x), T.einsum("bij,j", x, x[0, 0]),
        ),
        (data(2, 3, 4), data(2, 4, 3), data(5, 4, 4)),
    ),
    "tensordot": (
        lambda T, x, y: (T.tensordot(x, y, 1), T.tensordot(x, y.transpose(0, 1), ([1, 2], [0, 1])), T.tensordot(x, y, dims=([2], [0])), T.tensordot(x, x, 0)),
        (data(2, 3, 4), data(4, 3, 2)),
    ),
    "kron": (lambda T, a, c, v: (T.kron(a, c), a.kron(v), T.kron(v, c)), (data(2, 3), data(3, 2), data(2))),
    "vector_norm": (
        lambda T, x: tuple(T.linalg.vector_norm(x, p) for p in (2, 1, math.inf, -math.inf, 0, 0.5, 3, -1.5))
        + (T.linalg.vector_norm(x, 2, 1), T.linalg.vector_norm(x, 1, (0, 1), True), T.linalg.vector_norm(x, math.inf, -1, keepdim=True))
        + (T.linalg.vector_norm(x, dtype=T.float64),),
        (data(3, 4, positive=True) * np.sign(data(3, 4)),),
    ),
    "matrix_norm-linalg_norm": (
        lambda T, x: (
            *(T.linalg.matrix_norm(x, o) for o in ("fro", 1, -1, math.inf, -math.inf)), T.linalg.matrix_norm(x, 1, (0, 2), keepdim=True),
            T.linalg.norm(x), T.linalg.norm(x[0], 1), T.linalg.norm(x[0, 0], math.inf), T.linalg.norm(x, "fro", (1, 2)), T.linalg.norm(x, 3, 1, True),
        ),
        (data(2, 3, 4),),
    ),
    "norm": (
        lambda T, x: (
            T.norm(x), x.norm(), x.norm(1), T.norm(x, 3, 1), x.norm(dim=0, keepdim=True), T.norm(x, "fro", (0, 1)), x.norm(math.inf, -1),
            T.norm(x, p=2, dim=1, dtype=T.float64),
        ),
        (data(3, 4),),
    ),
    "dist": (lambda T, x, y: (T.dist(x, y), x.dist(y, 1), T.dist(x, y[0], math.inf), x.dist(y, 0.7)), (data(3, 4), data(3, 4))),
    "cdist": (
        lambda T, x, y: (
            T.cdist(x, y), T.cdist(x, y, 1), T.cdist(x, y, math.inf), T.cdist(x, y, 0.5), T.cdist(x[None], y[None].expand(2, 5, 4)), T.cdist(x, y, 0.0),
        ),
        (data(3, 4), data(5, 4)),
    ),
    "cosine_similarity": (
        lambda T, x, y, i: (
            T.nn.functional.cosine_similarity(x, y), T.nn.functional.cosine_similarity(x, y[0], dim=-1), T.cosine_similarity(x, y, 0, eps=1e-3),
            T.nn.functional.cosine_similarity(i, x), T.nn.functional.cosine_similarity(x, x * 0),
        ),
        (data(3, 4), data(3, 4), data(3, 4, dtype="int64")),
    ),
    "pairwise_distance": (
        lambda T, x, y: (T.nn.functional.pairwise_distance(x, y), T.pairwise_distance(x, y, 1, keepdim=True), T.pairwise_distance(x[0], y[0], 3.0, eps=0.0)),
        (data(3, 4), data(3, 4)),
    ),
    "normalize": (
        lambda T, x: (
            T.nn.functional.normalize(x), T.nn.functional.normalize(x, 1, 0), T.nn.functional.normalize(x, math.inf, -1), T.nn.functional.normalize(0 * x),
        ),
        (data(3, 4),),
    ),
}


def _list(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_torch(backend: str, name: str) -> None:
    fn, arrays = CASES[name]
    got = fn(graphc, *[graphc.tensor(a.copy()) for a in arrays])
    expected = fn(torch, *[torch.from_numpy(a.copy()) for a in arrays])
    assert_matches(_list(got), _list(expected), rtol=1e-5, atol=1e-5)


GRADIENTS = {
    name: (fn, tuple(a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays))
    for name, (fn, arrays) in CASES.items()
    if name != "addmm-beta-0-ignores-nan"
}


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradients_match_torch(backend: str, name: str) -> None:
    fn, arrays = GRADIENTS[name]
    check_grads(fn, *arrays)


def test_gradients_of_zero_norms_and_distances_are_zero_as_torch(backend: str) -> None:
    x = data(3, 4, dtype="float64")
    x[1] = 0.0
    check_grads(lambda T, v: (T.linalg.vector_norm(v, 2, 1), T.linalg.vector_norm(v, 3, 1), T.cdist(v, v), T.nn.functional.normalize(v)), x)


def test_cdist_through_a_matmul_when_asked(backend: str) -> None:
    x, y = data(30, 4, dtype="float64"), data(27, 4, dtype="float64")
    check_grads(lambda T, a, c: T.cdist(a, c, compute_mode="use_mm_for_euclid_dist"), x, y, rtol=1e-7, atol=1e-8)


def test_in_place_products(backend: str) -> None:
    c, a, m = data(3, 5), data(3, 4), data(4, 5)
    ours, theirs = graphc.tensor(c), torch.from_numpy(c.copy())
    assert ours.addmm_(graphc.tensor(a), graphc.tensor(m), alpha=2) is ours
    theirs.addmm_(torch.from_numpy(a), torch.from_numpy(m), alpha=2)
    assert_matches(ours, theirs, rtol=1e-5, atol=1e-5)


def test_integer_products_truncate_float_alpha_and_beta_as_torch(backend: str) -> None:
    """torch converts the scalars to the integer dtype (0.5 becomes 0, -1.7 becomes -1); graphc
    computed ``0.5 * int_product`` in float32. addr refuses float scalars for integers instead."""
    c, m, v, b3 = data(3, 3, dtype="int64"), data(3, 3, dtype="int64"), data(3, dtype="int64"), data(2, 3, 3, dtype="int64")
    for T, make in ((graphc, graphc.tensor), (torch, torch.from_numpy)):
        c_, m_, v_, b_ = (make(a.copy()) for a in (c, m, v, b3))
        got = (
            T.addmm(c_, m_, m_, alpha=1.7, beta=0.5),
            T.addmv(v_, m_, v_, alpha=-1.7, beta=2.5),
            T.baddbmm(v_, b_, b_, alpha=0.5),
            T.addbmm(c_, b_, b_, alpha=2.9, beta=-0.5),
        )
        if T is graphc:
            ours = got
        else:
            for o, t in zip(ours, got):
                assert_matches(o, t)
    with pytest.raises(GraphcError, match="argument beta must not be a floating point number"):
        graphc.addr(graphc.tensor(c), graphc.tensor(v), graphc.tensor(v), beta=0.5)


def test_einsum_multiplies_pairs_with_nothing_to_contract_promoting_dtypes(backend: str) -> None:
    """torch's einsum multiplies a pair that shares no summed label (an outer or elementwise product),
    so mixed dtypes promote; graphc sent every pair to a matmul, which refused them."""
    a, u, f, d = data(3, dtype="int64"), data(2, dtype="uint8"), data(3, 2), data(2, dtype="float64")
    for equation, operands in (("a,z->az", (a, u)), ("a,a->a", (a, a.astype(np.uint8))), ("ab,b->ab", (f, d)), ("ab,z->za", (f, d))):
        assert_matches(graphc.einsum(equation, *map(graphc.tensor, operands)), torch.einsum(equation, *map(torch.from_numpy, operands)))


def test_einsum_multiplies_pairs_whose_summed_labels_have_size_1_promoting_dtypes(backend: str) -> None:
    """torch squeezes summed labels of size 1 and multiplies the pair (``ab,bz->az`` with b of 1), so mixed
    dtypes promote; graphc sent the pair to a matmul, which refused them (fuzzer). Labels of size 2 still refuse, as torch."""
    f, d = data(2, 1), data(1, 3, dtype="float64")
    for equation, operands in (("ab,bz->az", (f, d)), ("ab,bz->z", (f, d)), ("ba,bz->za", (f.T.copy(), d))):
        assert_matches(graphc.einsum(equation, *map(graphc.tensor, operands)), torch.einsum(equation, *map(torch.from_numpy, operands)))
    with pytest.raises(GraphcError, match="same dtype"):
        graphc.einsum("ab,bz->az", graphc.tensor(data(2, 2)), graphc.tensor(data(2, 3, dtype="float64")))


def test_einsum_of_integers_promotes_where_torch_sums(backend: str) -> None:
    """torch's einsum sums with ``sum`` (an integer becomes int64) but squeezes an axis of size 1
    when there are several operands; graphc summed those too (``a,z->z`` of int16 [1] was int64)."""
    cases = [
        ("a,z->z", [(1,), (3,)]),
        ("a,z->z", [(2,), (3,)]),
        ("ab,b->a", [(2, 1), (1,)]),
        ("ab,c->c", [(1, 1), (3,)]),
        ("ab->", [(1, 1)]),
        ("ab->a", [(2, 3)]),
    ]
    for equation, shapes in cases:
        arrays = [np.arange(1, 1 + int(np.prod(s)), dtype=np.int16).reshape(s) for s in shapes]
        assert_matches(graphc.einsum(equation, *map(graphc.tensor, arrays)), torch.einsum(equation, *map(torch.from_numpy, arrays)))


def test_addmm_with_beta_zero_gives_its_input_a_zero_gradient_as_torch() -> None:
    """The input's values are ignored (NaN too), but torch's gradient for it is zeros, not None."""
    grads = []
    for lib in (graphc, torch):
        c = lib.tensor(np.array([[np.nan, 1.0]]), requires_grad=True)
        m, n = lib.tensor(np.ones((1, 3)), requires_grad=True), lib.tensor(np.ones((3, 2)))
        out = lib.addmm(c, m, n, beta=0, alpha=-1.5)
        assert np.array_equal(out.detach().numpy(), [[-4.5, -4.5]])
        grads.append(lib.autograd.grad(out.sum(), [c, m], allow_unused=True))
    for got, want in zip(*grads):
        assert got is not None
        assert_matches(got, want)


def products(T: Any, x: Any, y: Any, w: Any) -> tuple:
    """A batch through an einsum, an addmm, norms, distances and similarities."""
    return (
        T.einsum("bi,ij->bj", x, w),
        T.einsum("bi,bi->b", x, y),
        T.addmm(w[0], x, w),
        T.linalg.vector_norm(x, 2, 1),
        x.norm(1, 1),
        T.cdist(x, y),
        T.nn.functional.cosine_similarity(x, y),
        T.nn.functional.pairwise_distance(x, y),
        T.kron(x, w[:1]),
        T.tensordot(x, w, 1),
        T.baddbmm(x[:, None], y[:, None], x[:, :, None] * w),
    )


def test_compiled_with_a_symbolic_batch(backend: str) -> None:
    check_compiled_batches(products, lambda rows: (RNG.standard_normal((rows, 4)), RNG.standard_normal((rows, 4)), RNG.standard_normal((4, 4))), backend)


RNG = np.random.default_rng(11)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: graphc.addmm(x, x[0], x), "2-d"),
        (lambda x: graphc.addmm(x[:2, :2], x, x), "broadcast"),
        (lambda x: graphc.mv(x, x), "1-d"),
        (lambda x: graphc.baddbmm(x, x[None], x[None].expand(2, 3, 3)), "same number of matrices"),
        (lambda x: graphc.vdot(x[0], x[0].long()), "same dtype"),
        (lambda x: graphc.einsum("ij,jk", x), "operands"),
        (lambda x: graphc.einsum("ij->k", x), "output"),
        (lambda x: graphc.einsum("i1", x), "invalid"),
        (lambda x: graphc.einsum("ijk", x), "do not match"),
        (lambda x: graphc.einsum("ij,ij", x, x[:2]), "size"),
        (lambda x: graphc.tensordot(x, x, ([0], [0, 1])), "match"),
        (lambda x: graphc.norm(x[None], "nuc"), "dim must be a 2-tuple"),
        (lambda x: graphc.linalg.matrix_norm(x, 3), "Order 3 not supported"),
        (lambda x: graphc.linalg.vector_norm(x.long()), "floating-point"),
        (lambda x: graphc.cdist(x, x[:, :2]), "columns"),
        (lambda x: graphc.cdist(x, x, compute_mode="fast"), "compute_mode"),
        (lambda x: graphc.cdist(x, x, -1), "non-negative"),
        (lambda x: graphc.cosine_similarity(x.long(), x.long()), "floating point"),
    ],
)
def test_errors_name_the_op(call: Callable[[graphc.Tensor], Any], message: str) -> None:
    with pytest.raises(GraphcError, match=message):
        call(graphc.tensor(data(3, 3)))

"""torch.svd_lowrank and torch.pca_lowrank against torch (graphc/frontend/lowrank.py). Their random directions
come from each library's own generator, so the tests take matrices of rank below q, whose results the draws
do not change: the singular values, the projections onto the leading subspaces (sign-free), the reconstruction,
the shapes and dtypes, and the float64 gradient of the leading singular values; plus torch's refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import graphc

RNG = np.random.default_rng(17)


def low_rank(batch: int, m: int, n: int, rank: int) -> np.ndarray:
    return RNG.standard_normal((batch, m, rank)) @ RNG.standard_normal((batch, rank, n))


def projector(u: np.ndarray, rank: int) -> np.ndarray:
    lead = u[..., :rank]
    return lead @ np.swapaxes(lead, -1, -2)


def assert_same_decomposition(got: tuple, expected: tuple, a: np.ndarray, rank: int) -> None:
    (u, s, v), (tu, ts, tv) = got, [t.detach() for t in expected]
    assert [tuple(t.shape) for t in got] == [tuple(t.shape) for t in expected]
    assert {t.dtype.name for t in got} == {str(ts.dtype).removeprefix("torch.")}
    np.testing.assert_allclose(s.numpy()[..., :rank], ts.numpy()[..., :rank], rtol=1e-10)
    np.testing.assert_allclose(s.numpy()[..., rank:], 0.0, atol=1e-10)
    for ours, theirs in ((u, tu), (v, tv)):
        np.testing.assert_allclose(projector(ours.numpy(), rank), projector(theirs.numpy(), rank), atol=1e-10)
    rebuilt = (u.numpy() * s.numpy()[..., None, :]) @ np.swapaxes(v.numpy(), -1, -2)
    np.testing.assert_allclose(rebuilt, a, atol=1e-10)


@pytest.mark.parametrize("shape", [(2, 7, 5), (2, 4, 6)], ids=["tall", "wide"])
def test_svd_lowrank_finds_torch_s_singular_values_and_subspaces(shape: tuple[int, int, int]) -> None:
    a = low_rank(*shape, rank=3)
    got = graphc.svd_lowrank(graphc.tensor(a), q=4)
    assert_same_decomposition(got, torch.svd_lowrank(torch.from_numpy(a), q=4), a, 3)
    mean = RNG.standard_normal((1, shape[2]))
    got = graphc.svd_lowrank(graphc.tensor(a + mean), q=4, niter=1, M=graphc.tensor(mean))
    assert_same_decomposition(got, torch.svd_lowrank(torch.from_numpy(a + mean), q=4, niter=1, M=torch.from_numpy(mean)), a, 3)


def test_pca_lowrank_matches_torch_with_and_without_centering() -> None:
    a = low_rank(1, 8, 5, rank=2)[0] + RNG.standard_normal(5)  # rank 2 once centered
    centered = a - a.mean(axis=0)
    assert_same_decomposition(graphc.pca_lowrank(graphc.tensor(a), q=3), torch.pca_lowrank(torch.from_numpy(a), q=3), centered, 2)
    b = low_rank(1, 6, 4, rank=2)[0]
    assert_same_decomposition(graphc.pca_lowrank(graphc.tensor(b), center=False), torch.pca_lowrank(torch.from_numpy(b), center=False), b, 2)


def test_svd_lowrank_gives_torch_s_gradient_of_the_leading_singular_values() -> None:
    a = low_rank(1, 4, 3, rank=2)[0]
    ours = graphc.tensor(a, requires_grad=True)
    theirs = torch.from_numpy(a).requires_grad_()
    got, expected = graphc.svd_lowrank(ours, q=2, niter=0), torch.svd_lowrank(theirs, q=2, niter=0)
    assert_same_decomposition(got, expected, a, 2)
    got[1].sum().backward()
    expected[1].sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=1e-10)


def test_pca_lowrank_refuses_what_torch_refuses() -> None:
    a = graphc.zeros(4, 3)
    with pytest.raises(ValueError, match=r"q\(=4\) must be non-negative integer and not greater than min\(m, n\)=3"):
        graphc.pca_lowrank(a, q=4)
    with pytest.raises(ValueError, match=r"niter\(=-1\) must be non-negative integer"):
        graphc.pca_lowrank(a, niter=-1)

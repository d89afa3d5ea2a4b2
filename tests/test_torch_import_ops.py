"""The lowering table, kind by kind: many ATen ops in one module per kind, values and gradients in float64.

Every floating output is multiplied by a random weight and summed, so one backward checks the
gradient of every op with respect to the input and the module's parameters.
"""

from __future__ import annotations

import copy
import math
import re
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import graphc

# Eager torch on the shared CPU cores is much faster on one thread (no oversubscription).
pytestmark = pytest.mark.usefixtures("one_torch_thread", "numpy_kernels")  # C loops have their own tests (conftest.py)


class Elementwise(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        return [
            x + 2 * y,
            x - y,
            1.0 - x,
            x * y,
            x / (y.abs() + 1),
            torch.addcmul(x, x, y, value=0.5),
            torch.addcdiv(x, x, y.abs() + 1),
            x**2,
            x**3,
            2.0**x,
            x.abs().pow(y.mean()),
            torch.maximum(x, y),
            torch.minimum(x, y),
            -x,
            x.exp(),
            torch.exp2(x),
            torch.expm1(x * 0.01),
            (x.abs() + 1).log(),
            x.abs().log1p(),
            (x.abs() + 1).log2(),
            (x.abs() + 1).log10(),
            x.abs().sqrt() + 1,
            torch.rsqrt(x.abs() + 1),
            x.sin(),
            x.cos(),
            x.tanh(),
            torch.erf(x),
            x.abs(),
            x.sign(),
            (x.abs() + 1).reciprocal(),
            x.sigmoid(),
            torch.floor(x),
            torch.ceil(x),
            torch.trunc(x),
            torch.div(x, 0.7, rounding_mode="floor"),
            torch.div(x, 0.7, rounding_mode="trunc"),
            F.relu(x),
            F.gelu(x),
            F.gelu(x, approximate="tanh"),
            F.silu(x),
            F.hardtanh(x, -0.5, 0.5),
            F.leaky_relu(x, 0.2),
            F.elu(x),
            F.selu(x),
            F.softplus(x, beta=2.0),
            F.mish(x),
            F.hardswish(x),
            x.clamp(-0.3, 0.4),
            x.clamp(min=y),
            x.clamp(max=y),
            torch.where(x > 0.5, x, y),
            torch.where(x > 0, x, 0.0),
            x.masked_fill(y < 0, -1.0),
            (x > y).float(),
            (x >= y) & (x < 1),
            ((x <= y) | (x == y) | (x != 0)).float(),
            (~(x > 0)).float(),
            torch.isnan(x.log()).float(),
            torch.isinf(1 / (x * 0)).float(),
            torch.remainder(x, 0.7),
            torch.fmod(x, -0.7),
            torch.remainder(x, y),
            torch.roll(x, 2, 1),
            x.to(torch.float32).double(),
            torch.full_like(x, 0.5) * x,
            torch.zeros_like(x) + torch.ones_like(y),
            x.new_full((3,), 2.0),
        ]


class Reductions(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        return [
            x.sum(),
            x.sum((1, 2)),
            x.sum(-1, keepdim=True),
            x.mean(),
            x.mean(1),
            x.amax(1),
            x.amin((0, 2)),
            x.max(),
            x.min(),
            x.max(1)[0],
            x.min(2, keepdim=True)[0],
            x.argmax(1).double(),
            x.argmin(-1).double(),
            x.argmax().double(),
            x.var(1),
            x.var(),
            x.std(0, correction=0),
            torch.var_mean(x, (1, 2))[0],
            torch.var_mean(x, (1, 2))[1],
            (x > 0).any(1).double(),
            (x > -3).all().double(),
            x.norm(dim=1),
            x.norm(p=1, dim=2),
            x.norm(p=math.inf, dim=0),
            x.norm(p=3),
            F.normalize(x, dim=-1),
            x.softmax(1),
            x.log_softmax(-1),
            torch.logsumexp(x, (1, 2)),
            torch.cumsum(x, 2),
            torch.cumsum(x > 0, 1).double(),  # integers sum exactly in int64 (the old triangle matmul refused them)
            F.cross_entropy(y, y.argmax(1)),
            F.nll_loss(F.log_softmax(y, 1), y.argmin(1)),
            F.cross_entropy(y, y.argmax(1), label_smoothing=0.1),
            F.binary_cross_entropy(y.sigmoid(), (y > 0).double()),
            F.binary_cross_entropy_with_logits(y, (y > 0).double()),
            F.mse_loss(y, y * 0.5),
            F.l1_loss(y, y + 1),
            F.smooth_l1_loss(y, y * 2),
            F.huber_loss(y, y * 2),
            F.kl_div(F.log_softmax(y, 1), F.softmax(y * 2, 1), reduction="batchmean"),
            F.cosine_similarity(y, y + 1),
            y.sum() / y.shape[0],
        ]


class ViewsAndIndexing(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(7, 3, padding_idx=2)

    def forward(self, x: torch.Tensor, idx: torch.Tensor) -> list[torch.Tensor]:
        return [
            x.view(x.shape[0], -1),
            x.reshape(-1, 4),
            x.permute(2, 0, 1),
            x.transpose(1, 2).contiguous(),
            x.flatten(1),
            x.unflatten(2, (2, 2)),
            x.unsqueeze(1).squeeze(1),
            x[:, None, :, 1].squeeze(),
            x.expand(2, -1, -1, -1),
            x[:, 1:3],
            x[:, :, ::2],
            x[:, -1],
            x[1:, -2:],
            x.narrow(2, 1, 2),
            torch.cat([x, x * 2], 1),
            torch.stack([x[:, 0], x[:, 1]], -1),
            x.split(2, 1)[1],
            x.split([1, 3], 2)[1],
            x.chunk(2, 2)[0],
            x.unbind(1)[2],
            F.pad(x, (1, 2)),
            F.pad(x, (1, -1, 2, 0), value=0.5),
            x.repeat(1, 2, 1),
            x.t() if x.ndim == 2 else x.mT,
            self.embed(idx),
            x[:, idx[0, :2]],
            x[idx[:, 0], :, idx[:, 1]],
            x[:, idx[0, :2], idx[1, :2]],
            x.index_select(2, idx[0, :3] % 4),
            torch.gather(x, 2, idx[:, :3].unsqueeze(1).expand(-1, 4, -1) % 4),
            torch.zeros_like(x).scatter_add(2, idx[:, :3].unsqueeze(1).expand(-1, 4, -1) % 4, x[..., :3]),
            torch.einsum("bij,bjk->bik", x, x.transpose(1, 2)),
            x @ x[0].T,
            torch.baddbmm(x[:, :, :3], x, x[:, :, :3]),
        ]


class ConvPoolNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
        self.dilated = nn.Conv2d(4, 2, 3, dilation=2, bias=False)
        self.conv1d = nn.Conv1d(4, 3, 3, stride=2, padding=1)
        self.transposed = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)
        # Groups, and output_padding past the stride (torch allows it below the dilation).
        self.grouped_transposed = nn.ConvTranspose2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 2), output_padding=(1, 2), groups=2, dilation=(1, 3))
        self.transposed1d = nn.ConvTranspose1d(4, 2, 3, stride=2, padding=1, output_padding=2, dilation=3, bias=False)
        self.layer_norm = nn.LayerNorm([6, 6])
        self.plain_norm = nn.LayerNorm(6, elementwise_affine=False)
        self.group_norm = nn.GroupNorm(2, 4)
        self.instance_norm = nn.InstanceNorm2d(4, affine=True)
        self.batch_norm = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [
            self.conv(x),
            self.dilated(x),
            self.conv1d(x.flatten(2)),
            self.transposed(x),
            self.grouped_transposed(x),
            self.transposed1d(x.flatten(2)),
            F.max_pool2d(x, 2),
            F.max_pool2d(x, 3, 2, 1, ceil_mode=True),
            F.max_pool2d(x, 3, 1, dilation=2),
            F.avg_pool2d(x, 2),
            F.avg_pool2d(x, 3, 2, 1, ceil_mode=True),
            F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
            F.avg_pool2d(x, 2, divisor_override=3),
            F.adaptive_avg_pool2d(x, 1),
            F.adaptive_avg_pool2d(x, 3),
            F.adaptive_avg_pool2d(x, (4, 5)),
            *F.adaptive_max_pool2d(x, (4, 5), return_indices=True),
            F.interpolate(x, scale_factor=2, mode="nearest"),
            F.interpolate(x, size=(7, 9), mode="nearest"),
            self.layer_norm(x),
            self.plain_norm(x),
            self.group_norm(x),
            self.instance_norm(x),
            self.batch_norm(x),
        ]


class ConvPool3d(nn.Module):
    """3-d convolutions and pools: ``convolution`` with three spatial dimensions, ``max_pool3d_with_indices``,
    ``avg_pool3d`` and the adaptive pools, through the rank-generic window primitives."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(4, 6, (2, 3, 2), stride=(1, 2, 1), padding=(1, 0, 1), dilation=(1, 1, 2), groups=2)
        self.transposed = nn.ConvTranspose3d(4, 2, 2, stride=(2, 1, 2), padding=(0, 1, 1), output_padding=(1, 0, 1), groups=2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [
            self.conv(x),
            self.transposed(x),
            *F.max_pool3d(x, 2, (1, 2, 2), 1, dilation=(1, 2, 1), ceil_mode=True, return_indices=True),
            F.avg_pool3d(x, (2, 3, 2), 2, 1, ceil_mode=True, count_include_pad=False),
            F.avg_pool3d(x, 2, divisor_override=3),
            F.adaptive_avg_pool3d(x, 1),
            F.adaptive_avg_pool3d(x, (3, 2, 4)),
            *F.adaptive_max_pool3d(x, (3, 2, 4), return_indices=True),
            F.local_response_norm(x[:, :, 0], 3),
        ]


class ScansWritesAndDistances(nn.Module):
    """The ops of graphc's front-end composites: products and scans along static dimensions (dimension 0
    is the symbolic batch), diagonals, distances, and indexed writes with unique indices (torch leaves
    duplicate writes unspecified)."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        cols = torch.tensor([[3, 0, 4], [1, 2, 0], [4, 3, 1], [0, 1, 2]]).expand(x.shape[0], -1, -1)
        mask = x[0] > 0.3
        z = x.clone()
        z[:, torch.tensor([3, 0])] = y[:, :2]
        z[torch.tensor([1, 0]), :, torch.tensor([2, 4])] = y[:2, :, 0]
        z[z > 1.5] = 0.0
        z[:, :, torch.tensor([1, 3])] += y[:, :, :2]
        z[0] = 1.0
        z[torch.arange(x.shape[0]), y[:, :, 0].argmax(1)] = -2.0  # a batch-sized index: the symbolic arange, an iota
        zero_row = torch.cat([x[:, :1] * 0, x[:, 1:]], 1)
        return [
            x.prod(2),
            x.prod(1, keepdim=True),
            x[0].prod(),
            torch.cumprod(x, 2),
            x.cummax(1)[0],
            x.cummin(2)[0],
            torch.logcumsumexp(x, 2),
            x.diagonal(0, 1, 2),
            x.diagonal(-1, 2, 1),
            torch.einsum("bii->b", x[:, :, :4]),
            torch.addbmm(x[0, :, :4], x, x.transpose(1, 2), beta=0.5, alpha=2),
            torch.dist(x, y, 3),
            torch.cdist(x, y * 0.5 + 1),
            torch.cdist(x, y, p=1),
            torch.cdist(x, y, compute_mode="use_mm_for_euclid_dist"),
            x.narrow_copy(2, 1, 2),
            x.unfold(2, 3, 1),
            x.unfold(1, 2, 2),
            x.flipud(),
            x.scatter(2, cols, y[:, :, :3]),
            x.scatter(2, cols, 0.5),
            x.scatter_reduce(2, cols, y[:, :, :3], "sum", include_self=False),
            x.scatter_reduce(2, cols, y[:, :, :3], "mean"),
            x.scatter_reduce(2, cols, y[:, :, :3], "mean", include_self=False),
            x.index_add(2, torch.tensor([1, 1, 3]), y[:, :, :3], alpha=2),
            x.index_copy(1, torch.tensor([2, 0]), y[:, :2]),
            x.index_fill(2, torch.tensor([0, 3]), -1.0),
            x[0].masked_scatter(mask, y[0] * 2),
            torch.index_put(x, (torch.tensor([1, 1]),), y[:2, :, 0:1], accumulate=True),
            torch.zeros(2, 4, 5, dtype=x.dtype).index_add(0, (y[:, 0, 0] > 0).long(), x),
            z,
            x.tril(),
            x.roll(3),
            torch.linalg.vector_norm(zero_row, 0, 2),
            torch.linalg.vector_norm(zero_row, -math.inf, 2),
            torch.linalg.vector_norm(zero_row, 3, 2),
            F.hinge_embedding_loss(x, (y > 0).double() * 2 - 1),
        ]


def random_weights_loss(outputs: list[torch.Tensor], seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros((), dtype=torch.float64)
    for out in outputs:
        if out.dtype.is_floating_point and out.requires_grad:
            weights = torch.randn(out.shape, generator=generator, dtype=out.dtype)
            total = total + torch.nan_to_num(out * weights, nan=0.0, posinf=0.0, neginf=0.0).sum()
    return total


def assert_same(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, f"{what}: {actual.shape} {actual.dtype} vs {expected.shape} {expected.dtype}"
    nan = torch.isnan(expected)
    assert torch.equal(torch.isnan(actual), nan), f"{what}: NaNs differ"
    a, e = actual[~nan].double(), expected[~nan].double()
    scale = max(e.abs().max().item(), 1.0) if e.numel() else 1.0
    error = (a - e).abs().max().item() if e.numel() else 0.0
    assert error <= 1e-10 * scale, f"{what}: max abs error {error:.3g} (scale {scale:.3g})"


def run_both(model: nn.Module, *inputs: torch.Tensor, check: bool = False, backend: str = "numpy") -> None:
    torch.manual_seed(0)
    model = model.double()
    eager = copy.deepcopy(model)
    compiled = graphc.compile(model, backend=backend, check=check)
    mine = [t.clone().requires_grad_(t.dtype.is_floating_point) for t in inputs]
    theirs = [t.clone().requires_grad_(t.dtype.is_floating_point) for t in inputs]
    got, expected = compiled(*mine), eager(*theirs)
    assert len(got) == len(expected)
    for i, (a, e) in enumerate(zip(got, expected)):
        assert_same(a, e, f"output {i}")
        assert a.requires_grad == e.requires_grad, f"output {i}: requires_grad {a.requires_grad}, eager {e.requires_grad}"
    random_weights_loss(got).backward()
    random_weights_loss(expected).backward()
    for i, (a, e) in enumerate(zip(mine, theirs)):
        if e.grad is not None:
            assert_same(a.grad, e.grad, f"gradient of input {i}")
    for (name, p), (_, q) in zip(model.named_parameters(), eager.named_parameters()):
        assert_same(p.grad, q.grad, f"gradient of {name}")
    for (name, buffer), (_, other) in zip(model.named_buffers(), eager.named_buffers()):
        assert_same(buffer, other, name)


def float64(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_elementwise_lowerings() -> None:
    run_both(Elementwise(), float64(5, 6), float64(5, 6, seed=2))


def test_reduction_and_loss_lowerings() -> None:
    run_both(Reductions(), float64(4, 3, 5), float64(4, 5, seed=2))


def test_view_and_indexing_lowerings() -> None:
    idx = torch.randint(0, 3, (3, 5), generator=torch.Generator().manual_seed(3))
    idx[0, 0] = 2  # a padding index of the embedding
    run_both(ViewsAndIndexing(), float64(3, 4, 4), idx)


@pytest.mark.parametrize("train", [True, False])
def test_convolution_pooling_and_normalization_lowerings(train: bool) -> None:
    model = ConvPoolNorm().train(train)
    run_both(model, float64(3, 4, 6, 6), check=not train)


def test_3d_convolution_and_pooling_lowerings() -> None:
    run_both(ConvPool3d(), float64(2, 4, 4, 5, 5), check=True)


def test_scan_distance_and_indexed_write_lowerings() -> None:
    run_both(ScansWritesAndDistances(), float64(3, 4, 5), float64(3, 4, 5, seed=2))


class Sorting(nn.Module):
    """aten.sort (argsort and msort export as it), topk, kthvalue and median, the batch axis sorted too;
    ties only where torch's order is defined (stable=True)."""

    def forward(self, x: torch.Tensor, i: torch.Tensor) -> list[torch.Tensor]:
        return [
            *torch.sort(x, 1),
            *x.sort(dim=0, descending=True, stable=True),
            torch.argsort(x, 2),
            torch.msort(x),
            *torch.topk(x, 2),
            *x.topk(3, 1, largest=False),
            *torch.kthvalue(x, 2, 2),
            *torch.median(x, 2),
            x[0].median(),
            *i.sort(dim=1, descending=True, stable=True),
        ]


def test_sorting_lowerings() -> None:
    run_both(Sorting(), float64(3, 4, 5), torch.randint(-2, 3, (3, 6), generator=torch.Generator().manual_seed(4)))


class LinearSolvers(nn.Module):
    """The LU and Cholesky families, one call per ATen op they export as: inv, solve and cholesky as their
    _ex forms plus an effect checking the info, det and slogdet as _linalg_det/_linalg_slogdet."""

    def forward(self, a: torch.Tensor, b: torch.Tensor, s: torch.Tensor, t: torch.Tensor) -> list[torch.Tensor]:
        lower, upper = torch.linalg.cholesky(s), torch.linalg.cholesky(s, upper=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch.cholesky and triangular_solve are deprecated
            old = [torch.cholesky(s), *torch.triangular_solve(b, t, upper=False)]
        return [
            torch.linalg.inv(a),
            torch.linalg.inv_ex(a).info,
            torch.linalg.solve(a, b),
            torch.linalg.det(a),
            *torch.linalg.slogdet(a),
            lower,
            upper,
            torch.linalg.cholesky_ex(s).info,
            torch.cholesky_solve(b, upper, upper=True),
            torch.cholesky_inverse(lower),
            torch.linalg.solve_triangular(t, b.mT, upper=False, left=False, unitriangular=True),
            *old,
        ]


def test_linear_solver_lowerings() -> None:
    a = float64(2, 3, 3) + 3 * torch.eye(3, dtype=torch.float64)
    run_both(LinearSolvers(), a, float64(2, 3, 2, seed=2), a @ a.mT, float64(2, 3, 3, seed=3) + 3 * torch.eye(3, dtype=torch.float64))


class Checked(nn.Module):
    def forward(self, a: torch.Tensor, s: torch.Tensor) -> list[torch.Tensor]:
        return [torch.linalg.inv(a), torch.linalg.cholesky(s)]


def test_imported_inv_and_cholesky_raise_on_singular_and_indefinite_matrices() -> None:
    """The effect torch.export records for the check raises through graphc's check, with torch's names."""
    compiled = graphc.compile(Checked(), backend="numpy")
    eye = torch.eye(3, dtype=torch.float64).expand(2, 3, 3)
    compiled(eye, eye)
    with pytest.raises(graphc.linalg.LinAlgError, match="linalg.inv: .*singular"):
        compiled(torch.zeros_like(eye), eye)
    with pytest.raises(graphc.linalg.LinAlgError, match="linalg.cholesky: The factorization could not be completed"):
        compiled(eye, -eye)


class NoDerivative(nn.Module):
    """Ops torch gives no derivative: their values only."""

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        cols = torch.tensor([[3, 0, 3], [1, 2, 0]]).expand(x.shape[0], -1, -1)
        return [x.scatter(2, cols, x[:, :, :3], reduce="add"), x.scatter(2, cols, 2.0, reduce="add")]


def test_scatter_with_reduce_add_lowering() -> None:
    x = float64(3, 2, 4)
    expected = NoDerivative()(x)
    got = graphc.compile(NoDerivative(), backend="numpy")(x)
    for i, (a, e) in enumerate(zip(got, expected)):
        assert_same(a, e, f"output {i}")


class ScatterReductions(nn.Module):
    """scatter_reduce's products, maxima and minima (with the input's values and without), index_reduce,
    and scatter's reduce="multiply", along the symbolic batch's rows with duplicate indices."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        cols = torch.tensor([[3, 0, 3], [1, 1, 0], [4, 3, 1], [0, 1, 0]]).expand(x.shape[0], -1, -1)
        return [
            x.scatter_reduce(2, cols, y[:, :, :3], "prod"),
            x.scatter_reduce(2, cols, y[:, :, :3], "amax", include_self=False),
            x.scatter_reduce(2, cols, y[:, :, :3], "amin"),
            x.index_reduce(2, torch.tensor([4, 0, 4]), y[:, :, :3], "prod", include_self=False),
            x.index_reduce(1, torch.tensor([2, 2]), y[:, :2], "amax"),
            x.index_reduce(2, torch.tensor([1, 1, 3]), y[:, :, :3], "mean"),
        ]


def test_scatter_reduction_lowerings() -> None:
    run_both(ScatterReductions(), float64(3, 4, 5), float64(3, 4, 5, seed=2))


class Unpooling(nn.Module):
    """``max_unpool2d``/``max_unpool3d`` (1-d unpools are 2-d ones in exports): a scatter of the values
    at their flat indices, overlapping windows (repeated indices) and an unbatched input too; the 3-d
    pool's values and indices come from eager torch."""

    def forward(self, x: torch.Tensor, v: torch.Tensor, m: torch.Tensor) -> list[torch.Tensor]:
        y, i = F.max_pool2d(x, 2, return_indices=True)
        z, j = F.max_pool2d(x, 3, stride=1, return_indices=True)
        r, k = F.max_pool1d(x[:, 0], 2, return_indices=True)
        return [
            F.max_unpool2d(y, i, 2),
            F.max_unpool2d(z, j, 3, stride=1),
            F.max_unpool2d(y[0], i[0], 2, output_size=(5, 5)),
            F.max_unpool1d(r, k, 2),
            F.max_unpool3d(v, m, 2),
        ]


def test_max_unpool_lowerings() -> None:
    pooled, indices = F.max_pool3d(float64(3, 1, 4, 4, 4, seed=2), 2, return_indices=True)
    run_both(Unpooling(), float64(3, 4, 4, 4), pooled, indices)


class MultiplyingScatters(nn.Module):
    """torch gives scatter with a reduce no derivative: values only."""

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        cols = torch.tensor([[3, 0, 3], [1, 2, 0]]).expand(x.shape[0], -1, -1)
        return [x.scatter(2, cols, x[:, :, :3], reduce="multiply"), x.scatter(2, cols, 2.0, reduce="multiply")]


def test_scatter_with_reduce_multiply_lowering() -> None:
    x = float64(3, 2, 4)
    with torch.no_grad():
        expected = MultiplyingScatters()(x)
        got = graphc.compile(MultiplyingScatters(), backend="numpy")(x)
    for i, (a, e) in enumerate(zip(got, expected)):
        assert_same(a, e, f"output {i}")


class ProductOverBatch(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.prod(0)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (ProductOverBatch(), "prod needs a static size along dimension 0, got the symbolic size B (compile with dynamic=False)"),
    ],
)
def test_lowerings_refuse_what_graphc_cannot_build(model: nn.Module, message: str) -> None:
    with pytest.raises(graphc.GraphcError, match=re.escape(message)):
        graphc.compile(model, backend="numpy")(float64(3, 2))


class ChannelsLastClassifier(nn.Module):
    """Flatten after adaptive pooling in a channels-last model: torch.export emits an as_strided that keeps the layout."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.adaptive_avg_pool2d(self.conv(x), 1).flatten(1))


class Restrided(nn.Module):
    def __init__(self, size: tuple, stride: tuple, offset: int = 0) -> None:
        super().__init__()
        self.size, self.stride, self.offset = size, stride, offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.as_strided(x * 2, self.size, self.stride, self.offset)


def test_channels_last_model_lowers_its_layout_keeping_as_strided() -> None:
    model = ChannelsLastClassifier().double().to(memory_format=torch.channels_last)
    run_both(model, float64(2, 3, 6, 6).to(memory_format=torch.channels_last))


@pytest.mark.parametrize(
    ("size", "stride", "offset"), [((3, 2), (1, 3), 0), ((2, 2), (2, 1), 1), ((2, 2, 2), (3, 1, 1), 0)], ids=["transpose", "offset", "overlapping-windows"]
)
def test_as_strided_gathers_the_addressed_elements_with_their_gradients(size: tuple, stride: tuple, offset: int) -> None:
    eager = Restrided(size, stride, offset)
    compiled = graphc.compile(copy.deepcopy(eager), backend="numpy", dynamic=False)
    x, y = float64(2, 3).requires_grad_(True), float64(2, 3).requires_grad_(True)
    got, expected = compiled(x), eager(y)
    assert_same(got, expected, "output")
    weights = float64(*size, seed=2)
    (got * weights).sum().backward()
    (expected * weights).sum().backward()
    assert_same(x.grad, y.grad, "gradient")


def test_as_strided_reading_outside_its_input_is_refused() -> None:
    compiled = graphc.compile(Restrided((2, 3), (3, 1), 2), backend="numpy", dynamic=False)
    with pytest.raises(graphc.GraphcError, match=re.escape("as_strided reading memory outside its input (sizes [2, 3], strides [3, 1], offset 2)")):
        compiled(float64(2, 3))

"""The importer on the torch.Tensor and torch.nn long tail (graphc/frontend/torch_import/lowering/arithmetic.py,
nn_tail.py, and the tail's ops in sorting.py, views.py, writes.py and random.py): modules exported with
torch.export, lowered, compiled and compared with eager torch in float64, values and gradients, in the
style of tests/test_torch_import_ops.py. Many of these functions reach graphc already decomposed into
ops lowered before (logaddexp, renorm, addr, the splits, take_along_dim, quantile, hardshrink, prelu,
the in-place activations, the *_with_indices and lp pools); they are here to show the whole function
imports with torch's values and gradients."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from test_torch_import_ops import float64, run_both

import graphc
from graphc.runtime.executor import BACKENDS

pytestmark = pytest.mark.usefixtures("one_torch_thread", "numpy_kernels")  # C loops have their own tests (conftest.py)


class ArithmeticTail(nn.Module):
    """copysign, fmax/fmin (NaN on either side), logaddexp(2), ldexp, frexp, nextafter, addr, renorm, the
    shrinks, prelu, rrelu in eval mode and the in-place activations; gcd/lcm, shifts and ~ of integers."""

    def __init__(self) -> None:
        super().__init__()
        self.prelu = nn.PReLU(4, 0.2)

    def forward(self, x: torch.Tensor, y: torch.Tensor, n: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> list[torch.Tensor]:
        mantissa, exponent = torch.frexp(x * 100)
        return [
            torch.copysign(x, y),
            x.copysign(-1.0),
            x.clone().copysign_(i),
            torch.fmax(n, y),
            torch.fmin(y, n),
            torch.logaddexp(x, y),
            torch.logaddexp2(x, y),
            torch.ldexp(x, j % 4),  # torch's gradient for a negative integer exponent is 0 (docs/decisions.md)
            torch.ldexp(x, (j % 7 - 3).double()),
            mantissa,
            exponent,
            torch.nextafter(x.detach(), y.detach()),  # torch gives it no derivative
            torch.addr(x[0], x[0, :, 0], y[0, 0], beta=0.5, alpha=2),
            torch.renorm(x, 2, 1, 1.5),
            F.hardshrink(x, 0.4),
            self.prelu(x),
            F.prelu(x, torch.tensor([0.3], dtype=x.dtype)),
            F.rrelu(x, 0.1, 0.3, training=False),
            F.relu_(x.clone()),
            F.elu_(x * 2),
            F.leaky_relu_(x * 2, 0.1),
            F.hardtanh_(x * 2, -0.5, 0.5),
            F.threshold_(x * 2, 0.1, -1.0),
            torch.gcd(i, j),
            torch.lcm(i, j),
            i.clone().gcd_(j),
            i << 3,
            j >> 2,
            5 << (j % 5),
            torch.bitwise_left_shift(i, j % 70),
            i >> (j % 70),
            torch.bitwise_right_shift(100, j % 9),
            ~i,
        ]


def test_arithmetic_tail_lowerings() -> None:
    nans = float64(3, 4, 5, seed=3)
    nans[0, 1, :2] = float("nan")
    generator = torch.Generator().manual_seed(5)
    i = torch.randint(-40, 40, (3, 4, 5), generator=generator)
    j = torch.randint(0, 100, (3, 4, 5), generator=generator)
    y = float64(3, 4, 5, seed=2)
    y[nans.isnan()] = float("nan")
    y[0, 1, 0] = 1.0  # fmax/fmin with NaN on one side and on both
    run_both(ArithmeticTail(), float64(3, 4, 5), y, nans, i, j)


class ViewsWritesAndStatistics(nn.Module):
    """tensor_split/hsplit/vsplit/dsplit, Tensor.unfold, the *_scatter writes, index_put/put (and their
    in-place twins), take_along_dim, mode, nanmedian (NaNs skipped), quantile and nanquantile."""

    def forward(self, x: torch.Tensor, y: torch.Tensor, n: torch.Tensor, r: torch.Tensor) -> list[torch.Tensor]:
        z = x.clone()
        z.index_put_((torch.tensor([0, 2, 0]), torch.tensor([1, 3, 1])), y[0, :3], accumulate=True)
        w = x[0].clone()
        w.put_(torch.tensor([2, 17]), y[0, 0, :2])
        return [
            *torch.tensor_split(x, 3, dim=2),
            *torch.tensor_split(x, [1, 3], dim=1),
            *torch.hsplit(x, 2),
            *torch.vsplit(x[0], [1]),
            *torch.dsplit(x, [2]),
            x.unfold(2, 2, 1),
            x.unfold(1, 3, 2),
            torch.diagonal_scatter(x, y[:, :, 0], 0, 1, 2),
            torch.diagonal_scatter(x, y[:, :3, 0], 1, 2, 1),
            torch.select_scatter(x, y[:, 0], 1, 2),
            torch.slice_scatter(x, y[:, :, :2], 2, 1, 5, 2),
            x.index_put((torch.tensor([0, 2]),), y[:2]),
            z,
            x[0].put(torch.tensor([1, 7, -1]), y[0, 0, :3]),
            x[0].put(torch.tensor([1, 1, 4]), y[0, 0, :3], accumulate=True),
            w,
            torch.take_along_dim(x, x.argsort(2), 2),
            torch.take_along_dim(x[0], torch.tensor([[1], [3]])),
            *torch.mode(r, 2),
            *torch.mode(r, 1, keepdim=True),
            torch.nanmedian(n, 2).values,  # torch's index in a row of NaNs only is nth_element's (unspecified)
            *torch.nanmedian(n[:, :2], 2),
            torch.nanmedian(n[0]),
            torch.quantile(x, 0.3, dim=2),
            torch.quantile(x[0], torch.tensor([0.25, 0.5], dtype=x.dtype), dim=1, keepdim=True, interpolation="midpoint"),
            torch.quantile(x[1], 0.6, interpolation="nearest"),
            torch.nanquantile(n, 0.7, dim=2, interpolation="lower"),
        ]


def test_view_write_and_statistics_tail_lowerings() -> None:
    nans = float64(3, 4, 5, seed=3)
    nans[0, 1, :2] = float("nan")
    nans[1, 2] = float("nan")  # a row of NaNs only
    repeats = torch.randint(0, 3, (3, 4, 5), generator=torch.Generator().manual_seed(6)).double()
    run_both(ViewsWritesAndStatistics(), float64(3, 4, 5), float64(3, 4, 5, seed=2), nans, repeats)


class NnTail(nn.Module):
    """conv_tbc, the channel shuffles, fractional max pooling (2-d and 3-d, given samples), pdist, the
    *_with_indices pools, lp_pool3d, and AdaptiveLogSoftmaxWithLoss.log_prob (its forward and predict
    branch on values: torch.export refuses them)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(3, 5, 2, generator=torch.Generator().manual_seed(7)))
        self.bias = nn.Parameter(torch.randn(2, generator=torch.Generator().manual_seed(8)))
        self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(5, 10, [4, 8], div_value=2.0)
        generator = torch.Generator().manual_seed(9)
        self.register_buffer("samples2", torch.rand(3, 1, 2, generator=generator))  # torch refuses samples requiring grad
        self.register_buffer("samples3", torch.rand(3, 1, 3, generator=generator))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        volume = x[:, None, :, :, None] * x[:, None, :, None, :4]
        pooled, indices = F.fractional_max_pool2d(x[:, None], 2, output_size=(2, 3), return_indices=True, _random_samples=self.samples2)
        pooled3, indices3 = F.fractional_max_pool3d(volume, (2, 2, 1), output_size=(2, 3, 2), return_indices=True, _random_samples=self.samples3)
        return [
            F.conv_tbc(x, self.weight, self.bias, 1),
            F.native_channel_shuffle(x.detach(), 2),  # torch gives it no derivative (graphc: the permutation's)
            pooled,
            indices,
            pooled3,
            indices3,
            F.pdist(x[0]),
            F.pdist(x[1], p=1),
            F.pdist(x[2] * 0, p=0.5),
            *F.max_pool1d_with_indices(x, 2),
            *F.adaptive_max_pool1d_with_indices(x, 3),
            F.lp_pool3d(volume, 2, 2),
            self.adaptive.log_prob(x[:, 0]),
        ]


def test_nn_tail_lowerings() -> None:
    run_both(NnTail(), float64(3, 4, 5))


class ConstantTables(nn.Module):
    """Lowerings whose front-end functions build constant tables (pdist's pairs, the diagonal's mask),
    which the importer feeds as program inputs, and mode's gather."""

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [F.pdist(x[0]), torch.diagonal_scatter(x, x[:, 0, :3] * 2, 0, 1, 2), torch.mode(x.detach().round() + x - x.detach(), 2).values]


@pytest.mark.skipif("triton" not in BACKENDS, reason="no triton backend")
def test_constant_tables_of_the_tail_on_the_triton_backend() -> None:
    run_both(ConstantTables(), float64(2, 3, 4), backend="triton")


class RandomizedLeakyReLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rrelu(x, 0.1, 0.3, training=True) + F.rrelu_(x * 1.0, 0.2, 0.2, training=True)


def test_imported_rrelu_in_training_draws_a_slope_per_element_which_is_its_gradient() -> None:
    """graphc's draws are not torch's: each non-positive element's slope lies in [lower, upper), changes
    from call to call, and is its gradient, as in torch (the second rrelu's range is one value)."""
    compiled = graphc.compile(RandomizedLeakyReLU(), backend="numpy")
    x = float64(3, 40).requires_grad_()
    out = compiled(x)
    out.sum().backward()
    negative = x.detach() <= 0
    slope = (out.detach() - 0.2 * x.detach()) / x.detach()
    assert torch.equal(out.detach()[~negative], 2 * x.detach()[~negative])
    assert ((slope[negative] >= 0.1) & (slope[negative] < 0.3)).all()
    assert torch.allclose(x.grad[negative], slope[negative] + 0.2, rtol=1e-12) and (x.grad[~negative] == 2).all()
    assert not torch.equal(compiled(x.detach()), out.detach())


class Bucketing(nn.Module):
    """searchsorted (both sides, a sorter, a scalar), bucketize (a scalar too) and histc; a gradient flows
    around them, as they have none."""

    def forward(self, x: torch.Tensor, edges: torch.Tensor, rows: torch.Tensor) -> list[torch.Tensor]:
        order = torch.argsort(rows, dim=-1)
        return [
            torch.bucketize(x, edges),
            torch.bucketize(x, edges, right=True, out_int32=True),
            torch.bucketize(0.25, edges),
            torch.searchsorted(rows.sort(-1).values, x[:, :3], side="right"),
            torch.searchsorted(rows, x[:, :3], sorter=order),
            torch.searchsorted(edges, 0.5),
            torch.histc(x, bins=4, min=-1, max=1),
            x * 2,
        ]


def test_searchsorted_bucketize_and_histc_lowerings() -> None:
    edges = torch.tensor([-1.0, -0.2, 0.0, 0.3, 1.5], dtype=torch.float64)
    x = float64(4, 6)
    x[0, :3] = edges[1:4]  # values on the boundaries: the side decides
    run_both(Bucketing(), x, edges, float64(4, 5, seed=2))


class DataRangeHistogram(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.histc(x, bins=3)


def test_histc_over_the_datas_own_range_is_refused_by_name() -> None:
    with pytest.raises(graphc.GraphcError, match="histc.*pass min and max explicitly"):
        graphc.compile(DataRangeHistogram(), backend="numpy")(float64(3, 4))


class Sampler(nn.Module):
    def forward(self, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.multinomial(weights, 2000, replacement=True), torch.multinomial(weights, 3)


def test_imported_multinomial_draws_anew_each_call_in_proportion_to_the_weights() -> None:
    """graphc's draws are not torch's: indices as torch's (int64, in range, never a zero weight, distinct
    without replacement), frequencies within 5 standard errors of the weights, and new draws each call."""
    weights = torch.tensor([[1.0, 0.0, 3.0, 4.0], [0.5, 0.5, 0.0, 1.0]], dtype=torch.float64)
    compiled = graphc.compile(Sampler(), backend="numpy")
    with_replacement, without = compiled(weights)
    expected_with, expected_without = Sampler()(weights)
    assert with_replacement.dtype == expected_with.dtype and with_replacement.shape == expected_with.shape
    assert without.dtype == expected_without.dtype and without.shape == expected_without.shape
    p = weights / weights.sum(1, keepdim=True)
    frequency = torch.stack([(with_replacement == k).double().mean(1) for k in range(4)], 1)
    assert ((frequency - p).abs() <= 5 * (p * (1 - p) / 2000).sqrt() + 1e-12).all()
    assert all(len(set(row.tolist())) == 3 and 1 not in row.tolist() for row in without[:1])
    assert sorted(without[1].tolist()) == [0, 1, 3]  # the three categories with weight
    assert not torch.equal(compiled(weights)[0], with_replacement)


class Covariance(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cov(x[0])


def test_what_torch_export_refuses_of_the_tail_is_named() -> None:
    """cov and corrcoef: torch.export cannot trace the aten.equal their C++ composite calls."""
    message = "the op aten.equal.default, which torch.export cannot trace"
    with pytest.raises(graphc.GraphcError, match=re.escape(message)):
        graphc.compile(Covariance(), backend="numpy")(float64(3, 4, 5))


class StepAndNeighbour(nn.Module):
    """A loss beside an output of nextafter, which torch gives no derivative."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2).double()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.linear(x)
        return (h * h).sum(), torch.nextafter(h, h + 1)


def test_an_output_without_a_derivative_fails_only_the_backward_it_reaches() -> None:
    """As in eager torch: training on the loss works; a backward through nextafter's result raises."""
    model = StepAndNeighbour()
    reference = StepAndNeighbour()
    reference.load_state_dict(model.state_dict())
    compiled = graphc.compile(model, backend="numpy")
    x = float64(4, 3)
    loss, neighbour = compiled(x)
    loss.backward()
    expected, _ = reference(x)
    expected.backward()
    assert neighbour.requires_grad
    torch.testing.assert_close(model.linear.weight.grad, reference.linear.weight.grad, rtol=1e-12, atol=1e-12)
    _, neighbour = compiled(x)
    with pytest.raises(graphc.GraphcError, match="nextafter: the derivative is not implemented"):
        neighbour.sum().backward()

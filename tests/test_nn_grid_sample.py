"""F.affine_grid and F.grid_sample (images and volumes) against torch: values, and float64 gradients for the input, the grid and theta."""

from __future__ import annotations

import contextlib
import itertools

import numpy as np
import pytest
import torch
from helpers import assert_matches
from torch_grads import check_compiled_batches, check_grads

import graphc
import graphc.nn.functional as F

rng = np.random.default_rng(11)

COMBINATIONS = list(itertools.product(["bilinear", "nearest", "bicubic"], ["zeros", "border", "reflection"], [False, True]))
# Every combination on the C loops; under the slow Triton interpreter, cases that use every piece
# (bicubic's weights and taps, reflection's fold and clip; bilinear is compiled below).
CASES = [("numpy", *case) for case in COMBINATIONS] + [
    ("triton", "bicubic", "zeros", False),
    ("triton", "nearest", "reflection", True),
]


def functional(T: object) -> object:
    return F if T is graphc else torch.nn.functional


def _grid(*shape: int, reach: float = 1.6) -> np.ndarray:
    """Points reaching past [-1, 1] on both sides, so every padding mode's outside rule is exercised."""
    return rng.uniform(-reach, reach, shape)


@pytest.mark.parametrize("backend_name,mode,padding_mode,align_corners", CASES)
def test_grid_sample_values_and_gradients_match_torch(backend_name: str, mode: str, padding_mode: str, align_corners: bool) -> None:
    def sample(T: object, x: object, grid: object) -> object:
        return functional(T).grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)

    if backend_name == "triton":
        pytest.importorskip("triton")
    with graphc.use_backend(backend_name):
        check_grads(sample, rng.standard_normal((2, 2, 3, 4)), _grid(2, 2, 3, 2))


def test_grid_sample_reflects_far_outside_across_several_folds() -> None:
    """Points several image widths away fold back and forth (odd and even numbers of flips)."""
    for align_corners in (False, True):

        def sample(T: object, x: object, grid: object, align_corners: bool = align_corners) -> object:
            return functional(T).grid_sample(x, grid, padding_mode="reflection", align_corners=align_corners)

        check_grads(sample, rng.standard_normal((1, 1, 2, 3)), _grid(1, 3, 4, 2, reach=7.0))


def test_grid_sample_keeps_float32() -> None:
    x, grid = rng.standard_normal((1, 2, 4, 3)).astype(np.float32), _grid(1, 3, 2, 2).astype(np.float32)
    got = F.grid_sample(graphc.tensor(x), graphc.tensor(grid), align_corners=False)
    expected = torch.nn.functional.grid_sample(torch.tensor(x), torch.tensor(grid), align_corners=False)
    assert got.dtype == graphc.float32
    assert_matches(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_nan_and_infinite_points_follow_torchs_cpu_kernel(mode: str) -> None:
    """NaN reads NaN under zeros in bilinear mode (0 in nearest); border and reflection move NaN to pixel 0; inf is clipped or reflected to NaN then 0."""
    x = np.arange(12.0).reshape(1, 1, 3, 4) + 1
    grid = np.array([[[[np.nan, 0.2], [0.3, np.nan], [np.inf, 0.0], [5.0, 0.0], [0.125, 0.5]]]])
    for padding_mode in ("zeros", "border", "reflection"):
        got = F.grid_sample(graphc.tensor(x), graphc.tensor(grid), mode=mode, padding_mode=padding_mode, align_corners=False)
        expected = torch.nn.functional.grid_sample(torch.tensor(x), torch.tensor(grid), mode=mode, padding_mode=padding_mode, align_corners=False)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12, err_msg=padding_mode)


def test_grid_sample_without_align_corners_warns_as_torch() -> None:
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.grid_sample(graphc.ones(1, 1, 2, 2), graphc.zeros(1, 1, 1, 2))


@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 1, 3), (2, 2, 2, 3, 4)])
def test_affine_grid_values_and_theta_gradients_match_torch(size: tuple, backend: str) -> None:
    spatial = len(size) - 2
    theta = rng.standard_normal((2, spatial, spatial + 1))
    for align_corners in (False, True):

        def grid(T: object, theta: object, align_corners: bool = align_corners) -> object:
            return functional(T).affine_grid(theta, size, align_corners=align_corners)

        with pytest.warns(UserWarning) if align_corners and 1 in size[2:] else contextlib.nullcontext():
            check_grads(grid, theta)


def test_compiled_grid_sample_has_a_symbolic_batch() -> None:
    """One program for two batch sizes: values and the gradients of the image and the grid are torch's (C loops; Triton compiles below)."""

    def sample(T: object, x: object, grid: object) -> object:
        return functional(T).grid_sample(x, grid, padding_mode="reflection", align_corners=False)

    check_compiled_batches(sample, lambda batch: (rng.standard_normal((batch, 1, 2, 3)), _grid(batch, 2, 2, 2)), "numpy")


def _check_compiled_transformer(x: np.ndarray, theta: np.ndarray, size: tuple[int, ...], padding: str) -> None:
    """affine_grid to ``size`` then grid_sample, compiled to Triton kernels: values and the gradients of x and theta are torch's."""
    pytest.importorskip("triton")

    def transform(T: object, x: object, theta: object) -> object:
        grid = functional(T).affine_grid(theta, size, align_corners=False)
        return functional(T).grid_sample(x, grid, padding_mode=padding, align_corners=False)

    def step(x: graphc.Tensor, theta: graphc.Tensor) -> tuple:
        out = transform(graphc, x, theta)
        out.sum().backward()
        return out, x.grad, theta.grad

    ours = [graphc.tensor(a, requires_grad=True) for a in (x, theta)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, theta)]
    expected = transform(torch, *theirs)
    expected.sum().backward()
    assert_matches(list(graphc.compile(step, backend="triton")(*ours)), [expected, *(t.grad for t in theirs)], 1e-9, 1e-9)


def test_compiled_spatial_transformer_matches_torch() -> None:
    """affine_grid then bilinear grid_sample compiled to Triton kernels: the image and theta get torch's gradients."""
    _check_compiled_transformer(rng.standard_normal((2, 1, 3, 3)), rng.standard_normal((2, 2, 3)) * 0.8, (2, 1, 2, 3), "border")


def test_grid_sample_refuses_bad_arguments_naming_the_op() -> None:
    x, grid = graphc.ones(1, 2, 3, 3), graphc.zeros(1, 2, 2, 2)
    cases = [
        (lambda: F.grid_sample(x, grid, mode="area", align_corners=False), "expected mode"),
        (lambda: F.grid_sample(x, grid, padding_mode="wrap", align_corners=False), "expected padding_mode"),
        (lambda: F.grid_sample(graphc.ones(1, 2, 2, 3, 3), graphc.zeros(1, 1, 2, 2, 3), mode="bicubic", align_corners=False), "bicubic .* only .* 4-d"),
        (lambda: F.grid_sample(graphc.ones(2, 3, 3), grid, align_corners=False), "4-d input"),
        (lambda: F.grid_sample(graphc.ones(1, 2, 2, 3, 3), grid, align_corners=False), "5-d input .* got 5-d and 4-d"),
        (lambda: F.grid_sample(graphc.ones(1, 2, 2, 3, 3), graphc.zeros(1, 1, 2, 2, 2), align_corners=False), "size 3 in its last dimension"),
        (lambda: F.grid_sample(x, graphc.zeros(1, 2, 2, 3), align_corners=False), "size 2 in its last dimension"),
        (lambda: F.grid_sample(x, graphc.zeros(2, 2, 2, 2), align_corners=False), "same batch size"),
        (lambda: F.grid_sample(x, graphc.zeros(1, 2, 2, 2, dtype=graphc.float64), align_corners=False), "one floating dtype"),
    ]
    for call, message in cases:
        with pytest.raises(graphc.GraphcError, match=message) as error:
            call()
        assert str(error.value).startswith("grid_sample:"), error.value
        assert "test_nn_grid_sample.py" in str(error.value)


def test_affine_grid_refuses_bad_arguments_naming_the_op() -> None:
    theta = graphc.zeros(2, 2, 3)
    cases = [
        (lambda: F.affine_grid(theta, (2, 1, 3), align_corners=False), "4-d and 5-d sizes"),
        (lambda: F.affine_grid(theta, (2, 1, 3, 3, 3), align_corners=False), "Nx3x4"),
        (lambda: F.affine_grid(graphc.zeros(2, 3, 3), (2, 1, 3, 3), align_corners=False), "Nx2x3"),
        (lambda: F.affine_grid(theta, (3, 1, 3, 3), align_corners=False), "batch of 3"),
        (lambda: F.affine_grid(theta, (2, 1, 0, 3), align_corners=False), "positive output size"),
        (lambda: F.affine_grid(graphc.zeros(2, 2, 3, dtype=graphc.int64), (2, 1, 3, 3), align_corners=False), "floating point"),
    ]
    for call, message in cases:
        with pytest.raises(graphc.GraphcError, match=message) as error:
            call()
        assert str(error.value).startswith("affine_grid:"), error.value


class _Transformer(torch.nn.Module):
    """A spatial transformer as torch code: exported, its affine_grid decomposes and grid_sample is ``aten.grid_sampler_2d``."""

    def __init__(self, mode: str, padding_mode: str) -> None:
        super().__init__()
        self.mode, self.padding_mode = mode, padding_mode

    def forward(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        grid = torch.nn.functional.affine_grid(theta, [2, 1, 3, 2], align_corners=True)
        return torch.nn.functional.grid_sample(x, grid * 1.3, mode=self.mode, padding_mode=self.padding_mode, align_corners=True)


def test_imported_torch_module_lowers_grid_sampler_2d() -> None:
    mode, padding_mode = "bicubic", "reflection"  # torch's enums 2 and 2
    x, theta = rng.standard_normal((2, 1, 3, 4)), rng.standard_normal((2, 2, 3))
    ours = [torch.tensor(a, requires_grad=True) for a in (x, theta)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, theta)]
    got = graphc.compile(_Transformer(mode, padding_mode), backend="numpy")(*ours)
    expected = _Transformer(mode, padding_mode)(*theirs)
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    weights = torch.tensor(rng.standard_normal(tuple(expected.shape)))
    (got * weights).sum().backward()
    (expected * weights).sum().backward()
    for mine, reference in zip(ours, theirs):
        np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), rtol=1e-10, atol=1e-12)


VOLUME_CASES = [("numpy", *case) for case in itertools.product(["bilinear", "nearest"], ["zeros", "border", "reflection"], [False, True])] + [
    ("triton", "bilinear", "reflection", False),
    ("triton", "nearest", "border", True),
]


@pytest.mark.parametrize("backend_name,mode,padding_mode,align_corners", VOLUME_CASES)
def test_grid_sample_of_volumes_matches_torch_values_and_gradients(backend_name: str, mode: str, padding_mode: str, align_corners: bool) -> None:
    """5-d input (N, C, D, H, W) at a (N, D_out, H_out, W_out, 3) grid: trilinear or nearest, gradients for the volume and the grid."""

    def sample(T: object, x: object, grid: object) -> object:
        return functional(T).grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)

    if backend_name == "triton":
        pytest.importorskip("triton")
    with graphc.use_backend(backend_name):
        check_grads(sample, rng.standard_normal((2, 2, 2, 3, 4)), _grid(2, 2, 2, 3, 3))


def test_grid_sample_of_volumes_reflects_far_outside_across_several_folds() -> None:
    for align_corners in (False, True):

        def sample(T: object, x: object, grid: object, align_corners: bool = align_corners) -> object:
            return functional(T).grid_sample(x, grid, padding_mode="reflection", align_corners=align_corners)

        check_grads(sample, rng.standard_normal((1, 1, 2, 3, 2)), _grid(1, 2, 3, 4, 3, reach=7.0))


@pytest.mark.parametrize("spatial", [2, 3])
@pytest.mark.parametrize("padding_mode", ["border", "reflection"])
def test_grid_sample_gives_no_grid_gradient_on_the_border_as_torch(spatial: int, padding_mode: str) -> None:
    """torch's clip counts the end pixels' centres as outside: an aligned grid at exactly -1 or 1 (affine_grid's identity
    corners) gets slope 0 there, inside points slope 1."""
    theta = np.concatenate([np.eye(spatial), np.zeros((spatial, 1))], axis=1)[None]
    size = (1, 1, *[3] * spatial)

    def sample(T: object, x: object, theta: object) -> object:
        grid = functional(T).affine_grid(theta, size, align_corners=True)
        return functional(T).grid_sample(x, grid, padding_mode=padding_mode, align_corners=True)

    check_grads(sample, rng.standard_normal(size), theta)


def test_grid_sample_of_volumes_keeps_float32() -> None:
    x, grid = rng.standard_normal((1, 2, 3, 4, 3)).astype(np.float32), _grid(1, 2, 3, 2, 3).astype(np.float32)
    got = F.grid_sample(graphc.tensor(x), graphc.tensor(grid), align_corners=True)
    expected = torch.nn.functional.grid_sample(torch.tensor(x), torch.tensor(grid), align_corners=True)
    assert got.dtype == graphc.float32 and tuple(got.shape) == (1, 2, 2, 3, 2)
    assert_matches(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_of_volumes_follows_torchs_scalar_kernel_on_nan_and_infinite_points(mode: str) -> None:
    """torch samples volumes with its scalar CPU kernel: under zeros a non-finite point reads no corner (0, not NaN);
    border and reflection clip NaN to the last pixel (images' vectorized kernel: to pixel 0)."""
    x = np.arange(24.0).reshape(1, 1, 2, 3, 4) + 1
    points = [[np.nan, 0.2, 0.1], [0.3, np.nan, 0.0], [np.inf, 0.0, 0.0], [5.0, 0.0, -0.2], [0.125, 0.5, -np.inf], [0.1, 0.2, np.nan], [0.3, -0.4, 0.5]]
    grid = np.array(points).reshape(1, 1, 1, len(points), 3)
    for padding_mode in ("zeros", "border", "reflection"):
        got = F.grid_sample(graphc.tensor(x), graphc.tensor(grid), mode=mode, padding_mode=padding_mode, align_corners=False)
        expected = torch.nn.functional.grid_sample(torch.tensor(x), torch.tensor(grid), mode=mode, padding_mode=padding_mode, align_corners=False)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12, err_msg=padding_mode)


_VOLUME = np.random.default_rng(7).standard_normal((1, 2, 2, 3, 2))
_VOLUME_GRID = np.random.default_rng(8).uniform(-1.1, 1.1, (1, 2, 1, 3, 3))


def _volume_second_order(T: object, mode: str, penalized: str, grid_requires_grad: bool) -> tuple:
    """Whether each first gradient requires grad, then the second derivatives of a penalty on the chosen ones."""
    x = T.tensor(_VOLUME.copy(), requires_grad=True)
    grid = T.tensor(_VOLUME_GRID.copy(), requires_grad=grid_requires_grad)
    y = functional(T).grid_sample(x, grid, mode=mode, align_corners=False)
    wrt = (x, grid) if grid_requires_grad else (x,)
    first = T.autograd.grad((y * y).sum(), wrt, create_graph=True)
    penalty = sum((g * g).sum() for g, name in zip(first, "xg") if name in penalized)
    return (*(g.requires_grad for g in first), *T.autograd.grad(penalty, wrt, allow_unused=True))


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_grid_sample_of_volumes_second_derivatives_match_torch(backend: str, mode: str) -> None:
    """torch's grid_sampler_3d_backward, like the 2-d one, reads input and grid: its results require grad, the input
    gets no derivative through it and nearest mode's grid a zero one; the trilinear grid's second derivative is torch's."""
    for penalized, grid_requires_grad in (("x", False), ("x", True), ("g", True), ("xg", True)):
        ours = _volume_second_order(graphc, mode, penalized, grid_requires_grad)
        theirs = _volume_second_order(torch, mode, penalized, grid_requires_grad)
        for g, t in zip(ours, theirs):
            if isinstance(t, bool):
                assert g == t, (penalized, grid_requires_grad)
            elif t is None:
                assert g is None, (penalized, grid_requires_grad)
            else:
                assert g is not None, (penalized, grid_requires_grad)
                np.testing.assert_allclose(g.numpy(), t.numpy(), rtol=1e-10, atol=1e-12)


def test_compiled_grid_sample_of_volumes_has_a_symbolic_batch() -> None:
    def sample(T: object, x: object, grid: object) -> object:
        return functional(T).grid_sample(x, grid, padding_mode="border", align_corners=True)

    check_compiled_batches(sample, lambda batch: (rng.standard_normal((batch, 1, 2, 2, 3)), _grid(batch, 2, 1, 2, 3)), "numpy")


def test_compiled_volume_transformer_matches_torch() -> None:
    """3-d affine_grid then trilinear grid_sample compiled to Triton kernels: the volume and theta get torch's gradients."""
    _check_compiled_transformer(rng.standard_normal((1, 1, 2, 3, 3)), rng.standard_normal((1, 3, 4)) * 0.8, (1, 1, 2, 2, 3), "zeros")


class _VolumeTransformer(torch.nn.Module):
    """A 3-d spatial transformer as torch code: exported, its affine_grid decomposes and grid_sample is ``aten.grid_sampler_3d``."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        grid = torch.nn.functional.affine_grid(theta, [2, 1, 2, 3, 2], align_corners=False)
        return torch.nn.functional.grid_sample(x, grid * 1.3, mode=self.mode, padding_mode="reflection", align_corners=False)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_imported_torch_module_lowers_grid_sampler_3d(mode: str) -> None:
    x, theta = rng.standard_normal((2, 1, 2, 3, 4)), rng.standard_normal((2, 3, 4))
    ours = [torch.tensor(a, requires_grad=True) for a in (x, theta)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, theta)]
    got = graphc.compile(_VolumeTransformer(mode), backend="numpy")(*ours)
    expected = _VolumeTransformer(mode)(*theirs)
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    weights = torch.tensor(rng.standard_normal(tuple(expected.shape)))
    (got * weights).sum().backward()
    (expected * weights).sum().backward()
    for mine, reference in zip(ours, theirs):
        np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), rtol=1e-10, atol=1e-12)

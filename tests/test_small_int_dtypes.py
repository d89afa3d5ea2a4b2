"""uint8, int8 and int16 end to end, against torch: promotion, wrapping arithmetic, conversions,
constructors, indexing, serialization, collation, the importer and compile guards.

The bit operations themselves (``&``, ``|``, ``^`` on every integer dtype) have their rows in
tests/test_primitive_coverage.py; here are their in-place forms and refusals.
"""

from __future__ import annotations

import io
import itertools
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches

import graphc
from graphc.data import DataLoader
from graphc.errors import DivisionByZeroError, GraphcError
from graphc.ir import dtypes

SMALL = ("uint8", "int8", "int16")
RANGES = {"uint8": (0, 256), "int8": (-128, 128), "int16": (-32768, 32768)}


def values(dtype: str, n: int = 6, seed: int = 0) -> np.ndarray:
    """The dtype's whole range: both ends, zero and random values."""
    low, high = RANGES[dtype]
    rng = np.random.default_rng(seed)
    return np.concatenate([[low, high - 1, 0], rng.integers(low, high, size=n - 3)]).astype(dtype)


def both(array: np.ndarray) -> tuple[graphc.Tensor, torch.Tensor]:
    return graphc.tensor(array.copy()), torch.from_numpy(array.copy())


def test_promotion_is_torch_s_for_every_pair_of_dtypes() -> None:
    """Tensor with tensor, with a 0-d tensor and with Python numbers, in both orders (no values are computed)."""
    for a, b in itertools.product(dtypes.ALL_DTYPES, repeat=2):
        for shape_a, shape_b in [((2,), (2,)), ((2,), ()), ((), (2,)), ((), ())]:
            ours = graphc.zeros(shape_a, dtype=a) + graphc.zeros(shape_b, dtype=b)
            theirs = torch.result_type(torch.zeros(shape_a, dtype=a.torch), torch.zeros(shape_b, dtype=b.torch))
            assert ours.dtype.name == str(theirs).removeprefix("torch."), (a, b, shape_a, shape_b)
        assert dtypes.promote_types(a, b).torch == torch.promote_types(a.torch, b.torch), (a, b)
    for d, number in itertools.product(dtypes.ALL_DTYPES, (True, 3, 2.5)):
        theirs = str(torch.result_type(torch.zeros(2, dtype=d.torch), number)).removeprefix("torch.")
        for ours in (graphc.zeros(2, dtype=d) * number, number * graphc.zeros(2, dtype=d)):
            assert ours.dtype.name == theirs, (d, number)


def arithmetic(T: Any, x: Any, y: Any) -> tuple:
    """Ops on small ints whose results wrap, promote or leave the dtype, as one program."""
    nonzero = T.where(y == 0, T.ones_like(y), y)
    return (
        x + y, x - 1, x * 3, -x, x.abs(), x**2, (x + 100) > 50,  # wraps, and a comparison after a wrap
        x // nonzero, x // -1, x % nonzero, T.fmod(x, nonzero), x / nonzero, x.float() / 255,
        T.maximum(x, y), x.max(), x.argmax(), x.sum(), x.prod(), x.cumsum(0), T.sort(x).values, T.argsort(x, stable=True),
        x[1:2].expand(3).sum(dtype=x.dtype) % 7, x.view(2, 3) @ y.view(3, 2),  # a sum that wraps, read in its epilogue
        T.where(x > y, x, y), T.cat([x, y]), x[T.tensor([0, 2])], T.gather(x, 0, T.tensor([4, 1])),
        x.scatter_add(0, T.tensor([1, 1]), y[:2]), T.zeros(6, dtype=x.dtype).scatter(0, T.tensor([1, 3]), y[:2]),
        x + y.int(), x.long() * 1000, (x.long() * 1000).to(x.dtype), (x.double() * 3.7).to(x.dtype), x.to(T.uint8), x.to(T.int8),
        ~x, x << 3, x >> 7, x & y, x | 5, 3 ^ x, x.sign(), x.clamp(3, 100), T.topk(x, 2).values,
    )


@pytest.mark.parametrize("dtype", SMALL)
def test_arithmetic_wraps_and_promotes_as_torch(backend: str, dtype: str) -> None:
    (gx, tx), (gy, ty) = both(values(dtype)), both(values(dtype, seed=1))
    assert_matches(graphc.compile(lambda x, y: arithmetic(graphc, x, y))(gx, gy), arithmetic(torch, tx, ty))


def test_integer_division_by_zero_raises_for_small_ints(backend: str) -> None:
    for dtype in SMALL:
        x = graphc.tensor(values(dtype))
        with pytest.raises(DivisionByZeroError, match="floor_divide"):
            (x // graphc.zeros(6, dtype=x.dtype)).numpy()
    with pytest.raises(GraphcError, match="mean needs a floating-point input, got uint8"):
        graphc.zeros(3, dtype=graphc.uint8).mean()  # as torch, which cannot infer the output dtype


def test_conversions_and_constructors_match_torch() -> None:
    floats = [-300.7, -129.5, -1.5, 0.9, 127.9, 200.2, 255.5, 40000.0]  # truncated toward zero, then wrapped
    assert graphc.short == graphc.int16 and not hasattr(graphc, "byte") and not hasattr(torch, "byte")  # torch's names
    assert [d.is_signed for d in dtypes.ALL_DTYPES] == [d.torch.is_signed for d in dtypes.ALL_DTYPES]
    for name in SMALL:
        g, t = getattr(graphc, name), getattr(torch, name)
        assert_matches(graphc.tensor(floats).to(g), torch.tensor(floats).to(t))
        assert_matches(graphc.tensor(np.array(floats)).type(g), torch.tensor(np.array(floats)).type(t))
        assert_matches(graphc.tensor([-1, 5, 100], dtype=g), torch.tensor([-1, 5, 100], dtype=t))
        assert_matches(graphc.zeros(2, 3, dtype=g), torch.zeros(2, 3, dtype=t))
        assert_matches(graphc.full((2,), -1, dtype=g), torch.full((2,), -1, dtype=t))
        assert_matches(graphc.arange(0, 100, 7, dtype=g), torch.arange(0, 100, 7, dtype=t))
        sample = graphc.randint(0, 100, (50,), dtype=g)
        assert sample.dtype == g and sample.numpy().min() >= 0 and sample.numpy().max() < 100
        array = values(name)
        back = graphc.from_numpy(array).numpy()
        assert back.dtype == array.dtype and np.array_equal(back, array)
        assert graphc.tensor(array).is_signed() == torch.from_numpy(array).is_signed()
    assert_matches(graphc.tensor(floats).byte(), torch.tensor(floats).byte())
    assert_matches(graphc.tensor(floats).char(), torch.tensor(floats).char())
    for method in ("byte", "char", "short"):
        packed = [T.nn.utils.rnn.pack_padded_sequence(T.ones(2, 3) * 300.5, [3, 2], batch_first=True) for T in (graphc, torch)]
        assert_matches(getattr(packed[0], method)().data, getattr(packed[1], method)().data)
    for T in (graphc, torch):  # Python numbers out of the dtype's range are refused, as torch's checked conversion does
        for data, dtype in [([300], T.uint8), ([-256], T.uint8), ([127.9], T.int8), ([2**31], T.int32)]:
            with pytest.raises((GraphcError, RuntimeError), match="cannot be converted to type"):
                T.tensor(data, dtype=dtype)
        with pytest.raises((GraphcError, RuntimeError), match="cannot be converted to type"):
            T.full((2,), 300, dtype=T.uint8)


def test_in_place_bit_and_logical_ops_keep_the_tensor_s_dtype(backend: str) -> None:
    def run(T: Any) -> list:
        x = T.tensor([200, 3, 15], dtype=T.uint8)
        x &= T.tensor([0xF0, 0xFF, 0x0F], dtype=T.uint8)
        x |= 1
        x ^= T.tensor([1, 2, 300], dtype=T.int16)  # int16 result, written back into uint8
        y = T.tensor([6, -7, 0], dtype=T.int16)
        y.bitwise_and_(12).bitwise_or_(T.tensor([1, 0, 0], dtype=T.int8)).bitwise_xor_(True)
        m = T.tensor([True, False, True])
        m &= T.tensor([True, True, False])
        f = T.tensor([0.0, 2.5, -1.0])
        f.logical_and_(T.tensor([1, 1, 0]))
        g = T.tensor([0.0, 2.5, -1.0])
        g.logical_or_(T.tensor([1, 0, 0])).logical_xor_(T.tensor([True, True, False]))
        h = T.tensor([0, 3, -2])
        h.logical_not_()
        return [x, y, m, f, g, h]

    assert_matches(run(graphc), run(torch))
    for T in (graphc, torch):
        with pytest.raises((GraphcError, RuntimeError, TypeError), match="bitwise_and"):
            T.tensor([1.0]) & 1
        with pytest.raises((GraphcError, RuntimeError), match="can't be cast"):
            T.tensor([True]).bitwise_or_(T.tensor([2]))


def test_a_uint8_index_is_a_deprecated_mask_and_int8_indices_are_refused() -> None:
    x, mask = graphc.arange(6.0).reshape(2, 3), np.array([1, 0], dtype=np.uint8)
    with pytest.warns(UserWarning, match="indexing with dtype uint8 is now deprecated"):
        got = x[graphc.tensor(mask), 1:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_matches(got, torch.arange(6.0).reshape(2, 3)[torch.tensor(mask), 1:])
    for T in (graphc, torch):
        with pytest.raises((GraphcError, IndexError), match="tensors used as indices must be"):
            T.arange(4.0)[T.tensor([1, 0], dtype=T.int8)]


def test_saved_loaded_collated_and_loaded_from_torch_state_dicts() -> None:
    tensors = {name: graphc.tensor(values(name)) for name in SMALL}
    buffer = io.BytesIO()
    graphc.save(tensors, buffer)
    buffer.seek(0)
    for name, loaded in graphc.load(buffer).items():
        assert loaded.dtype.name == name and np.array_equal(loaded.numpy(), values(name))
    images = [np.full((2, 2), i * 100, dtype=np.uint8) for i in range(3)]
    assert_matches(next(iter(DataLoader(images, batch_size=3))), torch.utils.data.default_collate(images))
    assert_matches(next(iter(DataLoader([graphc.tensor(a) for a in images], batch_size=3))), torch.from_numpy(np.stack(images)))
    module = graphc.nn.Module()
    module.register_buffer("lut", graphc.zeros(3, dtype=graphc.uint8))
    module.load_state_dict({"lut": torch.tensor([1, 2, 255], dtype=torch.uint8)})
    assert_matches(module.lut, torch.tensor([1, 2, 255], dtype=torch.uint8))


def test_compiled_functions_are_traced_again_for_another_small_int_dtype(backend: str) -> None:
    compiled = graphc.compile(lambda x: x + 100)
    for dtype in ("uint8", "int16", "uint8"):
        g, t = both(values(dtype))
        assert_matches(compiled(g), t + 100)


class Normalize(torch.nn.Module):
    """A module fed uint8 images, as torchvision's: converted, scaled, and thresholded in bits."""

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return image.float() / 255 - 0.5, (image & 0xF0) >> 4


def test_imported_module_takes_uint8_images(backend: str) -> None:
    image = torch.from_numpy(values("uint8", n=12).reshape(3, 4))
    compiled = graphc.compile(Normalize())
    for got, want in zip(compiled(image), Normalize()(image)):
        assert got.dtype == want.dtype and torch.allclose(got, want)


def test_gcd_and_lcm_run_euclid_long_enough_for_each_width() -> None:
    """Consecutive Fibonacci numbers take the most steps (233 and 144 in uint8: 11 of its 13). The
    dtype's least value and lcms past its range are left out (torch takes abs before wrapping them)."""
    gcds = {"uint8": [(233, 144), (255, 0), (0, 0)], "int8": [(89, -55), (-126, 18)], "int16": [(28657, -17711), (-32760, 6)]}
    for name, pairs in gcds.items():
        a, c = np.array(pairs, dtype=name).T
        assert_matches(graphc.gcd(graphc.tensor(a), graphc.tensor(c)), torch.gcd(torch.from_numpy(a), torch.from_numpy(c)))
        fits = np.abs(np.lcm(a.astype(np.int64), c.astype(np.int64))) <= np.iinfo(name).max
        assert_matches(graphc.lcm(graphc.tensor(a[fits]), graphc.tensor(c[fits])), torch.lcm(torch.from_numpy(a[fits]), torch.from_numpy(c[fits])))


def test_class_indices_and_counts_take_small_ints_where_torch_does() -> None:
    """uint8 class targets (torch's Byte targets) and bincount of any integer width; one_hot, embedding
    and index_select refuse them, as torch's."""
    logits = np.arange(12.0).reshape(4, 3) / 7
    target, counted = np.array([1, 0, 2, 2], dtype=np.uint8), np.array([3, 1, 3], dtype=np.int8)
    for reduction in ("mean", "none"):
        ours = graphc.nn.functional.cross_entropy(graphc.tensor(logits), graphc.tensor(target), reduction=reduction)
        assert_matches(ours, torch.nn.functional.cross_entropy(torch.tensor(logits), torch.from_numpy(target), reduction=reduction))
    assert_matches(graphc.bincount(graphc.tensor(counted), minlength=5), torch.bincount(torch.from_numpy(counted), minlength=5))
    for T in (graphc, torch):
        u = T.tensor([1, 0], dtype=T.uint8)
        for refused in (lambda: T.nn.functional.one_hot(u, 3), lambda: T.nn.functional.embedding(u, T.ones(3, 2)), lambda: T.index_select(T.ones(3), 0, u)):
            with pytest.raises((GraphcError, RuntimeError)):
                refused()


def test_shifts_by_every_amount_match_torch() -> None:
    """Up to and past the width, and negative amounts: uint8's longest right shift is 7 (200 >> 7 is 1)."""
    for name in SMALL:
        amounts = np.arange(0 if name == "uint8" else -2, 18)
        x, n = np.repeat(values(name), len(amounts)), np.tile(amounts, 6).astype(name)
        for shift in ("__lshift__", "__rshift__"):
            assert_matches(getattr(graphc.tensor(x), shift)(graphc.tensor(n)), getattr(torch.from_numpy(x), shift)(torch.from_numpy(n)))

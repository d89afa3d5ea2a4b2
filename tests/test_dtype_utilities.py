"""torch's dtype utilities (graphc/ir/dtype_info.py) against torch: finfo, iinfo, promote_types,
result_type and can_cast over every graphc dtype (so dtypes added to graphc/ir/dtypes.py are checked
too), and set_default_dtype, whose float64 and float16 defaults every constructor, Python-float
promotion, module parameter and optimizer step count must follow as torch's do."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch

import graphc
from graphc.ir.dtypes import ALL_DTYPES


@pytest.fixture
def restore_default_dtype() -> Iterator[None]:
    yield
    graphc.set_default_dtype(graphc.float32)
    torch.set_default_dtype(torch.float32)


def test_finfo_and_iinfo_give_torch_s_numbers_for_every_dtype() -> None:
    for dtype in ALL_DTYPES:
        theirs = getattr(torch, dtype.name)
        if dtype.is_floating_point:
            got, expected = graphc.finfo(dtype), torch.finfo(theirs)
            names = ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype")
        elif dtype.is_integer:
            got, expected = graphc.iinfo(dtype), torch.iinfo(theirs)
            names = ("bits", "max", "min", "dtype")
        else:
            for info in (torch.iinfo, torch.finfo):
                with pytest.raises(TypeError):
                    info(theirs)
            for info in (graphc.iinfo, graphc.finfo):
                with pytest.raises(TypeError, match="bool"):
                    info(dtype)
            continue
        for name in names:
            assert getattr(got, name) == getattr(expected, name), (dtype, name, getattr(got, name), getattr(expected, name))
            assert type(getattr(got, name)) is type(getattr(expected, name)), (dtype, name)
    assert graphc.finfo().dtype == "float32" and graphc.finfo(torch.float16).eps == torch.finfo(torch.float16).eps
    with pytest.raises(TypeError, match="floating point"):
        graphc.finfo(graphc.int32)
    with pytest.raises(TypeError, match="integer"):
        graphc.iinfo(graphc.float32)


def test_promote_types_and_can_cast_agree_with_torch_on_every_pair() -> None:
    for a, b in itertools.product(ALL_DTYPES, repeat=2):
        ta, tb = getattr(torch, a.name), getattr(torch, b.name)
        assert graphc.promote_types(a, b).name == str(torch.promote_types(ta, tb)).removeprefix("torch."), (a, b)
        assert graphc.can_cast(a, b) == torch.can_cast(ta, tb), (a, b)
    assert graphc.promote_types(torch.int32, "float16") == graphc.float16  # torch and named dtypes are taken too


RESULT_TYPE_CASES: dict[str, Callable[[Any], tuple[Any, Any]]] = {
    "int tensor, Python float": lambda T: (T.tensor([1]), 1.0),
    "Python int, Python float": lambda T: (2, 3.0),
    "0-d float64, float32 tensor": lambda T: (T.tensor(1.0, dtype=T.float64), T.tensor([1.0])),
    "0-d float64, int tensor": lambda T: (T.tensor(1.0, dtype=T.float64), T.tensor([1], dtype=T.int32)),
    "bool tensor, Python int": lambda T: (T.tensor([True]), 5),
    "float16 tensor, 0-d bfloat16": lambda T: (T.tensor([1.0], dtype=T.float16), T.tensor(1.0, dtype=T.bfloat16)),
    "int32 tensor, 0-d int64": lambda T: (T.tensor([1], dtype=T.int32), T.tensor(1)),
    "Python bool, Python bool": lambda T: (True, False),
}


@pytest.mark.parametrize("name", sorted(RESULT_TYPE_CASES))
def test_result_type_follows_torch_s_operand_priorities(name: str) -> None:
    make = RESULT_TYPE_CASES[name]
    assert graphc.result_type(*make(graphc)).name == str(torch.result_type(*make(torch))).removeprefix("torch.")


DEFAULT_DTYPE_CASES: dict[str, Callable[[Any], Any]] = {
    "tensor of floats": lambda T: T.tensor([1.0, 2.5]),
    "tensor of an empty list": lambda T: T.tensor([]),
    "tensor with an explicit float32": lambda T: T.tensor([1.0], dtype=T.float32),
    "zeros": lambda T: T.zeros(2),
    "ones": lambda T: T.ones(2, 1),
    "empty": lambda T: T.empty(3),
    "full of a float": lambda T: T.full((2,), 1.5),
    "rand": lambda T: T.rand(2),
    "randn": lambda T: T.randn(2),
    "normal with a size": lambda T: T.normal(0.0, 1.0, (2,)),
    "arange from 0.5": lambda T: T.arange(0.5, 3),
    "arange of ints": lambda T: T.arange(3),
    "linspace": lambda T: T.linspace(0, 1, 5),
    "eye": lambda T: T.eye(2),
    "int tensor plus a Python float": lambda T: T.tensor([1, 2]) + 1.5,
    "int tensor times a Python float": lambda T: T.tensor([3]) * 0.5,
    "float32 tensor plus a Python float": lambda T: T.tensor([1.0], dtype=T.float32) + 1.5,
    "sqrt of an int tensor": lambda T: T.sqrt(T.tensor([4, 9])),
    "true division of ints": lambda T: T.tensor([3]) / T.tensor([2]),
    "Linear's weight": lambda T: T.nn.Linear(2, 3).weight,
    "BatchNorm1d's running mean": lambda T: T.nn.BatchNorm1d(3).running_mean,
    "an empty Parameter": lambda T: T.nn.Parameter(),
    "the causal mask": lambda T: T.nn.Transformer.generate_square_subsequent_mask(3),
}


@pytest.mark.parametrize("default", ["float64", "float16"])
def test_set_default_dtype_is_followed_as_by_torch(default: str, restore_default_dtype: None) -> None:
    graphc.set_default_dtype(getattr(graphc, default))
    torch.set_default_dtype(getattr(torch, default))
    assert graphc.get_default_dtype() == getattr(graphc, default) and graphc.finfo().dtype == default
    for name, make in DEFAULT_DTYPE_CASES.items():
        got, expected = make(graphc), make(torch)
        assert got.dtype.name == str(expected.dtype).removeprefix("torch."), (name, got.dtype, expected.dtype)
        assert tuple(got.shape) == tuple(expected.shape), name
    assert graphc.compile(lambda x: x * 0.5)(graphc.tensor([1, 2])).dtype == getattr(graphc, default)


def test_default_dtype_reaches_the_optimizer_step_and_the_repr(restore_default_dtype: None) -> None:
    graphc.set_default_dtype(graphc.float64)
    torch.set_default_dtype(torch.float64)
    states = []
    for T in (graphc, torch):
        state_dtypes = {}
        for make in (T.optim.Adam, T.optim.ASGD, T.optim.NAdam):
            weight = T.nn.Parameter(T.ones(2))
            optimizer = make([weight])
            weight.grad = T.ones(2)
            optimizer.step()
            state_dtypes |= {f"{make.__name__}.{k}": str(v.dtype).split(".")[-1] for k, v in optimizer.state[weight].items()}
        states.append(state_dtypes)
    assert states[0] == states[1] and states[0]["ASGD.eta"] == "float64"
    assert "dtype" not in repr(graphc.tensor([1.5]))  # torch leaves out the default dtype
    assert "dtype=graphc.float32" in repr(graphc.tensor([1.5], dtype=graphc.float32))


def test_set_default_dtype_refuses_non_floating_dtypes(restore_default_dtype: None) -> None:
    with pytest.raises(TypeError):
        torch.set_default_dtype(torch.int32)
    with pytest.raises(TypeError, match="only floating-point types"):
        graphc.set_default_dtype(graphc.int32)
    assert graphc.get_default_dtype() == graphc.float32
    np.testing.assert_array_equal(graphc.tensor([1.5]).numpy(), np.array([1.5], np.float32))

"""Printing graphc tensors as torch prints the same values (graphc/runtime/printing.py), under every
set_printoptions option and profile; the dtype suffix differs only in its module name."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

import graphc

VALUES: dict[str, Callable[[Any], Any]] = {
    "fixed": lambda T: T.tensor([1.5, -2.0, 3.14159265]),
    "integers in floats": lambda T: T.tensor([[1.0, -20.0], [300.0, 4.0]]),
    "scientific by range": lambda T: T.tensor([[1e-5, 2.0]]),
    "scientific by size": lambda T: T.tensor([1e9, 1.5]),
    "non-finite": lambda T: T.tensor([1.0, 2.0, float("inf"), float("nan"), -float("inf")]),
    "all zero": lambda T: T.zeros(2, 3),
    "summarized vector": lambda T: T.arange(1000.0) / 7,
    "summarized matrix": lambda T: T.arange(2000).reshape(40, 50),
    "summarized 3-d": lambda T: T.arange(3000).reshape(10, 15, 20) * 0.5,
    "wrapped lines": lambda T: (T.arange(50) - 25).reshape(2, 25) / 7,
    "empty int64": lambda T: T.tensor([], dtype=T.int64),
    "empty 2-d": lambda T: T.zeros(2, 0),
    "0-d": lambda T: T.tensor(3.25),
    "bools": lambda T: T.tensor([True, False]),
    "int32": lambda T: T.tensor([[1, -2], [30, 4]], dtype=T.int32),
    "float64 requiring grad": lambda T: T.ones(2, 2, dtype=T.float64, requires_grad=True),
    "float16": lambda T: T.tensor([1.0, 2.5], dtype=T.float16),
    "bfloat16": lambda T: T.tensor([1.0, 2.5, 1e-3], dtype=T.bfloat16),
}

OPTIONS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "precision 2": {"precision": 2},
    "threshold 5": {"threshold": 5},
    "edgeitems 1 and threshold 10": {"edgeitems": 1, "threshold": 10},
    "linewidth 30": {"linewidth": 30},
    "sci_mode on": {"sci_mode": True},
    "sci_mode off": {"sci_mode": False},
    "short profile": {"profile": "short"},
    "full profile": {"profile": "full"},
    "no edge items": {"edgeitems": 0, "threshold": 4},
}


def _suffixes_joined(text: str) -> str:
    """The suffixes on the line of the values: "graphc.int64" is a character longer than "torch.int64", so under a short
    linewidth a suffix may move to the next line in one and not the other."""
    return re.sub(r",\s*\n\s*(dtype|requires_grad|size)=", r", \1=", text)


@pytest.fixture
def restore_print_options() -> Iterator[None]:
    yield
    graphc.set_printoptions(profile="default")
    torch.set_printoptions(profile="default")


@pytest.mark.parametrize("options", sorted(OPTIONS))
def test_tensors_print_as_torch_s(options: str, restore_print_options: None) -> None:
    graphc.set_printoptions(**OPTIONS[options])
    torch.set_printoptions(**OPTIONS[options])
    for name, make in VALUES.items():
        assert _suffixes_joined(repr(make(graphc))) == _suffixes_joined(repr(make(torch)).replace("torch.", "graphc.")), name
        assert str(make(graphc)) == repr(make(graphc))


def test_default_profile_restores_the_defaults(restore_print_options: None) -> None:
    graphc.set_printoptions(precision=1, threshold=3, linewidth=20, sci_mode=True)
    graphc.set_printoptions(profile="default")
    assert repr(graphc.tensor([1.12345])) == "tensor([1.1235])"
    with pytest.raises(ValueError, match="profile"):
        graphc.set_printoptions(profile="long")

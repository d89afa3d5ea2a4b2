"""Lowering an ATen op through the graphc front-end function that means the same thing.

Many torch functions are front-end composites in graphc (``prod``, ``cummax``, ``scatter``,
``cdist``, ``diagonal``, ...): their ATen ops are lowered by calling those functions on the IR
nodes, so each has one implementation, one set of gradients and one set of error messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphc.frontend.functional import node_of, wrap
from graphc.ir.graph import Node
from graphc.runtime.tensor import Tensor


def _tensor(value: Any) -> Any:
    return wrap(value) if isinstance(value, Node) else value


def call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` with IR nodes passed as graphc Tensors; its Tensor results as nodes."""
    result = function(*(_tensor(a) for a in args), **{k: _tensor(v) for k, v in kwargs.items()})
    if isinstance(result, tuple):
        return tuple(node_of(r) if isinstance(r, Tensor) else r for r in result)
    return node_of(result)

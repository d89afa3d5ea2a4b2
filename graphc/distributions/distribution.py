"""The base class of graphc's distributions: shapes, argument and value checks, and sample shapes.

Argument constraints are checked as torch checks them by default (``validate_args`` on), but only where
the values are known: eagerly, the check realizes the parameters (as ``.item()`` does); inside
``graphc.compile`` the values do not exist until the program runs, so the checks are skipped rather than
read (docs/decisions.md, "Distributions").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import graphc
from graphc.frontend import tracing
from graphc.runtime.tensor import Tensor

Check = Callable[[Tensor], Tensor]


class Distribution:
    """torch.distributions.Distribution's interface: ``batch_shape``, ``event_shape``, ``sample``, ``log_prob`` ..."""

    has_rsample = False
    _validate_default = True

    def __init__(self, batch_shape: Sequence[int] = (), event_shape: Sequence[int] = (), validate_args: bool | None = None) -> None:
        self._batch_shape = tuple(batch_shape)
        self._event_shape = tuple(event_shape)
        self._validate_args = self._validate_default if validate_args is None else bool(validate_args)

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        if value not in (True, False):
            raise ValueError("set_default_validate_args expects a bool")
        Distribution._validate_default = value

    @property
    def batch_shape(self) -> tuple:
        return self._batch_shape

    @property
    def event_shape(self) -> tuple:
        return self._event_shape

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no mean")

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no variance")

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """A draw without gradients: the reparameterized draw, detached, where there is one."""
        with graphc.no_grad():
            return self.rsample(sample_shape).detach()

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no rsample (its samples are not differentiable in its parameters)")

    def sample_n(self, n: int) -> Tensor:
        return self.sample((n,))

    def _extended_shape(self, sample_shape: Sequence[int] = ()) -> tuple:
        if isinstance(sample_shape, int):
            raise TypeError(f"sample_shape must be a tuple or torch.Size of ints, got the int {sample_shape}")
        return tuple(sample_shape) + self._batch_shape + self._event_shape

    def _repr_args(self) -> dict[str, Tensor]:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}: {_describe(v)}" for k, v in self._repr_args().items())
        return f"{type(self).__name__}({args})"

    def _check_argument(self, name: str, value: Tensor, constraint: str | Callable[[], str], check: Check) -> None:
        """torch's message for a parameter outside its constraint, when the values can be read (not inside a trace);
        a constraint whose text shows values is a callable, called only then."""
        if not self._validate_args or tracing.active() is not None:
            return
        if not bool(check(value).all().item()):
            raise ValueError(
                f"Expected parameter {name} (Tensor of shape {tuple(value.shape)}) of distribution {self!r} "
                f"to satisfy the constraint {constraint if isinstance(constraint, str) else constraint()}, but found invalid values:\n{value.numpy()}"
            )

    def _validate_sample(self, value: Tensor, support: str | Callable[[], str], check: Check) -> None:
        """torch's checks of a ``log_prob``/``cdf`` argument: its shape broadcasts with the batch, its values lie in the support."""
        if not self._validate_args:
            return
        if not isinstance(value, Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        event_dims = len(self._event_shape)
        if tuple(value.shape[len(value.shape) - event_dims :]) != self._event_shape:
            raise ValueError(f"The right-most size of value must match event_shape: {_size(value.shape)} vs {_size(self._event_shape)}.")
        actual, expected = tuple(value.shape)[: len(value.shape) - event_dims], self._batch_shape
        for i, j in zip(reversed(actual), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"Value is not broadcastable with batch_shape+event_shape: {_size(value.shape)} vs {_size(expected + self._event_shape)}.")
        if tracing.active() is None and not bool(check(value).all().item()):
            text = support if isinstance(support, str) else support()
            raise ValueError(
                f"Expected value argument (Tensor of shape {tuple(value.shape)}) to be within the support ({text}) "
                f"of the distribution {self!r}, but found invalid values:\n{value.numpy()}"
            )


def _size(shape: Sequence[int]) -> str:
    """A shape as torch prints it in these messages."""
    return f"torch.Size({list(shape)})"


def _describe(value: Any) -> str:
    if isinstance(value, Tensor) and len(value.shape) == 0 and tracing.active() is None:
        return str(float(value.item()))
    return f"torch.Size({list(value.shape)})" if isinstance(value, Tensor) else str(value)


def broadcast_all(*values: Any) -> tuple[Tensor, ...]:
    """torch's ``broadcast_all``: numbers become tensors of the tensors' dtype (the default float dtype if none), then all broadcast."""
    tensors = [v for v in values if isinstance(v, Tensor)]
    for v in values:
        if not isinstance(v, (Tensor, int, float)) or isinstance(v, bool):
            raise ValueError(f"Input arguments must all be instances of numbers.Number or graphc.Tensor, got {type(v).__name__}")
    dtype = tensors[0].dtype if tensors else graphc.float32
    converted = [v if isinstance(v, Tensor) else graphc.tensor(np.array(v), dtype=dtype) for v in values]
    return tuple(graphc.broadcast_tensors(*converted))


def is_real(x: Tensor) -> Tensor:
    """torch's ``constraints.real``: anything but NaN."""
    return x == x


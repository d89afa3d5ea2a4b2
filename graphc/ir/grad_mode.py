"""Whether newly recorded nodes track gradients (``graphc.no_grad`` turns it off), and inference mode.

graphc's ``inference_mode`` is ``no_grad`` that also marks the tensors made inside it
(``Tensor.is_inference()``): graphc has no version counters or view tracking for it to skip,
so it cannot be faster than no_grad, and it does not refuse inference tensors in autograd later.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class _State(threading.local):
    """Per thread; the class attributes are the defaults of a thread that never set them (reading a
    missing attribute with getattr's default raised and caught an AttributeError: 4 us on each op)."""

    enabled = True
    inference = False


_state = _State()


def is_grad_enabled() -> bool:
    return _state.enabled


def set_grad_enabled(enabled: bool) -> None:
    _state.enabled = enabled


@contextmanager
def grad_mode(enabled: bool) -> Iterator[None]:
    previous = is_grad_enabled()
    set_grad_enabled(enabled)
    try:
        yield
    finally:
        set_grad_enabled(previous)


def is_inference_mode_enabled() -> bool:
    return _state.inference


class inference_mode:  # noqa: N801 - torch's name
    """torch.inference_mode: a context manager and a decorator (``@inference_mode``, ``@inference_mode()``,
    ``@inference_mode(False)``) that turns gradient tracking off while ``mode`` is True."""

    def __new__(cls, mode: Any = True) -> Any:
        if callable(mode):  # the bare decorator: ``@inference_mode`` on a function
            return cls(True)(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True) -> None:
        self.mode = bool(mode)
        self._saved: list[tuple[bool, bool]] = []

    def __enter__(self) -> None:
        self._saved.append((is_grad_enabled(), is_inference_mode_enabled()))
        _state.inference = self.mode
        if self.mode:
            set_grad_enabled(False)

    def __exit__(self, *exc: object) -> None:
        grad, inference = self._saved.pop()
        set_grad_enabled(grad)
        _state.inference = inference

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        mode = self.mode

        @functools.wraps(func)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with inference_mode(mode):
                return func(*args, **kwargs)

        return wrapped

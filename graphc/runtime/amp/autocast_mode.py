"""``graphc.amp.autocast``: torch's autocast region, a context manager and a decorator.

The op policy itself is in ``graphc.frontend.autocast_policy`` (where the front-end ops apply it);
this only turns a device's region on and off, nesting as torch's does.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

from graphc.frontend import autocast_policy as policy
from graphc.ir import dtypes
from graphc.ir.dtypes import DType


class autocast:  # noqa: N801  (torch's name)
    """Inside the region, ops on torch's lower-precision list run in ``dtype`` (bfloat16 on the CPU and float16
    on CUDA by default), ops on its float32 list in float32, and "promote" ops in their widest input dtype."""

    def __init__(self, device_type: str, dtype: Any = None, enabled: bool = True, cache_enabled: bool | None = None) -> None:
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        self.device = policy._device(device_type)
        self.fast_dtype: DType = policy.get_autocast_dtype(self.device) if dtype is None else dtypes.to_dtype(dtype)
        self._enabled = bool(enabled)
        if self._enabled and self.device == "cuda" and not _cuda_available():
            warnings.warn("User provided device_type of 'cuda', but CUDA is not available. Disabling autocast.", stacklevel=2)
            self._enabled = False
        if self._enabled and self.fast_dtype not in policy.LOW_DTYPES:
            supported = ", ".join(d.name for d in policy.LOW_DTYPES)
            raise RuntimeError(
                f"In {self.device} autocast, but the target dtype is not supported: {self.fast_dtype.name} "
                f"(graphc.amp.autocast supports {supported})"
            )
        # A cast's cache, as torch's: graphc's casts are graph nodes that CSE merges within a program, so it is not kept.
        self._cache_enabled = cache_enabled
        self._previous: list[tuple[bool, DType]] = []

    def __enter__(self) -> autocast:
        self._previous.append(policy.set_autocast(self.device, self._enabled, self.fast_dtype))
        return self

    def __exit__(self, *exc: Any) -> None:
        enabled, dtype = self._previous.pop()
        policy.set_autocast(self.device, enabled, dtype)

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def decorated(*args: Any, **kwargs: Any) -> Any:
            with autocast(self.device, self.fast_dtype, self._enabled, self._cache_enabled):
                return fn(*args, **kwargs)

        return decorated


def _cuda_available() -> bool:
    """torch is graphc's CUDA allocator: without a CUDA build of it there is no CUDA data to autocast."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())

"""Process-wide settings: which backend realizes lazy tensors, whether programs are fused; how much graphc logs."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TypeVar

T = TypeVar("T")


@contextmanager
def _set_within(set_value: Callable[[T], None], value: T, previous: T) -> Iterator[None]:
    """``value`` inside the block, ``previous`` again after it (also when the block raises)."""
    set_value(value)
    try:
        yield
    finally:
        set_value(previous)

_backend = os.environ.get("GRAPHC_BACKEND", "numpy")


def default_backend() -> str:
    return _backend


def set_backend(name: str) -> None:
    """Choose the backend that realizes eager (lazy) tensor code: "numpy" or "triton"."""
    global _backend
    _backend = name


def use_backend(name: str) -> AbstractContextManager[None]:
    return _set_within(set_backend, name, _backend)


_fusion = os.environ.get("GRAPHC_FUSION", "1").strip().lower() not in ("0", "false", "no", "off")


def default_fusion() -> bool:
    """Whether eager code's programs, and ``graphc.compile`` without ``fusion=``, are fused (``GRAPHC_FUSION``, on)."""
    return _fusion


def set_fusion(enabled: bool) -> None:
    global _fusion
    _fusion = enabled


def use_fusion(enabled: bool) -> AbstractContextManager[None]:
    """Fuse (True) or run one kernel per op (False) inside the block: a result that changes with fusion is a bug."""
    return _set_within(set_fusion, enabled, _fusion)


def debug_level() -> int:
    """``GRAPHC_DEBUG``: 0 quiet, 1 logs every compile and recompile, 2 also prints the generated code."""
    value = os.environ.get("GRAPHC_DEBUG", "0").strip()
    if value.isdigit():
        return int(value)
    return 0 if value.lower() in ("", "false", "no", "off") else 1

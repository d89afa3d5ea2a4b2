"""Process-wide settings: which backend realizes lazy tensors, whether programs are fused; how much graphc logs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

_backend = os.environ.get("GRAPHC_BACKEND", "numpy")


def default_backend() -> str:
    return _backend


def set_backend(name: str) -> None:
    """Choose the backend that realizes eager (lazy) tensor code: "numpy" or "triton"."""
    global _backend
    _backend = name


@contextmanager
def use_backend(name: str) -> Iterator[None]:
    previous = _backend
    set_backend(name)
    try:
        yield
    finally:
        set_backend(previous)


_fusion = os.environ.get("GRAPHC_FUSION", "1").strip().lower() not in ("0", "false", "no", "off")


def default_fusion() -> bool:
    """Whether eager code's programs, and ``graphc.compile`` without ``fusion=``, are fused (``GRAPHC_FUSION``, on)."""
    return _fusion


def set_fusion(enabled: bool) -> None:
    global _fusion
    _fusion = enabled


@contextmanager
def use_fusion(enabled: bool) -> Iterator[None]:
    """Fuse (True) or run one kernel per op (False) inside the block: a result that changes with fusion is a bug."""
    previous = _fusion
    set_fusion(enabled)
    try:
        yield
    finally:
        set_fusion(previous)


def debug_level() -> int:
    """``GRAPHC_DEBUG``: 0 quiet, 1 logs every compile and recompile, 2 also prints the generated code."""
    value = os.environ.get("GRAPHC_DEBUG", "0").strip()
    if value.isdigit():
        return int(value)
    return 0 if value.lower() in ("", "false", "no", "off") else 1

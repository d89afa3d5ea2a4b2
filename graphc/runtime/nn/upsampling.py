"""torch's deprecated spellings of ``F.interpolate``: ``F.upsample``, ``F.upsample_nearest``,
``F.upsample_bilinear`` (with ``align_corners=True``), and the modules ``nn.UpsamplingNearest2d``
and ``nn.UpsamplingBilinear2d``. They warn as torch's do and compute exactly ``interpolate``."""

from __future__ import annotations

import warnings
from typing import Any

from graphc.runtime.nn.shuffle import Upsample
from graphc.runtime.tensor import Tensor


def _interpolate(*args: Any, **kwargs: Any) -> Tensor:
    from graphc.runtime.nn.functional import interpolate

    return interpolate(*args, **kwargs)


def upsample(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest", align_corners: bool | None = None) -> Tensor:
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2)
    return _interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2)
    return _interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:
    """Bilinear with the corners aligned: torch kept this function's old behaviour when ``interpolate``'s default changed."""
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2)
    return _interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


class UpsamplingNearest2d(Upsample):
    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling with ``align_corners=True``, as torch's module."""

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)

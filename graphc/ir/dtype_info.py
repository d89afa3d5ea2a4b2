"""torch's dtype utilities: finfo, iinfo, promote_types, result_type, can_cast and the default dtype.

Every answer comes from the dtype itself (NumPy's and ml_dtypes' tables of its numbers, the
promotion rules of graphc/ir/dtypes.py), so a dtype added there is covered here with no change.
The default dtype is ``dtypes.DEFAULT_FLOAT``, which every constructor, Python-float promotion
and parameter initialisation reads when it runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.ir import dtypes
from graphc.ir.dtypes import DType


def _numpy_finfo(dtype: DType) -> Any:
    import ml_dtypes

    return ml_dtypes.finfo(dtype.numpy)


class finfo:  # noqa: N801 - torch's name
    """The numbers of a floating dtype, with torch's attribute names (the default dtype's when none is given)."""

    def __init__(self, type: Any = None) -> None:
        dtype = get_default_dtype() if type is None else dtypes.to_dtype(type)
        if not dtype.is_floating_point:
            raise TypeError(f"graphc.finfo() requires a floating point input type, got {dtype.name}; use graphc.iinfo for it")
        info = _numpy_finfo(dtype)
        self.bits: int = 8 * dtype.itemsize
        self.eps: float = float(info.eps)
        self.max: float = float(info.max)
        self.min: float = float(info.min)
        self.tiny: float = float(info.smallest_normal)
        self.smallest_normal: float = self.tiny
        self.resolution: float = 10.0 ** -int(info.precision)
        self.dtype: str = dtype.name

    def __repr__(self) -> str:
        fields = ("resolution", "min", "max", "eps", "smallest_normal", "tiny")
        return "finfo(" + ", ".join(f"{name}={getattr(self, name):g}" for name in fields) + f", dtype={self.dtype})"


class iinfo:  # noqa: N801 - torch's name
    """The range of an integer dtype, with torch's attribute names."""

    def __init__(self, type: Any) -> None:
        dtype = dtypes.to_dtype(type)
        if not dtype.is_integer:
            raise TypeError(f"graphc.iinfo() requires an integer input type, got {dtype.name}; use graphc.finfo for floats (bool has neither)")
        info = np.iinfo(dtype.numpy)
        self.bits: int = int(info.bits)
        self.max: int = int(info.max)
        self.min: int = int(info.min)
        self.dtype: str = dtype.name

    def __repr__(self) -> str:
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"


def promote_types(type1: Any, type2: Any) -> DType:
    """The dtype both promote to, as torch.promote_types (float16 and bfloat16 meet at float32)."""
    return dtypes.promote_types(dtypes.to_dtype(type1), dtypes.to_dtype(type2))


def result_type(tensor1: Any, tensor2: Any) -> DType:
    """The dtype of an arithmetic op on the two operands: tensors with dimensions before 0-d ones before Python numbers."""
    from graphc.runtime.tensor import Tensor

    classes: tuple[list[DType], list[DType], list[DType]] = ([], [], [])
    for operand in (tensor1, tensor2):
        if isinstance(operand, Tensor):
            classes[0 if operand.ndim else 1].append(operand.dtype)
        elif isinstance(operand, (bool, int, float, np.bool_, np.integer, np.floating)):
            classes[2].append(dtypes.scalar_dtype(operand.item() if isinstance(operand, np.generic) else operand))
        else:
            raise TypeError(f"result_type takes tensors and numbers, got {type(operand).__name__}")
    return dtypes.result_type(*classes)


def can_cast(from_: Any, to: Any) -> bool:
    """torch's canCast: no floating -> integer and nothing but bool -> bool (its in-place ops refuse those)."""
    return dtypes.to_dtype(from_).category <= dtypes.to_dtype(to).category


def get_default_dtype() -> DType:
    return dtypes.DEFAULT_FLOAT


def set_default_dtype(d: Any) -> None:
    """The float dtype of Python floats and of tensors made without a dtype (float32 at start), as torch.set_default_dtype."""
    dtype = dtypes.to_dtype(d)
    if not dtype.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {dtype.name}")
    dtypes.DEFAULT_FLOAT = dtype

"""Dtypes and PyTorch's type-promotion rules.

graphc promises results with the same dtype as eager PyTorch, so promotion is a
transcription of c10's ``promoteTypes`` and ``ResultTypeState``: tensors with
dimensions win over 0-d tensors, which win over Python scalars, unless the
weaker operand is of a higher *category* (bool < integer < floating).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DType:
    name: str
    short: str
    category: int  # 0 bool, 1 integer, 2 floating
    itemsize: int

    def __repr__(self) -> str:
        return f"graphc.{self.name}"

    @property
    def is_floating_point(self) -> bool:
        return self.category == 2

    @property
    def is_integer(self) -> bool:
        return self.category == 1

    @property
    def is_signed(self) -> bool:
        """uint8 and bool are torch's unsigned dtypes."""
        return self.category != 0 and not self.name.startswith("uint")

    @property
    def bounds(self) -> tuple[int, int]:
        """The least and greatest value of an integer dtype, which its arithmetic wraps around."""
        bits = 8 * self.itemsize
        return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if self.is_signed else (0, 2**bits - 1)

    @property
    def numpy(self) -> np.dtype:
        if self.name == "bfloat16":
            import ml_dtypes

            return np.dtype(ml_dtypes.bfloat16)
        return np.dtype(self.name if self.name != "bool" else np.bool_)

    @property
    def torch(self):  # noqa: ANN201 - torch is imported lazily
        import torch

        return getattr(torch, self.name)


bool_ = DType("bool", "b8", 0, 1)
uint8 = DType("uint8", "u8", 1, 1)
int8 = DType("int8", "i8", 1, 1)
int16 = DType("int16", "i16", 1, 2)
int32 = DType("int32", "i32", 1, 4)
int64 = DType("int64", "i64", 1, 8)
float16 = DType("float16", "f16", 2, 2)
bfloat16 = DType("bfloat16", "bf16", 2, 2)
float32 = DType("float32", "f32", 2, 4)
float64 = DType("float64", "f64", 2, 8)

ALL_DTYPES: tuple[DType, ...] = (bool_, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)
BY_NAME: dict[str, DType] = {d.name: d for d in ALL_DTYPES} | {d.short: d for d in ALL_DTYPES}

DEFAULT_FLOAT = float32


def to_dtype(value: object) -> DType:
    """Accept a graphc dtype, a torch dtype, a numpy dtype or a name."""
    if isinstance(value, DType):
        return value
    if isinstance(value, str):
        key = value.removeprefix("torch.").removeprefix("graphc.")
        if key in BY_NAME:
            return BY_NAME[key]
        aliases = {"float": float32, "double": float64, "half": float16, "long": int64, "int": int32, "short": int16}
        if key in aliases:
            return aliases[key]
        raise TypeError(f"unknown dtype {value!r}")
    if value is bool:
        return bool_
    if value is int:
        return int64
    if value is float:  # torch's reading of Python's float: double precision
        return float64
    module = type(value).__module__
    if module.startswith("torch"):
        return to_dtype(str(value))
    np_dtype = np.dtype(value)  # type: ignore[call-overload]
    if np_dtype.name == "bfloat16":
        return bfloat16
    if np_dtype == np.bool_:
        return bool_
    if np_dtype.name in BY_NAME:
        return BY_NAME[np_dtype.name]
    raise TypeError(f"graphc has no dtype for {value!r}")


def promote_types(a: DType, b: DType) -> DType:
    """c10::promoteTypes for the dtypes graphc has."""
    if a == b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    if {a, b} == {float16, bfloat16}:
        return float32
    if {a, b} == {uint8, int8}:
        return int16  # the smallest dtype holding both ranges
    return a if a.itemsize > b.itemsize else b


def scalar_dtype(value: bool | int | float) -> DType:
    """The dtype a Python number takes when it meets a tensor (a 'wrapped number')."""
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return int64
    return DEFAULT_FLOAT


def _combine_categories(higher: DType | None, lower: DType | None) -> DType | None:
    if higher is None:
        return lower
    if lower is None:
        return higher
    if higher.is_floating_point:
        return higher
    if higher == bool_ or lower.is_floating_point:
        return promote_types(higher, lower)
    return higher


def result_type(dim_tensors: list[DType], zero_dim_tensors: list[DType], scalars: list[DType]) -> DType:
    """torch.result_type over operands split by priority class."""

    def fold(dtypes: list[DType]) -> DType | None:
        result = None
        for d in dtypes:
            result = d if result is None else promote_types(result, d)
        return result

    combined = _combine_categories(fold(dim_tensors), _combine_categories(fold(zero_dim_tensors), fold(scalars)))
    assert combined is not None, "result_type needs at least one operand"
    return combined

"""Creating tensors: from data, filled, random, ranges; dtypes inferred as torch infers them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import sympy

from graphc.errors import GraphcError
from graphc.frontend import symbolic_sizes, tracing
from graphc.frontend.spacing import linspace_values, logspace_values
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.registry import emit
from graphc.ir.types import Dim
from graphc.runtime import random
from graphc.runtime.tensor import Tensor


def _element_dtype(value: Any) -> dtypes.DType:
    if isinstance(value, (bool, np.bool_)):
        return dtypes.bool_
    if isinstance(value, (np.generic, Tensor)) or type(value).__module__.startswith("torch"):
        try:
            return dtypes.to_dtype(value.dtype)
        except TypeError:  # NumPy dtypes graphc lacks (uint16, uint32, ...)
            return dtypes.float32 if np.dtype(value.dtype).kind == "f" else dtypes.int64
    if isinstance(value, int):
        return dtypes.int64
    return dtypes.DEFAULT_FLOAT


def _infer_dtype(data: Any) -> dtypes.DType:
    """torch.tensor's rule for Python data: promote the elements' dtypes, where a Python float is
    the default dtype (float32 unless set_default_dtype), an int int64 and a bool bool, and a NumPy
    scalar keeps its dtype ([np.float64(1)] is float64)."""
    flat = np.asarray(data, dtype=object).ravel()
    result = None
    for value in flat:
        d = _element_dtype(value)
        result = d if result is None else dtypes.promote_types(result, d)
    return dtypes.DEFAULT_FLOAT if result is None else result


def as_array(data: Any, dtype: Any = None, default_float: bool = False) -> np.ndarray:
    if isinstance(data, Tensor):
        array = data.numpy()
    elif type(data).__module__.startswith("torch"):
        array = data.detach().cpu().numpy() if data.dtype.__repr__() != "torch.bfloat16" else data.detach().cpu().float().numpy().astype(dtypes.bfloat16.numpy)
    elif isinstance(data, (np.ndarray, np.generic)):
        array = np.asarray(data)
    else:
        inferred = dtypes.DEFAULT_FLOAT if default_float else _infer_dtype(data)
        array = np.asarray(data, dtype=inferred.numpy if dtype is None else None)
        if dtype is not None:
            _check_fits(array, dtypes.to_dtype(dtype))
    if array.dtype.kind == "c":
        raise GraphcError(f"graphc has no complex dtypes: got an array of {array.dtype.name} (take .real/.imag, or abs(), first)")
    if array.dtype == np.uint64 and array.size and array.max() > np.iinfo(np.int64).max:
        raise GraphcError("graphc has no uint64: values above 2**63 - 1 would wrap in int64")
    if dtype is not None:
        target = dtypes.to_dtype(dtype)
        if target.is_integer and array.dtype.kind == "f":
            array = array.astype(np.int64)  # truncated toward zero, then wrapped as the cast primitive does
        array = array.astype(target.numpy)
    elif array.dtype.name not in dtypes.BY_NAME and array.dtype.name != "bfloat16":
        array = array.astype(np.float32 if array.dtype.kind == "f" else np.int64)
    return np.array(array, order="C", copy=True)


def _check_fits(array: np.ndarray, dtype: dtypes.DType) -> None:
    """torch.tensor's overflow check of Python numbers given an integer dtype: [300] as uint8 is refused, not wrapped."""
    if not dtype.is_integer or not array.size or array.dtype.kind not in "iuf":
        return
    low, high = dtype.bounds
    if array.dtype.kind != "f" and not dtype.is_signed:
        low = -high  # c10's checked conversion takes a negative integer into an unsigned dtype: [-1] is [255]
    if not (array.min() >= low and array.max() <= high):  # NaN fails too
        raise GraphcError(f"value cannot be converted to type {dtype.name} without overflow")


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    array = as_array(data, dtype)
    result = Tensor(array, requires_grad=requires_grad) if device in (None, "cpu") else Tensor(array).to(device).requires_grad_(requires_grad)
    return result


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    return data if isinstance(data, Tensor) and dtype is None else tensor(data, dtype, device)


def from_numpy(array: np.ndarray) -> Tensor:
    if not isinstance(array, np.ndarray):
        raise GraphcError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)  # not np.ascontiguousarray: it turns a 0-d array into shape (1,)


def _shape(size: Sequence[Any]) -> tuple[Dim, ...]:
    """The sizes as ints, or as size expressions where the traced function passed its own symbolic sizes (``x.size(0)``)."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    size = symbolic_sizes.dims(tuple(size))
    for d in size:
        if isinstance(d, sympy.Expr):
            continue
        if not isinstance(d, (int, np.integer)) or d < 0:
            raise GraphcError(f"sizes must be non-negative ints, got {tuple(size)}")
    return tuple(d if isinstance(d, sympy.Expr) else int(d) for d in size)


def _filled(shape: tuple[Any, ...], value: Any, dtype: Any, requires_grad: bool, device: Any = None) -> Tensor:
    d = dtypes.to_dtype(dtype) if dtype is not None else dtypes.scalar_dtype(value)
    if not all(isinstance(size, int) for size in shape):
        # A size that is the batch symbol B (``zeros_like(x)`` inside graphc.compile): a broadcast
        # constant in the graph, so the program stays one for every batch size.
        return Tensor._from_node(b.full(shape, value, d)).requires_grad_(requires_grad)
    return tensor(np.full(shape, as_array(value, d), dtype=d.numpy), device=device, requires_grad=requires_grad)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _filled(_shape(size), 0, dtype or dtypes.DEFAULT_FLOAT, requires_grad, device)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _filled(_shape(size), 1, dtype or dtypes.DEFAULT_FLOAT, requires_grad, device)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size: Sequence[int], fill_value: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _filled(_shape((size,)), fill_value, dtype, requires_grad, device)


def _like(x: Tensor, dtype: Any) -> tuple[tuple, Any]:
    return tuple(x.shape), dtype or x.dtype


def zeros_like(input: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    shape, d = _like(input, dtype)
    return _filled(shape, 0, d, requires_grad, input.device)


def ones_like(input: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    shape, d = _like(input, dtype)
    return _filled(shape, 1, d, requires_grad, input.device)


def empty_like(input: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return zeros_like(input, dtype, requires_grad)


def full_like(input: Tensor, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    shape, d = _like(input, dtype)
    return _filled(shape, fill_value, d, requires_grad, input.device)


# Inside a graphc.compile trace, random numbers are graph ops (``rand`` nodes whose seeds are drawn
# again on every call), not NumPy draws, which the program would replay as constants.


def _traced(op: str, generator: Any) -> bool:
    """Whether ``op`` runs inside a trace or a vmap (and so must draw in the graph)."""
    if tracing.active() is None:
        return tracing.random_in_graph() and generator is None
    if generator is not None:
        raise GraphcError(f"{op}(generator=...) inside a compiled function: its draws would be replayed on every call; draw outside and pass the tensor in")
    return True


def _drawn(samples: Tensor, requires_grad: bool) -> Tensor:
    """Samples drawn in the graph, a leaf only when asked: making one outside graphc.compile computes it, and
    vmap's samples must stay in its graph until its ``randomness`` has decided how the batch draws them."""
    return samples.requires_grad_(True) if requires_grad else samples


def _uniform(size: Sequence[Any], dtype: dtypes.DType) -> Tensor:
    from graphc.frontend.functional import rand_uniform

    return rand_uniform(_shape(size), dtype)


def rand(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, generator: Any = None) -> Tensor:
    d = dtypes.to_dtype(dtype or dtypes.DEFAULT_FLOAT)
    if _traced("rand", generator):
        return _drawn(_uniform(size, d), requires_grad)
    values = (generator or random.generator()).random(_shape(size))
    return tensor(values.astype(d.numpy), device=device, requires_grad=requires_grad)


def randn(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, generator: Any = None) -> Tensor:
    d = dtypes.to_dtype(dtype or dtypes.DEFAULT_FLOAT)
    if _traced("randn", generator):
        # Box-Muller on two uniform draws; 1 - u is in (0, 1], so the log is finite.
        radius = ((1 - _uniform(size, d)).log() * -2).sqrt()
        return _drawn(radius * (_uniform(size, d) * (2 * np.pi)).cos(), requires_grad)
    values = (generator or random.generator()).standard_normal(_shape(size))
    return tensor(values.astype(d.numpy), device=device, requires_grad=requires_grad)


def randint(low: int, high: int | None = None, size: Sequence[int] = (), dtype: Any = None, device: Any = None, generator: Any = None) -> Tensor:
    if high is None:
        low, high = 0, low
    d = dtypes.to_dtype(dtype or dtypes.int64)
    if _traced("randint", generator):
        # u < 1 in float64, so low + trunc(u * (high - low)) < high for any range below 2**53.
        return (_uniform(tuple(size), dtypes.float64) * (high - low)).to(d) + low
    values = (generator or random.generator()).integers(low, high, size=tuple(size))
    return tensor(values.astype(d.numpy), device=device)


def randperm(n: int, dtype: Any = None, device: Any = None, generator: Any = None) -> Tensor:
    d = dtypes.to_dtype(dtype or dtypes.int64)
    if _traced("randperm", generator):
        from graphc.frontend.sorting import argsort

        # The order of n uniform float64 draws: every permutation alike (a tie, at about n² / 2**54, keeps the positions' order).
        return argsort(_uniform((n,), dtypes.float64)).to(d)
    return tensor((generator or random.generator()).permutation(n).astype(d.numpy), device=device)


def rand_like(input: Tensor, dtype: Any = None) -> Tensor:
    return rand(*input.shape, dtype=dtype or input.dtype, device=input.device)


def randn_like(input: Tensor, dtype: Any = None) -> Tensor:
    return randn(*input.shape, dtype=dtype or input.dtype, device=input.device)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = dtypes.DEFAULT_FLOAT if any(isinstance(v, float) for v in (start, end, step)) else dtypes.int64
    d = dtypes.to_dtype(dtype)
    symbolic = [v for v in (start, end, step) if isinstance(v, symbolic_sizes.SymbolicSize)]
    if symbolic:
        return _symbolic_arange(start, end, step, d, symbolic[0]).requires_grad_(requires_grad)
    return tensor(np.arange(start, end, step).astype(d.numpy), device=device, requires_grad=requires_grad)


def _symbolic_arange(start: Any, end: Any, step: Any, dtype: dtypes.DType, size: symbolic_sizes.SymbolicSize) -> Tensor:
    """``arange(x.size(0))`` in a trace: indices of a symbolic count, so the batch stays symbolic. A count
    that is not a whole size for every batch size (a float or symbolic step) needs the number."""
    if not all(isinstance(v, (int, symbolic_sizes.SymbolicSize)) for v in (start, end)) or not isinstance(step, int) or step <= 0:
        return size._specialize("arange() with a float, symbolic or negative step")
    count = (end - start) // step  # whole for every batch size, or the size specializes
    count = count if count >= 0 else 0
    positions = Tensor._from_node(emit("iota", shape=(symbolic_sizes.dims(count),), axis=0, dtype=dtypes.int64))
    return (positions * step + start).to(dtype)


def linspace(start: float, end: float, steps: int, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """torch's CPU values, element for element (graphc/frontend/spacing.py)."""
    d = dtypes.to_dtype(dtype or dtypes.DEFAULT_FLOAT)
    return tensor(linspace_values(_number(start), _number(end), steps, d), device=device, requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return tensor(np.eye(n, m).astype(dtypes.to_dtype(dtype or dtypes.DEFAULT_FLOAT).numpy), device=device, requires_grad=requires_grad)


def logspace(start: float, end: float, steps: int, base: float = 10.0, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """``base ** linspace(start, end, steps)``, in the default dtype unless given."""
    d = dtypes.to_dtype(dtype or dtypes.DEFAULT_FLOAT)
    return tensor(logspace_values(_number(start), _number(end), steps, base, d), device=device, requires_grad=requires_grad)


def _number(value: Any) -> float:
    """A range end given as a Python number or a 0-d tensor, as torch accepts both."""
    return value.item() if isinstance(value, Tensor) or type(value).__module__.startswith("torch") else value


def range(start: float, end: float, step: float = 1, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """torch.range (deprecated there too): like arange but ``end`` included, in the default dtype unless given."""
    import warnings

    warnings.warn("graphc.range is deprecated, as torch.range: its end is included; use graphc.arange, which stops before it", UserWarning, stacklevel=2)
    if step == 0 or (end - start) * step < 0:
        raise GraphcError(f"range: upper bound and lower bound inconsistent with step sign (start={start}, end={end}, step={step})")
    count = int(np.floor((end - start) / step)) + 1
    d = dtypes.to_dtype(dtype or dtypes.DEFAULT_FLOAT)
    return tensor((start + np.arange(count) * step).astype(d.numpy), device=device, requires_grad=requires_grad)


def scalar_tensor(s: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A 0-d tensor of ``s``, in the default dtype unless given (also for ints and bools, as torch's)."""
    value = s.item() if isinstance(s, Tensor) else s
    return tensor(np.array(value, dtype=dtypes.to_dtype(dtype or dtypes.DEFAULT_FLOAT).numpy), device=device, requires_grad=requires_grad)


def asarray(obj: Any, *, dtype: Any = None, device: Any = None, copy: bool | None = None, requires_grad: bool = False) -> Tensor:
    """``obj`` as a tensor: a graphc tensor of the dtype asked for is returned itself unless ``copy=True``
    (graphc tensors are values, so sharing is all torch's no-copy promise means here); other data is copied."""
    if isinstance(obj, Tensor):
        same = dtype is None or dtypes.to_dtype(dtype) == obj.dtype
        if copy is False and not same:
            raise GraphcError(f"asarray(copy=False) of a {obj.dtype.name} tensor as {dtypes.to_dtype(dtype).name} would need a copy")
        result = obj if same and not copy else obj.clone().to(dtype or obj.dtype)
        if device is not None:
            result = result.to(device)
        return result.requires_grad_(True) if requires_grad and not result.requires_grad else result
    return tensor(obj, dtype=dtype, device=device, requires_grad=requires_grad)


def _triangle_indices(row: int, col: int, offset: int, dtype: Any, device: Any, lower: bool) -> Tensor:
    if row < 0 or col < 0:
        raise GraphcError(f"{'tril' if lower else 'triu'}_indices: row and col must be non-negative, got row={row}, col={col}")
    rows, cols = (np.tril_indices if lower else np.triu_indices)(row, offset, col)
    return tensor(np.stack([rows, cols]).astype(dtypes.to_dtype(dtype or dtypes.int64).numpy).reshape(2, -1), device=device)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None, device: Any = None) -> Tensor:
    """The (row, column) coordinates of a row x col matrix's lower triangle, row by row, as a 2 x N tensor."""
    return _triangle_indices(row, col, offset, dtype, device, lower=True)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None, device: Any = None) -> Tensor:
    """The (row, column) coordinates of a row x col matrix's upper triangle, row by row, as a 2 x N tensor."""
    return _triangle_indices(row, col, offset, dtype, device, lower=False)

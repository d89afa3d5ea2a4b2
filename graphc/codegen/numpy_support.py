"""Helpers that generated NumPy programs call for ops NumPy has no single function for."""

from __future__ import annotations

import itertools
import math
import os
import queue
import sys
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from graphc.codegen.numpy_ldl import ldl_factor, ldl_solve  # noqa: F401  (generated code calls them as rt.<op>)
from graphc.codegen.numpy_linalg import cholesky, lu, matrix_exp, slogdet, solve, solve_triangular  # noqa: F401  (generated code calls them as rt.<op>)


def bfloat16() -> np.dtype:
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16)


def materialize(value: np.ndarray) -> np.ndarray:
    """A program's outputs are plain writable arrays, never read-only broadcast views."""
    if type(value) is not np.ndarray:
        value = np.asarray(value)
    flags = value.flags  # a new object on every read of .flags
    if flags.writeable and flags.c_contiguous:
        return value
    return np.array(value, order="C")


def copy(value: np.ndarray) -> np.ndarray:
    """A returned view gets its own memory: it may view an arena buffer the next call overwrites."""
    return np.array(value, order="C", copy=True)


# Kernel outputs outside the memory plan (a program's results) of at least RECYCLE_BYTES are
# double-buffered per output (`output`). glibc maps blocks over 32 MiB afresh on every allocation
# and the kernel zeroes each new page: an Adam step over 10M parameters, which returns three new
# 40 MB arrays, took 18.6 ms allocating them fresh and 10.3 ms with that memory reused. The pool
# holds at most RECYCLE_LIMIT bytes and forgets the outputs used longest ago first.
RECYCLE_BYTES = 1 << 25
RECYCLE_LIMIT = 1 << 31
_recycled: OrderedDict[tuple, list[np.ndarray]] = OrderedDict()  # least recently used first
_recycled_bytes = 0
# The generated code names dtypes by their NumPy scalar types: np.dtype() of one took 1 us of each output's 2.
_DTYPES: dict[type | np.dtype, np.dtype] = {}


def output(shape: tuple, dtype: type | np.dtype, site: tuple) -> np.ndarray:
    """Memory for the kernel output ``site`` (program, variable) outside the plan.

    A program's results become the caller's tensors (new weights, optimizer state), which
    hold them until the next step replaces them. So a large output keeps two arrays: the
    one the caller holds, and the one it let go of, written again. An array is handed out
    again only when this pool holds the sole reference to it (views and torch tensors made
    from it hold references too), so it never changes under anyone; when the caller holds
    both, the output gets a new array outside the pool.
    """
    global _recycled_bytes
    resolved = _DTYPES.get(dtype)
    if resolved is None:  # not `or`: a dtype without fields is falsy (its len() is 0)
        resolved = _DTYPES[dtype] = np.dtype(dtype)
    dtype = resolved
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < RECYCLE_BYTES:
        return np.empty(shape, dtype)
    key = (site, shape, dtype.str)
    arrays = _recycled.setdefault(key, [])
    _recycled.move_to_end(key)
    for i in range(len(arrays)):
        if sys.getrefcount(arrays[i]) == 2:  # the list's reference and getrefcount's argument
            return arrays[i]
    array = np.empty(shape, dtype)
    if len(arrays) < 2:
        # Forget the outputs used longest ago (whoever holds one keeps it), never this one's.
        while _recycled_bytes + nbytes > RECYCLE_LIMIT and next(iter(_recycled)) != key:
            _, forgotten = _recycled.popitem(last=False)
            _recycled_bytes -= sum(a.nbytes for a in forgotten)
        if _recycled_bytes + nbytes <= RECYCLE_LIMIT:
            arrays.append(array)
            _recycled_bytes += nbytes
    return array


_arenas: dict[tuple, list[np.ndarray]] = {}


def aligned_bytes(count: int, align: int) -> np.ndarray:
    """``count`` bytes starting at a multiple of ``align``.

    The plan's offsets are multiples of 64 from the arena's start, but NumPy aligns an
    allocation to 16 bytes only. So every buffer sat 16, 32 or 48 bytes past a cache line,
    and each AVX-512 load or store of a C loop touched two lines.
    """
    memory = np.empty(count + align, dtype=np.uint8)
    start = -memory.ctypes.data % align
    return memory[start : start + count]


def arena(layout: Callable[..., list[tuple]], *sizes: int) -> list[np.ndarray]:
    """Views into one arena for a program's planned buffers at these sizes (allocated once).

    ``layout(*sizes)`` lists (shape, dtype, first kernel, last kernel, reused buffer) per
    buffer, as ``graphc.passes.memory`` planned them; offsets come from the same greedy
    assignment. The cache is keyed by the program's layout function and the sizes, so a
    replayed call costs one dictionary lookup.
    """
    key = (layout, sizes)
    views = _arenas.get(key)
    if views is None:
        from graphc.passes.memory import ALIGN, arena_layout

        buffers = layout(*sizes)
        offsets, nbytes, total = arena_layout(buffers, [np.dtype(dtype).itemsize for _, dtype, *_ in buffers])
        memory = aligned_bytes(total, ALIGN)
        views = [memory[o : o + n].view(dtype).reshape(shape) for (shape, dtype, *_), o, n in zip(buffers, offsets, nbytes)]
        _arenas[key] = views
    return views


def pad(x: np.ndarray, low: tuple, high: tuple, interior: tuple, value: float) -> np.ndarray:
    shape = tuple(lo + (d + (d - 1) * mid if d else 0) + hi for d, lo, hi, mid in zip(x.shape, low, high, interior))
    out = np.full(shape, value, dtype=x.dtype)
    window = tuple(slice(lo, lo + (d - 1) * (mid + 1) + 1, mid + 1) for d, lo, mid in zip(x.shape, low, interior))
    out[window] = x
    return out


def sign(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """np.sign, but 0 for NaN as torch.sign (and the triton backend) give."""
    result = np.asarray(np.sign(x, out=out) if out is not None else np.sign(x))
    if result.dtype.kind == "f":
        result[np.isnan(result)] = 0
    return result


def _shared_with_torch(x: np.ndarray) -> object:
    """A torch tensor on the same memory (a read-only view, such as a broadcast, is copied first)."""
    import torch

    if not x.flags.writeable:
        x = np.array(x, copy=True)
    return torch.from_numpy(x)


# Below about this many multiply-adds a matmul is over before a thread pool matters, and
# NumPy's call costs a few microseconds less than going through torch. Batched products (a
# convolution's im2col columns) stay in NumPy too: torch first copies strided batches, and
# measured on LeNet's training step that cost more than the thread pools (24 vs 15 ms).
SMALL_MATMUL = 1 << 22


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """np.matmul semantics, computed by torch's BLAS for float32/float64.

    The NumPy backend already calls torch for ``erf``. OpenBLAS (NumPy's BLAS) and torch
    keep separate thread pools whose idle threads spin, and on a machine with few cores each
    pool stalls the other: measured on 2 cores, a [1024,256]x[256,1024] matmul followed by an
    erf took 6.0 + 1.9 ms through NumPy and 3.2 + 0.7 ms through torch. One pool it is.
    """
    a, b = np.asarray(a), np.asarray(b)
    small = a.size * b.size < SMALL_MATMUL * max(a.shape[-1] if a.ndim else 1, 1)  # M*K*N for 2-d
    if small or a.ndim > 2 or b.ndim > 2 or a.dtype != b.dtype or a.dtype not in (np.float32, np.float64):
        return np.matmul(a, b) if out is None else np.matmul(a, b, out=out)
    import torch

    if out is not None and a.ndim >= 2 and b.ndim >= 2:
        torch.matmul(_shared_with_torch(a), _shared_with_torch(b), out=torch.from_numpy(out))
        return out
    result = torch.matmul(_shared_with_torch(a), _shared_with_torch(b)).numpy()  # torch resizes a vector's out=
    if out is None:
        return result
    np.copyto(out, result)
    return out


def _torch_unary(function_name: str, x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """Apply ``torch.special.<function_name>`` to NumPy memory (``torch.from_numpy`` shares it, no copy)."""
    import torch

    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64) or not x.flags.writeable:
        x = np.array(x, dtype=out.dtype if out is not None else np.result_type(x, np.float32))
    function = getattr(torch.special, function_name)
    if out is None:
        return function(torch.from_numpy(x)).numpy()
    function(torch.from_numpy(x), out=torch.from_numpy(out))
    return out


def erf(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """erf through torch's vectorized kernel: NumPy has none and SciPy's is about 15x slower."""
    return _torch_unary("erf", x, out)


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """sigmoid through torch's vectorized kernel: SciPy's ``expit`` is scalar code, 3-4x slower.

    Measured on 2 cores: 13.7 vs 3.6 us on 4096 float32 values (an LSTM gate), 3.5 vs 0.2 ms
    on a million. ``1/(1+exp(-x))`` in NumPy is four passes and still 1.4-4x slower than torch.
    """
    return _torch_unary("expit", x, out)


# Up to this many elements along the axis, argmax compares with the max instead of calling np.argmax.
SMALL_ARGMAX = 16


def argmax(x: np.ndarray, axis: int, keepdims: bool) -> np.ndarray:
    """np.argmax as int64; over a short float axis (max-pool windows) from comparisons with the max.

    np.argmax pays per row: 1.45 ms for LeNet's first max-pool (75K windows of 4) against
    0.49 ms for max, then one compare per window element from the last to the first, each
    hit overwriting the index, so the first maximum wins as in NumPy. A NaN is the maximum,
    as in NumPy and torch, so when the max is NaN the first NaN is found instead.
    """
    x = np.asarray(x)
    n = x.shape[axis]
    if n == 0 or n > SMALL_ARGMAX or x.dtype.kind != "f":
        return np.argmax(x, axis=axis, keepdims=keepdims).astype(np.int64)
    top = np.max(x, axis=axis, keepdims=True)
    has_nan = bool(np.isnan(top).any())
    index = np.zeros(top.shape, np.int64)
    step = np.empty(top.shape, np.int64)
    hit = np.empty(top.shape, np.bool_)
    for k in range(n - 1, -1, -1):
        value = x[(slice(None),) * axis + (slice(k, k + 1),)]
        np.equal(value, top, out=hit)
        if has_nan:
            hit |= np.isnan(value)
        np.subtract(index, k, out=step)  # index - (index - k) * hit: k where hit, unchanged elsewhere
        step *= hit
        index -= step
    return index if keepdims else np.squeeze(index, axis)


def argsort(x: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """torch.argsort(stable=True) as int64: NumPy's stable sort already puts NaN last.

    Descending, the ties must keep their order and NaN come first, which sorting the
    negated values would not give (-NaN is NaN, the smallest int has no negation): the axis
    is sorted reversed, ascending, and the order read backwards (the last of equal values in
    the reversed axis is the first of the original). Half precision sorts as float32, exactly.
    """
    x = np.asarray(x)
    if x.dtype.name in ("float16", "bfloat16"):
        x = x.astype(np.float32)
    if not descending:
        return np.argsort(x, axis=axis, kind="stable").astype(np.int64, copy=False)
    backwards = np.flip(np.argsort(np.flip(x, axis), axis=axis, kind="stable"), axis)
    return (x.shape[axis] - 1) - backwards.astype(np.int64, copy=False)


def check(x: np.ndarray, bad: np.ndarray, error: str) -> np.ndarray:
    """``x`` itself, after raising graphc's ``InvalidValueError`` if ``bad`` holds anywhere."""
    if np.any(bad):
        from graphc.errors import InvalidValueError

        raise InvalidValueError(error)
    return x


def cumsum(x: np.ndarray, axis: int, reverse: bool) -> np.ndarray:
    """Running sums in the operand's dtype; half precision adds in float32 and rounds each sum, as torch."""
    x = np.asarray(x)
    dtype = x.dtype
    if dtype.name in ("float16", "bfloat16"):
        x = x.astype(np.float32)
    if reverse:
        return np.flip(np.cumsum(np.flip(x, axis), axis=axis), axis).astype(dtype, copy=False)
    return np.cumsum(x, axis=axis).astype(dtype, copy=False)


_BITS = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}


def where(cond: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """np.where, for floats as a bitwise select: ``(a & m) | (b & ~m)`` with ``m`` all ones where true.

    ``np.where`` and masked ``np.copyto`` branch per element: 1.2 ms on LeNet's first ReLU
    (300K float32, half of them negative) against 0.1 ms for the three vectorized bitwise
    passes. Selecting bits is exact, so NaN, infinities and signed zeros come through unchanged.
    """
    cond, a, b = np.asarray(cond), np.asarray(a), np.asarray(b)
    dtype = np.result_type(a, b) if out is None else out.dtype
    bits = _BITS.get(dtype)
    if bits is None or a.dtype != dtype or b.dtype != dtype or cond.dtype != np.bool_:
        result = np.where(cond, a, b)
        return result if out is None else _store(out, result)
    if out is None:
        out = np.empty(np.broadcast_shapes(cond.shape, a.shape, b.shape), dtype=dtype)
    mask = np.asarray(np.negative(cond.view(np.int8), dtype=bits))  # true -> -1, every bit set
    chosen = np.asarray(np.bitwise_and(a.view(bits), mask))  # before out is written: out may be a or b
    np.bitwise_and(b.view(bits), np.invert(mask, out=mask), out=out.view(bits))
    np.bitwise_or(out.view(bits), chosen, out=out.view(bits))
    return out


def _store(out: np.ndarray, value: np.ndarray) -> np.ndarray:
    np.copyto(out, value, casting="unsafe")
    return out


def power(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """np.power; for integers a negative exponent gives torch's integer result (1, -1 or 0), not an error."""
    if np.asarray(a).dtype.kind in "iu" and np.any(np.asarray(b) < 0):
        b = np.asarray(b)
        negative = b < 0
        result = np.power(a, np.where(negative, 0, b))
        one_over = np.where(a == 1, 1, np.where(a == -1, np.where(b % 2 == 0, 1, -1), 0))
        result = np.where(negative, one_over, result).astype(np.asarray(a).dtype)
        if out is None:
            return result
        np.copyto(out, result)
        return out
    return np.power(a, b, out=out) if out is not None else np.power(a, b)


def _check_divisor(b: np.ndarray, error: str) -> None:
    """An integer divisor holding a zero raises graphc's error, as torch on the CPU (NumPy would give 0 and warn)."""
    if b.dtype.kind in "iu" and not np.all(b):
        from graphc.errors import DivisionByZeroError

        raise DivisionByZeroError(error)


def floor_divide(a: np.ndarray, b: np.ndarray, error: str = "floor_divide: integer division by zero", out: np.ndarray | None = None) -> np.ndarray:
    """np.floor_divide, which is torch's (Python's divmod for floats); an integer zero divisor raises."""
    _check_divisor(np.asarray(b), error)
    return np.floor_divide(a, b, out=out) if out is not None else np.floor_divide(a, b)


def fmod(a: np.ndarray, b: np.ndarray, error: str = "fmod: integer division by zero", out: np.ndarray | None = None) -> np.ndarray:
    """np.fmod; an integer zero divisor raises."""
    _check_divisor(np.asarray(b), error)
    return np.fmod(a, b, out=out) if out is not None else np.fmod(a, b)


def remainder(a: np.ndarray, b: np.ndarray, error: str = "remainder: integer division by zero", out: np.ndarray | None = None) -> np.ndarray:
    """torch's remainder: for floats ``fmod(a, b) + b`` where the signs of the two differ.

    np.remainder gives the same values but a zero the sign of b, where torch's zero keeps
    fmod's sign (a's): ``-0.0 % 1.0`` is -0.0 in torch, 0.0 in NumPy. For integers the two agree.
    """
    a, b = np.asarray(a), np.asarray(b)
    _check_divisor(b, error)
    if a.dtype.kind in "iu":
        return np.remainder(a, b, out=out) if out is not None else np.remainder(a, b)
    mod = np.asarray(np.fmod(a, b))  # a new array: out may be a or b
    np.add(mod, b, out=mod, where=(mod != 0) & ((b < 0) != (mod < 0)))
    return mod if out is None else _store(out, mod)


def _windows(shape: tuple, kernel: tuple, dilation: tuple, padding: tuple, stride: tuple) -> tuple[int, ...]:
    return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, d, p, s in zip(shape, kernel, dilation, padding, stride))


def unfold(x: np.ndarray, kernel_size: tuple, dilation: tuple, padding: tuple, stride: tuple, pad_value: float) -> np.ndarray:
    """im2col through a strided view of the padded input: [N, C, *spatial] -> [N, C*prod(kernel), L]."""
    source = x
    n, c = x.shape[:2]
    rank = len(kernel_size)
    axes = tuple(range(2, 2 + rank))
    if any(padding):
        x = np.pad(x, ((0, 0), (0, 0), *((p, p) for p in padding)), constant_values=pad_value)
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel_size, dilation))
    steps = (slice(None), slice(None), *(slice(None, None, s) for s in stride), *(slice(None, None, d) for d in dilation))
    view = sliding_window_view(x, span, axis=axes)[steps]
    length = math.prod(view.shape[2 : 2 + rank])
    cols = view.transpose(0, 1, *range(2 + rank, 2 + 2 * rank), *axes).reshape(n, c * math.prod(kernel_size), length)
    # A 1x1 window at stride 1 reshapes without a copy. The memory plan takes a window kernel's
    # result for a new array, so a view would be overwritten once the input's buffer is reused.
    return cols.copy() if np.may_share_memory(cols, source) else cols


def fold(cols: np.ndarray, output_size: tuple, kernel_size: tuple, dilation: tuple, padding: tuple, stride: tuple) -> np.ndarray:
    """col2im: add every column back into its window; the adjoint of ``unfold``."""
    n, ckk, _ = cols.shape
    c = ckk // math.prod(kernel_size)
    grid = _windows(output_size, kernel_size, dilation, padding, stride)
    blocks = cols.reshape(n, c, *kernel_size, *grid)
    out = np.zeros((n, c, *(o + 2 * p for o, p in zip(output_size, padding))), dtype=cols.dtype)
    for offset in itertools.product(*(range(k) for k in kernel_size)):
        at = tuple(slice(i * d, i * d + s * (g - 1) + 1, s) for i, d, s, g in zip(offset, dilation, stride, grid))
        out[(slice(None), slice(None), *at)] += blocks[(slice(None), slice(None), *offset)]
    return out[(slice(None), slice(None), *(slice(p, p + o) for p, o in zip(padding, output_size)))]


def _full_index(index: np.ndarray, axis: int) -> tuple:
    grid = list(np.indices(index.shape, sparse=True))
    grid[axis] = index
    return tuple(grid)


def _torch_indexable(x: np.ndarray, index: np.ndarray) -> bool:
    return x.ndim > 0 and x.dtype in (np.float32, np.float64) and index.dtype == np.int64


def check_indices(index: np.ndarray, size: int, error: str) -> None:
    """Raise ``IndexError(error)``, its ``{size}`` filled in, unless every index is in ``[0, size)``, as the C loops do.

    NumPy would wrap a negative index around silently, and torch raises its own error
    without the graphc op or the user's line.
    """
    if index.size and (index.min() < 0 or index.max() >= size):
        raise IndexError(error.replace("{size}", str(size), 1))  # templates.SIZE_SLOT


def gather(x: np.ndarray, index: np.ndarray, axis: int, error: str = "gather: an index is out of range") -> np.ndarray:
    """``torch.gather`` on the same memory for floats: 5x faster than NumPy's fancy indexing (max-pool)."""
    x, index = np.asarray(x), np.asarray(index)
    check_indices(index, x.shape[axis] if x.ndim else 1, error)
    if not _torch_indexable(x, index):
        return x[_full_index(index, axis)]
    import torch

    return torch.gather(_shared_with_torch(x), axis, _shared_with_torch(index)).numpy()


def scatter_add(x: np.ndarray, index: np.ndarray, src: np.ndarray, axis: int, error: str = "scatter_add: an index is out of range") -> np.ndarray:
    """``scatter_add_`` of torch for floats: ``np.add.at`` took 1.2 ms on LeNet's max-pool gradient, torch 0.1 ms."""
    out = np.array(x, copy=True)
    index, src = np.asarray(index), np.asarray(src)
    check_indices(index, out.shape[axis] if out.ndim else 1, error)
    if not _torch_indexable(out, index) or src.dtype != out.dtype:
        np.add.at(out, _full_index(index, axis), src)
        return out
    import torch

    torch.from_numpy(out).scatter_add_(axis, _shared_with_torch(index), _shared_with_torch(src))
    return out


_REDUCE_AT = {"prod": np.multiply, "amax": np.maximum, "amin": np.minimum}


def scatter_reduce(
    x: np.ndarray, index: np.ndarray, src: np.ndarray, axis: int, reduce: str, error: str = "scatter_reduce: an index is out of range"
) -> np.ndarray:
    """``scatter_reduce_`` of torch (including x) for floats, ``np.<ufunc>.at`` otherwise: both combine in index order."""
    out = np.array(x, copy=True)
    index, src = np.asarray(index), np.asarray(src)
    check_indices(index, out.shape[axis] if out.ndim else 1, error)
    if not _torch_indexable(out, index) or src.dtype != out.dtype:
        _REDUCE_AT[reduce].at(out, _full_index(index, axis), src)
        return out
    import torch

    torch.from_numpy(out).scatter_reduce_(axis, _shared_with_torch(index), _shared_with_torch(src), reduce)
    return out


def index_select(x: np.ndarray, index: np.ndarray, axis: int, error: str = "index_select: an index is out of range") -> np.ndarray:
    x, index = np.asarray(x), np.asarray(index)
    check_indices(index, x.shape[axis], error)
    return np.take(x, index, axis=axis)


def iota(shape: tuple, axis: int, dtype: np.dtype) -> np.ndarray:
    """Each element's index along ``axis``: a broadcast view of one arange, no copy."""
    line = [1] * len(shape)
    line[axis] = shape[axis]
    return np.broadcast_to(np.arange(shape[axis], dtype=dtype).reshape(line), shape)


def rand(seed: np.ndarray, shape: tuple, dtype: np.dtype) -> np.ndarray:
    generator = np.random.Generator(np.random.Philox(key=int(seed)))
    compute = np.float64 if dtype == np.float64 else np.float32
    return generator.random(shape, dtype=compute).astype(dtype, copy=False)


# A kernel touching fewer bytes than this runs as one call: splitting costs a few microseconds.
SPLIT_BYTES = 1 << 20
# The same for a kernel in C loops, which is done with its bytes several times sooner: waking the
# pool's threads and combining partial sums cost more than they saved below about this size
# (the LSTM step: 4.9 ms splitting from 1 MiB, 4.3 ms from 4 MiB).
LOOP_SPLIT_BYTES = 1 << 22
# About how many bytes one block of rows touches. Not cache-sized: each block pays a Python call
# per node, and measured on a 4096x512 softmax 4 MiB blocks beat 256 KiB ones (docs/numpy_backend.md).
BLOCK_BYTES = 1 << 22
THREADS = os.cpu_count() or 1
_pool: ThreadPoolExecutor | None = None


_COMBINE = {"sum": np.add, "max": np.maximum, "min": np.minimum}


def by_rows(
    kernel: Callable[..., tuple], rows: int, inputs: tuple, axes: tuple, outputs: tuple, kinds: tuple = (), split_bytes: int | None = None, **sizes: int
) -> tuple:
    """Run a row-splittable kernel (``graphc.codegen.row_split``) on blocks of rows, on threads.

    ``axes`` gives, per input, the axis holding the rows (None: every block reads it whole).
    ``kinds`` gives, per output, how blocks produce it: "rows" outputs get disjoint rows;
    every other output is computed by each block into its own scratch ("same": a 0-d
    value every block computes alike; "sum"/"max"/"min": partial reductions over the rows)
    and stored once all blocks ran, so no block reads a value another already updated. A
    call that is small (below ``split_bytes``, ``SPLIT_BYTES`` if not given), or whose outputs
    share memory with inputs in any way but row for row (an in-place update), runs as one call.
    """
    kinds = kinds or ("rows",) * len(outputs)
    split = tuple(o for o, kind in zip(outputs, kinds) if kind == "rows")
    blocks = row_blocks(rows, inputs, axes, split, split_bytes)
    if blocks == 1:
        return kernel(*inputs, *outputs, rows=rows, **sizes)
    step = -(-rows // blocks)
    scratch = {start: [None if kind == "rows" else np.empty_like(o) for o, kind in zip(outputs, kinds)] for start in range(0, rows, step)}

    def block(start: int) -> None:
        stop = min(start + step, rows)
        views = [x if axis is None else x[(slice(None),) * axis + (slice(start, stop),)] for x, axis in zip(inputs, axes)]
        outs = [o[start:stop] if s is None else s for o, s in zip(outputs, scratch[start])]
        kernel(*views, *outs, rows=stop - start, **sizes)

    _on_threads(block, list(scratch))
    for i, kind in enumerate(kinds):
        if kind == "rows":
            continue
        parts = [values[i] for values in scratch.values()]
        np.copyto(outputs[i], parts[0])
        for part in parts[1:] if kind != "same" else []:
            _COMBINE[kind](outputs[i], part, out=outputs[i])
    return outputs


def row_blocks(rows: int, inputs: tuple, axes: tuple, outputs: tuple, split_bytes: int | None = None) -> int:
    """How many blocks of rows a call runs in: 1 (one call) when it is small or writes in place across rows.

    ``outputs`` are those written row by row. Blocks are about ``BLOCK_BYTES`` each, in a
    multiple of the threads so they finish together: 3 blocks on 2 threads took as long as 4.
    ``by_rows`` runs them on the Python pool; C loops whose outputs are all rows run them on
    the C pool (``c_loops``).
    """
    touched = sum(o.nbytes for o in outputs) + sum(x.nbytes for x, axis in zip(inputs, axes) if axis is not None)
    if touched < (SPLIT_BYTES if split_bytes is None else split_bytes) or rows < 2 or not _rows_independent(inputs, axes, outputs):
        return 1
    return min(rows, -(-max(THREADS, touched // BLOCK_BYTES) // THREADS) * THREADS)


def _rows_independent(inputs: tuple, axes: tuple, outputs: tuple) -> bool:
    """No block writes memory that another block reads: an output may only alias an input row for row."""
    for out in outputs:
        for x, axis in zip(inputs, axes):
            if isinstance(x, np.ndarray) and np.may_share_memory(x, out):
                if axis != 0 or x.shape != out.shape or x.strides != out.strides:
                    return False
    return True


def _on_threads(block: Callable[[int], None], starts: list[int]) -> None:
    """Run ``block`` for every start on this thread and the pool's, each taking the next start left.

    The calling thread works rather than waits: a 4096x512 layer-norm took 0.55 ms with the
    caller waiting on two pool threads and 0.47 ms with it taking blocks (softmax 0.88 ->
    0.80 ms), since one thread less is woken and none sleeps on the result.
    """
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for start in starts:
        todo.put(start)

    def work() -> None:
        while True:
            try:
                start = todo.get_nowait()
            except queue.Empty:
                return
            block(start)

    helpers = [_threads().submit(work) for _ in range(min(THREADS, len(starts)) - 1)]
    try:
        work()
    finally:
        wait(helpers)  # no block may still write into the outputs once this returns or raises
    for helper in helpers:
        helper.result()  # a block's error on a pool thread is raised here


def _threads() -> ThreadPoolExecutor:
    """The pool's threads: one per core but the caller's."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max(THREADS - 1, 1), thread_name_prefix="graphc-rows")
    return _pool


def native_module(path: str) -> object:
    """The program's compiled C loops (``graphc.codegen.native``)."""
    from graphc.codegen import native

    return native.load(path)


def _joined(batch: tuple[int, ...], *outputs: np.ndarray) -> np.ndarray:
    """A decomposition's outputs flattened over their matrix axes and joined, as its primitive's result."""
    return np.concatenate([o.reshape(batch + (-1,)) for o in outputs], axis=-1)


def eigh(x: np.ndarray, upper: bool) -> np.ndarray:
    """LAPACK's syevd through NumPy: eigenvalues ascending, then the eigenvectors."""
    x = np.asarray(x)
    values, vectors = np.linalg.eigh(x, UPLO="U" if upper else "L")
    return _joined(x.shape[:-2], values, vectors)


def svd(x: np.ndarray, full_matrices: bool) -> np.ndarray:
    """LAPACK's gesdd through NumPy: U, S descending, Vh (the vectors' signs may differ from torch's, whose LAPACK build differs)."""
    x = np.asarray(x)
    u, s, vh = np.linalg.svd(x, full_matrices=full_matrices)
    return _joined(x.shape[:-2], u, s, vh)


def qr(x: np.ndarray, mode: str) -> np.ndarray:
    """LAPACK's geqrf and orgqr through NumPy, as torch: Q and R (R alone for mode "r")."""
    x = np.asarray(x)
    factors = np.linalg.qr(x, mode=mode)
    return _joined(x.shape[:-2], *((factors,) if mode == "r" else factors))

"""What generated Triton programs call: devices, buffers, block sizes, and small @jit helpers.

Only generated modules import this file, after ``graphc.codegen.triton`` has chosen
between the GPU and the interpreter (``TRITON_INTERPRET=1`` must be set before
the first ``@triton.jit`` runs). The helpers use only ``tl`` operations that work
on both (no libdevice): ``tanh``, ``pow``, ``log1p`` and ``expm1`` are written with
``exp``/``log``, ``atan`` with arithmetic.

Block sizes are chosen here at launch time, from the sizes of the call, so tests
can force the looped reduction by lowering ``MAX_PERSISTENT_RBLOCK``.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import triton
import triton.language as tl

from graphc.codegen import triton_compile
from graphc.codegen.templates import flagged_error
from graphc.errors import GraphcError
from graphc.runtime import call_sites, device_errors
from graphc.runtime.config import debug_level

log = logging.getLogger("graphc")

INTERPRET = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")

# A reduction keeps a whole row in registers when it has at most this many elements;
# longer rows are reduced by a loop over blocks of LOOPED_RBLOCK.
MAX_PERSISTENT_RBLOCK = 4096 if not INTERPRET else 1 << 16
LOOPED_RBLOCK = 1024 if not INTERPRET else 4096
# Elements of one program instance: the interpreter runs one instance at a time
# (about 1 ms each), so it gets large blocks; a GPU wants many small ones.
POINTWISE_BLOCK = 1024 if not INTERPRET else 1 << 16
REDUCTION_ELEMENTS = 4096 if not INTERPRET else 1 << 16
# An argsort compares a tile of SORT_ELEMENTS pairs per step, at most SORT_RBLOCK of them per element.
SORT_ELEMENTS = 4096 if not INTERPRET else 1 << 18
SORT_RBLOCK = 64 if not INTERPRET else 1024
# Warps of a pointwise program and of a reduction's program (persistent or looped). These and
# the block sizes above are launch-time choices that scripts/gpu_sweep.py times on a GPU.
POINTWISE_WARPS = 4
REDUCTION_WARPS = 4
# A looped reduction of at most FEW_ROWS rows (a mean over all of a batch's losses) runs on
# that many programs, so each walks its row in wide blocks with many warps: 65536 losses in
# blocks of 1024 on 4 warps were 64 dependent rounds of loads on one multiprocessor.
FEW_ROWS = 8
FEW_ROWS_RBLOCK = 8192 if not INTERPRET else 4096
FEW_ROWS_WARPS = 16
# Index arithmetic is 32-bit where Triton puts it (program ids, tl.arange, the offsets built from
# them and from int32 sizes): past 2**31 an offset or a lane's index (and so its mask) wraps, a wrong
# or illegal address on a GPU and a wrong one in the interpreter, so a launch over more elements (or
# an input that large) is refused. The margin is one block of Triton's largest (2**20 elements),
# which the last program's lanes may run past the end.
MAX_ELEMENTS = 2**31 - 2**20


def device() -> torch.device:
    """The kernels' device, with its index: torch's ``cuda:0`` differs from a bare ``cuda``."""
    global _device
    if _device is None:
        _device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    return _device


_device: torch.device | None = None


def prepare(value: Any) -> torch.Tensor:
    """A program input as a contiguous torch tensor on the kernels' device (NumPy arrays are converted)."""
    if not isinstance(value, torch.Tensor):
        array = np.asarray(value)
        # np.ascontiguousarray makes a 0-d array 1-d; reshaping back keeps a 0-d input 0-d.
        contiguous = np.ascontiguousarray(array).reshape(array.shape) if array.flags.writeable else array.copy()
        if array.dtype.kind == "V" and array.dtype.name == "bfloat16":  # dtype.name alone costs 4 us
            value = torch.from_numpy(contiguous.view(np.int16)).view(torch.bfloat16)
        else:
            value = torch.from_numpy(contiguous)
    if value.numel() > MAX_ELEMENTS:
        too_many(f"an input of shape {tuple(value.shape)}", value.numel())
    if value.requires_grad:
        value = value.detach()
    target = device()
    if value.device != target:
        value = value.to(target)
    return value if value.is_contiguous() else value.contiguous()


def empty(shape: tuple, dtype: torch.dtype) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device=device())


_arenas: dict[tuple, list[torch.Tensor]] = {}


def arena(layout: Callable[..., list[tuple]], *sizes: int) -> list[torch.Tensor]:
    """Views into one torch allocation for a program's planned buffers at these sizes (allocated once).

    ``layout(*sizes)`` lists (shape, dtype, first kernel, last kernel, reused buffer) per
    buffer, as ``graphc.passes.memory`` planned them; offsets come from the same assignment.
    """
    key = (layout, sizes)
    views = _arenas.get(key)
    if views is None:
        from graphc.passes.memory import arena_layout

        buffers = layout(*sizes)
        offsets, nbytes, total = arena_layout(buffers, [torch.empty((), dtype=dtype).element_size() for _, dtype, *_ in buffers])
        memory = torch.empty(total, dtype=torch.uint8, device=device())
        views = [memory[o : o + n].view(dtype).view(shape) for (shape, dtype, *_), o, n in zip(buffers, offsets, nbytes)]
        _arenas[key] = views
    return views


_error_flags: dict[int, tuple[tuple[str, ...], torch.Tensor]] = {}


def error_flags(messages: tuple[tuple[str, str], ...]) -> torch.Tensor:
    """A program's slots for errors its kernels flag (an index out of range, an integer division by
    zero, a failed check), one per (kind, message), zero until a kernel flags one (allocated once)."""
    held = _error_flags.get(id(messages))
    if held is None:  # the messages are kept with the flags, so that their id is not reused
        held = _error_flags[id(messages)] = (messages, torch.zeros(len(messages), dtype=torch.int32, device=device()))
    return held[1]


def raise_flagged(flags: torch.Tensor, messages: tuple[tuple[str, str], ...], sizes: tuple[int, ...]) -> None:
    """Raise the first flagged error (``sizes``: each checked axis's size in this call, 0 for a division).

    Under the interpreter the flags are read now; on a GPU that would wait for the kernels,
    so the check waits for the next read of a value (``graphc.runtime.device_errors``).
    """
    if read_flags_at_once(flags):
        _raise_flagged(flags, messages, sizes)
    else:
        device_errors.defer(id(flags), call_sites.deferred(functools.partial(_raise_flagged, flags, messages, sizes)))


def read_flags_at_once(flags: torch.Tensor) -> bool:
    return flags.device.type == "cpu"


def _raise_flagged(flags: torch.Tensor, messages: tuple[tuple[str, str], ...], sizes: tuple[int, ...]) -> None:
    if not bool(flags.any()):
        return
    slot = int(flags.nonzero()[0, 0])
    flags.zero_()
    raise flagged_error(*messages[slot], sizes[slot])


def _launch_options() -> dict[str, Any]:
    """Compile options of every launch: libdevice without flushing float32 subnormals to zero.

    Triton links libdevice with its FTZ flag on by default, so on a GPU ``tl.floor``, ``tl.log``,
    ``tl.sqrt``, ... flushed subnormal inputs and results (torch's CUDA kernels, built without
    ``-ftz``, keep them; so does the interpreter). ``enable_reflect_ftz`` turns it off where the
    installed Triton has the option (3.8 has; an unknown launch option would raise); the
    interpreter takes no compile options.
    """
    if INTERPRET:
        return {}
    try:
        from triton.backends.nvidia.compiler import CUDAOptions
    except ImportError:
        return {}
    return {"enable_reflect_ftz": False} if "enable_reflect_ftz" in CUDAOptions.__dataclass_fields__ else {}


LAUNCH_OPTIONS = _launch_options()


def launch(kernel: Any, grid: Any, *args: Any, **meta: Any) -> None:
    """``kernel[grid](*args, **meta)``, or, while ``triton_compile.record`` runs the launchers, a record of it."""
    if LAUNCH_OPTIONS:
        meta |= LAUNCH_OPTIONS
    if triton_compile.recording is not None:
        triton_compile.recording.append(triton_compile.Launch(kernel, grid, args, meta))
        return
    kernel[grid](*args, **meta)


_compiled_ahead: set[tuple] = set()


def compile_ahead(launch_all: Callable[..., Any], inputs: list[Any], *sizes: int) -> None:
    """The first time a program runs at these sizes on a GPU: compile all its kernels on threads.

    Without it Triton compiles each kernel at its first launch, one after another
    (``graphc.codegen.triton_compile``). The interpreter compiles nothing.
    """
    key = (launch_all, sizes)
    if INTERPRET or key in _compiled_ahead:
        return
    launches = triton_compile.record(launch_all, inputs, *sizes)
    compiles, seconds = triton_compile.compile_on_device(launches)
    _compiled_ahead.add(key)
    if debug_level() >= 1:
        threads = triton_compile.compile_threads()
        log.warning("graphc: compiled %d Triton kernels of %s on %d threads in %.1f s", compiles, launch_all.__module__, threads, seconds)


# Launchers call these on every launch: Triton's own (triton.cdiv, triton.next_power_of_2) are
# @jit functions, and calling one from Python cost about 4 us against 0.1 us for these.
def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def next_power_of_2(n: int) -> int:
    return 1 << (n - 1).bit_length() if n > 0 else 0


def too_many(what: str, numel: int) -> None:
    raise GraphcError(
        f"triton backend: {what} spans {numel} elements, more than the {MAX_ELEMENTS} that the Triton kernels' "
        "32-bit index arithmetic reaches (64-bit indexing is not implemented); use the numpy backend or split the tensor"
    )


def pointwise_blocks(numel: int) -> tuple[int, int]:
    """(XBLOCK, num_warps) of a pointwise kernel over ``numel`` elements."""
    if numel > MAX_ELEMENTS:
        too_many("a pointwise kernel", numel)
    return max(16, min(next_power_of_2(numel), POINTWISE_BLOCK)), POINTWISE_WARPS


def reduction_blocks(xnumel: int, rnumel: int) -> tuple[bool, int, int, int]:
    """(persistent, XBLOCK, RBLOCK, num_warps): a whole row per program when it fits, else a loop over the row."""
    if xnumel * rnumel > MAX_ELEMENTS:
        too_many(f"a reduction of {xnumel} rows of {rnumel}", xnumel * rnumel)
    rblock = next_power_of_2(max(rnumel, 1))
    if rblock <= MAX_PERSISTENT_RBLOCK:
        return True, max(1, min(next_power_of_2(max(xnumel, 1)), REDUCTION_ELEMENTS // rblock)), rblock, REDUCTION_WARPS
    if xnumel <= FEW_ROWS:
        return False, 1, FEW_ROWS_RBLOCK, FEW_ROWS_WARPS
    return False, max(1, min(next_power_of_2(xnumel), REDUCTION_ELEMENTS // LOOPED_RBLOCK)), LOOPED_RBLOCK, REDUCTION_WARPS


def sort_blocks(xnumel: int, rnumel: int) -> tuple[int, int, int]:
    """(XBLOCK, RBLOCK, num_warps) of an argsort: XBLOCK elements each compared with RBLOCK of their row per step."""
    if xnumel > MAX_ELEMENTS:
        too_many("a sort or scatter", xnumel)
    rblock = max(16, min(next_power_of_2(max(rnumel, 1)), SORT_RBLOCK))
    return max(1, min(next_power_of_2(xnumel), SORT_ELEMENTS // rblock)), rblock, REDUCTION_WARPS


def matmul_configs(m: int | None = None, n: int | None = None, k: int | None = None, integer: bool = False, accumulators: int = 1) -> list[triton.Config]:
    """Tiles for the matmul template, none much larger than the product where its sizes are known.

    A tile is cut down to the next power of two of a known size (at least 16, tl.dot's least),
    and tiles that become alike are tried once: the product giving an MLP's 30x50 weight
    gradient compiles and times 2 configs instead of 6. A symbolic size (the batch) keeps
    every tile on its axis. The interpreter gets one config (autotuning needs a GPU timer).

    A kernel reading its product as column slices keeps ``accumulators`` tiles of the output
    and loads as many B tiles per step (an LSTM's four gates): tiles holding more than 128x128
    outputs in all are dropped, and the stages are cut to keep the pipelined tiles within
    128 KiB of shared memory (four accumulators of 128x64 in 4 stages asked for 204 KiB).
    """
    if INTERPRET:
        return [triton.Config({"BLOCK_M": 32, "BLOCK_N": 32, "BLOCK_K": 32, "GROUP_M": 8})]
    if integer:  # no tensor cores: a broadcast product, so keep the tile small
        return [triton.Config({"BLOCK_M": 32, "BLOCK_N": 32, "BLOCK_K": 8, "GROUP_M": 8}, num_warps=4)]
    shapes = [(128, 128, 32, 8, 3), (128, 64, 32, 4, 4), (64, 128, 32, 4, 4), (64, 64, 32, 4, 4), (32, 64, 32, 4, 5), (16, 64, 64, 4, 4)]
    configs: dict[tuple[int, int, int], triton.Config] = {}
    for block_m, block_n, block_k, warps, stages in shapes:
        tile = (min(block_m, _tile_cap(m)), min(block_n, _tile_cap(n)), min(block_k, _tile_cap(k)))
        if tile != (block_m, block_n, block_k):
            warps = min(warps, max(1, tile[0] * tile[1] // 1024))  # a warp per 1024 outputs of a cut tile
        if accumulators > 1:
            if tile[0] * tile[1] * accumulators > 128 * 128:
                continue
            stage_bytes = 4 * tile[2] * (tile[0] + accumulators * tile[1])
            stages = max(2, min(stages, (128 << 10) // stage_bytes))
        if tile not in configs:
            meta = {"BLOCK_M": tile[0], "BLOCK_N": tile[1], "BLOCK_K": tile[2], "GROUP_M": 8}
            configs[tile] = triton.Config(meta, num_warps=warps, num_stages=stages)
    return list(configs.values())


def _tile_cap(size: int | None) -> int:
    return 1 << 30 if size is None else max(16, next_power_of_2(size))


def tune_bench(kernel_call: Callable[[], Any], quantiles: tuple[float, ...]) -> Any:
    """Autotuning's timer: 25 ms of repeats a config instead of Triton's default 100 ms, since a
    program's first call tunes every matmul of it (six configs each)."""
    return triton.testing.do_bench(kernel_call, warmup=5, rep=25, quantiles=quantiles)


def matmul_grid(m: int, n: int, batch: int) -> Any:
    """Every tile of every matrix of the batch on grid axis 0 (up to 2**31 - 1 programs): on a GPU the
    other axes stop at 65535, which a batched product of many small matrices passes."""
    if m * n * batch > MAX_ELEMENTS:
        too_many(f"a product of {batch} matrices of {m}x{n}", m * n * batch)
    return lambda meta: (cdiv(m, meta["BLOCK_M"]) * cdiv(n, meta["BLOCK_N"]) * batch,)


# ----------------------------------------------------------------------------- @jit helpers


@triton.jit
def tanh(x):
    """tanh from exp only: its Taylor series near 0 (no cancellation), 1 - 2 / (exp(2|x|) + 1) beyond."""
    a = tl.abs(x)
    s = x * x
    # x + x**3 * p(x**2), the series to x**25: terms fall by ~25x each for |x| < 0.3 (float64-accurate).
    p = 1.5918905069328964e-05
    p = p * s - 3.927832388331683e-05
    p = p * s + 9.691537956929451e-05
    p = p * s - 0.00023912911424355248
    p = p * s + 0.000590027440945586
    p = p * s - 0.0014558343870513183
    p = p * s + 0.003592128036572481
    p = p * s - 0.008863235529902197
    p = p * s + 0.021869488536155203
    p = p * s - 0.05396825396825397
    p = p * s + 0.13333333333333333
    p = p * s - 0.3333333333333333
    small = x + x * s * p
    e = tl.exp(-2.0 * a)
    if x.dtype == tl.float32:  # Triton's float32 ``/`` is up to 2 ulp off on a GPU (triton._divide)
        big = tl.div_rn(1.0 - e, 1.0 + e)
    else:
        big = (1.0 - e) / (1.0 + e)
    big = tl.where(x < 0, -big, big)
    return tl.where(a < 0.3, small, big)


@triton.jit
def log1p(x):
    """log(1 + x) without cancellation for small x (log(u) * x / (u - 1) with u = 1 + x)."""
    u = 1.0 + x
    d = u - 1.0
    if x.dtype == tl.float32:
        ratio = tl.div_rn(x, d)
    else:
        ratio = x / d
    return tl.where(d == 0.0, x, tl.where(u == float("inf"), u, tl.log(u) * ratio))


@triton.jit
def expm1(x):
    """exp(x) - 1 without cancellation near 0: Kahan's (u - 1) * x / log(u) with u = exp(x), whose
    quotient cancels the rounding of u; from |x| = 1/2 on, u - 1 loses nothing (and gives inf, -1, NaN)."""
    u = tl.exp(x)
    d = u - 1.0
    if x.dtype == tl.float32:
        near = d * tl.div_rn(x, tl.log(u))  # x / log(u) first: d * x overflows
    else:
        near = d * (x / tl.log(u))
    return tl.where(u == 1.0, x, tl.where(tl.abs(x) < 0.5, near, d))


@triton.jit
def atan(x, DOUBLE: tl.constexpr):
    """arctan from arithmetic (no libdevice), Cephes' reduction and minimax polynomials.

    |x| is reduced to |t| <= tan(pi/8): atan(a) = pi/4 + atan((a - 1) / (a + 1)) above tan(pi/8),
    pi/2 + atan(-1 / a) above tan(3pi/8); then atan(t) = t + t z P(z) with z = t**2. P has 4
    terms in float32 (0.3 ulp off atan on the interval) and 11 in float64 (1e-18 relative),
    fitted by scripts/fit_atan.py. pi/2 and pi/4 are added as a rounded part and the rest, so
    the result is within 2.1 ulp of atan (80000 values of each dtype, under the interpreter,
    against mpmath). atan(-0.0) is -0.0, and inf gives pi/2.
    """
    a = tl.abs(x)
    far = a > 2.414213562373095
    middle = a > 0.41421356237309503
    if DOUBLE:
        t = tl.where(far, -1.0 / a, tl.where(middle, (a - 1.0) / (a + 1.0), a))
    else:  # IEEE division: Triton's float32 ``/`` is up to 2 ulp off on a GPU
        t = tl.where(far, tl.div_rn(-1.0, a), tl.where(middle, tl.div_rn(a - 1.0, a + 1.0), a))
    z = t * t
    if DOUBLE:
        p = -0.017905023185496784
        p = p * z + 0.03806212427824518
        p = p * z - 0.0503918977950234
        p = p * z + 0.05847859121883164
        p = p * z - 0.0666309918169807
        p = p * z + 0.07692059715358615
        p = p * z - 0.09090897725126518
        p = p * z + 0.11111110782150276
        p = p * z - 0.14285714280166456
        p = p * z + 0.19999999999953247
        p = p * z - 0.333333333333332
        rest = 6.123233995736766e-17  # pi/2 - float64(pi/2)
    else:
        p = 0.08053711885048477
        p = p * z - 0.13877675043395396
        p = p * z + 0.19977709638236857
        p = p * z - 0.3333294912663615
        rest = -4.371139000186243e-08  # pi/2 - float32(pi/2)
    # 2, 1 or 0 quarters of pi; a tensor of x's dtype, so that the constants below are taken in that
    # dtype (a tl.where of two numbers would be float32). 2 * float(pi/4) is float(pi/2) exactly.
    quarters = tl.where(far, 2.0, tl.where(middle, 1.0, 0.0)).to(x.dtype)
    result = quarters * 0.7853981633974483 + (t + t * (z * p) + quarters * rest * 0.5)
    return tl.where(x < 0, -result, tl.where(x == 0, x, result))


@triton.jit
def fpow(a, b):
    """a ** b for floats: exp(b * log|a|) with torch's (C's) special cases: an odd power keeps the
    sign of -0.0 ((-0.0) ** -1 is -inf), (-1) ** +-inf is 1, and (-inf) ** 0.5 is inf, not NaN."""
    mag = tl.exp(b * tl.log(tl.abs(a)))
    b_int = b == tl.floor(b)
    b_odd = b_int & (tl.abs(b - 2.0 * tl.floor(b * 0.5)) == 1.0)
    sign_bit = (a < 0) | ((a == 0) & (1.0 / a < 0))
    out = tl.where(sign_bit & b_odd, -mag, mag)
    out = tl.where((a < 0) & (a > float("-inf")) & ~b_int, float("nan"), out)
    out = tl.where(b == 0.0, 1.0, out)
    out = tl.where((a == 1.0) | ((a == -1.0) & (tl.abs(b) == float("inf"))), 1.0, out)
    return out


@triton.jit
def ipow(a, b):
    """a ** b for integers, by squaring (a negative exponent gives 0, or +-1 for a base of +-1)."""
    result = a * 0 + 1
    base = a
    e = b
    for _ in range(63):
        result = tl.where((e & 1) == 1, result * base, result)
        base = base * base
        e = e >> 1
    one = tl.where(a == 1, 1, tl.where((b & 1) == 1, -1, 1)).to(a.dtype)
    return tl.where(b < 0, tl.where((a == 1) | (a == -1), one, 0).to(a.dtype), result)


@triton.jit
def rint(x):
    """x rounded to the nearest integer, halves to even (torch.round), from floor: no libdevice ``rint``.

    ``x - floor(x)`` is exact, and beyond 2**52 (2**23 in float32) x is whole already. A zero
    keeps the sign of x (round(-0.3) is -0.0), and inf and NaN come through.
    """
    down = tl.floor(x)
    part = x - down
    odd = down - 2.0 * tl.floor(down * 0.5) != 0.0
    up = (part > 0.5) | ((part == 0.5) & odd)
    rounded = tl.where(up, down + 1.0, down)
    return tl.where(rounded == 0.0, x * 0.0, tl.where(part == part, rounded, x))


if INTERPRET:

    @triton.jit
    def _fma(a, b, c):
        """a * b + c rounded once, which the interpreter's ``tl.fma`` is not (Triton 3.8 computes
        ``a * b`` in the operands' dtype first, so ``fmod`` came out one ulp off).

        float32: the product of two float32 is exact in float64. float64: Dekker's exact product
        ``a * b = p + e`` (Veltkamp's split), then ``(p + c) + e``, which is the fused result
        where ``_mod_below`` needs it: c and -p agree to within a factor of two there, so
        ``p + c`` is exact (Sterbenz). Beyond 2**995 the split would overflow: plain a * b + c.
        """
        if a.dtype == tl.float32:
            return (a.to(tl.float64) * b.to(tl.float64) + c.to(tl.float64)).to(tl.float32)
        p = a * b
        a_split = a * 134217729.0
        a_high = a_split - (a_split - a)
        a_low = a - a_high
        b_split = b * 134217729.0
        b_high = b_split - (b_split - b)
        b_low = b - b_high
        e = a_low * b_low - (((p - a_high * b_high) - a_low * b_high) - a_high * b_low)
        small = (tl.abs(a) < 2.0**995) & (tl.abs(b) < 2.0**995)
        return tl.where(small, (p + c) + e, p + c)

else:

    @triton.jit
    def _fma(a, b, c):
        """a * b + c rounded once: the GPU's fused multiply-add."""
        return tl.fma(a, b, c)


@triton.jit
def _mod_below(r, c):
    """r mod c, exact, for 0 <= r < c * 2**21 (float32) or 2**50 (float64).

    The quotient n = floor(r / c) is a representable integer off by at most one (the
    division rounds; on a GPU a float32 ``/`` is within 2 ulp, under 1/2 below 2**21), and fma(-n, c, r) is exact when n is right, since then the result
    is a multiple of c's last bit smaller than c (``_fma``). A wrong n shows as a result below 0 or
    at least c: corrected, and computed again.
    """
    n = tl.floor(r / c)
    m = _fma(-n, c, r)
    n = tl.where(m < 0.0, n - 1.0, tl.where(m >= c, n + 1.0, n))
    return _fma(-n, c, r)


@triton.jit
def fmod(a, b, STEP: tl.constexpr, ROUNDS: tl.constexpr):
    """C's fmod, exact, from arithmetic and fma: no libdevice, and Triton's float ``%`` is
    ``a - trunc(a / b) * b`` on a GPU, which is not exact (1.0 % 0.1 gave -5.6e-17, not 0.09999...).

    ``|a| mod |b|`` is reduced through the ladder ``c = |b| * STEP**j``: first modulo the
    largest c not above |a|, then modulo each smaller one, every step with a quotient
    below STEP (``_mod_below``). c is a multiple of |b|, so each step keeps the value mod
    |b|, and multiplying by a power of two is exact. ROUNDS covers the widest ratio of the
    dtype (2**277 in float32, 2**2098 in float64). The result has the sign of a.
    """
    x = tl.abs(a)
    y = tl.abs(b)
    usual = (x < float("inf")) & (y > 0.0) & (y < float("inf"))  # false for NaN too
    x = tl.where(usual, x, 0.0)
    y = tl.where(usual, y, 1.0)
    c = y
    for _ in range(ROUNDS):
        up = c * STEP
        c = tl.where(up <= x, up, c)
    r = x
    for _ in range(ROUNDS + 1):
        r = _mod_below(r, c)
        c = tl.where(c > y, c * (1.0 / STEP), c)  # exact: a float32 ``/`` on a GPU need not be, even by a power of two
    r = tl.where(r == 0.0, a * 0.0, tl.where(a < 0.0, -r, r))
    kept = (tl.abs(b) == float("inf")) & (tl.abs(a) < float("inf"))  # fmod(a, +-inf) is a
    return tl.where(usual, r, tl.where(kept, a, float("nan")))


@triton.jit
def floor_divide(a, b, STEP: tl.constexpr, ROUNDS: tl.constexpr):
    """torch's floor division of floats (c10::div_floor_floating), Python's divmod: from the exact fmod."""
    mod = fmod(a, b, STEP, ROUNDS)
    if a.dtype == tl.float32:  # IEEE division, as torch's: a float32 ``/`` on a GPU is up to 2 ulp off,
        div = tl.div_rn(a - mod, b)  # which past 2**24 is a whole number or more
        quotient = tl.div_rn(a, b)
    else:
        div = (a - mod) / b
        quotient = a / b
    div = tl.where((mod != 0.0) & ((b < 0.0) != (mod < 0.0)), div - 1.0, div)
    down = tl.floor(div)
    down = tl.where(div - down > 0.5, down + 1.0, down)
    down = tl.where(div == 0.0, quotient * 0.0, down)  # a zero with the sign of a / b
    return tl.where(b == 0.0, quotient, down)


@triton.jit
def remainder(a, b, STEP: tl.constexpr, ROUNDS: tl.constexpr):
    """torch's remainder of floats: fmod, plus b where the signs of the two differ."""
    mod = fmod(a, b, STEP, ROUNDS)
    return tl.where((mod != 0.0) & ((b < 0.0) != (mod < 0.0)), mod + b, mod)


@triton.jit
def ifloor_divide(a, b):
    """a // b for integers, rounded toward -inf. A zero divisor gives 0 (the kernel flags it and the
    program raises: ``KernelEmitter.flag``), and the most negative value // -1 wraps to itself, as in torch."""
    safe = tl.where((b == 0) | (b == -1), 1, b)  # no division that traps or overflows
    quotient = a // safe
    rest = a % safe
    quotient = tl.where((rest != 0) & ((rest < 0) != (b < 0)), quotient - 1, quotient)
    quotient = tl.where(b == -1, -a, quotient)
    return tl.where(b == 0, 0, quotient)


@triton.jit
def iremainder(a, b):
    """a % b for integers, with the sign of b; 0 for a zero divisor."""
    safe = tl.where((b == 0) | (b == -1), 1, b)
    rest = a % safe
    rest = tl.where((rest != 0) & ((rest < 0) != (b < 0)), rest + b, rest)
    return tl.where(b == 0, 0, rest)


@triton.jit
def ifmod(a, b):
    """C's a % b for integers, with the sign of a; 0 for a zero divisor."""
    safe = tl.where((b == 0) | (b == -1), 1, b)
    return tl.where(b == 0, 0, a % safe)


@triton.jit
def _multiply(a, b):
    return a * b


@triton.jit
def row_product(x):
    """The product of each row of a [XBLOCK, RBLOCK] block (a scatter_reduce's lanes): Triton has no ``tl.prod``."""
    return tl.reduce(x, 1, _multiply)

"""Building the C loops of a NumPy program into a Python extension module, and loading it.

The C functions that ``graphc.codegen.c_loops`` writes for a program are linked into one
extension module. Each distinct function (``c_shared``) is compiled once, into an object named
by the hash of its canonical text and of the compiler setup, which any later module that needs
it links again: programs sharing kernels, or a program compiled again for new shapes, compile
only the functions no program had, in any process sharing the cache. The cache holds, readably:

- ``prelude_<setup>/``: per compiler setup (compiler, flags, machine, Python, prelude), the
  prelude every function includes (``graphc_prelude.h``), its precompiled header and the runtime
  object (``graphc_runtime.o``: the module's creation, the thread pool);
- ``<xx>/graphc_fn_<hash>.c``: one function, and ``graphc_fn_<hash>.<setup>.o`` its object;
- ``<xx>/graphc_c_<hash>.c``: a program's module, its kernels' names bound to the functions
  serving them (no header included: it compiles in milliseconds), and the built ``.so``.

Each function is a ``METH_FASTCALL`` function taking its buffers and sizes as positional
arguments: a call costs about 0.1 us, against about 1-2 us per NumPy call (measured
here: a 4-element call 0.12 us). It releases the GIL while its loops run, so
``rt.by_rows`` runs blocks of rows on threads.

Loops calling ``exp``/``log``/... vectorize through glibc's vector math library (libmvec), except
in a program that compares computed floats for equality, which gets graphc's own functions
(``c_math``: the same bits in every loop); so does every program where libmvec is missing.
Without a C compiler the NumPy backend keeps its NumPy kernels (``available``).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

from graphc.codegen.c_math import C_MATH, FMA, NAMES
from graphc.codegen.c_shared import content_key, renamed, share_bodies
from graphc.codegen.cache import cache_dir, generated_modules, used

log = logging.getLogger("graphc")

# -fwrapv: integer overflow wraps, as in NumPy and torch (C leaves it undefined).
# -fno-math-errno: lets sqrt/exp/... vectorize; graphc never reads errno.
# No -ffast-math: NaN, infinities and the order of float operations stay IEEE.
# -fno-trapping-math: lets GCC if-convert and vectorize a select whose sides compute (`c ? 0 : v * 2`,
# graphc_erff's clamp); graphc never reads the floating-point exception flags.
# --param=max-completely-peel-times=0: GCC 12.2 at -O3 for AVX2 fully unrolls a short innermost loop
# (5 or 10 iterations) and then vectorizes the loop around it wrongly when the body has selects: some
# elements of a where's gradient came out 0 (two loops from fuzzer seed 100247, reproduced alone in
# scripts/check_c_flags.py, with -fno-trapping-math or with -fno-tree-sink). Without that unrolling
# both are right. Changing these flags: run scripts/check_c_flags.py and tests/test_c_loops.py.
FLAGS = [
    "-O3",
    "-march=native",
    "-fPIC",
    "-fvisibility=hidden",
    "-fwrapv",
    "-fno-math-errno",
    "-fno-trapping-math",
    "--param=max-completely-peel-times=0",
    "-fopenmp-simd",
    "-pthread",
]
VECTOR_MATH = ["-DGRAPHC_LIBMVEC"]
VECTOR_MATH_LIBS = ["-lmvec"]
# Without libmvec the loops call c_math's functions, whose bits must not depend on how GCC compiled a
# loop: no contraction of a product into an addition (GCC's default for GNU C is -ffp-contract=fast),
# which also gives a program's own arithmetic the same bits in every loop.
OWN_MATH = ["-ffp-contract=off"]

PRELUDE = r"""#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

""" + FMA + r"""
#ifdef GRAPHC_LIBMVEC
/* Vector variants from glibc's libmvec, so loops calling these functions vectorize. */
#pragma omp declare simd notinbranch
extern float expf(float);
#pragma omp declare simd notinbranch
extern float logf(float);
#pragma omp declare simd notinbranch
extern float sinf(float);
#pragma omp declare simd notinbranch
extern float cosf(float);
#pragma omp declare simd notinbranch
extern float tanhf(float);
#pragma omp declare simd notinbranch
extern float log1pf(float);
#pragma omp declare simd notinbranch
extern float atanf(float);
#pragma omp declare simd notinbranch
extern float expm1f(float);
#pragma omp declare simd notinbranch
extern float exp2f(float);
#pragma omp declare simd notinbranch
extern float log2f(float);
#pragma omp declare simd notinbranch
extern float powf(float, float);
#pragma omp declare simd notinbranch
extern double exp(double);
#pragma omp declare simd notinbranch
extern double log(double);
#pragma omp declare simd notinbranch
extern double sin(double);
#pragma omp declare simd notinbranch
extern double cos(double);
#pragma omp declare simd notinbranch
extern double tanh(double);
#pragma omp declare simd notinbranch
extern double erf(double);
#pragma omp declare simd notinbranch
extern double log1p(double);
#pragma omp declare simd notinbranch
extern double atan(double);
#pragma omp declare simd notinbranch
extern double expm1(double);
#pragma omp declare simd notinbranch
extern double exp2(double);
#pragma omp declare simd notinbranch
extern double log2(double);
#pragma omp declare simd notinbranch
extern double pow(double, double);
""" + "".join(f"#define graphc_{name} {name}\n" for name in NAMES) + "#else\n" + C_MATH + "#endif\n" + r"""

/* float erf as x * P(x^2) / Q(x^2) on [-4, 4] (erf rounds to +-1 beyond), fitted for graphc by
   scripts/fit_erf.py (reweighted least squares on the relative error). Every float in [0, 8]
   is within 6 ulp of erf rounded from double, 98.4% within 1 ulp; NaN stays NaN. Only
   arithmetic, so loops inline and vectorize it: libmvec's erff took 0.75 ms per 1M floats on
   one core here, this 0.44 ms (the transformer block's GELU forward and backward). Its multiply-adds
   are GRAPHC_FMAF, so it has the same bits with and without -ffp-contract=off. */
static inline float graphc_erff(float a)
{
    float x = a > 4.0f ? 4.0f : (a < -4.0f ? -4.0f : a);
    float t = x * x;
    float p = 1.9118470144147651e-08f;
    p = GRAPHC_FMAF(p, t, -1.9418518733589986e-06f);
    p = GRAPHC_FMAF(p, t, 1.4711639298240395e-04f);
    p = GRAPHC_FMAF(p, t, 3.9832978476703638e-03f);
    p = GRAPHC_FMAF(p, t, 5.1501936967130076e-02f);
    p = GRAPHC_FMAF(p, t, 2.0695377459740535e-01f);
    p = GRAPHC_FMAF(p, t, 1.1283790967742948e+00f);
    float q = 1.0193621123138481e-03f;
    q = GRAPHC_FMAF(q, t, 1.4943313996310534e-02f);
    q = GRAPHC_FMAF(q, t, 1.1789964054285518e-01f);
    q = GRAPHC_FMAF(q, t, 5.1673929038807442e-01f);
    q = GRAPHC_FMAF(q, t, 1.0f);
    return x * p / q;
}

/* torch's floor_divide and remainder of floats (c10::div_floor_floating; remainder_kernel), which
   are Python's divmod: built on the exact fmod, so 1.0 // 0.1 is 9.0 where floor(1.0 / 0.1) is 10.
   A zero divisor gives a / b (inf or NaN) for the quotient and fmod's NaN for the remainder. */
#define GRAPHC_DIVISION(T, S)                                                       \
static inline T graphc_floor_divide##S(T a, T b)                                    \
{                                                                                   \
    if (b == 0)                                                                     \
        return a / b;                                                               \
    T mod = fmod##S(a, b);                                                          \
    T div = (a - mod) / b;                                                          \
    if (mod != 0 && (b < 0) != (mod < 0))                                           \
        div -= 1;                                                                   \
    if (div == 0)                                                                   \
        return copysign##S((T)0, a / b);                                            \
    T floordiv = floor##S(div);                                                     \
    return div - floordiv > (T)0.5 ? floordiv + 1 : floordiv;                       \
}                                                                                   \
static inline T graphc_remainder##S(T a, T b)                                       \
{                                                                                   \
    T mod = fmod##S(a, b);                                                          \
    return mod != 0 && (b < 0) != (mod < 0) ? mod + b : mod;                        \
}
GRAPHC_DIVISION(double, )
GRAPHC_DIVISION(float, f)

/* The pool: rows of a kernel in blocks on one thread per core, without Python or the GIL.
   A block is fn(ctx, b); the caller takes blocks too and returns once every block ran.
   Threads spin for GRAPHC_SPIN_NS after their last block before sleeping. Every program
   module carries this code, but the first module loaded shares its pool with the others
   (graphc.codegen.native.shared_pool), so a process has one pool. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define GRAPHC_SPIN_NS 100000

typedef void (*graphc_block_fn)(void *ctx, int64_t block);
typedef void (*graphc_parallel_fn)(graphc_block_fn fn, void *ctx, int64_t blocks);

static pthread_mutex_t graphc_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t graphc_pool_wake = PTHREAD_COND_INITIALIZER;
static atomic_long graphc_pool_generation = 0;
static int graphc_pool_sleeping = 0;
static int graphc_pool_threads = -1;  /* started on the first parallel call; 0 if none could be */
static atomic_int graphc_pool_busy = 0;
/* The current job is one word, generation | number of blocks | next block, so a thread
   claims a block with one compare-and-swap that fails if a new job replaced the one it
   read: a thread delayed after its last block of a job cannot claim a block of the next
   job by the old job's count. fn and ctx are written before the word that publishes
   them (release) and read after a successful claim (acquire), and the caller writes new
   ones only after every block of the job before has run. */
#define GRAPHC_INDEX_BITS 20
#define GRAPHC_MAX_BLOCKS ((int64_t)1 << GRAPHC_INDEX_BITS)
static atomic_uint_least64_t graphc_job = 0;
static uint64_t graphc_job_generation = 0;
static graphc_block_fn graphc_job_fn;
static void *graphc_job_ctx;
static atomic_long graphc_job_done = 0;

static int64_t graphc_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void graphc_run_blocks(void)
{
    uint64_t job = atomic_load_explicit(&graphc_job, memory_order_acquire);
    for (;;) {
        uint64_t next = job & (GRAPHC_MAX_BLOCKS - 1);
        uint64_t blocks = (job >> GRAPHC_INDEX_BITS) & (GRAPHC_MAX_BLOCKS - 1);
        if (next >= blocks)
            return;
        if (atomic_compare_exchange_weak_explicit(&graphc_job, &job, job + 1, memory_order_acquire, memory_order_acquire)) {
            graphc_job_fn(graphc_job_ctx, (int64_t)next);
            atomic_fetch_add_explicit(&graphc_job_done, 1, memory_order_release);
            job = atomic_load_explicit(&graphc_job, memory_order_acquire);
        }
    }
}

static void *graphc_pool_thread(void *unused)
{
    (void)unused;
    long seen = 0;
    for (;;) {
        int64_t idle = graphc_now_ns();
        while (atomic_load_explicit(&graphc_pool_generation, memory_order_acquire) == seen) {
            if (graphc_now_ns() - idle < GRAPHC_SPIN_NS)
                continue;
            pthread_mutex_lock(&graphc_pool_lock);
            graphc_pool_sleeping++;
            while (atomic_load(&graphc_pool_generation) == seen)
                pthread_cond_wait(&graphc_pool_wake, &graphc_pool_lock);
            graphc_pool_sleeping--;
            pthread_mutex_unlock(&graphc_pool_lock);
        }
        seen = atomic_load(&graphc_pool_generation);
        graphc_run_blocks();
    }
    return NULL;
}

/* A child of fork() has none of the pool's threads: it starts its own on its first parallel call. */
static void graphc_pool_forked(void)
{
    graphc_pool_threads = -1;
    graphc_pool_sleeping = 0;
    atomic_store(&graphc_pool_busy, 0);
    pthread_mutex_init(&graphc_pool_lock, NULL);
    pthread_cond_init(&graphc_pool_wake, NULL);
}

static void graphc_pool_start(void)
{
    static int fork_handled = 0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (!fork_handled)
        fork_handled = pthread_atfork(NULL, NULL, graphc_pool_forked) == 0;
    graphc_pool_threads = 0;
    for (long i = 1; i < cores; i++) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&thread, &attr, graphc_pool_thread, NULL) == 0)
            graphc_pool_threads++;
        pthread_attr_destroy(&attr);
    }
}

/* Run blocks 0..blocks-1 of fn (fewer than GRAPHC_MAX_BLOCKS); alone when the pool is taken by
   another caller's job. */
static void graphc_pool_run(graphc_block_fn fn, void *ctx, int64_t blocks)
{
    if (blocks > 1 && blocks < GRAPHC_MAX_BLOCKS && !atomic_exchange(&graphc_pool_busy, 1)) {
        pthread_mutex_lock(&graphc_pool_lock);
        if (graphc_pool_threads < 0)
            graphc_pool_start();
        pthread_mutex_unlock(&graphc_pool_lock);
        if (graphc_pool_threads > 0) {
            graphc_job_fn = fn;
            graphc_job_ctx = ctx;
            atomic_store_explicit(&graphc_job_done, 0, memory_order_relaxed);
            graphc_job_generation++;
            uint64_t job = (graphc_job_generation << (2 * GRAPHC_INDEX_BITS)) | ((uint64_t)blocks << GRAPHC_INDEX_BITS);
            atomic_store_explicit(&graphc_job, job, memory_order_release);
            pthread_mutex_lock(&graphc_pool_lock);
            atomic_fetch_add_explicit(&graphc_pool_generation, 1, memory_order_release);
            if (graphc_pool_sleeping)
                pthread_cond_broadcast(&graphc_pool_wake);
            pthread_mutex_unlock(&graphc_pool_lock);
            graphc_run_blocks();
            while (atomic_load_explicit(&graphc_job_done, memory_order_acquire) < blocks)
                ;
            atomic_store(&graphc_pool_busy, 0);
            return;
        }
        atomic_store(&graphc_pool_busy, 0);
    }
    for (int64_t b = 0; b < blocks; b++)
        fn(ctx, b);
}

/* The process's pool (graphc_pool_run of the first module loaded), set by the module's init. */
extern graphc_parallel_fn graphc_parallel;

/* graphc.errors.InvalidValueError(message): a check found a bad value. Imported on this error path only. */
static void graphc_raise_invalid_value(const char *message)
{
    PyObject *errors = PyImport_ImportModule("graphc.errors");
    PyObject *type = errors == NULL ? NULL : PyObject_GetAttrString(errors, "InvalidValueError");
    Py_XDECREF(errors);
    if (type == NULL)
        return; /* the failed import's exception stands */
    PyErr_SetString(type, message);
    Py_DECREF(type);
}

/* A block's error code, kept if it is the first: codes are not bits, so they are not ORed. */
static void graphc_block_failed(atomic_int *bad, int code)
{
    int none = 0;
    if (code)
        atomic_compare_exchange_strong(bad, &none, code);
}

/* numpy.ascontiguousarray: an input that is not one C-contiguous block is copied into one. */
extern PyObject *graphc_contiguous;

static void graphc_release(Py_buffer *views, PyObject **held, int count)
{
    for (int i = 0; i < count; i++) {
        PyBuffer_Release(&views[i]);
        Py_XDECREF(held[i]);
    }
}

/* The buffers of a call: inputs (made contiguous if they are not), then outputs, which
   must be writable C-contiguous memory of the right element size; NULL on error. */
static int graphc_buffers(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t expected, int count, int first_output,
                          const Py_ssize_t *itemsizes, Py_buffer *views, PyObject **held, PyObject *kernel)
{
    if (nargs != expected) {
        PyErr_Format(PyExc_TypeError, "%U takes %zd arguments, got %zd", kernel, expected, nargs);
        return 0;
    }
    for (int i = 0; i < count; i++) {
        int output = i >= first_output;
        held[i] = NULL;
        if (PyObject_GetBuffer(args[i], &views[i], PyBUF_C_CONTIGUOUS | (output ? PyBUF_WRITABLE : 0)) < 0) {
            if (output) {
                graphc_release(views, held, i);
                return 0;
            }
            PyErr_Clear();
            held[i] = PyObject_CallOneArg(graphc_contiguous, args[i]);
            if (held[i] == NULL || PyObject_GetBuffer(held[i], &views[i], PyBUF_C_CONTIGUOUS) < 0) {
                Py_XDECREF(held[i]);
                graphc_release(views, held, i);
                return 0;
            }
        }
        if (views[i].itemsize != itemsizes[i]) {
            PyErr_Format(PyExc_TypeError, "%U: argument %d has %zd-byte elements, expected %zd", kernel, i, views[i].itemsize, itemsizes[i]);
            graphc_release(views, held, i + 1);
            return 0;
        }
    }
    return 1;
}

/* Every buffer holds at least the bytes its shape needs at these sizes (else an error, not a stray read). */
static int graphc_lengths(Py_buffer *views, PyObject **held, int count, const int64_t *lengths, PyObject *kernel)
{
    for (int i = 0; i < count; i++) {
        if (views[i].len < lengths[i]) {
            PyErr_Format(PyExc_ValueError, "%U: argument %d holds %zd bytes, its shape needs %lld", kernel, i, views[i].len, (long long)lengths[i]);
            graphc_release(views, held, count);
            return 0;
        }
    }
    return 1;
}

/* Sizes follow the buffers; -1 with an exception set on error. */
static int graphc_sizes(PyObject *const *args, int count, int64_t *sizes)
{
    for (int i = 0; i < count; i++) {
        sizes[i] = PyLong_AsLongLong(args[i]);
        if (sizes[i] == -1 && PyErr_Occurred())
            return 0;
    }
    return 1;
}
"""

_failed = False
# The C thread pool every program module uses: a capsule of the first loaded module's pool (PRELUDE).
shared_pool: object = None


def _setting() -> str:
    return os.environ.get("GRAPHC_NATIVE", "1").strip().lower()


def enabled() -> bool:
    """``GRAPHC_NATIVE``: compiled programs get C loops (default) unless it is 0/off, or a build failed."""
    return _setting() not in ("0", "off", "false", "no") and not _failed and compiler() is not None


def for_eager() -> bool:
    """``GRAPHC_NATIVE=all``: eager code's small one-off programs get C loops too (a build each: for tests)."""
    return _setting() == "all" and enabled()


def compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


def _machine() -> str:
    """What ``-march=native`` depends on: the CPU's feature flags."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line
    except OSError:
        pass
    return sys.platform


# What every module links once (``graphc_runtime.o``, compiled once per compiler setup): the globals the
# kernels' functions read, and the module's creation, which each program's table calls from its PyInit.
RUNTIME = r"""
PyObject *graphc_contiguous = NULL;
graphc_parallel_fn graphc_parallel = NULL;

struct graphc_entry {
    const char *name;
    void (*function)(void);
};

/* The module of one program: each kernel's name bound to the function serving it (METH_FASTCALL),
   its `self` the kernel's name, which the function's argument errors quote (graphc_buffers). The
   method table and definition live as long as the process: a module is never unloaded. */
PyObject *graphc_make_module(const char *name, const struct graphc_entry *entries, int count)
{
    if (graphc_contiguous == NULL) {
        PyObject *numpy = PyImport_ImportModule("numpy");
        if (numpy == NULL)
            return NULL;
        graphc_contiguous = PyObject_GetAttrString(numpy, "ascontiguousarray");
        Py_DECREF(numpy);
        if (graphc_contiguous == NULL)
            return NULL;
    }
    if (graphc_parallel == NULL) {
        PyObject *native = PyImport_ImportModule("graphc.codegen.native");
        if (native == NULL)
            return NULL;
        PyObject *shared = PyObject_GetAttrString(native, "shared_pool");
        if (shared == Py_None) {
            Py_DECREF(shared);
            shared = PyCapsule_New((void *)graphc_pool_run, "graphc.pool", NULL);
            if (shared == NULL || PyObject_SetAttrString(native, "shared_pool", shared) < 0) {
                Py_XDECREF(shared);
                Py_DECREF(native);
                return NULL;
            }
        }
        Py_DECREF(native);
        if (shared == NULL)
            return NULL;
        graphc_parallel = (graphc_parallel_fn)PyCapsule_GetPointer(shared, "graphc.pool");
        Py_DECREF(shared);
        if (graphc_parallel == NULL)
            return NULL;
    }
    PyMethodDef *methods = calloc(count + 1, sizeof(PyMethodDef));
    PyModuleDef *definition = malloc(sizeof(PyModuleDef));
    if (methods == NULL || definition == NULL) {
        free(methods);
        free(definition);
        return PyErr_NoMemory();
    }
    static const PyModuleDef blank = {PyModuleDef_HEAD_INIT, NULL, NULL, -1, NULL};
    *definition = blank;
    definition->m_name = name;
    PyObject *module = PyModule_Create(definition);
    PyObject *module_name = module == NULL ? NULL : PyModule_GetNameObject(module);
    if (module_name == NULL) {
        Py_XDECREF(module);
        return NULL;
    }
    for (int i = 0; i < count; i++) {
        methods[i].ml_name = entries[i].name;
        methods[i].ml_meth = (PyCFunction)entries[i].function;
        methods[i].ml_flags = METH_FASTCALL;
        PyObject *kernel = PyUnicode_FromString(entries[i].name);
        PyObject *function = kernel == NULL ? NULL : PyCFunction_NewEx(&methods[i], kernel, module_name);
        Py_XDECREF(kernel);
        if (function == NULL || PyModule_AddObject(module, entries[i].name, function) < 0) {
            Py_XDECREF(function);
            Py_DECREF(module_name);
            Py_DECREF(module);
            return NULL;
        }
    }
    Py_DECREF(module_name);
    return module;
}
"""


def _key(*texts: str) -> str:
    return hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]


@functools.cache
def _setup_key(cc: str, extra: tuple[str, ...]) -> str:
    """The hash of a compiler setup: compiler, flags, machine, Python, prelude and runtime."""
    return _key(cc, *FLAGS, *extra, _machine(), sys.version, PRELUDE, RUNTIME)


def _setup(cc: str, extra: list[str]) -> str:
    """The folder of a compiler setup: its prelude header, precompiled header and runtime object."""
    return os.path.join(cache_dir(), f"prelude_{_setup_key(cc, tuple(extra))}")


def function_source(symbol: str, name: str, source: str) -> str:
    """A function's file: kernel ``name``'s C loops defining ``symbol``, which every kernel with the same loops calls."""
    header = f"/* {symbol}: C loops first written for {name}; every kernel of any program\n"
    header += "   with the same loops calls this function (graphc/codegen/c_shared.py). */\n"
    return f'{header}#include "graphc_prelude.h"\n\n{renamed(name, symbol, source)}\n'


def table_source(name: str, entries: list[tuple[str, str]], files: dict[str, str]) -> str:
    """A program's module: its kernels' names bound to the functions serving them (``files``: symbol -> its file).

    No header is included, so it compiles in a few milliseconds: the module is made by the
    runtime's ``graphc_make_module``.
    """
    served: dict[str, list[str]] = {}
    for kernel, symbol in entries:
        served.setdefault(symbol, []).append(kernel)
    lines = [
        f"/* {name}: the C loops of one program, linked from objects compiled once per function",
        f"   (graphc/codegen/native.py): {len(entries)} kernels, {len(served)} functions, each in the file named beside it. */",
        "struct graphc_entry {",
        "    const char *name;",
        "    void (*function)(void);",
        "};",
        "void *graphc_make_module(const char *name, const struct graphc_entry *entries, int count);",
        "",
    ]
    lines += [f"void {symbol}(void); /* {files[symbol]}: {', '.join(kernels)} */" for symbol, kernels in served.items()]
    table = [f'    {{"{kernel}", {symbol}}},' for kernel, symbol in entries] or ["    {0, 0},"]
    lines += ["", "static const struct graphc_entry graphc_entries[] = {", *table, "};", ""]
    lines.append(f'__attribute__((visibility("default"))) void *PyInit_{name}(void)')
    lines += ["{", f'    return graphc_make_module("{name}", graphc_entries, {len(entries)});', "}", ""]
    return "\n".join(lines)


def _write(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (another process may be writing the same file)."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _compile_to(command: list[str], output: str) -> str | None:
    """Run ``command -o <temporary>`` and rename the result to ``output``: None on success, else what the compiler said."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(output), suffix=".tmp")
    os.close(fd)
    done = subprocess.run([*command, "-o", tmp], capture_output=True, text=True)
    if done.returncode != 0:
        os.unlink(tmp)
        return f"{command[0]} exited with {done.returncode}: {done.stderr}"
    os.replace(tmp, output)
    return None


def _link(cc: str, table_path: str, units: list[tuple[str, str]], output: str, extra: list[str], libs: list[str]) -> str | None:
    """Build the module: the function objects missing from the cache compiled side by side, one per core, then linked
    with the setup's runtime and the program's table. None on success, else what the compiler said.

    ``units`` are (object path, source path). The setup's precompiled header comes first: with it a
    function's file compiles without parsing Python.h again (0.04 s of CPU each instead of 0.16).
    """
    setup = _setup(cc, extra)
    header, runtime = os.path.join(setup, "graphc_prelude.h"), os.path.join(setup, "graphc_runtime.c")
    includes = [f"-I{setup}", f"-I{sysconfig.get_paths()['include']}"]
    flags = [cc, *FLAGS, *extra, *includes]
    for path, text in ((header, f"#ifndef GRAPHC_PRELUDE\n#define GRAPHC_PRELUDE\n{PRELUDE}#endif\n"), (runtime, f'#include "graphc_prelude.h"\n{RUNTIME}')):
        if os.path.exists(path):
            used(path)
        else:
            _write(path, text)
    if not os.path.exists(header + ".gch"):
        _compile_to([*flags, "-x", "c-header", header], header + ".gch")  # without it, each function parses the header
    else:
        used(header + ".gch")
    jobs = []
    for obj, source in [(runtime[:-2] + ".o", runtime), *units]:
        if os.path.exists(obj):
            used(obj)
        else:
            jobs.append(([*flags, "-c", source], obj))
    jobs.sort(key=lambda job: -os.path.getsize(job[0][-1]))  # the longest first
    table = table_path[:-2] + ".o"
    jobs.append(([cc, "-fPIC", "-O0", "-c", table_path], table))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        failed = [f for f in pool.map(lambda job: _compile_to(*job), jobs) if f is not None]
    if not failed:
        objects = [runtime[:-2] + ".o", table, *(obj for obj, _ in units)]
        done = subprocess.run([cc, "-shared", "-pthread", *objects, "-o", output, *libs, "-lm"], capture_output=True, text=True)
        if done.returncode != 0:
            failed.append(f"{cc} exited with {done.returncode}: {done.stderr}")
    if os.path.exists(table):
        os.unlink(table)
    return "\n".join(failed) or None


def build(functions: list[tuple[str, str]], vector_math: bool = True) -> str | None:
    """Compile ``functions`` (name, C source) into an extension module; its path, or None if the build failed.

    Each distinct function (``c_shared``) is compiled once into an object of its own, named by the
    hash of its canonical text and the compiler setup, which any later module needing it links
    again: a second program, or a program compiled again for new shapes, compiles only the
    functions no program had, in any process sharing the cache.

    ``vector_math=False`` gives every loop graphc's own ``exp``, ``log``, ... (``c_math``) instead of
    libmvec's: a vectorized loop's libmvec results differ in the last bit from a scalar loop's libm
    ones, so a value computed in two loops (a reduction's passes, two kernels) would not compare
    equal to itself. graphc's are slower than libmvec's (docs/decisions.md, "graphc's own exp").
    """
    global _failed
    cc = compiler()
    assert cc is not None
    distinct, aliases = share_bodies(functions)
    symbols = {name: f"graphc_fn_{content_key(name, source)}" for name, source in distinct}
    entries = [(name, symbols[aliases.get(name, name)]) for name, _ in functions]
    math = "vector math" if vector_math else "own math"
    key = _key(cc, *FLAGS, math, _machine(), sys.version, PRELUDE, RUNTIME, *(f"{n}={s}" for n, s in entries))
    name = f"graphc_c_{key}"
    folder = os.path.join(cache_dir(), key[:2])
    path = os.path.join(folder, name + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
    source_path = os.path.join(folder, name + ".c")
    sources = {symbols[n]: os.path.join(cache_dir(), symbols[n][10:12], symbols[n] + ".c") for n, _ in distinct}
    files = {symbol: os.path.relpath(source, cache_dir()) for symbol, source in sources.items()}
    if os.path.exists(path):
        used(path)
        # The cache is trimmed file by file, by last use: the table goes with each use of its module,
        # and is written again if it went (reports and dumps point to it).
        if os.path.exists(source_path):
            used(source_path)
        else:
            _write(source_path, table_source(name, entries, files))
        return path
    for n, source in distinct:
        if os.path.exists(sources[symbols[n]]):
            used(sources[symbols[n]])
        else:
            _write(sources[symbols[n]], function_source(symbols[n], n, source))
    _write(source_path, table_source(name, entries, files))
    errors = ""
    attempts = [(VECTOR_MATH, VECTOR_MATH_LIBS), (OWN_MATH, [])] if vector_math else [(OWN_MATH, [])]
    for extra, libs in attempts:
        setup = _setup_key(cc, tuple(extra))
        units = [(source[:-2] + f".{setup}.o", source) for source in sources.values()]
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".so.tmp")
        os.close(fd)
        failure = _link(cc, source_path, units, tmp, extra, libs)
        if failure is None:
            os.replace(tmp, path)
            used(path)
            return path
        os.unlink(tmp)
        errors = failure
    if _toolchain_builds(cc, folder):
        log.warning(
            "graphc: this program's C loops did not build, a graphc bug (please report it with %s); "
            "the program runs NumPy kernels, later programs keep their C loops:\n%s",
            source_path,
            errors[-2000:],
        )
        return None
    _failed = True
    log.warning("graphc: building C loops failed, the NumPy backend keeps NumPy kernels (%s):\n%s", source_path, errors[-2000:])
    return None


def _toolchain_builds(cc: str, folder: str) -> bool:
    """Whether a module with no kernels builds: if so, a failed build was its kernels' fault, not the machine's.

    A broken compiler or missing Python headers turn C loops off for the process (each build
    would fail again, and slowly); one program's bad kernel only sends that program to NumPy.
    """
    fd, source = tempfile.mkstemp(dir=folder, suffix=".c")
    with os.fdopen(fd, "w") as f:
        f.write(table_source("graphc_c_probe", [], {}))
    output = source[:-2] + ".so.tmp"
    try:
        return _link(cc, source, [], output, OWN_MATH, []) is None
    finally:
        for leftover in (source, output):
            if os.path.exists(leftover):
                os.unlink(leftover)


def load(path: str) -> ModuleType:
    """Import the extension module at ``path`` (once per process; kept out of sys.modules, as cache.import_source does)."""
    name = os.path.basename(path).split(".")[0]
    if name in generated_modules:
        return generated_modules[name]
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    generated_modules[name] = module
    return module

"""Differential check of the C compiler under graphc's loop flags (graphc/codegen/native.py).

GCC 12.2 miscompiled a select in a loop nest at ``-O3 -fno-trapping-math`` (docs/decisions.md,
"C loop flags"), so flags that change how loops are if-converted, unrolled or vectorized are
checked here before graphc adopts them: random loop nests shaped like the ones
graphc/codegen/c_loops.py writes (small constant trip counts, an ``ivdep`` innermost loop,
broadcast and transposed reads, comparisons feeding ``c ? a : b`` selects, several stores
per iteration) are compiled once at ``-O0`` and once per flag set under test, all kernels of
a batch in one C file, and every output is compared. A miscompile stores a wrong value, not a
rounding difference, so the comparison allows the rounding that FMA contraction changes.

    python scripts/check_c_flags.py --kernels 2000 --set=-fno-trapping-math --set="-fno-trapping-math --param=max-completely-peel-times=0"

prints, for each flag set, how many kernels stored a wrong value (and the first few sources).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import random
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from graphc.codegen.native import FLAGS  # noqa: E402

TRIPS = [1, 2, 3, 4, 5, 7, 8, 10, 12, 16, 33]
INPUTS = 4
UNARY = ["floor({a})", "fabs({a})", "({a} * 2.0)", "(-{a})", "sqrt(fabs({a}) + 1.0)", "exp({a} * 0.1)"]
BINARY = ["({a} + {b})", "({a} - {b})", "({a} * {b})", "({a} / (fabs({b}) + 0.5))"]
COMPARE = ["<=", "<", ">", ">=", "!="]
DRAWS = 8  # inputs per kernel: a miscompiled select is wrong only in lanes where its condition is mixed


# Loops GCC 12.2 miscompiled at -O3 -march=native on this AVX2 machine, from graphc programs the
# fuzzer drew (seed 100247): some elements of a select's result came out wrong. The first needs
# -fno-trapping-math, the second -fno-tree-sink; --param=max-completely-peel-times=0 makes both
# right. A check that misses them checks nothing.
KNOWN = {
    "known_where_of_three_results": (
        [4, 4, 10],
        3,
        """void known_where_of_three_results(const double *in0, const double *in1, const double *in2, const double *in3,
                                  double *out0, double *out1, double *out2) {
for (int64_t i0 = 0; i0 < 4; i0++) {
for (int64_t i1 = 0; i1 < 4; i1++) {
#pragma GCC ivdep
for (int64_t i2 = 0; i2 < 10; i2++) {
const double v0 = in0[i0 * 40 + i1 * 10 + i2];
const double v1 = floor(v0);
const int c0 = v0 <= 0.0;
const double v2 = v0 * 2.0;
const double v3 = c0 ? (-0.55) : v2;
const double v4 = in1[i0 * 40 + i1 * 10 + i2];
const double v5 = c0 ? 0.0 : v4;
const double v6 = v5 * 2.0;
out0[i0 * 40 + i1 * 10 + i2] = v1;
out1[i0 * 40 + i1 * 10 + i2] = v3;
out2[i0 * 40 + i1 * 10 + i2] = v6;
}
}
}
}""",
    ),
    "known_nested_where_over_a_slice": (
        [4, 4, 5],
        1,
        """void known_nested_where_over_a_slice(const double *in0, const double *in1, const double *in2, const double *in3,
                                     double *out0) {
for (int64_t i0 = 0; i0 < 4; i0++) {
for (int64_t i1 = 0; i1 < 4; i1++) {
#pragma GCC ivdep
for (int64_t i2 = 0; i2 < 5; i2++) {
const double v0 = in0[i0 * 40 + i1 * 10 + i2 + 5];
const double v1 = in1[i0 * 20 + i1 * 5 + i2];
const int c0 = v1 < (-1.44);
const double v2 = c0 ? (-1.44) : v1;
const int c1 = v2 < 0.69;
const double v3 = in2[i0 * 20 + i1 * 5 + i2];
const double v4 = c1 ? 0.0 : v3;
const double v5 = in3[i0 * 20 + i1 * 5 + i2];
const double v6 = v4 + v5;
const double v7 = c0 ? 0.0 : v6;
out0[i0 * 20 + i1 * 5 + i2] = v0 + v7;
}
}
}
}""",
    ),
}


class Kernel:
    """One loop nest: ``void NAME(const T *in0..in2, T *out0..)`` over row-major arrays of ``size`` elements."""

    def __init__(self, name: str, ctype: str, trips: list[int], outputs: int, source: str = "") -> None:
        self.name = name
        self.ctype = ctype
        self.trips = trips
        self.size = int(np.prod(trips))
        self.outputs = outputs
        self.source = source

    @classmethod
    def drawn(cls, name: str, rng: random.Random) -> Kernel:
        depth = rng.choice([1, 2, 2, 3, 3])
        kernel = cls(name, rng.choice(["double", "float"]), [rng.choice(TRIPS) for _ in range(depth)], rng.choice([1, 2, 3, 3]))
        kernel.source = kernel._write(rng)
        return kernel

    def _index(self, rng: random.Random) -> str:
        """A contiguous, broadcast (some loops do not move it), permuted or sliced read (from an array
        twice as long along the last axis, at either half) of an array of ``2 * size`` elements."""
        dims = list(range(len(self.trips)))
        kind = rng.choice(["contiguous", "contiguous", "broadcast", "permuted", "sliced"])
        if kind == "broadcast":
            dims = [d for d in dims if rng.random() < 0.5]
        elif kind == "permuted":
            rng.shuffle(dims)
        extents = list(self.trips)
        offset = 0
        if kind == "sliced":
            extents[-1] *= 2
            offset = rng.choice([0, self.trips[-1]])
        terms, stride = [], 1
        for d in reversed(dims):
            terms.append(f"i{d} * {stride}" if stride != 1 else f"i{d}")
            stride *= extents[d]
        if offset:
            terms.insert(0, str(offset))
        return " + ".join(reversed(terms)) or "0"

    def _write(self, rng: random.Random) -> str:
        t = self.ctype
        lit = "" if t == "double" else "f"
        params = [f"const {t} *in{k}" for k in range(INPUTS)] + [f"{t} *out{k}" for k in range(self.outputs)]
        lines = [f"void {self.name}({', '.join(params)}) {{"]
        for d, trip in enumerate(self.trips):
            if d == len(self.trips) - 1:
                lines.append("#pragma GCC ivdep")
            lines.append(f"for (int64_t i{d} = 0; i{d} < {trip}; i{d}++) {{")
        values: list[str] = []
        conds: list[str] = []
        body: list[str] = []
        loads = rng.randint(1, INPUTS)
        body.append(f"const {t} v0 = in0[{self._index(rng)}];")
        values.append("v0")
        for _ in range(rng.randint(3, 12)):
            choice = rng.random()
            name = f"v{len(values)}"
            if choice < 0.2 and loads > 1:  # graphc loads an input where it is first used
                expr = f"in{INPUTS - loads + 1}[{self._index(rng)}]"
                loads -= 1
            elif choice < 0.35:
                expr = rng.choice(UNARY).format(a=rng.choice(values))
            elif choice < 0.5:
                expr = rng.choice(BINARY).format(a=rng.choice(values), b=rng.choice(values))
            elif choice < 0.7 or not conds:
                cond = f"c{len(conds)}"
                body.append(f"const int {cond} = {rng.choice(values)} {rng.choice(COMPARE)} {rng.choice([0.0, 0.5, -0.25])}{lit};")
                conds.append(cond)
                continue
            else:
                side = [rng.choice(values[-3:]), rng.choice([f"0.0{lit}", f"-0.55{lit}", f"1.0{lit}", rng.choice(values)])]
                rng.shuffle(side)
                expr = f"{rng.choice(conds)} ? {side[0]} : {side[1]}"
            body.append(f"const {t} {name} = {expr};")
            values.append(name)
        flat = self._index_contiguous()
        picks = [values[-1], *rng.sample(values[:-1], min(self.outputs, len(values)) - 1)]  # the last value and others kept for later kernels
        for k, value in enumerate(picks):
            body.append(f"out{k}[{flat}] = {value};")
        lines += body
        lines += ["}"] * len(self.trips) + ["}"]
        return "\n".join(lines)

    def _index_contiguous(self) -> str:
        terms, stride = [], 1
        for d in reversed(range(len(self.trips))):
            terms.append(f"i{d} * {stride}" if stride != 1 else f"i{d}")
            stride *= self.trips[d]
        return " + ".join(reversed(terms))


def build(kernels: list[Kernel], flags: list[str], workdir: str, tag: str) -> ctypes.CDLL:
    source = "#include <math.h>\n#include <stdint.h>\n" + "\n".join(k.source for k in kernels)
    c_path = os.path.join(workdir, f"{tag}.c")
    so_path = os.path.join(workdir, f"{tag}.so")
    with open(c_path, "w") as f:
        f.write(source)
    subprocess.run(["gcc", *flags, "-shared", "-fPIC", c_path, "-o", so_path, "-lm"], check=True)
    return ctypes.CDLL(so_path)


def run(library: ctypes.CDLL, kernel: Kernel, inputs: list[np.ndarray]) -> list[np.ndarray]:
    outputs = [np.full(kernel.size, np.nan, dtype=inputs[0].dtype) for _ in range(kernel.outputs)]
    pointers = [a.ctypes.data_as(ctypes.c_void_p) for a in inputs + outputs]
    getattr(library, kernel.name)(*pointers)
    return outputs


def wrong_on(kernel: Kernel, reference: ctypes.CDLL, built: dict[str, ctypes.CDLL], data: np.random.Generator, draws: int) -> set[str]:
    """The flag sets whose build of ``kernel`` stores a value the ``-O0`` build does not, on any of ``draws`` inputs."""
    dtype = np.float64 if kernel.ctype == "double" else np.float32
    tolerance = 1e-9 if dtype == np.float64 else 1e-4
    wrong = set()
    for _ in range(draws):
        inputs = [data.uniform(-2, 2, 2 * kernel.size).astype(dtype) for _ in range(INPUTS)]
        want = run(reference, kernel, inputs)
        for extra, library in built.items():
            got = run(library, kernel, inputs)
            if any(not np.allclose(g, w, rtol=tolerance, atol=tolerance, equal_nan=True) for g, w in zip(got, want)):
                wrong.add(extra)
    return wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kernels", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=250, help="kernels per C file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], help="extra flags over graphc's (write --set=-f...); graphc's own are always checked")
    args = parser.parse_args()
    base = [f for f in FLAGS if f not in ("-fvisibility=hidden", "-pthread")]
    wrong: dict[str, list[str]] = {extra: [] for extra in ["", *args.set]}
    with tempfile.TemporaryDirectory() as workdir:
        for start in range(0, args.kernels, args.batch):
            rng = random.Random(args.seed * 1_000_003 + start)
            kernels = [Kernel.drawn(f"k{start + i}", rng) for i in range(min(args.batch, args.kernels - start))]
            if start == 0:
                kernels += [Kernel(name, "double", trips, outputs, source) for name, (trips, outputs, source) in KNOWN.items()]
            reference = build(kernels, ["-O0"], workdir, f"ref{start}")
            built = {extra: build(kernels, base + extra.split(), workdir, f"set{start}_{n}") for n, extra in enumerate(wrong)}
            data = np.random.default_rng(start)
            for kernel in kernels:
                for extra in wrong_on(kernel, reference, built, data, DRAWS):
                    if kernel.name in KNOWN:
                        print(f"[{extra or 'graphc flags'}] miscompiles {kernel.name}", flush=True)
                    else:
                        wrong[extra].append(kernel.source)
            done = min(start + args.batch, args.kernels)
            print(f"{done} kernels: " + ", ".join(f"[{e or 'graphc flags'}] {len(w)} wrong" for e, w in wrong.items()), flush=True)
    for extra, sources in wrong.items():
        print(f"\n== {' '.join(base)} {extra}: {len(sources)} of {args.kernels} kernels stored a wrong value")
        for source in sources[:3]:
            print(source, "\n")


if __name__ == "__main__":
    main()

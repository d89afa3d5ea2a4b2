"""Compiling a Triton program's kernels ahead of its launches: recording launches, the compile jobs, and sm_90 code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import sympy
import torch

import graphc
from graphc.codegen import triton as triton_codegen
from graphc.codegen import triton_compile
from graphc.codegen import triton_support as rt
from graphc.codegen.cache import import_source
from graphc.codegen.kernel_ir import Program, kernel_for
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Graph, toposort
from graphc.ir.primitives.source import source_node
from graphc.ir.registry import emit
from graphc.ir.types import TensorType
from graphc.passes.memory import plan_memory

ROOT = Path(__file__).resolve().parent.parent


def softmax_then_matmul_module() -> object:
    """A program of two kernels: a row softmax (a reduction) and a matmul of its result (autotuned)."""
    x = source_node(TensorType((8, 16), dtypes.float32))
    w = source_node(TensorType((16, 4), dtypes.float32))
    top = emit("max", x, axes=(1,), keepdim=True)
    e = b.unary("exp", b.sub(x, b.expand(top, (8, 16))))
    soft = b.div(e, b.expand(emit("sum", e, axes=(1,), keepdim=True), (8, 16)))
    out = b.matmul(soft, w)
    graph = Graph([x, w], [out])
    softmax_nodes = [n for n in graph.nodes if n.op not in ("input", "parameter", "matmul")]
    program = Program(graph, [kernel_for(0, softmax_nodes, [soft]), kernel_for(1, [out], [out])])
    return import_source("triton_compile_test_program", triton_codegen.emit_program(program, plan_memory(program)))


def test_recording_a_program_lists_its_launches_and_runs_no_kernel() -> None:
    module = softmax_then_matmul_module()
    x, w = torch.ones(8, 16), torch.ones(16, 4)
    launches = triton_compile.record(module.launch_all, [x, w])
    assert [launch.kernel.fn.__name__ for launch in launches] == [
        "k0_max_sub_exp_sum_persistent",
        "k1_matmul_kernel",
    ]
    assert launches[0].meta == {"XBLOCK": launches[0].meta["XBLOCK"], "RBLOCK": 16, "num_warps": 4, **rt.LAUNCH_OPTIONS}
    assert triton_compile.recording is None
    # Recording launched nothing; a real run afterwards still computes the product.
    expected = torch.softmax(x, -1) @ w
    np.testing.assert_allclose(module.run([x, w])[0].cpu().numpy(), expected.numpy(), rtol=1e-6)


def test_an_autotuned_launch_is_one_compile_per_config_and_repeats_are_compiled_once() -> None:
    module = softmax_then_matmul_module()
    launches = triton_compile.record(module.launch_all, [torch.ones(8, 16), torch.ones(16, 4)])
    jobs = triton_compile.jobs(launches + launches)
    configs = launches[1].kernel.configs
    assert len(jobs) == 1 + len(configs)
    matmul_jobs = [job for job in jobs if job.name == "k1_matmul_kernel"]
    assert [job.meta["BLOCK_M"] for job in matmul_jobs] == [config.kwargs["BLOCK_M"] for config in configs]
    assert all(job.meta["num_warps"] == config.num_warps for job, config in zip(matmul_jobs, configs))


@pytest.mark.skipif(not rt.INTERPRET, reason="on a GPU compile_ahead compiles (the other tests run it)")
def test_compile_ahead_does_nothing_in_the_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    module = softmax_then_matmul_module()
    called = []
    monkeypatch.setattr(triton_compile, "compile_on_device", lambda *args: called.append(args) or (0, 0.0))
    module.run([torch.ones(8, 16), torch.ones(16, 4)])
    assert called == []


def test_compile_threads_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHC_COMPILE_THREADS", "3")
    assert triton_compile.compile_threads() == 3
    monkeypatch.delenv("GRAPHC_COMPILE_THREADS")
    assert triton_compile.compile_threads() == (os.cpu_count() or 1)


def compile_for_sm90(tmp_path: Path, names: list[str], *options: str) -> dict[str, dict]:
    """Run benchmarks/triton_compile.py on the programs named; its rows by program."""
    report = tmp_path / "compiles.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "triton_compile.py"), "--threads", "2", "--json", str(report), *options]
    for name in names:
        command += ["--only", name]
    env = dict(os.environ, TRITON_INTERPRET="0", TRITON_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {row["program"]: row for row in json.loads(report.read_text())}
    for row in rows.values():
        assert row["compiles"] > 0 and row["failures"] == [] and row["max_shared"] <= 232448, row
    return rows


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the Triton tests compile every kernel anyway")
def test_the_kernels_of_programs_beyond_the_interpreter_compile_for_sm90(tmp_path: Path) -> None:
    """What only Triton's compiler rejects: every kernel of a few programs, compiled for sm_90.

    The programs reach reductions, autotuned float32 and float64 matmuls with epilogues,
    scalar float64 math (Adam's bias corrections), gathers and atomic scatter-adds,
    convolutions, pooling, float16, looped reductions of few long rows on 16 warps, an
    LSTM's products read as column slices (several accumulators) and concats stored by parts,
    batch-norm over images (sums over batch, height and width; a max-pool's backward
    fold of disjoint windows), and rounding and integer division (the exact fmod's loops).
    """
    rows = compile_for_sm90(tmp_path, ["softmax", "Adam step", "float64", "embedding", "recurrent", "batch-norm", "rounding"])
    assert {name.split(" (")[0] for name in rows} == {
        "softmax 512x256",
        "Adam step, 1M parameters",
        "float64 linear+ReLU, backward",
        "embedding, conv, max-pool, float16 softmax, backward",
        "long rows: softmax, mean, argmax",
        "recurrent cell: gate columns of one product, concats by parts",
        "conv, batch-norm over images, ReLU, max-pool, backward",
        "rounding and integer division: float32, float64, float16, int32, int64",
    }


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the Triton tests compile every kernel anyway")
def test_every_benchmark_program_fused_and_unfused_compiles_for_sm90(tmp_path: Path) -> None:
    rows = compile_for_sm90(tmp_path, [], "--unfused")
    from graphc import benchmark

    assert len(rows) == 2 * (len(benchmark.workloads(quick=True)) + 6)  # the benchmark's workloads and six CHECKS programs, each fused and unfused


def test_kernels_alike_but_for_their_nodes_share_one_function_and_differing_ones_do_not() -> None:
    x, y, z = (source_node(TensorType(shape, dtypes.float32)) for shape in ((4, 8), (4, 8), (4, 9)))
    ex, ey, ez = b.unary("exp", x), b.unary("exp", y), b.unary("exp", z)
    graph = Graph([x, y, z], [ex, ey, ez])
    program = Program(graph, [kernel_for(i, [node], [node]) for i, node in enumerate((ex, ey, ez))])
    source = triton_codegen.emit_program(program, plan_memory(program))
    module = import_source("triton_shared_functions_test", source)
    assert [name for name in vars(module) if name.endswith("_kernel")] == ["k0_exp_kernel", "k2_exp_kernel"]
    assert "rt.launch(k0_exp_kernel," in program.kernels[1].source
    assert "# k1_exp_kernel: the same code as k0_exp_kernel, compiled once" in program.kernels[1].source
    values = [torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 9)]
    for got, value in zip(module.run(values), values):
        torch.testing.assert_close(got.cpu(), value.exp())


def test_matmul_tiles_are_cut_to_known_sizes_and_tried_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rt, "INTERPRET", False)  # the interpreter always gets one config
    tiles = [(c.kwargs["BLOCK_M"], c.kwargs["BLOCK_N"], c.kwargs["BLOCK_K"], c.num_warps) for c in rt.matmul_configs(30, 50, None)]
    assert tiles == [(32, 64, 32, 2), (16, 64, 64, 4)]  # a weight gradient's product: K is the batch
    assert len(rt.matmul_configs(None, 1024, 256)) == 6  # large or unknown sizes keep every tile
    assert all(c.kwargs["BLOCK_N"] == 16 and c.kwargs["BLOCK_K"] >= 16 for c in rt.matmul_configs(None, 6, 9))


def test_kernels_alike_but_for_the_names_of_values_recomputed_at_other_columns_share_one_function() -> None:
    """An LSTM's forward steps read their gate product at four column offsets, so the emitter
    names the recomputed values v67_1, v67_2, ...; the 27 steps are still one function."""
    lstm = graphc.nn.LSTM(4, 8, batch_first=True)
    x = graphc.tensor(np.random.default_rng(0).standard_normal((2, 5, 4)).astype(np.float32))
    compiled = graphc.compile(lambda t: lstm(t)[0].sum(), backend="triton")
    compiled(x)
    kernels = [k for k in compiled.report().kernels if "sigmoid" in k.name and k.kind == "matmul"]
    assert len(kernels) >= 4
    # the first step reads no state and the last returns its own: the steps between are one function
    assert sum("the same code as" in k.source for k in kernels) == len(kernels) - 3


def test_several_accumulators_take_smaller_tiles_and_fewer_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rt, "INTERPRET", False)
    for config in rt.matmul_configs(None, 64, 64, accumulators=4):
        m, n, k = config.kwargs["BLOCK_M"], config.kwargs["BLOCK_N"], config.kwargs["BLOCK_K"]
        assert m * n * 4 <= 128 * 128
        assert config.num_stages == 2 or config.num_stages * 4 * k * (m + 4 * n) <= 128 << 10  # two at least


def test_few_long_rows_are_reduced_in_wide_blocks_on_more_warps(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mean over 65536 losses is one row: in blocks of 1024 on 4 warps it was 64 dependent
    rounds of loads on one multiprocessor. Many rows keep the blocks that fill the GPU."""
    for name, value in (("MAX_PERSISTENT_RBLOCK", 4096), ("LOOPED_RBLOCK", 1024), ("FEW_ROWS_RBLOCK", 8192), ("REDUCTION_ELEMENTS", 4096)):
        monkeypatch.setattr(rt, name, value)
    assert rt.reduction_blocks(1, 65536) == (False, 1, 8192, 16)
    assert rt.reduction_blocks(8, 10000) == (False, 1, 8192, 16)
    assert rt.reduction_blocks(65536, 10000) == (False, 4, 1024, 4)
    assert rt.reduction_blocks(65536, 1000) == (True, 4, 1024, 4)
    assert rt.reduction_blocks(1, 4096) == (True, 1, 4096, 4)


def test_kernels_reading_slices_at_symbolic_offsets_share_one_function() -> None:
    """An LSTM's time steps read their slice of the input at ``t * 4 * B``: an argument, not code."""
    batch = sympy.Symbol("B", integer=True, positive=True)
    x = source_node(TensorType((3, batch, 4), dtypes.float32))
    steps = []
    for t in range(3):
        part = emit("slice", x, starts=(t, 0, 0), stops=(t + 1, batch, 4), steps=(1, 1, 1))
        steps.append(b.unary("exp", b.reshape(part, (batch, 4))))
    graph = Graph([x], steps)
    program = Program(graph, [kernel_for(i, [n for n in toposort([step]) if n.op != "input"], [step]) for i, step in enumerate(steps)])
    source = triton_codegen.emit_program(program, plan_memory(program))
    module = import_source("triton_offset_sharing_test", source)
    assert [name for name in vars(module) if name.endswith("_kernel")] == ["k0_exp_kernel", "k1_exp_kernel"]
    assert "rt.launch(k1_exp_kernel," in program.kernels[2].source  # t = 0 reads at no offset
    assert "4 * B" in program.kernels[1].source and "off0" in program.kernels[1].source
    value = torch.randn(3, 5, 4)
    for t, got in enumerate(module.run([value], 5)):
        torch.testing.assert_close(got.cpu(), value[t].exp())



TOO_BIG_KERNEL = '''
import json, sys
import torch
import triton
import triton.language as tl

sys.path.insert(0, sys.argv[1])
import triton_compile as tool
from graphc.codegen.triton_compile import Launch


@triton.jit
def big_tile_kernel(a, b, out, BLOCK: tl.constexpr):
    i = tl.arange(0, BLOCK)
    x = tl.load(a + i[:, None] * BLOCK + i[None, :])
    y = tl.load(b + i[:, None] * BLOCK + i[None, :])
    tl.store(out + i[:, None] * BLOCK + i[None, :], tl.dot(x, y))


t = torch.zeros(256 * 256)
row = tool._compile("big tiles", [Launch(big_tile_kernel, (1,), (t, t, t), {"BLOCK": 256})], 1, False)
print(json.dumps(row))
'''


@pytest.mark.slow  # compiles an oversized matmul for sm_90: about 14 s
@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the Triton tests compile every kernel anyway")
def test_a_kernel_asking_for_more_shared_memory_than_sm90_has_is_reported(tmp_path: Path) -> None:
    """A 256x256 float32 tile product runs in the interpreter; on an H100/H200 its launch would fail."""
    script = tmp_path / "big_kernel.py"
    script.write_text(TOO_BIG_KERNEL)
    env = dict(os.environ, TRITON_INTERPRET="0", TRITON_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, str(script), str(ROOT / "benchmarks")], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert row["failures"] == [] and row["largest_shared_kernel"] == "big_tile_kernel"
    assert row["max_shared"] > 232448  # the tool exits 1 on this (SHARED_LIMIT)


class FakeKernel:
    """Stands in for a JITFunction: records the compiles ``compile_on_device`` asks of it, and in which round."""

    def __init__(self, name: str, log: list) -> None:
        self.fn = SimpleNamespace(__name__=name)
        self.log = log

    def warmup(self, *args: object, grid: object, **meta: object) -> None:
        self.log.append((self.fn.__name__, meta["BLOCK"]))


def test_compiling_on_device_makes_each_functions_first_compile_before_any_second(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list = []
    a, b = FakeKernel("a", log), FakeKernel("b", log)
    t = torch.zeros(4)
    launches = [triton_compile.Launch(k, (1,), (t,), {"BLOCK": block}) for k, block in ((a, 16), (a, 32), (b, 16), (a, 16), (a, 64))]
    compiles, seconds = triton_compile.compile_on_device(launches, workers=2)
    assert compiles == 4 and seconds >= 0  # the repeated (a, 16) is one compile
    assert sorted(log[:2]) == [("a", 16), ("b", 16)] and sorted(log[2:]) == [("a", 32), ("a", 64)]

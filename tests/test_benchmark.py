"""The benchmark harness: tables are built from what was measured, and `graphc bench` runs end to end."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from graphc import benchmark
from graphc.cli import main


def test_markdown_reports_ratios_against_eager_and_memory() -> None:
    results = [
        benchmark.Result("softmax", "eager PyTorch", 2.0),
        benchmark.Result("softmax", "graphc fused", 3.0, kernels=1, naive_bytes=4_000_000, peak_bytes=1_000_000, first_steps_s=1.234),
        benchmark.Result("softmax", "torch.compile", None, note="failed: RuntimeError"),
    ]
    table = benchmark.markdown(results, "title")
    assert "| softmax | graphc fused | 3.000 | 1.50× | 1 | 1.00 / 4.00 MB | 1.23 |" in table
    assert "| softmax | eager PyTorch | 2.000 | 1.00× |  |  |  |" in table
    assert "| softmax | torch.compile (failed: RuntimeError) | — | — |" in table


def test_save_writes_markdown_and_json_naming_the_machine(tmp_path) -> None:
    results = [benchmark.Result("softmax", "eager PyTorch", 2.0)]
    benchmark.save(results, str(tmp_path / "cpu"), "title")
    data = json.loads((tmp_path / "cpu.json").read_text())
    assert data["machine"] and data["results"][0]["median_ms"] == 2.0
    assert (tmp_path / "cpu.md").read_text().startswith("# title")


@pytest.mark.slow
def test_graphc_bench_measures_every_variant(tmp_path, capsys) -> None:
    assert main(["bench", "--quick", "--repeats", "2", "--only", "softmax", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for variant in ("eager PyTorch", "torch.compile", "graphc unfused", "graphc fused"):
        assert variant in out
    fused = next(line for line in out.splitlines() if "graphc fused" in line)
    assert fused.split("|")[5].strip() == "1"  # softmax is one kernel


def test_a_cuda_table_reports_single_kernels_against_the_copy_bandwidth() -> None:
    results = [
        benchmark.Result("softmax", "eager PyTorch", 0.02, gb_per_s=1600.0),
        benchmark.Result("softmax", "graphc fused", 0.01, kernels=1, gb_per_s=3200.0),
        benchmark.Result("MLP", "graphc fused", 0.5, kernels=13),
    ]
    table = benchmark.markdown(results, "title", copy_gb_per_s=4000.0)
    assert "Measured copy bandwidth: 4000 GB/s." in table
    assert "| softmax | graphc fused | 0.010 | 0.50× | 1 |  |  | 3200 (80%) |" in table
    assert "| MLP | graphc fused | 0.500 | — | 13 |  |  | |" in table


def test_single_kernels_count_the_bytes_they_must_move() -> None:
    by_name = {w.name.split(" ")[0]: w for w in benchmark.workloads(quick=True)}
    assert by_name["softmax"].min_bytes == 2 * 512 * 256 * 4  # read once, written once
    assert by_name["Adam"].min_bytes == 7 * 4 * 1_000_000  # parameter, gradient, two moments; three written back
    assert by_name["MLP"].min_bytes is None  # a training step is held to time, not bandwidth


def test_a_variant_that_fails_is_reported_and_the_others_still_timed() -> None:
    steps: dict = {}

    def broken() -> benchmark.Step:
        raise RuntimeError("no kernel")

    assert benchmark._prepared(steps, "graphc fused", broken, benchmark._sync_torch) == ("failed: RuntimeError: no kernel", None)
    note, first_steps = benchmark._prepared(steps, "eager PyTorch", lambda: (lambda: 1), benchmark._sync_torch)
    assert note == "" and first_steps is not None and first_steps >= 0
    assert list(steps) == ["eager PyTorch"]


def test_the_cuda_run_says_when_there_is_no_gpu() -> None:
    import torch

    from graphc.errors import GraphcError

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(GraphcError, match="CUDA is not available"):
        benchmark.run(quick=True, device="cuda")


def test_cuda_single_kernels_are_large_enough_to_measure_memory_not_calls() -> None:
    rows, width, adam = benchmark.kernel_sizes(quick=False, device="cuda")
    assert rows * width * 4 >= 1 << 28 and adam * 4 >= 1 << 28  # a few hundred MB a kernel
    assert benchmark.kernel_sizes(quick=False, device="cpu") == (4096, 512, 10_000_000)


@pytest.mark.slow  # each runs a timing script in a fresh process: 10-35 s
@pytest.mark.parametrize(
    "script, args",
    [("batch_norm.py", ["--rows", "64", "--features", "16"]), ("batch_norm.py", ["--images"]), ("small_cnn.py", ["--batch", "4"])],
    ids=["batch-norm-rows", "batch-norm-images", "small-cnn"],
)
def test_the_cpu_benchmark_scripts_time_graphc_against_eager(script: str, args: list[str]) -> None:
    """The scripts behind docs/benchmarks.md's batch-norm and CNN figures keep running (small sizes here)."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(root / "benchmarks" / script), *args], capture_output=True, text=True, timeout=600, cwd=root)
    assert done.returncode == 0, done.stderr
    assert "eager PyTorch" in done.stdout and "graphc fused" in done.stdout, done.stdout
    losses = re.search(r"first loss: graphc (\S+), eager (\S+)", done.stdout)
    if script == "small_cnn.py":  # the same first step as torch's, from the same weights
        assert losses is not None and abs(float(losses.group(1)) - float(losses.group(2))) < 1e-5, done.stdout



@pytest.mark.slow  # 4-25 s each: every workload's program is compiled
@pytest.mark.parametrize("name", [w.name for w in benchmark.workloads(quick=True) if w.kind == "training step"])
def test_each_training_workload_trains_as_eager_pytorch(name: str) -> None:
    """What is timed is the same computation: the losses of three steps from the same weights match torch's."""
    workload = next(w for w in benchmark.workloads(quick=True) if w.name == name)
    torch_step = workload.torch_step()
    graphc_step, _ = workload.graphc_step(True)
    for _ in range(3):
        expected, got = float(torch_step().detach()), float(graphc_step().item())
        assert got == pytest.approx(expected, rel=2e-5), name

"""The benchmark harness: tables are built from what was measured, and `graphc bench` runs end to end."""

from __future__ import annotations

import json

import pytest

from graphc import benchmark
from graphc.cli import main


def test_markdown_reports_ratios_against_eager_and_memory() -> None:
    results = [
        benchmark.Result("softmax", "eager PyTorch", 2.0),
        benchmark.Result("softmax", "graphc fused", 3.0, kernels=1, naive_bytes=4_000_000, peak_bytes=1_000_000),
        benchmark.Result("softmax", "torch.compile", None, note="failed: RuntimeError"),
    ]
    table = benchmark.markdown(results, "title")
    assert "| softmax | graphc fused | 3.000 | 1.50× | 1 | 1.00 / 4.00 MB |" in table
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

"""Issue 7's programmatic and command-line views on the tutorial programs of examples/:
``graphc dump`` of the tutorial MLP and LeNet in every picture format, ``ir.Graph``'s
print/str/to_dot/save/load, and what ``cm.report()`` says about fusions and recompilations."""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_dump import check_dot, check_dump

import graphc
import graphc.nn.functional as F
from graphc import cli, nn
from graphc.ir import Graph, dot, parse_graph
from graphc.ir.verifier import verify

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "target, shape, picture",
    [
        ("mlp.py:MultilayerPerceptron", "4,50", "svg"),
        ("mlp.py:MultilayerPerceptron", "4,50", "png"),
        ("lenet.py:LeNet", "2,1,28,28", "dot"),
        ("lenet.py:LeNet", "2,1,28,28", "text"),
    ],
    ids=["mlp-svg", "mlp-png", "lenet-dot", "lenet-text"],
)
def test_dump_of_the_tutorial_models_training_step(target: str, shape: str, picture: str, tmp_path: Path) -> None:
    out = tmp_path / "dump"
    argv = ["dump", os.path.join(EXAMPLES, target), "--input-shape", shape, "--backward", "--format", picture, "--out", str(out)]
    assert cli.main(argv) == 0
    check_ir_and_kernels(out)
    rendered = {"svg": "graph.svg", "png": "graph.png"}.get(picture)
    if picture == "text":  # the picture is the printed final graph, no DOT
        verify(parse_graph((out / "graph.txt").read_text()))
        return
    check_dump(str(out), expect_backward=True)
    if rendered is not None and dot.dot_binary() is not None:
        data = (out / rendered).read_bytes()
        assert data.startswith(PNG_MAGIC) if picture == "png" else b"<svg" in data


def check_ir_and_kernels(out: Path) -> None:
    """Every pass's IR parses back into a valid graph and every kernel the report names was written."""
    ir_files = sorted(out.glob("[0-9][0-9]_*.txt"))
    assert ir_files[0].name == "00_traced.txt" and ir_files[-1].name.endswith("_fusion.txt"), ir_files
    for path in ir_files:
        verify(parse_graph(path.read_text()))
    report = (out / "report.txt").read_text()
    kernels = re.findall(r"^    (k\d+_\w+) \[", report, flags=re.M)
    assert kernels and all((out / "kernels" / f"{name}.py").is_file() for name in kernels)
    for path in re.findall(r"source in (\S+\.py)", report):
        assert os.path.isfile(path)


def test_graph_prints_draws_saves_and_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    compiled = graphc.compile(model)
    compiled(graphc.randn(3, 6))
    graph = compiled.report().graph
    assert isinstance(graph, Graph)
    text = str(graph)
    graph.print()
    assert capsys.readouterr().out.strip() == text
    assert re.search(r"^%\d+: f32\[B,4\] = matmul\(%\d+, %\d+\)", text, flags=re.M), text
    path = tmp_path / "graph.txt"
    graph.save(str(path))
    loaded = Graph.load(str(path))
    verify(loaded)
    assert str(loaded) == text
    dot_path = tmp_path / "graph.dot"
    dot_path.write_text(graph.to_dot())
    check_dot(str(dot_path))


def test_report_lists_fusions_not_made_and_recompilation_causes() -> None:
    w = graphc.randn(5, 3, requires_grad=True)

    def step(x: graphc.Tensor) -> graphc.Tensor:
        loss = F.log_softmax(x.exp() @ w, dim=1).sum()
        loss.backward()
        return loss

    compiled = graphc.compile(step)
    compiled(graphc.randn(4, 5))  # traced with w.grad None
    compiled(graphc.randn(4, 5))  # w.grad set now: traced again, with the cause recorded
    report = compiled.report()
    text = str(report)
    assert report.recompilations and "grad was None" in report.recompilations[0]
    assert f"recompilations: {len(report.recompilations)}" in text and report.recompilations[0] in text
    assert report.fusion_log, "a matmul between two reductions leaves fusions not made"
    assert f"fusions not made ({len(report.fusion_log)}):" in text and report.fusion_log[0] in text
    assert all(kernel.path and os.path.isfile(kernel.path) for kernel in report.kernels)
    assert {"simplify", "fusion", "memory", "codegen"} <= set(report.pass_times)
    assert "planned peak" in text


def test_graphc_dump_console_script_is_installed(tmp_path: Path) -> None:
    """The `graphc` command of pyproject's [project.scripts] reaches the same dump."""
    script = glob.glob(os.path.join(os.path.dirname(sys.executable), "graphc"))
    if not script:
        pytest.skip("the graphc console script is not installed in this environment")
    out = tmp_path / "dump"
    argv = [script[0], "dump", os.path.join(EXAMPLES, "mlp.py:MultilayerPerceptron"), "--input-shape", "2,50", "--format", "text", "--out", str(out)]
    result = subprocess.run(argv, capture_output=True, text=True, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    check_ir_and_kernels(out)


def test_dump_takes_a_dtype_per_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "fns.py"
    source.write_text("def pick_and_sum(table, rows):\n    return (table[rows] * 2).sum(dim=1)\n")
    out = tmp_path / "dump"
    argv = ["dump", f"{source}:pick_and_sum", "--input-shape", "5,3", "--input-shape", "2", "--dtype", "float64", "--dtype", "int64"]
    assert cli.main([*argv, "--format", "text", "--out", str(out)]) == 0
    traced = parse_graph((out / "00_traced.txt").read_text())
    assert [str(n.type) for n in traced.inputs] == ["f64[B,3]", "i64[2]"]  # the batch of the first input is symbolic
    assert cli.main([*argv[:-2], "--dtype", "float64", "--dtype", "int64", "--dtype", "bool"]) == 2
    assert "--dtype once for all inputs or once per --input-shape" in capsys.readouterr().err

"""``graphc dump``, GRAPHC_DUMP_DIR, GRAPHC_DEBUG, pictures and the compile report ("See inside", issue 7)."""

from __future__ import annotations

import glob
import logging
import os
import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import graphc
from graphc import cli
from graphc.frontend import lazy
from graphc.ir import dot as dot_module
from graphc.ir import format_graph, parse_graph
from graphc.runtime.memory_chart import BufferRecord, memory_svg, memory_text

pytestmark = pytest.mark.usefixtures("numpy_kernels")  # C loops have their own tests (conftest.py)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODELS = textwrap.dedent(
    """
    import graphc
    from graphc import nn


    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(50, 30)
            self.fc2 = nn.Linear(30, 10)

        def forward(self, x):
            return self.fc2(graphc.relu(self.fc1(x)))


    class LeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2)
            )
            self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(16 * 4 * 4, 120), nn.ReLU(), nn.Linear(120, 10))

        def forward(self, x):
            return self.classifier(self.features(x))


    def scaled_tanh(x, y):
        return graphc.tanh(x * 2 + y).sum(dim=1)
    """
)


@pytest.fixture(scope="module")
def models_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("models") / "models.py"
    path.write_text(MODELS)
    return str(path)


def check_dot(path: str) -> None:
    """Valid DOT: Graphviz's dot parses it when installed; otherwise its structure is checked."""
    text = Path(path).read_text()
    assert text.startswith("digraph graphc {") and text.rstrip().endswith("}")
    assert text.count("{") == text.count("}")
    if dot_module.dot_binary() is not None:
        result = subprocess.run([dot_module.dot_binary(), "-Tsvg", path, "-o", os.devnull], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def check_dump(folder: str, expect_backward: bool) -> None:
    ir_files = sorted(glob.glob(os.path.join(folder, "[0-9][0-9]_*.txt")))
    names = [os.path.basename(f) for f in ir_files]
    assert names[:2] == ["00_traced.txt", "01_simplify.txt"] and names[-1].endswith("_fusion.txt"), names
    graphs = [parse_graph(Path(path).read_text()) for path in ir_files]
    assert all(graph.outputs for graph in graphs)
    final = graphs[-1]
    assert any(n.phase == "backward" for n in final.nodes) == expect_backward
    check_dot(os.path.join(folder, "graph.dot"))
    report_text = Path(folder, "report.txt").read_text()
    kernel_names = re.findall(r"^    (k\d+_\w+) \[", report_text, flags=re.M)
    assert kernel_names
    for name in kernel_names:
        assert os.path.isfile(os.path.join(folder, "kernels", f"{name}.py")), name
    for path in re.findall(r"source in (\S+\.py)", report_text):
        assert os.path.isfile(path) and os.path.isfile(os.path.join(folder, "kernels", os.path.basename(path)))
    ET.parse(os.path.join(folder, "memory.svg"))
    assert " buffers" in Path(folder, "memory.txt").read_text()


def test_dump_mlp_training_step(models_file: str, tmp_path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "mlp"
    assert cli.main(["dump", f"{models_file}:MLP", "--input-shape", "4,50", "--backward", "--out", str(out), "--format", "svg"]) == 0
    check_dump(str(out), expect_backward=True)
    if dot_module.dot_binary() is not None:
        ET.parse(out / "graph.svg")
    printed = capsys.readouterr().out
    assert "graphc compile report" in printed and "recompilations: 0" in printed
    report = (out / "report.txt").read_text()
    for part in ("pass times: simplify", "fusion", "memory", "codegen", "kernels:", "memory at B=4", "recompilations"):
        assert part in report, part
    dot_text = (out / "graph.dot").read_text()
    assert "subgraph cluster_0" in dot_text and "dashed" in dot_text and "cylinder" in dot_text and "invhouse" in dot_text


def test_dump_lenet_training_step_unfused(models_file: str, tmp_path) -> None:
    out = tmp_path / "lenet"
    argv = ["dump", f"{models_file}:LeNet", "--input-shape", "2,1,28,28", "--backward", "--no-fusion", "--out", str(out), "--format", "dot"]
    assert cli.main(argv) == 0
    check_dump(str(out), expect_backward=True)
    assert not (out / "graph.svg").exists()
    # Unfused, every kernel is one node and still drawn as a cluster named like its function.
    report = (out / "report.txt").read_text()
    kernels = re.findall(r"^    (k\d+_\w+) \[", report, flags=re.M)
    dot_text = (out / "graph.dot").read_text()
    assert dot_text.count("subgraph cluster_") == len(kernels)
    assert all(f'label="{k}\\n(' in dot_text for k in kernels)
    assert "fusion: off" in report


def test_dump_without_remat_writes_no_remat_pass(models_file: str, tmp_path) -> None:
    with_remat, without = tmp_path / "on", tmp_path / "off"
    for out, extra in ((with_remat, []), (without, ["--no-remat"])):
        argv = ["dump", f"{models_file}:MLP", "--input-shape", "4,50", "--backward", "--out", str(out), "--format", "dot", *extra]
        assert cli.main(argv) == 0
        check_dump(str(out), expect_backward=True)
    assert (with_remat / "02_remat.txt").exists() and not (without / "02_remat.txt").exists()
    assert "remat: off" in (without / "report.txt").read_text()


def test_dump_console_script_forward(models_file: str, tmp_path) -> None:
    out = tmp_path / "fn"
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    argv = [sys.executable, "-m", "graphc.cli", "dump", f"{models_file}:scaled_tanh", "--input-shape", "3,5", "--input-shape", "3,5"]
    result = subprocess.run([*argv, "--out", str(out), "--format", "text"], capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "graph.txt" in result.stdout
    parse_graph((out / "graph.txt").read_text())
    check_dump_text = next(out.glob("*_fusion.txt")).read_text()  # numbered after the last pass
    assert "# kernel k0_" in check_dump_text and "[backward]" not in check_dump_text


def test_dump_saved_graph(tmp_path) -> None:
    x = graphc.randn(4, 6, requires_grad=True)
    w = graphc.randn(6, 3, requires_grad=True)
    (x @ w).tanh().sum().backward()
    graph, _ = lazy.pending_graph([x.grad._node, w.grad._node])
    saved = tmp_path / "saved_graph.txt"
    graph.save(str(saved))
    assert [n.phase for n in graphc.ir.Graph.load(str(saved)).nodes] == [n.phase for n in graph.nodes]
    out = tmp_path / "dump"
    assert cli.main(["dump", str(saved), "--out", str(out), "--format", "dot"]) == 0
    check_dump(str(out), expect_backward=True)


def test_dump_errors_are_short(models_file: str, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["dump", f"{models_file}:Missing", "--input-shape", "4,50"]) == 2
    assert "has no 'Missing'" in capsys.readouterr().err
    assert cli.main(["dump", f"{models_file}:MLP"]) == 2
    assert "--input-shape" in capsys.readouterr().err


def test_without_graphviz_the_dot_file_and_a_hint_are_written(models_file: str, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(dot_module, "dot_binary", lambda: None)
    out = tmp_path / "nodot"
    assert cli.main(["dump", f"{models_file}:scaled_tanh", "--input-shape", "3,5", "--input-shape", "3,5", "--out", str(out)]) == 0
    assert (out / "graph.dot").exists() and not (out / "graph.svg").exists()
    assert "apt-get install graphviz" in capsys.readouterr().out


def test_graphc_dump_dir_writes_every_compile(tmp_path, monkeypatch) -> None:
    lazy.realize([])  # compute state an earlier test left pending, so only this test's compiles count
    monkeypatch.setenv("GRAPHC_DUMP_DIR", str(tmp_path))
    monkeypatch.setenv("GRAPHC_DUMP_FORMAT", "dot")
    step = graphc.compile(lambda a: (a * 3 + 1).exp().sum(dim=0))
    step(graphc.randn(4, 3))
    step(graphc.randn(4, 7))  # a new signature: a second compile, a second folder
    folders = sorted(glob.glob(str(tmp_path / "compile_*")))
    assert len(folders) == 2
    for folder in folders:
        for name in ("00_traced.txt", "01_simplify.txt", "graph.dot", "report.txt", "memory.svg", "memory.txt"):
            assert os.path.exists(os.path.join(folder, name)), name
        check_dot(os.path.join(folder, "graph.dot"))


def test_graphc_debug_logs_compiles_recompiles_and_code(monkeypatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("GRAPHC_DEBUG", "1")
    step = graphc.compile(lambda a: a.sin() * 2)
    with caplog.at_level(logging.WARNING, logger="graphc"):
        step(graphc.randn(3, 2))
        step(graphc.randn(3, 5))
    text = caplog.text
    assert "tracing" in text and "compiled" in text and "recompiling" in text
    assert "def run(" not in text
    caplog.clear()
    monkeypatch.setenv("GRAPHC_DEBUG", "2")
    with caplog.at_level(logging.WARNING, logger="graphc"):
        step(graphc.randn(3, 9))
    assert "def run(" in caplog.text


def test_backward_nodes_are_marked_and_survive_printing() -> None:
    x = graphc.randn(3, 4, requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    graph, _ = lazy.pending_graph([y._node, x.grad._node])
    phases = {n.phase for n in graph.nodes}
    assert phases == {"forward", "backward"}
    forward_ops = {n.op for n in graph.nodes if n.phase == "forward"}
    assert {"exp", "mul", "sum"} <= forward_ops
    exp_loc = next(n.loc for n in graph.nodes if n.op == "exp")
    # A gradient node points at the user's line of the forward op it differentiates.
    assert any(n.phase == "backward" and n.loc == exp_loc for n in graph.nodes)
    text = format_graph(graph, with_locations=True)
    assert "[backward]" in text
    again = parse_graph(text)
    assert [n.phase for n in again.nodes] == [n.phase for n in graph.nodes]
    assert [n.loc for n in again.nodes] == [n.loc for n in graph.nodes]
    assert format_graph(again) == format_graph(graph)
    dot_text = graph.to_dot()
    assert dot_text.count("style=\"rounded,filled,dashed\"") == sum(1 for n in graph.nodes if n.phase == "backward" and n.op != "constant")


def test_memory_chart_from_records() -> None:
    planned = [BufferRecord("%3", 0, 2, 0, 4096, "f32[32,32]"), BufferRecord("%5", 1, 3, 4096, 128, "f32[32]"), BufferRecord("%7", 3, 4, 0, 4096)]
    svg = memory_svg(planned, [f"k{i}" for i in range(5)], sizes={"B": 32})
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg") and "arena" in svg
    text = memory_text(planned, [f"k{i}" for i in range(5)])
    assert "planned peak 4.1 KiB (4224 B)" in text and "###.." in text
    unplanned = [BufferRecord("a", 0, 1, None, 10), BufferRecord("b", 1, 2, None, 20)]
    assert "peak of live buffers 30 B" in memory_text(unplanned)
    ET.fromstring(memory_svg(unplanned))
    ET.fromstring(memory_svg([]))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_writes_the_picture(tmp_path) -> None:
    x = graphc.randn(2, 2)
    graph, _ = lazy.pending_graph([(x * 2)._node])
    path = tmp_path / "g.dot"
    path.write_text(graph.to_dot())
    picture, message = dot_module.render(str(path), "png")
    assert picture is not None and os.path.getsize(picture) > 0, message

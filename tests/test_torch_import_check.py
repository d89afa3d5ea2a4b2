"""graphc.compile(torch.nn.Module): check mode, error reports, and the corners of the calling convention."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import graphc
from graphc.errors import GraphcError
from graphc.frontend.torch_import.check import CheckError
from graphc.frontend.torch_import.lowering import LOWERINGS
from graphc.ir import build as b

# Eager torch on the shared CPU cores is much faster on one thread (no oversubscription).
pytestmark = pytest.mark.usefixtures("one_torch_thread", "numpy_kernels")  # C loops have their own tests (conftest.py)


aten = torch.ops.aten


def data(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


class SmallConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.norm = nn.LayerNorm(4 * 4 * 4)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv(x)), 2).flatten(1)
        return self.fc(self.drop(F.gelu(self.norm(x))))


def test_check_mode_passes_on_a_correct_model_in_train_and_eval_mode() -> None:
    torch.manual_seed(0)
    model = SmallConvNet()
    compiled = graphc.compile(model, backend="numpy", check=True)
    x = data(3, 2, 8, 8)
    compiled(x).sum().backward()  # train mode: dropout takes graphc's mask in the eager evaluation
    compiled.eval()
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)


def test_check_mode_reports_the_first_node_a_broken_lowering_gets_wrong(monkeypatch) -> None:  # noqa: ANN001
    def broken_relu(ctx, x):  # noqa: ANN001, ANN202
        return b.where(b.compare("gt", x, 0), b.mul(x, 2.0), 0)

    monkeypatch.setitem(LOWERINGS, aten.relu.default, broken_relu)
    torch.manual_seed(0)
    compiled = graphc.compile(SmallConvNet().eval(), backend="numpy", check=True)
    try:
        compiled(data(3, 2, 8, 8))
    except CheckError as error:
        message = str(error)
    else:
        raise AssertionError("check mode did not notice the broken relu lowering")
    aten_line = message.split("ATen:")[1].splitlines()[0]
    assert aten_line.strip().startswith("%relu") and "aten.relu.default" in aten_line, "the convolution before it is right"
    assert "IR:   %" in message and "= where(" in message  # the printed IR line of the relu's result
    assert "max abs error" in message
    assert "test_torch_import_check.py" in message  # the model's source line


class Decompositions(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, ...]:
        w, v = torch.linalg.eigh(a)
        u, s, vh = torch.linalg.svd(b, full_matrices=False)
        return w, v * 2, u, s, vh


def test_check_mode_accepts_eigenvectors_and_singular_vectors_with_their_own_signs() -> None:
    """torch leaves their signs free; NumPy's LAPACK picks other signs than torch's for these inputs."""
    a = data(3, 4, 4, seed=0).double()
    compiled = graphc.compile(Decompositions(), backend="numpy", check=True)
    w, v, u, s, vh = compiled(a + a.mT, data(2, 5, 3, seed=2).double())
    torch.testing.assert_close(w, torch.linalg.eigvalsh(a + a.mT))


def test_check_mode_reports_vectors_that_are_no_decomposition(monkeypatch) -> None:  # noqa: ANN001
    import graphc.codegen.numpy_support as rt

    svd = rt.svd
    monkeypatch.setattr(rt, "svd", lambda x, full_matrices: svd(x, full_matrices) * 1.001)
    compiled = graphc.compile(Decompositions(), backend="numpy", check=True)
    a = data(3, 4, 4, seed=0).double()
    with pytest.raises(CheckError, match="aten._linalg_svd.default"):
        compiled(a + a.mT, data(2, 5, 3, seed=2).double())


class Unsupported(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.special.airy_ai(x)
        y = F.relu(y)
        return torch.special.bessel_j0(y).sum(-1) + torch.special.zeta(x + 2, 1.5).sum(-1)


def test_unsupported_ops_are_all_listed_with_their_lines() -> None:
    compiled = graphc.compile(Unsupported(), backend="numpy")
    try:
        compiled(data(4, 5))
    except GraphcError as error:
        message = str(error)
    else:
        raise AssertionError("expected a GraphcError")
    assert "3 ATen ops in Unsupported have no graphc lowering" in message
    ops = [
        ("aten.special_airy_ai", "torch.special.airy_ai(x)"),
        ("aten.special_bessel_j0", "torch.special.bessel_j0(y)"),
        ("aten.special_zeta", "torch.special.zeta(x + 2, 1.5)"),
    ]
    for op, code in ops:
        line = next(line for line in message.splitlines() if op in line)
        assert "test_torch_import_check.py:" in line and code in line, line
    assert "aten.relu" not in message


class DataDependent(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x * 2
        return -x


def test_a_model_torch_export_rejects_reports_torchs_reason() -> None:
    compiled = graphc.compile(DataDependent(), backend="numpy")
    try:
        compiled(data(4, 3))
    except GraphcError as error:
        message = str(error)
    else:
        raise AssertionError("expected a GraphcError")
    assert "torch.export could not export DataDependent" in message
    assert "data-dependent" in message


class FixedBatch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x).view(4, 2)


def test_a_model_that_fixes_the_batch_size_is_exported_for_the_call_sizes() -> None:
    model = FixedBatch()
    compiled = graphc.compile(model, backend="numpy")
    x = data(4, 6)
    torch.testing.assert_close(compiled(x), model(x))
    torch.testing.assert_close(compiled(x), model(x))
    assert compiled.export_count == 1
    try:
        compiled(data(5, 6))
    except GraphcError as error:  # eager fails too: the view needs 4 rows
        assert "torch.export could not export FixedBatch" in str(error)
    else:
        raise AssertionError("a batch of 5 cannot be viewed as (4, 2)")
    assert any("batch size is fixed by the model" in r for r in compiled.recompilations)


class LastThree(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[-3:] * 2  # valid for every batch size, but torch guards B >= 3 to export it


def test_a_model_that_restricts_the_batch_size_stays_dynamic_within_the_range() -> None:
    model = LastThree()
    compiled = graphc.compile(model, backend="numpy")
    for batch in (8, 5, 3):
        x = data(batch, 2)
        torch.testing.assert_close(compiled(x), model(x))
    assert compiled.export_count == 1
    assert any("restricts the batch size" in r for r in compiled.recompilations)
    x = data(2, 2)
    torch.testing.assert_close(compiled(x), model(x))  # outside the range: exported again for its sizes
    assert compiled.export_count == 2
    for batch in (2, 6):
        x = data(batch, 2)
        torch.testing.assert_close(compiled(x), model(x))
    assert compiled.export_count == 2


class Structured(nn.Module):
    """kwargs, a non-tensor argument, dict and tuple outputs, an integer output, a size."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor, *, scale: float = 1.0, mask: torch.Tensor | None = None) -> dict:
        y = self.fc(x) * scale
        if mask is not None:
            y = y.masked_fill(mask, 0.0)
        return {"y": y, "pair": (y.argmax(-1), y.amax(-1)), "rows": x.shape[0]}


def test_structured_inputs_and_outputs() -> None:
    torch.manual_seed(0)
    model = Structured()
    compiled = graphc.compile(model, backend="numpy")
    x, mask = data(5, 3), data(5, 4, seed=3) > 0.5
    got, expected = compiled(x, scale=2.0, mask=mask), model(x, scale=2.0, mask=mask)
    torch.testing.assert_close(got["y"], expected["y"])
    assert torch.equal(got["pair"][0], expected["pair"][0])
    torch.testing.assert_close(got["pair"][1], expected["pair"][1])
    assert got["rows"] == 5
    got = compiled(data(7, 3), scale=2.0, mask=data(7, 4, seed=3) > 0.5)
    assert got["rows"] == 7 and compiled.export_count == 1
    got["y"].sum().backward()
    assert compiled.fc.weight.grad is not None


def test_batch_of_one_specializes_and_still_matches() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
    compiled = graphc.compile(model, backend="numpy")
    for batch in (1, 6):
        x = data(batch, 3)
        torch.testing.assert_close(compiled(x), model(x))
    assert compiled.export_count == 2


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.bn(self.fc(x))
        return h.relu(), h.sigmoid()


def test_report_covers_every_program_the_module_ran() -> None:
    compiled = graphc.compile(TwoHeads(), backend="numpy")
    x = data(4, 3)
    with pytest.raises(GraphcError, match="not been called yet"):
        compiled.report()
    compiled(x)[0].sum().backward()  # a backward for the first output's gradient only
    first, second = compiled(x)
    (first.sum() + second.sum()).backward()
    report = compiled.report()
    assert list(report.programs) == ["forward", "backward, for the gradients of outputs 0 only", "backward"]
    assert report.kernels == [k for r in report.programs.values() for k in r.kernels] and report.num_kernels > 3
    text = str(report)
    assert text.startswith("graphc compile report of TwoHeads (numpy backend): 3 programs")
    for role, program in report.programs.items():
        assert f"  program {role}:" in text
        assert all(kernel.name in text for kernel in program.kernels)
        assert program.memory.peak_bytes is not None and program.memory.sizes == {"B": 4}
    assert text.count("memory at B=4") == 3 and text.count("recompilations: 0") == 1
    compiled.eval()
    with torch.no_grad():
        compiled(x)
    report = compiled.report()
    assert list(report.programs)[-1] == "export 2: inference" and "export 1: forward" in report.programs
    assert "B" in str(report.programs["export 2: inference"].graph)
    assert report.recompilations == compiled.recompilations and len(report.recompilations) == 1
    assert str(report).endswith(f"recompilations: 1\n    {report.recompilations[0]}")


def test_report_names_the_training_programs_of_each_set_of_gradients() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    compiled = graphc.compile(model, backend="numpy")
    x = data(4, 3)
    compiled(x).sum().backward()
    model[0].weight.requires_grad_(False)  # a frozen parameter: new training programs, the same export
    compiled(x).sum().backward()
    assert list(compiled.report().programs) == [
        "forward, gradients for 0.weight, 0.bias, 2.weight, 2.bias",
        "backward, gradients for 0.weight, 0.bias, 2.weight, 2.bias",
        "forward, gradients for 0.bias, 2.weight, 2.bias",
        "backward, gradients for 0.bias, 2.weight, 2.bias",
    ]


def test_check_mode_reports_its_debug_program() -> None:
    compiled = graphc.compile(nn.Sequential(nn.Linear(3, 4), nn.ReLU()), backend="numpy", check=True)
    with torch.no_grad():
        compiled(data(4, 3))
    assert list(compiled.report().programs) == ["check", "inference"]


# ------------------------------------------------------------------ what torch.export refuses, at the module's line


class ReadsNumPy(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(x.detach().numpy() * 2)


class Sparse(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.to_sparse().to_dense() + 1


class WrongWidth(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x).relu()


class CumulativeNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(3, momentum=None)  # torch's layer reads num_batches_tracked's value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x) * 2


@pytest.mark.parametrize(
    ("model", "construct", "line", "inside", "advice"),
    [
        (DataDependent(), "data-dependent control flow", "if x.sum() > 0:", None, "torch.where"),
        (ReadsNumPy(), "the module reads a tensor's data outside torch ops", "return torch.from_numpy(x.detach().numpy() * 2)", None, "with torch ops"),
        (Sparse(), "the op aten._to_sparse.default", "return x.to_sparse().to_dense() + 1", None, "replace the op"),
        (WrongWidth(), "RuntimeError while tracing forward", "return self.fc(x).relu()", "modules/linear.py", "runs eagerly with these arguments"),
        (CumulativeNorm(), "data-dependent control flow", "return self.norm(x) * 2", "modules/batchnorm.py", "torch.where"),
    ],
    ids=["data-dependent", "numpy", "unsupported-op", "shape-error", "inside-a-torch-layer"],
)
def test_export_errors_name_the_construct_the_models_line_and_what_to_do(model: nn.Module, construct: str, line: str, inside: str | None, advice: str) -> None:
    compiled = graphc.compile(model, backend="numpy")
    with pytest.raises(GraphcError) as error:
        compiled(data(4, 3))
    first, at, *layer, fix, reason = str(error.value).splitlines()
    assert first.startswith(f"graphc.compile: torch.export could not export {type(model).__name__}: {construct}"), first
    assert at.startswith("  at ") and at.endswith(f"test_torch_import_check.py:{_line_of(type(model), line)}: {line}"), at
    if inside is None:
        assert layer == []
    else:
        assert layer[0].startswith(f"  inside torch's layer at torch/nn/{inside}:"), layer
    assert advice in fix and "out of the compiled module" in fix
    assert reason.startswith("  torch's reason: ")


def _line_of(cls: type, code: str) -> int:
    """The line number of ``code`` in the source of ``cls``."""
    import inspect

    lines, start = inspect.getsourcelines(cls)
    return start + next(i for i, text in enumerate(lines) if code in text)

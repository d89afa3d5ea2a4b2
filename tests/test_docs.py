"""The generated IR reference (docs/ops.md) matches the op registry, and every primitive is documented."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from graphc.ir import REGISTRY, reference
from graphc.ir.registry import primitive
from graphc.ir.types import TensorType

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_ops_md_is_up_to_date() -> None:
    assert (DOCS / "ops.md").read_text() == reference.generate(), "docs/ops.md is out of date: run python -m graphc.ir.reference"


def test_every_primitive_is_documented() -> None:
    assert reference.undocumented() == [], "give these primitives' type rules a docstring"
    text = reference.generate()
    for name, op in REGISTRY.items():
        assert f"### `{name}`" in text
        assert op.doc in text
        if op.vjp is not None:
            assert f"VJP rule `{op.vjp.__name__}`" in text


@pytest.fixture
def undocumented_primitive():
    @primitive("test_undocumented_op", "elementwise")
    def rule(x: TensorType) -> TensorType:
        return x

    yield "test_undocumented_op"
    del REGISTRY["test_undocumented_op"]


def test_a_primitive_without_documentation_fails_the_check(undocumented_primitive: str, tmp_path: Path) -> None:
    assert reference.undocumented() == [undocumented_primitive]
    out = tmp_path / "ops.md"
    assert reference.main(["--out", str(out)]) == 1  # written, but reported
    assert "**undocumented**" in out.read_text()
    assert reference.main(["--out", str(out), "--check"]) == 1


def test_check_mode_detects_a_stale_file(tmp_path: Path) -> None:
    out = tmp_path / "ops.md"
    out.write_text(reference.generate().replace("natural logarithm", "logarithm"))
    assert reference.main(["--out", str(out), "--check"]) == 1
    assert reference.main(["--out", str(out)]) == 0
    assert reference.main(["--out", str(out), "--check"]) == 0


def test_doc_links_and_pictures_exist() -> None:
    for page in ("architecture.md", "ir.md", "passes.md", "numpy_backend.md", "adding-an-op.md", "debugging.md", "benchmarks.md"):
        text = (DOCS / page).read_text()
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if "://" in target or target == "backends.md":  # backends.md is written by the Triton backend
                continue
            assert (DOCS / target).exists(), f"{page} links to missing {target}"
    for picture in ("mlp_training_step.svg", "mlp_memory.svg"):
        ET.parse(DOCS / "images" / picture)


ROOT = DOCS.parent
# The pages whose file, function and variable names test_names_in_the_docs_exist holds to the code.
CHECKED_PAGES = [DOCS / p for p in ("architecture.md", "passes.md", "ir.md", "backends.md", "numpy_backend.md", "debugging.md")] + [ROOT / "README.md"]


def _defined_names(path: Path) -> set[str]:
    """The module-level functions, classes and variables of a Python file, read without importing it
    (importing triton_support before graphc.codegen.triton would fix its interpreter switch too early)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_paths_named_in_the_docs_exist() -> None:
    for page in CHECKED_PAGES:
        for path in re.findall(r"(?<![\w/.~])((?:graphc|tests|scripts|benchmarks|examples|docs)/[\w/.\-]*\w)", page.read_text()):
            assert (ROOT / path).exists(), f"{page.name} names {path}, which does not exist"


def test_path_colon_name_references_name_a_definition_of_that_file() -> None:
    """``graphc/passes/manager.py: PassManager`` in a page: the file defines the name."""
    for page in CHECKED_PAGES:
        for path, name in re.findall(r"(graphc/[\w/]+\.py): `?([A-Za-z_]\w*)", page.read_text()):
            assert name in _defined_names(ROOT / path), f"{page.name}: {path} defines no {name}"


def test_rt_helpers_named_in_the_backend_docs_exist() -> None:
    """``rt.X`` is the generated code's support module: numpy_support in numpy_backend.md, triton_support in backends.md."""
    for page, module in (("numpy_backend.md", "numpy_support.py"), ("backends.md", "triton_support.py")):
        defined = _defined_names(ROOT / "graphc" / "codegen" / module)
        for name in set(re.findall(r"`[^`]*?\brt\.(\w+)", (DOCS / page).read_text())):
            assert name in defined, f"{page} names rt.{name}, which {module} does not define"


def test_environment_variables_in_the_docs_are_the_ones_graphc_reads() -> None:
    """Every GRAPHC_* variable a page names is read by the package, and every one it reads is documented."""
    source = "\n".join(p.read_text() for p in (ROOT / "graphc").rglob("*.py"))
    read = set(re.findall(r"environ(?:\.get\(|\[)\"(GRAPHC_\w+)\"", source))
    named = {v for page in CHECKED_PAGES for v in re.findall(r"GRAPHC_[A-Z_]+[A-Z]", page.read_text())}
    assert named - read == set(), "the docs name variables graphc does not read"
    documented = {v for page in [*DOCS.glob("*.md"), ROOT / "README.md"] for v in re.findall(r"GRAPHC_[A-Z_]+[A-Z]", page.read_text())}
    assert read - documented == set(), "graphc reads variables no doc names"

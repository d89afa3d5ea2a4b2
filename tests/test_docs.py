"""The generated IR reference (docs/ops.md) matches the op registry, and every primitive is documented."""

from __future__ import annotations

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

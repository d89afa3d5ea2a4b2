"""Fixtures shared by the test suite.

``backend`` runs a test once per backend registered in
``graphc.runtime.executor.BACKENDS`` ("numpy", and "triton", which runs under
``TRITON_INTERPRET=1`` on a CPU), with eager tensor code realizing on that backend;
``fusion`` runs it with fusion on and off.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
import torch

import graphc
from graphc.runtime.executor import BACKENDS

sys.path.insert(0, os.path.dirname(__file__))  # tests/helpers.py, imported as `helpers`

from helpers import assert_matches  # noqa: E402,F401  (re-exported for tests that import it from conftest)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The default suite runs each test's first Triton case; ``-m slow`` runs the rest.

    Under Triton's interpreter a kernel costs milliseconds to prepare and launch, so the
    Triton cases of the op x dtype grids were 60% of the suite's CPU time. Each test
    function keeps its first Triton parametrization in the default suite (every test still
    runs on Triton there, and on every other backend in full); its other Triton cases are
    marked slow, which ``scripts/test.sh`` runs as a second command (docs/testing.md).
    """
    seen: set[str] = set()
    for item in items:
        if not _on_triton(item):
            continue
        function = item.nodeid.split("[")[0]
        if function in seen:
            item.add_marker(pytest.mark.slow)
        seen.add(function)


def _on_triton(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return callspec is not None and any(isinstance(v, str) and v == "triton" for v in callspec.params.values())


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    name = request.param
    if name == "triton":
        pytest.importorskip("triton")
    with graphc.use_backend(name):
        yield name


@pytest.fixture(params=[True, False], ids=["fused", "unfused"])
def fusion(request: pytest.FixtureRequest) -> Iterator[bool]:
    """Run a test with fusion on and off: eager code's programs and ``graphc.compile`` without ``fusion=``.

    The differential and gradient suites use it (``pytestmark = pytest.mark.usefixtures("fusion")``),
    so every case checks that fusion never changes a result, on both backends.
    """
    with graphc.use_fusion(request.param):
        yield request.param


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Eager torch on the shared CPU cores is much faster on one thread (no oversubscription)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

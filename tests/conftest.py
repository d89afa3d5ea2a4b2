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
    """The default suite runs each test's first Triton case; ``-m slow`` runs the rest (and ``_c_loops_unfused``).

    Under Triton's interpreter a kernel costs milliseconds to prepare and launch, so the
    Triton cases of the op x dtype grids were 60% of the suite's CPU time. Each test
    function keeps its first Triton parametrization in the default suite (every test still
    runs on Triton there, and on every other backend in full); its other Triton cases are
    marked slow, which ``scripts/test.sh`` runs as a second command (docs/testing.md).
    """
    seen: set[str] = set()
    for item in items:
        if _c_loops_unfused(item):
            item.add_marker(pytest.mark.slow)
        if not _on_triton(item):
            continue
        function = item.nodeid.split("[")[0]
        if function in seen:
            item.add_marker(pytest.mark.slow)
        seen.add(function)


def _on_triton(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return callspec is not None and any(isinstance(v, str) and v == "triton" for v in callspec.params.values())


def _c_loops_unfused(item: pytest.Item) -> bool:
    """A case of the elementwise grids (an ``engine`` fixture) in C loops with fusion off: slow.

    Each such case is a C build of its own (about a third of a second of CPU on a cold cache;
    they were 115 s of tests/test_ops_math.py's 294). The default suite keeps every op, dtype
    and edge value in C loops with fusion on, and the NumPy kernels fused and unfused (that
    fusion changes no result); tests/test_c_loops.py checks each primitive an unfused program
    is made of in C loops.
    """
    params = getattr(item, "callspec", None)
    return params is not None and params.params.get("engine") == "c-loops" and params.params.get("fusion") is False


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    name = request.param
    if name == "triton":
        pytest.importorskip("triton")
    with graphc.use_backend(name):
        yield name


@pytest.fixture(params=[True, False], ids=["fused", "unfused"])
def fusion(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[bool]:
    """Run a test with fusion on and off: eager code's programs and ``graphc.compile`` without ``fusion=``.

    The differential and gradient suites use it (``pytestmark = pytest.mark.usefixtures("fusion")``),
    so every case checks that fusion never changes a result, on both backends.

    Unfused, compiled NumPy programs run NumPy kernels: their C loops would be a C function
    per op, and a compiled step of a few dozen ops and their gradients a C build of 30-40 s of
    CPU on a cold cache (tests/test_ops_math.py's). C loops without fusion are tested by the
    fuzzer's C-loop seeds and by the ``engine`` grids with ``-m slow``; a test (or fixture)
    that sets ``GRAPHC_NATIVE`` itself overrides this.
    """
    if not request.param:
        monkeypatch.setenv("GRAPHC_NATIVE", "0")
    with graphc.use_fusion(request.param):
        yield request.param


@pytest.fixture
def numpy_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiled NumPy programs run NumPy kernels, not C loops: for files whose subject is not the kernels' code.

    On a cold cache every compiled program's C loops are a C build (about a third of a second of
    CPU each); such builds were more than half of the default suite's time (docs/testing.md).
    Files about retracing, memory plans, training loops or a layer's maths use this
    (``pytestmark``); the C loops keep their own tests (tests/test_c_loops.py: every primitive,
    random programs, training steps), the ``engine`` grids of the elementwise ops, the fuzzer's
    C-loop seeds and the sequence-model zoo's compiled training. A test that sets
    ``GRAPHC_NATIVE`` itself overrides this.
    """
    monkeypatch.setenv("GRAPHC_NATIVE", "0")


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Eager torch on the shared CPU cores is much faster on one thread (no oversubscription)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

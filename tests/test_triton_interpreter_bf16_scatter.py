"""Triton's interpreter has no bfloat16 atomic add: a bfloat16 scatter is refused there with a clear error (fuzz seed 9688)."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.errors import GraphcError


def test_an_index_assignment_into_bfloat16_is_refused_by_the_triton_interpreter_naming_the_line() -> None:
    pytest.importorskip("triton")
    from graphc.codegen.triton import _interpreted

    if not _interpreted():
        pytest.skip("a GPU has bfloat16 atomic adds")
    x = graphc.tensor(np.arange(9, dtype=np.float32).reshape(3, 3)).to(graphc.bfloat16)
    with graphc.use_backend("triton"):
        y = x.clone()
        y[graphc.tensor(np.array([0, 2]))] = 2  # the line the error names
        with pytest.raises(GraphcError, match=r"bfloat16 tensor at .*test_triton_interpreter_bf16_scatter.py:\d+.*interpreter"):
            y.numpy()

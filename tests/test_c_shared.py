"""Kernels whose C loops differ only in names compile once (graphc/codegen/c_shared.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from helpers import kernel_of, normal_tensor

import graphc
from graphc.codegen import c_loops, native
from graphc.codegen.c_shared import canonical, content_key, share_bodies

FIRST = """/* k3_add: the C loops of k3_add
 *   %12: f32[4] = add(%10, %11)
 */
PyObject *k3_add(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (!graphc_buffers(args, nargs, 3, 3, 2, itemsizes, views, held, "k3_add"))
        return NULL;
    const float *in10 = (const float *)views[0].buf;
    const float *in11 = (const float *)views[1].buf;
    float *out12 = (float *)views[2].buf;
    for (int64_t i0 = 0; i0 < 4; i0++) {
        const float v10 = in10[i0];
        const float v11 = in11[i0];
        /* %12: f32[4] = add(%10, %11) */
        const float v12 = v10 + v11;
        out12[i0] = v12;
    }
    Py_RETURN_NONE;
}"""


def _renamed(text: str, kernel: str, numbers: dict[str, str]) -> str:
    text = text.replace("k3_add", kernel)
    return re.sub(r"(?<=[a-z%])(10|11|12)\b", lambda m: numbers[m.group(1)], text)


def test_kernels_differing_in_node_numbers_and_comments_share_one_function() -> None:
    second = _renamed(FIRST, "k9_add", {"10": "40", "11": "41", "12": "47"})
    assert canonical("k3_add", FIRST) == canonical("k9_add", second)
    distinct, aliases = share_bodies([("k3_add", FIRST), ("k9_add", second)])
    assert aliases == {"k9_add": "k3_add"}
    assert [name for name, _ in distinct] == ["k3_add"]
    assert content_key("k3_add", FIRST) == content_key("k9_add", second)  # one compiled object, in any program


def test_a_renaming_that_is_not_one_to_one_keeps_kernels_apart() -> None:
    """k9 reads one buffer twice where k3 reads two: the same shape of text, not the same loops."""
    second = _renamed(FIRST, "k9_add", {"10": "40", "11": "40", "12": "47"})
    assert share_bodies([("k3_add", FIRST), ("k9_add", second)])[1] == {}


@pytest.mark.parametrize(("old", "new"), [("i0 < 4", "i0 < 5"), ("v10 + v11", "v10 - v11"), ('"k3_add")', '"k3_add at x.py:3")')])
def test_kernels_differing_in_code_or_in_a_string_keep_functions_of_their_own(old: str, new: str) -> None:
    second = _renamed(FIRST.replace(old, new), "k9_add", {"10": "10", "11": "11", "12": "12"})
    distinct, aliases = share_bodies([("k3_add", FIRST), ("k9_add", second)])
    assert aliases == {} and len(distinct) == 2


def test_a_repeated_layer_runs_through_one_c_function_with_the_values_of_torch(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # noqa: ANN001
    """Three steps of h = tanh(h @ w + b): each step's epilogue kernel is served by the first step's function."""
    if not native.enabled():
        pytest.skip("no C compiler")
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))

    def steps(h, w, b):  # noqa: ANN001, ANN202 (graphc's tensors, then torch's)
        for _ in range(3):
            h = (h @ w + b).tanh()
        return h

    h, w, b = normal_tensor(4, 8), normal_tensor(8, 8), normal_tensor(8)
    compiled = graphc.compile(steps, backend="numpy")
    expected = steps(*(torch.from_numpy(t.numpy()) for t in (h, w, b)))
    np.testing.assert_allclose(compiled(h, w, b).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    calls = {name for k in compiled.report().kernels for name in re.findall(r"_c\.(\w+)\(", k.source)}
    table = next(tmp_path.glob("*/graphc_c_*.c")).read_text()
    bound = dict(re.findall(r'\{"(\w+)", (graphc_fn_\w+)\}', table))
    assert len(calls) == 3 and set(bound) == calls and len(set(bound.values())) == 1
    assert len(list(tmp_path.glob("*/graphc_fn_*.o"))) == 1


def test_time_steps_reading_their_slices_of_a_stacked_input_share_one_c_function(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # noqa: ANN001
    """h = tanh(x[t] + h @ w): step t reads x at offset 12 * t, passed to its C function as an argument.

    Steps 1 to 3 are served by one function (step 0 reads at offset 0, the last is fused with the
    loss); the values and the gradients of a training step are torch's, in float64.
    """
    if not native.enabled():
        pytest.skip("no C compiler")
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    built: list[list[tuple[str, str]]] = []
    build = native.build

    def recording(functions: list[tuple[str, str]], vector_math: bool = True) -> str | None:
        built.append(list(functions))
        return build(functions, vector_math)

    monkeypatch.setattr(native, "build", recording)

    def steps(x, h, w):  # noqa: ANN001, ANN202 (graphc's tensors, then torch's)
        for t in range(5):
            h = (x[t] + h @ w).tanh()
        return h

    def train(x, h, w):  # noqa: ANN001, ANN202
        out = steps(x, h, w)
        (out * out).sum().backward()
        return out

    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((5, 3, 4)), rng.standard_normal((3, 4)), rng.standard_normal((4, 4)) * 0.5]
    ours = [graphc.tensor(a, requires_grad=i != 1) for i, a in enumerate(arrays)]
    theirs = [torch.tensor(a, requires_grad=i != 1) for i, a in enumerate(arrays)]
    out = graphc.compile(train, backend="numpy")(*ours)
    expected = train(*theirs)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    for i in (0, 2):
        np.testing.assert_allclose(ours[i].grad.numpy(), theirs[i].grad.numpy(), rtol=1e-12, atol=1e-12)
    distinct, aliases = share_bodies(built[-1])
    forward = [name for name, _ in built[-1] if name.endswith("_matmul_add_tanh")]
    assert len(forward) == 4 and len({aliases.get(name, name) for name in forward[1:]}) == 1
    assert "+ graphc_off0]" in dict(distinct)[aliases[forward[2]]]


def test_gathers_differing_in_node_numbers_share_one_function() -> None:
    """A gather's checked index is named after its node (``at<k>``), renumbered like the other node names."""
    x, index = normal_tensor(3, 4), graphc.tensor([[3], [0], [1]])
    kernel = kernel_of(x.gather(1, index) * 2)
    nodes = kernel.inputs + kernel.nodes
    first = c_loops.plan(kernel, {id(n): f"%{i}" for i, n in enumerate(nodes)}, {})
    later = c_loops.plan(kernel, {id(n): f"%{i + 500}" for i, n in enumerate(nodes)}, {})
    assert re.search(r"\bat\d+\b", first.source) and first.source != later.source
    assert content_key(first.name, first.source) == content_key(later.name, later.source)


def test_an_lstm_compiled_for_other_sequence_lengths_compiles_no_new_c_function(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # noqa: ANN001
    """The step count is in the stacked buffers' lengths (``960 * B`` bytes at 6 steps) and in the loop over
    their ``6 * B`` rows: both are arguments, so the program for 5 or 4 steps links the 6-step program's
    objects (the C text held them before: 3 new functions per length). Values are torch's, in float64."""
    if not native.enabled():
        pytest.skip("no C compiler")
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(3, 5, batch_first=True).double()
    ours = graphc.nn.LSTM(3, 5, batch_first=True).double()
    ours.load_state_dict({k: graphc.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})

    def last_output(x):  # noqa: ANN001, ANN202
        return ours(x)[0][:, -1]

    compiled = graphc.compile(last_output, backend="numpy")
    objects: list[int] = []
    for steps in (6, 5, 4):
        x = np.random.default_rng(steps).standard_normal((2, steps, 3))
        expected = theirs(torch.from_numpy(x))[0][:, -1].detach().numpy()
        np.testing.assert_allclose(compiled(graphc.tensor(x)).numpy(), expected, rtol=1e-12, atol=1e-12)
        objects.append(len(list(tmp_path.glob("*/graphc_fn_*.o"))))
    assert objects[0] > 0 and objects[1:] == [objects[0], objects[0]], objects
    sources = "".join(k.c_source or "" for k in compiled.report().kernels)
    assert "graphc_len0" in sources and "graphc_dim0" in sources

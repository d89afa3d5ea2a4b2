"""Whole sequence models (tests/model_zoo_seq.py) trained and differentiated by graphc and by torch, compared.

Each model is built from the same code and weights in both libraries, in float64, so
tolerances stay a few ulps of accumulated rounding and any wrong fusion, memory-plan
reuse, recomputation, mask broadcast or importer lowering shows as a difference.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
import pytest
import torch
from model_zoo_seq import CASES, PAD, Case, _next_tokens, _tokens, bilstm_tagger, gpt2

import graphc
from graphc.errors import GraphcError

RTOL, ATOL = 1e-10, 1e-12
LR, EPS = 1e-2, 1e-8
# A key bias (and the additive attention's Va.bias) shifts every score of a softmax row by one amount:
# its exact gradient is zero, and the computed one is rounding noise (|g| < 1e-16 here) that
# AdamW divides by sqrt(v) + eps, so each step moves it by up to LR * |g| / EPS in a
# direction set by the noise. Those entries are held to that bound (and to zero gradient
# at the start, which the test checks), the rest to float64 rounding.
NOISE = 1e-16
KEY_BIASES = {"c_attn.bias": (1, 3), "key.bias": (0, 1), "in_proj_bias": (1, 3), "Va.bias": (0, 1)}  # the key part: (index, parts)
# The first call traces twice (the models read sizes through Tensor.shape, so graphc
# retraces with static ones); the later calls replay that program.
STEPS = 3

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Each model costs 10-25 s to compile on the shared 2-core machine, so the default suite
# trains GPT-2 and BERT (tied weights, causal and padding masks) and imports LLaMA (GQA,
# rotary, RMSNorm); the other cases run with -m slow.
DEFAULT_TRAINED = {"gpt2", "bert"}
DEFAULT_IMPORTED = {"llama"}


def _cases(cases: list[Case], default: set[str]) -> list[Any]:
    return [pytest.param(c, id=c.name, marks=() if c.name in default else pytest.mark.slow) for c in cases]


def _as(T: Any, value: Any) -> Any:
    """A NumPy batch array as a ``T`` tensor (floats as float64); Python lists stay lists."""
    if not isinstance(value, np.ndarray):
        return value
    if value.dtype.kind == "f":
        value = value.astype(np.float64)
    return T.from_numpy(value.copy())


def _batch(case: Case, T: Any) -> tuple[tuple[Any, ...], Any]:
    rng = np.random.default_rng(7)
    inputs = case.inputs(rng)
    target = case.target(rng, inputs)
    return tuple(_as(T, x) for x in inputs), _as(T, target)


def _models(case: Case) -> tuple[torch.nn.Module, graphc.nn.Module]:
    torch.manual_seed(0)
    reference = case.make(torch.nn).double()
    model = case.make(graphc.nn).double()
    model.load_state_dict(reference.state_dict())
    return reference, model


def train_step(nn: Any, model: Any, opt: Any, inputs: tuple[Any, ...], target: Any, case: Case) -> Any:
    """One AdamW step on the cross-entropy of the model's logits, the same source for torch and graphc."""
    opt.zero_grad()
    logits = model(*inputs)
    loss = nn.functional.cross_entropy(logits.flatten(0, -2), target.flatten(), ignore_index=case.ignore_index)
    loss.backward()
    if case.clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), case.clip)
    opt.step()
    return loss


def _assert_close(got: Any, expected: torch.Tensor, what: str) -> None:
    np.testing.assert_allclose(np.asarray(got.numpy()), expected.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg=what)


def _key_rows(bias: Any, part: tuple[int, int]) -> slice:
    size = bias.shape[0] // part[1]
    return slice(part[0] * size, (part[0] + 1) * size)


def _assert_trained_parameters_close(model: graphc.nn.Module, reference: torch.nn.Module, steps: int) -> None:
    for (name, p), (_, q) in zip(model.named_parameters(), reference.named_parameters()):
        got, expected = p.numpy().copy(), q.detach().numpy().copy()
        for suffix, part in KEY_BIASES.items():
            if name.endswith(suffix):
                rows = _key_rows(got, part)
                np.testing.assert_allclose(got[rows], expected[rows], rtol=0, atol=steps * LR * NOISE / EPS, err_msg=name)
                got[rows] = expected[rows]
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL, err_msg=f"{name} after {steps} steps")


def _assert_key_bias_gradients_vanish(reference: torch.nn.Module) -> None:
    for name, q in reference.named_parameters():
        for suffix, part in KEY_BIASES.items():
            if name.endswith(suffix):
                assert q.grad[_key_rows(q, part)].abs().max().item() < NOISE, name


@pytest.mark.parametrize("case", _cases(CASES, DEFAULT_TRAINED))
def test_compiled_training_steps_match_torch(case: Case) -> None:
    reference, model = _models(case)
    (t_inputs, t_target), (g_inputs, g_target) = _batch(case, torch), _batch(case, graphc)
    t_opt = torch.optim.AdamW(reference.parameters(), lr=LR, weight_decay=0.1, eps=EPS)
    g_opt = graphc.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.1, eps=EPS)
    step = graphc.compile(lambda *args: train_step(graphc.nn, model, g_opt, args[:-1], args[-1], case))
    for i in range(STEPS):
        expected = train_step(torch.nn, reference, t_opt, t_inputs, t_target, case)
        if i == 0:
            _assert_key_bias_gradients_vanish(reference)
        _assert_close(step(*g_inputs, g_target), expected, f"loss of step {i}")
    # Size reads (b, t, c = x.shape) keep the batch symbolic; packing a batch needs its size as a number.
    assert step.trace_count == (2 if case.name == "bilstm_tagger" else 1), step.recompilations
    _assert_trained_parameters_close(model, reference, STEPS)
    reference.eval()
    model.eval()
    with torch.no_grad(), graphc.no_grad():
        _assert_close(model(*g_inputs), reference(*t_inputs), "eval logits")


@pytest.mark.slow
def test_gpt2_training_without_fusion_matches_torch() -> None:
    case = next(c for c in CASES if c.name == "gpt2")
    reference, model = _models(case)
    (t_inputs, t_target), (g_inputs, g_target) = _batch(case, torch), _batch(case, graphc)
    t_opt = torch.optim.AdamW(reference.parameters(), lr=LR, eps=EPS)
    g_opt = graphc.optim.AdamW(model.parameters(), lr=LR, eps=EPS)
    step = graphc.compile(lambda *args: train_step(graphc.nn, model, g_opt, args[:-1], args[-1], case), fusion=False)
    for i in range(STEPS):
        expected = train_step(torch.nn, reference, t_opt, t_inputs, t_target, case)
        _assert_close(step(*g_inputs, g_target), expected, f"loss of step {i}")
    _assert_trained_parameters_close(model, reference, STEPS)


@pytest.mark.slow
@pytest.mark.parametrize("read_sizes", [False, True], ids=["unflatten", "b-t-c-from-shape"])
def test_gpt2_with_symbolic_batch_trains_at_every_batch_size_from_one_trace(read_sizes: bool) -> None:
    """One program, its batch a symbol, serves batches 2, 3 and 5 (clipped AdamW, ignore_index), whether the heads
    are split with unflatten or with ``b, t, c = x.shape`` and ``view(b, t, heads, c // heads)`` (symbolic sizes)."""
    case = dataclasses.replace(next(c for c in CASES if c.name == "gpt2"), make=functools.partial(gpt2, read_sizes=read_sizes), clip=1.0)
    reference, model = _models(case)
    t_opt = torch.optim.AdamW(reference.parameters(), lr=LR, eps=EPS)
    g_opt = graphc.optim.AdamW(model.parameters(), lr=LR, eps=EPS)
    step = graphc.compile(lambda ids, target: train_step(graphc.nn, model, g_opt, (ids,), target, case))
    rng = np.random.default_rng(5)
    for batch in (2, 3, 5):
        ids = _tokens(rng, batch=batch, lengths=[6])
        target = _next_tokens(rng, (ids,))
        expected = train_step(torch.nn, reference, t_opt, (torch.from_numpy(ids),), torch.from_numpy(target), case)
        _assert_close(step(graphc.from_numpy(ids), graphc.from_numpy(target)), expected, f"loss at batch {batch}")
    assert step.trace_count == 1, step.recompilations
    _assert_trained_parameters_close(model, reference, 3)


@pytest.mark.slow
def test_gpt2_with_parameter_groups_warmup_and_label_smoothing_matches_torch() -> None:
    """nanoGPT's recipe: no weight decay on biases and norms, a LambdaLR warmup stepped between compiled steps."""
    case = next(c for c in CASES if c.name == "gpt2")
    reference, model = _models(case)
    (t_inputs, t_target), (g_inputs, g_target) = _batch(case, torch), _batch(case, graphc)

    def groups(m: Any) -> list[dict[str, Any]]:
        return [
            {"params": [p for p in m.parameters() if p.dim() >= 2], "weight_decay": 0.1},
            {"params": [p for p in m.parameters() if p.dim() < 2], "weight_decay": 0.0},
        ]

    def warmup(step: int) -> float:
        return min(1.0, (step + 1) / 3)

    def smoothed_step(nn: Any, m: Any, opt: Any, inputs: tuple[Any, ...], target: Any) -> Any:
        opt.zero_grad()
        logits = m(*inputs)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=PAD, label_smoothing=0.1)
        loss.backward()
        opt.step()
        return loss

    t_opt = torch.optim.AdamW(groups(reference), lr=LR, betas=(0.9, 0.95), eps=EPS)
    g_opt = graphc.optim.AdamW(groups(model), lr=LR, betas=(0.9, 0.95), eps=EPS)
    t_sched, g_sched = torch.optim.lr_scheduler.LambdaLR(t_opt, warmup), graphc.optim.lr_scheduler.LambdaLR(g_opt, warmup)
    step = graphc.compile(lambda *args: smoothed_step(graphc.nn, model, g_opt, args[:-1], args[-1]))
    for i in range(4):
        expected = smoothed_step(torch.nn, reference, t_opt, t_inputs, t_target)
        _assert_close(step(*g_inputs, g_target), expected, f"loss of step {i}")
        t_sched.step()
        g_sched.step()
    _assert_trained_parameters_close(model, reference, 4)


@pytest.mark.slow
def test_imported_bert_trains_with_a_torch_optimizer_as_eager_does() -> None:
    """The importer's module under torch's AdamW and clip_grad_norm_: the user's loop unchanged, losses and weights as eager."""
    case = next(c for c in CASES if c.name == "bert")
    torch.manual_seed(0)
    reference = case.make(torch.nn).double()
    source = case.make(torch.nn).double()
    source.load_state_dict(reference.state_dict())
    compiled = graphc.compile(source)
    inputs, target = _batch(case, torch)
    t_opt = torch.optim.AdamW(reference.parameters(), lr=LR, eps=EPS)
    g_opt = torch.optim.AdamW(source.parameters(), lr=LR, eps=EPS)

    def step(m: Any, opt: Any) -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(m(*inputs), target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 0.5)
        opt.step()
        return loss

    for i in range(3):
        got = step(compiled, g_opt)
        np.testing.assert_allclose(got.item(), step(reference, t_opt).item(), rtol=RTOL, err_msg=f"loss of step {i}")
    for (name, p), q in zip(source.named_parameters(), reference.parameters()):
        rows = slice(None) if name.endswith("key.bias") else slice(0, 0)
        np.testing.assert_allclose(p.detach().numpy()[rows], q.detach().numpy()[rows], rtol=0, atol=3 * LR * NOISE / EPS, err_msg=name)
        kept = np.ones(p.shape[0], dtype=bool)
        kept[rows] = False
        np.testing.assert_allclose(p.detach().numpy()[kept], q.detach().numpy()[kept], rtol=RTOL, atol=ATOL, err_msg=name)


def test_gpt2_head_stays_tied_to_the_token_embedding_through_training() -> None:
    case = next(c for c in CASES if c.name == "gpt2")
    _, model = _models(case)
    g_inputs, g_target = _batch(case, graphc)
    opt = graphc.optim.AdamW(model.parameters(), lr=LR, eps=EPS)
    step = graphc.compile(lambda *args: train_step(graphc.nn, model, opt, args[:-1], args[-1], case))
    for _ in range(2):
        step(*g_inputs, g_target)
    assert model.lm_head.weight is model.wte.weight
    assert "lm_head.weight" not in dict(model.named_parameters())


IMPORTED = [dataclasses.replace(c, make=functools.partial(bilstm_tagger, packed=False)) if c.name == "bilstm_tagger" else c for c in CASES]


@pytest.mark.parametrize("case", _cases(IMPORTED, DEFAULT_IMPORTED))
def test_imported_torch_model_matches_eager_values_and_gradients(case: Case) -> None:
    torch.manual_seed(0)
    reference = case.make(torch.nn).double()
    imported_source = case.make(torch.nn).double()
    imported_source.load_state_dict(reference.state_dict())
    t_inputs, _ = _batch(case, torch)
    compiled = graphc.compile(imported_source)
    weights = torch.from_numpy(np.random.default_rng(3).standard_normal(reference(*t_inputs).shape))
    expected = reference(*t_inputs)
    got = compiled(*t_inputs)
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=RTOL, atol=ATOL)
    (expected * weights).sum().backward()
    (got * weights).sum().backward()
    for (name, p), q in zip(imported_source.named_parameters(), reference.parameters()):
        assert p.grad is not None, name
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=name)


def test_importing_an_lstm_over_a_packed_sequence_is_refused_clearly() -> None:
    """torch.export itself cannot trace it; graphc says so and names the line, instead of failing inside torch."""
    torch.manual_seed(0)
    model = bilstm_tagger(torch.nn).double()
    inputs, _ = _batch(next(c for c in CASES if c.name == "bilstm_tagger"), torch)
    with pytest.raises(GraphcError, match=r"torch.export could not export Tagger(.|\n)*self.lstm\(sequences\)"):
        graphc.compile(model)(*inputs)


def test_tiny_gpt2_forward_and_backward_on_triton_match_torch() -> None:
    pytest.importorskip("triton")
    make = lambda nn: gpt2(nn, d=16, heads=2, max_len=4)  # noqa: E731
    torch.manual_seed(0)
    reference = make(torch.nn).double()
    model = make(graphc.nn).double()
    model.load_state_dict(reference.state_dict())
    ids = np.random.default_rng(1).integers(1, 50, size=(2, 4))

    def forward_backward(tokens: graphc.Tensor) -> graphc.Tensor:
        logits = model(tokens)
        (logits * logits).mean().backward()
        return logits

    compiled = graphc.compile(forward_backward, backend="triton")
    got = compiled(graphc.from_numpy(ids))
    assert compiled.report().backend == "triton"
    expected = reference(torch.from_numpy(ids))
    (expected * expected).mean().backward()
    _assert_close(got, expected, "logits")
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        _assert_close(p.grad, q.grad, name)


TINY = {
    "gpt2": {"d": 16, "heads": 2, "max_len": 4},
    "llama": {"d": 16, "heads": 4, "kv_heads": 2, "hidden": 32},
    "bert": {"d": 16, "heads": 2},
    "vit": {"d": 16, "heads": 2},
    "seq2seq_gru": {"d": 8},
    "bilstm_tagger": {"d": 8},
}


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_tiny_model_trains_on_triton_as_torch(case: Case) -> None:
    """Each architecture at d 8-16 through three compiled AdamW steps on the Triton interpreter (10-20 s each)."""
    pytest.importorskip("triton")
    case = dataclasses.replace(case, make=functools.partial(case.make, **TINY[case.name]))
    reference, model = _models(case)
    (t_inputs, t_target), (g_inputs, g_target) = _batch(case, torch), _batch(case, graphc)
    if case.name == "gpt2":  # positions for 4 tokens only
        t_inputs, t_target, g_inputs, g_target = (t_inputs[0][:, :4],), t_target[:, :4], (g_inputs[0][:, :4],), g_target[:, :4]
    t_opt = torch.optim.AdamW(reference.parameters(), lr=LR, weight_decay=0.1, eps=EPS)
    g_opt = graphc.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.1, eps=EPS)
    step = graphc.compile(lambda *args: train_step(graphc.nn, model, g_opt, args[:-1], args[-1], case), backend="triton")
    for i in range(STEPS):
        expected = train_step(torch.nn, reference, t_opt, t_inputs, t_target, case)
        _assert_close(step(*g_inputs, g_target), expected, f"loss of step {i}")
    assert step.report().backend == "triton"
    _assert_trained_parameters_close(model, reference, STEPS)

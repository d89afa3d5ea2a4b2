"""graphc.nn.utils.rnn against torch.nn.utils.rnn, and RNN/LSTM/GRU on packed input against torch's (float64 values and gradients)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches
from nn_compare import compare_modules
from torch_grads import check_grads

import graphc
from graphc import nn
from graphc.errors import GraphcError
from graphc.nn.utils import rnn as R

rng = np.random.default_rng(7)

LENGTHS = [2, 4, 1, 4]  # unsorted, with a tie: torch's order of ties must be kept


def test_pad_sequence_sides_values_and_gradients() -> None:
    seqs = [rng.standard_normal((n, 2)) for n in (2, 4, 1)]

    def fn(T: Any, *xs: Any) -> tuple:
        pad = T.nn.utils.rnn.pad_sequence
        return pad(list(xs)), pad(list(xs), batch_first=True, padding_value=-1.5, padding_side="left")

    check_grads(fn, *seqs)


def test_pad_sequence_of_integers_casts_the_padding_value() -> None:
    seqs = [np.arange(n) for n in (3, 1)]
    got = R.pad_sequence([graphc.tensor(s) for s in seqs], padding_value=2.7)
    assert_matches(got, torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], padding_value=2.7))


@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_padded_sequence_fields_and_gradients(batch_first: bool) -> None:
    x = rng.standard_normal((4, 4, 3))

    def fn(T: Any, x: Any) -> tuple:
        lengths = T.tensor(LENGTHS) if batch_first else LENGTHS  # a tensor or a list
        packed = T.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
        return tuple(packed)

    check_grads(fn, x)


def test_pack_padded_sequence_sorted_has_no_indices() -> None:
    x = rng.standard_normal((3, 2, 1))
    g = R.pack_padded_sequence(graphc.tensor(x), [3, 1])
    t = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), [3, 1])
    assert g.sorted_indices is None and g.unsorted_indices is None
    assert_matches([g.data, g.batch_sizes], [t.data, t.batch_sizes])


def test_pad_packed_sequence_total_length_padding_value_and_gradients() -> None:
    x = rng.standard_normal((4, 4, 2))

    def fn(T: Any, x: Any) -> tuple:
        rnn = T.nn.utils.rnn
        packed = rnn.pack_padded_sequence(x, LENGTHS, enforce_sorted=False)
        return (*rnn.pad_packed_sequence(packed, batch_first=True, padding_value=9.0, total_length=6), *rnn.pad_packed_sequence(packed))

    check_grads(fn, x)


def test_pack_sequence_unpack_sequence_and_unpad_sequence() -> None:
    seqs = [rng.standard_normal((n, 2)) for n in LENGTHS]

    def fn(T: Any, *xs: Any) -> tuple:
        rnn = T.nn.utils.rnn
        packed = rnn.pack_sequence(list(xs), enforce_sorted=False)
        padded = rnn.pad_sequence(list(xs), batch_first=True)
        return (*packed, *rnn.unpack_sequence(packed), *rnn.unpad_sequence(padded, T.tensor(LENGTHS), batch_first=True))

    check_grads(fn, *seqs)


def test_packed_sequence_conversions_touch_data_only() -> None:
    packed = R.pack_padded_sequence(graphc.randn(3, 2, 2), [3, 2])
    assert packed._fields == ("data", "batch_sizes", "sorted_indices", "unsorted_indices")
    assert packed.float() is packed and packed.to(graphc.float32) is packed
    double = packed.double()
    assert double.data.dtype == graphc.float64 and double.batch_sizes is packed.batch_sizes
    assert packed.to(dtype=graphc.float64).data.dtype == graphc.float64
    assert packed.long().data.dtype == graphc.int64 and not packed.is_cuda
    built = R.PackedSequence(packed.data, packed.batch_sizes, graphc.tensor([2, 0, 1]))
    assert built.unsorted_indices.tolist() == [1, 2, 0]


def test_bad_lengths_are_clear_errors() -> None:
    x = graphc.randn(3, 2, 1)
    with pytest.raises(GraphcError, match="sorted in decreasing order"):
        R.pack_padded_sequence(x, [1, 3])
    with pytest.raises(GraphcError, match=r"len\(lengths\)"):
        R.pack_padded_sequence(x, [3])
    with pytest.raises(GraphcError, match="greater than 0"):
        R.pack_padded_sequence(x, [3, 0])
    with pytest.raises(GraphcError, match="exceeds"):
        R.pack_padded_sequence(x, [4, 1])
    with pytest.raises(ValueError, match="total_length"):
        R.pad_packed_sequence(R.pack_padded_sequence(x, [3, 1]), total_length=2)


def test_packed_input_checks_the_initial_state_against_the_batch() -> None:
    packed = R.pack_padded_sequence(graphc.randn(3, 2, 1), [3, 1])
    with pytest.raises(GraphcError, match=r"GRU: Expected hx size \[1, 2, 2\], got \[1, 3, 2\]"):
        nn.GRU(1, 2)(packed, graphc.randn(1, 3, 2))
    with pytest.raises(GraphcError, match="input.size"):
        nn.GRU(2, 2)(packed)


class _Packed(torch.nn.Module):
    """Packs a batch-first padded batch with ``LENGTHS`` (unsorted) and runs the recurrent layer on it."""

    def __init__(self, rnn: Any, lib: Any, lengths: list[int] = LENGTHS) -> None:
        super().__init__()
        self.rnn = rnn
        self.lib = lib
        self.lengths = lengths

    def forward(self, x: Any, *state: Any) -> Any:
        packed = self.lib.nn.utils.rnn.pack_padded_sequence(x, self.lengths, batch_first=True, enforce_sorted=False)
        hx = None if not state else (tuple(state) if len(state) == 2 else state[0])
        return self.rnn(packed, hx)


class _GraphcPacked(nn.Module):
    def __init__(self, rnn: Any, lengths: list[int] = LENGTHS) -> None:
        super().__init__()
        self.rnn = rnn
        self.lengths = lengths

    forward = _Packed.forward

    lib = graphc


RECURRENT = [("LSTM", False), ("GRU", True), ("RNN", True), ("LSTM", True)]  # (layer, with an initial state)


@pytest.mark.parametrize("name,with_state", RECURRENT, ids=[f"{n}-{'hx' if s else 'no-hx'}" for n, s in RECURRENT])
def test_packed_input_two_bidirectional_layers(name: str, with_state: bool) -> None:
    kwargs = dict(num_layers=2, bidirectional=True, batch_first=True)
    g, t = _GraphcPacked(getattr(nn, name)(3, 4, **kwargs)), _Packed(getattr(torch.nn, name)(3, 4, **kwargs), torch)
    states = [rng.standard_normal((4, 4, 4)) for _ in range(2 if name == "LSTM" else 1)] if with_state else []
    g_out, _ = compare_modules(g, t, [rng.standard_normal((4, 4, 3)), *states])
    assert isinstance(g_out[0], graphc.Tensor) and g_out[0].shape == (sum(LENGTHS), 8)


def test_packed_input_single_direction_sorted_time_major() -> None:
    g, t = nn.GRU(2, 3), torch.nn.GRU(2, 3)
    g.load_state_dict(t.state_dict())
    x = rng.standard_normal((3, 2, 2)).astype(np.float32)
    g_out, g_h = g(R.pack_padded_sequence(graphc.tensor(x), [3, 2]))
    t_out, t_h = t(torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), [3, 2]))
    assert isinstance(g_out, R.PackedSequence) and g_out.sorted_indices is None
    assert_matches([g_out.data, g_out.batch_sizes, g_h], [t_out.data, t_out.batch_sizes, t_h])


def test_packed_input_on_triton() -> None:
    pytest.importorskip("triton")
    with graphc.use_backend("triton"):
        g, t = nn.GRU(2, 2, bidirectional=True, batch_first=True), torch.nn.GRU(2, 2, bidirectional=True, batch_first=True)
        compare_modules(_GraphcPacked(g, [1, 3]), _Packed(t, torch, [1, 3]), [rng.standard_normal((2, 3, 2))])


def test_compiled_packing_with_list_lengths_is_one_program_per_list() -> None:
    rnn = nn.RNN(2, 3, bidirectional=True).double()

    def run(x: graphc.Tensor, lengths: list[int]) -> tuple:
        out, h = rnn(R.pack_padded_sequence(x, lengths, enforce_sorted=False))
        return R.pad_packed_sequence(out)[0], h

    step = graphc.compile(run)
    x = graphc.tensor(rng.standard_normal((3, 3, 2)))
    for lengths in ([1, 3, 2], [2, 2, 3], [1, 3, 2]):
        for got, want in zip(step(x, lengths), run(x, lengths)):
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-14)
    # the first trace meets the symbolic batch size and starts again with static sizes; the second list traces anew, the third reuses
    assert step.trace_count == 3


def test_compiled_module_takes_a_packed_sequence_as_torch_gradients_included() -> None:
    g, t = nn.RNN(2, 2, bidirectional=True).double(), torch.nn.RNN(2, 2, bidirectional=True).double()
    g.load_state_dict(t.state_dict())
    step = graphc.compile(g)
    x = rng.standard_normal((3, 3, 2))
    for lengths in ([1, 3, 2], [3, 3, 1], [1, 3, 2]):
        gx, tx = graphc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        g_out, g_h = step(R.pack_padded_sequence(gx, lengths, enforce_sorted=False))
        t_out, t_h = t(torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, enforce_sorted=False))
        assert isinstance(g_out, R.PackedSequence)
        assert_matches([*g_out, g_h], [*t_out, t_h])
        g.zero_grad()
        t.zero_grad()
        (g_out.data.sum() + (g_h * g_h).sum()).backward()
        (t_out.data.sum() + (t_h * t_h).sum()).backward()
        assert_matches([gx.grad, *[p.grad for p in g.parameters()]], [tx.grad, *[p.grad for p in t.parameters()]])
    assert step.trace_count == 3  # batch_sizes and the indices are taken by value: each layout is one program


def test_compiled_packing_refuses_lengths_computed_from_inputs() -> None:
    step = graphc.compile(lambda x, lengths: R.pack_padded_sequence(x, lengths).data)
    with pytest.raises(GraphcError, match="pack_padded_sequence: lengths is computed from the compiled function's inputs"):
        step(graphc.randn(3, 2, 1), graphc.tensor([3, 1]))

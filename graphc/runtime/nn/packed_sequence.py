"""Variable-length sequences as ``torch.nn.utils.rnn``: ``PackedSequence`` and the functions that make and undo it.

A packed sequence's rows are the time steps of all sequences, longest sequence first,
so its shape depends on the lengths: they are read as host values, as torch keeps
``batch_sizes`` on the CPU. Moving between the padded and the packed layout is one row
gather each way, its index built on the host from the lengths, so gradients flow
through both. Inside ``graphc.compile`` the lengths must be known when the function is
traced: a ``PackedSequence`` argument's batch sizes and indices are taken by value (one
program per layout), lengths given to ``pack_padded_sequence`` are a Python list or a
tensor that does not depend on the function's inputs; lengths computed from its inputs are
refused, as any data-dependent shape is (``docs/decisions.md``, "Packed sequences").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from graphc.frontend import functional as TF
from graphc.frontend import tracing
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.registry import op_error
from graphc.runtime.tensor import Tensor

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpad_sequence",
    "pack_sequence",
    "unpack_sequence",
]


class _PackedSequenceFields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedSequenceFields):
    """The steps of a batch of sequences, step by step, each step holding the sequences still running (longest first).

    A named tuple, as torch's, so ``graphc.compile`` can return one (it rebuilds it from its
    four fields); ``batch_sizes`` is an int64 host tensor, dtype conversions touch ``data`` only.
    """

    __slots__ = ()
    # Host values in torch (batch_sizes on the CPU): graphc.compile takes these by value, so a
    # PackedSequence argument selects the program for its layout (graphc.runtime.compiled._flatten).
    _host_fields = ("batch_sizes", "sorted_indices", "unsorted_indices")

    def __new__(
        cls, data: Any, batch_sizes: Tensor | None = None, sorted_indices: Tensor | None = None, unsorted_indices: Tensor | None = None
    ) -> PackedSequence:
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:  # torch's internal form: (data, batch_sizes) as one tuple
            if not isinstance(data, (tuple, list)) or len(data) != 2:
                raise TypeError("PackedSequence: without batch_sizes, data must be a (data, batch_sizes) pair")
            data, batch_sizes = data
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """Converts ``data``; the indices follow its device, ``batch_sizes`` stays on the host; unchanged data gives ``self``."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        indices = [None if i is None else i.to(data.device) for i in (self.sorted_indices, self.unsorted_indices)]
        return type(self)(data, self.batch_sizes, *indices)

    def cuda(self, *args: Any, **kwargs: Any) -> PackedSequence:
        return self.to(*args, device="cuda", **kwargs)

    def cpu(self, *args: Any, **kwargs: Any) -> PackedSequence:
        return self.to(*args, device="cpu", **kwargs)

    def double(self) -> PackedSequence:
        return self.to(dtype=dtypes.float64)

    def float(self) -> PackedSequence:
        return self.to(dtype=dtypes.float32)

    def half(self) -> PackedSequence:
        return self.to(dtype=dtypes.float16)

    def long(self) -> PackedSequence:
        return self.to(dtype=dtypes.int64)

    def int(self) -> PackedSequence:
        return self.to(dtype=dtypes.int32)

    def short(self) -> PackedSequence:
        return self.to(dtype=dtypes.int16)

    def char(self) -> PackedSequence:
        return self.to(dtype=dtypes.int8)

    def byte(self) -> PackedSequence:
        return self.to(dtype=dtypes.uint8)

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda


def _int_tensor(values: Any) -> Tensor:
    return Tensor(np.asarray(values, dtype=np.int64))


def host_ints(value: Any, op: str, what: str) -> list[int]:
    """The integers of ``value`` (lengths, batch sizes, indices) on the host.

    Inside a compiled function a tensor computed from its inputs has no value yet; the
    shape of what ``op`` makes would depend on it, so it is refused with the way out.
    """
    if not isinstance(value, Tensor):
        return [int(v) for v in np.asarray(value).reshape(-1)]
    trace = tracing.active()
    if trace is not None and trace.depends_on_standins(tracing.read(value)):
        raise op_error(
            op,
            [value._node.type],
            {},
            f"{what} is computed from the compiled function's inputs, but the shape of a packed sequence depends on its values; "
            "inside graphc.compile pass the lengths as a Python list, or pass a PackedSequence, whose batch sizes are taken by value "
            "(either way one program per layout of lengths)",
        )
    if not value.dtype.is_integer:
        raise op_error(op, [value._node.type], {}, f"{what} must be integers, got {value.dtype.name}")
    return [int(v) for v in value.numpy().reshape(-1)]


def _static(size: Any, op: str) -> int:
    """A size as an int: a symbolic batch size makes the trace start again with static sizes (a packed layout needs them)."""
    if not isinstance(size, int):
        raise tracing.SizeRead(f"{op} needs the batch size and the sequence length as numbers")
    return size


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    if permutation is None:
        return None
    order = host_ints(permutation, "invert_permutation", "the permutation")
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.arange(len(order))
    return _int_tensor(inverse)


def _batch_sizes(lengths_sorted: list[int]) -> list[int]:
    return [sum(1 for n in lengths_sorted if n > t) for t in range(lengths_sorted[0])] if lengths_sorted else []


def layout(sequence: PackedSequence, op: str) -> tuple[list[int], list[int], list[int]]:
    """``(batch_sizes, lengths, sorted_indices)`` of ``sequence`` on the host, lengths in the batch's own order."""
    sizes = host_ints(sequence.batch_sizes, op, "batch_sizes")
    batch = sizes[0] if sizes else 0
    order = list(range(batch)) if sequence.sorted_indices is None else host_ints(sequence.sorted_indices, op, "sorted_indices")
    lengths = [0] * batch
    for rank, original in enumerate(order):
        lengths[original] = sum(1 for n in sizes if n > rank)
    return sizes, lengths, order


def to_padded(data: Tensor, sizes: list[int], order: list[int], steps: int, padding_value: float) -> Tensor:
    """The packed rows ``data`` as a time-major ``[steps, batch, *]`` tensor in the batch's own order, ``padding_value`` past each end."""
    batch = sizes[0] if sizes else 0
    rows = _static(data.shape[0], "pad_packed_sequence")
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    index = np.full((steps, batch), rows, dtype=np.int64)  # the padding row appended below
    for rank, original in enumerate(order):
        for t in range(len(sizes)):
            if sizes[t] > rank:
                index[t, original] = offsets[t] + rank
    rest = tuple(data.shape[1:])
    padded_rows = TF.cat([data, TF.wrap(b.full((1, *rest), padding_value, data.dtype))], 0)
    return TF.reshape(TF.index_select(padded_rows, 0, _int_tensor(index.reshape(-1))), (steps, batch, *rest))


def to_packed(padded: Tensor, sizes: list[int], order: list[int]) -> Tensor:
    """The rows of the time-major ``padded`` (batch in its own order) that ``sizes``/``order`` say are inside a sequence."""
    steps, batch = padded.shape[0], padded.shape[1]
    index = [t * batch + order[rank] for t, size in enumerate(sizes) for rank in range(size)]
    return TF.index_select(TF.reshape(padded, (steps * batch, *padded.shape[2:])), 0, _int_tensor(index))


def pack_padded_sequence(input: Tensor, lengths: Any, batch_first: bool = False, enforce_sorted: bool = True) -> PackedSequence:
    op = "pack_padded_sequence"
    if isinstance(lengths, Tensor) and lengths.ndim != 1:
        raise op_error(op, [input._node.type, lengths._node.type], {}, f"'lengths' argument should be a 1D int64 tensor, but got {lengths.ndim}D")
    counts = host_ints(lengths, op, "lengths")
    if input.ndim < 2:
        raise op_error(op, [input._node.type], {}, f"input must have a time and a batch dimension, got {input.ndim}-D")
    x = TF.transpose(input, 0, 1) if batch_first else input
    steps, batch = _static(x.shape[0], op), _static(x.shape[1], op)
    if len(counts) != batch:
        raise op_error(op, [input._node.type], {}, f"Expected `len(lengths)` to be equal to batch_size, but got {len(counts)} (batch_size={batch})")
    if enforce_sorted:
        if any(a < b_ for a, b_ in zip(counts, counts[1:])):
            raise op_error(
                op,
                [input._node.type],
                {},
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can pass "
                "`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep this requirement",
            )
        order = list(range(batch))
        sorted_indices = None
    else:
        order = [int(i) for i in np.argsort(-np.asarray(counts, dtype=np.int64), kind="stable")]  # torch's order of ties
        sorted_indices = _int_tensor(order)
    if counts and min(counts) <= 0:
        raise op_error(op, [input._node.type], {}, f"Length of all samples has to be greater than 0, but got lengths {counts}")
    if counts and max(counts) > steps:
        raise op_error(op, [input._node.type], {}, f"a length ({max(counts)}) exceeds the padded sequence length {steps}")
    sizes = _batch_sizes(sorted(counts, reverse=True))
    return PackedSequence(to_packed(x, sizes, order), _int_tensor(sizes), sorted_indices, None)


def pad_packed_sequence(
    sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0, total_length: int | None = None
) -> tuple[Tensor, Tensor]:
    """``(padded, lengths)``: the batch in its order before packing, ``padding_value`` past each end, ``total_length`` steps if given."""
    sizes, lengths, order = layout(sequence, "pad_packed_sequence")
    steps = len(sizes)
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in input, but got "
                f"total_length={total_length} and max sequence length being {steps}"
            )
        steps = total_length
    padded = to_padded(sequence.data, sizes, order, steps, padding_value)
    return (TF.transpose(padded, 0, 1) if batch_first else padded), _int_tensor(lengths)


def pad_sequence(sequences: Tensor | Sequence[Tensor], batch_first: bool = False, padding_value: float = 0.0, padding_side: str = "right") -> Tensor:
    """Stacks ``[L_i, *]`` tensors into ``[max L, batch, *]`` (or batch first), padding each at ``padding_side``."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    items = list(TF.unbind(sequences, 0)) if isinstance(sequences, Tensor) else list(sequences)
    if not items:
        raise ValueError("pad_sequence: received an empty list of sequences")
    longest = max(_static(s.shape[0], "pad_sequence") for s in items)
    padded = []
    for s in items:
        missing = longest - s.shape[0]
        if missing:
            fill = TF.wrap(b.full((missing, *s.shape[1:]), padding_value, s.dtype))
            s = TF.cat([s, fill] if padding_side == "right" else [fill, s], 0)
        padded.append(s)
    return TF.stack(padded, 0 if batch_first else 1)


def unpad_sequence(padded_sequences: Tensor, lengths: Any, batch_first: bool = False) -> list[Tensor]:
    """Each sequence of the padded batch cut to its length."""
    counts = host_ints(lengths, "unpad_sequence", "lengths")
    x = padded_sequences if batch_first else TF.transpose(padded_sequences, 0, 1)
    return [x[i, :n] for i, n in enumerate(counts)]


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    lengths = [_static(s.shape[0], "pack_sequence") for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)

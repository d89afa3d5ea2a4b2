"""Recurrent layers: ``RNN`` (tanh or relu), ``LSTM``, ``GRU`` and their single-step cells.

The sequence is unrolled in the graph: the input projections of all time steps
are one matmul per layer and direction, then every step adds the recurrent
projection and applies the cell. Parameter names, shapes, gate orders (LSTM:
input, forget, cell, output; GRU: reset, update, new) and initialisation
(uniform in ``±1/sqrt(hidden_size)``) are torch's, so a torch state dict loads.

A ``PackedSequence`` input runs padded, with a mask per step from its lengths
(``RNNBase._layers``), and comes back packed (``docs/decisions.md``, "Packed sequences").
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from graphc.errors import GraphcError
from graphc.frontend import functional as TF
from graphc.ir import build as b
from graphc.ir.registry import op_error
from graphc.ir.types import dims_equal
from graphc.runtime.nn import functional as F
from graphc.runtime.nn import init
from graphc.runtime.nn.linear import empty_parameter
from graphc.runtime.nn.module import Module
from graphc.runtime.nn.packed_sequence import PackedSequence, layout, to_packed, to_padded
from graphc.runtime.tensor import Tensor

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _zeros(shape: tuple, like: Tensor) -> Tensor:
    """Zeros of ``shape`` (whose sizes may be symbolic) in ``like``'s dtype."""
    return TF.wrap(b.full(shape, 0.0, like.dtype))


def _project(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    return F.linear(x, weight, bias)


def rnn_cell(mode: str, x_proj: Tensor, state: Any, w_hh: Tensor, b_hh: Tensor | None) -> Any:
    """One step of a cell: ``x_proj`` is the input projection ``x @ w_ih.T + b_ih``; returns the new state."""
    if mode == "LSTM":
        h, c = state
        gates = TF.add(x_proj, _project(h, w_hh, b_hh))
        i, f, g, o = TF.chunk(gates, 4, -1)
        c = TF.add(TF.mul(TF.sigmoid(f), c), TF.mul(TF.sigmoid(i), TF.tanh(g)))
        return TF.mul(TF.sigmoid(o), TF.tanh(c)), c
    if mode == "GRU":
        h = state
        hidden = _project(h, w_hh, b_hh)
        x_r, x_z, x_n = TF.chunk(x_proj, 3, -1)
        h_r, h_z, h_n = TF.chunk(hidden, 3, -1)
        r = TF.sigmoid(TF.add(x_r, h_r))
        z = TF.sigmoid(TF.add(x_z, h_z))
        n = TF.tanh(TF.add(x_n, TF.mul(r, h_n)))
        return TF.add(TF.mul(TF.sub(1.0, z), n), TF.mul(z, h))
    pre = TF.add(x_proj, _project(state, w_hh, b_hh))
    return TF.tanh(pre) if mode == "RNN_TANH" else TF.relu(pre)


class RNNBase(Module):
    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
                f"num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                stacklevel=2,
            )
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError("hidden_size must be a positive integer")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError("num_layers must be a positive integer")
        if proj_size != 0:
            raise GraphcError("LSTM proj_size is not supported by graphc.nn")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            for direction in range(directions):
                layer_input = input_size if layer == 0 else hidden_size * directions
                suffix = "_reverse" if direction == 1 else ""
                names = [f"weight_ih_l{layer}{suffix}", f"weight_hh_l{layer}{suffix}"]
                shapes = [(gate_size, layer_input), (gate_size, hidden_size)]
                if bias:
                    names += [f"bias_ih_l{layer}{suffix}", f"bias_hh_l{layer}{suffix}"]
                    shapes += [(gate_size,), (gate_size,)]
                for name, shape in zip(names, shapes):
                    setattr(self, name, empty_parameter(*shape, dtype=dtype, device=device))
                self._flat_weights_names.extend(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    @property
    def all_weights(self) -> list[list[Tensor]]:
        per = 4 if self.bias else 2
        names = self._flat_weights_names
        return [[getattr(self, n) for n in names[i : i + per]] for i in range(0, len(names), per)]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    def _weights(self, layer: int, direction: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        suffix = "_reverse" if direction == 1 else ""
        w_ih = getattr(self, f"weight_ih_l{layer}{suffix}")
        w_hh = getattr(self, f"weight_hh_l{layer}{suffix}")
        if not self.bias:
            return w_ih, w_hh, None, None
        return w_ih, w_hh, getattr(self, f"bias_ih_l{layer}{suffix}"), getattr(self, f"bias_hh_l{layer}{suffix}")

    def _refuse(self, message: str, *tensors: Tensor) -> GraphcError:
        """An error naming this layer, its input's types and the user's line (``op_error``)."""
        return op_error(type(self).__name__, [t._node.type for t in tensors], {}, message)

    def _initial(self, hx: Tensor | None, batch: Any, like: Tensor, unbatched: bool, name: str) -> Tensor:
        directions = 2 if self.bidirectional else 1
        expected = (self.num_layers * directions, batch, self.hidden_size)
        if hx is None:
            return _zeros(expected, like)
        if unbatched:
            if hx.ndim != 2:
                raise self._refuse(f"For unbatched 2-D input, {name} should also be 2-D but got {hx.ndim}-D tensor", like, hx)
            hx = TF.unsqueeze(hx, 1)
        elif hx.ndim != 3:
            raise self._refuse(f"For batched 3-D input, {name} should also be 3-D but got {hx.ndim}-D tensor", like, hx)
        if hx.shape[0] != expected[0] or hx.shape[2] != expected[2] or not dims_equal(hx.shape[1], batch):
            raise self._refuse(f"Expected {name} size {list(expected)}, got {list(hx.shape)}", like, hx)
        if hx.dtype != like.dtype:
            raise self._refuse(f"{name} ({hx.dtype.name}) must have the input's dtype ({like.dtype.name})", like, hx)
        return hx

    def _initial_states(self, hx: Any, batch: Any, x: Tensor, unbatched: bool) -> tuple[Tensor, Tensor | None]:
        """``(h_0, c_0)`` (``c_0`` only for an LSTM), zeros where ``hx`` is None, checked against the input."""
        if self.mode != "LSTM":
            return self._initial(hx, batch, x, unbatched, "hx"), None
        if hx is None:
            h0 = c0 = None
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise GraphcError("LSTM expects hx as a tuple (h_0, c_0)")
            h0, c0 = hx
        return self._initial(h0, batch, x, unbatched, "h_0"), self._initial(c0, batch, x, unbatched, "c_0")

    def _check_input(self, x: Tensor, input: Tensor) -> None:
        if x.shape[-1] != self.input_size:
            raise self._refuse(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {x.shape[-1]}", input)
        w0 = self.weight_ih_l0
        if x.dtype != w0.dtype:
            raise self._refuse(f"input ({x.dtype.name}) and parameters ({w0.dtype.name}) must have the same dtype", input)

    def _layers(self, x: Tensor, h0: Tensor, c0: Tensor | None, masks: list[Tensor | None]) -> tuple[Tensor, Tensor, Tensor | None]:
        """All layers and directions over the time-major ``x``: ``(output, h_n, c_n)``.

        ``masks[t]`` (``[batch, 1]``, or None where every sequence runs) says which
        sequences are still running at step ``t``: elsewhere the state is kept, so each
        sequence's final state is the one at its own last step, and the reverse direction,
        keeping its initial state until then, starts at each sequence's own end.
        """
        lstm = self.mode == "LSTM"
        steps = len(masks)
        directions = 2 if self.bidirectional else 1
        finals_h: list[Tensor] = []
        finals_c: list[Tensor] = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                w_ih, w_hh, b_ih, b_hh = self._weights(layer, direction)
                index = layer * directions + direction
                projected = TF.unbind(_project(layer_input, w_ih, b_ih), 0)  # one [N, gates] per step
                state: Any = (h0[index], c0[index]) if lstm else h0[index]
                hs: list[Tensor] = [None] * steps  # type: ignore[list-item]
                order = range(steps) if direction == 0 else range(steps - 1, -1, -1)
                for t in order:
                    new = rnn_cell(self.mode, projected[t], state, w_hh, b_hh)
                    mask = masks[t]
                    if mask is None:
                        state = new
                    elif lstm:
                        state = (TF.where(mask, new[0], state[0]), TF.where(mask, new[1], state[1]))
                    else:
                        state = TF.where(mask, new, state)
                    hs[t] = state[0] if lstm else state
                outputs.append(TF.stack(hs, 0))
                finals_h.append(state[0] if lstm else state)
                if lstm:
                    finals_c.append(state[1])
            layer_input = outputs[0] if directions == 1 else TF.cat(outputs, 2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        return layer_input, TF.stack(finals_h, 0), (TF.stack(finals_c, 0) if lstm else None)

    def _forward_packed(self, input: PackedSequence, hx: Any) -> tuple[PackedSequence, Any]:
        """A packed batch runs padded, time-major, in its own order, with masks from its lengths; the output is packed again.

        ``hx`` and the final states are in the batch's own order, as torch's.
        """
        name = type(self).__name__
        sizes, lengths, order = layout(input, name)
        if input.data.ndim != 2:
            raise self._refuse(f"a packed input's data must be 2-D (steps of all sequences, features), got {input.data.ndim}-D", input.data)
        self._check_input(input.data, input.data)
        x = to_padded(input.data, sizes, order, len(sizes), 0.0)
        h0, c0 = self._initial_states(hx, len(lengths), x, False)
        column = TF.reshape(Tensor(np.asarray(lengths, dtype=np.int64)), (len(lengths), 1))
        masks = [None if t < min(lengths) else TF.gt(column, t) for t in range(len(sizes))]
        output, h_n, c_n = self._layers(x, h0, c0, masks)
        packed = PackedSequence(to_packed(output, sizes, order), input.batch_sizes, input.sorted_indices, input.unsorted_indices)
        return (packed, (h_n, c_n)) if self.mode == "LSTM" else (packed, h_n)

    def forward(self, input: Tensor | PackedSequence, hx: Any = None) -> tuple[Any, Any]:
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        if input.ndim not in (2, 3):
            raise ValueError(f"{type(self).__name__}: Expected input to be 2D or 3D, got {input.ndim}D instead")
        unbatched = input.ndim == 2
        x = TF.unsqueeze(input, 1) if unbatched else (TF.transpose(input, 0, 1) if self.batch_first else input)
        steps, batch, _ = x.shape
        if not isinstance(steps, int):
            raise self._refuse(f"the sequence length must be static, got {steps}", input)
        self._check_input(x, input)
        h0, c0 = self._initial_states(hx, batch, x, unbatched)
        output, h_n, c_n = self._layers(x, h0, c0, [None] * steps)
        if unbatched:
            output = TF.squeeze(output, 1)
            h_n = TF.squeeze(h_n, 1)
            c_n = TF.squeeze(c_n, 1) if c_n is not None else None
        elif self.batch_first:
            output = TF.transpose(output, 0, 1)
        return (output, (h_n, c_n)) if self.mode == "LSTM" else (output, h_n)


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or relu)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = ("input_size", "hidden_size", "num_layers", "nonlinearity", "bias", "batch_first", "dropout", "bidirectional")
        options = dict(zip(names, args))
        if len(args) > len(names):
            raise TypeError(f"RNN takes at most {len(names)} positional arguments")
        duplicated = set(options) & set(kwargs)
        if duplicated:
            raise TypeError(f"RNN got multiple values for {sorted(duplicated)}")
        options.update(kwargs)
        self_nonlinearity = options.pop("nonlinearity", "tanh")
        if self_nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self_nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{self_nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(mode, **options)
        self.nonlinearity = self_nonlinearity


class LSTM(RNNBase):
    """Long short-term memory; gates in torch's order (input, forget, cell, output)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit; gates in torch's order (reset, update, new)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("GRU", *args, **kwargs)


class RNNCellBase(Module):
    """torch's base class of the cells, with its arguments: ``num_chunks`` gate blocks of ``hidden_size`` rows
    (1, 4 and 3 for RNNCell, LSTMCell and GRUCell). A subclass sets ``mode``, the cell ``_step`` computes."""

    mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        gate_size = num_chunks * hidden_size
        self.weight_ih = empty_parameter(gate_size, input_size, dtype=dtype, device=device)
        self.weight_hh = empty_parameter(gate_size, hidden_size, dtype=dtype, device=device)
        if bias:
            self.bias_ih = empty_parameter(gate_size, dtype=dtype, device=device)
            self.bias_hh = empty_parameter(gate_size, dtype=dtype, device=device)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _step(self, input: Tensor, state: Any) -> Any:
        if input.ndim not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        unbatched = input.ndim == 1
        x = TF.unsqueeze(input, 0) if unbatched else input
        if state is None:
            zeros = _zeros((x.shape[0], self.hidden_size), x)
            state = (zeros, zeros) if self.mode == "LSTM" else zeros
        elif unbatched:
            state = tuple(TF.unsqueeze(s, 0) for s in state) if self.mode == "LSTM" else TF.unsqueeze(state, 0)
        new = rnn_cell(self.mode, _project(x, self.weight_ih, self.bias_ih), state, self.weight_hh, self.bias_hh)
        if unbatched:
            new = tuple(TF.squeeze(s, 0) for s in new) if self.mode == "LSTM" else TF.squeeze(new, 0)
        return new


class RNNCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh", device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, hx)


class LSTMCell(RNNCellBase):
    mode = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        return self._step(input, hx)


class GRUCell(RNNCellBase):
    mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, hx)

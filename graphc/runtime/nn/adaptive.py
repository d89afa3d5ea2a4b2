"""``nn.AdaptiveLogSoftmaxWithLoss``: a head over the frequent classes and one cluster per tail of rare ones."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc.frontend import functional as TF
from graphc.frontend import tracing
from graphc.runtime.nn import functional as F
from graphc.runtime.nn.linear import Linear
from graphc.runtime.nn.module import Module, ModuleList, Sequential
from graphc.runtime.tensor import Tensor

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    """torch's module, parameters and state dict keys (``head``, ``tail.i.0``, ``tail.i.1``).

    torch runs each tail cluster on the rows whose target falls in it (a data-dependent subset);
    here every cluster runs on every row and the target's log-probability is gathered from the
    full ``[N, n_classes]`` table that ``log_prob`` returns. The values are torch's (a row's
    log-probability is the same sum either way) and so are the gradients (only the gathered
    entries receive any), and the shapes stay static, so it compiles. ``predict`` likewise takes
    the head's choice where it is a frequent class and the table's elsewhere, as torch does.
    """

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        cutoffs: Sequence[int],
        div_value: float = 4.0,
        head_bias: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if (
            cutoffs != sorted(cutoffs)
            or min(cutoffs) <= 0
            or max(cutoffs) > (n_classes - 1)
            or len(set(cutoffs)) != len(cutoffs)
            or any(int(c) != c for c in cutoffs)
        ):
            raise ValueError(
                "cutoffs should be a sequence of unique, positive integers sorted in an increasing order, "
                "where each value is between 1 and n_classes-1"
            )
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(in_features, self.head_size, bias=head_bias, device=device, dtype=dtype)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hidden = int(in_features // (div_value ** (i + 1)))
            size = self.cutoffs[i + 1] - self.cutoffs[i]
            projection = Sequential(
                Linear(in_features, hidden, bias=False, device=device, dtype=dtype),
                Linear(hidden, size, bias=False, device=device, dtype=dtype),
            )
            self.tail.append(projection)

    def reset_parameters(self) -> None:
        self.head.reset_parameters()
        for projection in self.tail:
            for layer in projection:
                layer.reset_parameters()

    def forward(self, input_: Tensor, target_: Tensor) -> _ASMoutput:
        if target_.ndim == 1:
            if input_.shape[0] != target_.shape[0]:
                raise RuntimeError("Input and target should have the same size in the batch dimension.")
            if input_.ndim != 2:
                raise RuntimeError(f"1D target tensor expects 2D input tensors, but found inputs with size torch.Size({list(input_.shape)})")
        elif target_.ndim == 0:
            if input_.ndim != 1:
                raise RuntimeError(f"0D target tensor expects 1D input tensors, but found inputs with size torch.Size({list(input_.shape)})")
        else:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        batched = target_.ndim > 0
        input = input_ if batched else TF.unsqueeze(input_, 0)
        target = target_ if batched else TF.unsqueeze(target_, 0)
        self._check_targets(target)
        table = self._get_full_log_prob(input, self.head(input))
        output = TF.squeeze(TF.gather(table, 1, TF.unsqueeze(target, 1)), 1)
        loss = TF.mean(TF.neg(output))
        return _ASMoutput(output if batched else TF.squeeze(output, 0), loss)

    def _check_targets(self, target: Tensor) -> None:
        """torch's message for a target outside ``[0, n_classes)`` where the values are known (a realized tensor
        outside ``graphc.compile``); otherwise the gather's own bounds check reports it when the program runs."""
        if tracing.active() is not None or target._node.data is None:
            return
        values = np.asarray(target.numpy())
        if values.size and (values.min() < 0 or values.max() >= self.n_classes):
            raise RuntimeError(f"Target values should be in [0, {self.n_classes - 1}], but values in range [{values.min()}, {values.max()}] were found. ")

    def _get_full_log_prob(self, input: Tensor, head_output: Tensor) -> Tensor:
        """torch's table: the head's log-probabilities of the frequent classes, then each cluster's plus its head entry."""
        head_logprob = F.log_softmax(head_output, dim=1)
        pieces = [head_logprob[:, : self.shortlist_size]]
        for i, projection in enumerate(self.tail):
            cluster_logprob = F.log_softmax(projection(input), dim=1)
            pieces.append(TF.add(cluster_logprob, TF.unsqueeze(head_logprob[:, self.shortlist_size + i], 1)))
        return TF.cat(pieces, 1)

    def log_prob(self, input: Tensor) -> Tensor:
        return self._get_full_log_prob(input, self.head(input))

    def predict(self, input: Tensor) -> Tensor:
        head_output = self.head(input)
        output = TF.argmax(head_output, 1)
        in_shortlist = TF.lt(output, self.shortlist_size)
        return TF.where(in_shortlist, output, TF.argmax(self._get_full_log_prob(input, head_output), 1))

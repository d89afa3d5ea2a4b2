"""``graphc.optim.swa_utils``: stochastic weight averaging and EMA as torch writes them.

``AveragedModel`` keeps a deep copy of a model whose parameters (and, with ``use_buffers``, buffers)
are averaged in place by ``update_parameters``; ``SWALR`` anneals each group's lr to its ``swa_lr``;
``update_bn`` recomputes batch-norm statistics with a cumulative average over a loader. The
updates are graph ops on the averaged tensors, in torch's formulas: on the CPU torch's default
average is ``avg + (p - avg) / (n + 1)`` per tensor, on CUDA a ``lerp`` by ``1 / (n + 1)`` (its
foreach kernels), and graphc follows the device in the same way.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from copy import deepcopy
from typing import Any

from graphc.frontend import functional as F
from graphc.frontend.constructors import tensor as make_tensor
from graphc.ir import dtypes
from graphc.ir.grad_mode import grad_mode
from graphc.runtime.nn.module import Module
from graphc.runtime.nn.normalization import _BatchNorm, _InstanceNorm
from graphc.runtime.optim.lr_scheduler import LRScheduler, _per_group
from graphc.runtime.optim.optimizer import Optimizer
from graphc.runtime.tensor import Tensor

ParamList = Sequence[Tensor]
AvgFn = Callable[[Tensor, Tensor, Any], Tensor]
MultiAvgFn = Callable[[ParamList, ParamList, Any], None]


def _check_decay(decay: float) -> None:
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")


def get_ema_multi_avg_fn(decay: float = 0.999) -> MultiAvgFn:
    """In-place EMA of lists of tensors: ``ema.lerp_(p, 1 - decay)`` (floats), ``ema * decay + p * (1 - decay)`` (others)."""
    _check_decay(decay)

    def ema_update(ema_param_list: ParamList, current_param_list: ParamList, _: Any) -> None:
        with grad_mode(False):
            if ema_param_list[0].dtype.is_floating_point:
                for p_ema, p_model in zip(ema_param_list, current_param_list, strict=True):
                    p_ema.lerp_(p_model, 1 - decay)
            else:
                for p_ema, p_model in zip(ema_param_list, current_param_list, strict=True):
                    p_ema.copy_(p_ema * decay + p_model * (1 - decay))

    return ema_update


def get_swa_multi_avg_fn() -> MultiAvgFn:
    """In-place running mean of lists of tensors: ``avg.lerp_(p, 1 / (n + 1))`` (floats)."""

    def swa_update(averaged_param_list: ParamList, current_param_list: ParamList, num_averaged: Tensor | int) -> None:
        with grad_mode(False):
            if averaged_param_list[0].dtype.is_floating_point:
                for p_avg, p_model in zip(averaged_param_list, current_param_list, strict=True):
                    p_avg.lerp_(p_model, 1 / (num_averaged + 1))
            else:
                for p_avg, p_model in zip(averaged_param_list, current_param_list, strict=True):
                    diff = p_model - p_avg
                    p_avg.copy_(p_avg + (diff / (num_averaged + 1) if isinstance(num_averaged, Tensor) else diff * (1.0 / (num_averaged + 1))))

    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> AvgFn:
    """The EMA of one tensor: ``decay * ema + (1 - decay) * p``."""
    _check_decay(decay)

    def ema_update(ema_param: Tensor, current_param: Tensor, num_averaged: Any) -> Tensor:
        with grad_mode(False):
            return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn() -> AvgFn:
    """The running mean of one tensor: ``avg + (p - avg) / (n + 1)``."""

    def swa_update(averaged_param: Tensor, current_param: Tensor, num_averaged: Tensor | int) -> Tensor:
        with grad_mode(False):
            return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


class AveragedModel(Module):
    """A copy of ``model`` whose parameters are the average (SWA by default, or ``avg_fn`` / ``multi_avg_fn``)
    of the values ``update_parameters`` has seen; ``n_averaged`` (an int64 buffer) counts them."""

    def __init__(
        self,
        model: Module,
        device: Any = None,
        avg_fn: AvgFn | None = None,
        multi_avg_fn: MultiAvgFn | None = None,
        use_buffers: bool = False,
    ) -> None:
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", make_tensor(0, dtype=dtypes.int64, device=None if device is None else str(device)))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def update_parameters(self, model: Module) -> None:
        """Average ``model``'s current values into this copy (the first call copies them)."""
        own = itertools.chain(self.module.parameters(), self.module.buffers()) if self.use_buffers else self.parameters()
        theirs = itertools.chain(model.parameters(), model.buffers()) if self.use_buffers else model.parameters()
        averaged: list[Tensor] = []
        current: list[Tensor] = []
        with grad_mode(False):
            for p_averaged, p_model in zip(own, theirs):
                averaged.append(p_averaged)
                current.append(p_model.detach().to(p_averaged.device))
            # torch copies on the first update and averages after it; both are computed and the count
            # chooses (branch-free, so a compiled update replays correctly for every count).
            self._average(averaged, current)
            first = F.eq(self.n_averaged, 0)
            for p_averaged, value in zip(averaged, current, strict=True):
                p_averaged.copy_(F.where(first.to(p_averaged.device), value, p_averaged))
            if not self.use_buffers:
                for b_swa, b_model in zip(self.module.buffers(), model.buffers(), strict=True):
                    b_swa.copy_(b_model.detach().to(b_swa.device))
            self.n_averaged += 1

    def _average(self, averaged: list[Tensor], current: list[Tensor]) -> None:
        if self.avg_fn is not None and self.multi_avg_fn is None:
            for p_averaged, p_model in zip(averaged, current, strict=True):
                p_averaged.copy_(self.avg_fn(p_averaged.detach(), p_model, self.n_averaged.to(p_averaged.device)))
            return
        # torch groups the tensors by device and dtype for its foreach kernels, keeping their order within a group.
        groups: dict[tuple[str, str], tuple[list[Tensor], list[Tensor]]] = {}
        for p_averaged, p_model in zip(averaged, current, strict=True):
            group = groups.setdefault((p_averaged.device, p_averaged.dtype.name), ([], []))
            group[0].append(p_averaged)
            group[1].append(p_model)
        for (device, _), (own, theirs) in groups.items():
            n_averaged = self.n_averaged.to(device)
            if self.multi_avg_fn is not None:
                self.multi_avg_fn(own, theirs, n_averaged)
            elif device == "cuda":
                get_swa_multi_avg_fn()(own, theirs, n_averaged)
            else:
                average = get_swa_avg_fn()
                for p_averaged, p_model in zip(own, theirs, strict=True):
                    p_averaged.copy_(average(p_averaged, p_model, n_averaged))


def update_bn(loader: Iterable[Any], model: Module, device: Any = None) -> None:
    """Recompute every batch norm's running statistics as the plain average over ``loader``'s batches."""
    momenta: dict[Module, Any] = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm) and not isinstance(module, _InstanceNorm):  # torch's instance norms are no _BatchNorm
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    with grad_mode(False):
        for input in loader:
            if isinstance(input, (list, tuple)):
                input = input[0]
            if device is not None:
                input = input.to(device)
            model(input)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's lr from its value to ``swa_lr`` over ``anneal_epochs`` steps, by a cosine or a line."""

    def __init__(
        self, optimizer: Optimizer, swa_lr: float | Sequence[float], anneal_epochs: int = 10, anneal_strategy: str = "cos", last_epoch: int = -1
    ) -> None:
        for value, group in zip(_per_group("swa_lr", optimizer, swa_lr), optimizer.param_groups, strict=True):
            group["swa_lr"] = value
        if anneal_strategy not in ["cos", "linear"]:
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t: float) -> float:
        return t

    @staticmethod
    def _cosine_anneal(t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr: float, swa_lr: float, alpha: float) -> float:
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self) -> list[Any]:
        """torch's formula: the lr the previous step started from is recovered from the group's current lr."""
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        prev_lrs = [self._get_initial_lr(group["lr"], group["swa_lr"], prev_alpha) for group in self.optimizer.param_groups]
        alpha = self.anneal_func(max(0, min(1, step / max(1, self.anneal_epochs))))
        return [group["swa_lr"] * alpha + lr * (1 - alpha) for group, lr in zip(self.optimizer.param_groups, prev_lrs, strict=True)]

    def _set_anneal_func(self, anneal_strategy: str) -> None:
        self._anneal_strategy = anneal_strategy
        self.anneal_func = self._cosine_anneal if anneal_strategy == "cos" else self._linear_anneal

    def state_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "anneal_func")}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)
        self._set_anneal_func(self._anneal_strategy)


__all__ = ["SWALR", "AveragedModel", "get_ema_avg_fn", "get_ema_multi_avg_fn", "get_swa_avg_fn", "get_swa_multi_avg_fn", "update_bn"]

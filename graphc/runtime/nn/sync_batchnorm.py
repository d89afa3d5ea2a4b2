"""``nn.SyncBatchNorm`` in one process: a batch norm of any rank from 2 up, and ``convert_sync_batchnorm``."""

from __future__ import annotations

from typing import Any

from graphc.runtime.nn.module import Module
from graphc.runtime.nn.normalization import _BatchNorm, _InstanceNorm
from graphc.runtime.tensor import Tensor


class SyncBatchNorm(_BatchNorm):
    """torch's SyncBatchNorm where no process group is initialized, as it always is in graphc: torch then
    falls back to ``F.batch_norm`` over the local batch, which this is. ``process_group`` is kept and not
    used (graphc has no ``torch.distributed``)."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group: Any = None,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)
        self.process_group = process_group

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim < 2:
            raise ValueError(f"expected at least 2D input (got {input.ndim}D input)")
        if input.shape[1] == 0:
            raise ValueError("SyncBatchNorm number of input channels should be non-zero")

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """torch's conversion: every batch norm in ``module`` (or ``module`` itself) replaced by a SyncBatchNorm
        that shares its parameters and buffers (the same tensors, as torch assigns them)."""
        converted = module
        if isinstance(module, _BatchNorm) and not isinstance(module, _InstanceNorm):  # graphc's instance norms derive from _BatchNorm
            converted = cls(
                module.num_features,
                module.eps,
                module.momentum,
                module.affine,
                module.track_running_stats,
                process_group,
                bias=module.bias is not None,
            )
            if module.affine:
                converted.weight = module.weight
                converted.bias = module.bias
            converted.running_mean = module.running_mean
            converted.running_var = module.running_var
            converted.num_batches_tracked = module.num_batches_tracked
            converted.training = module.training
        for name, child in module.named_children():
            converted.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return converted


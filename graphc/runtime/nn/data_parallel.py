"""``nn.DataParallel`` on one device: the wrapped module, called as it is."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphc.errors import GraphcError
from graphc.runtime.nn.module import Module


class DataParallel(Module):
    """torch's DataParallel where it runs the module on one device: ``forward`` calls ``module`` with the
    inputs unchanged (torch does so without GPUs, or with one device id), and the parameters are the
    module's, under ``module.`` in the state dict as in torch. Splitting a batch over several devices is
    not built: more than one device id is refused."""

    def __init__(self, module: Module, device_ids: Sequence[Any] | None = None, output_device: Any = None, dim: int = 0) -> None:
        super().__init__()
        if device_ids is not None and len(device_ids) > 1:
            raise GraphcError(f"DataParallel: replicating the module over devices {list(device_ids)} is not supported by graphc (one device only)")
        self.module = module
        self.device_ids = list(device_ids) if device_ids is not None else []
        self.output_device = output_device
        self.dim = dim

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.module(*inputs, **kwargs)

"""Moving tensors between the CPU (NumPy arrays) and CUDA (torch tensors, Triton kernels).

A tensor on CUDA holds a torch CUDA tensor; values computed from it are realized
by the triton backend (``graphc.frontend.lazy`` picks it for CUDA data, and
``graphc.compile(..., backend="auto")`` does too), whose results stay torch
tensors on the device. ``.to("cpu")`` brings the data back as a NumPy array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.errors import GraphcError
from graphc.ir.primitives.source import source_node
from graphc.runtime.tensor import Tensor


def move(tensor: Tensor, device: str) -> Tensor:
    kind = device.split(":")[0]
    if kind not in ("cpu", "cuda"):
        raise GraphcError(f"unknown device {device!r}; graphc knows 'cpu' and 'cuda'")
    if tensor.device == kind:
        return tensor
    if kind == "cpu":
        data: Any = tensor.numpy()
    else:
        import torch

        if not torch.cuda.is_available():
            raise GraphcError("Tensor.to('cuda'): CUDA is not available on this machine")
        tensor.realize()
        data = _to_torch(tensor._node.data).to(device)
    moved = Tensor._from_node(source_node(tensor._node.type, data=data))
    if tensor.requires_grad:
        moved.requires_grad_(True)
    return moved


def _to_torch(value: Any) -> Any:
    """A torch tensor with the same values (torch CPU tensors from the triton interpreter pass as they are)."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach()
    array = np.asarray(value)
    if not array.flags.c_contiguous:  # a 0-d array is: np.ascontiguousarray would make it 1-d
        array = np.ascontiguousarray(array)
    if array.dtype.name == "bfloat16":
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array.copy() if not array.flags.writeable else array)

"""Moving tensors between the CPU (NumPy arrays) and CUDA (torch tensors, Triton kernels)."""

from __future__ import annotations

from graphc.errors import GraphcError
from graphc.ir.primitives.source import source_node
from graphc.runtime.tensor import Tensor


def move(tensor: Tensor, device: str) -> Tensor:
    kind = device.split(":")[0]
    if kind not in ("cpu", "cuda"):
        raise GraphcError(f"unknown device {device!r}; graphc knows 'cpu' and 'cuda'")
    if tensor.device == kind:
        return tensor
    array = tensor.numpy()
    if kind == "cpu":
        data = array
    else:
        import torch

        if not torch.cuda.is_available():
            raise GraphcError("Tensor.to('cuda'): CUDA is not available on this machine")
        data = torch.from_numpy(array).to(device)
    moved = Tensor._from_node(source_node(tensor._node.type, data=data))
    if tensor.requires_grad:
        moved.requires_grad_(True)
    return moved


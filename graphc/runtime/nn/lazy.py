"""Lazy modules (``nn.LazyLinear``, ``LazyConv*``, ``LazyConvTranspose*``, ``LazyBatchNorm*``, ``LazyInstanceNorm*``).

As in torch, their parameters and buffers start as ``UninitializedParameter``/``UninitializedBuffer``
placeholders; the first call infers the missing size from the input, materializes them with the
module's usual initialization, and the module becomes its ordinary class (``cls_to_become``). A
placeholder stays the same tensor object when it is materialized, so references taken before
(``state_dict(keep_vars=True)``, a model's parameter list) see the real tensor afterwards. Loading a
state dict materializes placeholders with the loaded shapes.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np

from graphc.errors import GraphcError
from graphc.frontend import tracing
from graphc.ir import dtypes
from graphc.ir.grad_mode import grad_mode
from graphc.runtime.nn.conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from graphc.runtime.nn.linear import Linear
from graphc.runtime.nn.module import Parameter, replace
from graphc.runtime.nn.normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from graphc.runtime.tensor import Tensor

_SHAPE_MESSAGE = (
    "Can't access the shape of an uninitialized parameter or buffer. This error usually happens in `load_state_dict` when "
    "trying to load an uninitialized parameter into an initialized one. Call `forward` to initialize the parameters before "
    "accessing their attributes."
)


def _dtype(dtype: Any) -> dtypes.DType:
    return dtypes.to_dtype(dtype) if dtype is not None else dtypes.DEFAULT_FLOAT


def _place(tensor: Tensor, device: Any, dtype: Any) -> None:
    """On ``device``, where ``materialize`` keeps it (CUDA is refused where there is none, as by ``Linear``)."""
    if device is not None and str(device).split(":")[0] == "cuda":
        replace(tensor, np.zeros((0,), dtype=_dtype(dtype).numpy), _dtype(dtype), "cuda")


class _Uninitialized:
    """What both placeholders share: no shape to read, and ``materialize``, which gives the tensor its
    shape (zeros, for the module's initialization to fill) and its ordinary class."""

    cls_to_become: type = Tensor
    _uninitialized = True  # graphc's ops refuse it (frontend.functional.unwrap), as torch's refuse theirs

    @property
    def shape(self) -> tuple:
        raise RuntimeError(_SHAPE_MESSAGE)

    def size(self, dim: int | None = None) -> Any:
        raise RuntimeError(_SHAPE_MESSAGE)

    def materialize(self, shape: Any, device: Any = None, dtype: Any = None) -> None:
        tensor: Any = self
        dtype = dtypes.to_dtype(dtype) if dtype is not None else tensor.dtype
        device = str(device).split(":")[0] if device is not None else tensor.device
        shape = (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)
        tensor.__class__ = self.cls_to_become
        replace(tensor, np.zeros(shape, dtype=dtype.numpy), dtype, device)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class UninitializedParameter(_Uninitialized, Parameter):
    """torch's placeholder parameter of a lazy module; it becomes a ``Parameter`` when materialized."""

    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__(np.zeros((0,), dtype=_dtype(dtype).numpy), requires_grad)
        _place(self, device, dtype)


class UninitializedBuffer(_Uninitialized, Tensor):
    """torch's placeholder buffer of a lazy module (a batch norm's running statistics); it becomes a ``Tensor``."""

    def __init__(self, requires_grad: bool = False, device: Any = None, dtype: Any = None) -> None:
        super().__init__(np.zeros((0,), dtype=_dtype(dtype).numpy), requires_grad=requires_grad)
        _place(self, device, dtype)


def is_lazy(value: Any) -> bool:
    return isinstance(value, _Uninitialized)


class LazyModuleMixin:
    """torch's mixin: ``has_uninitialized_params``, ``initialize_parameters`` (each lazy class's), the first
    call's inference, and the materialization of placeholders by ``load_state_dict``.

    The first call must not be inside ``graphc.compile``: the initialization draws new values, which a
    compiled program would bake in (and redraw on no call after); run the module once on a sample
    batch before compiling, as torch asks before creating an optimizer.
    """

    cls_to_become: type | None = None

    def has_uninitialized_params(self) -> bool:
        module: Any = self
        return any(is_lazy(t) for t in itertools.chain(module._parameters.values(), module._buffers.values()))

    def initialize_parameters(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement initialize_parameters")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        module: Any = self
        if tracing.active() is not None:
            raise GraphcError(
                f"{module._get_name()}: a lazy module infers its parameters' shapes from its first call, which cannot be "
                "inside graphc.compile (its initialization would become part of the program): call it once on a "
                "sample batch first (a dry run), then compile"
            )
        self.initialize_parameters(*args, **kwargs)
        if self.has_uninitialized_params():
            raise RuntimeError(f"module {module._get_name()} has not been fully initialized")
        if self.cls_to_become is not None:
            module.__class__ = self.cls_to_become
        return module(*args, **kwargs)

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        """The placeholders themselves, as torch's state dict holds them (a copy of a 0-element tensor would
        load as a materialized one)."""
        super()._save_to_state_dict(destination, prefix, keep_vars)  # type: ignore[misc]
        module: Any = self
        for name, value in itertools.chain(module._parameters.items(), module._buffers.items()):
            if is_lazy(value) and prefix + name in destination:
                destination[prefix + name] = value

    def _load_from_state_dict(
        self, state_dict: Mapping[str, Any], prefix: str, assign: bool, missing: list[str], unexpected: list[str], errors: list[str]
    ) -> None:
        """torch's lazy load hook: a placeholder takes the shape of a real tensor loaded into it; a placeholder
        loaded into a placeholder leaves it as it is."""
        module: Any = self
        skipped = []
        for name, value in itertools.chain(module._parameters.items(), module._buffers.items()):
            key = prefix + name
            if is_lazy(value) and key in state_dict:
                if is_lazy(state_dict[key]):
                    skipped.append(key)
                else:
                    value.materialize(tuple(np.shape(_array_of(state_dict[key]))))
        local = {k: v for k, v in state_dict.items() if k not in skipped}
        super()._load_from_state_dict(local, prefix, assign, missing, unexpected, errors)  # type: ignore[misc]
        missing[:] = [key for key in missing if key not in skipped]


def _array_of(value: Any) -> Any:
    """A loaded value's shape source: a graphc tensor's shape, else the value itself (torch tensors, arrays)."""
    return np.empty(tuple(value.shape)) if isinstance(value, Tensor) else value


# ---------------------------------------------------------------------- Linear


class LazyLinear(LazyModuleMixin, Linear):
    """``Linear`` whose ``in_features`` is the last size of its first input."""

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__(0, 0, False)
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_features = out_features
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input: Tensor) -> None:
        if self.has_uninitialized_params():
            with grad_mode(False):
                self.in_features = input.shape[-1]
                self.weight.materialize((self.out_features, self.in_features))
                if self.bias is not None:
                    self.bias.materialize((self.out_features,))
                self.reset_parameters()
        if self.in_features == 0:  # materialized by load_state_dict
            if input.shape[-1] != self.weight.shape[-1]:
                raise AssertionError(
                    f"The in_features inferred from input: {input.shape[-1]} is not equal to in_features from self.weight: {self.weight.shape[-1]}"
                )
            self.in_features = input.shape[-1]


# ---------------------------------------------------------------------- convolutions


class _LazyConv(LazyModuleMixin):
    """``in_channels`` from the first input: its dimension 1, or 0 for an input without its batch dimension."""

    def _lazy_placeholders(self, bias: bool, device: Any, dtype: Any) -> None:
        module: Any = self
        module.weight = UninitializedParameter(device=device, dtype=dtype)
        if bias:
            module.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_channels != 0:  # type: ignore[attr-defined]
            super().reset_parameters()  # type: ignore[misc]

    def _get_in_channels(self, input: Tensor) -> int:
        module: Any = self
        spatial = module._dims
        if input.ndim not in (spatial + 1, spatial + 2):
            raise RuntimeError(
                f"Expected {spatial + 1}D (unbatched) or {spatial + 2}D (batched) input to {type(self).__name__}, "
                f"but got input of size: torch.Size({list(input.shape)})"
            )
        return input.shape[1] if input.ndim == spatial + 2 else input.shape[0]

    def initialize_parameters(self, input: Tensor, *args: Any, **kwargs: Any) -> None:
        module: Any = self
        if not self.has_uninitialized_params():
            return
        module.in_channels = self._get_in_channels(input)
        if module.in_channels % module.groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        with grad_mode(False):
            if module.transposed:
                module.weight.materialize((module.in_channels, module.out_channels // module.groups, *module.kernel_size))
            else:
                module.weight.materialize((module.out_channels, module.in_channels // module.groups, *module.kernel_size))
            if module.bias is not None:
                module.bias.materialize((module.out_channels,))
            self.reset_parameters()


def _lazy_conv(base: type, name: str) -> type:
    """``Lazy<base>`` with torch's arguments (those of ``base`` without ``in_channels``)."""

    def __init__(
        self: Any,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        base.__init__(self, 0, 0, kernel_size, stride, padding, dilation, groups, False, padding_mode, device, dtype)
        self._lazy_placeholders(bias, device, dtype)
        self.out_channels = out_channels

    doc = f"``{base.__name__}`` whose ``in_channels`` is read from its first input."
    return type(name, (_LazyConv, base), {"__init__": __init__, "cls_to_become": base, "__doc__": doc, "__module__": __name__})


def _lazy_conv_transpose(base: type, name: str) -> type:
    """``Lazy<base>`` with torch's arguments (those of ``base`` without ``in_channels``)."""

    def __init__(
        self: Any,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Any = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        base.__init__(self, 0, 0, kernel_size, stride, padding, output_padding, groups, False, dilation, padding_mode, device, dtype)
        self._lazy_placeholders(bias, device, dtype)
        self.out_channels = out_channels

    doc = f"``{base.__name__}`` whose ``in_channels`` is read from its first input."
    return type(name, (_LazyConv, base), {"__init__": __init__, "cls_to_become": base, "__doc__": doc, "__module__": __name__})


LazyConv1d = _lazy_conv(Conv1d, "LazyConv1d")
LazyConv2d = _lazy_conv(Conv2d, "LazyConv2d")
LazyConv3d = _lazy_conv(Conv3d, "LazyConv3d")
LazyConvTranspose1d = _lazy_conv_transpose(ConvTranspose1d, "LazyConvTranspose1d")
LazyConvTranspose2d = _lazy_conv_transpose(ConvTranspose2d, "LazyConvTranspose2d")
LazyConvTranspose3d = _lazy_conv_transpose(ConvTranspose3d, "LazyConvTranspose3d")


# ---------------------------------------------------------------------- normalizations


class _LazyNorm(LazyModuleMixin):
    """torch's ``_LazyNormBase``: ``num_features`` from dimension 1 of the first input; by default affine and
    tracking running statistics (also for the instance norms, whose eager classes default to neither)."""

    def __init__(
        self,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(0, eps, momentum, False, False, device, dtype, bias=False)  # type: ignore[call-arg]
        module: Any = self
        module.affine = affine
        module.track_running_stats = track_running_stats
        if affine:
            module.weight = UninitializedParameter(device=device, dtype=dtype)
            if bias:
                module.bias = UninitializedParameter(device=device, dtype=dtype)
        if track_running_stats:
            module.running_mean = UninitializedBuffer(device=device, dtype=dtype)
            module.running_var = UninitializedBuffer(device=device, dtype=dtype)
            module.num_batches_tracked = Tensor(np.array(0, dtype=np.int64))

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.num_features != 0:  # type: ignore[attr-defined]
            super().reset_parameters()  # type: ignore[misc]

    def initialize_parameters(self, input: Tensor) -> None:
        module: Any = self
        if not self.has_uninitialized_params():
            if module.num_features == 0:  # nothing to materialize (no affine, no running statistics): graphc's norms check the size
                module.num_features = input.shape[1]
            return
        module.num_features = input.shape[1]
        with grad_mode(False):
            for name in ("weight", "bias", "running_mean", "running_var"):
                value = getattr(module, name)
                if is_lazy(value):
                    value.materialize((module.num_features,))
            self.reset_parameters()


def _lazy_norm(base: type, name: str) -> type:
    doc = f"``{base.__name__}`` whose ``num_features`` is read from dimension 1 of its first input."
    return type(name, (_LazyNorm, base), {"cls_to_become": base, "__doc__": doc, "__module__": __name__})


LazyBatchNorm1d = _lazy_norm(BatchNorm1d, "LazyBatchNorm1d")
LazyBatchNorm2d = _lazy_norm(BatchNorm2d, "LazyBatchNorm2d")
LazyBatchNorm3d = _lazy_norm(BatchNorm3d, "LazyBatchNorm3d")
LazyInstanceNorm1d = _lazy_norm(InstanceNorm1d, "LazyInstanceNorm1d")
LazyInstanceNorm2d = _lazy_norm(InstanceNorm2d, "LazyInstanceNorm2d")
LazyInstanceNorm3d = _lazy_norm(InstanceNorm3d, "LazyInstanceNorm3d")


def check_initialized(params: list[Any]) -> None:
    """An optimizer's parameters have their shapes: a lazy module's placeholders are refused, with what to do."""
    if any(is_lazy(p) for p in params):
        raise GraphcError(
            "optimizer got an uninitialized parameter (a lazy module's, such as LazyLinear's, before its first call): "
            "call the module once on a sample batch (a dry run) before creating the optimizer"
        )


__all__ = [
    "LazyModuleMixin",
    "UninitializedParameter",
    "UninitializedBuffer",
    "LazyLinear",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyConvTranspose3d",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "LazyInstanceNorm1d",
    "LazyInstanceNorm2d",
    "LazyInstanceNorm3d",
]

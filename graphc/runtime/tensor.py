"""``graphc.Tensor``: a handle on a lazily computed value.

A tensor holds one IR node. Ops record new nodes; reading a value (``numpy()``,
``item()``, printing, ``bool()``) realizes the pending graph behind it. In-place
ops (``add_``, ``zero_``, ``x[i] = v``) are functional underneath: they point the
tensor at a new node, which is how optimizer updates become graph ops.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from graphc.errors import GraphcError
from graphc.frontend import lazy, tracing
from graphc.frontend.symbolic_sizes import SymbolicSize
from graphc.ir import dtypes
from graphc.ir.dtypes import DType
from graphc.ir.grad_mode import grad_mode, is_grad_enabled, is_inference_mode_enabled
from graphc.ir.graph import Node
from graphc.ir.primitives.source import source_node
from graphc.ir.registry import emit, op_error
from graphc.ir.types import TensorType, shapes_equal
from graphc.runtime import views
from graphc.runtime.views import ViewLink


class Tensor:
    __slots__ = ("_n", "_grad", "_view", "_writes", "__weakref__", "__dict__")
    # True for a lazy module's placeholders (graphc.runtime.nn.lazy), which no op may read.
    _uninitialized = False

    def __init__(self, data: Any = None, dtype: Any = None, requires_grad: bool = False) -> None:
        from graphc.frontend.constructors import as_array

        array = as_array([] if data is None else data, dtype, default_float=True)
        self._view: ViewLink | None = None  # graphc/runtime/views.py
        self._writes = 0
        self._node = source_node(TensorType(array.shape, dtypes.to_dtype(array.dtype)), requires_grad=requires_grad, data=array)
        self._grad: Tensor | None = None
        if requires_grad:
            tracing.register_leaf(self)
        if is_inference_mode_enabled():
            self._inference = True  # Tensor.is_inference()
        tracing.on_made_from_data(self)  # inside a compiled function: a constant of it, or new state (Trace.data_reads)

    @classmethod
    def _from_node(cls, node: Node) -> Tensor:
        tensor = object.__new__(cls)
        tensor._view = None
        tensor._writes = 0
        tensor._n = node
        tensor._grad = None
        if is_inference_mode_enabled():
            tensor._inference = True  # Tensor.is_inference()
        tracing.on_create(tensor)
        return tensor

    @classmethod
    def _constant(cls, array: np.ndarray) -> Tensor:
        return cls._from_node(source_node(TensorType(array.shape, dtypes.to_dtype(array.dtype)), data=array))

    # ------------------------------------------------------------ value and views

    @property
    def _node(self) -> Node:
        """The tensor's value; a view whose root was written since reads it again from its base first."""
        link = self._view
        if link is not None and link.seen != link.root._writes:
            link.refresh(self)
        return self._n

    @_node.setter
    def _node(self, node: Node) -> None:
        self._n = node
        link = self._view
        if link is None:
            self._writes += 1  # its views read their values again
        else:
            link.seen = link.root._writes

    @property
    def _base(self) -> Tensor | None:
        """The tensor this one is a view of, as torch's: the first tensor up its chain of views that is no view itself
        (``x[0][1:]._base`` is ``x``). ``detach()`` and ``.data`` alias their tensor without being views for autograd,
        so theirs is None and they are the base of views taken of them (``x.detach()[0]._base`` is the detached tensor)."""
        if not self._is_view():
            return None
        base = self._view.base
        while base._is_view():
            base = base._view.base
        return base

    def _is_view(self) -> bool:
        return self._view is not None and not self._view.detached

    # ------------------------------------------------------------ metadata

    @property
    def shape(self) -> tuple:
        return tracing.sizes_read(tuple(self._node.shape), "Tensor.shape")

    def size(self, dim: int | None = None) -> Any:
        shape = tuple(self._node.shape)
        return tracing.sizes_read(shape if dim is None else shape[dim], "Tensor.size()")

    @property
    def ndim(self) -> int:
        return len(self._node.shape)

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> Any:
        return tracing.sizes_read(self._node.type.numel, "Tensor.numel()")

    def nelement(self) -> Any:
        return tracing.sizes_read(self._node.type.numel, "Tensor.nelement()")

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return tracing.sizes_read(self._node.shape[0], "len()")

    @property
    def dtype(self) -> DType:
        return self._node.dtype

    @property
    def device(self) -> str:
        data = self._node.data
        if data is not None and not isinstance(data, np.ndarray) and str(data.device).startswith("cuda"):
            return "cuda"
        return "cpu"

    @property
    def is_cuda(self) -> bool:
        return self.device == "cuda"

    @property
    def requires_grad(self) -> bool:
        return self._node.requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if not self.is_leaf:
            raise GraphcError("you can only change requires_grad flags of leaf tensors")
        if requires_grad and not self.dtype.is_floating_point:
            raise GraphcError(f"only tensors of floating point dtype can require gradients, got {self.dtype.name}")
        if tracing.active() is not None:
            # Made a leaf inside a compiled function: a new node over this call's value (a parameter's
            # too: a source node holding the traced value would replay it as a constant).
            node = emit("detach", tracing.read(self))
        else:
            node = self._node
            if node.data is None and node.op not in ("input", "parameter"):
                lazy.realize([node])
            # A node of its own: tensors sharing the old one (x and x.detach()) keep their flag.
            op = node.op if node.op in ("input", "parameter") else "input"
            node = source_node(node.type, op=op, data=node.data)
        node.requires_grad = requires_grad
        self._view = None  # a view made a leaf (x.detach().requires_grad_()) is a tensor of its own (docs/decisions.md)
        tracing.assign(self, node)
        tracing.register_leaf(self)
        return self

    @property
    def is_leaf(self) -> bool:
        return self._node.is_leaf

    @property
    def grad(self) -> Tensor | None:
        return tracing.get_grad(self)

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None and value.dtype != self.dtype:
            raise GraphcError(f"assigned grad has data of a different type: {value.dtype} for a tensor of {self.dtype}")
        if value is not None and tuple(value.shape) != tuple(self.shape):
            raise GraphcError(f"assigned grad has data of a different size: {list(value.shape)} for a tensor of {list(self.shape)}")
        tracing.set_grad(self, value)

    @property
    def data(self) -> Tensor:
        node = tracing.read(self)  # inside graphc.compile, this call's value: not the one traced, as a constant
        return views.detached(self, Tensor._from_node(node if not node.requires_grad else emit("detach", node)))

    @data.setter
    def data(self, value: Tensor) -> None:
        """The tensor takes ``value``'s elements as a storage of its own, as torch's: its views keep the old values."""
        views.keep_old_storage(self)
        with grad_mode(False):
            self._assign_value(tracing.read(value))
        if self._view is None:
            views.set_root_layout(self, views.layout_of(value))  # torch's takes the strides of the storage it takes

    # ------------------------------------------------------------ values

    def realize(self) -> Tensor:
        lazy.realize([tracing.read(self)])
        return self

    def _array(self) -> np.ndarray:
        tracing.read_value(self)
        self.realize()
        return lazy.to_numpy(self._node.data)

    def numpy(self) -> np.ndarray:
        return self._array()

    def item(self) -> Any:
        if self.numel() != 1:
            raise GraphcError(f"a Tensor with {self.numel()} elements cannot be converted to a Python number")
        return self._array().reshape(()).item()

    def tolist(self) -> Any:
        return self._array().tolist()

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise GraphcError("the truth value of a tensor with more than one element is ambiguous")
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if not self.dtype.is_integer:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self._array()
        return array if dtype is None else array.astype(dtype)

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        """The tensor's memory for another library: ``torch.tensor(t)`` and ``torch.from_dlpack(t)``
        read it (without this, torch takes a graphc tensor for nested lists and fails on its 0-d items)."""
        return self._as_torch().__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._as_torch().__dlpack_device__()

    def _as_torch(self) -> Any:
        """The realized value as a torch tensor on the same memory (the Triton backend's values already are)."""
        import torch

        self.realize()
        data = self._node.data
        if isinstance(data, torch.Tensor):
            return data.detach()
        contiguous = np.ascontiguousarray(data).reshape(data.shape)  # which alone makes a 0-d array 1-d
        if data.dtype == dtypes.bfloat16.numpy:  # torch cannot read ml_dtypes' bfloat16: share the bits
            return torch.from_numpy(contiguous.view(np.int16)).view(torch.bfloat16)
        return torch.from_numpy(contiguous)

    def __repr__(self) -> str:
        """As torch prints, under ``graphc.set_printoptions`` (graphc/runtime/printing.py)."""
        from graphc.runtime.printing import tensor_repr

        return tensor_repr(self._array(), self.dtype, dtypes.DEFAULT_FLOAT, dtypes.int64, dtypes.bool_, self.requires_grad)

    def __hash__(self) -> int:
        return id(self)

    def __iter__(self) -> Iterator[Tensor]:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(F.unbind(self, 0))

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (_rebuild, (self._array(), self.requires_grad))

    # ------------------------------------------------------------ autograd

    def backward(
        self,
        gradient: Tensor | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        from graphc.frontend.autograd import backward

        backward([self], None if gradient is None else [gradient], create_graph=create_graph, inputs=inputs)

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after ``backward()``, as torch (a leaf keeps it anyway)."""
        if not self.requires_grad:
            raise GraphcError("can't retain_grad on Tensor that has requires_grad=False")
        if not self.is_leaf:
            from graphc.frontend.autograd import retain_grad

            retain_grad(self)

    @property
    def retains_grad(self) -> bool:
        """Whether ``retain_grad()`` was called on this non-leaf tensor (False for leaves, as torch)."""
        from graphc.frontend.autograd import retains_grad

        return retains_grad(self)

    def detach(self) -> Tensor:
        return F.detach(self)

    def detach_(self) -> Tensor:
        if self._is_view():
            raise op_error("detach_", [self._node.type], {}, "Can't detach views in-place. Use detach() instead.")
        tracing.assign(self, tracing.read(F.detach(self)))
        return self

    # ------------------------------------------------------------ in place

    def _assign_value(self, node: Node, op: str = "in-place op") -> None:
        """Point this tensor (and the tensors it views, graphc/runtime/views.py) at a new value.

        A tensor that requires grad keeps requiring it, whatever it is given (``zero_``, ``fill_``,
        ``copy_`` of a constant), as torch records every in-place op on it: its old value gets a
        zero gradient, not none."""
        if node.dtype != self.dtype:
            node = emit("cast", node, dtype=self.dtype)
        old = self._node
        if is_grad_enabled() and old.requires_grad and not node.requires_grad:
            node = emit("custom_vjp", node, old, rule="zero_gradient")
        link = self._view
        if link is None:
            views.check_root_write(self, node, op)
            self._rebind(node, op)
            return
        link.write_back(node, op)  # its base takes the new value first (and may refuse it)
        if is_grad_enabled() or link.detached:
            tracing.assign(self, node)
        # else it reads its value from the base again, in the grad mode it was made in, as torch's view

    def _rebind(self, node: Node, op: str = "in-place op") -> None:
        """Point this tensor itself at ``node``. A leaf that requires grad may change only under
        no_grad (as torch's), and stays a leaf that requires grad: the new value is detached.
        Another tensor that requires grad changed under no_grad (or through ``detach()``/``.data``)
        keeps its gradient path with the new values, as torch's."""
        old = self._node
        if old.requires_grad and not old.is_leaf and not is_grad_enabled():
            from graphc.ir import build as b

            with grad_mode(True):  # exact: old - detach(old) is 0 for finite values
                node = b.add(emit("detach", node), b.sub(old, emit("detach", old)))
        if not (old.requires_grad and old.is_leaf):
            tracing.assign(self, node)
            return
        if is_grad_enabled():
            message = "a leaf tensor that requires grad is being used in an in-place operation (wrap it in graphc.no_grad())"
            raise op_error(op, [self._node.type], {}, message)
        node = emit("detach", node)
        node.requires_grad = True
        tracing.assign(self, node)
        tracing.register_leaf(self)

    def _inplace(self, result: Tensor, op: str = "in-place op") -> Tensor:
        new = tracing.read(result)
        if not shapes_equal(new.shape, self._node.shape):
            message = f"output with shape {list(self.shape)} doesn't match the broadcast shape {list(new.shape)}"
            raise op_error(op, [self._node.type, new.type], {}, message)
        if new.dtype.category > self.dtype.category:  # torch's canCast: no float -> integer, no number -> bool
            message = f"result type {new.dtype.name} can't be cast to the desired output type {self.dtype.name}"
            raise op_error(op, [self._node.type, new.type], {}, message)
        self._assign_value(new, op)
        return self

    def add_(self, other: Any, alpha: Any = 1) -> Tensor:
        return self._inplace(F.add(self, other, alpha=alpha), op="add_")

    def sub_(self, other: Any, alpha: Any = 1) -> Tensor:
        return self._inplace(F.sub(self, other, alpha=alpha), op="sub_")

    def mul_(self, other: Any) -> Tensor:
        return self._inplace(F.mul(self, other), op="mul_")

    def div_(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        return self._inplace(F.div(self, other, rounding_mode=rounding_mode), op="div_")

    def true_divide_(self, other: Any) -> Tensor:
        return self._inplace(F.true_divide(self, other), op="true_divide_")

    def floor_divide_(self, other: Any) -> Tensor:
        return self._inplace(F.floor_divide(self, other), op="floor_divide_")

    def remainder_(self, other: Any) -> Tensor:
        return self._inplace(F.remainder(self, other), op="remainder_")

    def fmod_(self, other: Any) -> Tensor:
        return self._inplace(F.fmod(self, other), op="fmod_")

    def floor_(self) -> Tensor:
        return self._inplace(F.floor(self), op="floor_")

    def ceil_(self) -> Tensor:
        return self._inplace(F.ceil(self), op="ceil_")

    def round_(self, *, decimals: int | None = None) -> Tensor:
        return self._inplace(F.round(self, decimals=decimals), op="round_")

    def trunc_(self) -> Tensor:
        return self._inplace(F.trunc(self), op="trunc_")

    def fix_(self) -> Tensor:
        return self._inplace(F.fix(self), op="fix_")

    def frac_(self) -> Tensor:
        return self._inplace(F.frac(self), op="frac_")

    def pow_(self, other: Any) -> Tensor:
        return self._inplace(F.pow(self, other), op="pow_")

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        return self._inplace(F.clamp(self, min, max), op="clamp_")

    def addcmul_(self, tensor1: Tensor, tensor2: Tensor, value: Any = 1) -> Tensor:
        return self._inplace(pointwise.addcmul(self, tensor1, tensor2, value=value), op="addcmul_")

    def addcdiv_(self, tensor1: Tensor, tensor2: Tensor, value: Any = 1) -> Tensor:
        return self._inplace(pointwise.addcdiv(self, tensor1, tensor2, value=value), op="addcdiv_")

    def lerp_(self, end: Tensor, weight: Any) -> Tensor:
        return self._inplace(F.lerp(self, end, weight), op="lerp_")

    def copy_(self, src: Any) -> Tensor:
        if not isinstance(src, Tensor):
            from graphc.frontend.constructors import tensor as make_tensor

            src = make_tensor(lazy.to_numpy(src) if not isinstance(src, (list, float, int)) else src)
        return self._inplace(F.broadcast_to(F.cast(src, self.dtype), self.shape), op="copy_")  # src broadcasts, as in torch

    def fill_(self, value: Any) -> Tensor:
        from graphc.ir import build as b

        self._assign_value(b.full(self.shape, value.item() if isinstance(value, Tensor) else value, self.dtype), "fill_")
        return self

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        from graphc.frontend.constructors import randn

        return self._inplace(F.add(F.mul(randn(*self.shape, dtype=self.dtype), std), mean), op="normal_")

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        from graphc.frontend.constructors import rand

        return self._inplace(F.add(F.mul(rand(*self.shape, dtype=self.dtype), b - a), a), op="uniform_")

    def __setitem__(self, key: Any, value: Any) -> None:
        from graphc.frontend.indexing import setitem

        if _basic_key(key) and _repeats_elements(self):
            # torch copies into the view self[key]: allowed on an expanded tensor where that view repeats no element
            # (x.expand(4, 3)[0] = v writes the row every row shows); the whole new value written back would repeat some
            self[key].copy_(value)
            return
        self._assign_value(setitem(self, key, value))

    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)

    def __ifloordiv__(self, other: Any) -> Tensor:
        return self.floor_divide_(other)

    def __imod__(self, other: Any) -> Tensor:
        return self.remainder_(other)

    # ------------------------------------------------------------ conversions

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        dtype = kwargs.get("dtype")
        device = kwargs.get("device")
        for arg in args:
            if isinstance(arg, Tensor):
                dtype, device = arg.dtype, arg.device
            elif isinstance(arg, str) and arg.split(":")[0] in ("cpu", "cuda"):
                device = arg
            else:
                try:
                    dtype = dtypes.to_dtype(arg)
                except TypeError:
                    device = str(arg)
        same = dtype is None or dtypes.to_dtype(dtype) == self.dtype
        result = self if same else F.cast(self, dtypes.to_dtype(dtype))  # unchanged: self itself, as torch
        if device is not None:
            from graphc.runtime.devices import move

            result = move(result, str(device))
        return result

    def type(self, dtype: Any = None) -> Any:
        if dtype is None:
            return f"graphc.{self.dtype.name}"
        return F.cast(self, dtypes.to_dtype(dtype))

    def float(self) -> Tensor:
        return F.cast(self, dtypes.float32)

    def double(self) -> Tensor:
        return F.cast(self, dtypes.float64)

    def half(self) -> Tensor:
        return F.cast(self, dtypes.float16)

    def bfloat16(self) -> Tensor:
        return F.cast(self, dtypes.bfloat16)

    def long(self) -> Tensor:
        return F.cast(self, dtypes.int64)

    def int(self) -> Tensor:
        return F.cast(self, dtypes.int32)

    def bool(self) -> Tensor:
        return F.cast(self, dtypes.bool_)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def contiguous(self) -> Tensor:
        """Itself, or a copy where torch's layout of the view is not row-major (``x.t().contiguous()``), as torch.
        A view whose layout depends on the symbolic batch is taken as a reshape of it (views.reshaped): an
        in-place op through it needs static sizes unless it is known row-major."""
        if views.is_contiguous(self):
            return self
        copy = F.clone(self)
        if views.layout_of(self) is not None:
            return copy
        made = views.reshaped(self, copy)
        if made._view is not None:
            made._view.contiguous = True  # row-major either way: a view may view it whatever the batch size
        return made

    def clone(self) -> Tensor:
        return F.clone(self)

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def element_size(self) -> int:
        return self.dtype.itemsize

    def byte(self) -> Tensor:
        return F.cast(self, dtypes.uint8)

    def char(self) -> Tensor:
        return F.cast(self, dtypes.int8)

    def short(self) -> Tensor:
        return F.cast(self, dtypes.int16)

    # ------------------------------------------------------------ layout (docs/decisions.md: a graphc tensor is a value, laid out contiguously)

    def stride(self, dim: int | None = None) -> Any:
        """The row-major strides of the shape, in elements: graphc tensors are values, never strided views."""
        shape = self.shape
        strides, step = [], 1
        for size in reversed(shape):
            strides.append(step)
            step = step * (size if size != 0 else 1)  # torch's strides skip a zero size
        strides = tuple(reversed(strides))
        if dim is None:
            return strides
        if not -max(len(shape), 1) <= dim < max(len(shape), 1):
            raise IndexError(f"Dimension out of range (expected to be in range of [{-max(len(shape), 1)}, {max(len(shape), 1) - 1}], but got {dim})")
        return strides[dim] if shape else 1

    def is_contiguous(self, memory_format: Any = None) -> bool:
        return True

    def storage_offset(self) -> int:
        return 0

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> Any:
        return self.numel() * self.dtype.itemsize

    def is_signed(self) -> bool:
        return self.dtype.is_signed

    def is_complex(self) -> bool:
        return False

    @property
    def is_cpu(self) -> bool:
        return self.device == "cpu"

    def get_device(self) -> int:
        """-1 on the CPU, as torch; the index of the GPU that holds a CUDA tensor's value."""
        if self.device != "cuda":
            return -1
        index = self._node.data.device.index
        return 0 if index is None else index

    def ndimension(self) -> int:
        return self.ndim

    @property
    def H(self) -> Tensor:
        """The conjugate transpose of a matrix (its transpose: graphc tensors are real); a 0-d tensor is its own."""
        if self.ndim == 0:
            return self
        if self.ndim != 2:
            raise op_error("H", [self._node.type], {}, f"tensor.H is only supported on matrices (2-D tensors). Got {self.ndim}-D tensor.")
        return F.transpose(self, 0, 1)

    @property
    def mH(self) -> Tensor:
        if self.ndim < 2:
            raise op_error("mH", [self._node.type], {}, f"tensor.mH is only supported on matrices or batches of matrices. Got {self.ndim}-D tensor.")
        return F.transpose(self, -2, -1)

    def register_hook(self, hook: Any) -> Any:
        """Call ``hook(grad)`` with this tensor's gradient during ``backward()``; a tensor it returns replaces
        the gradient. Eager code only (inside graphc.compile it is refused, docs/decisions.md)."""
        from graphc.frontend.autograd import register_hook

        return register_hook(self, hook)

    # ------------------------------------------------------------ new tensors like this one

    def _new(self, array: np.ndarray, device: Any, requires_grad: bool) -> Tensor:
        """``array`` as a new leaf on ``device`` (default: this tensor's); requires_grad_ checks the dtype can require grad."""
        from graphc.frontend.constructors import tensor as make_tensor

        result = make_tensor(array, device=self.device if device is None else device)
        return result.requires_grad_(True) if requires_grad else result

    def _new_filled(self, size: tuple, value: Any, dtype: Any, device: Any, requires_grad: bool) -> Tensor:
        from graphc.frontend.constructors import _filled, _shape

        d = self.dtype if dtype is None else dtypes.to_dtype(dtype)
        shape = _shape(size)
        if not all(isinstance(n, int) for n in shape):  # x.new_zeros(x.size(0), 4) in a trace: the batch stays symbolic
            return _filled(shape, value, d, requires_grad)
        return self._new(np.full(shape, value, dtype=d.numpy), device, requires_grad)

    def new_zeros(self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        """Zeros of ``size`` with this tensor's dtype and device unless given, as torch's ``Tensor.new_zeros``."""
        return self._new_filled(size, 0, dtype, device, requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        """Ones of ``size`` with this tensor's dtype and device unless given."""
        return self._new_filled(size, 1, dtype, device, requires_grad)

    def new_empty(self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        """An uninitialised tensor in torch; zeros here, so nothing reads garbage."""
        return self._new_filled(size, 0, dtype, device, requires_grad)

    def new_full(self, size: Sequence[int], fill_value: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        """``fill_value`` everywhere, in this tensor's dtype (not the value's) unless ``dtype`` is given, as torch."""
        return self._new_filled((size,), fill_value, dtype, device, requires_grad)

    def new_tensor(self, data: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        """A copy of ``data`` (no history) in this tensor's dtype and device unless given: ``x.new_tensor([1.5])`` of an int x is ``[1]``."""
        from graphc.frontend.constructors import as_array

        source = data.numpy() if isinstance(data, Tensor) else data
        array = np.array(as_array(source), dtype=(self.dtype if dtype is None else dtypes.to_dtype(dtype)).numpy)
        return self._new(array, device, requires_grad)

    # ------------------------------------------------------------ operators

    def __add__(self, other: Any) -> Tensor:
        return F.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return F.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return F.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return F.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return F.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return F.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return F.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return F.div(other, self)

    def __floordiv__(self, other: Any) -> Tensor:
        return F.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return F.floor_divide(other, self)

    def __mod__(self, other: Any) -> Tensor:
        return F.remainder(self, other)

    def __rmod__(self, other: Any) -> Tensor:
        return F.remainder(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return F.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return F.pow(other, self)

    def __matmul__(self, other: Tensor) -> Tensor:
        return F.matmul(self, other)

    def __rmatmul__(self, other: Tensor) -> Tensor:
        return F.matmul(other, self)

    def __neg__(self) -> Tensor:
        return F.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return F.abs(self)

    def __invert__(self) -> Tensor:
        return bitwise.bitwise_not(self)

    def __lshift__(self, other: Any) -> Tensor:
        return bitwise.bitwise_left_shift(self, other)

    def __rlshift__(self, other: Any) -> Tensor:
        return bitwise.bitwise_left_shift(other, self)

    def __rshift__(self, other: Any) -> Tensor:
        return bitwise.bitwise_right_shift(self, other)

    def __rrshift__(self, other: Any) -> Tensor:
        return bitwise.bitwise_right_shift(other, self)

    def __ilshift__(self, other: Any) -> Tensor:
        return self._inplace(bitwise.bitwise_left_shift(self, other), op="__ilshift__")

    def __irshift__(self, other: Any) -> Tensor:
        return self._inplace(bitwise.bitwise_right_shift(self, other), op="__irshift__")

    def __and__(self, other: Any) -> Tensor:
        return F.bitwise_and(self, other)

    def __or__(self, other: Any) -> Tensor:
        return F.bitwise_or(self, other)

    def __xor__(self, other: Any) -> Tensor:
        return F.bitwise_xor(self, other)

    def __rand__(self, other: Any) -> Tensor:
        return F.bitwise_and(other, self)

    def __ror__(self, other: Any) -> Tensor:
        return F.bitwise_or(other, self)

    def __rxor__(self, other: Any) -> Tensor:
        return F.bitwise_xor(other, self)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return F.eq(self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return F.ne(self, other)

    def __lt__(self, other: Any) -> Tensor:
        return F.lt(self, other)

    def __le__(self, other: Any) -> Tensor:
        return F.le(self, other)

    def __gt__(self, other: Any) -> Tensor:
        return F.gt(self, other)

    def __ge__(self, other: Any) -> Tensor:
        return F.ge(self, other)

    def __getitem__(self, key: Any) -> Tensor:
        """``x[key]``; with ints, slices and ``...`` only, the result is a view that in-place ops write through."""
        result = F.getitem(self, key)
        if result is not self and _is_view_key(key):
            views.indexed(self, result, key)
        return result

    @property
    def T(self) -> Tensor:
        return F.permute(self, *reversed(range(self.ndim)))

    @property
    def mT(self) -> Tensor:
        return F.transpose(self, -2, -1)


def _is_view_key(key: Any) -> bool:
    """Basic indexing (ints, slices, Ellipsis, None), which gives a view in torch; tensors and lists copy."""
    items = key if isinstance(key, tuple) else (key,)
    return all(k is Ellipsis or k is None or isinstance(k, slice) or isinstance(k, (int, np.integer, SymbolicSize)) and not isinstance(k, bool) for k in items)


def _rebuild(array: np.ndarray, requires_grad: bool) -> Tensor:
    return Tensor(array, requires_grad=requires_grad)


# Methods that forward to the functional API with the tensor as first argument, as in torch.
_FORWARDED = """
add sub mul div pow maximum minimum eq ne lt le gt ge logical_and logical_or logical_not logical_xor bitwise_and bitwise_or bitwise_xor
neg exp log log1p log2 sqrt rsqrt sin cos tanh erf abs sign reciprocal sigmoid relu square clamp masked_fill lerp
floor ceil round trunc fix frac floor_divide remainder fmod true_divide
sum mean var std amax amin argmax argmin max min logsumexp softmax log_softmax all any
matmul mm bmm dot outer
reshape view permute transpose t squeeze unsqueeze flatten unflatten expand broadcast_to repeat narrow split chunk unbind
gather scatter_add index_select
""".split()


def _forward(name: str) -> Any:
    def method(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        return getattr(F, name)(self, *args, **kwargs)

    method.__name__ = name
    return method


for _name in _FORWARDED:
    setattr(Tensor, _name, _forward(_name))
Tensor.clip = Tensor.clamp  # type: ignore[attr-defined]
Tensor.multiply = Tensor.mul  # type: ignore[attr-defined]
Tensor.subtract = Tensor.sub  # type: ignore[attr-defined]
Tensor.divide = Tensor.div  # type: ignore[attr-defined]


def _where(self: Tensor, condition: Tensor, other: Any) -> Tensor:
    """``x.where(condition, y)`` is ``where(condition, x, y)``, as in torch."""
    return F.where(condition, self, other)


Tensor.where = _where  # type: ignore[attr-defined]


def _view_as(self: Tensor, other: Tensor) -> Tensor:
    return F.view(self, other.shape)


def _reshape_as(self: Tensor, other: Tensor) -> Tensor:
    return F.reshape(self, other.shape)


def _expand_as(self: Tensor, other: Tensor) -> Tensor:
    return F.expand(self, other.shape)


def _type_as(self: Tensor, other: Tensor) -> Tensor:
    return F.cast(self, other.dtype)


Tensor.view_as = _view_as  # type: ignore[attr-defined]
Tensor.reshape_as = _reshape_as  # type: ignore[attr-defined]
Tensor.expand_as = _expand_as  # type: ignore[attr-defined]
Tensor.type_as = _type_as  # type: ignore[attr-defined]

# The families in modules of their own (manipulation, scattering, linear algebra, reductions) list
# their methods in METHODS, and the ones with a torch in-place twin (``tril_``) in IN_PLACE.
from graphc.frontend import (  # noqa: E402
    arithmetic,
    bitwise,
    bucketing,
    calculus,
    combinatorics,
    data_dependent,
    decompositions,
    linalg,
    linalg_solvers,
    lu_factorization,
    manipulation,
    matrix_chains,
    matrix_functions,
    pointwise,
    random_fills,
    reductions,
    reshaping,
    sampling,
    scatter,
    sorting,
    special,
    spectral,
    splitting,
    statistics,
    strided,
    tensor_in_place,
    view_scatter,
)
from graphc.frontend import functional as F  # noqa: E402  (functional builds on Tensor)


def _forward_to(module: Any, name: str) -> Any:
    def method(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        return getattr(module, name)(self, *args, **kwargs)

    method.__name__ = name
    return method


def _in_place(module: Any, name: str) -> Any:
    def method(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        return self._inplace(getattr(module, name)(self, *args, **kwargs), op=name + "_")

    method.__name__ = name + "_"
    return method


for _module in (
    manipulation, reductions, linalg, pointwise, scatter, sorting, special, data_dependent, bucketing, calculus, combinatorics, matrix_chains, linalg_solvers,
    matrix_functions, lu_factorization, arithmetic, bitwise, decompositions, spectral, reshaping, splitting, view_scatter, statistics, sampling,
    random_fills, tensor_in_place, strided,
):
    for _name in _module.METHODS:
        setattr(Tensor, _name, _forward_to(_module, _name))
    for _name in getattr(_module, "IN_PLACE", ()):
        setattr(Tensor, _name + "_", _in_place(_module, _name))
# The in-place twins of the bit and logical operations (``mask &= other``, ``x.logical_not_()``).
for _name in ("bitwise_and", "bitwise_or", "bitwise_xor", "logical_and", "logical_or", "logical_xor", "logical_not"):
    setattr(Tensor, _name + "_", _in_place(F, _name))
Tensor.__iand__ = Tensor.bitwise_and_  # type: ignore[attr-defined]
Tensor.__ior__ = Tensor.bitwise_or_  # type: ignore[attr-defined]
Tensor.__ixor__ = Tensor.bitwise_xor_  # type: ignore[attr-defined]
Tensor.flip = manipulation.flip_method  # type: ignore[attr-defined]
Tensor.tile = manipulation.tile_method  # type: ignore[attr-defined]
Tensor.polygamma = special.polygamma_method  # type: ignore[attr-defined]
Tensor.polygamma_ = special.polygamma_in_place  # type: ignore[attr-defined]


def _basic_key(key: Any) -> bool:
    """An index of integers, slices, None and Ellipsis only: ``x[key]`` is a view, as in torch."""
    parts = key if isinstance(key, tuple) else (key,)
    return all(isinstance(k, (int, slice, type(None), type(Ellipsis))) and not isinstance(k, bool) for k in parts)


def _repeats_elements(tensor: Tensor) -> bool:
    """Whether the tensor's layout shows one element at several indices (a stride 0 over a size above 1: ``expand``)."""
    layout = views.layout_of(tensor)
    return layout is not None and any(stride == 0 and size > 1 for size, stride in zip(tensor._node.shape, layout[0]))

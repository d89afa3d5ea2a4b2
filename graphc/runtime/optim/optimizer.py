"""The ``Optimizer`` base class: parameter groups, state, ``zero_grad``, ``step``, state dicts.

An update is graph ops, like everything else in graphc. ``step()`` runs under
``no_grad`` and points every parameter and every state tensor (momentum
buffers, moment estimates, the step count) at a new lazy node; at its end, when
no ``graphc.compile`` trace is active, it realizes all of them together with the
gradients, so forward, backward and update run as one compiled program.

Everything that changes from one step to the next is a tensor, so a compiled
training step replays correctly:

- the step count is a 0-d ``float32`` tensor (torch's dtype for it), and Adam's
  bias corrections are computed from it inside the graph, in ``float64``;
- the numeric hyperparameters of a group (``lr``, ``betas``, ``eps``, ...) enter
  the graph as 0-d ``float64`` tensors mirrored from the group's Python values.
  Assigning ``group["lr"] = 0.01`` (what a learning-rate scheduler does) updates
  the mirror, so a compiled step picks up the new value on its next call
  without tracing again. Options that choose a formula (``momentum``
  or ``weight_decay`` being zero or not, ``nesterov``, ``amsgrad``, ``centered``,
  ``maximize``) are Python control flow: a compiled step guards them
  (``_trace_state``) and traces again when one changes.

Scalar arithmetic that torch does in Python ``float`` (double precision) is
done on the ``float64`` mirrors, and the result meets the parameter's dtype the
way a Python number would (a 0-d tensor does not promote a tensor with
dimensions), so float32 and float64 updates follow torch's rounding.
"""

from __future__ import annotations

import copy
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from graphc.errors import GraphcError
from graphc.frontend import functional as F
from graphc.frontend import lazy, tracing
from graphc.frontend.autograd import zero_grads
from graphc.frontend.constructors import as_array, full, zeros, zeros_like
from graphc.frontend.constructors import tensor as make_tensor
from graphc.ir import dtypes
from graphc.ir.grad_mode import grad_mode
from graphc.runtime.nn.lazy import check_initialized
from graphc.runtime.nn.module import RemovableHandle
from graphc.runtime.tensor import Tensor

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]


class ParamGroup(dict):
    """One parameter group: a dict as in torch, whose numeric options are mirrored into 0-d tensors.

    ``scalar(key)`` gives the mirror that the update graph reads; assigning a new value to
    the key (``group["lr"] = 0.01``) updates the mirror in place.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._scalars: dict[tuple[str, int | None, str], tuple[Any, Tensor]] = {}
        self._version = 0  # bumped by every assignment (Optimizer._trace_version)

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._version = getattr(self, "_version", 0) + 1
        tracing.python_state_written(f"param_groups option {key!r}")
        for (name, index, device), (_, mirror) in list(getattr(self, "_scalars", {}).items()):
            if name == key:
                self._sync(name, index, device, mirror)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._version = getattr(self, "_version", 0) + 1

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def _value(self, key: str, index: int | None) -> Any:
        value = self[key]
        return value if index is None else value[index]

    def _sync(self, key: str, index: int | None, device: str, mirror: Tensor) -> None:
        value = self._value(key, index)
        if isinstance(value, Tensor):
            return
        tracing.assign(mirror, _scalar_tensor(value, device)._node)
        self._scalars[(key, index, device)] = (value, mirror)

    def scalar(self, key: str, index: int | None = None, device: str = "cpu") -> Tensor:
        """The value of option ``key`` (element ``index`` of a tuple option) as a 0-d float64 tensor."""
        value = self._value(key, index)
        if isinstance(value, Tensor):  # a tensor learning rate, as torch allows: read on every step
            return F.cast(value.reshape(()), dtypes.float64)
        entry = self._scalars.get((key, index, device))
        if entry is None:
            mirror = _scalar_tensor(value, device)
            self._scalars[(key, index, device)] = (value, mirror)
            return mirror
        cached, mirror = entry
        if cached != value or type(cached) is not type(value):
            self._sync(key, index, device, mirror)
        return mirror


# The numeric options whose being zero chooses an update formula. Every other number reaches the
# update through its mirror, so a scheduler taking lr to 0 does not trace the step again.
FORMULA_NUMBERS = ("weight_decay", "momentum")


def _option_kind(key: str, value: Any) -> Any:
    """An option as a compiled step depends on it: formula-choosing numbers as zero or not, other
    numbers not at all (mirrored), flags and strings by value, and a tensor (a tensor lr) by identity:
    the step reads that tensor, so one put in its place (assigned, or loaded from a state dict)
    needs a new trace, while one changed in place (a scheduler's ``fill_``) does not."""
    if isinstance(value, Tensor):
        return ("tensor", id(value))
    if isinstance(value, tuple) and not all(isinstance(v, (bool, str, type(None))) for v in value):
        return ("mirrored", tuple(v is None for v in value))  # None chooses a formula (Adafactor's eps[0])
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if key in FORMULA_NUMBERS:
            return "zero" if value == 0 else "nonzero"
        return "mirrored"
    return value


def _register(hooks: OrderedDict[int, Callable[..., Any]], hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
    """Add ``hook`` last (first with ``prepend``); the handle's ``remove()`` takes it out again."""
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


def _option_copy(value: Any) -> Any:
    """A loaded option that shares nothing with the state dict: a tensor (graphc's or torch's) becomes a new graphc tensor."""
    if isinstance(value, Tensor):
        return value.detach().clone()
    if type(value).__module__.startswith("torch"):
        return make_tensor(as_array(value))
    return copy.deepcopy(value)


def _scalar_tensor(value: Any, device: str) -> Tensor:
    if type(value).__module__.startswith("torch"):
        value = value.item()
    return make_tensor(np.array(float(value), dtype=np.float64), device=device)


def lerp_(start: Tensor, end: Tensor, weight: Tensor, weight_value: float) -> Tensor:
    """``start.lerp_(end, weight)`` with torch's formula for a scalar weight (exact at both ends).

    torch's kernel takes the weight in the tensor's dtype, ``1 - weight`` included.
    """
    weight = F.cast(weight, start.dtype)
    if abs(weight_value) < 0.5:
        return start._inplace(start + weight * (end - start))
    return start._inplace(end - (end - start) * (1 - weight))


def lerp_by_tensor_(start: Tensor, end: Tensor, weight: Tensor) -> Tensor:
    """``start.lerp_(end, weight)`` for a weight known only in the graph (it changes with the step):
    torch's two formulas, chosen by ``where`` as torch's kernel chooses them per value."""
    weight = F.cast(weight, start.dtype)
    exact_at_start = start + weight * (end - start)
    exact_at_end = end - (end - start) * (1 - weight)
    return start._inplace(F.where(F.abs(weight) < 0.5, exact_at_start, exact_at_end))


def addcmul_(target: Tensor, t1: Tensor, t2: Tensor, value: Tensor | float = 1) -> Tensor:
    """``target + value * t1 * t2``, evaluated left to right as torch's kernel does."""
    return target._inplace(target + value * t1 * t2)


def addcdiv_(target: Tensor, t1: Tensor, t2: Tensor, value: Tensor | float = 1) -> Tensor:
    """``target + value * t1 / t2``, evaluated left to right as torch's kernel does."""
    return target._inplace(target + value * t1 / t2)


def lr_operand(group: ParamGroup, device: str) -> Tensor:
    """The lr as torch's arithmetic meets it: a float lr as its float64 mirror, a tensor lr as itself, in its dtype.

    torch computes ``lr / bias_correction`` and the like in Python floats for a float lr, but
    in the lr tensor's dtype for a tensor one (a float32 tensor lr rounds the step size to
    float32); ``in_lr_dtype`` brings the other operands along.
    """
    value = group["lr"]
    if isinstance(value, Tensor):
        return value.reshape(())
    return group.scalar("lr", device=device)


def in_lr_dtype(group: ParamGroup, value: Tensor) -> Tensor:
    """A float64 scalar as torch combines it with a tensor lr: rounded to the lr's dtype first (a float lr: unchanged)."""
    lr = group["lr"]
    return F.cast(value, lr.dtype) if isinstance(lr, Tensor) else value


def signed_grad(p: Tensor, group: ParamGroup) -> Tensor:
    """The gradient, negated with ``maximize`` (torch ascends the objective then)."""
    return -p.grad if group["maximize"] else p.grad


def decay_weights_(p: Tensor, group: ParamGroup, device: str) -> None:
    """Decoupled weight decay, AdamW's: ``p *= 1 - lr * weight_decay``."""
    p.mul_(1 - lr_operand(group, device) * in_lr_dtype(group, group.scalar("weight_decay", device=device)))


def decayed_grad(p: Tensor, grad: Tensor, group: ParamGroup, device: str) -> Tensor:
    """Weight decay as torch's Adam family applies it: decoupled (``decay_weights_``) when the group
    says so, else added to the gradient (``grad + weight_decay * p``)."""
    if group["weight_decay"] == 0:
        return grad
    if group.get("decoupled_weight_decay", False):
        decay_weights_(p, group, device)
        return grad
    return grad + group.scalar("weight_decay", device=device) * p


def scalar_dtype() -> dtypes.DType:
    """torch's ``_get_scalar_dtype()`` of optimizer state scalars: float64 under a float64 default dtype, else float32."""
    return dtypes.float64 if dtypes.DEFAULT_FLOAT.name == "float64" else dtypes.float32


class Optimizer:
    """Base class of graphc's optimizers, with torch's interface.

    ``params`` is an iterable of tensors, of ``(name, tensor)`` pairs, or of dicts (parameter
    groups), each with a ``"params"`` entry and any options that override ``defaults``.
    Subclasses implement ``_init_state(p, group, state)``, the state a parameter gets on its
    first step, and ``_update(p, group, state, device)``, which records one parameter's update;
    ``_update_group`` runs them over a group's parameters that have a gradient.
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[ParamGroup] = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, but got " + type(params).__name__)
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)
        self._step_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._step_post_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._state_dict_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._state_dict_post_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._load_state_dict_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._load_state_dict_post_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()

    # ------------------------------------------------------------------ hooks

    def register_step_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """``hook(optimizer, args, kwargs)`` before every ``step()``; it may return ``(new_args, new_kwargs)``.

        As for any Python code in a ``graphc.compile``-d step, a hook runs when the step is traced:
        its graph ops (clipping ``p.grad``) are part of the program, its other side effects are not repeated.
        """
        return _register(self._step_pre_hooks, hook)

    def register_step_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """``hook(optimizer, args, kwargs)`` after every ``step()`` (traced like a pre-hook)."""
        return _register(self._step_post_hooks, hook)

    def register_state_dict_pre_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer)`` before ``state_dict()`` builds the dict."""
        return _register(self._state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer, state_dict)`` after ``state_dict()``; a dict it returns replaces the result."""
        return _register(self._state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer, state_dict)`` before ``load_state_dict()`` reads it; a dict it returns is loaded instead."""
        return _register(self._load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer)`` after ``load_state_dict()``."""
        return _register(self._load_state_dict_post_hooks, hook, prepend)

    def _run_step_pre_hooks(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        for hook in list(self._step_pre_hooks.values()):
            result = hook(self, args, kwargs)
            if result is None:
                continue
            if not (isinstance(result, tuple) and len(result) == 2):
                raise RuntimeError(f"{hook} must return None or a tuple of (new_args, new_kwargs), but got {result}.")
            args, kwargs = result
        return args, kwargs

    # ------------------------------------------------------------------ groups

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the ordering of tensors in sets "
                "will change between runs. Please use a list instead."
            )
        else:
            params = list(params)
        names = []
        plain = []
        for p in params:
            if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str):
                names.append(p[0])
                p = p[1]
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize graphc Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
            plain.append(p)
        if names and len(names) != len(plain):
            raise ValueError("all optimizer params should be with/without names. Some param names are missing")
        check_initialized(plain)
        group["params"] = plain
        if names:
            group["param_names"] = names
        if len({id(p) for p in plain}) != len(plain):
            import warnings

            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will cause an error", stacklevel=3)
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in existing for p in plain):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(ParamGroup(group))

    # ------------------------------------------------------------------ gradients and steps

    @property
    def _trace_version(self) -> tuple:
        """Changes whenever ``_trace_state()`` may have: a group added or an option assigned."""
        return (len(self.param_groups), *(group._version for group in self.param_groups))

    def _trace_state(self) -> tuple:
        """What a compiled step branched on: the groups, their parameters, and the kind of each option.

        ``weight_decay`` and ``momentum`` count only as zero or not (each chooses a formula), other
        numbers not at all (``lr`` reaches the step through its mirror), flags and strings by value; options
        this optimizer does not know (torch's ``foreach``, from a loaded state dict) not
        at all. A call whose optimizer differs from the trace's traces the step again.
        """
        state: list[tuple[Any, Any]] = [("groups", len(self.param_groups))]
        for index, group in enumerate(self.param_groups):
            state.append(((index, "params"), tuple(id(p) for p in group["params"])))
            state.extend(((index, key), _option_kind(key, group[key])) for key in self.defaults if key in group)
        return tuple(state)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every parameter (``graphc.frontend.autograd.zero_grads``)."""
        zero_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Record one update of every parameter that has a gradient (and realize it, outside a trace).

        ``closure`` re-evaluates the model and returns the loss (it runs with gradients
        enabled); its loss is realized in the same program as the update. Step hooks run
        around it, as torch's (they see a closure as the one positional argument).
        """
        args, kwargs = self._run_step_pre_hooks((closure,) if closure is not None else (), {})
        loss = self._step(*args, **kwargs)
        for hook in list(self._step_post_hooks.values()):
            hook(self, args, kwargs)
        return loss

    def _step(self, closure: Callable[[], Any] | None = None) -> Any:
        tracing.use(self)
        loss = None
        if closure is not None:
            with grad_mode(True):
                loss = closure()
        with grad_mode(False):
            for group in self.param_groups:
                self._update_group(group)
        self._realize(loss)
        return loss

    def _update_group(self, group: ParamGroup) -> None:
        """Each parameter that has a gradient: its state made on its first step, then its update.
        (SGD overrides it: its momentum buffer starts as the first gradient.)"""
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if len(state) == 0:
                self._init_state(p, group, state)
            self._update(p, group, state, p.device)

    def _init_state(self, p: Tensor, group: ParamGroup, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def _update(self, p: Tensor, group: ParamGroup, state: dict[str, Any], device: str) -> None:
        raise NotImplementedError

    def _realize(self, loss: Any) -> None:
        """Outside a graphc.compile trace, compute the new parameters, state and gradients in one program."""
        if tracing.active() is not None:
            return
        nodes = [loss._node] if isinstance(loss, Tensor) else []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                nodes.append(p._node)
                nodes.append(p.grad._node)
                nodes.extend(v._node for v in self.state.get(p, {}).values() if isinstance(v, Tensor))
        lazy.realize(nodes)

    @staticmethod
    def _init_step(p: Tensor) -> Tensor:
        """A fresh step count: a 0-d tensor of ``scalar_dtype()``, as torch keeps it."""
        return zeros((), dtype=scalar_dtype(), device=p.device)

    @staticmethod
    def _zeros_like(p: Tensor) -> Tensor:
        return zeros_like(p)

    @staticmethod
    def _filled(p: Tensor, shape: tuple[int, ...], value: float | Tensor, dtype: dtypes.DType) -> Tensor:
        """New state filled with an option's value (Rprop's step sizes, ASGD's eta), rounded to ``dtype``.

        A number makes a tensor from data, which a compiled step that creates it can read without
        running its first call eagerly; a tensor option is read through the graph.
        """
        if isinstance(value, Tensor):
            return zeros(shape, dtype=dtype, device=p.device) + F.cast(value.reshape(()), dtype)
        return full(shape, value, dtype=dtype, device=p.device)

    # ------------------------------------------------------------------ state dicts

    def state_dict(self) -> dict[str, Any]:
        """``{'state': {index: {name: tensor}}, 'param_groups': [{option: value, 'params': [index]}]}``, as torch.

        Parameters are numbered in the order of the groups; the tensors are the optimizer's
        own (as in torch, they change with later steps: save or copy the dict to keep it).
        """
        for hook in list(self._state_dict_pre_hooks.values()):
            hook(self)
        state_dict = self._state_dict()
        for hook in list(self._state_dict_post_hooks.values()):
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    def _state_dict(self) -> dict[str, Any]:
        mapping: dict[int, int] = {}
        start = 0
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {mapping[id(p)]: dict(values) for p, values in self.state.items() if id(p) in mapping}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict from ``state_dict()``, ``graphc.load`` or ``torch.optim`` (torch tensors are accepted).

        State tensors are copied and cast to their parameter's dtype (the step count keeps
        its own). Existing state tensors of the same shape and dtype are updated in place,
        so a ``graphc.compile``-d training step keeps reading them without tracing again.
        """
        state_dict = dict(state_dict)
        for hook in list(self._load_state_dict_pre_hooks.values()):
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        self._load_state_dict(state_dict)
        for hook in list(self._load_state_dict_post_hooks.values()):
            hook(self)

    def _load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for group, saved in zip(self.param_groups, saved_groups):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size of optimizer's group")
        id_map = {}
        for group, saved in zip(self.param_groups, saved_groups):
            for index, p in zip(saved["params"], group["params"]):
                id_map[index] = p
        new_state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for index, values in state_dict["state"].items():
            key = int(index) if isinstance(index, str) and index.isdigit() else index
            if key not in id_map:
                new_state[key] = dict(values)  # type: ignore[index]
                continue
            p = id_map[key]
            old = self.state.get(p, {})
            new_state[p] = {name: self._load_value(p, name, value, old.get(name)) for name, value in values.items()}
        self.state = new_state
        for group, saved in zip(self.param_groups, saved_groups):
            self._load_group(group, saved)

    def _load_group(self, group: ParamGroup, saved: dict[str, Any]) -> None:
        """The saved options replace the group's, as in torch (an option the checkpoint lacks, such as a
        scheduler's ``initial_lr``, goes, but not the parameters' names); an option of this optimizer that
        it lacks (an older torch's checkpoint) takes its default, as torch's ``__setstate__`` gives its
        flags theirs. Values are copies, as torch's deep copy: a tensor lr is not shared with the source."""
        for key in [key for key in group if key not in ("params", "param_names") and key not in saved]:
            del group[key]
        for key, value in saved.items():
            if key != "params":
                group[key] = _option_copy(value)
        for key, value in self.defaults.items():
            if key not in group:
                group[key] = value

    @staticmethod
    def _load_value(p: Tensor, name: str, value: Any, old: Any) -> Any:
        if isinstance(value, dict):
            return {k: Optimizer._load_value(p, k, v, None) for k, v in value.items()}
        is_tensor = isinstance(value, (Tensor, np.ndarray)) or type(value).__module__.startswith("torch")
        if not is_tensor:
            if name == "step" and isinstance(value, (int, float)):
                value = make_tensor(np.array(float(value), dtype=np.float32), device=p.device)
            else:
                return value
        if not isinstance(value, Tensor):
            value = make_tensor(as_array(value))
        if name != "step" and p.dtype.is_floating_point:
            value = F.cast(value, p.dtype)
        if value.device != p.device:
            value = value.to(p.device)
        if isinstance(old, Tensor) and tuple(old.shape) == tuple(value.shape) and old.dtype == value.dtype:
            tracing.assign(old, tracing.read(value))
            return old
        return Tensor._from_node(tracing.read(value))

    def __repr__(self) -> str:
        text = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def check_lr(lr: float | Tensor, message: str = "Invalid learning rate: {}") -> None:
    """torch's checks of ``lr``: a tensor lr has one element, and no lr is negative (``message`` is the optimizer's)."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    check(not lr < 0.0, message.format(lr))


def check_betas(name: str, betas: tuple[Any, Any]) -> None:
    """torch's range checks of ``betas``. Tensor betas, which torch also takes, are refused rather than read
    once: graphc already feeds numeric options to a compiled step through mirrors (assigning
    ``group["betas"]`` needs no new trace), and reading tensor betas as torch does (in their own dtype,
    on every step) is not built."""
    if any(isinstance(beta, Tensor) or type(beta).__module__.startswith("torch") for beta in betas):
        raise GraphcError(f"{name}: betas must be Python numbers in graphc, not tensors (assign group['betas'] to change them between steps)")
    check(0.0 <= betas[0] < 1.0, f"Invalid beta parameter at index 0: {betas[0]}")
    check(0.0 <= betas[1] < 1.0, f"Invalid beta parameter at index 1: {betas[1]}")


def check_fused(fused: bool | None, foreach: bool | None) -> None:
    """torch refuses ``fused`` with ``foreach``; graphc ignores both (it always fuses), but refuses the same contradiction."""
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


def not_supported(name: str, value: Any) -> None:
    if value:
        raise GraphcError(f"{name}=True is not supported by graphc's optimizers")

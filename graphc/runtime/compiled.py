"""``graphc.compile``: trace a function once per input signature, replay its program after.

A trace records the function's reads of outside tensors (parameters, gradients,
optimizer state), its writes to them, and its results. The compiled program
takes the arguments and the current values of what was read, and returns the
results and the new values of what was written; each call writes those back,
so ``.grad`` accumulation and optimizer updates happen on every call exactly as
in eager code. A call whose guards fail (a new shape, a gradient that was None
and is not any more) traces again and records why.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from graphc.errors import GraphcError
from graphc.frontend import autograd, lazy, tracing
from graphc.frontend.autocast_policy import autocast_key
from graphc.frontend.symbolic_sizes import SymbolicSize
from graphc.frontend.trace import Trace, attribute, bind_attribute
from graphc.ir.grad_mode import grad_mode, is_grad_enabled, set_grad_enabled
from graphc.ir.graph import Graph, Node
from graphc.ir.primitives.source import source_node
from graphc.ir.registry import CHECKED, emit
from graphc.ir.types import TensorType, evaluate_shape, evaluate_sizes, free_symbols
from graphc.runtime import views
from graphc.runtime.check import Checker
from graphc.runtime.config import debug_level, default_backend
from graphc.runtime.executor import CompiledProgram, compile_graph
from graphc.runtime.profile import Profile, device_sync, profile_calls
from graphc.runtime.random import is_seed, next_seed, seed_node
from graphc.runtime.report import CompileReport
from graphc.runtime.tensor import Tensor

log = logging.getLogger("graphc")

BATCH = sympy.Symbol("B", positive=True, integer=True)
# Traces of one function after which graphc warns once: something it depends on changes on every
# call (a Python counter in a module, a tensor kept on a module), and every call compiles anew.
MANY_TRACES = 8
# Sizes (batch sizes) per program whose results' types and inlined attributes a compiled function keeps.
INLINE_SIZES_KEPT = 64


@dataclass
class StateSeen:
    """A module's or optimizer's ``_trace_state()`` a trace depended on, and the ``_trace_version``
    at which it was last found unchanged (the guard compares states only when the version moved)."""

    state: tuple
    version: Any


@dataclass
class Arguments:
    """The arguments' nodes in a finished trace: their stand-ins as the function received them (by
    node id, to position), the stand-ins of their existing ``.grad`` likewise, and the new ``.grad``
    and new values (in-place changes) that are results. Taken before the function ran, since an
    in-place change gives a stand-in another node."""

    inputs: dict[int, int]
    grad_inputs: dict[int, int]
    grads: list[Node]
    writes: list[Node]


def _same_value(now: np.ndarray, traced: np.ndarray) -> bool:
    return now.shape == traced.shape and bool(np.array_equal(now, traced, equal_nan=traced.dtype.kind == "f"))


def _value_text(value: np.ndarray) -> str:
    return str(value.item()) if value.size == 1 else f"an array of shape {value.shape} with other values"


def _new_state(trace: Trace, outputs: list[Tensor], standins: list[Tensor]) -> list[Tensor]:
    """Tensors the trace made that are still alive and are neither results nor stand-ins: new state.

    A result that is a view of a temporary (``(x > 0)[-1]``, ``h.view(-1)``) keeps that temporary alive as
    the base it writes through to (its link's ``base``); the base is no state the function created.
    """
    known = {id(o) for o in outputs} | {id(s) for s in standins} | {id(s._grad) for s in standins if s._grad is not None}
    for o in outputs:
        base = o._view.base if o._view is not None else None
        while base is not None and id(base) not in known:
            known.add(id(base))
            base = base._view.base if base._view is not None else None
    known |= {id(t._grad) for t, _ in trace.grads_set.values() if t._grad is not None}
    return [t for t in trace.created_alive() if id(t) not in known]


def _refuse_writes_to_views_of_one_another(fn: Any, tensors: list[Tensor], arg_writes: list[int], trace: Trace) -> None:
    """Arguments that view one tensor (``f(x, x.view(-1))``) get stand-ins of their own, which do not alias: an in-place
    change of one would not reach the other inside the program, so it is refused rather than computed otherwise."""
    roots: dict[int, list[int]] = {}
    for i, t in enumerate(tensors):
        root = t._view.root if t._view is not None else t
        if all(t is not tensors[j] for j in roots.get(id(root), [])):
            roots.setdefault(id(root), []).append(i)
    shared = {i for group in roots.values() if len(group) > 1 for i in group}
    written = sorted(shared.intersection(arg_writes))
    if written:
        trace.undo()
        raise GraphcError(
            f"graphc.compile: {getattr(fn, '__name__', fn)} changes tensor argument {written[0]} in place, and it is a view of the same "
            "tensor as another argument (x and x.view(-1), x[0] and x[1]); inside a compiled function the two do not alias. "
            "Pass the base tensor alone and take the views inside the function"
        )


@dataclass(frozen=True)
class GradOf:
    """A result that is the ``.grad`` of a tensor from outside (``return p.grad``) or of an argument (by position), or
    views it: each call gives the caller that tensor's ``.grad`` as it is after the call's write-back, as torch's result
    is that very tensor (an in-place change of the result changes the gradient an optimizer then reads)."""

    owner: int | weakref.ref[Tensor]


# A result that is an argument itself (the caller's tensor, by position) or views one (or a tensor read from outside,
# a parameter, or a .grad): the steps that made each link from that tensor down, and their grad modes (views.remade).
ResultAlias = tuple[int | weakref.ref[Tensor] | GradOf, list[tuple[tuple[views.Step, ...], bool]]]


def _result_aliases(results: Any, standins: list[Tensor], trace: Trace) -> dict[int, ResultAlias]:
    """Which results (by position) alias a tensor the caller holds, as torch's do: an argument returned, or a view of an
    argument or of a parameter (``x[1:]``, ``x.t()``, ``x.add_(1).view(-1)``, ``self.weight.t()``). Each call makes them again
    from the caller's tensors, so in-place changes of either are seen by the other. A view of a value the function computed
    is a new tensor for the caller (its base is no tensor the caller has), as torch's are."""
    outputs: list[Tensor] = []
    _flatten(results, outputs)
    positions: dict[int, int] = {}
    for i, standin in enumerate(standins):
        positions.setdefault(id(standin), i)
    # Tensors from outside that a later call reads as another object: a module attribute the function rebinds, a .grad.
    replaced = {id(old) for _, _, old in trace.attributes_set.values()} | {id(old) for _, old in trace.grads_set.values()}
    replaced |= {id(t._grad) for t, _ in trace.grad_reads.values()}
    # The .grad of each tensor from outside and of each argument, as the function leaves them: results the caller gets as
    # the owner's .grad after the write-back (a new tensor object where the program replaced it).
    grads: dict[int, GradOf] = {id(t._grad): GradOf(weakref.ref(t)) for t, _ in [*trace.grads_set.values(), *trace.grad_reads.values()] if t._grad is not None}
    grads.update({id(s._grad): GradOf(i) for i, s in enumerate(standins) if s._grad is not None and s.is_leaf and id(s._grad) not in grads})
    aliases: dict[int, ResultAlias] = {}
    for position, output in enumerate(outputs):
        links = []
        tensor = output
        while tensor._view is not None:
            links.append((tensor._view.steps, tensor._view.grad_enabled))
            tensor = tensor._view.base
        if id(tensor) in grads:
            aliases[position] = (grads[id(tensor)], links[::-1])
        elif id(tensor) in positions:
            aliases[position] = (positions[id(tensor)], links[::-1])
        elif tensor not in trace.created and tensor not in trace.made_from_data and id(tensor) not in replaced:  # a parameter
            aliases[position] = (weakref.ref(tensor), links[::-1])
    return aliases


def _aliased(outputs: list[Tensor], aliases: dict[int, ResultAlias], tensors: list[Tensor], types: tuple[TensorType, ...]) -> list[Tensor]:
    """The results with those that alias the caller's tensors made again as such (_result_aliases)."""
    if not aliases:
        return outputs
    sizes: dict[sympy.Symbol, int] = {}
    for declared, tensor in zip(types, tensors):
        for dim, actual in zip(declared.shape, tensor.shape):
            if isinstance(dim, sympy.Symbol):
                sizes[dim] = actual
    outputs = list(outputs)
    for position, (source, links) in aliases.items():
        if isinstance(source, GradOf):
            owner = tensors[source.owner] if isinstance(source.owner, int) else source.owner()
            base = None if owner is None else owner._grad
        else:
            base = tensors[source] if isinstance(source, int) else source()
        if base is None:
            continue
        if not links:
            outputs[position] = base
            continue
        made = views.remade(base, links, outputs[position]._node, lambda value: _concrete(value, sizes))
        if made is not None:
            outputs[position] = made
    return outputs


def _concrete(value: Any, sizes: dict[sympy.Symbol, int]) -> Any:
    """``value`` (a view's arguments, a shape) with its symbolic sizes this call's numbers."""
    if isinstance(value, SymbolicSize):
        return int(value.expr.subs(sizes))
    if isinstance(value, sympy.Basic):
        return int(value.subs(sizes))
    if isinstance(value, slice):
        return slice(_concrete(value.start, sizes), _concrete(value.stop, sizes), _concrete(value.step, sizes))
    if isinstance(value, (tuple, list)):
        return type(value)(_concrete(item, sizes) for item in value)
    return value


def _refuse_reshaping_viewed_arguments(fn: Any, tensors: list[Tensor], reshaped: dict[int, views.Layout]) -> None:
    """An argument whose shape the function changed in place (``x.t_()``, ``x.resize_(...)``) while the caller holds views
    of it: torch's views keep their elements, and the program returns the argument's new value, not the change, so the
    views could not follow it (after a square ``t_`` they would silently read the new elements)."""
    for i in sorted(reshaped):
        if views.live_views(tensors[i]):
            raise GraphcError(
                f"graphc.compile: {getattr(fn, '__name__', fn)} changes the shape of tensor argument {i} in place (t_, squeeze_, resize_, ...) "
                "while the caller holds views of it, which could not follow the change; change its shape outside the function, "
                "or take the views after the call"
            )


def _release_views(trace: Trace) -> None:
    """Tensors the trace made that view one of its temporaries (a result ``h.view(-1)``, state ``self.last = out.detach()``)
    keep their values but stop being views: each call gives them new tensors, so there is nothing left to alias, and
    the temporaries they viewed would otherwise stay alive as new state."""
    for tensor in trace.created_alive():
        link = tensor._view
        if link is not None and link.root in trace.created:
            node = tensor._node
            tensor._view = None
            tensor._n = node


def _alive_after_collecting(trace: Trace, outputs: list[Tensor], standins: list[Tensor]) -> list[Tensor]:
    """The trace's new state once the garbage it made in reference cycles is freed.

    What stays alive decides the program (new state, tensors read as inputs rather than
    constants), so the trace's dropped tensors must be collected. They are young: collecting
    the young generations frees them, unless a collection during a long trace moved some to
    the oldest generation. A full collection takes 0.3-1 s in a process holding torch, once
    per trace, so it runs only when something the trace made still looks alive after the
    young one: only then can it change the answer.
    """
    gc.collect(1)
    new_state = _new_state(trace, outputs, standins)
    if new_state or trace.data_reads.alive():
        gc.collect()
        new_state = _new_state(trace, outputs, standins)
    return new_state


class FunctionFailed(Exception):
    """The traced function itself raised ``error`` (not compiling or running its program): the
    one failure that tracing again with static sizes may cure."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class Feed:
    """Where one program input comes from on each call."""

    # "arg" (i-th tensor argument), "arg_grad" (its .grad), "tensor" (current value of a tensor),
    # "grad_of" (a tensor's current .grad), "attribute" (a module attribute's current tensor),
    # "seed" (fresh), "const"
    kind: str
    index: int = 0
    tensor: weakref.ref[Tensor] | None = None
    data: Any = None
    owner: weakref.ref[Any] | None = None  # "attribute": the module, and ``name`` its attribute
    name: str = ""


@dataclass
class BoundAttribute:
    """A module attribute the function binds to a tensor it computes (``self.ema = ...``): every call
    binds it to that call's tensor, a result of the program or one of the function's outputs."""

    owner: weakref.ref[Any]
    name: str
    output: int | None  # the output it is bound to; None: a result of its own


@dataclass
class Entry:
    signature: tuple
    guards: list[tuple[weakref.ref[Tensor], str, Any]]
    program: CompiledProgram
    feeds: list[Feed]
    output_spec: Any
    num_outputs: int
    state: list[tuple[weakref.ref[Tensor], bool]]  # tensors whose value is written back (and if leaf requiring grad)
    grads_added: list[weakref.ref[Tensor]]  # tensors whose existing .grad backward() added to: its new value
    grads: list[tuple[weakref.ref[Tensor], bool]]  # tensors whose .grad is written back (False: set to None)
    arg_grads: list[int]  # tensor arguments (by position) whose .grad the function's backward() sets
    arg_writes: list[int]  # tensor arguments the function changed in place (x.add_(1), x[0] = 5)
    arg_leaves: frozenset[int]  # those of them it made leaves that require grad (x.requires_grad_())
    args_reshaped: dict[int, views.Layout]  # those of them whose shape it changed in place (x.t_()): their strides after
    attributes: list[BoundAttribute]
    traced_graph: Graph  # before any pass: what _inline rebuilds when results need autograd history
    outputs_require_grad: bool
    result_aliases: dict[int, ResultAlias]  # results made again as the caller's tensors or views of them
    checker: Checker | None = None  # check mode: compares each call's results with eager PyTorch
    tensor_hooks: int | None = None  # autograd.hook_registrations() when a trace that ran backward() ended
    repeated: dict[int, int] = dataclasses.field(default_factory=dict)  # a result that is an earlier one (by position)
    # Replay caches: the results' types by the shapes of those whose declared type is symbolic (_result_types),
    # and _inline's node attributes by the call's sizes.
    result_types: dict[tuple, list[TensorType]] = dataclasses.field(default_factory=dict)
    inline_attrs: dict[tuple, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)


def _flatten(value: Any, leaves: list[Tensor], arguments: bool = False) -> Any:
    """Replace tensors in a nested structure by their position in ``leaves``.

    The fields that a named tuple's class lists in ``_host_fields`` (a ``PackedSequence``'s
    batch sizes and indices, host values in torch) are taken by value: in ``arguments`` they
    become part of the signature, as a Python list would, and the trace sees constants; in
    results, those the trace knows (constants) are made again by each call, not returned.
    """
    if isinstance(value, Tensor):
        leaves.append(value)
        return ("T", len(leaves) - 1)
    if isinstance(value, tuple) and type(value) is not tuple:  # a namedtuple, max(dim)'s (values, indices)
        host = getattr(type(value), "_host_fields", ())
        specs = [
            ("host", _host_ints(v)) if f in host and (v is None or arguments or v._node.data is not None) else _flatten(v, leaves, arguments)
            for f, v in zip(getattr(value, "_fields", ()), value)
        ]
        return ("tuple_class", (type(value), specs if host else [_flatten(v, leaves, arguments) for v in value]))
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, [_flatten(v, leaves, arguments) for v in value])
    if isinstance(value, dict):
        return ("dict", [(k, _flatten(v, leaves, arguments)) for k, v in value.items()])
    return ("V", value)


class _TensorsSpec(tuple):
    """The flattened structure of a call whose arguments are ``n`` tensors, positional: the same for every
    such call, so made once per ``n``, with its ``repr`` (the signature's first part) computed once too."""

    text: str

    def __repr__(self) -> str:
        return self.text


_TENSORS_SPECS: dict[int, _TensorsSpec] = {}


def _flatten_arguments(args: tuple, kwargs: dict[str, Any]) -> tuple[Any, list[Tensor]]:
    """``_flatten((args, kwargs), ..., arguments=True)``: the structure and the tensors of a call's arguments.

    Most calls pass tensors only (a batch, its labels): their structure comes from a cache,
    about 3 us of a 2-row softmax's call less than walking it.
    """
    if not kwargs and all(isinstance(value, Tensor) for value in args):
        spec = _TENSORS_SPECS.get(len(args))
        if spec is None:
            spec = _TensorsSpec(_flatten((args, kwargs), [], arguments=True))
            spec.text = tuple.__repr__(spec)
            _TENSORS_SPECS[len(args)] = spec
        return spec, list(args)
    tensors: list[Tensor] = []
    return _flatten((args, kwargs), tensors, arguments=True), tensors


def _refuse_symbolic_sizes(value: Any, what: str) -> None:
    """A size among the results, or kept in a module's attributes, is a number in the caller's hands after the call,
    which only a trace with static sizes has (a replay runs no Python to give it another)."""
    if isinstance(value, SymbolicSize):
        value._specialize(what)
    elif isinstance(value, (tuple, list)):
        for item in value:
            _refuse_symbolic_sizes(item, what)
    elif isinstance(value, dict):
        for item in value.values():
            _refuse_symbolic_sizes(item, what)


def _host_ints(value: Tensor | None) -> tuple[int, ...] | None:
    return None if value is None else tuple(int(v) for v in value.numpy().reshape(-1))


def _unflatten(spec: Any, leaves: list[Any]) -> Any:
    kind, payload = spec
    if kind == "T":
        return leaves[payload]
    if kind in ("tuple", "list"):
        items = [_unflatten(s, leaves) for s in payload]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {k: _unflatten(s, leaves) for k, s in payload}
    if kind == "tuple_class":
        cls, specs = payload
        return cls(*[_unflatten(s, leaves) for s in specs])
    if kind == "host":
        return None if payload is None else Tensor(np.asarray(payload, dtype=np.int64))
    return payload


class CompiledFunction:
    def __init__(
        self, fn: Callable[..., Any], backend: str = "auto", fusion: bool = True, dynamic: bool = True, check: bool = False, remat: bool = True
    ) -> None:
        self.fn = fn
        self.backend = backend
        self.fusion = fusion
        self.remat = remat
        self.dynamic = dynamic
        self.check = check
        self.entries: list[Entry] = []
        self.trace_count = 0
        self.recompilations: list[str] = []
        self._last: Entry | None = None
        # Signatures whose last trace ran eagerly (it created state, or assigned Python state a replay would not):
        # why the next call traces again.
        self._ran_eagerly: dict[tuple, str] = {}
        # Tensor arguments (by position) whose dim 0 stays static although it equals the batch size:
        # tracing with it as the symbol B failed (a weight with as many rows as the batch).
        self._static_dim0: set[int] = set()
        # Every size static from now on: a trace with the batch symbolic failed, or read a size itself.
        self._static = False

    # ------------------------------------------------------------------ signatures

    def _arg_types(self, tensors: list[Tensor]) -> list[TensorType]:
        batch = tensors[0].shape[0] if tensors and tensors[0].ndim > 0 else None
        types = []
        for i, t in enumerate(tensors):
            shape = list(t.shape)
            batched = self.dynamic and not self._static and batch is not None and batch > 1 and shape and shape[0] == batch
            # a strided argument's strides are numbers of its sizes (the signature holds them): its sizes stay static
            if batched and i not in self._static_dim0 and _strides_key(t) is None:
                shape[0] = BATCH
            types.append(TensorType(tuple(shape), t.dtype))
        return types

    def _signature(self, spec: Any, types: list[TensorType], tensors: list[Tensor]) -> tuple:
        """What selects a traced program: the arguments' structure, types and whether they track
        gradients (and whether they have a ``.grad`` a backward() inside would add to), the
        grad mode (a forward traced under ``no_grad`` records no backward), the autocast regions
        (a trace under ``graphc.autocast`` has its casts) and the strides of the arguments that are not
        row-major (``x.t()``: torch's ``view`` of it raises where a contiguous one's views).

        Types are compared as values, not printed: printing a symbolic shape with sympy took
        about 5 us of the MLP step's 155.
        """
        has_grads = tuple(t._grad is not None for t in tensors)
        first: dict[int, int] = {}
        aliases = tuple(first.setdefault(id(t), i) for i, t in enumerate(tensors))  # f(x, x): one stand-in for both
        strides = tuple(_strides_key(t) for t in tensors)
        return (repr(spec), tuple(types), tuple(_grad_kind(t) for t in tensors), is_grad_enabled(), has_grads, aliases, autocast_key(), strides)

    def _guards_hold(self, entry: Entry) -> str | None:
        if entry.tensor_hooks is not None and entry.tensor_hooks != autograd.hook_registrations():
            return "a tensor hook (register_hook) was registered since the trace, which ran a backward() that may reach it"
        for ref, kind, expected in entry.guards:  # one test of the kind each: the kinds by how common they are
            used = ref()
            if used is None:
                return "a tensor, module or optimizer the program uses was freed"
            if kind == "read":
                node = used._node
                if (node.type, node.requires_grad) != expected:
                    if node.type != expected[0]:
                        return f"a tensor read by the function changed type: {expected[0]} -> {node.type}"
                    return f"a tensor read by the function {'no longer requires' if expected[1] else 'now requires'} grad"
            elif kind == "attribute":
                name, type_, requires_grad = expected
                value = attribute(used, name)
                if not isinstance(value, Tensor) or (value._node.type, value._node.requires_grad) != (type_, requires_grad):
                    return f"{type(used).__name__}.{name}, which the function reads, is now {_describe(value)}, not {type_}"
            elif kind == "value":
                if not _same_value(used._array(), expected):
                    return f"a tensor whose value the function read (.item(), bool()) is {_value_text(used._array())}, not {_value_text(expected)}"
            elif kind == "grad_none":
                if (used._grad is None) != expected:
                    return f"a .grad was {'None' if expected else 'set'} when traced and is {'None' if used._grad is None else 'set'} now"
            elif kind == "state" and used._trace_version != expected.version:
                # Something was assigned since the last check: compare what the trace depended on.
                state = used._trace_state()
                if state != expected.state:
                    return f"the Python state of {type(used).__name__} changed: {_state_change(expected.state, state)}"
                expected.version = used._trace_version
        return None

    # ------------------------------------------------------------------ calling

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if tracing.active() is not None:
            # Called from a function being traced: its ops become part of that trace (as
            # torch.compile inlines), rather than a program whose results the outer trace would
            # take for constants.
            return self.fn(*args, **kwargs)
        spec, tensors = _flatten_arguments(args, kwargs)
        types = self._arg_types(tensors)
        signature = self._signature(spec, types, tensors)
        reasons = []
        for entry in self.entries:
            if entry.signature != signature:
                continue
            failed = self._guards_hold(entry)
            if failed is None:
                self._last = entry
                if entry.outputs_require_grad and is_grad_enabled():
                    return self._inline(entry, tensors)
                return self._replay(entry, tensors)
            reasons.append(failed)
        if self.trace_count:
            if reasons:
                reason = reasons[0]
            elif signature in self._ran_eagerly:
                reason = self._ran_eagerly[signature]
            else:
                reason = _new_signature(signature, [e.signature for e in self.entries])
            self.recompilations.append(f"trace {self.trace_count + 1}: {reason}")
            if debug_level() >= 1:
                log.warning("graphc: recompiling %s: %s", getattr(self.fn, "__name__", self.fn), reason)
        return self._trace_falling_back(spec, signature, types, tensors)

    def _trace_falling_back(self, spec: Any, signature: tuple, types: list[TensorType], tensors: list[Tensor]) -> Any:
        """Trace with the batch symbolic; where that fails or cannot be right, with static sizes.

        A GraphcError first keeps dim 0 of the other arguments static (a weight with as many
        rows as the batch). Any failure after that, or a read of a symbolic size by the
        function itself (``tracing.SizeRead``), makes every size static for this function
        from then on: a program per batch size, as ``dynamic=False`` gives.
        """
        try:
            return self._trace(spec, signature, types, tensors)
        except tracing.SizeRead as read:
            reason = str(read)
        except FunctionFailed as failed:
            error = failed.error
            if not any(BATCH in ty.shape for ty in types):
                raise error from None
            first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
            widened = [i for i, ty in enumerate(types) if i > 0 and ty.shape and ty.shape[0] is BATCH]
            if isinstance(error, GraphcError) and widened:
                self._static_dim0.update(widened)
                self.recompilations.append(
                    f"trace {self.trace_count}: failed with dim 0 of tensor argument(s) {', '.join(map(str, widened))} as the batch B "
                    f"({first_line}); tracing again with it static"
                )
                types = self._arg_types(tensors)
                return self._trace_falling_back(spec, self._signature(spec, types, tensors), types, tensors)
            reason = f"failed with the batch size symbolic ({type(error).__name__}: {first_line})"
        self._static = True
        self.recompilations.append(f"trace {self.trace_count}: {reason}; tracing again with static sizes")
        types = self._arg_types(tensors)
        try:
            return self._trace(spec, self._signature(spec, types, tensors), types, tensors)
        except FunctionFailed as failed:
            # Wrong with static sizes too: the function's own error, which says nothing about sizes.
            self._static = False
            self.recompilations.pop()
            raise failed.error from None

    def _backend(self, leaves: list[Node]) -> str:
        """"auto": triton for CUDA data, otherwise the process default (GRAPHC_BACKEND, use_backend; numpy).

        The data is every leaf of the program, not only the arguments: an optimizer step
        called without arguments reads CUDA parameters, gradients and moments, and
        compiling it for NumPy would copy them to the CPU and leave them there.
        """
        if self.backend == "numpy" and lazy.on_cuda(leaves):
            on_gpu = next(leaf for leaf in leaves if lazy.on_cuda([leaf]))
            code = getattr(self.fn, "__code__", None)
            where = f" (defined at {code.co_filename}:{code.co_firstlineno})" if code else ""
            raise GraphcError(
                f"graphc.compile(backend='numpy'): {getattr(self.fn, '__name__', self.fn)}{where} reads a CUDA tensor "
                f"({on_gpu.type}); the NumPy backend runs on the CPU and would move it there. "
                "Use backend='auto' or 'triton', or move the data with .to('cpu')"
            )
        if self.backend != "auto":
            return self.backend
        return "triton" if lazy.on_cuda(leaves) else default_backend()

    def _trace(self, spec: Any, signature: tuple, types: list[TensorType], tensors: list[Tensor]) -> Any:
        self.trace_count += 1
        if self.trace_count == MANY_TRACES:
            log.warning(
                "graphc: %s has been traced %d times, each a new program; the latest reasons: %s (report().recompilations lists them all)",
                getattr(self.fn, "__name__", self.fn),
                self.trace_count,
                "; ".join(self.recompilations[-3:]),
            )
        if debug_level() >= 1:
            log.warning("graphc: tracing %s (trace %d) for inputs %s", getattr(self.fn, "__name__", self.fn), self.trace_count, ", ".join(map(str, types)))
        trace = Trace()
        standins: list[Tensor] = []
        histories: dict[int, Tensor] = {}  # arguments with a history outside the call: the leaf their stand-in is read from
        for position, (t, ty) in enumerate(zip(tensors, types)):
            if signature[5][position] != position:  # the same tensor again: the same stand-in
                standins.append(standins[signature[5][position]])
                continue
            t.realize()
            node = source_node(ty, requires_grad=t.requires_grad, data=t._node.data)
            trace.standins.add(id(node))
            standin = Tensor._from_node(node)
            trace.on_create(standin)
            if t.requires_grad:
                tracing.register_leaf(standin)
            if t.requires_grad and not t.is_leaf:
                histories[position] = standin
                standin = _non_leaf_standin(trace, t, standin)
            elif t._grad is not None:
                standin._grad = self._grad_standin(trace, t._grad, ty)
            standin.__dict__["_argument"] = True  # the caller's tensor inside the function (set_ refuses it)
            if signature[7][position] is not None:  # the argument's strides: torch's view and reshape of it decide by them
                views.set_root_layout(standin, (signature[7][position], views.layout_of(t)[1]))
            standins.append(standin)
        # What each argument's .grad was: backward() replaces a None one and adds in place to another.
        grads_before = [(s._grad, s._grad._node if s._grad is not None else None) for s in standins]
        nodes_before = [s._node for s in standins]
        inputs = [histories[i]._node if i in histories else node for i, node in enumerate(nodes_before)]
        trace.arguments = {id(t): (t, i) for i, t in enumerate(tensors)}
        tracing.set_active(trace)
        try:
            args, kwargs = _unflatten(spec, standins)  # in the trace: host fields become its constants
            result = self.fn(*args, **kwargs)
            _refuse_symbolic_sizes(result, "a result of the function")
            for obj, _, _ in trace.objects_used():
                _refuse_symbolic_sizes(getattr(obj, "__dict__", {}), f"an attribute of the {type(obj).__name__} it uses")
            result_aliases = _result_aliases(result, standins, trace)
            _release_views(trace)  # in the trace: a view read again here may need static sizes (views.reshaped)
        except Exception as error:
            trace.undo()
            raise FunctionFailed(error) from error
        except BaseException:
            trace.undo()
            raise
        finally:
            tracing.set_active(None)
        for position, leaf in histories.items():  # the gradient that reached such an argument is a result, as a leaf's .grad
            standins[position]._grad = leaf._grad
        outputs: list[Tensor] = []
        output_spec = _flatten(result, outputs)
        del args, kwargs, result  # host fields taken by value (_flatten) are constants only if nothing holds them
        new_state = _alive_after_collecting(trace, outputs, [*standins, *histories.values()])
        attributes, rebound = _bound_attributes(trace, new_state, outputs)
        new_state = [t for t in new_state if all(t is not tensor for _, tensor in attributes)]
        # An argument's .grad the function changed (its backward() reached the argument): a result too.
        arg_grads = [i for i, s in enumerate(standins) if s._grad is not None and not _same_grad(s._grad, grads_before[i])]
        arg_writes = [i for i, s in enumerate(standins) if s._node is not nodes_before[i]]
        arg_leaves = frozenset(i for i in arg_writes if standins[i]._node.requires_grad and standins[i].is_leaf)
        _refuse_writes_to_views_of_one_another(self.fn, tensors, arg_writes, trace)
        args_reshaped = {i: views.root_layout(standins[i]) for i in arg_writes if standins[i].__dict__.get("_shape_changed")}
        try:
            _refuse_reshaping_viewed_arguments(self.fn, tensors, args_reshaped)
        except GraphcError:
            trace.undo()
            raise
        if new_state or rebound or trace.python_writes:
            self._ran_eagerly[signature] = "the previous trace of this signature created state and ran eagerly; tracing with that state"
            callers = {id(node): t._node for node, t in zip(inputs, tensors)}
            _rejoin_callers([standins[i]._node for i in arg_writes if i in histories], callers)  # their new values' history
            for i in arg_writes:
                _write_argument(tensors[i], standins[i]._node, i in arg_leaves, args_reshaped, i)
            if new_state:
                why = f"it created {len(new_state)} new state tensor(s)"
            elif rebound:
                why = f"it bound module attribute(s) {', '.join(rebound)} to tensors from outside the call, which a program cannot return"
            else:  # a replay would leave that state (a scheduler's last_epoch and the lr it sets) as the trace left it
                why = f"it assigned {trace.python_writes[0]}, Python state that a replay of the program would not change"
                self._ran_eagerly[signature] = f"the previous trace of this signature ran eagerly because {why}; tracing again"
            outputs = self._run_eagerly(trace, outputs, new_state, [(tensors[i], standins[i]) for i in arg_grads], why, callers)
            return _unflatten(output_spec, _aliased(outputs, result_aliases, tensors, tuple(types)))
        self._ran_eagerly.pop(signature, None)
        arguments = Arguments(
            inputs={id(node): i for i, node in enumerate(inputs)},
            grad_inputs={id(node): i for i, (_, node) in enumerate(grads_before) if node is not None},
            grads=[standins[i]._grad._node for i in arg_grads],
            writes=[standins[i]._node for i in arg_writes],
        )
        entry = self._build(trace, signature, arguments, (arg_grads, arg_writes, arg_leaves, args_reshaped), outputs, (output_spec, result_aliases), attributes)
        entry.repeated = _repeated(outputs)
        self.entries.append(entry)
        self._last = entry
        if entry.outputs_require_grad and is_grad_enabled():
            return self._inline(entry, tensors)
        return self._replay(entry, tensors)

    @staticmethod
    def _grad_standin(trace: Trace, grad: Tensor, arg_type: TensorType) -> Tensor:
        """A stand-in for an argument's existing ``.grad``, so a backward() inside adds to it as in eager code."""
        grad.realize()
        node = source_node(TensorType(arg_type.shape, grad.dtype), data=grad._node.data)
        trace.standins.add(id(node))
        standin = Tensor._from_node(node)
        trace.on_create(standin)
        return standin

    def _run_eagerly(
        self,
        trace: Trace,
        outputs: list[Tensor],
        new_state: list[Tensor],
        arg_grads: list[tuple[Tensor, Tensor]],
        why: str,
        callers: dict[int, Node],
    ) -> list[Tensor]:
        """A call that creates state (an optimizer's first step) runs eagerly; the next call traces again.

        ``callers`` maps each stand-in's node to the caller's tensor's node it stood in for."""
        self.recompilations.append(f"trace {self.trace_count}: ran eagerly because {why}")
        pending = [t._node for t in outputs + new_state]
        histories = []
        for tensor, standin in arg_grads:
            if tensor.is_leaf:
                tensor._grad = Tensor._from_node(standin._grad._node)
            else:
                histories.append((Tensor._from_node(trace.history_values[id(tensor)]), Tensor._from_node(standin._grad._node)))
            pending.append(standin._grad._node)
        pending += [t._node for t, _ in trace.assigned_alive()]
        pending += [t._grad._node for t, _ in trace.grads_set.values() if t._grad is not None]
        lazy.realize(pending + trace.differentiated)
        _rejoin_callers(pending + trace.differentiated, callers)
        for tensor in outputs + new_state:  # an argument returned as it came
            tensor._node = callers.get(id(tensor._node), tensor._node)
        _continue_backward(histories)
        return outputs

    def _build(
        self,
        trace: Trace,
        signature: tuple,
        arguments: Arguments,
        arg_results: tuple[list[int], list[int], frozenset[int], frozenset[int]],
        outputs: list[Tensor],
        output_spec: tuple[Any, dict[int, ResultAlias]],
        attributes: list[tuple[tuple[Any, str], Tensor]],
    ) -> Entry:
        """The compiled program of a finished trace, with where each of its inputs comes from on later calls.

        ``arg_results`` lists the arguments whose ``.grad`` is a result, those whose new value
        (changed in place) is, which of those become leaves that require grad and which changed shape; ``arguments`` holds their nodes.
        ``output_spec`` is the results' structure and which of them alias the caller's tensors.
        """
        arg_grads, arg_writes, arg_leaves, args_reshaped = arg_results
        # An existing .grad that backward() added to in place is reached through its owner on later
        # calls (its current .grad), not as this tensor object: zero_grad() between calls replaces it.
        grad_of = {id(t._grad): t for t, was_none in trace.grad_reads.values() if not was_none and t._grad is not None}
        # A tensor made from data and returned is a constant or computed value of each call, not state read or written back.
        results = frozenset(id(o) for o in outputs)
        assigned = trace.assigned_alive(results)
        state = [t for t, _ in assigned if id(t) not in grad_of]
        grads_added = [grad_of[id(t)] for t, _ in assigned if id(t) in grad_of]
        grad_owners = [t for t, _ in trace.grads_set.values()]
        result_nodes = [o._node for o in outputs] + [t._node for t in state] + [t._grad._node for t in grads_added]
        result_nodes += [t._grad._node for t in grad_owners if t._grad is not None]
        result_nodes += arguments.grads + arguments.writes
        output_ids = {id(o): i for i, o in enumerate(outputs)}
        result_nodes += [tensor._node for _, tensor in attributes if id(tensor) not in output_ids]
        # Computed for their checks only (Trace.differentiated); _write_back hands out the results before them.
        result_nodes += [n for n in trace.differentiated if n.data is None and _has_checks(n)]
        graph, leaves = lazy.pending_graph(result_nodes)
        unbound = _unbound_sizes(graph)
        if unbound:
            trace.undo()
            reason = "a random tensor shaped like an unused argument, a size used as a number by itself"
            raise tracing.SizeRead(f"the program's size {unbound} is no size of an input it reads ({reason})")
        reads = trace.outside_reads(results)
        read_by_node = {id(node): tensor for tensor, node in reads}
        # A tensor read that the function then replaced as a module's attribute is read through the attribute.
        attribute_of = {id(old): (owner, name) for owner, name, old in trace.attributes_set.values() if old is not None}
        feeds = []
        for leaf in leaves:
            read = read_by_node.get(id(leaf))
            if read is not None and id(read) in attribute_of:
                owner, name = attribute_of[id(read)]
                feeds.append(Feed("attribute", owner=weakref.ref(owner), name=name))
            elif id(leaf) in arguments.inputs:
                feeds.append(Feed("arg", index=arguments.inputs[id(leaf)]))
            elif id(leaf) in arguments.grad_inputs:
                feeds.append(Feed("arg_grad", index=arguments.grad_inputs[id(leaf)]))
            elif is_seed(leaf):
                feeds.append(Feed("seed"))
            elif id(leaf) in read_by_node and id(read_by_node[id(leaf)]) in grad_of:
                feeds.append(Feed("grad_of", tensor=weakref.ref(grad_of[id(read_by_node[id(leaf)])])))
            elif id(leaf) in read_by_node:
                feeds.append(Feed("tensor", tensor=weakref.ref(read_by_node[id(leaf)])))
            else:
                feeds.append(Feed("const", data=leaf.data))
        # A .grad read through its owner is guarded by the owner's grad_none guard (and its type by the setter).
        guards: list = [(weakref.ref(t), "read", (node.type, node.requires_grad)) for t, node in reads if id(t) not in grad_of | attribute_of.keys()]
        for t, node in reads:
            if id(t) in attribute_of:
                owner, name = attribute_of[id(t)]
                guards.append((weakref.ref(owner), "attribute", (name, node.type, node.requires_grad)))
        guards += [(weakref.ref(obj), "state", StateSeen(state, version)) for obj, state, version in trace.objects_used()]
        guards += [(weakref.ref(t), "grad_none", was_none) for t, was_none in trace.grad_reads.values()]
        guards += [(weakref.ref(t), "value", value) for t, value in trace.values_read.values()]
        has_grad = [t._grad is not None for t in grad_owners]
        backend = self._backend(leaves)
        program = compile_graph(graph, backend=backend, fusion=self.fusion, remat=self.remat)
        # Whether each new value is a leaf that requires grad, as the function left it (p.requires_grad_(False)
        # included): read before the tensors get their values from before the trace back.
        state_flags = [(weakref.ref(t), t._node.requires_grad and t.is_leaf) for t in state]
        for t, node in assigned:
            t._node = node
        for t, old in trace.grads_set.values():
            t._grad = old
        for owner, name, old in trace.attributes_set.values():
            bind_attribute(owner, name, old)
        return Entry(
            signature=signature,
            guards=guards,
            program=program,
            feeds=feeds,
            output_spec=output_spec[0],
            num_outputs=len(outputs),
            state=state_flags,
            grads_added=[weakref.ref(t) for t in grads_added],
            grads=[(weakref.ref(t), flag) for t, flag in zip(grad_owners, has_grad)],
            arg_grads=arg_grads,
            arg_writes=arg_writes,
            arg_leaves=arg_leaves,
            args_reshaped=args_reshaped,
            attributes=[BoundAttribute(weakref.ref(owner), name, output_ids.get(id(tensor))) for (owner, name), tensor in attributes],
            traced_graph=graph,
            # A function that runs backward() itself returns final values; one that does not (a model's
            # forward) returns values the caller may differentiate, so calls rebuild them lazily.
            # So does one that changes an argument with a history in place: its new value continues that history.
            outputs_require_grad=(not grad_owners and not grads_added and any(o._node.requires_grad for o in outputs))
            or any(signature[2][i] == "history" for i in arg_writes),
            result_aliases=output_spec[1],
            tensor_hooks=autograd.hook_registrations() if trace.differentiated else None,
        )

    def _input_values(self, entry: Entry, tensors: list[Tensor]) -> list[Any]:
        """The program's inputs for this call: realized data for the feeds.

        The tensors' nodes are realized together, by one ``lazy.realize`` (one program for all the
        pending ones, nothing for the others), then read: one call where there was one per feed.
        """
        values: list[Any] = []
        nodes: list[Node] = []
        for feed in entry.feeds:
            kind = feed.kind
            if kind == "seed":
                values.append(np.array(next_seed(), dtype=np.int64))
            elif kind == "const":
                values.append(feed.data)
            else:
                if kind == "arg":
                    tensor = tensors[feed.index]
                else:  # most are "tensor" feeds, weights: read here, the others (and a freed one's error) by _feed_tensor
                    tensor = feed.tensor() if kind == "tensor" and feed.tensor is not None else None
                    if tensor is None:
                        tensor = self._feed_tensor(feed, tensors)
                node = tensor._node
                nodes.append(node)
                values.append(node)
        if nodes:
            lazy.realize(nodes)
            values = [value.data if type(value) is Node else value for value in values]
        return values

    def _feed_tensor(self, feed: Feed, tensors: list[Tensor]) -> Tensor:
        if feed.kind == "arg":
            return tensors[feed.index]
        if feed.kind == "arg_grad":
            grad = tensors[feed.index]._grad
            assert grad is not None  # the signature holds which arguments have a .grad
            return grad
        if feed.kind == "attribute":
            assert feed.owner is not None and feed.owner() is not None  # its "attribute" guard held
            return attribute(feed.owner(), feed.name)
        if feed.kind == "grad_of":
            owner = feed.tensor() if feed.tensor is not None else None
            if owner is None or owner._grad is None:  # the owner's grad_none guard held: not reached
                raise GraphcError("graphc.compile: a tensor whose .grad the compiled function adds to was freed")
            return owner._grad
        assert feed.tensor is not None
        tensor = feed.tensor()
        if tensor is None:
            raise GraphcError("graphc.compile: a tensor the compiled function reads was freed")
        return tensor

    def _replay(self, entry: Entry, tensors: list[Tensor]) -> Any:
        values = self._input_values(entry, tensors)
        results = entry.program(values)
        if self.check:
            self._check(entry, values, results)
        nodes = [Node("input", (), {}, ty, data=r) for ty, r in zip(_result_types(entry, results), results)]  # source_node's
        return self._write_back(entry, nodes, tensors)

    def _inline(self, entry: Entry, tensors: list[Tensor]) -> Any:
        """Rebuild the traced graph on this call's inputs as lazy nodes, so autograd can continue
        through the results (backward() outside the compiled function). The lazy runtime caches
        programs by structure, so this still compiles once."""
        graph = entry.traced_graph
        sizes: dict[sympy.Symbol, int] = {}
        for placeholder, feed in zip(graph.inputs, entry.feeds):
            if feed.kind == "arg":
                for dim, actual in zip(placeholder.shape, tensors[feed.index].shape):
                    if isinstance(dim, sympy.Symbol):
                        sizes[dim] = actual
        mapping: dict[int, Node] = {}
        for placeholder, feed in zip(graph.inputs, entry.feeds):
            if feed.kind == "seed":
                mapping[id(placeholder)] = seed_node()
            elif feed.kind == "const":
                mapping[id(placeholder)] = source_node(placeholder.type, data=feed.data)
            else:
                mapping[id(placeholder)] = tracing.read(self._feed_tensor(feed, tensors))
        nodes = graph.nodes[len(graph.inputs) :]
        key = tuple(sizes.values())
        all_attrs = entry.inline_attrs.get(key)
        if all_attrs is None:  # sympy's subs, on every call: about a third of the time this loop took
            if len(entry.inline_attrs) >= INLINE_SIZES_KEPT:
                entry.inline_attrs.clear()
            all_attrs = entry.inline_attrs[key] = [{k: _substitute(v, sizes) for k, v in node.attrs.items()} for node in nodes]
        grad_enabled = is_grad_enabled()
        try:
            for node, attrs in zip(nodes, all_attrs):
                # A node recorded under no_grad stays out of autograd's reach here too (the mode set directly:
                # a grad_mode block per node cost as much as emitting it).
                set_grad_enabled(node.requires_grad)
                made = emit(node.op, *[mapping[id(i)] for i in node.inputs], **attrs)
                if node.op == "detach" and node.requires_grad:  # a leaf the function made (requires_grad_(), changed under no_grad)
                    made.requires_grad = True  # is one here too, so the loss and the tensor's new value share it
                mapping[id(node)] = made
        finally:
            set_grad_enabled(grad_enabled)
        if self.check:  # the caller's values come later, from the lazy graph: check the program on this call's inputs
            values = self._input_values(entry, tensors)
            self._check(entry, values, entry.program(values))
        return self._write_back(entry, [mapping[id(n)] for n in graph.outputs], tensors)

    def _check(self, entry: Entry, values: list[Any], results: list[Any]) -> None:
        """Check mode: raise CheckError naming the first IR node whose value differs from eager PyTorch."""
        if entry.checker is None:
            backend = entry.program.backend
            entry.checker = Checker(entry.traced_graph, lambda graph: compile_graph(graph, backend=backend, fusion=self.fusion))
        entry.checker(values, results, entry.program.bind(values))

    def _write_back(self, entry: Entry, nodes: list[Node], tensors: list[Tensor]) -> Any:
        """Hand the results to the caller and write the new state and gradients into their tensors."""
        if entry.args_reshaped:
            _refuse_reshaping_viewed_arguments(self.fn, tensors, entry.args_reshaped)
        outputs = [Tensor._from_node(n) for n in nodes[: entry.num_outputs]]
        position = entry.num_outputs
        for ref, leaf_requires_grad in entry.state:
            tensor, node = ref(), nodes[position]
            position += 1
            if tensor is None:
                continue
            if leaf_requires_grad and not _new_leaf(node):
                node = node if node.data is not None else emit("detach", node)
                node.requires_grad = True
            tensor._node = node
            if leaf_requires_grad:
                tracing.register_leaf(tensor)
        for ref in entry.grads_added:
            owner, node = ref(), nodes[position]
            position += 1
            if owner is not None and owner._grad is not None:
                owner._grad._node = node
        for ref, has_grad in entry.grads:
            tensor = ref()
            if not has_grad:
                if tensor is not None:
                    tensor._grad = None
                continue
            node = nodes[position]
            position += 1
            if tensor is None:
                continue
            if tensor._grad is None:
                tensor._grad = Tensor._from_node(node)
            else:
                tensor._grad._node = node
        histories = []
        for index in entry.arg_grads:
            if tensors[index].is_leaf:
                tensors[index]._grad = Tensor._from_node(nodes[position])
            else:  # from the value the function was given, before any in-place change of it below
                histories.append((Tensor._from_node(tensors[index]._node), Tensor._from_node(nodes[position])))
            position += 1
        for index in entry.arg_writes:
            _write_argument(tensors[index], nodes[position], index in entry.arg_leaves, entry.args_reshaped, index)
            position += 1
        outputs = _aliased(outputs, entry.result_aliases, tensors, entry.signature[1])
        for index, first in entry.repeated.items():
            outputs[index] = outputs[first]
        for bound in entry.attributes:
            if bound.output is None:
                value = Tensor._from_node(nodes[position])
                position += 1
            else:
                value = outputs[bound.output]
            owner = bound.owner()
            if owner is not None:
                bind_attribute(owner, bound.name, value)
        _continue_backward(histories)
        return _unflatten(entry.output_spec, outputs)

    def profile(self, *args: Any, steps: int = 20, **kwargs: Any) -> Profile:
        """Time each kernel inside ``steps`` real calls, after two untimed ones.

        Two, because a training step's first call creates the optimizer's state eagerly and
        its second compiles. The calls happen: a training step trains ``steps + 2`` times.
        ``str()`` of the result is a table of kernels by time (``graphc.runtime.profile``).
        """
        self(*args, **kwargs)
        self(*args, **kwargs)
        entry = self._last
        if entry is None:
            raise GraphcError("profile(): the function ran eagerly and has no compiled program to time")
        tensors: list[Tensor] = []
        _flatten((args, kwargs), tensors, arguments=True)
        program = entry.program
        sync = device_sync(program.backend, self._input_values(entry, tensors))
        return profile_calls(lambda: self(*args, **kwargs), program.module, program.program.kernels, program.backend, steps, sync)

    def __getattr__(self, name: str) -> Any:
        """A compiled ``graphc.nn.Module`` stands for the module, as torch.compile's ``OptimizedModule`` does:
        after ``model = graphc.compile(model)``, ``model.eval()``, ``model.parameters()`` and ``model.state_dict()``
        are the module's (its keys have no ``_orig_mod.`` prefix, unlike torch's). Special names are not
        delegated: ``copy`` and ``pickle`` must not take the module for the compiled function."""
        fn = self.__dict__.get("fn")
        if not name.startswith("__") and _is_module(fn):
            return getattr(fn, name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def report(self) -> CompileReport:
        if self._last is None and self.recompilations:
            raise GraphcError(f"report(): every call so far ran eagerly, so there is no compiled program yet ({self.recompilations[-1]})")
        if self._last is None:
            raise GraphcError("report(): the compiled function has not been called yet")
        report = self._last.program.report
        report.recompilations = list(self.recompilations)
        return report


def _repeated(outputs: list[Tensor]) -> dict[int, int]:
    """The results that are the same tensor as an earlier one (``return z, z``), by position: each call returns
    that one tensor again, as eager code does, so an in-place change of either is the other's too."""
    first: dict[int, int] = {}
    return {position: first[id(t)] for position, t in enumerate(outputs) if first.setdefault(id(t), position) != position}


def _is_module(value: Any) -> bool:
    from graphc.runtime.nn.module import Module  # graphc.runtime.nn imports the runtime this module is part of

    return isinstance(value, Module)


def _result_types(entry: Entry, results: list[Any]) -> list[TensorType]:
    """The types of a call's results: each output node's own where its shape is concrete (most are: weights,
    gradients), the result's shape otherwise; made once per shapes of those (a type costs about 1 us)."""
    symbolic = entry.program.symbolic_outputs
    key = tuple(results[i].shape for i in symbolic)
    types = entry.result_types.get(key)
    if types is None:
        if len(entry.result_types) >= INLINE_SIZES_KEPT:
            entry.result_types.clear()
        types = [node.type for node in entry.program.program.graph.outputs]
        for i in symbolic:
            types[i] = TensorType(tuple(results[i].shape), types[i].dtype)
        entry.result_types[key] = types
    return types


def _bound_attributes(trace: Trace, new_state: list[Tensor], outputs: list[Tensor]) -> tuple[list[tuple[tuple[Any, str], Tensor]], list[str]]:
    """The module attributes the function bound to tensors it computed, which later calls bind to
    their own results; and those bound to tensors from outside the call, which no program returns.

    A tensor that requires grad (the weight a ``weight_norm`` hook recomputes) is bound too when
    its history is either rebuilt or spent: calls whose results require grad rebuild the graph
    lazily, so it keeps its history; after a function that ran backward() itself it is a value
    without history (eager torch's graph of it was freed by that backward). Otherwise it stays
    new state (the call runs eagerly): a result of the program has no history to differentiate.
    """
    computed = {id(t) for t in new_state} | {id(t) for t in outputs}
    history_kept_or_spent = bool(trace.differentiated) or any(o.requires_grad for o in outputs)
    bound, rebound = [], []
    for owner, name, old in trace.attributes_set.values():
        value = attribute(owner, name)
        if value is old or not isinstance(value, Tensor):
            continue
        if id(value) in computed and (history_kept_or_spent or not value.requires_grad):
            bound.append(((owner, name), value))
        elif id(value) not in computed:
            rebound.append(f"{type(owner).__name__}.{name}")
    return bound, rebound


def _rejoin_callers(targets: list[Node], callers: dict[int, Node]) -> None:
    """The history an eager run leaves behind, read from the caller's tensors and typed with the call's sizes.

    The run is not replayed (the next call traces again), but its results, new state and their
    history outlive it: a later ``backward()`` must reach the caller's tensors, not the trace's
    stand-ins for them, and ``shape`` must read ``(3, 4)``, not the trace's ``(B, 4)``.
    """
    nodes: list[Node] = []
    seen: set[int] = set()
    stack = list(targets)
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            nodes.append(node)
            stack.extend(node.inputs)
    for node in nodes:
        node.inputs = tuple(callers.get(id(i), i) for i in node.inputs)
    bindings: dict[str, int] = {}
    for node in nodes:
        if node.data is not None:
            for dim, size in zip(node.type.shape, node.data.shape):
                if isinstance(dim, sympy.Symbol):
                    bindings[str(dim)] = int(size)
    for node in nodes:
        if free_symbols(node.type.shape):
            node.type = dataclasses.replace(node.type, shape=evaluate_shape(node.type.shape, bindings))
        node.attrs = {key: evaluate_sizes(value, bindings) for key, value in node.attrs.items()}


def _has_checks(node: Node) -> bool:
    """Whether computing ``node`` from the call's values runs a check (a gather's index, an integer
    division): only then is a value the function dropped worth computing (a softmax's output,
    written only to be dropped, cost 20% of its compiled step)."""
    stack, seen = [node], set()
    while stack:
        current = stack.pop()
        if id(current) in seen or current.data is not None:
            continue
        seen.add(id(current))
        if current.op in CHECKED:
            return True
        stack.extend(current.inputs)
    return False


def _describe(value: Any) -> str:
    return str(value._node.type) + (" requiring grad" if value.requires_grad else "") if isinstance(value, Tensor) else type(value).__name__


def _grad_kind(tensor: Tensor) -> str:
    """How a tensor argument takes part in autograd, for the signature: a backward() inside sets a leaf's
    ``.grad`` but continues into the history of one that is no leaf (``_continue_backward``)."""
    if not tensor.requires_grad:
        return "none"
    return "leaf" if tensor.is_leaf else "history"


def _non_leaf_standin(trace: Trace, tensor: Tensor, leaf: Tensor) -> Tensor:
    """The stand-in of an argument that requires grad and has a history outside the call (an encoder's
    output given to a compiled head step): no leaf, as the caller's tensor is none (in-place ops on it are
    allowed, and its ``.grad`` stays None), read from ``leaf``, a hidden leaf that collects the gradient a
    backward() inside sends it. After the call that gradient continues into the history, as torch's
    backward() would have gone on; until then a ``.grad`` there lacks it, so the trace refuses to read one."""
    with grad_mode(True):
        standin = Tensor._from_node(emit("custom_vjp", leaf._node, leaf._node, rule="first_only"))
    trace.on_create(standin)
    trace.on_history(tensor, leaf, _history_leaves(tensor._node))
    return standin


def _history_leaves(node: Node) -> list[Tensor]:
    """The tensors whose ``.grad`` a backward() from ``node`` sets: the leaves that require grad it was computed from."""
    leaves, stack, seen = [], [node], set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        owner = tracing.leaf_owner(current)
        if owner is not None and current.requires_grad and current.is_leaf:
            leaves.append(owner)
        elif not current.is_leaf:
            stack.extend(current.inputs)
    return leaves


def _continue_backward(histories: list[tuple[Tensor, Tensor]]) -> None:
    """Send the gradients a backward() inside gave arguments that are no leaves on into their history:
    the parameters that made them get their ``.grad`` as from one eager backward() (torch's)."""
    if histories:
        autograd.backward([value for value, _ in histories], [grad for _, grad in histories])


def _write_argument(tensor: Tensor, node: Node, leaf: bool, reshaped: dict[int, views.Layout], index: int) -> None:
    """An argument the function changed in place takes its new value (and so does the tensor it views);
    one it made a ``leaf`` that requires grad (R1's ``real.requires_grad_()``) is one afterwards, as in torch.
    One whose shape it changed (``x.t_()``) takes the strides its stand-in ended with, as torch's does."""
    if index in reshaped and tensor._view is None:
        views.set_root_layout(tensor, None)  # the new value's shape first: its strides are set below
    if leaf and tensor._view is None and _new_leaf(node):  # the leaf the results' history starts from (_inline)
        tensor._node = node
        tracing.register_leaf(tensor)
    else:
        _write_value(tensor, node, leaf)
    if index in reshaped and tensor._view is None:
        views.set_root_layout(tensor, reshaped[index])


def _write_value(tensor: Tensor, node: Node, leaf: bool) -> None:
    """The argument's new value, written as an in-place change: one with a history outside the call keeps its gradient
    path through the function's change, as torch's."""
    with grad_mode(is_grad_enabled() and not tensor.is_leaf):
        tensor._assign_value(node)
    if leaf and not tensor.requires_grad:
        tensor.requires_grad_(True)


def _new_leaf(node: Node) -> bool:
    """A leaf that requires grad made by the function, rebuilt by ``_inline``: results a backward() outside
    differentiates use this very node, so the tensor takes it (a detached copy would get no gradient)."""
    return node.requires_grad and node.is_leaf and node.data is None


def _unbound_sizes(graph: Graph) -> str:
    """A symbolic size the program uses that no input's shape gives (so no call could bind it), if any."""
    bound = set().union(*(free_symbols(n.shape) for n in graph.inputs)) if graph.inputs else set()
    for node in graph.nodes:
        # a size node's value too: graphc.ones(()) * x.size(0) reads no input, so nothing binds B
        attrs = [item for value in node.attrs.values() for item in (value if isinstance(value, (tuple, list)) else (value,))]
        missing = (free_symbols(node.shape) | free_symbols(tuple(attrs))) - bound
        if missing:
            return str(sorted(missing, key=str)[0])
    return ""


def _new_signature(signature: tuple, traced: list[tuple]) -> str:
    """Why no traced signature fits: the part in which the nearest one differs."""
    spec, types, requires_grad, grad_mode, has_grads, _, autocast, strides = signature
    for other in traced:
        if other[:7] == signature[:7]:
            changed = [i for i, (now, then) in enumerate(zip(strides, other[7])) if now != then]
            return f"tensor argument(s) {', '.join(map(str, changed))} have other strides than when traced ({_strides_text(strides, other[7], changed[0])})"
        if other[:6] == signature[:6]:
            return f"autocast is {_autocast_mode(autocast)}, and was {_autocast_mode(other[6])} when traced"
        if other[:5] == signature[:5]:
            return "which tensor arguments are one and the same tensor differs from when traced"
        if other[:3] == (spec, types, requires_grad) and other[4] == has_grads:
            return f"grad mode is {'on' if grad_mode else 'off (no_grad)'}, and was not when traced"
        if other[:2] == (spec, types) and other[2] != requires_grad and all((now == "none") == (then == "none") for now, then in zip(requires_grad, other[2])):
            changed = [i for i, (now, then) in enumerate(zip(requires_grad, other[2])) if now != then]
            history = "have a history outside the function (they are no leaf) where they were a leaf when traced, or the reverse"
            return f"tensor argument(s) {', '.join(map(str, changed))} {history}"
        if other[:4] == (spec, types, requires_grad, grad_mode):
            changed = [i for i, (now, then) in enumerate(zip(has_grads, other[4])) if now != then]
            return f"tensor argument(s) {', '.join(map(str, changed))} have a .grad now where they had none when traced, or the reverse"
        if other[1:] == signature[1:]:
            return "a non-tensor argument (a Python number, list, string) differs from every traced call: the program holds such values as constants"
    return f"new input signature {tuple(str(t) for t in types)}"


def _strides_key(tensor: Tensor) -> tuple[int, ...] | None:
    """An argument's strides where torch's are not row-major (``x.t()``, ``x[:, 1:]``, ``x.expand(...)``, a tensor after
    ``t_()``), for the signature and its stand-in; None for a contiguous one (or one whose layout graphc does not know)."""
    if views.is_contiguous(tensor):
        return None
    layout = views.layout_of(tensor)
    return None if layout is None else layout[0]


def _strides_text(now: tuple, then: tuple, i: int) -> str:
    def text(strides: tuple[int, ...] | None) -> str:
        return "contiguous" if strides is None else f"strides {strides}"

    return f"argument {i} is {text(now[i])}, and was {text(then[i])} when traced"


def _autocast_mode(key: tuple) -> str:
    return " and ".join(f"{device} {dtype}" for device, dtype in key) if key else "off"


def _same_grad(grad: Tensor, before: tuple[Tensor | None, Node | None]) -> bool:
    """Whether ``grad`` is the tensor ``before`` names, still holding the node it held (by identity)."""
    return grad is before[0] and grad._node is before[1]


def _state_change(before: tuple, after: tuple) -> str:
    """The first attribute of a ``_trace_state()`` that differs, for the recompilation's reason."""
    for old, new in zip(before, after):
        if old != new:
            return f"{old} -> {new}"
    return f"{len(before)} -> {len(after)} entries"


def _substitute(value: Any, sizes: dict[sympy.Symbol, int]) -> Any:
    """An attribute with its symbolic sizes replaced by this call's sizes."""
    if isinstance(value, tuple):
        return tuple(_substitute(v, sizes) for v in value)
    if isinstance(value, sympy.Basic):
        return int(value.subs(sizes))
    return value

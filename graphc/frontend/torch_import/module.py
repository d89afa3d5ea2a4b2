"""``graphc.compile(torch_module)``: a ``torch.nn.Module`` that runs graphc programs.

The returned module shares the original's parameters, buffers and submodules
(the same objects, under the same names), so optimizers, ``state_dict`` and
``load_state_dict`` work on either. Each call looks up the program for the
module's train/eval mode and the call's input types (exporting and compiling on
a miss), feeds it the current parameter and buffer values, writes mutated
buffers back (batch norm's running statistics), and returns torch tensors.
When gradients are wanted the program runs inside a ``torch.autograd.Function``
whose backward is graphc's compiled backward graph.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy
import torch
from torch.utils import _pytree as pytree

from graphc.errors import GraphcError
from graphc.frontend.torch_import.exporter import batch_positions, export
from graphc.frontend.torch_import.guards import ModuleState, changes, tensor_attribute
from graphc.frontend.torch_import.importer import ImportedGraph, import_program
from graphc.frontend.torch_import.programs import TrainingPrograms, build_training, inference_graph, tensor_outputs
from graphc.ir.graph import Graph, Node
from graphc.ir.types import evaluate_shape
from graphc.runtime.executor import CompiledProgram, compile_graph
from graphc.runtime.profile import Profile, TimedProgram, device_sync, profile_programs
from graphc.runtime.random import next_seed
from graphc.runtime.report import ProgramsReport

log = logging.getLogger("graphc")
# Exports of one module after which graphc warns once: something the cache key holds changes on every
# call (a Python attribute of the module that the training loop sets, a new input shape).
MANY_EXPORTS = 8

# ------------------------------------------------------------------ moving values between torch and a backend


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    tensor = tensor.detach()
    if tensor.device.type != "cpu":
        raise GraphcError(f"the numpy backend runs on the CPU, but got a tensor on {tensor.device}; use backend='triton' or move it")
    if tensor.dtype == torch.bfloat16:
        from graphc.ir.dtypes import bfloat16

        return tensor.view(torch.int16).numpy().view(bfloat16.numpy)
    return tensor.numpy()


def _from_numpy(array: Any) -> torch.Tensor:
    array = np.asarray(array)
    if array.dtype.name == "bfloat16":
        return torch.from_numpy(np.ascontiguousarray(array).view(np.int16)).view(torch.bfloat16)
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(array)


@dataclass(frozen=True)
class Transfer:
    """How torch tensors become program values and back, for one backend."""

    to_program: Callable[[torch.Tensor], Any]
    from_program: Callable[[Any], torch.Tensor]
    constant: Callable[[np.ndarray], Any]
    seed: Callable[[int], Any]


def _seed(value: int) -> np.ndarray:
    return np.array(value, dtype=np.int64)


NUMPY = Transfer(_to_numpy, _from_numpy, lambda a: a, _seed)
# Triton programs take torch tensors and move NumPy constants and seeds to their device themselves.
TORCH = Transfer(lambda t: t.detach(), lambda t: t if isinstance(t, torch.Tensor) else _from_numpy(t), lambda a: a, _seed)


def transfer_for(backend: str) -> Transfer:
    return NUMPY if backend == "numpy" else TORCH


def _shares_memory(value: Any, inputs: list[Any]) -> bool:
    if isinstance(value, np.ndarray):
        return any(isinstance(i, np.ndarray) and np.may_share_memory(value, i) for i in inputs)
    if isinstance(value, torch.Tensor):
        return any(isinstance(i, torch.Tensor) and i.untyped_storage().data_ptr() == value.untyped_storage().data_ptr() for i in inputs)
    return False


def _own(values: list[Any], inputs: list[Any]) -> list[Any]:
    """Copies of the results that alias an input (an output that is an input, unchanged)."""
    out = []
    for v in values:
        if _shares_memory(v, inputs):
            v = v.copy() if isinstance(v, np.ndarray) else v.clone()
        out.append(v)
    return out


# ------------------------------------------------------------------ one exported program and its compiled forms


@dataclass
class Entry:
    imported: ImportedGraph
    backend: str
    transfer: Transfer
    number: int = 1  # which export made it (1, 2, ...), naming its programs in report()
    signatures: tuple[tuple, tuple] = ((), ())  # the arguments' structure and types it was exported for (batch as B, exact)
    state: dict[str, Any] = field(default_factory=dict)  # the module's Python values then (guards.ModuleState.readable)
    types: list[tuple[int, torch.dtype, torch.Size]] = field(default_factory=list)  # source index, dtype, shape of its module tensors
    inference: CompiledProgram | None = None
    training: dict[tuple[int, ...], TrainingPrograms | None] = field(default_factory=dict)
    debug: Any = None  # check mode's program and mapping (graphc.frontend.torch_import.check)
    constants: dict[int, Any] = field(default_factory=dict)  # source index -> the constant as a program value


@dataclass
class ProgramRun:
    """A program a compiled module ran, and what it is to the module: for ``report()`` and ``profile()``."""

    entry: Entry
    kind: str  # "inference", "forward", "backward" or "check"
    program: CompiledProgram
    wrt: tuple[int, ...] = ()  # forward and backward: the sources that take gradients
    outputs: tuple[int, ...] | None = None  # a backward for some output gradients only: those outputs


class CompiledTorchState:
    """Everything behind a compiled torch module: the cache of programs and the counters tests read."""

    def __init__(self, model: torch.nn.Module, backend: str, fusion: bool, dynamic: bool, check: bool, remat: bool = True) -> None:
        self.model = model
        self.backend = backend
        self.fusion = fusion
        self.remat = remat
        self.dynamic = dynamic
        self.check = check
        self.entries: dict[tuple, Entry] = {}
        self.python_state = ModuleState(model)
        self.fixed_batch: set[tuple] = set()  # signatures whose model fixes the batch size: use exact shapes
        self.export_count = 0  # torch.export runs (one per input signature and Python state of the module)
        self.compile_count = 0  # graphc programs compiled (inference, training forward/backward, check)
        self.recompilations: list[str] = []
        self.ran: dict[int, ProgramRun] = {}  # every program run, by id, in the order of first runs
        self.last_call: list[ProgramRun] = []  # the programs of the latest call: its forward, then its backward

    # ------------------------------------------------------------------ cache

    def _key(self, spec: Any, leaves: list[Any], symbolic: bool) -> tuple:
        batch = set(batch_positions(leaves)) if symbolic and self.dynamic else set()
        parts = []
        for i, leaf in enumerate(leaves):
            if isinstance(leaf, torch.Tensor):
                shape = ("B", *leaf.shape[1:]) if i in batch else tuple(leaf.shape)
                parts.append(("T", str(leaf.dtype), leaf.device.type, shape))
            else:
                parts.append(("V", type(leaf).__name__, repr(leaf)))
        return (str(spec), tuple(parts), _autocast())

    def entry_for(self, args: tuple, kwargs: dict, leaves: list[Any], spec: Any, reason: str | None = None) -> Entry:
        """The export for this call: its arguments' signature and the module's Python state select it.
        ``reason``: why the export that they selected does not serve (``_changed_type``)."""
        state = self.python_state.snapshot()
        symbolic_key = (self._key(spec, leaves, symbolic=True), state)
        exact_key = (self._key(spec, leaves, symbolic=False), state)
        entry = self.entries.get(symbolic_key)
        if entry is not None and self._in_range(entry, leaves):
            return entry
        entry = self.entries.get(exact_key)
        if entry is not None:
            return entry
        if reason or self.entries:
            self.recompilations.append(f"export {self.export_count + 1}: {reason or self._why_export(symbolic_key[0], exact_key[0])}")
        # Try a dynamic batch unless this signature already showed that the model fixes it, or its
        # dynamic program does not cover this batch size.
        dynamic = self.dynamic and symbolic_key[0] not in self.fixed_batch and symbolic_key not in self.entries
        entry = self._export(args, kwargs, leaves, dynamic, (symbolic_key[0], exact_key[0]))
        keys = [symbolic_key if entry.imported.dynamic else exact_key]
        if not entry.imported.dynamic and dynamic and batch_positions(leaves):
            self.fixed_batch.add(symbolic_key[0])
        after = self.python_state.snapshot()
        if after != state:
            # forward changed the module's Python state (a call counter): it runs once per export, not per
            # call, so the state it leaves selects this program too, rather than exporting on every call.
            self.recompilations.append(
                f"export {entry.number}: forward changed the module's Python state while exported "
                f"({changes(entry.state, self.python_state.readable())}); that Python runs once per export, not on every call"
            )
            keys.append((keys[0][0], after))
        for key in keys:
            self.entries[key] = entry
        return entry

    def _export(self, args: tuple, kwargs: dict, leaves: list[Any], dynamic: bool, signatures: tuple[tuple, tuple]) -> Entry:
        """torch.export, import, and the tensor attributes read from the module on every call."""
        readable = self.python_state.readable()
        self.export_count += 1
        if self.export_count == MANY_EXPORTS:
            log.warning(
                "graphc: %s has been exported %d times, each a new program; the latest reasons: %s (recompilations lists them all)",
                type(self.model).__name__,
                self.export_count,
                "; ".join(self.recompilations[-3:]),
            )
        exported = export(self.model, args, kwargs, dynamic)
        imported = import_program(exported, type(self.model).__name__)
        self.recompilations.extend(f"export {self.export_count}: {note}" for note in imported.notes)
        for source in imported.sources:
            attribute = tensor_attribute(self.model, source.key) if source.kind == "constant" else None
            if attribute is not None and attribute is imported.program.constants.get(source.key):
                source.kind = "attribute"  # the module's tensor: its current value on every call, as eager torch reads it
        backend = self._backend(leaves)
        entry = Entry(imported, backend, transfer_for(backend), number=self.export_count, signatures=signatures, state=readable)
        tensors = self.source_tensors(entry, leaves)
        entry.types = [(i, t.dtype, t.shape) for i, (s, t) in enumerate(zip(imported.sources, tensors)) if s.kind in _MODULE_TENSORS]
        return entry

    def _changed_type(self, entry: Entry, tensors: list[Any]) -> str | None:
        """A parameter or buffer whose dtype or shape differs from when the entry was exported, said
        as the reason to export again: ``model.double()`` converts them in place, which no key holds."""
        for index, dtype, shape in entry.types:
            tensor = tensors[index]
            if tensor.dtype is not dtype or tensor.shape != shape:
                source = entry.imported.sources[index]
                now, then = _tensor_text(tensor.dtype, tensor.shape), _tensor_text(dtype, shape)
                return f"{source.kind} {source.key} is {now} and was {then} when exported"
        return None

    def _forget(self, entry: Entry) -> None:
        self.entries = {key: other for key, other in self.entries.items() if other is not entry}

    def _why_export(self, symbolic: tuple, exact: tuple) -> str:
        """Why a call needs a new export: the Python state that changed since the latest export of the
        same signature, or else the new signature."""
        now = self.python_state.readable()
        same = [e for e in self.entries.values() if e.signatures == (symbolic, exact) or (e.signatures[0] == symbolic and e.state != now)]
        if same:
            latest = max(same, key=lambda e: e.number)
            return f"the Python state of {type(self.model).__name__} changed: {changes(latest.state, now)}"
        other_autocast = [e for e in self.entries.values() if e.signatures[1][:2] == exact[:2]]
        if other_autocast:
            then = other_autocast[-1].signatures[1][2]
            return f"autocast is {', '.join(exact[2]) or 'off'} and was {', '.join(then) or 'off'} when exported"
        return f"new input signature {exact[:2]}"

    @staticmethod
    def _in_range(entry: Entry, leaves: list[Any]) -> bool:
        positions = batch_positions(leaves)
        if not entry.imported.dynamic or not positions:
            return True
        low, high = entry.imported.batch_range
        batch = leaves[positions[0]].shape[0]
        return low <= batch and (high is None or batch <= high)

    def _backend(self, leaves: list[Any]) -> str:
        if self.backend != "auto":
            return self.backend
        cuda = any(isinstance(t, torch.Tensor) and t.is_cuda for t in leaves)
        return "triton" if cuda else "numpy"

    def compile(self, graph: Graph, backend: str) -> CompiledProgram:
        self.compile_count += 1
        # The training programs' saved values are chosen when they are built (programs.py), so the
        # remat pass of one joint graph does not apply: no program holds both forward and backward.
        program = compile_graph(graph, backend=backend, fusion=self.fusion, remat=False)
        program.report.recompilations = self.recompilations
        return program

    # ------------------------------------------------------------------ what ran, for report() and profile()

    def note_run(self, run: ProgramRun) -> None:
        self.ran.setdefault(id(run.program), run)
        self.last_call.append(run)

    def label(self, run: ProgramRun) -> str:
        """A program's name in reports and profiles: its kind, what takes gradients where one export has
        several training sets (a frozen parameter), the outputs of a backward for some of them, and the
        export where the module has several (train and eval mode, new input types)."""
        parts = [run.kind]
        if run.kind in ("forward", "backward") and sum(p is not None for p in run.entry.training.values()) > 1:
            parts.append(f"gradients for {_source_names(run.entry, run.wrt)}")
        if run.outputs is not None:
            parts.append(f"for the gradients of outputs {', '.join(map(str, run.outputs))} only")
        role = ", ".join(parts)
        several = len({r.entry.number for r in self.ran.values()}) > 1
        return f"export {run.entry.number}: {role}" if several else role

    def report(self) -> ProgramsReport:
        if not self.ran:
            raise GraphcError("report(): the compiled module has not been called yet")
        programs = {self.label(run): run.program.report for run in self.ran.values()}
        return ProgramsReport(type(self.model).__name__, programs, list(self.recompilations))

    # ------------------------------------------------------------------ calling

    def source_tensors(self, entry: Entry, leaves: list[Any]) -> list[Any]:
        """The torch tensor of each user/parameter/buffer source (None for constants and seeds)."""
        values: list[Any] = []
        for source in entry.imported.sources:
            if source.kind == "user":
                values.append(leaves[source.key])
            elif source.kind == "parameter":
                values.append(self.model.get_parameter(source.key))
            elif source.kind == "buffer":
                values.append(self.model.get_buffer(source.key))
            elif source.kind == "attribute":
                values.append(tensor_attribute(self.model, source.key))
            else:
                values.append(None)
        return values

    def program_inputs(self, entry: Entry, tensors: list[Any]) -> list[Any]:
        """Program values for this call: converted tensors, the constants, fresh seeds."""
        values = []
        for i, (source, tensor) in enumerate(zip(entry.imported.sources, tensors)):
            if source.kind == "seed":
                values.append(entry.transfer.seed(next_seed()))
            elif source.kind == "constant":
                if i not in entry.constants:
                    entry.constants[i] = entry.transfer.constant(source.value)
                values.append(entry.constants[i])
            else:
                values.append(entry.transfer.to_program(tensor))
        return values

    def __call__(self, args: tuple, kwargs: dict) -> Any:
        self.last_call = []
        leaves, spec = pytree.tree_flatten((args, kwargs))
        entry = self.entry_for(args, kwargs, leaves, spec)
        tensors = self.source_tensors(entry, leaves)
        changed = self._changed_type(entry, tensors)
        if changed is not None:
            self._forget(entry)
            entry = self.entry_for(args, kwargs, leaves, spec, reason=changed)
            tensors = self.source_tensors(entry, leaves)
        inputs = self.program_inputs(entry, tensors)
        if self.check:
            from graphc.frontend.torch_import.check import check_call

            check_call(self, entry, tensors, inputs, leaves)
        wrt = self._wrt(entry, tensors)
        programs = self._training(entry, wrt) if wrt else None
        if programs is not None:
            differentiable = [i for i, s in enumerate(entry.imported.sources) if s.kind in ("user", "parameter")]
            call = _Call(self, entry, programs, inputs, tensors, differentiable, wrt)
            outputs = list(_GraphcFunction.apply(call, *[tensors[i] for i in differentiable]))
        else:
            outputs = self._infer(entry, inputs, tensors)
        return self._results(entry, outputs, inputs)

    def _wrt(self, entry: Entry, tensors: list[Any]) -> tuple[int, ...]:
        if not torch.is_grad_enabled():
            return ()
        return tuple(
            i
            for i, (source, tensor) in enumerate(zip(entry.imported.sources, tensors))
            if source.kind in ("user", "parameter") and source.node.requires_grad and tensor.requires_grad
        )

    def _training(self, entry: Entry, wrt: tuple[int, ...]) -> TrainingPrograms | None:
        if wrt not in entry.training:
            entry.training[wrt] = build_training(entry.imported, list(wrt), lambda g: self.compile(g, entry.backend), remat=self.remat)
        return entry.training[wrt]

    def _infer(self, entry: Entry, inputs: list[Any], tensors: list[Any]) -> list[torch.Tensor]:
        if entry.inference is None:
            entry.inference = self.compile(inference_graph(entry.imported), entry.backend)
        self.note_run(ProgramRun(entry, "inference", entry.inference))
        results = entry.inference(inputs)
        count = len(tensor_outputs(entry.imported))
        self.write_mutations(entry, results[count:], tensors)
        return [entry.transfer.from_program(r) for r in _own(results[:count], inputs)]

    def write_mutations(self, entry: Entry, values: list[Any], tensors: list[Any]) -> None:
        """New buffer values (batch norm's running statistics) and in-place changes of user inputs."""
        leaves_by_position = {s.key: t for s, t in zip(entry.imported.sources, tensors) if s.kind == "user"}
        with torch.no_grad():
            for (kind, target, _), value in zip(entry.imported.mutations, values):
                destination = self.model.get_buffer(target) if kind == "buffer" else leaves_by_position[target]
                destination.copy_(entry.transfer.from_program(value))

    def _results(self, entry: Entry, outputs: list[torch.Tensor], inputs: list[Any]) -> Any:
        """The model's output structure, with tensors and any non-tensor outputs in place."""
        tensors = iter(outputs)
        values = []
        for value in entry.imported.user_outputs:
            if isinstance(value, Node):
                values.append(next(tensors))
            elif isinstance(value, sympy.Basic):
                values.append(self._size(entry, value, inputs))
            else:
                values.append(value)
        return pytree.tree_unflatten(values, entry.imported.out_spec)

    def _size(self, entry: Entry, expr: sympy.Basic, inputs: list[Any]) -> int:
        bindings: dict[str, int] = {}
        for source, value in zip(entry.imported.sources, inputs):
            for dim, actual in zip(source.node.shape, getattr(value, "shape", ())):
                if isinstance(dim, sympy.Symbol):
                    bindings[str(dim)] = int(actual)
        return evaluate_shape((expr,), bindings)[0]


# ------------------------------------------------------------------ training through torch.autograd


class _Call:
    """One training call: runs the forward program and keeps what its backward reads."""

    def __init__(
        self,
        state: CompiledTorchState,
        entry: Entry,
        programs: TrainingPrograms,
        inputs: list[Any],
        tensors: list[Any],
        differentiable: list[int],
        wrt: tuple[int, ...],
    ) -> None:
        self.state = state
        self.entry = entry
        self.programs = programs
        self.wrt = wrt
        self.inputs = inputs
        self.tensors = tensors
        self.differentiable = differentiable  # source index of each tensor given to the autograd.Function
        self.saved: list[Any] = []

    def forward(self) -> list[torch.Tensor]:
        programs, entry = self.programs, self.entry
        self.state.note_run(ProgramRun(entry, "forward", programs.forward, self.wrt))
        results = programs.forward(self.inputs)
        outputs = tensor_outputs(entry.imported)
        count, mutations = len(outputs), len(entry.imported.mutations)
        self.state.write_mutations(entry, results[count : count + mutations], self.tensors)
        computed = results[count + mutations :]
        self.saved = [self.inputs[i] for i in programs.saved_sources] + list(computed)
        outs = [entry.transfer.from_program(r) for r in _own(results[:count], self.inputs)]
        self.inputs = self.tensors = []  # the backward needs only what is saved
        return outs

    def saved_tensors(self) -> list[torch.Tensor]:
        """The torch tensors behind saved inputs and parameters: torch checks they are not modified in place."""
        position = {source: i for i, source in enumerate(self.differentiable)}
        return [i for i in self.programs.saved_sources if i in position]

    def backward(self, grads: tuple[torch.Tensor | None, ...]) -> list[torch.Tensor | None]:
        """Gradients of the differentiable tensors; an output whose gradient is None contributes nothing."""
        programs, entry = self.programs, self.entry
        present = tuple(k for k, i in enumerate(programs.grad_outputs) if grads[i] is not None)
        backward = programs.backward(present)
        if backward is None:
            return [None] * len(self.differentiable)
        outputs = tuple(programs.grad_outputs[k] for k in present) if len(present) < len(programs.grad_outputs) else None
        self.state.note_run(ProgramRun(entry, "backward", backward.program, self.wrt, outputs))
        inputs = self.saved + [entry.transfer.to_program(grads[programs.grad_outputs[k]]) for k in present]
        results = _own(backward.program(inputs), inputs)
        by_source = dict(zip(backward.wrt, results))
        return [entry.transfer.from_program(by_source[i]) if i in by_source else None for i in self.differentiable]


class _GraphcFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, call: _Call, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        saved = call.saved_tensors()
        outputs = call.forward()
        ctx.call = call
        # An unused output's gradient stays None rather than zeros: graphc's backward then leaves it out.
        ctx.set_materialize_grads(False)
        # Saved through torch as well, so that modifying them in place before backward is an error, as in eager.
        position = {source: i for i, source in enumerate(call.differentiable)}
        ctx.save_for_backward(*[tensors[position[i]] for i in saved])
        differentiable = set(call.programs.grad_outputs)
        ctx.mark_non_differentiable(*[o for i, o in enumerate(outputs) if i not in differentiable])
        return tuple(outputs)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, *grads: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        ctx.saved_tensors  # noqa: B018 - unpacking checks the version counters
        return (None, *ctx.call.backward(grads))


# ------------------------------------------------------------------ the module


class CompiledModule(torch.nn.Module):
    """What ``graphc.compile`` returns for a ``torch.nn.Module``: same parameters, graphc programs.

    ``compile_count`` counts compiled graphc programs and ``export_count`` torch.export runs, so
    tests can see that new batch sizes reuse one compilation; ``report()`` describes every program
    the module ran and ``profile()`` times their kernels.
    """

    def __init__(
        self, model: torch.nn.Module, backend: str = "auto", fusion: bool = True, dynamic: bool = True, check: bool = False, remat: bool = True
    ) -> None:
        super().__init__()
        if backend not in ("auto", "numpy", "triton"):
            raise GraphcError(f"unknown backend {backend!r}; choose 'auto', 'numpy' or 'triton'")
        # Share the original's tables: the same Parameter objects under the same state_dict keys.
        self.__dict__["_parameters"] = model._parameters
        self.__dict__["_buffers"] = model._buffers
        self.__dict__["_modules"] = model._modules
        self.__dict__["_non_persistent_buffers_set"] = model._non_persistent_buffers_set
        self.__dict__["_graphc"] = CompiledTorchState(model, backend, fusion, dynamic, check, remat)

    @property
    def original_module(self) -> torch.nn.Module:
        return self._graphc.model

    @property
    def training(self) -> bool:  # type: ignore[override]
        """The original module's mode: the programs follow the original's modes, so ``model.eval()``
        on the original must show here too (a flag of its own went stale)."""
        return self._graphc.model.training

    @training.setter
    def training(self, mode: bool) -> None:
        state = self.__dict__.get("_graphc")
        if state is not None:  # nn.Module.__init__ sets it before the original is known
            state.model.training = mode

    @property
    def compile_count(self) -> int:
        return self._graphc.compile_count

    @property
    def export_count(self) -> int:
        return self._graphc.export_count

    @property
    def recompilations(self) -> list[str]:
        return self._graphc.recompilations

    def report(self) -> ProgramsReport:
        """Every program the module has run (forward, each backward, inference; per export), with its
        kernels, the fusions not made and why, its memory at its last call's sizes, and the module's
        recompilations. ``str()`` of it prints them all."""
        return self._graphc.report()

    def profile(self, *args: Any, steps: int = 20, **kwargs: Any) -> Profile:
        """Time each kernel inside ``steps`` real calls, after two untimed ones, as
        ``CompiledFunction.profile`` does (``graphc.runtime.profile``).

        A call whose outputs require grad (a module being trained) runs its backward program too,
        on gradients of ones taken with ``torch.autograd.grad`` (no ``.grad`` changes), and its kernels
        are timed with the forward's, each labelled with its program. The calls are real: train-mode
        batch norm updates its running statistics ``steps + 2`` times.
        """
        self._profiled_step(args, kwargs)
        self._profiled_step(args, kwargs)
        runs = self._graphc.last_call
        # One call's programs differ in kind (forward, backward; inference): their kind names them.
        programs = [TimedProgram(run.program.module, run.program.program.kernels, run.kind) for run in runs]
        backend = runs[0].entry.backend
        sync = device_sync(backend, pytree.tree_leaves((args, kwargs)))
        return profile_programs(lambda: self._profiled_step(args, kwargs), programs, backend, steps, sync)

    def _profiled_step(self, args: tuple, kwargs: dict) -> None:
        """One call as ``profile()`` times it: the forward, then the backward where outputs require grad."""
        outputs = [t for t in pytree.tree_leaves(self(*args, **kwargs)) if isinstance(t, torch.Tensor) and t.requires_grad]
        if not outputs:
            return
        arguments = [t for t in pytree.tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor) and t.requires_grad]
        wrt = [p for p in self._graphc.model.parameters() if p.requires_grad] + arguments
        torch.autograd.grad(outputs, wrt, [torch.ones_like(t) for t in outputs], allow_unused=True)

    def train(self, mode: bool = True) -> CompiledModule:
        self._graphc.model.train(mode)
        return self

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self._graphc(args, kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            state = self.__dict__.get("_graphc")
            if state is None:
                raise
            return getattr(state.model, name)  # the original's other attributes (hidden_size, ...)

    def extra_repr(self) -> str:
        state = self._graphc
        return f"graphc: {type(state.model).__name__}, backend={state.backend!r}, dynamic={state.dynamic}, check={state.check}"


def _autocast() -> tuple[str, ...]:
    """The autocast modes on now ("cpu bfloat16"): torch.export bakes autocast's casts into the
    program, so a program exported under autocast serves only calls under the same autocast."""
    on = [device for device in _AUTOCAST_DEVICES if torch.is_autocast_enabled(device)]
    return tuple(f"{device} {str(torch.get_autocast_dtype(device)).removeprefix('torch.')}" for device in on)


_AUTOCAST_DEVICES = ("cpu", "cuda")
# The sources that are the module's own tensors, whose types an export depends on.
_MODULE_TENSORS = ("parameter", "buffer", "attribute")


def _tensor_text(dtype: torch.dtype, shape: torch.Size) -> str:
    return f"{str(dtype).removeprefix('torch.')}{list(shape)}"


def _source_names(entry: Entry, indices: tuple[int, ...]) -> str:
    """The parameters and inputs at ``indices`` of an export's sources, by name (a count if many)."""
    sources = [entry.imported.sources[i] for i in indices]
    names = [str(s.key) if s.kind == "parameter" else f"input {s.key}" for s in sources]
    return ", ".join(names) if len(names) <= 4 else f"{len(names)} tensors"


def compile_torch_module(
    model: torch.nn.Module, backend: str = "auto", fusion: bool = True, dynamic: bool = True, check: bool = False, remat: bool = True
) -> CompiledModule:
    return CompiledModule(model, backend=backend, fusion=fusion, dynamic=dynamic, check=check, remat=remat)

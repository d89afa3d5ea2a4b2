"""From an exported program (core ATen FX graph) to graphc IR.

Placeholders become ``parameter``/``input`` source nodes in the order of the
graph signature (user inputs, parameters, buffers, lifted constants); each FX
node is lowered by its entry in the lowering table; the outputs are the user
outputs and the new values of mutated buffers (``buffers_to_mutate``). The map
from FX nodes to IR values is kept for check mode.

Before lowering anything, every op is looked up, so a model with several ops
graphc cannot lower gets one error that lists them all with the model's lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy
import torch
from torch.export.graph_signature import InputKind, OutputKind

from graphc.errors import GraphcError
from graphc.frontend.torch_import.exporter import Exported, user_line, user_location
from graphc.frontend.torch_import.lowering import LOWERINGS, LoweringContext, Source, op_name
from graphc.frontend.torch_import.lowering.table import KINDS, graphc_dtype, missing_dtype
from graphc.ir.dtypes import DType
from graphc.ir.grad_mode import grad_mode
from graphc.ir.graph import Node, toposort
from graphc.ir.primitives.source import source_node
from graphc.ir.registry import emit
from graphc.ir.types import TensorType, dims_equal, format_shape

BATCH = sympy.Symbol("B", positive=True, integer=True)
_SYMBOLIC = (torch.SymInt, torch.SymFloat, torch.SymBool)


@dataclass
class ImportedGraph:
    """The IR of one exported program, and how to feed and read it."""

    sources: list[Source]  # graph inputs in order, with where their values come from
    user_outputs: list[Any]  # IR node per flattened user output (or a Python value / size expression)
    out_spec: Any  # pytree spec to rebuild the model's output structure
    mutations: list[tuple[str, str, Node]]  # ("buffer" | "user", buffer name or user position, new value)
    fx_values: dict[str, Any] = field(default_factory=dict)  # FX node name -> IR value (check mode)
    fx_graph: Any = None  # the FX graph (check mode)
    program: Any = None  # the ExportedProgram
    dynamic: bool = False
    notes: list[str] = field(default_factory=list)
    batch_range: tuple[int, int | None] = (2, None)

    @property
    def input_nodes(self) -> list[Node]:
        return [s.node for s in self.sources]


def unsupported_ops(graph: torch.fx.Graph) -> list[tuple[str, str | None]]:
    """(op name, model line) of every call in ``graph`` with no lowering, each pair once."""
    missing: list[tuple[str, str | None]] = []
    for node in graph.nodes:
        if node.op == "call_function" and node.target not in LOWERINGS and not isinstance(node.meta.get("val"), _SYMBOLIC):
            entry = (op_name(node.target), user_line(node))
            if entry not in missing:
                missing.append(entry)
        elif node.op in ("call_module", "call_method", "get_attr") and node.users:
            entry = (f"{node.op} {node.target}", user_line(node))
            if entry not in missing:
                missing.append(entry)
    return missing


def _unsupported_error(model_name: str, missing: list[tuple[str, str | None]]) -> GraphcError:
    ops = sorted({name for name, _ in missing})
    lines = [f"graphc.compile: {len(ops)} ATen op{'s' if len(ops) != 1 else ''} in {model_name} {'have' if len(ops) != 1 else 'has'} no graphc lowering:"]
    for name, where in missing:
        lines.append(f"  {name}" + (f"  at {where}" if where else "  (no source line recorded)"))
    lines.append("The ops graphc lowers are listed in docs/torch_import.md.")
    return GraphcError("\n".join(lines))


def _symbols(program: Any) -> dict[sympy.Symbol, sympy.Expr]:
    """torch's size symbols -> graphc's: the batch symbol (on a user input's dimension 0) is ``B``."""
    mapping: dict[sympy.Symbol, sympy.Expr] = {}
    user_names = {s.arg.name for s in program.graph_signature.input_specs if s.kind == InputKind.USER_INPUT}
    for node in program.graph.nodes:
        if node.op != "placeholder" or node.name not in user_names:
            continue
        value = node.meta.get("val")
        if not isinstance(value, torch.Tensor):
            continue
        for axis, size in enumerate(value.shape):
            if isinstance(size, torch.SymInt):
                for symbol in size.node.expr.free_symbols:
                    if symbol not in mapping:
                        named = BATCH if axis == 0 and BATCH not in mapping.values() else sympy.Symbol(f"S{len(mapping)}", positive=True, integer=True)
                        mapping[symbol] = named
    return mapping


def import_program(exported: Exported, model_name: str) -> ImportedGraph:
    program = exported.program
    graph = program.graph
    missing = unsupported_ops(graph)
    if missing:
        raise _unsupported_error(model_name, missing)
    ctx = LoweringContext(_symbols(program))
    signature = program.graph_signature
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    env: dict[torch.fx.Node, Any] = {}
    sources: list[Source] = []
    user_index = 0
    with grad_mode(True):
        for node, spec in zip(placeholders, signature.input_specs):
            value = node.meta.get("val")
            if spec.kind == InputKind.USER_INPUT:
                key, user_index = user_index, user_index + 1
                if not isinstance(value, torch.Tensor):
                    env[node] = ctx.expr(value) if isinstance(value, _SYMBOLIC) else value
                    continue
                kind = "user"
            elif spec.kind == InputKind.PARAMETER:
                kind, key = "parameter", spec.target
            elif spec.kind == InputKind.BUFFER:
                kind, key = "buffer", spec.target
            elif spec.kind == InputKind.CONSTANT_TENSOR:
                kind, key = "constant", spec.target
            elif spec.kind == InputKind.TOKEN:  # threads effects in order (linalg's checks): graphc orders nothing by it
                env[node] = None
                continue
            else:
                raise GraphcError(f"graphc.compile: {model_name} has an input of kind {spec.kind.name}, which graphc does not import")
            type_ = TensorType(ctx.shape_of(value), _source_dtype(node, kind, key, value.dtype, model_name))
            differentiable = type_.dtype.is_floating_point and kind in ("user", "parameter")
            ir = source_node(type_, op="parameter" if kind == "parameter" else "input", requires_grad=differentiable)
            constant = program.constants[key].detach().cpu().numpy() if kind == "constant" else None
            sources.append(Source(kind, key, ir, constant))
            env[node] = ir
        fx_values: dict[str, Any] = {}
        known: set[int] = {id(s.node) for s in sources}
        for node in graph.nodes:
            if node.op != "call_function":
                continue
            env[node] = _lower(ctx, node, env, known, node.name in exported.no_gradient)
            fx_values[node.name] = env[node]
    output = next(n for n in graph.nodes if n.op == "output")
    results = list(output.args[0])
    user_outputs: list[Any] = []
    mutations: list[tuple[str, str, Node]] = []
    for result, spec in zip(results, signature.output_specs):
        value = env[result] if isinstance(result, torch.fx.Node) else result
        if spec.kind == OutputKind.USER_OUTPUT:
            user_outputs.append(value)
        elif spec.kind == OutputKind.BUFFER_MUTATION:
            mutations.append(("buffer", spec.target, value))
        elif spec.kind == OutputKind.USER_INPUT_MUTATION:
            position = [s.arg.name for s in signature.input_specs if s.kind == InputKind.USER_INPUT].index(spec.target)
            mutations.append(("user", position, value))
        elif spec.kind == OutputKind.TOKEN:
            continue
        else:
            raise GraphcError(f"graphc.compile: {model_name} has an output of kind {spec.kind.name}, which graphc does not import")
    return ImportedGraph(
        sources=sources + ctx.extra_sources,
        user_outputs=user_outputs,
        out_spec=program.call_spec.out_spec,
        mutations=mutations,
        fx_values=fx_values,
        fx_graph=graph,
        program=program,
        dynamic=exported.dynamic,
        notes=list(exported.notes),
        batch_range=exported.batch_range,
    )


def _source_dtype(node: torch.fx.Node, kind: str, key: Any, dtype: torch.dtype, model_name: str) -> DType:
    """The graphc dtype of an input, parameter, buffer or constant. One that graphc lacks (uint16,
    complex) fails here, before any op, so the error names the tensor, its first use and the fix."""
    try:
        return graphc_dtype(dtype)
    except GraphcError:
        pass
    name = node.name if kind == "user" else key
    if kind == "user":
        what, fix = "input", f"convert it before calling the compiled module: {name}.float(), or {name}.to(torch.int32) / .to(torch.int64)"
    else:
        what, fix = kind, "convert it in the model to a float dtype, or to int32/int64"
    uses = [user for user in node.users if user.op == "call_function" and KINDS.get(user.target) != "plumbing"]
    first = ""
    if uses:
        line = user_line(uses[0])
        first = f"\n  first used by {op_name(uses[0].target)}" + (f" at {line}" if line else "")
    raise GraphcError(f"graphc.compile: {what} `{name}` of {model_name} is a {dtype} tensor: {missing_dtype(dtype)}\n  {fix}{first}")


def _lower(ctx: LoweringContext, node: torch.fx.Node, env: dict, known: set[int], no_gradient: bool) -> Any:
    """The IR of one FX node; with ``no_gradient`` (a detach, a ``torch.no_grad()`` block) its results
    take no gradient, as in eager torch."""
    meta = node.meta.get("val")
    if isinstance(meta, _SYMBOLIC):
        return ctx.expr(meta)  # a size computed from sizes: torch recorded its expression
    args = torch.fx.node.map_arg(node.args, lambda n: env[n])
    kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: env[n])
    ctx.node = node
    where = user_line(node)
    try:
        with grad_mode(not no_gradient):
            result = LOWERINGS[node.target](ctx, *args, **kwargs)
    except GraphcError as error:
        at = f"\n  at {where}" if where else ""
        raise GraphcError(f"graphc.compile: cannot lower {node.format_node()}:\n  {error}{at}") from None
    if no_gradient:
        result = _detached(result)
    _check_types(node, result, ctx)
    _adopt(result, user_location(node), known, ctx)
    return result


def _detached(result: Any) -> Any:
    """``result`` with a ``detach`` on each node that still requires grad: a lowering that returns its
    operand unchanged (``alias``, what torch decomposes ``detach`` into) creates no node that grad
    mode could have kept out of autograd."""
    if isinstance(result, (tuple, list)):
        return type(result)(_detached(r) for r in result)
    if isinstance(result, Node) and result.requires_grad:
        return emit("detach", result)
    return result


def _check_types(node: torch.fx.Node, result: Any, ctx: LoweringContext) -> None:
    """A lowering must produce what torch says the op produces: a lowering bug is caught here, not later."""
    meta = node.meta.get("val")
    pairs = list(zip(result, meta)) if isinstance(result, (tuple, list)) and isinstance(meta, (tuple, list)) else [(result, meta)]
    for value, expected in pairs:
        if not isinstance(value, Node) or not isinstance(expected, torch.Tensor):
            continue
        shape, dtype = ctx.shape_of(expected), graphc_dtype(expected.dtype)
        if value.dtype != dtype or len(value.shape) != len(shape) or not all(dims_equal(a, c) for a, c in zip(value.shape, shape)):
            raise GraphcError(
                f"graphc.compile: the lowering of {op_name(node.target)} produced {value.type} where torch gives "
                f"{dtype.short}{format_shape(shape)} (a graphc bug)\n  in {node.format_node()}"
            )


def _adopt(result: Any, location: str | None, known: set[int], ctx: LoweringContext) -> None:
    """Give the IR nodes a lowering created the model's source line of the FX node, and make the tensor
    constants among them program inputs: a front-end function builds its constant tables (pdist's
    pairs, a diagonal's mask) as input nodes carrying their arrays (``Tensor._constant``)."""
    roots = [r for r in (result if isinstance(result, (tuple, list)) else [result]) if isinstance(r, Node)]
    for ir in toposort(roots, stop=known):
        if id(ir) not in known:
            known.add(id(ir))
            if location is not None:
                ir.loc = location
            if ir.op == "input" and isinstance(ir.data, np.ndarray):
                ctx.feed_constant(ir)

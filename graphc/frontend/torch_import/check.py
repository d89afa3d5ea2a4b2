"""Check mode: run the exported graph in eager PyTorch beside graphc, node by node.

A debug program returns the IR value of every FX node; the FX graph is then
evaluated op by op in torch on the same inputs, and each result is compared with
graphc's. The first node that differs is reported with its printed IR line, the
ATen node it came from, the model's source line and the max abs error. Random
ops (dropout) take graphc's values in the torch evaluation, since the two draw
different numbers; everything downstream is compared as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from graphc.errors import CheckError
from graphc.frontend.torch_import.exporter import user_line
from graphc.frontend.torch_import.lowering import KINDS
from graphc.frontend.torch_import.module import ProgramRun
from graphc.ir.graph import Graph, Node
from graphc.ir.printer import format_node, number_nodes
from graphc.runtime.check import valid_eigh, valid_svd

# Relative tolerance by dtype, scaled by 1 + the largest magnitude of torch's value.
RTOL = {"float64": 1e-9, "float32": 1e-4, "float16": 1e-2, "bfloat16": 2e-2}


@dataclass
class DebugProgram:
    program: Any
    graph: Graph
    index: dict[int, int]  # IR node id -> position among the debug program's outputs


def _nodes_of(value: Any) -> list[Node]:
    if isinstance(value, Node):
        return [value]
    if isinstance(value, (tuple, list)):
        return [v for v in value if isinstance(v, Node)]
    return []


def debug_program(state: Any, entry: Any) -> DebugProgram:
    if entry.debug is None:
        outputs: list[Node] = []
        index: dict[int, int] = {}
        for value in entry.imported.fx_values.values():
            for node in _nodes_of(value):
                if id(node) not in index:
                    index[id(node)] = len(outputs)
                    outputs.append(node)
        graph = Graph(entry.imported.input_nodes, outputs)
        entry.debug = DebugProgram(state.compile(graph, entry.backend), graph, index)
    return entry.debug


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            value = value.float()
        return value.numpy()
    return np.asarray(value)


def value_difference(graphc: np.ndarray, eager: np.ndarray) -> tuple[float, float] | None:
    """(max abs error, tolerance) if the values differ, else None (also used by check mode for graphc functions)."""
    if graphc.shape != eager.shape:
        return (float("inf"), 0.0)
    if graphc.size == 0:
        return None
    if eager.dtype.kind in "biu" or eager.dtype == np.bool_:
        wrong = np.count_nonzero(graphc != eager)
        return (float(np.max(np.abs(graphc.astype(np.float64) - eager.astype(np.float64)))), 0.0) if wrong else None
    a, e = graphc.astype(np.float64), eager.astype(np.float64)
    both_nan = np.isnan(a) & np.isnan(e)
    same_inf = np.isinf(e) & (a == e)
    diff = np.where(both_nan | same_inf, 0.0, np.abs(a - e))
    diff = np.where(np.isnan(diff), np.inf, diff)
    finite = e[np.isfinite(e)]
    scale = 1.0 + (float(np.max(np.abs(finite))) if finite.size else 0.0)
    tolerance = RTOL.get(str(eager.dtype), RTOL["float32"]) * scale
    worst = float(np.max(diff))
    return (worst, tolerance) if worst > tolerance else None


def check_call(state: Any, entry: Any, tensors: list[Any], inputs: list[Any], leaves: list[Any]) -> None:
    """Raise CheckError at the first FX node whose graphc value differs from eager PyTorch's."""
    debug = debug_program(state, entry)
    state.note_run(ProgramRun(entry, "check", debug.program))
    values = debug.program(inputs)
    imported = entry.imported
    program = imported.program
    env: dict[Any, Any] = {}
    placeholders = [n for n in imported.fx_graph.nodes if n.op == "placeholder"]
    from torch.export.graph_signature import InputKind

    by_name: dict[str, Any] = {}
    for source, tensor in zip(imported.sources, tensors):
        if source.kind in ("parameter", "buffer", "attribute"):
            by_name[source.key] = tensor
    user_leaves = iter(leaves)
    for node, spec in zip(placeholders, program.graph_signature.input_specs):
        if spec.kind == InputKind.USER_INPUT:
            env[node] = next(user_leaves)
        elif spec.kind == InputKind.CONSTANT_TENSOR:
            env[node] = by_name.get(spec.target, program.constants[spec.target])
        else:
            env[node] = by_name[spec.target]
    names = number_nodes(debug.graph.nodes)
    with torch.no_grad():
        for node in imported.fx_graph.nodes:
            if node.op != "call_function":
                continue
            ours = imported.fx_values.get(node.name)
            if KINDS.get(node.target) == "random":
                env[node] = _graphc_value(ours, values, debug.index)
                continue
            args = torch.fx.node.map_arg(node.args, lambda n: env[n])
            kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: env[n])
            eager = node.target(*args, **kwargs)
            valid = FREE_BASIS.get(node.target)
            if valid is not None:
                mine = _graphc_value(ours, values, debug.index)
                if valid(mine, eager, *args, **kwargs):
                    env[node] = mine
                    continue
            env[node] = eager
            _compare(node, ours, eager, values, debug, names)


def _valid_eigh(ours: tuple, eager: tuple, a: torch.Tensor, UPLO: str = "L", compute_v: bool = True) -> bool:
    return compute_v and valid_eigh(torch, ours, eager, a, UPLO in ("U", "u"))


def _valid_svd(ours: tuple, eager: tuple, a: torch.Tensor, full_matrices: bool = False, compute_uv: bool = True, driver: str | None = None) -> bool:
    return compute_uv and valid_svd(torch, ours, eager, a)


# Decompositions whose vectors torch leaves free (their signs, a repeated eigenvalue's basis):
# graphc's are taken when they are a valid decomposition of the operand, as in check mode.
FREE_BASIS = {torch.ops.aten._linalg_eigh.default: _valid_eigh, torch.ops.aten._linalg_svd.default: _valid_svd}


def _graphc_value(ours: Any, values: list[Any], index: dict[int, int]) -> Any:
    """graphc's value of an fx node (a tensor or a tuple of them) as torch tensors, so the eager ops after it read graphc's values."""
    if isinstance(ours, Node):
        return torch.from_numpy(np.array(_as_array(values[index[id(ours)]])))
    if isinstance(ours, (tuple, list)):
        return tuple(_graphc_value(o, values, index) for o in ours)
    return ours


def _compare(node: torch.fx.Node, ours: Any, eager: Any, values: list[Any], debug: DebugProgram, names: dict[int, str]) -> None:
    pairs = list(zip(ours, eager)) if isinstance(ours, (tuple, list)) and isinstance(eager, (tuple, list)) else [(ours, eager)]
    for ir, expected in pairs:
        if not isinstance(ir, Node) or not isinstance(expected, torch.Tensor):
            continue
        graphc_value = _as_array(values[debug.index[id(ir)]])
        eager_value = _as_array(expected)
        found = value_difference(graphc_value, eager_value)
        if found is None:
            continue
        worst, tolerance = found
        where = user_line(node)
        shapes = "" if graphc_value.shape == eager_value.shape else f" (shapes differ: graphc {list(graphc_value.shape)}, eager {list(eager_value.shape)})"
        raise CheckError(
            f"graphc check: the first value that differs from eager PyTorch{shapes}\n"
            f"  IR:   {format_node(ir, names)}\n"
            f"  ATen: {node.format_node()}\n" + (f"  at {where}\n" if where else "") + f"  max abs error {worst:.3g} (tolerance {tolerance:.3g})"
        )

"""Exporting a ``torch.nn.Module`` with ``torch.export`` and decomposing it to core ATen.

With ``dynamic=True`` the batch dimension (dimension 0 of every tensor argument
whose size equals the first tensor argument's dimension 0, as
``docs/decisions.md`` defines it for graphc.compile) is exported as one
``torch.export.Dim``, which the importer turns into the symbol ``B``. A model
whose code fixes the batch size (``x.view(4, -1)``) makes torch refuse the
dynamic export; it is then exported for the sizes of the call, and the reason
is kept for ``report().recompilations``.
"""

from __future__ import annotations

import inspect
import os
import re
import sysconfig
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils import _pytree as pytree

from graphc.errors import GraphcError
from graphc.frontend.torch_import.lowering.elementwise import UNDECOMPOSED
from graphc.frontend.torch_import.lowering.table import op_name

_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__))
_GRAPHC_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Where a frame is not the user's: torch, graphc, Python's standard library (contextlib) and NumPy.
_LIBRARY_DIRS = (_TORCH_DIR, _GRAPHC_DIR, sysconfig.get_paths()["stdlib"], os.path.dirname(os.path.abspath(np.__file__)))
_FRAME = re.compile(r'File "([^"]+)", line (\d+), in ([^\n]+)\n(?:[ \t]+([^\n]*))?')


def batch_positions(leaves: list[Any]) -> list[int]:
    """The flattened arguments whose dimension 0 is the batch: graphc's rule for ``dynamic=True``."""
    tensors = [(i, t) for i, t in enumerate(leaves) if isinstance(t, torch.Tensor)]
    if not tensors or tensors[0][1].ndim == 0:
        return []
    batch = tensors[0][1].shape[0]
    if batch <= 1:
        return []  # sizes 0 and 1 specialize, as in torch
    return [i for i, t in tensors if t.ndim > 0 and t.shape[0] == batch]


@dataclass
class Exported:
    program: Any  # torch.export.ExportedProgram, decomposed to core ATen
    dynamic: bool  # whether the batch dimension is symbolic
    notes: list[str] = field(default_factory=list)
    batch_range: tuple[int, int | None] = (2, None)  # the batch sizes the program is valid for, when dynamic
    # Nodes of the decomposed graph whose results take no gradient: made from a detach() or inside a
    # torch.no_grad() block of the exported graph (see no_gradient_nodes).
    no_gradient: set[str] = field(default_factory=set)


_SUGGESTED_RANGE = re.compile(r"B = Dim\('B'(?:, min=(\d+))?(?:, max=(\d+))?\)")


def _dynamic_shapes(
    model: torch.nn.Module, args: tuple, kwargs: dict, positions: set[int], batch_range: tuple[int, int | None]
) -> dict[str, Any] | None:
    """``dynamic_shapes`` for torch.export: {0: B} for each batch-carrying tensor, by parameter name;
    None where torch cannot take them."""
    low, high = batch_range
    dim = torch.export.Dim("B", min=low) if high is None else torch.export.Dim("B", min=low, max=high)
    counter = iter(range(1 << 30))

    def spec(leaf: Any) -> Any:
        index = next(counter)
        return {0: dim} if index in positions else None

    arg_shapes, kwarg_shapes = pytree.tree_map(spec, (args, kwargs))
    # By parameter name, grouped as the signature groups the values: *args as one tuple, **kwargs as one dict.
    signature = inspect.signature(model.forward)
    try:
        bound = signature.bind(*arg_shapes, **kwarg_shapes)
    except TypeError:
        return None  # the call does not fit forward's signature: torch.export says why
    var_keyword = [name for name, p in signature.parameters.items() if p.kind == inspect.Parameter.VAR_KEYWORD]
    if any(bound.arguments.get(name) for name in var_keyword):
        return None  # torch.export (2.13) lists **kwargs entries twice when it checks dynamic shapes
    return dict(bound.arguments)


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    marker = "The error above occurred when calling torch.export.export"
    if marker in text:
        text = text[: text.index(marker)].strip()
    return text if len(text) <= 4000 else text[:4000] + " ..."


def export(model: torch.nn.Module, args: tuple, kwargs: dict, dynamic: bool) -> Exported:
    """torch.export.export, then run_decompositions() to core ATen; torch's refusal becomes a GraphcError."""
    # Only shapes, dtypes and requires_grad matter to the export; a tensor's .grad would make torch fail
    # ('NoneType' object has no attribute 'size'), so it sees fresh leaves with the same requires_grad.
    args, kwargs = pytree.tree_map_only(torch.Tensor, lambda t: t.detach().requires_grad_(t.requires_grad), (args, kwargs))
    leaves = pytree.tree_leaves((args, kwargs))
    positions = set(batch_positions(leaves)) if dynamic else set()
    notes: list[str] = []
    program = None
    static = False  # whether a dynamic export was given up for the call's sizes
    batch_range: tuple[int, int | None] = (2, None)
    batch = next(t.shape[0] for i, t in enumerate(leaves) if i in positions) if positions else None
    while positions and program is None:
        shapes = _dynamic_shapes(model, args, kwargs, positions, batch_range)
        if shapes is None:
            notes.append("torch.export takes no dynamic batch size through **kwargs; exported for the call's sizes")
            static = True
            break
        try:
            program = torch.export.export(model, args, kwargs, dynamic_shapes=shapes)
        except Exception as error:  # noqa: BLE001 - torch raises many kinds; all are reported or retried
            if "Constraints violated" not in str(error):
                raise _export_error(model, error) from error
            lines = [line.strip(" -") for line in _reason(error).splitlines()[1:] if line.strip()]
            why = lines[0] if lines else "torch: constraints violated"
            # The model may only restrict the range of batch sizes (x[-3:] needs B >= 3): export for that range.
            suggested = _SUGGESTED_RANGE.search(str(error))
            if suggested and (suggested.group(1) or suggested.group(2)) and batch_range == (2, None):
                low = max(2, int(suggested.group(1) or 2))
                high = int(suggested.group(2)) if suggested.group(2) else None
                if low <= batch and (high is None or batch <= high):
                    batch_range = (low, high)
                    notes.append(f"the model restricts the batch size ({why}); exported for {low} <= B" + (f" <= {high}" if high else ""))
                    continue
            notes.append(f"the batch size is fixed by the model ({why}); exported for the call's sizes")
            static = True
            break
    if program is None:
        try:
            program = torch.export.export(model, args, kwargs)
        except Exception as error:  # noqa: BLE001
            raise _export_error(model, error) from error
    stops = _gradient_stops(program.graph)
    try:
        program = program.run_decompositions(_decompositions())
    except Exception as error:  # noqa: BLE001
        raise GraphcError(f"torch could not decompose the exported {type(model).__name__} to core ATen: {_reason(error)}") from error
    return Exported(program, dynamic=bool(positions) and not static, notes=notes, batch_range=batch_range, no_gradient=no_gradient_nodes(program.graph, stops))


def _decompositions() -> Any:
    """torch's decompositions to core ATen, but for the ops graphc lowers whole (``lowering.elementwise.UNDECOMPOSED``)."""
    table = torch.export.default_decompositions()
    for op in UNDECOMPOSED:
        table.pop(op)
    return table


def _gradient_stops(graph: torch.fx.Graph) -> set[str]:
    """Nodes of the exported graph past which no gradient flows: ``detach`` calls and the blocks that
    ran with grad mode off (torch.export wraps a ``torch.no_grad()`` block in ``wrap_with_set_grad_enabled``)."""
    stops = set()
    for node in graph.nodes:
        detach = node.target is torch.ops.aten.detach.default
        no_grad = node.target is torch.ops.higher_order.wrap_with_set_grad_enabled and node.args[0] is False
        if node.op == "call_function" and (detach or no_grad):
            stops.add(node.name)
    return stops


def no_gradient_nodes(decomposed: torch.fx.Graph, stops: set[str]) -> set[str]:
    """The nodes of the decomposed graph made from a node of ``stops``, by the provenance torch records.

    ``run_decompositions()`` makes a detach an ``alias`` and inlines ``no_grad`` blocks: the graph it
    returns computes the same values but no longer says where gradients stop, which only the node
    each decomposed node came from (``meta["from_node"]``) still tells.
    """
    names = set()
    for node in decomposed.nodes:
        if any(source.name in stops for source in node.meta.get("from_node") or []):
            names.add(node.name)
    return names


def _export_error(model: torch.nn.Module, error: BaseException) -> GraphcError:
    """torch's refusal as graphc says errors: what the module does that cannot be exported, the
    module's line that does it, what to change, then torch's own reason."""
    what, fix = _failure(error)
    where, inside = _user_frame(error)
    lines = [f"graphc.compile: torch.export could not export {type(model).__name__}: {what}"]
    lines.append(f"  at {where}" if where else "  (torch's error names no line of the module)")
    if inside:
        lines.append(f"  inside torch's layer at {inside}")
    lines.append(f"  {fix}")
    lines.append(f"  torch's reason: {_first_paragraph(_reason(error))}")
    return GraphcError("\n".join(lines))


_REWRITE = "change the module's code at that line so that torch.export can trace it"
_ELSEWHERE = "or keep that part out of the compiled module (compile the parts before and after it, and run it eagerly)"


def _failure(error: BaseException) -> tuple[str, str]:
    """(the construct torch could not export, what to do) for the usual kinds of failure."""
    from torch._subclasses.fake_tensor import DataDependentOutputException, DynamicOutputShapeException, UnsupportedOperatorException
    from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

    if isinstance(error, GuardOnDataDependentSymNode):
        return (
            "data-dependent control flow: Python needs the value of a tensor (an `if` or loop on a tensor, "
            ".item(), int(), float(), bool(), .tolist())",
            "a compiled program is one graph for every input value: compute both branches and pick with "
            f"torch.where, make the decision from shapes or Python values, {_ELSEWHERE}",
        )
    if isinstance(error, (UnsupportedOperatorException, DynamicOutputShapeException, DataDependentOutputException)):
        op = op_name(error.func)
        why = "torch has no shape rule (fake-tensor kernel) for it"
        if not isinstance(error, UnsupportedOperatorException):
            why = "its output's shape depends on the values"
        return f"the op {op}, which torch.export cannot trace ({why})", f"replace the op in the module's code, {_ELSEWHERE}"
    if "numpy()" in str(error) or "data pointer" in str(error) or "data_ptr" in str(error):
        return (
            "the module reads a tensor's data outside torch ops (.numpy(), NumPy or Python on tensor data)",
            f"torch.export traces tensors that hold no data: write that computation with torch ops, {_ELSEWHERE}",
        )
    return (
        f"{type(error).__name__} while tracing forward",
        f"check that the module runs eagerly with these arguments; if it does, {_REWRITE}, {_ELSEWHERE}; "
        "or write the model with graphc.nn and compile it with graphc.compile",
    )


def _first_paragraph(text: str) -> str:
    return text.split("\n\n")[0].strip()


def _user_frame(error: BaseException) -> tuple[str | None, str | None]:
    """``file:line: code`` of the module's innermost frame in the tracebacks of ``error`` and the
    errors it was raised from (torch re-raises), else of the call torch's message names; and of
    the torch layer's own line below it, where a layer (``nn.Transformer``, ``BatchNorm``) did it."""
    chain = []
    seen: BaseException | None = error
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for exception in reversed(chain):  # the innermost error first: its frames are deepest
        frames = traceback.extract_tb(exception.__traceback__)
        users = [i for i, f in enumerate(frames) if not _is_library(f.filename)]
        if users:
            layers = [f for f in frames[users[-1] + 1 :] if f.filename.startswith(_TORCH_LAYERS) and not f.filename.endswith(_MODULE_CALL)]
            return _frame_text(frames[users[-1]]), _frame_text(layers[-1], _TORCH_DIR) if layers else None
    named = [m for m in _FRAME.findall(str(error)) if not _is_library(m[0])]
    if named:
        filename, line, _, code = named[-1]
        return (f"{filename}:{line}: {code.strip()}" if code else f"{filename}:{line}"), None
    return None, None


_TORCH_LAYERS = os.path.join(_TORCH_DIR, "nn") + os.sep
_MODULE_CALL = os.path.join("nn", "modules", "module.py")  # Module.__call__, between every module and its caller


def _frame_text(frame: traceback.FrameSummary, relative_to: str | None = None) -> str:
    filename = os.path.relpath(frame.filename, os.path.dirname(relative_to)) if relative_to else frame.filename
    return f"{filename}:{frame.lineno}: {frame.line}" if frame.line else f"{filename}:{frame.lineno}"


def _is_library(filename: str) -> bool:
    if filename.startswith("<") or not os.path.isabs(filename):
        return True  # <frozen ...>, <string>, and torch's relative "torch/fx/..." frames
    path = os.path.abspath(filename)
    return path.startswith(_LIBRARY_DIRS)


def user_line(node: torch.fx.Node) -> str | None:
    """The model's source line that produced an FX node: the innermost frame outside torch and graphc."""
    trace = node.meta.get("stack_trace") or ""
    frames = _FRAME.findall(trace)
    for filename, line, _, code in reversed(frames):
        if not _is_library(filename):
            return f"{filename}:{line}: {code.strip()}" if code else f"{filename}:{line}"
    return None


def user_location(node: torch.fx.Node) -> str | None:
    """``file:line`` of :func:`user_line`, the form IR nodes carry in ``Node.loc``."""
    line = user_line(node)
    if line is None:
        return None
    filename, number = line.split(":", 2)[:2]
    return f"{filename}:{number}"

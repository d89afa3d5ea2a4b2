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
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils import _pytree as pytree

from graphc.errors import GraphcError

_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__))
_GRAPHC_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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
    try:
        program = program.run_decompositions()
    except Exception as error:  # noqa: BLE001
        raise GraphcError(f"torch could not decompose the exported {type(model).__name__} to core ATen: {_reason(error)}") from error
    return Exported(program, dynamic=bool(positions) and not static, notes=notes, batch_range=batch_range)


def _export_error(model: torch.nn.Module, error: BaseException) -> GraphcError:
    return GraphcError(f"graphc.compile: torch.export could not export {type(model).__name__}: {_reason(error)}")


def _is_library(filename: str) -> bool:
    if filename.startswith("<") or not os.path.isabs(filename):
        return True  # <frozen ...>, and torch's relative "torch/fx/..." frames
    path = os.path.abspath(filename)
    return path.startswith(_TORCH_DIR) or path.startswith(_GRAPHC_DIR)


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

"""torch.utils.checkpoint's ``checkpoint`` and ``checkpoint_sequential`` (public as ``graphc.utils.checkpoint``).

In torch a checkpoint drops a region's activations after the forward and runs the region
again during the backward. graphc's backward is not run by a tape: autodiff builds it as
nodes of the same graph, and the ``remat`` pass (graphc/passes/remat.py) decides, for the
whole program at once, which forward values the backward keeps and which it computes again.
So a checkpoint here computes the region once, as written, with its nodes in the phase
``"checkpoint"``, which lets remat recompute any of them in the backward (matmuls too, which
it otherwise keeps) where that keeps fewer bytes, while its results are kept, as torch keeps
them (docs/transforms.md, "Checkpoint"). Values and gradients are torch's. What torch's variants change
that is visible in results is kept: the reentrant variant gives no gradient to what the
region uses when none of its tensor arguments requires a gradient, and takes no keyword
arguments.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

from graphc.frontend.transforms.pytree import flatten
from graphc.ir.grad_mode import grad_mode
from graphc.ir.registry import origin
from graphc.passes.remat import CHECKPOINTED
from graphc.runtime.tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential"]


def _reentrant(use_reentrant: bool | None) -> bool:
    if use_reentrant is None:
        warnings.warn(
            "torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly; use_reentrant=False is recommended. "
            "graphc follows torch and defaults to use_reentrant=True.",
            stacklevel=3,
        )
        return True
    return use_reentrant


def checkpoint(function: Callable[..., Any], *args: Any, use_reentrant: bool | None = None, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` with torch's checkpoint semantics for values and gradients, its nodes
    marked as recomputable by remat."""
    reentrant = _reentrant(use_reentrant)
    if reentrant and kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    with origin(CHECKPOINTED):
        if reentrant and not any(isinstance(a, Tensor) and a.requires_grad for a in args):
            warnings.warn("None of the inputs have requires_grad=True. Gradients will be None", stacklevel=2)
            with grad_mode(False):
                return function(*args)
        result = function(*args, **kwargs)
    _keep_outputs(result)
    return result


def _keep_outputs(result: Any) -> None:
    """The region's results are ordinary forward values, kept as torch keeps them: only the inside is recomputed,
    so one checkpoint's recomputation starts from the previous one's results, not from the program's inputs."""
    for leaf in flatten(result)[0]:
        if isinstance(leaf, Tensor) and leaf._node.phase == CHECKPOINTED:
            leaf._node.phase = "forward"


def checkpoint_sequential(functions: Sequence[Callable[[Any], Any]], segments: int, input: Any, use_reentrant: bool | None = None, **kwargs: Any) -> Any:
    """Run ``functions`` (a ``Sequential`` or a list) in order, ``segments`` checkpointed pieces but the last, as torch."""
    reentrant = _reentrant(use_reentrant)
    functions = list(functions.children()) if hasattr(functions, "children") else list(functions)
    size = len(functions) // segments
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        piece = functions[start : end + 1]
        input = checkpoint(_run_all(piece), input, use_reentrant=reentrant, **kwargs)
    return _run_all(functions[end + 1 :])(input)


def _run_all(functions: list[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    def run(x: Any) -> Any:
        for f in functions:
            x = f(x)
        return x

    return run

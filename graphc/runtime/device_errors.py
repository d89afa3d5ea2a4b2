"""Errors that a program on a GPU flagged and the host has not read yet.

A Triton kernel cannot raise: it flags an index out of range in its program's ``errors``
buffer (``graphc.codegen.triton.KernelEmitter.checked_index``). Reading the flags right
after each call would make the host wait for the GPU on every call, so on a GPU they are
read where the host waits anyway: when a value is read back (``graphc.frontend.lazy.to_numpy``).
torch's CUDA index errors surface late in the same way. Under Triton's interpreter the
flags are read at once.
"""

from __future__ import annotations

from collections.abc import Callable

# One check per program (keyed by its flags buffer), for the latest call: its flags stay set until read.
_pending: dict[int, Callable[[], None]] = {}


def defer(key: int, check: Callable[[], None]) -> None:
    """Run ``check`` (which raises if its flags are set) at the next read of a value."""
    _pending[key] = check


def raise_pending() -> None:
    """Run the deferred checks; the first flagged error raises, the others stay pending."""
    while _pending:
        key = next(iter(_pending))
        _pending.pop(key)()

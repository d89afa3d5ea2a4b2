"""Printing tensors as torch does, and ``graphc.set_printoptions``.

A transcription of torch's ``_tensor_str`` for real tensors on their realized NumPy values: the
same options (precision, threshold, edgeitems, linewidth, sci_mode and the three profiles), the
same choice between fixed, integer-valued and scientific notation from the nonzero finite values,
the same column width, line wrapping and summarization with ``...``. So ``print(x)`` shows what
torch shows for the same values, with ``graphc.`` in the dtype suffix.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np


@dataclasses.dataclass
class _PrinterOptions:
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


PRINT_OPTS = _PrinterOptions()

_PROFILES = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}


def set_printoptions(
    precision: int | None = None,
    threshold: float | None = None,
    edgeitems: int | None = None,
    linewidth: int | None = None,
    profile: str | None = None,
    sci_mode: bool | None = None,
) -> None:
    """torch.set_printoptions: a profile ("default", "short", "full") first, then the options given; ``sci_mode`` is always set
    (None lets the values choose), as torch's."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(_PROFILES)}, got {profile!r}")
        for key, value in _PROFILES[profile].items():
            setattr(PRINT_OPTS, key, value)
    for key, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is not None:
            setattr(PRINT_OPTS, key, value)
    PRINT_OPTS.sci_mode = sci_mode


class _Formatter:
    """torch's column formatter: one width and one notation for every element of the (summarized) values."""

    def __init__(self, values: np.ndarray) -> None:
        self.floating = values.dtype.kind == "f" or values.dtype.name == "bfloat16"
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        flat = values.reshape(-1)
        if not self.floating:
            for value in flat.tolist():
                self.max_width = max(self.max_width, len(f"{value}"))
            return
        flat = flat.astype(np.float64)
        finite = flat[np.isfinite(flat) & (flat != 0)]
        if finite.size == 0:
            return
        magnitudes = np.abs(finite)
        smallest, largest = magnitudes.min(), magnitudes.max()
        self.int_mode = bool(np.all(finite == np.ceil(finite)))
        if PRINT_OPTS.sci_mode is None:
            self.sci_mode = bool(largest / smallest > 1000.0 or largest > 1.0e8 or smallest < 1.0e-4)
        else:
            self.sci_mode = PRINT_OPTS.sci_mode
        for value in finite.tolist():
            if self.sci_mode:
                width = len(f"{{:.{PRINT_OPTS.precision}e}}".format(value))
            elif self.int_mode:
                width = len(f"{value:.0f}") + 1
            else:
                width = len(f"{{:.{PRINT_OPTS.precision}f}}".format(value))
            self.max_width = max(self.max_width, width)

    def format(self, value: Any) -> str:
        if self.floating:
            if self.sci_mode:
                text = f"{{:{self.max_width}.{PRINT_OPTS.precision}e}}".format(value)
            elif self.int_mode:
                text = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    text += "."
            else:
                text = f"{{:.{PRINT_OPTS.precision}f}}".format(value)
        else:
            text = f"{value}"
        return (self.max_width - len(text)) * " " + text


def _python_values(values: np.ndarray) -> list:
    return (values.astype(np.float64) if values.dtype.name == "bfloat16" or values.dtype.kind == "f" else values).tolist()


def _vector(values: np.ndarray, indent: int, summarize: bool, formatter: _Formatter) -> str:
    per_line = max(1, math.floor((PRINT_OPTS.linewidth - indent) / (formatter.max_width + 2)))
    edge = PRINT_OPTS.edgeitems
    if summarize and not edge:
        data = ["..."]
    elif summarize and values.shape[0] > 2 * edge:
        data = [formatter.format(v) for v in _python_values(values[:edge])] + [" ..."] + [formatter.format(v) for v in _python_values(values[-edge:])]
    else:
        data = [formatter.format(v) for v in _python_values(values)]
    lines = [", ".join(data[i : i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _nested(values: np.ndarray, indent: int, summarize: bool, formatter: _Formatter) -> str:
    if values.ndim == 0:
        return formatter.format(_python_values(values))
    if values.ndim == 1:
        return _vector(values, indent, summarize, formatter)
    edge = PRINT_OPTS.edgeitems
    if summarize and values.shape[0] > 2 * edge:
        rows = [_nested(values[i], indent + 1, summarize, formatter) for i in range(edge)]
        rows += ["..."] + [_nested(values[i], indent + 1, summarize, formatter) for i in range(values.shape[0] - edge, values.shape[0])]
    else:
        rows = [_nested(values[i], indent + 1, summarize, formatter) for i in range(values.shape[0])]
    return "[" + ("," + "\n" * (values.ndim - 1) + " " * (indent + 1)).join(rows) + "]"


def _summarized(values: np.ndarray) -> np.ndarray:
    """The values a summarized print shows (the edge items of every dimension), which set the column format."""
    edge = PRINT_OPTS.edgeitems
    if values.ndim == 0:
        return values
    if values.ndim == 1:
        return np.concatenate([values[:edge], values[-edge:]]) if values.shape[0] > 2 * edge else values
    if not edge:
        return np.empty((0,) * values.ndim, dtype=values.dtype)
    rows = list(range(edge)) + list(range(values.shape[0] - edge, values.shape[0])) if values.shape[0] > 2 * edge else range(values.shape[0])
    return np.stack([_summarized(values[i]) for i in rows])


def tensor_string(values: np.ndarray, indent: int) -> str:
    if values.size == 0:
        return "[]"
    summarize = values.size > PRINT_OPTS.threshold
    formatter = _Formatter(_summarized(values) if summarize else values)
    return _nested(values, indent, summarize, formatter)


def _with_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    parts = [text]
    last_line = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line + len(suffix) + 2 > PRINT_OPTS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(values: np.ndarray, dtype: Any, default_float: Any, int64: Any, bool_: Any, requires_grad: bool) -> str:
    """``tensor(...)`` as torch writes it: the dtype unless the default float, int64 or bool (an empty tensor's unless the default
    float, with its size unless 1-d), and ``requires_grad=True``."""
    prefix = "tensor("
    suffixes = []
    if values.size == 0:
        if values.ndim != 1:
            suffixes.append(f"size={tuple(values.shape)}")
        if dtype != default_float:
            suffixes.append(f"dtype={dtype!r}")
        body = "[]"
    else:
        if not PRINT_OPTS.edgeitems:
            suffixes.append(f"size={tuple(values.shape)}")
        if dtype not in (default_float, int64, bool_):
            suffixes.append(f"dtype={dtype!r}")
        body = tensor_string(values, len(prefix))
    if requires_grad:
        suffixes.append("requires_grad=True")
    return _with_suffixes(prefix + body, suffixes, len(prefix))

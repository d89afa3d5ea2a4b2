"""The IR reference, generated from the op registry: ``python -m graphc.ir.reference`` writes docs/ops.md.

Every primitive is listed with its category, operands, attributes, the docstring of
its type rule (which documents the op), and its gradient: the VJP rule's docstring
and source, "not differentiable" for ops whose result carries no gradient, or
"leaf" for the sources of a graph. ``--check`` compares the file with what the
registry gives now and fails when they differ or a primitive has no documentation;
tests/test_docs.py runs the same check.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import textwrap

from graphc.ir import primitives  # noqa: F401  (registers every primitive)
from graphc.ir.registry import CATEGORIES, REGISTRY, OpDef

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_PATH = os.path.join(REPO_ROOT, "docs", "ops.md")
MAX_SOURCE_LINES = 14

CATEGORY_NOTES = {
    "source": "Leaves of a graph: values given by the caller, trainable weights, and scalar constants.",
    "elementwise": "One result element per operand element. Operands have one shape (and, for arithmetic, one dtype): "
    "broadcasting and promotion are explicit `expand`/`cast` nodes built by `graphc.ir.build`.",
    "reduction": "Reduce over `axes`, keeping them as size 1 when `keepdim`.",
    "movement": "Rearrange elements without computing: inside a kernel they become index arithmetic on loads.",
    "indexing": "Reads and writes at positions given by an integer index tensor.",
    "matmul": "Batched, broadcasting matrix product.",
    "window": "Sliding windows (im2col and its adjoint): convolution and pooling are built from these.",
    "scan": "Running sums along an axis. A kernel of its own on every backend.",
    "sort": "The permutation that sorts an axis; sorted values are a `gather` of it. A kernel of its own on every backend.",
    "random": "Random numbers from a seed operand.",
    "linalg": "Matrix factorizations and solvers over the last two axes, batched over the others. A kernel of its own on every backend "
    "(LAPACK through NumPy; one Triton program per matrix).",
}


def _relative(path: str) -> str:
    path = os.path.abspath(path)
    return os.path.relpath(path, REPO_ROOT).replace(os.sep, "/") if path.startswith(REPO_ROOT) else os.path.basename(path)


def signature(op: OpDef) -> tuple[list[str], list[str]]:
    """(operand names, attribute names) of ``op``, read from its type rule's parameters."""
    operands, attrs = [], []
    for param in inspect.signature(op.type_rule).parameters.values():
        if param.name in op.attrs:
            continue
        name = param.name.rstrip("_")
        operands.append(f"{name}..." if param.kind is inspect.Parameter.VAR_POSITIONAL else name)
    for name in op.attrs:
        annotation = inspect.signature(op.type_rule).parameters.get(name)
        kind = annotation.annotation if annotation is not None and annotation.annotation is not inspect.Parameter.empty else ""
        attrs.append(f"{name}: {kind}" if kind else name)
    return operands, attrs


def gradient(op: OpDef) -> str:
    if op.vjp is not None:
        return "VJP rule"
    if op.category == "source":
        return "leaf"
    if op.nondifferentiable:
        return "not differentiable"
    return "**missing**"


def _vjp_section(op: OpDef) -> list[str]:
    rule = op.vjp
    if rule is None:
        if op.category == "source":
            return ["- gradient: none, a leaf (autodiff stops here; `input`/`parameter` leaves receive gradients)"]
        if op.nondifferentiable:
            return ["- gradient: not differentiable (the result carries no gradient; autodiff skips it)"]
        return ["- gradient: **no VJP rule** (autodiff raises if a gradient must flow through it)"]
    source_file = inspect.getsourcefile(rule) or ""
    lines, _ = inspect.getsourcelines(rule)
    shared = sorted(name for name, other in REGISTRY.items() if other.vjp is rule and name != op.name)
    also = f", shared with {', '.join(f'`{n}`' for n in shared)}" if shared else ""
    out = [f"- gradient: VJP rule `{rule.__name__}` in {_relative(source_file)}{also}"]
    doc = inspect.getdoc(rule)
    if doc:
        out.append("")
        out.extend("  " + line if line else "" for line in doc.splitlines())
    body = textwrap.dedent("".join(lines)).rstrip().splitlines()
    if len(body) > MAX_SOURCE_LINES:
        body = body[:MAX_SOURCE_LINES] + [f"# ... {len(body) - MAX_SOURCE_LINES} more lines in {_relative(source_file)}"]
    out += ["", "  ```python"] + ["  " + line if line else "" for line in body] + ["  ```"]
    return out


def op_entry(op: OpDef) -> list[str]:
    operands, attrs = signature(op)
    args = ", ".join([*(f"%{o}" for o in operands), *(f"{a.split(':')[0]}=..." for a in attrs)])
    lines = [f"### `{op.name}`", "", op.doc or "**undocumented**", ""]
    lines.append(f"- printed form: `%n: <type> = {op.name}({args})`")
    lines.append(f"- operands: {', '.join(f'`{o}`' for o in operands) or 'none'}")
    lines.append(f"- attributes: {', '.join(f'`{a}`' for a in attrs) or 'none'}")
    lines.append(f"- type rule: in {_relative(inspect.getsourcefile(op.type_rule) or '')}")
    lines.extend(_vjp_section(op))
    return lines + [""]


def undocumented() -> list[str]:
    """Primitives whose type rule has no docstring."""
    return sorted(name for name, op in REGISTRY.items() if not op.doc.strip())


def generate() -> str:
    ordered = sorted(REGISTRY.values(), key=lambda op: (CATEGORIES.index(op.category), op.name))
    lines = [
        "# IR operations",
        "",
        "<!-- Generated from graphc's op registry by `python -m graphc.ir.reference`; do not edit by hand. -->",
        "",
        f"graphc's IR has {len(REGISTRY)} primitives. Everything else (the PyTorch-style functions, `nn` layers,",
        "optimizers) is built from these, so autodiff, fusion and the code generators only know this list.",
        "Each primitive is declared once in `graphc/ir/primitives/` with its type rule, whose docstring is the",
        "description below, and its VJP rule. See [ir.md](ir.md) for types, the printed form and phases.",
        "",
        "| op | category | attributes | gradient |",
        "|---|---|---|---|",
    ]
    for op in ordered:
        _, attrs = signature(op)
        names = ", ".join(a.split(":")[0] for a in attrs) or "-"
        lines.append(f"| [`{op.name}`](#{op.name}) | {op.category} | {names} | {gradient(op)} |")
    lines.append("")
    for category in CATEGORIES:
        members = [op for op in ordered if op.category == category]
        if not members:
            continue
        lines += [f"## {category}", "", CATEGORY_NOTES.get(category, ""), ""]
        for op in members:
            lines += op_entry(op)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graphc.ir.reference", description="Write the IR reference (docs/ops.md) from the op registry.")
    parser.add_argument("--out", default=DEFAULT_PATH, help="where to write it (default docs/ops.md)")
    parser.add_argument("--check", action="store_true", help="do not write; fail if the file is out of date or a primitive is undocumented")
    args = parser.parse_args(argv)
    missing = undocumented()
    if missing:
        print(f"undocumented primitives (give their type rule a docstring): {', '.join(missing)}", file=sys.stderr)
    text = generate()
    if args.check:
        current = ""
        if os.path.exists(args.out):
            with open(args.out) as f:
                current = f.read()
        if current != text:
            print(f"{args.out} is out of date: run python -m graphc.ir.reference", file=sys.stderr)
            return 1
        return 1 if missing else 0
    with open(args.out, "w") as f:
        f.write(text)
    print(f"wrote {args.out} ({len(REGISTRY)} primitives)")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())

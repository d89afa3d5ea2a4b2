"""Pictures of graphs: DOT text written here, rendered by Graphviz's ``dot`` program when present.

The DOT text is generated without any library, so a graph can be drawn on a
machine without the ``graphviz`` Python package; only turning it into SVG or PNG
needs Graphviz's ``dot`` program (``render`` says how to install it when it is
missing, and leaves the ``.dot`` file, which any Graphviz viewer opens).

What the picture shows:

- every node labelled with its printed name, op, and type (dtype and shape), plus
  short attributes; hovering (SVG) shows the printed IR line and the user's source line;
- graph inputs as blue "house" shapes, parameters as yellow cylinders, constants as
  small grey ellipses, outputs with a double border;
- nodes built by autodiff (``Node.phase == "backward"``) filled red with a dashed
  border and reached by red edges, so the backward pass stands apart from the forward;
- when kernels are given (a ``Program``'s), each kernel as a coloured cluster named like
  its generated function; a movement or constant node that several kernels read
  through (each kernel inlines its own copy as index arithmetic) is drawn outside them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from graphc.ir.graph import Graph, Node
from graphc.ir.printer import format_attrs, format_node, number_nodes
from graphc.ir.registry import VIEWS

# Pastel fills and darker borders for kernel clusters, cycled in schedule order.
CLUSTER_COLORS = [
    ("#e3f2fd", "#5c8fc4"),
    ("#e8f5e9", "#5b9e5f"),
    ("#fff8e1", "#c9a227"),
    ("#f3e5f5", "#9a5fa8"),
    ("#e0f7fa", "#3f9aa6"),
    ("#fdf3e1", "#c48a3c"),
    ("#f1f8e9", "#7fa34a"),
    ("#ede7f6", "#7262a8"),
]
PHASE_STYLE = {
    "forward": {"fillcolor": "#ffffff", "color": "#333333", "style": "rounded,filled"},
    "backward": {"fillcolor": "#f9d5d3", "color": "#b03a48", "style": "rounded,filled,dashed", "fontcolor": "#6b1d26"},
}
OTHER_PHASE_STYLE = {"fillcolor": "#d9f2e6", "color": "#2e7d5b", "style": "rounded,filled,dotted"}
SOURCE_STYLE = {
    "input": {"shape": "invhouse", "style": "filled", "fillcolor": "#cfe2f3", "color": "#3d6f9e"},
    "parameter": {"shape": "cylinder", "style": "filled", "fillcolor": "#fff2cc", "color": "#a88a1d"},
    "constant": {"shape": "ellipse", "style": "filled", "fillcolor": "#eeeeee", "color": "#999999", "fontsize": "9"},
}
EDGE_COLOR = {"forward": "#555555", "backward": "#b03a48"}
MAX_ATTR_CHARS = 36
RENDER_FORMATS = ("svg", "png", "pdf")


def quote(text: str) -> str:
    """A DOT double-quoted string (``\\n`` in ``text`` must already be the two-character escape)."""
    return '"' + text.replace('"', '\\"') + '"'


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _attr_list(attrs: dict[str, str]) -> str:
    return ", ".join(f"{k}={quote(v)}" for k, v in attrs.items())


def node_label(node: Node, name: str) -> str:
    """``%7 add`` / ``f32[B,30]`` / short attributes, as a DOT label (escaped)."""
    lines = [f"{name} {node.op}", str(node.type)]
    if node.op != "constant":
        attrs = ", ".join(format_attrs(node))
        if attrs:
            lines.append(attrs if len(attrs) <= MAX_ATTR_CHARS else attrs[: MAX_ATTR_CHARS - 3] + "...")
    else:
        lines[0] = f"{name} {node.attrs['value']!r}"
    return "\\n".join(_escape(line) for line in lines)


def _node_attrs(node: Node, name: str, names: dict[int, str], is_output: bool) -> dict[str, str]:
    attrs: dict[str, str] = {"label": node_label(node, name)}
    if node.op in SOURCE_STYLE:
        attrs.update(SOURCE_STYLE[node.op])
    else:
        attrs["shape"] = "box"
        attrs.update(PHASE_STYLE.get(node.phase, OTHER_PHASE_STYLE))
        if node.phase == "forward" and node.op in VIEWS:
            attrs["fontcolor"] = "#666666"  # views: index arithmetic, no data moved
    if node.phase == "backward" and node.op in SOURCE_STYLE:
        attrs["color"] = PHASE_STYLE["backward"]["color"]
    if is_output:
        attrs["peripheries"] = "2"
    tooltip = format_node(node, names)
    if node.phase != "forward":
        tooltip += f"  [{node.phase}]"
    if node.loc:
        tooltip += f"  at {node.loc}"
    attrs["tooltip"] = _escape(tooltip)
    return attrs


def _legend(has_backward: bool, has_kernels: bool) -> str:
    rows = [
        '<tr><td colspan="2"><b>legend</b></td></tr>',
        '<tr><td bgcolor="#cfe2f3">input</td><td bgcolor="#fff2cc">parameter</td></tr>',
        '<tr><td border="1">forward op</td><td bgcolor="#f9d5d3">backward op (autodiff)</td></tr>'
        if has_backward
        else '<tr><td colspan="2" border="1">op</td></tr>',
        '<tr><td colspan="2">double border: graph output</td></tr>',
    ]
    if has_kernels:
        rows.append('<tr><td colspan="2" bgcolor="#e3f2fd">cluster: one generated kernel</td></tr>')
    table = '<table border="0" cellborder="0" cellspacing="2" cellpadding="3">' + "".join(rows) + "</table>"
    return f"  legend [shape=plain, fontsize=10, label=<{table}>];"


def graph_to_dot(graph: Graph, kernels: Sequence[Any] | None = None, title: str | None = None, legend: bool = True) -> str:
    """DOT text for ``graph``; ``kernels`` (objects with ``name``, ``kind``, ``nodes``) become clusters."""
    nodes = graph.nodes
    names = number_nodes(nodes)
    outputs = {id(n) for n in graph.outputs}
    ids = {id(n): f"n{i}" for i, n in enumerate(nodes)}
    membership: dict[int, list[int]] = {}
    for k, kernel in enumerate(kernels or []):
        for node in kernel.nodes:
            membership.setdefault(id(node), []).append(k)
    lines = ["digraph graphc {", '  graph [rankdir=TB, fontname="Helvetica", fontsize=11, newrank=true];']
    lines.append('  node [fontname="Helvetica", fontsize=10, margin="0.08,0.04"];')
    lines.append('  edge [arrowsize=0.6, color="#555555"];')
    if title:
        lines.append(f"  labelloc=t; label={quote(_escape(title))};")

    def declare(node: Node, indent: str) -> str:
        return f"{indent}{ids[id(node)]} [{_attr_list(_node_attrs(node, names[id(node)], names, id(node) in outputs))}];"

    placed: set[int] = set()
    for k, kernel in enumerate(kernels or []):
        own = [n for n in kernel.nodes if membership.get(id(n)) == [k] and id(n) in ids]
        fill, border = CLUSTER_COLORS[k % len(CLUSTER_COLORS)]
        count = len(kernel.nodes)
        label = f"{kernel.name}\\n({kernel.kind}, {count} node{'s' if count != 1 else ''})"
        lines.append(f"  subgraph cluster_{k} {{")
        lines.append(f'    label={quote(label)}; style="rounded,filled"; fillcolor={quote(fill)}; color={quote(border)};')
        lines.append(f"    tooltip={quote(_escape(f'kernel {kernel.name}: ' + ', '.join(names.get(id(n), '?') for n in kernel.nodes)))};")
        for node in own:
            lines.append(declare(node, "    "))
            placed.add(id(node))
        lines.append("  }")
    for node in nodes:
        if id(node) not in placed:
            lines.append(declare(node, "  "))
    for node in nodes:
        for operand in node.inputs:
            color = EDGE_COLOR.get(node.phase, OTHER_PHASE_STYLE["color"])
            attrs = "" if node.phase == "forward" else f" [color={quote(color)}]"
            lines.append(f"  {ids[id(operand)]} -> {ids[id(node)]}{attrs};")
    if legend:
        lines.append(_legend(any(n.phase == "backward" for n in nodes), bool(kernels)))
    lines.append("}")
    return "\n".join(lines) + "\n"


def program_to_dot(program: Any, title: str | None = None) -> str:
    """The final graph of a ``Program`` with its kernels drawn as clusters."""
    return graph_to_dot(program.graph, program.kernels, title=title)


def dot_binary() -> str | None:
    return shutil.which("dot")


INSTALL_HINT = (
    "Graphviz's `dot` program is not installed, so only the .dot file was written. "
    "Install Graphviz (Debian/Ubuntu: `apt-get install graphviz`; macOS: `brew install graphviz`; "
    "conda: `conda install graphviz`) and run `dot -T{fmt} {path} -o {out}`, or open the .dot file in any Graphviz viewer."
)


def render(dot_path: str, fmt: str = "svg", out_path: str | None = None, timeout: float = 300.0) -> tuple[str | None, str]:
    """Render a ``.dot`` file with Graphviz's ``dot``; returns (the picture's path or None, a message)."""
    if fmt not in RENDER_FORMATS:
        raise ValueError(f"cannot render to {fmt!r}; choose one of {', '.join(RENDER_FORMATS)}")
    out = out_path or os.path.splitext(dot_path)[0] + "." + fmt
    binary = dot_binary()
    if binary is None:
        return None, INSTALL_HINT.format(fmt=fmt, path=dot_path, out=out)
    try:
        subprocess.run([binary, f"-T{fmt}", dot_path, "-o", out], check=True, capture_output=True, text=True, timeout=timeout)
    except subprocess.CalledProcessError as error:
        return None, f"dot failed on {dot_path}: {error.stderr.strip()}"
    except subprocess.TimeoutExpired:
        return None, f"dot took longer than {timeout:.0f} s on {dot_path}; the .dot file is there to render by hand"
    return out, f"wrote {out}"

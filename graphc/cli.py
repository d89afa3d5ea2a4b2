"""The ``graphc`` console script.

- ``graphc ops``: the primitives of the IR with their categories.
- ``graphc dump path/to/file.py:ModelOrFunction --input-shape 4,50 [...]``: compile a
  model or function on random inputs and write everything the compiler did into a
  folder (the IR after every pass, a picture of the final graph with its kernels, the
  kernels' source, the memory-plan chart and the compile report; see
  ``graphc/runtime/dump.py``). ``graphc dump saved_graph.txt`` does the same for a
  graph saved with ``Graph.save`` (or any ``NN_*.txt`` file of a dump).
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import os
import sys
from typing import Any

DUMP_EPILOG = """\
examples:
  graphc dump examples/mlp.py:MultilayerPerceptron --input-shape 64,50
  graphc dump examples/lenet.py:LeNet --input-shape 8,1,28,28 --backward --format png --out dumps/lenet
  graphc dump dumps/lenet/01_simplify.txt --input-shape 8,1,28,28

A class is instantiated with no arguments; a function is used as it is; a torch.nn.Module
is compiled through torch.export and called with torch tensors. Floating-point
inputs are drawn from a standard normal distribution (seed 0); integer and bool inputs
are zeros (valid indices and class labels). Without --backward the forward pass is
compiled under graphc.no_grad(); with it, a training step computes a scalar loss (the
mean or sum of the outputs), calls backward(), and returns the loss, so the graph holds
the backward pass too.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphc", description="graphc: a symbolic graph compiler for deep learning")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("ops", help="list the primitives of the IR with their categories")
    sub.add_parser(
        "bench", help="time eager PyTorch, torch.compile and graphc unfused/fused; write docs/benchmarks/ (graphc bench --help)", add_help=False
    )
    dump = sub.add_parser(
        "dump",
        help="compile a model or function and write the IR after every pass, pictures, kernels and the report",
        description="Compile a model, a function or a saved graph, and write what the compiler did into a folder.",
        epilog=DUMP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dump.add_argument("target", help="path/to/file.py:ModelOrFunction, or a saved graph (the printed IR, e.g. saved by Graph.save)")
    dump.add_argument(
        "--input-shape", action="append", default=[], metavar="SHAPE", help="shape of one input, e.g. 4,50 (repeat for every input, in order)"
    )
    dump.add_argument(
        "--dtype", action="append", default=[], metavar="DTYPE", help="dtype of the inputs (once for all, or once per --input-shape); default float32"
    )
    dump.add_argument("--out", metavar="DIR", help="output folder (default: graphc_dump_<name> in the current folder)")
    dump.add_argument("--format", default="svg", choices=["svg", "png", "dot", "text"], help="the graph picture's format (default svg)")
    dump.add_argument("--backward", action="store_true", help="compile a training step: loss of the outputs, backward()")
    dump.add_argument("--loss", default="mean", choices=["mean", "sum"], help="with --backward: the scalar loss taken of the outputs (default mean)")
    dump.add_argument("--backend", default="auto", help="numpy, triton or auto (default auto)")
    dump.add_argument("--no-fusion", action="store_true", help="compile the unfused program (one kernel per node)")
    dump.add_argument("--no-remat", action="store_true", help="keep every forward value the backward reads (no recomputation)")
    return parser


def list_ops() -> int:
    from graphc.ir import REGISTRY

    for name, op in sorted(REGISTRY.items(), key=lambda item: (item[1].category, item[0])):
        grad = "vjp" if op.vjp else ("no grad" if op.nondifferentiable else "-")
        print(f"{op.category:12} {name:14} {grad:8} {op.doc}")
    return 0


# ------------------------------------------------------------------------------------ dump


class UsageError(Exception):
    """A problem with the command line or the target, reported without a traceback."""


def parse_shape(text: str) -> tuple[int, ...]:
    parts = [p for p in text.replace("x", ",").replace(" ", "").split(",") if p]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise UsageError(f"--input-shape {text!r}: expected sizes separated by commas, e.g. 4,50") from None
    if any(d < 0 for d in shape):
        raise UsageError(f"--input-shape {text!r}: sizes cannot be negative")
    return shape


def _dtypes(names: list[str], count: int) -> list[Any]:
    from graphc.ir.dtypes import to_dtype

    if not names:
        names = ["float32"]
    if len(names) == 1:
        names = names * count
    if len(names) != count:
        raise UsageError(f"give --dtype once for all inputs or once per --input-shape ({count}), not {len(names)} times")
    try:
        return [to_dtype(n) for n in names]
    except Exception as error:  # noqa: BLE001 - any unknown name is a usage error
        raise UsageError(f"--dtype: {error}") from None


def _random_array(shape: tuple[int, ...], dtype: Any, rng: Any) -> Any:
    import numpy as np

    if dtype.is_floating_point:
        return rng.standard_normal(shape).astype(dtype.numpy)
    return np.zeros(shape, dtype=dtype.numpy)


def load_target(spec: str) -> tuple[Any, str]:
    """Import ``path/file.py:Name`` and return (the object, its name)."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise UsageError(f"{spec!r}: expected path/to/file.py:ModelOrFunction, or a saved graph file")
    if not os.path.isfile(path):
        raise UsageError(f"{path}: no such file")
    path = os.path.abspath(path)
    module_name = "graphc_dump_target_" + os.path.splitext(os.path.basename(path))[0]
    spec_obj = importlib.util.spec_from_file_location(module_name, path)
    if spec_obj is None or spec_obj.loader is None:
        raise UsageError(f"{path}: cannot import it as a Python file")
    module = importlib.util.module_from_spec(spec_obj)
    sys.modules[module_name] = module
    sys.path.insert(0, os.path.dirname(path))  # so the file's own imports of its neighbours work
    try:
        spec_obj.loader.exec_module(module)
    finally:
        sys.path.remove(os.path.dirname(path))
    if not hasattr(module, name):
        public = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_") and getattr(v, "__module__", None) == module_name)
        raise UsageError(f"{path} has no {name!r}; it defines: {', '.join(public) or 'nothing callable'}")
    return getattr(module, name), name


def _tensors_in(value: Any, found: dict[int, Any], depth: int = 0, seen: set[int] | None = None) -> None:
    """Every graphc Tensor reachable from ``value`` through attributes and containers."""
    from graphc.runtime.tensor import Tensor

    seen = set() if seen is None else seen
    if id(value) in seen or depth > 8:
        return
    seen.add(id(value))
    if isinstance(value, Tensor):
        found[id(value)] = value
        if value._grad is not None:
            found[id(value._grad)] = value._grad
        return
    if isinstance(value, (list, tuple, set)):
        items = list(value)
    elif isinstance(value, dict):
        items = list(value.values())
    elif inspect.isfunction(value):
        items = []
        for cell in value.__closure__ or ():
            try:
                items.append(cell.cell_contents)
            except ValueError:  # a cell not filled yet
                continue
    elif hasattr(value, "__dict__") and not isinstance(value, type) and not inspect.ismodule(value) and not inspect.isroutine(value):
        items = list(vars(value).values())
    else:
        return
    for item in items:
        _tensors_in(item, found, depth + 1, seen)


def _realize_state(*roots: Any) -> None:
    """Compute every pending tensor the target holds now, so the only compile inside the dump is the target's."""
    from graphc.frontend import lazy

    found: dict[int, Any] = {}
    for root in roots:
        _tensors_in(root, found)
    lazy.realize([t._node for t in found.values()])


def _loss_of(result: Any, how: str) -> Any:
    from graphc.runtime.tensor import Tensor

    tensors: list[Tensor] = []

    def collect(value: Any) -> None:
        if isinstance(value, Tensor):
            tensors.append(value)
        elif isinstance(value, (list, tuple)):
            for v in value:
                collect(v)
        elif isinstance(value, dict):
            for v in value.values():
                collect(v)

    collect(result)
    floating = [t for t in tensors if t.dtype.is_floating_point]
    if not floating:
        raise UsageError("--backward: the target returned no floating-point tensor to take a loss of")
    terms = [t.mean() if how == "mean" else t.sum() for t in floating]
    loss = terms[0]
    for term in terms[1:]:
        loss = loss + term
    return loss


def _default_out(name: str) -> str:
    return os.path.join(os.getcwd(), f"graphc_dump_{name}")


def dump_callable(args: argparse.Namespace) -> tuple[str, Any, Any]:
    """Compile the target on random inputs inside a dump; returns (folder, request, report)."""
    import numpy as np

    import graphc
    from graphc.runtime import dump

    target, name = load_target(args.target)
    if isinstance(target, type):
        try:
            target = target()
        except TypeError as error:
            raise UsageError(f"{name}: cannot instantiate it without arguments ({error})") from None
    if not callable(target):
        raise UsageError(f"{name} is a {type(target).__name__}, not a model class, a model or a function")
    if not args.input_shape:
        raise UsageError("give the shape of every input with --input-shape (e.g. --input-shape 4,50)")
    shapes = [parse_shape(s) for s in args.input_shape]
    dtypes = _dtypes(args.dtype, len(shapes))
    rng = np.random.default_rng(0)
    graphc.manual_seed(0)
    plain_function = inspect.isroutine(target)
    inputs = []
    for shape, dtype in zip(shapes, dtypes):
        tensor = graphc.from_numpy(_random_array(shape, dtype, rng))
        if args.backward and plain_function and dtype.is_floating_point:
            tensor.requires_grad_(True)  # a plain function has no parameters: differentiate its inputs
        inputs.append(tensor)
    if _is_torch_module(target):
        return _dump_torch_module(target, name, inputs, args)
    module_globals = getattr(target, "__globals__", None) or vars(sys.modules.get(type(target).__module__, sys))
    _realize_state(target, module_globals)

    if args.backward:

        def training_step(*xs: Any) -> Any:
            loss = _loss_of(target(*xs), args.loss)
            loss.backward()
            return loss

        training_step.__name__ = f"{name}_training_step"
        compiled = graphc.compile(training_step, backend=args.backend, fusion=not args.no_fusion, remat=not args.no_remat)
    else:
        compiled = graphc.compile(target, backend=args.backend, fusion=not args.no_fusion, remat=not args.no_remat)
    folder = os.path.abspath(args.out or _default_out(name))
    with dump.dumping(folder, args.format) as request:
        if args.backward:
            result = compiled(*inputs)
        else:
            with graphc.no_grad():
                result = compiled(*inputs)
        _realize_state(result)
    report = compiled.report() if compiled._last is not None else None
    return folder, request, report


def _saved_graph_shapes(graph: Any, given: list[tuple[int, ...]]) -> list[tuple[int, ...]] | None:
    """Shapes for every input of a saved graph: those given for the first inputs, the declared
    ones (with the symbolic sizes the given shapes bind) for the rest; None if a size stays unknown."""
    import sympy

    if len(given) > len(graph.inputs):
        raise UsageError(f"the graph has {len(graph.inputs)} inputs but {len(given)} --input-shape were given")
    sizes: dict[sympy.Symbol, int] = {}
    for shape, node in zip(given, graph.inputs):
        if len(shape) != len(node.shape):
            raise UsageError(f"--input-shape {','.join(map(str, shape))} does not fit input {node.type}")
        for declared, actual in zip(node.shape, shape):
            if isinstance(declared, sympy.Symbol):
                sizes[declared] = actual
    shapes = list(given)
    for node in graph.inputs[len(given) :]:
        dims = [d if isinstance(d, int) else sympy.sympify(d).subs(sizes) for d in node.shape]
        if not all(isinstance(d, int) or d.is_Integer for d in dims):
            return None
        shapes.append(tuple(int(d) for d in dims))
    return shapes


def _is_torch_module(target: Any) -> bool:
    return any(c.__module__.startswith("torch.nn") for c in type(target).__mro__)


def _dump_torch_module(model: Any, name: str, inputs: list[Any], args: argparse.Namespace) -> tuple[str, Any, Any]:
    """A torch.nn.Module: compiled through torch.export, called with torch tensors."""
    import torch

    import graphc
    from graphc.runtime import dump

    tensors = [torch.from_numpy(t.numpy().copy()) for t in inputs]
    compiled = graphc.compile(model, backend=args.backend, fusion=not args.no_fusion, remat=not args.no_remat)
    folder = os.path.abspath(args.out or _default_out(name))
    with dump.dumping(folder, args.format) as request:
        if args.backward:
            for t in tensors:
                t.requires_grad_(t.is_floating_point())
            out = compiled(*tensors)
            outs = [o for o in (out if isinstance(out, (tuple, list)) else [out]) if isinstance(o, torch.Tensor) and o.is_floating_point()]
            loss = sum(o.mean() if args.loss == "mean" else o.sum() for o in outs)
            loss.backward()
        else:
            with torch.no_grad():
                compiled(*tensors)
    return folder, request, compiled.report()


def dump_saved_graph(args: argparse.Namespace) -> tuple[str, Any, Any]:
    import numpy as np

    from graphc.errors import GraphcError
    from graphc.ir.graph import Graph
    from graphc.runtime import config, dump
    from graphc.runtime.executor import compile_graph

    try:
        graph = Graph.load(args.target)
    except GraphcError as error:
        raise UsageError(f"{args.target}: not a graph in graphc's printed form ({error})") from None
    shapes = _saved_graph_shapes(graph, [parse_shape(s) for s in args.input_shape])
    name = os.path.splitext(os.path.basename(args.target))[0]
    backend = config.default_backend() if args.backend == "auto" else args.backend
    folder = os.path.abspath(args.out or _default_out(name))
    with dump.dumping(folder, args.format) as request:
        compiled = compile_graph(graph, backend=backend, fusion=not args.no_fusion, remat=not args.no_remat)
    if shapes is None:
        request.messages.append("the graph has symbolic sizes: give --input-shape (for the inputs that have them) to run it and draw the memory chart")
    else:
        rng = np.random.default_rng(0)
        compiled([_random_array(shape, node.dtype, rng) for shape, node in zip(shapes, graph.inputs)])
    return folder, request, compiled.report


def dump_command(args: argparse.Namespace) -> int:
    from graphc.errors import GraphcError

    saved_graph = os.path.isfile(args.target) and not args.target.endswith(".py")
    try:
        folder, request, report = dump_saved_graph(args) if saved_graph else dump_callable(args)
    except (UsageError, GraphcError) as error:
        print(f"graphc dump: {error}", file=sys.stderr)
        return 2
    if report is not None:
        with open(os.path.join(folder, "report.txt"), "w") as f:
            f.write(str(report) + "\n")
    print(f"graphc dump: wrote {folder}")
    for extra in request.folders[1:]:
        print(f"  (the target compiled more than once; the later compile is in {extra})")
    for root, _, files in sorted(os.walk(folder)):
        for file in sorted(files):
            print("  " + os.path.relpath(os.path.join(root, file), os.getcwd()))
    for message in dict.fromkeys(request.messages):
        print(f"note: {message}")
    if report is not None:
        print()
        print(report)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # the benchmark owns its options
        from graphc import benchmark

        return benchmark.main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "ops":
        return list_ops()
    if args.command == "dump":
        return dump_command(args)
    return 1


if __name__ == "__main__":
    sys.exit(main())

"""The fused-vs-unfused benchmark: training steps and single kernels, side by side in one run.

Each workload is written twice with the same shapes, once for PyTorch and once for
graphc. Every workload is timed, in the same process and in alternating rounds, as eager
PyTorch, ``torch.compile``, graphc with fusion off and graphc with fusion on; the table
reports median milliseconds per step, the ratio to eager PyTorch, graphc's kernel
counts and its planned memory against the naive sum of its buffers.

``--device cuda`` runs the same workloads on a GPU: the models and data live on the
device, graphc compiles for Triton (``backend="auto"`` picks it for CUDA data), each step
is timed with CUDA events, and single kernels also report the bytes they must move per
second against the device's measured copy bandwidth.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

Step = Callable[[], Any]


@dataclass
class Result:
    workload: str
    variant: str  # eager, torch.compile, graphc unfused, graphc fused
    median_ms: float | None
    kernels: int | None = None
    naive_bytes: int | None = None
    peak_bytes: int | None = None
    note: str = ""
    gb_per_s: float | None = None  # a single kernel's least bytes moved per second (CUDA runs)
    first_steps_s: float | None = None  # building the variant and its first two steps: tracing and compiling


@dataclass
class Workload:
    name: str
    torch_step: Callable[[], Step]  # builds the model and returns one step
    graphc_step: Callable[[bool], tuple[Step, Any]]  # (fusion) -> step and its compiled function
    kind: str = "training step"
    # A single kernel's least traffic: every input read once and every output written once.
    min_bytes: int | None = None


Clock = Callable[[Step, Callable[[Any], None]], float]


def wall_clock(step: Step, sync: Callable[[Any], None]) -> float:
    start = time.perf_counter()
    sync(step())
    return time.perf_counter() - start


def cuda_clock(step: Step, sync: Callable[[Any], None]) -> float:
    """Seconds between CUDA events around one step (the device's timeline, launch gaps included).

    The end event is queued after the step's kernels, so no device synchronization is
    needed inside the timed span; a lazy graphc result is realized first (its kernels queued).
    """
    import torch

    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    sync_graphc(step())
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1000


def device_timing(device: str) -> tuple[Clock, Callable[[Any], None]]:
    """The clock and the wait for graphc's results that time a step on ``device`` ("cpu" or "cuda")."""
    return (cuda_clock, sync_cuda) if device == "cuda" else (wall_clock, sync_graphc)


def interleaved(
    steps: dict[str, tuple[Step, Callable[[Any], None]]], warmup: int, repeats: int, rounds: int = 3, clock: Clock = wall_clock
) -> dict[str, float]:
    """Median ms per step of each variant, timed in turns over a few rounds.

    A shared machine's speed drifts by tens of percent over a minute; timing each variant
    once, one after the other, would put that drift into their ratios, so every variant
    gets a turn in each round. Each turn starts with ``warmup`` untimed steps: OpenBLAS and
    OpenMP threads spin after their work, and eager PyTorch's LSTM step measured 7.3 ms
    instead of 3.2 ms right after graphc's NumPy matmuls.
    """
    samples: dict[str, list[float]] = {name: [] for name in steps}
    per_turn = max(1, -(-repeats // rounds))
    for _ in range(rounds):
        for name, (step, sync) in steps.items():
            for _ in range(warmup):
                sync(step())
            for _ in range(per_turn):
                samples[name].append(clock(step, sync))
    return {name: statistics.median(values) * 1000 for name, values in samples.items()}


def sync_graphc(value: Any) -> None:
    if hasattr(value, "realize"):
        value.realize()


def _sync_torch(value: Any) -> None:
    return None


def sync_cuda(value: Any) -> None:
    import torch

    sync_graphc(value)
    torch.cuda.synchronize()


# ---------------------------------------------------------------------------------- workloads


def _data(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _labels(n: int, classes: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, classes, n).astype(np.int64)


def _train_workload(
    name: str,
    make_torch_model: Callable[[], Any],
    make_graphc_model: Callable[[], Any],
    inputs: list[np.ndarray],
    optimizer: str,
    lr: float,
    loss: str,
    device: str = "cpu",
) -> Workload:
    """A training step (forward, loss, backward, optimizer update) on fixed data."""

    def torch_step() -> Step:
        import torch

        model = make_torch_model().to(device)
        opt = getattr(torch.optim, optimizer)(model.parameters(), lr=lr)
        tensors = [torch.from_numpy(a).to(device) for a in inputs]
        criterion = _torch_loss(loss)

        def step() -> Any:
            opt.zero_grad(set_to_none=True)
            out = criterion(model(*tensors[:-1]), tensors[-1])
            out.backward()
            opt.step()
            return out

        return step

    def graphc_step(fusion: bool) -> tuple[Step, Any]:
        import graphc

        model = make_graphc_model().to(device)
        opt = getattr(graphc.optim, optimizer)(model.parameters(), lr=lr)
        tensors = [graphc.from_numpy(a).to(device) for a in inputs]
        criterion = _graphc_loss(loss)

        def train(*batch: Any) -> Any:
            opt.zero_grad(set_to_none=True)
            out = criterion(model(*batch[:-1]), batch[-1])
            out.backward()
            opt.step()
            return out

        compiled = graphc.compile(train, fusion=fusion)
        return functools.partial(compiled, *tensors), compiled

    return Workload(name, torch_step, graphc_step)


def _torch_loss(name: str) -> Callable[[Any, Any], Any]:
    import torch.nn.functional as F

    return {"cross_entropy": F.cross_entropy, "mse": lambda out, target: F.mse_loss(out, target)}[name]


def _graphc_loss(name: str) -> Callable[[Any, Any], Any]:
    import graphc.nn.functional as F

    return {"cross_entropy": F.cross_entropy, "mse": lambda out, target: F.mse_loss(out, target)}[name]


def _mlp(nn: Any) -> Any:
    return nn.Sequential(nn.Linear(50, 30), nn.ReLU(), nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 3))


def _lenet(nn: Any) -> Any:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )


def _lstm(nn: Any) -> Any:
    class LSTMClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(28, 64, batch_first=True)
            self.head = nn.Linear(64, 10)

        def forward(self, x: Any) -> Any:
            output, _ = self.lstm(x)
            return self.head(output[:, -1, :])

    return LSTMClassifier()


def _transformer_mlp(nn: Any) -> Any:
    class Block(nn.Module):
        def __init__(self, d: int = 256) -> None:
            super().__init__()
            self.norm = nn.LayerNorm(d)
            self.up = nn.Linear(d, 4 * d)
            self.act = nn.GELU()
            self.down = nn.Linear(4 * d, d)

        def forward(self, x: Any) -> Any:
            return x + self.down(self.act(self.up(self.norm(x))))

    return Block()


def _gpt_block(nn: Any) -> Any:
    """A pre-norm decoder block: causal multi-head self-attention and an MLP, each with a residual."""
    F = nn.functional

    class GPTBlock(nn.Module):
        def __init__(self, d: int = 128, heads: int = 4) -> None:
            super().__init__()
            self.heads = heads
            self.norm1 = nn.LayerNorm(d)
            self.qkv = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)
            self.norm2 = nn.LayerNorm(d)
            self.up = nn.Linear(d, 4 * d)
            self.down = nn.Linear(4 * d, d)

        def forward(self, x: Any) -> Any:
            batch, tokens, d = x.shape
            q, k, v = (z.reshape(batch, tokens, self.heads, d // self.heads).transpose(1, 2) for z in self.qkv(self.norm1(x)).split(d, dim=-1))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(batch, tokens, d))
            return x + self.down(F.gelu(self.up(self.norm2(x))))

    return GPTBlock()


def _same_weights(make: Callable[[Any], Any]) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """Builders for a torch model and a graphc model holding the same initial weights."""
    import torch

    import graphc

    def make_torch() -> Any:
        torch.manual_seed(0)
        return make(torch.nn)

    def make_graphc() -> Any:
        model = make(graphc.nn)
        model.load_state_dict(make_torch().state_dict())
        return model

    return make_torch, make_graphc


def _kernel_workload(
    name: str, torch_fn: Callable[..., Any], graphc_fn: Callable[..., Any], inputs: list[np.ndarray], output_bytes: int, device: str = "cpu"
) -> Workload:
    def torch_step() -> Step:
        import torch

        tensors = [torch.from_numpy(a).to(device) for a in inputs]
        return lambda: torch_fn(*tensors)

    def graphc_step(fusion: bool) -> tuple[Step, Any]:
        import graphc

        tensors = [graphc.from_numpy(a).to(device) for a in inputs]
        compiled = graphc.compile(graphc_fn, fusion=fusion)
        return functools.partial(compiled, *tensors), compiled

    return Workload(name, torch_step, graphc_step, kind="kernel", min_bytes=sum(a.nbytes for a in inputs) + output_bytes)


def _adam_workload(numel: int, device: str = "cpu") -> Workload:
    """One Adam update over ``numel`` parameters whose gradients are already there."""

    def torch_step() -> Step:
        import torch

        param = torch.nn.Parameter(torch.from_numpy(_data(numel)).to(device))
        param.grad = torch.from_numpy(_data(numel, seed=1)).to(device)
        opt = torch.optim.Adam([param], lr=1e-3)
        return lambda: opt.step()

    def graphc_step(fusion: bool) -> tuple[Step, Any]:
        import graphc

        param = graphc.nn.Parameter(graphc.from_numpy(_data(numel)).to(device))
        grad = graphc.from_numpy(_data(numel, seed=1)).to(device)
        opt = graphc.optim.Adam([param], lr=1e-3)

        def update() -> None:
            param.grad = grad
            opt.step()

        compiled = graphc.compile(update, fusion=fusion)
        return compiled, compiled

    # Reads the parameter, its gradient and both moments; writes the parameter and the moments.
    return Workload(f"Adam step, {numel / 1e6:.0f}M parameters", torch_step, graphc_step, kind="kernel", min_bytes=7 * 4 * numel)


def kernel_sizes(quick: bool, device: str) -> tuple[int, int, int]:
    """Rows and width of the single-kernel workloads, and the Adam step's parameter count.

    On an H200 the CPU sizes (8-16 MB a kernel) measured the cost of a call, not of memory:
    eager PyTorch itself moved 14-20% of the copy bandwidth. A few hundred MB a kernel do not.
    """
    if quick:
        return 512, 256, 1_000_000
    return (65536, 1024, 100_000_000) if device == "cuda" else (4096, 512, 10_000_000)


def workloads(quick: bool = False, device: str = "cpu") -> list[Workload]:
    import torch.nn.functional as TF

    import graphc.nn.functional as GF

    rows, width, adam = kernel_sizes(quick, device)
    mlp_t, mlp_g = _same_weights(_mlp)
    lenet_t, lenet_g = _same_weights(_lenet)
    lstm_t, lstm_g = _same_weights(_lstm)
    block_t, block_g = _same_weights(_transformer_mlp)
    gpt_t, gpt_g = _same_weights(_gpt_block)
    weight, bias = _data(width, seed=2), _data(width, seed=3)
    table = rows * width * 4  # bytes of one float32 [rows, width] result
    return [
        _train_workload("MLP 50-30-20-3, batch 256, SGD", mlp_t, mlp_g, [_data(256, 50), _labels(256, 3)], "SGD", 0.05, "cross_entropy", device),
        _train_workload("LeNet, batch 64, Adam", lenet_t, lenet_g, [_data(64, 1, 28, 28), _labels(64, 10)], "Adam", 1e-3, "cross_entropy", device),
        _train_workload(
            "LSTM classifier, batch 64, 28 steps, Adam", lstm_t, lstm_g, [_data(64, 28, 28), _labels(64, 10)], "Adam", 1e-3, "cross_entropy", device
        ),
        _train_workload(
            "Transformer MLP block d=256, 1024 rows, Adam", block_t, block_g, [_data(1024, 256), _data(1024, 256, seed=5)], "Adam", 1e-3, "mse", device
        ),
        _train_workload(
            "GPT block d=128, 4 heads, 8x64 tokens, causal, AdamW", gpt_t, gpt_g, [_data(8, 64, 128), _data(8, 64, 128, seed=5)], "AdamW", 1e-3, "mse", device
        ),
        _kernel_workload(f"softmax {rows}x{width}", lambda x: TF.softmax(x, -1), lambda x: GF.softmax(x, -1), [_data(rows, width)], table, device),
        _kernel_workload(
            f"layer-norm {rows}x{width}",
            lambda x, w, b: TF.layer_norm(x, (width,), w, b),
            lambda x, w, b: GF.layer_norm(x, (width,), w, b),
            [_data(rows, width), weight, bias],
            table,
            device,
        ),
        _kernel_workload(f"cross-entropy {rows}x1000", TF.cross_entropy, GF.cross_entropy, [_data(rows, 1000), _labels(rows, 1000)], 4, device),
        _kernel_workload(
            f"bias+GELU+residual {rows}x{width}",
            lambda x, b, r: TF.gelu(x + b) + r,
            lambda x, b, r: GF.gelu(x + b) + r,
            [_data(rows, width), bias, _data(rows, width, seed=4)],
            table,
            device,
        ),
        _adam_workload(adam, device),
    ]


# ---------------------------------------------------------------------------------- running


def run(quick: bool = False, repeats: int = 20, warmup: int = 3, only: str | None = None, device: str = "cpu") -> list[Result]:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        from graphc.errors import GraphcError

        raise GraphcError("graphc bench --device cuda: CUDA is not available on this machine")
    cuda = device == "cuda"
    clock, graphc_sync = device_timing(device)
    torch_sync = sync_cuda if cuda else _sync_torch
    results: list[Result] = []
    for workload in workloads(quick, device):
        if only and only.lower() not in workload.name.lower():
            continue
        steps: dict[str, tuple[Step, Callable[[Any], None]]] = {"eager PyTorch": (workload.torch_step(), torch_sync)}
        prepared = {"torch.compile": _prepared(steps, "torch.compile", lambda w=workload: torch.compile(w.torch_step()), torch_sync)}
        reports = {}
        for fusion in (False, True):
            name = "graphc fused" if fusion else "graphc unfused"
            built: list[Any] = []
            prepared[name] = _prepared(steps, name, lambda w=workload, f=fusion, b=built: _graphc_variant(w, f, b), graphc_sync)
            reports[name] = built[0] if built else None
        medians = interleaved(steps, warmup, repeats, clock=clock)
        for name in ("eager PyTorch", "torch.compile", "graphc unfused", "graphc fused"):
            note, first_steps = prepared.get(name, ("", None))
            result = Result(workload.name, name, medians.get(name), note=note, first_steps_s=first_steps)
            if cuda and workload.min_bytes and result.median_ms:
                result.gb_per_s = workload.min_bytes / (result.median_ms / 1000) / 1e9
            compiled_fn = reports.get(name)
            if compiled_fn is not None and result.median_ms is not None:
                report = compiled_fn.report()
                result.kernels = report.num_kernels
                result.naive_bytes, result.peak_bytes = int(report.memory.naive_bytes), int(report.memory.peak_bytes)
            results.append(result)
    return results


def _graphc_variant(workload: Workload, fusion: bool, built: list[Any]) -> Step:
    step, compiled_fn = workload.graphc_step(fusion)
    built.append(compiled_fn)
    return step


def _prepared(
    steps: dict[str, tuple[Step, Callable[[Any], None]]], name: str, build: Callable[[], Step], sync: Callable[[Any], None]
) -> tuple[str, float | None]:
    """Build a variant and run it twice (compiling happens here, outside the timed rounds).

    Returns a note (a failure is reported, not fatal) and the seconds of building the variant
    and running those two steps: where tracing and compiling happen (a graphc training step
    creates the optimizer's state eagerly on its first call and compiles on its second).
    """
    try:
        started = time.perf_counter()
        step = build()
        for _ in range(2):
            sync(step())
        first_steps = time.perf_counter() - started
    except Exception as error:  # noqa: BLE001 - one variant failing leaves the others' table
        first_line = str(error).splitlines()[0][:120] if str(error) else ""
        return f"failed: {type(error).__name__}" + (f": {first_line}" if first_line else ""), None
    steps[name] = (step, sync)
    return "", first_steps


def copy_bandwidth(nbytes: int = 1 << 28, repeats: int = 20) -> float:
    """The device's copy bandwidth in GB/s (bytes read and written), measured: what memory-bound kernels are held to."""
    import torch

    source = torch.empty(nbytes // 4, dtype=torch.float32, device="cuda")
    target = torch.empty_like(source)
    times = [cuda_clock(lambda: target.copy_(source), _sync_torch) for _ in range(repeats)]
    return 2 * nbytes / statistics.median(times) / 1e9


def machine() -> str:
    """The CPU model, core count and library versions: a table means nothing without them."""
    import torch

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    described = (
        f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )
    if torch.cuda.is_available():
        import triton

        described = f"{torch.cuda.get_device_name()}, Triton {triton.__version__}; " + described
    return described


def markdown(results: list[Result], title: str, copy_gb_per_s: float | None = None) -> str:
    """The table; with the device's copy bandwidth, single kernels' GB/s and their share of it too."""
    eager = {r.workload: r.median_ms for r in results if r.variant == "eager PyTorch"}
    header = "| workload | variant | median ms | vs eager | kernels | planned / naive memory | first 2 steps s |"
    rule = "|---|---|---:|---:|---:|---:|---:|"
    if copy_gb_per_s:
        header, rule = header + " GB/s (of copy) |", rule + "---:|"
    lines = [f"# {title}", ""]
    if copy_gb_per_s:
        lines += [f"Measured copy bandwidth: {copy_gb_per_s:.0f} GB/s.", ""]
    lines += [header, rule]
    for r in results:
        ms = f"{r.median_ms:.3f}" if r.median_ms is not None else "—"
        base = eager.get(r.workload)
        ratio = f"{r.median_ms / base:.2f}×" if r.median_ms is not None and base else "—"
        kernels = str(r.kernels) if r.kernels is not None else ""
        memory = f"{r.peak_bytes / 1e6:.2f} / {r.naive_bytes / 1e6:.2f} MB" if r.naive_bytes else ""
        note = f" ({r.note})" if r.note else ""
        first_steps = f"{r.first_steps_s:.2f}" if r.first_steps_s is not None else ""
        line = f"| {r.workload} | {r.variant}{note} | {ms} | {ratio} | {kernels} | {memory} | {first_steps} |"
        if copy_gb_per_s:
            line += f" {r.gb_per_s:.0f} ({r.gb_per_s / copy_gb_per_s:.0%}) |" if r.gb_per_s else " |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def save(results: list[Result], path_prefix: str, title: str, copy_gb_per_s: float | None = None) -> None:
    with open(path_prefix + ".json", "w") as f:
        json.dump({"machine": machine(), "copy_gb_per_s": copy_gb_per_s, "results": [asdict(r) for r in results]}, f, indent=2)
    with open(path_prefix + ".md", "w") as f:
        f.write(markdown(results, title, copy_gb_per_s))


def profile(workload: Workload, steps: int = 20) -> str:
    """Where graphc's fused step of ``workload`` spends its time, kernel by kernel (``cm.profile``)."""
    step, compiled = workload.graphc_step(True)
    return f"{workload.name}\n{compiled.profile(*step.args, steps=steps)}"


def main(argv: list[str] | None = None) -> int:
    """``graphc bench`` and ``benchmarks/run.py``: run the suite, print the table, write it under docs/benchmarks/."""
    parser = argparse.ArgumentParser(prog="graphc bench", description="Time eager PyTorch, torch.compile and graphc unfused/fused side by side.")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--repeats", type=int, default=20, help="timed steps per variant (the median is reported)")
    parser.add_argument("--only", help="run only the workloads whose name contains this (nothing is written)")
    parser.add_argument("--out", default=os.path.join("docs", "benchmarks"), help="folder for the markdown and JSON tables")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cpu: the NumPy backend; cuda: Triton on the GPU, timed with CUDA events")
    parser.add_argument("--profile", action="store_true", help="instead: time each kernel of graphc's fused step inside the running step (nothing is written)")
    args = parser.parse_args(argv)
    if args.profile:
        for workload in workloads(args.quick, args.device):
            if not args.only or args.only.lower() in workload.name.lower():
                print(profile(workload, args.repeats), end="\n\n")
        return 0
    results = run(quick=args.quick, repeats=args.repeats, only=args.only, device=args.device)
    copy = copy_bandwidth() if args.device == "cuda" else None
    day = datetime.date.today().isoformat()
    backend = "Triton backend" if args.device == "cuda" else "NumPy backend"
    title = f"{args.device.upper()} benchmark ({backend}), {day}, {machine()}"
    print(markdown(results, title, copy))
    if not args.only:
        os.makedirs(args.out, exist_ok=True)
        prefix = os.path.join(args.out, f"{args.device}-{'quick-' if args.quick else ''}{day}")
        save(results, prefix, title, copy)
        print(f"wrote {prefix}.md and {prefix}.json")
    return 0

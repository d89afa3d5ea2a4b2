"""Batch-norm's training step (forward and backward) against eager PyTorch, on the CPU.

    python benchmarks/batch_norm.py             # BatchNorm1d(512) on 4096 x 512, float32
    python benchmarks/batch_norm.py --rows 256
    python benchmarks/batch_norm.py --images    # BatchNorm2d(16) on 64 x 16 x 28 x 28

Not one of the issue's workloads: it times the kernels that compute full-size results from
sums over the batch. Over rows, C loops run them cut at those sums (``docs/numpy_backend.md``,
"Totals, then what is computed from them"); over images, as one function with a row per
channel.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import graphc  # noqa: E402
from graphc import benchmark, nn  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--features", type=int, default=512)
    parser.add_argument("--images", action="store_true", help="BatchNorm2d(16) on 64 images of 28 x 28 instead")
    args = parser.parse_args()
    if args.images:
        shape, name = (64, 16, 28, 28), "BatchNorm2d(16)"
        norm, reference = nn.BatchNorm2d(16), torch.nn.BatchNorm2d(16)
    else:
        shape, name = (args.rows, args.features), f"BatchNorm1d({args.features})"
        norm, reference = nn.BatchNorm1d(args.features), torch.nn.BatchNorm1d(args.features)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)

    def graphc_step(x: graphc.Tensor) -> tuple[graphc.Tensor, graphc.Tensor]:
        x.requires_grad_(True)
        loss = (norm(x) ** 2).sum()
        loss.backward()
        return loss.detach(), x.grad

    def eager_step() -> torch.Tensor:
        tx = torch.from_numpy(x).requires_grad_(True)
        (reference(tx) ** 2).sum().backward()
        return tx.grad

    compiled = graphc.compile(graphc_step)
    steps = {
        "eager PyTorch": (eager_step, lambda value: None),
        "graphc fused": (lambda: compiled(graphc.tensor(x)), benchmark.sync_graphc),
    }
    medians = benchmark.interleaved(steps, warmup=3, repeats=30)
    print(f"{name} training step on {'x'.join(map(str, shape))} float32, {benchmark.machine()}")
    for name, ms in medians.items():
        print(f"  {name:14s} {ms:8.3f} ms  {ms / medians['eager PyTorch']:.2f}x eager")
    print(f"  graphc kernels: {compiled.report().num_kernels}")


if __name__ == "__main__":
    main()

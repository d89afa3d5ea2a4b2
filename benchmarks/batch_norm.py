"""Batch-norm's training step (forward and backward of ``BatchNorm1d``) against eager PyTorch, on the CPU.

    python benchmarks/batch_norm.py             # 4096 x 512, float32
    python benchmarks/batch_norm.py --rows 256

Not one of the issue's workloads: it times the kernels that compute full-size results from
column sums (batch-norm's ``x - mean``), which C loops run cut at those sums
(``docs/numpy_backend.md``, "Totals, then what is computed from them").
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
    args = parser.parse_args()
    x = np.random.default_rng(0).standard_normal((args.rows, args.features)).astype(np.float32)
    norm, reference = nn.BatchNorm1d(args.features), torch.nn.BatchNorm1d(args.features)

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
    print(f"BatchNorm1d({args.features}) training step on {args.rows}x{args.features} float32, {benchmark.machine()}")
    for name, ms in medians.items():
        print(f"  {name:14s} {ms:8.3f} ms  {ms / medians['eager PyTorch']:.2f}x eager")
    print(f"  graphc kernels: {compiled.report().num_kernels}")


if __name__ == "__main__":
    main()

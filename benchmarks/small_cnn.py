"""A small CNN with batch-norm (conv → BatchNorm2d → ReLU → max-pool, twice, then a linear layer) against eager PyTorch, on the CPU.

    python benchmarks/small_cnn.py              # batch 64 of 1 x 28 x 28, SGD
    python benchmarks/small_cnn.py --profile    # also each kernel's time inside the step

Not one of the issue's workloads: LeNet has no batch-norm. It times what a convolutional
network with batch-norm adds: sums over batch, height and width, their backward, and the
max-pools' windows (``docs/numpy_backend.md``).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import graphc  # noqa: E402
from graphc import benchmark, nn, optim  # noqa: E402


def network(m):  # noqa: ANN001, ANN201 - torch.nn or graphc.nn
    return m.Sequential(
        m.Conv2d(1, 16, 3, padding=1), m.BatchNorm2d(16), m.ReLU(), m.MaxPool2d(2),
        m.Conv2d(16, 32, 3, padding=1), m.BatchNorm2d(32), m.ReLU(), m.MaxPool2d(2),
        m.Flatten(), m.Linear(32 * 7 * 7, 10),
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    reference, model = network(torch.nn), network(nn)
    model.load_state_dict({k: graphc.tensor(v.detach().numpy()) for k, v in reference.state_dict().items()})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, args.batch)
    reference_sgd, sgd = torch.optim.SGD(reference.parameters(), lr=0.01), optim.SGD(model.parameters(), lr=0.01)

    def graphc_step(x: graphc.Tensor, y: graphc.Tensor) -> graphc.Tensor:
        sgd.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        sgd.step()
        return loss.detach()

    def eager_step() -> torch.Tensor:
        reference_sgd.zero_grad()
        loss = torch.nn.functional.cross_entropy(reference(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        reference_sgd.step()
        return loss.detach()

    compiled = graphc.compile(graphc_step)
    inputs = (graphc.tensor(x), graphc.tensor(y))
    first, expected = float(compiled(*inputs)), float(eager_step())
    steps = {
        "eager PyTorch": (eager_step, lambda value: None),
        "graphc fused": (lambda: compiled(*inputs), benchmark.sync_graphc),
    }
    medians = benchmark.interleaved(steps, warmup=3, repeats=30)
    print(f"small CNN with BatchNorm2d, batch {args.batch}, SGD, {benchmark.machine()}")
    print(f"  first loss: graphc {first:.6f}, eager {expected:.6f}")
    for name, ms in medians.items():
        print(f"  {name:14s} {ms:8.3f} ms  {ms / medians['eager PyTorch']:.2f}x eager")
    print(f"  graphc kernels: {compiled.report().num_kernels}")
    if args.profile:
        print(compiled.profile(*inputs, steps=20))


if __name__ == "__main__":
    main()

"""The demo: a small CNN learns scikit-learn's handwritten digits (8x8 images, no download).

Everything runs through graphc: the model is graphc.nn, each training step (forward,
backward, Adam update) is one compiled program, and the data comes through
graphc.data.DataLoader.
"""

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from tqdm import tqdm

import graphc
import graphc.nn.functional as F
from graphc import nn, optim
from graphc.data import DataLoader, TensorDataset


class DigitsCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x: graphc.Tensor) -> graphc.Tensor:
        return self.classifier(self.features(x))


def load_data(seed: int) -> tuple[TensorDataset, TensorDataset]:
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    split = int(0.8 * len(labels))
    train, test = order[:split], order[split:]
    make = graphc.from_numpy
    return TensorDataset(make(images[train]), make(labels[train])), TensorDataset(make(images[test]), make(labels[test]))


def evaluate(model: nn.Module, loader: DataLoader) -> float:
    model.eval()
    correct = 0
    total = 0
    with graphc.no_grad():
        for images, labels in loader:
            correct += (model(images).argmax(dim=1) == labels).sum().item()
            total += labels.shape[0]
    return correct / total


def main(epochs: int = 8, batch_size: int = 64, seed: int = 0) -> float:
    graphc.manual_seed(seed)
    train_set, test_set = load_data(seed)
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=True, generator=seed)
    test_loader = DataLoader(test_set, batch_size=256)
    model = DigitsCNN()
    optimizer = optim.Adam(model.parameters(), lr=3e-3)

    @graphc.compile
    def train_step(images: graphc.Tensor, labels: graphc.Tensor) -> graphc.Tensor:
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        progress = tqdm(train_loader, desc=f"epoch {epoch + 1}/{epochs}", unit="batch")
        for images, labels in progress:
            loss = train_step(images, labels)
            progress.set_postfix(loss=f"{loss.item():.3f}")
    seconds = time.perf_counter() - start
    accuracy = evaluate(model, test_loader)
    print(f"test accuracy {accuracy:.3f} on {len(test_set)} held-out digits; training took {seconds:.1f} s")
    print(f"compiled training step: {train_step.trace_count} trace(s), {train_step.report().num_kernels} kernels")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.epochs, args.batch_size, args.seed)

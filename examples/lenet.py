"""LeNet-5 on 28x28 inputs, trained for a few compiled steps on random data (shapes, not accuracy)."""

import graphc
import graphc.nn.functional as F
from graphc import nn, optim


class LeNet(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: graphc.Tensor) -> graphc.Tensor:
        return self.classifier(self.features(x))


def main(steps: int = 5, batch_size: int = 16) -> list[float]:
    graphc.manual_seed(0)
    model = LeNet()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)

    @graphc.compile
    def train_step(images: graphc.Tensor, labels: graphc.Tensor) -> graphc.Tensor:
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    images = graphc.randn(batch_size, 1, 28, 28)
    labels = graphc.randint(0, 10, (batch_size,))
    losses = []
    for step in range(steps):
        losses.append(train_step(images, labels).item())
        print(f"step {step}: loss {losses[-1]:.4f}")
    print(train_step.report())
    return losses


if __name__ == "__main__":
    main()

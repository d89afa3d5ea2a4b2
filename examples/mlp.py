"""The 50 -> 30 -> 20 -> 3 multilayer perceptron of the tutorials, and its parameter count."""

import graphc
from graphc import nn


class MultilayerPerceptron(nn.Module):
    def __init__(self, num_features: int = 50, num_classes: int = 3) -> None:
        super().__init__()
        self.all_layers = nn.Sequential(
            nn.Linear(num_features, 30),
            nn.ReLU(),
            nn.Linear(30, 20),
            nn.ReLU(),
            nn.Linear(20, num_classes),
        )

    def forward(self, x: graphc.Tensor) -> graphc.Tensor:
        return self.all_layers(x)


def main() -> int:
    graphc.manual_seed(123)
    model = MultilayerPerceptron()
    print(model)
    num_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print("Total number of trainable model parameters:", num_params)
    logits = model(graphc.rand(4, 50))
    print("logits of 4 random examples:", logits.shape)
    return num_params


if __name__ == "__main__":
    main()

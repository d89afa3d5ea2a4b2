"""Linear regression with a TensorDataset, a DataLoader and SGD on noisy synthetic data."""

import graphc
import graphc.nn.functional as F
from graphc import nn, optim
from graphc.data import DataLoader, TensorDataset


def main() -> tuple[float, float]:
    graphc.manual_seed(0)
    x = graphc.randn(200, 1)
    y = 3.0 * x + 2.0 + 0.1 * graphc.randn(200, 1)
    loader = DataLoader(TensorDataset(x, y), batch_size=20, shuffle=True)
    model = nn.Linear(1, 1)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(20):
        for features, targets in loader:
            loss = F.mse_loss(model(features), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch % 5 == 4:
            print(f"epoch {epoch + 1}: loss {loss.item():.4f}")
    weight, bias = model.weight.item(), model.bias.item()
    print(f"learned y = {weight:.3f} x + {bias:.3f} (true: y = 3 x + 2)")
    return weight, bias


if __name__ == "__main__":
    main()

"""An LSTM sequence classifier: is the sum of a random sequence positive? Trained with Adam."""

import graphc
import graphc.nn.functional as F
from graphc import nn, optim


class LSTMClassifier(nn.Module):
    def __init__(self, input_size: int = 1, hidden_size: int = 16, num_classes: int = 2) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, x: graphc.Tensor) -> graphc.Tensor:
        output, (h_n, c_n) = self.lstm(x)
        return self.head(output[:, -1, :])


def main(steps: int = 60) -> float:
    graphc.manual_seed(0)
    x = graphc.randn(128, 8, 1)
    y = (x.sum(dim=(1, 2)) > 0).long()
    model = LSTMClassifier()
    optimizer = optim.Adam(model.parameters(), lr=0.02)
    for step in range(steps):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 20 == 0:
            print(f"step {step}: loss {loss.item():.4f}")
    with graphc.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    print(f"training accuracy {accuracy:.3f}")
    return accuracy


if __name__ == "__main__":
    main()

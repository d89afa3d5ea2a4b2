"""A custom Dataset and a DataLoader over a toy two-class problem, trained with a small MLP."""

import graphc
import graphc.nn.functional as F
from graphc import nn
from graphc.data import DataLoader, Dataset

X_TRAIN = graphc.tensor([[-1.2, 3.1], [-0.9, 2.9], [-0.5, 2.6], [2.3, -1.1], [2.7, -1.5]])
Y_TRAIN = graphc.tensor([0, 0, 0, 1, 1])
X_TEST = graphc.tensor([[-0.8, 2.8], [2.6, -1.6]])
Y_TEST = graphc.tensor([0, 1])


class ToyDataset(Dataset):
    def __init__(self, x: graphc.Tensor, y: graphc.Tensor) -> None:
        self.features = x
        self.labels = y

    def __getitem__(self, index: int) -> tuple[graphc.Tensor, graphc.Tensor]:
        return self.features[index], self.labels[index]

    def __len__(self) -> int:
        return self.labels.shape[0]


def accuracy(model: nn.Module, loader: DataLoader) -> float:
    model.eval()
    correct, total = 0, 0
    with graphc.no_grad():
        for features, labels in loader:
            predictions = model(features).argmax(dim=1)
            correct += (predictions == labels).sum().item()
            total += len(labels)
    return correct / total


def main() -> float:
    graphc.manual_seed(123)
    train_loader = DataLoader(ToyDataset(X_TRAIN, Y_TRAIN), batch_size=2, shuffle=True, drop_last=True)
    test_loader = DataLoader(ToyDataset(X_TEST, Y_TEST), batch_size=2)
    model = nn.Sequential(nn.Linear(2, 30), nn.ReLU(), nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 2))
    optimizer = graphc.optim.SGD(model.parameters(), lr=0.5)
    for epoch in range(3):
        model.train()
        for batch_idx, (features, labels) in enumerate(train_loader):
            loss = F.cross_entropy(model(features), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            print(f"Epoch {epoch + 1}/3 | Batch {batch_idx}/{len(train_loader)} | Train loss {loss.item():.2f}")
    train_acc, test_acc = accuracy(model, train_loader), accuracy(model, test_loader)
    print(f"train accuracy {train_acc:.2f}, test accuracy {test_acc:.2f}")
    return test_acc


if __name__ == "__main__":
    main()

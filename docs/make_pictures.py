"""Regenerate the pictures in docs/images/ with graphc itself: ``python docs/make_pictures.py``.

It compiles the training step of a small MLP (forward, loss, backward) with the same
machinery as ``graphc dump`` and copies the picture of the final graph (kernels as
clusters, backward nodes in red) and the memory-plan chart into docs/images/.
Rendering the graph needs Graphviz's ``dot`` program; without it only the .dot file
is copied, and the script says how to install Graphviz.
"""

from __future__ import annotations

import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

import graphc  # noqa: E402
import graphc.nn.functional as F  # noqa: E402
from graphc import nn  # noqa: E402
from graphc.runtime import dump  # noqa: E402


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(16, 32)
        self.out = nn.Linear(32, 4)

    def forward(self, x: graphc.Tensor) -> graphc.Tensor:
        return self.out(graphc.tanh(self.hidden(x)))


def main() -> int:
    graphc.manual_seed(0)
    model = MLP()

    def train_step(x: graphc.Tensor, labels: graphc.Tensor) -> graphc.Tensor:
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        return loss

    step = graphc.compile(train_step)
    x, labels = graphc.randn(8, 16), graphc.randint(0, 4, (8,))
    images = os.path.join(HERE, "images")
    os.makedirs(images, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        with dump.dumping(folder, "svg") as request:
            step(x, labels)
        for name, target in [("graph.svg", "mlp_training_step.svg"), ("graph.dot", "mlp_training_step.dot"), ("memory.svg", "mlp_memory.svg")]:
            source = os.path.join(folder, name)
            if os.path.exists(source):
                with open(source) as f:
                    text = f.read().replace(REPO + os.sep, "")  # source lines relative to the repository
                with open(os.path.join(images, target), "w") as f:
                    f.write(text)
                print(f"wrote docs/images/{target}")
        for message in request.messages:
            print(f"note: {message}")
    print(step.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Logistic regression by hand with graphc.autograd.grad: the classic first autograd example.

One example (x1 = 1.1, y = 1), one weight w1 = 2.2 and a bias b = 0: the gradients of the
binary cross-entropy are dL/dw1 = -0.0898 and dL/db = -0.0817, as PyTorch prints them.
"""

import graphc
import graphc.nn.functional as F
from graphc.autograd import grad


def main() -> tuple[float, float]:
    y = graphc.tensor([1.0])
    x1 = graphc.tensor([1.1])
    w1 = graphc.tensor([2.2], requires_grad=True)
    b = graphc.tensor([0.0], requires_grad=True)
    z = x1 * w1 + b
    a = graphc.sigmoid(z)
    loss = F.binary_cross_entropy(a, y)
    grad_w1, grad_b = grad(loss, [w1, b])
    print(f"loss {loss.item():.4f}  dL/dw1 {grad_w1.item():.4f}  dL/db {grad_b.item():.4f}")
    return grad_w1.item(), grad_b.item()


if __name__ == "__main__":
    main()

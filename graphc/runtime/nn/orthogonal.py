"""``parametrizations.orthogonal``: torch's orthogonal parametrization, with its "matrix_exp", "cayley"
and "householder" maps.

The weight is computed from the original as torch computes it: the exponential (``matrix_exp``) or
the Cayley retraction (I + A/2)(I - A/2)^-1 (a ``linalg.solve``) of the skew-symmetric A from the
original's lower triangle, or a product of Householder reflectors (``linalg.householder_product``),
times the ``base`` of the dynamic trivialization. ``right_inverse`` starts ``base`` from the QR of
the assigned matrix, as torch does.
"""

from __future__ import annotations

from graphc.errors import GraphcError
from graphc.frontend import constructors, functional, manipulation, pointwise
from graphc.frontend.decompositions import linalg_qr
from graphc.frontend.linalg_solvers import solve
from graphc.frontend.matrix_functions import matrix_exp
from graphc.frontend.spectral import householder_product
from graphc.ir.grad_mode import grad_mode
from graphc.runtime.nn.module import Module
from graphc.runtime.nn.parametrize import register_parametrization
from graphc.runtime.tensor import Tensor

MAPS = ("matrix_exp", "cayley", "householder")


def _is_orthogonal(q: Tensor) -> bool:
    """torch's test: Q^T Q is I within 10 n eps."""
    n, k = q.shape[-2], q.shape[-1]
    eps = 10.0 * n * (2.220446049250313e-16 if q.dtype.name == "float64" else 1.1920928955078125e-07)
    return pointwise.allclose(q.mT @ q, constructors.eye(k, dtype=q.dtype), atol=eps)


def _make_orthogonal(a: Tensor) -> Tensor:
    """Q of the QR of the tall A with R's diagonal made non-negative (torch's geqrf and householder_product give the same Q)."""
    q, r = linalg_qr(a)
    return q * functional.unsqueeze(functional.sign(manipulation.diagonal(r, 0, -2, -1)), -2)


class _Orthogonal(Module):
    def __init__(self, weight: Tensor, orthogonal_map: str, *, use_trivialization: bool = True) -> None:
        super().__init__()
        self.shape = tuple(weight.shape)
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X: Tensor) -> Tensor:
        n, k = X.shape[-2], X.shape[-1]
        transposed = n < k
        if transposed:
            X = X.mT
            n, k = k, n
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            X = manipulation.tril(X)
            if n != k:
                X = functional.cat([X, functional.expand(constructors.zeros(n, n - k, dtype=X.dtype), (*X.shape[:-2], n, n - k))], dim=-1)
            A = X - X.mT
            if self.orthogonal_map == "matrix_exp":
                Q = matrix_exp(A)
            else:
                identity = constructors.eye(n, dtype=A.dtype)
                Q = solve(identity - 0.5 * A, identity + 0.5 * A)
            if n != k:
                Q = Q[..., :k]
        else:
            A = manipulation.tril(X, -1)
            tau = 2.0 / (1.0 + (A * A).sum(dim=-2))
            Q = householder_product(A, tau)
            # the original's diagonal holds ones and minus ones: a sign per column, not differentiated
            Q = Q * functional.unsqueeze(manipulation.diagonal(X, 0, -2, -1).int(), -2)
        if hasattr(self, "base"):
            Q = self.base @ Q
        return Q.mT if transposed else Q

    def right_inverse(self, Q: Tensor) -> Tensor:
        if tuple(Q.shape) != self.shape:
            raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. Got a tensor of shape {tuple(Q.shape)}.")
        with grad_mode(False):
            return self._right_inverse(Q)

    def _right_inverse(self, Q: Tensor) -> Tensor:
        start = Q
        n, k = Q.shape[-2], Q.shape[-1]
        if n < k:
            Q = Q.mT
            n, k = k, n
        if not hasattr(self, "base"):
            if self.orthogonal_map in ("matrix_exp", "cayley"):
                raise NotImplementedError(
                    "It is not possible to assign to the matrix exponential or the Cayley parametrizations when use_trivialization=False."
                )
            raise GraphcError("orthogonal: the householder map without use_trivialization starts from geqrf's reflectors, which graphc does not compute")
        if n == k:
            Q = Q.clone() if _is_orthogonal(Q) else _make_orthogonal(Q)
        else:  # completed to n x n by random columns, as torch (graphc's random numbers, not torch's)
            extra = constructors.randn(*Q.shape[:-2], n, n - k, dtype=Q.dtype)
            Q = _make_orthogonal(functional.cat([Q, extra], dim=-1))
        self.base = Q
        # -I: the householder map of it is I, so the weight starts as base's first columns
        rows, cols = start.shape[-2], start.shape[-1]
        return functional.expand(-constructors.eye(rows, cols, dtype=start.dtype), tuple(start.shape))


def orthogonal(module: Module, name: str = "weight", orthogonal_map: str | None = None, *, use_trivialization: bool = True) -> Module:
    """``module.<name>`` made orthogonal (orthonormal columns, or rows for a wide matrix) by the exponential or Cayley map or Householder reflectors."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    if orthogonal_map not in MAPS:
        raise ValueError(f'orthogonal_map has to be one of "matrix_exp", "cayley", "householder". Got: {orthogonal_map}')
    register_parametrization(module, name, _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization), unsafe=True)
    return module

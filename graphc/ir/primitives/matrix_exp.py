"""The matrix exponential: one ``linalg`` primitive, differentiated by the block-matrix identity.

exp(A) is scaling and squaring with a Taylor polynomial, as torch's (Bader, Blanes and Casas),
the degree and the number of squarings chosen from each matrix's 1-norm when the kernel runs
(``graphc/codegen/numpy_linalg.py``, ``triton_linalg.py``): a static graph could not branch on
the norm, so the choice lives in the kernel. The gradient is the upper-right block of
exp([[A^T, G], [0, A^T]]) (Najfeld and Havel; torch's ``backward_analytic_function_of_a_matrix``),
the same primitive on 2n x 2n matrices.
"""

from __future__ import annotations

from graphc.ir import build as b
from graphc.ir.graph import Node
from graphc.ir.primitives.lu_cholesky import _square
from graphc.ir.registry import defvjp, emit, primitive
from graphc.ir.types import TensorType

# Largest 1-norm of A for which the Taylor polynomial of each degree has a backward error below
# the unit roundoff (torch's thetas, from Bader, Blanes and Casas 2019); past the last one A is
# scaled by 2^-s into it and the result squared s times.
DEGREES = (1, 2, 4, 8, 12, 18)
THETAS = {
    "float32": (1.192092800768788e-07, 5.978858893805233e-04, 5.116619363445086e-02, 5.800524627688768e-01, 1.461661507209034e00, 3.010066362817634e00),
    "float64": (2.220446049250313e-16, 2.580956802971767e-08, 3.397168839976962e-04, 4.991228871115323e-02, 2.996158913811580e-01, 1.090863719290036e00),
}


@primitive("matrix_exp", "linalg")
def matrix_exp_rule(a: TensorType) -> TensorType:
    """exp(A) of [..., n, n] matrices: scaling and squaring with a Taylor polynomial whose degree each matrix's 1-norm chooses"""
    _square(a)
    return a


@defvjp("matrix_exp")
def matrix_exp_vjp(node: Node, g: Node) -> tuple:
    """The upper-right n x n block of exp([[A^T, G], [0, A^T]])."""
    a_t = b.transpose_last(node.inputs[0])
    batch, n = tuple(a_t.shape[:-2]), a_t.shape[-1]
    axis = len(batch)
    top = emit("concat", a_t, g, axis=axis + 1)
    bottom = emit("concat", b.zeros_like(a_t), a_t, axis=axis + 1)
    block = emit("matrix_exp", emit("concat", top, bottom, axis=axis))
    starts = (0,) * axis + (0, n)
    stops = batch + (n, 2 * n)
    return (emit("slice", block, starts=starts, stops=stops, steps=(1,) * (axis + 2)),)

"""Eigenvectors and singular vectors are defined up to sign, and LAPACK builds and graphc's Triton
kernels pick different ones: the decomposition tests compare vectors after turning each of graphc's
columns to the sign of torch's."""

from __future__ import annotations

import numpy as np
import torch


def aligned(ours: np.ndarray, theirs: torch.Tensor, axis: int = -2) -> tuple[np.ndarray, np.ndarray]:
    """``ours`` with each vector (running along ``axis``: columns by default, rows with -1) multiplied by
    the sign of its dot product with torch's, and the signs used (to apply to the partner vectors)."""
    theirs = theirs.detach().numpy()
    signs = np.where(np.sum(ours * theirs, axis=axis, keepdims=True) < 0, -1.0, 1.0).astype(ours.dtype)
    return ours * signs, signs


def assert_orthonormal_columns(q: np.ndarray, atol: float) -> None:
    """Q^T Q = I for every matrix of the batch."""
    gram = np.swapaxes(q, -1, -2) @ q
    np.testing.assert_allclose(gram, np.broadcast_to(np.eye(q.shape[-1]), gram.shape), atol=atol)

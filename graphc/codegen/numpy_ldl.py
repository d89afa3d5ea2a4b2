"""The NumPy kernels of the LDL primitives: LAPACK's sytrf and sytrs (lower triangle, Bunch-Kaufman pivoting),
written out because NumPy exposes neither.

torch's CPU build calls MKL's sytrf; the steps here are reference LAPACK's unblocked dsytf2, which
picks the same pivots (MKL's blocked code makes the same choices on the same updated columns) except
for a NaN on the diagonal, which dsytf2 reports as info but MKL, and so torch, pivots past: this
follows MKL. Matrices are factored one at a time (each takes its own 1x1 and 2x2 steps) on a full
symmetric copy of the trailing block, so a column and a row read the same values.
"""

from __future__ import annotations

import numpy as np

# Bunch and Kaufman's threshold, (1 + sqrt(17)) / 8: it bounds the growth of the entries.
ALPHA = (1.0 + np.sqrt(17.0)) / 8.0


def ldl_factor(a: np.ndarray) -> np.ndarray:
    """sytrf over the batch: LD (the lower triangle, zeros above), the 1-based pivots and info, packed as the ``ldl_factor`` primitive's result."""
    n = a.shape[-1]
    batch = a.shape[:-2]
    count = int(np.prod(batch))
    matrices = np.asarray(a).reshape((count, n, n))
    out = np.zeros((count, n * n + n + 1), dtype=a.dtype)
    for i, matrix in enumerate(matrices):
        factor, pivots, info = _sytf2(matrix)
        out[i] = np.concatenate([np.tril(factor).reshape(-1), pivots, [info]])
    return out.reshape(batch + (n * n + n + 1,))


def _sytf2(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """One matrix's factor (lower part meaningful), pivots and info, as LAPACK's dsytf2 with uplo='L'."""
    n = matrix.shape[-1]
    w = np.tril(matrix) + np.tril(matrix, -1).T
    pivots = np.zeros(n, dtype=matrix.dtype)
    info = 0
    k = 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        while k < n:
            step, kp = 1, k
            absakk = abs(w[k, k])
            column = np.abs(w[k + 1 :, k])
            imax = k + 1 + int(np.argmax(column)) if k + 1 < n else k
            colmax = column.max(initial=0.0)
            if absakk == 0 and colmax == 0:
                info = info or k + 1
            else:
                if not absakk >= ALPHA * colmax:
                    row = np.abs(w[imax, k:])
                    row[imax - k] = 0
                    rowmax = row.max()
                    if absakk >= ALPHA * colmax * (colmax / rowmax):
                        pass
                    elif abs(w[imax, imax]) >= ALPHA * rowmax:
                        kp = imax
                    else:
                        kp, step = imax, 2
                kk = k + step - 1
                if kp != kk:  # the trailing block's rows and columns kk and kp change places
                    w[[kk, kp], k:] = w[[kp, kk], k:]
                    w[k:, [kk, kp]] = w[k:, [kp, kk]]
                _eliminate(w, k, step)
            if step == 1:
                pivots[k] = kp + 1
            else:
                pivots[k] = pivots[k + 1] = -(kp + 1)
            k += step
    return w, pivots, info


def _eliminate(w: np.ndarray, k: int, step: int) -> None:
    """The trailing block's update by the 1x1 or 2x2 pivot at k, and the multipliers stored below it (dsyr; dsytf2's 2x2 loop)."""
    rest = slice(k + step, None)
    lower = np.tri(w.shape[0] - k - step, dtype=bool)
    if step == 1:
        d11 = 1.0 / w[k, k]
        x = w[rest, k].copy()
        update = x[:, None] * (d11 * x)[None, :]
        w[rest, rest] -= np.where(lower, update, update.T)
        w[rest, k] = d11 * x
        return
    d21 = w[k + 1, k]
    d11 = w[k + 1, k + 1] / d21
    d22 = w[k, k] / d21
    t = 1.0 / (d11 * d22 - 1.0)
    d21 = t / d21
    a, c = w[rest, k].copy(), w[rest, k + 1].copy()
    wk = d21 * (d11 * a - c)
    wkp1 = d21 * (d22 * c - a)
    first, second = a[:, None] * wk[None, :], c[:, None] * wkp1[None, :]
    w[rest, rest] = np.where(lower, (w[rest, rest] - first) - second, (w[rest, rest] - first.T) - second.T)
    w[rest, k], w[rest, k + 1] = wk, wkp1


def ldl_solve(ld: np.ndarray, pivots: np.ndarray, b: np.ndarray) -> np.ndarray:
    """X with A X = B for A = P L D L^T P^T given as sytrf's LD and pivots (LAPACK's sytrs, lower), per matrix."""
    n = ld.shape[-1]
    out = np.array(b, dtype=ld.dtype, copy=True)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for at in np.ndindex(*out.shape[:-2]):
            _sytrs(ld[at], pivots[at], out[at], n)
    return out


def _sytrs(ld: np.ndarray, pivots: np.ndarray, x: np.ndarray, n: int) -> None:
    """dsytrs with uplo='L' on one right-hand side block, in place: L D Y = P^T B forwards, then L^T P^T X = Y backwards."""
    k = 0
    while k < n:
        if pivots[k] > 0:
            kp = int(pivots[k]) - 1
            x[[k, kp]] = x[[kp, k]]
            x[k + 1 :] -= ld[k + 1 :, k, None] * x[k]
            x[k] /= ld[k, k]
            k += 1
            continue
        kp = -int(pivots[k]) - 1
        x[[k + 1, kp]] = x[[kp, k + 1]]
        x[k + 2 :] -= ld[k + 2 :, k, None] * x[k]
        x[k + 2 :] -= ld[k + 2 :, k + 1, None] * x[k + 1]
        akm1k = ld[k + 1, k]
        akm1, ak = ld[k, k] / akm1k, ld[k + 1, k + 1] / akm1k
        denom = akm1 * ak - 1.0
        bkm1, bk = x[k] / akm1k, x[k + 1] / akm1k
        x[k], x[k + 1] = (ak * bkm1 - bk) / denom, (akm1 * bk - bkm1) / denom
        k += 2
    k = n - 1
    while k >= 0:
        x[k] -= ld[k + 1 :, k] @ x[k + 1 :]
        if pivots[k] > 0:
            kp = int(pivots[k]) - 1
            x[[k, kp]] = x[[kp, k]]
            k -= 1
            continue
        x[k - 1] -= ld[k + 1 :, k - 1] @ x[k + 1 :]
        kp = -int(pivots[k]) - 1
        x[[k, kp]] = x[[kp, k]]
        k -= 2

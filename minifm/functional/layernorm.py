"""Layer normalisation (Ba, Kiros & Hinton 2016) over the last axis.

    mean = mean_c x,   var = mean_c (x - mean)^2 (biased),   rstd = 1 / sqrt(var + eps)
    xhat = (x - mean) * rstd,   y = xhat * gamma + beta

Dimensions: C normalised width; the leading dims (e.g. B, T) are N = B*T independent rows.
eps sits inside the square root, as in PyTorch's ``nn.LayerNorm``.
Lesson: lessons/04_layer_norm.md.

Speed: means over rows and sums over columns are written as matrix-vector products
(``x @ (1/C, ..., 1/C)``, ``(1, ..., 1) @ dy``) and dot products (``np.vecdot``). BLAS does these
several times faster than ``.mean(axis=-1)`` / ``.sum(axis=0)`` on rows this short. Each such
line has its plain NumPy form in a ``# plain:`` comment just above it.

Edges: a row whose squared deviations overflow (float32 values near 1e20) would get var = inf and
come out as zeros; such rows are found from the (N, 1) variances, a check C times smaller than
x, and only they are recomputed with a per-row scale. Values up to about half the dtype's
maximum work (past that, x - mean itself overflows).
"""

from __future__ import annotations

import numpy as np

from minifm.validation import check_same_shape


def layernorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5
                      ) -> tuple[np.ndarray, tuple]:
    """Normalise each row of x: (..., C) to zero mean and unit variance, then scale and shift.

    gamma, beta: (C,). Returns y: (..., C) and the cache (xhat, gamma, rstd) for backward.
    The cache keeps xhat, which forward computes anyway, so backward need not rebuild it from
    x, mean and rstd.
    """
    C = x.shape[-1]
    if gamma.shape != (C,) or beta.shape != (C,):
        raise ValueError(f"layernorm expects gamma and beta of shape ({C},) for input {x.shape}, "
                         f"got {gamma.shape} and {beta.shape}")
    avg = np.full(C, 1.0 / C, dtype=x.dtype)
    # plain: xhat = x - x.mean(axis=-1, keepdims=True)
    xhat = x - (x @ avg)[..., None]                               # x - mean: (..., C) - (..., 1)
    # plain: var = (xhat ** 2).mean(axis=-1, keepdims=True)
    with np.errstate(over="ignore"):                              # huge rows: handled just below
        var = np.vecdot(xhat, xhat)[..., None] / C                # (..., C) -> (..., 1)
    rstd = 1.0 / np.sqrt(var + float(eps))                        # (..., 1); float keeps x's dtype
    overflowed = np.isinf(var[..., 0])                            # (...,): one value per row
    if overflowed.any():
        rstd[overflowed] = _rstd_of_huge_rows(xhat[overflowed], eps)
    xhat *= rstd
    y = xhat * gamma
    y += beta
    return y, (xhat, gamma, rstd)


def _rstd_of_huge_rows(xhat: np.ndarray, eps: float) -> np.ndarray:
    """1 / sqrt(var + eps) of rows (n, C) whose squares overflow (float32 values past ~1e19):
    with s = max |xhat| of a row, var = s^2 mean((xhat / s)^2), so rstd = 1 / (s sqrt(mean(
    (xhat / s)^2) + eps / s^2)), where nothing overflows. Returns (n, 1). Only such rows pay."""
    s = np.abs(xhat).max(axis=-1, keepdims=True)                  # (n, 1), > 0
    z = xhat / s                                                  # (n, C), |z| <= 1
    mean_sq = np.vecdot(z, z)[..., None] / xhat.shape[-1]         # (n, 1), in [1/C, 1]
    return 1.0 / (s * np.sqrt(mean_sq + float(eps) / s / s))


def layernorm_backward(dout: np.ndarray, cache: tuple
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of layer norm. dout: (..., C). Returns dx: (..., C), dgamma: (C,), dbeta: (C,)."""
    xhat, gamma, rstd = cache
    check_same_shape(dout, xhat.shape, "layernorm dout")
    C = xhat.shape[-1]
    dout2 = dout.reshape(-1, C)                                   # (..., C) -> (N, C)
    ones = np.ones(dout2.shape[0], dtype=dout.dtype)              # (N,)
    # fwd: y = xhat * gamma + beta  =>  dgamma = sum_n dy * xhat, dbeta = sum_n dy
    # plain: dgamma = (dout * xhat).reshape(-1, C).sum(axis=0)
    dgamma = ones @ (dout2 * xhat.reshape(-1, C))                 # (N,) @ (N, C) -> (C,)
    # plain: dbeta = dout2.sum(axis=0)
    dbeta = ones @ dout2
    dxhat = dout * gamma
    # fwd: xhat = (x - mean) * rstd  =>  dx = rstd * (dxhat - mean_c dxhat - xhat * mean_c(dxhat * xhat))
    # plain: dx = rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True)
    #                     - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))
    dx = xhat * (np.vecdot(dxhat, xhat)[..., None] / C)           # (..., C) * (..., 1)
    np.subtract(dxhat, dx, out=dx)
    dx -= (dxhat @ np.full(C, 1.0 / C, dtype=dxhat.dtype))[..., None]
    dx *= rstd
    return dx, dgamma, dbeta

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
"""

from __future__ import annotations

import numpy as np


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
    var = np.vecdot(xhat, xhat)[..., None] / C                    # (..., C) -> (..., 1)
    rstd = 1.0 / np.sqrt(var + float(eps))                        # (..., 1); float keeps x's dtype
    xhat *= rstd
    y = xhat * gamma
    y += beta
    return y, (xhat, gamma, rstd)


def layernorm_backward(dout: np.ndarray, cache: tuple
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of layer norm. dout: (..., C). Returns dx: (..., C), dgamma: (C,), dbeta: (C,)."""
    xhat, gamma, rstd = cache
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

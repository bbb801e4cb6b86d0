"""Vector quantisation: snap each vector to its nearest codebook entry, and the squared error that
pulls a codebook and the vectors it quantises together (VQ-VAE: van den Oord et al. 2017,
"Neural Discrete Representation Learning", eq. 1 and 3).

Dimensions: N vectors (any leading shape (...)), E vector width, K codebook entries.

    codes = argmin_k ||z - e_k||^2            nearest_code: (..., E), (K, E) -> (...) ints in [0, K)
    z_q   = e[codes]                          the quantised vectors: an embedding lookup

``nearest_code`` has no useful gradient: the argmin is piecewise constant, so dz_q/dz = 0 almost
everywhere. A VQ-VAE trains through it with the straight-through estimator (see
``minifm.models.vqvae``), and k-means (``minifm.tasks.image_tokens.kmeans``) uses it as its
assignment step. The squared distance expands as ||z||^2 - 2 z.e_k + ||e_k||^2; ||z||^2 is the
same for every k, so the argmin needs only one (N, E) @ (E, K) matmul.

The mean squared error pair

    mse(a, b) = mean over all entries of (a - b)^2          da = 2 (a - b) / n,  db = -da

serves a VQ-VAE three times: reconstruction error, codebook loss ||sg[z] - e||^2 and commitment
loss ||z - sg[e]||^2. A stop-gradient sg[.] means: that argument is a constant; the caller simply
drops the gradient ``mse_backward`` returns for it. Lesson: lessons/11_images_as_tokens.md.
"""

from __future__ import annotations

import numpy as np

from minifm.validation import check_floats, check_real


def _check_codebook(z: np.ndarray, codebook: np.ndarray) -> None:
    check_floats(codebook, "nearest_code codebook", ndim=2, axes="(K, E)")
    E = codebook.shape[1]
    check_floats(z, "nearest_code z", last_dim=E, axes=f"(..., E={E})")


def nearest_code(z: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Index of the nearest codebook row (squared Euclidean distance) for each vector.

    z: (..., E); codebook: (K, E). Returns (...) int64 in [0, K); ties go to the lower index.
    """
    _check_codebook(z, codebook)
    E = codebook.shape[1]
    flat = z.reshape(-1, E)                                       # (..., E) -> (N, E)
    # ||z - e_k||^2 = ||z||^2 - 2 z.e_k + ||e_k||^2, and ||z||^2 does not depend on k
    scores = (codebook * codebook).sum(axis=1) - 2 * (flat @ codebook.T)   # (N, E) @ (E, K)
    return scores.argmin(axis=1).reshape(z.shape[:-1])            # (N, K) -> (N,) -> (...)


def mse_forward(a: np.ndarray, b: np.ndarray) -> tuple[float, tuple]:
    """Mean squared error over every entry: ``mean((a - b)^2)``.

    a, b: float arrays of one shape. Returns the loss (a float) and the cache for the backward.
    """
    check_floats(a, "mse a")
    check_floats(b, "mse b")
    if a.shape != b.shape:
        raise ValueError(f"mse compares two arrays of one shape, got {a.shape} and {b.shape}")
    diff = a - b
    return float(np.mean(diff * diff)), (diff,)


def mse_backward(dloss: float, cache: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Gradients (da, db) of ``dloss * mean((a - b)^2)``, each of a's shape and dtype."""
    (diff,) = cache
    # fwd: loss = sum((a - b)^2) / n  =>  da = 2 (a - b) / n,  db = -da
    da = diff * np.asarray(2.0 * check_real(dloss, "dloss") / diff.size, dtype=diff.dtype)
    return da, -da

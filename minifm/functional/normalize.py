"""L2 normalisation of vectors: ``y = x / ||x||``, so that a dot product is a cosine similarity.

Dimensions: N vectors (any leading shape ...), E width (the last axis).

CLIP (Radford et al. 2021, Figure 3) normalises both embeddings before comparing them, so the
similarity of an image and a text is the cosine of the angle between them, in [-1, 1].

    n = max(||x||, eps)          (the guard keeps an all-zero vector finite, as torch's F.normalize)
    y = x / n

Backward, where n = ||x|| (the usual case): with dn/dx = x / n = y,

    dx = dy / n - x (dy . x) / n^3  =  (dy - y (y . dy)) / n

i.e. the upstream gradient with its component along y removed, divided by the length: moving x
along itself does not move y at all. Where the guard is active (n = eps), y = x / eps is linear and
dx = dy / eps. Lesson: lessons/10_clip.md.
"""

from __future__ import annotations

import numpy as np

from minifm.validation import check_floats, check_same_shape

EPS = 1e-12


def l2_normalize_forward(x: np.ndarray, eps: float = EPS) -> tuple[np.ndarray, tuple]:
    """x: (..., E) floating point -> y = x / max(||x||, eps) over the last axis, and the cache."""
    check_floats(x, "l2_normalize x")
    if x.ndim < 1:
        raise ValueError("l2_normalize x must have shape (..., E), got a scalar")
    # plain: length = np.linalg.norm(x, axis=-1, keepdims=True)
    length = np.sqrt(np.einsum("...e,...e->...", x, x))[..., None]   # (..., E) -> (..., 1)
    active = length > eps                                  # (..., 1) False where the guard holds
    n = np.maximum(length, eps).astype(x.dtype)            # (..., 1)
    y = x / n
    return y, (y, n, active)


def l2_normalize_backward(dy: np.ndarray, cache: tuple) -> np.ndarray:
    """dy: (..., E) -> dx: (..., E)."""
    y, n, active = cache
    check_same_shape(dy, y.shape, "l2_normalize dy")
    # fwd: y = x / ||x||  =>  dx = (dy - y (y . dy)) / ||x||
    # plain: along = (y * dy).sum(axis=-1, keepdims=True)
    along = np.einsum("...e,...e->...", y, dy)[..., None]  # (..., E) -> (..., 1)
    dx = dy - y * (along * active)                         # under the guard: no projection
    dx /= n
    return dx

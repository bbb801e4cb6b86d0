"""Inverted dropout (Srivastava et al. 2014): in training, zero each entry with probability p and
scale the survivors by 1 / (1 - p), so the expected output equals the input and evaluation needs no
rescaling. In evaluation (or with p = 0) it is the identity.

Dimensions: any shape, written (...). Used inside attention and the feed-forward network:
lessons/05_attention.md, lessons/06_feedforward_gelu_residuals.md.
"""

from __future__ import annotations

import numpy as np

from minifm.validation import check_same_shape


def dropout_forward(x: np.ndarray, p: float, rng: np.random.Generator, training: bool
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    """Dropout of x (...) with drop probability p in [0, 1).

    Returns (out, mask), the mask (...) holding 0 or 1 / (1 - p) in x's dtype. When not training
    or p == 0, returns x itself (not a copy) and mask None, and draws nothing from ``rng``.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return x, None
    mask = rng.random(x.shape, dtype=x.dtype)        # uniform in [0, 1)
    np.greater_equal(mask, p, out=mask)              # keep with probability 1 - p: 1.0 or 0.0
    mask *= 1.0 / (1.0 - p)
    return x * mask, mask


def dropout_backward(dout: np.ndarray, cache: np.ndarray | None) -> np.ndarray:
    """Gradient of dropout. dout: (...). Returns dx: (...)."""
    mask = cache
    if mask is None:                                 # fwd was the identity (no shape to check)
        return dout
    check_same_shape(dout, mask.shape, "dropout dout")
    # fwd: out = x * mask  =>  dx = dout * mask
    return dout * mask

"""Softmax along one axis: ``y_i = exp(x_i) / sum_j exp(x_j)``.

Dimensions: any shape; the normalised axis (default the last, e.g. the key axis T of attention
scores (B, H, T, T), or V of logits (B, T, V)) is written ``k`` below.
Lesson: lessons/02_linear_softmax_cross_entropy.md.
"""

from __future__ import annotations

import numpy as np

from minifm.validation import check_same_shape


def softmax_forward(x: np.ndarray, axis: int = -1) -> tuple[np.ndarray, tuple]:
    """Softmax of x (...) along ``axis``. Returns y (same shape, rows summing to 1) and the cache.

    Subtracting the row max first leaves y unchanged (it cancels in the ratio) and keeps exp from
    overflowing: the largest exponent becomes exp(0) = 1.
    """
    y = x - x.max(axis=axis, keepdims=True)
    np.exp(y, out=y)
    y /= y.sum(axis=axis, keepdims=True)
    return y, (y, axis)


def softmax_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of softmax. dout: same shape as y. Returns dx: same shape."""
    y, axis = cache
    check_same_shape(dout, y.shape, "softmax dout")
    # fwd: y_i = exp(x_i) / sum_k exp(x_k)  =>  dy_i/dx_j = y_i (delta_ij - y_j)
    #      =>  dx_j = sum_i dout_i y_i (delta_ij - y_j) = y_j (dout_j - sum_i dout_i y_i)
    # plain: dx = y * (dout - (dout * y).sum(axis=axis, keepdims=True))
    dx = dout - np.expand_dims(np.vecdot(dout, y, axis=axis), axis)   # (..., k) - (..., 1)
    dx *= y
    return dx

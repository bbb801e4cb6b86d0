"""Affine (fully connected) layer: ``y = x @ w + b``.

Dimensions: N = product of the leading dims of ``x`` (e.g. B*T), C_in input width, C_out output
width. Weights are stored (C_in, C_out) so the forward reads like the maths.
Lesson: lessons/02_linear_softmax_cross_entropy.md.
"""

from __future__ import annotations

import numpy as np

from minifm.validation import check_floats, check_same_shape


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None
                   ) -> tuple[np.ndarray, tuple]:
    """``y = x @ w + b`` over the last axis.

    x: (..., C_in) floating point; w: (C_in, C_out); b: (C_out,) or None.
    Returns y: (..., C_out) and the cache for ``linear_backward``.
    """
    C_in, C_out = w.shape
    check_floats(x, "linear input x", last_dim=C_in, axes=f"(..., C_in={C_in})")
    # plain: y = x @ w + b
    # One 2-D matmul: NumPy runs a stacked (B, T, C) @ (C, C_out) as B separate products.
    y = x.reshape(-1, C_in) @ w                          # (..., C_in) -> (N, C_in) -> (N, C_out)
    if b is not None:
        y += b
    return y.reshape(*x.shape[:-1], C_out), (x, w, b is not None)   # (N, C_out) -> (..., C_out)


def linear_backward(dout: np.ndarray, cache: tuple
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of ``y = x @ w + b``.

    dout: (..., C_out). Returns dx: (..., C_in), dw: (C_in, C_out), db: (C_out,) or None when the
    forward had no bias.
    """
    x, w, has_bias = cache
    C_in, C_out = w.shape
    check_same_shape(dout, (*x.shape[:-1], C_out), "linear dout")   # a transposed dout: refused
    dout2 = dout.reshape(-1, C_out)                      # (..., C_out) -> (N, C_out)
    # fwd: y = x @ w + b  =>  dx = dy @ w^T, dw = x^T @ dy, db = sum_n dy
    dx = (dout2 @ w.T).reshape(x.shape)                  # (N, C_in) -> (..., C_in)
    dw = x.reshape(-1, C_in).T @ dout2                   # (C_in, N) @ (N, C_out) -> (C_in, C_out)
    db = dout2.sum(axis=0) if has_bias else None
    return dx, dw, db

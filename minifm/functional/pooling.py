"""Pooling a sequence of vectors into one vector per row: pick one position, or average.

Dimensions: B batch, T time (sequence positions), C width.

A transformer returns one vector per position (B, T, C); a contrastive model needs one per
example (B, C). Two ways, both used by CLIP-like models:

    select_pool   y[b] = x[b, index[b]]        one chosen position: a ViT's class token
                                               (index 0), or CLIP's end-of-text token
    mean_pool     y[b] = sum_t m[b, t] x[b, t] / sum_t m[b, t]
                                               the average over the real positions (mask m = 1),
                                               so padding does not dilute it

Lesson: lessons/10_clip.md.
"""

from __future__ import annotations

import numpy as np

from minifm.validation import check_floats, check_mask, check_same_shape


def _check_sequence(x: np.ndarray, what: str) -> tuple[int, int, int]:
    check_floats(x, f"{what} x", ndim=3, axes="(B, T, C)")
    return x.shape


def select_pool_forward(x: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, tuple]:
    """x: (B, T, C); index: (B,) int positions in [0, T) -> y: (B, C) with y[b] = x[b, index[b]]."""
    B, T, C = _check_sequence(x, "select_pool")
    index = np.asarray(index)
    if index.shape != (B,) or not np.issubdtype(index.dtype, np.integer) \
            or index.min() < 0 or index.max() >= T:
        raise ValueError(f"select_pool expects index as (B,) = ({B},) ints in [0, {T}), got "
                         f"{index.dtype} {index.shape}")
    return x[np.arange(B), index], (index, x.shape)          # (B, T, C) -> (B, C)


def select_pool_backward(dy: np.ndarray, cache: tuple) -> np.ndarray:
    """dy: (B, C) -> dx: (B, T, C), zero except at each row's chosen position."""
    index, shape = cache
    check_same_shape(dy, (shape[0], shape[2]), "select_pool dy")            # (B, C)
    # fwd: y[b] = x[b, index[b]]  =>  dx[b, index[b]] = dy[b], 0 elsewhere (one position per row)
    dx = np.zeros(shape, dtype=dy.dtype)
    dx[np.arange(shape[0]), index] = dy
    return dx


def mean_pool_forward(x: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, tuple]:
    """x: (B, T, C); mask: optional (B, T) bool/0-1, True = real position, at least one per row.

    Returns y: (B, C), the mean over the real positions (over all T without a mask).
    """
    B, T, C = _check_sequence(x, "mean_pool")
    if mask is None:
        weights = np.full((B, T), 1.0 / T, dtype=x.dtype)
    else:
        check_mask(mask, "mean_pool mask", shape=(B, T), axes="(B, T)")
        counts = mask.sum(axis=1, keepdims=True)            # (B, 1)
        if (counts == 0).any():
            raise ValueError("mean_pool: a row of the mask has no real position to average")
        weights = (mask / counts).astype(x.dtype)            # (B, T), each row sums to 1
    # plain: y = (weights[:, :, None] * x).sum(axis=1)
    y = np.einsum("bt,btc->bc", weights, x)                  # (B, T, C) -> (B, C)
    return y, (weights,)


def mean_pool_backward(dy: np.ndarray, cache: tuple) -> np.ndarray:
    """dy: (B, C) -> dx: (B, T, C)."""
    (weights,) = cache
    check_floats(dy, "mean_pool dy", shape=(weights.shape[0], None), axes="(B, C)")
    # fwd: y[b] = sum_t w[b, t] x[b, t]  =>  dx[b, t] = w[b, t] dy[b]
    return weights[:, :, None] * dy[:, None, :]              # (B, T, 1) * (B, 1, C) -> (B, T, C)

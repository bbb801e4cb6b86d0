"""Scaled dot-product attention, forward and backward (Vaswani et al. 2017, "Attention Is All You
Need"). Lesson: lessons/05_attention.md.

    scores = q @ k^T / sqrt(D)          (B, H, Tq, Tk)
    att    = softmax(scores)  over keys, masked keys removed
    y      = dropout(att) @ v           (B, H, Tq, D)

Dimensions: B batch, H heads, Tq queries, Tk keys/values, D head size.

Masking: ``allowed`` is a boolean array broadcastable to (B, H, Tq, Tk), True where query i may
attend to key j. Disallowed scores are set to a large negative number before the softmax, so their
probability underflows to exactly 0. A query with *no* allowed key (for example a left-padding
position under a causal mask) would otherwise get a uniform row over the masked keys; we zero such
rows, so that query's output is 0 and no gradient flows through it — never a NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minifm.validation import check_floats, check_same_shape

# Far below any real score: exp(MASKED_SCORE - row_max) is exactly 0 in float32 and float64, and
# (unlike -inf) a fully masked row minus its max is 0, not inf - inf = NaN.
MASKED_SCORE = -1e9


@dataclass
class AttentionCache:
    q: np.ndarray              # (B, H, Tq, D)
    k: np.ndarray              # (B, H, Tk, D)
    v: np.ndarray              # (B, H, Tk, D)
    att: np.ndarray            # (B, H, Tq, Tk) softmax probabilities (0 on masked keys)
    att_dropped: np.ndarray    # (B, H, Tq, Tk) the probabilities actually used: dropout(att)
    keep: np.ndarray | None    # (B, H, Tq, Tk) bool dropout keep-mask, or None without dropout
    dropout_p: float
    scale: float               # 1 / sqrt(D)


def _check_inputs(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                  allowed: np.ndarray | None) -> tuple[int, int, int, int]:
    for name, a in (("q", q), ("k", k), ("v", v)):
        check_floats(a, f"attention {name}", ndim=4, axes="(B, H, T, D)")
    B, H, Tq, D = q.shape
    Tk = k.shape[2]
    if k.shape != (B, H, Tk, D) or v.shape != k.shape:
        raise ValueError(f"attention shapes do not agree: q {q.shape} is (B, H, Tq, D), so k and "
                         f"v must be (B, H, Tk, D) = ({B}, {H}, Tk, {D}); got k {k.shape}, "
                         f"v {v.shape}")
    if allowed is not None:
        if not isinstance(allowed, np.ndarray) or allowed.dtype != np.bool_:
            dtype = allowed.dtype if isinstance(allowed, np.ndarray) else type(allowed).__name__
            raise TypeError(f"attention mask `allowed` must be a bool array, got {dtype}")
        try:
            shape = np.broadcast_shapes(allowed.shape, (B, H, Tq, Tk))
        except ValueError:
            shape = None
        if shape != (B, H, Tq, Tk):
            raise ValueError(f"attention mask `allowed` of shape {allowed.shape} does not "
                             f"broadcast to (B, H, Tq, Tk) = {(B, H, Tq, Tk)}")
    return B, H, Tq, Tk


def _heads_last(like: np.ndarray) -> np.ndarray:
    """An empty array shaped like ``like`` (B, H, T, D) but laid out in memory as (B, T, H, D).

    Only speed differs: multi-head attention merges the heads of its result with
    ``y.transpose(0, 2, 1, 3).reshape(B, T, H * D)``, which on this layout is a free view rather
    than a copy of the whole array (and splits its gradients the same way).
    """
    B, H, T, D = like.shape
    return np.empty((B, T, H, D), dtype=like.dtype).transpose(0, 2, 1, 3)   # -> (B, H, T, D) view


def attention_forward(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                      allowed: np.ndarray | None = None, *, dropout_p: float = 0.0,
                      rng: np.random.Generator | None = None,
                      dropout_keep: np.ndarray | None = None) -> tuple[np.ndarray, AttentionCache]:
    """Scaled dot-product attention.

    q: (B, H, Tq, D); k, v: (B, H, Tk, D).
    allowed: optional bool, broadcastable to (B, H, Tq, Tk); True = query may attend to key.
    dropout_p: probability of zeroing an attention probability (0 = no dropout). The keep-mask is
        ``dropout_keep`` (bool, shape (B, H, Tq, Tk)) if given, else drawn from ``rng``; kept
        probabilities are scaled by 1 / (1 - p).
    Returns y: (B, H, Tq, D) and the cache (``cache.att`` holds the probabilities, for plotting).
    """
    B, H, Tq, Tk = _check_inputs(q, k, v, allowed)
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"attention dropout_p must be in [0, 1), got {dropout_p}")
    scale = q.shape[-1] ** -0.5

    # scores = q @ k^T * scale, kept in the buffer `att`, which the softmax overwrites in place
    att = q @ k.swapaxes(-1, -2)                   # (B, H, Tq, D) @ (B, H, D, Tk) -> (B, H, Tq, Tk)
    att *= scale
    if allowed is not None:
        # plain: att = np.where(allowed, att, MASKED_SCORE)
        np.copyto(att, MASKED_SCORE, where=~allowed)
    # plain: e = np.exp(att - att.max(-1, keepdims=True));  att = e / e.sum(-1, keepdims=True)
    att -= att.max(axis=-1, keepdims=True)
    np.exp(att, out=att)
    att /= att.sum(axis=-1, keepdims=True)
    if allowed is not None:
        has_key = allowed.any(axis=-1, keepdims=True)  # (..., Tq, Tk) -> (..., Tq, 1)
        if not has_key.all():
            att *= has_key                         # fully masked rows -> all 0

    keep = None
    att_dropped = att
    if dropout_p > 0.0:
        if dropout_keep is not None:
            if dropout_keep.shape != att.shape or dropout_keep.dtype != np.bool_:
                raise ValueError(f"dropout_keep must be a bool array of shape {att.shape}, got "
                                 f"{dropout_keep.dtype} {dropout_keep.shape}")
            keep = dropout_keep
        elif rng is None:
            raise ValueError("attention dropout_p > 0 needs either `rng` or `dropout_keep`")
        else:
            keep = rng.random(att.shape, dtype=att.dtype) >= dropout_p
        att_dropped = att * keep
        att_dropped *= 1.0 / (1.0 - dropout_p)
    elif dropout_keep is not None:
        raise ValueError("dropout_keep was given but dropout_p is 0")

    # plain: y = att_dropped @ v  (written straight into a heads-last buffer, see _heads_last)
    y = np.matmul(att_dropped, v, out=_heads_last(q))      # (B, H, Tq, Tk) @ (B, H, Tk, D)
    return y, AttentionCache(q, k, v, att, att_dropped, keep, dropout_p, scale)


def attention_backward(dy: np.ndarray, cache: AttentionCache
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of scaled dot-product attention: dy (B, H, Tq, D) -> dq, dk, dv."""
    q, k, v, att, att_dropped, keep, p, scale = (cache.q, cache.k, cache.v, cache.att,
                                                 cache.att_dropped, cache.keep, cache.dropout_p,
                                                 cache.scale)
    check_same_shape(dy, (*q.shape[:-1], v.shape[-1]), "attention dy")    # (B, H, Tq, D)
    # fwd: y = att_dropped @ v  =>  datt_dropped = dy @ v^T,  dv = att_dropped^T @ dy
    datt = dy @ v.swapaxes(-1, -2)                 # (B, H, Tq, D) @ (B, H, D, Tk) -> (B, H, Tq, Tk)
    # plain: dv = att_dropped.swapaxes(-1, -2) @ dy
    dv = np.matmul(att_dropped.swapaxes(-1, -2), dy,      # (B, H, Tk, Tq) @ (B, H, Tq, D)
                   out=_heads_last(v))
    # fwd: att_dropped = att * keep / (1 - p)  =>  datt = datt_dropped * keep / (1 - p)
    if keep is not None:
        datt *= keep
        datt *= 1.0 / (1.0 - p)
    # fwd: att = softmax(scores) over keys  =>  dscores = att * (datt - sum_j(datt * att))
    # Masked keys and fully masked rows have att = 0, so their dscores are exactly 0.
    # plain: dscores = att * (datt - (datt * att).sum(axis=-1, keepdims=True)), in datt's buffer
    dscores = datt
    dscores -= np.vecdot(datt, att)[..., None]     # sum_j(datt * att): (B, H, Tq) -> (B, H, Tq, 1)
    dscores *= att
    # fwd: scores = q @ k^T * scale  =>  dq = dscores @ k * scale,  dk = dscores^T @ q * scale
    # plain: dq = dscores @ k * scale
    dq = np.matmul(dscores, k, out=_heads_last(q))         # (B, H, Tq, Tk) @ (B, H, Tk, D)
    dq *= scale
    # plain: dk = dscores.swapaxes(-1, -2) @ q * scale
    dk = np.matmul(dscores.swapaxes(-1, -2), q,           # (B, H, Tk, Tq) @ (B, H, Tq, D)
                   out=_heads_last(k))
    dk *= scale
    return dq, dk, dv

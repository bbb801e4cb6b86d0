"""Multi-head self-attention (Vaswani et al. 2017) with GPT-2 parameter names, and a key/value
cache for generating one token at a time.

Dimensions: B batch, T time, C width, H heads, D head size (C = H * D).

    q, k, v = split(x @ c_attn.weight + c_attn.bias)        one fused (C, 3C) matmul, q|k|v order
    y = attention(q, k, v) per head, heads concatenated     (B, T, C)
    out = dropout(y @ c_proj.weight + c_proj.bias)

Masks: ``causal=True`` lets position t see positions <= t (GPT); ``mask`` in forward is a (B, T)
key-padding mask of real tokens (True/1 = real, False/0 = padding) that no query may attend to
(BERT batches of different lengths). Both combine. The scaled dot-product attention itself, with
its backward, is in ``minifm.functional.attention``. Lesson: lessons/05_attention.md.
"""

from __future__ import annotations

import numpy as np

from minifm.functional.attention import attention_backward, attention_forward
from minifm.nn.dropout import Dropout
from minifm.nn.linear import Linear
from minifm.nn.module import Module
from minifm.validation import check_floats, check_mask, check_same_shape


class KVCache:
    """Keys and values of every position seen so far by one attention layer (inference only).

    k, v: (B, H, T_max, D), preallocated; positions [0, length) are filled. Make one per layer
    with ``MultiHeadAttention.new_cache(batch_size, max_len)`` and pass it to ``forward_cached``.
    """

    def __init__(self, batch_size: int, n_heads: int, max_len: int, head_dim: int, *,
                 dtype: type = np.float32):
        self.k = np.zeros((batch_size, n_heads, max_len, head_dim), dtype=dtype)
        self.v = np.zeros((batch_size, n_heads, max_len, head_dim), dtype=dtype)
        self.length = 0

    @property
    def max_len(self) -> int:
        return self.k.shape[2]

    def append(self, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Store k, v (B, H, Tn, D) at the next Tn positions; return every cached key and value,
        each (B, H, length, D) (views into the cache)."""
        B, H, _, D = self.k.shape
        Tn = k.shape[2]
        if k.shape != (B, H, Tn, D) or v.shape != k.shape:
            raise ValueError(f"KVCache holds (B, H, T, D) = ({B}, {H}, T, {D}) entries, got k "
                             f"{k.shape} and v {v.shape}")
        if self.length + Tn > self.max_len:
            raise ValueError(f"KVCache overflow: it holds {self.length} of at most {self.max_len} "
                             f"positions and cannot take {Tn} more; make it with a larger max_len "
                             "(or crop the context)")
        start, self.length = self.length, self.length + Tn
        self.k[:, :, start:self.length] = k
        self.v[:, :, start:self.length] = v
        return self.k[:, :, :self.length], self.v[:, :, :self.length]

    def reset(self) -> None:
        """Forget every position (the buffers are reused)."""
        self.length = 0


class MultiHeadAttention(Module):
    """Multi-head self-attention with a fused q|k|v projection ``c_attn`` and output ``c_proj``.

    After each forward, ``attn_probs`` (B, H, T, T) holds the attention probabilities (before
    dropout; 0 on masked keys), for plotting.
    """

    def __init__(self, dim: int, n_heads: int, causal: bool = False, *, dropout: float = 0.0,
                 bias: bool = True, rng: np.random.Generator, dtype: type = np.float32):
        if dim % n_heads != 0:
            raise ValueError(f"MultiHeadAttention: dim={dim} is not divisible by n_heads={n_heads}")
        self.dim, self.n_heads, self.head_dim = dim, n_heads, dim // n_heads
        self.causal = causal
        self.c_attn = Linear(dim, 3 * dim, bias, rng=rng, dtype=dtype)
        self.c_proj = Linear(dim, dim, bias, rng=rng, dtype=dtype)
        # The attention-probability mask is drawn inside attention_forward from this module's
        # p and rng (it never runs its own forward); resid_dropout acts on the output.
        self.attn_dropout = Dropout(dropout, rng=rng)
        self.resid_dropout = Dropout(dropout, rng=rng)
        self.attn_probs: np.ndarray | None = None

    # ---- shapes and masks -------------------------------------------------------------------
    def _check_input(self, x: np.ndarray) -> tuple[int, int, int]:
        check_floats(x, "MultiHeadAttention input x", shape=(None, None, self.dim),
                     axes=f"(B, T, C={self.dim})", dtype=self.c_attn.weight.data.dtype)
        return x.shape

    def _split_heads(self, qkv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        B, T, _ = qkv.shape
        qkv = qkv.reshape(B, T, 3, self.n_heads, self.head_dim)   # (B, T, 3C) -> (B, T, 3, H, D)
        q, k, v = qkv.transpose(2, 0, 3, 1, 4)                     # -> 3 x (B, H, T, D), views
        return q, k, v

    def _allowed(self, mask: np.ndarray | None, B: int, T: int) -> np.ndarray | None:
        """The boolean attention mask, broadcastable to (B, H, T, T), or None (attend to all)."""
        allowed = np.tril(np.ones((T, T), dtype=bool)) if self.causal else None   # (T, T)
        if mask is None:
            return allowed
        check_mask(mask, "attention mask", shape=(B, T), axes="(B, T)")
        keys = mask.astype(bool, copy=False)[:, None, None, :]      # (B, T) -> (B, 1, 1, T)
        return keys if allowed is None else allowed & keys           # -> (B, 1, T, T)

    # ---- training forward and backward ------------------------------------------------------
    def forward(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """x: (B, T, C); mask: optional (B, T), bool or 0/1, True/1 = real token -> (B, T, C)."""
        B, T, C = self._check_input(x)
        allowed = self._allowed(mask, B, T)
        qkv = self.c_attn(x)                                         # (B, T, C) -> (B, T, 3C)
        q, k, v = self._split_heads(qkv)                             # -> 3 x (B, H, T, D)
        p = self.attn_dropout.p if self.training else 0.0
        y, attn_cache = attention_forward(q, k, v, allowed, dropout_p=p, rng=self.attn_dropout.rng)
        self.attn_probs = attn_cache.att                             # (B, H, T, T)
        y = y.transpose(0, 2, 1, 3).reshape(B, T, C)                 # (B, H, T, D) -> (B, T, C)
        y = self.c_proj(y)
        y = self.resid_dropout(y)
        self._cache = attn_cache
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy: (B, T, C) -> dx: (B, T, C); adds into c_attn's and c_proj's gradients."""
        attn_cache = self._pop_cache()
        B, H, T, D = attn_cache.q.shape
        C = H * D
        check_same_shape(dy, (B, T, C), "MultiHeadAttention dy")
        dy = self.resid_dropout.backward(dy)
        dy = self.c_proj.backward(dy)                                # (B, T, C)
        dy = dy.reshape(B, T, H, D).transpose(0, 2, 1, 3)            # (B, T, C) -> (B, H, T, D)
        dq, dk, dv = attention_backward(dy, attn_cache)              # 3 x (B, H, T, D)
        # fwd: q, k, v = split_heads(qkv)  =>  dqkv = the three gradients put back side by side
        # plain: dqkv = np.stack([dq, dk, dv]).transpose(1, 3, 0, 2, 4)   # -> (B, T, 3, H, D)
        dqkv = np.empty((B, T, 3, H, D), dtype=dq.dtype)
        dqkv[:, :, 0] = dq.transpose(0, 2, 1, 3)                     # (B, H, T, D) -> (B, T, H, D)
        dqkv[:, :, 1] = dk.transpose(0, 2, 1, 3)
        dqkv[:, :, 2] = dv.transpose(0, 2, 1, 3)
        return self.c_attn.backward(dqkv.reshape(B, T, 3 * C))      # (B, T, 3, H, D) -> (B, T, 3C)

    # ---- incremental decoding (inference only) ----------------------------------------------
    def new_cache(self, batch_size: int, max_len: int) -> KVCache:
        """An empty KVCache for this layer: ``max_len`` positions of ``batch_size`` sequences."""
        return KVCache(batch_size, self.n_heads, max_len, self.head_dim,
                       dtype=self.c_attn.weight.data.dtype)

    def forward_cached(self, x: np.ndarray, cache: KVCache) -> np.ndarray:
        """Causal attention of new positions over the cache plus themselves; no backward.

        x: (B, Tn, C), the Tn positions that follow the ``cache.length`` already cached ones.
        Their keys and values are appended to ``cache``; new position i sees every cached position
        and new positions 0..i. Gives the same outputs as ``forward`` on the whole sequence.
        """
        if not self.causal:
            raise ValueError("forward_cached decodes left to right, so it needs causal=True "
                             "attention; this MultiHeadAttention is bidirectional")
        if self.training and self.attn_dropout.p > 0:
            raise RuntimeError("forward_cached is inference-only and skips dropout: call .eval() "
                               "first")
        B, Tn, C = self._check_input(x)
        if cache.k.shape[:2] != (B, self.n_heads) or cache.k.shape[3] != self.head_dim:
            raise ValueError(f"KVCache of shape {cache.k.shape} does not fit (B, H, T_max, D) = "
                             f"({B}, {self.n_heads}, T_max, {self.head_dim})")
        start = cache.length
        q, k, v = self._split_heads(self.c_attn(x))                  # -> 3 x (B, H, Tn, D)
        keys, values = cache.append(k, v)                            # (B, H, start + Tn, D)
        # new position i (absolute start + i) may attend to key j iff j <= start + i
        allowed = np.arange(start + Tn)[None, :] <= start + np.arange(Tn)[:, None]  # (Tn, start+Tn)
        y, _ = attention_forward(q, keys, values, allowed)           # (B, H, Tn, D)
        y = y.transpose(0, 2, 1, 3).reshape(B, Tn, C)                # (B, H, Tn, D) -> (B, Tn, C)
        y = self.c_proj(y)
        self._cache = None              # this pass cannot be differentiated: backward must fail
        return y

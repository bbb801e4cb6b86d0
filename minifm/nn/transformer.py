"""A transformer block: attention and feed-forward, each wrapped in a residual and a LayerNorm.

Dimensions: B batch, T time, C width, H heads, F feed-forward width.

Two placements of the LayerNorm:

    pre-LN  (GPT-2, Radford et al. 2019)       post-LN (original transformer, BERT)
    x = x + attn(ln_1(x))                      x = ln_1(x + attn(x))
    x = x + mlp(ln_2(x))                       x = ln_2(x + mlp(x))

Pre-LN keeps an untouched residual path from input to output and trains deep stacks without
warm-up tricks (Xiong et al. 2020, "On Layer Normalization in the Transformer Architecture").
Lesson: lessons/06_feedforward_gelu_residuals.md.
"""

from __future__ import annotations

import numpy as np

from minifm.nn.attention import KVCache, MultiHeadAttention
from minifm.nn.feedforward import FeedForward
from minifm.nn.layernorm import LayerNorm
from minifm.nn.module import Module


class TransformerBlock(Module):
    """Children named as in GPT-2: ``ln_1``, ``attn``, ``ln_2``, ``mlp``."""

    def __init__(self, dim: int, n_heads: int, hidden_dim: int, causal: bool = False,
                 norm_first: bool = True, *, dropout: float = 0.0, approximate: str = "tanh",
                 eps: float = 1e-5, bias: bool = True, rng: np.random.Generator,
                 dtype: type = np.float32):
        self.norm_first = norm_first
        self.ln_1 = LayerNorm(dim, eps, dtype=dtype)
        self.attn = MultiHeadAttention(dim, n_heads, causal, dropout=dropout, bias=bias, rng=rng,
                                       dtype=dtype)
        self.ln_2 = LayerNorm(dim, eps, dtype=dtype)
        self.mlp = FeedForward(dim, hidden_dim, approximate=approximate, dropout=dropout,
                               bias=bias, rng=rng, dtype=dtype)

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """x: (B, T, C); mask: optional (B, T) key-padding mask (True/1 = real token)."""
        if self.norm_first:
            x = x + self.attn(self.ln_1(x), mask)
            x = x + self.mlp(self.ln_2(x))
        else:
            x = self.ln_1(x + self.attn(x, mask))
            x = self.ln_2(x + self.mlp(x))
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy: (B, T, C) -> dx: (B, T, C), undoing forward's lines from the last to the first.

        In the comments ``f'(d)`` stands for ``self.f.backward(d)``.
        """
        if self.norm_first:
            # fwd: x = x + mlp(ln_2(x))    =>  dx = dy + ln_2'(mlp'(dy))
            dx = dy + self.ln_2.backward(self.mlp.backward(dy))
            # fwd: x = x + attn(ln_1(x))   =>  dx = dx + ln_1'(attn'(dx))
            dx += self.ln_1.backward(self.attn.backward(dx))
        else:
            # fwd: x = ln_2(x + mlp(x))    =>  ds = ln_2'(dy) for the sum s,  dx = ds + mlp'(ds)
            ds = self.ln_2.backward(dy)
            dx = ds + self.mlp.backward(ds)
            # fwd: x = ln_1(x + attn(x))   =>  ds = ln_1'(dx),  dx = ds + attn'(ds)
            ds = self.ln_1.backward(dx)
            dx = ds + self.attn.backward(ds)
        return dx

    def forward_cached(self, x: np.ndarray, cache: KVCache) -> np.ndarray:
        """Inference-only forward of new positions x (B, Tn, C) given this block's KVCache
        (see ``MultiHeadAttention.forward_cached``); the same lines as forward, no backward."""
        if self.norm_first:
            x = x + self.attn.forward_cached(self.ln_1(x), cache)
            x = x + self.mlp(self.ln_2(x))
        else:
            x = self.ln_1(x + self.attn.forward_cached(x, cache))
            x = self.ln_2(x + self.mlp(x))
        return x

"""``DiTBlock``: a transformer block whose LayerNorms and residual branches are modulated by a
conditioning vector (DiT: Peebles & Xie 2023, §3.2, the "adaLN-Zero" block, their Figure 3).
Lesson: lessons/14_dalle2_diffusion.md.

Dimensions: B batch, T tokens (patches), C width, H heads, F feed-forward width.

    shift_1, scale_1, gate_1, shift_2, scale_2, gate_2 = ada(c)     c (B, C) -> 6 x (B, C)
    x = x + gate_1 * attn(modulate(ln(x), shift_1, scale_1))
    x = x + gate_2 * mlp(modulate(ln(x), shift_2, scale_2))

minifm's ``TransformerBlock`` computes ``x + attn(ln_1(x))`` with nothing in between, so this
block composes the same ``MultiHeadAttention`` and ``FeedForward`` with ``AdaLayerNorm`` and
``Gate`` (minifm.nn.modulation) instead. ``ada`` starts at zero (adaLN-Zero): every gate is 0, so
the block starts as the identity and the network as a stack of identities, which DiT found to
train best of the conditioning schemes it tried. The gates still receive a gradient (dgate =
sum_T dy * h), so they open from the first step.

The conditioning c enters once and is used six times; its gradient is the sum over all six,
gathered by ``ada``'s backward from the six (B, C) gradients laid side by side.
"""

from __future__ import annotations

import numpy as np

from minifm.nn.attention import MultiHeadAttention
from minifm.nn.feedforward import FeedForward
from minifm.nn.linear import Linear
from minifm.nn.module import Module
from minifm.nn.modulation import AdaLayerNorm, Gate


class DiTBlock(Module):
    """Children ``ada`` (Linear(C, 6C), zero at init), ``norm_1``, ``attn``, ``gate_1``,
    ``norm_2``, ``mlp``, ``gate_2``. Attention is bidirectional: every patch sees every patch."""

    def __init__(self, dim: int, n_heads: int, hidden_dim: int, *, eps: float = 1e-6,
                 rng: np.random.Generator, dtype: type = np.float32):
        self.ada = Linear(dim, 6 * dim, rng=rng, dtype=dtype)
        self.ada.weight.data[...] = 0                                 # adaLN-Zero
        self.norm_1 = AdaLayerNorm(dim, eps, dtype=dtype)
        self.attn = MultiHeadAttention(dim, n_heads, causal=False, rng=rng, dtype=dtype)
        self.gate_1 = Gate()
        self.norm_2 = AdaLayerNorm(dim, eps, dtype=dtype)
        self.mlp = FeedForward(dim, hidden_dim, rng=rng, dtype=dtype)
        self.gate_2 = Gate()

    def forward(self, x: np.ndarray, c: np.ndarray) -> np.ndarray:
        """x: (B, T, C) tokens; c: (B, C) conditioning (already through its activation) ->
        (B, T, C)."""
        shift_1, scale_1, gate_1, shift_2, scale_2, gate_2 = np.split(self.ada(c), 6, axis=1)
        x = x + self.gate_1(self.attn(self.norm_1(x, shift_1, scale_1)), gate_1)
        x = x + self.gate_2(self.mlp(self.norm_2(x, shift_2, scale_2)), gate_2)
        return x

    def backward(self, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """dy: (B, T, C) -> dx (B, T, C), dc (B, C), undoing forward's lines from the last up."""
        # fwd: x = x + gate_2 * mlp(norm_2(x))  =>  dx = dy + norm_2'(mlp'(gate_2'(dy)))
        dh, dgate_2 = self.gate_2.backward(dy)
        dxn, dshift_2, dscale_2 = self.norm_2.backward(self.mlp.backward(dh))
        dx = dy + dxn
        # fwd: x = x + gate_1 * attn(norm_1(x))  =>  dx = dx + norm_1'(attn'(gate_1'(dx)))
        dh, dgate_1 = self.gate_1.backward(dx)
        dxn, dshift_1, dscale_1 = self.norm_1.backward(self.attn.backward(dh))
        dx = dx + dxn
        # fwd: six vectors = split(ada(c))  =>  dc = ada'(the six gradients side by side)
        dmod = np.concatenate([dshift_1, dscale_1, dgate_1, dshift_2, dscale_2, dgate_2],
                              axis=1)                                 # 6 x (B, C) -> (B, 6C)
        return dx, self.ada.backward(dmod)

"""``TimestepEmbedding``: a diffusion step t as a vector, a fixed sinusoid then a learned MLP
(Ho et al. 2020, Appendix B, after the transformer's position code; DiT's ``t_embedder``).
Lesson: lessons/14_dalle2_diffusion.md.

Dimensions: B batch, S diffusion steps, C width, F hidden width.

    e = PE[t]                              t (B,) ints in [0, S) -> (B, C)   PE: the sinusoid
    out = gelu(e @ c_fc.weight + c_fc.bias) @ c_proj.weight + c_proj.bias       (B, C) -> (B, C)

with PE = minifm.functional.positional.sinusoidal_encoding(S, C).

A step is a position on the noise axis, so the position code of Vaswani et al. (§3.5) serves as
it is: nearby steps get similar codes, and every step a distinct one. The table is a constant
and t an integer, so the gradient stops at the MLP, which is what learns. (DiT uses SiLU in this
MLP; GELU, already in minifm, plays the same role.)
"""

from __future__ import annotations

import numpy as np

from minifm.functional.noise_schedule import check_timesteps
from minifm.functional.positional import sinusoidal_encoding
from minifm.nn.activations import GELU
from minifm.nn.linear import Linear
from minifm.nn.module import Module


class TimestepEmbedding(Module):
    """Children ``c_fc``, ``gelu``, ``c_proj``; the read-only sinusoid ``table`` (S, C)."""

    def __init__(self, num_steps: int, dim: int, hidden_dim: int | None = None, *,
                 rng: np.random.Generator, dtype: type = np.float32):
        self.num_steps, self.dim = num_steps, dim
        hidden_dim = dim if hidden_dim is None else hidden_dim
        self.table = sinusoidal_encoding(num_steps, dim, dtype)         # (S, C)
        self.table.flags.writeable = False
        self.c_fc = Linear(dim, hidden_dim, rng=rng, dtype=dtype)
        self.gelu = GELU()
        self.c_proj = Linear(hidden_dim, dim, rng=rng, dtype=dtype)

    def forward(self, t: np.ndarray) -> np.ndarray:
        """t: (B,) ints in [0, S) -> (B, C)."""
        check_timesteps(t, self.num_steps)
        e = self.table[t]                                               # (B,) -> (B, C)
        return self.c_proj(self.gelu(self.c_fc(e)))                     # (B, C) -> (B, F) -> (B, C)

    def backward(self, dy: np.ndarray) -> None:
        """dy: (B, C); adds into c_fc's and c_proj's gradients. Returns None: t is an integer."""
        # fwd: e = table[t], a constant  =>  the gradient stops at c_fc
        self.c_fc.backward(self.gelu.backward(self.c_proj.backward(dy)))

    def __repr__(self) -> str:
        return (f"TimestepEmbedding({self.num_steps}, {self.dim}, "
                f"hidden_dim={self.c_fc.out_features}, dtype={self.table.dtype})")

"""The position-wise feed-forward network of a transformer block (GPT-2's ``mlp``).

Dimensions: B batch, T time, C width, F hidden width (usually 4C).

    out = dropout(gelu(x @ c_fc.weight + c_fc.bias) @ c_proj.weight + c_proj.bias)

Every position is transformed on its own, with the same weights.
Lesson: lessons/06_feedforward_gelu_residuals.md.
"""

from __future__ import annotations

import numpy as np

from minifm.nn.activations import GELU
from minifm.nn.dropout import Dropout
from minifm.nn.linear import Linear
from minifm.nn.module import Module


class FeedForward(Module):
    """Linear(C, F) -> GELU -> Linear(F, C) -> dropout; ``c_fc`` and ``c_proj`` as in GPT-2."""

    def __init__(self, dim: int, hidden_dim: int, *, approximate: str = "tanh",
                 dropout: float = 0.0, bias: bool = True, rng: np.random.Generator,
                 dtype: type = np.float32):
        self.c_fc = Linear(dim, hidden_dim, bias, rng=rng, dtype=dtype)
        self.gelu = GELU(approximate)
        self.c_proj = Linear(hidden_dim, dim, bias, rng=rng, dtype=dtype)
        self.dropout = Dropout(dropout, rng=rng)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (B, T, C) -> (B, T, C)."""
        h = self.c_fc(x)                     # (B, T, C) -> (B, T, F)
        h = self.gelu(h)
        y = self.c_proj(h)                   # (B, T, F) -> (B, T, C)
        return self.dropout(y)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy: (B, T, C) -> dx: (B, T, C); adds into c_fc's and c_proj's gradients."""
        dy = self.dropout.backward(dy)
        dh = self.c_proj.backward(dy)        # (B, T, C) -> (B, T, F)
        dh = self.gelu.backward(dh)
        return self.c_fc.backward(dh)        # (B, T, F) -> (B, T, C)

"""``Dropout`` (inverted; see minifm.functional.dropout). Dimensions: any shape (...), kept.

Used inside attention and the feed-forward network: lessons/05_attention.md,
lessons/06_feedforward_gelu_residuals.md.
"""

from __future__ import annotations

import numpy as np

from minifm.functional.dropout import dropout_backward, dropout_forward
from minifm.nn.module import Module
from minifm.validation import check_floats, check_real, check_rng, check_same_shape


class Dropout(Module):
    """Zeroes entries with probability p while ``self.training``; the identity after ``eval()``.

    The layer owns its generator as ``self.rng``: a trainer that saves and restores
    ``rng.bit_generator.state`` resumes with bit-identical masks.
    """

    def __init__(self, p: float, *, rng: np.random.Generator):
        check_real(p, "Dropout probability p")
        check_rng(rng, "Dropout rng")
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.rng = rng

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_floats(x, "Dropout input x")
        y, mask = dropout_forward(x, self.p, self.rng, self.training)
        self._cache = (mask, x.shape)                # a tuple: mask is None in eval mode
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        mask, shape = self._pop_cache()
        check_same_shape(dout, shape, "Dropout dout")
        return dropout_backward(dout, mask)

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"

"""``LayerNorm`` over the last axis (see minifm.functional.layernorm).

Dimensions: x (..., C) -> y (..., C); weight (gamma) and bias (beta) (C,).
Lesson: lessons/04_layer_norm.md.
"""

from __future__ import annotations

import numpy as np

from minifm.functional.layernorm import layernorm_backward, layernorm_forward
from minifm.nn.module import Module, Parameter
from minifm.validation import check_floats, check_int, check_real, check_same_shape


class LayerNorm(Module):
    """Layer normalisation with a learned scale ``weight`` (ones) and shift ``bias`` (zeros)."""

    def __init__(self, dim: int, eps: float = 1e-5, *, dtype: type = np.float32):
        check_int(dim, "LayerNorm dim", minimum=1)
        check_real(eps, "LayerNorm eps", minimum=0.0)
        self.dim, self.eps = dim, eps
        self.weight = Parameter(np.ones(dim, dtype=dtype))
        self.bias = Parameter(np.zeros(dim, dtype=dtype))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (..., C) in the layer's dtype -> (..., C)."""
        check_floats(x, "LayerNorm input x", dtype=self.weight.data.dtype, last_dim=self.dim,
                     axes=f"(..., C={self.dim})")
        y, self._cache = layernorm_forward(x, self.weight.data, self.bias.data, self.eps)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: (..., C) -> dx: (..., C); adds into weight.grad and bias.grad."""
        cache = self._pop_cache()
        xhat, _, _ = cache                               # (xhat, gamma, rstd)
        check_same_shape(dout, xhat.shape, "LayerNorm dout")
        dx, dgamma, dbeta = layernorm_backward(dout, cache)
        self.weight.grad += dgamma
        self.bias.grad += dbeta
        return dx

    def __repr__(self) -> str:
        return f"LayerNorm({self.dim}, eps={self.eps}, dtype={self.weight.data.dtype})"

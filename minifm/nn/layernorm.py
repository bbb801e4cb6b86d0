"""``LayerNorm`` over the last axis (see minifm.functional.layernorm).

Dimensions: x (..., C) -> y (..., C); weight (gamma) and bias (beta) (C,).
"""

from __future__ import annotations

import numpy as np

from minifm.functional.layernorm import layernorm_backward, layernorm_forward
from minifm.nn.module import Module, Parameter


class LayerNorm(Module):
    """Layer normalisation with a learned scale ``weight`` (ones) and shift ``bias`` (zeros)."""

    def __init__(self, dim: int, eps: float = 1e-5, *, dtype: type = np.float32):
        self.dim, self.eps = dim, eps
        self.weight = Parameter(np.ones(dim, dtype=dtype))
        self.bias = Parameter(np.zeros(dim, dtype=dtype))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (..., C) in the layer's dtype -> (..., C)."""
        if x.dtype != self.weight.data.dtype:
            raise TypeError(f"LayerNorm expects input of dtype {self.weight.data.dtype}, "
                            f"got {x.dtype}")
        if x.shape[-1] != self.dim:
            raise ValueError(f"LayerNorm expects input with last dim {self.dim}, got shape {x.shape}")
        y, self._cache = layernorm_forward(x, self.weight.data, self.bias.data, self.eps)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: (..., C) -> dx: (..., C); adds into weight.grad and bias.grad."""
        dx, dgamma, dbeta = layernorm_backward(dout, self._pop_cache())
        self.weight.grad += dgamma
        self.bias.grad += dbeta
        return dx

    def __repr__(self) -> str:
        return f"LayerNorm({self.dim}, eps={self.eps}, dtype={self.weight.data.dtype})"

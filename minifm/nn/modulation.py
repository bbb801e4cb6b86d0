"""Modules for adaLN conditioning (DiT: Peebles & Xie 2023, §3.2): ``Modulate``, ``Gate`` and
``AdaLayerNorm`` (see minifm.functional.modulation for the ops and their backward).
Lesson: lessons/14_dalle2_diffusion.md.

Dimensions: B batch, T tokens, C width; x (B, T, C), shift / scale / gate (B, C).

These modules take two or three inputs, so their backward returns one gradient per input, in the
order of forward's arguments. None has parameters: the shift, scale and gate come from a Linear
layer of the conditioning, owned by the block that uses them.
"""

from __future__ import annotations

import numpy as np

from minifm.functional.layernorm import layernorm_backward, layernorm_forward
from minifm.functional.modulation import (gate_backward, gate_forward, modulate_backward,
                                          modulate_forward)
from minifm.nn.module import Module
from minifm.validation import check_same_shape


class Modulate(Module):
    """``y = x * (1 + scale) + shift`` per example."""

    def forward(self, x: np.ndarray, shift: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """x: (B, T, C); shift, scale: (B, C) -> (B, T, C)."""
        y, self._cache = modulate_forward(x, shift, scale)
        return y

    def backward(self, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """dy: (B, T, C) -> dx (B, T, C), dshift (B, C), dscale (B, C)."""
        cache = self._pop_cache()
        check_same_shape(dy, cache[0].shape, "Modulate dy")
        return modulate_backward(dy, cache)


class Gate(Module):
    """``y = h * gate`` per example: the adaLN-Zero gate of a residual branch."""

    def forward(self, h: np.ndarray, gate: np.ndarray) -> np.ndarray:
        """h: (B, T, C); gate: (B, C) -> (B, T, C)."""
        y, self._cache = gate_forward(h, gate)
        return y

    def backward(self, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """dy: (B, T, C) -> dh (B, T, C), dgate (B, C)."""
        cache = self._pop_cache()
        check_same_shape(dy, cache[0].shape, "Gate dy")
        return gate_backward(dy, cache)


class AdaLayerNorm(Module):
    """Adaptive LayerNorm: ``modulate(layernorm(x), shift, scale)``.

    The LayerNorm has no learned weight and bias of its own (DiT's ``elementwise_affine=False``):
    the conditioning's scale and shift take their place, one per example instead of one for all.
    """

    def __init__(self, dim: int, eps: float = 1e-6, *, dtype: type = np.float32):
        self.dim, self.eps = dim, eps
        self.ones, self.zeros = np.ones(dim, dtype=dtype), np.zeros(dim, dtype=dtype)
        self.mod = Modulate()

    def forward(self, x: np.ndarray, shift: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """x: (B, T, C); shift, scale: (B, C) -> (B, T, C)."""
        xhat, self._cache = layernorm_forward(x, self.ones, self.zeros, self.eps)
        return self.mod(xhat, shift, scale)

    def backward(self, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """dy: (B, T, C) -> dx (B, T, C), dshift (B, C), dscale (B, C)."""
        cache = self._pop_cache()
        dxhat, dshift, dscale = self.mod.backward(dy)
        # fwd: xhat = layernorm(x) with gamma = 1, beta = 0 (constants: their gradients are dropped)
        dx, _, _ = layernorm_backward(dxhat, cache)
        return dx, dshift, dscale

    def __repr__(self) -> str:
        return f"AdaLayerNorm({self.dim}, eps={self.eps}, dtype={self.ones.dtype})"

"""Parameter-free element-wise layers: ``GELU``, ``ReLU`` and ``Softmax``
(see minifm.functional.activations and minifm.functional.softmax).

Dimensions: any shape (...), kept; output dtype = input dtype.
"""

from __future__ import annotations

import numpy as np

from minifm.functional.activations import gelu_backward, gelu_forward, relu_backward, relu_forward
from minifm.functional.softmax import softmax_backward, softmax_forward
from minifm.nn.module import Module

GELU_FORMS = ("tanh", "none")


class GELU(Module):
    """GELU; ``approximate="tanh"`` as in GPT-2, ``"none"`` for the exact erf form used by BERT."""

    def __init__(self, approximate: str = "tanh"):
        if approximate not in GELU_FORMS:
            raise ValueError(f'GELU approximate must be "tanh" or "none", got {approximate!r}')
        self.approximate = approximate

    def forward(self, x: np.ndarray) -> np.ndarray:
        y, self._cache = gelu_forward(x, self.approximate)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return gelu_backward(dout, self._pop_cache())

    def __repr__(self) -> str:
        return f"GELU(approximate={self.approximate!r})"


class ReLU(Module):
    """``max(x, 0)``."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        y, self._cache = relu_forward(x)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return relu_backward(dout, self._pop_cache())

    def __repr__(self) -> str:
        return "ReLU()"


class Softmax(Module):
    """Softmax along ``axis`` (default the last)."""

    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x: np.ndarray) -> np.ndarray:
        y, self._cache = softmax_forward(x, self.axis)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return softmax_backward(dout, self._pop_cache())

    def __repr__(self) -> str:
        return f"Softmax(axis={self.axis})"

"""Parameter-free element-wise layers: ``GELU``, ``ReLU`` and ``Softmax``
(see minifm.functional.activations and minifm.functional.softmax).

Dimensions: any shape (...), kept; output dtype = input dtype.
Lessons: lessons/02_linear_softmax_cross_entropy.md (softmax),
lessons/06_feedforward_gelu_residuals.md (GELU).
"""

from __future__ import annotations

import numpy as np

from minifm.functional.activations import (gelu_backward, gelu_forward, quick_gelu_backward,
                                           quick_gelu_forward, relu_backward, relu_forward)
from minifm.functional.softmax import softmax_backward, softmax_forward
from minifm.nn.module import Module
from minifm.validation import check_floats, check_int, check_same_shape

GELU_FORMS = ("tanh", "none", "sigmoid")


class GELU(Module):
    """GELU; ``approximate="tanh"`` as in GPT-2, ``"none"`` for the exact erf form used by BERT,
    ``"sigmoid"`` for x * sigmoid(1.702 x) as in OpenAI's CLIP ("quick GELU")."""

    def __init__(self, approximate: str = "tanh"):
        if approximate not in GELU_FORMS:
            raise ValueError(f'GELU approximate must be "tanh", "none" or "sigmoid", got '
                             f'{approximate!r}')
        self.approximate = approximate

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_floats(x, "GELU input x")
        if self.approximate == "sigmoid":
            y, self._cache = quick_gelu_forward(x)
        else:
            y, self._cache = gelu_forward(x, self.approximate)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        cache = self._pop_cache()
        form, x, _ = cache
        check_same_shape(dout, x.shape, "GELU dout")
        return quick_gelu_backward(dout, cache) if form == "sigmoid" else gelu_backward(dout, cache)

    def __repr__(self) -> str:
        return f"GELU(approximate={self.approximate!r})"


class ReLU(Module):
    """``max(x, 0)``."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_floats(x, "ReLU input x")
        y, self._cache = relu_forward(x)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        y = self._pop_cache()
        check_same_shape(dout, y.shape, "ReLU dout")
        return relu_backward(dout, y)

    def __repr__(self) -> str:
        return "ReLU()"


class Softmax(Module):
    """Softmax along ``axis`` (default the last)."""

    def __init__(self, axis: int = -1):
        self.axis = check_int(axis, "Softmax axis")

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_floats(x, "Softmax input x")
        if not -x.ndim <= self.axis < x.ndim:
            raise ValueError(f"Softmax axis={self.axis} does not exist in an input of shape "
                             f"{x.shape} (axes -{x.ndim} .. {x.ndim - 1})")
        y, self._cache = softmax_forward(x, self.axis)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        cache = self._pop_cache()
        y, _ = cache
        check_same_shape(dout, y.shape, "Softmax dout")
        return softmax_backward(dout, cache)

    def __repr__(self) -> str:
        return f"Softmax(axis={self.axis})"

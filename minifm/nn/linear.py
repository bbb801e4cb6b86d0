"""``Linear``: the affine layer ``y = x @ weight + bias`` (see minifm.functional.linear).

Dimensions: x (..., C_in) -> y (..., C_out); weight (C_in, C_out), bias (C_out,).
Lesson: lessons/02_linear_softmax_cross_entropy.md.
"""

from __future__ import annotations

import numpy as np

from minifm.functional.linear import linear_backward, linear_forward
from minifm.nn.module import Module, Parameter
from minifm.validation import check_floats, check_int, check_rng, check_same_shape


class Linear(Module):
    """Fully connected layer.

    Initialisation follows GPT-2: weight ~ Normal(0, 0.02^2), bias = 0. (GPT-2 additionally
    shrinks the residual projections by 1/sqrt(2 L); the model that owns them does that.)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 rng: np.random.Generator, dtype: type = np.float32):
        check_int(in_features, "Linear in_features", minimum=1)
        check_int(out_features, "Linear out_features", minimum=1)
        check_rng(rng, "Linear rng")
        self.in_features, self.out_features = in_features, out_features
        # Drawn in float64 and rounded, so float32 and float64 layers from one seed agree.
        self.weight = Parameter((0.02 * rng.standard_normal((in_features, out_features))).astype(dtype))
        self.bias = Parameter(np.zeros(out_features, dtype=dtype)) if bias else None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (..., C_in) in the layer's dtype -> (..., C_out)."""
        check_floats(x, "Linear input x", dtype=self.weight.data.dtype, last_dim=self.in_features,
                     axes=f"(..., C_in={self.in_features})")
        b = self.bias.data if self.bias is not None else None
        y, self._cache = linear_forward(x, self.weight.data, b)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: (..., C_out) -> dx: (..., C_in); adds into weight.grad and bias.grad."""
        cache = self._pop_cache()
        x, _, _ = cache                                  # (x, w, has_bias)
        check_same_shape(dout, (*x.shape[:-1], self.out_features), "Linear dout")
        dx, dw, db = linear_backward(dout, cache)
        self.weight.grad += dw
        if self.bias is not None:
            self.bias.grad += db
        return dx

    def __repr__(self) -> str:
        return (f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None}, "
                f"dtype={self.weight.data.dtype})")

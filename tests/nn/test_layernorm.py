"""Tests for minifm.nn.LayerNorm."""

import numpy as np
import pytest

from minifm.gradcheck import check_module, worst
from minifm.nn import LayerNorm

BOUND = 1e-7   # smooth op; float64, h = 1e-5


def test_layernorm_module_gradients_match_numerical(rng):
    ln = LayerNorm(4, eps=1e-3, dtype=np.float64)
    ln.weight.data[:] = rng.standard_normal(4)
    ln.bias.data[:] = rng.standard_normal(4)
    result = check_module(ln, rng.standard_normal((2, 3, 4)) * 2 + 1, rng=rng)
    assert sorted(result) == ["bias", "weight", "x"]
    assert worst(result) < BOUND


def test_layernorm_init_and_float32(rng):
    ln = LayerNorm(4)
    assert np.array_equal(ln.weight.data, np.ones(4)) and np.array_equal(ln.bias.data, np.zeros(4))
    y = ln(rng.standard_normal((2, 3, 4)).astype(np.float32))
    dx = ln.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == ln.weight.grad.dtype == ln.bias.grad.dtype == np.float32


def test_layernorm_rejects_bad_input():
    ln = LayerNorm(4)
    with pytest.raises(ValueError, match=r"last dim 4, got shape \(2, 3\)"):
        ln(np.ones((2, 3), np.float32))
    with pytest.raises(TypeError, match="got float64"):
        ln(np.ones((2, 4)))
